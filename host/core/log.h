/* Structured logging as hclog JSON lines on stderr, the format Nomad's
 * go-plugin client parses to give plugin log lines their level and fields.
 * Thread-safe; each line is one write(2), so lines never interleave. */
#ifndef ELIDE_LOG_H
#define ELIDE_LOG_H

typedef enum { LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Lines below `min` are dropped (default LOG_DEBUG). */
void log_set_level(log_level min);
/* Where lines go (default 2). Used by tests. */
void log_set_fd(int fd);

/* Logs `msg` with key/value string pairs, terminated by a NULL key:
 *   log_msg(LOG_INFO, "task started", "task_id", id, "pid", "42", NULL);
 * NULL values are written as empty strings. Never fails visibly: a write
 * error (EPIPE after the agent died) is ignored. */
void log_msg(log_level level, const char *msg, ...) __attribute__((sentinel));

/* Appends `s` to `out` as a JSON string body (no quotes), escaping quotes,
 * backslashes and control characters. Returns the bytes written, never more
 * than cap-1; output stays NUL-terminated. Shared with other JSON writers. */
unsigned long json_escape(char *out, unsigned long cap, const char *s);

#endif
