/* Unit tests of the js backend module (plugins/js) against the mock host:
 * the built js.so runs real node processes in temporary task directories. */
#include "../check.h"
#include "elide_module.h"
#include "mock_host.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NODE "/usr/bin/node"

static const elide_module_descriptor *mod;

/* Instances are never destroyed (the ABI has no such op); keeping them
 * referenced mirrors the host and keeps LeakSanitizer quiet. */
static void *instances[32];
static size_t ninstances;

static const char *const test_env[] = {"PATH=/usr/bin:/bin", "GREETING=hello from env",
                                       "EMPTY=", NULL};

/* A fresh task directory (realpath'd, so cwd comparisons are exact). */
static char *make_task_dir(void) {
  char tmpl[] = "/tmp/elide-js-test-XXXXXX";
  if (!mkdtemp(tmpl)) return NULL;
  return realpath(tmpl, NULL);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void remove_task_dir(char *dir) {
  nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(dir);
}

/* Writes dir/name (one directory level is created if needed); returns
 * the absolute path in a static buffer. */
static const char *write_file(const char *dir, const char *name, const char *text) {
  static char path[PATH_MAX];
  const char *slash = strrchr(name, '/');
  if (slash) {
    snprintf(path, sizeof path, "%s/%.*s", dir, (int)(slash - name), name);
    mkdir(path, 0755);
  }
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
  return path;
}

/* One run's outcome; out/err are malloc'd by the mock host. */
typedef struct run_result {
  int rc;
  elide_exit ex;
  char *out, *err;
  char msg[512];
} run_result;

static void run_full(const char *const *config, const char *dir, const char *script,
                     const char *code, const char *const *args, const char *const *envp,
                     const char *const *options, run_result *r) {
  memset(r, 0, sizeof *r);
  r->rc = mock_run_task(mod, config, dir, script, code, args, envp ? envp : test_env, options,
                        &r->ex, &r->out, &r->err, r->msg, sizeof r->msg);
}

static void run(const char *dir, const char *script, const char *code, const char *const *args,
                const char *const *options, run_result *r) {
  run_full(NULL, dir, script, code, args, NULL, options, r);
}

static void result_free(run_result *r) {
  free(r->out);
  free(r->err);
}

/* Checks a successful run printed exactly `out` (stdout). */
#define CHECK_RUN_OUT(r, want)                                                         \
  do {                                                                                 \
    CHECK((r).rc == 0);                                                                \
    CHECK((r).ex.exit_code == 0);                                                      \
    CHECK((r).out && !strcmp((r).out, (want)));                                        \
    if ((r).out && strcmp((r).out, (want)))                                            \
      fprintf(stderr, "  stdout: %s  stderr: %s  msg: %s\n", (r).out, (r).err, (r).msg); \
  } while (0)

static void test_descriptor(void) {
  CHECK(mod->size == sizeof(elide_module_descriptor));
  CHECK(mod->abi_major == ELIDE_ABI_MAJOR && mod->abi_minor == ELIDE_ABI_MINOR);
  CHECK(!strcmp(mod->name, "js"));
  CHECK(!strcmp(mod->languages[0], "js") && !strcmp(mod->languages[1], "javascript") &&
        mod->languages[2] == NULL);
  CHECK(mod->capabilities == (ELIDE_CAP_SIGNAL | ELIDE_CAP_STATS | ELIDE_CAP_RECOVER));
  CHECK(mod->nconfig_keys == 1 && !strcmp(mod->config_keys[0].name, "runtime") &&
        mod->config_keys[0].type == ELIDE_VALUE_PATH &&
        !strcmp(mod->config_keys[0].default_value, NODE));
  CHECK(mod->ntask_keys == 1 && !strcmp(mod->task_keys[0].name, "js_module_type") &&
        mod->task_keys[0].type == ELIDE_VALUE_STRING &&
        !strcmp(mod->task_keys[0].default_value, "commonjs") && mod->task_keys[0].flags == 0);
  CHECK(mod->section_prefix == NULL && mod->nsection_keys == 0);
  CHECK(mod->ops->size == sizeof(elide_module_ops));
}

/* init with runtime = `runtime` (NULL: the declared default, as the host
 * hands it over), kept alive for the process. */
static int init_with(const char *runtime, void **state, char *err, size_t errlen) {
  elide_value v = {.name = "runtime", .type = ELIDE_VALUE_PATH, .is_set = 1,
                   .str = runtime ? runtime : NODE};
  elide_module_config mc = {sizeof mc, &v, 1, NULL, 0};
  int rc = mod->ops->init(&mock_host_services, &mc, state, err, errlen);
  if (rc == 0 && ninstances < sizeof instances / sizeof instances[0])
    instances[ninstances++] = *state;
  return rc;
}

static const char *attr(const elide_fingerprint *fp, const char *key) {
  for (size_t i = 0; i < fp->nattrs; i++)
    if (!strcmp(fp->attrs[i].key, key)) return fp->attrs[i].value;
  return NULL;
}

/* What `node --version` prints, without the leading "v". */
static void node_version(char *out, size_t outlen) {
  out[0] = '\0';
  FILE *p = popen(NODE " --version", "r");
  if (!p) return;
  if (fgets(out, (int)outlen, p)) {
    out[strcspn(out, "\n")] = '\0';
    memmove(out, out + 1, strlen(out));
  }
  pclose(p);
}

static void test_fingerprint_healthy(void) {
  void *st = NULL;
  char err[256] = "", want[64];
  CHECK(init_with(NULL, &st, err, sizeof err) == 0);
  elide_fingerprint fp;
  memset(&fp, 0xaa, sizeof fp); /* the module must clear it */
  CHECK(mod->ops->fingerprint(st, &fp) == 0);
  CHECK(fp.healthy == 1);
  CHECK(fp.description[0] == '\0');
  CHECK(fp.nattrs == 2);
  CHECK(attr(&fp, "runtime") && !strcmp(attr(&fp, "runtime"), NODE));
  node_version(want, sizeof want);
  CHECK(want[0] >= '0' && want[0] <= '9');
  CHECK(attr(&fp, "version") && !strcmp(attr(&fp, "version"), want));
}

static void check_unhealthy(const char *runtime, const char *reason) {
  void *st = NULL;
  char err[256] = "";
  CHECK(init_with(runtime, &st, err, sizeof err) == 0);
  elide_fingerprint fp;
  CHECK(mod->ops->fingerprint(st, &fp) == 0);
  CHECK(fp.healthy == 0);
  CHECK_STR_CONTAINS(fp.description, "js runtime unusable: ");
  CHECK_STR_CONTAINS(fp.description, runtime);
  CHECK_STR_CONTAINS(fp.description, reason);
  CHECK(attr(&fp, "runtime") && !strcmp(attr(&fp, "runtime"), runtime));
  CHECK(attr(&fp, "version") == NULL);
}

/* Writes an executable (or not) stand-in for node into dir. */
static const char *fake_runtime(const char *dir, const char *name, const char *text,
                                mode_t mode) {
  const char *path = write_file(dir, name, text);
  chmod(path, mode);
  return path;
}

static void test_fingerprint_unhealthy(void) {
  char *dir = make_task_dir();
  char path[PATH_MAX];
  check_unhealthy("/nonexistent/bin/node", "No such file or directory");
  snprintf(path, sizeof path, "%s", fake_runtime(dir, "noexec", "#!/bin/sh\n", 0644));
  check_unhealthy(path, "Permission denied");
  snprintf(path, sizeof path, "%s",
           fake_runtime(dir, "fails", "#!/bin/sh\necho 'cannot load' >&2\nexit 2\n", 0755));
  check_unhealthy(path, "--version exited with 2: cannot load");
  snprintf(path, sizeof path, "%s", fake_runtime(dir, "wrong", "#!/bin/sh\necho 1.2.3\n", 0755));
  check_unhealthy(path, "--version printed \"1.2.3\", not a node version");
  remove_task_dir(dir);
}

static void test_init_rejects_relative_runtime(void) {
  void *st = NULL;
  char err[256] = "";
  CHECK(init_with("node", &st, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, "runtime \"node\" must be an absolute path");
}

/* Prints the module system the code runs under and its args. */
#define REPORT_JS                                                                    \
  "console.log(typeof require === 'function' ? 'cjs' : 'esm', "                      \
  "JSON.stringify(process.argv.slice(2)));\n"

static void test_script_commonjs(void) {
  char *dir = make_task_dir();
  run_result r;
  /* .js without package.json: CommonJS. */
  const char *script = write_file(dir, "main.js", REPORT_JS "module.exports = 1;\n");
  run(dir, script, NULL, NULL, NULL, &r);
  CHECK_RUN_OUT(r, "cjs []\n");
  CHECK(r.err && r.err[0] == '\0');
  result_free(&r);
  /* .cjs is CommonJS even under a package.json saying "module". */
  write_file(dir, "pkg/package.json", "{\"type\": \"module\"}\n");
  script = write_file(dir, "pkg/main.cjs", REPORT_JS);
  run(dir, script, NULL, NULL, NULL, &r);
  CHECK_RUN_OUT(r, "cjs []\n");
  result_free(&r);
  /* .js under package.json "commonjs": CommonJS. */
  write_file(dir, "cjs/package.json", "{\"type\": \"commonjs\"}\n");
  script = write_file(dir, "cjs/main.js", REPORT_JS);
  run(dir, script, NULL, NULL, NULL, &r);
  CHECK_RUN_OUT(r, "cjs []\n");
  result_free(&r);
  remove_task_dir(dir);
}

static void test_script_esm(void) {
  char *dir = make_task_dir();
  run_result r;
  /* .mjs: an ES module (import, import.meta, top-level await). */
  const char *script = write_file(dir, "main.mjs",
                                  "import { basename } from 'node:path';\n"
                                  "await Promise.resolve();\n" REPORT_JS
                                  "console.log(basename(new URL(import.meta.url).pathname));\n");
  run(dir, script, NULL, NULL, NULL, &r);
  CHECK_RUN_OUT(r, "esm []\n"
                   "main.mjs\n");
  result_free(&r);
  /* .js under the nearest package.json with "type": "module". */
  write_file(dir, "app/package.json", "{\"name\": \"app\", \"type\": \"module\"}\n");
  write_file(dir, "app/lib.js", "export const answer = 42;\n");
  script = write_file(dir, "app/main.js",
                      "import { answer } from './lib.js';\n" REPORT_JS "console.log(answer);\n");
  run(dir, script, NULL, NULL, NULL, &r);
  CHECK_RUN_OUT(r, "esm []\n"
                   "42\n");
  result_free(&r);
  remove_task_dir(dir);
}

static void test_inline(void) {
  char *dir = make_task_dir();
  run_result r;
  /* Default: CommonJS. */
  run(dir, NULL, REPORT_JS, NULL, NULL, &r);
  CHECK_RUN_OUT(r, "cjs []\n");
  result_free(&r);
  static const char *const cjs[] = {"js_module_type", "commonjs", NULL};
  run(dir, NULL, REPORT_JS "console.log(__filename);", NULL, cjs, &r);
  CHECK_RUN_OUT(r, "cjs []\n[eval]\n");
  result_free(&r);
  /* CommonJS is named explicitly: node's syntax detection does not turn
   * inline `import` into an ES module behind the option's back. */
  run(dir, NULL, "import fs from 'node:fs';", NULL, NULL, &r);
  CHECK(r.rc == 0 && r.ex.exit_code == 1);
  CHECK_STR_CONTAINS(r.err, "SyntaxError");
  result_free(&r);
  /* js_module_type = "module": ESM, with import and top-level await. */
  static const char *const esm[] = {"js_module_type", "module", NULL};
  run(dir, NULL,
      "import { join } from 'node:path';\n"
      "const v = await Promise.resolve(join('a', 'b'));\n" REPORT_JS "console.log(v);",
      NULL, esm, &r);
  CHECK_RUN_OUT(r, "esm []\na/b\n");
  result_free(&r);
  remove_task_dir(dir);
}

/* Arguments node itself would read as options, empty ones, spaces, and the
 * eval placeholder: all reach process.argv.slice(2) unchanged. */
static void test_args(void) {
  char *dir = make_task_dir();
  static const char *const args[] = {"--version", "-e", "", "a b", "--", "[eval]", "ü", NULL};
  const char *want = "[\"--version\",\"-e\",\"\",\"a b\",\"--\",\"[eval]\",\"ü\"]\n";
  const char *code = "console.log(JSON.stringify(process.argv.slice(2)));";
  static const char *const esm[] = {"js_module_type", "module", NULL};
  run_result r;
  run(dir, NULL, code, args, NULL, &r);
  CHECK_RUN_OUT(r, want);
  result_free(&r);
  run(dir, NULL, code, args, esm, &r);
  CHECK_RUN_OUT(r, want);
  result_free(&r);
  const char *script = write_file(dir, "args.js", code);
  run(dir, script, NULL, args, NULL, &r);
  CHECK_RUN_OUT(r, want);
  result_free(&r);
  script = write_file(dir, "args.mjs", code);
  run(dir, script, NULL, args, NULL, &r);
  CHECK_RUN_OUT(r, want);
  result_free(&r);
  /* A script's argv[1] is its path; inline code's is node's eval name. */
  char want_path[PATH_MAX + 2];
  script = write_file(dir, "argv1.js", "console.log(process.argv[1]);");
  snprintf(want_path, sizeof want_path, "%s\n", script);
  run(dir, script, NULL, NULL, NULL, &r);
  CHECK_RUN_OUT(r, want_path);
  result_free(&r);
  run(dir, NULL, "console.log(process.argv[1]);", NULL, NULL, &r);
  CHECK_RUN_OUT(r, "[eval]\n");
  result_free(&r);
  remove_task_dir(dir);
}

static void test_env_and_cwd(void) {
  char *dir = make_task_dir();
  char want[PATH_MAX + 128];
  const char *code = "console.log(Object.keys(process.env).sort().join(','));"
                     "console.log(process.env.GREETING + '|' + process.env.EMPTY + '|');"
                     "console.log(process.cwd());";
  snprintf(want, sizeof want, "EMPTY,GREETING,PATH\nhello from env||\n%s\n", dir);
  run_result r;
  run(dir, NULL, code, NULL, NULL, &r);
  CHECK_RUN_OUT(r, want);
  result_free(&r);
  const char *script = write_file(dir, "sub/env.mjs", code);
  run(dir, script, NULL, NULL, NULL, &r);
  CHECK_RUN_OUT(r, want); /* cwd is the task dir, not the script's directory */
  result_free(&r);
  /* An empty environment stays empty. */
  static const char *const none[] = {NULL};
  run_full(NULL, dir, NULL, "console.log(Object.keys(process.env).length);", NULL, none, NULL,
           &r);
  CHECK_RUN_OUT(r, "0\n");
  result_free(&r);
  remove_task_dir(dir);
}

static void test_exit_codes(void) {
  char *dir = make_task_dir();
  run_result r;
  run(dir, NULL, "console.error('giving up'); process.exit(3);", NULL, NULL, &r);
  CHECK(r.rc == 0 && r.ex.exit_code == 3 && r.ex.signal == 0);
  CHECK(r.err && !strcmp(r.err, "giving up\n"));
  result_free(&r);
  static const char *const esm[] = {"js_module_type", "module", NULL};
  run(dir, NULL, "process.exitCode = 5;", NULL, esm, &r);
  CHECK(r.rc == 0 && r.ex.exit_code == 5);
  result_free(&r);
  /* Uncaught exceptions: exit 1 with the error on stderr, stdout intact. */
  run(dir, NULL, "console.log('before'); throw new Error('boom from inline');", NULL, NULL, &r);
  CHECK(r.rc == 0 && r.ex.exit_code == 1);
  CHECK(r.out && !strcmp(r.out, "before\n"));
  CHECK_STR_CONTAINS(r.err, "Error: boom from inline");
  result_free(&r);
  const char *script = write_file(dir, "throw.mjs", "throw new TypeError('boom from esm');\n");
  run(dir, script, NULL, NULL, NULL, &r);
  CHECK(r.rc == 0 && r.ex.exit_code == 1);
  CHECK_STR_CONTAINS(r.err, "TypeError: boom from esm");
  CHECK_STR_CONTAINS(r.err, "throw.mjs");
  result_free(&r);
  run(dir, NULL, "Promise.reject(new Error('unhandled rejection'));", NULL, NULL, &r);
  CHECK(r.rc == 0 && r.ex.exit_code == 1);
  CHECK_STR_CONTAINS(r.err, "unhandled rejection");
  result_free(&r);
  /* Death by signal: 128+n. */
  run(dir, NULL, "process.kill(process.pid, 'SIGKILL');", NULL, NULL, &r);
  CHECK(r.rc == 0 && r.ex.signal == SIGKILL && r.ex.exit_code == 128 + SIGKILL);
  result_free(&r);
  remove_task_dir(dir);
}

/* Bad task options are refused before anything runs: the code would leave
 * a marker file. */
static void test_bad_options(void) {
  char *dir = make_task_dir();
  char marker[PATH_MAX + 16], code[PATH_MAX + 96];
  snprintf(marker, sizeof marker, "%s/ran", dir);
  snprintf(code, sizeof code, "require('fs').writeFileSync('%s', 'x');", marker);
  run_result r;
  static const char *const bad[] = {"js_module_type", "x", NULL};
  run(dir, NULL, code, NULL, bad, &r);
  CHECK(r.rc == -EINVAL);
  CHECK(!strcmp(r.msg, "task config: field \"js_module_type\": \"x\" is not one of: commonjs, "
                       "module"));
  CHECK(access(marker, F_OK) != 0);
  static const char *const caps[] = {"js_module_type", "Module", NULL};
  run(dir, NULL, code, NULL, caps, &r);
  CHECK(r.rc == -EINVAL);
  CHECK_STR_CONTAINS(r.msg, "field \"js_module_type\": \"Module\" is not one of");
  static const char *const quoted[] = {"js_module_type", "a\"b\n", NULL};
  run(dir, NULL, code, NULL, quoted, &r);
  CHECK(r.rc == -EINVAL);
  CHECK_STR_CONTAINS(r.msg, "\"a\\\"b\\x0a\" is not one of: commonjs, module");
  static const char *const empty[] = {"js_module_type", "", NULL};
  run(dir, NULL, code, NULL, empty, &r);
  CHECK(r.rc == -EINVAL);
  CHECK_STR_CONTAINS(r.msg, "\"\" is not one of");
  /* The option only governs inline code; a script says what it is. */
  const char *script = write_file(dir, "main.js", code);
  static const char *const esm[] = {"js_module_type", "module", NULL};
  run(dir, script, NULL, NULL, esm, &r);
  CHECK(r.rc == -EINVAL);
  CHECK_STR_CONTAINS(r.msg, "field \"js_module_type\": applies to inline code only");
  CHECK(access(marker, F_OK) != 0);
  /* Valid again: the marker appears (the check above is meaningful). */
  run(dir, NULL, code, NULL, NULL, &r);
  CHECK(r.rc == 0 && r.ex.exit_code == 0);
  CHECK(access(marker, F_OK) == 0);
  result_free(&r);
  remove_task_dir(dir);
}

static void test_missing_runtime_execute(void) {
  char *dir = make_task_dir();
  static const char *const cfg[] = {"runtime", "/nonexistent/bin/node", NULL};
  run_result r;
  run_full(cfg, dir, NULL, "1", NULL, NULL, NULL, &r);
  CHECK(r.rc == -ENOENT);
  CHECK_STR_CONTAINS(r.msg, "/nonexistent/bin/node");
  remove_task_dir(dir);
}

/* Reads path into buf (NUL-terminated; empty if absent). */
static void read_text(const char *path, char *buf, size_t len) {
  buf[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f) return;
  size_t n = fread(buf, 1, len - 1, f);
  buf[n] = '\0';
  fclose(f);
}

/* Waits up to 10s for path to read exactly `want`: node's start-up time
 * varies, and a signal sent before its handler exists has node's default
 * effect instead. */
static int wait_for_text(const char *path, const char *want) {
  char buf[256];
  for (int i = 0; i < 1000; i++) {
    read_text(path, buf, sizeof buf);
    if (!strcmp(buf, want)) return 1;
    usleep(10000);
  }
  return 0;
}

/* status, signal, stats, cancel and recover go to the host's services. */
static void test_lifecycle_ops(void) {
  char *dir = make_task_dir();
  void *st = NULL;
  char err[256] = "", out_path[PATH_MAX + 16], err_path[PATH_MAX + 16];
  CHECK(init_with(NULL, &st, err, sizeof err) == 0);
  snprintf(out_path, sizeof out_path, "%s/out", dir);
  snprintf(err_path, sizeof err_path, "%s/err", dir);
  mock_task_ctx ctx = {out_path, err_path};
  static const char *const no_args[] = {NULL};
  elide_value opt = {.name = "js_module_type", .type = ELIDE_VALUE_STRING, .is_set = 1,
                     .str = "commonjs"};
  elide_task task = {sizeof task, "mock/task/lifecycle", "javascript", dir, NULL,
                     "process.on('SIGUSR1', () => console.log('usr1'));"
                     "process.on('SIGTERM', () => { console.log('term'); process.exit(7); });"
                     "console.log('up'); setInterval(() => {}, 1000);",
                     no_args, test_env, &opt, 1};
  elide_proc *p = NULL;
  CHECK(mod->ops->execute(st, &task, &ctx, &p, err, sizeof err) == 0);
  elide_exit ex;
  CHECK(mod->ops->status(st, p, &ex) == 0);
  elide_stats stats;
  CHECK(mod->ops->stats(st, p, &stats) == 0 && stats.size == sizeof stats);
  CHECK(wait_for_text(out_path, "up\n"));
  CHECK(mod->ops->signal(st, p, SIGUSR1) == 0);
  CHECK(wait_for_text(out_path, "up\nusr1\n"));
  CHECK(mod->ops->cancel(st, p, SIGTERM, 5000, &ex) == 0);
  CHECK(ex.exit_code == 7);
  CHECK(mod->ops->status(st, p, &ex) == 1 && ex.exit_code == 7);
  CHECK(mod->ops->signal(st, p, SIGUSR1) == -ESRCH);
  free(p);
  char text[256];
  read_text(out_path, text, sizeof text);
  CHECK(!strcmp(text, "up\nusr1\nterm\n"));
  /* The mock host cannot re-attach; recover must pass its answer through. */
  elide_proc *q = NULL;
  err[0] = '\0';
  CHECK(mod->ops->recover(st, &task, &ctx, &q, err, sizeof err) == -ENOTSUP && q == NULL);
  CHECK_STR_CONTAINS(err, "cannot re-attach");
  remove_task_dir(dir);
}

/* The REPL command line (repl_command.c, shared with python): the
 * instance's node, --interactive, the words after elide-repl; a cap too
 * small for them is refused with the number that fits. */
static void test_repl(void) {
  void *st = NULL;
  char err[256] = "";
  CHECK(init_with(NULL, &st, err, sizeof err) == 0);
  CHECK(mod->ops->repl != NULL);
  if (!mod->ops->repl) return;
  static const char *const words[] = {"--no-warnings", "-e", "1", NULL};
  elide_task task = {.size = sizeof task, .id = "mock/task/repl", .language = "js",
                     .task_dir = "/tmp", .args = words, .envp = test_env};
  const char *argv[8];
  CHECK(mod->ops->repl(st, &task, argv, 8, err, sizeof err) == 0);
  CHECK(argv[0] && !strcmp(argv[0], NODE));
  CHECK(argv[1] && !strcmp(argv[1], "--interactive"));
  CHECK(argv[2] == words[0] && argv[3] == words[1] && argv[4] == words[2] && argv[5] == NULL);
  CHECK(mod->ops->repl(st, &task, argv, 6, err, sizeof err) == 0 && argv[5] == NULL);
  err[0] = '\0';
  CHECK(mod->ops->repl(st, &task, argv, 5, err, sizeof err) == -ENOSPC);
  CHECK_STR_CONTAINS(err, "too many REPL arguments (at most 2)");
  task.args = NULL;
  CHECK(mod->ops->repl(st, &task, argv, 3, err, sizeof err) == 0 && argv[2] == NULL);
  CHECK(mod->ops->repl(st, &task, argv, 2, err, sizeof err) == -ENOSPC);
  CHECK_STR_CONTAINS(err, "(at most 0)");
}

int main(void) {
  mod = mock_load_module(ELIDE_TEST_JS_MODULE);
  CHECK(mod != NULL);
  if (!mod) return CHECK_DONE();
  test_descriptor();
  test_fingerprint_healthy();
  test_fingerprint_unhealthy();
  test_init_rejects_relative_runtime();
  test_script_commonjs();
  test_script_esm();
  test_inline();
  test_args();
  test_env_and_cwd();
  test_exit_codes();
  test_bad_options();
  test_missing_runtime_execute();
  test_lifecycle_ops();
  test_repl();
  return CHECK_DONE();
}
