/* rpc_flow: bounded sending on a server stream from a producer thread of
 * the handler's own (an exec session pumping a command's output). At most
 * `max_queued` replies wait in the call's send queue; a producer beyond
 * that waits until the queue drained, so a slow client slows the producer
 * instead of growing the process.
 *
 * Wiring: rpc_flow_init before the first send (it installs nothing by
 * itself), call rpc_flow_drained from the call's rpc_call_on_drain
 * callback, and rpc_flow_wake from on_done (or whenever the call ends) so a
 * blocked producer notices. */
#ifndef ELIDE_RPC_FLOW_H
#define ELIDE_RPC_FLOW_H

#include "rpc_server.h"

#include <pthread.h>

typedef struct rpc_flow {
  pthread_mutex_t mu;
  pthread_cond_t room;
  rpc_call *call; /* borrowed: the owner holds a reference while it sends */
  int queued;     /* sends since the queue last drained (a drain racing a send may undercount by
                     one: the bound is approximate, a stall impossible) */
  int max_queued;
} rpc_flow;

void rpc_flow_init(rpc_flow *f, rpc_call *call, int max_queued);
void rpc_flow_destroy(rpc_flow *f);

/* Waits for room (or the call's end), then rpc_send. 0, or -1 when the call
 * is over. Not on the call's worker thread (the drain runs there). */
int rpc_flow_send(rpc_flow *f, const ProtobufCMessage *msg);

/* The call's send queue is empty (from its on_drain callback). */
void rpc_flow_drained(rpc_flow *f);
/* Wakes a waiting rpc_flow_send to re-check the call (its end). */
void rpc_flow_wake(rpc_flow *f);

#endif
