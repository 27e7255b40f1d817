/* exec_stream: the input queue of an interactive exec session and the loop
 * that runs its command (see exec_stream.h). */
#include "exec_stream.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

int exec_stream_init(exec_stream *s) {
  memset(s, 0, sizeof *s);
  s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->wake_fd < 0) return -errno;
  pthread_mutex_init(&s->mu, NULL);
  return 0;
}

static void free_chunks(exec_stream_chunk *c) {
  for (exec_stream_chunk *next; c; c = next) {
    next = c->next;
    free(c);
  }
}

void exec_stream_destroy(exec_stream *s) {
  if (s->wake_fd < 0) return; /* never initialized */
  free_chunks(s->in_head);
  close(s->wake_fd);
  s->wake_fd = -1;
  pthread_mutex_destroy(&s->mu);
}

void exec_stream_wake(exec_stream *s) {
  uint64_t one = 1;
  ssize_t w = write(s->wake_fd, &one, sizeof one);
  (void)w; /* a full counter still wakes the reader */
}

/* ---- the client side ---- */

static exec_stream_chunk *chunk_new(const void *data, size_t len, int close) {
  exec_stream_chunk *c = malloc(sizeof *c + len);
  if (!c) return NULL;
  c->next = NULL;
  c->off = 0;
  c->len = len;
  c->close = close;
  if (len) memcpy(c->data, data, len);
  return c;
}

int exec_stream_put_stdin(exec_stream *s, const void *data, size_t len, int close) {
  exec_stream_chunk *bytes = NULL, *end = NULL;
  if (len && !(bytes = chunk_new(data, len, 0))) return -ENOMEM;
  if (close && !(end = chunk_new(NULL, 0, 1))) {
    free(bytes);
    return -ENOMEM;
  }
  if (bytes) bytes->next = end;
  exec_stream_chunk *first = bytes ? bytes : end, *last = end ? end : bytes;
  if (!first) return 0;
  pthread_mutex_lock(&s->mu);
  if (s->in_bytes + len > EXEC_STREAM_MAX_STDIN_BACKLOG) {
    pthread_mutex_unlock(&s->mu);
    free_chunks(first);
    return -ENOBUFS;
  }
  if (s->in_tail) s->in_tail->next = first;
  else s->in_head = first;
  s->in_tail = last;
  s->in_bytes += len;
  pthread_mutex_unlock(&s->mu);
  exec_stream_wake(s);
  return 0;
}

const char *exec_stream_put_error(int rc) {
  return rc == -ENOBUFS ? "exec: more than 8 MiB of stdin is waiting: the command is not reading "
                          "its input"
                        : "exec: out of memory queueing stdin";
}

static unsigned short clamp_size(long v) {
  return (unsigned short)(v < 0 ? 0 : v > 65535 ? 65535 : v);
}

void exec_stream_resize(exec_stream *s, long rows, long cols) {
  pthread_mutex_lock(&s->mu);
  s->rows = clamp_size(rows);
  s->cols = clamp_size(cols);
  s->have_size = s->size_changed = 1;
  pthread_mutex_unlock(&s->mu);
  exec_stream_wake(s);
}

void exec_stream_end(exec_stream *s) {
  pthread_mutex_lock(&s->mu);
  s->ended = 1;
  pthread_mutex_unlock(&s->mu);
  exec_stream_wake(s);
}

/* ---- the session side ---- */

int exec_stream_ended(exec_stream *s) {
  pthread_mutex_lock(&s->mu);
  int ended = s->ended;
  pthread_mutex_unlock(&s->mu);
  return ended;
}

int exec_stream_take_size(exec_stream *s, unsigned short *rows, unsigned short *cols) {
  pthread_mutex_lock(&s->mu);
  int changed = s->size_changed;
  *rows = s->rows;
  *cols = s->cols;
  s->size_changed = 0;
  pthread_mutex_unlock(&s->mu);
  return changed;
}

