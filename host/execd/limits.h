/* Executions' resource limits: ExecuteSnippet's `limits` and a session's
 * `memory_limit_mb` (the memory limit of its executions that set none),
 * enforced in cgroups the daemon creates for each such execution under
 * [daemon] cgroup_parent with the library in host/exec/cgroup.h. The task
 * joins them before execve (its monitor does not), the monitor tells an OOM
 * kill (REASON_OOM), the parent used is recorded in the execution's
 * directory (`cgroup`) so a restarted daemon finds the groups, and they are
 * removed with the execution. */
#ifndef ELIDE_EXECD_LIMITS_H
#define ELIDE_EXECD_LIMITS_H

#include "cgroup.h"
#include "daemon.h"
#include "execd_pb.h"
#include "module_host.h"

#include <grpc/grpc.h>
#include <stddef.h>
#include <stdint.h>

struct execution;

/* An execution's groups (execution.cg), with what the monitor needs. */
typedef struct ex_cgroup {
  cgroup_set set;
  const char *dirs[CGROUP_MAX_DIRS + 1]; /* into set; NULL-terminated */
  char oom_file[PATH_MAX + 32];
} ex_cgroup;

/* The host's cgroup mode, detected once (thread-safe); *why when NONE. */
cgroup_mode ex_limits_mode(const char **why);

/* ExecuteSnippet's check: limits asked for (by the request, or by its
 * session's memory_limit_mb) need cgroups (FAILED_PRECONDITION naming the
 * field and why there are none); cpu_millis must be at least 10 (the
 * kernel's smallest quota, INVALID_ARGUMENT). 0 or -1 with *code and err. */
int ex_limits_check(execd *d, const ExecRequest *r, grpc_status_code *code, char *err,
                    size_t errlen);

/* Why the limits `r` asked for with best_effort are not enforced (this
 * host offers no cgroups); "" when they are, or none were asked for. */
const char *ex_limits_note(const ExecRequest *r);

/* CreateSession's check of memory_limit_mb: cgroups needed. 0 or -1. */
int ex_limits_check_session(uint64_t memory_limit_mb, grpc_status_code *code, char *err,
                            size_t errlen);

/* Before the start: when the execution has limits, creates its groups
 * (named after its directory), writes the limits, records the parent in
 * <dir>/cgroup, sets e->cg and points ctx's cgroup_dirs and
 * oom_counter_path into it. 0 (also with no limits), or -errno with err
 * naming the file; nothing is left behind then. */
int ex_limits_setup(struct execution *e, spawn_context *ctx, char *err, size_t errlen);

/* Recovery: finds the groups an earlier daemon created (from <dir>/cgroup). */
void ex_limits_recover(struct execution *e);

/* Deletion or a failed start: removes the groups (waiting up to 2 s for
 * leftovers to be gone). e->cg stays allocated until the execution is
 * freed. */
void ex_limits_remove(struct execution *e);

/* The execution has ended: removes its groups at once (its figures now
 * come from the exit record), without waiting; groups an orphan of the task
 * still holds stay until the deletion (ex_limits_remove) kills it. */
void ex_limits_release_ended(struct execution *e);

/* Current memory and CPU figures from the groups: 0 when read. */
int ex_limits_stats(struct execution *e, cgroup_stats *out);

#endif
