/* The module loader against purpose-built fixture modules: every refusal
 * with its exact reason, the trust checks on directories and files, and a
 * good module that loads, initialises and runs a task on the mock host. */
#include "abi_test_util.h"
#include "check.h"
#include "log.h"
#include "mock_host.h"
#include "modules.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK_STREQ(got, want)                                                         \
  do {                                                                                 \
    const char *g_ = (got), *w_ = (want);                                              \
    if (g_ && strcmp(g_, w_) == 0) {                                                   \
      check_passed_++;                                                                 \
    } else {                                                                           \
      check_failed_++;                                                                 \
      fprintf(stderr, "%s:%d: got\n  \"%s\"\nwant\n  \"%s\"\n", __FILE__, __LINE__,    \
              g_ ? g_ : "(null)", w_);                                                 \
    }                                                                                  \
  } while (0)

static char root[PATH_MAX];

/* Registries stay reachable: modules are never unloaded. */
static module_registry regs[64];
static size_t nregs;

static const char *fixture(const char *name) {
  static char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s.so", ABI_FIXTURE_DIR, name);
  return path;
}

static module_registry *load(const char *dir, int *rc, char *err, size_t errlen) {
  module_registry *reg = &regs[nregs++];
  err[0] = '\0';
  *rc = modules_load_dir(reg, dir, err, errlen);
  return reg;
}

static loaded_module *find(module_registry *reg, const char *dir, const char *file) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  for (size_t i = 0; i < reg->n; i++)
    if (strcmp(reg->mods[i].path, path) == 0) return &reg->mods[i];
  return NULL;
}

/* A directory with good.so as a.so (when with_good) and the fixture as
 * b.so; checks that b.so is listed, refused, with "<path>: <reason>". */
static void refused(const char *name, int with_good, const char *reason_fmt) {
  char dir[PATH_MAX], err[512], want[1024], reason[512];
  abi_mkdir(root, name, dir);
  if (with_good) abi_copy(fixture("good"), dir, "a.so", 0755, NULL);
  abi_copy(fixture(name), dir, "b.so", 0755, NULL);
  int rc;
  module_registry *reg = load(dir, &rc, err, sizeof err);
  CHECK(rc == 0);
  CHECK(reg->n == (with_good ? 2u : 1u));
  loaded_module *m = find(reg, dir, "b.so");
  CHECK(m != NULL);
  if (!m) return;
  snprintf(reason, sizeof reason, reason_fmt, dir); /* %s: the directory, for a.so */
  snprintf(want, sizeof want, "%s/b.so: %s", dir, reason);
  CHECK(m->desc == NULL);
  CHECK(m->state == NULL);
  CHECK_STREQ(m->error, want);
  CHECK_STREQ(m->name, "b"); /* a refused module keeps its file stem */
  if (with_good) {
    loaded_module *g = find(reg, dir, "a.so");
    CHECK(g && g->desc && !g->error[0]); /* the earlier module keeps its place */
  }
}

static void test_descriptor_refusals(void) {
  refused("no_entry", 0, "missing entry symbol elide_module_entry_v1 (export it with "
                         "ELIDE_MODULE_EXPORT)");
  refused("entry_v2", 0, "entry symbol elide_module_entry_v2 (ABI major 2) does not match the "
                         "host's elide_module_entry_v1 (ABI major 1)");
  refused("null_descriptor", 0, "elide_module_entry_v1 returned NULL");
  refused("short_head", 0,
          "descriptor size 8 is too short to hold size, abi_major and abi_minor (16)");
  refused("short_desc", 0, "descriptor size 64 is smaller than 112, the size for ABI 1.2");
  refused("wrong_major", 0, "abi_major 2 does not match the host's 1");
  refused("minor_next", 0, "abi_minor 3 is newer than the host's 2");
  refused("minor_after", 0, "abi_minor 4 is newer than the host's 2");
  refused("no_name", 0, "name is missing");
  refused("bad_name", 0, "name \"Bad-Name\" is not [a-z0-9_]+ (at most 63 bytes)");
  refused("no_langs", 0, "languages is empty");
  refused("bad_lang", 0, "languages[0] \"Lua 5\" is not [a-z0-9_.+-]+ (at most 63 bytes)");
  refused("bad_caps", 0, "capabilities 0x81 has bits 0x80 unknown to ABI 1.2");
  refused("no_ops", 0, "ops is missing");
  refused("short_ops", 0, "ops size 16 is smaller than 88, the size for ABI 1.2");
  refused("short_ops_1_1", 0, "ops size 72 is smaller than 88, the size for ABI 1.2");
  refused("null_op", 0, "ops->execute is NULL");
}

