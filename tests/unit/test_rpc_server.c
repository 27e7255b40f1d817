/* host/rpc end to end over a real Unix socket: the Echo test service served by
 * rpc_server, driven by rpc_client (and raw gRPC core for malformed calls). */
#include "check.h"
#include "rpc_client.h"
#include "rpc_test_service.h"

#include <grpc/byte_buffer.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef Elide__Rpctest__EchoRequest Req;
typedef Elide__Rpctest__EchoReply Rep;
#define REP_DESC (&elide__rpctest__echo_reply__descriptor)

static char g_dir[64];
static char g_addr[128];
static rpc_client *g_client;

static Req make_req(const char *text, int seq, int count, int interval_ms) {
  Req r = ELIDE__RPCTEST__ECHO_REQUEST__INIT;
  r.text = (char *)text;
  r.seq = seq;
  r.count = count;
  r.interval_ms = interval_ms;
  return r;
}

static void free_msg(ProtobufCMessage *m) {
  if (m) protobuf_c_message_free_unpacked(m, NULL);
}

static int start_server(rpc_server **s, const char *addr, int workers, int max_receive) {
  size_t n;
  const rpc_method *m = svc_methods(&n);
  rpc_server_options o = {.worker_threads = workers, .max_receive_message = max_receive};
  char err[256] = "";
  int rc = rpc_server_start(s, addr, m, n, &o, err, sizeof err);
  if (rc != 0) fprintf(stderr, "rpc_server_start(%s): %d %s\n", addr, rc, err);
  return rc;
}

/* ---- raw core client for requests rpc_client cannot express ---- */

static grpc_status_code raw_unary(const char *path, const void *body, size_t len, int has_body,
                                  char *details, size_t dlen) {
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  grpc_channel *ch = grpc_channel_create(g_addr, creds, NULL);
  grpc_channel_credentials_release(creds);
  grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
  grpc_slice method = grpc_slice_from_static_string(path);
  grpc_call *call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
                                             gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  grpc_slice s = grpc_slice_from_copied_buffer(body, len);
  grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&s, 1), *recv = NULL;
  grpc_slice_unref(s);
  grpc_metadata_array imd, tmd;
  grpc_metadata_array_init(&imd);
  grpc_metadata_array_init(&tmd);
  grpc_status_code code = GRPC_STATUS_UNKNOWN;
  grpc_slice det;
  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
  if (has_body) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = send;
  }
  ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[n++].data.recv_initial_metadata.recv_initial_metadata = &imd;
  ops[n].op = GRPC_OP_RECV_MESSAGE;
  ops[n++].data.recv_message.recv_message = &recv;
  ops[n].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[n].data.recv_status_on_client.trailing_metadata = &tmd;
  ops[n].data.recv_status_on_client.status = &code;
  ops[n++].data.recv_status_on_client.status_details = &det;
  if (grpc_call_start_batch(call, ops, n, ops, NULL) == GRPC_CALL_OK) {
    grpc_completion_queue_pluck(cq, ops, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    snprintf(details, dlen, "%.*s", (int)GRPC_SLICE_LENGTH(det),
             (const char *)GRPC_SLICE_START_PTR(det));
    grpc_slice_unref(det);
  }
  grpc_byte_buffer_destroy(send);
  if (recv) grpc_byte_buffer_destroy(recv);
  grpc_metadata_array_destroy(&imd);
  grpc_metadata_array_destroy(&tmd);
  grpc_call_unref(call);
  grpc_completion_queue_shutdown(cq);
  grpc_completion_queue_destroy(cq);
  grpc_channel_destroy(ch);
  return code;
}

/* ---- tests ---- */

static void test_unary_echo(void) {
  Req req = make_req("hello", 42, 0, 0);
  ProtobufCMessage *out;
  rpc_status st;
  CHECK(rpc_unary(g_client, SVC_PATH("Echo"), &req.base, REP_DESC, &out, 5000, &st) == 0);
  CHECK(st.code == GRPC_STATUS_OK);
  CHECK(out && strcmp(((Rep *)out)->text, "hello") == 0 && ((Rep *)out)->seq == 42);
  CHECK(st.status_details_bin == NULL);
  free_msg(out);
  rpc_status_clear(&st);
}

static void test_error_status(void) {
  Req req = make_req("fail", 0, 0, 0);
  ProtobufCMessage *out;
  rpc_status st;
  CHECK(rpc_unary(g_client, SVC_PATH("Echo"), &req.base, REP_DESC, &out, 5000, &st) == 0);
  CHECK(st.code == GRPC_STATUS_INVALID_ARGUMENT);
  CHECK_STR_CONTAINS(st.details, "echo refused: fail");
  CHECK(out == NULL);
  rpc_status_clear(&st);
}