exec_stream_chunk *exec_stream_pop(exec_stream *s) {
  pthread_mutex_lock(&s->mu);
  exec_stream_chunk *c = s->in_head;
  if (c) {
    s->in_head = c->next;
    if (!s->in_head) s->in_tail = NULL;
    s->in_bytes -= c->len;
    c->next = NULL;
  }
  pthread_mutex_unlock(&s->mu);
  return c;
}

static void drain_wake(exec_stream *s) {
  uint64_t v;
  ssize_t r = read(s->wake_fd, &v, sizeof v);
  (void)r;
}

int exec_stream_wait(exec_stream *s, int timeout_ms) {
  struct pollfd pfd = {s->wake_fd, POLLIN, 0};
  int n;
  do n = poll(&pfd, 1, timeout_ms);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return 0;
  drain_wake(s);
  return 1;
}

int exec_stream_spawn(void *(*fn)(void *), void *arg) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t th;
  int rc = pthread_create(&th, &attr, fn, arg);
  pthread_attr_destroy(&attr);
  return rc;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The running command's side of exec_stream_run. */
typedef struct pump_state {
  exec_stream *s;
  exec_cmd *cmd;
  const exec_stream_sink *sink;
  int out_open, err_open; /* output streams not yet closed (marker sent) */
  int client_gone;        /* the sink refused: the client is gone */
  int64_t drain_until, last_output;
} pump_state;

static void emit(pump_state *ps, int is_stderr, const char *data, size_t len, int close) {
  if (ps->client_gone) return;
  if (ps->sink->output(ps->sink->arg, is_stderr, data, len, close) != 0) ps->client_gone = 1;
}

/* Reads one chunk from an output fd and hands it on; at EOF (or EIO: no
 * process holds the terminal any more) closes it and sends the marker. */
static int pump_output(pump_state *ps, int is_stderr) {
  int *fd = is_stderr ? &ps->cmd->stderr_fd : &ps->cmd->stdout_fd;
  char buf[EXEC_STREAM_OUTPUT_CHUNK];
  ssize_t n = read(*fd, buf, sizeof buf);
  if (n > 0) {
    emit(ps, is_stderr, buf, (size_t)n, 0);
    return 1;
  }
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  if (ps->cmd->tty) { /* the master is stdin too: exec_cmd_free closes it */
    ps->out_open = 0;
  } else {
    close(*fd);
    *fd = -1;
    if (is_stderr) ps->err_open = 0;
    else ps->out_open = 0;
  }
  emit(ps, is_stderr, NULL, 0, 1);
  return 0;
}

/* Writes queued input; a close marker (pipes) closes the command's stdin.
 * A command that closed its end (EPIPE/EIO) drops what is left. Only this
 * thread removes chunks, so the head stays valid without the lock. */
static void pump_input(pump_state *ps) {
  exec_stream *s = ps->s;
  for (;;) {
    pthread_mutex_lock(&s->mu);
    exec_stream_chunk *c = s->in_head;
    pthread_mutex_unlock(&s->mu);
    if (!c || ps->cmd->stdin_fd < 0) return;
    if (!c->close) {
      ssize_t w = write(ps->cmd->stdin_fd, c->data + c->off, c->len - c->off);
      if (w < 0 && (errno == EAGAIN || errno == EINTR)) return;
      if (w < 0) { /* the reader is gone: nothing more can be delivered */
        pthread_mutex_lock(&s->mu);
        exec_stream_chunk *all = s->in_head;
        s->in_head = s->in_tail = NULL;
        s->in_bytes = 0;
        pthread_mutex_unlock(&s->mu);
        free_chunks(all);
        exec_cmd_close_stdin(ps->cmd);
        return;
      }
      c->off += (size_t)w;
      if (c->off < c->len) return;
    } else {
      exec_cmd_close_stdin(ps->cmd); /* a no-op on a tty (see exec_stream.h) */
    }
    free(exec_stream_pop(s));
  }
}

