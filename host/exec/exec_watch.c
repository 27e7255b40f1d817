/* The watcher: one thread per plugin process that learns of task exits
 * without polling, and the waiting side (exec_wait, exec_poll, exec_on_exit,
 * exec_signal).
 *
 * It epolls one inotify fd (IN_MOVED_TO on every watched task's state
 * directory: the monitor renames the exit record into place) and every
 * monitor's pidfd (readable when the monitor exits; the monitor is then
 * reaped if it is our child). Without pidfd support (see exec_monref.c) the
 * monitors are instead checked every POLL_MS; exit records are still seen
 * at once. A task ends with its exit record, or, if its monitor exits
 * without one, with exit_code -1 and `err` set. One lock guards the
 * registry and every registered task's mutable fields; one condvar is
 * broadcast on every change. */
#include "exec_internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define INOTIFY_KEY 0 /* epoll keys of the inotify fd and the kick eventfd; */
#define KICK_KEY 1    /* task ids start above them */
#define POLL_MS 200   /* monitor checks without pidfds */

static struct {
  pthread_mutex_t lock;
  pthread_cond_t cond; /* CLOCK_MONOTONIC */
  int epfd;
  int infd;
  int kickfd; /* wakes the watcher to re-read npolled */
  int npolled;
  uint64_t next_id;
  exec_task *tasks;
  int start_rc;
  char start_err[160];
} W = {.lock = PTHREAD_MUTEX_INITIALIZER, .epfd = -1, .infd = -1, .kickfd = -1,
       .next_id = KICK_KEY};

static pthread_once_t start_once = PTHREAD_ONCE_INIT;

static exec_task *find_task(uint64_t id) {
  for (exec_task *t = W.tasks; t; t = t->next)
    if (t->id == id) return t;
  return NULL;
}

static void finish_locked(exec_task *t, const exec_result *r) {
  if (t->ended) return;
  t->result = *r;
  t->ended = 1;
  pthread_cond_broadcast(&W.cond);
}

void task_set_result(exec_task *t, const exec_result *r) {
  pthread_mutex_lock(&W.lock);
  finish_locked(t, r);
  pthread_mutex_unlock(&W.lock);
}

/* Ends t from its exit record if the record exists. */
static void check_record_locked(exec_task *t) {
  if (t->ended) return;
  exec_result r;
  int rc = sys_read_exit_record(t->state_dir, &r);
  if (rc == 0) {
    finish_locked(t, &r);
  } else if (rc == -EINVAL) {
    memset(&r, 0, sizeof r);
    r.exit_code = -1;
    r.finished_at_ns = sys_realtime_ns();
    snprintf(r.err, sizeof r.err, "corrupt exit record %s/%s", t->state_dir, MON_EXIT_RECORD);
    finish_locked(t, &r);
  }
}

/* Looks at t's monitor; once it has exited (and was reaped if it was our
 * child), stops watching it and ends the task if it left no record. */
static void check_monitor_locked(exec_task *t) {
  char how[48];
  if (!monref_check(&t->mon, how, sizeof how)) return;
  if (t->mon.pidfd >= 0) epoll_ctl(W.epfd, EPOLL_CTL_DEL, t->mon.pidfd, NULL);
  monref_close(&t->mon);
  if (t->polled) W.npolled--;
  t->polled = 0;
  check_record_locked(t);
  if (t->ended) return;
  exec_result r;
  memset(&r, 0, sizeof r);
  r.exit_code = -1;
  r.finished_at_ns = sys_realtime_ns();
  snprintf(r.err, sizeof r.err,
           "task monitor %d exited%s without recording the task's exit; see %s/%s",
           (int)t->mon.pid, how, t->state_dir, MON_LOG);
  finish_locked(t, &r);
}

static void handle_inotify_locked(void) {
  /* Aligned for struct inotify_event, as inotify(7) asks. */
  char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  for (;;) {
    ssize_t n = read(W.infd, buf, sizeof buf);
    if (n <= 0) return; /* EAGAIN: drained */
    for (char *p = buf; p < buf + n;) {
      const struct inotify_event *ev = (const struct inotify_event *)p;
      p += sizeof *ev + ev->len;
      for (exec_task *t = W.tasks; t; t = t->next) {
        if (ev->mask & IN_Q_OVERFLOW) {
          check_record_locked(t); /* events were lost: look at every task */
        } else if (t->wd == ev->wd) {
          if (ev->mask & IN_IGNORED) t->wd = -1; /* the directory went away */
          else if (ev->len && strcmp(ev->name, MON_EXIT_RECORD) == 0) check_record_locked(t);
        }
      }
    }
  }
}