static void test_status_details_trailer(void) {
  Req req = make_req("details", 0, 0, 0);
  ProtobufCMessage *out;
  rpc_status st;
  size_t n;
  const unsigned char *want = svc_details_bytes(&n);
  CHECK(rpc_unary(g_client, SVC_PATH("Echo"), &req.base, REP_DESC, &out, 5000, &st) == 0);
  CHECK(st.code == GRPC_STATUS_FAILED_PRECONDITION);
  CHECK(st.details && strcmp(st.details, "recoverable") == 0);
  CHECK(st.status_details_len == n);
  CHECK(st.status_details_bin && memcmp(st.status_details_bin, want, n) == 0);
  rpc_status_clear(&st);
}

static void test_late_send_rejected(void) {
  Req req = make_req("late", 0, 0, 0);
  ProtobufCMessage *out;
  rpc_status st;
  CHECK(rpc_unary(g_client, SVC_PATH("Echo"), &req.base, REP_DESC, &out, 5000, &st) == 0);
  CHECK(st.code == GRPC_STATUS_OK);
  CHECK(out && ((Rep *)out)->seq == 1);
  pthread_mutex_lock(&svc.mu);
  CHECK(svc.late_checks == 1);
  pthread_mutex_unlock(&svc.mu);
  free_msg(out);
  rpc_status_clear(&st);
}

static void test_big_message_unlimited(void) {
  size_t len = 5u << 20; /* above gRPC's 4 MiB default receive limit */
  char *text = malloc(len + 1);
  memset(text, 'x', len);
  text[len] = 0;
  Req req = make_req(text, 7, 0, 0);
  ProtobufCMessage *out;
  rpc_status st;
  CHECK(rpc_unary(g_client, SVC_PATH("Echo"), &req.base, REP_DESC, &out, 10000, &st) == 0);
  CHECK(st.code == GRPC_STATUS_OK);
  CHECK(out && strlen(((Rep *)out)->text) == len);
  free_msg(out);
  rpc_status_clear(&st);
  free(text);
}

static void test_server_streaming_order(void) {
  Req req = make_req("n", 0, 1000, 0);
  rpc_stream *s = rpc_stream_open(g_client, SVC_PATH("Count"), &req.base, 1, 10000);
  CHECK(s != NULL);
  int got = 0, in_order = 1, rc;
  ProtobufCMessage *m;
  while ((rc = rpc_stream_recv(s, REP_DESC, &m, 5000)) == 1) {
    if (((Rep *)m)->seq != got) in_order = 0;
    got++;
    free_msg(m);
  }
  CHECK(rc == 0);
  CHECK(got == 1000);
  CHECK(in_order);
  rpc_status st;
  rpc_stream_finish(s, &st);
  CHECK(st.code == GRPC_STATUS_OK);
  rpc_status_clear(&st);
}

static void test_foreign_thread_stream(void) {
  Req req = make_req("", 0, 20, 5);
  rpc_stream *s = rpc_stream_open(g_client, SVC_PATH("Tick"), &req.base, 1, 10000);
  int got = 0, in_order = 1, rc;
  ProtobufCMessage *m;
  while ((rc = rpc_stream_recv(s, REP_DESC, &m, 5000)) == 1) {
    if (((Rep *)m)->seq != got || strcmp(((Rep *)m)->text, "tick") != 0) in_order = 0;
    got++;
    free_msg(m);
  }
  CHECK(rc == 0);
  CHECK(got == 20);
  CHECK(in_order);
  rpc_status st;
  rpc_stream_finish(s, &st);
  CHECK(st.code == GRPC_STATUS_OK);
  rpc_status_clear(&st);
}

static void test_many_feeders_one_stream(void) {
  enum { THREADS = 8, EACH = 500 };
  Req req = make_req("", EACH, THREADS, 0);
  rpc_stream *s = rpc_stream_open(g_client, SVC_PATH("Fan"), &req.base, 1, 30000);
  int next[THREADS] = {0}, ok = 1, total = 0, rc;
  ProtobufCMessage *m;
  while ((rc = rpc_stream_recv(s, REP_DESC, &m, 10000)) == 1) {
    int t = atoi(((Rep *)m)->text);
    if (t < 0 || t >= THREADS || ((Rep *)m)->seq != next[t]++) ok = 0;
    total++;
    free_msg(m);
  }
  CHECK(rc == 0);
  CHECK(ok); /* each feeder's messages in its own order */
  CHECK(total == THREADS * EACH);
  rpc_status st;
  rpc_stream_finish(s, &st);
  CHECK(st.code == GRPC_STATUS_OK);
  rpc_status_clear(&st);
}

