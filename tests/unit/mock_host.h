/* A mock host for testing backend modules without the plugin: a real
 * elide_host_services table whose spawn forks and execs directly (no
 * monitor), writing the task's stdout/stderr into files, and whose
 * run_capture really runs the command. Modules are tested against the same
 * ABI they meet in the host, loaded with dlopen from their built .so. */
#ifndef ELIDE_TEST_MOCK_HOST_H
#define ELIDE_TEST_MOCK_HOST_H

#include "elide_module.h"

/* The task_ctx modules pass to spawn: where the task's output goes. */
typedef struct mock_task_ctx {
  const char *stdout_path; /* created/truncated */
  const char *stderr_path;
} mock_task_ctx;

extern const elide_host_services mock_host_services;

/* dlopens `path` and returns its descriptor (NULL with a message on stderr). */
const elide_module_descriptor *mock_load_module(const char *path);

/* Runs one task to completion through the module: init with `values`
 * (one per declared config key, NULL entries fall back to the declared
 * defaults), execute, wait. Output is read back into *out / *err_out
 * (malloc'd). Returns 0 and fills *exit, or the execute error code with the
 * message in err. `options` maps the module's task keys by name->text pairs
 * (NULL-terminated), decoded per declared type. */
int mock_run_task(const elide_module_descriptor *d, const char *const *config_pairs,
                  const char *task_dir, const char *script, const char *code,
                  const char *const *args, const char *const *envp,
                  const char *const *option_pairs, elide_exit *exit, char **out, char **err_out,
                  char *err, size_t errlen);

#endif
