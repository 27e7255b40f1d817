/* An execution and the execution table. An execution is created by
 * ExecuteSnippet (start.c) or found on disk at start-up (recover.c); it
 * runs under its own elide-monitor through the module's execute op, ends
 * (end.c), is controlled by cancel / signal / timeout (control.c) and stdin
 * writes (stdin.c), and is deleted retain_finished seconds after its end.
 *
 * Executions are reference counted: table membership holds one reference,
 * every lookup returns another (ex_unref). Lock order: an output stream's
 * lock, then e->mu, then the exec layer's and rpc calls' own locks;
 * exec_destroy / exec_release are never called with e->mu held (they wait
 * for a running exit callback, which takes e->mu). */
#ifndef ELIDE_EXECD_EXECUTION_H
#define ELIDE_EXECD_EXECUTION_H

#include "daemon.h"
#include "exec.h"
#include "execd_pb.h"
#include "spool.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

typedef enum { EX_STARTING, EX_RUNNING, EX_ENDED } ex_state;
typedef enum { EX_STOP_NONE, EX_STOP_CANCEL, EX_STOP_TIMEOUT } ex_stop;
enum { EX_STDOUT = 0, EX_STDERR = 1 };

/* How an execution ended (ExitResult without the timestamps of start). */
typedef struct ex_result {
  int reason; /* EP_ENUM(EXIT_RESULT__REASON__REASON_*) */
  int exit_code;
  int signal;
  char error[512];
  int64_t finished_at_ns;
  int has_usage;
  uint64_t cpu_user_ns, cpu_system_ns, max_rss_bytes;
} ex_result;

typedef struct waiter waiter;           /* a WaitExecution call (control.c) */
typedef struct out_stream out_stream;   /* a following ReadOutput call (output.c) */

struct execution {
  /* Fixed before the execution is visible to other threads. */
  execd *d;
  char *id;
  char *session_id;
  char *language;
  char dir[PATH_MAX];
  ExecRequest *req;      /* owned; the request as received */
  loaded_module *module; /* NULL when recovered while its module is not loaded */
  void *module_state;    /* the instance that started it */
  spool out[2];          /* EX_STDOUT, EX_STDERR */
  int has_stdin;
  struct ex_cgroup *cg;  /* its cgroups when it has limits (limits.h); set before the start
                            or at recovery, freed with the execution */

  pthread_mutex_t mu; /* guards everything below */
  ex_state state;
  exec_task *proc;       /* NULL while starting, or if it could not be supervised */
  int64_t started_at_ns; /* CLOCK_REALTIME */
  ex_stop stop;          /* the daemon's persisted intent */
  int stop_signal;
  int64_t kill_at_ns; /* CLOCK_REALTIME: SIGKILL unless ended */
  uint64_t timeout_timer, kill_timer, retain_timer;
  ex_result result; /* when EX_ENDED */
  uint64_t peak_rss;
  waiter *waiters;
  out_stream **followers; /* referenced */
  size_t nfollowers, capfollowers;
  int deleted;

  pthread_mutex_t stdin_mu; /* serializes stdin writes; guards the three below */
  int stdin_fd;             /* the daemon's write end of the FIFO, -1 if none */
  uint64_t stdin_offset;    /* bytes accepted so far (persisted) */
  int stdin_eof;

  atomic_int refs;
};

/* execution.c: creation (one reference for the caller; takes `req`), refs. */
execution *ex_new(execd *d, ExecRequest *req, const char *dir);
void ex_ref(execution *e);
void ex_unref(execution *e);

/* execution.c: the table. */
void ex_table_init(ex_table *t);
/* Adds e (the table takes a reference); -EEXIST with *existing referenced
 * when the id is known. */
