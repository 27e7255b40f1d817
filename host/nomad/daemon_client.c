/* Clients of the execution daemon, one per endpoint (see daemon_client.h). */
#include "daemon_client.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENDPOINTS 8

static pthread_mutex_t clients_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
  char endpoint[512];
  rpc_client *client;
} clients[MAX_ENDPOINTS];

rpc_client *daemon_client(const char *endpoint) {
  rpc_client *c = NULL;
  pthread_mutex_lock(&clients_mu);
  size_t i = 0;
  for (; i < MAX_ENDPOINTS && clients[i].client; i++)
    if (!strcmp(clients[i].endpoint, endpoint)) {
      c = clients[i].client;
      break;
    }
  if (!c) {
    /* Endpoints change only with SetConfig: past the table's size the
     * oldest client is reused for the new address (its calls in flight
     * keep their own channel reference in gRPC). */
    if (i == MAX_ENDPOINTS) i = 0;
    c = rpc_client_new(endpoint);
    if (c) {
      snprintf(clients[i].endpoint, sizeof clients[i].endpoint, "%s", endpoint);
      clients[i].client = c;
    }
  }
  pthread_mutex_unlock(&clients_mu);
  return c;
}

int daemon_call(const char *endpoint, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply,
                int timeout_ms, grpc_status_code *code, char *err, size_t errlen) {
  *reply = NULL;
  *code = GRPC_STATUS_UNAVAILABLE;
  rpc_client *c = daemon_client(endpoint);
  if (!c) {
    snprintf(err, errlen, "daemon at %s unreachable: out of memory", endpoint);
    return -1;
  }
  char path[128];
  snprintf(path, sizeof path, EXEC_API("%s"), method);
  rpc_status st = {0};
  if (rpc_unary(c, path, req, reply_desc, reply, timeout_ms, &st) != 0) {
    snprintf(err, errlen, "daemon at %s unreachable: %s", endpoint,
             st.details ? st.details : "call failed");
    rpc_status_clear(&st);
    return -1;
  }
  *code = st.code;
  if (st.code == GRPC_STATUS_OK && *reply) {
    rpc_status_clear(&st);
    return 0;
  }
  if (st.code == GRPC_STATUS_UNAVAILABLE || st.code == GRPC_STATUS_DEADLINE_EXCEEDED)
    snprintf(err, errlen, "daemon at %s unreachable: %s", endpoint,
             st.details && st.details[0] ? st.details : "no answer");
  else
    snprintf(err, errlen, "daemon at %s: %s: %s", endpoint, method,
             st.details && st.details[0] ? st.details : "failed");
  if (*reply) protobuf_c_message_free_unpacked(*reply, NULL);
  *reply = NULL;
  rpc_status_clear(&st);
  return -1;
}
