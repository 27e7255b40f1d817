/* The deployment configuration: the INI file named by the plugin block's
 * config_file ([driver], [daemon], [module.<name>], [<prefix>.<name>]),
 * overridden by the plugin block, turned into each module's typed config.
 * Precedence: plugin block > INI file > declared defaults. */
#include "plugin.h"

#include "ini_config.h"
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
};

/* [daemon] keys: the execution daemon's address, used by backends in
 * `mode = daemon` (not available in this version). */
static const elide_key daemon_keys[] = {
    {"endpoint", ELIDE_VALUE_STRING, 0, NULL,
     "address of elide-execd: unix:/path or host:port"},
};

/* The host's keys of every [module.<name>] section, ahead of the module's. */
#define HOST_MODULE_KEYS 1
static const elide_key mode_key = {"mode", ELIDE_VALUE_STRING, 0, "local",
                                   "local (run on this client) or daemon (through elide-execd)"};

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
  const elide_value *lvl = drv ? elide_value_find(drv, n, "log_level") : NULL;
  if (lvl && lvl->is_set) {
    static const char *const names[] = {"trace", "debug", "info", "warn", "error"};
    for (int i = 0; i < 5; i++)
      if (strcmp(lvl->str, names[i]) == 0) log_set_level((log_level)i);
  }
  return 0;
}

/* Builds the INI schema from the loaded modules. Arrays are malloc'd into
 * *keysets (freed by free_schema). */
typedef struct schema_storage {
  ini_schema schema;
  ini_module_schema *mods;
  ini_kind_schema *kinds;
  elide_key **keysets;
  size_t nkeysets;
} schema_storage;

static void free_schema(schema_storage *st) {
  for (size_t i = 0; i < st->nkeysets; i++) free(st->keysets[i]);
  free(st->keysets);
  free(st->mods);
  free(st->kinds);
}

