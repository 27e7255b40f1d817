/* The end of an execution: the exit result and its reason, persisted so it
 * never changes across restarts; waiters and followers; the deletion
 * retain_finished seconds later; and letting go of every process at
 * shutdown. */
#include "execution.h"

#include "limits.h"
#include "log.h"
#include "pool.h"
#include "store.h"
#include "timers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The reason: the monitor's record says how the process ended, the
 * daemon's persisted intent says why. OOM when the record says so: the
 * execution had a memory limit (limits.c), died by SIGKILL and its memory
 * cgroup counted an OOM kill. */
static void compute_result(execution *e, const exec_result *r, ex_result *out) {
  memset(out, 0, sizeof *out);
  out->exit_code = r->exit_code;
  out->signal = r->signal;
  out->finished_at_ns = r->finished_at_ns;
  out->has_usage = r->has_rusage;
  out->cpu_user_ns = r->cpu_user_ns;
  out->cpu_system_ns = r->cpu_system_ns;
  out->max_rss_bytes = r->max_rss_bytes;
  if (r->err[0]) {
    out->reason = EP_ENUM(EXIT_RESULT__REASON__REASON_INTERNAL_ERROR);
    snprintf(out->error, sizeof out->error, "%s", r->err);
  } else if (e->stop == EX_STOP_CANCEL) {
    out->reason = EP_ENUM(EXIT_RESULT__REASON__REASON_CANCELLED);
  } else if (e->stop == EX_STOP_TIMEOUT) {
    out->reason = EP_ENUM(EXIT_RESULT__REASON__REASON_TIMEOUT);
    snprintf(out->error, sizeof out->error, "timeout of %" PRIu64 " ms passed",
             e->req->timeout_ms);
  } else if (r->oom_killed) {
    out->reason = EP_ENUM(EXIT_RESULT__REASON__REASON_OOM);
  } else if (r->signal) {
    out->reason = EP_ENUM(EXIT_RESULT__REASON__REASON_SIGNALED);
  } else {
    out->reason = EP_ENUM(EXIT_RESULT__REASON__REASON_EXITED);
  }
}

static int persist_result(execution *e, const ex_result *r) {
  store_kv kv[] = {{"reason", r->reason},
                   {"exit_code", r->exit_code},
                   {"signal", r->signal},
                   {"finished_at_ns", r->finished_at_ns},
                   {"has_usage", r->has_usage},
                   {"cpu_user_ns", (int64_t)r->cpu_user_ns},
                   {"cpu_system_ns", (int64_t)r->cpu_system_ns},
                   {"max_rss_bytes", (int64_t)r->max_rss_bytes}};
  return store_write_kv(e->dir, "result", kv, sizeof kv / sizeof kv[0], "error", r->error);
}

void ex_finish(execution *e, const exec_result *r) {
  pthread_mutex_lock(&e->mu);
  if (e->state == EX_ENDED) {
    pthread_mutex_unlock(&e->mu);
    return;
  }
  compute_result(e, r, &e->result);
  if (e->result.max_rss_bytes < e->peak_rss) e->result.max_rss_bytes = e->peak_rss;
  e->state = EX_ENDED;
  waiter *waiters = ex_take_waiters_locked(e);
  uint64_t timers[] = {e->timeout_timer, e->kill_timer};
  e->timeout_timer = e->kill_timer = 0;
  ex_result res = e->result;
  pthread_mutex_unlock(&e->mu);

  int rc = persist_result(e, &res);
  if (rc < 0)
    log_msg(LOG_ERROR, "cannot persist an execution's result", "execution_id", e->id, "error",
            strerror(-rc), NULL);
  for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++) timers_cancel(timers[i]);
  if (e->has_stdin) ex_stdin_close(e);
  /* The task has written its last byte: trim to the bound exactly, before
   * any waiter hears of the end (a read after WaitExecution sees the final
   * spool), then wake every follower (they send what is left, then eof)
   * and stop watching. */
  spool_trim(&e->out[EX_STDOUT], 1);
  spool_trim(&e->out[EX_STDERR], 1);
  ex_answer_waiters(e, waiters);
  spool_watch_remove(e);
  ex_wake_followers(e, -1);
  ex_limits_release_ended(e);
  char code[16], sig[16];
  snprintf(code, sizeof code, "%d", res.exit_code);
  snprintf(sig, sizeof sig, "%d", res.signal);
  const ProtobufCEnumValue *reason =
      protobuf_c_enum_descriptor_get_value(&EP_DESC(exit_result__reason), res.reason);
  log_msg(LOG_INFO, "execution ended", "execution_id", e->id, "exit_code", code, "signal", sig,
          "reason", reason ? reason->name : "?", "error", res.error, NULL);
  ex_schedule_retention(e);
}

