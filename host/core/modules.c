/* Module loading: directory and file trust checks, descriptor validation
 * field by field, registry-wide uniqueness, and language lookup (see
 * modules.h). */
#include "modules.h"

#include "log.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The newest minor this host accepts. Tests build the loader with a larger
 * value to prove that modules built against older minors keep loading. */
#ifndef ELIDE_HOST_ABI_MINOR
#define ELIDE_HOST_ABI_MINOR ELIDE_ABI_MINOR
#endif

/* What a module declaring minor N must provide, indexed by N. Append one
 * line per minor that adds members; a minor beyond the table (only in test
 * builds of the loader) needs this build's full struct. */
static const size_t desc_size_by_minor[] = {
    [0] = offsetof(elide_module_descriptor, ops) + sizeof(const elide_module_ops *),
    [1] = offsetof(elide_module_descriptor, ops) + sizeof(const elide_module_ops *),
};
static const size_t ops_size_by_minor[] = {
    [0] = offsetof(elide_module_ops, recover) + sizeof(void (*)(void)),
    [1] = offsetof(elide_module_ops, repl) + sizeof(void (*)(void)), /* repl may be NULL */
};
static const uint64_t caps_by_minor[] = {
    [0] = ELIDE_CAP_SIGNAL | ELIDE_CAP_STATS | ELIDE_CAP_RECOVER,
    [1] = ELIDE_CAP_SIGNAL | ELIDE_CAP_STATS | ELIDE_CAP_RECOVER,
};
#define TABLE_LEN(t) (sizeof(t) / sizeof((t)[0]))
#define FOR_MINOR(t, minor, newest) ((minor) < TABLE_LEN(t) ? (t)[minor] : (newest))

/* Keys the host itself owns, which module key tables must not shadow. */
static const char *const host_task_keys[] = {"language", "script", "code", "args", NULL};
static const char *const host_config_keys[] = {"mode", NULL};
static const char *const host_section_kinds[] = {"driver", "daemon", "module", NULL};

/* The descriptor and ops copies of one accepted module; never freed. */
typedef struct module_copy {
  elide_module_descriptor desc;
  elide_module_ops ops;
} module_copy;

unsigned modules_host_abi_minor(void) { return ELIDE_HOST_ABI_MINOR; }

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t whylen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, whylen, fmt, ap);
  va_end(ap);
  return -1;
}

/* 1 when s is non-empty, shorter than max, and every byte is in `set`. */
static int made_of(const char *s, const char *set, size_t max) {
  size_t n = strlen(s);
  return n > 0 && n < max && strspn(s, set) == n;
}

#define IDENT_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_"
#define IDENT_RULE "[a-z0-9_]+"

static int in_list(const char *const *list, const char *s) {
  for (; *list; list++)
    if (strcmp(*list, s) == 0) return 1;
  return 0;
}

/* ------------------------------------------------------------------------
 * Trust: who may have written the code we are about to map
 * ---------------------------------------------------------------------- */

/* Refuses an object writable by group/others or owned by a user other than
 * root and ourselves: either could replace the code the driver (often
 * root) runs. Checking the directory is what makes checking the file by
 * path sound: nobody untrusted can swap a file in a trusted directory. */
static int check_trust(const struct stat *st, const char *subject, char *why, size_t whylen) {
  mode_t w = st->st_mode & (S_IWGRP | S_IWOTH);
  if (w)
    return fail(why, whylen, "%s is writable by %s (mode %04o); run chmod go-w on it", subject,
                w == S_IWGRP ? "group" : w == S_IWOTH ? "others" : "group and others",
                (unsigned)(st->st_mode & 07777));
  if (st->st_uid != 0 && st->st_uid != geteuid())
    return fail(why, whylen, "%s is owned by uid %u, neither root nor the driver's uid %u",
                subject, (unsigned)st->st_uid, (unsigned)geteuid());
  return 0;
}

