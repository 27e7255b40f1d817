/* Blocking gRPC C-core client behind rpc_client.h: unary calls on a pluck
 * queue, and streams on a next queue of their own so receives can time out
 * and resume, with any number of threads waiting on one stream. */
#include "rpc_client.h"

#include "rpc_msg.h"

#include <grpc/byte_buffer.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/string_util.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STATUS_DETAILS_KEY "grpc-status-details-bin"

struct rpc_client {
  grpc_channel *channel;
};

/* A stream's state. All fields are guarded by mu, and so is every
 * grpc_call_start_batch. Events of the stream's CQ are consumed by whichever
 * waiting thread currently "polls" (leader/follower): it updates the state
 * and broadcasts cv, and the others wait on cv with their own timeouts. */
struct rpc_stream {
  grpc_call *call;
  grpc_completion_queue *cq;
  pthread_mutex_t mu;
  pthread_cond_t cv; /* CLOCK_MONOTONIC */
  bool polling;
  int pending; /* batches started, not completed */
  char tag_status, tag_send, tag_recv;

  bool send_busy, send_failed, closed_send;
  grpc_byte_buffer *send_bb;

  bool recv_busy, recv_ready, recv_ok, eos, got_initial_md;
  grpc_byte_buffer *recv_bb;
  grpc_metadata_array initial_md;

  bool status_done;
  grpc_metadata_array trailing_md;
  grpc_status_code code;
  grpc_slice details;
  const char *error_string;
};

void rpc_status_clear(rpc_status *st) {
  if (!st) return;
  free(st->details);
  free(st->status_details_bin);
  memset(st, 0, sizeof *st);
}

static void status_local(rpc_status *st, grpc_status_code code, const char *msg) {
  rpc_status_clear(st);
  st->code = code;
  st->details = strdup(msg);
}

/* Fills `st` from a completed RECV_STATUS_ON_CLIENT; copies everything, since
 * the slices die with the call. */
static void status_fill(rpc_status *st, grpc_status_code code, grpc_slice details,
                        const grpc_metadata_array *trailing) {
  rpc_status_clear(st);
  st->code = code;
  st->details = strndup((const char *)GRPC_SLICE_START_PTR(details), GRPC_SLICE_LENGTH(details));
  for (size_t i = 0; i < trailing->count; i++) {
    const grpc_metadata *md = &trailing->metadata[i];
    if (grpc_slice_str_cmp(md->key, STATUS_DETAILS_KEY) != 0) continue;
    size_t n = GRPC_SLICE_LENGTH(md->value);
    st->status_details_bin = malloc(n ? n : 1);
    if (st->status_details_bin) {
      memcpy(st->status_details_bin, GRPC_SLICE_START_PTR(md->value), n);
      st->status_details_len = n;
    }
    break;
  }
}

rpc_client *rpc_client_new(const char *target) {
  rpc_client *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  grpc_init(); /* balanced in rpc_client_free */
  /* Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: it is also the time a connect
   * attempt may take (20 s), which a slow server (valgrind) needs. */
  grpc_arg arg[] = {
      {.type = GRPC_ARG_INTEGER,
       .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
       .value.integer = -1},
      {.type = GRPC_ARG_INTEGER,
       .key = (char *)GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
       .value.integer = 100},
      {.type = GRPC_ARG_INTEGER,
       .key = (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
       .value.integer = RPC_MAX_RECONNECT_MS},
  };
  grpc_channel_args args = {.num_args = sizeof arg / sizeof arg[0], .args = arg};
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  c->channel = grpc_channel_create(target, creds, &args);
  grpc_channel_credentials_release(creds);
  return c;
}

void rpc_client_free(rpc_client *c) {
  if (!c) return;
  grpc_channel_destroy(c->channel);
  free(c);
  grpc_shutdown();
}

int rpc_client_wait_ready(rpc_client *c, int timeout_ms) {
  gpr_timespec deadline = rpc_deadline_in(timeout_ms);
  grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
  int ready = 0;
  for (;;) {
    grpc_connectivity_state s = grpc_channel_check_connectivity_state(c->channel, 1);
    if (s == GRPC_CHANNEL_READY) {
      ready = 1;
      break;
    }
    if (s == GRPC_CHANNEL_SHUTDOWN) break;
    /* Fires on the next change of state, or unsuccessfully at the deadline. */
    grpc_channel_watch_connectivity_state(c->channel, s, deadline, cq, NULL);
    grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    if (ev.type != GRPC_OP_COMPLETE || !ev.success) break;
  }
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
  return ready;
}

static grpc_call *call_create(rpc_client *c, grpc_completion_queue *cq, const char *path,
                              int timeout_ms) {
  grpc_slice method = grpc_slice_from_copied_string(path);
  grpc_call *call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method,
                                             NULL, rpc_deadline_in(timeout_ms), NULL);
  grpc_slice_unref(method);
  return call;
}

