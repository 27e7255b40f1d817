/* The module registry: loads backend modules (.so) from a directory,
 * validates their descriptors before running any module code beyond the
 * entry function, and maps languages to loaded modules. Modules are never
 * unloaded. A refused module stays listed with its reason so the
 * fingerprint can report it. */
#ifndef ELIDE_MODULES_H
#define ELIDE_MODULES_H

#include "elide_module.h"

#include <stddef.h>

typedef struct loaded_module {
  char path[4096];
  char name[64];                        /* descriptor name, or the file stem when refused */
  const elide_module_descriptor *desc;  /* NULL when refused */
  char error[512];                      /* non-empty: refused or failed init, with reason */
  void *state;                          /* instance from ops->init, NULL until configured */
} loaded_module;

typedef struct module_registry {
  loaded_module *mods;
  size_t n;
} module_registry;

/* Loads every regular *.so in `dir` (sorted by name). Never fails as a
 * whole: per-module problems are recorded in loaded_module.error and
 * logged. Returns 0, or a negative code when the directory cannot be read
 * (message in err). */
int modules_load_dir(module_registry *reg, const char *dir, char *err, size_t errlen);

/* The healthy module serving `language`, or NULL. */
loaded_module *modules_for_language(module_registry *reg, const char *language);

/* Comma-separated sorted list of languages served by loaded modules
 * ("js, python"); writes into out. */
void modules_languages(const module_registry *reg, char *out, size_t outlen);

/* The directory the running binary should load modules from when none is
 * configured: <dir of /proc/self/exe>/../<pkglibdir>/<leaf> when it exists
 * (build tree and installed tree share this layout), else the compiled-in
 * install directory. */
void modules_default_path(const char *leaf, char *out, size_t outlen);

#endif
