/* Echo test service handlers (see rpc_test.proto for each method's script),
 * written against rpc_server.h only, the way the plugin's handlers are. */
#include "rpc_test_service.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

svc_state svc = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

typedef Elide__Rpctest__EchoRequest Req;
typedef Elide__Rpctest__EchoReply Rep;

long long svc_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int svc_wait(int (*pred)(void), int timeout_ms) {
  long long end = svc_now_ms() + timeout_ms;
  pthread_mutex_lock(&svc.mu);
  int ok;
  while (!(ok = pred()) && svc_now_ms() < end) {
    pthread_mutex_unlock(&svc.mu);
    sleep_ms(2);
    pthread_mutex_lock(&svc.mu);
  }
  pthread_mutex_unlock(&svc.mu);
  return ok;
}

static int send_reply(rpc_call *call, const char *text, int seq) {
  Rep rep = ELIDE__RPCTEST__ECHO_REPLY__INIT;
  rep.text = (char *)text;
  rep.seq = seq;
  return rpc_send(call, &rep.base);
}

static void on_done_count(rpc_call *call, int cancelled) {
  (void)call;
  pthread_mutex_lock(&svc.mu);
  svc.done_total++;
  svc.done_cancelled += cancelled != 0;
  pthread_cond_broadcast(&svc.cv);
  pthread_mutex_unlock(&svc.mu);
}

/* ---- Echo ---- */

static const unsigned char details_bytes[] = {0x08, 0x09, 0x12, 0x00, 0xff, 0x80, 0x00, 0x7f, 0x1a};

static void late_checks(rpc_call *call) {
  int ok = send_reply(call, "late", 1) == 0 && rpc_finish(call, GRPC_STATUS_OK, NULL) == 0 &&
           rpc_call_is_done(call) && send_reply(call, "too late", 2) == -1 &&
           rpc_finish(call, GRPC_STATUS_INTERNAL, "again") == -1;
  pthread_mutex_lock(&svc.mu);
  svc.late_checks = ok;
  pthread_mutex_unlock(&svc.mu);
}

static void echo_msg(rpc_call *call, const ProtobufCMessage *m) {
  const Req *req = (const Req *)m;
  if (strcmp(req->text, "fail") == 0) {
    rpc_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "echo refused: fail");
  } else if (strcmp(req->text, "details") == 0) {
    rpc_finish_with_details(call, GRPC_STATUS_FAILED_PRECONDITION, "recoverable", details_bytes,
                            sizeof details_bytes);
  } else if (strcmp(req->text, "late") == 0) {
    late_checks(call);
  } else {
    send_reply(call, req->text, req->seq);
    rpc_finish(call, GRPC_STATUS_OK, NULL);
  }
}

const unsigned char *svc_details_bytes(size_t *n) {
  *n = sizeof details_bytes;
  return details_bytes;
}

/* ---- Hold ---- */

static void hold_msg(rpc_call *call, const ProtobufCMessage *m) {
  (void)m;
  pthread_mutex_lock(&svc.mu);
  if (svc.nheld < SVC_MAX_HELD) {
    rpc_call_ref(call);
    svc.held[svc.nheld++] = call;
  } else {
    rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many held");
  }
  pthread_cond_broadcast(&svc.cv);
  pthread_mutex_unlock(&svc.mu);
}

int svc_release_held(void) {
  pthread_mutex_lock(&svc.mu);
  int n = svc.nheld;
  rpc_call *held[SVC_MAX_HELD];
  memcpy(held, svc.held, sizeof held);
  svc.nheld = 0;
  pthread_mutex_unlock(&svc.mu);
  int sent = 0;
  for (int i = 0; i < n; i++) {
    sent += send_reply(held[i], "released", i) == 0;
    rpc_finish(held[i], GRPC_STATUS_OK, NULL);
    rpc_call_unref(held[i]);
  }
  return sent;
}

/* ---- Count ---- */

static void count_msg(rpc_call *call, const ProtobufCMessage *m) {
  const Req *req = (const Req *)m;
  for (int i = 0; i < req->count; i++) send_reply(call, req->text, i);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
}

/* ---- Tick: fed from a thread of its own ---- */

typedef struct ticker {
  rpc_call *call;
  int count, interval_ms;
} ticker;

static void *tick_main(void *arg) {
  ticker *t = arg;
  int i;
  for (i = 0; i < t->count; i++) {
    sleep_ms(t->interval_ms);
    if (send_reply(t->call, "tick", i) < 0) break; /* client went away */
  }
  if (i == t->count) rpc_finish(t->call, GRPC_STATUS_OK, NULL);
  rpc_call_unref(t->call);
  free(t);
  pthread_mutex_lock(&svc.mu);
  svc.feeders--;
  pthread_cond_broadcast(&svc.cv);
  pthread_mutex_unlock(&svc.mu);
  return NULL;
}

static void tick_msg(rpc_call *call, const ProtobufCMessage *m) {
  const Req *req = (const Req *)m;
  ticker *t = malloc(sizeof *t);
  *t = (ticker){call, req->count, req->interval_ms};
  rpc_call_ref(call);
  pthread_mutex_lock(&svc.mu);
  svc.feeders++;
  pthread_mutex_unlock(&svc.mu);
  pthread_t th;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_create(&th, &attr, tick_main, t);
  pthread_attr_destroy(&attr);
}