/* Runs every due callback outside the lock, one at a time; watch_remove
 * waits on cb_running, so t stays valid meanwhile. */
static void run_callbacks_locked(void) {
again:
  for (exec_task *t = W.tasks; t; t = t->next) {
    if (!t->ended || !t->cb || t->cb_fired) continue;
    void (*cb)(void *, const exec_result *) = t->cb;
    void *arg = t->cb_arg;
    exec_result r = t->result;
    t->cb_fired = 1;
    t->cb_running = 1;
    pthread_mutex_unlock(&W.lock);
    cb(arg, &r);
    pthread_mutex_lock(&W.lock);
    t->cb_running = 0;
    pthread_cond_broadcast(&W.cond);
    goto again;
  }
}

static void *watcher_main(void *arg) {
  (void)arg;
  int timeout = -1;
  for (;;) {
    struct epoll_event ev[32];
    int n = epoll_wait(W.epfd, ev, 32, timeout);
    if (n < 0) n = 0; /* EINTR; nothing else can fail on a valid epoll fd */
    pthread_mutex_lock(&W.lock);
    for (int i = 0; i < n; i++) {
      if (ev[i].data.u64 == INOTIFY_KEY) {
        handle_inotify_locked();
      } else if (ev[i].data.u64 == KICK_KEY) {
        uint64_t v;
        ssize_t r = read(W.kickfd, &v, sizeof v);
        (void)r;
      } else {
        /* A task removed after epoll_wait returned is simply not found. */
        exec_task *t = find_task(ev[i].data.u64);
        if (t) check_monitor_locked(t);
      }
    }
    if (W.npolled) {
      for (exec_task *t = W.tasks; t; t = t->next)
        if (t->polled) check_monitor_locked(t);
    }
    timeout = W.npolled ? POLL_MS : -1;
    run_callbacks_locked();
    pthread_mutex_unlock(&W.lock);
  }
  return NULL;
}

static void start_watcher(void) {
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&W.cond, &ca);
  pthread_condattr_destroy(&ca);

  W.epfd = epoll_create1(EPOLL_CLOEXEC);
  W.infd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  W.kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = INOTIFY_KEY};
  struct epoll_event kev = {.events = EPOLLIN, .data.u64 = KICK_KEY};
  if (W.epfd < 0 || W.infd < 0 || W.kickfd < 0 ||
      epoll_ctl(W.epfd, EPOLL_CTL_ADD, W.infd, &ev) < 0 ||
      epoll_ctl(W.epfd, EPOLL_CTL_ADD, W.kickfd, &kev) < 0) {
    W.start_rc = -errno;
    snprintf(W.start_err, sizeof W.start_err, "cannot set up the exit watcher: %s",
             strerror(errno));
    return;
  }
  /* The watcher takes no signals: they belong to the plugin's own threads. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t pa;
  pthread_attr_init(&pa);
  pthread_attr_setdetachstate(&pa, PTHREAD_CREATE_DETACHED);
  pthread_t th;
  int rc = pthread_create(&th, &pa, watcher_main, NULL);
  pthread_attr_destroy(&pa);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    W.start_rc = -rc;
    snprintf(W.start_err, sizeof W.start_err, "cannot start the exit watcher: %s", strerror(rc));
  }
}

int watch_start(char *err, size_t errlen) {
  pthread_once(&start_once, start_watcher);
  if (W.start_rc < 0) snprintf(err, errlen, "%s", W.start_err);
  return W.start_rc;
}

int watch_add(exec_task *t, char *err, size_t errlen) {
  int rc = watch_start(err, errlen);
  if (rc < 0) return rc;
  pthread_mutex_lock(&W.lock);
  t->id = ++W.next_id;
  t->wd = -1;
  if (!t->ended) {
    /* Watch first, then look: a record renamed in between is seen by both,
     * and finish_locked keeps the first. */
    t->wd = inotify_add_watch(W.infd, t->state_dir, IN_MOVED_TO | IN_ONLYDIR);
    if (t->wd < 0) {
      rc = -errno;
      snprintf(err, errlen, "cannot watch %s: %s", t->state_dir, strerror(errno));
      pthread_mutex_unlock(&W.lock);
      return rc;
    }
  }
  /* Also for an ended task whose monitor lives on (orphans): reap it later. */
  if (t->mon.pidfd >= 0 && !t->mon.gone) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = t->id};
    if (epoll_ctl(W.epfd, EPOLL_CTL_ADD, t->mon.pidfd, &ev) < 0) {
      rc = -errno;
      snprintf(err, errlen, "cannot watch monitor %d: %s", (int)t->mon.pid, strerror(errno));
      int shared = 0;
      for (exec_task *o = W.tasks; o; o = o->next) shared |= o->wd == t->wd;
      if (t->wd >= 0 && !shared) inotify_rm_watch(W.infd, t->wd);
      t->wd = -1;
      pthread_mutex_unlock(&W.lock);
      return rc;
    }
  } else if (!t->mon.gone) {
    t->polled = 1;
    if (W.npolled++ == 0) {
      uint64_t one = 1;
      ssize_t r = write(W.kickfd, &one, sizeof one); /* switch to timed waits */
      (void)r;
    }
  }
  t->next = W.tasks;
  W.tasks = t;
  check_record_locked(t);
  pthread_mutex_unlock(&W.lock);
  return 0;
}

