/* Durations as Nomad's job files write them (Go's time.ParseDuration
 * syntax: "30s", "1m30s", "1.5h", "250ms"), in milliseconds. */
#ifndef ELIDE_NOMAD_DURATION_H
#define ELIDE_NOMAD_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Parses one or more <number><unit> terms (units ns, us, µs, ms, s, m, h;
 * decimals allowed; no sign, no spaces) into whole milliseconds, rounded
 * up so that a non-zero duration never becomes 0. Returns 0, or -EINVAL
 * with a reason in `why` ("missing unit in \"30\"", ...), or -ERANGE above
 * ~292 years. */
int duration_parse_ms(const char *text, int64_t *ms, char *why, size_t whylen);

/* Formats ms the way Go prints a time.Duration, without a zero tail:
 * 2000 -> "2s", 1500 -> "1.5s", 90000 -> "1m30s", 250 -> "250ms",
 * 3600000 -> "1h0m0s". */
void duration_format_ms(int64_t ms, char *out, size_t outlen);

#endif
