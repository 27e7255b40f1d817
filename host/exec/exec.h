/* Local execution: every task runs under its own tiny `elide-monitor`
 * process (conmon-style), in a new session, so that the task survives the
 * plugin. The monitor owns the task's stdio (Nomad's FIFOs), is the task's
 * parent, records the exit status in the task's state directory, and
 * forwards signals only to its own, not yet reaped, child and its process
 * group: a PID can never be reused under it.
 *
 * Nothing here knows about Nomad or protobuf. All functions are
 * thread-safe. exec_destroy and exec_release must be the last call on a task:
 * threads already blocked in exec_wait are woken (with the task's final
 * result) and are out of it when they return, but no other call on the task
 * may overlap or follow them, and they must not be called from an
 * exec_on_exit callback (whose pending callback they cancel).
 *
 * The plugin must not reap children it did not start (no waitpid(-1) and no
 * SIG_IGN for SIGCHLD): monitors are the plugin's children until it exits. */
#ifndef ELIDE_EXEC_H
#define ELIDE_EXEC_H

#include "warm_pool.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What to run. Every pointer is borrowed for the duration of exec_start. */
typedef struct exec_spec {
  const char *monitor_path;  /* absolute path of the elide-monitor binary */
  const char *state_dir;     /* absolute; created (0700, parents too) if missing; holds the
                                exit record and the monitor's own log */
  const char *const *argv;   /* NULL-terminated; argv[0] is an absolute program path */
  const char *const *envp;   /* the complete environment, NULL-terminated */
  const char *cwd;           /* absolute working directory */
  const char *stdout_path;   /* Nomad FIFO or file, opened write-only without following a final
                                symlink; NULL or "" = /dev/null. Never created: a file is
                                appended to; a FIFO without a reader is retried for 10 s */
  const char *stderr_path;
  int set_user;              /* non-zero: switch to uid/gid/groups before exec (needs root) */
  uid_t uid;
  gid_t gid;
  const gid_t *groups;       /* supplementary groups, ngroups entries */
  size_t ngroups;
  const char *stdin_path;    /* FIFO or regular file the task reads as stdin, opened read-only
                                without following a final symlink; NULL or "" = /dev/null.
                                Never created. For a FIFO the monitor also holds a write end
                                until exec_close_stdin (or the task's end), so the task never
                                sees EOF just because a writer (a restarting daemon) went
                                away */
  /* Resource control (cgroup.h). The task itself, never its monitor, joins
   * each directory (its pid written to <dir>/cgroup.procs) before execve;
   * a failure fails the start naming the directory. */
  const char *const *cgroup_dirs; /* NULL-terminated; NULL = none */
  const char *oom_counter_path;   /* the memory cgroup's memory.oom_control / memory.events:
                                     read before the start and at the end to tell an OOM kill;
                                     NULL or "" = no OOM detection */
  int set_oom_score_adj;          /* non-zero: the task gets oom_score_adj (not the
                                     plugin's, which it would otherwise inherit) */
  int oom_score_adj;
  /* Enforced by the monitor, so it holds while no plugin runs: timeout_ms
   * after the start, timeout_signal goes to the task's process group, and
   * SIGKILL timeout_grace_ms later if it is still there. 0 = no timeout. */
  int64_t timeout_ms;
  int timeout_signal;
  int64_t timeout_grace_ms;
} exec_spec;

/* How a task ended. exit_code follows Nomad's convention: the exit status
 * for a normal exit; 128+n with signal = n for a death by signal n. */
typedef struct exec_result {
  int exit_code;
  int signal;
  int oom_killed;         /* died by SIGKILL while its memory cgroup counted an OOM kill */
  int64_t finished_at_ns; /* CLOCK_REALTIME */
  char err[256];          /* non-empty when no real status could be obtained (exit_code is
                             then -1): the monitor died without an exit record, the record
                             is corrupt, or exec_destroy/exec_release came first */
  /* Resource usage of the task's main process and the descendants it
   * waited for (wait4's rusage, from the exit record); has_rusage is 0 for
   * records of older monitors and when there is no record. */
  int has_rusage;
  uint64_t cpu_user_ns;
  uint64_t cpu_system_ns;
  uint64_t max_rss_bytes; /* peak RSS of the largest single process */
  /* The monitor stopped the task at its timeout (exec_spec.timeout_ms):
   * timeout_signal was sent, then SIGKILL after the grace if
   * timeout_killed. exit_code/signal are then 128+n / n for the signal that
   * stopped it. */
  int timed_out;
  int timeout_killed;
  int timeout_signal;
  int64_t timeout_ms;
  int64_t timeout_grace_ms;
} exec_result;

typedef struct exec_task exec_task;

/* Starts the monitor, which starts the task. Returns 0 once the task's
 * program is running (its execve succeeded), or a negative errno-style code
 * with a human message in `err` that names what failed (e.g.
 * "cannot execute /usr/bin/python3: No such file or directory", "cannot open
 * stdout /path: ..."), in which case nothing is left running. */
