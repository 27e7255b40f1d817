/* The Driver RPCs of a task's life: StartTask, RecoverTask, WaitTask,
 * StopTask, DestroyTask, InspectTask and SignalTask. Blocking work runs
 * offloaded; replies never leave a required sub-message unset. */
#include "driver_tasks.h"

#include "daemon_task.h"
#include "driver_state.h"
#include "log.h"
#include "module_host.h"
#include "nomad_pb.h"
#include "offload.h"
#include "replies.h"
#include "signals.h"
#include "task_config.h"
#include "task_context.h"
#include "task_events.h"
#include "task_limits.h"
#include "user_policy.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GO_ZERO_TIME_SECONDS (-62135596800LL) /* Go's time.Time{} */

/* Answers with an error status; `recoverable` attaches Nomad's
 * RecoverableError detail so the task is restarted by its policy. */
static void fail_start(rpc_call *call, grpc_status_code code, const char *msg, int recoverable) {
  Hashicorp__Nomad__Plugins__Shared__Structs__RecoverableError re =
      HASHICORP__NOMAD__PLUGINS__SHARED__STRUCTS__RECOVERABLE_ERROR__INIT;
  re.recoverable = recoverable != 0;
  uint8_t re_buf[8];
  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
  any.type_url = (char *)"type.googleapis.com/hashicorp.nomad.plugins.shared.structs.RecoverableError";
  any.value.len = hashicorp__nomad__plugins__shared__structs__recoverable_error__pack(&re, re_buf);
  any.value.data = re_buf;
  Google__Protobuf__Any *details[] = {&any};
  Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
  st.code = (int32_t)code;
  st.message = (char *)msg;
  st.n_details = 1;
  st.details = details;
  size_t len = google__rpc__status__get_packed_size(&st);
  uint8_t *buf = malloc(len);
  if (!buf) {
    rpc_finish(call, code, msg);
    return;
  }
  google__rpc__status__pack(&st, buf);
  rpc_finish_with_details(call, code, msg, buf, len);
  free(buf);
}

/* Escapes a task id into one path component: [A-Za-z0-9._-] kept, others %XX. */
static void escape_id(const char *id, char *out, size_t cap) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)id; *p && n + 4 < cap; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        *p == '.' || *p == '-' || *p == '_')
      out[n++] = (char)*p;
    else
      n += (size_t)snprintf(out + n, cap - n, "%%%02X", *p);
  }
  out[n] = '\0';
}

/* Exit callback from the execution layer's watcher thread. */
static void on_task_exit(void *arg, const exec_result *r) {
  task *t = arg;
  char code[32], sig[32];
  snprintf(code, sizeof code, "%d", r->exit_code);
  snprintf(sig, sizeof sig, "%d", r->signal);
  log_msg(LOG_INFO, "task exited", "task_id", t->id, "exit_code", code, "signal", sig, "error",
          r->err, NULL);
  if (t->plugin) task_limits_exit_events(t->plugin, t, r); /* OOM, timeout: before WaitTask */
  task_mark_exited(t, r);
}

/* No reference is taken for the callback: a task always outlives its
 * exec_task (exec_destroy or exec_release runs before the task is freed, and
 * no callback runs after either returns). */
static void watch_exit(task *t) { exec_on_exit(t->proc, on_task_exit, t); }

/* The local runner: the module's process under elide-monitor. */
static int local_stop(task *t, int sig, int grace_ms, char *err, size_t errlen) {
  elide_exit ex;
  int rc = t->module->desc->ops->cancel(t->module_state, (elide_proc *)t->proc, sig, grace_ms, &ex);
  if (rc != 0) {
    snprintf(err, errlen, "stopping task %s failed: %s", t->id, strerror(-rc));
    return rc;
  }
  exec_result r;
  exec_wait(t->proc, -1, &r);
  task_mark_exited(t, &r); /* the watcher may not have run yet */
  return 0;
}

static int local_signal(task *t, int sig) {
  return t->module->desc->ops->signal(t->module_state, (elide_proc *)t->proc, sig);
}

