/* An execution's stdin: a FIFO in its directory. The monitor holds a write
 * end of its own for the task's life (exec_spec.stdin_path), so a daemon
 * restart never looks like EOF to the task; the daemon writes through its
 * own write end at the offset the client names, persists how far it got
 * (stdin.offset) and, on eof, records stdin.eof before closing both ends. */
#include "execution.h"

#include "log.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PIPE_BYTES (1 << 20) /* the FIFO's buffer (the unprivileged maximum by default) */
#define WRITE_WAIT_MS 1000    /* how long a write waits for the task to read */

int ex_stdin_prepare(execution *e, char *err, size_t errlen) {
  char path[PATH_MAX + 8];
  snprintf(path, sizeof path, "%s/stdin", e->dir);
  if (mkfifo(path, 0600) < 0) {
    int rc = -errno;
    snprintf(err, errlen, "cannot create the stdin FIFO %s: %s", path, strerror(-rc));
    return rc;
  }
  return 0;
}

/* With stdin_mu held: EOF for the task (our end and the monitor's). */
static void close_ends_locked(execution *e) {
  if (e->stdin_fd >= 0) close(e->stdin_fd);
  e->stdin_fd = -1;
  pthread_mutex_lock(&e->mu);
  if (e->proc && e->state == EX_RUNNING) exec_close_stdin(e->proc);
  pthread_mutex_unlock(&e->mu);
}

void ex_stdin_attach(execution *e) {
  pthread_mutex_lock(&e->stdin_mu);
  store_kv kv = {"offset", 0};
  store_read_kv(e->dir, "stdin.offset", &kv, 1, NULL, NULL, 0);
  e->stdin_offset = kv.value > 0 ? (uint64_t)kv.value : 0;
  e->stdin_eof = store_exists(e->dir, "stdin.eof");
  if (e->stdin_eof) {
    close_ends_locked(e); /* again: a restart may have come in between */
  } else if (e->stdin_fd < 0) {
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/stdin", e->dir);
    /* ENXIO: nobody reads it any more (the task closed its stdin). */
    e->stdin_fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    if (e->stdin_fd >= 0) fcntl(e->stdin_fd, F_SETPIPE_SZ, PIPE_BYTES);
  }
  pthread_mutex_unlock(&e->stdin_mu);
}

void ex_stdin_close(execution *e) {
  pthread_mutex_lock(&e->stdin_mu);
  if (e->stdin_fd >= 0) close(e->stdin_fd);
  e->stdin_fd = -1;
  pthread_mutex_unlock(&e->stdin_mu);
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes as much as the task takes within WRITE_WAIT_MS; returns the bytes
 * written, or -errno when none could be (EPIPE: nobody reads). */
static ssize_t write_some(int fd, const uint8_t *p, size_t len) {
  size_t done = 0;
  int64_t deadline = mono_ms() + WRITE_WAIT_MS;
  while (done < len) {
    ssize_t n = write(fd, p + done, len - done);
    if (n > 0) {
      done += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return done ? (ssize_t)done : -errno;
    int64_t left = deadline - mono_ms();
    if (left <= 0) break;
    struct pollfd pfd = {fd, POLLOUT, 0};
    poll(&pfd, 1, (int)left);
  }
  return (ssize_t)done;
}

int ex_stdin_write(execution *e, uint64_t offset, const uint8_t *data, size_t len, int eof,
                   uint64_t *next_offset, char *err, size_t errlen) {
  if (!e->has_stdin) {
    snprintf(err, errlen, "execution \"%s\" was started without \"stdin\"", e->id);
    return GRPC_STATUS_FAILED_PRECONDITION;
  }
  int code = 0;
  pthread_mutex_lock(&e->stdin_mu);
  uint64_t have = e->stdin_offset;
  *next_offset = have;
  if (offset > have) {
    snprintf(err, errlen, "field \"offset\": %" PRIu64 " is beyond the %" PRIu64
             " bytes written so far", offset, have);
    code = GRPC_STATUS_OUT_OF_RANGE;
    goto out;
  }
  /* Bytes before `have` were written already: a repeat is acknowledged. */
  uint64_t skip = have - offset;
  const uint8_t *p = data + (skip < len ? skip : len);
  size_t todo = skip < len ? len - (size_t)skip : 0;
  if (todo && e->stdin_eof) {
    snprintf(err, errlen, "stdin was closed (eof) at offset %" PRIu64, have);
    code = GRPC_STATUS_FAILED_PRECONDITION;
    goto out;
  }
  if (todo) {
    pthread_mutex_lock(&e->mu);
    int ended = e->state == EX_ENDED;
    pthread_mutex_unlock(&e->mu);
    ssize_t n = ended || e->stdin_fd < 0 ? -EPIPE : write_some(e->stdin_fd, p, todo);
    if (n < 0) {
      snprintf(err, errlen, "%s", ended ? "the execution has ended"
                                        : "the execution no longer reads its stdin");
      code = GRPC_STATUS_FAILED_PRECONDITION;
      goto out;
    }
    e->stdin_offset += (uint64_t)n;
    store_kv kv = {"offset", (int64_t)e->stdin_offset};
    int rc = store_write_kv(e->dir, "stdin.offset", &kv, 1, NULL, NULL);
    if (rc < 0)
      log_msg(LOG_WARN, "cannot record the stdin offset", "execution_id", e->id, "error",
              strerror(-rc), NULL);
  }
  if (eof && !e->stdin_eof && e->stdin_offset == offset + len) {
    int rc = store_write(e->dir, "stdin.eof", "", 0);
    if (rc < 0) {
      snprintf(err, errlen, "cannot record the end of stdin: %s", strerror(-rc));
      code = GRPC_STATUS_INTERNAL;
      goto out;
    }
    e->stdin_eof = 1;
    close_ends_locked(e);
  }
  *next_offset = e->stdin_offset;
out:
  pthread_mutex_unlock(&e->stdin_mu);
  return code;
}
