/* A local task's cgroups, limits, timeout and their end-of-task events
 * (see task_limits.h). */
#include "task_limits.h"

#include "duration.h"
#include "log.h"
#include "nomad_pb.h"
#include "plugin.h"
#include "strv.h"
#include "tasks.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int task_limits_from_config(const NomadTaskConfig *cfg, int apply, task_limits **out, char *err,
                            size_t errlen) {
  *out = NULL;
  const DP(Resources) *res = cfg->resources;
  const DP(LinuxResources) *lr = res ? res->linux_resources : NULL;
  if (!lr || !lr->cpuset_cgroup || !lr->cpuset_cgroup[0]) return 0;
  cgroup_mode mode = cgroup_host_mode(NULL);
  if (mode == CGROUP_NONE) return 0;
  task_limits *l = calloc(1, sizeof *l);
  if (!l) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  int rc = cgroup_set_derive(mode, CGROUP_DEFAULT_ROOT, lr->cpuset_cgroup, cfg->alloc_id,
                             cfg->name, &l->set, err, errlen);
  if (rc < 0) {
    free(l);
    return rc;
  }
  const DP(AllocatedTaskResources) *ar = res->allocated_resources;
  cgroup_limits lim = {
      .memory_mb = ar && ar->memory ? ar->memory->memory_mb : 0,
      .memory_max_mb = ar && ar->memory ? ar->memory->memory_max_mb : 0,
      .cpu_shares = lr->cpu_shares > 0 ? lr->cpu_shares
                    : ar && ar->cpu ? ar->cpu->cpu_shares
                                    : 0,
      .cpuset_cpus = lr->cpuset_cpus,
  };
  cgroup_memory_rule(&lim, &l->memory_hard_bytes, &l->memory_soft_bytes);
  l->cpu_shares = lim.cpu_shares;
  cgroup_oom_file(&l->set, l->oom_file, sizeof l->oom_file);
  cgroup_set_dirs(&l->set, l->dirs, CGROUP_MAX_DIRS);
  if (apply) {
    rc = cgroup_set_prepare(&l->set, err, errlen);
    if (rc == 0) rc = cgroup_apply_limits(&l->set, &lim, err, errlen);
    if (rc < 0) {
      cgroup_set_remove_own(&l->set, 0);
      free(l);
      return rc;
    }
  }
  *out = l;
  return 0;
}

void task_limits_spawn_context(const task_limits *l, const NomadTaskConfig *cfg,
                               const task_request *tr, spawn_context *ctx) {
  if (l) {
    ctx->cgroup_dirs = l->dirs;
    ctx->oom_counter_path = l->oom_file;
  }
  /* The task gets Nomad's oom_score_adj (0 unless set), not whatever the
   * agent and plugin run with. Lowering it needs root. */
  const DP(LinuxResources) *lr = cfg->resources ? cfg->resources->linux_resources : NULL;
  ctx->set_oom_score_adj = geteuid() == 0;
  ctx->oom_score_adj = lr ? (int)lr->oom_score_adj : 0;
  if (tr && tr->timeout_ms > 0) {
    ctx->timeout_ms = tr->timeout_ms;
    ctx->timeout_signal = tr->timeout_signal;
    ctx->timeout_grace_ms = tr->timeout_grace_ms;
  }
}

char **task_limits_dir_list(const task_limits *l) { return l ? strv_copy(l->dirs) : NULL; }

void task_limits_destroy(task_limits *l, const char *task_id) {
  if (!l) return;
  int rc = cgroup_set_remove_own(&l->set, 0);
  if (rc < 0)
    log_msg(LOG_WARN, "cannot remove the task's cpuacct cgroup", "task_id", task_id, "path",
            l->set.cpuacct, "error", strerror(-rc), NULL);
  free(l);
}

void task_limits_free(task_limits *l) { free(l); }