static void local_kill(task *t) {
  exec_result r;
  exec_stop(t->proc, SIGKILL, 0, &r);
  task_mark_exited(t, &r);
}

static void local_release(task *t) {
  if (t->proc) exec_destroy(t->proc, 1);
  t->proc = NULL;
  task_limits_release(t);
}

static pid_t local_pid(const task *t) { return t->proc ? exec_task_pid(t->proc) : 0; }

static const task_runner local_runner = {"local", local_stop, local_signal, local_kill,
                                         local_release, local_pid};

static int encode_state(task *t) {
  driver_state ds;
  memset(&ds, 0, sizeof ds);
  snprintf(ds.module, sizeof ds.module, "%s", t->module->desc->name);
  snprintf(ds.language, sizeof ds.language, "%s", t->language);
  snprintf(ds.state_dir, sizeof ds.state_dir, "%s", t->state_dir);
  if (t->proc) {
    ds.monitor_pid = exec_monitor_pid(t->proc);
    ds.monitor_start_ticks = exec_monitor_start_ticks(t->proc);
    ds.task_pid = exec_task_pid(t->proc);
  } else {
    snprintf(ds.daemon_endpoint, sizeof ds.daemon_endpoint, "%s", daemon_task_endpoint(t));
    const char *sock;
    daemon_task_relay(t, &ds.relay_pid, &ds.relay_start_ticks, &sock);
    snprintf(ds.relay_socket, sizeof ds.relay_socket, "%s", sock);
  }
  ds.started_at_ns = t->started_at_ns;
  t->driver_state = driver_state_encode(&ds, &t->driver_state_len);
  return t->driver_state ? 0 : -ENOMEM;
}

static void reply_started(rpc_call *call, const DP(StartTaskRequest) * req, task *t) {
  DP(StartTaskResponse) rep = DP_INIT(START_TASK_RESPONSE);
  DP(TaskHandle) handle = DP_INIT(TASK_HANDLE);
  handle.version = ELIDE_HANDLE_VERSION;
  handle.config = req->task;
  handle.state = DP_ENUM(TASK_STATE__RUNNING);
  handle.driver_state.data = t->driver_state;
  handle.driver_state.len = t->driver_state_len;
  rep.result = DP_ENUM(START_TASK_RESPONSE__RESULT__SUCCESS);
  rep.handle = &handle;
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
}

/* Finds the healthy module for a language; the error lists what exists. */
static loaded_module *module_for(plugin *p, const char *language, char *err, size_t errlen) {
  plugin_ensure_configured(p);
  pthread_mutex_lock(&p->mu);
  loaded_module *m = modules_for_language(&p->modules, language);
  if (!m) {
    char langs[512];
    modules_languages(&p->modules, langs, sizeof langs);
    snprintf(err, errlen, "task config: field \"language\": unknown language \"%s\" (available: %s)",
             language, langs[0] ? langs : "none");
  }
  pthread_mutex_unlock(&p->mu);
  return m;
}

/* Runs the task with the module under a local monitor; on failure the
 * call is answered. */
