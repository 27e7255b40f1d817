/* Broadcast set of long-lived server streams (see stream_hub.h). */
#include "stream_hub.h"

#include <errno.h>
#include <stdlib.h>

void stream_hub_init(stream_hub *h) {
  pthread_mutex_init(&h->mu, NULL);
  h->calls = NULL;
  h->n = h->cap = 0;
}

/* Drops calls that are over; caller holds h->mu. */
static void prune_locked(stream_hub *h) {
  size_t w = 0;
  for (size_t i = 0; i < h->n; i++) {
    if (rpc_call_is_done(h->calls[i]))
      rpc_call_unref(h->calls[i]);
    else
      h->calls[w++] = h->calls[i];
  }
  h->n = w;
}

int stream_hub_add(stream_hub *h, rpc_call *call) {
  pthread_mutex_lock(&h->mu);
  prune_locked(h);
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 4;
    rpc_call **grown = realloc(h->calls, cap * sizeof *grown);
    if (!grown) {
      pthread_mutex_unlock(&h->mu);
      return -ENOMEM;
    }
    h->calls = grown;
    h->cap = cap;
  }
  rpc_call_ref(call);
  h->calls[h->n++] = call;
  pthread_mutex_unlock(&h->mu);
  return 0;
}

void stream_hub_broadcast(stream_hub *h, const ProtobufCMessage *msg) {
  pthread_mutex_lock(&h->mu);
  for (size_t i = 0; i < h->n; i++) rpc_send(h->calls[i], msg);
  prune_locked(h);
  pthread_mutex_unlock(&h->mu);
}

size_t stream_hub_count(stream_hub *h) {
  pthread_mutex_lock(&h->mu);
  prune_locked(h);
  size_t n = h->n;
  pthread_mutex_unlock(&h->mu);
  return n;
}

void stream_hub_close_all(stream_hub *h) {
  pthread_mutex_lock(&h->mu);
  for (size_t i = 0; i < h->n; i++) {
    rpc_finish(h->calls[i], GRPC_STATUS_OK, NULL);
    rpc_call_unref(h->calls[i]);
  }
  h->n = 0;
  pthread_mutex_unlock(&h->mu);
}

void stream_hub_destroy(stream_hub *h) {
  stream_hub_close_all(h);
  free(h->calls);
  h->calls = NULL;
  h->cap = 0;
  pthread_mutex_destroy(&h->mu);
}
