/* Unit tests of INI configuration (host/core/ini_config.c, value_parse.c):
 * typed values, defaults, every error message with its file:line, file
 * safety checks, and hostile input. Fixtures are written to a temp dir. */
#include "../check.h"

#include "ini_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];
static char path[128];
static char err[1024];

/* ---------------------------------------------------------------------------
 * The schema under test
 * ------------------------------------------------------------------------- */

static const elide_key driver_keys[] = {
    {"log_level", ELIDE_VALUE_STRING, 0, "info", "log level"},
    {"state_dir", ELIDE_VALUE_PATH, 0, "/var/lib/elide", "state"},
    {"max_tasks", ELIDE_VALUE_INT, 0, "64", "task limit"},
    {"debug", ELIDE_VALUE_BOOL, 0, "false", "debug mode"},
    {"modules", ELIDE_VALUE_LIST, 0, NULL, "modules to load"},
};
static const elide_key daemon_keys[] = {
    {"endpoint", ELIDE_VALUE_PATH, ELIDE_KEY_REQUIRED, NULL, "socket"},
};
static const elide_key js_keys[] = {
    {"mode", ELIDE_VALUE_STRING, 0, "local", "mode"},
    {"runtime", ELIDE_VALUE_PATH, 0, "/usr/bin/node", "node"},
};
static const elide_key python_keys[] = {
    {"mode", ELIDE_VALUE_STRING, 0, "local", "mode"},
    {"runtime", ELIDE_VALUE_PATH, 0, NULL, "python"},
};
static const elide_key native_keys[] = {
    {"library", ELIDE_VALUE_PATH, ELIDE_KEY_REQUIRED, NULL, "the .so"},
    {"symbols", ELIDE_VALUE_LIST, 0, NULL, "exported"},
    {"threads", ELIDE_VALUE_INT, 0, "1", "threads"},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static ini_module_schema modules[] = {
    {"js", js_keys, N(js_keys)},
    {"python", python_keys, N(python_keys)},
};
static const ini_kind_schema kinds[] = {{"native", native_keys, N(native_keys)}};

static ini_schema schema = {driver_keys, N(driver_keys), daemon_keys, N(daemon_keys),
                            modules,     N(modules),     kinds,       N(kinds)};

/* ---------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------- */

static void write_file(const char *p, const char *text, size_t len, mode_t mode) {
  unlink(p);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
    perror(p);
    exit(2);
  }
  fchmod(fd, mode);
  close(fd);
}

/* Writes text to the fixture path (mode 0644) and loads it. */
static int load_len(const char *text, size_t len, ini_doc **doc) {
  write_file(path, text, len, 0644);
  err[0] = '\0';
  return ini_load(path, &schema, doc, err, sizeof err);
}

static int load(const char *text, ini_doc **doc) { return load_len(text, strlen(text), doc); }

/* Expects the load to fail with exactly "<path><want>". */
#define EXPECT_ERR(text, want) expect_err_(__LINE__, text, strlen(text), want)
static void expect_err_(int line, const char *text, size_t len, const char *want) {
  ini_doc *doc = (ini_doc *)1;
  int rc = load_len(text, len, &doc);
  size_t plen = strlen(path);
  int ok = rc < 0 && doc == NULL && strncmp(err, path, plen) == 0 && strcmp(err + plen, want) == 0;
  CHECK(ok);
  if (!ok)
    fprintf(stderr, "  line %d: rc %d, got  \"%s\"\n          want \"%s%s\"\n", line, rc, err,
            path, want);
  if (rc == 0) ini_free(doc);
}

static const elide_value *val(const ini_doc *doc, const char *kind, const char *name,
                              const char *key) {
  size_t n;
  const elide_value *v = ini_section_values(doc, kind, name, &n);
  return v ? elide_value_find(v, n, key) : NULL;
}

/* ---------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------- */

