/* Handler offloading onto detached threads (see offload.h). */
#include "offload.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct offload_job {
  rpc_call *call;
  ProtobufCMessage *msg;
  offload_fn fn;
} offload_job;

static void *offload_main(void *arg) {
  offload_job *job = arg;
  job->fn(job->call, job->msg);
  protobuf_c_message_free_unpacked(job->msg, NULL);
  rpc_call_unref(job->call);
  free(job);
  return NULL;
}

/* Deep-copies a message by packing and unpacking it. */
static ProtobufCMessage *copy_message(const ProtobufCMessage *msg) {
  size_t len = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf) return NULL;
  protobuf_c_message_pack(msg, buf);
  ProtobufCMessage *copy = protobuf_c_message_unpack(msg->descriptor, NULL, len, buf);
  free(buf);
  return copy;
}

void offload(rpc_call *call, const ProtobufCMessage *msg, offload_fn fn) {
  offload_job *job = calloc(1, sizeof *job);
  if (job) job->msg = copy_message(msg);
  pthread_attr_t attr;
  pthread_t th;
  int started = 0;
  if (job && job->msg) {
    job->call = call;
    job->fn = fn;
    rpc_call_ref(call);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    started = pthread_create(&th, &attr, offload_main, job) == 0;
    pthread_attr_destroy(&attr);
    if (!started) rpc_call_unref(call);
  }
  if (!started) {
    if (job && job->msg) protobuf_c_message_free_unpacked(job->msg, NULL);
    free(job);
    rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "cannot start a handler thread");
  }
}
