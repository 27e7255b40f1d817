/* rpc_exec: an interactive exec session served on a bidi gRPC stream, the
 * part both front ends share (the plugin's ExecTaskStreaming and the
 * daemon's ExecInExecution; each keeps its own message types).
 *
 * One session per call. The front end's on_message creates it from the
 * first (setup) message and starts it; every message's input goes through
 * rpc_exec_input on the worker thread, into the session's exec_stream; a
 * thread of the session's own runs ops->run, which resolves and runs the
 * command with rpc_exec_sink as its output sink (replies sent through
 * rpc_exec_send, at most RPC_EXEC_MAX_QUEUED queued in gRPC) and answers
 * the call. rpc_exec_done, the method's on_done, ends the session when the
 * client goes: the command is killed by whoever runs it (exec_stream_run
 * returns 0). */
#ifndef ELIDE_RPC_EXEC_H
#define ELIDE_RPC_EXEC_H

#include "exec_stream.h"
#include "rpc_flow.h"
#include "rpc_server.h"

#include <stdatomic.h>

/* Replies queued in gRPC before the session stops reading the command's
 * output (its pipes then fill and it blocks: a slow client slows the
 * command, never grows the process). */
#define RPC_EXEC_MAX_QUEUED 64

typedef struct rpc_exec rpc_exec;

/* What the front end does. */
typedef struct rpc_exec_ops {
  /* On the session thread: resolves and runs the command, then answers
   * the call (the exit reply and OK, or an error status). */
  void (*run)(rpc_exec *x);
  /* Sends one output chunk of stream is_stderr, or (len 0, close 1) its
   * close marker, as the front end's reply, through rpc_exec_send. */
  int (*output)(rpc_exec *x, int is_stderr, const char *data, size_t len, int close);
  /* Frees the front end's `data` with the session (NULL: nothing to do). */
  void (*free_data)(void *data);
} rpc_exec_ops;

struct rpc_exec {
  /* Fixed once created. */
  rpc_call *call; /* referenced while the session thread runs */
  const rpc_exec_ops *ops;
  void *data;     /* the front end's: owned by the session (ops->free_data) */
  char **command; /* the setup's command line (copied) */
  size_t ncommand;
  int tty;
  exec_stream io; /* the client's input; exec_stream_ended once the client is gone */

  /* Private to rpc_exec.c. */
  rpc_flow flow;
  atomic_int refs; /* the call's user pointer + the session thread */
};

/* The session of a call, or NULL before its setup (or after its end).
 * Worker thread only. */
rpc_exec *rpc_exec_of(rpc_call *call);

/* On the first message: a session with the setup's command line, which
 * becomes the call's user pointer; `data` is owned by it from here on,
 * even on failure. NULL on ENOMEM, with the call answered. */
rpc_exec *rpc_exec_new(rpc_call *call, char *const *command, size_t ncommand, int tty,
                       const rpc_exec_ops *ops, void *data);

/* Starts the session thread (ops->run); if it cannot, answers the call. */
void rpc_exec_start(rpc_exec *x);

/* One message's input (worker thread): a terminal size when has_size,
 * stdin bytes, then a stdin close. Past the stdin backlog the call ends
 * with RESOURCE_EXHAUSTED and so does the session. */
void rpc_exec_input(rpc_exec *x, int has_size, long rows, long cols, const void *data, size_t len,
                    int close);

/* Ends the call with `code` and the session with it (any thread): the
 * daemon's shutdown. */
void rpc_exec_abort(rpc_exec *x, grpc_status_code code, const char *why);

/* The method's on_done (or part of it): the client is gone. */
void rpc_exec_done(rpc_call *call, int cancelled);

/* A reply from the session thread, bounded (rpc_flow). 0, or -1 once the
 * call is over. */
int rpc_exec_send(rpc_exec *x, const ProtobufCMessage *msg);

/* ops->output as an exec_stream_sink (for exec_stream_run and proxies). */
exec_stream_sink rpc_exec_sink(rpc_exec *x);

#endif