static void apply_resize(pump_state *ps) {
  unsigned short rows, cols;
  if (exec_stream_take_size(ps->s, &rows, &cols) && ps->cmd->tty)
    exec_cmd_resize(ps->cmd, rows, cols);
}

static int run_loop(pump_state *ps) {
  exec_stream *s = ps->s;
  exec_cmd *cmd = ps->cmd;
  for (;;) {
    if (ps->client_gone || exec_stream_ended(s)) return 0;
    if (!cmd->reaped && exec_cmd_reap(cmd, 0)) {
      ps->last_output = mono_ms();
      ps->drain_until = ps->last_output + EXEC_CMD_DRAIN_MAX_MS;
    }
    int64_t now = mono_ms();
    if (cmd->reaped) {
      if (!ps->out_open && !ps->err_open) return 1;
      if (now >= ps->drain_until || now - ps->last_output >= EXEC_CMD_DRAIN_IDLE_MS) return 1;
    }
    pthread_mutex_lock(&s->mu);
    int want_write = s->in_head != NULL && cmd->stdin_fd >= 0;
    pthread_mutex_unlock(&s->mu);

    struct pollfd pfd[5];
    int n = 0, wake_i, out_i = -1, err_i = -1, in_i = -1;
    pfd[wake_i = n++] = (struct pollfd){s->wake_fd, POLLIN, 0};
    if (ps->out_open) {
      short ev = POLLIN;
      if (cmd->tty && want_write) ev |= POLLOUT; /* the master is both */
      pfd[out_i = n++] = (struct pollfd){cmd->stdout_fd, ev, 0};
    }
    if (ps->err_open) pfd[err_i = n++] = (struct pollfd){cmd->stderr_fd, POLLIN, 0};
    if (want_write && !cmd->tty) pfd[in_i = n++] = (struct pollfd){cmd->stdin_fd, POLLOUT, 0};
    /* The exit itself is picked up by the reap at the loop's top. */
    if (!cmd->reaped && cmd->pidfd >= 0) pfd[n++] = (struct pollfd){cmd->pidfd, POLLIN, 0};
    int timeout_ms;
    if (cmd->reaped) timeout_ms = (int)(EXEC_CMD_DRAIN_IDLE_MS - (now - ps->last_output));
    else timeout_ms = cmd->pidfd >= 0 ? 1000 : 20; /* without a pidfd: a 20 ms tick */
    if (timeout_ms < 0) timeout_ms = 0;
    if (poll(pfd, (nfds_t)n, timeout_ms) < 0 && errno != EINTR) return -errno;

    if (pfd[wake_i].revents) {
      drain_wake(s);
      apply_resize(ps);
    }
    int got = 0;
    if (out_i >= 0 && (pfd[out_i].revents & (POLLIN | POLLHUP | POLLERR))) got |= pump_output(ps, 0);
    if (err_i >= 0 && pfd[err_i].revents) got |= pump_output(ps, 1);
    if (got) ps->last_output = mono_ms();
    if ((in_i >= 0 && pfd[in_i].revents) || (out_i >= 0 && (pfd[out_i].revents & POLLOUT)) ||
        pfd[wake_i].revents)
      pump_input(ps);
  }
}

int exec_stream_run(exec_stream *s, exec_cmd *c, const exec_stream_sink *sink) {
  pump_state ps = {.s = s, .cmd = c, .sink = sink, .out_open = 1, .err_open = !c->tty};
  apply_resize(&ps); /* one that raced with the start */
  int rc = run_loop(&ps);
  if (rc > 0) {
    /* A TTY has no separate stderr stream, so no marker for it (as Nomad's
     * own executor). */
    if (ps.out_open) emit(&ps, 0, NULL, 0, 1);
    if (ps.err_open) emit(&ps, 1, NULL, 0, 1);
    if (ps.client_gone) rc = 0;
  }
  return rc;
}