static void test_full_file(void) {
  static const char text[] =
      "; deployment file\n"
      "# both comment styles\n"
      "[driver]\n"
      "log_level = debug\n"
      "max_tasks: -12\n"
      "debug = Yes\n"
      "modules = js ,python,  native\n"
      "\n"
      "[daemon]\n"
      "endpoint = /run/elide/execd.sock\n"
      "[module.python]\n"
      "runtime = /usr/bin/python3\n"
      "[native.zlib]\n"
      "library = /usr/lib/libz.so.1\n"
      "symbols = inflate, deflate\n"
      "[native.m]\n"
      "library=/lib/libm.so.6\n"
      "threads=8\n";
  ini_doc *doc = NULL;
  CHECK(load(text, &doc) == 0);
  CHECK(err[0] == '\0');
  if (!doc) return;
  CHECK(strcmp(ini_path(doc), path) == 0);

  size_t n = 99;
  const elide_value *d = ini_section_values(doc, "driver", "ignored", &n);
  CHECK(d && n == N(driver_keys));
  for (size_t i = 0; d && i < n; i++) CHECK(strcmp(d[i].name, driver_keys[i].name) == 0);
  const elide_value *v = val(doc, "driver", NULL, "log_level");
  CHECK(v && v->is_set && v->type == ELIDE_VALUE_STRING && strcmp(v->str, "debug") == 0);
  v = val(doc, "driver", NULL, "state_dir"); /* default */
  CHECK(v && v->is_set && v->type == ELIDE_VALUE_PATH && strcmp(v->str, "/var/lib/elide") == 0);
  v = val(doc, "driver", NULL, "max_tasks");
  CHECK(v && v->is_set && v->i == -12 && strcmp(v->str, "-12") == 0);
  v = val(doc, "driver", NULL, "debug");
  CHECK(v && v->is_set && v->i == 1 && strcmp(v->str, "Yes") == 0);
  v = val(doc, "driver", NULL, "modules");
  CHECK(v && v->is_set && v->nlist == 3 && strcmp(v->list[0], "js") == 0 &&
        strcmp(v->list[1], "python") == 0 && strcmp(v->list[2], "native") == 0 && !v->list[3]);

  v = val(doc, "daemon", "", "endpoint");
  CHECK(v && strcmp(v->str, "/run/elide/execd.sock") == 0);

  v = val(doc, "module", "python", "mode");
  CHECK(v && v->is_set && strcmp(v->str, "local") == 0);
  v = val(doc, "module", "python", "runtime");
  CHECK(v && v->is_set && strcmp(v->str, "/usr/bin/python3") == 0);
  CHECK(ini_section_values(doc, "module", "js", &n) == NULL && n == 0);
  CHECK(ini_section_values(doc, "module", "nosuch", NULL) == NULL);

  const elide_section *s = ini_sections(doc, "native", &n);
  CHECK(s && n == 2);
  if (s && n == 2) {
    CHECK(strcmp(s[0].name, "zlib") == 0 && strcmp(s[1].name, "m") == 0);
    CHECK(s[0].nvalues == N(native_keys));
    v = elide_value_find(s[0].values, s[0].nvalues, "symbols");
    CHECK(v && v->nlist == 2 && strcmp(v->list[1], "deflate") == 0);
    v = elide_value_find(s[0].values, s[0].nvalues, "threads");
    CHECK(v && v->is_set && v->i == 1);
    v = elide_value_find(s[1].values, s[1].nvalues, "symbols"); /* no default */
    CHECK(v && !v->is_set && v->type == ELIDE_VALUE_LIST && v->nlist == 0 && v->list &&
          !v->list[0] && v->str == NULL);
    v = elide_value_find(s[1].values, s[1].nvalues, "threads");
    CHECK(v && v->i == 8);
  }
  CHECK(ini_sections(doc, "other", &n) == NULL && n == 0);
  s = ini_sections(doc, "module", &n);
  CHECK(s && n == 1 && strcmp(s[0].name, "python") == 0);

  CHECK(ini_line(doc, "driver", NULL, NULL) == 3);
  CHECK(ini_line(doc, "driver", NULL, "debug") == 6);
  CHECK(ini_line(doc, "driver", NULL, "state_dir") == 0);
  CHECK(ini_line(doc, "native", "m", NULL) == 16);
  CHECK(ini_line(doc, "native", "m", "threads") == 18);
  CHECK(ini_line(doc, "native", "nosuch", NULL) == 0);
  CHECK(ini_line(doc, "module", "python", "nosuch") == 0);
  ini_free(doc);
}

static void test_unset_without_default(void) {
  static const elide_key keys[] = {{"optimize", ELIDE_VALUE_BOOL, 0, NULL, ""},
                                   {"offset", ELIDE_VALUE_INT, 0, NULL, ""}};
  ini_module_schema saved = modules[1];
  modules[1] = (ini_module_schema){"python", keys, N(keys)};
  ini_doc *doc = NULL;
  CHECK(load("[module.python]\n", &doc) == 0);
  const elide_value *v = val(doc, "module", "python", "optimize");
  CHECK(v && !v->is_set && v->type == ELIDE_VALUE_BOOL && v->str == NULL && v->list == NULL);
  CHECK(ini_line(doc, "module", "python", NULL) == 1);
  ini_free(doc);
  modules[1] = saved;
}

