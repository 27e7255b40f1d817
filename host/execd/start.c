/* ExecuteSnippet: the idempotency check, the execution's files, and the
 * start through the module's execute op with the spool files as the task's
 * stdout/stderr. A start that fails leaves nothing behind. */
#include "execution.h"

#include "limits.h"
#include "log.h"
#include "module_host.h"
#include "store.h"
#include "validate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A repeated ExecuteSnippet: the same request is the same execution. */
static int repeat(execution *e, const ExecRequest *req, execution **out, int *existing,
                  grpc_status_code *code, char *err, size_t errlen) {
  if (request_equal(e->req, req)) {
    *existing = 1;
    *out = e;
    return 0;
  }
  snprintf(err, errlen, "execution \"%s\" exists with a different request", e->id);
  *code = GRPC_STATUS_ALREADY_EXISTS;
  ex_unref(e);
  return -1;
}

static ExecRequest *copy_request(const ExecRequest *req, uint8_t **packed, size_t *len) {
  *len = protobuf_c_message_get_packed_size(&req->base);
  *packed = malloc(*len ? *len : 1);
  if (!*packed) return NULL;
  protobuf_c_message_pack(&req->base, *packed);
  return (ExecRequest *)protobuf_c_message_unpack(&EP_DESC(execute_snippet_request), NULL, *len,
                                                  *packed);
}

/* The execution's directory: request, spools, working directory, stdin. */
static int create_files(execution *e, const prepared *p, const uint8_t *packed, size_t len,
                        char *err, size_t errlen) {
  int rc = store_mkdir_p(e->d->exec_root, 0711);
  /* Traversable by the execution's user, to reach work/ (which is its). */
  if (rc == 0 && mkdir(e->dir, p->set_user ? 0711 : 0700) < 0) rc = -errno;
  if (rc == 0 && p->set_user && chmod(e->dir, 0711) < 0) rc = -errno; /* despite the umask */
  if (rc == -EEXIST) {
    snprintf(err, errlen, "%s exists but is no known execution (see the daemon's log)", e->dir);
    return rc;
  }
  if (rc < 0) {
    snprintf(err, errlen, "cannot create %s: %s", e->dir, strerror(-rc));
    return rc;
  }
  if ((rc = store_write(e->dir, "request.pb", packed, len)) < 0) {
    snprintf(err, errlen, "cannot write %s/request.pb: %s", e->dir, strerror(-rc));
    return rc;
  }
  uint64_t max = e->d->cfg.spool_max_bytes;
  if ((rc = spool_create(&e->out[EX_STDOUT], e->dir, "stdout", max, err, errlen)) < 0 ||
      (rc = spool_create(&e->out[EX_STDERR], e->dir, "stderr", max, err, errlen)) < 0)
    return rc;
  if (!p->wd[0]) {
    char work[PATH_MAX + 8];
    snprintf(work, sizeof work, "%s/work", e->dir);
    if (mkdir(work, 0700) < 0 || (p->set_user && chown(work, p->uid, p->gid) < 0)) {
      rc = -errno;
      snprintf(err, errlen, "cannot create the working directory %s: %s", work, strerror(-rc));
      return rc;
    }
  }
  return e->has_stdin ? ex_stdin_prepare(e, err, errlen) : 0;
}

static int write_identity(execution *e, exec_task *t) {
  store_kv kv[] = {{"monitor_pid", exec_monitor_pid(t)},
                   {"monitor_start_ticks", (int64_t)exec_monitor_start_ticks(t)},
                   {"task_pid", exec_task_pid(t)},
                   {"started_at_ns", exec_started_at_ns(t)}};
  return store_write_kv(e->dir, "identity", kv, sizeof kv / sizeof kv[0], NULL, NULL);
}

