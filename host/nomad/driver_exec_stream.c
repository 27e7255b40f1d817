/* ExecTaskStreaming (`nomad alloc exec`): one session per call. The first
 * message carries setup; then stdin data/close, terminal sizes and empty
 * heartbeats arrive on the gRPC worker thread and are queued; a session
 * thread of its own starts the command, feeds its stdin, streams its output
 * in chunks, and at the end sends `close` markers, the exit result, and
 * finishes the call with OK (Nomad never half-closes, so the server must end
 * the call or `nomad alloc exec` hangs).
 *
 * With a TTY: output is the pty's (stderr included), only the lead process
 * is waited for (its exit hangs up the terminal, so background children get
 * SIGHUP and their later output is not waited for), and a stdin close is
 * ignored: the terminal stays open, end of input is the terminal's own EOF
 * character (^D) as on any terminal. Without one: a stdin close is EOF on
 * the command's stdin. A client that goes away (cancel, disconnect, plugin
 * shutdown) gets its command's process group killed. */
#include "driver_exec.h"

#include "log.h"
#include "nomad_pb.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define OUTPUT_CHUNK 4096
/* Replies queued in gRPC before the session stops reading the command's
 * output (its pipes then fill and the command blocks: a slow client slows
 * the command, never grows the plugin). */
#define MAX_QUEUED_REPLIES 64
/* Input accepted but not yet taken by the command. Beyond it the call fails:
 * the command is not reading and memory must stay bounded. */
#define MAX_STDIN_BACKLOG (8u << 20)

typedef struct stdin_chunk {
  struct stdin_chunk *next;
  size_t len, off;
  int close; /* a stdin close marker, after the data queued before it */
  char data[];
} stdin_chunk;

typedef struct exec_session {
  pthread_mutex_t mu;
  pthread_cond_t room; /* the queued replies went out */
  int refs;            /* the call's user pointer + the session thread */
  rpc_call *call;
  plugin *plugin;      /* taken on the worker thread: the server is running then */
  int wake_fd;         /* eventfd: input, a resize, or the call's end */

  /* From the setup message; fixed. */
  char *task_id;
  char **command;
  size_t ncommand;
  int tty;

  /* Guarded by mu. */
  stdin_chunk *in_head, *in_tail;
  size_t in_bytes;
  int have_size, size_changed;
  unsigned short rows, cols;
  int queued_replies;
} exec_session;

static void session_unref(exec_session *s) {
  pthread_mutex_lock(&s->mu);
  int left = --s->refs;
  pthread_mutex_unlock(&s->mu);
  if (left) return;
  for (stdin_chunk *c = s->in_head, *next; c; c = next) {
    next = c->next;
    free(c);
  }
  for (size_t i = 0; i < s->ncommand; i++) free(s->command[i]);
  free(s->command);
  free(s->task_id);
  if (s->wake_fd >= 0) close(s->wake_fd);
  pthread_cond_destroy(&s->room);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

static void wake(exec_session *s) {
  uint64_t one = 1;
  ssize_t w = write(s->wake_fd, &one, sizeof one);
  (void)w; /* a full counter still wakes the reader */
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- replies (session thread) ---- */

/* rpc_call_on_drain: every queued reply has gone out. Runs on the call's
 * worker thread, which is also the only one that clears the user pointer
 * (on_done), so the session is alive here. */
static void on_drain(rpc_call *call) {
  exec_session *s = rpc_call_user(call);
  if (!s) return;
  pthread_mutex_lock(&s->mu);
  s->queued_replies = 0;
  pthread_cond_broadcast(&s->room);
  pthread_mutex_unlock(&s->mu);
}

/* Counted before rpc_send, so a drain can only undercount (never stall). */
static void send_reply(exec_session *s, const ProtobufCMessage *msg) {
  pthread_mutex_lock(&s->mu);
  while (s->queued_replies >= MAX_QUEUED_REPLIES && !rpc_call_is_done(s->call)) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 100 * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&s->room, &s->mu, &until);
  }
  s->queued_replies++;
  pthread_mutex_unlock(&s->mu);
  rpc_send(s->call, msg);
}

static void send_output(exec_session *s, int is_stderr, const char *data, size_t len, int close) {
  DP(ExecTaskStreamingResponse) rep = DP_INIT(EXEC_TASK_STREAMING_RESPONSE);
  DP(ExecTaskStreamingIOOperation) io = DP_INIT(EXEC_TASK_STREAMING_IOOPERATION);
  io.data.data = (uint8_t *)data;
  io.data.len = len;
  io.close = close != 0;
  if (is_stderr) rep.stderr = &io;
  else rep.stdout = &io;
  send_reply(s, &rep.base);
}