static void test_comments_and_forms(void) {
  static const char text[] = "[driver] ; the driver\n"
                             "log_level = a ; inline comment\n"
                             "state_dir = /x;y\n"
                             "modules = a # not a comment\n"
                             "   max_tasks = 3\n"
                             "\tdebug: off\n"
                             "  ; indented comment\n"
                             "[module.js];no blank needed after ]\n"
                             "mode =\n";
  ini_doc *doc = NULL;
  CHECK(load(text, &doc) == 0);
  if (!doc) {
    fprintf(stderr, "  %s\n", err);
    return;
  }
  CHECK(strcmp(val(doc, "driver", NULL, "log_level")->str, "a") == 0);
  CHECK(strcmp(val(doc, "driver", NULL, "state_dir")->str, "/x;y") == 0);
  CHECK(strcmp(val(doc, "driver", NULL, "modules")->list[0], "a # not a comment") == 0);
  CHECK(val(doc, "driver", NULL, "max_tasks")->i == 3);
  CHECK(ini_line(doc, "driver", NULL, "max_tasks") == 5);
  CHECK(val(doc, "driver", NULL, "debug")->i == 0);
  const elide_value *v = val(doc, "module", "js", "mode");
  CHECK(v && v->is_set && strcmp(v->str, "") == 0);
  ini_free(doc);

  /* A UTF-8 BOM and CRLF line ends. */
  CHECK(load("\xEF\xBB\xBF[driver]\r\nlog_level = x\r\n[module.js]\r\n", &doc) == 0);
  if (doc) CHECK(strcmp(val(doc, "driver", NULL, "log_level")->str, "x") == 0);
  ini_free(doc);

  /* An empty file and a comment-only file have no sections. */
  CHECK(load("", &doc) == 0 && ini_section_values(doc, "driver", NULL, NULL) == NULL);
  ini_free(doc);
  CHECK(load("; nothing\n\n", &doc) == 0);
  ini_free(doc);

  EXPECT_ERR("[driver] # note\n", ":1: unexpected text after [driver]");
  EXPECT_ERR("[driver]\nmodules = a, b\n    c\n",
             ":3: syntax error (continuation lines are not supported)");
}

static void test_bools(void) {
  static const char *const yes[] = {"true", "TRUE", "yes", "Yes", "on", "ON", "1"};
  static const char *const no[] = {"false", "False", "no", "NO", "off", "Off", "0"};
  char text[128];
  for (size_t i = 0; i < N(yes); i++) {
    ini_doc *doc = NULL;
    snprintf(text, sizeof text, "[driver]\ndebug = %s\n", yes[i]);
    CHECK(load(text, &doc) == 0 && val(doc, "driver", NULL, "debug")->i == 1);
    ini_free(doc);
    snprintf(text, sizeof text, "[driver]\ndebug = %s\n", no[i]);
    CHECK(load(text, &doc) == 0 && val(doc, "driver", NULL, "debug")->i == 0);
    ini_free(doc);
  }
  EXPECT_ERR("[driver]\ndebug = maybe\n",
             ":2: [driver]: debug: \"maybe\" is not a boolean (true/false, yes/no, on/off, 1/0)");
  EXPECT_ERR("[driver]\ndebug = 2\n",
             ":2: [driver]: debug: \"2\" is not a boolean (true/false, yes/no, on/off, 1/0)");
}

static void test_value_errors(void) {
  EXPECT_ERR("[driver]\nmax_tasks = 9223372036854775808\n",
             ":2: [driver]: max_tasks: \"9223372036854775808\" is out of range (a signed 64-bit "
             "integer)");
  EXPECT_ERR("[driver]\nmax_tasks = 12x\n",
             ":2: [driver]: max_tasks: \"12x\" is not a decimal integer");
  EXPECT_ERR("[driver]\nmax_tasks = 0x10\n",
             ":2: [driver]: max_tasks: \"0x10\" is not a decimal integer");
  EXPECT_ERR("[driver]\nmax_tasks =\n", ":2: [driver]: max_tasks: \"\" is not a decimal integer");
  EXPECT_ERR("[module.python]\nruntime = bin/python\n",
             ":2: [module.python]: runtime: \"bin/python\" is not an absolute path");
  EXPECT_ERR("[module.python]\nruntime = \"/usr/bin/python\"\n",
             ":2: [module.python]: runtime: \"\"/usr/bin/python\"\" is not an absolute path "
             "(quotes are taken literally)");
  EXPECT_ERR("[driver]\nmodules = a,,b\n",
             ":2: [driver]: modules: \"a,,b\" has an empty item (item 2)");
  EXPECT_ERR("[driver]\nmodules = a, b ,\n",
             ":2: [driver]: modules: \"a, b ,\" has an empty item (item 3)");
  EXPECT_ERR("[driver]\nmodules = , a\n",
             ":2: [driver]: modules: \", a\" has an empty item (item 1)");
}