static void test_key_table_refusals(void) {
  refused("bad_key_name", 0,
          "config_keys[1].name \"Greeting\" is not [a-z0-9_]+ (at most 63 bytes)");
  refused("bad_key_type", 0,
          "config_keys[1] \"greeting\": type 9 is not an elide_value_type (1..5)");
  refused("bad_key_flags", 0, "config_keys[1] \"greeting\": flags 0x6 has unknown bits 0x6");
  refused("bad_key_default", 0,
          "config_keys[1] \"greeting\": default \"hello\" is not a valid INT");
  refused("required_default", 0,
          "config_keys[1] \"greeting\": ELIDE_KEY_REQUIRED with a default (\"hello\")");
  refused("dup_key", 0, "config_keys[1].name \"shell\" duplicates config_keys[0]");
  refused("config_mode", 0,
          "config_keys[1].name \"mode\" collides with the host's module config key \"mode\"");
  refused("task_script", 0,
          "task_keys[0].name \"script\" collides with the host's task config key \"script\"");
  refused("task_language", 0, "task_keys[0].name \"language\" collides with the host's task "
                              "config key \"language\"");
  refused("bad_prefix", 0, "section_prefix \"module\" is reserved by the host");
  refused("orphan_section_keys", 0, "section_prefix is NULL but nsection_keys is 1");
}

static void test_duplicates(void) {
  refused("dup_name", 1, "name \"good\" is already taken by %s/a.so");
  refused("dup_lang", 1,
          "language \"fixture\" of module \"dup_lang\" is already served by module \"good\" "
          "(%s/a.so)");
  refused("dup_prefix", 1, "section_prefix \"fixture\" of module \"dup_prefix\" is already used "
                           "by module \"good\" (%s/a.so)");
}

/* Not a shared object at all: dlopen's own reason, without the path twice. */
static void test_not_elf(void) {
  char dir[PATH_MAX], err[512], want[PATH_MAX + 64];
  abi_mkdir(root, "not_elf", dir);
  abi_write(dir, "b.so", "this is not an ELF file, but long enough to have a header\n");
  int rc;
  module_registry *reg = load(dir, &rc, err, sizeof err);
  CHECK(rc == 0 && reg->n == 1);
  snprintf(want, sizeof want, "%s/b.so: cannot load: ", dir);
  CHECK(reg->n == 1 && strncmp(reg->mods[0].error, want, strlen(want)) == 0);
  CHECK(reg->n == 1 && strstr(reg->mods[0].error + strlen(want), dir) == NULL);
}

/* The good module: loaded as a host-owned copy, initialised, found by
 * language, fingerprinted, and running a task on the mock host. Other
 * files and directories are ignored. */
