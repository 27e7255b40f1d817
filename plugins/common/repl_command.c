/* REPL command lines for interpreter modules (see repl_command.h). */
#include "repl_command.h"

#include <errno.h>
#include <stdio.h>

int repl_command(const char *runtime, const char *interactive_flag, const elide_task *task,
                 const char **argv, size_t cap, char *err, size_t errlen) {
  /* runtime, flag and the terminating NULL take three slots. */
  size_t n = 0;
  if (cap < 3) goto too_many;
  argv[n++] = runtime;
  argv[n++] = interactive_flag;
  for (const char *const *a = task->args; a && *a; a++) {
    if (n + 1 >= cap) goto too_many;
    argv[n++] = *a;
  }
  argv[n] = NULL;
  return 0;
too_many:
  snprintf(err, errlen, "too many REPL arguments (at most %zu)", cap > 3 ? cap - 3 : 0);
  return -ENOSPC;
}