static void test_structure_errors(void) {
  EXPECT_ERR("[driver]\n[modules.python]\n",
             ":2: unknown section [modules.python] (known: [driver], [daemon], [module.<name>], "
             "[native.<name>])");
  EXPECT_ERR("[module.]\n", ":1: unknown section [module.] (names after \"module.\" are "
                            "[a-z0-9_-]+)");
  EXPECT_ERR("[native.Big]\n", ":1: unknown section [native.Big] (names after \"native.\" are "
                               "[a-z0-9_-]+)");
  EXPECT_ERR("[Driver]\n", ":1: unknown section [Driver] (known: [driver], [daemon], "
                           "[module.<name>], [native.<name>])");
  EXPECT_ERR("[]\n", ":1: unknown section [] (known: [driver], [daemon], [module.<name>], "
                     "[native.<name>])");
  EXPECT_ERR("\n[module.ruby]\n",
             ":2: unknown module \"ruby\" in [module.ruby] (loaded modules: js, python)");
  EXPECT_ERR("[module.python]\nruntme = /usr/bin/python3\n",
             ":2: [module.python]: unknown key \"runtme\" (known: mode, runtime)");
  EXPECT_ERR("[driver]\nLog_Level = x\n",
             ":2: [driver]: unknown key \"Log_Level\" (known: log_level, state_dir, max_tasks, "
             "debug, modules)");
  EXPECT_ERR("[driver]\nlog_level = a\n\nlog_level = b\n",
             ":4: [driver]: duplicate key \"log_level\" (first defined at line 2)");
  EXPECT_ERR("[driver]\n[daemon]\nendpoint = /s\n[driver]\n",
             ":4: duplicate section [driver] (first defined at line 1)");
  EXPECT_ERR("[native.a]\nlibrary = /a\n[native.a]\n",
             ":3: duplicate section [native.a] (first defined at line 1)");
  EXPECT_ERR("log_level = x\n[driver]\n", ":1: key \"log_level\" before any section");
  EXPECT_ERR("[driver]\n[daemon]\n", ":2: [daemon]: missing required key \"endpoint\"");
  EXPECT_ERR("[native.a]\nlibrary = /a\n\n[native.b]\nthreads = 2\n",
             ":4: [native.b]: missing required key \"library\"");
  EXPECT_ERR("[driver]\njust words\n",
             ":2: syntax error (expected \"key = value\", \"[section]\" or a comment)");
  EXPECT_ERR("[driver\n", ":1: syntax error (unterminated section header)");
  EXPECT_ERR("[driver ;]\n", ":1: syntax error (unterminated section header)");
  /* The first error in file order wins: inih's syntax error at line 2
   * comes before our unknown key at line 3, and parsing stops at ours. */
  EXPECT_ERR("[driver]\noops\nnosuch = 1\n",
             ":2: syntax error (expected \"key = value\", \"[section]\" or a comment)");
  EXPECT_ERR("[driver]\nnosuch = 1\noops\n",
             ":2: [driver]: unknown key \"nosuch\" (known: log_level, state_dir, max_tasks, debug, "
             "modules)");
  /* Hostile text never reaches the message raw. */
  EXPECT_ERR("[driver]\nx\x1b[31m = 1\n",
             ":2: [driver]: unknown key \"x?[31m\" (known: log_level, state_dir, max_tasks, debug, "
             "modules)");

  /* No kinds: [native.x] is unknown; no modules: said so. */
  ini_schema bare = {driver_keys, N(driver_keys), NULL, 0, NULL, 0, NULL, 0};
  ini_doc *doc = NULL;
  write_file(path, "[native.x]\n", 11, 0644);
  CHECK(ini_load(path, &bare, &doc, err, sizeof err) < 0 && doc == NULL);
  CHECK_STR_CONTAINS(err, ":1: unknown section [native.x] (known: [driver], [module.<name>])");
  write_file(path, "[daemon]\n", 9, 0644);
  CHECK(ini_load(path, &bare, &doc, err, sizeof err) < 0);
  CHECK_STR_CONTAINS(err, ":1: unknown section [daemon] (known: [driver], [module.<name>])");
  write_file(path, "[module.js]\n", 12, 0644);
  CHECK(ini_load(path, &bare, &doc, err, sizeof err) < 0);
  CHECK_STR_CONTAINS(err, ":1: unknown module \"js\" in [module.js] (loaded modules: none)");
}

