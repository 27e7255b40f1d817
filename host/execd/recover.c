/* Start-up: every execution found under <work_root>/executions comes back.
 * A running one is re-attached (its monitor kept it running and its output
 * kept growing in the spool); one that ended while the daemon was down gets
 * its result from the monitor's exit record and the persisted stop intent;
 * one with a result keeps it. Deletion of finished ones is rescheduled (or
 * done now when due). */
#include "execution.h"

#include "limits.h"
#include "log.h"
#include "module_host.h"
#include "store.h"
#include "timers.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static ExecRequest *read_request(const char *dir) {
  char *data;
  size_t len;
  if (store_read(dir, "request.pb", EXECD_MAX_MESSAGE, &data, &len) < 0) return NULL;
  ExecRequest *req = (ExecRequest *)protobuf_c_message_unpack(&EP_DESC(execute_snippet_request),
                                                              NULL, len, (const uint8_t *)data);
  free(data);
  return req;
}

static int open_spools(execution *e, char *err, size_t errlen) {
  static const char *const names[2] = {"stdout", "stderr"};
  for (int k = 0; k < 2; k++) {
    uint64_t max = e->d->cfg.spool_max_bytes;
    int rc = spool_open(&e->out[k], e->dir, names[k], max, err, errlen);
    if (rc == -ENOENT) rc = spool_create(&e->out[k], e->dir, names[k], max, err, errlen);
    if (rc < 0) return rc;
    spool_trim(&e->out[k], 0); /* it may have grown while nobody trimmed */
  }
  return 0;
}

static void read_stop(execution *e) {
  store_kv kv[] = {{"signal", 0}, {"kill_at_ns", 0}};
  char reason[32];
  if (store_read_kv(e->dir, "stop", kv, 2, "reason", reason, sizeof reason) != 0) return;
  e->stop = !strcmp(reason, "cancel") ? EX_STOP_CANCEL : !strcmp(reason, "timeout") ? EX_STOP_TIMEOUT
                                                                                     : EX_STOP_NONE;
  e->stop_signal = (int)kv[0].value;
  e->kill_at_ns = kv[1].value;
}

static int read_result(execution *e) {
  store_kv kv[] = {{"reason", 0},   {"exit_code", 0},      {"signal", 0},
                   {"finished_at_ns", 0}, {"has_usage", 0}, {"cpu_user_ns", 0},
                   {"cpu_system_ns", 0},  {"max_rss_bytes", 0}};
  ex_result *r = &e->result;
  if (store_read_kv(e->dir, "result", kv, 8, "error", r->error, sizeof r->error) != 0) return 0;
  r->reason = (int)kv[0].value;
  r->exit_code = (int)kv[1].value;
  r->signal = (int)kv[2].value;
  r->finished_at_ns = kv[3].value;
  r->has_usage = (int)kv[4].value;
  r->cpu_user_ns = (uint64_t)kv[5].value;
  r->cpu_system_ns = (uint64_t)kv[6].value;
  r->max_rss_bytes = (uint64_t)kv[7].value;
  return 1;
}

/* Re-attaches the process from its recorded identity (through the module's
 * recover op when the module is loaded). 1 with e->proc set, 0 when there
 * is no identity, -errno with err. */
static int attach(execution *e, char *err, size_t errlen) {
  store_kv kv[] = {{"monitor_pid", 0}, {"monitor_start_ticks", 0}, {"task_pid", 0},
                   {"started_at_ns", 0}};
  if (store_read_kv(e->dir, "identity", kv, 4, NULL, NULL, 0) != 0) return 0;
  attach_identity id = {(pid_t)kv[0].value, (uint64_t)kv[1].value, (pid_t)kv[2].value,
                        kv[3].value};
  e->started_at_ns = id.started_at_ns;
  char state[PATH_MAX + 16];
  snprintf(state, sizeof state, "%s/monitor", e->dir);
  exec_task *t = NULL;
  int rc;
  if (e->module && e->module->desc->ops->recover) {
    spawn_context ctx = {.monitor_path = e->d->monitor_path, .state_dir = state, .attach = &id};
    static const char *const none[] = {NULL};
    elide_task et = {.size = sizeof et, .id = e->id, .language = e->language, .task_dir = "",
                     .args = none, .envp = none};
    elide_proc *p = NULL;
    rc = e->module->desc->ops->recover(e->module_state, &et, &ctx, &p, err, errlen);
    if (rc == 0 && p) t = proc_exec_task(p);
  } else {
    rc = exec_attach(state, id.monitor_pid, id.monitor_start_ticks, id.task_pid,
                     id.started_at_ns, &t, err, errlen);
  }
  if (rc != 0 || !t) return rc ? rc : -EPROTO;
  e->proc = t;
  return 1;
}

