/* String vectors (see strv.h). */
#include "strv.h"

#include <stdlib.h>
#include <string.h>

char **strv_copy(const char *const *v) {
  size_t n = 0;
  while (v && v[n]) n++;
  char **out = calloc(n + 1, sizeof *out);
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (!(out[i] = strdup(v[i]))) {
      strv_free(out); /* the strings copied so far, then the vector */
      return NULL;
    }
  }
  return out;
}

void strv_free(char **v) {
  for (char **p = v; p && *p; p++) free(*p);
  free(v);
}