static void test_recv_timeout_keeps_stream(void) {
  Req req = make_req("", 0, 2, 400);
  rpc_stream *s = rpc_stream_open(g_client, SVC_PATH("Tick"), &req.base, 1, 10000);
  ProtobufCMessage *m = NULL;
  long long t0 = svc_now_ms();
  CHECK(rpc_stream_recv(s, REP_DESC, &m, 50) == -2);
  long long waited = svc_now_ms() - t0;
  CHECK(waited >= 40 && waited < 350);
  CHECK(m == NULL);
  CHECK(rpc_stream_recv(s, REP_DESC, &m, 5000) == 1);
  CHECK(m && ((Rep *)m)->seq == 0);
  free_msg(m);
  CHECK(rpc_stream_recv(s, REP_DESC, &m, 5000) == 1);
  CHECK(m && ((Rep *)m)->seq == 1);
  free_msg(m);
  CHECK(rpc_stream_recv(s, REP_DESC, &m, 5000) == 0);
  rpc_status st;
  rpc_stream_finish(s, &st);
  CHECK(st.code == GRPC_STATUS_OK);
  rpc_status_clear(&st);
}

static int forever_one_cancelled(void) {
  return svc.forever_cancelled >= 1;
}

static void test_client_cancel(void) {
  Req req = make_req("", 0, 0, 0);
  rpc_stream *s = rpc_stream_open(g_client, SVC_PATH("Forever"), &req.base, 1, 0);
  ProtobufCMessage *m;
  CHECK(rpc_stream_recv(s, REP_DESC, &m, 5000) == 1);
  CHECK(m && strcmp(((Rep *)m)->text, "open") == 0);
  free_msg(m);
  CHECK(rpc_stream_recv(s, REP_DESC, &m, 100) == -2);
  rpc_stream_cancel(s);
  CHECK(rpc_stream_recv(s, REP_DESC, &m, 5000) == 0);
  rpc_status st;
  rpc_stream_finish(s, &st);
  CHECK(st.code == GRPC_STATUS_CANCELLED);
  rpc_status_clear(&st);
  CHECK(svc_wait(forever_one_cancelled, 2000));
}

typedef struct canceller {
  rpc_stream *s;
  int delay_ms;
} canceller;

static void *cancel_later(void *arg) {
  canceller *c = arg;
  usleep((useconds_t)c->delay_ms * 1000);
  rpc_stream_cancel(c->s);
  return NULL;
}

static void test_cancel_from_other_thread(void) {
  Req req = make_req("", 0, 0, 0);
  rpc_stream *s = rpc_stream_open(g_client, SVC_PATH("Forever"), &req.base, 1, 0);
  ProtobufCMessage *m;
  CHECK(rpc_stream_recv(s, REP_DESC, &m, 5000) == 1);
  free_msg(m);
  canceller c = {s, 100};
  pthread_t th;
  pthread_create(&th, NULL, cancel_later, &c);
  long long t0 = svc_now_ms();
  CHECK(rpc_stream_recv(s, REP_DESC, &m, 0) == 0); /* blocked forever until the cancel */
  CHECK(svc_now_ms() - t0 < 2000);
  pthread_join(th, NULL);
  rpc_status st;
  rpc_stream_finish(s, &st);
  CHECK(st.code == GRPC_STATUS_CANCELLED);
  rpc_status_clear(&st);
}

static void test_unknown_method(void) {
  Req req = make_req("x", 0, 0, 0);
  ProtobufCMessage *out;
  rpc_status st;
  long long t0 = svc_now_ms();
  CHECK(rpc_unary(g_client, "/elide.rpctest.Echo/Nope", &req.base, REP_DESC, &out, 10000, &st) ==
        0);
  CHECK(svc_now_ms() - t0 < 1000);
  CHECK(st.code == GRPC_STATUS_UNIMPLEMENTED);
  CHECK_STR_CONTAINS(st.details, "/elide.rpctest.Echo/Nope");
  rpc_status_clear(&st);

  rpc_stream *s = rpc_stream_open(g_client, "/other.Svc/Stream", NULL, 0, 10000);
  CHECK(rpc_stream_recv(s, REP_DESC, &out, 5000) == 0);
  rpc_stream_finish(s, &st);
  CHECK(st.code == GRPC_STATUS_UNIMPLEMENTED);
  rpc_status_clear(&st);
}

