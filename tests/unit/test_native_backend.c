/* Unit tests of the native backend module (plugins/native) against the
 * mock host: the built native.so validates tasks and starts the built
 * elide-native-runner, which calls functions of the fixture library
 * (tests/fixtures/native/mathlib.c) copied into temporary task dirs. */
#include "../check.h"
#include "elide_module.h"
#include "mock_host.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIXTURES ELIDE_TEST_NATIVE_FIXTURES
#define RUNNER ELIDE_TEST_NATIVE_RUNNER

static const elide_module_descriptor *mod;
static char *dir; /* the task directory shared by most tests */
static char lib[PATH_MAX]; /* <dir>/mathlib.so */

/* Instances are never destroyed (the ABI has no such op); keeping them
 * referenced mirrors the host and keeps LeakSanitizer quiet. */
static void *instances[32];
static size_t ninstances;

static const char *const test_env[] = {"PATH=/usr/bin:/bin", "GREETING=hello from env", NULL};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

static char *make_task_dir(void) {
  char tmpl[] = "/tmp/elide-native-test-XXXXXX";
  if (!mkdtemp(tmpl)) return NULL;
  return realpath(tmpl, NULL);
}

static int copy_file(const char *from, const char *to, size_t limit) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  int rc = in && out ? 0 : -1;
  char buf[4096];
  size_t n, total = 0;
  while (rc == 0 && total < limit && (n = fread(buf, 1, sizeof buf, in)) > 0) {
    if (n > limit - total) n = limit - total;
    fwrite(buf, 1, n, out);
    total += n;
  }
  if (in) fclose(in);
  if (out) fclose(out);
  return rc;
}

/* Writes len bytes of text to d/name; returns the absolute path in a static
 * buffer. */
static const char *write_file(const char *d, const char *name, const char *text, size_t len) {
  static char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", d, name);
  FILE *f = fopen(path, "wb");
  if (f) {
    fwrite(text, 1, len, f);
    fclose(f);
  }
  return path;
}

typedef struct run_result {
  int rc;
  elide_exit ex;
  char *out, *err;
  char msg[1024];
} run_result;

static void result_free(run_result *r) {
  free(r->out);
  free(r->err);
  r->out = r->err = NULL;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  char *buf = calloc(1, 65536);
  if (f) {
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
  }
  return buf;
}

/* init with explicit values and sections, kept alive for the process. */
static int init_with(const char *runner, int require_section, const elide_section *sections,
                     size_t nsections, void **state, char *err, size_t errlen) {
  elide_value v[2] = {
      {.name = "runner", .type = ELIDE_VALUE_PATH, .is_set = runner != NULL, .str = runner},
      {.name = "require_section", .type = ELIDE_VALUE_BOOL, .is_set = 1,
       .str = require_section ? "true" : "false", .i = require_section},
  };
  elide_module_config mc = {sizeof mc, v, 2, sections, nsections};
  int rc = mod->ops->init(&mock_host_services, &mc, state, err, errlen);
  if (rc == 0 && ninstances < sizeof instances / sizeof instances[0])
    instances[ninstances++] = *state;
  return rc;
}

/* Runs `symbol` with `signature` and args from `library` (NULL options are
 * left unset) through an instance (NULL: one with the defaults, shared):
 * execute, wait, read the output back. */
static void run_in(void *st, const char *library, const char *symbol, const char *signature,
                   const char *const *args, run_result *r) {
  static void *shared;
  memset(r, 0, sizeof *r);
  if (!st && !shared && init_with(NULL, 0, NULL, 0, &shared, r->msg, sizeof r->msg) != 0) {
    r->rc = -1;
    return;
  }
  elide_value opts[2] = {
      {.name = "symbol", .type = ELIDE_VALUE_STRING, .is_set = symbol != NULL, .str = symbol},
      {.name = "signature", .type = ELIDE_VALUE_STRING, .is_set = signature != NULL,
       .str = signature},
  };
  static const char *const none[] = {NULL};
  elide_task task = {sizeof task, "test/task/native", "native", dir, library, NULL,
                     args ? args : none, test_env, opts, 2};
  char o[PATH_MAX], e[PATH_MAX];
  snprintf(o, sizeof o, "%s/.mock.stdout", dir);
  snprintf(e, sizeof e, "%s/.mock.stderr", dir);
  mock_task_ctx ctx = {o, e};
  elide_proc *p = NULL;
  r->rc = mod->ops->execute(st ? st : shared, &task, &ctx, &p, r->msg, sizeof r->msg);
  if (r->rc != 0) return;
  mock_host_services.proc_wait(p, -1, &r->ex);
  free(p);
  r->out = slurp(o);
  r->err = slurp(e);
  unlink(o);
  unlink(e);
}

