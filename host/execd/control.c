/* Controlling a running execution: cancel with a grace period, signals,
 * the timeout, SIGKILL escalation, stats, and WaitExecution waiters. The
 * daemon's intent (cancel requested, timeout fired) is persisted before any
 * signal is sent, so the exit reason survives a daemon restart. */
#include "execution.h"

#include "api.h"
#include "limits.h"
#include "log.h"
#include "store.h"
#include "timers.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct waiter {
  rpc_call *call; /* referenced */
  execution *e;   /* referenced */
  uint64_t timer;
  int in_list; /* guarded by e->mu */
  waiter *next;
  atomic_int refs; /* the list, the timer, the call's user pointer */
};

/* ---- process operations (with e->mu held, so the process cannot be
 * destroyed meanwhile; the module's op when it is loaded, else exec's) ---- */

static int proc_signal_locked(execution *e, int sig) {
  if (!e->proc) return -ESRCH;
  if (e->module && e->module->desc->ops->signal)
    return e->module->desc->ops->signal(e->module_state, (elide_proc *)e->proc, sig);
  return exec_signal(e->proc, sig);
}

/* ---- stop intent ---- */

static int persist_stop(execution *e) {
  static const char *const names[] = {"none", "cancel", "timeout"};
  store_kv kv[] = {{"signal", e->stop_signal}, {"kill_at_ns", e->kill_at_ns}};
  return store_write_kv(e->dir, "stop", kv, 2, "reason", names[e->stop]);
}

static void kill_fire(void *arg) {
  execution *e = arg;
  pthread_mutex_lock(&e->mu);
  if (e->state == EX_RUNNING) {
    log_msg(LOG_INFO, "grace period over: killing the execution", "execution_id", e->id, NULL);
    proc_signal_locked(e, SIGKILL);
  }
  pthread_mutex_unlock(&e->mu);
}

static void unref_arg(void *arg) { ex_unref(arg); }

/* Sends the stop signal, then SIGKILL at kill_at_ns (at once if due). */
static void deliver_stop_locked(execution *e) {
  if (e->state != EX_RUNNING) return; /* a starting execution: ex_arm_timers does it */
  int rc = proc_signal_locked(e, e->stop_signal);
  if (rc < 0 && rc != -ESRCH)
    log_msg(LOG_WARN, "cannot signal the execution", "execution_id", e->id, "error",
            strerror(-rc), NULL);
  int64_t ms = timers_ms_until_realtime(e->kill_at_ns);
  if (ms <= 0) {
    proc_signal_locked(e, SIGKILL);
    return;
  }
  timers_cancel(e->kill_timer);
  ex_ref(e);
  e->kill_timer = timers_add(ms, kill_fire, unref_arg, e);
}

/* Records the intent (first one wins; a later one may only bring the
 * SIGKILL forward) and acts on it. */
static int stop_locked(execution *e, ex_stop why, int sig, uint64_t grace_ms, char *err,
                       size_t errlen) {
  int64_t kill_at = timers_realtime_ns() + (int64_t)(grace_ms > INT32_MAX ? INT32_MAX : grace_ms) *
                                               1000000LL;
  if (e->stop == EX_STOP_NONE) {
    e->stop = why;
    e->stop_signal = sig;
    e->kill_at_ns = kill_at;
  } else if (kill_at < e->kill_at_ns) {
    e->kill_at_ns = kill_at;
  } else {
    return 0; /* nothing new to do */
  }
  if (e->state == EX_STARTING) return 0; /* persisted and sent by ex_arm_timers */
  int rc = persist_stop(e);
  if (rc < 0) {
    snprintf(err, errlen, "cannot record the stop in %s: %s", e->dir, strerror(-rc));
    return rc;
  }
  deliver_stop_locked(e);
  return 0;
}

int ex_cancel(execution *e, int sig, uint64_t grace_ms, char *err, size_t errlen) {
  pthread_mutex_lock(&e->mu);
  int ended = e->state == EX_ENDED;
  int rc = ended ? 0 : stop_locked(e, EX_STOP_CANCEL, sig ? sig : SIGTERM, grace_ms, err, errlen);
  pthread_mutex_unlock(&e->mu);
  if (!ended && rc == 0)
    log_msg(LOG_INFO, "execution cancel requested", "execution_id", e->id, NULL);
  return rc;
}

