/* Task config decoding and validation (see task_config.h). */
#include "task_config.h"

#include "duration.h"
#include "signals.h"
#include "strv.h"
#include "task_schema.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
  TC_ARGS,
  TC_CODE,
  TC_LANGUAGE,
  TC_SCRIPT,
  TC_TIMEOUT,
  TC_TIMEOUT_GRACE,
  TC_TIMEOUT_SIGNAL,
  TC_COUNT
};

const cty_field task_config_fields[] = {
    [TC_ARGS] = {"args", CTY_LIST_STRING, 0, NULL, NULL, "arguments passed to the program"},
    [TC_CODE] = {"code", CTY_STRING, 0, NULL, NULL, "inline source (exclusive with script)"},
    [TC_LANGUAGE] = {"language", CTY_STRING, 1, NULL, NULL, "backend language, e.g. python"},
    [TC_SCRIPT] = {"script", CTY_STRING, 0, NULL, NULL,
                   "script path inside the task directory (exclusive with code)"},
    [TC_TIMEOUT] = {"timeout", CTY_STRING, 0, NULL, NULL,
                    "longest run time (\"30s\", \"1m30s\"), then timeout_signal; unset = none"},
    [TC_TIMEOUT_GRACE] = {"timeout_grace", CTY_STRING, 0, "5s", NULL,
                          "time between timeout_signal and SIGKILL"},
    [TC_TIMEOUT_SIGNAL] = {"timeout_signal", CTY_STRING, 0, "SIGINT", NULL,
                           "signal sent at the timeout (mirror the job's kill_signal)"},
};
const size_t task_config_nfields = TC_COUNT;

void task_request_free(task_request *r) {
  if (r->values) cty_values_free(r->values, r->schema->nfields);
  free(r->values);
  free(r->options);
  strv_free(r->option_texts);
  free(r->language);
  free(r->script);
  free(r->code);
  strv_free(r->args);
  strv_free(r->envp);
  free(r->groups);
  memset(r, 0, sizeof *r);
}

static int build_env(const NomadTaskConfig *cfg, task_request *out, char *err, size_t errlen) {
  out->envp = calloc(cfg->n_env + 1, sizeof *out->envp);
  if (!out->envp) goto oom;
  size_t n = 0;
  for (size_t i = 0; i < cfg->n_env; i++) {
    const char *k = cfg->env[i]->key, *v = cfg->env[i]->value;
    if (!k || !k[0] || strchr(k, '=') || env_name_is_denied(k)) continue;
    if (asprintf(&out->envp[n], "%s=%s", k, v ? v : "") < 0) {
      out->envp[n] = NULL;
      goto oom;
    }
    n++;
  }
  return 0;
oom:
  snprintf(err, errlen, "out of memory building the task environment");
  return -ENOMEM;
}

/* Resolves `script` (relative to the task dir, or absolute) and requires the
 * real path, symlinks followed, to stay inside the task directory. */
static int resolve_script(const char *script, task_request *out, char *err, size_t errlen) {
  char joined[PATH_MAX * 2], real_dir[PATH_MAX], real[PATH_MAX];
  if (script[0] == '/')
    snprintf(joined, sizeof joined, "%s", script);
  else
    snprintf(joined, sizeof joined, "%s/%s", out->task_dir, script);
  if (!realpath(out->task_dir, real_dir)) {
    snprintf(err, errlen, "task directory %s: %s", out->task_dir, strerror(errno));
    return -ENOENT;
  }
  if (!realpath(joined, real)) {
    snprintf(err, errlen, "task config: field \"script\": %s: %s", script, strerror(errno));
    return -ENOENT;
  }
  size_t dl = strlen(real_dir);
  if (strncmp(real, real_dir, dl) != 0 || real[dl] != '/') {
    snprintf(err, errlen,
             "task config: field \"script\": %s resolves to %s, outside the task directory %s",
             script, real, real_dir);
    return -EPERM;
  }
  struct stat st;
  if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "task config: field \"script\": %s is not a regular file", script);
    return -EINVAL;
  }
  out->script = strdup(real);
  return out->script ? 0 : -ENOMEM;
}

/* Resolves the job's `user` to uid, gid and supplementary groups. */
static int resolve_user(const char *user, task_request *out, char *err, size_t errlen) {
  if (!user || !user[0]) return 0;
  struct passwd pw, *res = NULL;
  char buf[16384];
  int rc = getpwnam_r(user, &pw, buf, sizeof buf, &res);
  if (rc != 0 || !res) {
    snprintf(err, errlen, "user \"%s\": %s", user, rc ? strerror(rc) : "no such user");
    return -ENOENT;
  }
  if (geteuid() != 0 && pw.pw_uid != geteuid()) {
    snprintf(err, errlen, "user \"%s\": the plugin runs as uid %u and cannot switch users", user,
             (unsigned)geteuid());
    return -EPERM;
  }
  int ngroups = 64;
  gid_t *groups = NULL;
  for (int attempt = 0; attempt < 4; attempt++) {
    gid_t *grown = realloc(groups, (size_t)ngroups * sizeof *groups);
    if (!grown) break;
    groups = grown;
    int want = ngroups;
    if (getgrouplist(user, pw.pw_gid, groups, &want) >= 0) {
      ngroups = want;
      out->groups = groups;
      out->ngroups = (size_t)ngroups;
      out->set_user = 1;
      out->uid = pw.pw_uid;
      out->gid = pw.pw_gid;
      return 0;
    }
    ngroups = want > ngroups ? want : ngroups * 2;
  }
  free(groups);
  snprintf(err, errlen, "user \"%s\": cannot list its groups", user);
  return -ENOMEM;
}

