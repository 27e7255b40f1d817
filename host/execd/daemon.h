/* elide-execd's process-wide state: configuration, the loaded modules, the
 * session and execution tables. One `execd` exists per process; handlers
 * reach it through rpc_server_user(rpc_call_server(call)), everything else
 * through the execution that references it. */
#ifndef ELIDE_EXECD_DAEMON_H
#define ELIDE_EXECD_DAEMON_H

#include "config.h"
#include "modules.h"
#include "rpc_server.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

/* Request limits (documented in the README's API reference). */
#define EXECD_MAX_ID 256              /* session_id, execution_id bytes */
#define EXECD_MAX_CODE (1u << 20)     /* code bytes */
#define EXECD_MAX_ARGS 4096           /* args entries */
#define EXECD_MAX_ENV 4096            /* env entries */
#define EXECD_MAX_OPTIONS 64          /* options entries */
#define EXECD_MAX_STRING (128u << 10) /* any one arg, env value, option, path */
#define EXECD_MAX_STDIN_CHUNK (1u << 20) /* WriteStdin data bytes */
#define EXECD_MAX_CHUNK (1u << 20)       /* ReadOutput max_chunk_bytes (larger is capped) */
#define EXECD_DEFAULT_CHUNK (64u << 10)
#define EXECD_STATUS_TAIL (64u << 10) /* GetExecutionStatus stdout/stderr */
#define EXECD_MAX_LANGUAGES 64        /* SessionConfiguration.enabled_languages */
#define EXECD_MAX_MESSAGE (8 << 20)   /* gRPC receive limit */

typedef struct execution execution;

typedef struct ex_table {
  pthread_mutex_t mu;
  execution **items; /* each holds one reference */
  size_t n, cap;
} ex_table;

typedef struct session_table {
  pthread_mutex_t mu;
  struct session **items;
  size_t n, cap;
} session_table;

typedef struct execd {
  execd_config cfg;
  module_registry modules; /* configured once at start, never changed */
  char modules_error[512];
  char monitor_path[PATH_MAX];
  char exec_root[PATH_MAX];    /* <work_root>/executions */
  char session_root[PATH_MAX]; /* <work_root>/sessions */
  ex_table executions;
  session_table sessions;
  atomic_int stopping;
} execd;

execd *execd_of(rpc_call *call);

/* The healthy module serving `language`, or NULL; `langs` gets the sorted
 * list of what exists (for the error). */
loaded_module *execd_module_for(execd *d, const char *language, char *langs, size_t langs_len);

/* The method table (api.c). */
extern const rpc_method execd_methods[];
extern const size_t execd_nmethods;

#endif
