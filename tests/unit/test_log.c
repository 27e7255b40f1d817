/* Unit test of the hclog JSON logger: every line is one JSON object with
 * string @level/@message/@timestamp (the agent panics on other types), a
 * six-digit fractional timestamp, and stays valid when cut to size. */
#include "../check.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Minimal JSON object check: {"k":"v",...} with only string values. */
static int valid_flat_object(const char *s, size_t len) {
  size_t i = 0;
  if (len < 3 || s[0] != '{' || s[len - 2] != '}' || s[len - 1] != '\n') return 0;
  i = 1;
  for (;;) {
    for (int part = 0; part < 2; part++) { /* key, then value */
      if (s[i++] != '"') return 0;
      while (i < len && s[i] != '"') {
        if ((unsigned char)s[i] < 0x20) return 0;
        if (s[i] == '\\') {
          i++;
          if (s[i] == 'u') i += 4;
        }
        i++;
      }
      if (i >= len) return 0;
      i++;
      if (part == 0 && s[i++] != ':') return 0;
    }
    if (s[i] == '}') return i == len - 2;
    if (s[i++] != ',') return 0;
  }
}

static char *capture(void (*emit)(void), size_t *len) {
  int fds[2];
  if (pipe(fds) != 0) return NULL;
  log_set_fd(fds[1]);
  emit();
  log_set_fd(2);
  close(fds[1]);
  char *buf = calloc(1, 65536);
  ssize_t n, used = 0;
  while ((n = read(fds[0], buf + used, 65535 - (size_t)used)) > 0) used += n;
  close(fds[0]);
  *len = (size_t)used;
  return buf;
}

static char *big;
static void emit_big(void) { log_msg(LOG_WARN, big, "key", big, "after", "x", NULL); }
static void emit_odd(void) {
  log_msg(LOG_ERROR, "quote \" backslash \\ newline \n tab \t ctrl \x01", "k\"", "v\\", NULL);
}
static void emit_filtered(void) {
  log_set_level(LOG_INFO);
  log_msg(LOG_DEBUG, "dropped", NULL);
  log_msg(LOG_INFO, "kept", NULL);
  log_set_level(LOG_DEBUG);
}

int main(void) {
  size_t len;
  big = malloc(20001);
  memset(big, '"', 20000);
  big[20000] = '\0';
  char *out = capture(emit_big, &len);
  CHECK(out && len > 100 && len <= 8192 && valid_flat_object(out, len));
  free(out);

  out = capture(emit_odd, &len);
  CHECK(out && valid_flat_object(out, len));
  CHECK_STR_CONTAINS(out, "\"@level\":\"error\"");
  CHECK_STR_CONTAINS(out, "quote \\\" backslash \\\\ newline \\n tab \\t ctrl \\u0001");
  CHECK_STR_CONTAINS(out, "\"k\\\"\":\"v\\\\\"");
  /* @timestamp: 2026-11-21T10:00:00.123456Z */
  const char *ts = out ? strstr(out, "\"@timestamp\":\"") : NULL;
  CHECK(ts && ts[14 + 19] == '.' && ts[14 + 26] == 'Z');
  free(out);

  out = capture(emit_filtered, &len);
  CHECK(out && !strstr(out, "dropped") && strstr(out, "kept"));
  free(out);
  free(big);
  return CHECK_DONE();
}
