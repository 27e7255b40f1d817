/* ExecuteSnippet request validation (see validate.h). */
#include "validate.h"

#include "log.h"
#include "limits.h"
#include "sessions.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include "env_filter.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(grpc_status_code *code, grpc_status_code c, int rc) {
  *code = c;
  return rc;
}

int check_id(const char *field, const char *id, int required, char *err, size_t errlen) {
  if (!id || !id[0]) {
    if (!required) return 0;
    snprintf(err, errlen, "field \"%s\" is required", field);
    return -EINVAL;
  }
  if (strlen(id) > EXECD_MAX_ID) {
    snprintf(err, errlen, "field \"%s\": %zu bytes, more than the limit of %d", field, strlen(id),
             EXECD_MAX_ID);
    return -EINVAL;
  }
  for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
    if (*p < 0x20 || *p == 0x7f) {
      snprintf(err, errlen, "field \"%s\" must not contain control characters", field);
      return -EINVAL;
    }
  }
  return 0;
}

static int check_sizes(const ExecRequest *r, grpc_status_code *code, char *err, size_t errlen) {
  if (r->code && strlen(r->code) > EXECD_MAX_CODE) {
    snprintf(err, errlen, "field \"code\": %zu bytes, more than the limit of %u", strlen(r->code),
             EXECD_MAX_CODE);
    return fail(code, GRPC_STATUS_RESOURCE_EXHAUSTED, -E2BIG);
  }
  struct {
    const char *field;
    size_t n, max;
  } counts[] = {{"args", r->n_args, EXECD_MAX_ARGS},
                {"env", r->n_env, EXECD_MAX_ENV},
                {"options", r->n_options, EXECD_MAX_OPTIONS}};
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
    if (counts[i].n > counts[i].max) {
      snprintf(err, errlen, "field \"%s\": %zu entries, more than the limit of %zu",
               counts[i].field, counts[i].n, counts[i].max);
      return fail(code, GRPC_STATUS_RESOURCE_EXHAUSTED, -E2BIG);
    }
  }
  for (size_t i = 0; i < r->n_args; i++) {
    if (strlen(r->args[i]) > EXECD_MAX_STRING) {
      snprintf(err, errlen, "field \"args\": entry %zu is longer than %u bytes", i,
               EXECD_MAX_STRING);
      return fail(code, GRPC_STATUS_RESOURCE_EXHAUSTED, -E2BIG);
    }
  }
  for (size_t i = 0; i < r->n_env; i++) {
    const char *k = r->env[i]->key, *v = r->env[i]->value;
    if (strlen(k) > EXECD_MAX_STRING || (v && strlen(v) > EXECD_MAX_STRING)) {
      snprintf(err, errlen, "field \"env\": variable %zu is longer than %u bytes", i,
               EXECD_MAX_STRING);
      return fail(code, GRPC_STATUS_RESOURCE_EXHAUSTED, -E2BIG);
    }
  }
  const char *paths[] = {r->script, r->working_directory, r->user};
  const char *names[] = {"script", "working_directory", "user"};
  for (int i = 0; i < 3; i++) {
    if (paths[i] && strlen(paths[i]) >= PATH_MAX) {
      snprintf(err, errlen, "field \"%s\" is longer than %d bytes", names[i], PATH_MAX - 1);
      return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -ENAMETOOLONG);
    }
  }
  return 0;
}


static int resolve_wd(const ExecRequest *r, prepared *p, grpc_status_code *code, char *err,
                      size_t errlen) {
  const char *wd = r->working_directory;
  if (!wd || !wd[0]) return 0;
  struct stat st;
  if (wd[0] != '/') {
    snprintf(err, errlen, "field \"working_directory\": \"%s\" is not an absolute path", wd);
    return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -EINVAL);
  }
  int st_rc = stat(wd, &st);
  if (st_rc < 0 || !S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "field \"working_directory\": %s: %s", wd,
             st_rc < 0 ? strerror(errno) : "not a directory");
    return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -ENOTDIR);
  }
  snprintf(p->wd, sizeof p->wd, "%s", wd);
  return 0;
}