/* Runs the module's execute op; returns the process or NULL with err. */
static exec_task *run(execution *e, const prepared *p, int *rc, char *err, size_t errlen) {
  char state[PATH_MAX + 16], in[PATH_MAX + 16], out[PATH_MAX + 16], errp[PATH_MAX + 16],
      work[PATH_MAX + 16];
  snprintf(state, sizeof state, "%s/monitor", e->dir);
  snprintf(in, sizeof in, "%s/stdin", e->dir);
  snprintf(out, sizeof out, "%s/stdout", e->dir);
  snprintf(errp, sizeof errp, "%s/stderr", e->dir);
  snprintf(work, sizeof work, "%s/work", e->dir);
  spawn_context ctx = {
      .monitor_path = e->d->monitor_path,
      .state_dir = state,
      .stdout_path = out,
      .stderr_path = errp,
      .set_user = p->set_user,
      .uid = p->uid,
      .gid = p->gid,
      .groups = p->groups,
      .ngroups = p->ngroups,
      .stdin_path = e->has_stdin ? in : NULL,
      .warm_module = e->module->desc->name,
  };
  /* Its cgroups and limits, when it has any; the task joins them. */
  if ((*rc = ex_limits_setup(e, &ctx, err, errlen)) < 0) return NULL;
  const ExecRequest *r = e->req;
  elide_task et = {
      .size = sizeof et,
      .id = e->id,
      .language = e->language,
      .task_dir = p->wd[0] ? p->wd : work,
      .script = p->script,
      .code = r->code[0] ? r->code : NULL,
      .args = (const char *const *)p->args,
      .envp = (const char *const *)p->envp,
      .options = p->options,
      .noptions = p->noptions,
  };
  elide_proc *proc = NULL;
  *rc = e->module->desc->ops->execute(e->module_state, &et, &ctx, &proc, err, errlen);
  if (*rc == 0 && !proc) *rc = -EPROTO;
  if (*rc != 0 && !err[0]) snprintf(err, errlen, "the %s module failed to start the execution",
                                    e->module->desc->name);
  return *rc == 0 ? proc_exec_task(proc) : NULL;
}

/* Undoes a failed start: nothing of it stays in the table or on disk. */
static void abandon(execution *e, grpc_status_code code, const char *why) {
  ex_table_remove(&e->d->executions, e);
  ex_abort_waiters(e, code, why);
  ex_abort_followers(e, code, why);
  ex_limits_remove(e);
  store_remove_tree(e->dir);
}

int ex_start(execd *d, const ExecRequest *req, execution **out, int *existing,
             grpc_status_code *code, char *err, size_t errlen) {
  *out = NULL;
  *existing = 0;
  err[0] = '\0';
  execution *known = req->execution_id[0] ? ex_table_get(&d->executions, req->execution_id) : NULL;
  if (known) return repeat(known, req, out, existing, code, err, errlen);
  prepared p;
  if (prepare_request(d, req, &p, code, err, errlen) < 0) return -1;
  uint8_t *packed = NULL;
  size_t len = 0;
  ExecRequest *copy = copy_request(req, &packed, &len);
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/%s", d->exec_root, p.escaped);
  execution *e = copy ? ex_new(d, copy, dir) : NULL;
  if (!e) {
    free(packed);
    prepared_free(&p);
    snprintf(err, errlen, "out of memory");
    *code = GRPC_STATUS_RESOURCE_EXHAUSTED;
    return -1;
  }
  e->module = p.module;
  e->module_state = p.module->state;
  execution *other = NULL;
  int rc = ex_table_add(&d->executions, e, &other);
  if (rc != 0) {
    ex_unref(e);
    free(packed);
    prepared_free(&p);
    if (other) return repeat(other, req, out, existing, code, err, errlen);
    snprintf(err, errlen, "out of memory");
    *code = GRPC_STATUS_RESOURCE_EXHAUSTED;
    return -1;
  }
  rc = create_files(e, &p, packed, len, err, errlen);
  free(packed);
  exec_task *t = NULL;
  if (rc == 0) {
    t = run(e, &p, &rc, err, errlen);
    *code = rc == -EINVAL ? GRPC_STATUS_INVALID_ARGUMENT : GRPC_STATUS_FAILED_PRECONDITION;
  } else {
    *code = rc == -EEXIST ? GRPC_STATUS_ALREADY_EXISTS : GRPC_STATUS_INTERNAL;
  }
  prepared_free(&p);
  if (t && (rc = write_identity(e, t)) < 0) {
    snprintf(err, errlen, "cannot record the execution's identity in %s: %s", e->dir,
             strerror(-rc));
    *code = GRPC_STATUS_INTERNAL;
    exec_destroy(t, 0);
    t = NULL;
  }
  if (!t) {
    log_msg(LOG_WARN, "execution failed to start", "execution_id", e->id, "error", err, NULL);
    if (rc != -EEXIST) abandon(e, *code, err);
    else ex_table_remove(&d->executions, e);
    ex_unref(e);
    return -1;
  }
  pthread_mutex_lock(&e->mu);
  e->proc = t;
  e->started_at_ns = exec_started_at_ns(t);
  e->state = EX_RUNNING;
  pthread_mutex_unlock(&e->mu);
  char pid[32];
  snprintf(pid, sizeof pid, "%d", (int)exec_task_pid(t));
  log_msg(LOG_INFO, "execution started", "execution_id", e->id, "session_id", e->session_id,
          "language", e->language, "pid", pid, NULL);
  if (e->has_stdin) ex_stdin_attach(e);
  spool_watch_add(e);
  ex_arm_timers(e);
  ex_watch_exit(e); /* last: it may end the execution at once */
  *out = e;
  return 0;
}
