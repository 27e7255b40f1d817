/* ReadOutput: a server stream of one output spool from a byte offset.
 * Flow-controlled: at most WINDOW chunks are queued on the call; more are
 * read when gRPC has sent them (rpc_call_on_drain), when the spool grows
 * (the inotify watcher) or when the execution ends. A following stream
 * waits without any thread or timer of its own. */
#include "api.h"
#include "execution.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 4 /* chunks queued on a call at most (give or take one) */

struct out_stream {
  rpc_call *call; /* referenced */
  execution *e;   /* referenced */
  int fd;         /* EX_STDOUT / EX_STDERR */
  int follow;
  size_t max_chunk;
  pthread_mutex_t mu; /* guards the fields below; taken before e->mu */
  uint64_t next;      /* the next offset to send */
  int outstanding;    /* chunks queued since the last drain */
  int finished;       /* the status was sent (or the call is over) */
  int in_list;        /* in e->followers (guarded by e->mu) */
  atomic_int refs;    /* the call's user pointer, the followers list, wakers */
};

static void stream_unref(out_stream *s) {
  if (atomic_fetch_sub(&s->refs, 1) != 1) return;
  rpc_call_unref(s->call);
  ex_unref(s->e);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

/* Drops s from its execution's followers (if listed). */
static void unlist(out_stream *s) {
  execution *e = s->e;
  int was = 0;
  pthread_mutex_lock(&e->mu);
  if (s->in_list) {
    for (size_t i = 0; i < e->nfollowers; i++) {
      if (e->followers[i] == s) {
        e->followers[i] = e->followers[--e->nfollowers];
        break;
      }
    }
    s->in_list = 0;
    was = 1;
  }
  pthread_mutex_unlock(&e->mu);
  if (was) stream_unref(s);
}

static int enlist(out_stream *s) {
  execution *e = s->e;
  int rc = 0;
  pthread_mutex_lock(&e->mu);
  if (e->nfollowers == e->capfollowers) {
    size_t cap = e->capfollowers ? e->capfollowers * 2 : 4;
    out_stream **grown = realloc(e->followers, cap * sizeof *grown);
    if (grown) {
      e->followers = grown;
      e->capfollowers = cap;
    } else {
      rc = -ENOMEM;
    }
  }
  if (rc == 0) {
    atomic_fetch_add(&s->refs, 1);
    e->followers[e->nfollowers++] = s;
    s->in_list = 1;
  }
  pthread_mutex_unlock(&e->mu);
  return rc;
}

static int send_chunk(out_stream *s, uint64_t offset, const uint8_t *data, size_t len, int eof) {
  EP(OutputChunk) c = EP_INIT(OUTPUT_CHUNK);
  c.fd = s->fd == EX_STDOUT ? EP_ENUM(OUTPUT_FD__OUTPUT_FD_STDOUT) : EP_ENUM(OUTPUT_FD__OUTPUT_FD_STDERR);
  c.offset = offset;
  c.data.data = (uint8_t *)data;
  c.data.len = len;
  c.first_offset = spool_first(&s->e->out[s->fd]);
  c.eof = eof != 0;
  return rpc_send(s->call, &c.base);
}

static void end_stream_locked(out_stream *s, grpc_status_code code, const char *why) {
  s->finished = 1;
  rpc_finish(s->call, code, why);
}

static int execution_over(execution *e) {
  pthread_mutex_lock(&e->mu);
  int over = e->state == EX_ENDED || e->deleted;
  pthread_mutex_unlock(&e->mu);
  return over;
}

/* Sends what there is, up to the window; with s->mu held. Returns 1 once
 * the stream is finished (the caller then unlists it). */
static int pump_locked(out_stream *s) {
  if (s->finished) return 1;
  if (rpc_call_is_done(s->call)) {
    s->finished = 1;
    return 1;
  }
  spool *sp = &s->e->out[s->fd];
  uint8_t *buf = NULL;
  while (s->outstanding < WINDOW) {
    if (!buf && !(buf = malloc(s->max_chunk))) {
      end_stream_locked(s, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
      break;
    }
    uint64_t off = s->next;
    ssize_t n = spool_read(sp, &off, buf, s->max_chunk);
    if (n < 0) {
      char why[256];
      snprintf(why, sizeof why, "cannot read the %s spool: %s", sp->name, strerror((int)-n));
      end_stream_locked(s, GRPC_STATUS_INTERNAL, why);
      break;
    }
    if (n > 0) {
      if (send_chunk(s, off, buf, (size_t)n, 0) < 0) {
        s->finished = 1; /* the call is over */
        break;
      }
      s->next = off + (uint64_t)n;
      s->outstanding++;
      continue;
    }
    s->next = off;
    /* At the end. Once the execution has ended its spool is final: send
     * whatever arrived before that, then eof. */
    if (execution_over(s->e)) {
      if (spool_size(sp) > s->next) continue;
      send_chunk(s, s->next, NULL, 0, 1);
      end_stream_locked(s, GRPC_STATUS_OK, NULL);
    } else if (!s->follow) {
      end_stream_locked(s, GRPC_STATUS_OK, NULL);
    }
    break; /* following: the watcher or the end wakes us */
  }
  free(buf);
  return s->finished;
}

static void pump(out_stream *s) {
  pthread_mutex_lock(&s->mu);
  int finished = pump_locked(s);
  pthread_mutex_unlock(&s->mu);
  if (finished) unlist(s);
}

static void on_drain(rpc_call *call) {
  out_stream *s = rpc_call_user(call);
  if (!s) return;
  pthread_mutex_lock(&s->mu);
  s->outstanding = 0;
  pthread_mutex_unlock(&s->mu);
  pump(s);
}

void api_read_output_done(rpc_call *call, int cancelled) {
  (void)cancelled;
  out_stream *s = rpc_call_user(call);
  if (!s) return;
  rpc_call_set_user(call, NULL);
  pthread_mutex_lock(&s->mu);
  s->finished = 1;
  pthread_mutex_unlock(&s->mu);
  unlist(s);
  stream_unref(s); /* the call's */
}

void ex_wake_followers(execution *e, int fd) {
  pthread_mutex_lock(&e->mu);
  size_t n = e->nfollowers;
  out_stream **list = n ? malloc(n * sizeof *list) : NULL;
  size_t k = 0;
  for (size_t i = 0; list && i < n; i++) {
    if (fd >= 0 && e->followers[i]->fd != fd) continue;
    atomic_fetch_add(&e->followers[i]->refs, 1);
    list[k++] = e->followers[i];
  }
  pthread_mutex_unlock(&e->mu);
  for (size_t i = 0; i < k; i++) {
    pump(list[i]);
    stream_unref(list[i]);
  }
  free(list);
}

void ex_abort_followers(execution *e, grpc_status_code code, const char *why) {
  pthread_mutex_lock(&e->mu);
  out_stream **list = e->followers;
  size_t n = e->nfollowers;
  e->followers = NULL;
  e->nfollowers = e->capfollowers = 0;
  for (size_t i = 0; i < n; i++) list[i]->in_list = 0;
  pthread_mutex_unlock(&e->mu);
  for (size_t i = 0; i < n; i++) {
    out_stream *s = list[i];
    pthread_mutex_lock(&s->mu);
    if (!s->finished) end_stream_locked(s, code, why);
    pthread_mutex_unlock(&s->mu);
    stream_unref(s); /* the list's */
  }
  free(list);
}

void api_read_output(rpc_call *call, const ProtobufCMessage *msg) {
  const EP(ReadOutputRequest) *req = (const void *)msg;
  if (req->fd != EP_ENUM(OUTPUT_FD__OUTPUT_FD_STDOUT) &&
      req->fd != EP_ENUM(OUTPUT_FD__OUTPUT_FD_STDERR)) {
    rpc_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
               "field \"fd\" must be OUTPUT_FD_STDOUT or OUTPUT_FD_STDERR");
    return;
  }
  execution *e = api_lookup(call, req->session_id, req->execution_id, 1);
  if (!e) return;
  int fd = req->fd == EP_ENUM(OUTPUT_FD__OUTPUT_FD_STDOUT) ? EX_STDOUT : EX_STDERR;
  uint64_t size = spool_size(&e->out[fd]);
  if (req->offset > size) {
    char why[256];
    snprintf(why, sizeof why, "field \"offset\": %" PRIu64 " is beyond the end of %s (%" PRIu64
             " bytes so far)", req->offset, e->out[fd].name, size);
    rpc_finish(call, GRPC_STATUS_OUT_OF_RANGE, why);
    ex_unref(e);
    return;
  }
  out_stream *s = calloc(1, sizeof *s);
  if (!s) {
    rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    ex_unref(e);
    return;
  }
  rpc_call_ref(call);
  s->call = call;
  s->e = e; /* takes the lookup's reference */
  s->fd = fd;
  s->follow = req->follow != 0;
  s->next = req->offset;
  s->max_chunk = req->max_chunk_bytes == 0             ? EXECD_DEFAULT_CHUNK
                 : req->max_chunk_bytes > EXECD_MAX_CHUNK ? EXECD_MAX_CHUNK
                                                          : req->max_chunk_bytes;
  pthread_mutex_init(&s->mu, NULL);
  atomic_init(&s->refs, 1); /* the call's */
  rpc_call_set_user(call, s);
  rpc_call_on_drain(call, on_drain);
  if (s->follow && enlist(s) != 0) {
    pthread_mutex_lock(&s->mu);
    end_stream_locked(s, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    pthread_mutex_unlock(&s->mu);
    return;
  }
  pump(s);
}
