/* One timer thread for the daemon: execution timeouts, SIGKILL escalation,
 * WaitExecution deadlines and the deletion of finished executions. A timer
 * fires once, on the timer thread (callbacks must not block for long), and
 * its `release` runs exactly once afterwards, or when it is cancelled
 * before firing, or at timers_stop. */
#ifndef ELIDE_EXECD_TIMERS_H
#define ELIDE_EXECD_TIMERS_H

#include <stdint.h>

typedef void (*timer_fn)(void *arg);

/* Starts the thread; 0 or -errno. */
int timers_start(void);
/* Stops the thread (a running callback finishes first) and releases every
 * pending timer without firing it. Later timers_add calls release at once
 * and return 0. */
void timers_stop(void);

/* Fires `fire(arg)` after delay_ms (<= 0: as soon as possible), then
 * `release(arg)` (may be NULL). Returns the timer's id (never 0), or 0 if
 * it could not be added (release has then already run). */
uint64_t timers_add(int64_t delay_ms, timer_fn fire, timer_fn release, void *arg);

/* Cancels a pending timer (then runs its release here, on the caller's
 * thread) and returns 1; 0 if it already fired, is firing, or never
 * existed. Id 0 is ignored. */
int timers_cancel(uint64_t id);

/* Milliseconds from now until the CLOCK_REALTIME instant `at_ns` (<= 0
 * when it has passed): deadlines persisted across restarts are wall-clock. */
int64_t timers_ms_until_realtime(int64_t at_ns);
int64_t timers_realtime_ns(void);

#endif