static int start_local(rpc_call *call, plugin *p, task *t, loaded_module *m,
                       const task_request *tr, const NomadTaskConfig *cfg) {
  char err[2048] = "";
  spawn_context ctx = {
      .monitor_path = p->monitor_path,
      .state_dir = t->state_dir,
      .stdout_path = cfg->stdout_path,
      .stderr_path = cfg->stderr_path,
      .set_user = tr->set_user,
      .uid = tr->uid,
      .gid = tr->gid,
      .groups = tr->groups,
      .ngroups = tr->ngroups,
      .warm_module = m->desc->name,
  };
  if (task_limits_start(t, cfg, tr, &ctx, err, sizeof err) != 0) { /* cgroups, timeout */
    log_msg(LOG_ERROR, "task failed to start", "task_id", cfg->id, "error", err, NULL);
    fail_start(call, GRPC_STATUS_FAILED_PRECONDITION, err, 0);
    return -EINVAL;
  }
  elide_task et = {
      .size = sizeof et,
      .id = cfg->id,
      .language = tr->language,
      .task_dir = tr->task_dir,
      .script = tr->script,
      .code = tr->code,
      .args = (const char *const *)tr->args,
      .envp = (const char *const *)tr->envp,
      .options = tr->options,
      .noptions = tr->noptions,
  };
  elide_proc *proc = NULL;
  int rc = m->desc->ops->execute(m->state, &et, &ctx, &proc, err, sizeof err);
  if (rc != 0 || !proc) {
    log_msg(LOG_ERROR, "task failed to start", "task_id", cfg->id, "error", err, NULL);
    fail_start(call, GRPC_STATUS_FAILED_PRECONDITION, err[0] ? err : "backend failed to start", 0);
    task_limits_release(t);
    return rc ? rc : -EIO;
  }
  t->proc = proc_exec_task(proc);
  t->runner = &local_runner;
  t->started_at_ns = exec_started_at_ns(t->proc);
  watch_exit(t);
  return 0;
}

/* Runs the task in the execution daemon; an unreachable daemon is a
 * recoverable failure (Nomad restarts the task by its policy). */
static int start_daemon(rpc_call *call, task *t, const char *endpoint, const task_request *tr,
                        const NomadTaskConfig *cfg) {
  char err[2048] = "";
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  t->started_at_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
  daemon_event_sink events = {task_events_emit_for, plugin_of(call)};
  int rc = daemon_task_start(t, endpoint, tr, cfg, &events, err, sizeof err);
  if (rc != 0) {
    log_msg(LOG_ERROR, "task failed to start", "task_id", cfg->id, "error", err, NULL);
    fail_start(call, rc == -EAGAIN ? GRPC_STATUS_UNAVAILABLE : GRPC_STATUS_FAILED_PRECONDITION,
               err, rc == -EAGAIN);
  }
  return rc;
}

static void start_task(rpc_call *call, const ProtobufCMessage *msg) {
  const DP(StartTaskRequest) *req = (const void *)msg;
  plugin *p = plugin_of(call);
  char err[2048] = "";
  task_request tr;
  if (!req->task || !req->task->id || !req->task->id[0]) {
    rpc_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "StartTask: task config with an id is required");
    return;
  }
  const NomadTaskConfig *cfg = req->task;
  plugin_ensure_configured(p);
  if (!p->task_schema_built) {
    fail_start(call, GRPC_STATUS_UNAVAILABLE, "the task config schema is not available", 1);
    return;
  }
  if (task_request_build(cfg, &p->task_schema, &tr, err, sizeof err) != 0) {
    log_msg(LOG_WARN, "task config rejected", "task_id", cfg->id, "error", err, NULL);
    fail_start(call, GRPC_STATUS_INVALID_ARGUMENT, err, 0);
    return;
  }
  loaded_module *m = module_for(p, tr.language, err, sizeof err);
  if (m && task_request_options(&tr, m, err, sizeof err) != 0) {
    log_msg(LOG_WARN, "task config rejected", "task_id", cfg->id, "error", err, NULL);
    fail_start(call, GRPC_STATUS_INVALID_ARGUMENT, err, 0);
    task_request_free(&tr);
    return;
  }
  task *t = m ? task_new(cfg->id, cfg->name, cfg->alloc_id, tr.language) : NULL;
  if (!t) {
    fail_start(call, GRPC_STATUS_INVALID_ARGUMENT, m ? "out of memory" : err, 0);
    task_request_free(&tr);
    return;
  }
  t->module = m;
  t->module_state = m->state;
  t->plugin = p;
  if (task_context_from_request(&t->ctx, &tr, err, sizeof err) != 0) { /* for exec */
    fail_start(call, GRPC_STATUS_RESOURCE_EXHAUSTED, err, 1);
    task_unref(t);
    task_request_free(&tr);
    return;
  }
  char escaped[1024], daemon_endpoint[512] = "";
  escape_id(cfg->id, escaped, sizeof escaped);
  pthread_mutex_lock(&p->mu);
  snprintf(t->state_dir, sizeof t->state_dir, "%s/tasks/%s", p->cfg.state_dir, escaped);
  if (plugin_module_in_daemon_mode(&p->cfg, m->desc->name))
    snprintf(daemon_endpoint, sizeof daemon_endpoint, "%s", p->cfg.daemon_endpoint);
  int allow_root = p->cfg.allow_root;
  pthread_mutex_unlock(&p->mu);
  if (user_policy_check(allow_root, &tr, cfg->user, daemon_endpoint[0] != 0, geteuid(), err,
                        sizeof err) != 0) {
    log_msg(LOG_WARN, "task refused", "task_id", cfg->id, "error", err, NULL);
    fail_start(call, GRPC_STATUS_PERMISSION_DENIED, err, 0);
    goto out;
  }
  if (task_table_insert(&p->tasks, t) != 0) {
    snprintf(err, sizeof err, "task with ID \"%s\" already started", cfg->id);
    fail_start(call, GRPC_STATUS_ALREADY_EXISTS, err, 0);
    goto out;
  }
  int rc = daemon_endpoint[0] ? start_daemon(call, t, daemon_endpoint, &tr, cfg)
                               : start_local(call, p, t, m, &tr, cfg);
  if (rc != 0) {
    task_unref(task_table_remove(&p->tasks, cfg->id));
    goto out;
  }
  if (encode_state(t) != 0) {
    t->runner->kill(t);
    t->runner->release(t);
    task_unref(task_table_remove(&p->tasks, cfg->id));
    fail_start(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory encoding driver_state", 1);
    goto out;
  }
  char pid[32];
  snprintf(pid, sizeof pid, "%d", (int)t->runner->pid(t));
  log_msg(LOG_INFO, "task started", "task_id", cfg->id, "language", tr.language, "pid", pid,
          "mode", t->runner->kind, NULL);
  task_events_started(p, t, m, daemon_endpoint);
  reply_started(call, req, t);
out:
  task_unref(t);
  task_request_free(&tr);
}