/* ---- unary ---- */

int rpc_unary(rpc_client *c, const char *path, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply,
              int timeout_ms, rpc_status *st) {
  memset(st, 0, sizeof *st);
  *reply = NULL;
  /* A queue per call: a shared pluck queue allows only 6 concurrent waiters. */
  grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
  grpc_call *call = call_create(c, cq, path, timeout_ms);
  grpc_byte_buffer *send = rpc_msg_pack(req), *recv = NULL;
  grpc_metadata_array imd, tmd;
  grpc_metadata_array_init(&imd);
  grpc_metadata_array_init(&tmd);
  grpc_status_code code = GRPC_STATUS_UNKNOWN;
  grpc_slice details = grpc_empty_slice();
  const char *error_string = NULL;

  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = send;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &imd;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &recv;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &tmd;
  ops[5].data.recv_status_on_client.status = &code;
  ops[5].data.recv_status_on_client.status_details = &details;
  ops[5].data.recv_status_on_client.error_string = &error_string;

  int rc = 0;
  grpc_call_error e = grpc_call_start_batch(call, ops, 6, ops, NULL);
  if (e != GRPC_CALL_OK) {
    status_local(st, GRPC_STATUS_INTERNAL, grpc_call_error_to_string(e));
    rc = -1;
  } else {
    grpc_completion_queue_pluck(cq, ops, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    status_fill(st, code, details, &tmd);
    if (code == GRPC_STATUS_OK) {
      *reply = recv ? rpc_msg_unpack(reply_desc, recv) : NULL;
      if (!*reply) {
        status_local(st, GRPC_STATUS_INTERNAL,
                     recv ? "cannot parse reply" : "no reply message");
        rc = -1;
      }
    }
  }

  grpc_slice_unref(details);
  gpr_free((void *)error_string);
  grpc_byte_buffer_destroy(send);
  if (recv) grpc_byte_buffer_destroy(recv);
  grpc_metadata_array_destroy(&imd);
  grpc_metadata_array_destroy(&tmd);
  grpc_call_unref(call);
  grpc_completion_queue_shutdown(cq);
  grpc_completion_queue_destroy(cq);
  return rc;
}

/* ---- streams: waiting ---- */

static struct timespec mono_in(int ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

/* Remaining time until `dl` as a gRPC deadline; `dl` NULL = forever. */
static gpr_timespec grpc_deadline_of(const struct timespec *dl, bool *expired) {
  *expired = false;
  if (!dl) return gpr_inf_future(GPR_CLOCK_MONOTONIC);
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  int64_t left_ns = (int64_t)(dl->tv_sec - now.tv_sec) * 1000000000 + (dl->tv_nsec - now.tv_nsec);
  if (left_ns <= 0) {
    *expired = true;
    return gpr_now(GPR_CLOCK_MONOTONIC);
  }
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_nanos(left_ns, GPR_TIMESPAN));
}

static void handle_event(rpc_stream *s, const grpc_event *ev) {
  s->pending--;
  if (ev->tag == &s->tag_status) {
    s->status_done = true;
  } else if (ev->tag == &s->tag_send) {
    s->send_busy = false;
    if (s->send_bb) grpc_byte_buffer_destroy(s->send_bb);
    s->send_bb = NULL;
    if (!ev->success) s->send_failed = true;
  } else if (ev->tag == &s->tag_recv) {
    s->recv_busy = false;
    s->recv_ready = true;
    s->recv_ok = ev->success != 0;
    s->got_initial_md = true;
  }
}

/* With s->mu held: waits until cond(s) holds or `dl` (NULL = forever)
 * passes. Returns 0, or -2 on timeout. */
static int wait_for(rpc_stream *s, bool (*cond)(const rpc_stream *), const struct timespec *dl) {
  while (!cond(s)) {
    bool expired;
    gpr_timespec gdl = grpc_deadline_of(dl, &expired);
    if (expired) return -2;
    if (s->polling) {
      if (dl)
        pthread_cond_timedwait(&s->cv, &s->mu, dl);
      else
        pthread_cond_wait(&s->cv, &s->mu);
      continue;
    }
    s->polling = true;
    pthread_mutex_unlock(&s->mu);
    grpc_event ev = grpc_completion_queue_next(s->cq, gdl, NULL);
    pthread_mutex_lock(&s->mu);
    s->polling = false;
    if (ev.type == GRPC_OP_COMPLETE) handle_event(s, &ev);
    pthread_cond_broadcast(&s->cv);
  }
  return 0;
}

static bool can_send(const rpc_stream *s) {
  return !s->send_busy || s->status_done;
}
static bool recv_ready(const rpc_stream *s) {
  return s->recv_ready;
}
static bool all_done(const rpc_stream *s) {
  return s->status_done && s->pending == 0;
}

static bool start(rpc_stream *s, const grpc_op *ops, size_t n, void *tag) {
  if (grpc_call_start_batch(s->call, ops, n, tag, NULL) != GRPC_CALL_OK) return false;
  s->pending++;
  return true;
}

/* ---- streams: API ---- */

static rpc_stream *stream_alloc(void) {
  rpc_stream *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  pthread_mutex_init(&s->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->cv, &ca);
  pthread_condattr_destroy(&ca);
  grpc_metadata_array_init(&s->initial_md);
  grpc_metadata_array_init(&s->trailing_md);
  s->details = grpc_empty_slice();
  s->code = GRPC_STATUS_UNKNOWN;
  return s;
}

static void stream_free(rpc_stream *s) {
  if (s->recv_bb) grpc_byte_buffer_destroy(s->recv_bb);
  if (s->send_bb) grpc_byte_buffer_destroy(s->send_bb);
  grpc_metadata_array_destroy(&s->initial_md);
  grpc_metadata_array_destroy(&s->trailing_md);
  grpc_slice_unref(s->details);
  gpr_free((void *)s->error_string);
  if (s->call) grpc_call_unref(s->call);
  if (s->cq) {
    grpc_completion_queue_shutdown(s->cq);
    while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(s->cq);
  }
  pthread_cond_destroy(&s->cv);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

rpc_stream *rpc_stream_open(rpc_client *c, const char *path, const ProtobufCMessage *req,
                            int close_send, int timeout_ms) {
  rpc_stream *s = stream_alloc();
  if (!s) return NULL;
  s->cq = grpc_completion_queue_create_for_next(NULL);
  s->call = call_create(c, s->cq, path, timeout_ms);

  /* The status op goes first in a batch of its own: it completes whatever
   * the message ops do, so rpc_stream_finish can always wait for it. */
  grpc_op ops[3];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[0].data.recv_status_on_client.trailing_metadata = &s->trailing_md;
  ops[0].data.recv_status_on_client.status = &s->code;
  ops[0].data.recv_status_on_client.status_details = &s->details;
  ops[0].data.recv_status_on_client.error_string = &s->error_string;
  if (!start(s, ops, 1, &s->tag_status)) {
    stream_free(s);
    return NULL;
  }

  memset(ops, 0, sizeof ops);
  size_t n = 0;
  ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
  if (req) {
    s->send_bb = rpc_msg_pack(req);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = s->send_bb;
  }
  if (close_send) ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  if (!start(s, ops, n, &s->tag_send)) {
    grpc_call_cancel(s->call, NULL);
    pthread_mutex_lock(&s->mu);
    wait_for(s, all_done, NULL);
    pthread_mutex_unlock(&s->mu);
    stream_free(s);
    return NULL;
  }
  s->send_busy = true;
  s->closed_send = close_send != 0;
  return s;
}

/* With s->mu held: starts one send-side batch (a message or the half-close)
 * after the previous one completed. Takes ownership of `bb`. */
static int send_op(rpc_stream *s, grpc_op *op, grpc_byte_buffer *bb) {
  if (!s->closed_send && !s->send_failed) wait_for(s, can_send, NULL);
  if (s->closed_send || s->send_failed || s->status_done || !start(s, op, 1, &s->tag_send)) {
    if (bb) grpc_byte_buffer_destroy(bb);
    return -1;
  }
  s->send_busy = true;
  s->send_bb = bb;
  return 0;
}

int rpc_stream_send(rpc_stream *s, const ProtobufCMessage *req) {
  grpc_byte_buffer *bb = rpc_msg_pack(req);
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_MESSAGE;
  op.data.send_message.send_message = bb;
  pthread_mutex_lock(&s->mu);
  int rc = send_op(s, &op, bb);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

static int close_send_locked(rpc_stream *s) {
  if (s->closed_send) return 0;
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  int rc = send_op(s, &op, NULL);
  if (rc == 0) s->closed_send = true;
  return rc;
}

int rpc_stream_close_send(rpc_stream *s) {
  pthread_mutex_lock(&s->mu);
  int rc = close_send_locked(s);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

/* With s->mu held: waits for the next message; returns 1 with *bb set, 0 at
 * the end of the stream, -2 on timeout (the receive stays outstanding and
 * the next call picks it up). */
static int recv_locked(rpc_stream *s, grpc_byte_buffer **bb, const struct timespec *dl) {
  *bb = NULL;
  if (s->eos) return 0;
  if (!s->recv_busy && !s->recv_ready) {
    grpc_op ops[2];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    if (!s->got_initial_md) {
      ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
      ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &s->recv_bb;
    if (!start(s, ops, n, &s->tag_recv)) {
      s->eos = true;
      return 0;
    }
    s->recv_busy = true;
  }
  if (wait_for(s, recv_ready, dl) < 0) return -2;
  s->recv_ready = false;
  *bb = s->recv_bb;
  s->recv_bb = NULL;
  if (!s->recv_ok || !*bb) { /* end of stream, or the call failed: see the status */
    if (*bb) grpc_byte_buffer_destroy(*bb);
    *bb = NULL;
    s->eos = true;
    return 0;
  }
  return 1;
}

int rpc_stream_recv(rpc_stream *s, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **msg,
                    int timeout_ms) {
  *msg = NULL;
  struct timespec dl = mono_in(timeout_ms > 0 ? timeout_ms : 0);
  grpc_byte_buffer *bb;
  pthread_mutex_lock(&s->mu);
  int rc = recv_locked(s, &bb, timeout_ms > 0 ? &dl : NULL);
  pthread_mutex_unlock(&s->mu);
  if (rc != 1) return rc;
  *msg = rpc_msg_unpack(desc, bb);
  grpc_byte_buffer_destroy(bb);
  return *msg ? 1 : -1;
}

void rpc_stream_cancel(rpc_stream *s) {
  grpc_call_cancel(s->call, NULL); /* thread-safe in the core */
}

/* Half-closes if the caller has not (the caller is done sending), drops any
 * unread replies (they would hold back the status under flow control), then
 * waits for the status and for every outstanding batch. */
void rpc_stream_finish(rpc_stream *s, rpc_status *st) {
  pthread_mutex_lock(&s->mu);
  if (!s->status_done && !s->send_failed) close_send_locked(s);
  grpc_byte_buffer *bb;
  while (recv_locked(s, &bb, NULL) == 1) grpc_byte_buffer_destroy(bb);
  wait_for(s, all_done, NULL);
  pthread_mutex_unlock(&s->mu);
  if (st) {
    memset(st, 0, sizeof *st);
    status_fill(st, s->code, s->details, &s->trailing_md);
  }
  stream_free(s);
}
