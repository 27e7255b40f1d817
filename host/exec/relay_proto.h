/* Wire format between the plugin (relay.c) and elide-relay (relay_main.c).
 * Both ends run on the same host: fixed-size structs in host byte order.
 *
 * Start: the plugin spawns `elide-relay <state_dir> <stdout_fifo>
 * <stderr_fifo>` (an empty path: that stream is discarded) with fd 0-2 on
 * /dev/null and one end of a pipe on fd RELAY_READY_FD. The relay calls
 * setsid(), forks once (the first process exits at once, so the relay is
 * nobody's zombie), binds RELAY_SOCKET in the state dir (mode 0600) and
 * writes one relay_ready on the pipe.
 *
 * Then clients (at most RELAY_MAX_CLIENTS at a time; the oldest is dropped
 * for a new one) send a relay_req, followed by len bytes for RELAY_DATA,
 * and get one relay_rep each:
 *   RELAY_OFFSETS          -> status 0, next = {stdout_next, stderr_next}
 *   RELAY_DATA fd,off,len  -> only bytes at or after next[fd] are written;
 *                             off > next[fd] is a gap: -ERANGE, nothing
 *                             written. next[fd] after the write.
 *   RELAY_SKIP fd,off      -> next[fd] = max(next[fd], off) (output the
 *                             daemon trimmed and nobody can deliver)
 *   RELAY_EOF fd           -> closes that FIFO (data for it then -EPIPE)
 *   RELAY_ABORT            -> replies, closes both, exits
 * The relay exits once both FIFOs are closed. */
#ifndef ELIDE_EXEC_RELAY_PROTO_H
#define ELIDE_EXEC_RELAY_PROTO_H

#include "relay.h"

#include <stdint.h>

#define RELAY_READY_FD 3
#define RELAY_SOCKET RELAY_SOCKET_NAME
#define RELAY_MAX_DATA 16384 /* bytes of one RELAY_DATA frame */
#define RELAY_MAX_CLIENTS 4

enum { RELAY_OFFSETS = 1, RELAY_DATA = 2, RELAY_SKIP = 3, RELAY_EOF = 4, RELAY_ABORT = 5 };

typedef struct relay_req {
  uint32_t type;
  uint32_t fd; /* 0 stdout, 1 stderr */
  uint64_t offset;
  uint32_t len;
  uint32_t pad;
} relay_req;

typedef struct relay_rep {
  int32_t status; /* 0 or -errno */
  uint32_t closed; /* bit i: FIFO i closed */
  uint64_t next[2];
} relay_rep;

typedef struct relay_ready {
  int32_t status; /* 0 or -errno */
  int32_t pid;    /* the relay (after its fork) */
  char msg[120];
} relay_ready;

#endif
