/* ExecInExecution: a command run inside a running execution, with the
 * execution's environment, working directory, user and cgroups (rebuilt
 * from its persisted request and cgroup record, so a restarted daemon
 * serves it too), on pipes or a pty, through exec_cmd and an rpc_exec
 * session: the setup is checked on the gRPC worker, then the session
 * thread starts the command, feeds it the queued input, streams its output
 * with a bounded number of replies queued, and at the end sends the close
 * markers, the exit, and finishes the call OK. A client that goes away gets
 * the command's process group killed; so does every session when the
 * daemon stops (api_exec_shutdown). */
#include "api.h"

#include "exec_argv.h"
#include "limits.h"
#include "log.h"
#include "rpc_exec.h"
#include "strv.h"
#include "validate.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Sessions whose thread runs, for the daemon's shutdown. */
typedef struct live_session {
  struct live_session *next;
  rpc_exec *x;
} live_session;

static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t live_cv = PTHREAD_COND_INITIALIZER;
static live_session *live;
static int stopping;

/* 0, or -1 when the daemon is stopping (the session must not run). */
static int live_add(live_session *l, rpc_exec *x) {
  pthread_mutex_lock(&live_mu);
  int refused = stopping;
  if (!refused) {
    l->x = x;
    l->next = live;
    live = l;
  }
  pthread_mutex_unlock(&live_mu);
  return refused ? -1 : 0;
}

static void live_remove(live_session *l) {
  pthread_mutex_lock(&live_mu);
  for (live_session **p = &live; *p; p = &(*p)->next) {
    if (*p == l) {
      *p = l->next;
      break;
    }
  }
  pthread_cond_broadcast(&live_cv);
  pthread_mutex_unlock(&live_mu);
}

/* ---- replies (session thread) ---- */

static int send_output(rpc_exec *x, int is_stderr, const char *data, size_t len, int close) {
  EP(ExecInExecutionResponse) rep = EP_INIT(EXEC_IN_EXECUTION_RESPONSE);
  rep.fd = is_stderr ? EP_ENUM(OUTPUT_FD__OUTPUT_FD_STDERR) : EP_ENUM(OUTPUT_FD__OUTPUT_FD_STDOUT);
  rep.data.data = (uint8_t *)data;
  rep.data.len = len;
  rep.close = close != 0;
  return rpc_exec_send(x, &rep.base);
}

static void send_exit(rpc_exec *x, int exit_code, int sig) {
  EP(ExecInExecutionResponse) rep = EP_INIT(EXEC_IN_EXECUTION_RESPONSE);
  EP(ExecExit) ex = EP_INIT(EXEC_EXIT);
  ex.exit_code = exit_code;
  ex.signal = sig;
  rep.exit = &ex;
  rpc_exec_send(x, &rep.base);
}

/* ---- the session thread ---- */

static grpc_status_code code_of_resolve(int rc) {
  return rc == -EINVAL   ? GRPC_STATUS_INVALID_ARGUMENT
         : rc == -ENOMEM ? GRPC_STATUS_RESOURCE_EXHAUSTED
                         : GRPC_STATUS_FAILED_PRECONDITION;
}

/* Runs the started command to its end (or the client's); answers the call. */
static void run_command(rpc_exec *x, exec_cmd *cmd, const char *what) {
  execution *e = x->data;
  char pid[16];
  snprintf(pid, sizeof pid, "%d", (int)cmd->pid);
  log_msg(LOG_INFO, "exec started", "execution_id", e->id, "command", what, "tty",
          x->tty ? "true" : "false", "pid", pid, NULL);
  exec_stream_sink sink = rpc_exec_sink(x);
  int ran = exec_stream_run(&x->io, cmd, &sink);
  if (ran > 0) {
    send_exit(x, cmd->exit_code, cmd->signal);
    rpc_finish(x->call, GRPC_STATUS_OK, NULL);
    char code[16];
    snprintf(code, sizeof code, "%d", cmd->exit_code);
    log_msg(LOG_INFO, "exec finished", "execution_id", e->id, "command", what, "exit_code", code,
            NULL);
  } else if (ran == 0) {
    log_msg(LOG_INFO, "exec ended by the client: process group killed", "execution_id", e->id,
            "command", what, NULL);
  } else {
    char err[256];
    snprintf(err, sizeof err, "exec in execution \"%s\": poll: %s; the command was killed", e->id,
             strerror(-ran));
    log_msg(LOG_ERROR, "exec failed", "execution_id", e->id, "command", what, "error", err, NULL);
    rpc_finish(x->call, GRPC_STATUS_INTERNAL, err);
  }
}

