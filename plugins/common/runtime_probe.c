/* Runtime version probing for fingerprints (see runtime_probe.h). */
#include "runtime_probe.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int runtime_from_config(const elide_module_config *config, const char *fallback, char *out,
                        size_t cap, char *err, size_t errlen) {
  const elide_value *rt = elide_value_find(config->values, config->nvalues, "runtime");
  snprintf(out, cap, "%s", rt && rt->is_set ? rt->str : fallback);
  if (out[0] != '/') {
    snprintf(err, errlen, "runtime \"%s\" must be an absolute path", out);
    return -EINVAL;
  }
  return 0;
}

void fingerprint_attr(elide_fingerprint *fp, const char *key, const char *value) {
  if (fp->nattrs >= ELIDE_MAX_ATTRS) return;
  snprintf(fp->attrs[fp->nattrs].key, sizeof fp->attrs[0].key, "%s", key);
  snprintf(fp->attrs[fp->nattrs].value, sizeof fp->attrs[0].value, "%s", value);
  fp->nattrs++;
}

int runtime_version(const elide_host_services *host, const char *runtime, const char *prefix,
                    const char *what, char *out, size_t outlen, char *why, size_t whylen) {
  /* Checked first so that a missing runtime reads as such, not as the exit
   * status of a failed exec. */
  if (access(runtime, X_OK) != 0) {
    snprintf(why, whylen, "%s: %s", runtime, strerror(errno));
    return -1;
  }
  const char *argv[] = {runtime, "--version", NULL};
  char buf[256];
  int code = 0;
  if (host->run_capture(argv, 5000, buf, sizeof buf, &code, why, whylen) != 0) return -1;
  buf[strcspn(buf, "\r\n")] = '\0';
  if (code != 0) {
    snprintf(why, whylen, "%s --version exited with %d: %s", runtime, code, buf);
    return -1;
  }
  size_t pl = strlen(prefix);
  if (strncmp(buf, prefix, pl) != 0 || buf[pl] < '0' || buf[pl] > '9') {
    snprintf(why, whylen, "%s --version printed \"%s\", not a %s version", runtime, buf, what);
    return -1;
  }
  snprintf(out, outlen, "%s", buf + pl);
  return 0;
}
