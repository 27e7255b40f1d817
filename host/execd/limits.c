/* Executions' cgroups and limits (see limits.h). */
#include "limits.h"

#include "execution.h"
#include "log.h"
#include "sessions.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB (1024ull * 1024ull)
#define MIN_CPU_MILLIS 10 /* 1000 us per 100 ms period: the kernel's smallest quota */

cgroup_mode ex_limits_mode(const char **why) { return cgroup_host_mode(why); }

/* The limits an execution of `r` gets; 0 when it has none (also when they
 * were asked for best_effort and this host offers no cgroups). */
static int limits_of(execd *d, const ExecRequest *r, cgroup_limits *out) {
  memset(out, 0, sizeof *out);
  const EP(ResourceLimits) *l = r->limits;
  if (l && l->best_effort && ex_limits_mode(NULL) == CGROUP_NONE) return 0;
  if (l) {
    out->memory_bytes = l->memory_bytes > INT64_MAX ? INT64_MAX : (int64_t)l->memory_bytes;
    out->cpu_shares = l->cpu_shares > 262144 ? 262144 : (int64_t)l->cpu_shares;
    out->cpu_quota_millis = l->cpu_millis > 1000000 ? 1000000 : (int64_t)l->cpu_millis;
  }
  if (!out->memory_bytes) {
    uint64_t mb = sessions_memory_limit_mb(d, r->session_id);
    if (mb) out->memory_bytes = mb > INT64_MAX / MIB ? INT64_MAX : (int64_t)(mb * MIB);
  }
  return out->memory_bytes || out->cpu_shares || out->cpu_quota_millis;
}

int ex_limits_check(execd *d, const ExecRequest *r, grpc_status_code *code, char *err,
                    size_t errlen) {
  cgroup_limits lim;
  if (!limits_of(d, r, &lim)) return 0;
  const EP(ResourceLimits) *l = r->limits;
  if (l && l->cpu_millis && l->cpu_millis < MIN_CPU_MILLIS) {
    snprintf(err, errlen, "field \"limits.cpu_millis\": %" PRIu64 " is below the smallest quota "
             "the kernel takes (%d millicores)", l->cpu_millis, MIN_CPU_MILLIS);
    *code = GRPC_STATUS_INVALID_ARGUMENT;
    return -1;
  }
  const char *why;
  if (ex_limits_mode(&why) != CGROUP_NONE) return 0;
  const char *field = l && l->memory_bytes ? "limits.memory_bytes"
                      : l && l->cpu_shares ? "limits.cpu_shares"
                      : l && l->cpu_millis ? "limits.cpu_millis"
                                           : "session_id";
  snprintf(err, errlen, "field \"%s\": resource limits need cgroups, and this host offers none "
           "to elide-execd (%s)%s", field, why,
           !strcmp(field, "session_id") ? ": the session has a memory_limit_mb" : "");
  *code = GRPC_STATUS_FAILED_PRECONDITION;
  return -1;
}

const char *ex_limits_note(const ExecRequest *r) {
  const char *why;
  const EP(ResourceLimits) *l = r->limits;
  if (!l || !l->best_effort || ex_limits_mode(&why) != CGROUP_NONE) return "";
  if (!l->memory_bytes && !l->cpu_shares && !l->cpu_millis) return "";
  return why;
}

int ex_limits_check_session(uint64_t memory_limit_mb, grpc_status_code *code, char *err,
                            size_t errlen) {
  const char *why;
  if (!memory_limit_mb || ex_limits_mode(&why) != CGROUP_NONE) return 0;
  snprintf(err, errlen, "field \"config.memory_limit_mb\": memory limits need cgroups, and this "
           "host offers none to elide-execd (%s)", why);
  *code = GRPC_STATUS_FAILED_PRECONDITION;
  return -1;
}

/* The execution's directory name: its cgroups are named the same. */
static const char *name_of(const execution *e) {
  const char *slash = strrchr(e->dir, '/');
  return slash ? slash + 1 : e->dir;
}

static ex_cgroup *cgroup_at(cgroup_mode mode, const char *parent, const execution *e, char *err,
                            size_t errlen) {
  ex_cgroup *cg = calloc(1, sizeof *cg);
  if (!cg) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  if (cgroup_set_own(mode, CGROUP_DEFAULT_ROOT, parent, name_of(e), &cg->set, err, errlen) < 0) {
    free(cg);
    return NULL;
  }
  cgroup_set_dirs(&cg->set, cg->dirs, CGROUP_MAX_DIRS);
  cgroup_oom_file(&cg->set, cg->oom_file, sizeof cg->oom_file);
  return cg;
}

int ex_limits_setup(execution *e, spawn_context *ctx, char *err, size_t errlen) {
  cgroup_limits lim;
  if (!limits_of(e->d, e->req, &lim)) return 0;
  cgroup_mode mode = ex_limits_mode(NULL);
  ex_cgroup *cg = cgroup_at(mode, e->d->cfg.cgroup_parent, e, err, errlen);
  if (!cg) return -EINVAL;
  int rc = cgroup_set_create(&cg->set, err, errlen);
  if (rc == 0) rc = cgroup_apply_limits(&cg->set, &lim, err, errlen);
  if (rc == 0 && (rc = store_write_kv(e->dir, "cgroup", NULL, 0, "parent",
                                      e->d->cfg.cgroup_parent)) < 0)
    snprintf(err, errlen, "cannot write %s/cgroup: %s", e->dir, strerror(-rc));
  if (rc < 0) {
    cgroup_set_remove_own(&cg->set, 0);
    free(cg);
    return rc;
  }
  e->cg = cg;
  ctx->cgroup_dirs = cg->dirs;
  ctx->oom_counter_path = cg->oom_file;
  return 0;
}

void ex_limits_recover(execution *e) {
  char parent[PATH_MAX], err[512];
  if (store_read_kv(e->dir, "cgroup", NULL, 0, "parent", parent, sizeof parent) != 0) return;
  cgroup_mode mode = ex_limits_mode(NULL);
  if (mode == CGROUP_NONE) return;
  ex_cgroup *cg = cgroup_at(mode, parent, e, err, sizeof err);
  if (!cg) {
    log_msg(LOG_WARN, "execution's cgroups not recovered", "execution_id", e->id, "error", err,
            NULL);
    return;
  }
  e->cg = cg;
}

void ex_limits_remove(execution *e) {
  if (!e->cg) return;
  int rc = cgroup_set_remove_own(&e->cg->set, 2000);
  if (rc < 0)
    log_msg(LOG_WARN, "cannot remove an execution's cgroups", "execution_id", e->id, "path",
            e->cg->set.memory, "error", strerror(-rc), NULL);
}

void ex_limits_release_ended(execution *e) {
  if (!e->cg) return;
  int rc = cgroup_set_remove_own(&e->cg->set, 0);
  if (rc < 0) /* an orphan of the task is still in them: the deletion kills it and retries */
    log_msg(LOG_DEBUG, "execution's cgroups kept until its deletion", "execution_id", e->id,
            "path", e->cg->set.memory, "error", strerror(-rc), NULL);
}

int ex_limits_stats(execution *e, cgroup_stats *out) {
  return e->cg ? cgroup_read_stats(&e->cg->set, out) : -ENOENT;
}
