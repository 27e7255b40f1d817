/* A reference to a task's monitor process that never reaches another
 * process: a pidfd where the kernel has them; otherwise (kernels before
 * 5.3, or valgrind, which lacks the pidfd syscalls) the pid itself while it
 * is our unreaped child, or the pid re-checked against its recorded start
 * time right before each use (a window of microseconds for PID reuse). */
#include "exec_internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Set once pidfd_open has failed with ENOSYS (or by tests): the answer
 * does not change within a process. */
static atomic_int no_pidfd;

void monref_force_fallback(int on) { atomic_store(&no_pidfd, on); }

static int open_pidfd(pid_t pid) {
  if (atomic_load(&no_pidfd)) {
    errno = ENOSYS;
    return -1;
  }
  int fd = pidfd_open(pid, 0);
  if (fd < 0 && errno == ENOSYS) atomic_store(&no_pidfd, 1);
  return fd;
}

int monref_child(mon_ref *m, pid_t pid) {
  *m = (mon_ref){.pid = pid, .pidfd = -1, .child = 1};
  m->pidfd = open_pidfd(pid); /* our unreaped child: the pid is still its own */
  if (m->pidfd < 0 && errno != ENOSYS) return -errno;
  int rc = sys_proc_stat(pid, &m->ticks, NULL);
  if (rc < 0) {
    if (m->pidfd >= 0) close(m->pidfd);
    m->pidfd = -1;
    return rc;
  }
  return 0;
}

/* Whether a process that is not our child is still the monitor. */
static int same_process(const mon_ref *m) {
  uint64_t ticks;
  char state;
  return sys_proc_stat(m->pid, &ticks, &state) == 0 && ticks == m->ticks && state != 'Z' &&
         state != 'X';
}

static int pidfd_exited(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int n;
  do n = poll(&p, 1, 0);
  while (n < 0 && errno == EINTR);
  return n > 0;
}

static void describe(const siginfo_t *si, char *how, size_t len) {
  if (si->si_code == CLD_EXITED) snprintf(how, len, " (status %d)", si->si_status);
  else snprintf(how, len, " (signal %d)", si->si_status);
}

int monref_attach(mon_ref *m, pid_t pid, uint64_t ticks) {
  *m = (mon_ref){.pid = pid, .ticks = ticks, .pidfd = -1, .gone = 1};
  if (pid <= 0) return -ESRCH;
  /* The pidfd first, then the start time: if the pidfd's process has not
   * exited after the start time was read, that start time was its own. */
  int fd = open_pidfd(pid);
  if (fd < 0 && errno != ENOSYS) return -ESRCH;
  uint64_t now;
  if (sys_proc_stat(pid, &now, NULL) < 0 || now != ticks) {
    if (fd >= 0) close(fd); /* another process has this pid now: leave it alone */
    return -ESRCH;
  }
  m->pidfd = fd;
  m->gone = 0;
  if (fd < 0) {
    /* Without a pidfd: is it (still) our child, as after exec_release? */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    m->child = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0;
  }
  /* Exited already (and reaped here if ours): only the record can tell. */
  if (monref_check(m, NULL, 0)) {
    monref_close(m);
    return -ESRCH;
  }
  return 0;
}

int monref_check(mon_ref *m, char *how, size_t howlen) {
  if (how && howlen) how[0] = '\0';
  if (m->gone) return 1;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (m->pidfd >= 0) {
    if (!pidfd_exited(m->pidfd)) return 0;
    /* Exited: waitid cannot block; it fails with ECHILD for another's child. */
    while (waitid(P_PIDFD, (id_t)m->pidfd, &si, WEXITED | __WALL) < 0 && errno == EINTR) {
    }
  } else if (m->child) {
    int rc;
    while ((rc = waitid(P_PID, (id_t)m->pid, &si, WEXITED | WNOHANG | __WALL)) < 0 &&
           errno == EINTR) {
    }
    if (rc == 0 && si.si_pid == 0) return 0; /* still running */
  } else if (same_process(m)) {
    return 0;
  }
  if (si.si_pid > 0 && how) describe(&si, how, howlen);
  m->gone = 1;
  m->child = 0;
  return 1;
}

int monref_send(mon_ref *m, int sig, int value) {
  if (m->gone) return -ESRCH;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  si.si_signo = sig;
  si.si_code = SI_QUEUE;
  si.si_pid = getpid();
  si.si_uid = getuid();
  si.si_value.sival_int = value;
  int rc;
  if (m->pidfd >= 0) {
    rc = pidfd_send_signal(m->pidfd, sig, &si, 0);
  } else {
    if (!m->child && !same_process(m)) return -ESRCH;
    union sigval v = {.sival_int = value};
    rc = sigqueue(m->pid, sig, v);
  }
  return rc < 0 ? -errno : 0;
}

int monref_wait(mon_ref *m, int timeout_ms) {
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    if (monref_check(m, NULL, 0)) return 1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed = (now.tv_sec - start.tv_sec) * 1000L + (now.tv_nsec - start.tv_nsec) / 1000000L;
    if (timeout_ms >= 0 && elapsed >= timeout_ms) return 0;
    if (m->pidfd >= 0) {
      struct pollfd p = {.fd = m->pidfd, .events = POLLIN};
      poll(&p, 1, timeout_ms < 0 ? -1 : (int)(timeout_ms - elapsed));
    } else {
      struct timespec d = {0, 5 * 1000000L}; /* no fd to wait on: look again */
      nanosleep(&d, NULL);
    }
  }
}

void monref_close(mon_ref *m) {
  if (m->pidfd >= 0) close(m->pidfd);
  m->pidfd = -1;
}