static void test_long_lines_and_nul(void) {
  /* inih's buffer holds 199 bytes of line: that fits whole, one more is
   * refused (never split or truncated). Blanks around a line do not count. */
  char text[1024], value[600];
  const char *head = "[module.python]\n";
  size_t prefix = strlen("runtime = ");
  memset(value, 'p', sizeof value);
  value[0] = '/';
  value[199 - prefix] = '\0';
  snprintf(text, sizeof text, "%s   runtime = %s   \n", head, value);
  ini_doc *doc = NULL;
  CHECK(load(text, &doc) == 0);
  const elide_value *v = doc ? val(doc, "module", "python", "runtime") : NULL;
  CHECK(v && strcmp(v->str, value) == 0 && strlen(v->str) == 199 - prefix);
  ini_free(doc);

  value[200 - prefix] = '\0';
  value[199 - prefix] = 'p';
  snprintf(text, sizeof text, "%sruntime = %s\n", head, value);
  EXPECT_ERR(text, ":2: line too long (200 bytes; the limit is 199)");
  memset(value, 'x', 500);
  value[0] = ';';
  value[500] = '\0';
  snprintf(text, sizeof text, "[driver]\n\n%s\n", value);
  EXPECT_ERR(text, ":3: line too long (500 bytes; the limit is 199)");

  /* A long section name (inih would cut it at 49 bytes). */
  char name[180];
  memset(name, 'n', sizeof name);
  name[sizeof name - 1] = '\0';
  snprintf(text, sizeof text, "[native.%s]\nlibrary = /l\n", name);
  CHECK(load(text, &doc) == 0);
  size_t n = 0;
  const elide_section *s = doc ? ini_sections(doc, "native", &n) : NULL;
  CHECK(s && n == 1 && strcmp(s[0].name, name) == 0);
  ini_free(doc);

  static const char nul[] = "[driver]\nlog_level = a\0b\n";
  expect_err_(__LINE__, nul, sizeof nul - 1, ":2: NUL byte in line");
  static const char nul_comment[] = "[driver]\n\n; \0\n";
  expect_err_(__LINE__, nul_comment, sizeof nul_comment - 1, ":3: NUL byte in line");
}

static void test_many_sections(void) {
  size_t cap = 5000 * 48, len = 0;
  char *text = malloc(cap);
  for (int i = 0; i < 4096; i++)
    len += (size_t)snprintf(text + len, cap - len, "[native.lib%d]\nlibrary = /l/%d\n", i, i);
  ini_doc *doc = NULL;
  CHECK(load_len(text, len, &doc) == 0);
  size_t n = 0;
  const elide_section *s = doc ? ini_sections(doc, "native", &n) : NULL;
  CHECK(s && n == 4096);
  int ordered = s != NULL;
  for (size_t i = 0; s && i < n; i++) {
    char want[32];
    snprintf(want, sizeof want, "lib%zu", i);
    ordered &= strcmp(s[i].name, want) == 0;
  }
  CHECK(ordered);
  CHECK(ini_line(doc, "native", "lib4095", "library") == 8192);
  ini_free(doc);

  len += (size_t)snprintf(text + len, cap - len, "[native.one_more]\n");
  expect_err_(__LINE__, text, len, ":8193: too many sections (the limit is 4096)");
  free(text);

  /* Over the size limit. */
  size_t big = (1u << 20) + 1;
  char *huge = malloc(big);
  memset(huge, '\n', big);
  write_file(path, huge, big, 0644);
  CHECK(ini_load(path, &schema, &doc, err, sizeof err) == -EFBIG && doc == NULL);
  CHECK_STR_CONTAINS(err, ": file too large (the limit is 1048576 bytes)");
  free(huge);
}

/* Random lines from hostile fragments: no crash, and an error always says
 * where. Deterministic (fixed seed), so a failure reproduces. */
static void test_random_input(void) {
  static const char *const frags[] = {
      "[driver]", "[daemon]", "[module.js]", "[module.python]", "[native.a]", "[native.", "[",
      "]", "=", ":", ";", "#", " ", "\t", "\r", "log_level", "endpoint = /s", "library = /l",
      "mode", "runtime = /r", "symbols = a, b", "max_tasks = 99999999999999999999", "\xEF\xBB\xBF",
      "\x01", "debug = on", ",", "threads = -1", "\n", "\n", "\n", "[module.ruby]"};
  uint32_t seed = 12345;
  char text[4096];
  int loaded = 0, refused = 0, described = 0;
  for (int round = 0; round < 3000; round++) {
    size_t len = 0;
    int parts = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 40;
    for (int i = 0; i < parts; i++) {
      seed = seed * 1103515245u + 12345u;
      const char *f = frags[(seed >> 16) % N(frags)];
      size_t fl = strlen(f);
      if (len + fl + 1 < sizeof text) memcpy(text + len, f, fl), len += fl;
      if ((seed >> 8) % 7 == 0 && len < sizeof text - 1) text[len++] = '\0';
    }
    ini_doc *doc = NULL;
    int rc = load_len(text, len, &doc);
    if (rc == 0) {
      loaded++;
      size_t n;
      ini_sections(doc, "native", &n);
      ini_free(doc);
    } else {
      refused++;
      described += strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':' &&
                   doc == NULL;
    }
  }
  CHECK(loaded > 0 && refused > 0);
  CHECK(described == refused);
}

