/* The agent-side plugin configuration (`plugin "nomad-driver-elide" {
 * config { ... } }`): its schema, decoding, defaults, and applying it. */
#include "plugin.h"
#include "warm_pools.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { CFG_ALLOW_ROOT, CFG_CONFIG_FILE, CFG_DAEMON_ENDPOINT, CFG_MODULE_DIR, CFG_MODULE_OPTIONS,
       CFG_PYTHON_RUNTIME, CFG_STATE_DIR, CFG_COUNT };

const cty_field plugin_config_fields[] = {
    /* No default: null means "not set here", so INI [driver] allow_root
     * (or the built-in true) applies. */
    [CFG_ALLOW_ROOT] = {"allow_root", CTY_BOOL, 0, NULL, NULL,
                        "false refuses tasks that would run as root (no user while the agent "
                        "runs as root, or a user with uid 0); overrides [driver] allow_root"},
    [CFG_CONFIG_FILE] = {"config_file", CTY_STRING, 0, "", NULL,
                         "absolute path of the INI deployment file (driver.ini)"},
    [CFG_DAEMON_ENDPOINT] = {"daemon_endpoint", CTY_STRING, 0, "", NULL,
                             "address of elide-execd (unix:/path or host:port) for backends in "
                             "mode = daemon; overrides [daemon] endpoint"},
    [CFG_MODULE_DIR] = {"module_dir", CTY_STRING, 0, "", NULL,
                        "absolute directory of backend modules; overrides [driver] module_dir"},
    /* A list of "k=v" strings, not a map: Nomad parses agent files with
     * HCL1, which turns `x = { ... }` into a list of objects that a
     * map(string) attribute rejects at agent start. */
    [CFG_MODULE_OPTIONS] = {"module_options", CTY_LIST_STRING, 0, NULL, NULL,
                            "[\"<module>.<key>=<value>\", ...]; overrides [module.<module>] keys"},
    [CFG_PYTHON_RUNTIME] = {"python_runtime", CTY_STRING, 0, "", NULL,
                            "absolute path of the python interpreter; overrides [module.python] "
                            "runtime"},
    [CFG_STATE_DIR] = {"state_dir", CTY_STRING, 0, "", NULL,
                       "absolute directory for per-task exit records; overrides [driver] "
                       "state_dir"},
};
const size_t plugin_config_nfields = CFG_COUNT;

void plugin_config_defaults(plugin_config *out) {
  memset(out, 0, sizeof *out);
  out->allow_root = -1;
}

/* Copies an optional absolute path setting; "" leaves it unset. */
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

/* The daemon's address: "unix:/abs/path", or "host:port". */
int plugin_endpoint_check(const char *ep, char *why, size_t whylen) {
  if (strlen(ep) >= 512) {
    snprintf(why, whylen, "\"%.40s...\" is too long", ep);
    return -ENAMETOOLONG;
  }
  if (!strncmp(ep, "unix:", 5) ? ep[5] != '/' : (!strchr(ep, ':') || ep[0] == ':')) {
    snprintf(why, whylen, "\"%s\" must read unix:/absolute/path or host:port", ep);
    return -EINVAL;
  }
  return 0;
}

static int take_endpoint(const cty_value *v, plugin_config *out, char *err, size_t errlen) {
  if (v->is_null || !v->str || !v->str[0]) return 0;
  char why[600];
  if (plugin_endpoint_check(v->str, why, sizeof why) != 0) {
    snprintf(err, errlen, "plugin config: field \"daemon_endpoint\": %s", why);
    return -EINVAL;
  }
  snprintf(out->daemon_endpoint, sizeof out->daemon_endpoint, "%s", v->str);
  return 0;
}