int task_limits_start(task *t, const NomadTaskConfig *cfg, const task_request *tr,
                      spawn_context *ctx, char *err, size_t errlen) {
  task_limits *l = NULL;
  int rc = task_limits_from_config(cfg, 1, &l, err, errlen);
  if (rc < 0) return rc;
  char **dirs = NULL;
  if (l && !(dirs = task_limits_dir_list(l))) {
    task_limits_destroy(l, t->id);
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  t->limits = l;
  t->ctx.cgroup_dirs = dirs;
  task_limits_spawn_context(l, cfg, tr, ctx);
  return 0;
}

void task_limits_recover(task *t, const NomadTaskConfig *cfg) {
  char err[1024] = "";
  task_limits *l = NULL;
  if (task_limits_from_config(cfg, 0, &l, err, sizeof err) < 0) {
    log_msg(LOG_WARN, "task cgroups not recovered: stats come from /proc", "task_id", t->id,
            "error", err, NULL);
    return;
  }
  t->limits = l;
  if (l && !t->ctx.cgroup_dirs) t->ctx.cgroup_dirs = task_limits_dir_list(l);
}

void task_limits_release(task *t) {
  /* Only the directories go: a TaskStats thread holding the task may still
   * read t->limits, which task_unref frees. */
  task_limits *l = t->limits;
  if (!l) return;
  int rc = cgroup_set_remove_own(&l->set, 2000);
  if (rc < 0)
    log_msg(LOG_WARN, "cannot remove the task's cpuacct cgroup", "task_id", t->id, "path",
            l->set.cpuacct, "error", strerror(-rc), NULL);
}

static void signal_text(int sig, char *out, size_t outlen) {
  const char *abbrev = sig > 0 && sig < NSIG ? sigabbrev_np(sig) : NULL;
  if (abbrev) snprintf(out, outlen, "SIG%s", abbrev);
  else snprintf(out, outlen, "signal %d", sig);
}

static void bytes_text(int64_t bytes, char *out, size_t outlen) {
  if (bytes > 0 && bytes % (1024 * 1024) == 0)
    snprintf(out, outlen, "%" PRId64 " MiB", bytes / (1024 * 1024));
  else
    snprintf(out, outlen, "%" PRId64 " bytes", bytes);
}

void task_limits_exit_events(plugin *p, const task *t, const exec_result *r) {
  char msg[512];
  if (r->oom_killed) {
    const task_limits *l = t->limits;
    char limit[64] = "", bytes[32] = "";
    if (l && l->memory_hard_bytes > 0) {
      bytes_text(l->memory_hard_bytes, limit, sizeof limit);
      snprintf(bytes, sizeof bytes, "%" PRId64, l->memory_hard_bytes);
      snprintf(msg, sizeof msg, "OOM killed: the task exceeded its memory limit of %s and the "
               "kernel's OOM killer ended it (SIGKILL)", limit);
    } else {
      snprintf(msg, sizeof msg, "OOM killed: the kernel's OOM killer ended the task (SIGKILL)");
    }
    const char *ann[] = {"oom_killed", "true", "memory_limit_bytes", bytes[0] ? bytes : "none",
                         NULL};
    events_emit(p, t, msg, ann);
  }
  if (r->timed_out) {
    char limit[32], grace[32], sig[32];
    duration_format_ms(r->timeout_ms, limit, sizeof limit);
    duration_format_ms(r->timeout_grace_ms, grace, sizeof grace);
    signal_text(r->timeout_signal, sig, sizeof sig);
    if (r->timeout_killed && r->timeout_signal != SIGKILL)
      snprintf(msg, sizeof msg, "Task exceeded its timeout of %s: sent %s, killed with SIGKILL "
               "after the %s grace", limit, sig, grace);
    else if (r->timeout_killed)
      snprintf(msg, sizeof msg, "Task exceeded its timeout of %s: killed with SIGKILL", limit);
    else
      snprintf(msg, sizeof msg, "Task exceeded its timeout of %s: sent %s, it stopped within the "
               "%s grace", limit, sig, grace);
    const char *ann[] = {"timeout", limit, "timeout_signal", sig, "killed",
                         r->timeout_killed ? "true" : "false", NULL};
    events_emit(p, t, msg, ann);
  }
}
