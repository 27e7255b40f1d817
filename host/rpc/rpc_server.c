/* gRPC C-core server behind rpc_server.h: worker threads each owning a
 * completion queue, a per-call state machine with an ordered write queue,
 * sends from any thread through empty-batch wake-ups, and an orderly stop. */
#include "rpc_server.h"

#include "rpc_msg.h"

#include <errno.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/string_util.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Calls requested ahead per method and worker; each accept requests one more,
 * so this only bounds how many calls can arrive in one burst before the
 * worker gets to replenish. */
enum { PREREQUESTS = 4 };
enum { DEFAULT_WORKERS = 2 };
#define STATUS_DETAILS_KEY "grpc-status-details-bin"

typedef enum { TAG_NEW, TAG_RECV, TAG_SEND, TAG_CLOSE, TAG_WAKE } tag_kind;

/* Completion-queue tags are embedded in the call context, one per step. */
typedef struct call_tag {
  tag_kind kind;
  rpc_call *call;
} call_tag;

typedef struct out_msg {
  struct out_msg *next;
  grpc_byte_buffer *bb;
} out_msg;

typedef struct worker {
  rpc_server *srv;
  grpc_completion_queue *cq;
  pthread_t thread;
  bool running; /* thread started (joined at teardown) */
} worker;

struct rpc_server {
  grpc_server *server;
  grpc_completion_queue *shutdown_cq;
  const rpc_method *methods; /* borrowed for the server's lifetime */
  size_t nmethods;
  void **handles; /* grpc_server_register_method handle per method */
  worker *workers;
  int nworkers;
  atomic_bool stopping;
  /* Contexts still bound to a pending request or a grpc_call. Stop waits for
   * zero before shutting the worker CQs: a bound context may still post to
   * its CQ even after the server's shutdown tag arrived. */
  pthread_mutex_t live_mu;
  pthread_cond_t live_cv;
  size_t live;
  _Atomic(void *) user;
};

/* One call (or one outstanding request for a call). Two lifetimes:
 *  - bound: from the request until the call is over and on_done has run; the
 *    grpc_call, buffers and metadata live here and count in srv->live;
 *  - shell: the struct itself, kept by references (the framework's own plus
 *    rpc_call_ref ones) so late rpc_send/rpc_finish calls from handler
 *    threads find `unbound` set and return -1 without touching gRPC. */
struct rpc_call {
  rpc_server *srv;
  worker *w;                /* owner: every event of the call lands on w->cq */
  const rpc_method *method; /* NULL: catch-all request for unknown methods */
  atomic_int refs;
  _Atomic(void *) user;
  void (*_Atomic drain)(rpc_call *); /* rpc_call_on_drain */

  /* Worker-only state (never touched by foreign threads). */
  gpr_timespec deadline; /* filled by the core; unused (handlers have no deadline API) */
  grpc_metadata_array req_md;
  grpc_call_details call_details; /* catch-all only: the method asked for */
  grpc_byte_buffer *payload; /* first request of unary / server-streaming */
  grpc_byte_buffer *recv_bb;
  int cancelled;    /* RECV_CLOSE_ON_SERVER result */
  bool in_callback; /* a handler of this call runs: defer pumping to dispatch */
  bool done_taken;
  call_tag t_new, t_recv, t_send, t_close, t_wake;

  /* Guarded by mu, as is every grpc_call_start_batch on `call`. */
  pthread_mutex_t mu;
  grpc_call *call;
  out_msg *q_head, *q_tail;
  grpc_byte_buffer *in_flight;
  int pending; /* batches started and not completed, RCOS included */
  bool sim_sent, send_busy, wake_posted;
  bool finish_requested, status_started;
  bool closed;  /* RCOS completed: the call is over */
  bool broken;  /* a send failed: nothing more can go out */
  bool unbound; /* gRPC resources released, only the shell is left */
  grpc_status_code status;
  char *status_msg;           /* gpr_strdup'd */
  bool has_trailer;
  grpc_metadata trailer; /* STATUS_DETAILS_KEY: the value slice holds a copy */
};