static int check_dir(const char *dir, char *why, size_t whylen) {
  struct stat st;
  if (dir[0] != '/') {
    fail(why, whylen, "module directory \"%s\" is not an absolute path", dir);
    return -EINVAL;
  }
  if (stat(dir, &st) != 0) {
    int e = errno;
    fail(why, whylen, "cannot read module directory %s: %s", dir, strerror(e));
    return -e;
  }
  if (!S_ISDIR(st.st_mode)) {
    fail(why, whylen, "module directory %s is not a directory", dir);
    return -ENOTDIR;
  }
  char subject[PATH_MAX + 32];
  snprintf(subject, sizeof subject, "module directory %s", dir);
  return check_trust(&st, subject, why, whylen) != 0 ? -EPERM : 0;
}

/* The module file, and through a symlink also the file and directory it
 * really is in. Returns 1 to load, 0 to skip silently (not a regular
 * file), -1 refused with the reason. */
static int check_file(const char *path, char *why, size_t whylen) {
  struct stat st, lst;
  if (stat(path, &st) != 0) return fail(why, whylen, "cannot stat: %s", strerror(errno));
  if (!S_ISREG(st.st_mode)) return 0;
  if (check_trust(&st, "file", why, whylen) != 0) return -1;
  if (lstat(path, &lst) != 0 || !S_ISLNK(lst.st_mode)) return 1;
  char real[PATH_MAX];
  if (!realpath(path, real)) return fail(why, whylen, "cannot resolve: %s", strerror(errno));
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", real);
  char *slash = strrchr(dir, '/');
  if (slash == dir) slash[1] = '\0';
  else *slash = '\0';
  if (stat(dir, &st) != 0) return fail(why, whylen, "cannot stat %s: %s", dir, strerror(errno));
  char subject[PATH_MAX + 32];
  snprintf(subject, sizeof subject, "symlink target directory %s", dir);
  return check_trust(&st, subject, why, whylen) != 0 ? -1 : 1;
}

/* ------------------------------------------------------------------------
 * Descriptor validation, most decisive mismatch first
 * ---------------------------------------------------------------------- */

static const char *const type_names[] = {
    [ELIDE_VALUE_STRING] = "STRING", [ELIDE_VALUE_INT] = "INT", [ELIDE_VALUE_BOOL] = "BOOL",
    [ELIDE_VALUE_PATH] = "PATH (absolute path)", [ELIDE_VALUE_LIST] = "LIST"};

/* Defaults are text; the host will parse them like operator input. */
static int default_parses(const elide_key *k) {
  const char *v = k->default_value;
  if (k->type == ELIDE_VALUE_PATH) return v[0] == '/';
  if (k->type == ELIDE_VALUE_BOOL) {
    static const char *const bools[] = {"true", "false", "yes", "no", "on", "off", "1", "0", NULL};
    return in_list(bools, v);
  }
  if (k->type == ELIDE_VALUE_INT) {
    char *end;
    errno = 0;
    (void)strtoll(v, &end, 10);
    return errno == 0 && end != v && *end == '\0';
  }
  return 1;
}

/* One key table: `field` names it ("config_keys"); `reserved` are the
 * host's own keys of that place, described by `reserved_what`. */
