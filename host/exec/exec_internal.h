/* Plugin-side internals of exec shared by exec_start.c, exec_task.c and
 * exec_watch.c: the task object, the watcher thread's registry, and small
 * process/file helpers (exec_sys.c). */
#ifndef ELIDE_EXEC_INTERNAL_H
#define ELIDE_EXEC_INTERNAL_H

#include "exec.h"
#include "mon_proto.h"

#include <signal.h>
#include <stdint.h>

struct exec_task {
  /* Identity: fixed after creation. */
  char *state_dir;
  pid_t task_pid;
  pid_t monitor_pid;
  uint64_t monitor_start_ticks;
  int64_t started_at_ns;

  /* Everything below is guarded by the watcher's lock. */
  uint64_t id;   /* epoll key; unique, so a stale event can never hit another task */
  int pidfd;     /* the monitor's; -1 once it is known to have exited (then reaped) */
  int wd;        /* inotify watch on state_dir, -1 when none */
  int ended;     /* result is final */
  exec_result result;
  void (*cb)(void *arg, const exec_result *r);
  void *cb_arg;
  int cb_fired;
  int cb_running; /* the watcher is running cb outside the lock */
  struct exec_task *next;
};

/* exec_watch.c. watch_start starts the watcher thread once per process;
 * 0, or -errno with a message. */
int watch_start(char *err, size_t errlen);
/* watch_add takes over t (which has pidfd set, or -1 for a
 * monitor already gone) and starts watching it; a task whose exit record
 * already exists ends at once. Fails only if the watcher cannot start or
 * the inotify watch cannot be added. */
int watch_add(exec_task *t, char *err, size_t errlen);
/* Stops watching t; on return the watcher no longer touches t (any running
 * callback has returned) and the caller owns t->pidfd. */
void watch_remove(exec_task *t);
/* Sends MON_CTL_SIGNAL with `value` to t's monitor; -ESRCH once the task
 * has ended or the monitor is gone. */
int watch_send(exec_task *t, int value);
/* Ends t with `r` unless it has ended already (used before watch_add). */
void task_set_result(exec_task *t, const exec_result *r);

/* exec_sys.c */
int64_t sys_realtime_ns(void);
/* starttime (field 22) of /proc/<pid>/stat; 0 or -errno. */
int sys_start_ticks(pid_t pid, uint64_t *out);
/* mkdir -p with mode for the missing components; 0 or -errno. */
int sys_mkdir_p(const char *path, mode_t mode);
/* rm -rf, not following symlinks; 0 or -errno. */
int sys_remove_tree(const char *path);
/* Reads <dir>/exit into *out: 0, -ENOENT when absent, -EINVAL if corrupt,
 * other -errno. */
int sys_read_exit_record(const char *dir, exec_result *out);
/* 1 if the pidfd's process has exited, 0 if not. */
int sys_pidfd_exited(int pidfd);
/* Reaps the pidfd's process if it is our child. Call only once it has
 * exited (sys_pidfd_exited or the pidfd polled readable). Returns 1 with
 * *si filled if it was reaped here, else 0. */
int sys_pidfd_reap(int pidfd, siginfo_t *si);

#endif