static void run(const char *symbol, const char *signature, const char *const *args,
                run_result *r) {
  run_in(NULL, lib, symbol, signature, args, r);
}

/* A call that runs and exits with `code`, printing exactly `out` (NULL:
 * don't care) on stdout. */
static void expect_run(const char *symbol, const char *signature, const char *const *args,
                       int code, const char *out) {
  run_result r;
  run(symbol, signature, args, &r);
  CHECK(r.rc == 0);
  CHECK(r.ex.exit_code == code && r.ex.signal == 0);
  if (out) CHECK(r.out && !strcmp(r.out, out));
  if (r.rc != 0 || r.ex.exit_code != code || (out && (!r.out || strcmp(r.out, out))))
    fprintf(stderr, "  %s %s: rc %d (%s) exit %d\n  stdout: %s\n  stderr: %s\n", symbol,
            signature, r.rc, r.msg, r.ex.exit_code, r.out ? r.out : "", r.err ? r.err : "");
  result_free(&r);
}

/* A task refused by execute before anything runs, with `want` in the
 * message. */
static void expect_refused_lib(const char *library, const char *symbol, const char *signature,
                               const char *const *args, const char *want) {
  run_result r;
  char marker[PATH_MAX];
  snprintf(marker, sizeof marker, "%s/.mock.stdout", dir);
  unlink(marker);
  run_in(NULL, library, symbol, signature, args, &r);
  CHECK(r.rc < 0);
  CHECK_STR_CONTAINS(r.msg, want);
  CHECK(access(marker, F_OK) != 0); /* nothing was started */
  result_free(&r);
}

static void expect_refused(const char *symbol, const char *signature, const char *const *args,
                           const char *want) {
  expect_refused_lib(lib, symbol, signature, args, want);
}

/* ---- descriptor and fingerprint --------------------------------------- */

static void test_descriptor(void) {
  CHECK(mod->size == sizeof(elide_module_descriptor));
  CHECK(mod->abi_major == ELIDE_ABI_MAJOR && mod->abi_minor == ELIDE_ABI_MINOR);
  CHECK(!strcmp(mod->name, "native"));
  CHECK(!strcmp(mod->languages[0], "native") && mod->languages[1] == NULL);
  CHECK(mod->capabilities == (ELIDE_CAP_SIGNAL | ELIDE_CAP_STATS | ELIDE_CAP_RECOVER));
  CHECK(mod->nconfig_keys == 2 && !strcmp(mod->config_keys[0].name, "runner") &&
        mod->config_keys[0].type == ELIDE_VALUE_PATH && mod->config_keys[0].default_value == NULL &&
        !strcmp(mod->config_keys[1].name, "require_section") &&
        mod->config_keys[1].type == ELIDE_VALUE_BOOL);
  CHECK(mod->ntask_keys == 2 && !strcmp(mod->task_keys[0].name, "symbol") &&
        !strcmp(mod->task_keys[1].name, "signature"));
  for (size_t i = 0; i < mod->ntask_keys; i++)
    CHECK(mod->task_keys[i].type == ELIDE_VALUE_STRING &&
          mod->task_keys[i].flags == ELIDE_KEY_REQUIRED);
  CHECK(mod->section_prefix && !strcmp(mod->section_prefix, "native"));
  CHECK(mod->nsection_keys == 1 && !strcmp(mod->section_keys[0].name, "symbols") &&
        mod->section_keys[0].type == ELIDE_VALUE_LIST);
  CHECK(mod->ops->size == sizeof(elide_module_ops));
}

static const char *attr(const elide_fingerprint *fp, const char *key) {
  for (size_t i = 0; i < fp->nattrs; i++)
    if (!strcmp(fp->attrs[i].key, key)) return fp->attrs[i].value;
  return NULL;
}

