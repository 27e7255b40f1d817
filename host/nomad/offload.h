/* Runs a handler on a thread of its own for RPCs that may block (StartTask
 * waiting for the runtime to exec, StopTask waiting out a kill timeout), so
 * gRPC worker threads are never held: an idle handler thread from an
 * earlier call, or a new one. The request is copied; the call is
 * referenced until the handler returns. */
#ifndef ELIDE_NOMAD_OFFLOAD_H
#define ELIDE_NOMAD_OFFLOAD_H

#include "rpc_server.h"

typedef void (*offload_fn)(rpc_call *call, const ProtobufCMessage *msg);

/* On failure to start the thread the call is answered RESOURCE_EXHAUSTED. */
void offload(rpc_call *call, const ProtobufCMessage *msg, offload_fn fn);

/* At shutdown, after the server has stopped (no more offload calls): ends
 * the handler threads that wait for work and returns once they are gone.
 * Handlers still running finish on their own. */
void offload_stop(void);

#endif
