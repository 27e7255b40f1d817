/* TaskHandle.driver_state: what a later plugin process needs to re-attach
 * to a task without Nomad's task config (which Nomad does not persist).
 * Encoded as a msgpack map with a version key. */
#ifndef ELIDE_NOMAD_DRIVER_STATE_H
#define ELIDE_NOMAD_DRIVER_STATE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct driver_state {
  char module[64];
  char language[64];
  char state_dir[PATH_MAX];
  pid_t monitor_pid;
  uint64_t monitor_start_ticks;
  pid_t task_pid;
  int64_t started_at_ns;
  /* Daemon mode: the execution daemon running the task ("" = local; the
   * monitor fields are then 0). Optional key "daemon_endpoint". */
  char daemon_endpoint[512];
  /* Daemon mode: the task's elide-relay, owner of its output FIFOs.
   * Optional keys "relay_pid", "relay_start" (/proc starttime) and
   * "relay_socket"; 0 / "" in states written before the relay existed. */
  pid_t relay_pid;
  uint64_t relay_start_ticks;
  char relay_socket[PATH_MAX];
} driver_state;

/* Returns a malloc'd buffer (free()) or NULL on ENOMEM. */
uint8_t *driver_state_encode(const driver_state *s, size_t *len);
/* 0, or a negative code with a message naming the bad or missing key. */
int driver_state_decode(const uint8_t *buf, size_t len, driver_state *out, char *err,
                        size_t errlen);

#endif