/* The timeout keys: durations and a signal name, checked here so a bad
 * value fails StartTask naming the field. */
static int take_timeout(cty_value *v, task_request *out, char *err, size_t errlen) {
  char why[256];
  out->timeout_signal = SIGINT;
  out->timeout_grace_ms = 5000;
  if (!v[TC_TIMEOUT].is_null && v[TC_TIMEOUT].str[0]) {
    if (duration_parse_ms(v[TC_TIMEOUT].str, &out->timeout_ms, why, sizeof why) != 0) {
      snprintf(err, errlen, "task config: field \"timeout\": %s", why);
      return -EINVAL;
    }
    if (out->timeout_ms <= 0) {
      snprintf(err, errlen, "task config: field \"timeout\": \"%s\" must be longer than 0 "
               "(leave it unset for no timeout)", v[TC_TIMEOUT].str);
      return -EINVAL;
    }
  }
  if (!v[TC_TIMEOUT_GRACE].is_null && v[TC_TIMEOUT_GRACE].str[0] &&
      duration_parse_ms(v[TC_TIMEOUT_GRACE].str, &out->timeout_grace_ms, why, sizeof why) != 0) {
    snprintf(err, errlen, "task config: field \"timeout_grace\": %s", why);
    return -EINVAL;
  }
  if (!v[TC_TIMEOUT_SIGNAL].is_null && v[TC_TIMEOUT_SIGNAL].str[0]) {
    out->timeout_signal = signal_from_name(v[TC_TIMEOUT_SIGNAL].str);
    if (!out->timeout_signal) {
      snprintf(err, errlen, "task config: field \"timeout_signal\": unknown signal \"%s\"",
               v[TC_TIMEOUT_SIGNAL].str);
      return -EINVAL;
    }
  }
  return 0;
}

static int take_fields(cty_value *v, task_request *out, char *err, size_t errlen) {
  int has_script = !v[TC_SCRIPT].is_null && v[TC_SCRIPT].str[0];
  int has_code = !v[TC_CODE].is_null && v[TC_CODE].str[0];
  if (has_script == has_code) {
    snprintf(err, errlen, "task config: exactly one of fields \"script\" and \"code\" must be set "
                          "(got %s)", has_script ? "both" : "neither");
    return -EINVAL;
  }
  if (!v[TC_LANGUAGE].str[0]) {
    snprintf(err, errlen, "task config: field \"language\": must not be empty");
    return -EINVAL;
  }
  out->language = strdup(v[TC_LANGUAGE].str);
  out->args = calloc(v[TC_ARGS].n + 1, sizeof *out->args);
  if (!out->language || !out->args) return -ENOMEM;
  for (size_t i = 0; i < v[TC_ARGS].n; i++)
    if (!(out->args[i] = strdup(v[TC_ARGS].items[i]))) return -ENOMEM;
  if (has_code && !(out->code = strdup(v[TC_CODE].str))) return -ENOMEM;
  if (has_script) return resolve_script(v[TC_SCRIPT].str, out, err, errlen);
  return 0;
}

/* <alloc_dir>/<name>, both as Nomad sent them. */
static int task_dir_of(const NomadTaskConfig *cfg, task_request *out, char *err, size_t errlen) {
  if (!cfg->alloc_dir || cfg->alloc_dir[0] != '/' || !cfg->name || !cfg->name[0] ||
      strchr(cfg->name, '/')) {
    snprintf(err, errlen, "task %s: alloc_dir \"%s\" and name \"%s\" must give an absolute task "
             "directory", cfg->id ? cfg->id : "", cfg->alloc_dir ? cfg->alloc_dir : "",
             cfg->name ? cfg->name : "");
    return -EINVAL;
  }
  snprintf(out->task_dir, sizeof out->task_dir, "%s/%s", cfg->alloc_dir, cfg->name);
  return 0;
}

int task_request_identity(const NomadTaskConfig *cfg, task_request *out, char *err,
                          size_t errlen) {
  memset(out, 0, sizeof *out);
  int rc = task_dir_of(cfg, out, err, errlen);
  if (rc == 0) rc = build_env(cfg, out, err, errlen);
  if (rc == 0) rc = resolve_user(cfg->user, out, err, errlen);
  if (rc != 0) task_request_free(out);
  return rc;
}