static void test_good(void) {
  char dir[PATH_MAX], err[512], sub[PATH_MAX];
  abi_mkdir(root, "good", dir);
  abi_copy(fixture("good"), dir, "good.so", 0755, NULL);
  abi_write(dir, "README", "not a module\n");
  abi_write(dir, ".so", "too short a name\n");
  abi_mkdir(dir, "sub.so", sub);
  int rc;
  module_registry *reg = load(dir, &rc, err, sizeof err);
  CHECK(rc == 0);
  CHECK(reg->n == 1);
  loaded_module *m = find(reg, dir, "good.so");
  CHECK(m && m->desc && !m->error[0]);
  if (!m || !m->desc) return;
  CHECK_STREQ(m->name, "good");
  CHECK_STREQ(m->desc->version, "1.0.0");
  CHECK(m->desc->size == sizeof(elide_module_descriptor));
  CHECK(m->desc->ops->size == sizeof(elide_module_ops));
  CHECK(m->desc->abi_minor == ELIDE_ABI_MINOR && m->desc->ops->repl != NULL); /* has a REPL */
  CHECK(m->desc->ops->warm_pool == NULL); /* 1.2's op, optional: none here */
  /* The descriptor is the host's copy, not the module's static. */
  const elide_module_descriptor *orig = mock_load_module(m->path);
  CHECK(orig && orig != m->desc && orig->ops != m->desc->ops);
  CHECK(orig && orig->name == m->desc->name && orig->ops->execute == m->desc->ops->execute);

  CHECK(modules_for_language(reg, "fixture") == NULL); /* not initialised yet */
  elide_module_config mc = {sizeof mc, NULL, 0, NULL, 0};
  CHECK(modules_init(m, &mock_host_services, &mc) == 0);
  CHECK(m->state != NULL && !m->error[0]);
  CHECK(modules_for_language(reg, "fixture") == m);
  CHECK(modules_for_language(reg, "python") == NULL);
  char langs[128];
  modules_languages(reg, langs, sizeof langs);
  CHECK_STREQ(langs, "fixture");
  elide_fingerprint fp;
  memset(&fp, 0, sizeof fp);
  CHECK(m->desc->ops->fingerprint(m->state, &fp) == 0 && fp.healthy == 1);
  CHECK_STREQ(fp.attrs[0].value, "/bin/sh");

  elide_exit ex;
  char *out = NULL, *errout = NULL, msg[256] = "";
  char task_dir[PATH_MAX];
  abi_mkdir(dir, "task", task_dir);
  const char *const opts[] = {"trace", "true", NULL};
  CHECK(mock_run_task(m->desc, NULL, task_dir, NULL, "echo hi from $(pwd); exit 3", NULL, NULL,
                      opts, &ex, &out, &errout, msg, sizeof msg) == 0);
  char want[PATH_MAX + 32];
  snprintf(want, sizeof want, "hi from %s\n", task_dir);
  CHECK_STREQ(out, want);
  CHECK_STR_CONTAINS(errout, "+ echo hi"); /* the task option reached the module */
  CHECK(ex.exit_code == 3 && ex.signal == 0);
  free(out);
  free(errout);

  /* 1.1's repl: the module's command line, the extra words passed on. */
  const char *argv[8] = {NULL};
  const char *const words[] = {"-x", NULL};
  static const char *const no_env[] = {NULL};
  elide_task et = {.size = sizeof et, .id = "t", .language = "fixture", .task_dir = task_dir,
                   .args = words, .envp = no_env};
  CHECK(m->desc->ops->repl(m->state, &et, argv, 8, msg, sizeof msg) == 0);
  CHECK(argv[0] && !strcmp(argv[0], "/bin/sh") && argv[1] && !strcmp(argv[1], "-i") &&
        argv[2] && !strcmp(argv[2], "-x") && !argv[3]);
}

/* A module built as 1.0 loads on this 1.1 host and has no REPL: its ops
 * table ends before repl, and whatever follows it in the module's memory
 * (the fixture's full table has one) is never read. */
static void test_minor0(void) {
  char dir[PATH_MAX], err[512];
  abi_mkdir(root, "minor0", dir);
  abi_copy(fixture("minor0"), dir, "minor0.so", 0755, NULL);
  int rc;
  module_registry *reg = load(dir, &rc, err, sizeof err);
  CHECK(rc == 0 && reg->n == 1);
  loaded_module *m = reg->n == 1 ? &reg->mods[0] : NULL;
  CHECK(m && m->desc && !m->error[0]);
  if (!m || !m->desc) return;
  CHECK(m->desc->abi_minor == 0);
  CHECK(m->desc->ops->size == offsetof(elide_module_ops, repl));
  CHECK(m->desc->ops->repl == NULL);
  const elide_module_descriptor *orig = mock_load_module(m->path);
  CHECK(orig && orig->ops->repl != NULL); /* beyond its declared size */
  elide_module_config mc = {sizeof mc, NULL, 0, NULL, 0};
  CHECK(modules_init(m, &mock_host_services, &mc) == 0);
  CHECK(modules_for_language(reg, "minor0") == m);
}