/* The script's real path must stay inside the working directory. */
static int resolve_script(const char *script, prepared *p, grpc_status_code *code, char *err,
                          size_t errlen) {
  if (!p->wd[0]) {
    snprintf(err, errlen, "field \"script\" needs field \"working_directory\" (the script must "
             "be inside it)");
    return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -EINVAL);
  }
  char joined[PATH_MAX * 2], real_dir[PATH_MAX], real[PATH_MAX];
  if (script[0] == '/') snprintf(joined, sizeof joined, "%s", script);
  else snprintf(joined, sizeof joined, "%s/%s", p->wd, script);
  if (!realpath(p->wd, real_dir)) {
    snprintf(err, errlen, "field \"working_directory\": %s: %s", p->wd, strerror(errno));
    return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -ENOENT);
  }
  if (!realpath(joined, real)) {
    snprintf(err, errlen, "field \"script\": %s: %s", script, strerror(errno));
    return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -ENOENT);
  }
  size_t dl = strlen(real_dir);
  if (strncmp(real, real_dir, dl) != 0 || (real[dl] != '/' && strcmp(real_dir, "/") != 0)) {
    snprintf(err, errlen, "field \"script\": %s resolves to %s, outside the working directory %s",
             script, real, real_dir);
    return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -EPERM);
  }
  struct stat st;
  if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "field \"script\": %s is not a regular file", script);
    return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -EINVAL);
  }
  p->script = strdup(real);
  return p->script ? 0 : fail(code, GRPC_STATUS_RESOURCE_EXHAUSTED, -ENOMEM);
}

/* A user name or a numeric uid, with its groups. */
static int resolve_user(const char *user, prepared *p, grpc_status_code *code, char *err,
                        size_t errlen) {
  if (!user || !user[0]) return 0;
  struct passwd pw, *res = NULL;
  char buf[16384];
  int rc = getpwnam_r(user, &pw, buf, sizeof buf, &res);
  if ((rc != 0 || !res) && strspn(user, "0123456789") == strlen(user) && strlen(user) < 10)
    rc = getpwuid_r((uid_t)strtoul(user, NULL, 10), &pw, buf, sizeof buf, &res);
  if (rc != 0 || !res) {
    snprintf(err, errlen, "field \"user\": \"%s\": %s", user, rc ? strerror(rc) : "no such user");
    return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -ENOENT);
  }
  if (geteuid() != 0 && pw.pw_uid != geteuid()) {
    snprintf(err, errlen, "field \"user\": \"%s\": elide-execd runs as uid %u and cannot switch "
             "users", user, (unsigned)geteuid());
    return fail(code, GRPC_STATUS_FAILED_PRECONDITION, -EPERM);
  }
  int ngroups = 64;
  for (int attempt = 0; attempt < 4; attempt++) {
    gid_t *grown = realloc(p->groups, (size_t)ngroups * sizeof *grown);
    if (!grown) break;
    p->groups = grown;
    int want = ngroups;
    if (getgrouplist(pw.pw_name, pw.pw_gid, p->groups, &want) >= 0) {
      p->ngroups = (size_t)want;
      p->set_user = 1;
      p->uid = pw.pw_uid;
      p->gid = pw.pw_gid;
      return 0;
    }
    ngroups = want > ngroups ? want : ngroups * 2;
  }
  snprintf(err, errlen, "field \"user\": \"%s\": cannot list its groups", user);
  return fail(code, GRPC_STATUS_RESOURCE_EXHAUSTED, -ENOMEM);
}

static int build_env(const ExecRequest *r, prepared *p, grpc_status_code *code, char *err,
                     size_t errlen) {
  p->envp = calloc(r->n_env + 1, sizeof *p->envp);
  if (!p->envp) return fail(code, GRPC_STATUS_RESOURCE_EXHAUSTED, -ENOMEM);
  size_t n = 0;
  for (size_t i = 0; i < r->n_env; i++) {
    const char *k = r->env[i]->key, *v = r->env[i]->value;
    if (!k[0] || strchr(k, '=')) {
      snprintf(err, errlen, "field \"env\": \"%s\" is not a variable name", k);
      return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -EINVAL);
    }
    if (env_name_is_denied(k)) {
      log_msg(LOG_DEBUG, "dropping a loader variable from the environment", "execution_id",
              r->execution_id, "variable", k, NULL);
      continue;
    }
    if (asprintf(&p->envp[n], "%s=%s", k, v ? v : "") < 0) {
      p->envp[n] = NULL;
      return fail(code, GRPC_STATUS_RESOURCE_EXHAUSTED, -ENOMEM);
    }
    n++;
  }
  return 0;
}

static int build_args(const ExecRequest *r, prepared *p, grpc_status_code *code) {
  p->args = calloc(r->n_args + 1, sizeof *p->args);
  if (!p->args) return fail(code, GRPC_STATUS_RESOURCE_EXHAUSTED, -ENOMEM);
  for (size_t i = 0; i < r->n_args; i++)
    if (!(p->args[i] = strdup(r->args[i]))) return fail(code, GRPC_STATUS_RESOURCE_EXHAUSTED, -ENOMEM);
  return 0;
}

/* The module's task keys from the options map (text parsed with each key's
 * type), defaults applied; unknown keys and missing required ones refused. */