static void test_garbage_request(void) {
  char details[256] = "";
  static const unsigned char junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  CHECK(raw_unary(SVC_PATH("Echo"), junk, sizeof junk, 1, details, sizeof details) ==
        GRPC_STATUS_INTERNAL);
  CHECK_STR_CONTAINS(details, "cannot parse request");
  /* A unary call whose client half-closes without a message. */
  CHECK(raw_unary(SVC_PATH("Echo"), NULL, 0, 0, details, sizeof details) != GRPC_STATUS_OK);
  /* Garbage inside a client stream. */
  CHECK(raw_unary(SVC_PATH("Sum"), junk, sizeof junk, 1, details, sizeof details) ==
        GRPC_STATUS_INTERNAL);
  CHECK_STR_CONTAINS(details, "cannot parse request");
}

static void test_client_streaming(void) {
  rpc_stream *s = rpc_stream_open(g_client, SVC_PATH("Sum"), NULL, 0, 10000);
  int want = 0;
  for (int i = 1; i <= 100; i++) {
    Req req = make_req("v", i, 0, 0);
    CHECK(rpc_stream_send(s, &req.base) == 0);
    want += i;
  }
  CHECK(rpc_stream_close_send(s) == 0);
  ProtobufCMessage *m;
  CHECK(rpc_stream_recv(s, REP_DESC, &m, 5000) == 1);
  CHECK(m && ((Rep *)m)->seq == want && strcmp(((Rep *)m)->text, "100") == 0);
  free_msg(m);
  CHECK(rpc_stream_recv(s, REP_DESC, &m, 5000) == 0);
  rpc_status st;
  rpc_stream_finish(s, &st);
  CHECK(st.code == GRPC_STATUS_OK);
  rpc_status_clear(&st);

  /* No messages at all: the reply comes at half-close. */
  s = rpc_stream_open(g_client, SVC_PATH("Sum"), NULL, 1, 10000);
  CHECK(rpc_stream_recv(s, REP_DESC, &m, 5000) == 1);
  CHECK(m && ((Rep *)m)->seq == 0 && strcmp(((Rep *)m)->text, "0") == 0);
  free_msg(m);
  rpc_stream_finish(s, &st);
  CHECK(st.code == GRPC_STATUS_OK);
  rpc_status_clear(&st);
}

static void test_bidi(void) {
  Req first = make_req("m0", 0, 0, 0);
  rpc_stream *s = rpc_stream_open(g_client, SVC_PATH("Chat"), &first.base, 0, 10000);
  int ok = 1;
  ProtobufCMessage *m;
  for (int i = 0; i < 50; i++) {
    if (i > 0) {
      char text[16];
      snprintf(text, sizeof text, "m%d", i);
      Req req = make_req(text, i, 0, 0);
      if (rpc_stream_send(s, &req.base) != 0) ok = 0;
    }
    if (rpc_stream_recv(s, REP_DESC, &m, 5000) != 1 || ((Rep *)m)->seq != i) ok = 0;
    free_msg(m);
  }
  CHECK(ok);
  CHECK(rpc_stream_close_send(s) == 0);
  CHECK(rpc_stream_send(s, &first.base) == -1);
  CHECK(rpc_stream_recv(s, REP_DESC, &m, 5000) == 0);
  rpc_status st;
  rpc_stream_finish(s, &st);
  CHECK(st.code == GRPC_STATUS_OK);
  rpc_status_clear(&st);

  /* The server ends the call itself ("bye"); finish half-closes for us. */
  Req bye = make_req("bye", 9, 0, 0);
  s = rpc_stream_open(g_client, SVC_PATH("Chat"), &bye.base, 0, 10000);
  CHECK(rpc_stream_recv(s, REP_DESC, &m, 5000) == 1);
  free_msg(m);
  CHECK(rpc_stream_recv(s, REP_DESC, &m, 5000) == 0);
  rpc_stream_finish(s, &st);
  CHECK(st.code == GRPC_STATUS_OK);
  rpc_status_clear(&st);
}

/* ---- many blocked calls do not starve a quick one ---- */

typedef struct held_call {
  rpc_status st;
  ProtobufCMessage *out;
  int rc;
} held_call;

