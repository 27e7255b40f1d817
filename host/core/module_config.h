/* The module part of an INI deployment file, shared by the plugin
 * (driver.ini) and the daemon (execd.ini): the ini_schema built from the
 * loaded modules ([module.<name>] with the host's keys ahead of the
 * module's, and [<prefix>.<name>] kinds), each module's typed values
 * (front-end overrides > INI > declared defaults) and its init. */
#ifndef ELIDE_MODULE_CONFIG_H
#define ELIDE_MODULE_CONFIG_H

#include "ini_config.h"
#include "modules.h"

#include <stddef.h>

/* The host key every [module.<name>] takes besides `mode`: how many warm
 * copies of the runtime to keep ready (abi/warm-starts.md), 0 to
 * MODULE_WARM_POOL_MAX. module_config_apply reads it into
 * loaded_module.warm_pool_size; a module without warm starts accepts only 0
 * when it is set explicitly. */
extern const elide_key module_warm_pool_key;
#define MODULE_WARM_POOL_MAX 64

/* An ini_schema and the storage behind it. */
typedef struct module_schema module_schema;

/* Builds the schema of a deployment file from the modules loaded in `reg`
 * (refused modules have no section). `host_keys` are the keys every
 * [module.<name>] section takes ahead of the module's own (e.g. `mode`);
 * driver/daemon tables are as in ini_schema (NULL = that section is
 * unknown). Every table is borrowed until module_schema_free. Returns 0 or
 * -ENOMEM. */
int module_schema_build(const module_registry *reg, const elide_key *host_keys, size_t nhost_keys,
                        const elide_key *driver_keys, size_t ndriver_keys,
                        const elide_key *daemon_keys, size_t ndaemon_keys, module_schema **out);
const ini_schema *module_schema_ini(const module_schema *s);
void module_schema_free(module_schema *s);

/* What a front end adds to the INI file when configuring modules. Every
 * member may be NULL. */
typedef struct module_config_hooks {
  /* A value that overrides the INI for module/key (text, parsed with the
   * key's type), or NULL. */
  const char *(*override)(void *arg, const char *module, const char *key);
  /* Checks the module's section (including the host keys) before its
   * values are built; non-zero stops configuration with that code and
   * message. `ini` is NULL when the file has no such section. */
  int (*check)(void *arg, const ini_doc *doc, const loaded_module *m, const elide_value *ini,
               size_t nini, char *err, size_t errlen);
  void *arg;
  /* Prefix of errors in override values ("plugin config"). */
  const char *override_origin;
  /* Where else a required key can be set, appended to "in [module.<name>]"
   * (" or the plugin block's module_options"), or NULL. */
  const char *required_hint;
} module_config_hooks;

/* Configures every loaded module in registry order: builds its values (one
 * per declared config key, in declaration order) and sections from `doc`
 * (may be NULL: defaults only) and the hooks, then calls modules_init with
 * `host`, which records an init failure in the module's error (not an
 * error here: the module is then unavailable, the others work). Stops at
 * the first configuration error: a bad override ("<origin>: <module>.<key>:
 * ..."), a required key that is not set, or the check hook's refusal.
 * Returns 0 or a negative code with the message in err. */
int module_config_apply(module_registry *reg, const ini_doc *doc, const module_config_hooks *hooks,
                        const elide_host_services *host, char *err, size_t errlen);

#endif
