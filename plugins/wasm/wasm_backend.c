/* The wasm backend module: runs a WASI preview1 module (a .wasm file in the
 * task directory) under a configurable engine. Exports only the entry symbol.
 *
 * Configuration ([module.wasm]):
 *   engine       node (default), wazero, wasmtime or wasmedge
 *   engine_path  absolute path of the engine binary; when unset the first
 *                executable of a fixed list ("~" is the plugin's $HOME):
 *                  node      /usr/bin/node, /usr/local/bin/node
 *                  wazero    /usr/local/bin/wazero, ~/go/bin/wazero, /usr/bin/wazero
 *                  wasmtime  /usr/local/bin/wasmtime, ~/.wasmtime/bin/wasmtime, /usr/bin/wasmtime
 *                  wasmedge  /usr/local/bin/wasmedge, ~/.wasmedge/bin/wasmedge, /usr/bin/wasmedge
 *                The list is searched at every fingerprint and start, so an
 *                engine installed later is picked up without a restart.
 *
 * What the guest sees, identical on every engine:
 *   - argv: the module's file name ("hello.wasm"), then the task's args
 *     verbatim (a leading "--" included);
 *   - environment: exactly the task's environment (task->envp). The engine
 *     process gets the same environment, so engine knobs (GOMAXPROCS,
 *     RUST_LOG, NODE_OPTIONS) can be set from the job;
 *   - files: the task directory preopened as "/", read-write, so both
 *     "local/input.txt" (relative to the initial cwd "/") and
 *     "/local/input.txt" name <task dir>/local/input.txt; the engine
 *     process's cwd is the task directory;
 *   - stdio: the task's; exit code: the guest's proc_exit code.
 * The preopen is a convenience, not a sandbox: node's WASI and the wazero
 * CLI do not stop a guest from leaving it with "..". Isolation comes from
 * the task's user and cgroup, as for every other backend. */
#include "elide_module.h"
#include "host_passthrough.h"
#include "runtime_probe.h"
#include "wasm_engines.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_ENGINE "node"

typedef struct wasm_state {
  const elide_host_services *host;
  const wasm_engine *engine;
  char engine_path[PATH_MAX]; /* configured binary, or "" to search the defaults */
  char home[PATH_MAX];        /* expands "~/" in the default candidates; may be "" */
} wasm_state;

static const elide_key wasm_config_keys[] = {
    {"engine", ELIDE_VALUE_STRING, 0, DEFAULT_ENGINE,
     "WASI engine: node, wazero, wasmtime or wasmedge"},
    {"engine_path", ELIDE_VALUE_PATH, 0, NULL,
     "absolute path of the engine binary (default: searched per engine)"},
};

static void find_home(char *out, size_t outlen) {
  const char *home = getenv("HOME");
  if (home && home[0] == '/') {
    snprintf(out, outlen, "%s", home);
    return;
  }
  struct passwd pw, *res = NULL;
  char buf[4096];
  out[0] = '\0';
  if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res && pw.pw_dir[0] == '/')
    snprintf(out, outlen, "%s", pw.pw_dir);
}

static int wasm_init(const elide_host_services *host, const elide_module_config *config,
                     void **state, char *err, size_t errlen) {
  const elide_value *eng = elide_value_find(config->values, config->nvalues, "engine");
  const elide_value *path = elide_value_find(config->values, config->nvalues, "engine_path");
  const char *name = eng && eng->is_set && eng->str ? eng->str : DEFAULT_ENGINE;
  const wasm_engine *engine = wasm_engine_find(name);
  if (!engine) {
    snprintf(err, errlen, "config key \"engine\": unknown engine \"%s\" (allowed: %s)", name,
             wasm_engine_names());
    return -EINVAL;
  }
  const char *bin = path && path->is_set && path->str ? path->str : "";
  if (bin[0] && bin[0] != '/') {
    snprintf(err, errlen, "config key \"engine_path\": \"%s\" must be an absolute path", bin);
    return -EINVAL;
  }
  if (strlen(bin) >= PATH_MAX) {
    snprintf(err, errlen, "config key \"engine_path\": path is too long");
    return -ENAMETOOLONG;
  }
  wasm_state *st = calloc(1, sizeof *st);
  if (!st) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  st->host = host;
  st->engine = engine;
  snprintf(st->engine_path, sizeof st->engine_path, "%s", bin);
  find_home(st->home, sizeof st->home);
  *state = st;
  return 0;
}

/* Runs `<binary> <version_arg>` and checks the engine's minimum version. */
static int read_version(wasm_state *st, const char *binary, char *out, size_t outlen, char *why,
                        size_t whylen) {
  const char *argv[] = {binary, st->engine->version_arg, NULL};
  char buf[512];
  int code = 0;
  if (st->host->run_capture(argv, 10000, buf, sizeof buf, &code, why, whylen) != 0) return -1;
  buf[strcspn(buf, "\r\n")] = '\0';
  if (code != 0) {
    snprintf(why, whylen, "%s %s exited with %d: %s", binary, st->engine->version_arg, code, buf);
    return -1;
  }
  if (wasm_version_parse(buf, out, outlen) != 0) {
    snprintf(why, whylen, "%s %s printed nothing", binary, st->engine->version_arg);
    return -1;
  }
  if (st->engine->min_major > 0 && atoi(out) < st->engine->min_major) {
    snprintf(why, whylen, "%s is version %s; the %s engine needs %d or newer", binary, out,
             st->engine->name, st->engine->min_major);
    return -1;
  }
  return 0;
}