static void test_fingerprint_healthy(void) {
  void *st = NULL;
  char err[256] = "", runner[PATH_MAX];
  CHECK(init_with(NULL, 0, NULL, 0, &st, err, sizeof err) == 0);
  elide_fingerprint fp;
  memset(&fp, 0xaa, sizeof fp); /* the module must clear it */
  CHECK(mod->ops->fingerprint(st, &fp) == 0);
  CHECK(fp.healthy == 1 && fp.description[0] == '\0');
  CHECK(fp.nattrs == 2);
  /* the default runner is found next to the module directory */
  CHECK(realpath(RUNNER, runner) && attr(&fp, "runtime") && !strcmp(attr(&fp, "runtime"), runner));
  CHECK(attr(&fp, "version") && !strcmp(attr(&fp, "version"), ELIDE_TEST_FFI_VERSION));
}

static void check_unhealthy(const char *runner, const char *reason) {
  void *st = NULL;
  char err[256] = "";
  CHECK(init_with(runner, 0, NULL, 0, &st, err, sizeof err) == 0);
  elide_fingerprint fp;
  CHECK(mod->ops->fingerprint(st, &fp) == 0);
  CHECK(fp.healthy == 0);
  CHECK_STR_CONTAINS(fp.description, "native runner unusable: ");
  CHECK_STR_CONTAINS(fp.description, runner);
  CHECK_STR_CONTAINS(fp.description, reason);
  CHECK(attr(&fp, "runtime") && !strcmp(attr(&fp, "runtime"), runner));
  CHECK(attr(&fp, "version") == NULL);
}

