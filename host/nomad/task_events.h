/* The task events an operator reads in `nomad alloc status` about a task's
 * life in this driver: how it started (backend, runtime and version, cold
 * start), its recovery after a plugin restart, and, in daemon mode, the
 * plugin reconnecting to the execution daemon. Composed here, sent by
 * events.c. */
#ifndef ELIDE_NOMAD_TASK_EVENTS_H
#define ELIDE_NOMAD_TASK_EVENTS_H

#include "plugin.h"

/* Remembers `module`'s runtime attributes ("runtime", "version", "engine")
 * from the fingerprint just computed for it. Caller holds p->mu. */
void task_events_note_runtime(plugin *p, const char *module, const elide_fingerprint *fp);

/* "Started <language> task[ in the execution daemon at <endpoint>]:
 * backend <module> <version>, runtime <name> <version> (<path>), cold
 * start", with annotations backend, backend_version, runtime,
 * runtime_version, engine (when there is one), start = cold, mode and pid.
 * The runtime is the one the module's latest fingerprint reported (no
 * process is run for the event); "runtime not fingerprinted yet" when none
 * has been. daemon_endpoint "" = local mode. */
void task_events_started(plugin *p, const task *t, const loaded_module *m,
                         const char *daemon_endpoint);

/* RecoverTask re-attached `t` after a plugin restart: says whether the task
 * is still running or ended while no plugin ran (and how), or, for a
 * daemon-mode task, which daemon it was re-attached in. */
void task_events_recovered(plugin *p, task *t, const char *daemon_endpoint);

/* RecoverTask could not re-attach: `why` (the task is then restarted or
 * failed by Nomad, which shows its own events too). */
void task_events_recovery_failed(plugin *p, const task *t, const char *why);

/* daemon_task.c's event sink (daemon_task_events): arg is the plugin. */
void task_events_emit_for(void *plugin_arg, const task *t, const char *message,
                          const char *const *annotations);

#endif
