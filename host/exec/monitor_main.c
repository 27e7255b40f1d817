/* elide-monitor: the per-task supervisor (conmon-style). It is the task's
 * parent, outlives the plugin, and records the task's exit status on disk.
 *
 * Protocol (definitions in mon_proto.h):
 *  1. The plugin spawns the monitor with fd 0/1/2 on /dev/null, one end of a
 *     socketpair on fd 3 (MON_SPEC_FD), an empty environment, no other fds.
 *  2. The plugin writes a mon_spec_hdr, the groups and the strings on fd 3
 *     (right away, or for a monitor spawned ahead of need, a standby, when
 *     a task comes; EOF instead makes it exit 1 having touched nothing).
 *  3. The monitor blocks SIGCHLD, SIGALRM and MON_CTL_SIGNAL (read through a
 *     signalfd), ignores SIGPIPE, calls setsid(), becomes a child subreaper,
 *     sends its own diagnostics to <state_dir>/monitor.log (fd 2), opens the
 *     task's stdin (and, for a FIFO, a write end of its own that keeps the
 *     task from seeing EOF until MON_CMD_CLOSE_STDIN or the task's end) and
 *     outputs, forks the task and waits on a CLOEXEC pipe for its
 *     execve. It closes its copies of the outputs, writes one mon_reply on
 *     fd 3 (status 0 and the task pid, or -errno and a message naming the
 *     failed step and path, after which it exits 1 with nothing left) and
 *     closes fd 3. If the reply cannot be delivered (the plugin died), it
 *     kills the task and exits: nobody could ever stop it.
 *  4. Control: the plugin sends MON_CTL_SIGNAL with si_code SI_QUEUE through
 *     the monitor's pidfd (or, without pidfds, with sigqueue() under the
 *     guards of exec_monref.c). Value n in 1..64 forwards signal n to the task's
 *     process group, only while the task is an unreaped child of the monitor
 *     (so the group id cannot have been reused); MON_CMD_DESTROY SIGKILLs the
 *     group and every process the monitor parents, reaps them all and exits;
 *     MON_CMD_CLOSE_STDIN closes the monitor's write end of a FIFO stdin.
 *  5. When the main task process is reaped, the monitor writes
 *     <state_dir>/exit (with the task's rusage) (exit.tmp, fsync, rename, fsync of the directory;
 *     format in exit_record.c). It keeps reaping reparented descendants and
 *     exits 0 once it has no children left.
 * Limits: the task child joins the spec's cgroup directories (and sets its
 * oom_score_adj) before execve; the monitor itself never joins them. The
 * monitor reads the memory cgroup's OOM-kill counter before the start and
 * again when the task dies by SIGKILL: a rise means the OOM killer
 * (oom_killed in the record). A timeout is an ITIMER_REAL read as SIGALRM
 * through the signalfd: at timeout_ms the timeout signal goes to the task's
 * group, at timeout_ms + grace SIGKILL, and the record says so (timed_out,
 * timeout_killed). Both hold while no plugin runs.
 * If the monitor dies, the task gets SIGKILL (PR_SET_PDEATHSIG), and the
 * plugin, seeing the monitor gone without an exit record, reports an error.
 *
 * Warm mode, `elide-monitor --warm <pid>` (a warm pool's slot; the pool
 * process forks X, X forks the idle pre-initialised process Y and execs
 * this monitor, so Y is the monitor's child as a cold task would be):
 *  - fd 3 is the slot socket to the plugin, fd 4 (MON_WARM_FD) a SEQPACKET
 *    socket to Y; the parent is the pool process; X already called setsid().
 *  - Start-up as in 3. (every signal disposition reset to SIG_DFL first,
 *    SIGCHLD included, as a cold monitor gets from posix_spawn), but the
 *    subreaper and signalfd come before the spec, and the monitor sends a
 *    mon_warm_hello (its pid and Y's) on fd 3.
 *  - Idle: it waits for the spec on fd 3. EOF there (pool stopped, plugin
 *    gone), Y's death, or MON_CMD_DESTROY: it SIGKILLs and reaps Y and exits
 *    without writing anything anywhere (no state dir exists yet).
 *  - The spec and everything done with it are as in 2.-5., except that the
 *    task is not forked: Y joins the cgroups and gets the oom_score_adj from
 *    the monitor, then is handed the rest over fd 4 (monitor_warm.c). If Y
 *    takes it, the task is Y (reply warm = 1); if it refuses or dies, it is
 *    killed and reaped and the task starts cold (warm = 0 and a note saying
 *    why). A cold monitor's reply has warm = 0 and an empty note. */