static void test_fingerprint_unhealthy(void) {
  char *d = make_task_dir();
  char path[PATH_MAX];
  check_unhealthy("/nonexistent/elide-native-runner", "No such file or directory");
  snprintf(path, sizeof path, "%s", write_file(d, "noexec", "#!/bin/sh\n", 10));
  check_unhealthy(path, "is not an executable file");
  check_unhealthy(d, "is not an executable file");
  const char *fails = "#!/bin/sh\necho 'libffi.so.8: cannot open' >&2\nexit 127\n";
  snprintf(path, sizeof path, "%s", write_file(d, "fails", fails, strlen(fails)));
  chmod(path, 0755);
  check_unhealthy(path, "--version exited with 127: libffi.so.8: cannot open");
  const char *wrong = "#!/bin/sh\necho 1.2.3\n";
  snprintf(path, sizeof path, "%s", write_file(d, "wrong", wrong, strlen(wrong)));
  chmod(path, 0755);
  check_unhealthy(path, "--version exited with 0: 1.2.3");

  void *st = NULL;
  char err[256] = "";
  CHECK(init_with("relative/runner", 0, NULL, 0, &st, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, "runner \"relative/runner\" must be an absolute path");
  nftw(d, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(d);
}

/* ---- calls -------------------------------------------------------------- */

/* The whole path as the host drives it (init from declared defaults, then
 * execute and wait), through the mock's own runner. */
static void test_mock_run_task(void) {
  run_result r;
  memset(&r, 0, sizeof r);
  const char *const opts[] = {"symbol", "greet", "signature", "int(string)", NULL};
  const char *const args[] = {"mock", NULL};
  r.rc = mock_run_task(mod, NULL, dir, lib, NULL, args, test_env, opts, &r.ex, &r.out, &r.err,
                       r.msg, sizeof r.msg);
  CHECK(r.rc == 0 && r.ex.exit_code == 0);
  CHECK(r.out && !strcmp(r.out, "hello, mock\n"));
  result_free(&r);
}

static void test_integer_calls(void) {
  expect_run("add", "int(int,int)", (const char *[]){"2", "40", NULL}, 42, "");
  expect_run("add", "int(int,int)", (const char *[]){"-5", "3", NULL}, 254, "");
  expect_run("add", " int ( int , int ) ", (const char *[]){"0x10", "+1", NULL}, 17, "");
  expect_run("add_twice", "int(int,int)", (const char *[]){"3", "4", NULL}, 10, "");
  /* the return value truncated to 0..255 is the exit status */
  expect_run("exit_with", "int(int)", (const char *[]){"256", NULL}, 0, "");
  expect_run("exit_with", "int(int)", (const char *[]){"257", NULL}, 1, "");
  expect_run("exit_with", "int(int)", (const char *[]){"-1", NULL}, 255, "");
  expect_run("minus_one", "int8()", NULL, 255, "");
  expect_run("byte_200", "uint8(void)", NULL, 200, "");
  expect_run("u16_0x1234", "uint16()", NULL, 0x34, "");
  expect_run("wide_5", "int64()", NULL, 5, "");
  expect_run("weak_four", "int()", NULL, 4, "");
  expect_run("pick", "int()", NULL, 9, ""); /* an IFUNC */
  expect_run("show_ints", "int(int8,int16,int32,int64,uint8,uint16,uint32,uint64)",
             (const char *[]){"-128", "-32768", "-2147483648", "-9223372036854775808", "255",
                              "65535", "4294967295", "18446744073709551615", NULL},
             0,
             "-128 -32768 -2147483648 -9223372036854775808 255 65535 4294967295 "
             "18446744073709551615\n");
  expect_run("show_ints", "int(int8,int16,int32,int64,uint8,uint16,uint32,uint64)",
             (const char *[]){"1", "2", "3", "4", "5", "6", "7", "8", NULL}, 0,
             "1 2 3 4 5 6 7 8\n");
  expect_run("show_aliases", "int(int,uint,long,ulong,size_t,ssize_t)",
             (const char *[]){"-1", "4000000000", "-9000000000", "18000000000000000000", "77",
                              "-77", NULL},
             0, "-1 4000000000 -9000000000 18000000000000000000 77 -77\n");
}

static void test_float_string_bytes_calls(void) {
  /* float and double results are printed on stdout; the exit status is 0 */
  expect_run("scale", "double(double,double)", (const char *[]){"2.5", "3", NULL}, 0,
             "scale 2.5 by 3\n7.5\n");
  expect_run("scale", "double(double,double)", (const char *[]){"0.1", "1", NULL}, 0,
             "scale 0.1 by 1\n0.1\n");
  expect_run("halve", "float(float)", (const char *[]){"3", NULL}, 0, "1.5\n");
  expect_run("halve", "float(float)", (const char *[]){"0.1", NULL}, 0, "0.05\n");
  expect_run("shout", "void(string)", (const char *[]){"hello, nomad", NULL}, 0,
             "HELLO, NOMAD\n");
  expect_run("sum_bytes", "int(bytes)", (const char *[]){"00ff7f", NULL}, 0x7e,
             "3 bytes: 00 ff 7f\n");
  expect_run("sum_bytes", "int(bytes)", (const char *[]){"0A0b", NULL}, 21, "2 bytes: 0a 0b\n");
  expect_run("sum_bytes", "int(bytes)", (const char *[]){"", NULL}, 0, "0 bytes:\n");
  expect_run("mixed", "int(int,double,string,float,bytes,long)",
             (const char *[]){"7", "0.25", "str", "1.5", "ff00", "-9", NULL}, 0,
             "a=7 b=0.25 s=str c=1.5 len=2 first=255 d=-9\n");

  run_result r;
  run("greet", "int(string)", (const char *[]){"nomad", NULL}, &r);
  CHECK(r.rc == 0 && r.ex.exit_code == 0);
  CHECK(r.out && !strcmp(r.out, "hello, nomad\n"));
  CHECK(r.err && !strcmp(r.err, "greeted 5 bytes\n"));
  result_free(&r);
  run("greet", "int(string)", (const char *[]){"", NULL}, &r);
  CHECK(r.out && !strcmp(r.out, "hello, \n"));
  result_free(&r);

  run("fail", "int(void)", NULL, &r);
  CHECK(r.rc == 0 && r.ex.exit_code == 3);
  CHECK(r.out && r.out[0] == '\0');
  CHECK(r.err && !strcmp(r.err, "failing on purpose\n"));
  result_free(&r);

  /* the function runs in the task dir with the task's environment */
  char want[PATH_MAX + 128];
  snprintf(want, sizeof want, "cwd: %s\ngreeting: hello from env\nalloc id: (unset)\n", dir);
  expect_run("describe", "int()", NULL, 0, want);
}

/* The library file passes every check, but the loader cannot resolve its
 * dependency: the runner reports dlopen's error and exits 127. */
static void test_missing_dependency(void) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/needs_gone.so", dir);
  copy_file(FIXTURES "/needs_gone.so", path, SIZE_MAX);
  run_result r;
  run_in(NULL, path, "call_gone", "int()", NULL, &r);
  CHECK(r.rc == 0 && r.ex.exit_code == 127);
  CHECK_STR_CONTAINS(r.err, "elide-native-runner: dlopen: ");
  CHECK_STR_CONTAINS(r.err, "libgone.so");
  result_free(&r);
}

/* ---- refusals ------------------------------------------------------------ */

static void test_bad_signatures(void) {
  const char *const two[] = {"1", "2", NULL};
  expect_refused("add", "int(int,strng)", two,
                 "task config: field \"signature\": unknown type \"strng\" at position 9");
  expect_refused("add", "integer(int,int)", two,
                 "task config: field \"signature\": unknown type \"integer\" at position 1");
  expect_refused("add", "int(int,int", two,
                 "task config: field \"signature\": expected \")\" to close the parameter list");
  expect_refused("add", "int(int,int))", two,
                 "task config: field \"signature\": unexpected \")\" at position 13");
  expect_refused("add", "int((int,int)", two,
                 "task config: field \"signature\": expected a parameter type, found \"(\"");
  expect_refused("add", "int int,int", two,
                 "task config: field \"signature\": expected \"(\" after the return type");
  expect_refused("add", "int(int,,int)", two,
                 "task config: field \"signature\": expected a parameter type, found \",\"");
  expect_refused("add", "string(int,int)", two,
                 "task config: field \"signature\": return type \"string\" at position 1 is not "
                 "supported");
  expect_refused("add", "int(int,void)", two,
                 "task config: field \"signature\": \"void\" at position 9");
  expect_refused("add", "   ", two, "task config: field \"signature\": empty signature");
  expect_refused("add", NULL, two, "task config: field \"signature\": required");
}

static void test_bad_args(void) {
  expect_refused("add", "int(int,int)", (const char *[]){"1", NULL},
                 "task config: field \"args\": the signature takes 2 arguments (int, int), got 1");
  expect_refused("add", "int(int,int)", (const char *[]){"1", "2", "3", NULL},
                 "task config: field \"args\": the signature takes 2 arguments (int, int), got 3");
  expect_refused("fail", "int(void)", (const char *[]){"1", NULL},
                 "the signature takes 0 arguments, got 1");
  expect_refused("add", "int(int,int)", (const char *[]){"1", "two", NULL},
                 "task config: field \"args\": argument 2: \"two\" is not a valid int");
  expect_refused("add", "int(int,int)", (const char *[]){"1.5", "2", NULL},
                 "argument 1: \"1.5\" is not a valid int");
  expect_refused("add", "int(int,int)", (const char *[]){"1", "", NULL},
                 "argument 2: \"\" is not a valid int");
  expect_refused("add", "int(int,int)", (const char *[]){"2147483648", "0", NULL},
                 "argument 1: \"2147483648\" is out of range for int (-2147483648..2147483647)");
  expect_refused("byte_200", "uint8(uint8)", (const char *[]){"-1", NULL},
                 "argument 1: \"-1\" is out of range for uint8 (0..255)");
  expect_refused("scale", "double(double,double)", (const char *[]){"1e400", "1", NULL},
                 "argument 1: \"1e400\" is out of range for double");
  expect_refused("scale", "double(double,double)", (const char *[]){"1", "x1", NULL},
                 "argument 2: \"x1\" is not a valid double");
  expect_refused("halve", "float(float)", (const char *[]){"1e39", NULL},
                 "\"1e39\" is out of range for float");
  expect_refused("sum_bytes", "int(bytes)", (const char *[]){"abc", NULL},
                 "argument 1: \"abc\" is not valid bytes (an odd number of hex digits)");
  expect_refused("sum_bytes", "int(bytes)", (const char *[]){"zz", NULL},
                 "found \"z\" at offset 0");
}

static void test_bad_symbols(void) {
  expect_refused("nope", "int()", NULL,
                 "task config: field \"symbol\": \"nope\" is not exported by mathlib.so");
  expect_refused("twice", "int(int)", (const char *[]){"1", NULL},
                 "field \"symbol\": \"twice\" is not exported by mathlib.so (no dynamic symbol "
                 "has that name; static and hidden-visibility functions are not exported)");
  expect_refused("internal_helper", "int(int)", (const char *[]){"1", NULL},
                 "\"internal_helper\" is not exported by mathlib.so");
  expect_refused("counter", "int()", NULL,
                 "task config: field \"symbol\": \"counter\" in mathlib.so is a variable, not a "
                 "function");
  expect_refused("getenv", "int(string)", (const char *[]){"x", NULL},
                 "task config: field \"symbol\": \"getenv\" in mathlib.so is imported by the "
                 "library, not defined in it");
  expect_refused("bad name", "int()", NULL,
                 "task config: field \"symbol\": \"bad name\" is not a valid symbol name");
  expect_refused("add\n", "int()", NULL, "field \"symbol\": \"add?\" is not a valid symbol name");
  expect_refused(NULL, "int()", NULL, "task config: field \"symbol\": required");
}

static void test_bad_libraries(void) {
  char path[PATH_MAX];
  /* not named like a shared library */
  snprintf(path, sizeof path, "%s", write_file(dir, "run.py", "print(1)\n", 9));
  expect_refused_lib(path, "add", "int(int,int)", (const char *[]){"1", "2", NULL},
                     "task config: field \"script\": ");
  expect_refused_lib(path, "add", "int(int,int)", (const char *[]){"1", "2", NULL},
                     "run.py is not a shared library (the file name must end in .so");
  snprintf(path, sizeof path, "%s", write_file(dir, ".so", "", 0));
  expect_refused_lib(path, "add", "int()", NULL, "is not a shared library");
  /* named like one, but not ELF */
  snprintf(path, sizeof path, "%s", write_file(dir, "text.so", "#!/bin/sh\necho hi\n", 18));
  expect_refused_lib(path, "add", "int()", NULL,
                     "task config: field \"script\": ");
  expect_refused_lib(path, "add", "int()", NULL,
                     "text.so is not a usable shared library: not an ELF file");
  unsigned char noise[4096];
  srand(42);
  for (size_t i = 0; i < sizeof noise; i++) noise[i] = (unsigned char)rand();
  snprintf(path, sizeof path, "%s", write_file(dir, "random.so.1", (char *)noise, sizeof noise));
  expect_refused_lib(path, "add", "int()", NULL,
                     "random.so.1 is not a usable shared library: not an ELF file");
  snprintf(path, sizeof path, "%s", write_file(dir, "empty.so", "", 0));
  expect_refused_lib(path, "add", "int()", NULL, "not an ELF file");
  /* truncated copies of the real library */
  const size_t cuts[] = {10, 100, 2000};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    snprintf(path, sizeof path, "%s/cut.so", dir);
    copy_file(FIXTURES "/mathlib.so", path, cuts[i]);
    expect_refused_lib(path, "add", "int(int,int)", (const char *[]){"1", "2", NULL},
                       "cut.so is not a usable shared library: ");
  }
  expect_refused_lib(path, "add", "int(int,int)", (const char *[]){"1", "2", NULL},
                     "lies outside the file");
  snprintf(path, sizeof path, "%s/cut.so", dir);
  copy_file(FIXTURES "/mathlib.so", path, 10);
  expect_refused_lib(path, "add", "int()", NULL, "truncated ELF header (10 of 64 bytes)");
  /* an executable is not a library */
  snprintf(path, sizeof path, "%s/true.so", dir);
  copy_file("/usr/bin/true", path, SIZE_MAX);
  expect_refused_lib(path, "main", "int()", NULL, "position-independent executable");
  /* inline code is not a library */
  run_result r;
  memset(&r, 0, sizeof r);
  const char *opts[] = {"symbol", "add", "signature", "int()", NULL};
  r.rc = mock_run_task(mod, NULL, dir, NULL, "int main(){}", NULL, test_env, opts, &r.ex, &r.out,
                       &r.err, r.msg, sizeof r.msg);
  CHECK(r.rc == -EINVAL);
  CHECK_STR_CONTAINS(r.msg, "task config: field \"code\": the native backend calls a function of "
                            "a shared library; set \"script\"");
}

