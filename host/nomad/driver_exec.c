/* ExecTask (script checks and one-shot commands) and what both exec RPCs
 * share: resolving a task and a command into an exec_cmd spec in the
 * task's context, the REPL of the task's language included. */
#include "driver_exec.h"

#include "log.h"
#include "nomad_pb.h"
#include "offload.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void exec_describe_command(char *const *command, size_t n, char *out, size_t outlen) {
  size_t used = 0;
  if (outlen) out[0] = '\0';
  for (size_t i = 0; i < n && used + 1 < outlen; i++) {
    int w = snprintf(out + used, outlen - used, "%s%s", i ? " " : "", command[i]);
    if (w < 0) break;
    used += (size_t)w;
  }
}

static char **copy_argv(const char *const *v, size_t n) {
  char **out = calloc(n + 1, sizeof *out);
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (!(out[i] = strdup(v[i]))) {
      for (size_t j = 0; j < i; j++) free(out[j]);
      free(out);
      return NULL;
    }
  }
  return out;
}

/* The module's REPL command line for the task's language; the words after
 * elide-repl go to the module as the task's args. */
static int repl_argv(task *t, char *const *command, size_t ncommand, char ***out,
                     grpc_status_code *code, char *err, size_t errlen) {
  const elide_module_ops *ops = t->module->desc->ops;
  if (!ops->repl) {
    *code = GRPC_STATUS_FAILED_PRECONDITION;
    snprintf(err, errlen, "the %s backend has no REPL (task language \"%s\"); run a command "
             "instead", t->module->desc->name, t->language);
    return -ENOTSUP;
  }
  const char **args = calloc(ncommand, sizeof *args); /* ncommand-1 words + NULL */
  if (!args) goto oom;
  for (size_t i = 1; i < ncommand; i++) args[i - 1] = command[i];
  elide_task et = {.size = sizeof et,
                   .id = t->id,
                   .language = t->language,
                   .task_dir = t->ctx.cwd,
                   .args = args,
                   .envp = (const char *const *)t->ctx.envp,
                   .options = NULL,
                   .noptions = 0};
  enum { REPL_ARGV_CAP = 256 };
  const char *argv[REPL_ARGV_CAP];
  memset(argv, 0, sizeof argv);
  char why[1024] = "";
  int rc = ops->repl(t->module_state, &et, argv, REPL_ARGV_CAP, why, sizeof why);
  size_t n = 0;
  while (rc == 0 && n < REPL_ARGV_CAP && argv[n]) n++;
  if (rc == 0 && (n == 0 || n == REPL_ARGV_CAP || argv[0][0] != '/')) {
    rc = -EPROTO;
    snprintf(why, sizeof why, "the module's repl op returned no absolute, NULL-terminated "
             "command line");
  }
  if (rc != 0) {
    free(args);
    *code = GRPC_STATUS_FAILED_PRECONDITION;
    snprintf(err, errlen, "the %s backend cannot open a REPL: %s", t->module->desc->name,
             why[0] ? why : strerror(-rc));
    return rc;
  }
  *out = copy_argv(argv, n); /* before args, which argv may borrow from, goes */
  free(args);
  if (*out) return 0;
oom:
  *code = GRPC_STATUS_RESOURCE_EXHAUSTED;
  snprintf(err, errlen, "out of memory");
  return -ENOMEM;
}

/* Why exec cannot run in this task now, or NULL. */
static const char *refusal(task *t, grpc_status_code *code) {
  *code = GRPC_STATUS_FAILED_PRECONDITION;
  if (!t->runner) return "the task has not started yet";
  if (strcmp(t->runner->kind, "daemon") == 0)
    return "exec is not available for tasks running in the execution daemon (mode = daemon): "
           "they run on the daemon's host, outside this client";
  if (task_exit_state(t, NULL, NULL)) return "the task has exited";
  if (!t->ctx.envp)
    return "the task's exec context (environment, working directory, user) is not known: it "
           "could not be rebuilt when the plugin recovered the task (see the plugin log)";
  return NULL;
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
  if (strcmp(command[0], EXEC_REPL_COMMAND) == 0) {
    rc = repl_argv(t, command, ncommand, &argv, code, err, errlen);
  } else {
    char path[PATH_MAX];
    rc = exec_cmd_lookup(command[0], t->ctx.cwd, (const char *const *)t->ctx.envp, path,
                         sizeof path, err, errlen);
    if (rc != 0) {
      *code = GRPC_STATUS_INVALID_ARGUMENT;
    } else {
      /* argv[0] as the user typed it is replaced by the resolved path. */
      char *resolved = strdup(path);
      argv = resolved ? copy_argv((const char *const *)command, ncommand) : NULL;
      if (argv) {
        free(argv[0]);
        argv[0] = resolved;
      } else {
        free(resolved);
        *code = GRPC_STATUS_RESOURCE_EXHAUSTED;
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
      }
    }
  }
  if (rc != 0) {
    for (char **a = argv; a && *a; a++) free(*a);
    free(argv);
    task_unref(t);
    return rc;
  }
  out->t = t;
  out->argv = argv;
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
  for (char **a = x->argv; a && *a; a++) free(*a);
  free(x->argv);
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
  exec_describe_command(req->command, req->n_command, what, sizeof what);
  if (exec_target_resolve(plugin_of(call), req->task_id, req->command, req->n_command, 0, &x,
                          &code, err, sizeof err) != 0) {
    log_msg(LOG_WARN, "exec refused", "task_id", req->task_id, "command", what, "error", err,
            NULL);
    rpc_finish(call, code, err);
    return;
  }
  int timeout_ms = duration_ms(req->timeout);
  exec_cmd_output o;
  int rc = exec_cmd_capture(&x.spec, timeout_ms, EXEC_TASK_OUTPUT_LIMIT, &o, err, sizeof err);
  if (rc != 0) {
    char full[sizeof err + 600];
    snprintf(full, sizeof full, "exec in task %s: %s", x.t->id, err);
    log_msg(LOG_WARN, "exec failed", "task_id", x.t->id, "command", what, "error", err, NULL);
    exec_target_free(&x);
    rpc_finish(call,
               rc == -ENOMEM ? GRPC_STATUS_RESOURCE_EXHAUSTED : GRPC_STATUS_FAILED_PRECONDITION,
               full);
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