static void test_file_safety(void) {
  ini_doc *doc = NULL;
  char p[160];
  snprintf(p, sizeof p, "%s/ok.ini", dir);
  write_file(p, "[driver]\n", 9, 0666);
  CHECK(ini_load(p, &schema, &doc, err, sizeof err) == -EPERM && doc == NULL);
  CHECK(strncmp(err, p, strlen(p)) == 0 &&
        strcmp(err + strlen(p), ": refusing a file writable by others (mode 0666)") == 0);
  chmod(p, 0620);
  CHECK(ini_load(p, &schema, &doc, err, sizeof err) == -EPERM);
  CHECK(strcmp(err + strlen(p), ": refusing a file writable by its group (mode 0620)") == 0);
  chmod(p, 0604); /* readable by others is fine */
  CHECK(ini_load(p, &schema, &doc, err, sizeof err) == 0 && doc);
  ini_free(doc);
  chmod(p, 0400);
  CHECK(ini_load(p, &schema, &doc, err, sizeof err) == 0 && doc);
  ini_free(doc);

  /* Through a symlink, the target is what is checked. */
  char link[160];
  snprintf(link, sizeof link, "%s/link.ini", dir);
  CHECK(symlink(p, link) == 0);
  CHECK(ini_load(link, &schema, &doc, err, sizeof err) == 0);
  ini_free(doc);
  chmod(p, 0646);
  CHECK(ini_load(link, &schema, &doc, err, sizeof err) == -EPERM);
  CHECK(strcmp(err + strlen(link), ": refusing a file writable by others (mode 0646)") == 0);
  unlink(link);

  if (geteuid() == 0) {
    chmod(p, 0644);
    CHECK(chown(p, 65534, 65534) == 0);
    CHECK(ini_load(p, &schema, &doc, err, sizeof err) == -EPERM);
    CHECK(strcmp(err + strlen(p),
                 ": refusing a file owned by uid 65534 (expected root or uid 0)") == 0);
  } else {
    printf("skipped: the foreign-owner check needs root\n");
  }
  unlink(p);

  CHECK(ini_load(p, &schema, &doc, err, sizeof err) == -ENOENT && doc == NULL);
  CHECK(strcmp(err + strlen(p), ": No such file or directory") == 0);
  CHECK(ini_load(dir, &schema, &doc, err, sizeof err) == -EINVAL);
  CHECK(strcmp(err + strlen(dir), ": not a regular file") == 0);
  snprintf(p, sizeof p, "%s/fifo", dir);
  CHECK(mkfifo(p, 0600) == 0);
  CHECK(ini_load(p, &schema, &doc, err, sizeof err) == -EINVAL); /* and no hang */
  CHECK(strcmp(err + strlen(p), ": not a regular file") == 0);
  unlink(p);
  CHECK(ini_load("etc/driver.ini", &schema, &doc, err, sizeof err) == -EINVAL);
  CHECK(strcmp(err, "etc/driver.ini: not an absolute path") == 0);
}

/* Loads an empty file against a schema variant; returns the error. */
static const char *schema_error(const ini_schema *s) {
  ini_doc *doc = NULL;
  write_file(path, "", 0, 0644);
  err[0] = '\0';
  if (ini_load(path, s, &doc, err, sizeof err) == 0) ini_free(doc);
  return err;
}

