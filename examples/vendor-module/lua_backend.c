/* An out-of-tree nomad-driver-elide backend for Lua, built only against the
 * installed ABI header (pkg-config nomad-driver-elide-module): runs a task's
 * script or inline code with the lua5.4 interpreter under the host's
 * supervisor. Exports only elide_module_entry_v1. */
#include "elide_module.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_RUNTIME "/usr/bin/lua5.4"
#define MAX_ARGS 4096

/* One instance per init call; the host may keep several alive at once
 * (a reconfiguration does not end tasks started with the old one). */
typedef struct luab_state {
  const elide_host_services *host; /* static */
  char runtime[4096];              /* copied: config values are borrowed for init only */
} luab_state;

static const elide_key luab_config_keys[] = {
    {"runtime", ELIDE_VALUE_PATH, 0, DEFAULT_RUNTIME, "absolute path of the Lua interpreter"},
};

static const elide_key luab_task_keys[] = {
    {"warnings", ELIDE_VALUE_BOOL, 0, "false", "turn Lua warnings on (lua -W)"},
};

static int luab_init(const elide_host_services *host, const elide_module_config *config,
                    void **state, char *err, size_t errlen) {
  const elide_value *rt = elide_value_find(config->values, config->nvalues, "runtime");
  const char *runtime = rt && rt->is_set ? rt->str : DEFAULT_RUNTIME;
  if (runtime[0] != '/') {
    snprintf(err, errlen, "runtime \"%s\" must be an absolute path", runtime);
    return -EINVAL;
  }
  luab_state *st = calloc(1, sizeof *st);
  if (!st) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  st->host = host;
  snprintf(st->runtime, sizeof st->runtime, "%s", runtime);
  *state = st;
  return 0;
}

static void add_attr(elide_fingerprint *fp, const char *key, const char *value) {
  if (fp->nattrs >= ELIDE_MAX_ATTRS) return;
  snprintf(fp->attrs[fp->nattrs].key, sizeof fp->attrs[0].key, "%.63s", key);
  snprintf(fp->attrs[fp->nattrs].value, sizeof fp->attrs[0].value, "%.255s", value);
  fp->nattrs++;
}

/* `lua5.4 -v` prints "Lua 5.4.4  Copyright (C) 1994-2022 Lua.org, PUC-Rio". */
static int luab_fingerprint(void *state, elide_fingerprint *fp) {
  luab_state *st = state;
  const char *argv[] = {st->runtime, "-v", NULL};
  char buf[256], why[200] = "";
  int code = 0;
  memset(fp, 0, sizeof *fp);
  add_attr(fp, "runtime", st->runtime);
  if (st->host->run_capture(argv, 5000, buf, sizeof buf, &code, why, sizeof why) != 0) {
    snprintf(fp->description, sizeof fp->description, "lua runtime unusable: %.200s", why);
    return 0;
  }
  buf[strcspn(buf, "\r\n")] = '\0';
  if (code != 0 || strncmp(buf, "Lua ", 4) != 0) {
    snprintf(fp->description, sizeof fp->description,
             "lua runtime unusable: %.100s -v exited with %d: %.100s", st->runtime, code, buf);
    return 0;
  }
  char version[64];
  snprintf(version, sizeof version, "%.*s", (int)strcspn(buf + 4, " "), buf + 4);
  add_attr(fp, "version", version);
  fp->healthy = 1;
  return 0;
}

/* lua [-W] script args...  or  lua [-W] -e code /dev/null args...: inline
 * code sees its arguments in the global `arg` table as a script would; the
 * empty /dev/null script only anchors them. */
static int luab_execute(void *state, const elide_task *task, void *task_ctx, elide_proc **out,
                       char *err, size_t errlen) {
  luab_state *st = state;
  const elide_value *warn = elide_value_find(task->options, task->noptions, "warnings");
  const char *argv[MAX_ARGS + 6];
  size_t n = 0;
  argv[n++] = st->runtime;
  if (warn && warn->is_set && warn->i) argv[n++] = "-W";
  if (task->code) {
    argv[n++] = "-e";
    argv[n++] = task->code;
    argv[n++] = "/dev/null";
  } else {
    argv[n++] = task->script;
  }
  for (const char *const *a = task->args; a && *a; a++) {
    if (n >= MAX_ARGS + 5) {
      snprintf(err, errlen, "too many args (limit %d)", MAX_ARGS);
      return -E2BIG;
    }
    argv[n++] = *a;
  }
  argv[n] = NULL;
  elide_spawn_spec spec = {sizeof spec, argv, task->envp, task->task_dir};
  return st->host->spawn(task_ctx, &spec, out, err, errlen);
}

static int luab_status(void *state, elide_proc *p, elide_exit *out) {
  return ((luab_state *)state)->host->proc_poll(p, out);
}

static int luab_cancel(void *state, elide_proc *p, int sig, int grace_ms, elide_exit *out) {
  return ((luab_state *)state)->host->proc_stop(p, sig, grace_ms, out);
}

static int luab_signal(void *state, elide_proc *p, int sig) {
  return ((luab_state *)state)->host->proc_signal(p, sig);
}

static int luab_stats(void *state, elide_proc *p, elide_stats *out) {
  return ((luab_state *)state)->host->proc_stats(p, out);
}

static int luab_recover(void *state, const elide_task *task, void *task_ctx, elide_proc **out,
                       char *err, size_t errlen) {
  (void)task;
  return ((luab_state *)state)->host->proc_attach(task_ctx, out, err, errlen);
}

static const elide_module_ops luab_ops = {
    .size = sizeof(elide_module_ops),
    .init = luab_init,
    .fingerprint = luab_fingerprint,
    .execute = luab_execute,
    .status = luab_status,
    .cancel = luab_cancel,
    .signal = luab_signal,
    .stats = luab_stats,
    .recover = luab_recover,
};

static const char *const luab_languages[] = {"lua", NULL};

static const elide_module_descriptor luab_descriptor = {
    .size = sizeof(elide_module_descriptor),
    .abi_major = ELIDE_ABI_MAJOR,
    .abi_minor = ELIDE_ABI_MINOR,
    .name = "lua",
    .version = "1.0.0",
    .languages = luab_languages,
    .capabilities = ELIDE_CAP_SIGNAL | ELIDE_CAP_STATS | ELIDE_CAP_RECOVER,
    .config_keys = luab_config_keys,
    .nconfig_keys = sizeof luab_config_keys / sizeof luab_config_keys[0],
    .task_keys = luab_task_keys,
    .ntask_keys = sizeof luab_task_keys / sizeof luab_task_keys[0],
    .ops = &luab_ops,
};

ELIDE_MODULE_EXPORT const elide_module_descriptor *elide_module_entry_v1(void) {
  return &luab_descriptor;
}