static int build_schema(const module_registry *reg, schema_storage *st) {
  memset(st, 0, sizeof *st);
  st->mods = calloc(reg->n + 1, sizeof *st->mods);
  st->kinds = calloc(reg->n + 1, sizeof *st->kinds);
  st->keysets = calloc(reg->n + 1, sizeof *st->keysets);
  if (!st->mods || !st->kinds || !st->keysets) return -ENOMEM;
  size_t nm = 0, nk = 0;
  for (size_t i = 0; i < reg->n; i++) {
    const elide_module_descriptor *d = reg->mods[i].desc;
    if (!d) continue;
    elide_key *keys = calloc(d->nconfig_keys + HOST_MODULE_KEYS, sizeof *keys);
    if (!keys) return -ENOMEM;
    st->keysets[st->nkeysets++] = keys;
    keys[0] = mode_key;
    memcpy(keys + HOST_MODULE_KEYS, d->config_keys, d->nconfig_keys * sizeof *keys);
    st->mods[nm++] = (ini_module_schema){d->name, keys, d->nconfig_keys + HOST_MODULE_KEYS};
    if (d->section_prefix && d->section_prefix[0])
      st->kinds[nk++] = (ini_kind_schema){d->section_prefix, d->section_keys, d->nsection_keys};
  }
  st->schema = (ini_schema){driver_keys, sizeof driver_keys / sizeof driver_keys[0], daemon_keys,
                            sizeof daemon_keys / sizeof daemon_keys[0], st->mods, nm, st->kinds,
                            nk};
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

/* Every module_options key must name a loaded module and one of its keys. */
static int check_overrides(const plugin *p, const plugin_config *cfg, char *err, size_t errlen) {
  for (size_t i = 0; i < cfg->nmodule_options; i++) {
    const char *k = cfg->module_options[i].key;
    int found = 0;
    for (size_t m = 0; m < p->modules.n && !found; m++) {
      const elide_module_descriptor *d = p->modules.mods[m].desc;
      size_t ml = d ? strlen(d->name) : 0;
      if (!d || strncmp(k, d->name, ml) || k[ml] != '.') continue;
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

/* The module's values: INI section (or defaults), then plugin-block
 * overrides parsed with the key's type. `vals` has room for every key. */
static int module_values(const plugin_config *cfg, const ini_doc *doc, const loaded_module *m,
                         value_arena *arena, elide_value *vals, char *err, size_t errlen) {
  const elide_module_descriptor *d = m->desc;
  size_t n = 0;
  const elide_value *ini = doc ? ini_section_values(doc, "module", d->name, &n) : NULL;
  const elide_value *mode = ini ? elide_value_find(ini, n, "mode") : NULL;
  if (mode && mode->is_set && strcmp(mode->str, "local") != 0) {
    snprintf(err, errlen, "%s:%d: [module.%s]: mode \"%s\" is not available in this version "
             "(only \"local\"; daemon mode needs elide-execd)", ini_path(doc),
             ini_line(doc, "module", d->name, "mode"), d->name, mode->str);
    return -ENOTSUP;
  }
  for (size_t k = 0; k < d->nconfig_keys; k++) {
    const elide_key *key = &d->config_keys[k];
    const char *text = override_for(cfg, d->name, key->name);
    const elide_value *from_ini = ini ? elide_value_find(ini, n, key->name) : NULL;
    char why[512];
    if (text) {
      if (elide_value_parse(key, text, arena, &vals[k], why, sizeof why) != 0) {
        snprintf(err, errlen, "plugin config: %s.%s: %s", d->name, key->name, why);
        return -EINVAL;
      }
    } else if (from_ini) {
      vals[k] = *from_ini;
    } else if (key->default_value) {
      if (elide_value_parse(key, key->default_value, arena, &vals[k], why, sizeof why) != 0) {
        snprintf(err, errlen, "module %s: default of %s: %s", d->name, key->name, why);
        return -EINVAL;
      }
    } else {
      memset(&vals[k], 0, sizeof vals[k]);
      vals[k].name = key->name;
      vals[k].type = key->type;
      if (key->flags & ELIDE_KEY_REQUIRED) {
        snprintf(err, errlen, "module %s: required key \"%s\" is not set (in [module.%s] or the "
                 "plugin block's module_options)", d->name, key->name, d->name);
        return -EINVAL;
      }
    }
  }
  return 0;
}

/* Host services handed to modules (module_host.c). */
extern const elide_host_services module_host_services;

/* Initialises one module (earlier instances are retired, not freed: running
 * tasks may use them; modules_init records a failure in m->error). */
static void init_module(loaded_module *m, const elide_value *vals, const ini_doc *doc) {
  const elide_module_descriptor *d = m->desc;
  size_t nsections = 0;
  const elide_section *sections =
      doc && d->section_prefix ? ini_sections(doc, d->section_prefix, &nsections) : NULL;
  elide_module_config mc = {sizeof mc, vals, d->nconfig_keys, sections, nsections};
  modules_init(m, &module_host_services, &mc);
}

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
  schema_storage st;
  ini_doc *doc = NULL;
  int rc = build_schema(&p->modules, &st);
  if (rc == 0 && cfg->config_file[0])
    rc = ini_load(cfg->config_file, &st.schema, &doc, err, errlen);
  else if (rc != 0)
    snprintf(err, errlen, "out of memory building the configuration schema");
  if (rc == 0) rc = resolve_dirs(cfg, doc);
  if (rc == 0) rc = check_overrides(p, cfg, err, errlen);
  value_arena *arena = rc == 0 ? value_arena_new() : NULL;
  for (size_t i = 0; rc == 0 && i < p->modules.n; i++) {
    loaded_module *m = &p->modules.mods[i];
    if (!m->desc) continue; /* refused at load */
    elide_value *vals = calloc(m->desc->nconfig_keys + 1, sizeof *vals);
    if (!arena || !vals) {
      snprintf(err, errlen, "out of memory configuring modules");
      rc = -ENOMEM;
    } else if ((rc = module_values(cfg, doc, m, arena, vals, err, errlen)) == 0) {
      init_module(m, vals, doc);
    }
    free(vals);
  }
  value_arena_free(arena);
  ini_free(doc);
  free_schema(&st);
  return rc;
}
