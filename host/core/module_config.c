/* Module configuration from an INI deployment file (see module_config.h):
 * schema from the loaded modules, typed values, init. */
#include "module_config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* No declared default: an unset key means 2 for a module with warm starts
 * and 0 for the others (warm_pool_size), which one default cannot say. */
const elide_key module_warm_pool_key = {
    "warm_pool", ELIDE_VALUE_INT, 0, NULL,
    "warm copies of the runtime kept ready (0-64; 0: every start cold); default 2 for modules "
    "with warm starts (python), 0 for the others"};

struct module_schema {
  ini_schema schema;
  ini_module_schema *mods;
  ini_kind_schema *kinds;
  elide_key **keysets; /* one malloc'd key table per module section */
  size_t nkeysets;
};

void module_schema_free(module_schema *s) {
  if (!s) return;
  for (size_t i = 0; i < s->nkeysets; i++) free(s->keysets[i]);
  free(s->keysets);
  free(s->mods);
  free(s->kinds);
  free(s);
}

const ini_schema *module_schema_ini(const module_schema *s) { return &s->schema; }

int module_schema_build(const module_registry *reg, const elide_key *host_keys, size_t nhost_keys,
                        const elide_key *driver_keys, size_t ndriver_keys,
                        const elide_key *daemon_keys, size_t ndaemon_keys, module_schema **out) {
  *out = NULL;
  module_schema *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  s->mods = calloc(reg->n + 1, sizeof *s->mods);
  s->kinds = calloc(reg->n + 1, sizeof *s->kinds);
  s->keysets = calloc(reg->n + 1, sizeof *s->keysets);
  if (!s->mods || !s->kinds || !s->keysets) {
    module_schema_free(s);
    return -ENOMEM;
  }
  size_t nm = 0, nk = 0;
  for (size_t i = 0; i < reg->n; i++) {
    const elide_module_descriptor *d = reg->mods[i].desc;
    if (!d) continue;
    elide_key *keys = calloc(d->nconfig_keys + nhost_keys + 1, sizeof *keys);
    if (!keys) {
      module_schema_free(s);
      return -ENOMEM;
    }
    s->keysets[s->nkeysets++] = keys;
    if (nhost_keys) memcpy(keys, host_keys, nhost_keys * sizeof *keys);
    if (d->nconfig_keys) memcpy(keys + nhost_keys, d->config_keys, d->nconfig_keys * sizeof *keys);
    s->mods[nm++] = (ini_module_schema){d->name, keys, d->nconfig_keys + nhost_keys};
    if (d->section_prefix && d->section_prefix[0])
      s->kinds[nk++] = (ini_kind_schema){d->section_prefix, d->section_keys, d->nsection_keys};
  }
  s->schema = (ini_schema){driver_keys, ndriver_keys, daemon_keys, ndaemon_keys,
                           s->mods,     nm,           s->kinds,    nk};
  *out = s;
  return 0;
}

/* The module's values: override, else INI section, else declared default.
 * `vals` has room for every declared config key. */
static int module_values(const module_config_hooks *h, const elide_value *ini, size_t nini,
                         const loaded_module *m, value_arena *arena, elide_value *vals, char *err,
                         size_t errlen) {
  const elide_module_descriptor *d = m->desc;
  for (size_t k = 0; k < d->nconfig_keys; k++) {
    const elide_key *key = &d->config_keys[k];
    const char *text = h && h->override ? h->override(h->arg, d->name, key->name) : NULL;
    const elide_value *from_ini = ini ? elide_value_find(ini, nini, key->name) : NULL;
    char why[512];
    if (text) {
      if (elide_value_parse(key, text, arena, &vals[k], why, sizeof why) != 0) {
        snprintf(err, errlen, "%s: %s.%s: %s",
                 h->override_origin ? h->override_origin : "override", d->name, key->name, why);
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
        snprintf(err, errlen, "module %s: required key \"%s\" is not set (in [module.%s]%s)",
                 d->name, key->name, d->name, h && h->required_hint ? h->required_hint : "");
        return -EINVAL;
      }
    }
  }
  return 0;
}

