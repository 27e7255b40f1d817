/* Exec into a task that runs in the execution daemon: ExecTaskStreaming
 * and ExecTask proxied onto the daemon's ExecInExecution stream, which runs
 * the command in the execution's context on the daemon's side (see
 * execution_api.proto). The Nomad-facing obligations stay with the callers
 * (driver_exec_stream.c, driver_exec.c): here, only the daemon's side.
 *
 * Streaming uses two threads: the session thread receives the daemon's
 * responses and hands them to the sink; an input thread forwards what the
 * Nomad client queued in the exec_stream (stdin, closes, sizes), since a
 * send may wait on the daemon's flow control. Either side cancels the
 * daemon stream when the Nomad client is gone, and the daemon then kills
 * the command's process group. */
#include "driver_exec.h"

#include "daemon_client.h"
#include "daemon_task.h"
#include "tail_buf.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How often a waiting receive looks at whether the Nomad client is gone. */
#define POLL_MS 200
/* How long an exec waits for the daemon's channel to connect: a user's
 * command right after a daemon restart must not fail because the channel
 * still waits out its reconnect back-off (at most RPC_MAX_RECONNECT_MS). */
#define CONNECT_WAIT_MS (3 * RPC_MAX_RECONNECT_MS)

/* Opens the daemon stream with its setup (the execution id is Nomad's task
 * id), plus a stdin close when `close_stdin`; `close_send` half-closes at
 * once (nothing more will be sent). NULL only on ENOMEM. */
static rpc_stream *open_exec(const exec_target *x, int tty, unsigned short rows,
                             unsigned short cols, int has_size, int close_stdin, int close_send) {
  rpc_client *c = daemon_client(x->endpoint);
  if (!c) return NULL;
  /* Not ready by then: the call fails fast and says why (unreachable). */
  rpc_client_wait_ready(c, CONNECT_WAIT_MS);
  EP(ExecInExecutionRequest) req = EP_INIT(EXEC_IN_EXECUTION_REQUEST);
  EP(ExecInExecutionRequest__Setup) setup = EP_INIT(EXEC_IN_EXECUTION_REQUEST__SETUP);
  EP(TerminalSize) size = EP_INIT(TERMINAL_SIZE);
  setup.session_id = (char *)DAEMON_SESSION_ID;
  setup.execution_id = x->t->id;
  setup.command = x->argv;
  setup.n_command = x->argc;
  setup.tty = tty != 0;
  if (has_size) {
    size.rows = rows;
    size.cols = cols;
    setup.terminal_size = &size;
  }
  req.setup = &setup;
  req.stdin_close = close_stdin != 0;
  return rpc_stream_open(c, EXEC_API("ExecInExecution"), &req.base, close_send, 0);
}

/* The daemon's final status as the exec's error: unreachable for transport
 * failures, else the daemon's own words with its code (they name the
 * problem as the local path would: a binary that cannot be found, a
 * backend without a REPL). Takes ownership of st. */
static void remote_error(const exec_target *x, rpc_status *st, grpc_status_code *code, char *err,
                         size_t errlen) {
  const char *details = st->details && st->details[0] ? st->details : NULL;
  if (st->code == GRPC_STATUS_OK) {
    *code = GRPC_STATUS_INTERNAL;
    snprintf(err, errlen, "exec in task %s: the daemon at %s ended the exec without its exit",
             x->t->id, x->endpoint);
  } else if (st->code == GRPC_STATUS_CANCELLED) { /* ours, after a reply that did not parse */
    *code = GRPC_STATUS_INTERNAL;
    snprintf(err, errlen, "exec in task %s: the daemon at %s sent a reply that does not parse",
             x->t->id, x->endpoint);
  } else if (st->code == GRPC_STATUS_UNAVAILABLE || st->code == GRPC_STATUS_DEADLINE_EXCEEDED) {
    *code = GRPC_STATUS_UNAVAILABLE;
    snprintf(err, errlen, "exec in task %s: daemon at %s unreachable: %s", x->t->id, x->endpoint,
             details ? details : "no answer");
  } else {
    *code = st->code;
    snprintf(err, errlen, "%s", details ? details : "the execution daemon refused the exec");
  }
  rpc_status_clear(st);
}

/* ---- ExecTaskStreaming ---- */

