/* Plugin-side internals of exec shared by exec_start.c, exec_task.c and
 * exec_watch.c: the task object, the watcher thread's registry, and small
 * process/file helpers (exec_sys.c). */
#ifndef ELIDE_EXEC_INTERNAL_H
#define ELIDE_EXEC_INTERNAL_H

#include "exec.h"
#include "fs_tree.h"
#include "mon_proto.h"

#include <signal.h>
#include <spawn.h>
#include <stdint.h>

/* A reference to a task's monitor that can never reach another process
 * (exec_monref.c). */
typedef struct mon_ref {
  pid_t pid;
  uint64_t ticks; /* /proc/<pid>/stat starttime */
  int pidfd;      /* -1 without pidfd support (then `child` or the start time guards the pid) */
  int child;      /* we started it (or it was reparented to us) and have not reaped it */
  int gone;       /* it has exited; reaped if it was our child */
} mon_ref;

struct exec_task {
  /* Identity: fixed after creation. */
  char *state_dir;
  pid_t task_pid;
  int64_t started_at_ns;
  int warm;             /* 1: in a warm pool's copy, 0: cold, -1: unknown (attached) */
  char start_note[200]; /* why a warm start did not happen, "" if none was tried */

  /* Everything below is guarded by the watcher's lock once the task is
   * registered (watch_add), and owned by the caller again after
   * watch_remove. */
  mon_ref mon;
  uint64_t id;   /* epoll key; unique, so a stale event can never hit another task */
  int polled;    /* no pidfd: the watcher checks the monitor on a timer */
  int wd;        /* inotify watch on state_dir, -1 when none */
  int ended;     /* result is final */
  exec_result result;
  void (*cb)(void *arg, const exec_result *r);
  void *cb_arg;
  int cb_fired;
  int cb_running; /* the watcher is running cb outside the lock */
  int waiters;    /* threads inside exec_wait */
  struct exec_task *next;
};

/* exec_monref.c. monref_child: for a monitor we just spawned; 0 or -errno.
 * monref_attach: for a monitor started by an earlier plugin process; 0 if
 * it is alive, -ESRCH if it is gone or its pid belongs to another process. */
int monref_child(mon_ref *m, pid_t pid);
int monref_attach(mon_ref *m, pid_t pid, uint64_t ticks);
/* Non-blocking: 1 (and m->gone set, the monitor reaped if it was our child,
 * how = " (status N)" / " (signal N)" when reaped here) once it has exited. */
int monref_check(mon_ref *m, char *how, size_t howlen);
/* Sends sig (with an SI_QUEUE value); -ESRCH once gone. */
int monref_send(mon_ref *m, int sig, int value);
/* Waits up to timeout_ms (< 0 forever) for the monitor to exit; 1 if it did. */
int monref_wait(mon_ref *m, int timeout_ms);
/* Closes the pidfd; never signals or reaps. */
void monref_close(mon_ref *m);
/* Tests: behave as if the kernel had no pidfds. */
void monref_force_fallback(int on);

/* exec_watch.c. watch_start starts the watcher thread once per process;
 * 0, or -errno with a message. */
int watch_start(char *err, size_t errlen);
/* watch_add takes over t (its mon set up; mon.gone for a
 * monitor already gone) and starts watching it; a task whose exit record
 * already exists ends at once. Fails only if the watcher cannot start or
 * the inotify watch cannot be added. */
int watch_add(exec_task *t, char *err, size_t errlen);
/* Stops watching t; on return the watcher no longer touches t (any running
 * callback has returned) and the caller owns t->pidfd. */
void watch_remove(exec_task *t);
/* After watch_remove, before freeing t: ends t (from its exit record if
 * there is one now, else with exit_code -1 and err `why`), wakes every
 * exec_wait caller and returns once none is left inside. */
void watch_retire(exec_task *t, const char *why);
/* Sends MON_CTL_SIGNAL with `value` to t's monitor; -ESRCH once the task
 * has ended or the monitor is gone. */
int watch_send(exec_task *t, int value);
/* Ends t with `r` unless it has ended already (used before watch_add). */
void task_set_result(exec_task *t, const exec_result *r);

/* exec_start.c: posix_spawns elide-monitor at `path` with `sock` on
 * MON_SPEC_FD (step 1 of monitor_main.c's protocol); 0 or -errno. */
int monitor_spawn(const char *path, int sock, pid_t *pid);

/* monitor_standby.c: cold monitors spawned ahead of need, our children,
 * each blocked reading its spec from the other end of `fd`. */
typedef struct standby_monitor {
  int fd; /* our end of its spec socket */
  pid_t pid;
  mon_ref mon;
} standby_monitor;
/* 1 with *out filled (the caller owns it, as if it had just spawned it);
 * 0 when none waits for `monitor_path`. */
int standby_take(const char *monitor_path, standby_monitor *out);
/* Has standby monitors for `monitor_path` spawned until the set is full
 * (those of another path ended first), by the refill thread; returns at
 * once (spawns on the caller's thread if that thread cannot be started).
 * Failures are silent: starts then spawn their own monitor, which reports
 * the error. */
void standby_refill_later(const char *monitor_path);

/* exec_sys.c */
int64_t sys_realtime_ns(void);
/* A spawned helper starts with an empty signal mask and every signal at
 * its default action, whatever this (multi-threaded) process blocks or
 * ignores. */
void sys_spawnattr_clean_signals(posix_spawnattr_t *at);
/* starttime (field 22) and, if state is not NULL, the state letter of
 * /proc/<pid>/stat; 0, -ESRCH or -errno. */
int sys_proc_stat(pid_t pid, uint64_t *ticks, char *state);
/* Reads <dir>/exit into *out: 0, -ENOENT when absent, -EINVAL if corrupt,
 * other -errno. */
int sys_read_exit_record(const char *dir, exec_result *out);

#endif