static int check_keys(const char *field, const elide_key *keys, size_t n,
                      const char *const *reserved, const char *reserved_what, char *why,
                      size_t whylen) {
  if (n > 0 && !keys) return fail(why, whylen, "%s is NULL but n%s is %zu", field, field, n);
  if (n > MODULES_MAX_KEYS)
    return fail(why, whylen, "n%s %zu exceeds the host's limit of %d", field, n, MODULES_MAX_KEYS);
  for (size_t i = 0; i < n; i++) {
    const elide_key *k = &keys[i];
    if (!k->name) return fail(why, whylen, "%s[%zu].name is missing", field, i);
    if (!made_of(k->name, IDENT_CHARS, 64))
      return fail(why, whylen, "%s[%zu].name \"%s\" is not " IDENT_RULE " (at most 63 bytes)",
                  field, i, k->name);
    if (k->type < ELIDE_VALUE_STRING || k->type > ELIDE_VALUE_LIST)
      return fail(why, whylen,
                  "%s[%zu] \"%s\": type %" PRIu32 " is not an elide_value_type (%d..%d)", field,
                  i, k->name, k->type, ELIDE_VALUE_STRING, ELIDE_VALUE_LIST);
    if (k->flags & ~ELIDE_KEY_REQUIRED)
      return fail(why, whylen, "%s[%zu] \"%s\": flags 0x%" PRIx32 " has unknown bits 0x%" PRIx32,
                  field, i, k->name, k->flags, k->flags & ~ELIDE_KEY_REQUIRED);
    if ((k->flags & ELIDE_KEY_REQUIRED) && k->default_value)
      return fail(why, whylen, "%s[%zu] \"%s\": ELIDE_KEY_REQUIRED with a default (\"%s\")",
                  field, i, k->name, k->default_value);
    if (k->default_value && !default_parses(k))
      return fail(why, whylen, "%s[%zu] \"%s\": default \"%s\" is not a valid %s", field, i,
                  k->name, k->default_value, type_names[k->type]);
    if (reserved && in_list(reserved, k->name))
      return fail(why, whylen, "%s[%zu].name \"%s\" collides with the host's %s \"%s\"", field, i,
                  k->name, reserved_what, k->name);
    for (size_t j = 0; j < i; j++)
      if (strcmp(keys[j].name, k->name) == 0)
        return fail(why, whylen, "%s[%zu].name \"%s\" duplicates %s[%zu]", field, i, k->name,
                    field, j);
  }
  return 0;
}

/* size, abi_major, abi_minor: the only fields read before they pass. */
static int check_version(const elide_module_descriptor *d, char *why, size_t whylen) {
  const size_t head = offsetof(elide_module_descriptor, abi_minor) + sizeof d->abi_minor;
  if (d->size < head)
    return fail(why, whylen,
                "descriptor size %zu is too short to hold size, abi_major and abi_minor (%zu)",
                d->size, head);
  if (d->abi_major != ELIDE_ABI_MAJOR)
    return fail(why, whylen, "abi_major %" PRIu32 " does not match the host's %d", d->abi_major,
                ELIDE_ABI_MAJOR);
  if (d->abi_minor > ELIDE_HOST_ABI_MINOR)
    return fail(why, whylen, "abi_minor %" PRIu32 " is newer than the host's %d", d->abi_minor,
                ELIDE_HOST_ABI_MINOR);
  size_t need = FOR_MINOR(desc_size_by_minor, d->abi_minor, sizeof *d);
  if (d->size < need)
    return fail(why, whylen,
                "descriptor size %zu is smaller than %zu, the size for ABI %d.%" PRIu32, d->size,
                need, ELIDE_ABI_MAJOR, d->abi_minor);
  return 0;
}