int exec_start(const exec_spec *spec, exec_task **out, char *err, size_t errlen);

/* The same start through a ready copy of a warm pool (warm_pool_take):
 * the copy's monitor gets the spec and hands it to the copy, or, if the
 * copy refuses it, starts the task cold itself (exec_start_note says why).
 * Always consumes slot->fd. Returns 0 as exec_start does; -EAGAIN when the
 * copy's monitor was gone before it took the spec (nothing runs: start the
 * task with exec_start); other errors as exec_start's. */
int exec_start_warm(const exec_spec *spec, warm_slot *slot, exec_task **out, char *err,
                    size_t errlen);

/* 1 if the task runs in a warm copy, 0 if it was started cold, -1 when
 * unknown (re-attached with exec_attach); `note` (never NULL) says why a
 * warm start did not happen, "" when nobody tried. */
int exec_start_was_warm(const exec_task *t, const char **note);
/* Records why a task was started cold (the caller's reason, e.g. no copy
 * was ready); kept unless the monitor already gave one. */
void exec_set_start_note(exec_task *t, const char *note);

/* Finds elide-monitor for the running binary: first
 * <dir of /proc/self/exe>/../ELIDE_PKGLIBDIR_REL/elide-monitor (build tree and
 * relocated installs), then ELIDE_INSTALL_PKGLIBDIR/elide-monitor. Returns 0
 * with the path in `out`, or -ENOENT / -ENAMETOOLONG. */
int exec_monitor_default_path(char *out, size_t outlen);

/* Cold starts take a monitor spawned ahead (a standby, monitor_standby.c)
 * when one waits, and have the next spawned in the background after the
 * task runs. At shutdown: ends the standby monitors and the thread that
 * spawns them, and spawns no more. Tasks are not touched. */
void exec_standby_stop(void);
/* How many standby monitors wait now (each one of this process's children). */
int exec_standby_count(void);
/* Waits until no refill is asked or under way (the replacements are spawned
 * in the background after each cold start), so that exec_standby_count and
 * this process's children agree. */
void exec_standby_settle(void);

/* Identity of a started task, for the driver's persisted state. */
pid_t exec_task_pid(const exec_task *t);          /* the task's main process */
pid_t exec_monitor_pid(const exec_task *t);
uint64_t exec_monitor_start_ticks(const exec_task *t); /* /proc/<pid>/stat starttime */
int64_t exec_started_at_ns(const exec_task *t);   /* CLOCK_REALTIME */
const char *exec_state_dir(const exec_task *t);

/* Re-attaches to a task started by an earlier plugin process, from its
 * persisted identity. Succeeds for a running task and for one that ended
 * with an exit record; fails (with a message) when the monitor is gone, or
 * the PID now belongs to another process, and no exit record exists. */
int exec_attach(const char *state_dir, pid_t monitor_pid, uint64_t monitor_start_ticks,
                pid_t task_pid, int64_t started_at_ns, exec_task **out, char *err,
                size_t errlen);

/* Delivers `sig` to the task's process group (through the monitor).
 * Returns 0, -ESRCH if the task has already exited, other negative codes on
 * failure. */
int exec_signal(exec_task *t, int sig);

/* Waits up to timeout_ms (< 0 = forever) for the task to end. Returns 1 and
 * fills *out when it has ended, 0 on timeout. */
int exec_wait(exec_task *t, int timeout_ms, exec_result *out);

/* Non-blocking: 1 and *out filled if ended, else 0. */
int exec_poll(exec_task *t, exec_result *out);

/* Registers a callback run once when the task ends (on an internal watcher
 * thread; at once on the calling thread if it has already ended). The
 * callback must not block. At most one callback per task; a second call
 * replaces the first if it has not fired yet. */
void exec_on_exit(exec_task *t, void (*cb)(void *arg, const exec_result *r), void *arg);

/* Lets the task see EOF on a FIFO stdin: the monitor closes its own write
 * end (see exec_spec.stdin_path), so EOF comes once every other writer has
 * closed too. Idempotent. Returns 0, or -ESRCH once the task has ended. */
int exec_close_stdin(exec_task *t);

/* Sends `sig` (0 = SIGINT), waits up to grace_ms for the task to end, then
 * SIGKILLs its process group, and waits for the end. Returns 0 with *out
 * filled once the task has ended (also when it had already ended). */
int exec_stop(exec_task *t, int sig, int grace_ms, exec_result *out);

/* Kills whatever is left of the task (its process group and every process
 * the monitor still parents, orphans included), lets the monitor exit and
 * reaps it, so that no process or zombie remains; then frees `t`. Safe on an
 * exited task. `remove_state` non-zero also deletes the state directory. */
void exec_destroy(exec_task *t, int remove_state);

/* Forgets `t` without touching the processes (plugin shutdown: tasks keep
 * running and are recovered later with exec_attach). */
void exec_release(exec_task *t);

#endif
