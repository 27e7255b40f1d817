/* elide_module.h - the C ABI between the nomad-driver-elide host and its
 * language backend modules (.so files).
 *
 * ABI changelog (newest first; tables are append-only):
 *   0.1  internal draft used by the shipped python backend. Not yet stable:
 *        vendors should wait for 1.0, which freezes this layout.
 *
 * Only libc types cross this boundary. Every pointer documents its lifetime:
 * "borrowed" = valid for the duration of the call only; "static" = valid as
 * long as the module is loaded (modules are never unloaded). */
#ifndef ELIDE_MODULE_H
#define ELIDE_MODULE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ELIDE_ABI_MAJOR 0
#define ELIDE_ABI_MINOR 1

/* Status codes: 0 ok, negative errno-style values on failure. Every failing
 * call also writes a human message into the caller's `err` buffer. */

/* An opaque process started through the host's spawn service. Owned by the
 * host; modules only pass it back. */
typedef struct elide_proc elide_proc;

/* How a process ended: Nomad's convention (128+n and signal n for a death by
 * signal n). */
typedef struct elide_exit {
  int exit_code;
  int signal;
  int oom_killed;
} elide_exit;

/* What to start: built by a module, borrowed by the host for the call. */
typedef struct elide_spawn_spec {
  const char *const *argv; /* argv[0] absolute */
  const char *const *envp; /* complete environment */
  const char *cwd;
} elide_spawn_spec;

/* Services the host offers to modules. Const, owned by the host, valid for
 * the host's lifetime. Thread-safe. Append-only: a member added in minor N
 * says so. */
typedef struct elide_host_services {
  size_t size; /* sizeof the host's table; test members with ELIDE_HAS_SERVICE */
  /* Starts spec under the host's supervisor with the task's stdio, user and
   * identity (taken from `task_ctx`, the opaque host pointer passed to
   * execute). Returns once the program runs, or fails with a message naming
   * the program. */
  int (*spawn)(void *task_ctx, const elide_spawn_spec *spec, elide_proc **out, char *err,
               size_t errlen);
  /* 1 and *out when ended, 0 while running. */
  int (*proc_poll)(elide_proc *p, elide_exit *out);
  /* Delivers sig to the process group; -ESRCH once ended. */
  int (*proc_signal)(elide_proc *p, int sig);
  /* sig, then SIGKILL after grace_ms; returns once ended. */
  int (*proc_stop)(elide_proc *p, int sig, int grace_ms, elide_exit *out);
  /* Log through the host (hclog on the plugin's stderr). level: 0 trace .. 4 error. */
  void (*log)(int level, const char *module, const char *msg);
} elide_host_services;

#define ELIDE_HAS_SERVICE(svc, member)                                                        \
  ((svc)->size >= offsetof(elide_host_services, member) + sizeof((svc)->member) &&           \
   (svc)->member != NULL)

/* A task as a module sees it. Borrowed for the duration of `execute`. */
typedef struct elide_task {
  const char *id;            /* Nomad task id */
  const char *language;      /* one of the module's languages */
  const char *task_dir;      /* absolute; the working directory */
  const char *script;        /* absolute, resolved inside task_dir, or NULL */
  const char *code;          /* inline source, or NULL (exactly one of script/code) */
  const char *const *args;   /* NULL-terminated user arguments */
  const char *const *envp;   /* the task environment, loader variables removed */
} elide_task;

/* Fingerprint result, filled by the module. Strings are copied by the host
 * before the call returns to anything else, so static or module-owned
 * buffers that live until the next fingerprint call are fine. */
#define ELIDE_MAX_ATTRS 16
typedef struct elide_fingerprint {
  int healthy;               /* 1 healthy, 0 unhealthy */
  char description[256];     /* human reason when unhealthy */
  size_t nattrs;
  struct {
    char key[64];            /* host prefixes driver.elide.<module>. */
    char value[256];
  } attrs[ELIDE_MAX_ATTRS];
} elide_fingerprint;

/* A configuration value handed to a module: key/value strings. */
typedef struct elide_config_entry {
  const char *key;
  const char *value;
} elide_config_entry;

/* Operations a module implements. `state` is the module instance created by
 * init. All may be called concurrently from several host threads. */
typedef struct elide_module_ops {
  size_t size; /* sizeof this struct as the module was built */
  /* Creates the instance from config (borrowed). */
  int (*init)(const elide_host_services *host, const elide_config_entry *config, size_t nconfig,
              void **state, char *err, size_t errlen);
  /* Checks the runtime; may run it (e.g. `python3 --version`). */
  int (*fingerprint)(void *state, elide_fingerprint *out);
  /* Starts the task; `task_ctx` is passed through to host->spawn. */
  int (*execute)(void *state, const elide_task *task, void *task_ctx, elide_proc **out,
                 char *err, size_t errlen);
  /* 1 and *out when ended, 0 while running. */
  int (*status)(void *state, elide_proc *p, elide_exit *out);
  /* Stops: sig (0 = SIGINT), then SIGKILL after grace_ms; returns once ended. */
  int (*cancel)(void *state, elide_proc *p, int sig, int grace_ms, elide_exit *out);
  /* Delivers sig. */
  int (*signal)(void *state, elide_proc *p, int sig);
} elide_module_ops;

/* What the entry function returns: static, const. The first three fields
 * are guarded by the host before it reads anything else. */
typedef struct elide_module_descriptor {
  size_t size;                   /* sizeof(elide_module_descriptor) as built */
  uint32_t abi_major;            /* must equal the host's ELIDE_ABI_MAJOR */
  uint32_t abi_minor;            /* must be <= the host's ELIDE_ABI_MINOR */
  const char *name;              /* module name, e.g. "python" */
  const char *version;           /* module version, e.g. "0.1.0" */
  const char *const *languages;  /* NULL-terminated languages served */
  const elide_module_ops *ops;
} elide_module_descriptor;

/* The one symbol a module exports. */
#define ELIDE_MODULE_ENTRY_SYMBOL "elide_module_entry_v0"
typedef const elide_module_descriptor *(*elide_module_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
