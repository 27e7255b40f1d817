/* exec_cmd: starting a command in a task's context from the multi-threaded
 * plugin (fork, set-up in the child with async-signal-safe calls only,
 * execve, failure report over a CLOEXEC pipe), and controlling it: window
 * size, signals to its group, reaping by pid. */
#include "exec_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* The child's set-up steps; the failing one travels back to the parent. */
enum cmd_step {
  CMD_STEP_SIGNALS = 1,
  CMD_STEP_SESSION,
  CMD_STEP_CGROUP,
  CMD_STEP_CTTY,
  CMD_STEP_STDIO,
  CMD_STEP_GROUPS,
  CMD_STEP_GID,
  CMD_STEP_UID,
  CMD_STEP_CWD,
  CMD_STEP_FDS,
  CMD_STEP_EXEC,
};

typedef struct cmd_failure {
  int step;
  int err;
  int index; /* CMD_STEP_CGROUP: which directory */
} cmd_failure;

/* Everything the child needs, prepared before fork: after fork the child
 * may not allocate, lock or format (another thread may have held a lock). */
typedef struct child_plan {
  const exec_cmd_spec *spec;
  char **procs_paths; /* "<dir>/cgroup.procs", NULL-terminated */
  int in_fd, out_fd, err_fd; /* what becomes 0, 1, 2 (the pty slave three times) */
  int report_fd;      /* the failure pipe's write end */
  int max_fd;         /* for the close-on-exec fallback */
} child_plan;

static void free_strv(char **v) {
  for (char **p = v; p && *p; p++) free(*p);
  free(v);
}

static int build_procs_paths(const char *const *dirs, char ***out, char *err, size_t errlen) {
  size_t n = 0;
  while (dirs && dirs[n]) n++;
  char **v = calloc(n + 1, sizeof *v);
  if (!v) goto oom;
  for (size_t i = 0; i < n; i++) {
    if (dirs[i][0] != '/') {
      snprintf(err, errlen, "cgroup directory \"%s\" is not an absolute path", dirs[i]);
      free_strv(v);
      return -EINVAL;
    }
    if (asprintf(&v[i], "%s/cgroup.procs", dirs[i]) < 0) {
      v[i] = NULL;
      free_strv(v);
      goto oom;
    }
  }
  *out = v;
  return 0;
oom:
  snprintf(err, errlen, "out of memory");
  return -ENOMEM;
}

/* ---- in the child: async-signal-safe calls only ---- */

static _Noreturn void child_fail(const child_plan *p, int step, int index) {
  cmd_failure f = {step, errno, index};
  ssize_t r = write(p->report_fd, &f, sizeof f);
  (void)r;
  _exit(127);
}

/* Decimal digits of a pid into buf (no snprintf after fork). */
static size_t format_pid(pid_t pid, char *buf) {
  char rev[16];
  size_t n = 0, len = 0;
  unsigned v = (unsigned)pid;
  do rev[n++] = (char)('0' + v % 10);
  while ((v /= 10) && n < sizeof rev);
  while (n) buf[len++] = rev[--n];
  buf[len++] = '\n';
  return len;
}

static int join_cgroup(const char *procs_path, const char *pid_text, size_t len) {
  int fd = open(procs_path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t w = write(fd, pid_text, len);
  int saved = errno;
  close(fd);
  errno = saved;
  return w == (ssize_t)len ? 0 : -1;
}

/* Moves fd above the stdio range, so that the dup2 onto 0-2 below can
 * neither clobber it nor be a no-op that keeps FD_CLOEXEC set. */
static int lift(int fd) { return fd < 0 ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 3); }