/* ---- [native.<name>] sections ----------------------------------------- */

/* Runs through an instance with sections, as mock_run_task cannot pass
 * them: init, execute, wait. */
static int run_with_sections(int require_section, const elide_section *secs, size_t nsecs,
                             const char *symbol, const char *signature, const char *const *args,
                             elide_exit *ex, char *msg, size_t msglen) {
  void *st = NULL;
  int rc = init_with(NULL, require_section, secs, nsecs, &st, msg, msglen);
  if (rc != 0) return rc;
  elide_value opts[2] = {
      {.name = "symbol", .type = ELIDE_VALUE_STRING, .is_set = 1, .str = symbol},
      {.name = "signature", .type = ELIDE_VALUE_STRING, .is_set = 1, .str = signature},
  };
  static const char *const none[] = {NULL};
  elide_task task = {sizeof task, "mock/task/sections", "native", dir, lib, NULL,
                     args ? args : none, test_env, opts, 2};
  char o[PATH_MAX], e[PATH_MAX];
  snprintf(o, sizeof o, "%s/.sections.stdout", dir);
  snprintf(e, sizeof e, "%s/.sections.stderr", dir);
  mock_task_ctx ctx = {o, e};
  elide_proc *p = NULL;
  rc = mod->ops->execute(st, &task, &ctx, &p, msg, msglen);
  if (rc != 0) return rc;
  mock_host_services.proc_wait(p, -1, ex);
  free(p);
  return 0;
}

