/* The deployment configuration: the INI file named by the plugin block's
 * config_file ([driver], [daemon], [module.<name>], [<prefix>.<name>]),
 * overridden by the plugin block, turned into each module's typed config.
 * Precedence: plugin block > INI file > declared defaults. */
#include "plugin.h"

#include "ini_config.h"
#include "module_config.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* [driver] keys. */
static const elide_key driver_keys[] = {
    {"module_dir", ELIDE_VALUE_PATH, 0, NULL,
     "directory of backend modules (default: next to the binary)"},
    {"state_dir", ELIDE_VALUE_PATH, 0, NULL,
     "per-task exit records (default /run/nomad-driver-elide as root)"},
    {"log_level", ELIDE_VALUE_STRING, 0, "debug", "trace, debug, info, warn or error"},
    {"allow_root", ELIDE_VALUE_BOOL, 0, "true",
     "false refuses tasks that would run as root (uid 0)"},
};

/* [daemon] keys: the execution daemon's address, used by backends in
 * `mode = daemon` (the plugin block's daemon_endpoint overrides it). */
static const elide_key daemon_keys[] = {
    {"endpoint", ELIDE_VALUE_STRING, 0, NULL,
     "address of elide-execd: unix:/path or host:port"},
};

/* The host's keys of every [module.<name>] section, ahead of the module's. */
static const elide_key mode_key = {"mode", ELIDE_VALUE_STRING, 0, "local",
                                   "local (run on this client) or daemon (through elide-execd)"};
#define HOST_MODULE_KEYS 2

static int resolve_dirs(plugin_config *cfg, const ini_doc *doc) {
  size_t n = 0;
  const elide_value *drv = doc ? ini_section_values(doc, "driver", NULL, &n) : NULL;
  const elide_value *md = drv ? elide_value_find(drv, n, "module_dir") : NULL;
  const elide_value *sd = drv ? elide_value_find(drv, n, "state_dir") : NULL;
  if (!cfg->module_dir[0] && md && md->is_set) snprintf(cfg->module_dir, PATH_MAX, "%s", md->str);
  if (!cfg->module_dir[0]) modules_default_path("modules", cfg->module_dir, PATH_MAX);
  if (!cfg->state_dir[0] && sd && sd->is_set) snprintf(cfg->state_dir, PATH_MAX, "%s", sd->str);
  if (!cfg->state_dir[0]) {
    if (geteuid() == 0) {
      snprintf(cfg->state_dir, PATH_MAX, "/run/nomad-driver-elide");
    } else {
      const char *tmp = getenv("TMPDIR");
      snprintf(cfg->state_dir, PATH_MAX, "%s/nomad-driver-elide-%u",
               tmp && tmp[0] == '/' ? tmp : "/tmp", (unsigned)geteuid());
    }
  }
  /* The plugin block's allow_root wins; then the file; then allowed. */
  const elide_value *ar = drv ? elide_value_find(drv, n, "allow_root") : NULL;
  if (cfg->allow_root < 0) cfg->allow_root = ar && ar->is_set ? ar->i != 0 : 1;
  const elide_value *lvl = drv ? elide_value_find(drv, n, "log_level") : NULL;
  if (lvl && lvl->is_set) {
    static const char *const names[] = {"trace", "debug", "info", "warn", "error"};
    for (int i = 0; i < 5; i++)
      if (strcmp(lvl->str, names[i]) == 0) log_set_level((log_level)i);
  }
  return 0;
}

/* The plugin block's override for module/key, or NULL. */
static const char *override_for(const plugin_config *cfg, const char *module, const char *key) {
  if (!strcmp(module, "python") && !strcmp(key, "runtime") && cfg->python_runtime[0])
    return cfg->python_runtime;
  size_t ml = strlen(module);
  for (size_t i = 0; i < cfg->nmodule_options; i++) {
    const char *k = cfg->module_options[i].key;
    if (!strncmp(k, module, ml) && k[ml] == '.' && !strcmp(k + ml + 1, key))
      return cfg->module_options[i].value;
  }
  return NULL;
}

/* Every module_options key must name a loaded module and one of its keys
 * (or the host's `mode` or `warm_pool`). */
static int check_overrides(const plugin *p, const plugin_config *cfg, char *err, size_t errlen) {
  for (size_t i = 0; i < cfg->nmodule_options; i++) {
    const char *k = cfg->module_options[i].key;
    int found = 0;
    for (size_t m = 0; m < p->modules.n && !found; m++) {
      const elide_module_descriptor *d = p->modules.mods[m].desc;
      size_t ml = d ? strlen(d->name) : 0;
      if (!d || strncmp(k, d->name, ml) || k[ml] != '.') continue;
      found = !strcmp(k + ml + 1, mode_key.name) ||
              !strcmp(k + ml + 1, module_warm_pool_key.name);
      for (size_t c = 0; c < d->nconfig_keys && !found; c++)
        found = !strcmp(k + ml + 1, d->config_keys[c].name);
    }
    if (!found) {
      snprintf(err, errlen, "plugin config: field \"module_options\": \"%s\" is not a key of a "
               "loaded module", k);
      return -EINVAL;
    }
  }
  return 0;
}

/* module_config hook: the plugin block's value for module/key. */
static const char *override_hook(void *arg, const char *module, const char *key) {
  return override_for(arg, module, key);
}

