/* A small fixed pool of threads for work that may block (starting an
 * execution, fingerprinting modules, waiting for room in a stdin pipe,
 * deleting an execution), so gRPC workers and the timer thread never do.
 * Jobs run in submission order; pool_stop runs what is queued, then joins. */
#ifndef ELIDE_EXECD_POOL_H
#define ELIDE_EXECD_POOL_H

#include "rpc_server.h"

typedef void (*pool_fn)(void *arg);
typedef void (*pool_call_fn)(rpc_call *call, const ProtobufCMessage *msg);

int pool_start(int nthreads);
/* Refuses new jobs, lets the queued ones run, joins the threads. */
void pool_stop(void);

/* Queues fn(arg). Returns 0, or -ESHUTDOWN / -ENOMEM (fn was not queued:
 * the caller keeps arg). */
int pool_run(pool_fn fn, void *arg);

/* Runs a handler in the pool: the request is copied and the call
 * referenced until it returns. If it cannot be queued the call is answered
 * UNAVAILABLE (stopping) or RESOURCE_EXHAUSTED. */
void pool_call(rpc_call *call, const ProtobufCMessage *msg, pool_call_fn fn);

#endif