static loaded_module *module_named(plugin *p, const char *name) {
  plugin_ensure_configured(p);
  pthread_mutex_lock(&p->mu);
  loaded_module *found = NULL;
  for (size_t i = 0; i < p->modules.n && !found; i++)
    if (p->modules.mods[i].desc && strcmp(p->modules.mods[i].desc->name, name) == 0 &&
        p->modules.mods[i].state)
      found = &p->modules.mods[i];
  pthread_mutex_unlock(&p->mu);
  return found;
}

static void keep_driver_state(task *t, const DP(RecoverTaskRequest) * req) {
  t->driver_state = malloc(req->handle->driver_state.len);
  if (t->driver_state) {
    memcpy(t->driver_state, req->handle->driver_state.data, req->handle->driver_state.len);
    t->driver_state_len = req->handle->driver_state.len;
  }
}

/* RecoverTask of a daemon-mode task: the proxy resumes waiting and the
 * output from the relay's offsets. Consumes the reference on t. */
static void recover_daemon(rpc_call *call, plugin *p, task *t, loaded_module *m,
                           const driver_state *ds, const DP(RecoverTaskRequest) * req) {
  char err[1024] = "";
  const char *id = req->handle->config->id;
  if (!t) {
    rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  t->module = m;
  t->module_state = m->state;
  t->started_at_ns = ds->started_at_ns;
  snprintf(t->state_dir, sizeof t->state_dir, "%s", ds->state_dir);
  keep_driver_state(t, req);
  if (task_table_insert(&p->tasks, t) != 0) { /* raced with another RecoverTask */
    task_unref(t);
    DP(RecoverTaskResponse) rep = DP_INIT(RECOVER_TASK_RESPONSE);
    rpc_send(call, &rep.base);
    rpc_finish(call, GRPC_STATUS_OK, NULL);
    return;
  }
  daemon_event_sink events = {task_events_emit_for, p};
  if (daemon_task_recover(t, ds->daemon_endpoint, req->handle->config->stdout_path,
                          req->handle->config->stderr_path, ds->relay_pid,
                          ds->relay_start_ticks, ds->relay_socket, &events, err,
                          sizeof err) != 0) {
    log_msg(LOG_WARN, "task recovery failed", "task_id", id, "error", err, NULL);
    task_events_recovery_failed(p, t, err);
    task_unref(task_table_remove(&p->tasks, id));
    task_unref(t);
    rpc_finish(call, GRPC_STATUS_FAILED_PRECONDITION, err);
    return;
  }
  log_msg(LOG_INFO, "task recovered", "task_id", id, "mode", "daemon", NULL);
  task_events_recovered(p, t, ds->daemon_endpoint);
  task_unref(t);
  DP(RecoverTaskResponse) rep = DP_INIT(RECOVER_TASK_RESPONSE);
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
}

/* Re-attaches to a task of an earlier plugin process from driver_state. */
static void recover_task(rpc_call *call, const ProtobufCMessage *msg) {
  const DP(RecoverTaskRequest) *req = (const void *)msg;
  plugin *p = plugin_of(call);
  char err[1024] = "";
  if (!req->handle || !req->handle->config || !req->handle->config->id) {
    rpc_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "RecoverTask: handle.config.id is required");
    return;
  }
  const char *id = req->handle->config->id;
  task *known = task_table_get(&p->tasks, id);
  if (known) { /* already tracked: recovering is a no-op */
    task_unref(known);
    DP(RecoverTaskResponse) rep = DP_INIT(RECOVER_TASK_RESPONSE);
    rpc_send(call, &rep.base);
    rpc_finish(call, GRPC_STATUS_OK, NULL);
    return;
  }
  driver_state ds;
  if (driver_state_decode(req->handle->driver_state.data, req->handle->driver_state.len, &ds, err,
                          sizeof err) != 0) {
    rpc_finish(call, GRPC_STATUS_INVALID_ARGUMENT, err);
    return;
  }
  loaded_module *m = module_named(p, ds.module);
  if (!m) {
    snprintf(err, sizeof err, "RecoverTask: module \"%s\" is not loaded", ds.module);
    rpc_finish(call, GRPC_STATUS_FAILED_PRECONDITION, err);
    return;
  }
  const DP(TaskConfig) *cfg = req->handle->config;
  task *t = task_new(id, cfg->name, cfg->alloc_id, ds.language);
  if (ds.daemon_endpoint[0]) {
    recover_daemon(call, p, t, m, &ds, req);
    return;
  }
  attach_identity ident = {ds.monitor_pid, ds.monitor_start_ticks, ds.task_pid, ds.started_at_ns};
  spawn_context ctx = {.monitor_path = p->monitor_path, .state_dir = ds.state_dir, .attach = &ident};
  static const char *const none[] = {NULL};
  elide_task et = {.size = sizeof et, .id = id, .language = ds.language, .task_dir = "",
                   .args = none, .envp = none};
  elide_proc *eproc = NULL;
  if (!t || m->desc->ops->recover(m->state, &et, &ctx, &eproc, err, sizeof err) != 0) {
    log_msg(LOG_WARN, "task recovery failed", "task_id", id, "error", err, NULL);
    if (t) task_events_recovery_failed(p, t, err);
    rpc_finish(call, GRPC_STATUS_FAILED_PRECONDITION, err[0] ? err : "out of memory");
    task_unref(t);
    return;
  }
  exec_task *proc = proc_exec_task(eproc);
  t->module = m;
  t->module_state = m->state;
  t->proc = proc;
  t->runner = &local_runner;
  t->started_at_ns = ds.started_at_ns;
  snprintf(t->state_dir, sizeof t->state_dir, "%s", ds.state_dir);
  keep_driver_state(t, req);
  if (task_context_recover(&t->ctx, cfg, err, sizeof err) != 0) /* exec refuses, saying why */
    log_msg(LOG_WARN, "exec context not rebuilt: exec into this task is refused", "task_id", id,
            "error", err, NULL);
  t->plugin = p;
  task_limits_recover(t, cfg); /* stats, exit events, exec's cgroups */
  if (task_table_insert(&p->tasks, t) != 0) {
    exec_release(proc);
    t->proc = NULL;
  } else {
    watch_exit(t); /* reports at once a task that ended while no plugin ran */
    log_msg(LOG_INFO, "task recovered", "task_id", id, NULL);
    task_events_recovered(p, t, NULL);
  }
  task_unref(t);
  DP(RecoverTaskResponse) rep = DP_INIT(RECOVER_TASK_RESPONSE);
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
}