static void *call_hold(void *arg) {
  held_call *h = arg;
  Req req = make_req("hold", 0, 0, 0);
  h->rc = rpc_unary(g_client, SVC_PATH("Hold"), &req.base, REP_DESC, &h->out, 20000, &h->st);
  return NULL;
}

static int eight_held(void) {
  return svc.nheld == 8;
}

static void test_no_starvation(void) {
  enum { N = 8 };
  held_call h[N];
  pthread_t th[N];
  memset(h, 0, sizeof h);
  for (int i = 0; i < N; i++) pthread_create(&th[i], NULL, call_hold, &h[i]);
  CHECK(svc_wait(eight_held, 5000));

  Req req = make_req("quick", 1, 0, 0);
  ProtobufCMessage *out;
  rpc_status st;
  long long t0 = svc_now_ms();
  CHECK(rpc_unary(g_client, SVC_PATH("Echo"), &req.base, REP_DESC, &out, 5000, &st) == 0);
  CHECK(svc_now_ms() - t0 < 1000);
  CHECK(st.code == GRPC_STATUS_OK);
  free_msg(out);
  rpc_status_clear(&st);

  CHECK(svc_release_held() == N); /* replies from this (foreign) thread */
  int all_ok = 1;
  for (int i = 0; i < N; i++) {
    pthread_join(th[i], NULL);
    if (h[i].rc != 0 || h[i].st.code != GRPC_STATUS_OK || !h[i].out ||
        strcmp(((Rep *)h[i].out)->text, "released") != 0)
      all_ok = 0;
    free_msg(h[i].out);
    rpc_status_clear(&h[i].st);
  }
  CHECK(all_ok);
}

/* ---- one client, many threads ---- */

static void *echo_many(void *arg) {
  int *fails = arg;
  for (int i = 0; i < 200; i++) {
    Req req = make_req("c", i, 0, 0);
    ProtobufCMessage *out;
    rpc_status st;
    if (rpc_unary(g_client, SVC_PATH("Echo"), &req.base, REP_DESC, &out, 5000, &st) != 0 ||
        st.code != GRPC_STATUS_OK || ((Rep *)out)->seq != i)
      (*fails)++;
    free_msg(out);
    rpc_status_clear(&st);
  }
  return NULL;
}

static void test_concurrent_client(void) {
  enum { N = 8 };
  pthread_t th[N];
  int fails[N] = {0};
  for (int i = 0; i < N; i++) pthread_create(&th[i], NULL, echo_many, &fails[i]);
  int total = 0;
  for (int i = 0; i < N; i++) {
    pthread_join(th[i], NULL);
    total += fails[i];
  }
  CHECK(total == 0);
}

/* ---- stop with open streams, held calls and kept references ---- */

typedef struct held_on {
  rpc_client *client;
  rpc_status st;
  ProtobufCMessage *out;
  int rc;
} held_on;

static void *call_hold_on(void *arg) {
  held_on *h = arg;
  Req req = make_req("hold", 0, 0, 0);
  h->rc = rpc_unary(h->client, SVC_PATH("Hold"), &req.base, REP_DESC, &h->out, 20000, &h->st);
  return NULL;
}

static int one_held(void) {
  return svc.nheld == 1;
}
static int kept_set(void) {
  return svc.kept != NULL;
}

