/* The exit record's text format, shared by the monitor (writes it) and the
 * plugin (reads it): a header line, then one `key=value` line per field. */
#include "mon_proto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_HEADER "elide-exit-record 1\n"

int exit_record_format(char *buf, size_t cap, const mon_exit *e) {
  int n = snprintf(buf, cap,
                   RECORD_HEADER "exit_code=%d\nsignal=%d\noom_killed=%d\nfinished_at_ns=%" PRId64
                                 "\ntask_pid=%" PRId32 "\n",
                   e->exit_code, e->signal, e->oom_killed, e->finished_at_ns, e->task_pid);
  if (n >= 0 && (size_t)n < cap && e->has_rusage)
    n += snprintf(buf + n, cap - (size_t)n,
                  "cpu_user_ns=%" PRIu64 "\ncpu_system_ns=%" PRIu64 "\nmax_rss_bytes=%" PRIu64 "\n",
                  e->cpu_user_ns, e->cpu_system_ns, e->max_rss_bytes);
  if (n >= 0 && (size_t)n < cap && e->timed_out)
    n += snprintf(buf + n, cap - (size_t)n,
                  "timed_out=1\ntimeout_killed=%d\ntimeout_signal=%d\ntimeout_ms=%" PRId64
                  "\ntimeout_grace_ms=%" PRId64 "\n",
                  e->timeout_killed != 0, e->timeout_signal, e->timeout_ms, e->timeout_grace_ms);
  if (n < 0 || (size_t)n >= cap) return -ENOSPC;
  return n;
}

/* Parses a decimal integer spanning exactly [s, end). */
static int parse_i64(const char *s, const char *end, int64_t *out) {
  if (s == end || end - s > 20) return -EINVAL;
  char tmp[24];
  memcpy(tmp, s, (size_t)(end - s));
  tmp[end - s] = '\0';
  char *stop;
  errno = 0;
  long long v = strtoll(tmp, &stop, 10);
  if (errno || *stop || stop == tmp) return -EINVAL;
  *out = v;
  return 0;
}

int exit_record_parse(const char *buf, size_t len, mon_exit *out) {
  size_t hl = strlen(RECORD_HEADER);
  if (len < hl || memcmp(buf, RECORD_HEADER, hl) != 0) return -EINVAL;
  mon_exit e = {0};
  unsigned seen = 0; /* bit per required field */
  const char *p = buf + hl, *end = buf + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) return -EINVAL; /* a truncated last line */
    const char *eq = memchr(p, '=', (size_t)(nl - p));
    if (!eq) return -EINVAL;
    int64_t v;
    if (parse_i64(eq + 1, nl, &v) < 0) return -EINVAL;
    size_t kl = (size_t)(eq - p);
#define KEY(k) (kl == strlen(k) && memcmp(p, k, kl) == 0)
    if (KEY("exit_code")) e.exit_code = (int)v, seen |= 1;
    else if (KEY("signal")) e.signal = (int)v, seen |= 2;
    else if (KEY("finished_at_ns")) e.finished_at_ns = v, seen |= 4;
    else if (KEY("oom_killed")) e.oom_killed = v != 0;
    else if (KEY("task_pid")) e.task_pid = (int32_t)v;
    else if (KEY("cpu_user_ns")) e.cpu_user_ns = v > 0 ? (uint64_t)v : 0, e.has_rusage = 1;
    else if (KEY("cpu_system_ns")) e.cpu_system_ns = v > 0 ? (uint64_t)v : 0, e.has_rusage = 1;
    else if (KEY("max_rss_bytes")) e.max_rss_bytes = v > 0 ? (uint64_t)v : 0, e.has_rusage = 1;
    else if (KEY("timed_out")) e.timed_out = v != 0;
    else if (KEY("timeout_killed")) e.timeout_killed = v != 0;
    else if (KEY("timeout_signal")) e.timeout_signal = (int)v;
    else if (KEY("timeout_ms")) e.timeout_ms = v;
    else if (KEY("timeout_grace_ms")) e.timeout_grace_ms = v;
    /* unknown keys are skipped: later monitors may add fields */
#undef KEY
    p = nl + 1;
  }
  if (seen != 7) return -EINVAL;
  *out = e;
  return 0;
}