static task *find_or_fail(rpc_call *call, const char *id) {
  task *t = task_table_get(&plugin_of(call)->tasks, id);
  if (!t) rpc_finish(call, GRPC_STATUS_NOT_FOUND, "task not found for given id");
  return t;
}

static void wait_task(rpc_call *call, const ProtobufCMessage *msg) {
  const DP(WaitTaskRequest) *req = (const void *)msg;
  task *t = find_or_fail(call, req->task_id);
  if (!t) return;
  task_add_waiter(t, call);
  task_unref(t);
}

static int duration_ms(const Google__Protobuf__Duration *d) {
  if (!d) return 0;
  int64_t ms = d->seconds * 1000 + d->nanos / 1000000;
  return ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Signal, grace, SIGKILL; returns after the task has ended. Unknown and
 * already-exited tasks succeed, so Nomad's retries have nothing to retry. */
static void stop_task(rpc_call *call, const ProtobufCMessage *msg) {
  const DP(StopTaskRequest) *req = (const void *)msg;
  task *t = task_table_get(&plugin_of(call)->tasks, req->task_id);
  if (t && t->runner && !task_exit_state(t, NULL, NULL)) {
    int sig = req->signal && req->signal[0] ? signal_from_name(req->signal) : SIGINT;
    if (!sig) {
      log_msg(LOG_WARN, "unknown stop signal, using SIGINT", "task_id", t->id, "signal",
              req->signal, NULL);
      sig = SIGINT;
    }
    char err[1024];
    if (t->runner->stop(t, sig, duration_ms(req->timeout), err, sizeof err) != 0) {
      task_unref(t);
      rpc_finish(call, GRPC_STATUS_INTERNAL, err);
      return;
    }
  }
  task_unref(t);
  reply_empty(call, &DP_DESC(stop_task_response));
}

static void destroy_task(rpc_call *call, const ProtobufCMessage *msg) {
  const DP(DestroyTaskRequest) *req = (const void *)msg;
  plugin *p = plugin_of(call);
  task *t = task_table_get(&p->tasks, req->task_id);
  if (!t) {
    reply_empty(call, &DP_DESC(destroy_task_response));
    return;
  }
  if (t->runner && !task_exit_state(t, NULL, NULL)) {
    if (!req->force) {
      task_unref(t);
      rpc_finish(call, GRPC_STATUS_FAILED_PRECONDITION, "cannot destroy running task");
      return;
    }
    t->runner->kill(t);
  }
  task *removed = task_table_remove(&p->tasks, req->task_id);
  if (removed == t && t->runner) t->runner->release(t);
  task_unref(removed);
  task_unref(t);
  reply_empty(call, &DP_DESC(destroy_task_response));
}

static void inspect_task(rpc_call *call, const ProtobufCMessage *msg) {
  const DP(InspectTaskRequest) *req = (const void *)msg;
  task *t = find_or_fail(call, req->task_id);
  if (!t) return;
  exec_result r;
  int64_t completed = 0;
  int exited = task_exit_state(t, &r, &completed);
  DP(InspectTaskResponse) rep = DP_INIT(INSPECT_TASK_RESPONSE);
  DP(TaskStatus) st = DP_INIT(TASK_STATUS);
  DP(ExitResult) res = DP_INIT(EXIT_RESULT);
  DP(TaskDriverStatus) drv = DP_INIT(TASK_DRIVER_STATUS);
  DP(TaskDriverStatus__AttributesEntry) pid_attr = DP_INIT(TASK_DRIVER_STATUS__ATTRIBUTES_ENTRY);
  DP(TaskDriverStatus__AttributesEntry) start_attr = DP_INIT(TASK_DRIVER_STATUS__ATTRIBUTES_ENTRY);
  DP(TaskDriverStatus__AttributesEntry) note_attr = DP_INIT(TASK_DRIVER_STATUS__ATTRIBUTES_ENTRY);
  DP(TaskDriverStatus__AttributesEntry) *attrs[] = {&pid_attr, &start_attr, &note_attr};
  Google__Protobuf__Timestamp started = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  Google__Protobuf__Timestamp done = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  char pid[32];
  snprintf(pid, sizeof pid, "%d", t->runner ? (int)t->runner->pid(t) : 0);
  pid_attr.key = (char *)"pid";
  pid_attr.value = pid;
  drv.n_attributes = 1;
  drv.attributes = attrs;
  /* A local task started by this process says how: "warm" or "cold" and,
   * when a warm start was tried and did not happen, why. */
  const char *note = "";
  int warm = t->proc && !strcmp(t->runner->kind, "local") ? exec_start_was_warm(t->proc, &note) : -1;
  if (warm >= 0) {
    start_attr.key = (char *)"start";
    start_attr.value = (char *)(warm ? "warm" : "cold");
    note_attr.key = (char *)"start_note";
    note_attr.value = (char *)note;
    drv.n_attributes = 3;
  }
  pb_timestamp(&started, t->started_at_ns);
  if (exited) {
    pb_timestamp(&done, completed);
    res.exit_code = r.exit_code;
    res.signal = r.signal;
    res.oom_killed = r.oom_killed != 0;
  } else {
    done.seconds = GO_ZERO_TIME_SECONDS;
  }
  st.id = t->id;
  st.name = t->name;
  st.state = exited ? DP_ENUM(TASK_STATE__EXITED) : DP_ENUM(TASK_STATE__RUNNING);
  st.started_at = &started;
  st.completed_at = &done;
  st.result = &res;
  rep.task = &st;
  rep.driver = &drv;
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
  task_unref(t);
}

static void signal_task(rpc_call *call, const ProtobufCMessage *msg) {
  const DP(SignalTaskRequest) *req = (const void *)msg;
  int sig = signal_from_name(req->signal);
  char err[256];
  if (!sig) {
    snprintf(err, sizeof err, "unknown signal \"%s\"", req->signal ? req->signal : "");
    rpc_finish(call, GRPC_STATUS_INVALID_ARGUMENT, err);
    return;
  }
  task *t = find_or_fail(call, req->task_id);
  if (!t) return;
  int rc = t->runner ? t->runner->signal(t, sig) : -ESRCH;
  task_unref(t);
  if (rc == -ESRCH) {
    rpc_finish(call, GRPC_STATUS_FAILED_PRECONDITION, "task has already exited");
  } else if (rc != 0) {
    snprintf(err, sizeof err, "cannot signal task: %s", strerror(-rc));
    rpc_finish(call, GRPC_STATUS_INTERNAL, err);
  } else {
    reply_empty(call, &DP_DESC(signal_task_response));
  }
}

void driver_start_task(rpc_call *call, const ProtobufCMessage *msg) { offload(call, msg, start_task); }
void driver_recover_task(rpc_call *call, const ProtobufCMessage *msg) {
  offload(call, msg, recover_task);
}
void driver_wait_task(rpc_call *call, const ProtobufCMessage *msg) { wait_task(call, msg); }
void driver_stop_task(rpc_call *call, const ProtobufCMessage *msg) { offload(call, msg, stop_task); }
void driver_destroy_task(rpc_call *call, const ProtobufCMessage *msg) {
  offload(call, msg, destroy_task);
}
void driver_inspect_task(rpc_call *call, const ProtobufCMessage *msg) { inspect_task(call, msg); }
void driver_signal_task(rpc_call *call, const ProtobufCMessage *msg) { signal_task(call, msg); }