/* A module that loads but whose init fails: listed with the reason,
 * serving nothing; a later successful init clears it. */
static void test_init_failure(void) {
  char dir[PATH_MAX], err[512];
  abi_mkdir(root, "init_fails", dir);
  abi_copy(fixture("good"), dir, "a.so", 0755, NULL);
  abi_copy(fixture("init_fails"), dir, "b.so", 0755, NULL);
  int rc;
  module_registry *reg = load(dir, &rc, err, sizeof err);
  CHECK(rc == 0 && reg->n == 2);
  loaded_module *a = find(reg, dir, "a.so"), *b = find(reg, dir, "b.so");
  CHECK(a && a->desc && b && b->desc);
  if (!a || !a->desc || !b || !b->desc) return;
  elide_module_config mc = {sizeof mc, NULL, 0, NULL, 0};
  CHECK(modules_init(a, &mock_host_services, &mc) == 0);
  CHECK(modules_init(b, &mock_host_services, &mc) == -EINVAL);
  CHECK_STREQ(b->error, "module init_fails: init failed: the fixture refuses to start");
  CHECK(b->state == NULL);
  CHECK(modules_for_language(reg, "failing") == NULL);
  CHECK(modules_for_language(reg, "fixture") == a); /* the driver goes on with the rest */
  char langs[128];
  modules_languages(reg, langs, sizeof langs);
  CHECK_STREQ(langs, "fixture");
}

/* Refusals are logged with the path and the reason. */
static void test_logged(void) {
  char dir[PATH_MAX], err[512], logpath[PATH_MAX + 16];
  abi_mkdir(root, "logged", dir);
  abi_copy(fixture("wrong_major"), dir, "b.so", 0755, NULL);
  snprintf(logpath, sizeof logpath, "%s/log", root);
  FILE *f = fopen(logpath, "w");
  log_set_fd(fileno(f));
  int rc;
  load(dir, &rc, err, sizeof err);
  log_set_fd(2);
  fclose(f);
  char *log = abi_slurp(logpath);
  CHECK_STR_CONTAINS(log, "\"@message\":\"module refused\"");
  CHECK_STR_CONTAINS(log, "abi_major 2 does not match the host's 1");
  CHECK_STR_CONTAINS(log, "/b.so");
  free(log);
}

/* The directory itself: absolute, a directory, trusted. */
static void test_directory_trust(void) {
  char dir[PATH_MAX], err[512], want[PATH_MAX + 128];
  int rc;
  module_registry *reg = load("relative/modules", &rc, err, sizeof err);
  CHECK(rc == -EINVAL && reg->n == 0);
  CHECK_STREQ(err, "module directory \"relative/modules\" is not an absolute path");

  snprintf(dir, sizeof dir, "%s/missing", root);
  reg = load(dir, &rc, err, sizeof err);
  CHECK(rc == -ENOENT && reg->n == 0);
  snprintf(want, sizeof want, "cannot read module directory %s: No such file or directory", dir);
  CHECK_STREQ(err, want);

  abi_write(root, "plainfile", "x");
  snprintf(dir, sizeof dir, "%s/plainfile", root);
  reg = load(dir, &rc, err, sizeof err);
  CHECK(rc == -ENOTDIR && reg->n == 0);

  abi_mkdir(root, "dirmode", dir);
  abi_copy(fixture("good"), dir, "good.so", 0755, NULL);
  const struct {
    mode_t mode;
    const char *who;
  } modes[] = {{0775, "group"}, {0757, "others"}, {0777, "group and others"},
               {01777, "group and others"}};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    CHECK(chmod(dir, modes[i].mode) == 0);
    reg = load(dir, &rc, err, sizeof err);
    CHECK(rc == -EPERM && reg->n == 0);
    snprintf(want, sizeof want,
             "module directory %s is writable by %s (mode %04o); run chmod go-w on it", dir,
             modes[i].who, (unsigned)modes[i].mode);
    CHECK_STREQ(err, want);
  }
  CHECK(chmod(dir, 0755) == 0);
  reg = load(dir, &rc, err, sizeof err);
  CHECK(rc == 0 && reg->n == 1 && reg->mods[0].desc != NULL);

  if (geteuid() != 0) {
    printf("skip: ownership checks need root\n");
    return;
  }
  CHECK(chown(dir, 65534, 65534) == 0);
  reg = load(dir, &rc, err, sizeof err);
  CHECK(rc == -EPERM && reg->n == 0);
  snprintf(want, sizeof want,
           "module directory %s is owned by uid 65534, neither root nor the driver's uid 0", dir);
  CHECK_STREQ(err, want);
}

