/* The ExecutionApi handlers (api_*.c, output.c) and what they share:
 * looking an execution up for a request, filling ExitResult, and text that
 * is safe for proto3 string fields. */
#ifndef ELIDE_EXECD_API_H
#define ELIDE_EXECD_API_H

#include "execd_pb.h"
#include "execution.h"
#include "rpc_server.h"

#define API_PATH(method) "/elide.daemon.v1alpha1.ExecutionApi/" method

/* The execution a request names, referenced; NULL after answering the call
 * (INVALID_ARGUMENT for a missing or bad id, NOT_FOUND for an unknown one
 * or one of another session than a non-empty session_id names,
 * UNAVAILABLE when `started` is required and it is still starting). */
execution *api_lookup(rpc_call *call, const char *session_id, const char *execution_id,
                      int started);

/* Fills `out` from an ended execution's result; strings point into `r`. */
void api_fill_result(EP(ExitResult) * out, const ex_result *r, int64_t started_at_ns);

/* Replaces invalid UTF-8 in buf[0..len) by '?' in place and cuts a sequence
 * split at the end (proto3 strings must be valid UTF-8; output and paths
 * need not be). buf needs room for a NUL at buf[len]; it is written after
 * the new length, which is returned. */
size_t api_utf8_clean(char *buf, size_t len);

/* Handlers, by file. */
void api_create_session(rpc_call *call, const ProtobufCMessage *msg);
void api_get_session(rpc_call *call, const ProtobufCMessage *msg);
void api_delete_session(rpc_call *call, const ProtobufCMessage *msg);
void api_execute_snippet(rpc_call *call, const ProtobufCMessage *msg);
void api_get_status(rpc_call *call, const ProtobufCMessage *msg);
void api_list_executions(rpc_call *call, const ProtobufCMessage *msg);
void api_cancel(rpc_call *call, const ProtobufCMessage *msg);
void api_signal(rpc_call *call, const ProtobufCMessage *msg);
void api_wait(rpc_call *call, const ProtobufCMessage *msg);
void api_write_stdin(rpc_call *call, const ProtobufCMessage *msg);
void api_read_output(rpc_call *call, const ProtobufCMessage *msg);
void api_read_output_done(rpc_call *call, int cancelled);
void api_health(rpc_call *call, const ProtobufCMessage *msg);
void api_exec_message(rpc_call *call, const ProtobufCMessage *msg); /* api_exec.c */
void api_exec_done(rpc_call *call, int cancelled);

/* Shutdown: ends every ExecInExecution call with UNAVAILABLE (their
 * commands are killed), refuses new ones, and waits up to timeout_ms for
 * their sessions to be over. Before rpc_server_stop. */
void api_exec_shutdown(int timeout_ms);

#endif
