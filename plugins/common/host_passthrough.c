/* Host pass-through module ops (see host_passthrough.h). */
#include "host_passthrough.h"

/* The host table is the first member of every module state using these. */
static const elide_host_services *host_of(void *state) {
  return *(const elide_host_services *const *)state;
}

int passthrough_status(void *state, elide_proc *p, elide_exit *out) {
  return host_of(state)->proc_poll(p, out);
}

int passthrough_cancel(void *state, elide_proc *p, int sig, int grace_ms, elide_exit *out) {
  return host_of(state)->proc_stop(p, sig, grace_ms, out);
}

int passthrough_signal(void *state, elide_proc *p, int sig) {
  return host_of(state)->proc_signal(p, sig);
}

int passthrough_stats(void *state, elide_proc *p, elide_stats *out) {
  return host_of(state)->proc_stats(p, out);
}

int passthrough_recover(void *state, const elide_task *task, void *task_ctx, elide_proc **out,
                        char *err, size_t errlen) {
  (void)task; /* the host re-attaches from its own record of the process */
  return host_of(state)->proc_attach(task_ctx, out, err, errlen);
}