typedef struct forwarder {
  exec_stream *io;
  rpc_stream *st;
  pthread_mutex_t mu;
  int stop; /* the session thread is done with the stream */
} forwarder;

static int forwarder_stopped(forwarder *f) {
  pthread_mutex_lock(&f->mu);
  int stop = f->stop;
  pthread_mutex_unlock(&f->mu);
  return stop;
}

/* Sends one input item; 0, or -1 when the stream is over. */
static int forward_chunk(rpc_stream *st, const exec_stream_chunk *c) {
  EP(ExecInExecutionRequest) req = EP_INIT(EXEC_IN_EXECUTION_REQUEST);
  req.stdin_data.data = (uint8_t *)c->data;
  req.stdin_data.len = c->len;
  req.stdin_close = c->close != 0;
  return rpc_stream_send(st, &req.base);
}

static int forward_size(forwarder *f) {
  unsigned short rows, cols;
  if (!exec_stream_take_size(f->io, &rows, &cols)) return 0;
  EP(ExecInExecutionRequest) req = EP_INIT(EXEC_IN_EXECUTION_REQUEST);
  EP(TerminalSize) size = EP_INIT(TERMINAL_SIZE);
  size.rows = rows;
  size.cols = cols;
  req.terminal_size = &size;
  return rpc_stream_send(f->st, &req.base);
}

/* The input thread: queued input to the daemon, in order, until the
 * session thread is done or the client is gone (then it cancels). */
static void *forward_main(void *arg) {
  forwarder *f = arg;
  int broken = 0;
  while (!forwarder_stopped(f)) {
    if (exec_stream_ended(f->io)) {
      rpc_stream_cancel(f->st);
      break;
    }
    if (!broken && forward_size(f) != 0) broken = 1;
    exec_stream_chunk *c;
    while (!broken && (c = exec_stream_pop(f->io))) {
      if (forward_chunk(f->st, c) != 0) broken = 1;
      free(c);
    }
    /* A broken send means the stream is over: the session thread reads its
     * status; only the client's end still matters here. */
    exec_stream_wait(f->io, broken ? POLL_MS : -1);
  }
  return NULL;
}

/* Hands one daemon response to the sink; records the exit. 0, or -1 when
 * the sink refused (the client is gone). */
static int take_response(const EP(ExecInExecutionResponse) * r, const exec_stream_sink *sink,
                         int *exited, int *exit_code, int *sig) {
  int is_stderr = r->fd == EP_ENUM(OUTPUT_FD__OUTPUT_FD_STDERR);
  if (r->data.len &&
      sink->output(sink->arg, is_stderr, (const char *)r->data.data, r->data.len, 0) != 0)
    return -1;
  if (r->close && sink->output(sink->arg, is_stderr, NULL, 0, 1) != 0) return -1;
  if (r->exit) {
    *exited = 1;
    *exit_code = r->exit->exit_code;
    *sig = r->exit->signal;
  }
  return 0;
}

int exec_remote_stream(const exec_target *x, int tty, exec_stream *io,
                       const exec_stream_sink *sink, int *exit_code, int *sig,
                       grpc_status_code *code, char *err, size_t errlen) {
  unsigned short rows, cols;
  int has_size = exec_stream_take_size(io, &rows, &cols); /* one sent with setup */
  rpc_stream *st = open_exec(x, tty, rows, cols, has_size, 0, 0);
  if (!st) {
    *code = GRPC_STATUS_RESOURCE_EXHAUSTED;
    snprintf(err, errlen, "exec in task %s: out of memory", x->t->id);
    return -1;
  }
  forwarder f = {.io = io, .st = st};
  pthread_mutex_init(&f.mu, NULL);
  pthread_t th;
  int forwarding = pthread_create(&th, NULL, forward_main, &f) == 0;
  if (!forwarding) rpc_stream_cancel(st);
  int exited = 0, gone = !forwarding;
  while (!gone) {
    ProtobufCMessage *m = NULL;
    int r = rpc_stream_recv(st, &EP_DESC(exec_in_execution_response), &m, POLL_MS);
    if (r == -2) {
      if (exec_stream_ended(io)) gone = 1;
      continue;
    }
    if (r < 0) rpc_stream_cancel(st); /* a reply that does not parse: give up on it */
    if (r != 1) break;
    gone = take_response((const void *)m, sink, &exited, exit_code, sig) != 0;
    protobuf_c_message_free_unpacked(m, NULL);
  }
  /* The input thread cancels the stream too when the client goes. */
  if (!exited && exec_stream_ended(io)) gone = 1;
  if (gone) rpc_stream_cancel(st);
  pthread_mutex_lock(&f.mu);
  f.stop = 1;
  pthread_mutex_unlock(&f.mu);
  exec_stream_wake(io);
  if (forwarding) pthread_join(th, NULL);
  pthread_mutex_destroy(&f.mu);
  rpc_status status = {0};
  rpc_stream_finish(st, &status);
  if (!forwarding) {
    rpc_status_clear(&status);
    *code = GRPC_STATUS_RESOURCE_EXHAUSTED;
    snprintf(err, errlen, "exec in task %s: cannot start the input thread", x->t->id);
    return -1;
  }
  if (gone) {
    rpc_status_clear(&status);
    return 0;
  }
  if (exited && status.code == GRPC_STATUS_OK) {
    rpc_status_clear(&status);
    return 1;
  }
  remote_error(x, &status, code, err, errlen);
  return -1;
}

