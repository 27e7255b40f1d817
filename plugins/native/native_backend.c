/* The native backend module: validates a task's shared library, symbol,
 * signature and arguments without loading the library, then starts
 * elide-native-runner (which makes the libffi call) under the host's
 * supervisor. Exports only the module entry symbol.
 *
 * Job contract: `symbol` names the function, `signature` its C type (the
 * grammar is in signature.h), `args` its arguments, one per parameter
 * (bytes as hex). The exit status is an integer result truncated to
 * 0..255; void gives 0; a float/double result is printed on stdout and
 * gives 0 (runner_main.c). Output goes to the task's stdout/stderr.
 *
 * Libraries: the task's `script`, a .so inside the task directory. An
 * operator may describe a library in a [native.<stem>] section of the
 * deployment INI, <stem> being the file name before ".so" (mathlib.so ->
 * [native.mathlib]); its `symbols` list then limits which functions jobs
 * may call, and `require_section = true` in [module.native] refuses
 * libraries without a section. This is a guard against mistakes, not a
 * sandbox: the library runs as the task's user in the task's process, like
 * any script. */
#include "elf_symbols.h"
#include "elide_module.h"
#include "host_passthrough.h"
#include "runtime_probe.h"
#include "signature.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RUNNER_NAME "elide-native-runner"

/* A path for a message: control bytes (from a job's file name) become '?'. */
static const char *shown_path(const char *path, char *out, size_t cap) {
  size_t n = 0;
  for (; path[n] && n + 1 < cap; n++)
    out[n] = (unsigned char)path[n] < 0x20 || path[n] == 0x7f ? '?' : path[n];
  out[n] = '\0';
  return out;
}

/* One [native.<name>] section, copied at init. */
typedef struct nat_library {
  char *name;
  char **symbols; /* NULL when the section does not limit symbols */
  size_t nsymbols;
} nat_library;

typedef struct nat_state {
  const elide_host_services *host;
  char runner[PATH_MAX];
  int require_section;
  nat_library *libs;
  size_t nlibs;
} nat_state;

static const elide_key nat_config_keys[] = {
    {"runner", ELIDE_VALUE_PATH, 0, NULL,
     "absolute path of elide-native-runner (default: next to the module directory)"},
    {"require_section", ELIDE_VALUE_BOOL, 0, "false",
     "refuse libraries that have no [native.<name>] section"},
};

static const elide_key nat_task_keys[] = {
    {"symbol", ELIDE_VALUE_STRING, ELIDE_KEY_REQUIRED, NULL,
     "the exported function of the script's shared library to call"},
    {"signature", ELIDE_VALUE_STRING, ELIDE_KEY_REQUIRED, NULL,
     "its C signature, e.g. \"int(int,double,string,bytes)\""},
};

static const elide_key nat_section_keys[] = {
    {"symbols", ELIDE_VALUE_LIST, 0, NULL,
     "functions jobs may call in this library (default: every exported function)"},
};

/* <dir of this module>/../elide-native-runner, normalised; the compiled-in
 * package directory when dladdr cannot say where we are. */
static void default_runner(char *out, size_t outlen) {
  Dl_info info;
  char real[PATH_MAX];
  if (dladdr((void *)default_runner, &info) && info.dli_fname && realpath(info.dli_fname, real)) {
    for (int up = 0; up < 2; up++) {
      char *slash = strrchr(real, '/');
      if (slash) *slash = '\0';
    }
    snprintf(out, outlen, "%s/" RUNNER_NAME, real[0] ? real : "");
    return;
  }
  snprintf(out, outlen, "%s/" RUNNER_NAME, ELIDE_INSTALL_PKGLIBDIR);
}

static int copy_sections(nat_state *st, const elide_module_config *config) {
  if (config->nsections == 0) return 0;
  st->libs = calloc(config->nsections, sizeof *st->libs);
  if (!st->libs) return -ENOMEM;
  for (size_t i = 0; i < config->nsections; i++) {
    const elide_section *sec = &config->sections[i];
    nat_library *lib = &st->libs[st->nlibs++];
    if (!(lib->name = strdup(sec->name))) return -ENOMEM;
    const elide_value *syms = elide_value_find(sec->values, sec->nvalues, "symbols");
    if (!syms || !syms->is_set) continue;
    if (!(lib->symbols = calloc(syms->nlist + 1, sizeof *lib->symbols))) return -ENOMEM;
    for (size_t j = 0; j < syms->nlist; j++) {
      if (!(lib->symbols[j] = strdup(syms->list[j]))) return -ENOMEM;
      lib->nsymbols++;
    }
  }
  return 0;
}

