/* Standby monitors: cold elide-monitors spawned ahead of need.
 *
 * A cold start's critical path would otherwise include the posix_spawn and
 * the execve of elide-monitor (about half a millisecond on a small VM). A
 * standby monitor has done both and blocks in its read of the spec (step 2
 * of the protocol in monitor_main.c), so exec_start can send the spec at
 * once. It is exactly a cold monitor spawned earlier: same attributes, one
 * socket on MON_SPEC_FD, an empty environment, our unreaped child. Closing
 * our end of its socket makes it exit (its read of the spec fails; it has
 * no state directory yet, so it leaves nothing behind).
 *
 * The set is kept for one monitor path (a process uses one) and topped up
 * by exec_start after a start has succeeded, by then off the task's path. */
#include "exec_internal.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Two: a task started while the first replacement is still being spawned
 * finds one too. Each idle monitor costs about 70 KiB of private memory. */
#define STANDBY_COUNT 2

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char standby_path[PATH_MAX]; /* "" until the first refill */
static standby_monitor standby[STANDBY_COUNT];
static int nstandby;
static int stopped; /* exec_standby_stop ran: no more spawns */

/* Ends a standby monitor we no longer want (or that already died): EOF on
 * its socket, then reaped; SIGKILL if it does not exit within a second. */
static void discard(standby_monitor *m) {
  close(m->fd);
  if (!monref_wait(&m->mon, 1000)) {
    monref_send(&m->mon, SIGKILL, 0);
    monref_wait(&m->mon, -1);
  }
  monref_close(&m->mon);
}

/* Whether a standby monitor still waits for its spec: it never writes
 * before the spec, so anything readable on its socket is its EOF. */
static int waiting(standby_monitor *m) {
  struct pollfd p = {.fd = m->fd, .events = POLLIN};
  if (poll(&p, 1, 0) != 0) return 0;
  return !monref_check(&m->mon, NULL, 0);
}

int standby_take(const char *monitor_path, standby_monitor *out) {
  for (;;) {
    pthread_mutex_lock(&mu);
    if (stopped || nstandby == 0 || strcmp(monitor_path, standby_path) != 0) {
      pthread_mutex_unlock(&mu);
      return 0;
    }
    standby_monitor m = standby[--nstandby];
    pthread_mutex_unlock(&mu);
    if (waiting(&m)) {
      *out = m;
      return 1;
    }
    discard(&m); /* killed while idle: reaped here, try the next one */
  }
}

/* One new standby monitor for `path`: 0, or -errno. */
static int spawn_standby(const char *path, standby_monitor *m) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return -errno;
  pid_t pid;
  int rc = monitor_spawn(path, sv[1], &pid);
  close(sv[1]);
  if (rc < 0) {
    close(sv[0]);
    return rc;
  }
  m->fd = sv[0];
  m->pid = pid;
  if ((rc = monref_child(&m->mon, pid)) < 0) {
    close(sv[0]); /* it exits on EOF; a child we cannot track is reaped here */
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR) {
    }
    return rc;
  }
  return 0;
}

void standby_refill(const char *monitor_path) {
  if (strlen(monitor_path) >= sizeof standby_path) return;
  for (;;) {
    standby_monitor old[STANDBY_COUNT];
    int nold = 0;
    pthread_mutex_lock(&mu);
    if (strcmp(monitor_path, standby_path) != 0) { /* another path: start over */
      nold = nstandby;
      memcpy(old, standby, sizeof old);
      nstandby = 0;
      strcpy(standby_path, monitor_path);
    }
    int wanted = !stopped && nstandby < STANDBY_COUNT;
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < nold; i++) discard(&old[i]);
    if (!wanted) return;
    standby_monitor m;
    if (spawn_standby(monitor_path, &m) < 0) return; /* the next start spawns its own */
    pthread_mutex_lock(&mu);
    int kept = !stopped && nstandby < STANDBY_COUNT && strcmp(monitor_path, standby_path) == 0;
    if (kept) standby[nstandby++] = m;
    pthread_mutex_unlock(&mu);
    if (!kept) { /* another thread filled the set meanwhile */
      discard(&m);
      return;
    }
  }
}

int exec_standby_count(void) {
  pthread_mutex_lock(&mu);
  int n = nstandby;
  pthread_mutex_unlock(&mu);
  return n;
}

void exec_standby_stop(void) {
  standby_monitor old[STANDBY_COUNT];
  pthread_mutex_lock(&mu);
  stopped = 1;
  int nold = nstandby;
  memcpy(old, standby, sizeof old);
  nstandby = 0;
  pthread_mutex_unlock(&mu);
  for (int i = 0; i < nold; i++) discard(&old[i]);
}
