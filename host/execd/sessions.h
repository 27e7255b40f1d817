/* Sessions: client-created groups of executions with a configuration (the
 * languages they may use). Persisted under <work_root>/sessions so they
 * survive a daemon restart. An execution with an empty session_id belongs
 * to no session. */
#ifndef ELIDE_EXECD_SESSIONS_H
#define ELIDE_EXECD_SESSIONS_H

#include "daemon.h"
#include "execd_pb.h"

#include <grpc/grpc.h>

/* Loads the persisted sessions (unreadable ones are logged and skipped). */
void sessions_load(execd *d);
void sessions_free(execd *d);

/* CreateSession: creates, or accepts a repeat with the same config
 * (idempotent). Fills *created_at. Returns 0, or -1 with *code and err
 * (ALREADY_EXISTS for another config, INVALID_ARGUMENT, FAILED_PRECONDITION
 * for a memory_limit_mb on a host without cgroups). */
int sessions_create(execd *d, const EP(CreateSessionRequest) * req, int64_t *created_at,
                    grpc_status_code *code, char *err, size_t errlen);

/* GetSession: sends the reply on `call`; -ENOENT when unknown. */
int sessions_reply(execd *d, const char *id, rpc_call *call);

/* Removes the session (memory and disk); -ENOENT when unknown. */
int sessions_delete(execd *d, const char *id);

/* The session's memory_limit_mb (0: none, or no such session). */
uint64_t sessions_memory_limit_mb(execd *d, const char *session_id);

/* May an execution of `session_id` use `language`? 0, or -1 with *code
 * (NOT_FOUND for an unknown session, INVALID_ARGUMENT for a language it
 * does not enable) and err. An empty session_id is always fine. */
int sessions_check(execd *d, const char *session_id, const char *language,
                   grpc_status_code *code, char *err, size_t errlen);

#endif