static void test_sections(void) {
  const char *const mathlib_syms[] = {"add", "greet", NULL};
  elide_value mv = {.name = "symbols", .type = ELIDE_VALUE_LIST, .is_set = 1, .str = "add, greet",
                    .list = mathlib_syms, .nlist = 2};
  const char *const other_syms[] = {"scale", NULL};
  elide_value ov = {.name = "symbols", .type = ELIDE_VALUE_LIST, .is_set = 1, .str = "scale",
                    .list = other_syms, .nlist = 1};
  elide_value unset = {.name = "symbols", .type = ELIDE_VALUE_LIST};
  elide_section limited[] = {{"other", &ov, 1}, {"mathlib", &mv, 1}};
  elide_section open_sec[] = {{"mathlib", &unset, 1}};
  elide_section other_only[] = {{"other", &ov, 1}};
  const char *const two[] = {"20", "22", NULL};
  const char *const pair[] = {"1", "2", NULL};
  elide_exit ex;
  char msg[512] = "";

  CHECK(run_with_sections(0, limited, 2, "add", "int(int,int)", two, &ex, msg, sizeof msg) == 0);
  CHECK(ex.exit_code == 42);
  CHECK(run_with_sections(0, limited, 2, "scale", "double(double,double)", pair, &ex, msg,
                          sizeof msg) == -EPERM);
  CHECK_STR_CONTAINS(msg, "task config: field \"symbol\": \"scale\" is not allowed by "
                          "[native.mathlib] symbols (add, greet)");
  /* a section without `symbols` allows every exported function */
  CHECK(run_with_sections(0, open_sec, 1, "add", "int(int,int)", two, &ex, msg, sizeof msg) == 0);
  CHECK(ex.exit_code == 42);
  /* another library's section does not apply */
  CHECK(run_with_sections(0, other_only, 1, "add", "int(int,int)", two, &ex, msg, sizeof msg) ==
        0);
  /* require_section: a library without a section is refused */
  CHECK(run_with_sections(1, other_only, 1, "add", "int(int,int)", two, &ex, msg, sizeof msg) ==
        -EPERM);
  CHECK_STR_CONTAINS(msg, "task config: field \"script\": library \"mathlib\" has no "
                          "[native.mathlib] section, and [module.native] require_section is true");
  CHECK(run_with_sections(1, NULL, 0, "add", "int(int,int)", two, &ex, msg, sizeof msg) == -EPERM);
  CHECK(run_with_sections(1, open_sec, 1, "add", "int(int,int)", two, &ex, msg, sizeof msg) == 0);
  CHECK(ex.exit_code == 42);
  /* the allowlist comes before the ELF check: an allowed but missing symbol
   * still gets the ELF message */
  const char *const nope_syms[] = {"nope", NULL};
  elide_value nv = {.name = "symbols", .type = ELIDE_VALUE_LIST, .is_set = 1, .str = "nope",
                    .list = nope_syms, .nlist = 1};
  elide_section nope_sec[] = {{"mathlib", &nv, 1}};
  CHECK(run_with_sections(0, nope_sec, 1, "nope", "int()", NULL, &ex, msg, sizeof msg) ==
        -ENOENT);
  CHECK_STR_CONTAINS(msg, "\"nope\" is not exported by mathlib.so");
}