static int check_identity(const elide_module_descriptor *d, char *why, size_t whylen) {
  if (!d->name) return fail(why, whylen, "name is missing");
  if (!made_of(d->name, IDENT_CHARS, 64))
    return fail(why, whylen, "name \"%s\" is not " IDENT_RULE " (at most 63 bytes)", d->name);
  if (!d->version) return fail(why, whylen, "version is missing");
  if (!made_of(d->version, IDENT_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZ.+-~", 64))
    return fail(why, whylen, "version \"%s\" is not a version string", d->version);
  if (!d->languages || !d->languages[0]) return fail(why, whylen, "languages is empty");
  for (size_t i = 0; d->languages[i]; i++) {
    const char *l = d->languages[i];
    if (i == MODULES_MAX_LANGUAGES)
      return fail(why, whylen, "languages has more than %d entries", MODULES_MAX_LANGUAGES);
    if (!made_of(l, IDENT_CHARS ".+-", 64))
      return fail(why, whylen, "languages[%zu] \"%s\" is not [a-z0-9_.+-]+ (at most 63 bytes)",
                  i, l);
    for (size_t j = 0; j < i; j++)
      if (strcmp(d->languages[j], l) == 0)
        return fail(why, whylen, "languages[%zu] \"%s\" duplicates languages[%zu]", i, l, j);
  }
  uint64_t newest = caps_by_minor[TABLE_LEN(caps_by_minor) - 1];
  uint64_t known = FOR_MINOR(caps_by_minor, d->abi_minor, newest);
  if (d->capabilities & ~known)
    return fail(why, whylen, "capabilities 0x%" PRIx64 " has bits 0x%" PRIx64
                " unknown to ABI %d.%" PRIu32, d->capabilities, d->capabilities & ~known,
                ELIDE_ABI_MAJOR, d->abi_minor);
  return 0;
}

static int check_ops(const elide_module_descriptor *d, char *why, size_t whylen) {
  const elide_module_ops *o = d->ops;
  if (!o) return fail(why, whylen, "ops is missing");
  size_t need = FOR_MINOR(ops_size_by_minor, d->abi_minor, sizeof *o);
  if (o->size < need)
    return fail(why, whylen, "ops size %zu is smaller than %zu, the size for ABI %d.%" PRIu32,
                o->size, need, ELIDE_ABI_MAJOR, d->abi_minor);
  /* Every 1.0 op is required. */
  const struct {
    const char *name;
    int missing;
  } req[] = {{"init", !o->init},       {"fingerprint", !o->fingerprint},
             {"execute", !o->execute}, {"status", !o->status},
             {"cancel", !o->cancel},   {"signal", !o->signal},
             {"stats", !o->stats},     {"recover", !o->recover}};
  for (size_t i = 0; i < TABLE_LEN(req); i++)
    if (req[i].missing) return fail(why, whylen, "ops->%s is NULL", req[i].name);
  return 0;
}

static int check_tables(const elide_module_descriptor *d, char *why, size_t whylen) {
  if (check_keys("config_keys", d->config_keys, d->nconfig_keys, host_config_keys,
                 "module config key", why, whylen) != 0 ||
      check_keys("task_keys", d->task_keys, d->ntask_keys, host_task_keys, "task config key",
                 why, whylen) != 0 ||
      check_keys("section_keys", d->section_keys, d->nsection_keys, NULL, NULL, why, whylen) != 0)
    return -1;
  const char *p = d->section_prefix;
  if (!p && d->nsection_keys > 0)
    return fail(why, whylen, "section_prefix is NULL but nsection_keys is %zu", d->nsection_keys);
  if (p && !made_of(p, IDENT_CHARS, 64))
    return fail(why, whylen, "section_prefix \"%s\" is not " IDENT_RULE " (at most 63 bytes)", p);
  if (p && in_list(host_section_kinds, p))
    return fail(why, whylen, "section_prefix \"%s\" is reserved by the host", p);
  return 0;
}

/* The whole descriptor on its own, before anything else is read from it. */
static int validate_descriptor(const elide_module_descriptor *d, char *why, size_t whylen) {
  if (!d) return fail(why, whylen, "%s returned NULL", ELIDE_MODULE_ENTRY_SYMBOL);
  if (check_version(d, why, whylen) != 0 || check_identity(d, why, whylen) != 0 ||
      check_ops(d, why, whylen) != 0 || check_tables(d, why, whylen) != 0)
    return -1;
  return 0;
}

/* Names, languages and section prefixes already taken by accepted modules. */
static int check_unique(const module_registry *reg, const elide_module_descriptor *d, char *why,
                        size_t whylen) {
  for (size_t i = 0; i < reg->n; i++) {
    const loaded_module *o = &reg->mods[i];
    if (!o->desc) continue;
    if (strcmp(o->desc->name, d->name) == 0)
      return fail(why, whylen, "name \"%s\" is already taken by %s", d->name, o->path);
    for (const char *const *l = d->languages; *l; l++)
      for (const char *const *ol = o->desc->languages; *ol; ol++)
        if (strcmp(*l, *ol) == 0)
          return fail(why, whylen,
                      "language \"%s\" of module \"%s\" is already served by module \"%s\" (%s)",
                      *l, d->name, o->desc->name, o->path);
    if (d->section_prefix && o->desc->section_prefix &&
        strcmp(d->section_prefix, o->desc->section_prefix) == 0)
      return fail(why, whylen,
                  "section_prefix \"%s\" of module \"%s\" is already used by module \"%s\" (%s)",
                  d->section_prefix, d->name, o->desc->name, o->path);
  }
  return 0;
}

/* Zero-filled full-size copies, so members newer than the module read as
 * NULL; what the module's sizes cover comes from the module. */
static const elide_module_descriptor *copy_descriptor(const elide_module_descriptor *d) {
  module_copy *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  memcpy(&c->desc, d, d->size < sizeof c->desc ? d->size : sizeof c->desc);
  memcpy(&c->ops, d->ops, d->ops->size < sizeof c->ops ? d->ops->size : sizeof c->ops);
  c->desc.ops = &c->ops;
  return &c->desc;
}

/* ------------------------------------------------------------------------
 * Loading
 * ---------------------------------------------------------------------- */

/* The entry symbol of another major, for a clearer refusal than "missing". */
static int other_major_entry(void *h, char *why, size_t whylen) {
  for (int major = 0; major <= ELIDE_ABI_MAJOR + 8; major++) {
    char sym[64];
    snprintf(sym, sizeof sym, "elide_module_entry_v%d", major);
    if (major == ELIDE_ABI_MAJOR || !dlsym(h, sym)) continue;
    return fail(why, whylen,
                "entry symbol %s (ABI major %d) does not match the host's %s (ABI major %d)", sym,
                major, ELIDE_MODULE_ENTRY_SYMBOL, ELIDE_ABI_MAJOR);
  }
  return fail(why, whylen, "missing entry symbol %s (export it with ELIDE_MODULE_EXPORT)",
              ELIDE_MODULE_ENTRY_SYMBOL);
}

/* Maps the module and validates it; 0 with *out, or -1 with the reason. */
static int open_module(const module_registry *reg, const char *path,
                       const elide_module_descriptor **out, char *why, size_t whylen) {
  /* RTLD_NOW: unresolved symbols fail here, not at the first task.
   * RTLD_LOCAL: modules cannot see or interpose on each other. Mapping runs
   * the module's ELF constructors; nothing else of it runs until the
   * descriptor has passed. Never dlclose'd, refused or not: a refused
   * module's constructors have run, and accepted ones stay referenced. */
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    size_t plen = strlen(path);
    if (e && strncmp(e, path, plen) == 0 && strncmp(e + plen, ": ", 2) == 0) e += plen + 2;
    return fail(why, whylen, "cannot load: %s", e ? e : "unknown dlopen error");
  }
  elide_module_entry_fn entry = (elide_module_entry_fn)dlsym(h, ELIDE_MODULE_ENTRY_SYMBOL);
  if (!entry) return other_major_entry(h, why, whylen);
  const elide_module_descriptor *d = entry();
  if (validate_descriptor(d, why, whylen) != 0 || check_unique(reg, d, why, whylen) != 0)
    return -1;
  if (!(*out = copy_descriptor(d))) return fail(why, whylen, "out of memory");
  return 0;
}

static void load_one(module_registry *reg, const char *path, const char *stem) {
  char why[400] = "";
  int ok = check_file(path, why, sizeof why);
  if (ok == 0) return;
  loaded_module *m = &reg->mods[reg->n];
  memset(m, 0, sizeof *m);
  snprintf(m->path, sizeof m->path, "%s", path);
  snprintf(m->name, sizeof m->name, "%s", stem);
  const elide_module_descriptor *d = NULL;
  if (ok > 0 && open_module(reg, path, &d, why, sizeof why) == 0) {
    m->desc = d;
    snprintf(m->name, sizeof m->name, "%s", d->name);
    log_msg(LOG_DEBUG, "module loaded", "path", path, "module", d->name, "version", d->version,
            NULL);
  } else {
    snprintf(m->error, sizeof m->error, "%s: %s", path, why);
    log_msg(LOG_ERROR, "module refused", "path", path, "reason", why, NULL);
  }
  reg->n++; /* only now: check_unique must not see the module itself */
}

/* The sorted *.so names in dir; *names malloc'd, each entry too. */
static int list_modules(const char *dir, char ***names, size_t *n, char *err, size_t errlen) {
  DIR *d = opendir(dir);
  if (!d) {
    int e = errno;
    snprintf(err, errlen, "cannot read module directory %s: %s", dir, strerror(e));
    return -e;
  }
  size_t cap = 0;
  struct dirent *e;
  *names = NULL;
  *n = 0;
  int rc = 0;
  while (rc == 0 && (e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0) continue;
    if (*n == cap) {
      cap = cap ? cap * 2 : 8;
      char **grown = realloc(*names, cap * sizeof **names);
      if (!grown) {
        rc = -ENOMEM;
        break;
      }
      *names = grown;
    }
    if (!((*names)[*n] = strdup(e->d_name))) rc = -ENOMEM;
    else (*n)++;
  }
  closedir(d);
  if (rc != 0) snprintf(err, errlen, "out of memory listing %s", dir);
  if (*n) qsort(*names, *n, sizeof **names, name_cmp);
  return rc;
}

static void free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
}

