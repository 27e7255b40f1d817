/* exec_stream: one interactive exec session (`nomad alloc exec`), the part
 * that does not depend on who the client is. Shared by the plugin's
 * ExecTaskStreaming for local tasks, the daemon's ExecInExecution, and the
 * plugin's proxy of ExecTaskStreaming onto ExecInExecution.
 *
 * Two sides meet here:
 *  - the client side (a gRPC worker thread, which must not block) queues
 *    stdin bytes, stdin closes and terminal sizes, and says when the client
 *    is gone (exec_stream_end);
 *  - the session side (a thread of its own) either runs a started exec_cmd
 *    with exec_stream_run, which feeds it the input and hands its output to
 *    a sink, or (a proxy) takes the input itself with exec_stream_pop /
 *    exec_stream_take_size.
 *
 * Semantics of exec_stream_run (those of Nomad's executor):
 *  - with a TTY, output is the pty's (stderr included), only the lead
 *    process is waited for (its exit hangs up the terminal, so background
 *    children get SIGHUP and their later output is not waited for), and a
 *    stdin close is ignored: the terminal stays open, end of input is the
 *    terminal's own EOF character (^D) as on any terminal;
 *  - without one, a stdin close is EOF on the command's stdin;
 *  - after the lead process exits, output is drained as exec_cmd_capture
 *    does (EXEC_CMD_DRAIN_IDLE_MS, EXEC_CMD_DRAIN_MAX_MS), then a close
 *    marker goes out for every stream not yet closed (stdout only on a
 *    TTY).
 * Memory is bounded on both sides: input waiting for the command beyond
 * EXEC_STREAM_MAX_STDIN_BACKLOG is refused, and output is read only as fast
 * as the sink takes it (a sink that blocks makes the command block on its
 * pipes).
 *
 * Nothing here knows about gRPC, Nomad or protobuf. */
#ifndef ELIDE_EXEC_STREAM_H
#define ELIDE_EXEC_STREAM_H

#include "exec_cmd.h"

#include <pthread.h>
#include <stddef.h>

/* Input accepted but not yet taken by the command (or the proxy). */
#define EXEC_STREAM_MAX_STDIN_BACKLOG (8u << 20)
/* The largest output chunk handed to a sink. */
#define EXEC_STREAM_OUTPUT_CHUNK 4096

/* One queued input item: stdin bytes, or (close != 0, len 0) a stdin close
 * that comes after the bytes queued before it. */
typedef struct exec_stream_chunk {
  struct exec_stream_chunk *next;
  size_t len, off; /* off: bytes of data already written */
  int close;
  char data[];
} exec_stream_chunk;

/* Embedded in its owner, which keeps it alive as long as either side may
 * touch it. The fields are private to exec_stream.c. */
typedef struct exec_stream {
  pthread_mutex_t mu;
  int wake_fd; /* eventfd: input, a size, the end, or a proxy's own wake-up */
  exec_stream_chunk *in_head, *in_tail;
  size_t in_bytes;
  int have_size, size_changed;
  unsigned short rows, cols;
  int ended;
} exec_stream;

/* Where exec_stream_run puts the command's output. `output` gets a chunk of
 * stream is_stderr (len > 0, close 0) or that stream's end (len 0, close 1);
 * it may block (back-pressure) and returns 0, or -1 when the client is gone
 * (the session then ends as after exec_stream_end). */
typedef struct exec_stream_sink {
  int (*output)(void *arg, int is_stderr, const char *data, size_t len, int close);
  void *arg;
} exec_stream_sink;

/* 0, or -errno (no eventfd). */
int exec_stream_init(exec_stream *s);
/* Frees what is still queued. Neither side may use s afterwards. */
void exec_stream_destroy(exec_stream *s);

/* ---- the client side (any thread; never blocks) ---- */

/* Queues len bytes of stdin, then a stdin close if `close`. 0, -ENOBUFS
 * when the backlog would pass EXEC_STREAM_MAX_STDIN_BACKLOG (nothing
 * queued), -ENOMEM. */
int exec_stream_put_stdin(exec_stream *s, const void *data, size_t len, int close);
/* What to tell the client when exec_stream_put_stdin failed with rc (the
 * call then ends with RESOURCE_EXHAUSTED, and the session with
 * exec_stream_end). Static text. */
const char *exec_stream_put_error(int rc);
/* A terminal size (clamped to 0..65535); the last one wins. */
void exec_stream_resize(exec_stream *s, long rows, long cols);
/* The client is gone (cancelled, disconnected, the call was ended): the
 * session stops and its command is killed. Idempotent. */
void exec_stream_end(exec_stream *s);

/* ---- the session side ---- */

int exec_stream_ended(exec_stream *s);
/* 1 with the last size when one arrived since the previous call (which it
 * consumes), else 0. */
int exec_stream_take_size(exec_stream *s, unsigned short *rows, unsigned short *cols);
/* Runs the started command `c` (see the file comment) until it exited and
 * its output went out (1: c is reaped, exit_code/signal are set, the close
 * markers were sent), the client is gone (0), or poll failed (-errno). The
 * caller then frees c, which kills the group if the leader still runs. */
int exec_stream_run(exec_stream *s, exec_cmd *c, const exec_stream_sink *sink);

/* For a proxy that forwards the input elsewhere: the oldest queued item
 * (the caller frees it), or NULL. */
exec_stream_chunk *exec_stream_pop(exec_stream *s);
/* Waits up to timeout_ms (< 0: no limit) for input, a size, the end or
 * exec_stream_wake. 1 if woken, 0 on timeout. */
int exec_stream_wait(exec_stream *s, int timeout_ms);
/* Wakes exec_stream_wait (a proxy's other thread has news). */
void exec_stream_wake(exec_stream *s);

/* Starts fn(arg) on a detached thread with a small stack, as a session's
 * thread. 0 or the pthread error. */
int exec_stream_spawn(void *(*fn)(void *), void *arg);

#endif