/* Builds the command in the execution's context and runs it. */
static void run_in_context(rpc_exec *x) {
  execution *e = x->data;
  char err[2048] = "", what[512], full[2600];
  grpc_status_code code;
  exec_argv_describe(x->command, x->ncommand, what, sizeof what);
  prepared ctx;
  if (prepare_context(e->req, &ctx, &code, err, sizeof err) != 0) {
    snprintf(full, sizeof full, "exec in execution \"%s\": its context cannot be rebuilt: %s",
             e->id, err);
    log_msg(LOG_WARN, "exec refused", "execution_id", e->id, "command", what, "error", full, NULL);
    rpc_finish(x->call, GRPC_STATUS_FAILED_PRECONDITION, full);
    return;
  }
  char work[PATH_MAX + 8];
  snprintf(work, sizeof work, "%s/work", e->dir); /* ExecuteSnippet's default */
  const char *cwd = ctx.wd[0] ? ctx.wd : work;
  exec_argv_task at = {.module = e->module ? e->module->desc : NULL,
                       .module_state = e->module_state,
                       .id = e->id,
                       .language = e->language,
                       .task_dir = cwd,
                       .envp = (const char *const *)ctx.envp};
  char **argv = NULL;
  int rc = exec_argv_resolve(&at, x->command, x->ncommand, &argv, err, sizeof err);
  if (rc != 0) {
    log_msg(LOG_WARN, "exec refused", "execution_id", e->id, "command", what, "error", err, NULL);
    rpc_finish(x->call, code_of_resolve(rc), err);
    prepared_free(&ctx);
    return;
  }
  exec_cmd_spec spec = {.argv = (const char *const *)argv,
                        .envp = (const char *const *)ctx.envp,
                        .cwd = cwd,
                        .set_user = ctx.set_user,
                        .uid = ctx.uid,
                        .gid = ctx.gid,
                        .groups = ctx.groups,
                        .ngroups = ctx.ngroups,
                        .cgroup_dirs = e->cg ? e->cg->dirs : NULL,
                        .tty = x->tty};
  exec_stream_take_size(&x->io, &spec.rows, &spec.cols); /* one sent with setup */
  exec_cmd cmd;
  if (exec_cmd_start(&spec, &cmd, err, sizeof err) != 0) {
    snprintf(full, sizeof full, "exec in execution \"%s\": %s", e->id, err);
    log_msg(LOG_WARN, "exec failed", "execution_id", e->id, "command", what, "error", err, NULL);
    rpc_finish(x->call, GRPC_STATUS_FAILED_PRECONDITION, full);
  } else {
    run_command(x, &cmd, what);
    exec_cmd_free(&cmd); /* kills the group if the leader still runs */
  }
  strv_free(argv);
  prepared_free(&ctx);
}

/* rpc_exec_ops.run: the session thread, registered for the shutdown. */
static void session_run(rpc_exec *x) {
  live_session l;
  if (live_add(&l, x) != 0) {
    rpc_finish(x->call, GRPC_STATUS_UNAVAILABLE, "elide-execd is shutting down");
    return;
  }
  run_in_context(x);
  live_remove(&l);
}

static void free_execution(void *e) { ex_unref(e); }

static const rpc_exec_ops exec_ops = {session_run, send_output, free_execution};

/* ---- the gRPC side (worker thread; must not block) ---- */

static void take_input(rpc_exec *x, const EP(ExecInExecutionRequest) * req) {
  const EP(TerminalSize) *size = req->terminal_size;
  rpc_exec_input(x, size != NULL, size ? (long)size->rows : 0, size ? (long)size->cols : 0,
                 req->stdin_data.data, req->stdin_data.len, req->stdin_close);
}

/* The setup's checks; answers the call and returns NULL when refused. */
static execution *check_setup(rpc_call *call, const EP(ExecInExecutionRequest__Setup) * setup) {
  execution *e = api_lookup(call, setup->session_id, setup->execution_id, 1);
  if (!e) return NULL;
  char err[512];
  pthread_mutex_lock(&e->mu);
  int ended = e->state == EX_ENDED;
  pthread_mutex_unlock(&e->mu);
  if (ended) {
    snprintf(err, sizeof err, "execution \"%s\" has ended: there is no running execution to "
             "exec into", e->id);
    rpc_finish(call, GRPC_STATUS_FAILED_PRECONDITION, err);
  } else if (setup->n_command == 0 || !setup->command[0][0]) {
    rpc_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
               "field \"command\" must have at least one value");
  } else {
    return e;
  }
  ex_unref(e);
  return NULL;
}

void api_exec_message(rpc_call *call, const ProtobufCMessage *msg) {
  const EP(ExecInExecutionRequest) *req = (const void *)msg;
  rpc_exec *x = rpc_exec_of(call);
  if (x) { /* a repeated setup is ignored, like a heartbeat */
    take_input(x, req);
    return;
  }
  if (!req->setup) {
    rpc_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "the first message must carry setup");
    return;
  }
  const EP(ExecInExecutionRequest__Setup) *setup = req->setup;
  execution *e = check_setup(call, setup);
  if (!e) return;
  x = rpc_exec_new(call, setup->command, setup->n_command, setup->tty, &exec_ops, e);
  if (!x) return;
  if (setup->terminal_size)
    exec_stream_resize(&x->io, setup->terminal_size->rows, setup->terminal_size->cols);
  take_input(x, req); /* stdin or a size riding along with setup */
  rpc_exec_start(x);
}

void api_exec_done(rpc_call *call, int cancelled) { rpc_exec_done(call, cancelled); }

void api_exec_shutdown(int timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
  pthread_mutex_lock(&live_mu);
  stopping = 1;
  /* A registered session's thread holds its references until it leaves
   * the list, which needs live_mu: x is alive here. */
  for (live_session *l = live; l; l = l->next)
    rpc_exec_abort(l->x, GRPC_STATUS_UNAVAILABLE,
                   "elide-execd is shutting down; the exec'd command was killed");
  while (live && pthread_cond_timedwait(&live_cv, &live_mu, &until) == 0) {
  }
  int left = live != NULL;
  pthread_mutex_unlock(&live_mu);
  if (left)
    log_msg(LOG_WARN, "exec sessions still ending at shutdown; their commands may outlive the "
            "daemon", NULL);
}
