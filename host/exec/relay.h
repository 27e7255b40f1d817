/* The plugin's side of elide-relay (relay_proto.h): starting one for a
 * daemon-mode task, checking it is still the same process, and talking to
 * it over <state_dir>/relay.sock. */
#ifndef ELIDE_EXEC_RELAY_H
#define ELIDE_EXEC_RELAY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* <bin>/../<pkglibdir>/elide-relay, else the installed one (like
 * exec_monitor_default_path). 0, -ENAMETOOLONG or -ENOENT. */
int relay_default_path(char *out, size_t outlen);

/* Starts a relay for the FIFOs ("" or NULL: discard that stream) with its
 * socket in state_dir; on success *pid and *ticks (/proc starttime) name
 * it. 0 or -errno with err set. */
int relay_spawn(const char *relay_path, const char *state_dir, const char *stdout_fifo,
                const char *stderr_fifo, pid_t *pid, uint64_t *ticks, char *err,
                size_t errlen);

/* 1 when pid is still the relay that started at ticks. */
int relay_alive(pid_t pid, uint64_t ticks);

/* The relay's socket: <state_dir>/relay.sock. */
#define RELAY_SOCKET_NAME "relay.sock"

/* Connects to the relay's socket (any length of path). fd or -errno. */
int relay_connect(const char *sock_path);

/* Requests; each returns the relay's status (0 or -errno, -EPIPE when the
 * connection broke) and, if next is not NULL, its next offsets. */
/* *closed (if not NULL): bit i set once stream i got its eof. */
int relay_offsets(int fd, uint64_t next[2], unsigned *closed);
/* Sends data in frames of at most RELAY_MAX_DATA. */
int relay_data(int fd, int which, uint64_t offset, const void *p, size_t len, uint64_t next[2]);
int relay_skip(int fd, int which, uint64_t offset, uint64_t next[2]);
int relay_eof(int fd, int which, uint64_t next[2]);
int relay_abort(int fd);

#endif