static _Thread_local worker *tls_worker;

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || errlen == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static void live_add(rpc_server *s, int delta) {
  pthread_mutex_lock(&s->live_mu);
  s->live += (size_t)delta;
  if (s->live == 0) pthread_cond_broadcast(&s->live_cv);
  pthread_mutex_unlock(&s->live_mu);
}

static bool is_request_streaming(const rpc_method *m) {
  return m->kind == RPC_CLIENT_STREAMING || m->kind == RPC_BIDI;
}

/* ---- write side (all with c->mu held) ---- */

static void queue_drop(rpc_call *c) {
  while (c->q_head) {
    out_msg *m = c->q_head;
    c->q_head = m->next;
    grpc_byte_buffer_destroy(m->bb);
    free(m);
  }
  c->q_tail = NULL;
}

static bool start_batch(rpc_call *c, const grpc_op *ops, size_t n, call_tag *tag) {
  grpc_call_error e = grpc_call_start_batch(c->call, ops, n, tag, NULL);
  if (e != GRPC_CALL_OK) {
    gpr_log(GPR_ERROR, "rpc: start_batch (tag %d) failed: %s", (int)tag->kind,
            grpc_call_error_to_string(e));
    return false;
  }
  c->pending++;
  return true;
}

/* Nothing more can be sent: drop what is queued and end the call on both
 * sides so RECV_CLOSE_ON_SERVER completes and the context can go. */
static void mark_broken(rpc_call *c) {
  c->broken = true;
  queue_drop(c);
  grpc_call_cancel(c->call, NULL);
}

/* Starts the next send batch if none is outstanding: SIM rides with the first
 * message, SSFS with the last one once rpc_finish was called (or alone). */
static void pump(rpc_call *c) {
  if (c->send_busy || c->status_started || c->closed || c->broken || !c->call) return;
  bool with_status = c->finish_requested && (!c->q_head || !c->q_head->next);
  if (!c->q_head && !with_status) return;

  grpc_op ops[3];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  if (!c->sim_sent) ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
  if (c->q_head) {
    out_msg *m = c->q_head;
    c->q_head = m->next;
    if (!c->q_head) c->q_tail = NULL;
    c->in_flight = m->bb;
    free(m);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = c->in_flight;
  }
  grpc_slice msg_slice = grpc_empty_slice();
  if (with_status) {
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = c->status;
    if (c->status_msg) {
      msg_slice = grpc_slice_from_copied_string(c->status_msg);
      ops[n].data.send_status_from_server.status_details = &msg_slice;
    }
    if (c->has_trailer) {
      ops[n].data.send_status_from_server.trailing_metadata = &c->trailer;
      ops[n].data.send_status_from_server.trailing_metadata_count = 1;
    }
    n++;
  }
  bool ok = start_batch(c, ops, n, &c->t_send);
  /* The core does not keep the details slice past start_batch. */
  if (with_status && c->status_msg) grpc_slice_unref(msg_slice);
  if (!ok) {
    if (c->in_flight) grpc_byte_buffer_destroy(c->in_flight);
    c->in_flight = NULL;
    mark_broken(c);
    return;
  }
  c->send_busy = true;
  c->sim_sent = true;
  if (with_status) c->status_started = true;
}

/* Whether the method answers with one message (unary, client-streaming). */
static bool single_reply(const rpc_method *m) {
  return m->kind == RPC_UNARY || m->kind == RPC_CLIENT_STREAMING;
}

/* New outgoing work was queued. On the owning worker, pump now (or after
 * the running handler returns, so a unary reply + finish coalesce into one
 * batch). From any other thread: a single reply is sent from here once the
 * handler has finished the call, reply and status in one batch, sparing
 * the round trip through the owner (a wake-up that waits for a CPU when
 * the machine is busy); a stream's messages wake the owner with an empty
 * batch, which pumps them in order. Called with c->mu held. */