#include "cgroup.h"
#include "mon_proto.h"
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(gid_t) == sizeof(uint32_t), "gids travel as uint32");
_Static_assert(sizeof(mon_reply) <= 512, "the reply must be written atomically");

/* The monitor's whole state. */
static struct {
  int dir_fd;   /* the state directory */
  int sig_fd;   /* signalfd for SIGCHLD, SIGALRM and MON_CTL_SIGNAL */
  int stdin_keeper; /* our write end of a FIFO stdin, until MON_CMD_CLOSE_STDIN */
  pid_t task_pid;
  int task_reaped;
  /* Warm mode: the idle process, our child, until it becomes the task or
   * is killed; 0 otherwise. */
  pid_t idle_pid;
  char note[sizeof(((mon_reply *)0)->note)]; /* for the reply */
  /* OOM detection: the memory cgroup's oom_kill counter before the start
   * (the spec is unmapped once the task runs, so the path is copied). */
  char oom_path[PATH_MAX];
  int have_oom_base;
  uint64_t oom_base;
  /* The timeout (ITIMER_REAL, read as SIGALRM through the signalfd). */
  int timeout_signal;
  uint64_t timeout_ms, timeout_grace_ms;
  int timed_out, timeout_killed;
} M = {.dir_fd = -1, .sig_fd = -1, .stdin_keeper = -1};

static int64_t realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One line on fd 2 (monitor.log once the state dir is known). */
static void mlog(const char *fmt, ...) {
  char line[512];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
  n += (size_t)snprintf(line + n, sizeof line - n, ".%06ldZ [%d] ", ts.tv_nsec / 1000,
                        (int)getpid());
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  va_end(ap);
  n = m < 0 ? n : (n + (size_t)m > sizeof line - 2 ? sizeof line - 2 : n + (size_t)m);
  line[n++] = '\n';
  ssize_t r = write(2, line, n);
  (void)r;
}