static void free_state(nat_state *st) {
  for (size_t i = 0; i < st->nlibs; i++) {
    free(st->libs[i].name);
    for (size_t j = 0; j < st->libs[i].nsymbols; j++) free(st->libs[i].symbols[j]);
    free(st->libs[i].symbols);
  }
  free(st->libs);
  free(st);
}

static int nat_init(const elide_host_services *host, const elide_module_config *config,
                    void **state, char *err, size_t errlen) {
  nat_state *st = calloc(1, sizeof *st);
  if (!st) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  st->host = host;
  const elide_value *rn = elide_value_find(config->values, config->nvalues, "runner");
  const elide_value *rs = elide_value_find(config->values, config->nvalues, "require_section");
  if (rn && rn->is_set)
    snprintf(st->runner, sizeof st->runner, "%s", rn->str);
  else
    default_runner(st->runner, sizeof st->runner);
  st->require_section = rs && rs->is_set && rs->i;
  if (st->runner[0] != '/') {
    snprintf(err, errlen, "runner \"%s\" must be an absolute path", st->runner);
    free_state(st);
    return -EINVAL;
  }
  if (copy_sections(st, config) != 0) {
    snprintf(err, errlen, "out of memory copying the [native.*] sections");
    free_state(st);
    return -ENOMEM;
  }
  *state = st;
  return 0;
}

/* `runner --version` prints "elide-native-runner 0.1.0 libffi 3.4.4"; the
 * libffi version is the runtime's version. Running it also proves the
 * runner's own shared libraries (libffi) load. */
static int read_version(nat_state *st, char *out, size_t outlen, char *why, size_t whylen) {
  struct stat sb;
  if (stat(st->runner, &sb) != 0) {
    snprintf(why, whylen, "%s: %s", st->runner, strerror(errno));
    return -1;
  }
  if (!S_ISREG(sb.st_mode) || access(st->runner, X_OK) != 0) {
    snprintf(why, whylen, "%s is not an executable file", st->runner);
    return -1;
  }
  const char *argv[] = {st->runner, "--version", NULL};
  char buf[256];
  int code = 0;
  if (st->host->run_capture(argv, 5000, buf, sizeof buf, &code, why, whylen) != 0) return -1;
  buf[strcspn(buf, "\r\n")] = '\0';
  const char *ffi = strstr(buf, " libffi ");
  if (code != 0 || strncmp(buf, RUNNER_NAME " ", sizeof RUNNER_NAME) != 0 || !ffi) {
    snprintf(why, whylen, "%s --version exited with %d: %s", st->runner, code, buf);
    return -1;
  }
  snprintf(out, outlen, "%s", ffi + 8);
  return 0;
}

static int nat_fingerprint(void *state, elide_fingerprint *fp) {
  nat_state *st = state;
  char version[64], why[sizeof fp->description];
  memset(fp, 0, sizeof *fp);
  fingerprint_attr(fp, "runtime", st->runner);
  if (read_version(st, version, sizeof version, why, sizeof why) != 0) {
    fp->healthy = 0;
    snprintf(fp->description, sizeof fp->description, "native runner unusable: %s", why);
    return 0;
  }
  fp->healthy = 1;
  fingerprint_attr(fp, "version", version);
  return 0;
}

/* ---- task validation -------------------------------------------------- */

/* The library's section name: its file name up to ".so" followed by the
 * end or a version ("libfoo.so.1" -> "libfoo"). 0, or -1 when the file
 * name does not look like a shared library. */
static int library_stem(const char *path, char *out, size_t outlen) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  for (const char *p = strstr(base, ".so"); p; p = strstr(p + 1, ".so")) {
    if (p > base && (p[3] == '\0' || p[3] == '.')) {
      snprintf(out, outlen, "%.*s", (int)(p - base), base);
      return 0;
    }
  }
  return -1;
}