static void schedule(rpc_call *c) {
  if (tls_worker == c->w) {
    if (!c->in_callback) pump(c);
    return;
  }
  if (c->method && single_reply(c->method)) {
    if (c->finish_requested) pump(c);
    return;
  }
  if (c->wake_posted) return;
  if (start_batch(c, NULL, 0, &c->t_wake))
    c->wake_posted = true;
  else
    pump(c); /* cannot wake the owner: start the send here, still under mu */
}

static bool writable(const rpc_call *c) {
  return c->call && !c->closed && !c->broken && !c->finish_requested && !c->unbound;
}

static int finish_locked(rpc_call *c, grpc_status_code code, const char *details,
                         const void *bin, size_t binlen) {
  if (!writable(c)) return -1;
  c->finish_requested = true;
  c->status = code;
  c->status_msg = details ? gpr_strdup(details) : NULL;
  if (bin && binlen > 0) {
    c->has_trailer = true;
    c->trailer.key = grpc_slice_from_static_string(STATUS_DETAILS_KEY);
    c->trailer.value = grpc_slice_from_copied_buffer((const char *)bin, binlen);
  }
  schedule(c);
  return 0;
}

/* ---- context lifetime ---- */

static void call_free_shell(rpc_call *c) {
  pthread_mutex_destroy(&c->mu);
  free(c);
}

/* Releases every gRPC resource of the context. Called by the owning worker
 * once nothing is pending on the call (or its request failed). */
static void unbind(rpc_call *c) {
  pthread_mutex_lock(&c->mu);
  queue_drop(c);
  if (c->in_flight) grpc_byte_buffer_destroy(c->in_flight);
  c->in_flight = NULL;
  if (c->call) grpc_call_unref(c->call);
  c->call = NULL;
  if (c->has_trailer) grpc_slice_unref(c->trailer.value);
  c->has_trailer = false;
  gpr_free(c->status_msg);
  c->status_msg = NULL;
  c->unbound = true;
  pthread_mutex_unlock(&c->mu);

  if (c->payload) grpc_byte_buffer_destroy(c->payload);
  if (c->recv_bb) grpc_byte_buffer_destroy(c->recv_bb);
  c->payload = c->recv_bb = NULL;
  grpc_metadata_array_destroy(&c->req_md);
  if (!c->method) grpc_call_details_destroy(&c->call_details);
}

/* Unbinds, drops the framework reference, then tells stop that one context
 * less is live (last, because stop may free the server right after). */
static void call_release(rpc_call *c) {
  rpc_server *s = c->srv;
  unbind(c);
  rpc_call_unref(c);
  live_add(s, -1);
}

/* Requests one more call of `m` (NULL: any unregistered method) on worker w. */
static bool request_one(worker *w, const rpc_method *m) {
  rpc_server *s = w->srv;
  rpc_call *c = calloc(1, sizeof *c);
  if (!c) {
    gpr_log(GPR_ERROR, "rpc: out of memory requesting a call");
    return false;
  }
  c->srv = s;
  c->w = w;
  c->method = m;
  atomic_init(&c->refs, 1);
  atomic_init(&c->user, NULL);
  atomic_init(&c->drain, NULL);
  pthread_mutex_init(&c->mu, NULL);
  grpc_metadata_array_init(&c->req_md);
  c->t_new = (call_tag){TAG_NEW, c};
  c->t_recv = (call_tag){TAG_RECV, c};
  c->t_send = (call_tag){TAG_SEND, c};
  c->t_close = (call_tag){TAG_CLOSE, c};
  c->t_wake = (call_tag){TAG_WAKE, c};
  live_add(s, 1);

  grpc_call_error e;
  if (m) {
    size_t idx = (size_t)(m - s->methods);
    e = grpc_server_request_registered_call(s->server, s->handles[idx], &c->call, &c->deadline,
                                            &c->req_md,
                                            is_request_streaming(m) ? NULL : &c->payload, w->cq,
                                            w->cq, &c->t_new);
  } else {
    grpc_call_details_init(&c->call_details);
    e = grpc_server_request_call(s->server, &c->call, &c->call_details, &c->req_md, w->cq, w->cq,
                                 &c->t_new);
  }
  if (e != GRPC_CALL_OK) {
    gpr_log(GPR_ERROR, "rpc: requesting a call failed: %s", grpc_call_error_to_string(e));
    c->call = NULL;
    call_release(c);
    return false;
  }
  return true;
}

