/* Runs a short command and captures its output: the host service modules
 * use to fingerprint their runtimes (`node --version`). */
#ifndef ELIDE_EXEC_RUN_CAPTURE_H
#define ELIDE_EXEC_RUN_CAPTURE_H

#include <stddef.h>

/* See elide_host_services.run_capture in elide_module.h. */
int run_capture(const char *const *argv, int timeout_ms, char *out, size_t outlen, int *exit_code,
                char *err, size_t errlen);

#endif
