/* Go-style duration strings (see duration.h). Computed in nanoseconds
 * with overflow checks, as Go does, then rounded up to milliseconds. */
#include "duration.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  uint64_t ns;
} units[] = {
    /* two-byte names before "m" and "s" so "ms" is not read as "m" */
    {"ns", 1},
    {"us", 1000},
    {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000}, /* U+03BC Greek mu */
    {"ms", 1000000},
    {"s", 1000000000ull},
    {"m", 60ull * 1000000000ull},
    {"h", 3600ull * 1000000000ull},
};

#define MAX_NS ((uint64_t)INT64_MAX)

int duration_parse_ms(const char *text, int64_t *ms, char *why, size_t whylen) {
  const char *p = text ? text : "";
  if (!*p) {
    snprintf(why, whylen, "empty duration");
    return -EINVAL;
  }
  if (strcmp(p, "0") == 0) { /* Go's one unit-less form */
    *ms = 0;
    return 0;
  }
  uint64_t total = 0;
  while (*p) {
    uint64_t whole = 0, frac = 0, scale = 1;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
      if (whole > (MAX_NS - 9) / 10) goto range;
      whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
      for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
        if (scale < 1000000000000000000ull) { /* further digits are below 1 ns */
          frac = frac * 10 + (uint64_t)(*p - '0');
          scale *= 10;
        }
      }
    }
    if (!digits) {
      snprintf(why, whylen, "invalid duration \"%s\" (expected e.g. \"30s\", \"1m30s\", \"500ms\")",
               text);
      return -EINVAL;
    }
    size_t u = 0, n = sizeof units / sizeof units[0];
    while (u < n && strncmp(p, units[u].name, strlen(units[u].name)) != 0) u++;
    if (u == n) {
      snprintf(why, whylen, "%s unit in duration \"%s\" (use ns, us, ms, s, m or h)",
               (*p >= 'a' && *p <= 'z') || (*p & 0x80) ? "unknown" : "missing", text);
      return -EINVAL;
    }
    p += strlen(units[u].name);
    uint64_t unit = units[u].ns;
    if (whole > MAX_NS / unit) goto range;
    uint64_t v = whole * unit;
    /* frac/scale of a unit, at most one unit: fits. */
    v += (uint64_t)((long double)frac * (long double)unit / (long double)scale);
    if (v > MAX_NS - total) goto range;
    total += v;
  }
  *ms = (int64_t)(total / 1000000 + (total % 1000000 != 0));
  return 0;
range:
  snprintf(why, whylen, "duration \"%s\" is too long", text);
  return -ERANGE;
}

void duration_format_ms(int64_t ms, char *out, size_t outlen) {
  if (ms <= 0) {
    snprintf(out, outlen, ms == 0 ? "0s" : "%" PRId64 "ms", ms);
    return;
  }
  if (ms < 1000) {
    snprintf(out, outlen, "%" PRId64 "ms", ms);
    return;
  }
  int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
  char secs[32];
  if (frac) {
    snprintf(secs, sizeof secs, "%" PRId64 ".%03" PRId64, s, frac);
    for (size_t n = strlen(secs); secs[n - 1] == '0'; n--) secs[n - 1] = '\0';
  } else {
    snprintf(secs, sizeof secs, "%" PRId64, s);
  }
  if (h)
    snprintf(out, outlen, "%" PRId64 "h%" PRId64 "m%ss", h, m, secs);
  else if (m)
    snprintf(out, outlen, "%" PRId64 "m%ss", m, secs);
  else
    snprintf(out, outlen, "%ss", secs);
}