static void on_exit_cb(void *arg, const exec_result *r) { ex_finish(arg, r); }

/* No reference for the callback: an execution always outlives its
 * exec_task (exec_destroy / exec_release run before its last unref, and no
 * callback runs after either returns). */
void ex_watch_exit(execution *e) {
  pthread_mutex_lock(&e->mu);
  exec_task *t = e->proc;
  pthread_mutex_unlock(&e->mu);
  if (t) exec_on_exit(t, on_exit_cb, e);
}

static void delete_job(void *arg) {
  execution *e = arg;
  ex_delete(e);
  ex_unref(e);
}

/* Timer thread: deletion may wait for a monitor, so it runs in the pool. */
static void retention_fire(void *arg) {
  execution *e = arg;
  ex_ref(e);
  if (pool_run(delete_job, e) != 0) ex_unref(e); /* shutting down: kept for the next start */
}

static void unref_arg(void *arg) { ex_unref(arg); }

void ex_schedule_retention(execution *e) {
  pthread_mutex_lock(&e->mu);
  int64_t at = e->result.finished_at_ns + e->d->cfg.retain_finished_s * 1000000000LL;
  int schedule = e->state == EX_ENDED && !e->deleted && !e->retain_timer;
  pthread_mutex_unlock(&e->mu);
  if (!schedule) return;
  ex_ref(e);
  uint64_t id = timers_add(timers_ms_until_realtime(at), retention_fire, unref_arg, e);
  pthread_mutex_lock(&e->mu);
  e->retain_timer = id;
  pthread_mutex_unlock(&e->mu);
}

void ex_delete(execution *e) {
  pthread_mutex_lock(&e->mu);
  if (e->deleted || e->state != EX_ENDED) {
    pthread_mutex_unlock(&e->mu);
    return;
  }
  e->deleted = 1;
  exec_task *t = e->proc;
  e->proc = NULL;
  uint64_t timer = e->retain_timer;
  e->retain_timer = 0;
  pthread_mutex_unlock(&e->mu);
  timers_cancel(timer);
  ex_table_remove(&e->d->executions, e);
  ex_abort_followers(e, GRPC_STATUS_NOT_FOUND, "the execution was deleted");
  /* Kills leftovers of the ended task (orphans still holding its output)
   * and reaps its monitor. */
  if (t) exec_destroy(t, 0);
  ex_limits_remove(e);
  int rc = store_remove_tree(e->dir);
  log_msg(rc == 0 ? LOG_INFO : LOG_WARN, "finished execution deleted", "execution_id", e->id,
          "error", rc == 0 ? "" : strerror(-rc), NULL);
}

void ex_release_all(execd *d) {
  size_t n = 0;
  execution **all = ex_table_list(&d->executions, &n);
  for (size_t i = 0; i < n; i++) {
    execution *e = all[i];
    pthread_mutex_lock(&e->mu);
    exec_task *t = e->proc;
    e->proc = NULL;
    uint64_t timers[] = {e->timeout_timer, e->kill_timer, e->retain_timer};
    e->timeout_timer = e->kill_timer = e->retain_timer = 0;
    pthread_mutex_unlock(&e->mu);
    /* Processes keep running; the next daemon re-attaches them. */
    if (t) exec_release(t);
    for (size_t k = 0; k < sizeof timers / sizeof timers[0]; k++) timers_cancel(timers[k]);
    spool_watch_remove(e);
    ex_unref(e);
  }
  free(all);
  ex_table_clear(&d->executions);
}