int ex_signal(execution *e, int sig) {
  pthread_mutex_lock(&e->mu);
  int rc = e->state == EX_RUNNING ? proc_signal_locked(e, sig)
           : e->state == EX_ENDED ? -ESRCH
                                  : -EAGAIN;
  pthread_mutex_unlock(&e->mu);
  return rc;
}

static void timeout_fire(void *arg) {
  execution *e = arg;
  char err[256];
  pthread_mutex_lock(&e->mu);
  e->timeout_timer = 0;
  if (e->state == EX_RUNNING && e->stop == EX_STOP_NONE) {
    log_msg(LOG_INFO, "execution timed out", "execution_id", e->id, NULL);
    int sig = e->req->kill_signal ? e->req->kill_signal : SIGTERM;
    if (stop_locked(e, EX_STOP_TIMEOUT, sig, e->req->kill_grace_ms, err, sizeof err) < 0)
      log_msg(LOG_ERROR, "cannot stop a timed-out execution", "execution_id", e->id, "error",
              err, NULL);
  }
  pthread_mutex_unlock(&e->mu);
}

void ex_arm_timers(execution *e) {
  pthread_mutex_lock(&e->mu);
  if (e->state == EX_RUNNING && e->stop != EX_STOP_NONE) {
    /* A stop requested before the start completed, or recorded before a
     * restart (sent again: the first one may never have been delivered). */
    int rc = persist_stop(e);
    if (rc < 0)
      log_msg(LOG_ERROR, "cannot record the stop", "execution_id", e->id, "error", strerror(-rc),
              NULL);
    deliver_stop_locked(e);
  } else if (e->state == EX_RUNNING && e->req->timeout_ms) {
    int64_t at = e->started_at_ns + (int64_t)e->req->timeout_ms * 1000000LL;
    ex_ref(e);
    e->timeout_timer = timers_add(timers_ms_until_realtime(at), timeout_fire, unref_arg, e);
  }
  pthread_mutex_unlock(&e->mu);
}

void ex_stats(execution *e, EP(ExecutionStats) * out) {
  pthread_mutex_lock(&e->mu);
  if (e->state == EX_RUNNING && e->proc) {
    elide_stats s;
    memset(&s, 0, sizeof s);
    s.size = sizeof s;
    int rc = e->module && e->module->desc->ops->stats
                 ? e->module->desc->ops->stats(e->module_state, (elide_proc *)e->proc, &s)
                 : -ENOTSUP;
    if (rc == 0) {
      if (s.memory_rss > e->peak_rss) e->peak_rss = s.memory_rss;
      if (s.memory_peak > e->peak_rss) e->peak_rss = s.memory_peak;
      out->cpu_user_ns = s.cpu_user_ns;
      out->cpu_system_ns = s.cpu_system_ns;
      out->memory_current_bytes = s.memory_rss;
      out->processes = s.nprocs;
    }
    /* With cgroups: the group's own accounting (every process in it). */
    cgroup_stats cs;
    if (ex_limits_stats(e, &cs) == 0) {
      out->memory_current_bytes = cs.usage;
      if (cs.has_max_usage && cs.max_usage > e->peak_rss) e->peak_rss = cs.max_usage;
      if (cs.usage > e->peak_rss) e->peak_rss = cs.usage;
      if (cs.has_cpu) {
        out->cpu_user_ns = cs.cpu_user_ns;
        out->cpu_system_ns = cs.cpu_system_ns;
      }
    }
    out->memory_peak_bytes = e->peak_rss;
  } else if (e->state == EX_ENDED) {
    out->cpu_user_ns = e->result.cpu_user_ns;
    out->cpu_system_ns = e->result.cpu_system_ns;
    out->memory_peak_bytes = e->result.max_rss_bytes;
  }
  pthread_mutex_unlock(&e->mu);
}

/* ---- waiters ---- */

static void waiter_unref(waiter *w) {
  if (atomic_fetch_sub(&w->refs, 1) != 1) return;
  rpc_call_unref(w->call);
  ex_unref(w->e);
  free(w);
}