static int take_module_options(const cty_value *v, plugin_config *out, char *err, size_t errlen) {
  if (v->is_null) return 0;
  if (v->n > PLUGIN_MAX_MODULE_OPTIONS) {
    snprintf(err, errlen, "plugin config: field \"module_options\": more than %d entries",
             PLUGIN_MAX_MODULE_OPTIONS);
    return -E2BIG;
  }
  for (size_t i = 0; i < v->n; i++) {
    const char *item = v->items[i], *eq = strchr(item, '=');
    const char *dot = eq ? memchr(item, '.', (size_t)(eq - item)) : NULL;
    size_t klen = eq ? (size_t)(eq - item) : 0;
    if (!eq || !dot || dot == item || dot + 1 == eq || klen >= sizeof out->module_options[i].key ||
        strlen(eq + 1) >= sizeof out->module_options[i].value) {
      snprintf(err, errlen, "plugin config: field \"module_options\": entry %zu \"%.80s\" must "
               "read \"<module>.<key>=<value>\" (value at most 1023 bytes)", i, item);
      return -EINVAL;
    }
    snprintf(out->module_options[i].key, sizeof out->module_options[i].key, "%.*s", (int)klen,
             item);
    snprintf(out->module_options[i].value, sizeof out->module_options[i].value, "%s", eq + 1);
  }
  out->nmodule_options = v->n;
  return 0;
}

int plugin_config_decode(const void *msgpack, size_t len, plugin_config *out, char *err,
                         size_t errlen) {
  cty_value v[CFG_COUNT];
  plugin_config_defaults(out);
  int rc = cty_decode_object(plugin_config_fields, CFG_COUNT, msgpack, len, "plugin config", v,
                             err, errlen);
  if (rc != 0) return rc;
  if (rc == 0) rc = take_path(&v[CFG_CONFIG_FILE], "config_file", out->config_file, PATH_MAX, err,
                              errlen);
  if (rc == 0) rc = take_path(&v[CFG_MODULE_DIR], "module_dir", out->module_dir, PATH_MAX, err,
                              errlen);
  if (rc == 0) rc = take_path(&v[CFG_PYTHON_RUNTIME], "python_runtime", out->python_runtime,
                              PATH_MAX, err, errlen);
  if (rc == 0) rc = take_path(&v[CFG_STATE_DIR], "state_dir", out->state_dir, PATH_MAX, err,
                              errlen);
  if (rc == 0) rc = take_module_options(&v[CFG_MODULE_OPTIONS], out, err, errlen);
  if (rc == 0) rc = take_endpoint(&v[CFG_DAEMON_ENDPOINT], out, err, errlen);
  if (rc == 0 && !v[CFG_ALLOW_ROOT].is_null) out->allow_root = v[CFG_ALLOW_ROOT].boolean != 0;
  cty_values_free(v, CFG_COUNT);
  return rc;
}

/* warm_pools_sync: a module in daemon mode has its pool in the daemon. */
static int runs_locally(void *arg, const char *module) {
  return !plugin_module_in_daemon_mode(arg, module);
}

int plugin_apply_config(plugin *p, const plugin_config *cfg, char *err, size_t errlen) {
  plugin_config effective = *cfg;
  pthread_mutex_lock(&p->mu);
  int rc = deployment_apply(p, &effective, err, errlen);
  if (rc == 0) {
    if (!p->task_schema_built) {
      char why[256];
      if (task_schema_build(&p->task_schema, &p->modules, why, sizeof why) == 0)
        p->task_schema_built = 1;
      else
        log_msg(LOG_ERROR, "task config schema", "error", why, NULL);
    }
    effective.total_compute_mhz = cfg->total_compute_mhz;
    effective.num_cores = cfg->num_cores;
    p->cfg = effective;
    p->configured = 1;
    warm_pools_sync(&p->modules, p->monitor_path, runs_locally, &p->cfg);
    /* The modules may run other runtimes now: start events name none until
     * the next fingerprint has seen them (task_events.c). */
    p->nruntimes = 0;
  }
  pthread_mutex_unlock(&p->mu);
  return rc;
}

void plugin_ensure_configured(plugin *p) {
  pthread_mutex_lock(&p->mu);
  int configured = p->configured;
  pthread_mutex_unlock(&p->mu);
  if (configured) return;
  plugin_config cfg;
  char err[512];
  plugin_config_defaults(&cfg);
  if (plugin_apply_config(p, &cfg, err, sizeof err) != 0)
    log_msg(LOG_ERROR, "default configuration failed", "error", err, NULL);
}
