/* elide-monitor: opening the task's stdin/stdout/stderr and starting the task
 * process (vfork, set-up in the child, execve, failure report over a CLOEXEC
 * pipe). */
#include "cgroup.h"
#include "mon_proto.h"
#include "monitor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How long to wait for a FIFO's reader (Nomad's logmon opens it before
 * StartTask, so this only covers a slow logmon). */
#define FIFO_READER_WAIT_NS (10LL * 1000000000LL)
#define FIFO_RETRY_NS (10LL * 1000000LL)

/* The set-up steps of the task child; one travels back on failure. */
enum child_step {
  STEP_SIGNALS = 1,
  STEP_SETPGID,
  STEP_CGROUP,
  STEP_OOM_SCORE_ADJ,
  STEP_STDIO,
  STEP_GROUPS,
  STEP_GID,
  STEP_UID,
  STEP_CWD,
  STEP_PDEATHSIG,
  STEP_EXEC,
};

typedef struct child_failure {
  int step;
  int err;
  int index; /* STEP_CGROUP: which directory */
} child_failure;

static long long mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Write-only, never following a final symlink, never creating the file: the
 * path must be Nomad's FIFO (or an existing file). A FIFO is opened
 * non-blocking first: ENXIO means its reader is not there yet, and a
 * blocking open would hang the start for as long as that lasts. */
int mon_open_output(const char *path, const char *what, char *err, size_t errlen) {
  if (!path || !*path) path = "/dev/null";
  long long deadline = mono_ns() + FIFO_READER_WAIT_NS;
  int fd;
  for (;;) {
    fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_APPEND | O_NOCTTY);
    if (fd >= 0) break;
    int e = errno;
    if (e == EINTR) continue;
    if (e == ENXIO && mono_ns() < deadline) {
      struct timespec d = {0, FIFO_RETRY_NS};
      nanosleep(&d, NULL);
      continue;
    }
    if (e == ENXIO)
      snprintf(err, errlen, "cannot open %s %s: no reader on the FIFO after 10 s", what, path);
    else
      snprintf(err, errlen, "cannot open %s %s: %s", what, path, strerror(e));
    return -e;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
    int e = errno;
    snprintf(err, errlen, "cannot open %s %s: %s", what, path, strerror(e));
    close(fd);
    return -e;
  }
  return fd;
}

int mon_open_input(const char *path, int *keeper, char *err, size_t errlen) {
  *keeper = -1;
  if (!path || !*path) path = "/dev/null";
  /* Non-blocking: a FIFO without a writer would block a plain open. */
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    int e = errno;
    snprintf(err, errlen, "cannot open stdin %s: %s", path, strerror(e));
    return -e;
  }
  struct stat st;
  int e = 0;
  if (fstat(fd, &st) < 0) {
    e = errno;
  } else if (S_ISFIFO(st.st_mode)) {
    /* The same FIFO through our own descriptor (no second path lookup);
     * opening a write end succeeds at once since we hold a read end. */
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    *keeper = open(self, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
    if (*keeper < 0) e = errno;
  }
  int fl = e ? 0 : fcntl(fd, F_GETFL);
  if (!e && (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)) e = errno;
  if (e) {
    snprintf(err, errlen, "cannot open stdin %s: %s", path, strerror(e));
    if (*keeper >= 0) close(*keeper);
    *keeper = -1;
    close(fd);
    return -e;
  }
  return fd;
}

/* Marks every fd from 3 up close-on-exec: close_range() where the kernel
 * has CLOSE_RANGE_CLOEXEC (5.11), else one by one from /proc/self/fd. */
static int cloexec_from_3(void) {
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  struct dirent *e;
  while ((e = readdir(d))) {
    int fd = atoi(e->d_name);
    if (fd >= 3 && fd != dirfd(d)) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  closedir(d);
  return 0;
}

static _Noreturn void child_fail_at(int pipe_fd, int step, int index) {
  child_failure f = {step, errno, index};
  ssize_t r = write(pipe_fd, &f, sizeof f);
  (void)r;
  _exit(127);
}

static _Noreturn void child_fail(int pipe_fd, int step) { child_fail_at(pipe_fd, step, 0); }

/* fd onto target for the task, close-on-exec cleared either way (dup2 to
 * itself would leave the flag). */
static int dup_onto(int fd, int target) {
  if (fd == target) return fcntl(fd, F_SETFD, 0);
  return dup2(fd, target) < 0 ? -1 : 0;
}

/* Runs in the vfork child: it shares the monitor's memory until execve,
 * and the monitor waits meanwhile. Hence only system calls and functions
 * that write nothing but this frame's locals (no malloc, no stdio, no
 * globals; errno is the monitor's, which reads it only afterwards). The
 * monitor is single-threaded, so setuid() and friends are plain system
 * calls. Never returns. */
static _Noreturn void child_exec(const mon_spec *s, int in_fd, int out_fd, int err_fd,
                                 int pipe_fd, pid_t monitor) {
  /* The monitor blocks signals for itself and ignores SIGPIPE, the one
   * disposition it changes (main()): the task starts clean. SIG_IGN and
   * the mask would otherwise survive execve; handlers it has none of. */
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  if (sigaction(SIGPIPE, &dfl, NULL) < 0) child_fail(pipe_fd, STEP_SIGNALS);
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, NULL) < 0) child_fail(pipe_fd, STEP_SIGNALS);

  /* Own process group: signals go to the task's whole group. */
  if (setpgid(0, 0) < 0) child_fail(pipe_fd, STEP_SETPGID);

  /* The task's cgroups and OOM score, while still privileged; everything
   * it forks inherits both. */
  for (int i = 0; s->cgroup_dirs && s->cgroup_dirs[i]; i++) {
    int rc = cgroup_join(s->cgroup_dirs[i], getpid());
    if (rc < 0) {
      errno = -rc;
      child_fail_at(pipe_fd, STEP_CGROUP, i);
    }
  }
  if (s->set_oom_score_adj) {
    char num[16];
    int len = snprintf(num, sizeof num, "%d", s->oom_score_adj);
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, num, (size_t)len) != len) child_fail(pipe_fd, STEP_OOM_SCORE_ADJ);
    close(fd);
  }
  if (dup_onto(in_fd, 0) < 0 || dup_onto(out_fd, 1) < 0 || dup_onto(err_fd, 2) < 0)
    child_fail(pipe_fd, STEP_STDIO);

  if (s->set_user) {
    if (setgroups(s->ngroups, s->groups) < 0) child_fail(pipe_fd, STEP_GROUPS);
    if (setgid(s->gid) < 0) child_fail(pipe_fd, STEP_GID);
    if (setuid(s->uid) < 0) child_fail(pipe_fd, STEP_UID);
  }
  /* After the user switch, so that the user's own permissions apply. */
  if (chdir(s->cwd) < 0) child_fail(pipe_fd, STEP_CWD);

  /* If the monitor dies, nothing could report this task's exit: take it
   * down too. Set after the credential change, which would clear it. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) child_fail(pipe_fd, STEP_PDEATHSIG);
  if (getppid() != monitor) _exit(127);

  /* Everything above 2 (the monitor's log, signalfd, state dir, the
   * failure pipe) closes at execve: mon_spawn_task marked it so. */
  execve(s->argv[0], s->argv, s->envp);
  child_fail(pipe_fd, STEP_EXEC);
}

