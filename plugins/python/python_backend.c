/* The python backend module: runs a task's script or inline code with a
 * CPython interpreter (Debian's /usr/bin/python3 by default) under the
 * host's supervisor. Exports only the module entry symbol. */
#include "elide_module.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_RUNTIME "/usr/bin/python3"
#define MAX_ARGS 4096

extern char **environ;

typedef struct py_state {
  const elide_host_services *host;
  char runtime[4096];
} py_state;

static int py_init(const elide_host_services *host, const elide_config_entry *config,
                   size_t nconfig, void **state, char *err, size_t errlen) {
  py_state *st = calloc(1, sizeof *st);
  if (!st) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  st->host = host;
  snprintf(st->runtime, sizeof st->runtime, "%s", DEFAULT_RUNTIME);
  for (size_t i = 0; i < nconfig; i++) {
    if (strcmp(config[i].key, "runtime") == 0 && config[i].value && config[i].value[0]) {
      if (config[i].value[0] != '/') {
        snprintf(err, errlen, "runtime \"%s\" must be an absolute path", config[i].value);
        free(st);
        return -EINVAL;
      }
      snprintf(st->runtime, sizeof st->runtime, "%s", config[i].value);
    } else if (strcmp(config[i].key, "runtime") != 0) {
      snprintf(err, errlen, "unknown python module setting \"%s\"", config[i].key);
      free(st);
      return -EINVAL;
    }
  }
  *state = st;
  return 0;
}

/* Runs `runtime --version` with a deadline and returns its first output line
 * ("Python 3.11.2"). Both stdout and stderr are read: Python 2 printed the
 * version on stderr. */
static int read_version(const char *runtime, char *out, size_t outlen, char *why, size_t whylen) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    snprintf(why, whylen, "pipe: %s", strerror(errno));
    return -1;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  char *const argv[] = {(char *)runtime, (char *)"--version", NULL};
  pid_t pid;
  int rc = posix_spawn(&pid, runtime, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    snprintf(why, whylen, "cannot run %s: %s", runtime, strerror(rc));
    return -1;
  }
  char buf[256];
  size_t used = 0;
  ssize_t n;
  while (used < sizeof buf - 1 && (n = read(fds[0], buf + used, sizeof buf - 1 - used)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    used += (size_t)n;
  }
  close(fds[0]);
  buf[used] = '\0';
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    snprintf(why, whylen, "%s --version failed (status %d)", runtime, status);
    return -1;
  }
  buf[strcspn(buf, "\r\n")] = '\0';
  if (strncmp(buf, "Python ", 7) != 0) {
    snprintf(why, whylen, "%s --version printed \"%s\", not a Python version", runtime, buf);
    return -1;
  }
  snprintf(out, outlen, "%s", buf + 7);
  return 0;
}

static void add_attr(elide_fingerprint *fp, const char *key, const char *value) {
  if (fp->nattrs >= ELIDE_MAX_ATTRS) return;
  snprintf(fp->attrs[fp->nattrs].key, sizeof fp->attrs[0].key, "%s", key);
  snprintf(fp->attrs[fp->nattrs].value, sizeof fp->attrs[0].value, "%s", value);
  fp->nattrs++;
}

static int py_fingerprint(void *state, elide_fingerprint *fp) {
  py_state *st = state;
  char version[64], why[sizeof fp->description];
  memset(fp, 0, sizeof *fp);
  add_attr(fp, "runtime", st->runtime);
  if (read_version(st->runtime, version, sizeof version, why, sizeof why) != 0) {
    fp->healthy = 0;
    snprintf(fp->description, sizeof fp->description, "python runtime unusable: %s", why);
    return 0;
  }
  fp->healthy = 1;
  add_attr(fp, "version", version);
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
  elide_spawn_spec spec = {.argv = argv, .envp = task->envp, .cwd = task->task_dir};
  return st->host->spawn(task_ctx, &spec, out, err, errlen);
}

static int py_status(void *state, elide_proc *p, elide_exit *out) {
  py_state *st = state;
  return st->host->proc_poll(p, out);
}

static int py_cancel(void *state, elide_proc *p, int sig, int grace_ms, elide_exit *out) {
  py_state *st = state;
  return st->host->proc_stop(p, sig, grace_ms, out);
}

static int py_signal(void *state, elide_proc *p, int sig) {
  py_state *st = state;
  return st->host->proc_signal(p, sig);
}

static const elide_module_ops py_ops = {
    .size = sizeof(elide_module_ops),
    .init = py_init,
    .fingerprint = py_fingerprint,
    .execute = py_execute,
    .status = py_status,
    .cancel = py_cancel,
    .signal = py_signal,
};

static const char *const py_languages[] = {"python", NULL};

static const elide_module_descriptor py_descriptor = {
    .size = sizeof(elide_module_descriptor),
    .abi_major = ELIDE_ABI_MAJOR,
    .abi_minor = ELIDE_ABI_MINOR,
    .name = "python",
    .version = "0.1.0",
    .languages = py_languages,
    .ops = &py_ops,
};

__attribute__((visibility("default"))) const elide_module_descriptor *elide_module_entry_v0(void) {
  return &py_descriptor;
}