/* ---- Fan: many threads feeding one stream ---- */

typedef struct fan {
  rpc_call *call;
  int per_thread;
  int left; /* threads still sending, guarded by svc.mu */
} fan;

typedef struct fan_arg {
  fan *f;
  int index;
} fan_arg;

static void *fan_main(void *arg) {
  fan_arg *a = arg;
  fan *f = a->f;
  char text[16];
  snprintf(text, sizeof text, "%d", a->index);
  for (int i = 0; i < f->per_thread; i++)
    if (send_reply(f->call, text, i) < 0) break;
  free(a);
  pthread_mutex_lock(&svc.mu);
  int last = --f->left == 0;
  pthread_mutex_unlock(&svc.mu);
  if (last) {
    rpc_finish(f->call, GRPC_STATUS_OK, NULL);
    rpc_call_unref(f->call);
    free(f);
  }
  pthread_mutex_lock(&svc.mu);
  svc.feeders--;
  pthread_mutex_unlock(&svc.mu);
  return NULL;
}

static void fan_msg(rpc_call *call, const ProtobufCMessage *m) {
  const Req *req = (const Req *)m;
  if (req->count <= 0) {
    rpc_finish(call, GRPC_STATUS_OK, NULL);
    return;
  }
  fan *f = malloc(sizeof *f);
  *f = (fan){call, req->seq, req->count};
  rpc_call_ref(call);
  pthread_mutex_lock(&svc.mu);
  svc.feeders += req->count;
  pthread_mutex_unlock(&svc.mu);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  for (int i = 0; i < req->count; i++) {
    fan_arg *a = malloc(sizeof *a);
    *a = (fan_arg){f, i};
    pthread_t th;
    pthread_create(&th, &attr, fan_main, a);
  }
  pthread_attr_destroy(&attr);
}

/* ---- Forever ---- */

static void forever_msg(rpc_call *call, const ProtobufCMessage *m) {
  const Req *req = (const Req *)m;
  if (strcmp(req->text, "keep") == 0) {
    rpc_call_ref(call);
    pthread_mutex_lock(&svc.mu);
    svc.kept = call;
    pthread_mutex_unlock(&svc.mu);
  }
  send_reply(call, "open", 0);
}

static void forever_done(rpc_call *call, int cancelled) {
  pthread_mutex_lock(&svc.mu);
  svc.forever_done++;
  svc.forever_cancelled += cancelled != 0;
  pthread_mutex_unlock(&svc.mu);
  on_done_count(call, cancelled);
}

/* ---- Sum: client streaming ---- */

typedef struct sum_state {
  int count, total;
} sum_state;

static void sum_msg(rpc_call *call, const ProtobufCMessage *m) {
  sum_state *st = rpc_call_user(call);
  if (!st) {
    st = calloc(1, sizeof *st);
    rpc_call_set_user(call, st);
  }
  st->count++;
  st->total += ((const Req *)m)->seq;
}

static void sum_end(rpc_call *call) {
  sum_state *st = rpc_call_user(call);
  char text[32];
  snprintf(text, sizeof text, "%d", st ? st->count : 0);
  send_reply(call, text, st ? st->total : 0);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
}

static void sum_done(rpc_call *call, int cancelled) {
  free(rpc_call_user(call));
  rpc_call_set_user(call, NULL);
  on_done_count(call, cancelled);
}

/* ---- Chat: bidi ---- */

static void chat_msg(rpc_call *call, const ProtobufCMessage *m) {
  const Req *req = (const Req *)m;
  send_reply(call, req->text, req->seq);
  if (strcmp(req->text, "bye") == 0) rpc_finish(call, GRPC_STATUS_OK, NULL);
}

static void chat_end(rpc_call *call) {
  rpc_finish(call, GRPC_STATUS_OK, NULL);
}

#define IN &elide__rpctest__echo_request__descriptor
static const rpc_method methods[] = {
    {SVC_PATH("Echo"), RPC_UNARY, IN, echo_msg, NULL, on_done_count},
    {SVC_PATH("Hold"), RPC_UNARY, IN, hold_msg, NULL, on_done_count},
    {SVC_PATH("Count"), RPC_SERVER_STREAMING, IN, count_msg, NULL, on_done_count},
    {SVC_PATH("Tick"), RPC_SERVER_STREAMING, IN, tick_msg, NULL, on_done_count},
    {SVC_PATH("Fan"), RPC_SERVER_STREAMING, IN, fan_msg, NULL, on_done_count},
    {SVC_PATH("Forever"), RPC_SERVER_STREAMING, IN, forever_msg, NULL, forever_done},
    {SVC_PATH("Sum"), RPC_CLIENT_STREAMING, IN, sum_msg, sum_end, sum_done},
    {SVC_PATH("Chat"), RPC_BIDI, IN, chat_msg, chat_end, on_done_count},
};

const rpc_method *svc_methods(size_t *n) {
  *n = sizeof methods / sizeof methods[0];
  return methods;
}
