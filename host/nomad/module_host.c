/* Host services for modules: spawning under the monitor and process
 * control, implemented with the local execution layer. */
#include "module_host.h"

#include "log.h"

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
  };
  exec_task *t = NULL;
  int rc = exec_start(&es, &t, err, errlen);
  if (rc == 0) *out = (elide_proc *)t;
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

static int host_proc_signal(elide_proc *p, int sig) { return exec_signal(proc_exec_task(p), sig); }

static int host_proc_stop(elide_proc *p, int sig, int grace_ms, elide_exit *out) {
  exec_result r;
  int rc = exec_stop(proc_exec_task(p), sig ? sig : SIGINT, grace_ms, &r);
  if (rc == 0) copy_exit(&r, out);
  return rc;
}

static void host_log(int level, const char *module, const char *msg) {
  log_level l = level <= 0 ? LOG_TRACE : level >= 4 ? LOG_ERROR : (log_level)level;
  log_msg(l, msg, "module", module, NULL);
}

const elide_host_services module_host_services = {
    .size = sizeof(elide_host_services),
    .spawn = host_spawn,
    .proc_poll = host_proc_poll,
    .proc_signal = host_proc_signal,
    .proc_stop = host_proc_stop,
    .log = host_log,
};
