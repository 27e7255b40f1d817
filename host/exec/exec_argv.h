/* The command line of an exec into a running task (ExecTask,
 * ExecTaskStreaming, the daemon's ExecInExecution): the reserved command
 * `elide-repl` asks the task's module for its language REPL (the ABI 1.1
 * `repl` op); anything else is looked up as Nomad's executor does
 * (exec_cmd_lookup). Shared by the plugin (local tasks) and the execution
 * daemon (its executions), which both have the module loaded. */
#ifndef ELIDE_EXEC_ARGV_H
#define ELIDE_EXEC_ARGV_H

#include "elide_module.h"

#include <stddef.h>

/* The reserved command name that opens the task's language REPL; matched
 * before any file lookup. The words after it go to the module as the
 * task's args. */
#define EXEC_REPL_COMMAND "elide-repl"

/* The task a command is resolved against; borrowed for the call. */
typedef struct exec_argv_task {
  const elide_module_descriptor *module; /* its module (for the REPL) */
  void *module_state;                    /* the instance that runs it */
  const char *id;
  const char *language;
  const char *task_dir;    /* its working directory: <task_dir>/local is searched first */
  const char *const *envp; /* its environment (PATH) */
} exec_argv_task;

/* Returns 0 with *argv (NULL-terminated, argv[0] absolute; free with
 * strv_free), or a negative code with the reason in err, as an exec
 * client should read it:
 *   -EINVAL  an empty command, or a binary that cannot be found (the
 *            client's mistake: INVALID_ARGUMENT);
 *   -ENOTSUP the backend has no REPL;
 *   -ENOMEM;
 *   another  the module's repl op failed or returned no usable command
 *            line (both FAILED_PRECONDITION). */
int exec_argv_resolve(const exec_argv_task *t, char *const *command, size_t ncommand,
                      char ***argv, char *err, size_t errlen);

/* A NULL-terminated copy of n strings (a protobuf repeated field; a NULL
 * entry becomes ""), freed with strv_free; NULL on ENOMEM. */
char **exec_argv_copy(const char *const *v, size_t n);

/* A short, log-friendly rendering of a command line. */
void exec_argv_describe(char *const *command, size_t n, char *out, size_t outlen);

#endif