/* ---- handler invocation (worker thread, c->mu not held) ---- */

static void deliver(rpc_call *c, grpc_byte_buffer *bb) {
  ProtobufCMessage *msg = rpc_msg_unpack(c->method->input, bb);
  if (!msg) {
    pthread_mutex_lock(&c->mu);
    finish_locked(c, GRPC_STATUS_INTERNAL, "cannot parse request", NULL, 0);
    pthread_mutex_unlock(&c->mu);
    return;
  }
  if (c->method->on_message) {
    c->in_callback = true;
    c->method->on_message(c, msg);
    c->in_callback = false;
  }
  protobuf_c_message_free_unpacked(msg, NULL);
}

static void start_recv(rpc_call *c) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &c->recv_bb;
  pthread_mutex_lock(&c->mu);
  if (writable(c) && !start_batch(c, &op, 1, &c->t_recv)) mark_broken(c);
  pthread_mutex_unlock(&c->mu);
}

static void answer_unimplemented(rpc_call *c) {
  grpc_slice path = c->call_details.method;
  char *msg;
  if (gpr_asprintf(&msg, "unknown method %.*s", (int)GRPC_SLICE_LENGTH(path),
                   (const char *)GRPC_SLICE_START_PTR(path)) < 0)
    msg = NULL;
  pthread_mutex_lock(&c->mu);
  finish_locked(c, GRPC_STATUS_UNIMPLEMENTED, msg ? msg : "unknown method", NULL, 0);
  pthread_mutex_unlock(&c->mu);
  gpr_free(msg);
}

/* ---- completion handlers (worker thread) ---- */

static void on_new(rpc_call *c) {
  rpc_server *s = c->srv;
  if (!atomic_load(&s->stopping)) request_one(c->w, c->method);

  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &c->cancelled;
  pthread_mutex_lock(&c->mu);
  if (!start_batch(c, &op, 1, &c->t_close)) {
    /* Without the close detector the end of the call is unobservable:
     * cancel it and treat it as over now. */
    grpc_call_cancel(c->call, NULL);
    c->closed = true;
    c->cancelled = 1;
  }
  pthread_mutex_unlock(&c->mu);

  if (!c->method) {
    answer_unimplemented(c);
  } else if (is_request_streaming(c->method)) {
    start_recv(c);
  } else if (!c->payload) {
    pthread_mutex_lock(&c->mu);
    finish_locked(c, GRPC_STATUS_INTERNAL, "missing request message", NULL, 0);
    pthread_mutex_unlock(&c->mu);
  } else {
    deliver(c, c->payload);
    grpc_byte_buffer_destroy(c->payload); /* long-held calls keep no request bytes */
    c->payload = NULL;
  }
}

static void on_recv(rpc_call *c, bool ok) {
  grpc_byte_buffer *bb = c->recv_bb;
  c->recv_bb = NULL;
  pthread_mutex_lock(&c->mu);
  c->pending--;
  bool wanted = ok && writable(c);
  pthread_mutex_unlock(&c->mu);

  if (!wanted) {
    if (bb) grpc_byte_buffer_destroy(bb);
  } else if (!bb) { /* client half-closed */
    if (c->method->on_half_close) {
      c->in_callback = true;
      c->method->on_half_close(c);
      c->in_callback = false;
    }
  } else {
    deliver(c, bb);
    grpc_byte_buffer_destroy(bb);
    start_recv(c);
  }
}

static void on_send(rpc_call *c, bool ok) {
  pthread_mutex_lock(&c->mu);
  c->pending--;
  c->send_busy = false;
  if (c->in_flight) grpc_byte_buffer_destroy(c->in_flight);
  c->in_flight = NULL;
  if (!ok && !c->broken) mark_broken(c);
  bool drained = ok && !c->q_head && !c->status_started && !c->finish_requested && !c->closed &&
                 !c->broken;
  pthread_mutex_unlock(&c->mu);
  void (*drain)(rpc_call *) = atomic_load(&c->drain);
  if (drained && drain) { /* dispatch pumps whatever it queued */
    c->in_callback = true;
    drain(c);
    c->in_callback = false;
  }
}

