/* The js backend module: runs a task's script or inline code with node
 * (Debian's /usr/bin/node by default) under the host's supervisor, as
 * CommonJS or an ES module. Serves the languages "js" and "javascript".
 * Exports only the module entry symbol. */
#include "elide_module.h"
#include "host_passthrough.h"
#include "repl_command.h"
#include "runtime_probe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_RUNTIME "/usr/bin/node"

/* argv[1] node gives inline code, so that process.argv.slice(2) is the
 * task's args exactly as for a script (whose argv[1] is its path). With
 * `-e`, node puts the first argument after the code at argv[1]; without a
 * stand-in there the first user argument would be lost to slice(2). "[eval]"
 * is node's own __filename for CommonJS eval code. */
#define EVAL_ARGV1 "[eval]"

typedef struct js_state {
  const elide_host_services *host;
  char runtime[4096];
} js_state;

static const elide_key js_config_keys[] = {
    {"runtime", ELIDE_VALUE_PATH, 0, DEFAULT_RUNTIME, "absolute path of the node executable"},
};

static const elide_key js_task_keys[] = {
    {"js_module_type", ELIDE_VALUE_STRING, 0, "commonjs",
     "inline code only: \"commonjs\" or \"module\" (ES module); scripts follow node's rules "
     "(.mjs, .cjs, nearest package.json \"type\")"},
};

/* The values js_module_type accepts, in the order error messages list them. */
static const char *const js_module_types[] = {"commonjs", "module", NULL};

static int js_init(const elide_host_services *host, const elide_module_config *config,
                   void **state, char *err, size_t errlen) {
  js_state *st = calloc(1, sizeof *st);
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

static int js_fingerprint(void *state, elide_fingerprint *fp) {
  js_state *st = state;
  char version[64], why[sizeof fp->description];
  memset(fp, 0, sizeof *fp);
  fingerprint_attr(fp, "runtime", st->runtime);
  if (runtime_version(st->host, st->runtime, "v", "node", version, sizeof version, why,
                      sizeof why) != 0) {
    fp->healthy = 0;
    snprintf(fp->description, sizeof fp->description, "js runtime unusable: %s", why);
    return 0;
  }
  fp->healthy = 1;
  fingerprint_attr(fp, "version", version);
  return 0;
}

/* Writes s into out as a double-quoted string, escaping quotes,
 * backslashes and control bytes, truncated to fit. */
static void quote(char *out, size_t outlen, const char *s) {
  size_t n = 0;
  if (outlen < 3) {
    if (outlen) out[0] = '\0';
    return;
  }
  out[n++] = '"';
  for (; *s && n + 6 < outlen; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      out[n++] = '\\';
      out[n++] = (char)c;
    } else if (c < 0x20 || c == 0x7f) {
      n += (size_t)snprintf(out + n, outlen - n, "\\x%02x", c);
    } else {
      out[n++] = (char)c;
    }
  }
  out[n++] = '"';
  out[n] = '\0';
}

/* Resolves js_module_type to "commonjs" or "module"; anything else is
 * rejected naming the field. An absent or unset value (a host that has not
 * applied the declared default) means "commonjs". */
static int module_type(const elide_task *task, const char **out, char *err, size_t errlen) {
  const elide_value *v = elide_value_find(task->options, task->noptions, "js_module_type");
  *out = "commonjs";
  if (!v || !v->is_set || !v->str) return 0;
  for (const char *const *t = js_module_types; *t; t++) {
    if (!strcmp(v->str, *t)) {
      *out = *t;
      return 0;
    }
  }
  char q[128];
  quote(q, sizeof q, v->str);
  snprintf(err, errlen, "task config: field \"js_module_type\": %s is not one of: commonjs, module",
           q);
  return -EINVAL;
}