static int read_full(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return -EPIPE;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int send_reply(const mon_reply *r) {
  ssize_t n;
  do n = send(MON_SPEC_FD, r, sizeof *r, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == (ssize_t)sizeof *r ? 0 : -1;
}

/* Warm mode: SIGKILLs and reaps the idle process, if it is still ours. */
static void drop_idle_process(void) {
  if (M.idle_pid <= 0) return;
  kill(M.idle_pid, SIGKILL);
  while (waitpid(M.idle_pid, NULL, __WALL) < 0 && errno == EINTR) {
  }
  M.idle_pid = 0;
}

static _Noreturn void fail_start(int status, const char *msg) {
  drop_idle_process();
  mon_reply r;
  memset(&r, 0, sizeof r);
  r.status = status;
  snprintf(r.msg, sizeof r.msg, "%s", msg);
  memcpy(r.note, M.note, sizeof r.note);
  mlog("start failed: %s", msg);
  send_reply(&r);
  _exit(1);
}

/* Reads and checks the spec. The buffer is a private mapping so that it can
 * be returned to the kernel whole once the task runs. */
static int read_spec(mon_spec *s, void **map, size_t *map_len, char *err, size_t errlen) {
  mon_spec_hdr h;
  int rc = read_full(MON_SPEC_FD, &h, sizeof h);
  if (rc < 0) {
    snprintf(err, errlen, "cannot read the spec: %s", strerror(-rc));
    return rc;
  }
  if (h.magic != MON_SPEC_MAGIC || h.ngroups > MON_MAX_GROUPS || h.argc < 1 ||
      h.strings_len > MON_SPEC_MAX || h.argc > h.strings_len || h.envc > h.strings_len ||
      h.ncgroups > MON_MAX_CGROUPS || (h.timeout_ms && (h.timeout_signal < 1 ||
                                                         h.timeout_signal >= NSIG))) {
    snprintf(err, errlen, "malformed spec header");
    return -EPROTO;
  }
  size_t groups_len = (size_t)h.ngroups * sizeof(uint32_t);
  /* argv, envp and the cgroup dirs, each NULL-terminated */
  size_t ptrs_len = ((size_t)h.argc + 1 + h.envc + 1 + h.ncgroups + 1) * sizeof(char *);
  size_t len = ptrs_len + groups_len + h.strings_len + 1;
  void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) {
    snprintf(err, errlen, "cannot allocate the spec: %s", strerror(errno));
    return -ENOMEM;
  }
  char **ptrs = m;
  gid_t *groups = (gid_t *)((char *)m + ptrs_len);
  char *strs = (char *)m + ptrs_len + groups_len;
  if ((rc = read_full(MON_SPEC_FD, groups, groups_len)) < 0 ||
      (rc = read_full(MON_SPEC_FD, strs, h.strings_len)) < 0) {
    munmap(m, len);
    snprintf(err, errlen, "cannot read the spec: %s", strerror(-rc));
    return rc;
  }
  strs[h.strings_len] = '\0';
  /* Exactly MON_SPEC_FIXED_STRINGS + ncgroups + argc + envc NUL-terminated
   * strings, nothing after them. Pointers: argv, NULL, envp, NULL, cgroup
   * dirs, NULL. */
  const size_t nfixed = MON_SPEC_FIXED_STRINGS;
  size_t want = nfixed + (size_t)h.ncgroups + h.argc + h.envc, got = 0, off = 0;
  const char *fixed[MON_SPEC_FIXED_STRINGS] = {"", "", "", "", "", ""};
  char **cgroups = ptrs + h.argc + 1 + h.envc + 1;
  while (off < h.strings_len && got < want) {
    char *str = strs + off;
    size_t sl = strnlen(str, h.strings_len - off);
    if (off + sl == h.strings_len) break; /* unterminated */
    size_t k = got - nfixed;
    if (got < nfixed) fixed[got] = str;
    else if (k < h.ncgroups) cgroups[k] = str;
    else if (k - h.ncgroups < h.argc) ptrs[k - h.ncgroups] = str;
    else ptrs[k - h.ncgroups + 1] = str;
    off += sl + 1;
    got++;
  }
  int dirs_ok = got == want;
  for (size_t i = 0; dirs_ok && i < h.ncgroups; i++) dirs_ok = cgroups[i][0] == '/';
  if (got != want || off != h.strings_len || fixed[0][0] != '/' || !fixed[1][0] || !dirs_ok) {
    munmap(m, len);
    snprintf(err, errlen, "malformed spec strings");
    return -EPROTO;
  }
  ptrs[h.argc] = NULL;
  ptrs[h.argc + 1 + h.envc] = NULL;
  cgroups[h.ncgroups] = NULL;
  *s = (mon_spec){.state_dir = fixed[0],
                  .cwd = fixed[1],
                  .stdin_path = fixed[2],
                  .stdout_path = fixed[3],
                  .stderr_path = fixed[4],
                  .argv = ptrs,
                  .envp = ptrs + h.argc + 1,
                  .set_user = h.set_user != 0,
                  .uid = h.uid,
                  .gid = h.gid,
                  .groups = groups,
                  .ngroups = h.ngroups,
                  .oom_counter_path = fixed[5],
                  .cgroup_dirs = cgroups,
                  .set_oom_score_adj = h.set_oom_score_adj != 0,
                  .oom_score_adj = h.oom_score_adj,
                  .timeout_signal = (int)h.timeout_signal,
                  .timeout_ms = h.timeout_ms,
                  .timeout_grace_ms = h.timeout_grace_ms};
  *map = m;
  *map_len = len;
  return 0;
}

static int write_all(int fd, const char *p, size_t len) {
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Was a death by SIGKILL the OOM killer's? Its counter in the task's memory
 * cgroup rose during the task's life. The kernel counts the kill just after
 * sending SIGKILL, so a counter not yet risen is read once more a moment
 * later. */
static int killed_by_oom(int status) {
  if (!M.have_oom_base || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) return 0;
  for (int attempt = 0; attempt < 2; attempt++) {
    uint64_t now;
    if (cgroup_oom_kills(M.oom_path, &now) == 0 && now > M.oom_base) return 1;
    struct timespec d = {0, 50 * 1000000L};
    if (attempt == 0) nanosleep(&d, NULL);
  }
  return 0;
}

/* Atomically replaces <state_dir>/exit; durable before the plugin can see
 * it, so a crash of the machine cannot leave a half-written record. */
static void write_exit_record(int status, const struct rusage *ru) {
  mon_exit e = {0};
  e.has_rusage = 1;
  e.cpu_user_ns = (uint64_t)ru->ru_utime.tv_sec * 1000000000u + (uint64_t)ru->ru_utime.tv_usec * 1000u;
  e.cpu_system_ns =
      (uint64_t)ru->ru_stime.tv_sec * 1000000000u + (uint64_t)ru->ru_stime.tv_usec * 1000u;
  e.max_rss_bytes = ru->ru_maxrss > 0 ? (uint64_t)ru->ru_maxrss * 1024u : 0; /* KiB on Linux */
  if (WIFSIGNALED(status)) {
    e.signal = WTERMSIG(status);
    e.exit_code = 128 + e.signal;
  } else {
    e.exit_code = WEXITSTATUS(status);
  }
  e.oom_killed = killed_by_oom(status);
  if (M.timed_out) {
    e.timed_out = 1;
    e.timeout_killed = M.timeout_killed;
    e.timeout_signal = M.timeout_signal;
    e.timeout_ms = (int64_t)M.timeout_ms;
    e.timeout_grace_ms = (int64_t)M.timeout_grace_ms;
    /* A task that handled the signal and exited by itself was still cut
     * short: report the signal that stopped it. */
    if (!WIFSIGNALED(status)) {
      e.signal = M.timeout_killed ? SIGKILL : M.timeout_signal;
      e.exit_code = 128 + e.signal;
    }
  }
  e.finished_at_ns = realtime_ns();
  e.task_pid = M.task_pid;
  mlog("task %d exited: exit_code=%d signal=%d oom_killed=%d timed_out=%d", (int)M.task_pid,
       e.exit_code, e.signal, e.oom_killed, e.timed_out);

  char buf[512];
  int n = exit_record_format(buf, sizeof buf, &e);
  int fd = openat(M.dir_fd, MON_EXIT_RECORD_TMP,
                  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  int rc = fd < 0 ? -errno : write_all(fd, buf, (size_t)n);
  if (rc == 0 && fsync(fd) < 0) rc = -errno;
  if (fd >= 0) close(fd);
  if (rc == 0 && renameat(M.dir_fd, MON_EXIT_RECORD_TMP, M.dir_fd, MON_EXIT_RECORD) < 0)
    rc = -errno;
  if (rc == 0) fsync(M.dir_fd);
  if (rc < 0) mlog("cannot write the exit record: %s", strerror(-rc));
}

/* Arms (ms > 0) or disarms (0) the one-shot timeout timer. */
static void set_timer(uint64_t ms) {
  struct itimerval it;
  memset(&it, 0, sizeof it);
  it.it_value.tv_sec = (time_t)(ms / 1000);
  it.it_value.tv_usec = (suseconds_t)(ms % 1000) * 1000;
  setitimer(ITIMER_REAL, &it, NULL);
}

static void note_reaped(pid_t pid, int status, const struct rusage *ru) {
  if (pid == M.task_pid && !M.task_reaped) {
    M.task_reaped = 1;
    if (M.timeout_ms) set_timer(0);
    /* Nobody can read the task's stdin any more. */
    if (M.stdin_keeper >= 0) close(M.stdin_keeper);
    M.stdin_keeper = -1;
    write_exit_record(status, ru);
  }
}

/* Reaps whatever has exited. Returns 1 while children remain, 0 when none. */
static int reap_children(void) {
  for (;;) {
    int st;
    struct rusage ru;
    pid_t p = wait4(-1, &st, WNOHANG | __WALL, &ru);
    if (p > 0) {
      note_reaped(p, st, &ru);
      continue;
    }
    if (p == 0) return 1;
    if (errno == EINTR) continue;
    return 0;
  }
}

/* SIGKILLs every direct child (the task and reparented descendants), as
 * listed in /proc (space-separated pids, read in chunks). */
static void kill_children(void) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[4096];
  size_t have = 0;
  for (int eof = 0; !eof;) {
    ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
    if (n < 0 && errno == EINTR) continue;
    eof = n <= 0;
    if (n > 0) have += (size_t)n;
    buf[have] = '\0';
    char *p = buf;
    for (;;) {
      while (*p == ' ' || *p == '\n') p++;
      char *q = p;
      while (*q >= '0' && *q <= '9') q++;
      if (q == p || (*q == '\0' && !eof)) break; /* the end, or a pid cut by the read */
      long pid = strtol(p, NULL, 10);
      if (pid > 0) kill((pid_t)pid, SIGKILL);
      p = q;
    }
    have = (size_t)(buf + have - p);
    memmove(buf, p, have);
  }
  close(fd);
}

/* Kills the task's group and, round after round, every process that is or
 * becomes our child (descendants are reparented to us, a subreaper, as
 * their parents die), until nothing is left. Then exits. */
static _Noreturn void destroy(void) {
  mlog("destroy: killing the task and every descendant");
  for (;;) {
    if (!M.task_reaped) kill(-M.task_pid, SIGKILL);
    kill_children();
    int st;
    struct rusage ru;
    pid_t p = wait4(-1, &st, __WALL, &ru);
    if (p > 0) {
      note_reaped(p, st, &ru);
      continue;
    }
    if (errno == EINTR) continue;
    break;
  }
  mlog("destroy: done");
  _exit(0);
}

static void forward(int sig) {
  if (M.task_reaped) return;
  /* The group id is our unreaped child's pid, so it cannot name anybody
   * else. If the main process moved to another group, it gets the signal
   * directly as well. */
  if (kill(-M.task_pid, sig) < 0 || getpgid(M.task_pid) != M.task_pid) kill(M.task_pid, sig);
}

/* The timer fired: first the timeout signal to the task's group, then,
 * after the grace, SIGKILL. Called after reaping, so a task that ended just
 * before is not counted as timed out. */
static void on_timer(void) {
  if (M.task_reaped || !M.timeout_ms) return;
  if (!M.timed_out) {
    M.timed_out = 1;
    mlog("timeout of %llu ms reached: sending signal %d to the task",
         (unsigned long long)M.timeout_ms, M.timeout_signal);
    forward(M.timeout_signal);
    if (M.timeout_signal == SIGKILL) {
      M.timeout_killed = 1;
      return;
    }
    if (M.timeout_grace_ms) {
      set_timer(M.timeout_grace_ms);
      return;
    }
    /* No grace: SIGKILL right behind the signal. */
  }
  mlog("timeout grace of %llu ms over: killing the task", (unsigned long long)M.timeout_grace_ms);
  M.timeout_killed = 1;
  forward(SIGKILL);
}

static _Noreturn void event_loop(void) {
  for (;;) {
    struct signalfd_siginfo si[16];
    ssize_t n = read(M.sig_fd, si, sizeof si);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      /* Cannot happen with a valid signalfd. Unable to supervise, the
       * monitor takes everything down rather than leave it unwatched. */
      mlog("signalfd read failed: %s", strerror(errno));
      destroy();
    }
    int chld = 0, timer_fired = 0;
    for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++) {
      if (si[i].ssi_signo == SIGCHLD) {
        chld = 1;
      } else if (si[i].ssi_signo == SIGALRM && si[i].ssi_code == SI_KERNEL) {
        timer_fired = 1; /* our itimer; a SIGALRM sent by a process is ignored */
      } else if (si[i].ssi_signo == MON_CTL_SIGNAL && si[i].ssi_code == SI_QUEUE) {
        int v = si[i].ssi_int;
        if (v == MON_CMD_DESTROY) destroy();
        if (v == MON_CMD_CLOSE_STDIN && M.stdin_keeper >= 0) {
          close(M.stdin_keeper);
          M.stdin_keeper = -1;
        }
        if (v > 0 && v < NSIG) forward(v);
      }
    }
    if (chld || timer_fired) {
      int children_left = reap_children();
      if (timer_fired) on_timer();
      if (!children_left && M.task_reaped) {
        mlog("no processes left; exiting");
        _exit(0);
      }
    }
  }
}