static void on_close(rpc_call *c) {
  pthread_mutex_lock(&c->mu);
  c->pending--;
  c->closed = true;
  queue_drop(c);
  pthread_mutex_unlock(&c->mu);
}

static void on_wake(rpc_call *c) {
  pthread_mutex_lock(&c->mu);
  c->pending--;
  c->wake_posted = false;
  pthread_mutex_unlock(&c->mu);
}

/* The call is over once RCOS completed and no batch is outstanding: then
 * nothing can reference the grpc_call any more. Exactly once per call. */
static void call_over(rpc_call *c) {
  if (c->method && c->method->on_done) {
    c->in_callback = true;
    c->method->on_done(c, c->cancelled != 0);
    c->in_callback = false;
  }
  call_release(c);
}

static void dispatch(call_tag *t, bool ok) {
  rpc_call *c = t->call;
  switch (t->kind) {
  case TAG_NEW:
    if (!ok) { /* request failed: the server is shutting down */
      c->call = NULL;
      call_release(c);
      return;
    }
    on_new(c);
    break;
  case TAG_RECV: on_recv(c, ok); break;
  case TAG_SEND: on_send(c, ok); break;
  case TAG_CLOSE: on_close(c); break;
  case TAG_WAKE: on_wake(c); break;
  }
  pthread_mutex_lock(&c->mu);
  pump(c);
  bool over = c->closed && c->pending == 0 && !c->done_taken;
  if (over) c->done_taken = true;
  pthread_mutex_unlock(&c->mu);
  if (over) call_over(c);
}

static void *worker_main(void *arg) {
  worker *w = arg;
  tls_worker = w;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    if (ev.type == GRPC_OP_COMPLETE) dispatch(ev.tag, ev.success != 0);
  }
  tls_worker = NULL;
  return NULL;
}

/* ---- start / stop ---- */

static int validate(const char *address, const rpc_method *methods, size_t nmethods,
                    const rpc_server_options *opts, char *err, size_t errlen) {
  if (!address || !*address) {
    set_err(err, errlen, "rpc server: empty address");
    return -EINVAL;
  }
  if (nmethods > 0 && !methods) {
    set_err(err, errlen, "rpc server: NULL method table");
    return -EINVAL;
  }
  if (opts && (opts->worker_threads < 0 || opts->max_receive_message < 0)) {
    set_err(err, errlen, "rpc server: negative worker_threads or max_receive_message");
    return -EINVAL;
  }
  for (size_t i = 0; i < nmethods; i++) {
    const rpc_method *m = &methods[i];
    if (!m->path || m->path[0] != '/' || !m->input || m->kind < RPC_UNARY || m->kind > RPC_BIDI) {
      set_err(err, errlen, "rpc server: method %zu (%s) needs a \"/pkg.Svc/Method\" path, "
              "an input descriptor and a valid kind", i, m->path ? m->path : "NULL");
      return -EINVAL;
    }
    if (!is_request_streaming(m) && !m->on_message) {
      set_err(err, errlen, "rpc server: method %s has no on_message", m->path);
      return -EINVAL;
    }
  }
  return 0;
}

/* Tears down a server whether or not it was started and however many of its
 * workers run. Shared by rpc_server_stop and start's failure paths. */
