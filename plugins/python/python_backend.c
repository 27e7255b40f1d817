/* The python backend module: runs a task's script or inline code with a
 * CPython interpreter (Debian's /usr/bin/python3 by default) under the
 * host's supervisor. Exports only the module entry symbol. */
#include "elide_module.h"
#include "host_passthrough.h"
#include "repl_command.h"
#include "runtime_probe.h"
#include "warm_python_bootstrap.h" /* generated from warm_python.py at build time */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_RUNTIME "/usr/bin/python3"
#define MAX_ARGS 4096
#define MAX_STARTUP_VARS 32

extern char **environ;

/* The zygote's program (abi/warm-starts.md): it reads the bootstrap from
 * stdin and runs it in a namespace of its own, so that __main__ stays as a
 * cold `python3 -c` leaves it. */
static const char py_warm_loader[] =
    "exec(compile(__import__('sys').stdin.buffer.read(), '<elide-warm>', 'exec'), "
    "{'__name__': '__elide_warm__'})";

typedef struct py_state {
  const elide_host_services *host;
  char runtime[4096];
  /* The zygote: runtime, "-c", py_warm_loader, then the names of the
   * variables in warm_env (the bootstrap compares tasks against them). */
  const char *warm_argv[4 + MAX_STARTUP_VARS];
  /* The start-up variables of this process (LANG, LC_ALL, LC_CTYPE,
   * SETUPTOOLS_USE_DISTUTILS, PYTHON*): Nomad hands the agent's
   * environment on to tasks, so a zygote with the same values serves them
   * warm. Copies owned by the state. */
  char *warm_env[MAX_STARTUP_VARS + 1];
  char *warm_names[MAX_STARTUP_VARS];
} py_state;

/* Whether an environment entry is one the interpreter reads at start-up
 * (warm_python.py refuses a task whose values differ from the zygote's). */
static int startup_var(const char *entry) {
  static const char *const names[] = {"LANG=", "LC_ALL=", "LC_CTYPE=",
                                      "SETUPTOOLS_USE_DISTUTILS=", NULL};
  for (const char *const *n = names; *n; n++)
    if (!strncmp(entry, *n, strlen(*n))) return 1;
  return !strncmp(entry, "PYTHON", 6) && strchr(entry, '=');
}

/* Fills warm_env/warm_names/warm_argv from this process's environment. */
static int capture_startup_env(py_state *st) {
  size_t n = 0, argc = 3;
  for (char **e = environ; e && *e && n < MAX_STARTUP_VARS; e++) {
    if (!startup_var(*e)) continue;
    size_t len = (size_t)(strchr(*e, '=') - *e);
    if (!(st->warm_env[n] = strdup(*e)) || !(st->warm_names[n] = strndup(*e, len)))
      return -ENOMEM;
    st->warm_argv[argc++] = st->warm_names[n++];
  }
  st->warm_env[n] = NULL;
  st->warm_argv[argc] = NULL;
  return 0;
}

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
  st->warm_argv[0] = st->runtime;
  st->warm_argv[1] = "-c";
  st->warm_argv[2] = py_warm_loader;
  if (capture_startup_env(st) != 0) {
    for (size_t i = 0; i < MAX_STARTUP_VARS; i++) {
      free(st->warm_env[i]);
      free(st->warm_names[i]);
    }
    free(st);
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
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

/* The warm pool's zygote: this instance's runtime running the embedded
 * warm_python.py, whose forked copies take tasks spawned with the same
 * runtime path. Everything handed out is static or owned by `state`. */
static int py_warm_pool(void *state, elide_warm_pool_spec *out, char *err, size_t errlen) {
  (void)err;
  (void)errlen;
  py_state *st = state;
  elide_warm_pool_spec spec = {
      .size = out->size,
      .argv = st->warm_argv,
      .bootstrap = (const char *)warm_python_bootstrap,
      .bootstrap_len = sizeof warm_python_bootstrap,
      .runtime = st->runtime,
      .description = "python zygote",
      .envp = (const char *const *)st->warm_env,
  };
  /* Only what the host's struct has room for (it may be an older minor). */
  memcpy(out, &spec, out->size < sizeof spec ? out->size : sizeof spec);
  return 0;
}

static const elide_module_ops py_ops = {
    .size = sizeof(elide_module_ops),
    .init = py_init,
    .fingerprint = py_fingerprint,
    .execute = py_execute,
    ELIDE_PASSTHROUGH_OPS,
    .repl = py_repl,
    .warm_pool = py_warm_pool,
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
