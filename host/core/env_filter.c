/* Denied task environment variables (see env_filter.h). */
#include "env_filter.h"

#include <string.h>

int env_name_is_denied(const char *name) {
  static const char *const denied[] = {"GCONV_PATH", "GLIBC_TUNABLES", "MALLOC_TRACE",
                                       "LOCPATH",    "NLSPATH",        "HOSTALIASES",
                                       "RESOLV_HOST_CONF", NULL};
  if (strncmp(name, "LD_", 3) == 0) return 1;
  for (const char *const *d = denied; *d; d++)
    if (strcmp(name, *d) == 0) return 1;
  return 0;
}
