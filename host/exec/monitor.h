/* Internals of the elide-monitor binary shared by its source files:
 * monitor_main.c (protocol, event loop, exit record), monitor_task.c
 * (opening the task's stdio and starting the task) and monitor_warm.c
 * (warm mode: handing the task to an idle pre-initialised process). */
#ifndef ELIDE_MONITOR_H
#define ELIDE_MONITOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The decoded spec. Every pointer points into the buffer the spec was read
 * into, which lives until the task has been started. */
typedef struct mon_spec {
  const char *state_dir;
  const char *cwd;
  const char *stdin_path;  /* "" = /dev/null */
  const char *stdout_path; /* "" = /dev/null */
  const char *stderr_path;
  char **argv;
  char **envp;
  int set_user;
  uid_t uid;
  gid_t gid;
  const gid_t *groups;
  size_t ngroups;
  const char *oom_counter_path; /* "" = no OOM detection */
  char **cgroup_dirs;           /* NULL-terminated; the task joins each before execve */
  int set_oom_score_adj;
  int oom_score_adj;
  int timeout_signal;
  uint64_t timeout_ms; /* 0 = none */
  uint64_t timeout_grace_ms;
} mon_spec;

/* Opens a task output for writing (see monitor_task.c for the FIFO rules).
 * `what` is "stdout" or "stderr". Returns the fd (O_CLOEXEC), or -errno with
 * a message naming the stream and path in err. */
int mon_open_output(const char *path, const char *what, char *err, size_t errlen);

/* Opens the task's stdin read-only (see exec_spec.stdin_path). Returns the
 * fd (O_CLOEXEC); for a FIFO *keeper gets a write end of the same FIFO
 * (O_CLOEXEC, so the task never holds it), else -1. On failure -errno with
 * a message naming the path in err. */
int mon_open_input(const char *path, int *keeper, char *err, size_t errlen);

/* Forks the task with in_fd/out_fd/err_fd as its fd 0/1/2 and waits until its execve
 * succeeded (*pid set, 0 returned) or a setup step failed (the child is
 * reaped, -errno returned and err names the step). */
int mon_spawn_task(const mon_spec *s, int in_fd, int out_fd, int err_fd, pid_t *pid, char *err,
                   size_t errlen);

/* Warm mode: starts the task as `idle_pid`, the monitor's unreaped child
 * waiting on MON_WARM_FD. Puts it into the spec's cgroups, sets its
 * oom_score_adj, hands it the spec's identity, cwd, argv, envp and the
 * three fds, and reads its answer. On "ok": *pid = idle_pid, *warm = 1,
 * note "". Otherwise (a refusal, its death, a failed step here) it is
 * SIGKILLed and reaped, note gets "warm start refused: <reason>", *warm = 0,
 * and the task is started cold with mon_spawn_task, whose result (and err)
 * is returned. Closes MON_WARM_FD in every case. */
int mon_start_warm(const mon_spec *s, pid_t idle_pid, int in_fd, int out_fd, int err_fd,
                   pid_t *pid, int *warm, char *note, size_t notelen, char *err, size_t errlen);

#endif