static void describe_failure(const mon_spec *s, const child_failure *f, char *err, size_t errlen) {
  const char *why = strerror(f->err);
  switch (f->step) {
  case STEP_SIGNALS: snprintf(err, errlen, "cannot reset the signal mask: %s", why); break;
  case STEP_SETPGID: snprintf(err, errlen, "cannot create a process group: %s", why); break;
  case STEP_CGROUP: {
    int n = 0;
    while (s->cgroup_dirs && s->cgroup_dirs[n]) n++;
    snprintf(err, errlen, "unable to configure cgroups: cannot join %s: %s",
             f->index >= 0 && f->index < n ? s->cgroup_dirs[f->index] : "a cgroup", why);
    break;
  }
  case STEP_OOM_SCORE_ADJ:
    snprintf(err, errlen, "cannot set oom_score_adj %d: %s", s->oom_score_adj, why);
    break;
  case STEP_STDIO: snprintf(err, errlen, "cannot set up stdin/stdout/stderr: %s", why); break;
  case STEP_GROUPS:
    snprintf(err, errlen, "cannot set %zu supplementary groups: %s", s->ngroups, why);
    break;
  case STEP_GID: snprintf(err, errlen, "cannot set gid %u: %s", (unsigned)s->gid, why); break;
  case STEP_UID: snprintf(err, errlen, "cannot set uid %u: %s", (unsigned)s->uid, why); break;
  case STEP_CWD: snprintf(err, errlen, "cannot change directory to %s: %s", s->cwd, why); break;
  case STEP_PDEATHSIG: snprintf(err, errlen, "cannot set the parent-death signal: %s", why); break;
  case STEP_EXEC: snprintf(err, errlen, "cannot execute %s: %s", s->argv[0], why); break;
  default: snprintf(err, errlen, "task set-up failed: %s", why); break;
  }
}

int mon_spawn_task(const mon_spec *s, int in_fd, int out_fd, int err_fd, pid_t *pid, char *err,
                   size_t errlen) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) {
    int e = errno;
    snprintf(err, errlen, "cannot create a pipe: %s", strerror(e));
    return -e;
  }
  /* Every fd above 2 closes at the task's execve, whatever opened it; done
   * here, where /proc/self/fd may be read without close_range. */
  if (cloexec_from_3() < 0) {
    int e = errno;
    snprintf(err, errlen, "cannot close inherited descriptors: %s", strerror(e));
    close(p[0]);
    close(p[1]);
    return -e;
  }
  pid_t self = getpid();
  /* vfork: no copy of the monitor's page tables and no copy-on-write
   * faults on the start's critical path; we are suspended until the child
   * has exec'd or exited, then read its report. */
  pid_t child = vfork();
  if (child < 0) {
    int e = errno;
    snprintf(err, errlen, "cannot fork the task: %s", strerror(e));
    close(p[0]);
    close(p[1]);
    return -e;
  }
  if (child == 0) {
    close(p[0]);
    child_exec(s, in_fd, out_fd, err_fd, p[1], self);
  }
  close(p[1]);
  /* EOF: execve closed the pipe, the program runs. A record: it failed. */
  child_failure f;
  ssize_t n;
  do n = read(p[0], &f, sizeof f);
  while (n < 0 && errno == EINTR);
  close(p[0]);
  if (n == 0) {
    *pid = child;
    return 0;
  }
  if (n != (ssize_t)sizeof f) f = (child_failure){0, n < 0 ? errno : EPROTO, 0};
  while (waitpid(child, NULL, __WALL) < 0 && errno == EINTR) {
  }
  describe_failure(s, &f, err, errlen);
  return -(f.err ? f.err : EPROTO);
}