static void send_exit(exec_session *s, int exit_code, int sig) {
  DP(ExecTaskStreamingResponse) rep = DP_INIT(EXEC_TASK_STREAMING_RESPONSE);
  DP(ExitResult) res = DP_INIT(EXIT_RESULT);
  res.exit_code = exit_code;
  res.signal = sig;
  rep.exited = 1;
  rep.result = &res;
  send_reply(s, &rep.base);
}

/* ---- the command's side (session thread) ---- */

typedef struct pump_state {
  exec_cmd cmd;
  int out_open, err_open; /* output streams not yet closed (marker sent) */
  int64_t drain_until, last_output;
} pump_state;

/* Reads one chunk from an output fd and sends it; at EOF (or EIO: no
 * process holds the terminal any more) closes it and sends the marker. */
static int pump_output(exec_session *s, pump_state *ps, int is_stderr) {
  int *fd = is_stderr ? &ps->cmd.stderr_fd : &ps->cmd.stdout_fd;
  char buf[OUTPUT_CHUNK];
  ssize_t n = read(*fd, buf, sizeof buf);
  if (n > 0) {
    send_output(s, is_stderr, buf, (size_t)n, 0);
    return 1;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  if (ps->cmd.tty) { /* the master is stdin too: exec_cmd_free closes it */
    ps->out_open = 0;
  } else {
    close(*fd);
    *fd = -1;
    if (is_stderr) ps->err_open = 0;
    else ps->out_open = 0;
  }
  send_output(s, is_stderr, NULL, 0, 1);
  return 0;
}

/* Writes queued input; a close marker (pipes) closes the command's stdin.
 * A command that closed its end (EPIPE/EIO) drops what is left. */
static void pump_input(exec_session *s, pump_state *ps) {
  for (;;) {
    pthread_mutex_lock(&s->mu);
    stdin_chunk *c = s->in_head;
    pthread_mutex_unlock(&s->mu);
    if (!c || ps->cmd.stdin_fd < 0) return;
    if (!c->close) {
      ssize_t w = write(ps->cmd.stdin_fd, c->data + c->off, c->len - c->off);
      if (w < 0 && (errno == EAGAIN || errno == EINTR)) return;
      if (w < 0) { /* the reader is gone: nothing more can be delivered */
        pthread_mutex_lock(&s->mu);
        for (stdin_chunk *d = s->in_head, *next; d; d = next) {
          next = d->next;
          free(d);
        }
        s->in_head = s->in_tail = NULL;
        s->in_bytes = 0;
        pthread_mutex_unlock(&s->mu);
        exec_cmd_close_stdin(&ps->cmd);
        return;
      }
      c->off += (size_t)w;
      if (c->off < c->len) return;
    } else {
      exec_cmd_close_stdin(&ps->cmd); /* no-op on a tty (see the file comment) */
    }
    pthread_mutex_lock(&s->mu);
    s->in_head = c->next;
    if (!s->in_head) s->in_tail = NULL;
    s->in_bytes -= c->len;
    pthread_mutex_unlock(&s->mu);
    free(c);
  }
}

static void apply_resize(exec_session *s, pump_state *ps) {
  pthread_mutex_lock(&s->mu);
  int changed = s->size_changed;
  unsigned short rows = s->rows, cols = s->cols;
  s->size_changed = 0;
  pthread_mutex_unlock(&s->mu);
  if (changed && ps->cmd.tty) exec_cmd_resize(&ps->cmd, rows, cols);
}

static void note_exit(pump_state *ps) {
  ps->last_output = mono_ms();
  ps->drain_until = ps->last_output + EXEC_CMD_DRAIN_MAX_MS;
}

/* Runs until the command has exited and its output is drained, or the call
 * is over. Returns 1 when the command finished (exit result known), 0 when
 * the call ended first, -errno if poll failed. */
static int run_session(exec_session *s, pump_state *ps) {
  for (;;) {
    if (rpc_call_is_done(s->call)) return 0;
    if (!ps->cmd.reaped && exec_cmd_reap(&ps->cmd, 0)) note_exit(ps);
    int64_t now = mono_ms();
    if (ps->cmd.reaped) {
      if (!ps->out_open && !ps->err_open) return 1;
      if (now >= ps->drain_until || now - ps->last_output >= EXEC_CMD_DRAIN_IDLE_MS) return 1;
    }
    pthread_mutex_lock(&s->mu);
    int want_write = s->in_head != NULL && ps->cmd.stdin_fd >= 0;
    pthread_mutex_unlock(&s->mu);

    struct pollfd pfd[5];
    int n = 0, wake_i, out_i = -1, err_i = -1, in_i = -1;
    pfd[wake_i = n++] = (struct pollfd){s->wake_fd, POLLIN, 0};
    if (ps->out_open) {
      short ev = POLLIN;
      if (ps->cmd.tty && want_write) ev |= POLLOUT; /* the master is both */
      pfd[out_i = n++] = (struct pollfd){ps->cmd.stdout_fd, ev, 0};
    }
    if (ps->err_open) pfd[err_i = n++] = (struct pollfd){ps->cmd.stderr_fd, POLLIN, 0};
    if (want_write && !ps->cmd.tty)
      pfd[in_i = n++] = (struct pollfd){ps->cmd.stdin_fd, POLLOUT, 0};
    /* The exit itself is picked up by the reap at the loop's top. */
    if (!ps->cmd.reaped && ps->cmd.pidfd >= 0)
      pfd[n++] = (struct pollfd){ps->cmd.pidfd, POLLIN, 0};
    int timeout_ms;
    if (ps->cmd.reaped) timeout_ms = (int)(EXEC_CMD_DRAIN_IDLE_MS - (now - ps->last_output));
    else timeout_ms = ps->cmd.pidfd >= 0 ? 1000 : 20; /* without a pidfd: a 20 ms tick */
    if (timeout_ms < 0) timeout_ms = 0;
    if (poll(pfd, (nfds_t)n, timeout_ms) < 0 && errno != EINTR) return -errno;

    if (pfd[wake_i].revents) {
      uint64_t v;
      ssize_t r = read(s->wake_fd, &v, sizeof v);
      (void)r;
      apply_resize(s, ps);
    }
    int got = 0;
    if (out_i >= 0 && (pfd[out_i].revents & (POLLIN | POLLHUP | POLLERR)))
      got |= pump_output(s, ps, 0);
    if (err_i >= 0 && pfd[err_i].revents) got |= pump_output(s, ps, 1);
    if (got) ps->last_output = mono_ms();
    if ((in_i >= 0 && pfd[in_i].revents) ||
        (out_i >= 0 && (pfd[out_i].revents & POLLOUT)) || pfd[wake_i].revents)
      pump_input(s, ps);
  }
}

static void *session_main(void *arg) {
  exec_session *s = arg;
  plugin *p = s->plugin;
  char err[2048] = "", what[512];
  grpc_status_code code;
  exec_target x;
  exec_describe_command(s->command, s->ncommand, what, sizeof what);
  if (exec_target_resolve(p, s->task_id, s->command, s->ncommand, s->tty, &x, &code, err,
                          sizeof err) != 0) {
    log_msg(LOG_WARN, "exec refused", "task_id", s->task_id, "command", what, "error", err, NULL);
    rpc_finish(s->call, code, err);
    goto done;
  }
  pthread_mutex_lock(&s->mu);
  if (s->have_size) { /* a size that came with or right after setup */
    x.spec.rows = s->rows;
    x.spec.cols = s->cols;
    s->size_changed = 0;
  }
  pthread_mutex_unlock(&s->mu);

  pump_state ps;
  memset(&ps, 0, sizeof ps);
  if (exec_cmd_start(&x.spec, &ps.cmd, err, sizeof err) != 0) {
    char full[sizeof err + 600];
    snprintf(full, sizeof full, "exec in task %s: %s", x.t->id, err);
    log_msg(LOG_WARN, "exec failed", "task_id", x.t->id, "command", what, "error", err, NULL);
    rpc_finish(s->call, GRPC_STATUS_FAILED_PRECONDITION, full);
    exec_target_free(&x);
    goto done;
  }
  char pid[16];
  snprintf(pid, sizeof pid, "%d", (int)ps.cmd.pid);
  log_msg(LOG_INFO, "exec started", "task_id", x.t->id, "command", what, "tty",
          s->tty ? "true" : "false", "pid", pid, NULL);
  ps.out_open = 1;
  ps.err_open = !ps.cmd.tty;
  rpc_call_on_drain(s->call, on_drain);
  apply_resize(s, &ps); /* one that raced with the start */
  int ran = run_session(s, &ps);
  if (ran > 0) {
    /* A TTY has no separate stderr stream, so no marker for it (as Nomad's
     * own executor). */
    if (ps.out_open) send_output(s, 0, NULL, 0, 1);
    if (ps.err_open) send_output(s, 1, NULL, 0, 1);
    send_exit(s, ps.cmd.exit_code, ps.cmd.signal);
    rpc_finish(s->call, GRPC_STATUS_OK, NULL);
    char code_text[16];
    snprintf(code_text, sizeof code_text, "%d", ps.cmd.exit_code);
    log_msg(LOG_INFO, "exec finished", "task_id", x.t->id, "command", what, "exit_code",
            code_text, NULL);
  } else if (ran == 0) {
    log_msg(LOG_INFO, "exec ended by the client: process group killed", "task_id", x.t->id,
            "command", what, NULL);
  } else {
    snprintf(err, sizeof err, "exec in task %s: poll: %s; the command was killed", x.t->id,
             strerror(-ran));
    log_msg(LOG_ERROR, "exec failed", "task_id", x.t->id, "command", what, "error", err, NULL);
    rpc_finish(s->call, GRPC_STATUS_INTERNAL, err);
  }
  exec_cmd_free(&ps.cmd); /* kills the group if the leader still runs */
  exec_target_free(&x);
done:
  rpc_call_unref(s->call);
  session_unref(s);
  return NULL;
}

/* ---- the gRPC side (worker thread; must not block) ---- */

static int queue_stdin(exec_session *s, const DP(ExecTaskStreamingIOOperation) * io) {
  size_t len = io->data.len;
  pthread_mutex_lock(&s->mu);
  int over = s->in_bytes + len > MAX_STDIN_BACKLOG;
  pthread_mutex_unlock(&s->mu);
  if (over) return -ENOBUFS;
  for (int part = 0; part < 2; part++) {
    if (part == 0 && len == 0) continue;
    if (part == 1 && !io->close) continue;
    stdin_chunk *c = malloc(sizeof *c + (part == 0 ? len : 0));
    if (!c) return -ENOMEM;
    c->next = NULL;
    c->off = 0;
    c->len = part == 0 ? len : 0;
    c->close = part == 1;
    if (part == 0) memcpy(c->data, io->data.data, len);
    pthread_mutex_lock(&s->mu);
    if (s->in_tail) s->in_tail->next = c;
    else s->in_head = c;
    s->in_tail = c;
    s->in_bytes += c->len;
    pthread_mutex_unlock(&s->mu);
  }
  return 0;
}

static void take_input(exec_session *s, rpc_call *call, const DP(ExecTaskStreamingRequest) * req) {
  if (req->tty_size) {
    pthread_mutex_lock(&s->mu);
    int32_t h = req->tty_size->height, w = req->tty_size->width;
    s->rows = (unsigned short)(h < 0 ? 0 : h > 65535 ? 65535 : h);
    s->cols = (unsigned short)(w < 0 ? 0 : w > 65535 ? 65535 : w);
    s->have_size = s->size_changed = 1;
    pthread_mutex_unlock(&s->mu);
  }
  if (req->stdin) {
    int rc = queue_stdin(s, req->stdin);
    if (rc == -ENOBUFS)
      rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                 "exec: more than 8 MiB of stdin is waiting: the command is not reading its "
                 "input");
    else if (rc != 0)
      rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "exec: out of memory queueing stdin");
  }
  wake(s); /* anything else is a heartbeat: nothing to do */
}

