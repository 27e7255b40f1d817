/* ExecTask (script checks and one-shot commands) and what both exec RPCs
 * share: finding the task and, for a local one, resolving the command into
 * an exec_cmd spec in the task's context, the REPL of its language
 * included. */
#include "driver_exec.h"

#include "daemon_task.h"
#include "log.h"
#include "nomad_pb.h"
#include "offload.h"
#include "strv.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Why exec cannot run in this task now, or NULL. */
static const char *refusal(task *t, grpc_status_code *code) {
  *code = GRPC_STATUS_FAILED_PRECONDITION;
  if (!t->runner) return "the task has not started yet";
  if (task_exit_state(t, NULL, NULL)) return "the task has exited";
  if (t->remote) return NULL; /* the daemon has the execution's context */
  if (!t->ctx.envp)
    return "the task's exec context (environment, working directory, user) is not known: it "
           "could not be rebuilt when the plugin recovered the task (see the plugin log)";
  return NULL;
}

static grpc_status_code code_of_resolve(int rc) {
  return rc == -EINVAL   ? GRPC_STATUS_INVALID_ARGUMENT
         : rc == -ENOMEM ? GRPC_STATUS_RESOURCE_EXHAUSTED
                         : GRPC_STATUS_FAILED_PRECONDITION;
}

int exec_target_resolve(plugin *p, const char *task_id, char *const *command, size_t ncommand,
                        int tty, exec_target *out, grpc_status_code *code, char *err,
                        size_t errlen) {
  memset(out, 0, sizeof *out);
  if (ncommand == 0 || !command[0] || !command[0][0]) {
    *code = GRPC_STATUS_INVALID_ARGUMENT;
    snprintf(err, errlen, "command must have at least one value");
    return -EINVAL;
  }
  task *t = task_table_get(&p->tasks, task_id ? task_id : "");
  if (!t) {
    *code = GRPC_STATUS_NOT_FOUND;
    snprintf(err, errlen, "task not found for given id");
    return -ENOENT;
  }
  const char *why = refusal(t, code);
  if (why) {
    snprintf(err, errlen, "exec in task %s: %s", t->id, why);
    task_unref(t);
    return -EPERM;
  }
  char **argv = NULL;
  int rc;
  if (t->remote) {
    argv = exec_argv_copy((const char *const *)command, ncommand);
    rc = argv ? 0 : -ENOMEM;
    if (rc) snprintf(err, errlen, "out of memory");
  } else {
    exec_argv_task at = {.module = t->module->desc,
                         .module_state = t->module_state,
                         .id = t->id,
                         .language = t->language,
                         .task_dir = t->ctx.cwd,
                         .envp = (const char *const *)t->ctx.envp};
    rc = exec_argv_resolve(&at, command, ncommand, &argv, err, errlen);
  }
  if (rc != 0) {
    *code = code_of_resolve(rc);
    task_unref(t);
    return rc;
  }
  out->t = t;
  out->argv = argv;
  while (argv[out->argc]) out->argc++;
  out->remote = t->remote != NULL;
  if (out->remote) {
    snprintf(out->endpoint, sizeof out->endpoint, "%s", daemon_task_endpoint(t));
    return 0;
  }
  out->spec = (exec_cmd_spec){
      .argv = (const char *const *)argv,
      .envp = (const char *const *)t->ctx.envp,
      .cwd = t->ctx.cwd,
      .set_user = t->ctx.set_user,
      .uid = t->ctx.uid,
      .gid = t->ctx.gid,
      .groups = t->ctx.groups,
      .ngroups = t->ctx.ngroups,
      .cgroup_dirs = (const char *const *)t->ctx.cgroup_dirs,
      .tty = tty,
  };
  return 0;
}

void exec_target_free(exec_target *x) {
  strv_free(x->argv);
  task_unref(x->t);
  memset(x, 0, sizeof *x);
}

static int duration_ms(const Google__Protobuf__Duration *d) {
  if (!d) return 0;
  int64_t ms = d->seconds * 1000 + (d->nanos + 999999) / 1000000;
  return ms <= 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* On an offload thread: run to the end or the timeout, answer once. */
static void exec_task_run(rpc_call *call, const ProtobufCMessage *msg) {
  const DP(ExecTaskRequest) *req = (const void *)msg;
  char err[2048] = "", what[512];
  grpc_status_code code;
  exec_target x;
  exec_argv_describe(req->command, req->n_command, what, sizeof what);
  if (exec_target_resolve(plugin_of(call), req->task_id, req->command, req->n_command, 0, &x,
                          &code, err, sizeof err) != 0) {
    log_msg(LOG_WARN, "exec refused", "task_id", req->task_id, "command", what, "error", err,
            NULL);
    rpc_finish(call, code, err);
    return;
  }
  int timeout_ms = duration_ms(req->timeout);
  exec_cmd_output o;
  char full[sizeof err + 600];
  int rc;
  if (x.remote) {
    rc = exec_remote_capture(&x, timeout_ms, EXEC_TASK_OUTPUT_LIMIT, &o, &code, full,
                             sizeof full);
  } else {
    rc = exec_cmd_capture(&x.spec, timeout_ms, EXEC_TASK_OUTPUT_LIMIT, &o, err, sizeof err);
    code = rc == -ENOMEM ? GRPC_STATUS_RESOURCE_EXHAUSTED : GRPC_STATUS_FAILED_PRECONDITION;
    snprintf(full, sizeof full, "exec in task %s: %s", x.t->id, err);
  }
  if (rc != 0) {
    log_msg(LOG_WARN, "exec failed", "task_id", x.t->id, "command", what, "error", full, NULL);
    exec_target_free(&x);
    rpc_finish(call, code, full);
    return;
  }
  char code_text[16];
  snprintf(code_text, sizeof code_text, "%d", o.exit_code);
  if (o.timed_out) {
    char limit[32];
    snprintf(limit, sizeof limit, "%d ms", timeout_ms);
    log_msg(LOG_WARN, "exec timed out: process group killed", "task_id", x.t->id, "command", what,
            "timeout", limit, NULL);
  } else {
    log_msg(LOG_DEBUG, "exec finished", "task_id", x.t->id, "command", what, "exit_code",
            code_text, NULL);
  }
  DP(ExecTaskResponse) rep = DP_INIT(EXEC_TASK_RESPONSE);
  DP(ExitResult) res = DP_INIT(EXIT_RESULT);
  res.exit_code = o.exit_code;
  res.signal = o.signal;
  rep.stdout.data = (uint8_t *)o.combined;
  rep.stdout.len = o.combined_len;
  rep.stderr.data = (uint8_t *)o.stderr_only;
  rep.stderr.len = o.stderr_len;
  rep.result = &res;
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
  exec_cmd_output_free(&o);
  exec_target_free(&x);
}

void driver_exec_task(rpc_call *call, const ProtobufCMessage *msg) {
  offload(call, msg, exec_task_run);
}