/* ---- long-running functions ------------------------------------------ */

static int file_contains(const char *path, const char *needle) {
  char buf[4096] = "";
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return strstr(buf, needle) != NULL;
}

/* A function that never returns: its output reaches the log as it goes
 * (line-buffered), and cancel stops it with the signal. */
static void test_cancel(void) {
  void *st = NULL;
  char msg[512] = "";
  CHECK(init_with(NULL, 0, NULL, 0, &st, msg, sizeof msg) == 0);
  elide_value opts[2] = {
      {.name = "symbol", .type = ELIDE_VALUE_STRING, .is_set = 1, .str = "ticker"},
      {.name = "signature", .type = ELIDE_VALUE_STRING, .is_set = 1, .str = "int(int)"},
  };
  const char *const args[] = {"20", NULL};
  elide_task task = {sizeof task, "mock/task/ticker", "native", dir, lib, NULL, args, test_env,
                     opts, 2};
  char o[PATH_MAX], e[PATH_MAX];
  snprintf(o, sizeof o, "%s/.ticker.stdout", dir);
  snprintf(e, sizeof e, "%s/.ticker.stderr", dir);
  mock_task_ctx ctx = {o, e};
  elide_proc *p = NULL;
  CHECK(mod->ops->execute(st, &task, &ctx, &p, msg, sizeof msg) == 0);
  if (!p) return;
  int seen = 0;
  for (int i = 0; i < 500 && !seen; i++) {
    seen = file_contains(o, "tick 3\n");
    if (!seen) usleep(10000);
  }
  CHECK(seen);
  elide_exit ex;
  CHECK(mod->ops->status(st, p, &ex) == 0); /* still running */
  CHECK(mod->ops->signal(st, p, 0) == 0);
  CHECK(mod->ops->cancel(st, p, SIGTERM, 2000, &ex) == 0);
  CHECK(ex.signal == SIGTERM && ex.exit_code == 128 + SIGTERM);
  CHECK(mod->ops->status(st, p, &ex) == 1);
  free(p);
}

