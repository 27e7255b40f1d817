/* Task-level helpers on top of plugin_harness for the recovery and safety
 * integration tests: StartTask with a chosen user, environment and output
 * paths, WaitTask with its error text, SetConfig from a few keys, and a
 * TaskEvents reader. Each helper works on the plugin process given. */
#ifndef ELIDE_TEST_TASK_HELPERS_H
#define ELIDE_TEST_TASK_HELPERS_H

#include "plugin_harness.h"

#include "nomad/driver.pb-c.h"

#include <stddef.h>
#include <stdint.h>

typedef Hashicorp__Nomad__Plugins__Drivers__Proto__TaskHandle TaskHandle;

/* What StartTask is given beyond the task config msgpack. */
typedef struct start_args {
  const char *user;              /* NULL or "" = none */
  const char *const *env;        /* NULL-terminated "K=V", or NULL */
  const char *stdout_path;       /* NULL = the alloc's FIFO */
  const char *stderr_path;
} start_args;

/* A started task: its id and the handle from the reply (owned by reply). */
typedef struct started_task {
  char id[160];
  TaskHandle *handle;
  ProtobufCMessage *reply;
} started_task;

/* StartTask of task `name` of fake alloc `a` with id `id`; the status code,
 * `details` the error message when it is not OK. */
grpc_status_code th_start(plugin_proc *p, fake_alloc *a, const char *id, const char *name,
                          const uint8_t *cfg, size_t cfg_len, const start_args *args,
                          started_task *out, char *details, size_t dlen);

/* th_start of inline python `code` (a task config {language = "python",
 * code}); args as for th_start. */
grpc_status_code th_start_python(plugin_proc *p, fake_alloc *a, const char *id, const char *name,
                                 const char *code, const start_args *args, started_task *out,
                                 char *details, size_t dlen);

/* WaitTask: 0 with the result (err = WaitTaskResponse.err), -1 on a failed
 * call (err then holds the status message). */
int th_wait(plugin_proc *p, const char *id, int *exit_code, int *signal, char *err,
            size_t errlen);

grpc_status_code th_stop(plugin_proc *p, const char *id, int timeout_ms, const char *sig);
grpc_status_code th_destroy(plugin_proc *p, const char *id, int force);
grpc_status_code th_signal(plugin_proc *p, const char *id, const char *sig);

/* RecoverTask with `handle`; `details` the error message. */
grpc_status_code th_recover(plugin_proc *p, const TaskHandle *handle, char *details,
                            size_t dlen);

/* One plugin config key for th_set_config: a string, or a bool when str is
 * NULL. */
typedef struct config_kv {
  const char *key;
  const char *str;
  int boolean;
} config_kv;

/* SetConfig with a plugin config map of `n` keys (n = 0: empty). */
grpc_status_code th_set_config(plugin_proc *p, const config_kv *kv, size_t n, char *details,
                               size_t dlen);

/* A TaskEvents stream collecting every event's "<task id>|<message>" line. */
typedef struct events_reader events_reader;
events_reader *th_events_open(plugin_proc *p);
/* Waits until an event of task `id` whose message contains `needle` came;
 * returns a copy of that message (free()) or NULL after timeout_ms. */
char *th_events_wait(events_reader *r, const char *id, const char *needle, int timeout_ms);
/* Every message received so far for task `id`, joined with " | " (free()). */
char *th_events_all(events_reader *r, const char *id);
void th_events_close(events_reader *r);

/* A key of the msgpack map in a handle's driver_state, as an integer; 0
 * when missing. */
int64_t th_state_int(const TaskHandle *h, const char *key);

#endif
