/* exec_start: spawns elide-monitor, hands it the spec over a socketpair and
 * waits for its reply (the task's execve succeeded, or which step failed).
 * The wire format is in mon_proto.h, the protocol in monitor_main.c. */
#include "exec_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* The serialized spec: header, groups, strings (see mon_spec_hdr). */
typedef struct spec_buf {
  char *data;
  size_t len;
} spec_buf;

static size_t count_strings(const char *const *v) {
  size_t n = 0;
  while (v && v[n]) n++;
  return n;
}

static const char *or_empty(const char *s) { return s ? s : ""; }

static int serialize_spec(const exec_spec *s, spec_buf *out, char *err, size_t errlen) {
  size_t argc = count_strings(s->argv), envc = count_strings(s->envp);
  size_t ncg = count_strings(s->cgroup_dirs);
  const char *fixed[MON_SPEC_FIXED_STRINGS] = {s->state_dir, s->cwd, or_empty(s->stdin_path),
                                               or_empty(s->stdout_path),
                                               or_empty(s->stderr_path),
                                               or_empty(s->oom_counter_path)};
  size_t strings_len = 0;
  for (int i = 0; i < MON_SPEC_FIXED_STRINGS; i++) strings_len += strlen(fixed[i]) + 1;
  for (size_t i = 0; i < ncg; i++) strings_len += strlen(s->cgroup_dirs[i]) + 1;
  for (size_t i = 0; i < argc; i++) strings_len += strlen(s->argv[i]) + 1;
  for (size_t i = 0; i < envc; i++) strings_len += strlen(s->envp[i]) + 1;
  size_t ngroups = s->set_user ? s->ngroups : 0;
  if (strings_len > MON_SPEC_MAX || ngroups > MON_MAX_GROUPS || ncg > MON_MAX_CGROUPS) {
    snprintf(err, errlen, "task spec too large (%zu bytes of arguments and environment)",
             strings_len);
    return -E2BIG;
  }
  mon_spec_hdr h = {.magic = MON_SPEC_MAGIC,
                    .set_user = s->set_user != 0,
                    .uid = (uint32_t)s->uid,
                    .gid = (uint32_t)s->gid,
                    .ngroups = (uint32_t)ngroups,
                    .argc = (uint32_t)argc,
                    .envc = (uint32_t)envc,
                    .strings_len = (uint32_t)strings_len,
                    .ncgroups = (uint32_t)ncg,
                    .set_oom_score_adj = s->set_oom_score_adj != 0,
                    .oom_score_adj = s->oom_score_adj,
                    .timeout_signal = (uint32_t)s->timeout_signal,
                    .timeout_ms = s->timeout_ms > 0 ? (uint64_t)s->timeout_ms : 0,
                    .timeout_grace_ms = s->timeout_grace_ms > 0 ? (uint64_t)s->timeout_grace_ms : 0};
  size_t len = sizeof h + ngroups * sizeof(uint32_t) + strings_len;
  char *buf = malloc(len), *p = buf;
  if (!buf) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  memcpy(p, &h, sizeof h);
  p += sizeof h;
  for (size_t i = 0; i < ngroups; i++) {
    uint32_t g = (uint32_t)s->groups[i];
    memcpy(p, &g, sizeof g);
    p += sizeof g;
  }
  for (int i = 0; i < MON_SPEC_FIXED_STRINGS; i++) p = stpcpy(p, fixed[i]) + 1;
  for (size_t i = 0; i < ncg; i++) p = stpcpy(p, s->cgroup_dirs[i]) + 1;
  for (size_t i = 0; i < argc; i++) p = stpcpy(p, s->argv[i]) + 1;
  for (size_t i = 0; i < envc; i++) p = stpcpy(p, s->envp[i]) + 1;
  out->data = buf;
  out->len = len;
  return 0;
}

static int validate(const exec_spec *s, char *err, size_t errlen) {
  if (!s->monitor_path || s->monitor_path[0] != '/') {
    snprintf(err, errlen, "monitor path must be absolute");
  } else if (!s->state_dir || s->state_dir[0] != '/') {
    snprintf(err, errlen, "state directory must be an absolute path");
  } else if (!s->argv || !s->argv[0] || !s->argv[0][0]) {
    snprintf(err, errlen, "no program to run");
  } else if (!s->cwd || s->cwd[0] != '/') {
    snprintf(err, errlen, "working directory must be an absolute path");
  } else if (s->set_user && s->ngroups && !s->groups) {
    snprintf(err, errlen, "supplementary groups missing");
  } else if (s->timeout_ms > 0 && (s->timeout_signal <= 0 || s->timeout_signal >= NSIG)) {
    snprintf(err, errlen, "timeout signal %d is not a signal", s->timeout_signal);
  } else if (s->timeout_ms < 0 || s->timeout_grace_ms < 0) {
    snprintf(err, errlen, "timeout and its grace must not be negative");
  } else {
    for (size_t i = 0; s->cgroup_dirs && s->cgroup_dirs[i]; i++) {
      if (s->cgroup_dirs[i][0] != '/') {
        snprintf(err, errlen, "cgroup directory \"%s\" must be an absolute path",
                 s->cgroup_dirs[i]);
        return -EINVAL;
      }
    }
    return 0;
  }
  return -EINVAL;
}

