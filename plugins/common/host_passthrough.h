/* Module ops that hand a task straight to the host's supervisor: status,
 * cancel, signal, stats and recover for backends whose tasks are plain
 * processes started with host->spawn (all shipped ones). Linked statically
 * into each module, hidden, so modules still export one symbol.
 *
 * Contract: the module's state struct starts with its
 * `const elide_host_services *host` member, as every shipped module's does. */
#ifndef ELIDE_HOST_PASSTHROUGH_H
#define ELIDE_HOST_PASSTHROUGH_H

#include "elide_module.h"

int passthrough_status(void *state, elide_proc *p, elide_exit *out);
int passthrough_cancel(void *state, elide_proc *p, int sig, int grace_ms, elide_exit *out);
int passthrough_signal(void *state, elide_proc *p, int sig);
int passthrough_stats(void *state, elide_proc *p, elide_stats *out);
int passthrough_recover(void *state, const elide_task *task, void *task_ctx, elide_proc **out,
                        char *err, size_t errlen);

/* The five ops above, for a module's ops table. */
#define ELIDE_PASSTHROUGH_OPS                                                                  \
  .status = passthrough_status, .cancel = passthrough_cancel, .signal = passthrough_signal,    \
  .stats = passthrough_stats, .recover = passthrough_recover

#endif