static void test_schema_checks(void) {
  const elide_key bad_default[] = {{"pool_size", ELIDE_VALUE_INT, 0, "four", ""}};
  const elide_key required_default[] = {{"x", ELIDE_VALUE_STRING, ELIDE_KEY_REQUIRED, "y", ""}};
  const elide_key dup[] = {{"x", ELIDE_VALUE_STRING, 0, NULL, ""},
                           {"x", ELIDE_VALUE_INT, 0, NULL, ""}};
  const elide_key bad_type[] = {{"x", 9, 0, NULL, ""}};
  const elide_key bad_name[] = {{"Bad-Name", ELIDE_VALUE_STRING, 0, NULL, ""}};
  const elide_key bad_path[] = {{"p", ELIDE_VALUE_PATH, 0, "rel", ""}};
  ini_module_schema m = {"python", bad_default, 1};
  ini_kind_schema k = {"native", bad_path, 1};
  ini_schema s = {NULL, 0, NULL, 0, &m, 1, NULL, 0};

  CHECK(strcmp(schema_error(&s),
               "schema: [module.python]: bad default: pool_size: \"four\" is not a decimal "
               "integer") == 0);
  m.keys = required_default;
  CHECK(strcmp(schema_error(&s),
               "schema: [module.python]: x: a required key cannot have a default") == 0);
  m.keys = dup, m.nkeys = 2;
  CHECK(strcmp(schema_error(&s), "schema: [module.python]: duplicate key \"x\"") == 0);
  m.keys = bad_type, m.nkeys = 1;
  CHECK(strcmp(schema_error(&s), "schema: [module.python]: x: unknown value type 9") == 0);
  m.keys = bad_name;
  CHECK(strcmp(schema_error(&s), "schema: [module.python]: bad key name \"Bad-Name\"") == 0);
  m.keys = js_keys, m.nkeys = N(js_keys);
  s.kinds = &k, s.nkinds = 1;
  CHECK(strcmp(schema_error(&s),
               "schema: [native.<name>]: bad default: p: \"rel\" is not an absolute path") == 0);
  k = (ini_kind_schema){"module", native_keys, N(native_keys)};
  CHECK(strcmp(schema_error(&s), "schema: section prefix \"module\" is reserved") == 0);
  ini_module_schema two[] = {{"js", js_keys, N(js_keys)}, {"js", js_keys, N(js_keys)}};
  s = (ini_schema){NULL, 0, NULL, 0, two, 2, NULL, 0};
  CHECK(strcmp(schema_error(&s), "schema: duplicate module \"js\"") == 0);
  const elide_key d_bad[] = {{"n", ELIDE_VALUE_BOOL, 0, "sometimes", ""}};
  s = (ini_schema){d_bad, 1, NULL, 0, NULL, 0, NULL, 0};
  CHECK(strcmp(schema_error(&s), "schema: [driver]: bad default: n: \"sometimes\" is not a "
                                 "boolean (true/false, yes/no, on/off, 1/0)") == 0);
}

static void test_value_parse(void) {
  value_arena *a = value_arena_new();
  elide_value v;
  char e[256];
  elide_key k = {"count", ELIDE_VALUE_INT, 0, NULL, ""};
  CHECK(elide_value_parse(&k, "9223372036854775807", a, &v, e, sizeof e) == 0 &&
        v.i == INT64_MAX && v.is_set && v.type == ELIDE_VALUE_INT);
  CHECK(elide_value_parse(&k, "-9223372036854775808", a, &v, e, sizeof e) == 0 && v.i == INT64_MIN);
  CHECK(elide_value_parse(&k, "007", a, &v, e, sizeof e) == 0 && v.i == 7);
  CHECK(elide_value_parse(&k, "-0", a, &v, e, sizeof e) == 0 && v.i == 0);
  CHECK(elide_value_parse(&k, "-9223372036854775809", a, &v, e, sizeof e) == -EINVAL);
  CHECK(strcmp(e, "count: \"-9223372036854775809\" is out of range (a signed 64-bit integer)") ==
        0);
  CHECK(elide_value_parse(&k, "99999999999999999999999", a, &v, e, sizeof e) == -EINVAL);
  static const char *const bad_ints[] = {"", "-", "+1", " 1", "1 ", "1.0", "1e3", "0x1f", "--1"};
  for (size_t i = 0; i < N(bad_ints); i++) {
    CHECK(elide_value_parse(&k, bad_ints[i], a, &v, e, sizeof e) == -EINVAL);
    CHECK_STR_CONTAINS(e, "is not a decimal integer");
  }

  /* The value owns copies: the key and text may go away. */
  char name[] = "items", text[] = "  a , b b,c  ";
  elide_key lk = {name, ELIDE_VALUE_LIST, 0, NULL, ""};
  CHECK(elide_value_parse(&lk, text, a, &v, e, sizeof e) == 0);
  memset(name, 'X', sizeof name - 1);
  memset(text, 'X', sizeof text - 1);
  CHECK(strcmp(v.name, "items") == 0 && strcmp(v.str, "  a , b b,c  ") == 0);
  CHECK(v.nlist == 3 && strcmp(v.list[0], "a") == 0 && strcmp(v.list[1], "b b") == 0 &&
        strcmp(v.list[2], "c") == 0 && v.list[3] == NULL);
  lk.name = "items";
  CHECK(elide_value_parse(&lk, "   ", a, &v, e, sizeof e) == 0 && v.nlist == 0 && v.list &&
        v.list[0] == NULL);
  CHECK(elide_value_parse(&lk, "single", a, &v, e, sizeof e) == 0 && v.nlist == 1);
  CHECK(elide_value_parse(&lk, "a,\t,b", a, &v, e, sizeof e) == -EINVAL);
  CHECK(strcmp(e, "items: \"a,?,b\" has an empty item (item 2)") == 0);

  elide_key pk = {"dir", ELIDE_VALUE_PATH, 0, NULL, ""};
  CHECK(elide_value_parse(&pk, "/", a, &v, e, sizeof e) == 0 && strcmp(v.str, "/") == 0);
  CHECK(elide_value_parse(&pk, "./x", a, &v, e, sizeof e) == -EINVAL);
  CHECK(strcmp(e, "dir: \"./x\" is not an absolute path") == 0);
  char longpath[5000];
  memset(longpath, 'a', sizeof longpath - 1);
  longpath[0] = '/';
  longpath[sizeof longpath - 1] = '\0';
  CHECK(elide_value_parse(&pk, longpath, a, &v, e, sizeof e) == -EINVAL);
  CHECK_STR_CONTAINS(e, "...\" is too long");
  CHECK(strlen(e) < 120);

  elide_key bk = {"flag", ELIDE_VALUE_BOOL, 0, NULL, ""};
  CHECK(elide_value_parse(&bk, "oN", a, &v, e, sizeof e) == 0 && v.i == 1 &&
        strcmp(v.str, "oN") == 0);
  CHECK(elide_value_parse(&bk, "", a, &v, e, sizeof e) == -EINVAL);

  elide_key sk = {"s", ELIDE_VALUE_STRING, 0, NULL, ""};
  CHECK(elide_value_parse(&sk, "any \x01 thing", a, &v, e, sizeof e) == 0 &&
        strcmp(v.str, "any \x01 thing") == 0);
  elide_key xk = {"x", 42, 0, NULL, ""};
  CHECK(elide_value_parse(&xk, "1", a, &v, e, sizeof e) == -EINVAL);
  CHECK(strcmp(e, "x: unknown value type 42") == 0);
  CHECK(elide_value_parse(NULL, "1", a, &v, e, sizeof e) == -EINVAL);
  CHECK(elide_value_parse(&sk, NULL, a, &v, e, sizeof e) == -EINVAL);

  /* Many allocations, small and large, all freed at once (ASan checks). */
  for (int i = 0; i < 2000; i++) {
    char *p = value_arena_alloc(a, (size_t)(i % 7 == 0 ? 5000 : i % 100));
    CHECK(p != NULL);
    if (p && i % 100) p[i % 100 - 1] = 'x';
    CHECK(((uintptr_t)p % _Alignof(max_align_t)) == 0);
  }
  CHECK(value_arena_strdup(a, NULL) == NULL);
  value_arena_free(a);
  value_arena_free(NULL);

  char out[16];
  CHECK(strcmp(value_printable(out, sizeof out, "ab\ncd"), "ab?cd") == 0);
  CHECK(strcmp(value_printable(out, sizeof out, "0123456789abcdefghij"), "0123456789ab...") == 0);
  CHECK(strcmp(elide_value_type_name(ELIDE_VALUE_LIST), "list") == 0);
  CHECK(strcmp(elide_value_type_name(0), "?") == 0);
}