static void server_teardown(rpc_server *s, int grace_ms) {
  atomic_store(&s->stopping, true);
  grpc_server_shutdown_and_notify(s->server, s->shutdown_cq, s);
  gpr_timespec grace = grace_ms > 0 ? rpc_deadline_in(grace_ms) : gpr_now(GPR_CLOCK_MONOTONIC);
  grpc_event ev = grpc_completion_queue_pluck(s->shutdown_cq, s, grace, NULL);
  if (ev.type == GRPC_QUEUE_TIMEOUT) {
    grpc_server_cancel_all_calls(s->server);
    grpc_completion_queue_pluck(s->shutdown_cq, s, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  }

  /* Workers keep running here: cancelled calls still complete their batches
   * on the worker CQs and free their contexts. */
  pthread_mutex_lock(&s->live_mu);
  while (s->live > 0) pthread_cond_wait(&s->live_cv, &s->live_mu);
  pthread_mutex_unlock(&s->live_mu);

  grpc_server_destroy(s->server);
  for (int i = 0; i < s->nworkers; i++)
    if (s->workers[i].cq) grpc_completion_queue_shutdown(s->workers[i].cq);
  for (int i = 0; i < s->nworkers; i++) {
    worker *w = &s->workers[i];
    if (w->running) {
      pthread_join(w->thread, NULL);
    } else if (w->cq) { /* never had a thread: drain it here */
      while (grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
             GRPC_QUEUE_SHUTDOWN) {
      }
    }
    if (w->cq) grpc_completion_queue_destroy(w->cq);
  }
  grpc_completion_queue_shutdown(s->shutdown_cq);
  grpc_completion_queue_destroy(s->shutdown_cq);
  pthread_cond_destroy(&s->live_cv);
  pthread_mutex_destroy(&s->live_mu);
  free(s->workers);
  free(s->handles);
  free(s);
  grpc_shutdown();
}

static rpc_server *server_alloc(const rpc_method *methods, size_t nmethods, int nworkers,
                                int max_receive, void *user) {
  rpc_server *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->handles = calloc(nmethods ? nmethods : 1, sizeof *s->handles);
  s->workers = calloc((size_t)nworkers, sizeof *s->workers);
  if (!s->handles || !s->workers) {
    free(s->handles);
    free(s->workers);
    free(s);
    return NULL;
  }
  s->methods = methods;
  s->nmethods = nmethods;
  s->nworkers = nworkers;
  atomic_init(&s->stopping, false);
  atomic_init(&s->user, user);
  pthread_mutex_init(&s->live_mu, NULL);
  pthread_cond_init(&s->live_cv, NULL);

  grpc_arg arg = {.type = GRPC_ARG_INTEGER,
                  .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
                  .value.integer = max_receive};
  grpc_channel_args args = {.num_args = 1, .args = &arg};
  s->server = grpc_server_create(&args, NULL);
  s->shutdown_cq = grpc_completion_queue_create_for_pluck(NULL);
  for (int i = 0; i < nworkers; i++) {
    s->workers[i].srv = s;
    s->workers[i].cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->server, s->workers[i].cq, NULL);
  }
  return s;
}

static int register_methods(rpc_server *s, char *err, size_t errlen) {
  for (size_t i = 0; i < s->nmethods; i++) {
    const rpc_method *m = &s->methods[i];
    s->handles[i] = grpc_server_register_method(
        s->server, m->path, NULL,
        is_request_streaming(m) ? GRPC_SRM_PAYLOAD_NONE : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
        0);
    if (!s->handles[i]) {
      set_err(err, errlen, "rpc server: cannot register %s (listed twice?)", m->path);
      return -EINVAL;
    }
  }
  return 0;
}

static int listen_on(rpc_server *s, const char *address, char *err, size_t errlen) {
  grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
  int port = grpc_server_add_http2_port(s->server, address, creds);
  grpc_server_credentials_release(creds);
  if (port == 0) {
    set_err(err, errlen, "rpc server: cannot listen on %s", address);
    return -EADDRNOTAVAIL;
  }
  return 0;
}

static int start_workers(rpc_server *s, char *err, size_t errlen) {
  for (int i = 0; i < s->nworkers; i++) {
    int e = pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]);
    if (e != 0) {
      set_err(err, errlen, "rpc server: cannot start worker thread: %s", strerror(e));
      return -e;
    }
    s->workers[i].running = true;
  }
  return 0;
}