/* Each module file, and the real file and directory behind a symlink. */
static void test_file_trust(void) {
  char dir[PATH_MAX], err[512], want[PATH_MAX * 2], path[PATH_MAX];
  int rc;
  abi_mkdir(root, "filemode", dir);
  abi_copy(fixture("good"), dir, "a.so", 0775, NULL);
  abi_copy(fixture("good"), dir, "b.so", 0646, NULL);
  module_registry *reg = load(dir, &rc, err, sizeof err);
  CHECK(rc == 0 && reg->n == 2);
  snprintf(want, sizeof want,
           "%s/a.so: file is writable by group (mode 0775); run chmod go-w on it", dir);
  CHECK(reg->n == 2 && !reg->mods[0].desc);
  CHECK_STREQ(reg->mods[0].error, want);
  snprintf(want, sizeof want,
           "%s/b.so: file is writable by others (mode 0646); run chmod go-w on it", dir);
  CHECK(reg->n == 2 && !reg->mods[1].desc);
  CHECK_STREQ(reg->mods[1].error, want);

  /* A symlink into a directory anybody can write to. */
  char shared[PATH_MAX], linked[PATH_MAX];
  abi_mkdir(root, "shared", shared);
  abi_copy(fixture("good"), shared, "good.so", 0755, path);
  CHECK(chmod(shared, 0777) == 0);
  abi_mkdir(root, "linked", linked);
  char link_path[PATH_MAX + 16];
  snprintf(link_path, sizeof link_path, "%s/good.so", linked);
  CHECK(symlink(path, link_path) == 0);
  reg = load(linked, &rc, err, sizeof err);
  CHECK(rc == 0 && reg->n == 1);
  snprintf(want, sizeof want,
           "%s: symlink target directory %s is writable by group and others (mode 0777); run "
           "chmod go-w on it",
           link_path, shared);
  CHECK(reg->n == 1 && !reg->mods[0].desc);
  CHECK_STREQ(reg->mods[0].error, want);
  /* The same symlink once the target's directory is trusted. */
  CHECK(chmod(shared, 0755) == 0);
  reg = load(linked, &rc, err, sizeof err);
  CHECK(rc == 0 && reg->n == 1 && reg->mods[0].desc && !reg->mods[0].error[0]);

  if (geteuid() != 0) {
    printf("skip: ownership checks need root\n");
    return;
  }
  abi_mkdir(root, "fileowner", dir);
  abi_copy(fixture("good"), dir, "good.so", 0755, path);
  CHECK(chown(path, 65534, 65534) == 0);
  reg = load(dir, &rc, err, sizeof err);
  CHECK(rc == 0 && reg->n == 1);
  snprintf(want, sizeof want,
           "%s: file is owned by uid 65534, neither root nor the driver's uid 0", path);
  CHECK(reg->n == 1 && !reg->mods[0].desc);
  CHECK_STREQ(reg->mods[0].error, want);
}

int main(void) {
  abi_mkdtemp("loader", root);
  CHECK(modules_host_abi_minor() == ELIDE_ABI_MINOR);
  test_descriptor_refusals();
  test_key_table_refusals();
  test_duplicates();
  test_not_elf();
  test_good();
  test_minor0();
  test_init_failure();
  test_logged();
  test_directory_trust();
  test_file_trust();
  abi_rmtree(root);
  return CHECK_DONE();
}