/* The monitor's own supervision set-up: child subreaper (orphaned
 * descendants are reparented to us, so they can still be reaped and, on
 * destroy, killed) and the signalfd for `set`. 0 or -errno and err. */
static int start_supervision(const sigset_t *set, char *err, size_t errlen) {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
    int rc = -errno;
    snprintf(err, errlen, "cannot become a child subreaper: %s", strerror(-rc));
    return rc;
  }
  M.sig_fd = signalfd(-1, set, SFD_CLOEXEC);
  if (M.sig_fd < 0) {
    int rc = -errno;
    snprintf(err, errlen, "cannot create a signalfd: %s", strerror(-rc));
    return rc;
  }
  return 0;
}

/* The command line: nothing (cold mode, returns 0) or `--warm <pid>`
 * (returns the pid). Anything else: a message on stderr and exit 2. */
static pid_t parse_args(int argc, char **argv) {
  if (argc <= 1) return 0;
  if (argc == 3 && strcmp(argv[1], "--warm") == 0 && argv[2][0] >= '1' && argv[2][0] <= '9') {
    char *end;
    errno = 0;
    long v = strtol(argv[2], &end, 10);
    if (errno == 0 && *end == '\0' && v > 1 && v <= INT32_MAX) return (pid_t)v;
  }
  fprintf(stderr,
          "usage: elide-monitor [--warm <pid of the idle task process>]\n"
          "the spec is read from fd %d (the plugin starts this program)\n",
          MON_SPEC_FD);
  exit(2);
}

