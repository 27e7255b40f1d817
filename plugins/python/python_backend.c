/* The python backend module: runs a task's script or inline code with a
 * CPython interpreter (Debian's /usr/bin/python3 by default) under the
 * host's supervisor. Exports only the module entry symbol. */
#include "elide_module.h"
#include "host_passthrough.h"
#include "repl_command.h"
#include "runtime_probe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_RUNTIME "/usr/bin/python3"
#define MAX_ARGS 4096

typedef struct py_state {
  const elide_host_services *host;
  char runtime[4096];
} py_state;

static const elide_key py_config_keys[] = {
    {"runtime", ELIDE_VALUE_PATH, 0, DEFAULT_RUNTIME, "absolute path of the python interpreter"},
};

static int py_init(const elide_host_services *host, const elide_module_config *config,
                   void **state, char *err, size_t errlen) {
  py_state *st = calloc(1, sizeof *st);
  if (!st) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  st->host = host;
  int rc = runtime_from_config(config, DEFAULT_RUNTIME, st->runtime, sizeof st->runtime, err,
                               errlen);
  if (rc != 0) {
    free(st);
    return rc;
  }
  *state = st;
  return 0;
}

static int py_fingerprint(void *state, elide_fingerprint *fp) {
  py_state *st = state;
  char version[64], why[sizeof fp->description];
  memset(fp, 0, sizeof *fp);
  fingerprint_attr(fp, "runtime", st->runtime);
  if (runtime_version(st->host, st->runtime, "Python ", "Python", version, sizeof version, why,
                      sizeof why) != 0) {
    fp->healthy = 0;
    snprintf(fp->description, sizeof fp->description, "python runtime unusable: %s", why);
    return 0;
  }
  fp->healthy = 1;
  fingerprint_attr(fp, "version", version);
  return 0;
}

static int py_execute(void *state, const elide_task *task, void *task_ctx, elide_proc **out,
                      char *err, size_t errlen) {
  py_state *st = state;
  const char *argv[MAX_ARGS + 4];
  size_t n = 0;
  argv[n++] = st->runtime;
  if (task->script) {
    argv[n++] = task->script;
  } else {
    argv[n++] = "-c";
    argv[n++] = task->code;
  }
  for (const char *const *a = task->args; a && *a; a++) {
    if (n >= MAX_ARGS + 3) {
      snprintf(err, errlen, "too many args (limit %d)", MAX_ARGS);
      return -E2BIG;
    }
    argv[n++] = *a;
  }
  argv[n] = NULL;
  elide_spawn_spec spec = {
      .size = sizeof spec, .argv = argv, .envp = task->envp, .cwd = task->task_dir};
  return st->host->spawn(task_ctx, &spec, out, err, errlen);
}

/* `python3 -i [ARGS...]`: the interpreter tasks of this instance run,
 * interactive even when stdin is not a terminal. */
static int py_repl(void *state, const elide_task *task, const char **argv, size_t cap, char *err,
                   size_t errlen) {
  py_state *st = state;
  return repl_command(st->runtime, "-i", task, argv, cap, err, errlen);
}

static const elide_module_ops py_ops = {
    .size = sizeof(elide_module_ops),
    .init = py_init,
    .fingerprint = py_fingerprint,
    .execute = py_execute,
    ELIDE_PASSTHROUGH_OPS,
    .repl = py_repl,
};

static const char *const py_languages[] = {"python", NULL};

static const elide_module_descriptor py_descriptor = {
    .size = sizeof(elide_module_descriptor),
    .abi_major = ELIDE_ABI_MAJOR,
    .abi_minor = ELIDE_ABI_MINOR,
    .name = "python",
    .version = "0.1.0",
    .languages = py_languages,
    .capabilities = ELIDE_CAP_SIGNAL | ELIDE_CAP_STATS | ELIDE_CAP_RECOVER,
    .config_keys = py_config_keys,
    .nconfig_keys = sizeof py_config_keys / sizeof py_config_keys[0],
    .ops = &py_ops,
};

ELIDE_MODULE_EXPORT const elide_module_descriptor *elide_module_entry_v1(void) {
  return &py_descriptor;
}
