/* elide_module.h - the C ABI between the nomad-driver-elide host and its
 * language backend modules (.so files). Self-contained: only libc types.
 *
 * ABI changelog (newest first). Structs and tables are append-only within a
 * major version: members are only ever added at the end, each marked with
 * the minor version that added it, and a size field in front tells which
 * members a given build has.
 *
 *   1.2  Optional op `warm_pool` appended to elide_module_ops: the command
 *        line of a pool process (a pre-initialised runtime that forks ready
 *        copies of itself) for warm starts; see "Warm starts" below. 1.0 and
 *        1.1 modules load unchanged (no warm starts).
 *   1.1  Optional op `repl` appended to elide_module_ops: the command line
 *        of an interactive session of a task's language (`nomad alloc exec
 *        ... elide-repl`). 1.0 modules load unchanged (their ops read it as
 *        NULL: no REPL).
 *   1.0  First stable ABI. Entry function elide_module_entry_v1 returning a
 *        size-prefixed descriptor (name, version, languages, capabilities,
 *        declared config/task/section keys, ops); host services table;
 *        ops init, fingerprint, execute, status, cancel, signal, stats,
 *        recover; typed configuration values.
 *   0.1  Internal draft (never released).
 *
 * Rules (learned from Redis modules, SQLite extensions, PostgreSQL's magic
 * block and Varnish VMODs):
 *   - A module exports exactly one symbol, ELIDE_MODULE_ENTRY_SYMBOL. Build
 *     with -fvisibility=hidden and -Wl,--no-undefined; link nothing from the
 *     host.
 *   - The host refuses a module whose abi_major differs from its own or
 *     whose abi_minor is newer than its own, naming the field and both
 *     values. Modules are never unloaded.
 *   - Every call returns 0 or a negative errno-style code; on failure it
 *     writes a human message into the host-owned buffer `err` (NUL-
 *     terminated, at most errlen bytes). Never longjmp or throw across.
 *   - Lifetimes: "borrowed" = valid for the duration of the call only;
 *     "static" = valid while the module is loaded (always); "host-owned" =
 *     valid until the host says otherwise, never freed by the module.
 *   - Threading: every op may be called concurrently from several host
 *     threads; module state lives in the instance created by init (no
 *     module globals beyond const data).
 */
#ifndef ELIDE_MODULE_H
#define ELIDE_MODULE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ELIDE_ABI_MAJOR 1
#define ELIDE_ABI_MINOR 2

/* ---------------------------------------------------------------------------
 * Typed configuration values
 *
 * A module declares the keys it accepts (its INI section [module.<name>],
 * its task config keys, its named sections such as [native.<lib>]); the host
 * parses and validates them (errors read "file:line: message") and hands the
 * typed values over. A module never sees inih, HCL or msgpack.
 * ------------------------------------------------------------------------- */

typedef enum elide_value_type {
  ELIDE_VALUE_STRING = 1, /* any string */
  ELIDE_VALUE_INT = 2,    /* signed 64-bit decimal integer */
  ELIDE_VALUE_BOOL = 3,   /* true/false (also yes/no, on/off, 1/0 in INI) */
  ELIDE_VALUE_PATH = 4,   /* an absolute path */
  ELIDE_VALUE_LIST = 5    /* a list of strings (INI: comma-separated; HCL: list(string)) */
} elide_value_type;

#define ELIDE_KEY_REQUIRED 1u /* the key must be set (no default) */

/* One declared key. Tables are static. */
typedef struct elide_key {
  const char *name;          /* lower_snake_case */
  uint32_t type;             /* elide_value_type */
  uint32_t flags;            /* ELIDE_KEY_* */
  const char *default_value; /* text form of the default, or NULL for none */
  const char *doc;           /* one line for operators; shown in the README reference */
} elide_key;

/* One typed value. Host-owned; valid as documented where it is handed over. */
typedef struct elide_value {
  const char *name;         /* the declared key's name */
  uint32_t type;            /* elide_value_type */
  int is_set;               /* 0: neither set nor defaulted */
  const char *str;          /* STRING, PATH: the text; INT, BOOL: the text as written */
  int64_t i;                /* INT; BOOL as 0/1 */
  const char *const *list;  /* LIST: NULL-terminated */
  size_t nlist;             /* LIST: element count */
} elide_value;

/* A named section of a declared kind, e.g. [native.mathlib]. */
typedef struct elide_section {
  const char *name;          /* the part after the prefix: "mathlib" */
  const elide_value *values; /* one per declared section key, in declaration order */
  size_t nvalues;
} elide_section;