/* Warm mode, leaving the idle state without a task: Y goes, we go. */
static _Noreturn void end_idle(int code, const char *why) {
  mlog("warm monitor exiting before any task: %s", why);
  drop_idle_process();
  _exit(code);
}

/* Warm mode until a spec arrives: checks that the idle process is our
 * live child, sets up supervision, says hello on fd 3 and waits. Returns
 * once spec bytes are readable on fd 3; otherwise never returns. */
static void warm_wait_for_spec(const sigset_t *set) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  /* Not our child: killing it could hit anybody, so refuse outright. */
  if (waitid(P_PID, (id_t)M.idle_pid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) < 0) {
    fprintf(stderr, "elide-monitor: process %d is not a child of this monitor: %s\n",
            (int)M.idle_pid, strerror(errno));
    _exit(2);
  }
  if (si.si_pid == M.idle_pid) end_idle(1, "the idle process died");
  char err[sizeof(((mon_reply *)0)->msg)];
  if (start_supervision(set, err, sizeof err) < 0) end_idle(1, err);
  mon_warm_hello hello = {.magic = MON_WARM_MAGIC,
                          .monitor_pid = (int32_t)getpid(),
                          .task_pid = (int32_t)M.idle_pid};
  ssize_t n;
  do n = send(MON_SPEC_FD, &hello, sizeof hello, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n != (ssize_t)sizeof hello) end_idle(1, "cannot send the hello");
  for (;;) {
    struct pollfd pf[2] = {{.fd = MON_SPEC_FD, .events = POLLIN},
                           {.fd = M.sig_fd, .events = POLLIN}};
    if (poll(pf, 2, -1) < 0) {
      if (errno == EINTR) continue;
      end_idle(1, "poll failed");
    }
    /* A spec already sent always gets a reply, even if Y died meanwhile
     * (the task then starts cold): the spec is looked at first. */
    if (pf[0].revents) {
      char c;
      ssize_t r = recv(MON_SPEC_FD, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (r > 0) return;
      if (r == 0) end_idle(0, "the slot was closed");
      if (errno != EAGAIN && errno != EINTR) end_idle(1, "the slot failed");
    }
    if (pf[1].revents) {
      struct signalfd_siginfo ssi[16];
      ssize_t r = read(M.sig_fd, ssi, sizeof ssi);
      if (r < 0 && errno != EINTR && errno != EAGAIN) end_idle(1, "signalfd read failed");
      for (size_t i = 0; r > 0 && i < (size_t)r / sizeof ssi[0]; i++)
        if (ssi[i].ssi_signo == MON_CTL_SIGNAL && ssi[i].ssi_code == SI_QUEUE &&
            ssi[i].ssi_int == MON_CMD_DESTROY)
          end_idle(0, "destroyed");
      /* SIGCHLD (or a stray signal): is Y still there? */
      pid_t p;
      do p = waitpid(M.idle_pid, NULL, WNOHANG | __WALL);
      while (p < 0 && errno == EINTR);
      if (p != 0) {
        M.idle_pid = 0; /* reaped (or, impossibly, gone): nothing to kill */
        end_idle(1, "the idle process died");
      }
    }
  }
}

