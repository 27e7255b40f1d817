/* elide-relay: owns a daemon-mode task's stdout/stderr FIFOs (Nomad's
 * logmon reads them) so that they outlive the plugin: a kill -9 of the
 * plugin no longer ends logmon's read, and since the relay knows the next
 * offset of each stream, a chunk the plugin sends twice is written once.
 * libc only; protocol in relay_proto.h. */
#include "relay_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static struct {
  const char *path[2];
  int fifo[2];      /* -1: not open (yet) */
  int closed[2];    /* eof received */
  uint64_t next[2];
  int listen_fd;
  int client[RELAY_MAX_CLIENTS];
} R;

static unsigned char buf[RELAY_MAX_DATA];

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* One non-blocking attempt: 1 open (now blocking), 0 no reader yet, -errno. */
static int try_open(int i) {
  if (R.fifo[i] >= 0) return 1;
  int fd = open(R.path[i], O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return errno == ENXIO || errno == ENOENT || errno == EINTR ? 0 : -errno;
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  R.fifo[i] = fd;
  return 1;
}

/* Opens FIFO i, waiting for a reader while client c is connected. */
static int open_wait(int i, int c) {
  for (;;) {
    int rc = try_open(i);
    if (rc != 0) return rc < 0 ? rc : 0;
    struct pollfd p = {c, POLLRDHUP, 0};
    if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) return -EPIPE;
    sleep_ms(50);
  }
}

static int read_full(int fd, void *p, size_t n) {
  unsigned char *q = p;
  while (n) {
    ssize_t r = read(fd, q, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    q += r;
    n -= (size_t)r;
  }
  return 0;
}

/* Writes p[0..n) at next[i], reopening the FIFO when its reader went away. */
static int fifo_write(int i, const unsigned char *p, size_t n, int c) {
  while (n) {
    if (!R.path[i][0]) { /* no FIFO: discarded */
      R.next[i] += n;
      return 0;
    }
    int rc = open_wait(i, c);
    if (rc < 0) return rc;
    ssize_t w = write(R.fifo[i], p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EPIPE) { /* the reader restarted: a new one gets the rest */
      close(R.fifo[i]);
      R.fifo[i] = -1;
      continue;
    }
    if (w <= 0) return -errno;
    R.next[i] += (uint64_t)w;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void close_fifo(int i) {
  if (R.fifo[i] >= 0) close(R.fifo[i]);
  R.fifo[i] = -1;
  R.closed[i] = 1;
}

static void drop_client(int k) {
  close(R.client[k]);
  R.client[k] = -1;
}

/* Serves one request of client k; -1 when the client is gone. */
static int serve(int k, int *quit) {
  int c = R.client[k];
  relay_req q;
  if (read_full(c, &q, sizeof q) != 0) return -1;
  relay_rep rep = {0, 0, {0, 0}};
  int i = q.fd == 1;
  if (q.type == RELAY_DATA) {
    if (q.len > sizeof buf || q.fd > 1) return -1; /* not our protocol */
    if (read_full(c, buf, q.len) != 0) return -1;
    uint64_t end = q.offset + q.len;
    if (R.closed[i])
      rep.status = -EPIPE;
    else if (q.offset > R.next[i])
      rep.status = -ERANGE;
    else if (end > R.next[i])
      rep.status = fifo_write(i, buf + (R.next[i] - q.offset), (size_t)(end - R.next[i]), c);
  } else if (q.type == RELAY_SKIP) {
    if (q.offset > R.next[i]) R.next[i] = q.offset;
  } else if (q.type == RELAY_EOF) {
    close_fifo(i);
  } else if (q.type == RELAY_ABORT) {
    close_fifo(0);
    close_fifo(1);
    *quit = 1;
  } else if (q.type != RELAY_OFFSETS) {
    rep.status = -EINVAL;
  }
  rep.next[0] = R.next[0];
  rep.next[1] = R.next[1];
  rep.closed = (uint32_t)(R.closed[0] | R.closed[1] << 1);
  if (send(c, &rep, sizeof rep, MSG_NOSIGNAL) != (ssize_t)sizeof rep) return -1;
  return 0;
}

static void accept_client(void) {
  int c = accept4(R.listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return;
  int k = 0;
  while (k < RELAY_MAX_CLIENTS && R.client[k] >= 0) k++;
  if (k == RELAY_MAX_CLIENTS) { /* full: the oldest goes */
    drop_client(0);
    memmove(R.client, R.client + 1, sizeof R.client[0] * (RELAY_MAX_CLIENTS - 1));
    k = RELAY_MAX_CLIENTS - 1;
  }
  R.client[k] = c;
}

static _Noreturn void ready(int status, const char *msg) {
  relay_ready r;
  memset(&r, 0, sizeof r);
  r.status = status;
  r.pid = getpid();
  snprintf(r.msg, sizeof r.msg, "%s", msg);
  ssize_t n = write(RELAY_READY_FD, &r, sizeof r);
  (void)n;
  _exit(1);
}

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  signal(SIGPIPE, SIG_IGN);
  setsid();
  pid_t child = fork();
  if (child < 0) ready(-errno, "fork");
  if (child > 0) _exit(0);
  R.path[0] = argv[2];
  R.path[1] = argv[3];
  R.fifo[0] = R.fifo[1] = -1;
  for (int k = 0; k < RELAY_MAX_CLIENTS; k++) R.client[k] = -1;
  if (chdir(argv[1]) != 0) ready(-errno, "chdir to the state dir");
  unlink(RELAY_SOCKET);
  R.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  memcpy(a.sun_path, RELAY_SOCKET, sizeof RELAY_SOCKET);
  mode_t old = umask(0177);
  int b = R.listen_fd < 0 ? -1 : bind(R.listen_fd, (struct sockaddr *)&a, sizeof a);
  umask(old);
  if (b != 0 || listen(R.listen_fd, 8) != 0) ready(-errno, "bind relay.sock");
  relay_ready r;
  memset(&r, 0, sizeof r);
  r.pid = getpid();
  ssize_t n = write(RELAY_READY_FD, &r, sizeof r);
  close(RELAY_READY_FD);
  if (n != (ssize_t)sizeof r) _exit(1);

  int quit = 0;
  while (!quit && !(R.closed[0] && R.closed[1])) {
    struct pollfd p[1 + RELAY_MAX_CLIENTS];
    int np = 0;
    p[np++] = (struct pollfd){R.listen_fd, POLLIN, 0};
    for (int k = 0; k < RELAY_MAX_CLIENTS; k++)
      if (R.client[k] >= 0) p[np++] = (struct pollfd){R.client[k], POLLIN, 0};
    /* Hold the write ends as soon as the readers are there, so a reader
     * never sees EOF before the task's output is complete. */
    int waiting = 0;
    for (int i = 0; i < 2; i++)
      if (!R.closed[i] && R.path[i][0] && R.fifo[i] < 0 && try_open(i) == 0) waiting = 1;
    if (poll(p, (nfds_t)np, waiting ? 100 : -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int j = 1; j < np && !quit; j++) {
      if (!p[j].revents) continue;
      int k = 0;
      while (k < RELAY_MAX_CLIENTS && R.client[k] != p[j].fd) k++;
      if (k < RELAY_MAX_CLIENTS && serve(k, &quit) != 0) drop_client(k);
    }
    if (!quit && (p[0].revents & POLLIN)) accept_client(); /* after: fd numbers are reused */
  }
  unlink(RELAY_SOCKET);
  return 0;
}