/* Looks a value up by key name; NULL if absent. */
static inline const elide_value *elide_value_find(const elide_value *vals, size_t n,
                                                  const char *name) {
  for (size_t i = 0; i < n; i++) {
    const char *a = vals[i].name, *b = name;
    while (*a && *a == *b) a++, b++;
    if (*a == *b) return &vals[i];
  }
  return NULL;
}

/* ---------------------------------------------------------------------------
 * Processes, exits and stats
 * ------------------------------------------------------------------------- */

/* A process started through the host's spawn service (or re-attached by
 * proc_attach). Opaque; host-owned until the host destroys the task. */
typedef struct elide_proc elide_proc;

/* How a task ended, in Nomad's convention: exit status, or 128+n with
 * signal n for a death by signal n. Fixed layout: changing it needs a new
 * major (as does elide_fingerprint's). */
typedef struct elide_exit {
  int exit_code;
  int signal;
  int oom_killed;
} elide_exit;

/* Resource usage of a task's processes. The caller sets `size` to the size
 * of its buffer; the filler writes at most that many bytes, so either side
 * may be built against a newer minor. */
typedef struct elide_stats {
  size_t size;             /* set by the caller: sizeof its elide_stats */
  uint64_t cpu_user_ns;    /* cumulative */
  uint64_t cpu_system_ns;  /* cumulative */
  uint64_t memory_rss;     /* bytes, now */
  uint64_t memory_peak;    /* bytes, peak so far (0 if unknown) */
  uint32_t nprocs;
} elide_stats;

/* What a module asks the host to start. Borrowed for the spawn call. */
typedef struct elide_spawn_spec {
  size_t size;               /* sizeof(elide_spawn_spec) as the module built it */
  const char *const *argv;   /* NULL-terminated; argv[0] is an absolute path */
  const char *const *envp;   /* the complete environment, NULL-terminated */
  const char *cwd;           /* absolute working directory */
} elide_spawn_spec;

/* ---------------------------------------------------------------------------
 * Host services: a const table owned by the host, valid for the process
 * lifetime, thread-safe. Append-only; test a member with ELIDE_HAS_SERVICE.
 * ------------------------------------------------------------------------- */
typedef struct elide_host_services {
  size_t size;        /* sizeof the host's table */
  uint32_t abi_major; /* the host's ELIDE_ABI_MAJOR */
  uint32_t abi_minor; /* the host's ELIDE_ABI_MINOR */

  /* 1.0: Starts spec under the host's per-task supervisor, with the task's
   * stdio, user, cgroup and identity taken from `task_ctx` (the opaque host
   * pointer given to execute). Returns once the program runs, or fails with
   * a message naming the program. */
  int (*spawn)(void *task_ctx, const elide_spawn_spec *spec, elide_proc **out, char *err,
               size_t errlen);
  /* 1.0: Re-attaches the process of a task started by an earlier host
   * process (recover). */
  int (*proc_attach)(void *task_ctx, elide_proc **out, char *err, size_t errlen);
  /* 1.0: 1 and *out when ended, 0 while running. */
  int (*proc_poll)(elide_proc *p, elide_exit *out);
  /* 1.0: Waits up to timeout_ms (< 0 forever): 1 and *out when ended, 0 on timeout. */
  int (*proc_wait)(elide_proc *p, int timeout_ms, elide_exit *out);
  /* 1.0: Delivers sig to the task's process group; -ESRCH once ended. */
  int (*proc_signal)(elide_proc *p, int sig);
  /* 1.0: sig (0 = SIGINT), then SIGKILL after grace_ms; returns once ended. */
  int (*proc_stop)(elide_proc *p, int sig, int grace_ms, elide_exit *out);
  /* 1.0: Current usage of the task's processes. */
  int (*proc_stats)(elide_proc *p, elide_stats *out);
  /* 1.0: Runs argv (absolute argv[0]) with an empty stdin and a minimal
   * environment, captures up to outlen-1 bytes of stdout+stderr into out
   * (NUL-terminated), kills it after timeout_ms. *exit_code gets its exit
   * status (128+n for signal n). For fingerprints (`node --version`). */
  int (*run_capture)(const char *const *argv, int timeout_ms, char *out, size_t outlen,
                     int *exit_code, char *err, size_t errlen);
  /* 1.0: Logs through the host (hclog JSON on the plugin's stderr).
   * level: 0 trace, 1 debug, 2 info, 3 warn, 4 error. */
  void (*log)(int level, const char *module, const char *msg);
} elide_host_services;