/* The INI's [daemon] endpoint when the plugin block has none. */
static int resolve_endpoint(plugin_config *cfg, const ini_doc *doc, char *err, size_t errlen) {
  cfg->ndaemon_modules = 0;
  if (cfg->daemon_endpoint[0] || !doc) return 0;
  size_t n = 0;
  const elide_value *d = ini_section_values(doc, "daemon", NULL, &n);
  const elide_value *ep = d ? elide_value_find(d, n, "endpoint") : NULL;
  if (!ep || !ep->is_set || !ep->str[0]) return 0;
  char why[600];
  if (plugin_endpoint_check(ep->str, why, sizeof why) != 0) {
    snprintf(err, errlen, "%s:%d: [daemon]: endpoint: %s", ini_path(doc),
             ini_line(doc, "daemon", NULL, "endpoint"), why);
    return -EINVAL;
  }
  snprintf(cfg->daemon_endpoint, sizeof cfg->daemon_endpoint, "%s", ep->str);
  return 0;
}

int plugin_module_in_daemon_mode(const plugin_config *cfg, const char *module) {
  for (size_t i = 0; i < cfg->ndaemon_modules; i++)
    if (!strcmp(cfg->daemon_modules[i], module)) return 1;
  return 0;
}

/* module_config hook: `mode` is local or daemon; daemon needs an endpoint
 * and records the module in cfg->daemon_modules. The plugin block's
 * module_options "<module>.mode" overrides the INI. */
static int check_mode(void *arg, const ini_doc *doc, const loaded_module *m, const elide_value *ini,
                      size_t nini, char *err, size_t errlen) {
  plugin_config *cfg = arg;
  const char *name = m->desc->name;
  const elide_value *iv = ini ? elide_value_find(ini, nini, "mode") : NULL;
  const char *over = override_for(cfg, name, "mode");
  const char *mode = over ? over : iv && iv->is_set ? iv->str : "local";
  if (!strcmp(mode, "local")) return 0;
  char where[PATH_MAX + 128];
  if (over)
    snprintf(where, sizeof where, "plugin config: field \"module_options\": \"%s.mode\"", name);
  else
    snprintf(where, sizeof where, "%s:%d: [module.%s]: mode", ini_path(doc),
             ini_line(doc, "module", name, "mode"), name);
  if (strcmp(mode, "daemon") != 0) {
    snprintf(err, errlen, "%s: \"%s\" is not a mode (local or daemon)", where, mode);
    return -EINVAL;
  }
  if (!cfg->daemon_endpoint[0]) {
    snprintf(err, errlen, "%s: \"daemon\" needs the execution daemon's address: set endpoint "
             "in [daemon] or daemon_endpoint in the plugin block", where);
    return -EINVAL;
  }
  if (cfg->ndaemon_modules >= PLUGIN_MAX_DAEMON_MODULES) {
    snprintf(err, errlen, "%s: more than %d modules in daemon mode", where,
             PLUGIN_MAX_DAEMON_MODULES);
    return -E2BIG;
  }
  snprintf(cfg->daemon_modules[cfg->ndaemon_modules++], sizeof cfg->daemon_modules[0], "%s", name);
  return 0;
}

/* Host services handed to modules (module_host.c). */
extern const elide_host_services module_host_services;

int deployment_apply(plugin *p, plugin_config *cfg, char *err, size_t errlen) {
  /* [driver] module_dir is needed before the modules, and so the full
   * schema, are known: peek at it (with the same file safety checks). */
  if (cfg->config_file[0] && !cfg->module_dir[0]) {
    char dir[PATH_MAX];
    int found = ini_peek(cfg->config_file, "driver", "module_dir", dir, sizeof dir, err, errlen);
    if (found < 0) return found;
    if (found == 1) {
      if (dir[0] != '/') {
        snprintf(err, errlen, "%s: [driver]: module_dir: \"%s\" is not an absolute path",
                 cfg->config_file, dir);
        return -EINVAL;
      }
      snprintf(cfg->module_dir, PATH_MAX, "%s", dir);
    }
  }
  if (!cfg->module_dir[0]) modules_default_path("modules", cfg->module_dir, PATH_MAX);
  if (p->modules.n == 0 && !p->modules_error[0]) {
    char why[512];
    if (modules_load_dir(&p->modules, cfg->module_dir, why, sizeof why) != 0)
      snprintf(p->modules_error, sizeof p->modules_error, "%s", why);
    snprintf(p->loaded_module_dir, sizeof p->loaded_module_dir, "%s", cfg->module_dir);
  } else if (strcmp(p->loaded_module_dir, cfg->module_dir) != 0) {
    log_msg(LOG_WARN, "module_dir changed; the new directory is used after a plugin restart",
            "loaded", p->loaded_module_dir, "configured", cfg->module_dir, NULL);
  }
  module_schema *schema = NULL;
  ini_doc *doc = NULL;
  const elide_key host_keys[HOST_MODULE_KEYS] = {mode_key, module_warm_pool_key};
  int rc = module_schema_build(&p->modules, host_keys, HOST_MODULE_KEYS, driver_keys,
                               sizeof driver_keys / sizeof driver_keys[0], daemon_keys,
                               sizeof daemon_keys / sizeof daemon_keys[0], &schema);
  if (rc == 0 && cfg->config_file[0])
    rc = ini_load(cfg->config_file, module_schema_ini(schema), &doc, err, errlen);
  else if (rc != 0)
    snprintf(err, errlen, "out of memory building the configuration schema");
  if (rc == 0) rc = resolve_dirs(cfg, doc);
  if (rc == 0) rc = check_overrides(p, cfg, err, errlen);
  if (rc == 0) rc = resolve_endpoint(cfg, doc, err, errlen);
  module_config_hooks hooks = {.override = override_hook,
                               .check = check_mode,
                               .arg = cfg,
                               .override_origin = "plugin config",
                               .required_hint = " or the plugin block's module_options"};
  if (rc == 0) rc = module_config_apply(&p->modules, doc, &hooks, &module_host_services, err, errlen);
  ini_free(doc);
  module_schema_free(schema);
  return rc;
}
