/* Tests of the wasm backend module (wasm.so) against the mock host: real
 * WASI fixtures on the node and wazero engines (args, env, the task
 * directory preopened as "/", exit codes, exact stdio), refusals naming
 * the field or key, fingerprints, and the wasmtime/wasmedge command lines
 * through stand-in engine scripts. */
#include "../check.h"
#include "mock_host.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const elide_module_descriptor *mod;
static char wazero[PATH_MAX];

/* Instances created here stay referenced, as the host keeps them. */
static void *states[32];
static size_t nstates;

static void check_eq(const char *what, const char *got, const char *want) {
  if (got && strcmp(got, want) == 0) {
    check_passed_++;
    return;
  }
  check_failed_++;
  fprintf(stderr, "%s: got\n---\n%s---\nwant\n---\n%s---\n", what, got ? got : "(null)", want);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  static char buf[4096];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return buf;
}

static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  char buf[8192];
  size_t n;
  while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
  if (in) fclose(in);
  if (out) fclose(out);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

/* A fresh task directory with local/<fixture>.wasm (fixture may be NULL). */
static void make_task(char *dir, const char *fixture, char *script, size_t scriptlen) {
  strcpy(dir, "/tmp/elide-wasm-test-XXXXXX");
  if (!mkdtemp(dir)) abort();
  char local[PATH_MAX + 8];
  snprintf(local, sizeof local, "%s/local", dir);
  mkdir(local, 0755);
  if (!fixture) return;
  char from[PATH_MAX];
  snprintf(from, sizeof from, "%s/%s.wasm", ELIDE_TEST_WASM_FIXTURES, fixture);
  snprintf(script, scriptlen, "%s/local/%s.wasm", dir, fixture);
  copy_file(from, script);
}

