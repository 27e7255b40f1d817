/* The task table: every task this plugin process started or recovered,
 * keyed by Nomad's task id, with its exit state and WaitTask waiters.
 * Tasks are reference counted: table membership holds one reference and
 * every lookup returns another that the caller drops with task_unref. */
#ifndef ELIDE_NOMAD_TASKS_H
#define ELIDE_NOMAD_TASKS_H

#include "exec.h"
#include "modules.h"
#include "rpc_server.h"

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct task;
struct daemon_task;
struct task_limits;
struct plugin;

/* What a command exec'd into a running task (ExecTask, ExecTaskStreaming)
 * inherits from it: set for local tasks by StartTask, and rebuilt by
 * RecoverTask from the TaskConfig Nomad keeps in the handle. Owned by the
 * task (task_context_free); immutable once the task is in the table. */
typedef struct task_context {
  char **envp;         /* NULL-terminated "K=V", as the task got it; NULL = not set */
  char cwd[PATH_MAX];  /* the task's working directory */
  int set_user;        /* non-zero: run as uid/gid/groups */
  uid_t uid;
  gid_t gid;
  gid_t *groups;
  size_t ngroups;
  char **cgroup_dirs;  /* NULL-terminated cgroup directories the task joined; NULL = none */
} task_context;

void task_context_free(task_context *c);

/* How a task runs: under a local monitor (driver_tasks.c) or in the
 * execution daemon (daemon_task.c). Every op is called without locks. */
typedef struct task_runner {
  const char *kind; /* "local" or "daemon" */
  /* Signal, grace, SIGKILL; returns once the task ended (exit recorded) or
   * a negative code with err. */
  int (*stop)(struct task *t, int sig, int grace_ms, char *err, size_t errlen);
  /* Delivers a signal; -ESRCH once the task ended. */
  int (*signal)(struct task *t, int sig);
  /* Kills at once (DestroyTask force) and records the exit. */
  void (*kill)(struct task *t);
  /* Lets go of the task for good (DestroyTask after removal). */
  void (*release)(struct task *t);
  /* The task's process (group) id, 0 if not local. */
  pid_t (*pid)(const struct task *t);
} task_runner;

typedef struct task {
  char *id;       /* Nomad task id: <alloc_id>/<task name>/<8 hex> */
  char *name;     /* task name */
  char *alloc_id;
  char *language;
  loaded_module *module;
  void *module_state;  /* the module instance that started it */
  const task_runner *runner; /* set once started or recovered */
  exec_task *proc;     /* local: set once started; the elide_proc handed to the module */
  struct daemon_task *remote; /* daemon mode: the proxy of the execution */
  char state_dir[PATH_MAX];
  int64_t started_at_ns;
  uint8_t *driver_state; /* persisted identity (driver_state.c) */
  size_t driver_state_len;
  task_context ctx;      /* for exec'd commands (local tasks) */
  struct task_limits *limits; /* local tasks in cgroups (task_limits.h); NULL = none */
  struct plugin *plugin;      /* the owner, for the events sent at the task's end */

  pthread_mutex_t mu; /* guards the fields below */
  int exited;
  exec_result result;
  int64_t completed_at_ns;
  rpc_call **waiters; /* WaitTask calls (referenced) answered at exit */
  size_t nwaiters, capwaiters;
  int refs;
} task;

typedef struct task_table {
  pthread_mutex_t mu;
  task **items;
  size_t n, cap;
} task_table;

void task_table_init(task_table *tt);
/* Creates a task holding one reference for the caller; NULL on ENOMEM. */
task *task_new(const char *id, const char *name, const char *alloc_id, const char *language);
/* Adds t (the table takes its own reference). -EEXIST if the id is known. */
int task_table_insert(task_table *tt, task *t);
/* Looks up by id; returns a new reference or NULL. */
task *task_table_get(task_table *tt, const char *id);
/* Removes by id; returns the table's reference (caller unrefs) or NULL. */
task *task_table_remove(task_table *tt, const char *id);
/* Snapshot of all tasks (each referenced); caller unrefs each and frees the array. */
task **task_table_list(task_table *tt, size_t *n);
void task_ref(task *t);
void task_unref(task *t);

/* Records the exit (first call wins) and answers every waiter. */
void task_mark_exited(task *t, const exec_result *r);
/* Answers `call` with the exit result now if the task has ended, otherwise
 * queues it (referenced) until task_mark_exited. */
void task_add_waiter(task *t, rpc_call *call);
/* Copies the exit state; returns 1 if exited. */
int task_exit_state(task *t, exec_result *r, int64_t *completed_at_ns);

#endif