/* Builds node's argv into a malloc'd array (caller frees the array only;
 * the strings are borrowed from st and task). Scripts run as
 * `node SCRIPT ARGS...`, node choosing CommonJS or ESM by its own rules;
 * inline code as `node --input-type=TYPE -e CODE -- [eval] ARGS...`, always
 * naming the type so node's syntax detection never overrides the option. */
static int build_argv(js_state *st, const elide_task *task, const char *type,
                      const char ***out, char *err, size_t errlen) {
  size_t nargs = 0;
  for (const char *const *a = task->args; a && *a; a++) nargs++;
  const char **argv = calloc(nargs + 7, sizeof *argv);
  if (!argv) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  size_t n = 0;
  argv[n++] = st->runtime;
  if (task->script) {
    argv[n++] = task->script;
  } else {
    argv[n++] = !strcmp(type, "module") ? "--input-type=module" : "--input-type=commonjs";
    argv[n++] = "-e";
    argv[n++] = task->code;
    argv[n++] = "--";
    argv[n++] = EVAL_ARGV1;
  }
  for (size_t i = 0; i < nargs; i++) argv[n++] = task->args[i];
  argv[n] = NULL;
  *out = argv;
  return 0;
}

static int js_execute(void *state, const elide_task *task, void *task_ctx, elide_proc **out,
                      char *err, size_t errlen) {
  js_state *st = state;
  const char *type;
  int rc = module_type(task, &type, err, errlen);
  if (rc != 0) return rc;
  if (!task->script == !task->code) {
    snprintf(err, errlen, "task config: exactly one of fields \"script\" and \"code\" must be set");
    return -EINVAL;
  }
  /* node ignores --input-type for a file; refusing beats silently running
   * a script as something other than what the job asked for. */
  if (task->script && !strcmp(type, "module")) {
    snprintf(err, errlen,
             "task config: field \"js_module_type\": applies to inline code only; a script is an "
             "ES module when it ends in .mjs, or in .js under a package.json with "
             "\"type\": \"module\"");
    return -EINVAL;
  }
  const char **argv;
  rc = build_argv(st, task, type, &argv, err, errlen);
  if (rc != 0) return rc;
  elide_spawn_spec spec = {
      .size = sizeof spec, .argv = argv, .envp = task->envp, .cwd = task->task_dir};
  rc = st->host->spawn(task_ctx, &spec, out, err, errlen);
  free(argv); /* the spec is borrowed for the spawn call only */
  return rc;
}

/* `node --interactive [ARGS...]`: the REPL of the node this instance runs
 * tasks with, interactive even when stdin is not a terminal. */
static int js_repl(void *state, const elide_task *task, const char **argv, size_t cap, char *err,
                   size_t errlen) {
  js_state *st = state;
  return repl_command(st->runtime, "--interactive", task, argv, cap, err, errlen);
}

static const elide_module_ops js_ops = {
    .size = sizeof(elide_module_ops),
    .init = js_init,
    .fingerprint = js_fingerprint,
    .execute = js_execute,
    ELIDE_PASSTHROUGH_OPS,
    .repl = js_repl,
};

/* "javascript" is an alias: execute does not look at task->language. */
static const char *const js_languages[] = {"js", "javascript", NULL};

static const elide_module_descriptor js_descriptor = {
    .size = sizeof(elide_module_descriptor),
    .abi_major = ELIDE_ABI_MAJOR,
    .abi_minor = ELIDE_ABI_MINOR,
    .name = "js",
    .version = "0.1.0",
    .languages = js_languages,
    .capabilities = ELIDE_CAP_SIGNAL | ELIDE_CAP_STATS | ELIDE_CAP_RECOVER,
    .config_keys = js_config_keys,
    .nconfig_keys = sizeof js_config_keys / sizeof js_config_keys[0],
    .task_keys = js_task_keys,
    .ntask_keys = sizeof js_task_keys / sizeof js_task_keys[0],
    .ops = &js_ops,
};

ELIDE_MODULE_EXPORT const elide_module_descriptor *elide_module_entry_v1(void) {
  return &js_descriptor;
}
