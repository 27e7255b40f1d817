/* hclog JSON log lines (see log.h). Field rules from go-plugin: @message,
 * @level and @timestamp must be JSON strings; the timestamp needs exactly
 * six fractional digits or the agent treats the line as plain text. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int min_level = LOG_DEBUG;
static _Atomic int out_fd = 2;

void log_set_level(log_level min) { atomic_store(&min_level, (int)min); }
void log_set_fd(int fd) { atomic_store(&out_fd, fd); }

static const char *level_name(log_level l) {
  switch (l) {
  case LOG_TRACE: return "trace";
  case LOG_DEBUG: return "debug";
  case LOG_INFO: return "info";
  case LOG_WARN: return "warn";
  default: return "error";
  }
}

unsigned long json_escape(char *out, unsigned long cap, const char *s) {
  unsigned long n = 0;
  if (cap == 0) return 0;
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    char esc[8];
    const char *piece = esc;
    size_t len;
    switch (*p) {
    case '"': piece = "\\\""; break;
    case '\\': piece = "\\\\"; break;
    case '\n': piece = "\\n"; break;
    case '\r': piece = "\\r"; break;
    case '\t': piece = "\\t"; break;
    default:
      if (*p < 0x20) {
        snprintf(esc, sizeof esc, "\\u%04x", *p);
      } else {
        esc[0] = (char)*p;
        esc[1] = '\0';
      }
    }
    len = strlen(piece);
    if (n + len >= cap) break;
    memcpy(out + n, piece, len);
    n += len;
  }
  out[n] = '\0';
  return n;
}

/* Appends `,"key":"value"` to buf at *used, always leaving valid JSON: a
 * value that does not fit is cut (at an escape boundary), and a pair whose
 * key does not fit is dropped. Keeps 2 bytes for the closing "}\n". */
static void append_pair(char *buf, size_t cap, size_t *used, const char *key, const char *val) {
  size_t room = cap - *used;
  if (room < strlen(key) + 8 + 2) return;
  size_t n = *used;
  buf[n++] = ',';
  buf[n++] = '"';
  n += json_escape(buf + n, cap - n - 5, key); /* 5: '":"' + '"' + room for the value's NUL */
  buf[n++] = '"';
  buf[n++] = ':';
  buf[n++] = '"';
  n += json_escape(buf + n, cap - n - 3, val); /* 3: closing quote, then "}\n" */
  buf[n++] = '"';
  *used = n;
}

static void format_timestamp(char *out, size_t cap) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
}

void log_msg(log_level level, const char *msg, ...) {
  if ((int)level < atomic_load(&min_level)) return;
  char buf[8192], stamp[40];
  size_t used = 0;
  format_timestamp(stamp, sizeof stamp);
  used = (size_t)snprintf(buf, sizeof buf, "{\"@level\":\"%s\",\"@timestamp\":\"%s\",\"@module\":\"elide\"",
                          level_name(level), stamp);
  append_pair(buf, sizeof buf, &used, "@message", msg);
  va_list ap;
  va_start(ap, msg);
  for (const char *key = va_arg(ap, const char *); key; key = va_arg(ap, const char *)) {
    const char *val = va_arg(ap, const char *);
    append_pair(buf, sizeof buf, &used, key, val ? val : "");
  }
  va_end(ap);
  buf[used++] = '}'; /* append_pair always leaves room for these two */
  buf[used++] = '\n';
  int saved = errno;
  ssize_t r = write(atomic_load(&out_fd), buf, used);
  (void)r;
  errno = saved;
}
