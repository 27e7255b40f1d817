/* WASI engines of the wasm backend: one description per engine (where its
 * binary is looked for, how its version is read, how its command line is
 * built), and the helpers that turn a description into an argv. */
#ifndef ELIDE_WASM_ENGINES_H
#define ELIDE_WASM_ENGINES_H

#include <stddef.h>

/* The guest path under which every engine preopens the task directory. */
#define WASM_GUEST_DIR "/"

/* How one engine is run. All members are static. Templates may contain
 * {host} and {guest} (preopen) or {kv} (one NAME=VALUE of the task
 * environment); `lead` is copied verbatim. The command line is
 *   binary lead... preopen... env... [before_module] module [after_module args...]
 * where after_module is only emitted when there are user arguments. */
typedef struct wasm_engine {
  const char *name;
  const char *const *candidates; /* default binaries, first executable wins; "~/" = $HOME/ */
  const char *version_arg;       /* prints the version: "--version" or "version" */
  int min_major;                 /* oldest usable major version (0: any) */
  const char *const *lead;       /* arguments right after the binary */
  const char *const *preopen;    /* arguments for the preopened task directory */
  const char *env;               /* one argument per env entry; NULL: process env only */
  const char *before_module;     /* ends the engine's options ("--"), or NULL */
  const char *after_module;      /* separator before user args, or NULL */
} wasm_engine;

/* The engine called `name`, or NULL. */
const wasm_engine *wasm_engine_find(const char *name);

/* "node, wazero, wasmtime, wasmedge", for messages. Static. */
const char *wasm_engine_names(void);

/* Picks the engine binary: `configured` when non-empty, else the first
 * executable candidate (with "~/" expanded from `home`, skipped when home
 * is empty), else the first candidate, so that messages name a path.
 * Returns 1 when out is executable, 0 otherwise with the reason in why. */
int wasm_engine_resolve(const wasm_engine *e, const char *configured, const char *home, char *out,
                        size_t outlen, char *why, size_t whylen);

/* Builds the argv that runs `module` (absolute) under `binary` with the
 * task directory `host_dir` preopened as WASM_GUEST_DIR, the environment
 * `envp` and the user `args` (both NULL-terminated, may be NULL). *out is
 * NULL-terminated and malloc'd, strings included; free it with
 * wasm_argv_free. Returns 0 or -ENOMEM. */
int wasm_engine_argv(const wasm_engine *e, const char *binary, const char *host_dir,
                     const char *module, const char *const *envp, const char *const *args,
                     char ***out);
void wasm_argv_free(char **argv);

/* Extracts a version from an engine's version output ("v20.11.1",
 * "wasmtime 25.0.0 (...)", "wasmedge version 0.14.1"): the first token of
 * the first line that starts with a digit, a leading 'v' dropped, or the
 * whole first line. Returns 0, or -1 when the output is empty. */
int wasm_version_parse(const char *output, char *out, size_t outlen);

#endif