static void test_peek(void) {
  char out[32];
  const char *text = "[module.ruby]\nx = 1\n[driver]\n  log_level = q ; c\nlog_level = r\n";
  write_file(path, text, strlen(text), 0644);
  CHECK(ini_peek(path, "driver", "log_level", out, sizeof out, err, sizeof err) == 1);
  CHECK(strcmp(out, "q") == 0);
  CHECK(ini_peek(path, "driver", "state_dir", out, sizeof out, err, sizeof err) == 0);
  CHECK(out[0] == '\0');
  CHECK(ini_peek(path, "module.ruby", "x", out, 2, err, sizeof err) == 1 && strcmp(out, "1") == 0);
  CHECK(ini_peek(path, "driver", "log_level", out, 1, err, sizeof err) == -ENAMETOOLONG);
  CHECK(strcmp(err + strlen(path), ":4: [driver]: log_level: value too long") == 0);
  chmod(path, 0664);
  CHECK(ini_peek(path, "driver", "log_level", out, sizeof out, err, sizeof err) == -EPERM);
  CHECK(strcmp(err + strlen(path), ": refusing a file writable by its group (mode 0664)") == 0);
  text = "[driver]\nnonsense\nlog_level = x\n";
  write_file(path, text, strlen(text), 0644);
  CHECK(ini_peek(path, "driver", "log_level", out, sizeof out, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, ":2: syntax error");
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/test_ini_XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 2;
  }
  snprintf(path, sizeof path, "%s/driver.ini", dir);

  test_full_file();
  test_unset_without_default();
  test_comments_and_forms();
  test_bools();
  test_value_errors();
  test_structure_errors();
  test_long_lines_and_nul();
  test_many_sections();
  test_random_input();
  test_file_safety();
  test_schema_checks();
  test_value_parse();
  test_peek();

  unlink(path);
  rmdir(dir);
  return CHECK_DONE();
}