int ex_table_add(ex_table *t, execution *e, execution **existing);
execution *ex_table_get(ex_table *t, const char *id);
/* Removes e if present (its table reference is dropped). */
void ex_table_remove(ex_table *t, execution *e);
/* A referenced snapshot; the caller unrefs each and frees the array. */
execution **ex_table_list(ex_table *t, size_t *n);
/* Drops every execution from the table. */
void ex_table_clear(ex_table *t);

/* The API status of an execution (QUEUED, RUNNING, COMPLETED, ...). */
int ex_status(execution *e);
int ex_status_of_result(const ex_result *r);

/* start.c: ExecuteSnippet. On success *out is the (referenced) execution,
 * *existing says whether it was already known. On failure a gRPC status
 * and a message naming the field. */
int ex_start(execd *d, const ExecRequest *req, execution **out, int *existing,
             grpc_status_code *code, char *err, size_t errlen);

/* recover.c: loads every execution under exec_root at start-up. */
void ex_recover_all(execd *d);

/* end.c: the execution ended with `r` (the exit callback; also used by
 * recovery). Computes and persists the result, answers waiters, wakes
 * followers and schedules the deletion. Idempotent. */
void ex_finish(execution *e, const exec_result *r);
/* Registers ex_finish as the exit callback of e->proc. */
void ex_watch_exit(execution *e);
/* Schedules (or, when due, runs in the pool) the deletion of an ended
 * execution. */
void ex_schedule_retention(execution *e);
/* Deletes an execution: from the table, its processes' leftovers and its
 * directory. */
void ex_delete(execution *e);
/* Shutdown: leaves every process running (exec_release) and frees the
 * table. */
void ex_release_all(execd *d);

/* control.c */
/* Cancel (sig 0 = SIGTERM, grace 0 = SIGKILL at once); ended = success. */
int ex_cancel(execution *e, int sig, uint64_t grace_ms, char *err, size_t errlen);
/* Signal: -ESRCH once ended. */
int ex_signal(execution *e, int sig);
/* Arms the timeout of a running execution and the SIGKILL of a persisted
 * stop intent (after a start or a recovery). */
void ex_arm_timers(execution *e);
/* Current or final usage. */
void ex_stats(execution *e, EP(ExecutionStats) * out);
/* WaitExecution: answers the call now if ended, else when it ends or
 * after timeout_ms (0 = no timeout). */
void ex_wait(execution *e, rpc_call *call, uint64_t timeout_ms);
/* The on_done of a WaitExecution call. */
void ex_wait_done(rpc_call *call, int cancelled);
/* Ends every waiter with `code` (shutdown, a start that failed). */
void ex_abort_waiters(execution *e, grpc_status_code code, const char *why);
/* With e->mu held: takes the waiter list (to answer after unlocking). */
waiter *ex_take_waiters_locked(execution *e);
/* Answers the waiters of an ended execution (a list taken from e->waiters). */
void ex_answer_waiters(execution *e, waiter *list);

/* stdin.c */
int ex_stdin_prepare(execution *e, char *err, size_t errlen);  /* the FIFO, before start */
void ex_stdin_attach(execution *e); /* the daemon's write end, after start or recovery */
void ex_stdin_close(execution *e);  /* at the end */
/* WriteStdin. Returns 0 with *next_offset, or a gRPC status code > 0 with
 * err. */
int ex_stdin_write(execution *e, uint64_t offset, const uint8_t *data, size_t len, int eof,
                   uint64_t *next_offset, char *err, size_t errlen);

/* output.c: wakes the following ReadOutput streams of stream `fd`
 * (EX_STDOUT / EX_STDERR, -1 = both). Any thread; not with e->mu held. */
void ex_wake_followers(execution *e, int fd);
/* Ends every following stream with `code` (shutdown, deletion, a start
 * that failed). */
void ex_abort_followers(execution *e, grpc_status_code code, const char *why);

/* watch.c: spool growth (inotify): trims and wakes followers. */
int spool_watch_start(void);
void spool_watch_stop(void);
int spool_watch_add(execution *e);
void spool_watch_remove(execution *e);

#endif
