/* CreateSession, GetSession, DeleteSession. Deleting a session cancels its
 * running executions (their kill_signal, then SIGKILL after their
 * kill_grace_ms); their records stay until retain_finished passes. */
#include "api.h"
#include "log.h"
#include "sessions.h"
#include "validate.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_create_session(rpc_call *call, const ProtobufCMessage *msg) {
  const EP(CreateSessionRequest) *req = (const void *)msg;
  grpc_status_code code;
  char err[512];
  int64_t created_at = 0;
  if (sessions_create(execd_of(call), req, &created_at, &code, err, sizeof err) != 0) {
    rpc_finish(call, code, err);
    return;
  }
  EP(CreateSessionResponse) rep = EP_INIT(CREATE_SESSION_RESPONSE);
  rep.session_id = req->session_id;
  rep.status = EP_ENUM(SESSION_STATUS__SESSION_STATUS_ACTIVE);
  rep.created_at = created_at;
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
}

static int check_session_id(rpc_call *call, const char *id) {
  char err[512];
  if (check_id("session_id", id, 1, err, sizeof err) == 0) return 0;
  rpc_finish(call, GRPC_STATUS_INVALID_ARGUMENT, err);
  return -1;
}

static void not_found(rpc_call *call, const char *id) {
  char err[512];
  snprintf(err, sizeof err, "session \"%s\" not found", id);
  rpc_finish(call, GRPC_STATUS_NOT_FOUND, err);
}

void api_get_session(rpc_call *call, const ProtobufCMessage *msg) {
  const EP(GetSessionRequest) *req = (const void *)msg;
  if (check_session_id(call, req->session_id) < 0) return;
  if (sessions_reply(execd_of(call), req->session_id, call) != 0) not_found(call, req->session_id);
  else rpc_finish(call, GRPC_STATUS_OK, NULL);
}

void api_delete_session(rpc_call *call, const ProtobufCMessage *msg) {
  const EP(DeleteSessionRequest) *req = (const void *)msg;
  execd *d = execd_of(call);
  if (check_session_id(call, req->session_id) < 0) return;
  if (sessions_delete(d, req->session_id) != 0) {
    not_found(call, req->session_id);
    return;
  }
  size_t n = 0;
  execution **all = ex_table_list(&d->executions, &n);
  for (size_t i = 0; i < n; i++) {
    execution *e = all[i];
    if (strcmp(e->session_id, req->session_id) == 0) {
      char err[512];
      int sig = e->req->kill_signal ? e->req->kill_signal : SIGTERM;
      if (ex_cancel(e, sig, e->req->kill_grace_ms, err, sizeof err) != 0)
        log_msg(LOG_WARN, "cannot cancel an execution of a deleted session", "execution_id",
                e->id, "error", err, NULL);
    }
    ex_unref(e);
  }
  free(all);
  log_msg(LOG_INFO, "session deleted", "session_id", req->session_id, NULL);
  EP(DeleteSessionResponse) rep = EP_INIT(DELETE_SESSION_RESPONSE);
  rep.success = 1;
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
}