/* ---- the runner on its own --------------------------------------------- */

/* Runs the runner with argv, capturing stdout+stderr; returns the status. */
static int run_runner(const char *const *argv, char *out, size_t outlen) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    execv(RUNNER, (char *const *)argv);
    _exit(126);
  }
  close(fds[1]);
  size_t used = 0;
  ssize_t n;
  while (used + 1 < outlen && (n = read(fds[0], out + used, outlen - 1 - used)) > 0)
    used += (size_t)n;
  out[used] = '\0';
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_runner(void) {
  char out[1024];
  CHECK(run_runner((const char *[]){RUNNER, "--version", NULL}, out, sizeof out) == 0);
  CHECK(!strcmp(out, "elide-native-runner " ELIDE_VERSION " libffi " ELIDE_TEST_FFI_VERSION "\n"));
  CHECK(run_runner((const char *[]){RUNNER, NULL}, out, sizeof out) == 127);
  CHECK_STR_CONTAINS(out, "elide-native-runner: usage: ");
  /* the runner repeats every check the module made */
  CHECK(run_runner((const char *[]){RUNNER, lib, "add", "int(int,strng)", "1", "2", NULL}, out,
                   sizeof out) == 127);
  CHECK_STR_CONTAINS(out, "elide-native-runner: signature: unknown type \"strng\" at position 9");
  CHECK(run_runner((const char *[]){RUNNER, lib, "add", "int(int,int)", "1", NULL}, out,
                   sizeof out) == 127);
  CHECK_STR_CONTAINS(out, "elide-native-runner: args: the signature takes 2 arguments (int, int), "
                          "got 1");
  CHECK(run_runner((const char *[]){RUNNER, lib, "counter", "int()", NULL}, out, sizeof out) ==
        127);
  CHECK_STR_CONTAINS(out, "\"counter\" is not a function");
  CHECK(run_runner((const char *[]){RUNNER, lib, "nope", "int()", NULL}, out, sizeof out) == 127);
  CHECK_STR_CONTAINS(out, "no dynamic symbol is named \"nope\"");
  CHECK(run_runner((const char *[]){RUNNER, "/nonexistent.so", "add", "int()", NULL}, out,
                   sizeof out) == 127);
  CHECK_STR_CONTAINS(out, "cannot open: No such file or directory");
  CHECK(run_runner((const char *[]){RUNNER, lib, "add", "int(int,int)", "20", "22", NULL}, out,
                   sizeof out) == 42);
}

int main(void) {
  mod = mock_load_module(ELIDE_TEST_NATIVE_MODULE);
  CHECK(mod != NULL);
  if (!mod) return CHECK_DONE();
  dir = make_task_dir();
  snprintf(lib, sizeof lib, "%s/mathlib.so", dir);
  CHECK(copy_file(FIXTURES "/mathlib.so", lib, SIZE_MAX) == 0);
  test_descriptor();
  test_fingerprint_healthy();
  test_fingerprint_unhealthy();
  test_mock_run_task();
  test_integer_calls();
  test_float_string_bytes_calls();
  test_missing_dependency();
  test_bad_signatures();
  test_bad_args();
  test_bad_symbols();
  test_bad_libraries();
  test_sections();
  test_cancel();
  test_runner();
  nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(dir);
  return CHECK_DONE();
}
