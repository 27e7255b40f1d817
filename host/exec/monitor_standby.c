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
 * after a start has succeeded, on a thread of its own (the refill thread):
 * posix_spawn returns only once the new monitor has exec'd, and StartTask's
 * reply should not wait for that. The thread is started on first use and
 * joined by exec_standby_stop; a forked child of this process starts with
 * neither the thread nor the standby monitors (pthread_atfork). */
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

/* The refill thread's work, guarded by mu; `changed` is signalled when a
 * request comes, when one is done, and at stop. */
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static pthread_t refill_thread;
static int refill_running; /* refill_thread exists and must be joined */
static char requested_path[PATH_MAX];
static int requested; /* a refill for requested_path is asked */
static int refilling; /* the thread is spawning now */

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

/* Spawns standby monitors for `monitor_path` until the set is full (ends
 * those of another path first). */
static void standby_refill(const char *monitor_path) {
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

static void *refill_main(void *arg) {
  (void)arg;
  char path[PATH_MAX];
  pthread_mutex_lock(&mu);
  for (;;) {
    while (!requested && !stopped) pthread_cond_wait(&changed, &mu);
    if (stopped) break;
    memcpy(path, requested_path, sizeof path);
    requested = 0;
    refilling = 1;
    pthread_mutex_unlock(&mu);
    standby_refill(path);
    pthread_mutex_lock(&mu);
    refilling = 0;
    pthread_cond_broadcast(&changed);
  }
  pthread_mutex_unlock(&mu);
  return NULL;
}

/* fork() copies neither the thread nor our children: the child starts
 * afresh (its standby fds are close-on-exec; the processes stay the
 * parent's). */
static void before_fork(void) { pthread_mutex_lock(&mu); }
static void after_fork_parent(void) { pthread_mutex_unlock(&mu); }
static void after_fork_child(void) {
  refill_running = requested = refilling = nstandby = 0;
  pthread_mutex_unlock(&mu);
}
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) {
  pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

void standby_refill_later(const char *monitor_path) {
  if (strlen(monitor_path) >= sizeof requested_path) return;
  pthread_once(&atfork_once, register_atfork);
  pthread_mutex_lock(&mu);
  if (stopped) {
    pthread_mutex_unlock(&mu);
    return;
  }
  strcpy(requested_path, monitor_path);
  requested = 1;
  if (!refill_running) refill_running = pthread_create(&refill_thread, NULL, refill_main, NULL) == 0;
  int queued = refill_running;
  if (queued) pthread_cond_signal(&changed);
  else requested = 0;
  pthread_mutex_unlock(&mu);
  if (!queued) standby_refill(monitor_path); /* no thread: on the caller's */
}

void exec_standby_settle(void) {
  pthread_mutex_lock(&mu);
  while ((requested || refilling) && !stopped) pthread_cond_wait(&changed, &mu);
  pthread_mutex_unlock(&mu);
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
  pthread_cond_broadcast(&changed);
  int join = refill_running;
  refill_running = 0;
  pthread_mutex_unlock(&mu);
  /* A spawn under way finishes first; standby_refill then discards it. */
  if (join) pthread_join(refill_thread, NULL);
  pthread_mutex_lock(&mu);
  int nold = nstandby;
  memcpy(old, standby, sizeof old);
  nstandby = 0;
  pthread_mutex_unlock(&mu);
  for (int i = 0; i < nold; i++) discard(&old[i]);
}
