/* ExecTaskStreaming (`nomad alloc exec`): one rpc_exec session per call.
 * The first message carries setup; stdin data/close, terminal sizes and
 * empty heartbeats are queued in the session's exec_stream; the session
 * thread runs the command (exec_stream_run for a local task,
 * exec_remote_stream for a task in the execution daemon), streams its
 * output, and at the end sends `close` markers, the exit result, and
 * finishes the call with OK (Nomad never half-closes, so the server must
 * end the call or `nomad alloc exec` hangs). TTY and stdin semantics are
 * exec_stream.h's, in both modes. A client that goes away (cancel,
 * disconnect, plugin shutdown) gets its command's process group killed. */
#include "driver_exec.h"

#include "log.h"
#include "nomad_pb.h"
#include "rpc_exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int send_output(rpc_exec *x, int is_stderr, const char *data, size_t len, int close) {
  DP(ExecTaskStreamingResponse) rep = DP_INIT(EXEC_TASK_STREAMING_RESPONSE);
  DP(ExecTaskStreamingIOOperation) io = DP_INIT(EXEC_TASK_STREAMING_IOOPERATION);
  io.data.data = (uint8_t *)data;
  io.data.len = len;
  io.close = close != 0;
  if (is_stderr) rep.stderr = &io;
  else rep.stdout = &io;
  return rpc_exec_send(x, &rep.base);
}

static void send_exit(rpc_exec *x, int exit_code, int sig) {
  DP(ExecTaskStreamingResponse) rep = DP_INIT(EXEC_TASK_STREAMING_RESPONSE);
  DP(ExitResult) res = DP_INIT(EXIT_RESULT);
  res.exit_code = exit_code;
  res.signal = sig;
  rep.exited = 1;
  rep.result = &res;
  rpc_exec_send(x, &rep.base);
}

/* A local task's command: started here, run by exec_stream_run. 1, 0 or
 * -1 as exec_remote_stream. */
static int run_local(rpc_exec *x, exec_target *t, int *exit_code, int *sig,
                     grpc_status_code *code, char *err, size_t errlen) {
  exec_stream_take_size(&x->io, &t->spec.rows, &t->spec.cols); /* one sent with setup */
  exec_cmd cmd;
  char why[2048];
  if (exec_cmd_start(&t->spec, &cmd, why, sizeof why) != 0) {
    snprintf(err, errlen, "exec in task %s: %s", t->t->id, why);
    *code = GRPC_STATUS_FAILED_PRECONDITION;
    return -1;
  }
  char pid[16];
  snprintf(pid, sizeof pid, "%d", (int)cmd.pid);
  log_msg(LOG_DEBUG, "exec process started", "task_id", t->t->id, "pid", pid, NULL);
  exec_stream_sink sink = rpc_exec_sink(x);
  int ran = exec_stream_run(&x->io, &cmd, &sink);
  if (ran < 0) {
    snprintf(err, errlen, "exec in task %s: poll: %s; the command was killed", t->t->id,
             strerror(-ran));
    *code = GRPC_STATUS_INTERNAL;
    ran = -1;
  }
  *exit_code = cmd.exit_code;
  *sig = cmd.signal;
  exec_cmd_free(&cmd); /* kills the group if the leader still runs */
  return ran;
}

/* rpc_exec_ops.run: the session thread. */
static void session_run(rpc_exec *x) {
  const char *task_id = x->data;
  char err[2600] = "", what[512];
  grpc_status_code code;
  exec_target t;
  exec_argv_describe(x->command, x->ncommand, what, sizeof what);
  if (exec_target_resolve(plugin_of(x->call), task_id, x->command, x->ncommand, x->tty, &t, &code,
                          err, sizeof err) != 0) {
    log_msg(LOG_WARN, "exec refused", "task_id", task_id, "command", what, "error", err, NULL);
    rpc_finish(x->call, code, err);
    return;
  }
  log_msg(LOG_INFO, "exec started", "task_id", t.t->id, "command", what, "tty",
          x->tty ? "true" : "false", "mode", t.remote ? "daemon" : "local", NULL);
  int exit_code = -1, sig = 0, ran;
  if (t.remote) {
    exec_stream_sink sink = rpc_exec_sink(x);
    ran = exec_remote_stream(&t, x->tty, &x->io, &sink, &exit_code, &sig, &code, err, sizeof err);
  } else {
    ran = run_local(x, &t, &exit_code, &sig, &code, err, sizeof err);
  }
  if (ran > 0) {
    send_exit(x, exit_code, sig);
    rpc_finish(x->call, GRPC_STATUS_OK, NULL);
    char code_text[16];
    snprintf(code_text, sizeof code_text, "%d", exit_code);
    log_msg(LOG_INFO, "exec finished", "task_id", t.t->id, "command", what, "exit_code",
            code_text, NULL);
  } else if (ran == 0) {
    log_msg(LOG_INFO, "exec ended by the client: process group killed", "task_id", t.t->id,
            "command", what, NULL);
  } else {
    log_msg(LOG_WARN, "exec failed", "task_id", t.t->id, "command", what, "error", err, NULL);
    rpc_finish(x->call, code, err);
  }
  exec_target_free(&t);
}

static const rpc_exec_ops stream_ops = {session_run, send_output, free};

static void take_input(rpc_exec *x, const DP(ExecTaskStreamingRequest) * req) {
  const DP(ExecTaskStreamingIOOperation) *in = req->stdin;
  rpc_exec_input(x, req->tty_size != NULL, req->tty_size ? req->tty_size->height : 0,
                 req->tty_size ? req->tty_size->width : 0, in ? in->data.data : NULL,
                 in ? in->data.len : 0, in && in->close);
}

void driver_exec_stream_message(rpc_call *call, const ProtobufCMessage *msg) {
  const DP(ExecTaskStreamingRequest) *req = (const void *)msg;
  rpc_exec *x = rpc_exec_of(call);
  if (x) { /* a repeated setup is ignored, like a heartbeat */
    take_input(x, req);
    return;
  }
  if (!req->setup) {
    rpc_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "first message should always be setup");
    return;
  }
  const DP(ExecTaskStreamingRequest__Setup) *setup = req->setup;
  char *task_id = strdup(setup->task_id ? setup->task_id : "");
  if (!task_id) {
    rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "exec: out of memory");
    return;
  }
  x = rpc_exec_new(call, setup->command, setup->n_command, setup->tty, &stream_ops, task_id);
  if (!x) return;
  take_input(x, req); /* stdin or a size riding along with setup */
  rpc_exec_start(x);
}

void driver_exec_stream_done(rpc_call *call, int cancelled) { rpc_exec_done(call, cancelled); }
