/* Daemon mode: a Nomad task run by the execution daemon (ExecutionApi)
 * with the Nomad task id as the execution id. The plugin proxies the
 * task's life onto the API (task_runner "daemon") and copies its output
 * from ReadOutput into Nomad's FIFOs.
 *
 * The daemon must share the task's filesystem (same host, e.g. over a unix
 * socket): the script is passed as its absolute path inside the task dir,
 * and the task dir is the working directory.
 *
 * Output positions are kept in <state_dir>/output.offsets after each write
 * to a FIFO, and RecoverTask resumes ReadOutput from there. */
#ifndef ELIDE_NOMAD_DAEMON_TASK_H
#define ELIDE_NOMAD_DAEMON_TASK_H

#include "task_config.h"
#include "tasks.h"

#include <stddef.h>

extern const task_runner daemon_runner;

/* The session every execution of this plugin belongs to. */
#define DAEMON_SESSION_ID "nomad"

/* Starts the execution (CreateSession + ExecuteSnippet, both idempotent)
 * and the threads that wait for it and copy its output. Returns 0;
 * -EAGAIN when the daemon is unreachable (worth a retry), another negative
 * code when the daemon refused the request; err says why. */
int daemon_task_start(task *t, const char *endpoint, const task_request *tr,
                      const NomadTaskConfig *cfg, char *err, size_t errlen);

/* Re-attaches to the execution after a plugin restart: output resumes from
 * the offsets recorded in t->state_dir. */
int daemon_task_recover(task *t, const char *endpoint, const char *stdout_path,
                        const char *stderr_path, char *err, size_t errlen);

/* Current usage (GetExecutionStatus.stats); 0 or -1. */
int daemon_task_usage(task *t, uint64_t *user_ns, uint64_t *system_ns, uint64_t *rss_bytes);

/* The endpoint of a daemon-mode task (for driver_state). */
const char *daemon_task_endpoint(const task *t);

#endif
