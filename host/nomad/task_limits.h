/* A local task's resource control, Nomad side: its cgroups derived from
 * the TaskConfig (linux_resources.cpuset_cgroup, alloc id, task name), the
 * memory and CPU limits written into them at StartTask, what the monitor
 * needs (directories to join, OOM counter, oom_score_adj, the `timeout`
 * options), the driver's own directories removed at DestroyTask, and the
 * events for an OOM kill or a timeout. The cgroup work itself is
 * host/exec/cgroup.h. */
#ifndef ELIDE_NOMAD_TASK_LIMITS_H
#define ELIDE_NOMAD_TASK_LIMITS_H

#include "cgroup.h"
#include "exec.h"
#include "module_host.h"
#include "task_config.h"

#include <stddef.h>
#include <stdint.h>

struct plugin;
struct task;

typedef struct task_limits {
  cgroup_set set;
  int64_t memory_hard_bytes; /* -1: no hard limit; 0: none allocated */
  int64_t memory_soft_bytes; /* 0: none */
  int64_t cpu_shares;
  char oom_file[PATH_MAX + 32];
  const char *dirs[CGROUP_MAX_DIRS + 1]; /* into set; NULL-terminated */
} task_limits;

/* The task's cgroups from cfg->resources. *out is NULL (and 0 returned)
 * when there are none to use: no linux_resources or an empty cpuset_cgroup,
 * or no cgroups on this host (the task then runs as before, limits not
 * enforced; the fingerprint says why). With `apply` (StartTask) Nomad's
 * directories must exist (else an error naming the path), the driver's own
 * cpuacct group is created and the limits are written; without (RecoverTask)
 * the set is only derived. Errors name the field or file. */
int task_limits_from_config(const NomadTaskConfig *cfg, int apply, task_limits **out, char *err,
                            size_t errlen);

/* Fills the spawn context's cgroup, OOM, oom_score_adj and timeout fields
 * (l may be NULL: no cgroups; tr NULL: no timeout). Pointers into l and
 * tr, which must outlive the spawn. */
void task_limits_spawn_context(const task_limits *l, const NomadTaskConfig *cfg,
                               const task_request *tr, spawn_context *ctx);

/* A malloc'd NULL-terminated copy of the directories the task joined, for
 * task_context.cgroup_dirs; NULL if l is NULL or on ENOMEM. */
char **task_limits_dir_list(const task_limits *l);

/* Removes the driver's own directories of a set no task uses (Nomad
 * removes its own), logging a failure; then frees l. NULL is fine. */
void task_limits_destroy(task_limits *l, const char *task_id);

/* Frees l without touching the cgroups (plugin shutdown). */
void task_limits_free(task_limits *l);

/* The task-level steps driver_tasks.c takes. StartTask of a local task:
 * sets t->limits (Nomad's groups checked, ours created, limits written) and
 * t->ctx.cgroup_dirs (for exec'd commands), and fills ctx (spawn fields).
 * 0, or an error naming the field or path with nothing left behind. */
int task_limits_start(struct task *t, const NomadTaskConfig *cfg, const task_request *tr,
                      spawn_context *ctx, char *err, size_t errlen);
/* RecoverTask: the same set from the handle's TaskConfig, nothing written
 * (the monitor already has what it needs); a failure is only logged, the
 * task then reports /proc figures. */
void task_limits_recover(struct task *t, const NomadTaskConfig *cfg);
/* DestroyTask, or a start that failed after task_limits_start: removes
 * the driver's own directories; t->limits stays until the task is freed. */
void task_limits_release(struct task *t);

/* The events at a task's end: "OOM killed" with the memory limit when
 * r->oom_killed, the timeout (signal sent, SIGKILL or not) when
 * r->timed_out. Nothing otherwise. */
void task_limits_exit_events(struct plugin *p, const struct task *t, const exec_result *r);

#endif