static void test_stop_with_open_streams(void) {
  char addr[160];
  snprintf(addr, sizeof addr, "unix:%s/stop.sock", g_dir);
  rpc_server *s;
  CHECK(start_server(&s, addr, 1, 1024) == 0);
  rpc_client *c = rpc_client_new(addr);

  /* The receive limit applies (1024 bytes here). */
  char big[2048];
  memset(big, 'y', sizeof big - 1);
  big[sizeof big - 1] = 0;
  Req breq = make_req(big, 0, 0, 0);
  ProtobufCMessage *out;
  rpc_status st;
  CHECK(rpc_unary(c, SVC_PATH("Echo"), &breq.base, REP_DESC, &out, 5000, &st) == 0);
  CHECK(st.code == GRPC_STATUS_RESOURCE_EXHAUSTED);
  rpc_status_clear(&st);

  pthread_mutex_lock(&svc.mu);
  int done_before = svc.done_total, forever_before = svc.forever_done;
  pthread_mutex_unlock(&svc.mu);

  enum { NSTREAMS = 4 };
  rpc_stream *streams[NSTREAMS];
  Req keep = make_req("keep", 0, 0, 0), plain = make_req("", 0, 0, 0);
  for (int i = 0; i < NSTREAMS; i++) {
    streams[i] = rpc_stream_open(c, SVC_PATH("Forever"), i == 0 ? &keep.base : &plain.base, 1, 0);
    ProtobufCMessage *m;
    CHECK(rpc_stream_recv(streams[i], REP_DESC, &m, 5000) == 1);
    free_msg(m);
  }
  Req tick = make_req("", 0, 1000000, 20); /* fed from a thread until cancelled */
  rpc_stream *ticking = rpc_stream_open(c, SVC_PATH("Tick"), &tick.base, 1, 0);
  held_on h = {.client = c};
  pthread_t th;
  pthread_create(&th, NULL, call_hold_on, &h);
  CHECK(svc_wait(one_held, 5000));
  CHECK(svc_wait(kept_set, 5000));

  long long t0 = svc_now_ms();
  rpc_server_stop(s, 200);
  long long took = svc_now_ms() - t0;
  CHECK(took < 2000);
  fprintf(stderr, "rpc_server_stop with open streams took %lld ms\n", took);

  pthread_mutex_lock(&svc.mu);
  CHECK(svc.forever_done - forever_before == NSTREAMS); /* every call got on_done */
  CHECK(svc.done_total - done_before >= NSTREAMS + 2);
  rpc_call *kept = svc.kept;
  svc.kept = NULL;
  pthread_mutex_unlock(&svc.mu);
  /* A reference kept past stop is an inert handle. */
  Rep rep = ELIDE__RPCTEST__ECHO_REPLY__INIT;
  CHECK(rpc_call_is_done(kept));
  CHECK(rpc_send(kept, &rep.base) == -1);
  CHECK(rpc_finish(kept, GRPC_STATUS_OK, NULL) == -1);
  rpc_call_unref(kept);
  CHECK(svc_release_held() == 0); /* the held call is over: sends fail */

  for (int i = 0; i < NSTREAMS; i++) {
    rpc_stream_finish(streams[i], &st);
    CHECK(st.code != GRPC_STATUS_OK);
    rpc_status_clear(&st);
  }
  rpc_stream_finish(ticking, &st);
  CHECK(st.code != GRPC_STATUS_OK);
  rpc_status_clear(&st);
  pthread_join(th, NULL);
  CHECK(h.rc == 0 && h.st.code != GRPC_STATUS_OK);
  rpc_status_clear(&h.st);
  rpc_client_free(c);
}

static int no_feeders(void) {
  return svc.feeders == 0;
}

static void test_start_errors(void) {
  rpc_server *s = NULL;
  char err[256] = "";
  size_t n;
  const rpc_method *m = svc_methods(&n);
  CHECK(rpc_server_start(&s, "unix:/nonexistent-dir/x/y.sock", m, n, NULL, err, sizeof err) < 0);
  CHECK(s == NULL);
  CHECK_STR_CONTAINS(err, "cannot listen");
  rpc_method dup[2] = {m[0], m[0]};
  char addr[160];
  snprintf(addr, sizeof addr, "unix:%s/dup.sock", g_dir);
  CHECK(rpc_server_start(&s, addr, dup, 2, NULL, err, sizeof err) < 0);
  CHECK_STR_CONTAINS(err, "cannot register");
}

int main(void) {
  grpc_init();
  snprintf(g_dir, sizeof g_dir, "/tmp/elide-rpc-XXXXXX");
  if (!mkdtemp(g_dir)) return 2;
  snprintf(g_addr, sizeof g_addr, "unix:%s/echo.sock", g_dir);
  rpc_server *s;
  if (start_server(&s, g_addr, 2, 0) != 0) return 2;
  g_client = rpc_client_new(g_addr);

  test_unary_echo();
  test_error_status();
  test_status_details_trailer();
  test_late_send_rejected();
  test_big_message_unlimited();
  test_server_streaming_order();
  test_foreign_thread_stream();
  test_many_feeders_one_stream();
  test_recv_timeout_keeps_stream();
  test_client_cancel();
  test_cancel_from_other_thread();
  test_unknown_method();
  test_garbage_request();
  test_client_streaming();
  test_bidi();
  test_no_starvation();
  test_concurrent_client();
  test_stop_with_open_streams();
  test_start_errors();

  rpc_client_free(g_client);
  rpc_server_stop(s, 1000);
  CHECK(svc_wait(no_feeders, 5000)); /* feeder threads saw their calls end */
  grpc_shutdown_blocking();
  rmdir(g_dir);
  return CHECK_DONE();
}
