/* A set of open server-streaming calls that all receive the same messages
 * (Fingerprint and TaskEvents subscribers). Calls are referenced while
 * subscribed and dropped once they are over. Thread-safe. */
#ifndef ELIDE_STREAM_HUB_H
#define ELIDE_STREAM_HUB_H

#include "rpc_server.h"

#include <pthread.h>
#include <stddef.h>

typedef struct stream_hub {
  pthread_mutex_t mu;
  rpc_call **calls;
  size_t n, cap;
} stream_hub;

void stream_hub_init(stream_hub *h);
/* Adds a call (takes a reference). Returns 0, -ENOMEM. */
int stream_hub_add(stream_hub *h, rpc_call *call);
/* Sends msg to every open call; drops the finished ones. */
void stream_hub_broadcast(stream_hub *h, const ProtobufCMessage *msg);
/* The number of calls still open (finished ones are dropped first). */
size_t stream_hub_count(stream_hub *h);
/* Ends every open call with OK and drops them all. */
void stream_hub_close_all(stream_hub *h);
void stream_hub_destroy(stream_hub *h);

#endif