#define ELIDE_HAS_SERVICE(svc, member)                                                        \
  ((svc)->size >= offsetof(elide_host_services, member) + sizeof((svc)->member) &&           \
   (svc)->member != NULL)

/* ---------------------------------------------------------------------------
 * What modules receive
 * ------------------------------------------------------------------------- */

/* The module's configuration: its [module.<name>] values (one per declared
 * config key, in declaration order) and every section of its declared kind.
 * Borrowed for the init call: copy what you keep. */
typedef struct elide_module_config {
  size_t size;
  const elide_value *values;
  size_t nvalues;
  const elide_section *sections;
  size_t nsections;
} elide_module_config;

/* A task. Borrowed for the execute/recover call: copy what you keep. */
typedef struct elide_task {
  size_t size;               /* sizeof(elide_task) as the host built it */
  const char *id;            /* Nomad task id */
  const char *language;      /* one of the module's languages */
  const char *task_dir;      /* absolute; the working directory */
  const char *script;        /* absolute path resolved inside task_dir, or NULL */
  const char *code;          /* inline source, or NULL; exactly one of script/code */
  const char *const *args;   /* NULL-terminated user arguments */
  const char *const *envp;   /* the task environment, loader variables removed */
  const elide_value *options; /* one per declared task key, in declaration order */
  size_t noptions;
} elide_task;

/* A fingerprint, filled by the module into a host-owned struct. */
#define ELIDE_MAX_ATTRS 16
typedef struct elide_fingerprint {
  int healthy;           /* 1 healthy, 0 unhealthy */
  char description[256]; /* the human reason when unhealthy */
  size_t nattrs;
  struct {
    char key[64];        /* the host prefixes "driver.elide.<module>." */
    char value[256];
  } attrs[ELIDE_MAX_ATTRS];
} elide_fingerprint;

/* ---------------------------------------------------------------------------
 * Warm starts (1.2)
 *
 * A module whose runtime can be initialised ahead of time and then forked
 * (CPython can; node and the WASI engines cannot) describes a pool process,
 * the "zygote". The host starts it with the module's `envp`, cwd "/", fd 0
 * reading `bootstrap` until EOF, fd 1-2 on /dev/null and fd 3 a SOCK_SEQPACKET
 * control socket, and keeps `warm_pool` (an INI key of [module.<name>])
 * forked copies ready, each already parented by its own elide-monitor. When
 * execute spawns a program whose argv[0] equals `runtime`, the host hands
 * the spawn spec to a ready copy instead of executing it: the copy receives
 * the task's stdio, user, working directory, argv and environment (its
 * cgroups and oom_score_adj are set from outside) and becomes the task
 * before any task code runs. A copy may refuse a task it cannot make
 * indistinguishable from a cold start (python: PYTHON* or locale variables
 * differing from the zygote's start-up); the monitor then starts the task
 * cold, and the task event says why. The wire protocol between host, zygote,
 * monitor and copy is in abi/warm-starts.md.
 * ------------------------------------------------------------------------- */
typedef struct elide_warm_pool_spec {
  size_t size;                /* set by the host: sizeof its struct */
  const char *const *argv;    /* the zygote's command line, argv[0] absolute */
  const char *bootstrap;      /* bytes written to the zygote's fd 0, or NULL */
  size_t bootstrap_len;
  const char *runtime;        /* spawns with this argv[0] are served warm */
  const char *description;    /* for events and logs, e.g. "python3 3.11 zygote" */
  const char *const *envp;    /* the zygote's environment, NULL for an empty one: the
                                 variables its runtime reads at start-up, as tasks are
                                 expected to have them (python: the host's own LANG,
                                 LC_*, PYTHON*, which Nomad passes on to tasks) */
} elide_warm_pool_spec;

/* ---------------------------------------------------------------------------
 * What modules implement
 * ------------------------------------------------------------------------- */

#define ELIDE_CAP_SIGNAL 0x1u  /* signal is meaningful */
#define ELIDE_CAP_STATS 0x2u   /* stats reports real figures */
#define ELIDE_CAP_RECOVER 0x4u /* recover re-attaches tasks after a host restart */

