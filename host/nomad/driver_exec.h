/* Exec into a running task: ExecTask (driver_exec.c: script checks, one
 * shot, output captured) and ExecTaskStreaming (driver_exec_stream.c:
 * `nomad alloc exec`, interactive, with or without a TTY). A local task's
 * command runs here through exec_cmd in the task's context; a task in the
 * execution daemon gets it through the daemon's ExecInExecution
 * (driver_exec_remote.c), which runs it in the execution's context there.
 * The command `elide-repl` opens the task's language REPL through its
 * module's repl op (exec_argv.h), wherever the task runs. */
#ifndef ELIDE_NOMAD_DRIVER_EXEC_H
#define ELIDE_NOMAD_DRIVER_EXEC_H

#include "exec_argv.h"
#include "exec_cmd.h"
#include "exec_stream.h"
#include "plugin.h"

#include <grpc/grpc.h>

/* Nomad's CheckBufSize: the output a one-shot exec keeps (its tail). */
#define EXEC_TASK_OUTPUT_LIMIT 4096

/* A command resolved against a task. */
typedef struct exec_target {
  task *t;          /* referenced; exec_target_free drops it */
  char **argv;      /* owned, NULL-terminated: local, argv[0] resolved to an absolute path;
                       remote, the command as given (the daemon resolves it) */
  size_t argc;
  int remote;       /* the task runs in the execution daemon */
  char endpoint[512]; /* remote: the daemon's address, copied at resolution */
  exec_cmd_spec spec; /* local only: borrows from t->ctx (immutable while t lives) and argv */
} exec_target;

/* Finds the task and, for a local one, resolves the command (exec_argv:
 * the REPL, or the lookup in the task dir and the task's PATH). On failure
 * fills *code and err (NOT_FOUND "task not found for given id",
 * INVALID_ARGUMENT for an empty command or a binary that cannot be found,
 * FAILED_PRECONDITION for a task that has not started, has exited, has no
 * exec context, or a backend without a REPL) and leaves *out empty. */
int exec_target_resolve(plugin *p, const char *task_id, char *const *command, size_t ncommand,
                        int tty, exec_target *out, grpc_status_code *code, char *err,
                        size_t errlen);
void exec_target_free(exec_target *x);

/* driver_exec_remote.c: exec into a task of the execution daemon over its
 * ExecInExecution stream. */

/* The streaming session: forwards io's input (stdin, closes, sizes) to the
 * daemon and hands the daemon's output and close markers to `sink`.
 * Returns 1 when the command exited (*exit_code, *sig), 0 when the client
 * went away (io ended or the sink refused: the daemon stream is cancelled,
 * so the daemon kills the command), -1 when the daemon refused or failed
 * (*code, err). */
int exec_remote_stream(const exec_target *x, int tty, exec_stream *io,
                       const exec_stream_sink *sink, int *exit_code, int *sig,
                       grpc_status_code *code, char *err, size_t errlen);

/* One shot, with exec_cmd_capture's contract (stdin at EOF, the last
 * `limit` bytes of the interleaved output and of stderr alone). After
 * timeout_ms (> 0) the stream is cancelled, which makes the daemon SIGKILL
 * the command's process group: *out then reports timed_out with exit code
 * 137 and signal 9, what the local path reports for the same kill. 0, or
 * -1 with *code and err. */
int exec_remote_capture(const exec_target *x, int timeout_ms, size_t limit, exec_cmd_output *out,
                        grpc_status_code *code, char *err, size_t errlen);

/* Handlers registered in driver_service.c. */
void driver_exec_task(rpc_call *call, const ProtobufCMessage *msg);
void driver_exec_stream_message(rpc_call *call, const ProtobufCMessage *msg);
void driver_exec_stream_done(rpc_call *call, int cancelled);

#endif
