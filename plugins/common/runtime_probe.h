/* Fingerprint helpers shared by the shipped modules: adding attributes, and
 * reading an interpreter's version from `<runtime> --version` through the
 * host's run_capture service. */
#ifndef ELIDE_RUNTIME_PROBE_H
#define ELIDE_RUNTIME_PROBE_H

#include "elide_module.h"

/* The module's `runtime` key (a PATH) into out, or `fallback` when unset;
 * refuses a relative path with a message naming the key. */
int runtime_from_config(const elide_module_config *config, const char *fallback, char *out,
                        size_t cap, char *err, size_t errlen);

/* Appends one attribute (ignored when the table is full). */
void fingerprint_attr(elide_fingerprint *fp, const char *key, const char *value);

/* Runs `runtime --version` (5 s deadline). Its first line must start with
 * `prefix` followed by a digit; *out gets the rest of that line ("3.11.2").
 * On failure `why` says what went wrong, naming `what` ("Python", "node"):
 * a runtime that cannot be executed, a non-zero exit with its output, or
 * output that is not a version. */
int runtime_version(const elide_host_services *host, const char *runtime, const char *prefix,
                    const char *what, char *out, size_t outlen, char *why, size_t whylen);

#endif
