/* exec_argv: the command line of an exec into a task, the REPL of its
 * language included (see exec_argv.h). */
#include "exec_argv.h"

#include "exec_cmd.h"
#include "strv.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void exec_argv_describe(char *const *command, size_t n, char *out, size_t outlen) {
  size_t used = 0;
  if (outlen) out[0] = '\0';
  for (size_t i = 0; i < n && used + 1 < outlen; i++) {
    int w = snprintf(out + used, outlen - used, "%s%s", i ? " " : "", command[i]);
    if (w < 0) break;
    used += (size_t)w;
  }
}

char **exec_argv_copy(const char *const *v, size_t n) {
  char **out = calloc(n + 1, sizeof *out);
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (!(out[i] = strdup(v[i] ? v[i] : ""))) {
      strv_free(out);
      return NULL;
    }
  }
  return out;
}

static int oom(char *err, size_t errlen) {
  snprintf(err, errlen, "out of memory");
  return -ENOMEM;
}

/* The module's REPL command line for the task's language; the words after
 * elide-repl go to the module as the task's args. */
static int repl_argv(const exec_argv_task *t, char *const *command, size_t ncommand,
                     char ***out, char *err, size_t errlen) {
  const elide_module_ops *ops = t->module ? t->module->ops : NULL;
  const char *name = t->module ? t->module->name : "task's";
  if (!ops || !ops->repl) {
    snprintf(err, errlen, "the %s backend has no REPL (task language \"%s\"); run a command "
             "instead", name, t->language);
    return -ENOTSUP;
  }
  const char **args = calloc(ncommand, sizeof *args); /* ncommand-1 words + NULL */
  if (!args) return oom(err, errlen);
  for (size_t i = 1; i < ncommand; i++) args[i - 1] = command[i];
  elide_task et = {.size = sizeof et,
                   .id = t->id,
                   .language = t->language,
                   .task_dir = t->task_dir,
                   .args = args,
                   .envp = t->envp,
                   .options = NULL,
                   .noptions = 0};
  enum { REPL_ARGV_CAP = 256 };
  const char *argv[REPL_ARGV_CAP];
  memset(argv, 0, sizeof argv);
  char why[1024] = "";
  int rc = ops->repl(t->module_state, &et, argv, REPL_ARGV_CAP, why, sizeof why);
  size_t n = 0;
  while (rc == 0 && n < REPL_ARGV_CAP && argv[n]) n++;
  if (rc == 0 && (n == 0 || n == REPL_ARGV_CAP || argv[0][0] != '/')) {
    rc = -EPROTO;
    snprintf(why, sizeof why, "the module's repl op returned no absolute, NULL-terminated "
             "command line");
  }
  if (rc != 0) {
    free(args);
    snprintf(err, errlen, "the %s backend cannot open a REPL: %s", name,
             why[0] ? why : strerror(-rc));
    return rc == -EINVAL || rc == -ENOTSUP || rc == -ENOMEM ? -EPROTO : rc;
  }
  *out = exec_argv_copy(argv, n); /* before args, which argv may borrow from, goes */
  free(args);
  return *out ? 0 : oom(err, errlen);
}

int exec_argv_resolve(const exec_argv_task *t, char *const *command, size_t ncommand,
                      char ***argv, char *err, size_t errlen) {
  *argv = NULL;
  if (ncommand == 0 || !command[0] || !command[0][0]) {
    snprintf(err, errlen, "command must have at least one value");
    return -EINVAL;
  }
  if (strcmp(command[0], EXEC_REPL_COMMAND) == 0)
    return repl_argv(t, command, ncommand, argv, err, errlen);
  char path[PATH_MAX];
  int rc = exec_cmd_lookup(command[0], t->task_dir, t->envp, path, sizeof path, err, errlen);
  if (rc != 0) return rc == -ENOMEM ? rc : -EINVAL;
  /* argv[0] as the user typed it is replaced by the resolved path. */
  char **v = exec_argv_copy((const char *const *)command, ncommand);
  char *resolved = v ? strdup(path) : NULL;
  if (!resolved) {
    strv_free(v);
    return oom(err, errlen);
  }
  free(v[0]);
  v[0] = resolved;
  *argv = v;
  return 0;
}