int main(int argc, char **argv) {
  M.idle_pid = parse_args(argc, argv);
  int warm = M.idle_pid > 0;
  if (warm) {
    /* Inherited from a Python process (SIGCHLD, SIGPIPE, SIGXFSZ ignored):
     * back to what a cold monitor gets from posix_spawn. SIGCHLD first of
     * all, or an exiting idle process would be reaped behind our back. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &dfl, NULL);
    for (int sig = 1; sig < NSIG; sig++)
      if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL); /* EINVAL for glibc's own */
  }
  /* The one disposition the monitor changes: the task's child resets just
   * this (monitor_task.c), so keep it the only one. */
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGALRM);
  sigaddset(&set, MON_CTL_SIGNAL);
  /* Exactly these: a cold monitor starts with an empty mask, a warm one
   * with whatever the pool process had. */
  sigprocmask(SIG_SETMASK, &set, NULL);
  /* Nothing but 0-2 and the spec socket (warm: and the idle process's
   * socket) may stay open. */
  fcntl(MON_SPEC_FD, F_SETFD, FD_CLOEXEC);
  if (warm) fcntl(MON_WARM_FD, F_SETFD, FD_CLOEXEC);
  closefrom((warm ? MON_WARM_FD : MON_SPEC_FD) + 1); /* close_range, or /proc/self/fd */
  setsid(); /* warm: X made the session already, EPERM is expected */
  /* mlog's strftime loads the time zone on first use: now, before the spec,
   * so that a monitor spawned ahead (monitor_standby.c) has done it. */
  tzset();
  if (warm) warm_wait_for_spec(&set);

  char err[sizeof(((mon_reply *)0)->msg)];
  mon_spec s;
  void *map;
  size_t map_len;
  int rc = read_spec(&s, &map, &map_len, err, sizeof err);
  if (rc < 0) fail_start(rc, err);

  M.dir_fd = open(s.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (M.dir_fd < 0) {
    rc = -errno;
    snprintf(err, sizeof err, "cannot open state directory %s: %s", s.state_dir, strerror(-rc));
    fail_start(rc, err);
  }
  int log_fd = openat(M.dir_fd, MON_LOG, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
                      0600);
  if (log_fd < 0) {
    rc = -errno;
    snprintf(err, sizeof err, "cannot open %s/%s: %s", s.state_dir, MON_LOG, strerror(-rc));
    fail_start(rc, err);
  }
  dup2(log_fd, 2);
  close(log_fd);
  mlog("monitor started for %s", s.argv[0]);

  /* Warm mode did this before the hello. */
  if (M.sig_fd < 0 && (rc = start_supervision(&set, err, sizeof err)) < 0) fail_start(rc, err);

  int in_fd = mon_open_input(s.stdin_path, &M.stdin_keeper, err, sizeof err);
  if (in_fd < 0) fail_start(in_fd, err);
  int out_fd = mon_open_output(s.stdout_path, "stdout", err, sizeof err);
  if (out_fd < 0) fail_start(out_fd, err);
  int err_fd = mon_open_output(s.stderr_path, "stderr", err, sizeof err);
  if (err_fd < 0) fail_start(err_fd, err);

  /* The OOM counter before the task exists; without a readable counter
   * (no cgroup, an old kernel) no OOM kill is ever claimed. */
  if (s.oom_counter_path[0] && strlen(s.oom_counter_path) < sizeof M.oom_path) {
    strcpy(M.oom_path, s.oom_counter_path);
    rc = cgroup_oom_kills(M.oom_path, &M.oom_base);
    M.have_oom_base = rc == 0;
    if (rc < 0) mlog("no OOM detection: cannot read %s: %s", M.oom_path, strerror(-rc));
  }
  M.timeout_signal = s.timeout_signal;
  M.timeout_ms = s.timeout_ms;
  M.timeout_grace_ms = s.timeout_grace_ms;

  mon_reply r;
  memset(&r, 0, sizeof r);
  r.started_at_ns = realtime_ns();
  if (warm) {
    int took = 0;
    rc = mon_start_warm(&s, M.idle_pid, in_fd, out_fd, err_fd, &M.task_pid, &took, M.note,
                        sizeof M.note, err, sizeof err);
    M.idle_pid = 0; /* the task now, or killed and reaped */
    r.warm = took;
    memcpy(r.note, M.note, sizeof r.note);
    if (M.note[0]) mlog("%s", M.note);
  } else {
    rc = mon_spawn_task(&s, in_fd, out_fd, err_fd, &M.task_pid, err, sizeof err);
  }
  /* Only the task holds its stdio now: the reader sees EOF when the task
   * and its descendants are done with them. */
  close(in_fd);
  close(out_fd);
  close(err_fd);
  if (rc < 0) fail_start(rc, err);
  mlog("task %d started%s: %s", (int)M.task_pid, r.warm ? " warm" : "", s.argv[0]);
  if (M.timeout_ms) {
    /* Counted from the start, not from here. */
    int64_t spent_ms = (realtime_ns() - r.started_at_ns) / 1000000;
    uint64_t left = spent_ms > 0 && (uint64_t)spent_ms < M.timeout_ms
                        ? M.timeout_ms - (uint64_t)spent_ms
                        : spent_ms > 0 ? 1 : M.timeout_ms;
    set_timer(left);
  }
  munmap(map, map_len);

  r.task_pid = M.task_pid;
  if (send_reply(&r) < 0) {
    /* The plugin is gone before it learned of the task: nobody could
     * ever stop it, so do not leave it running. */
    mlog("cannot deliver the start reply: %s", strerror(errno));
    destroy();
  }
  close(MON_SPEC_FD);
  event_loop();
}