static int64_t request_mtime_ns(const char *dir) {
  char path[PATH_MAX + 16];
  struct stat st;
  snprintf(path, sizeof path, "%s/request.pb", dir);
  if (stat(path, &st) < 0) return timers_realtime_ns();
  return (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

static void recover_one(execd *d, const char *name) {
  char dir[PATH_MAX], err[512] = "", escaped[STORE_MAX_ESCAPED + 1];
  snprintf(dir, sizeof dir, "%s/%s", d->exec_root, name);
  struct stat st;
  if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) return;
  ExecRequest *req = read_request(dir);
  if (!req || store_escape(req->execution_id, escaped, sizeof escaped) < 0 ||
      strcmp(escaped, name) != 0) {
    log_msg(LOG_WARN, "skipping a directory without a readable request for its id", "dir", dir,
            NULL);
    if (req) protobuf_c_message_free_unpacked(&req->base, NULL);
    return;
  }
  execution *e = ex_new(d, req, dir);
  if (!e) return;
  char langs[256];
  e->module = execd_module_for(d, e->language, langs, sizeof langs);
  e->module_state = e->module ? e->module->state : NULL;
  if (open_spools(e, err, sizeof err) < 0) {
    log_msg(LOG_ERROR, "skipping an execution whose output cannot be opened", "execution_id",
            e->id, "error", err, NULL);
    ex_unref(e);
    return;
  }
  read_stop(e);
  ex_limits_recover(e); /* its cgroups, removed with it */
  int ended = read_result(e);
  int rc = attach(e, err, sizeof err);
  if (rc == 0 && !ended) e->started_at_ns = request_mtime_ns(dir);
  execution *other = NULL;
  if (ex_table_add(&d->executions, e, &other) != 0) {
    if (e->proc) exec_release(e->proc);
    e->proc = NULL;
    ex_unref(other);
    ex_unref(e);
    return;
  }
  if (ended) {
    pthread_mutex_lock(&e->mu);
    e->state = EX_ENDED;
    pthread_mutex_unlock(&e->mu);
    ex_schedule_retention(e);
  } else if (rc <= 0) {
    exec_result r;
    memset(&r, 0, sizeof r);
    r.exit_code = -1;
    r.finished_at_ns = timers_realtime_ns();
    if (rc == 0) {
      snprintf(r.err, sizeof r.err, "the daemon stopped while starting this execution; it is "
               "not supervised");
    } else {
      snprintf(r.err, sizeof r.err, "%s", err);
    }
    ex_finish(e, &r);
  } else {
    pthread_mutex_lock(&e->mu);
    e->state = EX_RUNNING;
    pthread_mutex_unlock(&e->mu);
    if (e->has_stdin) ex_stdin_attach(e);
    spool_watch_add(e);
    ex_arm_timers(e);
    ex_watch_exit(e); /* ends it now if it ended while the daemon was down */
  }
  log_msg(LOG_INFO, "execution recovered", "execution_id", e->id, "ended_before",
          ended ? "true" : "false", "error", rc < 0 ? err : "", NULL);
  ex_unref(e);
}

void ex_recover_all(execd *d) {
  DIR *dir = opendir(d->exec_root);
  if (!dir) return;
  struct dirent *ent;
  while ((ent = readdir(dir))) {
    if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, "..")) continue;
    recover_one(d, ent->d_name);
  }
  closedir(dir);
}