/* ELF symbol names as a C or C++ compiler emits them. */
static int valid_symbol(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 1024 || (s[0] >= '0' && s[0] <= '9')) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '_' || *s == '.' || *s == '$'))
      return 0;
  return 1;
}

static const nat_library *find_library(const nat_state *st, const char *stem) {
  for (size_t i = 0; i < st->nlibs; i++)
    if (!strcmp(st->libs[i].name, stem)) return &st->libs[i];
  return NULL;
}

static int check_policy(const nat_state *st, const char *stem, const char *symbol, char *err,
                        size_t errlen) {
  const nat_library *lib = find_library(st, stem);
  char shown[256];
  shown_path(stem, shown, sizeof shown);
  if (!lib) {
    if (!st->require_section) return 0;
    snprintf(err, errlen,
             "task config: field \"script\": library \"%s\" has no [native.%s] section, and "
             "[module.native] require_section is true",
             shown, shown);
    return -EPERM;
  }
  if (!lib->symbols) return 0;
  char allowed[512] = "";
  size_t used = 0;
  for (size_t i = 0; i < lib->nsymbols; i++) {
    if (!strcmp(lib->symbols[i], symbol)) return 0;
    int w = snprintf(allowed + used, sizeof allowed - used, "%s%s", i ? ", " : "",
                     lib->symbols[i]);
    if (w > 0 && (size_t)w < sizeof allowed - used) used += (size_t)w;
  }
  snprintf(err, errlen,
           "task config: field \"symbol\": \"%s\" is not allowed by [native.%s] symbols (%s)",
           symbol, shown, allowed);
  return -EPERM;
}

/* The symbol must be a defined, exported function of the file: checked by
 * reading its dynamic symbol table, never by loading it here. */
static int check_elf(const char *library, const char *symbol, char *err, size_t errlen) {
  elfsym_info info;
  char why[384], shown[PATH_MAX];
  int rc = elfsym_lookup(library, symbol, &info, why, sizeof why);
  const char *base = strrchr(library, '/') ? strrchr(library, '/') + 1 : library;
  if (rc == 0 && !info.found) {
    snprintf(err, errlen,
             "task config: field \"symbol\": \"%s\" is not exported by %s (no dynamic symbol has "
             "that name; static and hidden-visibility functions are not exported)",
             symbol, shown_path(base, shown, sizeof shown));
    return -ENOENT;
  }
  if (rc == -ENOEXEC) {
    snprintf(err, errlen, "task config: field \"script\": %s is not a usable shared library: %s",
             shown_path(library, shown, sizeof shown), why);
    return rc;
  }
  if (rc != 0) {
    snprintf(err, errlen, "task config: field \"script\": %s: %s",
             shown_path(library, shown, sizeof shown), why);
    return rc;
  }
  const char *problem = NULL;
  char other[64];
  if (!info.defined)
    problem = "imported by the library, not defined in it";
  else if (info.type == STT_OBJECT || info.type == STT_COMMON || info.type == STT_TLS)
    problem = "a variable, not a function";
  else if (info.type != STT_FUNC && info.type != STT_GNU_IFUNC) {
    snprintf(other, sizeof other, "not a function (ELF symbol type %u)", info.type);
    problem = other;
  } else if (info.binding == STB_LOCAL)
    problem = "local to the library, not exported";
  else if (info.visibility == STV_HIDDEN || info.visibility == STV_INTERNAL)
    problem = "hidden, not exported";
  if (!problem) return 0;
  snprintf(err, errlen, "task config: field \"symbol\": \"%s\" in %s is %s", symbol,
           shown_path(base, shown, sizeof shown), problem);
  return -EINVAL;
}

static const char *option_str(const elide_task *task, const char *name) {
  const elide_value *v = elide_value_find(task->options, task->noptions, name);
  return v && v->is_set && v->str && v->str[0] ? v->str : NULL;
}

/* Everything that can be known before starting: each failure names the
 * task config field at fault. */