static exec_session *session_new(const DP(ExecTaskStreamingRequest__Setup) * setup) {
  exec_session *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  s->task_id = strdup(setup->task_id ? setup->task_id : "");
  s->command = calloc(setup->n_command + 1, sizeof *s->command);
  int ok = s->wake_fd >= 0 && s->task_id && s->command;
  for (size_t i = 0; ok && i < setup->n_command; i++, s->ncommand++)
    ok = (s->command[i] = strdup(setup->command[i] ? setup->command[i] : "")) != NULL;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->room, NULL);
  s->tty = setup->tty;
  s->refs = 1;
  if (!ok) {
    session_unref(s);
    return NULL;
  }
  return s;
}

void driver_exec_stream_message(rpc_call *call, const ProtobufCMessage *msg) {
  const DP(ExecTaskStreamingRequest) *req = (const void *)msg;
  exec_session *s = rpc_call_user(call);
  if (s) { /* a repeated setup is ignored, like a heartbeat */
    take_input(s, call, req);
    return;
  }
  if (!req->setup) {
    rpc_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "first message should always be setup");
    return;
  }
  if (!(s = session_new(req->setup))) {
    rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "exec: out of memory");
    return;
  }
  s->call = call;
  s->plugin = plugin_of(call);
  rpc_call_set_user(call, s);
  take_input(s, call, req); /* stdin or a size riding along with setup */
  s->refs++;
  rpc_call_ref(call);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t th;
  if (pthread_create(&th, &attr, session_main, s) != 0) {
    rpc_call_unref(call);
    pthread_mutex_lock(&s->mu);
    s->refs--; /* no thread: only the call's reference is left */
    pthread_mutex_unlock(&s->mu);
    rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "exec: cannot start a session thread");
  }
  pthread_attr_destroy(&attr);
}

void driver_exec_stream_done(rpc_call *call, int cancelled) {
  (void)cancelled; /* either way the session thread sees the call is over */
  exec_session *s = rpc_call_user(call);
  if (!s) return;
  rpc_call_set_user(call, NULL);
  wake(s);
  pthread_mutex_lock(&s->mu);
  pthread_cond_broadcast(&s->room);
  pthread_mutex_unlock(&s->mu);
  session_unref(s);
}
