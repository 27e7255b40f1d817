/* Exec into a running task: ExecTask (driver_exec.c: script checks, one
 * shot, output captured) and ExecTaskStreaming (driver_exec_stream.c:
 * `nomad alloc exec`, interactive, with or without a TTY), both through
 * exec_cmd in the task's context. The command `elide-repl` opens the
 * task's language REPL through its module's repl op. */
#ifndef ELIDE_NOMAD_DRIVER_EXEC_H
#define ELIDE_NOMAD_DRIVER_EXEC_H

#include "exec_cmd.h"
#include "plugin.h"

#include <grpc/grpc.h>

/* The reserved command name that asks for the task's language REPL; it is
 * matched before any file lookup. */
#define EXEC_REPL_COMMAND "elide-repl"

/* Nomad's CheckBufSize: the output a one-shot exec keeps (its tail). */
#define EXEC_TASK_OUTPUT_LIMIT 4096

/* A command resolved against a task: what exec_cmd_start needs. */
typedef struct exec_target {
  task *t;             /* referenced; exec_target_free drops it */
  char **argv;         /* owned, NULL-terminated; argv[0] absolute */
  exec_cmd_spec spec;  /* borrows from t->ctx (immutable while t lives) and argv */
} exec_target;

/* Finds the task and resolves the command (the REPL, or the lookup of
 * exec_cmd_lookup in the task dir and the task's PATH). On failure fills
 * *code and err (e.g. NOT_FOUND "task not found for given id",
 * INVALID_ARGUMENT for an empty command or a binary that cannot be found,
 * FAILED_PRECONDITION for a task in the execution daemon, one that has
 * exited, or a backend without a REPL) and leaves *out empty. */
int exec_target_resolve(plugin *p, const char *task_id, char *const *command, size_t ncommand,
                        int tty, exec_target *out, grpc_status_code *code, char *err,
                        size_t errlen);
void exec_target_free(exec_target *x);

/* A short, log-friendly rendering of a command line. */
void exec_describe_command(char *const *command, size_t n, char *out, size_t outlen);

/* Handlers registered in driver_service.c. */
void driver_exec_task(rpc_call *call, const ProtobufCMessage *msg);
void driver_exec_stream_message(rpc_call *call, const ProtobufCMessage *msg);
void driver_exec_stream_done(rpc_call *call, int cancelled);

#endif