static int build_options(const ExecRequest *r, prepared *p, grpc_status_code *code, char *err,
                         size_t errlen) {
  const elide_module_descriptor *d = p->module->desc;
  for (size_t i = 0; i < r->n_options; i++) {
    const char *k = r->options[i]->key;
    int known = 0;
    for (size_t t = 0; t < d->ntask_keys && !known; t++) known = !strcmp(d->task_keys[t].name, k);
    if (!known) {
      char list[512] = "";
      for (size_t t = 0; t < d->ntask_keys; t++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", t ? ", " : "",
                 d->task_keys[t].name);
      snprintf(err, errlen, "field \"options\": \"%s\" is not an option of the %s module "
               "(options: %s)", k, d->name, list[0] ? list : "none");
      return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -EINVAL);
    }
  }
  p->arena = value_arena_new();
  p->options = calloc(d->ntask_keys + 1, sizeof *p->options);
  if (!p->arena || !p->options) return fail(code, GRPC_STATUS_RESOURCE_EXHAUSTED, -ENOMEM);
  for (size_t t = 0; t < d->ntask_keys; t++) {
    const elide_key *key = &d->task_keys[t];
    const char *text = NULL;
    for (size_t i = 0; i < r->n_options && !text; i++)
      if (!strcmp(r->options[i]->key, key->name)) text = r->options[i]->value;
    if (!text) text = key->default_value;
    elide_value *v = &p->options[t];
    if (!text) {
      if (key->flags & ELIDE_KEY_REQUIRED) {
        snprintf(err, errlen, "field \"options\": \"%s\" is required by the %s module", key->name,
                 d->name);
        return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -EINVAL);
      }
      v->name = key->name;
      v->type = key->type;
      continue;
    }
    char why[512];
    if (elide_value_parse(key, text, p->arena, v, why, sizeof why) != 0) {
      snprintf(err, errlen, "field \"options\": %s", why);
      return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -EINVAL);
    }
  }
  p->noptions = d->ntask_keys;
  return 0;
}

static int check_basics(execd *d, const ExecRequest *r, prepared *p, grpc_status_code *code,
                        char *err, size_t errlen) {
  if (check_id("execution_id", r->execution_id, 1, err, errlen) < 0 ||
      check_id("session_id", r->session_id, 0, err, errlen) < 0)
    return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -EINVAL);
  if (store_escape(r->execution_id, p->escaped, sizeof p->escaped) < 0) {
    snprintf(err, errlen, "field \"execution_id\" is too long once escaped for a file name "
             "(at most %d bytes; bytes other than [A-Za-z0-9._-] take 3)", STORE_MAX_ESCAPED);
    return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -ENAMETOOLONG);
  }
  int rc = check_sizes(r, code, err, errlen);
  if (rc < 0) return rc;
  if (!r->language[0]) {
    snprintf(err, errlen, "field \"language\" is required");
    return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -EINVAL);
  }
  char langs[512];
  if (!(p->module = execd_module_for(d, r->language, langs, sizeof langs))) {
    snprintf(err, errlen, "field \"language\": unknown language \"%s\" (available: %s)",
             r->language, langs[0] ? langs : "none");
    return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -EINVAL);
  }
  if (sessions_check(d, r->session_id, r->language, code, err, errlen) < 0) return -EINVAL;
  int has_code = r->code[0] != '\0', has_script = r->script[0] != '\0';
  if (has_code == has_script) {
    snprintf(err, errlen, "exactly one of fields \"code\" and \"script\" must be set (got %s)",
             has_code ? "both" : "neither");
    return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -EINVAL);
  }
  if (r->kill_signal < 0 || r->kill_signal >= NSIG) {
    snprintf(err, errlen, "field \"kill_signal\": %d is not a signal number (1-%d)",
             r->kill_signal, NSIG - 1);
    return fail(code, GRPC_STATUS_INVALID_ARGUMENT, -EINVAL);
  }
  p->kill_signal = r->kill_signal ? r->kill_signal : SIGTERM;
  /* Limits need cgroups: refused rather than run without them (limits.c). */
  return ex_limits_check(d, r, code, err, errlen) < 0 ? -EINVAL : 0;
}

/* full: every check of ExecuteSnippet; otherwise only the execution's
 * context (prepare_context). One sequence, so both resolve alike. */
