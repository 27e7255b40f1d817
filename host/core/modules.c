/* Module loading and descriptor validation (see modules.h). */
#include "modules.h"

#include "log.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Checks the descriptor field by field; the most decisive mismatch first. */
static int validate_descriptor(const elide_module_descriptor *d, char *why, size_t whylen) {
  if (!d) {
    snprintf(why, whylen, "entry function returned NULL");
    return -1;
  }
  if (d->size < offsetof(elide_module_descriptor, abi_minor) + sizeof d->abi_minor) {
    snprintf(why, whylen, "descriptor size %zu is too short (need at least %zu)", d->size,
             offsetof(elide_module_descriptor, abi_minor) + sizeof d->abi_minor);
    return -1;
  }
  if (d->abi_major != ELIDE_ABI_MAJOR) {
    snprintf(why, whylen, "abi_major %u does not match the host's %u", d->abi_major,
             ELIDE_ABI_MAJOR);
    return -1;
  }
  if (d->abi_minor > ELIDE_ABI_MINOR) {
    snprintf(why, whylen, "abi_minor %u is newer than the host's %u", d->abi_minor,
             ELIDE_ABI_MINOR);
    return -1;
  }
  if (d->size < sizeof(elide_module_descriptor)) {
    snprintf(why, whylen, "descriptor size %zu is smaller than %zu for ABI %u.%u", d->size,
             sizeof(elide_module_descriptor), d->abi_major, d->abi_minor);
    return -1;
  }
  if (!d->name || !d->name[0] || strlen(d->name) >= 64) {
    snprintf(why, whylen, "descriptor name is missing or too long");
    return -1;
  }
  if (!d->languages || !d->languages[0]) {
    snprintf(why, whylen, "descriptor languages is empty");
    return -1;
  }
  if (!d->ops || d->ops->size < sizeof(elide_module_ops) || !d->ops->init ||
      !d->ops->fingerprint || !d->ops->execute || !d->ops->status || !d->ops->cancel ||
      !d->ops->signal || !d->ops->stats || !d->ops->recover) {
    snprintf(why, whylen, "ops table is missing or incomplete");
    return -1;
  }
  return 0;
}

static void load_one(module_registry *reg, const char *path, const char *stem) {
  loaded_module *m = &reg->mods[reg->n++];
  memset(m, 0, sizeof *m);
  snprintf(m->path, sizeof m->path, "%s", path);
  snprintf(m->name, sizeof m->name, "%s", stem);
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(m->error, sizeof m->error, "cannot load %s: %s", path, dlerror());
  } else {
    elide_module_entry_fn entry = (elide_module_entry_fn)dlsym(h, ELIDE_MODULE_ENTRY_SYMBOL);
    char why[400];
    if (!entry) {
      snprintf(m->error, sizeof m->error, "%s: missing entry symbol %s", path,
               ELIDE_MODULE_ENTRY_SYMBOL);
    } else if (validate_descriptor(entry(), why, sizeof why) != 0) {
      snprintf(m->error, sizeof m->error, "%s: %s", path, why);
    } else {
      m->desc = entry();
      snprintf(m->name, sizeof m->name, "%s", m->desc->name);
    }
    /* Never dlclose: a refused module's constructors may have run, and a
     * loaded one is referenced for the process lifetime. */
  }
  if (m->error[0])
    log_msg(LOG_ERROR, "module refused", "path", path, "reason", m->error, NULL);
  else
    log_msg(LOG_DEBUG, "module loaded", "path", path, "module", m->name, NULL);
}

int modules_load_dir(module_registry *reg, const char *dir, char *err, size_t errlen) {
  DIR *d = opendir(dir);
  if (!d) {
    snprintf(err, errlen, "cannot read module directory %s: %s", dir, strerror(errno));
    return -errno;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 8;
      char **grown = realloc(names, cap * sizeof *names);
      if (!grown) break;
      names = grown;
    }
    names[n] = strdup(e->d_name);
    if (names[n]) n++;
  }
  closedir(d);
  qsort(names, n, sizeof *names, name_cmp);
  loaded_module *grown = realloc(reg->mods, (reg->n + n) * sizeof *reg->mods);
  if (!grown && n) {
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    snprintf(err, errlen, "out of memory loading modules");
    return -ENOMEM;
  }
  reg->mods = grown;
  for (size_t i = 0; i < n; i++) {
    char path[4096], stem[64];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    snprintf(stem, sizeof stem, "%.*s", (int)(strlen(names[i]) - 3), names[i]);
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) load_one(reg, path, stem);
    free(names[i]);
  }
  free(names);
  return 0;
}

loaded_module *modules_for_language(module_registry *reg, const char *language) {
  for (size_t i = 0; i < reg->n; i++) {
    loaded_module *m = &reg->mods[i];
    if (!m->desc || m->error[0] || !m->state) continue;
    for (const char *const *l = m->desc->languages; *l; l++)
      if (strcmp(*l, language) == 0) return m;
  }
  return NULL;
}

void modules_languages(const module_registry *reg, char *out, size_t outlen) {
  const char *langs[64];
  size_t n = 0, used = 0;
  for (size_t i = 0; i < reg->n; i++) {
    if (!reg->mods[i].desc || reg->mods[i].error[0]) continue;
    for (const char *const *l = reg->mods[i].desc->languages; *l && n < 64; l++) langs[n++] = *l;
  }
  qsort(langs, n, sizeof *langs, name_cmp);
  out[0] = '\0';
  for (size_t i = 0; i < n && used < outlen; i++)
    used += (size_t)snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", langs[i]);
}

void modules_default_path(const char *leaf, char *out, size_t outlen) {
  char exe[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len > 0) {
    exe[len] = '\0';
    char candidate[PATH_MAX + 128];
    snprintf(candidate, sizeof candidate, "%s/../%s/%s", dirname(exe), ELIDE_PKGLIBDIR_REL, leaf);
    char resolved[PATH_MAX];
    if (realpath(candidate, resolved)) {
      snprintf(out, outlen, "%s", resolved);
      return;
    }
  }
  snprintf(out, outlen, "%s/%s", ELIDE_INSTALL_PKGLIBDIR, leaf);
}
