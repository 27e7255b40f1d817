/* The spool watcher: one thread and one inotify instance with an
 * IN_MODIFY watch on each running execution's directory (a write to its
 * stdout or stderr file is reported there by name). On growth it trims the
 * spool and wakes the following ReadOutput streams. After each batch it
 * sleeps COALESCE_MS so that a task writing small pieces very often costs
 * the daemon at most a hundred wake-ups a second (inotify merges repeated
 * events meanwhile); an idle daemon sleeps in poll(). */
#include "execution.h"

#include "log.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define COALESCE_MS 10

typedef struct watched {
  int wd;
  execution *e; /* referenced */
  int dirty[2];
} watched;

static struct {
  pthread_mutex_t mu; /* guards items */
  watched *items;
  size_t n, cap;
  int infd, stopfd;
  pthread_t thread;
  int running;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER, .infd = -1, .stopfd = -1};

static int which_spool(const char *name) {
  if (!strcmp(name, "stdout")) return EX_STDOUT;
  if (!strcmp(name, "stderr")) return EX_STDERR;
  return -1;
}

/* Marks what changed; with S.mu held. */
static void note_events(const char *buf, ssize_t len) {
  for (const char *p = buf; p < buf + len;) {
    const struct inotify_event *ev = (const struct inotify_event *)p;
    p += sizeof *ev + ev->len;
    for (size_t i = 0; i < S.n; i++) {
      if (ev->mask & IN_Q_OVERFLOW) { /* events were lost: look at everything */
        S.items[i].dirty[0] = S.items[i].dirty[1] = 1;
      } else if (S.items[i].wd == ev->wd && ev->len) {
        int k = which_spool(ev->name);
        if (k >= 0) S.items[i].dirty[k] = 1;
      }
    }
  }
}

static void *watch_main(void *arg) {
  (void)arg;
  char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
  for (;;) {
    struct pollfd pfd[2] = {{S.infd, POLLIN, 0}, {S.stopfd, POLLIN, 0}};
    if (poll(pfd, 2, -1) < 0 && errno != EINTR) break;
    if (pfd[1].revents) break;
    pthread_mutex_lock(&S.mu);
    ssize_t n;
    while ((n = read(S.infd, buf, sizeof buf)) > 0) note_events(buf, n);
    /* Take the work out of the lock: trimming and waking streams may take
     * locks of executions and calls. */
    size_t k = 0;
    struct {
      execution *e;
      int dirty[2];
    } *work = S.n ? malloc(S.n * sizeof *work) : NULL;
    for (size_t i = 0; work && i < S.n; i++) {
      if (!S.items[i].dirty[0] && !S.items[i].dirty[1]) continue;
      ex_ref(S.items[i].e);
      work[k].e = S.items[i].e;
      work[k].dirty[0] = S.items[i].dirty[0];
      work[k].dirty[1] = S.items[i].dirty[1];
      S.items[i].dirty[0] = S.items[i].dirty[1] = 0;
      k++;
    }
    pthread_mutex_unlock(&S.mu);
    for (size_t i = 0; i < k; i++) {
      for (int fd = 0; fd < 2; fd++) {
        if (!work[i].dirty[fd]) continue;
        int rc = spool_trim(&work[i].e->out[fd], 0);
        if (rc < 0)
          log_msg(LOG_WARN, "cannot trim an output spool", "execution_id", work[i].e->id,
                  "stream", work[i].e->out[fd].name, "error", strerror(-rc), NULL);
        ex_wake_followers(work[i].e, fd);
      }
      ex_unref(work[i].e);
    }
    free(work);
    struct timespec nap = {0, COALESCE_MS * 1000000L};
    nanosleep(&nap, NULL);
  }
  return NULL;
}

int spool_watch_start(void) {
  S.infd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  S.stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int rc = S.infd < 0 || S.stopfd < 0 ? -errno : -pthread_create(&S.thread, NULL, watch_main, NULL);
  if (rc == 0) {
    S.running = 1;
    return 0;
  }
  if (S.infd >= 0) close(S.infd);
  if (S.stopfd >= 0) close(S.stopfd);
  S.infd = S.stopfd = -1;
  return rc;
}

void spool_watch_stop(void) {
  if (!S.running) return;
  uint64_t one = 1;
  ssize_t w = write(S.stopfd, &one, sizeof one);
  (void)w;
  pthread_join(S.thread, NULL);
  S.running = 0;
  pthread_mutex_lock(&S.mu);
  for (size_t i = 0; i < S.n; i++) ex_unref(S.items[i].e);
  free(S.items);
  S.items = NULL;
  S.n = S.cap = 0;
  pthread_mutex_unlock(&S.mu);
  close(S.infd);
  close(S.stopfd);
  S.infd = S.stopfd = -1;
}

int spool_watch_add(execution *e) {
  pthread_mutex_lock(&S.mu);
  int rc = 0;
  if (!S.running) {
    rc = -ESHUTDOWN;
  } else if (S.n == S.cap) {
    size_t cap = S.cap ? S.cap * 2 : 32;
    watched *grown = realloc(S.items, cap * sizeof *grown);
    if (grown) {
      S.items = grown;
      S.cap = cap;
    } else {
      rc = -ENOMEM;
    }
  }
  int wd = rc == 0 ? inotify_add_watch(S.infd, e->dir, IN_MODIFY | IN_ONLYDIR) : -1;
  if (rc == 0 && wd < 0) rc = -errno;
  if (rc == 0) {
    ex_ref(e);
    S.items[S.n++] = (watched){wd, e, {0, 0}};
  }
  pthread_mutex_unlock(&S.mu);
  if (rc < 0)
    log_msg(LOG_WARN, "cannot watch an execution's output; followers see it at its end",
            "execution_id", e->id, "error", strerror(-rc), NULL);
  return rc;
}

void spool_watch_remove(execution *e) {
  execution *found = NULL;
  pthread_mutex_lock(&S.mu);
  for (size_t i = 0; i < S.n; i++) {
    if (S.items[i].e != e) continue;
    found = e;
    int wd = S.items[i].wd;
    S.items[i] = S.items[--S.n];
    /* One wd per directory: only this execution used it. */
    if (S.running) inotify_rm_watch(S.infd, wd);
    break;
  }
  pthread_mutex_unlock(&S.mu);
  if (found) ex_unref(found);
}
