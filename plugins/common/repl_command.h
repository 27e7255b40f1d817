/* The command line an interpreter module's `repl` op hands the host
 * (elide_module.h, ABI 1.1): `<runtime> <flag> [ARGS...]`, e.g.
 * `/usr/bin/python3 -i` or `node --interactive`. Linked statically (and
 * hidden) into each module that offers a REPL. */
#ifndef ELIDE_REPL_COMMAND_H
#define ELIDE_REPL_COMMAND_H

#include "elide_module.h"

/* Fills argv (cap pointers, host-owned) with runtime, interactive_flag and
 * task->args, NULL-terminated. The strings are borrowed: runtime and the
 * flag must outlive the call's use by the host (module state or static),
 * the args are the task's own. Returns 0, or -ENOSPC with a message giving
 * how many arguments fit. */
int repl_command(const char *runtime, const char *interactive_flag, const elide_task *task,
                 const char **argv, size_t cap, char *err, size_t errlen);

#endif
