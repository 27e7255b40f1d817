/* Handler offloading onto threads of their own (see offload.h).
 *
 * A handler thread waits, after its job, for the next one instead of
 * exiting, up to IDLE_MAX of them: creating a thread (its stack mapping,
 * its first scheduling) cost tens of microseconds on every StartTask and
 * DestroyTask. A job goes to an idle thread when one is free, else to a
 * new thread, so a handler that blocks for long (StopTask waiting out a
 * kill timeout) never delays another. Threads are detached; offload_stop
 * ends the idle ones and waits for them. */
#include "offload.h"

#include <pthread.h>
#include <stdlib.h>

#define IDLE_MAX 4

typedef struct offload_job {
  rpc_call *call;
  ProtobufCMessage *msg;
  offload_fn fn;
  struct offload_job *next;
} offload_job;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER; /* a job queued, or stop */
static pthread_cond_t idle_gone = PTHREAD_COND_INITIALIZER;
static offload_job *queue_head, *queue_tail; /* jobs for idle threads, guarded by mu */
static int nqueued, nidle;
static int stopping;

static void run_job(offload_job *job) {
  job->fn(job->call, job->msg);
  protobuf_c_message_free_unpacked(job->msg, NULL);
  rpc_call_unref(job->call);
  free(job);
}

/* After a job: the next one, waited for as one of at most IDLE_MAX idle
 * threads, or NULL when this thread should exit (enough wait, or stop). */
static offload_job *next_job(void) {
  offload_job *job = NULL;
  pthread_mutex_lock(&mu);
  if (!stopping && nidle < IDLE_MAX) {
    nidle++;
    while (!queue_head && !stopping) pthread_cond_wait(&work, &mu);
    nidle--;
    /* offload_stop waits for nidle to reach 0, also when the last idle
     * thread leaves with a job queued just before the stop. */
    if (stopping) pthread_cond_broadcast(&idle_gone);
    if (queue_head) {
      job = queue_head;
      queue_head = job->next;
      if (!queue_head) queue_tail = NULL;
      nqueued--;
    }
  }
  pthread_mutex_unlock(&mu);
  return job;
}

static void *handler_main(void *arg) {
  for (offload_job *job = arg; job; job = next_job()) run_job(job);
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

/* To an idle thread if one is free: 1, or 0. */
static int hand_to_idle(offload_job *job) {
  pthread_mutex_lock(&mu);
  int free_idle = !stopping && nidle > nqueued;
  if (free_idle) {
    job->next = NULL;
    if (queue_tail)
      queue_tail->next = job;
    else
      queue_head = job;
    queue_tail = job;
    nqueued++;
    pthread_cond_signal(&work);
  }
  pthread_mutex_unlock(&mu);
  return free_idle;
}

static int start_thread(offload_job *job) {
  pthread_attr_t attr;
  pthread_t th;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int started = pthread_create(&th, &attr, handler_main, job) == 0;
  pthread_attr_destroy(&attr);
  return started;
}

void offload(rpc_call *call, const ProtobufCMessage *msg, offload_fn fn) {
  offload_job *job = calloc(1, sizeof *job);
  if (job) job->msg = copy_message(msg);
  int started = 0;
  if (job && job->msg) {
    job->call = call;
    job->fn = fn;
    rpc_call_ref(call);
    started = hand_to_idle(job) || start_thread(job);
    if (!started) rpc_call_unref(call);
  }
  if (!started) {
    if (job && job->msg) protobuf_c_message_free_unpacked(job->msg, NULL);
    free(job);
    rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "cannot start a handler thread");
  }
}

void offload_stop(void) {
  pthread_mutex_lock(&mu);
  stopping = 1;
  pthread_cond_broadcast(&work);
  while (nidle > 0) pthread_cond_wait(&idle_gone, &mu);
  pthread_mutex_unlock(&mu);
}
