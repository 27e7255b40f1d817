/* The module registry: loads backend modules (.so) from configured absolute
 * directories, validates their descriptors before running any module code
 * beyond the entry function, and maps languages to loaded modules. Modules
 * are never unloaded. A refused module stays listed with its reason so the
 * fingerprint can report it. */
#ifndef ELIDE_MODULES_H
#define ELIDE_MODULES_H

#include "elide_module.h"

#include <stddef.h>

/* Limits the loader enforces on a descriptor (larger tables are refused). */
#define MODULES_MAX_KEYS 64      /* per key table */
#define MODULES_MAX_LANGUAGES 16 /* per module */

typedef struct loaded_module {
  char path[4096];
  char name[64];                        /* descriptor name, or the file stem when refused */
  /* A host-owned, zero-filled full-size copy of the module's descriptor
   * whose ops point to a host-owned full-size copy of its ops table, so
   * members newer than the module read as 0/NULL. Strings and key tables
   * still point into the module (static: modules are never unloaded).
   * `size` members keep the module's own values. NULL when refused. */
  const elide_module_descriptor *desc;
  char error[512];                      /* non-empty: refused or failed init, with reason */
  void *state;                          /* instance from ops->init, NULL until configured */
  /* Instances replaced by a reconfiguration. Modules have no destructor and
   * tasks started with an old instance may still use it, so they are kept
   * (and stay reachable, which is also what leak checkers see). */
  void **retired;
  size_t nretired;
  /* The host key `warm_pool` of [module.<name>]: ready warm copies to keep
   * (module_config_apply sets it; 0 = every start cold). */
  int warm_pool_size;
} loaded_module;

typedef struct module_registry {
  loaded_module *mods;
  size_t n;
} module_registry;

/* Loads every *.so in `dir` (sorted by name) into the registry; may be
 * called once per configured directory. `dir` must be absolute, a
 * directory, not writable by group or others, and owned by root or the
 * driver's euid; otherwise nothing is loaded and a negative code returns
 * with the reason in err (also logged). Each module file must pass the same
 * ownership/mode test (through any symlink, for the file and the directory
 * it really lives in). Per-module refusals never fail the call: they are
 * logged and kept in loaded_module.error as "<path>: <reason>", the module
 * listed with desc NULL. Names, languages and section prefixes must be
 * unique across the registry: the later module (in load order) is refused,
 * naming both. */
int modules_load_dir(module_registry *reg, const char *dir, char *err, size_t errlen);

/* Creates an instance with ops->init and records the outcome: m->state on
 * success (m->error cleared), otherwise m->state NULL and m->error "module
 * <name>: init failed: <reason>" (logged). An earlier instance is not
 * freed: tasks started with it may still run. Returns 0 or the negative
 * code (-EINVAL when init claims success without an instance). */
/* Moves m->state to m->retired (kept, never freed) and clears it. */
void modules_retire(loaded_module *m);

int modules_init(loaded_module *m, const elide_host_services *host,
                 const elide_module_config *config);

/* The healthy module serving `language`, or NULL. */
loaded_module *modules_for_language(module_registry *reg, const char *language);

/* Comma-separated sorted list of languages served by loaded modules
 * ("js, python"); writes into out. */
void modules_languages(const module_registry *reg, char *out, size_t outlen);

/* The ABI minor version this loader accepts up to (ELIDE_ABI_MINOR unless
 * a test build overrides ELIDE_HOST_ABI_MINOR). */
unsigned modules_host_abi_minor(void);

/* The directory the running binary should load modules from when none is
 * configured: <dir of /proc/self/exe>/../<pkglibdir>/<leaf> when it exists
 * (build tree and installed tree share this layout), else the compiled-in
 * install directory. */
void modules_default_path(const char *leaf, char *out, size_t outlen);

#endif