static void reply_wait(rpc_call *call, execution *e, int complete) {
  EP(WaitExecutionResponse) rep = EP_INIT(WAIT_EXECUTION_RESPONSE);
  EP(ExitResult) res = EP_INIT(EXIT_RESULT);
  pthread_mutex_lock(&e->mu);
  ex_result r = e->result;
  int ended = e->state == EX_ENDED;
  int64_t started = e->started_at_ns;
  pthread_mutex_unlock(&e->mu);
  api_utf8_clean(r.error, strlen(r.error));
  rep.complete = complete && ended;
  rep.status = ex_status(e);
  if (rep.complete) {
    res.reason = r.reason;
    res.exit_code = r.exit_code;
    res.signal = r.signal;
    res.error = r.error;
    res.started_at_ns = started;
    res.finished_at_ns = r.finished_at_ns;
    rep.result = &res;
  }
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
}

waiter *ex_take_waiters_locked(execution *e) {
  waiter *list = e->waiters;
  e->waiters = NULL;
  for (waiter *w = list; w; w = w->next) w->in_list = 0;
  return list;
}

void ex_answer_waiters(execution *e, waiter *list) {
  while (list) {
    waiter *w = list;
    list = w->next;
    timers_cancel(w->timer); /* drops the timer's reference if it had not fired */
    reply_wait(w->call, e, 1);
    waiter_unref(w); /* the list's */
  }
}

void ex_abort_waiters(execution *e, grpc_status_code code, const char *why) {
  pthread_mutex_lock(&e->mu);
  waiter *list = ex_take_waiters_locked(e);
  pthread_mutex_unlock(&e->mu);
  while (list) {
    waiter *w = list;
    list = w->next;
    timers_cancel(w->timer);
    rpc_finish(w->call, code, why);
    waiter_unref(w);
  }
}

/* Unlinks w if still listed; 1 if this caller did (and now answers it). */
static int take_waiter(waiter *w) {
  execution *e = w->e;
  pthread_mutex_lock(&e->mu);
  int taken = w->in_list;
  if (taken) {
    for (waiter **pp = &e->waiters; *pp; pp = &(*pp)->next) {
      if (*pp == w) {
        *pp = w->next;
        break;
      }
    }
    w->in_list = 0;
  }
  pthread_mutex_unlock(&e->mu);
  return taken;
}

static void wait_timeout_fire(void *arg) {
  waiter *w = arg;
  if (!take_waiter(w)) return;
  reply_wait(w->call, w->e, 0);
  waiter_unref(w); /* the list's */
}

static void waiter_release(void *arg) { waiter_unref(arg); }

/* on_done of WaitExecution: a client that went away leaves nothing. */
void ex_wait_done(rpc_call *call, int cancelled) {
  (void)cancelled;
  waiter *w = rpc_call_user(call);
  if (!w) return;
  rpc_call_set_user(call, NULL);
  if (take_waiter(w)) {
    timers_cancel(w->timer);
    waiter_unref(w); /* the list's */
  }
  waiter_unref(w); /* the call's */
}

void ex_wait(execution *e, rpc_call *call, uint64_t timeout_ms) {
  waiter *w = calloc(1, sizeof *w);
  if (!w) {
    rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  rpc_call_ref(call);
  ex_ref(e);
  w->call = call;
  w->e = e;
  atomic_init(&w->refs, 2); /* the list's and the call's */
  pthread_mutex_lock(&e->mu);
  if (e->state == EX_ENDED) {
    pthread_mutex_unlock(&e->mu);
    reply_wait(call, e, 1);
    w->refs = 1;
    waiter_unref(w);
    return;
  }
  w->in_list = 1;
  w->next = e->waiters;
  e->waiters = w;
  rpc_call_set_user(call, w);
  if (timeout_ms) {
    atomic_fetch_add(&w->refs, 1);
    w->timer = timers_add(timeout_ms > INT32_MAX ? INT32_MAX : (int64_t)timeout_ms,
                          wait_timeout_fire, waiter_release, w);
  }
  pthread_mutex_unlock(&e->mu);
}