int rpc_server_start(rpc_server **out, const char *address, const rpc_method *methods,
                     size_t nmethods, const rpc_server_options *opts, char *err, size_t errlen) {
  if (!out) return -EINVAL;
  *out = NULL;
  int rc = validate(address, methods, nmethods, opts, err, errlen);
  if (rc < 0) return rc;
  int nworkers = opts && opts->worker_threads > 0 ? opts->worker_threads : DEFAULT_WORKERS;
  int max_receive = opts && opts->max_receive_message > 0 ? opts->max_receive_message : -1;

  grpc_init(); /* balanced in server_teardown; cheap when already initialized */
  rpc_server *s = server_alloc(methods, nmethods, nworkers, max_receive, opts ? opts->user : NULL);
  if (!s) {
    grpc_shutdown();
    set_err(err, errlen, "rpc server: out of memory");
    return -ENOMEM;
  }
  rc = register_methods(s, err, errlen);
  if (rc == 0) rc = listen_on(s, address, err, errlen);
  if (rc == 0) {
    grpc_server_start(s->server);
    rc = start_workers(s, err, errlen);
  }
  if (rc < 0) {
    server_teardown(s, 0);
    return rc;
  }
  /* Requested here rather than by the workers so that every request exists
   * (and counts as live) before the caller can call rpc_server_stop. */
  for (int i = 0; i < nworkers; i++) {
    for (size_t m = 0; m < nmethods; m++)
      for (int k = 0; k < PREREQUESTS; k++) request_one(&s->workers[i], &methods[m]);
    request_one(&s->workers[i], NULL);
  }
  *out = s;
  return 0;
}

void rpc_server_stop(rpc_server *s, int grace_ms) {
  if (s) server_teardown(s, grace_ms);
}

/* ---- handler API ---- */

int rpc_send(rpc_call *c, const ProtobufCMessage *msg) {
  if (!c || !msg) return -1;
  pthread_mutex_lock(&c->mu);
  bool ok = writable(c);
  pthread_mutex_unlock(&c->mu);
  if (!ok) return -1; /* checked first so late sends never touch gRPC */

  out_msg *m = malloc(sizeof *m);
  if (!m) return -1;
  m->next = NULL;
  m->bb = rpc_msg_pack(msg);
  pthread_mutex_lock(&c->mu);
  if (!writable(c)) {
    pthread_mutex_unlock(&c->mu);
    grpc_byte_buffer_destroy(m->bb);
    free(m);
    return -1;
  }
  if (c->q_tail)
    c->q_tail->next = m;
  else
    c->q_head = m;
  c->q_tail = m;
  schedule(c);
  pthread_mutex_unlock(&c->mu);
  return 0;
}

int rpc_finish_with_details(rpc_call *c, grpc_status_code code, const char *details,
                            const void *status_details, size_t status_details_len) {
  if (!c) return -1;
  pthread_mutex_lock(&c->mu);
  int rc = finish_locked(c, code, details, status_details, status_details_len);
  pthread_mutex_unlock(&c->mu);
  return rc;
}

int rpc_finish(rpc_call *c, grpc_status_code code, const char *details) {
  return rpc_finish_with_details(c, code, details, NULL, 0);
}

int rpc_call_is_done(rpc_call *c) {
  pthread_mutex_lock(&c->mu);
  int done = !writable(c);
  pthread_mutex_unlock(&c->mu);
  return done;
}

void rpc_call_ref(rpc_call *c) {
  atomic_fetch_add(&c->refs, 1);
}

void rpc_call_unref(rpc_call *c) {
  if (c && atomic_fetch_sub(&c->refs, 1) == 1) call_free_shell(c);
}

void rpc_call_on_drain(rpc_call *c, void (*fn)(rpc_call *call)) {
  atomic_store(&c->drain, fn);
}

void rpc_call_set_user(rpc_call *c, void *user) {
  atomic_store(&c->user, user);
}

void *rpc_call_user(rpc_call *c) {
  return atomic_load(&c->user);
}

rpc_server *rpc_call_server(rpc_call *c) {
  return c->srv;
}

void rpc_server_set_user(rpc_server *s, void *user) {
  atomic_store(&s->user, user);
}

void *rpc_server_user(rpc_server *s) {
  return atomic_load(&s->user);
}