int modules_load_dir(module_registry *reg, const char *dir, char *err, size_t errlen) {
  char **names = NULL;
  size_t n = 0;
  int rc = check_dir(dir, err, errlen);
  if (rc == 0) rc = list_modules(dir, &names, &n, err, errlen);
  if (rc == 0 && n) {
    loaded_module *grown = realloc(reg->mods, (reg->n + n) * sizeof *reg->mods);
    if (grown) reg->mods = grown;
    else rc = -ENOMEM, snprintf(err, errlen, "out of memory loading modules from %s", dir);
  }
  if (rc != 0) {
    log_msg(LOG_ERROR, "module directory refused", "dir", dir, "reason", err, NULL);
    free_names(names, n);
    return rc;
  }
  for (size_t i = 0; i < n; i++) {
    char path[PATH_MAX + 256], stem[64];
    snprintf(path, sizeof path, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", names[i]);
    snprintf(stem, sizeof stem, "%.*s", (int)(strlen(names[i]) - 3), names[i]);
    load_one(reg, path, stem);
  }
  free_names(names, n);
  return 0;
}

void modules_retire(loaded_module *m) {
  if (!m->state) return;
  void **grown = realloc(m->retired, (m->nretired + 1) * sizeof *grown);
  if (grown) { /* on ENOMEM the instance is only unreachable, never freed */
    grown[m->nretired++] = m->state;
    m->retired = grown;
  }
  m->state = NULL;
}

int modules_init(loaded_module *m, const elide_host_services *host,
                 const elide_module_config *config) {
  char why[400] = "";
  void *state = NULL;
  int rc = m->desc->ops->init(host, config, &state, why, sizeof why);
  why[sizeof why - 1] = '\0';
  if (rc == 0 && !state) {
    rc = -EINVAL;
    snprintf(why, sizeof why, "init returned 0 but no instance");
  }
  if (rc != 0) {
    if (!why[0]) snprintf(why, sizeof why, "error %d (%s)", rc, strerror(rc < 0 ? -rc : rc));
    snprintf(m->error, sizeof m->error, "module %s: init failed: %s", m->desc->name, why);
    log_msg(LOG_ERROR, "module init failed", "module", m->desc->name, "error", why, NULL);
    modules_retire(m);
    return rc < 0 ? rc : -EINVAL;
  }
  modules_retire(m);
  m->error[0] = '\0';
  m->state = state;
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