void watch_remove(exec_task *t) {
  pthread_mutex_lock(&W.lock);
  for (exec_task **pp = &W.tasks; *pp; pp = &(*pp)->next) {
    if (*pp == t) {
      *pp = t->next;
      break;
    }
  }
  t->next = NULL;
  if (t->mon.pidfd >= 0 && !t->mon.gone) epoll_ctl(W.epfd, EPOLL_CTL_DEL, t->mon.pidfd, NULL);
  if (t->polled) W.npolled--;
  t->polled = 0;
  if (t->wd >= 0) {
    /* inotify hands out one wd per directory: keep it while others use it. */
    int shared = 0;
    for (exec_task *o = W.tasks; o; o = o->next) shared |= o->wd == t->wd;
    if (!shared) inotify_rm_watch(W.infd, t->wd);
    t->wd = -1;
  }
  while (t->cb_running) pthread_cond_wait(&W.cond, &W.lock);
  pthread_mutex_unlock(&W.lock);
}

void watch_retire(exec_task *t, const char *why) {
  pthread_mutex_lock(&W.lock);
  check_record_locked(t);
  if (!t->ended) {
    exec_result r;
    memset(&r, 0, sizeof r);
    r.exit_code = -1;
    r.finished_at_ns = sys_realtime_ns();
    snprintf(r.err, sizeof r.err, "%s", why);
    finish_locked(t, &r);
  }
  while (t->waiters) pthread_cond_wait(&W.cond, &W.lock);
  pthread_mutex_unlock(&W.lock);
}

int watch_send(exec_task *t, int value) {
  int rc = 0;
  pthread_mutex_lock(&W.lock);
  if (t->ended || t->mon.gone) {
    rc = -ESRCH;
  } else {
    /* The record may exist before the watcher has read it. */
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", t->state_dir, MON_EXIT_RECORD);
    if (access(path, F_OK) == 0) rc = -ESRCH;
  }
  /* Under the lock: the watcher cannot reap the monitor meanwhile. */
  if (rc == 0) rc = monref_send(&t->mon, MON_CTL_SIGNAL, value);
  pthread_mutex_unlock(&W.lock);
  return rc;
}

int exec_wait(exec_task *t, int timeout_ms, exec_result *out) {
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  if (timeout_ms > 0) {
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000L;
    }
  }
  pthread_mutex_lock(&W.lock);
  t->waiters++;
  while (!t->ended && timeout_ms != 0) {
    if (timeout_ms < 0) pthread_cond_wait(&W.cond, &W.lock);
    else if (pthread_cond_timedwait(&W.cond, &W.lock, &deadline) == ETIMEDOUT) break;
  }
  int ended = t->ended;
  if (ended) *out = t->result;
  if (--t->waiters == 0) pthread_cond_broadcast(&W.cond); /* watch_retire may wait for this */
  pthread_mutex_unlock(&W.lock);
  return ended;
}

int exec_poll(exec_task *t, exec_result *out) { return exec_wait(t, 0, out); }

void exec_on_exit(exec_task *t, void (*cb)(void *arg, const exec_result *r), void *arg) {
  pthread_mutex_lock(&W.lock);
  t->cb = cb;
  t->cb_arg = arg;
  t->cb_fired = 0;
  if (!t->ended || !cb) {
    pthread_mutex_unlock(&W.lock);
    return;
  }
  t->cb_fired = 1; /* ended already: run it here, and not on the watcher */
  exec_result r = t->result;
  pthread_mutex_unlock(&W.lock);
  cb(arg, &r);
}