static int wasm_fingerprint(void *state, elide_fingerprint *fp) {
  wasm_state *st = state;
  char binary[PATH_MAX], version[128], why[sizeof fp->description];
  memset(fp, 0, sizeof *fp);
  int found = wasm_engine_resolve(st->engine, st->engine_path, st->home, binary, sizeof binary,
                                  why, sizeof why);
  fingerprint_attr(fp, "engine", st->engine->name);
  fingerprint_attr(fp, "runtime", binary);
  if (!found || read_version(st, binary, version, sizeof version, why, sizeof why) != 0) {
    snprintf(fp->description, sizeof fp->description, "wasm engine %s unusable: %s",
             st->engine->name, why);
    return 0;
  }
  fp->healthy = 1;
  fingerprint_attr(fp, "version", version);
  return 0;
}

/* Checks that `path` (the task's script) is a core WebAssembly module: a
 * regular file starting with "\0asm" and binary version 1. Names the field
 * and tells text (WAT) and components (preview 2) apart. */
static int check_module_file(const char *path, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    snprintf(err, errlen, "task config: field \"script\": %s: %s", path, strerror(e));
    return -e;
  }
  struct stat st;
  unsigned char head[8] = {0};
  ssize_t n = 0;
  int regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (regular) n = read(fd, head, sizeof head);
  close(fd);
  if (!regular) {
    snprintf(err, errlen, "task config: field \"script\": %s is not a regular file", path);
    return -EINVAL;
  }
  static const unsigned char magic[4] = {0x00, 'a', 's', 'm'};
  static const unsigned char core_v1[4] = {0x01, 0x00, 0x00, 0x00};
  if (n == (ssize_t)sizeof head && memcmp(head, magic, 4) == 0 && memcmp(head + 4, core_v1, 4) == 0)
    return 0;
  const char *what = "is not a WebAssembly module (no \\0asm header)";
  if (n == (ssize_t)sizeof head && memcmp(head, magic, 4) == 0)
    what = "is a WebAssembly component or an unknown binary version; this backend runs WASI "
           "preview1 core modules";
  else if (n > 0 && head[0] == '(')
    what = "is WebAssembly text (WAT); compile it to a .wasm binary first (wat2wasm)";
  snprintf(err, errlen, "task config: field \"script\": %s %s", path, what);
  return -EINVAL;
}

/* The script must be a .wasm file inside the task directory (the host
 * checks it too; the module does not rely on that). */
static int check_script(const elide_task *task, char *err, size_t errlen) {
  if (task->code && task->code[0]) {
    snprintf(err, errlen,
             "task config: field \"code\": the wasm backend runs a compiled WebAssembly module, "
             "not inline code; set field \"script\" to a .wasm file in the task directory");
    return -EINVAL;
  }
  if (!task->script || !task->script[0]) {
    snprintf(err, errlen,
             "task config: field \"script\": required: the path of a .wasm file in the task "
             "directory");
    return -EINVAL;
  }
  char dir[PATH_MAX], real[PATH_MAX];
  if (!realpath(task->task_dir, dir)) {
    snprintf(err, errlen, "task directory %s: %s", task->task_dir, strerror(errno));
    return -ENOENT;
  }
  if (!realpath(task->script, real)) {
    snprintf(err, errlen, "task config: field \"script\": %s: %s", task->script, strerror(errno));
    return -ENOENT;
  }
  size_t dl = strlen(dir);
  if (strcmp(dir, "/") != 0 && (strncmp(real, dir, dl) != 0 || real[dl] != '/')) {
    snprintf(err, errlen, "task config: field \"script\": %s is outside the task directory %s",
             task->script, dir);
    return -EPERM;
  }
  return check_module_file(real, err, errlen);
}

static int wasm_execute(void *state, const elide_task *task, void *task_ctx, elide_proc **out,
                        char *err, size_t errlen) {
  wasm_state *st = state;
  int rc = check_script(task, err, errlen);
  if (rc != 0) return rc;
  char binary[PATH_MAX], why[512];
  if (!wasm_engine_resolve(st->engine, st->engine_path, st->home, binary, sizeof binary, why,
                           sizeof why)) {
    snprintf(err, errlen, "wasm engine %s: %s", st->engine->name, why);
    return -ENOENT;
  }
  char **argv = NULL;
  if (wasm_engine_argv(st->engine, binary, task->task_dir, task->script, task->envp, task->args,
                       &argv) != 0) {
    snprintf(err, errlen, "out of memory building the %s command line", st->engine->name);
    return -ENOMEM;
  }
  elide_spawn_spec spec = {.size = sizeof spec,
                           .argv = (const char *const *)argv,
                           .envp = task->envp,
                           .cwd = task->task_dir};
  rc = st->host->spawn(task_ctx, &spec, out, err, errlen);
  wasm_argv_free(argv);
  return rc;
}

static const elide_module_ops wasm_ops = {
    .size = sizeof(elide_module_ops),
    .init = wasm_init,
    .fingerprint = wasm_fingerprint,
    .execute = wasm_execute,
    ELIDE_PASSTHROUGH_OPS,
};

static const char *const wasm_languages[] = {"wasm", NULL};

static const elide_module_descriptor wasm_descriptor = {
    .size = sizeof(elide_module_descriptor),
    .abi_major = ELIDE_ABI_MAJOR,
    .abi_minor = ELIDE_ABI_MINOR,
    .name = "wasm",
    .version = "0.1.0",
    .languages = wasm_languages,
    .capabilities = ELIDE_CAP_SIGNAL | ELIDE_CAP_STATS | ELIDE_CAP_RECOVER,
    .config_keys = wasm_config_keys,
    .nconfig_keys = sizeof wasm_config_keys / sizeof wasm_config_keys[0],
    .ops = &wasm_ops,
};

ELIDE_MODULE_EXPORT const elide_module_descriptor *elide_module_entry_v1(void) {
  return &wasm_descriptor;
}
