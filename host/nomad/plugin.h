/* The Nomad front end's process-wide state and the entry points of its
 * parts. One `plugin` exists per process; handlers reach it through
 * rpc_server_user(rpc_call_server(call)). */
#ifndef ELIDE_NOMAD_PLUGIN_H
#define ELIDE_NOMAD_PLUGIN_H

#include "cty.h"
#include "modules.h"
#include "rpc_server.h"
#include "stream_hub.h"
#include "task_schema.h"
#include "tasks.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#define ELIDE_DRIVER_NAME "elide"
#define ELIDE_HANDLE_VERSION 1

#define PLUGIN_MAX_MODULE_OPTIONS 32
#define PLUGIN_MAX_DAEMON_MODULES 32

/* Plugin configuration from Nomad's plugin block (plugin_config.c). After
 * plugin_apply_config, module_dir and state_dir hold the effective values
 * (plugin block > INI [driver] > defaults). */
typedef struct plugin_config {
  char config_file[PATH_MAX];    /* INI deployment file, "" for none */
  char python_runtime[PATH_MAX]; /* override of [module.python] runtime, "" for none */
  char module_dir[PATH_MAX];     /* "" = not set in the plugin block */
  char state_dir[PATH_MAX];      /* "" = not set in the plugin block */
  struct {
    char key[128];    /* "<module>.<key>" */
    char value[1024];
  } module_options[PLUGIN_MAX_MODULE_OPTIONS]; /* overrides of any module key */
  size_t nmodule_options;
  /* The execution daemon's address ("unix:/path" or "host:port"): the plugin
   * block's daemon_endpoint, else (after plugin_apply_config) INI [daemon]
   * endpoint; "" = none. */
  char daemon_endpoint[512];
  /* Effective after plugin_apply_config: the modules in `mode = daemon`. */
  char daemon_modules[PLUGIN_MAX_DAEMON_MODULES][64];
  size_t ndaemon_modules;
  /* Whether a task may run as root (uid 0): the plugin block's allow_root
   * (-1 = not set there), else INI [driver] allow_root, else 1 (allowed);
   * 0 or 1 after plugin_apply_config. Enforced by StartTask (user_policy.h). */
  int allow_root;
  /* From SetConfig's nomad_config, 0 when absent: used to turn CPU
   * percentages into MHz for stats. */
  uint64_t total_compute_mhz;
  uint32_t num_cores;
} plugin_config;

/* A module's runtime as its latest fingerprint (or, in daemon mode, the
 * daemon's Health) reported it, so task events can name the runtime
 * without running it again per task (task_events.c). "" = not reported. */
#define PLUGIN_MAX_RUNTIME_NOTES 32
typedef struct runtime_note {
  char module[64];
  char runtime[256]; /* the "runtime" attribute: the binary's path */
  char version[256]; /* the "version" attribute */
  char engine[64];   /* the "engine" attribute (wasm) */
} runtime_note;

typedef struct plugin {
  pthread_mutex_t mu; /* guards cfg, configured, modules' state pointers, runtimes */
  plugin_config cfg;
  int configured;
  module_registry modules;
  char loaded_module_dir[PATH_MAX]; /* the directory the modules came from */
  char modules_error[512]; /* non-empty: the module directory could not be read */
  char monitor_path[PATH_MAX];
  task_schema task_schema; /* built with the module set; fixed afterwards */
  int task_schema_built;
  task_table tasks;
  runtime_note runtimes[PLUGIN_MAX_RUNTIME_NOTES];
  size_t nruntimes;
  stream_hub fingerprint_subscribers;
  stream_hub event_subscribers;
  pthread_t fingerprint_thread;
  int fingerprint_thread_started;
  pthread_mutex_t stop_mu;
  pthread_cond_t stop_cond;
  int stopping;
} plugin;

plugin *plugin_of(rpc_call *call);

/* plugin_config.c */
extern const cty_field plugin_config_fields[];
extern const size_t plugin_config_nfields;
int plugin_config_decode(const void *msgpack, size_t len, plugin_config *out, char *err,
                         size_t errlen);
void plugin_config_defaults(plugin_config *out);
/* Checks an execution daemon address: "unix:/absolute/path" or "host:port". */
int plugin_endpoint_check(const char *endpoint, char *why, size_t whylen);
/* Applies a decoded config: reads the INI deployment file, loads modules on
 * first use and (re)initialises every module with its settings (INI values,
 * overridden by the plugin block). Errors read "file:line: message" for the
 * INI and name the field for the plugin block. */
int plugin_apply_config(plugin *p, const plugin_config *cfg, char *err, size_t errlen);

/* deployment.c: the INI part of plugin_apply_config; caller holds p->mu.
 * Fills cfg's effective module_dir/state_dir and initialises the modules. */
int deployment_apply(plugin *p, plugin_config *cfg, char *err, size_t errlen);
/* 1 if `module` runs its tasks through the execution daemon (cfg is an
 * applied config, e.g. p->cfg under p->mu). */
int plugin_module_in_daemon_mode(const plugin_config *cfg, const char *module);
/* Applies the defaults when Nomad has not sent SetConfig to this process
 * (go-plugin reattach skips it; tools may never send it). */
void plugin_ensure_configured(plugin *p);

/* Method tables of the services, concatenated by main.c. */
extern const rpc_method goplugin_methods[];
extern const size_t goplugin_nmethods;
extern const rpc_method base_methods[];
extern const size_t base_nmethods;
extern const rpc_method driver_methods[];
extern const size_t driver_nmethods;

/* Asks main() to stop the server and exit (GRPCController/Shutdown). */
void plugin_request_exit(void);

/* fingerprint.c */
int fingerprint_start(plugin *p);
void fingerprint_stop(plugin *p);
void fingerprint_subscribe(plugin *p, rpc_call *call);

/* events.c: broadcasts a DriverTaskEvent to every TaskEvents stream; with
 * no stream open (a restarted plugin before Nomad re-opened TaskEvents)
 * the event is kept, up to a bound, and sent to the next subscriber. */
void events_emit(plugin *p, const task *t, const char *message, const char *const *annotations);
/* TaskEvents: adds the call to the subscribers and sends it what was kept. */
void events_subscribe(plugin *p, rpc_call *call);

#endif
