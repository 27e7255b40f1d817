/* Daemon mode: a Nomad task run by the execution daemon (ExecutionApi)
 * with the Nomad task id as the execution id. The plugin proxies the
 * task's life onto the API (task_runner "daemon") and hands its output
 * from ReadOutput to the task's elide-relay (host/exec/relay.h), started
 * by StartTask, which owns Nomad's FIFOs and outlives the plugin.
 *
 * The daemon must share the task's filesystem (same host, e.g. over a unix
 * socket): the script is passed as its absolute path inside the task dir,
 * and the task dir is the working directory.
 *
 * The relay knows how far each stream got (it drops bytes it already
 * wrote); RecoverTask re-connects to it (after checking its pid and start
 * time) and resumes ReadOutput from its offsets. */
#ifndef ELIDE_NOMAD_DAEMON_TASK_H
#define ELIDE_NOMAD_DAEMON_TASK_H

#include "task_config.h"
#include "tasks.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

extern const task_runner daemon_runner;

/* The session every execution of this plugin belongs to. */
#define DAEMON_SESSION_ID "nomad"

/* Where the proxy reports what an operator should see as a task event
 * (the plugin's events_emit): today, that the plugin reached the daemon
 * again after losing it. `emit` runs on the proxy's threads; annotations
 * are NULL-terminated key/value pairs; everything is borrowed for the
 * call. Copied by daemon_task_start/recover; a NULL sink reports nothing. */
typedef struct daemon_event_sink {
  void (*emit)(void *arg, const task *t, const char *message, const char *const *annotations);
  void *arg;
} daemon_event_sink;

/* Starts the execution (CreateSession + ExecuteSnippet, both idempotent)
 * and the threads that wait for it and copy its output. Returns 0;
 * -EAGAIN when the daemon is unreachable (worth a retry), another negative
 * code when the daemon refused the request; err says why. */
int daemon_task_start(task *t, const char *endpoint, const task_request *tr,
                      const NomadTaskConfig *cfg, const daemon_event_sink *events, char *err,
                      size_t errlen);

/* Re-attaches to the execution after a plugin restart: output resumes from
 * the offsets of the relay named by pid, start time and socket (from
 * driver_state; relay_pid 0 or a relay that is gone: the output is not
 * delivered any more, with a warning). */
int daemon_task_recover(task *t, const char *endpoint, const char *stdout_path,
                        const char *stderr_path, pid_t relay_pid, uint64_t relay_ticks,
                        const char *relay_socket, const daemon_event_sink *events, char *err,
                        size_t errlen);

/* The task's relay (for driver_state). */
void daemon_task_relay(const task *t, pid_t *pid, uint64_t *ticks, const char **sock);

/* Current usage (GetExecutionStatus.stats); 0 or -1. */
int daemon_task_usage(task *t, uint64_t *user_ns, uint64_t *system_ns, uint64_t *rss_bytes);

/* The endpoint of a daemon-mode task (for driver_state). */
const char *daemon_task_endpoint(const task *t);

#endif
