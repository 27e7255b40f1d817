/* The agent-side plugin configuration (`plugin "nomad-driver-elide" {
 * config { ... } }`): its schema, decoding, defaults, and applying it to the
 * module registry. */
#include "plugin.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { CFG_MODULE_DIR, CFG_PYTHON_RUNTIME, CFG_STATE_DIR, CFG_COUNT };

const cty_field plugin_config_fields[] = {
    [CFG_MODULE_DIR] = {"module_dir", CTY_STRING, 0, "", NULL,
                        "absolute directory of backend modules (default: next to the binary)"},
    [CFG_PYTHON_RUNTIME] = {"python_runtime", CTY_STRING, 0, "/usr/bin/python3", NULL,
                            "absolute path of the python interpreter"},
    [CFG_STATE_DIR] = {"state_dir", CTY_STRING, 0, "", NULL,
                       "absolute directory for per-task exit records (default "
                       "/run/nomad-driver-elide as root)"},
};
const size_t plugin_config_nfields = CFG_COUNT;

void plugin_config_defaults(plugin_config *out) {
  memset(out, 0, sizeof *out);
  snprintf(out->python_runtime, sizeof out->python_runtime, "/usr/bin/python3");
  modules_default_path("modules", out->module_dir, sizeof out->module_dir);
  if (geteuid() == 0) {
    snprintf(out->state_dir, sizeof out->state_dir, "/run/nomad-driver-elide");
  } else {
    const char *tmp = getenv("TMPDIR");
    snprintf(out->state_dir, sizeof out->state_dir, "%s/nomad-driver-elide-%u",
             tmp && tmp[0] == '/' ? tmp : "/tmp", (unsigned)geteuid());
  }
}

/* Copies an optional absolute path setting; "" keeps the default. */
static int take_path(const cty_value *v, const char *field, char *dst, size_t cap, char *err,
                     size_t errlen) {
  if (v->is_null || !v->str || !v->str[0]) return 0;
  if (v->str[0] != '/') {
    snprintf(err, errlen, "plugin config: field \"%s\": \"%s\" must be an absolute path", field,
             v->str);
    return -EINVAL;
  }
  if (strlen(v->str) >= cap) {
    snprintf(err, errlen, "plugin config: field \"%s\": path is too long", field);
    return -ENAMETOOLONG;
  }
  snprintf(dst, cap, "%s", v->str);
  return 0;
}

int plugin_config_decode(const void *msgpack, size_t len, plugin_config *out, char *err,
                         size_t errlen) {
  cty_value vals[CFG_COUNT];
  plugin_config_defaults(out);
  int rc = cty_decode_object(plugin_config_fields, CFG_COUNT, msgpack, len, "plugin config", vals,
                             err, errlen);
  if (rc != 0) return rc;
  for (int i = 0; i < CFG_COUNT && rc == 0; i++) {
    char *dst = i == CFG_MODULE_DIR ? out->module_dir
                : i == CFG_PYTHON_RUNTIME ? out->python_runtime
                                          : out->state_dir;
    rc = take_path(&vals[i], plugin_config_fields[i].name, dst, PATH_MAX, err, errlen);
  }
  cty_values_free(vals, CFG_COUNT);
  return rc;
}

/* Host services handed to modules (module_host.c). */
extern const elide_host_services module_host_services;

/* Plugin-block settings that override a module's own keys. */
static const char *module_override(const plugin_config *cfg, const char *module, const char *key) {
  if (strcmp(module, "python") == 0 && strcmp(key, "runtime") == 0) return cfg->python_runtime;
  return NULL;
}

/* Typed values for every key a module declares: the override if any, else
 * the declared default. `texts` holds copies the values point into. */
static void module_values(const plugin_config *cfg, const elide_module_descriptor *d,
                          elide_value *vals) {
  for (size_t i = 0; i < d->nconfig_keys && i < 64; i++) {
    const elide_key *k = &d->config_keys[i];
    const char *text = module_override(cfg, d->name, k->name);
    if (!text) text = k->default_value;
    memset(&vals[i], 0, sizeof vals[i]);
    vals[i].name = k->name;
    vals[i].type = k->type;
    vals[i].is_set = text != NULL;
    vals[i].str = text;
    if (text && k->type == ELIDE_VALUE_INT) vals[i].i = strtoll(text, NULL, 10);
    if (text && k->type == ELIDE_VALUE_BOOL) vals[i].i = strcmp(text, "true") == 0;
  }
}

int plugin_apply_config(plugin *p, const plugin_config *cfg, char *err, size_t errlen) {
  pthread_mutex_lock(&p->mu);
  if (p->modules.n == 0 && !p->modules_error[0]) {
    char why[512];
    if (modules_load_dir(&p->modules, cfg->module_dir, why, sizeof why) != 0)
      snprintf(p->modules_error, sizeof p->modules_error, "%s", why);
  }
  /* Re-initialise every loaded module with the new settings. The previous
   * instances are retired but not freed: running tasks may still use them. */
  for (size_t i = 0; i < p->modules.n; i++) {
    loaded_module *m = &p->modules.mods[i];
    if (!m->desc) continue;
    elide_value vals[64];
    module_values(cfg, m->desc, vals);
    elide_module_config mc = {sizeof mc, vals, m->desc->nconfig_keys < 64 ? m->desc->nconfig_keys : 64,
                              NULL, 0};
    void *state = NULL;
    char why[400] = "";
    if (m->desc->ops->init(&module_host_services, &mc, &state, why, sizeof why) != 0) {
      snprintf(m->error, sizeof m->error, "module %s: init failed: %s", m->desc->name, why);
      log_msg(LOG_ERROR, "module init failed", "module", m->desc->name, "error", why, NULL);
      m->state = NULL;
    } else {
      m->error[0] = '\0';
      m->state = state;
    }
  }
  if (!p->task_schema_built) {
    char why[256];
    if (task_schema_build(&p->task_schema, &p->modules, why, sizeof why) == 0)
      p->task_schema_built = 1;
    else
      log_msg(LOG_ERROR, "task config schema", "error", why, NULL);
  }
  p->cfg = *cfg;
  p->configured = 1;
  pthread_mutex_unlock(&p->mu);
  (void)err;
  (void)errlen;
  return 0;
}

void plugin_ensure_configured(plugin *p) {
  pthread_mutex_lock(&p->mu);
  int configured = p->configured;
  pthread_mutex_unlock(&p->mu);
  if (configured) return;
  plugin_config cfg;
  char err[256];
  plugin_config_defaults(&cfg);
  plugin_apply_config(p, &cfg, err, sizeof err);
}
