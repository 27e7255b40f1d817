/* Commands run inside a running task's context (what Nomad's ExecTask and
 * ExecTaskStreaming ask for): the task's environment, working directory,
 * user and cgroups, in a session of their own, on pipes or on a pty.
 *
 * Unlike tasks these are direct children of the calling process (the
 * plugin for its local tasks, elide-execd for its executions): they live
 * only as long as the request that started them, so no monitor stands
 * between. The caller reaps what it started and only that
 * (exec_cmd_reap waits on the one pid, never on -1).
 *
 * Nothing here knows about Nomad or protobuf. Functions on different
 * exec_cmd objects may run concurrently; one exec_cmd belongs to one thread
 * at a time. */
#ifndef ELIDE_EXEC_CMD_H
#define ELIDE_EXEC_CMD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Where the command runs. Every pointer is borrowed for exec_cmd_start. */
typedef struct exec_cmd_spec {
  const char *const *argv; /* NULL-terminated; argv[0] is an absolute path (exec_cmd_lookup) */
  const char *const *envp; /* the complete environment, NULL-terminated */
  const char *cwd;         /* absolute working directory */
  int set_user;            /* non-zero: setgroups/setgid/setuid to these before exec (root) */
  uid_t uid;
  gid_t gid;
  const gid_t *groups;
  size_t ngroups;
  /* NULL-terminated cgroup directories the command joins before exec (its
   * pid is written to <dir>/cgroup.procs, as root, before the user switch);
   * NULL or empty = stay in the caller's cgroups. A directory that cannot
   * be joined fails the start, naming it. */
  const char *const *cgroup_dirs;
  int tty;               /* non-zero: a pty is stdin, stdout and stderr and the
                            controlling terminal; otherwise three pipes */
  unsigned short rows;   /* tty only: the initial window size, 0 0 = unset */
  unsigned short cols;
} exec_cmd_spec;

/* A started command. The descriptors are the caller's side, close-on-exec
 * and non-blocking:
 *  - pipes: stdin_fd writes the command's stdin; stdout_fd and stderr_fd
 *    read its output (EOF once every holder has closed them);
 *  - tty:   stdin_fd == stdout_fd == the pty master (reads end with EIO once
 *    no process holds the terminal); stderr_fd is -1, stderr shares the pty.
 * exec_cmd_close_stdin and exec_cmd_free close them; with pipes a caller
 * may also close one itself and set it to -1 (the pty master is closed by
 * exec_cmd_free only). */
typedef struct exec_cmd {
  pid_t pid;     /* the command: leader of its own session and process group */
  int pidfd;     /* readable when the command exits; -1 without pidfd support */
  int stdin_fd;
  int stdout_fd;
  int stderr_fd;
  int tty;
  int reaped;    /* exec_cmd_reap has collected the status */
  int exit_code; /* once reaped: the exit status, or 128+n for a death by signal n */
  int signal;    /* once reaped: n for a death by signal n, else 0 */
} exec_cmd;

/* Resolves a command name the way Nomad's executor does (raw_exec's
 * lookupBin): <task_dir>/local/<cmd>, then <task_dir>/<cmd> (both joined
 * even when cmd is absolute), then cmd itself when absolute, then each
 * directory of PATH from `envp` (default /usr/local/bin:/usr/bin:/bin when
 * it has none) for an executable regular file. Writes the absolute path to
 * out. Returns 0, or -ENOENT with `binary "<cmd>" could not be found` in err
 * (-ENAMETOOLONG/-EINVAL for an unusable name). */
int exec_cmd_lookup(const char *cmd, const char *task_dir, const char *const *envp, char *out,
                    size_t outlen, char *err, size_t errlen);

/* Starts the command; returns 0 once its execve succeeded, or a negative
 * errno-style code with a message naming the step that failed ("cannot join
 * cgroup <dir>: ...", "cannot set uid 65534: ...", "cannot execute <path>:
 * ..."), in which case nothing is left running or open. The child gets
 * default signal dispositions and an empty signal mask, and no descriptor
 * of the caller other than its stdio. */
int exec_cmd_start(const exec_cmd_spec *spec, exec_cmd *out, char *err, size_t errlen);

/* Sets the pty's window size (tty only; the kernel sends SIGWINCH to the
 * terminal's foreground group). 0 or -errno; -ENOTTY without a tty. */
int exec_cmd_resize(exec_cmd *c, unsigned short rows, unsigned short cols);

/* Sends sig to the command's process group. Only while the leader is not
 * reaped (until then its pid, and so the group id, cannot belong to another
 * process); -ESRCH afterwards. */
int exec_cmd_kill_group(exec_cmd *c, int sig);

/* Collects the leader's exit status: timeout_ms 0 = just check, < 0 = wait.
 * Returns 1 once reaped (exit_code/signal set), 0 while it runs. */
int exec_cmd_reap(exec_cmd *c, int timeout_ms);

/* Closes the write side of the command's stdin (pipes: it reads EOF; tty:
 * nothing, the terminal stays open). */
void exec_cmd_close_stdin(exec_cmd *c);

/* Kills the group with SIGKILL if the leader has not been reaped, reaps it,
 * and closes every descriptor. The struct may be reused afterwards. */
void exec_cmd_free(exec_cmd *c);

/* ExecTask: runs the command with stdin on /dev/null until it exits,
 * keeping the last `limit` bytes of stdout and stderr interleaved as they
 * arrived (`combined`, what a script check shows) and the last `limit` bytes
 * of stderr alone. After timeout_ms (> 0) the whole process group is
 * SIGKILLed and *timed_out set. Output still arriving after the leader's
 * exit (from children holding the pipes) is read for a short while, never
 * waited for indefinitely. */
typedef struct exec_cmd_output {
  char *combined;       /* malloc'd, combined_len bytes (+ NUL), caller frees */
  size_t combined_len;
  char *stderr_only;    /* malloc'd, stderr_len bytes (+ NUL), caller frees */
  size_t stderr_len;
  int exit_code;        /* exit status, or 128+n for signal n */
  int signal;
  int timed_out;
} exec_cmd_output;

int exec_cmd_capture(const exec_cmd_spec *spec, int timeout_ms, size_t limit,
                     exec_cmd_output *out, char *err, size_t errlen);
void exec_cmd_output_free(exec_cmd_output *o);

/* How long output is still read after the leader exits: until every pipe
 * or the pty reaches its end, or nothing arrived for the idle time, or the
 * total is over (a background child still writing). */
#define EXEC_CMD_DRAIN_IDLE_MS 100
#define EXEC_CMD_DRAIN_MAX_MS 2000

#endif