/* "file:line: [module.<name>]: warm_pool" or the override's origin. */
static void warm_where(const module_config_hooks *h, const ini_doc *doc, const char *module,
                       int overridden, char *out, size_t cap) {
  if (overridden)
    snprintf(out, cap, "%s: %s.warm_pool", h->override_origin ? h->override_origin : "override",
             module);
  else if (doc)
    snprintf(out, cap, "%s:%d: [module.%s]: warm_pool", ini_path(doc),
             ini_line(doc, "module", module, "warm_pool"), module);
  else
    snprintf(out, cap, "[module.%s]: warm_pool", module);
}

/* The host key warm_pool into m->warm_pool_size: override, INI, default. */
static int warm_pool_size(const module_config_hooks *h, const ini_doc *doc, const elide_value *ini,
                          size_t nini, loaded_module *m, value_arena *arena, char *err,
                          size_t errlen) {
  const char *name = m->desc->name;
  const char *text = h && h->override ? h->override(h->arg, name, "warm_pool") : NULL;
  const elide_value *iv = ini ? elide_value_find(ini, nini, "warm_pool") : NULL;
  char where[PATH_MAX + 128], why[512];
  warm_where(h, doc, name, text != NULL, where, sizeof where);
  elide_value v;
  if (text) {
    if (elide_value_parse(&module_warm_pool_key, text, arena, &v, why, sizeof why) != 0) {
      snprintf(err, errlen, "%s: %s", where, why);
      return -EINVAL;
    }
  } else if (iv && iv->is_set) {
    v = *iv;
  } else {
    /* The default: a pool for modules that can have one. */
    m->warm_pool_size = m->desc->ops->warm_pool ? 2 : 0;
    return 0;
  }
  if (v.i < 0 || v.i > MODULE_WARM_POOL_MAX) {
    snprintf(err, errlen, "%s: %lld is not within 0..%d", where, (long long)v.i,
             MODULE_WARM_POOL_MAX);
    return -EINVAL;
  }
  if (v.i > 0 && !m->desc->ops->warm_pool) {
    snprintf(err, errlen, "%s: module %s has no warm starts (only 0 is accepted)", where, name);
    return -EINVAL;
  }
  m->warm_pool_size = (int)v.i;
  return 0;
}

/* Initialises one module (earlier instances are retired, not freed: running
 * tasks may use them; modules_init records a failure in m->error). */
static void init_module(loaded_module *m, const elide_value *vals, const ini_doc *doc,
                        const elide_host_services *host) {
  const elide_module_descriptor *d = m->desc;
  size_t nsections = 0;
  const elide_section *sections =
      doc && d->section_prefix ? ini_sections(doc, d->section_prefix, &nsections) : NULL;
  elide_module_config mc = {sizeof mc, vals, d->nconfig_keys, sections, nsections};
  modules_init(m, host, &mc);
}

int module_config_apply(module_registry *reg, const ini_doc *doc, const module_config_hooks *hooks,
                        const elide_host_services *host, char *err, size_t errlen) {
  value_arena *arena = value_arena_new();
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < reg->n; i++) {
    loaded_module *m = &reg->mods[i];
    if (!m->desc) continue; /* refused at load */
    size_t nini = 0;
    const elide_value *ini = doc ? ini_section_values(doc, "module", m->desc->name, &nini) : NULL;
    if (hooks && hooks->check && (rc = hooks->check(hooks->arg, doc, m, ini, nini, err, errlen)))
      break;
    elide_value *vals = calloc(m->desc->nconfig_keys + 1, sizeof *vals);
    if (!arena || !vals) {
      snprintf(err, errlen, "out of memory configuring modules");
      rc = -ENOMEM;
    } else if ((rc = warm_pool_size(hooks, doc, ini, nini, m, arena, err, errlen)) == 0 &&
               (rc = module_values(hooks, ini, nini, m, arena, vals, err, errlen)) == 0) {
      init_module(m, vals, doc, host);
    }
    free(vals);
  }
  value_arena_free(arena);
  return rc;
}