int task_request_build(const NomadTaskConfig *cfg, const task_schema *schema, task_request *out,
                       char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (task_dir_of(cfg, out, err, errlen) != 0) return -EINVAL;
  out->schema = schema;
  out->values = calloc(schema->nfields, sizeof *out->values);
  if (!out->values) {
    snprintf(err, errlen, "out of memory decoding the task config");
    return -ENOMEM;
  }
  int rc = cty_decode_object(schema->fields, schema->nfields, cfg->msgpack_driver_config.data,
                             cfg->msgpack_driver_config.len, "task config", out->values, err,
                             errlen);
  if (rc != 0) {
    free(out->values);
    out->values = NULL;
    return rc;
  }
  rc = take_fields(out->values, out, err, errlen);
  if (rc == 0) rc = take_timeout(out->values, out, err, errlen);
  if (rc == 0) rc = build_env(cfg, out, err, errlen);
  if (rc == 0) rc = resolve_user(cfg->user, out, err, errlen);
  if (rc == -ENOMEM && !err[0]) snprintf(err, errlen, "out of memory decoding the task config");
  if (rc != 0) task_request_free(out);
  return rc;
}

/* Keeps a formatted copy of a number for elide_value.str. */
static const char *keep_text(task_request *r, size_t *n, const char *text) {
  char *copy = strdup(text);
  if (!copy) return NULL;
  r->option_texts[(*n)++] = copy;
  return copy;
}

/* One option from its decoded cty value, checked against the key's type. */
static int convert_option(task_request *r, size_t *ntexts, const elide_key *k, const cty_value *v,
                          elide_value *o, char *err, size_t errlen) {
  memset(o, 0, sizeof *o);
  o->name = k->name;
  o->type = k->type;
  if (v->is_null) {
    if (k->flags & ELIDE_KEY_REQUIRED) {
      snprintf(err, errlen, "task config: field \"%s\": required by this backend but not set",
               k->name);
      return -EINVAL;
    }
    if (!k->default_value) return 0;
    o->is_set = 1;
    o->str = k->default_value;
    if (k->type == ELIDE_VALUE_INT) o->i = strtoll(k->default_value, NULL, 10);
    if (k->type == ELIDE_VALUE_BOOL) o->i = strcmp(k->default_value, "true") == 0;
    return 0;
  }
  o->is_set = 1;
  char num[64];
  switch (k->type) {
  case ELIDE_VALUE_INT:
    if (!v->num_is_int) {
      snprintf(err, errlen, "task config: field \"%s\": expected an integer, got %g", k->name,
               v->num);
      return -EINVAL;
    }
    o->i = v->inum;
    snprintf(num, sizeof num, "%lld", (long long)v->inum);
    o->str = keep_text(r, ntexts, num);
    break;
  case ELIDE_VALUE_BOOL:
    o->i = v->boolean;
    o->str = v->boolean ? "true" : "false";
    break;
  case ELIDE_VALUE_LIST:
    o->list = (const char *const *)v->items;
    o->nlist = v->n;
    break;
  case ELIDE_VALUE_PATH:
    if (v->str[0] != '/') {
      snprintf(err, errlen, "task config: field \"%s\": \"%s\" must be an absolute path",
               k->name, v->str);
      return -EINVAL;
    }
    o->str = v->str;
    break;
  default:
    o->str = v->str;
  }
  return o->str || k->type == ELIDE_VALUE_LIST ? 0 : -ENOMEM;
}

int task_request_options(task_request *r, const struct loaded_module *m, char *err,
                         size_t errlen) {
  const task_schema *s = r->schema;
  const elide_module_descriptor *d = m->desc;
  for (size_t f = s->nhost; f < s->nfields; f++) {
    if (r->values[f].is_null || s->owner[f] == m) continue;
    int shared = 0;
    for (size_t k = 0; k < d->ntask_keys && !shared; k++)
      shared = strcmp(d->task_keys[k].name, s->fields[f].name) == 0;
    if (!shared) {
      snprintf(err, errlen, "task config: field \"%s\" belongs to the %s backend and is not used "
               "by language \"%s\"", s->fields[f].name, s->owner[f]->desc->name, r->language);
      return -EINVAL;
    }
  }
  r->options = calloc(d->ntask_keys + 1, sizeof *r->options);
  r->option_texts = calloc(d->ntask_keys + 1, sizeof *r->option_texts);
  if (!r->options || !r->option_texts) return -ENOMEM;
  size_t ntexts = 0;
  for (size_t k = 0; k < d->ntask_keys; k++) {
    const cty_value *v = NULL;
    for (size_t f = s->nhost; f < s->nfields && !v; f++)
      if (strcmp(s->fields[f].name, d->task_keys[k].name) == 0) v = &r->values[f];
    static const cty_value null_value = {.is_null = 1};
    int rc = convert_option(r, &ntexts, &d->task_keys[k], v ? v : &null_value, &r->options[k], err,
                            errlen);
    if (rc != 0) return rc;
  }
  r->noptions = d->ntask_keys;
  return 0;
}