static _Noreturn void child_main(const child_plan *p) {
  const exec_cmd_spec *s = p->spec;
  /* The plugin ignores SIGPIPE and SIGINT and blocks others for sigwait;
   * SIG_IGN and the mask would survive execve. */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL); /* EINVAL for glibc's own */
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, NULL) < 0) child_fail(p, CMD_STEP_SIGNALS, 0);

  /* Its own session (and process group): no terminal of the plugin's,
   * and the group is what a timeout or a cancel kills. */
  if (setsid() < 0) child_fail(p, CMD_STEP_SESSION, 0);

  /* Join the task's cgroups while still root, before the user switch. */
  char pid_text[24];
  size_t pid_len = format_pid(getpid(), pid_text);
  for (int i = 0; p->procs_paths[i]; i++)
    if (join_cgroup(p->procs_paths[i], pid_text, pid_len) < 0) child_fail(p, CMD_STEP_CGROUP, i);

  int in = lift(p->in_fd), out = lift(p->out_fd), errfd = lift(p->err_fd);
  if (in < 0 || out < 0 || errfd < 0) child_fail(p, CMD_STEP_STDIO, 0);
  if (s->tty && ioctl(in, TIOCSCTTY, 0) < 0) child_fail(p, CMD_STEP_CTTY, 0);
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
    child_fail(p, CMD_STEP_STDIO, 0);

  /* Raw system calls: they change this (only) thread's credentials, with
   * none of glibc's all-threads machinery, which is not for a forked child
   * of a multi-threaded process. */
  if (s->set_user) {
    if (syscall(SYS_setgroups, s->ngroups, s->groups) < 0) child_fail(p, CMD_STEP_GROUPS, 0);
    if (syscall(SYS_setresgid, s->gid, s->gid, s->gid) < 0) child_fail(p, CMD_STEP_GID, 0);
    if (syscall(SYS_setresuid, s->uid, s->uid, s->uid) < 0) child_fail(p, CMD_STEP_UID, 0);
  }
  /* After the user switch, so that the user's own permissions apply. */
  if (chdir(s->cwd) < 0) child_fail(p, CMD_STEP_CWD, 0);

  /* Every descriptor above 2 closes at execve (the failure pipe stays
   * usable until then). */
  if (syscall(SYS_close_range, 3u, ~0u, 4u /* CLOSE_RANGE_CLOEXEC */) < 0) {
    for (int fd = 3; fd <= p->max_fd; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  execve(s->argv[0], (char *const *)s->argv, (char *const *)s->envp);
  child_fail(p, CMD_STEP_EXEC, 0);
}

/* ---- in the parent ---- */

static void describe_failure(const exec_cmd_spec *s, const cmd_failure *f, char *err,
                             size_t errlen) {
  const char *why = strerror(f->err);
  switch (f->step) {
  case CMD_STEP_SIGNALS: snprintf(err, errlen, "cannot reset the signal mask: %s", why); break;
  case CMD_STEP_SESSION: snprintf(err, errlen, "cannot create a session: %s", why); break;
  case CMD_STEP_CGROUP:
    snprintf(err, errlen, "cannot join cgroup %s: %s", s->cgroup_dirs[f->index], why);
    break;
  case CMD_STEP_CTTY:
    snprintf(err, errlen, "cannot make the pty the controlling terminal: %s", why);
    break;
  case CMD_STEP_STDIO: snprintf(err, errlen, "cannot set up stdin/stdout/stderr: %s", why); break;
  case CMD_STEP_GROUPS:
    snprintf(err, errlen, "cannot set %zu supplementary groups: %s", s->ngroups, why);
    break;
  case CMD_STEP_GID: snprintf(err, errlen, "cannot set gid %u: %s", (unsigned)s->gid, why); break;
  case CMD_STEP_UID: snprintf(err, errlen, "cannot set uid %u: %s", (unsigned)s->uid, why); break;
  case CMD_STEP_CWD: snprintf(err, errlen, "cannot change directory to %s: %s", s->cwd, why); break;
  case CMD_STEP_FDS: snprintf(err, errlen, "cannot close inherited descriptors: %s", why); break;
  case CMD_STEP_EXEC: snprintf(err, errlen, "cannot execute %s: %s", s->argv[0], why); break;
  default: snprintf(err, errlen, "command set-up failed: %s", why); break;
  }
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static int set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

/* The pty pair: the master (ours) and the slave (the command's), opened
 * through the master (TIOCGPTPEER) so no path lookup can be raced. */
static int open_pty(const exec_cmd_spec *s, int *master, int *slave, char *err, size_t errlen) {
  *slave = -1;
  *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (*master < 0 || unlockpt(*master) < 0) goto fail;
  *slave = ioctl(*master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (*slave < 0) {
    char name[128];
    if (ptsname_r(*master, name, sizeof name) != 0) goto fail;
    *slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*slave < 0) goto fail;
  }
  /* The terminal belongs to whoever uses it, as login does it. */
  if (s->set_user && fchown(*slave, s->uid, (gid_t)-1) < 0) goto fail;
  if (s->rows || s->cols) {
    struct winsize ws = {.ws_row = s->rows, .ws_col = s->cols};
    if (ioctl(*master, TIOCSWINSZ, &ws) < 0) goto fail;
  }
  return 0;
fail:;
  int e = errno;
  snprintf(err, errlen, "cannot open a pty: %s", strerror(e));
  close_fd(master);
  close_fd(slave);
  return -e;
}

static int validate(const exec_cmd_spec *s, char *err, size_t errlen) {
  if (!s->argv || !s->argv[0] || s->argv[0][0] != '/')
    snprintf(err, errlen, "the program to run must be an absolute path");
  else if (!s->envp)
    snprintf(err, errlen, "no environment given");
  else if (!s->cwd || s->cwd[0] != '/')
    snprintf(err, errlen, "the working directory must be an absolute path");
  else if (s->set_user && s->ngroups && !s->groups)
    snprintf(err, errlen, "supplementary groups missing");
  else
    return 0;
  return -EINVAL;
}

int exec_cmd_start(const exec_cmd_spec *spec, exec_cmd *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  out->pid = -1;
  out->pidfd = out->stdin_fd = out->stdout_fd = out->stderr_fd = -1;
  if (errlen) err[0] = '\0';
  int rc = validate(spec, err, errlen);
  if (rc < 0) return rc;

  child_plan plan = {.spec = spec, .in_fd = -1, .out_fd = -1, .err_fd = -1, .report_fd = -1};
  int ours[3] = {-1, -1, -1}; /* our ends: stdin write, stdout read, stderr read */
  int report[2] = {-1, -1};
  rc = build_procs_paths(spec->cgroup_dirs, &plan.procs_paths, err, errlen);
  if (rc < 0) return rc;
  struct rlimit nofile;
  plan.max_fd = getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < 65536
                    ? (int)nofile.rlim_cur
                    : 65536;

  if (spec->tty) {
    int master, slave;
    if ((rc = open_pty(spec, &master, &slave, err, errlen)) < 0) goto out;
    ours[0] = master;
    plan.in_fd = plan.out_fd = plan.err_fd = slave;
  } else {
    int in[2], o[2], e[2];
    if (pipe2(in, O_CLOEXEC) < 0) goto pipe_fail;
    ours[0] = in[1];
    plan.in_fd = in[0];
    if (pipe2(o, O_CLOEXEC) < 0) goto pipe_fail;
    ours[1] = o[0];
    plan.out_fd = o[1];
    if (pipe2(e, O_CLOEXEC) < 0) goto pipe_fail;
    ours[2] = e[0];
    plan.err_fd = e[1];
  }
  if (pipe2(report, O_CLOEXEC) < 0) goto pipe_fail;
  plan.report_fd = report[1];

  /* Nothing may run a signal handler in the child before it has reset
   * them: block everything across the fork, as posix_spawn does. */
  sigset_t all, saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  pid_t pid = fork();
  if (pid == 0) child_main(&plan);
  int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  if (pid < 0) {
    rc = -fork_errno;
    snprintf(err, errlen, "cannot fork: %s", strerror(fork_errno));
    goto out;
  }
  close_fd(&report[1]);
  plan.report_fd = -1;
  /* EOF: execve closed the pipe, the program runs. A record: it failed. */
  cmd_failure f;
  ssize_t n;
  do n = read(report[0], &f, sizeof f);
  while (n < 0 && errno == EINTR);
  if (n != 0) {
    if (n != (ssize_t)sizeof f) f = (cmd_failure){0, n < 0 ? errno : EPROTO, 0};
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    describe_failure(spec, &f, err, errlen);
    rc = -(f.err ? f.err : EPROTO);
    goto out;
  }
  out->pid = pid;
  out->tty = spec->tty != 0;
  out->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (out->pidfd >= 0) fcntl(out->pidfd, F_SETFD, FD_CLOEXEC);
  out->stdin_fd = ours[0];
  out->stdout_fd = spec->tty ? ours[0] : ours[1];
  out->stderr_fd = ours[2];
  ours[0] = ours[1] = ours[2] = -1;
  if (set_nonblock(out->stdin_fd) < 0 || set_nonblock(out->stdout_fd) < 0 ||
      (out->stderr_fd >= 0 && set_nonblock(out->stderr_fd) < 0)) {
    rc = -errno;
    snprintf(err, errlen, "cannot make the command's descriptors non-blocking: %s",
             strerror(errno));
    exec_cmd_free(out);
    goto out;
  }
  rc = 0;
  goto out;

pipe_fail:
  rc = -errno;
  snprintf(err, errlen, "cannot create a pipe: %s", strerror(errno));
out:
  /* The child's ends and the failure pipe are the child's business now. */
  if (plan.in_fd >= 0) close(plan.in_fd);
  if (plan.out_fd >= 0 && plan.out_fd != plan.in_fd) close(plan.out_fd);
  if (plan.err_fd >= 0 && plan.err_fd != plan.in_fd) close(plan.err_fd);
  close_fd(&report[0]);
  close_fd(&report[1]);
  for (int i = 0; i < 3; i++) close_fd(&ours[i]);
  free_strv(plan.procs_paths);
  return rc;
}

int exec_cmd_resize(exec_cmd *c, unsigned short rows, unsigned short cols) {
  if (!c->tty || c->stdin_fd < 0) return -ENOTTY;
  struct winsize ws = {.ws_row = rows, .ws_col = cols};
  return ioctl(c->stdin_fd, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}

int exec_cmd_kill_group(exec_cmd *c, int sig) {
  if (c->pid <= 0 || c->reaped) return -ESRCH;
  return kill(-c->pid, sig) < 0 ? -errno : 0;
}

static void take_status(exec_cmd *c, int status) {
  c->reaped = 1;
  if (WIFSIGNALED(status)) {
    c->signal = WTERMSIG(status);
    c->exit_code = 128 + c->signal;
  } else {
    c->signal = 0;
    c->exit_code = WEXITSTATUS(status);
  }
  if (c->pidfd >= 0) close(c->pidfd);
  c->pidfd = -1;
}

int exec_cmd_reap(exec_cmd *c, int timeout_ms) {
  if (c->reaped) return 1;
  if (c->pid <= 0) return 0;
  if (timeout_ms > 0 && c->pidfd >= 0) {
    struct pollfd pfd = {c->pidfd, POLLIN, 0};
    while (poll(&pfd, 1, timeout_ms) < 0 && errno == EINTR) {
    }
  } else if (timeout_ms > 0) { /* no pidfd: check every 10 ms */
    for (int waited = 0; waited < timeout_ms; waited += 10) {
      int status;
      if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
        take_status(c, status);
        return 1;
      }
      usleep(10000);
    }
  }
  int status;
  pid_t r;
  do r = waitpid(c->pid, &status, timeout_ms < 0 ? 0 : WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r != c->pid) return 0;
  take_status(c, status);
  return 1;
}

void exec_cmd_close_stdin(exec_cmd *c) {
  if (c->tty) return; /* the master is also the output side */
  close_fd(&c->stdin_fd);
}

void exec_cmd_free(exec_cmd *c) {
  if (c->pid > 0 && !c->reaped) {
    exec_cmd_kill_group(c, SIGKILL);
    exec_cmd_reap(c, -1);
  }
  if (c->stdout_fd == c->stdin_fd) c->stdout_fd = -1;
  close_fd(&c->stdin_fd);
  close_fd(&c->stdout_fd);
  close_fd(&c->stderr_fd);
  close_fd(&c->pidfd);
  c->pid = -1;
}
