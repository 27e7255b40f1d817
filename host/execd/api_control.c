/* CancelExecution, SignalExecution, WaitExecution and WriteStdin (in the
 * pool: it may wait up to a second for the task to read). */
#include "api.h"
#include "pool.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* A signal number field: 1..NSIG-1, or 0 when `zero_ok`. */
static int check_signal(rpc_call *call, const char *field, int sig, int zero_ok) {
  if ((sig == 0 && zero_ok) || (sig > 0 && sig < NSIG)) return 0;
  char err[256];
  if (sig == 0) snprintf(err, sizeof err, "field \"%s\" is required", field);
  else snprintf(err, sizeof err, "field \"%s\": %d is not a signal number (1-%d)", field, sig,
                NSIG - 1);
  rpc_finish(call, GRPC_STATUS_INVALID_ARGUMENT, err);
  return -1;
}

void api_cancel(rpc_call *call, const ProtobufCMessage *msg) {
  const EP(CancelExecutionRequest) *req = (const void *)msg;
  if (check_signal(call, "signal", req->signal, 1) < 0) return;
  execution *e = api_lookup(call, req->session_id, req->execution_id, 0);
  if (!e) return;
  char err[512];
  if (ex_cancel(e, req->signal ? req->signal : SIGTERM, req->grace_period_ms, err, sizeof err) !=
      0) {
    rpc_finish(call, GRPC_STATUS_INTERNAL, err);
  } else {
    EP(CancelExecutionResponse) rep = EP_INIT(CANCEL_EXECUTION_RESPONSE);
    rep.success = 1;
    rpc_send(call, &rep.base);
    rpc_finish(call, GRPC_STATUS_OK, NULL);
  }
  ex_unref(e);
}

void api_signal(rpc_call *call, const ProtobufCMessage *msg) {
  const EP(SignalExecutionRequest) *req = (const void *)msg;
  if (check_signal(call, "signal", req->signal, 0) < 0) return;
  execution *e = api_lookup(call, req->session_id, req->execution_id, 1);
  if (!e) return;
  int rc = ex_signal(e, req->signal);
  char err[256];
  if (rc == -ESRCH) {
    snprintf(err, sizeof err, "execution \"%s\" has already ended", e->id);
    rpc_finish(call, GRPC_STATUS_FAILED_PRECONDITION, err);
  } else if (rc != 0) {
    snprintf(err, sizeof err, "cannot signal execution \"%s\": %s", e->id, strerror(-rc));
    rpc_finish(call, GRPC_STATUS_INTERNAL, err);
  } else {
    EP(SignalExecutionResponse) rep = EP_INIT(SIGNAL_EXECUTION_RESPONSE);
    rpc_send(call, &rep.base);
    rpc_finish(call, GRPC_STATUS_OK, NULL);
  }
  ex_unref(e);
}

void api_wait(rpc_call *call, const ProtobufCMessage *msg) {
  const EP(WaitExecutionRequest) *req = (const void *)msg;
  execution *e = api_lookup(call, req->session_id, req->execution_id, 0);
  if (!e) return;
  ex_wait(e, call, req->timeout_ms);
  ex_unref(e);
}

static void write_stdin(rpc_call *call, const ProtobufCMessage *msg) {
  const EP(WriteStdinRequest) *req = (const void *)msg;
  execution *e = api_lookup(call, req->session_id, req->execution_id, 1);
  if (!e) return;
  uint64_t next = 0;
  char err[512];
  int code = ex_stdin_write(e, req->offset, req->data.data, req->data.len, req->eof, &next, err,
                            sizeof err);
  if (code != 0) {
    rpc_finish(call, (grpc_status_code)code, err);
  } else {
    EP(WriteStdinResponse) rep = EP_INIT(WRITE_STDIN_RESPONSE);
    rep.next_offset = next;
    rpc_send(call, &rep.base);
    rpc_finish(call, GRPC_STATUS_OK, NULL);
  }
  ex_unref(e);
}

void api_write_stdin(rpc_call *call, const ProtobufCMessage *msg) {
  const EP(WriteStdinRequest) *req = (const void *)msg;
  if (req->data.len > EXECD_MAX_STDIN_CHUNK) {
    char err[256];
    snprintf(err, sizeof err, "field \"data\": %zu bytes, more than the limit of %u per write",
             req->data.len, EXECD_MAX_STDIN_CHUNK);
    rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, err);
    return;
  }
  pool_call(call, msg, write_stdin);
}
