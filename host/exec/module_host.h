/* The host services table handed to modules, backed by local execution
 * (exec.h). `task_ctx` in spawn is a spawn_context built by the front end
 * for one task: everything about the task's process that is the host's
 * business rather than the module's (stdio, user, supervisor state). */
#ifndef ELIDE_EXEC_MODULE_HOST_H
#define ELIDE_EXEC_MODULE_HOST_H

#include "elide_module.h"
#include "exec.h"

#include <stdint.h>
#include <sys/types.h>

/* Identity of a task started by an earlier plugin process (recovery). */
typedef struct attach_identity {
  pid_t monitor_pid;
  uint64_t monitor_start_ticks;
  pid_t task_pid;
  int64_t started_at_ns;
} attach_identity;

typedef struct spawn_context {
  const char *monitor_path;
  const char *state_dir;
  const char *stdout_path;
  const char *stderr_path;
  int set_user;
  uid_t uid;
  gid_t gid;
  const gid_t *groups;
  size_t ngroups;
  const attach_identity *attach; /* recovery only: what proc_attach re-attaches */
  const char *stdin_path;        /* FIFO or file for the task's stdin; NULL = /dev/null */
  /* Resource control and the timeout, passed to exec_spec unchanged (see
   * exec.h): the cgroup directories the task joins, its memory cgroup's
   * OOM counter file, its oom_score_adj, the monitor-enforced timeout. */
  const char *const *cgroup_dirs;
  const char *oom_counter_path;
  int set_oom_score_adj;
  int oom_score_adj;
  int64_t timeout_ms;
  int timeout_signal;
  int64_t timeout_grace_ms;
  /* The module whose warm pool (warm_pools.h) may serve the spawn; NULL =
   * always cold. */
  const char *warm_module;
} spawn_context;

extern const elide_host_services module_host_services;

/* The exec_task behind an elide_proc (they are the same object). */
static inline exec_task *proc_exec_task(elide_proc *p) { return (exec_task *)p; }

#endif
