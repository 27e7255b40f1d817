/* Host services for modules: spawning under the monitor and process
 * control, implemented with the local execution layer. */
#include "module_host.h"

#include "log.h"
#include "run_capture.h"
#include "proc_stats.h"
#include "warm_pools.h"

#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>

static int host_spawn(void *task_ctx, const elide_spawn_spec *spec, elide_proc **out, char *err,
                      size_t errlen) {
  const spawn_context *ctx = task_ctx;
  if (!ctx || !spec || !spec->argv || !spec->argv[0] || spec->argv[0][0] != '/') {
    snprintf(err, errlen, "spawn: argv[0] must be an absolute path");
    return -EINVAL;
  }
  exec_spec es = {
      .monitor_path = ctx->monitor_path,
      .state_dir = ctx->state_dir,
      .argv = spec->argv,
      .envp = spec->envp,
      .cwd = spec->cwd,
      .stdout_path = ctx->stdout_path,
      .stderr_path = ctx->stderr_path,
      .set_user = ctx->set_user,
      .uid = ctx->uid,
      .gid = ctx->gid,
      .groups = ctx->groups,
      .ngroups = ctx->ngroups,
      .stdin_path = ctx->stdin_path,
      .cgroup_dirs = ctx->cgroup_dirs,
      .oom_counter_path = ctx->oom_counter_path,
      .set_oom_score_adj = ctx->set_oom_score_adj,
      .oom_score_adj = ctx->oom_score_adj,
      .timeout_ms = ctx->timeout_ms,
      .timeout_signal = ctx->timeout_signal,
      .timeout_grace_ms = ctx->timeout_grace_ms,
  };
  exec_task *t = NULL;
  char why[200] = "";
  warm_slot slot;
  if (ctx->warm_module && warm_pools_take(ctx->warm_module, spec->argv[0], &slot, why, sizeof why)) {
    int rc = exec_start_warm(&es, &slot, &t, err, errlen);
    warm_pools_refill(ctx->warm_module); /* not before: see warm_pool_refill */
    if (rc != -EAGAIN) {
      if (rc == 0) *out = (elide_proc *)t;
      return rc;
    }
    snprintf(why, sizeof why, "%s", err); /* the copy was gone: cold, and say so */
  }
  int rc = exec_start(&es, &t, err, errlen);
  if (rc == 0) {
    if (why[0]) exec_set_start_note(t, why);
    *out = (elide_proc *)t;
  }
  return rc;
}

static void copy_exit(const exec_result *r, elide_exit *out) {
  out->exit_code = r->exit_code;
  out->signal = r->signal;
  out->oom_killed = r->oom_killed;
}

static int host_proc_poll(elide_proc *p, elide_exit *out) {
  exec_result r;
  if (!exec_poll(proc_exec_task(p), &r)) return 0;
  copy_exit(&r, out);
  return 1;
}

static int host_proc_wait(elide_proc *p, int timeout_ms, elide_exit *out) {
  exec_result r;
  if (!exec_wait(proc_exec_task(p), timeout_ms, &r)) return 0;
  copy_exit(&r, out);
  return 1;
}

static int host_proc_signal(elide_proc *p, int sig) { return exec_signal(proc_exec_task(p), sig); }

static int host_proc_stop(elide_proc *p, int sig, int grace_ms, elide_exit *out) {
  exec_result r;
  int rc = exec_stop(proc_exec_task(p), sig ? sig : SIGINT, grace_ms, &r);
  if (rc == 0) copy_exit(&r, out);
  return rc;
}

static int host_proc_attach(void *task_ctx, elide_proc **out, char *err, size_t errlen) {
  const spawn_context *ctx = task_ctx;
  if (!ctx || !ctx->attach) {
    snprintf(err, errlen, "proc_attach: no recorded process identity for this task");
    return -EINVAL;
  }
  exec_task *t = NULL;
  int rc = exec_attach(ctx->state_dir, ctx->attach->monitor_pid, ctx->attach->monitor_start_ticks,
                       ctx->attach->task_pid, ctx->attach->started_at_ns, &t, err, errlen);
  if (rc == 0) *out = (elide_proc *)t;
  return rc;
}

/* Fills at most out->size bytes (the caller's buffer), keeping its size. */
static int host_proc_stats(elide_proc *p, elide_stats *out) {
  proc_sample s;
  elide_stats full;
  size_t cap = out->size < sizeof full ? out->size : sizeof full;
  if (cap < offsetof(elide_stats, cpu_user_ns)) return -EINVAL;
  memset(&full, 0, sizeof full);
  if (stats_sample_group(exec_task_pid(proc_exec_task(p)), &s) != 0) return -EIO;
  long hz = sysconf(_SC_CLK_TCK);
  full.cpu_user_ns = s.user_ticks * (1000000000ull / (uint64_t)hz);
  full.cpu_system_ns = s.system_ticks * (1000000000ull / (uint64_t)hz);
  full.memory_rss = s.rss_bytes;
  full.nprocs = (uint32_t)s.nprocs;
  full.size = out->size;
  memcpy(out, &full, cap);
  return 0;
}

static void host_log(int level, const char *module, const char *msg) {
  log_level l = level <= 0 ? LOG_TRACE : level >= 4 ? LOG_ERROR : (log_level)level;
  log_msg(l, msg, "module", module, NULL);
}

const elide_host_services module_host_services = {
    .size = sizeof(elide_host_services),
    .abi_major = ELIDE_ABI_MAJOR,
    .abi_minor = ELIDE_ABI_MINOR,
    .spawn = host_spawn,
    .proc_attach = host_proc_attach,
    .proc_poll = host_proc_poll,
    .proc_wait = host_proc_wait,
    .proc_signal = host_proc_signal,
    .proc_stop = host_proc_stop,
    .proc_stats = host_proc_stats,
    .run_capture = run_capture,
    .log = host_log,
};