static int validate(const nat_state *st, const elide_task *task, const char *symbol,
                    const char *signature, char *err, size_t errlen) {
  char shown[64], stem[256], why[384], path[PATH_MAX];
  if (!task->script) {
    snprintf(err, errlen,
             "task config: field \"%s\": the native backend calls a function of a shared "
             "library; set \"script\" to a .so file in the task directory",
             task->code ? "code" : "script");
    return -EINVAL;
  }
  if (library_stem(task->script, stem, sizeof stem) != 0) {
    snprintf(err, errlen,
             "task config: field \"script\": %s is not a shared library (the file name must "
             "end in .so or .so.<version>)",
             shown_path(task->script, path, sizeof path));
    return -EINVAL;
  }
  if (!symbol) {
    snprintf(err, errlen, "task config: field \"symbol\": required by the native backend");
    return -EINVAL;
  }
  if (!valid_symbol(symbol)) {
    snprintf(err, errlen, "task config: field \"symbol\": \"%s\" is not a valid symbol name",
             nsig_printable(shown, sizeof shown, symbol));
    return -EINVAL;
  }
  if (!signature) {
    snprintf(err, errlen, "task config: field \"signature\": required by the native backend");
    return -EINVAL;
  }
  nsig sig;
  int rc = nsig_parse(signature, &sig, why, sizeof why);
  if (rc != 0) {
    snprintf(err, errlen, "task config: field \"signature\": %s", why);
    return rc;
  }
  nsig_value vals[NSIG_MAX_PARAMS];
  rc = nsig_convert_all(&sig, task->args, vals, why, sizeof why);
  if (rc != 0) {
    snprintf(err, errlen, "task config: field \"args\": %s", why);
    return rc;
  }
  nsig_values_free(vals, sig.nparams);
  if ((rc = check_policy(st, stem, symbol, err, errlen)) != 0) return rc;
  return check_elf(task->script, symbol, err, errlen);
}

static int nat_execute(void *state, const elide_task *task, void *task_ctx, elide_proc **out,
                       char *err, size_t errlen) {
  nat_state *st = state;
  const char *symbol = option_str(task, "symbol");
  const char *signature = option_str(task, "signature");
  int rc = validate(st, task, symbol, signature, err, errlen);
  if (rc != 0) return rc;
  /* validate() bounded the argument count by the signature's. */
  const char *argv[NSIG_MAX_PARAMS + 5];
  size_t n = 0;
  argv[n++] = st->runner;
  argv[n++] = task->script;
  argv[n++] = symbol;
  argv[n++] = signature;
  for (const char *const *a = task->args; a && *a; a++) argv[n++] = *a;
  argv[n] = NULL;
  elide_spawn_spec spec = {
      .size = sizeof spec, .argv = argv, .envp = task->envp, .cwd = task->task_dir};
  return st->host->spawn(task_ctx, &spec, out, err, errlen);
}

static const elide_module_ops nat_ops = {
    .size = sizeof(elide_module_ops),
    .init = nat_init,
    .fingerprint = nat_fingerprint,
    .execute = nat_execute,
    ELIDE_PASSTHROUGH_OPS,
};

static const char *const nat_languages[] = {"native", NULL};

static const elide_module_descriptor nat_descriptor = {
    .size = sizeof(elide_module_descriptor),
    .abi_major = ELIDE_ABI_MAJOR,
    .abi_minor = ELIDE_ABI_MINOR,
    .name = "native",
    .version = ELIDE_VERSION,
    .languages = nat_languages,
    .capabilities = ELIDE_CAP_SIGNAL | ELIDE_CAP_STATS | ELIDE_CAP_RECOVER,
    .config_keys = nat_config_keys,
    .nconfig_keys = sizeof nat_config_keys / sizeof nat_config_keys[0],
    .task_keys = nat_task_keys,
    .ntask_keys = sizeof nat_task_keys / sizeof nat_task_keys[0],
    .section_prefix = "native",
    .section_keys = nat_section_keys,
    .nsection_keys = sizeof nat_section_keys / sizeof nat_section_keys[0],
    .ops = &nat_ops,
};

ELIDE_MODULE_EXPORT const elide_module_descriptor *elide_module_entry_v1(void) {
  return &nat_descriptor;
}
