/* The timer thread (see timers.h): a list sorted by deadline on the
 * monotonic clock, one condition variable. */
#include "timers.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

typedef struct timer {
  uint64_t id;
  int64_t at_ns; /* CLOCK_MONOTONIC */
  timer_fn fire, release;
  void *arg;
  struct timer *next;
} timer;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cond; /* CLOCK_MONOTONIC */
  timer *head;         /* sorted by at_ns */
  uint64_t next_id;
  int running, stopping;
  pthread_t thread;
} T = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t timers_realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t timers_ms_until_realtime(int64_t at_ns) {
  int64_t d = at_ns - timers_realtime_ns();
  return d <= 0 ? 0 : (d + 999999) / 1000000;
}

static void *timer_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&T.mu);
  while (!T.stopping) {
    if (!T.head) {
      pthread_cond_wait(&T.cond, &T.mu);
      continue;
    }
    int64_t now = mono_ns();
    if (T.head->at_ns > now) {
      struct timespec ts = {T.head->at_ns / 1000000000LL, T.head->at_ns % 1000000000LL};
      pthread_cond_timedwait(&T.cond, &T.mu, &ts);
      continue;
    }
    timer *t = T.head;
    T.head = t->next;
    pthread_mutex_unlock(&T.mu);
    t->fire(t->arg);
    if (t->release) t->release(t->arg);
    free(t);
    pthread_mutex_lock(&T.mu);
  }
  pthread_mutex_unlock(&T.mu);
  return NULL;
}

int timers_start(void) {
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&T.cond, &ca);
  pthread_condattr_destroy(&ca);
  T.stopping = 0;
  int rc = pthread_create(&T.thread, NULL, timer_main, NULL);
  if (rc != 0) {
    pthread_cond_destroy(&T.cond);
    return -rc;
  }
  T.running = 1;
  return 0;
}

void timers_stop(void) {
  if (!T.running) return;
  pthread_mutex_lock(&T.mu);
  T.stopping = 1;
  pthread_cond_broadcast(&T.cond);
  timer *list = T.head;
  T.head = NULL;
  pthread_mutex_unlock(&T.mu);
  pthread_join(T.thread, NULL);
  while (list) {
    timer *t = list;
    list = t->next;
    if (t->release) t->release(t->arg);
    free(t);
  }
  pthread_cond_destroy(&T.cond);
}

uint64_t timers_add(int64_t delay_ms, timer_fn fire, timer_fn release, void *arg) {
  timer *t = calloc(1, sizeof *t);
  pthread_mutex_lock(&T.mu);
  if (!t || T.stopping || !T.running) {
    pthread_mutex_unlock(&T.mu);
    free(t);
    if (release) release(arg);
    return 0;
  }
  t->id = ++T.next_id;
  t->at_ns = mono_ns() + (delay_ms > 0 ? delay_ms * 1000000LL : 0);
  t->fire = fire;
  t->release = release;
  t->arg = arg;
  timer **pp = &T.head;
  while (*pp && (*pp)->at_ns <= t->at_ns) pp = &(*pp)->next;
  t->next = *pp;
  *pp = t;
  uint64_t id = t->id;
  if (T.head == t) pthread_cond_signal(&T.cond);
  pthread_mutex_unlock(&T.mu);
  return id;
}

int timers_cancel(uint64_t id) {
  if (!id) return 0;
  pthread_mutex_lock(&T.mu);
  timer *found = NULL;
  for (timer **pp = &T.head; *pp; pp = &(*pp)->next) {
    if ((*pp)->id == id) {
      found = *pp;
      *pp = found->next;
      break;
    }
  }
  pthread_mutex_unlock(&T.mu);
  if (!found) return 0;
  if (found->release) found->release(found->arg);
  free(found);
  return 1;
}
