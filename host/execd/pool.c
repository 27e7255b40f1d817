/* The blocking-work pool (see pool.h): a FIFO of jobs under one mutex. */
#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define POOL_MAX_THREADS 16
#define POOL_MAX_QUEUED 1024

typedef struct job {
  pool_fn fn;
  void *arg;
  struct job *next;
} job;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  job *head, *tail;
  size_t queued;
  int stopping;
  int nthreads;
  pthread_t threads[POOL_MAX_THREADS];
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .stopping = 1};

static void *pool_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&P.mu);
  for (;;) {
    while (!P.head && !P.stopping) pthread_cond_wait(&P.cond, &P.mu);
    job *j = P.head;
    if (!j) break; /* stopping and drained */
    P.head = j->next;
    if (!P.head) P.tail = NULL;
    P.queued--;
    pthread_mutex_unlock(&P.mu);
    j->fn(j->arg);
    free(j);
    pthread_mutex_lock(&P.mu);
  }
  pthread_mutex_unlock(&P.mu);
  return NULL;
}

int pool_start(int nthreads) {
  if (nthreads < 1) nthreads = 1;
  if (nthreads > POOL_MAX_THREADS) nthreads = POOL_MAX_THREADS;
  P.stopping = 0;
  for (int i = 0; i < nthreads; i++) {
    int rc = pthread_create(&P.threads[i], NULL, pool_main, NULL);
    if (rc != 0) {
      pool_stop();
      return -rc;
    }
    P.nthreads++;
  }
  return 0;
}

void pool_stop(void) {
  pthread_mutex_lock(&P.mu);
  P.stopping = 1;
  pthread_cond_broadcast(&P.cond);
  pthread_mutex_unlock(&P.mu);
  for (int i = 0; i < P.nthreads; i++) pthread_join(P.threads[i], NULL);
  P.nthreads = 0;
}

int pool_run(pool_fn fn, void *arg) {
  job *j = malloc(sizeof *j);
  if (!j) return -ENOMEM;
  *j = (job){fn, arg, NULL};
  pthread_mutex_lock(&P.mu);
  int rc = P.stopping ? -ESHUTDOWN : P.queued >= POOL_MAX_QUEUED ? -ENOMEM : 0;
  if (rc == 0) {
    if (P.tail) P.tail->next = j;
    else P.head = j;
    P.tail = j;
    P.queued++;
    pthread_cond_signal(&P.cond);
  }
  pthread_mutex_unlock(&P.mu);
  if (rc != 0) free(j);
  return rc;
}

typedef struct call_job {
  rpc_call *call;
  ProtobufCMessage *msg;
  pool_call_fn fn;
} call_job;

static void run_call(void *arg) {
  call_job *cj = arg;
  cj->fn(cj->call, cj->msg);
  protobuf_c_message_free_unpacked(cj->msg, NULL);
  rpc_call_unref(cj->call);
  free(cj);
}

/* Deep copy by packing and unpacking: the request is borrowed only for the
 * duration of on_message. */
static ProtobufCMessage *copy_message(const ProtobufCMessage *msg) {
  size_t len = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf) return NULL;
  protobuf_c_message_pack(msg, buf);
  ProtobufCMessage *copy = protobuf_c_message_unpack(msg->descriptor, NULL, len, buf);
  free(buf);
  return copy;
}

void pool_call(rpc_call *call, const ProtobufCMessage *msg, pool_call_fn fn) {
  call_job *cj = calloc(1, sizeof *cj);
  int rc = -ENOMEM;
  if (cj && (cj->msg = copy_message(msg))) {
    cj->call = call;
    cj->fn = fn;
    rpc_call_ref(call);
    rc = pool_run(run_call, cj);
    if (rc != 0) {
      rpc_call_unref(call);
      protobuf_c_message_free_unpacked(cj->msg, NULL);
    }
  }
  if (rc != 0) {
    free(cj);
    if (rc == -ESHUTDOWN) rpc_finish(call, GRPC_STATUS_UNAVAILABLE, "elide-execd is shutting down");
    else rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many requests queued");
  }
}