/* posix_spawn (vfork-like, safe in a multi-threaded process) with fds
 * 0-2 on /dev/null, the socket on MON_SPEC_FD, everything else closed,
 * default signals and an empty environment. */
int monitor_spawn(const char *path, int sock, pid_t *pid) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  /* The socket first: it may be fd 0-2 in a plugin started with those
   * closed. (dup2 onto itself clears FD_CLOEXEC, glibc >= 2.29.) */
  posix_spawn_file_actions_adddup2(&fa, sock, MON_SPEC_FD);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&fa, MON_SPEC_FD + 1);
  sys_spawnattr_clean_signals(&at);
  char *const argv[] = {"elide-monitor", NULL};
  char *const envp[] = {NULL};
  int rc = posix_spawn(pid, path, &fa, &at, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  return -rc;
}

static int send_all(int fd, const char *p, size_t len) {
  while (len) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int recv_reply(int fd, mon_reply *r) {
  size_t have = 0;
  while (have < sizeof *r) {
    ssize_t n = recv(fd, (char *)r + have, sizeof *r - have, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return -EPIPE;
    have += (size_t)n;
  }
  r->msg[sizeof r->msg - 1] = '\0';
  return 0;
}

/* Blocks until our child `pid` has exited and describes how. */
static void reap_status(pid_t pid, char *how, size_t len) {
  int st = 0;
  while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(st)) snprintf(how, len, "killed by signal %d", WTERMSIG(st));
  else snprintf(how, len, "exit status %d", WEXITSTATUS(st));
}

/* Kills a monitor that is our unreaped child (so its pid is still its
 * own) together with its task, and reaps it. */
static void abort_monitor(pid_t pid) {
  union sigval v = {.sival_int = MON_CMD_DESTROY};
  if (sigqueue(pid, MON_CTL_SIGNAL, v) < 0) kill(pid, SIGKILL);
  char how[64];
  reap_status(pid, how, sizeof how);
}

/* What both kinds of start do first: checks, the state directory without
 * an earlier run's record, the serialized spec. */
static int prepare_start(const exec_spec *spec, spec_buf *sb, char *err, size_t errlen) {
  if (errlen) err[0] = '\0';
  int rc = validate(spec, err, errlen);
  if (rc < 0 || (rc = watch_start(err, errlen)) < 0) return rc;
  if ((rc = sys_mkdir_p(spec->state_dir, 0700)) < 0) {
    snprintf(err, errlen, "cannot create state directory %s: %s", spec->state_dir,
             strerror(-rc));
    return rc;
  }
  /* A record from an earlier run in this directory must not end this one. */
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", spec->state_dir, MON_EXIT_RECORD);
  unlink(path);
  snprintf(path, sizeof path, "%s/%s", spec->state_dir, MON_EXIT_RECORD_TMP);
  unlink(path);
  return serialize_spec(spec, sb, err, errlen);
}

/* Sends the spec on the monitor's socket and reads its one reply; 0, or
 * -errno when the monitor went away first. */
static int exchange(int fd, const spec_buf *sb, mon_reply *r) {
  /* A send failure means the monitor died; its reply (or EOF) says why. */
  send_all(fd, sb->data, sb->len);
  return recv_reply(fd, r);
}

/* The task object for a monitor that replied success; takes over mon. On
 * failure the caller aborts the monitor. */
static int make_task(const exec_spec *spec, const mon_reply *r, mon_ref *mon, exec_task **out,
                     char *err, size_t errlen) {
  exec_task *t = calloc(1, sizeof *t);
  char *dir = strdup(spec->state_dir);
  if (!t || !dir) {
    free(t);
    free(dir);
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  t->state_dir = dir;
  t->task_pid = r->task_pid;
  t->started_at_ns = r->started_at_ns;
  t->warm = r->warm != 0;
  snprintf(t->start_note, sizeof t->start_note, "%.*s", (int)sizeof r->note, r->note);
  t->mon = *mon;
  int rc = watch_add(t, err, errlen);
  if (rc < 0) {
    *mon = t->mon;
    free(t);
    free(dir);
    return rc;
  }
  *out = t;
  return 0;
}

/* A monitor of our own for a cold start: a standby one if it waits
 * (monitor_standby.c), else spawned now. 0, or -errno with a message. */
static int get_monitor(const exec_spec *spec, int standby_ok, standby_monitor *m,
                       int *from_standby, char *err, size_t errlen) {
  *from_standby = standby_ok && standby_take(spec->monitor_path, m);
  if (*from_standby) return 0;
  /* posix_spawn reports this too, but not where vfork is emulated by fork
   * (valgrind): the monitor would then just exit 127. */
  if (access(spec->monitor_path, X_OK) < 0) {
    int rc = -errno;
    snprintf(err, errlen, "cannot start monitor %s: %s", spec->monitor_path, strerror(errno));
    return rc;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    int rc = -errno;
    snprintf(err, errlen, "cannot create a socket pair: %s", strerror(errno));
    return rc;
  }
  int rc = monitor_spawn(spec->monitor_path, sv[1], &m->pid);
  close(sv[1]);
  if (rc < 0) {
    snprintf(err, errlen, "cannot start monitor %s: %s", spec->monitor_path, strerror(-rc));
    close(sv[0]);
    return rc;
  }
  m->fd = sv[0];
  if ((rc = monref_child(&m->mon, m->pid)) < 0) {
    snprintf(err, errlen, "cannot keep track of the monitor: %s", strerror(-rc));
    close(sv[0]);
    abort_monitor(m->pid);
    return rc;
  }
  return 0;
}

int exec_start(const exec_spec *spec, exec_task **out, char *err, size_t errlen) {
  *out = NULL;
  spec_buf sb;
  int rc = prepare_start(spec, &sb, err, errlen);
  if (rc < 0) return rc;
  standby_monitor m;
  mon_reply r;
  for (int standby_ok = 1;; standby_ok = 0) {
    int from_standby;
    if ((rc = get_monitor(spec, standby_ok, &m, &from_standby, err, errlen)) < 0) {
      free(sb.data);
      return rc;
    }
    rc = exchange(m.fd, &sb, &r);
    close(m.fd);
    if (rc == 0 || !from_standby) break;
    /* A standby monitor killed after standby_take found it waiting: gone
     * without a reply, so any task it forked died with it (its parent-death
     * signal); once more with a monitor spawned now. */
    char how[64];
    reap_status(m.pid, how, sizeof how);
    monref_close(&m.mon);
  }
  free(sb.data);
  if (rc < 0) {
    char how[64];
    reap_status(m.pid, how, sizeof how);
    snprintf(err, errlen, "task monitor exited during start-up (%s); see %s/%s", how,
             spec->state_dir, MON_LOG);
    monref_close(&m.mon);
    return -ECHILD;
  }
  if (r.status != 0) {
    char how[64];
    reap_status(m.pid, how, sizeof how); /* it exits right after the reply */
    snprintf(err, errlen, "%s", r.msg);
    monref_close(&m.mon);
    return r.status < 0 ? r.status : -EPROTO;
  }
  if ((rc = make_task(spec, &r, &m.mon, out, err, errlen)) < 0) {
    monref_close(&m.mon);
    abort_monitor(m.pid);
    return rc;
  }
  /* The task has exec'd: the next start's monitor is spawned now, off
   * this thread, which has a reply to send. */
  standby_refill_later(spec->monitor_path);
  return 0;
}

int exec_start_warm(const exec_spec *spec, warm_slot *slot, exec_task **out, char *err,
                    size_t errlen) {
  *out = NULL;
  spec_buf sb;
  int rc = prepare_start(spec, &sb, err, errlen);
  mon_ref mon;
  /* The monitor is the zygote's child, not ours: held by pidfd and start
   * time, like a monitor recovered after a plugin restart. */
  if (rc == 0 && monref_attach(&mon, slot->monitor_pid, slot->monitor_ticks) < 0) {
    free(sb.data);
    rc = -EAGAIN;
    snprintf(err, errlen, "the warm copy's monitor %d is gone", (int)slot->monitor_pid);
  }
  if (rc < 0) {
    close(slot->fd);
    return rc;
  }
  mon_reply r;
  rc = exchange(slot->fd, &sb, &r);
  free(sb.data);
  close(slot->fd);
  slot->fd = -1;
  if (rc < 0) {
    /* Gone before it replied: a task it may have forked dies with it
     * (PR_SET_PDEATHSIG), so a cold start is safe. */
    monref_close(&mon);
    snprintf(err, errlen, "the warm copy's monitor %d exited before the task started",
             (int)slot->monitor_pid);
    return -EAGAIN;
  }
  if (r.status != 0) {
    monref_wait(&mon, 1000); /* it exits right after the reply */
    monref_close(&mon);
    snprintf(err, errlen, "%s", r.msg);
    return r.status < 0 ? r.status : -EPROTO;
  }
  if ((rc = make_task(spec, &r, &mon, out, err, errlen)) < 0) {
    monref_send(&mon, MON_CTL_SIGNAL, MON_CMD_DESTROY);
    monref_wait(&mon, -1);
    monref_close(&mon);
  }
  return rc;
}