static int prepare(execd *d, const ExecRequest *r, int full, prepared *p, grpc_status_code *code,
                   char *err, size_t errlen) {
  memset(p, 0, sizeof *p);
  *code = GRPC_STATUS_OK;
  err[0] = '\0';
  int rc = full ? check_basics(d, r, p, code, err, errlen) : 0;
  if (rc == 0) rc = resolve_wd(r, p, code, err, errlen);
  if (rc == 0 && full && r->script[0]) rc = resolve_script(r->script, p, code, err, errlen);
  if (rc == 0) rc = resolve_user(r->user, p, code, err, errlen);
  if (rc == 0) rc = build_env(r, p, code, err, errlen);
  if (rc == 0 && full) rc = build_args(r, p, code);
  if (rc == 0 && full) rc = build_options(r, p, code, err, errlen);
  if (rc != 0) {
    if (!err[0]) snprintf(err, errlen, "out of memory checking the request");
    prepared_free(p);
  }
  return rc;
}

int prepare_request(execd *d, const ExecRequest *r, prepared *p, grpc_status_code *code,
                    char *err, size_t errlen) {
  return prepare(d, r, 1, p, code, err, errlen);
}

int prepare_context(const ExecRequest *r, prepared *p, grpc_status_code *code, char *err,
                    size_t errlen) {
  return prepare(NULL, r, 0, p, code, err, errlen);
}

void prepared_free(prepared *p) {
  free(p->script);
  for (char **a = p->args; a && *a; a++) free(*a);
  free(p->args);
  for (char **e = p->envp; e && *e; e++) free(*e);
  free(p->envp);
  free(p->groups);
  free(p->options);
  value_arena_free(p->arena);
  memset(p, 0, sizeof *p);
}

/* ---- idempotency ---- */

static int str_eq(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

typedef struct kv {
  const char *k, *v;
} kv;

/* Every pair of `a` is in `b` and the counts match (keys are unique in a
 * map; a repeated key in a hand-made message compares as written). */
static int pairs_eq(const kv *a, size_t na, const kv *b, size_t nb) {
  if (na != nb) return 0;
  for (size_t i = 0; i < na; i++) {
    int found = 0;
    for (size_t j = 0; j < nb && !found; j++) found = str_eq(a[i].k, b[j].k) && str_eq(a[i].v, b[j].v);
    if (!found) return 0;
  }
  return 1;
}

static int env_eq(const ExecRequest *a, const ExecRequest *b) {
  if (a->n_env != b->n_env) return 0;
  kv *x = calloc(a->n_env + 1, sizeof *x), *y = calloc(b->n_env + 1, sizeof *y);
  int eq = 0;
  if (x && y) {
    for (size_t i = 0; i < a->n_env; i++) x[i] = (kv){a->env[i]->key, a->env[i]->value};
    for (size_t i = 0; i < b->n_env; i++) y[i] = (kv){b->env[i]->key, b->env[i]->value};
    eq = pairs_eq(x, a->n_env, y, b->n_env);
  }
  free(x);
  free(y);
  return eq;
}

static int options_eq(const ExecRequest *a, const ExecRequest *b) {
  if (a->n_options != b->n_options) return 0;
  kv x[EXECD_MAX_OPTIONS], y[EXECD_MAX_OPTIONS];
  if (a->n_options > EXECD_MAX_OPTIONS) return 0;
  for (size_t i = 0; i < a->n_options; i++) x[i] = (kv){a->options[i]->key, a->options[i]->value};
  for (size_t i = 0; i < b->n_options; i++) y[i] = (kv){b->options[i]->key, b->options[i]->value};
  return pairs_eq(x, a->n_options, y, b->n_options);
}

static int limits_eq(const EP(ResourceLimits) * a, const EP(ResourceLimits) * b) {
  uint64_t am = a ? a->memory_bytes : 0, bm = b ? b->memory_bytes : 0;
  uint64_t as = a ? a->cpu_shares : 0, bs = b ? b->cpu_shares : 0;
  uint64_t ac = a ? a->cpu_millis : 0, bc = b ? b->cpu_millis : 0;
  return am == bm && as == bs && ac == bc;
}

int request_equal(const ExecRequest *a, const ExecRequest *b) {
  if (!str_eq(a->session_id, b->session_id) || !str_eq(a->execution_id, b->execution_id) ||
      !str_eq(a->code, b->code) || !str_eq(a->language, b->language) ||
      !str_eq(a->script, b->script) || !str_eq(a->working_directory, b->working_directory) ||
      !str_eq(a->user, b->user) || a->timeout_ms != b->timeout_ms || !a->stdin != !b->stdin ||
      a->kill_signal != b->kill_signal || a->kill_grace_ms != b->kill_grace_ms ||
      a->n_args != b->n_args || !limits_eq(a->limits, b->limits))
    return 0;
  for (size_t i = 0; i < a->n_args; i++)
    if (!str_eq(a->args[i], b->args[i])) return 0;
  return env_eq(a, b) && options_eq(a, b);
}
