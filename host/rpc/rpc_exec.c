/* rpc_exec: the lifetime, input and bounded replies of an exec session on
 * a bidi stream (see rpc_exec.h). */
#include "rpc_exec.h"

#include "exec_argv.h"
#include "strv.h"

#include <stdlib.h>

static void exec_unref(rpc_exec *x) {
  if (atomic_fetch_sub(&x->refs, 1) != 1) return;
  exec_stream_destroy(&x->io);
  rpc_flow_destroy(&x->flow);
  strv_free(x->command);
  if (x->ops->free_data) x->ops->free_data(x->data);
  free(x);
}

rpc_exec *rpc_exec_of(rpc_call *call) { return rpc_call_user(call); }

/* rpc_call_on_drain: runs on the call's worker thread, which is also the
 * only one that clears the user pointer (rpc_exec_done): x is alive. */
static void on_drain(rpc_call *call) {
  rpc_exec *x = rpc_call_user(call);
  if (x) rpc_flow_drained(&x->flow);
}

rpc_exec *rpc_exec_new(rpc_call *call, char *const *command, size_t ncommand, int tty,
                       const rpc_exec_ops *ops, void *data) {
  rpc_exec *x = calloc(1, sizeof *x);
  if (x && exec_stream_init(&x->io) != 0) {
    free(x);
    x = NULL;
  }
  char **copy = x ? exec_argv_copy((const char *const *)command, ncommand) : NULL;
  if (!copy) {
    if (x) exec_stream_destroy(&x->io);
    free(x);
    if (ops->free_data) ops->free_data(data);
    rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "exec: out of memory");
    return NULL;
  }
  x->call = call;
  x->ops = ops;
  x->data = data;
  x->command = copy;
  x->ncommand = ncommand;
  x->tty = tty;
  rpc_flow_init(&x->flow, call, RPC_EXEC_MAX_QUEUED);
  atomic_init(&x->refs, 1);
  rpc_call_set_user(call, x);
  rpc_call_on_drain(call, on_drain);
  return x;
}

static void *session_main(void *arg) {
  rpc_exec *x = arg;
  x->ops->run(x);
  rpc_call_unref(x->call);
  exec_unref(x);
  return NULL;
}

void rpc_exec_start(rpc_exec *x) {
  atomic_fetch_add(&x->refs, 1);
  rpc_call_ref(x->call);
  if (exec_stream_spawn(session_main, x) == 0) return;
  rpc_call_unref(x->call);
  atomic_fetch_sub(&x->refs, 1); /* no thread: only the call's reference is left */
  rpc_finish(x->call, GRPC_STATUS_RESOURCE_EXHAUSTED, "exec: cannot start a session thread");
}

void rpc_exec_input(rpc_exec *x, int has_size, long rows, long cols, const void *data, size_t len,
                    int close) {
  if (has_size) exec_stream_resize(&x->io, rows, cols);
  if (!len && !close) return; /* anything else is a heartbeat */
  int rc = exec_stream_put_stdin(&x->io, data, len, close);
  if (rc == 0) return;
  rpc_finish(x->call, GRPC_STATUS_RESOURCE_EXHAUSTED, exec_stream_put_error(rc));
  exec_stream_end(&x->io);
}

void rpc_exec_abort(rpc_exec *x, grpc_status_code code, const char *why) {
  rpc_finish(x->call, code, why);
  exec_stream_end(&x->io);
  rpc_flow_wake(&x->flow);
}

void rpc_exec_done(rpc_call *call, int cancelled) {
  (void)cancelled; /* either way the session sees the client is gone */
  rpc_exec *x = rpc_call_user(call);
  if (!x) return;
  rpc_call_set_user(call, NULL);
  exec_stream_end(&x->io);
  rpc_flow_wake(&x->flow);
  exec_unref(x);
}

int rpc_exec_send(rpc_exec *x, const ProtobufCMessage *msg) { return rpc_flow_send(&x->flow, msg); }

static int sink_output(void *arg, int is_stderr, const char *data, size_t len, int close) {
  rpc_exec *x = arg;
  return x->ops->output(x, is_stderr, data, len, close);
}

exec_stream_sink rpc_exec_sink(rpc_exec *x) { return (exec_stream_sink){sink_output, x}; }