static void remove_task(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* Module config pairs for an engine: node by default, wazero at the
 * installed binary, anything else with `path` as engine_path. */
static void engine_config(const char *engine, const char *path, const char *pairs[5]) {
  pairs[0] = "engine";
  pairs[1] = engine;
  pairs[2] = path ? "engine_path" : NULL;
  pairs[3] = path;
  pairs[4] = NULL;
}

static const char *engine_binary(const char *engine) {
  return strcmp(engine, "wazero") == 0 ? wazero : NULL;
}

typedef struct run_result {
  int rc;
  elide_exit exit;
  char *out, *err_out;
  char err[1024];
} run_result;

static void run(const char *engine, const char *path, const char *dir, const char *script,
                const char *code, const char *const *args, const char *const *envp,
                run_result *r) {
  const char *pairs[5];
  engine_config(engine, path, pairs);
  memset(r, 0, sizeof *r);
  r->rc = mock_run_task(mod, pairs, dir, script, code, args, envp, NULL, &r->exit, &r->out,
                        &r->err_out, r->err, sizeof r->err);
}

static void run_free(run_result *r) {
  free(r->out);
  free(r->err_out);
}

static void test_hello(const char *engine) {
  char dir[PATH_MAX], script[PATH_MAX + 32], input[PATH_MAX + 32];
  make_task(dir, "hello", script, sizeof script);
  snprintf(input, sizeof input, "%s/local/input.txt", dir);
  write_file(input, "from the task dir\n");
  static const char *const args[] = {"--", "one", "two words", "--flag", NULL};
  static const char *const envp[] = {"GREETING=hello from env", "A_FIRST=1", NULL};
  run_result r;
  run(engine, engine_binary(engine), dir, script, NULL, args, envp, &r);
  fprintf(stderr, "[%s] hello: rc=%d %s\n", engine, r.rc, r.err);
  CHECK(r.rc == 0);
  CHECK(r.exit.exit_code == 0 && r.exit.signal == 0);
  check_eq("hello stdout", r.out,
           "argv[0]=hello.wasm\n"
           "argv[1]=--\n"
           "argv[2]=one\n"
           "argv[3]=two words\n"
           "argv[4]=--flag\n"
           "env A_FIRST=1\n"
           "env GREETING=hello from env\n"
           "local/input.txt: from the task dir\n"
           "/local: hello.wasm input.txt\n");
  check_eq("hello stderr (no engine warnings)", r.err_out, "hello: this goes to stderr\n");
  run_free(&r);
  remove_task(dir);
}

static void test_exit_code(const char *engine) {
  char dir[PATH_MAX], script[PATH_MAX + 32];
  make_task(dir, "exit7", script, sizeof script);
  run_result r;
  run(engine, engine_binary(engine), dir, script, NULL, NULL, NULL, &r);
  CHECK(r.rc == 0);
  CHECK(r.exit.exit_code == 7 && r.exit.signal == 0);
  check_eq("exit7 stdout (no args, no separator)", r.out, "argc=1 argv[0]=exit7.wasm\n");
  check_eq("exit7 stderr", r.err_out, "exiting with 7\n");
  run_free(&r);
  remove_task(dir);
}

static void test_write(const char *engine) {
  char dir[PATH_MAX], script[PATH_MAX + 32], path[PATH_MAX + 32];
  make_task(dir, "writefile", script, sizeof script);
  static const char *const args[] = {"result.txt", "relative", "/local/out.txt", "absolute", NULL};
  run_result r;
  run(engine, engine_binary(engine), dir, script, NULL, args, NULL, &r);
  CHECK(r.rc == 0);
  CHECK(r.exit.exit_code == 0);
  check_eq("writefile stdout", r.out,
           "wrote result.txt: relative\nwrote /local/out.txt: absolute\n");
  check_eq("writefile stderr", r.err_out, "");
  snprintf(path, sizeof path, "%s/result.txt", dir);
  check_eq("relative write lands in the task dir", read_file(path), "relative\n");
  snprintf(path, sizeof path, "%s/local/out.txt", dir);
  check_eq("absolute write lands in the task dir", read_file(path), "absolute\n");
  run_free(&r);
  remove_task(dir);
}

/* Runs a task that must be refused before anything starts. */
static void expect_refused(const char *engine, const char *dir, const char *script,
                           const char *code, const char *needle1, const char *needle2) {
  run_result r;
  run(engine, engine_binary(engine), dir, script, code, NULL, NULL, &r);
  CHECK(r.rc < 0);
  CHECK_STR_CONTAINS(r.err, needle1);
  CHECK_STR_CONTAINS(r.err, needle2);
  if (r.rc == 0) run_free(&r);
}

static void test_refusals(const char *engine) {
  char dir[PATH_MAX], script[PATH_MAX + 32], path[PATH_MAX + 32];
  make_task(dir, NULL, script, sizeof script);
  snprintf(path, sizeof path, "%s/local/missing.wasm", dir);
  expect_refused(engine, dir, path, NULL, "field \"script\"", "missing.wasm");
  expect_refused(engine, dir, NULL, "(module)", "field \"code\"", "inline code");
  expect_refused(engine, dir, NULL, NULL, "field \"script\"", "required");
  snprintf(path, sizeof path, "%s/local/app.wasm", dir);
  write_file(path, "print('not wasm')\n");
  expect_refused(engine, dir, path, NULL, "field \"script\"", "not a WebAssembly module");
  write_file(path, "(module (func (export \"_start\")))\n");
  expect_refused(engine, dir, path, NULL, "field \"script\"", "WAT");
  expect_refused(engine, dir, ELIDE_TEST_WASM_FIXTURES "/hello.wasm", NULL, "field \"script\"",
                 "outside the task directory");
  remove_task(dir);
}

static void *init_state(const char *engine, const char *path, int *rc, char *err, size_t errlen) {
  elide_value vals[8];
  memset(vals, 0, sizeof vals);
  for (size_t i = 0; i < mod->nconfig_keys && i < 8; i++) {
    const elide_key *k = &mod->config_keys[i];
    const char *text = strcmp(k->name, "engine") == 0 ? engine : path;
    if (strcmp(k->name, "engine") != 0 && strcmp(k->name, "engine_path") != 0) text = NULL;
    if (!text) text = k->default_value;
    vals[i] = (elide_value){.name = k->name, .type = k->type, .is_set = text != NULL, .str = text};
  }
  elide_module_config mc = {sizeof mc, vals, mod->nconfig_keys, NULL, 0};
  void *state = NULL;
  *rc = mod->ops->init(&mock_host_services, &mc, &state, err, errlen);
  if (*rc == 0 && nstates < 32) states[nstates++] = state;
  return state;
}

static const char *attr(const elide_fingerprint *fp, const char *key) {
  for (size_t i = 0; i < fp->nattrs; i++)
    if (strcmp(fp->attrs[i].key, key) == 0) return fp->attrs[i].value;
  return NULL;
}

/* What `binary arg` prints on its first line, a leading 'v' dropped. */
static void version_of(const char *binary, const char *arg, char *out, size_t outlen) {
  char cmd[PATH_MAX + 64], line[256] = "";
  snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", binary, arg);
  FILE *p = popen(cmd, "r");
  if (p && fgets(line, sizeof line, p)) line[strcspn(line, "\r\n")] = '\0';
  if (p) pclose(p);
  snprintf(out, outlen, "%s", line[0] == 'v' ? line + 1 : line);
}

static void test_fingerprint(const char *engine, const char *binary, const char *version_arg) {
  int rc;
  char err[512] = "", want[256];
  void *st = init_state(engine, engine_binary(engine), &rc, err, sizeof err);
  CHECK(rc == 0);
  if (rc != 0) return;
  elide_fingerprint fp;
  CHECK(mod->ops->fingerprint(st, &fp) == 0);
  fprintf(stderr, "[%s] fingerprint: healthy=%d %s version=%s\n", engine, fp.healthy,
          fp.description, attr(&fp, "version") ? attr(&fp, "version") : "-");
  CHECK(fp.healthy == 1);
  check_eq("attr engine", attr(&fp, "engine"), engine);
  check_eq("attr runtime", attr(&fp, "runtime"), binary);
  version_of(binary, version_arg, want, sizeof want);
  CHECK(want[0] >= '0' && want[0] <= '9');
  check_eq("attr version", attr(&fp, "version"), want);
}

static void test_missing_binary(const char *engine) {
  char path[128];
  snprintf(path, sizeof path, "/nonexistent/elide-test/%s", engine);
  int rc;
  char err[512] = "";
  void *st = init_state(engine, path, &rc, err, sizeof err);
  CHECK(rc == 0);
  if (rc != 0) return;
  elide_fingerprint fp;
  CHECK(mod->ops->fingerprint(st, &fp) == 0);
  CHECK(fp.healthy == 0);
  CHECK_STR_CONTAINS(fp.description, path);
  CHECK_STR_CONTAINS(fp.description, engine);
  check_eq("attr runtime of a missing engine", attr(&fp, "runtime"), path);

  char dir[PATH_MAX], script[PATH_MAX + 32];
  make_task(dir, "exit7", script, sizeof script);
  run_result r;
  run(engine, path, dir, script, NULL, NULL, NULL, &r);
  CHECK(r.rc < 0);
  CHECK_STR_CONTAINS(r.err, path);
  if (r.rc == 0) run_free(&r);
  remove_task(dir);
}

static void test_config_errors(void) {
  int rc;
  char err[512] = "";
  init_state("wasm3", NULL, &rc, err, sizeof err);
  CHECK(rc == -EINVAL);
  CHECK_STR_CONTAINS(err, "config key \"engine\"");
  CHECK_STR_CONTAINS(err, "wasm3");
  CHECK_STR_CONTAINS(err, "node, wazero, wasmtime, wasmedge");
  err[0] = '\0';
  init_state("wazero", "bin/wazero", &rc, err, sizeof err);
  CHECK(rc == -EINVAL);
  CHECK_STR_CONTAINS(err, "config key \"engine_path\"");
}

static void test_defaults(void) {
  CHECK(strcmp(mod->name, "wasm") == 0);
  CHECK(mod->languages[0] && strcmp(mod->languages[0], "wasm") == 0 && !mod->languages[1]);
  int rc;
  char err[512] = "";
  void *st = init_state(NULL, NULL, &rc, err, sizeof err);
  CHECK(rc == 0);
  if (rc != 0) return;
  elide_fingerprint fp;
  mod->ops->fingerprint(st, &fp);
  check_eq("default engine", attr(&fp, "engine"), "node");
  check_eq("default node binary", attr(&fp, "runtime"), "/usr/bin/node");
}

/* wasmtime and wasmedge are not installed here: a stand-in script prints
 * the argv the module builds (one "[arg]" per line) and a version line. */
static void test_cmdline(const char *engine, const char *version_line, const char *want_fmt,
                         const char *want_version) {
  char dir[PATH_MAX], script[PATH_MAX + 32], fake[PATH_MAX + 32], text[512];
  make_task(dir, "hello", script, sizeof script);
  snprintf(fake, sizeof fake, "%s/fake-%s", dir, engine);
  snprintf(text, sizeof text,
           "#!/bin/sh\n[ \"$1\" = --version ] && { echo '%s'; exit 0; }\n"
           "for a in \"$@\"; do printf '[%%s]\\n' \"$a\"; done\n",
           version_line);
  write_file(fake, text);
  chmod(fake, 0755);
  static const char *const args[] = {"--", "one", NULL};
  static const char *const envp[] = {"GREETING=hi", NULL};
  run_result r;
  run(engine, fake, dir, script, NULL, args, envp, &r);
  CHECK(r.rc == 0);
  char want[4 * PATH_MAX];
  snprintf(want, sizeof want, want_fmt, dir, script);
  check_eq(engine, r.out, want);
  if (r.rc == 0) run_free(&r);

  int rc;
  char err[512] = "";
  void *st = init_state(engine, fake, &rc, err, sizeof err);
  elide_fingerprint fp;
  if (rc == 0) mod->ops->fingerprint(st, &fp);
  CHECK(rc == 0 && fp.healthy == 1);
  check_eq("stand-in version", rc == 0 ? attr(&fp, "version") : NULL, want_version);
  remove_task(dir);
}

/* The wazero binary from install-wazero.sh (its last stdout line). */
static int install_wazero(void) {
  FILE *p = popen("bash '" ELIDE_TEST_INSTALL_WAZERO "'", "r");
  char line[PATH_MAX] = "";
  while (p && fgets(line, sizeof line, p)) snprintf(wazero, sizeof wazero, "%s", line);
  int status = p ? pclose(p) : -1;
  wazero[strcspn(wazero, "\r\n")] = '\0';
  if (status != 0 || wazero[0] != '/' || access(wazero, X_OK) != 0) {
    fprintf(stderr, "install-wazero.sh failed (status %d, path \"%s\")\n", status, wazero);
    return -1;
  }
  fprintf(stderr, "wazero: %s\n", wazero);
  return 0;
}

int main(void) {
  mod = mock_load_module(ELIDE_TEST_WASM_MODULE);
  CHECK(mod != NULL);
  if (!mod) return CHECK_DONE();
  test_defaults();
  test_config_errors();

  int have_wazero = install_wazero() == 0;
  CHECK(have_wazero); /* a missing wazero fails the test, never skips it */
  static const char *const engines[] = {"node", "wazero"};
  for (int i = 0; i < 2; i++) {
    const char *e = engines[i];
    if (strcmp(e, "wazero") == 0 && !have_wazero) continue;
    test_hello(e);
    test_exit_code(e);
    test_write(e);
    test_refusals(e);
    test_missing_binary(e);
  }
  test_fingerprint("node", "/usr/bin/node", "--version");
  if (have_wazero) test_fingerprint("wazero", wazero, "version");

  test_cmdline("wasmtime", "wasmtime 25.0.1 (b4e6d8b2d 2024-09-24)",
               "[run]\n[--dir=%s::/]\n[--env=GREETING=hi]\n[--]\n[%s]\n[--]\n[one]\n", "25.0.1");
  test_cmdline("wasmedge", "wasmedge version 0.14.1",
               "[run]\n[--dir=/:%s]\n[--env=GREETING=hi]\n[--]\n[%s]\n[--]\n[one]\n", "0.14.1");
  return CHECK_DONE();
}