/* ---- ExecTask ---- */

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A tail_buf pair as an exec_stream_sink: the interleaved output and
 * stderr alone. */
typedef struct capture {
  tail_buf combined, alone;
} capture;

static int capture_output(void *arg, int is_stderr, const char *data, size_t len, int close) {
  capture *c = arg;
  (void)close;
  tail_buf_put(&c->combined, data, len);
  if (is_stderr) tail_buf_put(&c->alone, data, len);
  return 0;
}

int exec_remote_capture(const exec_target *x, int timeout_ms, size_t limit, exec_cmd_output *out,
                        grpc_status_code *code, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  capture cap = {{0}, {0}};
  rpc_stream *st = NULL;
  if (tail_buf_init(&cap.combined, limit) < 0 || tail_buf_init(&cap.alone, limit) < 0 ||
      !(st = open_exec(x, 0, 0, 0, 0, 1, 1))) {
    tail_buf_free(&cap.combined);
    tail_buf_free(&cap.alone);
    *code = GRPC_STATUS_RESOURCE_EXHAUSTED;
    snprintf(err, errlen, "exec in task %s: out of memory", x->t->id);
    return -1;
  }
  exec_stream_sink sink = {capture_output, &cap};
  int64_t deadline = timeout_ms > 0 ? mono_ms() + timeout_ms : INT64_MAX;
  int exited = 0;
  for (;;) {
    int64_t left = deadline - mono_ms();
    if (left <= 0) {
      /* The daemon kills the command's group when the stream goes. */
      rpc_stream_cancel(st);
      out->timed_out = 1;
      break;
    }
    ProtobufCMessage *m = NULL;
    int r = rpc_stream_recv(st, &EP_DESC(exec_in_execution_response), &m,
                            left > 1000 ? 1000 : (int)left);
    if (r == -2) continue;
    if (r < 0) rpc_stream_cancel(st); /* a reply that does not parse: give up on it */
    if (r != 1) break;
    take_response((const void *)m, &sink, &exited, &out->exit_code, &out->signal);
    protobuf_c_message_free_unpacked(m, NULL);
  }
  rpc_status status = {0};
  rpc_stream_finish(st, &status);
  if (out->timed_out) {
    rpc_status_clear(&status);
    out->exit_code = 128 + SIGKILL;
    out->signal = SIGKILL;
  } else if (!exited || status.code != GRPC_STATUS_OK) {
    tail_buf_free(&cap.combined);
    tail_buf_free(&cap.alone);
    remote_error(x, &status, code, err, errlen);
    return -1;
  }
  rpc_status_clear(&status);
  out->combined = tail_buf_take(&cap.combined, &out->combined_len);
  out->stderr_only = tail_buf_take(&cap.alone, &out->stderr_len);
  if (!out->combined || !out->stderr_only) {
    exec_cmd_output_free(out);
    *code = GRPC_STATUS_RESOURCE_EXHAUSTED;
    snprintf(err, errlen, "exec in task %s: out of memory", x->t->id);
    return -1;
  }
  return 0;
}
