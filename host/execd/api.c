/* The ExecutionApi method table and the helpers its handlers share. */
#include "api.h"

#include "validate.h"

#include <stdio.h>
#include <string.h>

execution *api_lookup(rpc_call *call, const char *session_id, const char *execution_id,
                      int started) {
  char err[512];
  if (check_id("execution_id", execution_id, 1, err, sizeof err) < 0 ||
      check_id("session_id", session_id, 0, err, sizeof err) < 0) {
    rpc_finish(call, GRPC_STATUS_INVALID_ARGUMENT, err);
    return NULL;
  }
  execution *e = ex_table_get(&execd_of(call)->executions, execution_id);
  if (e && session_id && session_id[0] && strcmp(session_id, e->session_id) != 0) {
    snprintf(err, sizeof err, "execution \"%s\" not found in session \"%s\"", execution_id,
             session_id);
    rpc_finish(call, GRPC_STATUS_NOT_FOUND, err);
    ex_unref(e);
    return NULL;
  }
  if (!e) {
    snprintf(err, sizeof err, "execution \"%s\" not found", execution_id);
    rpc_finish(call, GRPC_STATUS_NOT_FOUND, err);
    return NULL;
  }
  if (started) {
    pthread_mutex_lock(&e->mu);
    int starting = e->state == EX_STARTING;
    pthread_mutex_unlock(&e->mu);
    if (starting) {
      snprintf(err, sizeof err, "execution \"%s\" is still starting; retry", execution_id);
      rpc_finish(call, GRPC_STATUS_UNAVAILABLE, err);
      ex_unref(e);
      return NULL;
    }
  }
  return e;
}

void api_fill_result(EP(ExitResult) * out, const ex_result *r, int64_t started_at_ns) {
  out->reason = r->reason;
  out->exit_code = r->exit_code;
  out->signal = r->signal;
  out->error = (char *)r->error;
  out->started_at_ns = started_at_ns;
  out->finished_at_ns = r->finished_at_ns;
}

/* Length of a valid UTF-8 sequence at p (at most n bytes), 0 if invalid,
 * -1 if cut short by the end. */
static int utf8_seq(const unsigned char *p, size_t n) {
  int len;
  if (p[0] < 0x80) return 1;
  if (p[0] >= 0xc2 && p[0] <= 0xdf) len = 2;
  else if (p[0] >= 0xe0 && p[0] <= 0xef) len = 3;
  else if (p[0] >= 0xf0 && p[0] <= 0xf4) len = 4;
  else return 0;
  for (int i = 1; i < len; i++) {
    if ((size_t)i >= n) return -1;
    if ((p[i] & 0xc0) != 0x80) return 0;
  }
  /* Overlong 3/4-byte forms, surrogates, and beyond U+10FFFF. */
  if (len == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) return 0;
  if (len == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))) return 0;
  return len;
}

size_t api_utf8_clean(char *buf, size_t len) {
  unsigned char *p = (unsigned char *)buf;
  size_t i = 0;
  while (i < len) {
    int n = utf8_seq(p + i, len - i);
    if (n < 0) { /* a sequence cut by the end of the buffer */
      len = i;
      break;
    }
    if (n == 0) p[i++] = '?';
    else i += (size_t)n;
  }
  buf[len] = '\0';
  return len;
}

/* Handlers that start executions, fingerprint modules or wait for a pipe
 * run in the pool (api_*.c); the others are quick and run on the gRPC
 * worker. */
const rpc_method execd_methods[] = {
    {API_PATH("CreateSession"), RPC_UNARY, &EP_DESC(create_session_request), api_create_session,
     NULL, NULL},
    {API_PATH("GetSession"), RPC_UNARY, &EP_DESC(get_session_request), api_get_session, NULL,
     NULL},
    {API_PATH("DeleteSession"), RPC_UNARY, &EP_DESC(delete_session_request), api_delete_session,
     NULL, NULL},
    {API_PATH("ExecuteSnippet"), RPC_UNARY, &EP_DESC(execute_snippet_request),
     api_execute_snippet, NULL, NULL},
    {API_PATH("GetExecutionStatus"), RPC_UNARY, &EP_DESC(get_execution_status_request),
     api_get_status, NULL, NULL},
    {API_PATH("CancelExecution"), RPC_UNARY, &EP_DESC(cancel_execution_request), api_cancel, NULL,
     NULL},
    {API_PATH("Health"), RPC_UNARY, &EP_DESC(health_request), api_health, NULL, NULL},
    {API_PATH("ReadOutput"), RPC_SERVER_STREAMING, &EP_DESC(read_output_request), api_read_output,
     NULL, api_read_output_done},
    {API_PATH("WriteStdin"), RPC_UNARY, &EP_DESC(write_stdin_request), api_write_stdin, NULL,
     NULL},
    {API_PATH("WaitExecution"), RPC_UNARY, &EP_DESC(wait_execution_request), api_wait, NULL,
     ex_wait_done},
    {API_PATH("SignalExecution"), RPC_UNARY, &EP_DESC(signal_execution_request), api_signal, NULL,
     NULL},
    {API_PATH("ListExecutions"), RPC_UNARY, &EP_DESC(list_executions_request),
     api_list_executions, NULL, NULL},
    /* Each call's session runs on a thread of its own (api_exec.c). */
    {API_PATH("ExecInExecution"), RPC_BIDI, &EP_DESC(exec_in_execution_request),
     api_exec_message, NULL, api_exec_done},
};
const size_t execd_nmethods = sizeof execd_methods / sizeof execd_methods[0];