typedef struct elide_module_ops {
  size_t size; /* sizeof(elide_module_ops) as the module was built */
  /* 1.0: Creates an instance from its configuration. `host` is static. May
   * be called more than once (a reconfiguration); earlier instances stay
   * valid for tasks started with them. */
  int (*init)(const elide_host_services *host, const elide_module_config *config, void **state,
              char *err, size_t errlen);
  /* 1.0: Checks the runtime (may run it briefly through run_capture). */
  int (*fingerprint)(void *state, elide_fingerprint *out);
  /* 1.0: Validates the task and starts it through host->spawn, passing
   * `task_ctx` through. Must reject bad task options with a message naming
   * the option before starting anything. */
  int (*execute)(void *state, const elide_task *task, void *task_ctx, elide_proc **out,
                 char *err, size_t errlen);
  /* 1.0: 1 and *out when ended, 0 while running. */
  int (*status)(void *state, elide_proc *p, elide_exit *out);
  /* 1.0: Stops: sig (0 = SIGINT), SIGKILL after grace_ms; returns once ended. */
  int (*cancel)(void *state, elide_proc *p, int sig, int grace_ms, elide_exit *out);
  /* 1.0: Delivers sig. */
  int (*signal)(void *state, elide_proc *p, int sig);
  /* 1.0: Resource usage. */
  int (*stats)(void *state, elide_proc *p, elide_stats *out);
  /* 1.0: Re-attaches a task started by an earlier host process (usually
   * host->proc_attach). */
  int (*recover)(void *state, const elide_task *task, void *task_ctx, elide_proc **out,
                 char *err, size_t errlen);
  /* 1.1, optional (NULL: this backend has no REPL). Fills `argv`, a
   * host-owned array of `cap` pointers, with a NULL-terminated command line
   * (argv[0] an absolute path) that starts an interactive session of
   * task->language the way this instance runs that language for tasks (the
   * same runtime and settings). The host runs it in the task's context
   * (environment, working directory, user, cgroup), normally on a terminal:
   * `nomad alloc exec -i -t <alloc> elide-repl [ARGS...]`. `task` is
   * borrowed and has id, language, task_dir, envp, and in args the words
   * after elide-repl; script, code and options are NULL/0. The strings put
   * in argv must be static, owned by `state`, or borrowed from `task`: the
   * host copies them before the call's `task` goes away. Returns 0, -ENOSPC
   * when cap is too small, or another negative code with a message. */
  int (*repl)(void *state, const elide_task *task, const char **argv, size_t cap, char *err,
              size_t errlen);
  /* 1.2, optional (NULL: no warm starts). Fills `out` (whose size the host
   * set) with this instance's pool process; every pointer must stay valid
   * while `state` lives (static or owned by state). Returns 0, or a
   * negative code with a message when this instance cannot have a pool
   * (the host then starts every task cold and logs why). */
  int (*warm_pool)(void *state, elide_warm_pool_spec *out, char *err, size_t errlen);
} elide_module_ops;

/* What the entry function returns: static and const. The host reads size,
 * abi_major and abi_minor first and nothing else unless they are accepted. */
typedef struct elide_module_descriptor {
  size_t size;                  /* sizeof(elide_module_descriptor) as built */
  uint32_t abi_major;           /* must equal the host's ELIDE_ABI_MAJOR */
  uint32_t abi_minor;           /* must be <= the host's ELIDE_ABI_MINOR */
  const char *name;             /* [a-z0-9_]+, unique among loaded modules */
  const char *version;          /* the module's own version, e.g. "1.2.0" */
  const char *const *languages; /* NULL-terminated; each served by one module only */
  uint64_t capabilities;        /* ELIDE_CAP_* */
  const elide_key *config_keys; /* keys of [module.<name>] (the host adds `mode`) */
  size_t nconfig_keys;
  const elide_key *task_keys;   /* extra keys of a job's task config block */
  size_t ntask_keys;
  const char *section_prefix;   /* e.g. "native" for [native.<name>] sections, or NULL */
  const elide_key *section_keys;
  size_t nsection_keys;
  const elide_module_ops *ops;
} elide_module_descriptor;

/* The one symbol a module exports:
 *   ELIDE_MODULE_EXPORT const elide_module_descriptor *elide_module_entry_v1(void);
 * It must do nothing but return the static descriptor. */
#define ELIDE_MODULE_ENTRY_SYMBOL "elide_module_entry_v1"
typedef const elide_module_descriptor *(*elide_module_entry_fn)(void);

#if defined(__GNUC__)
#define ELIDE_MODULE_EXPORT __attribute__((visibility("default")))
#else
#define ELIDE_MODULE_EXPORT
#endif

#ifdef __cplusplus
}
#endif
#endif
