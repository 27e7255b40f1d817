/* elide-monitor, warm mode: handing a task to the idle pre-initialised
 * process (the monitor's child, waiting on the other end of MON_WARM_FD),
 * and starting the task cold when that process refuses or is gone.
 *
 * The handoff is one SOCK_SEQPACKET message: SCM_RIGHTS with the task's
 * [stdin, stdout, stderr] and a payload of NUL-terminated text fields, in
 * order: "ELH1", set_user ("0" | "1"), uid, gid, groups (comma-separated
 * decimals, "" for none), cwd, argc, argv[0..argc), envc, envp[0..envc)
 * (the spec's argv and envp; argv[0] is the runtime's path). The payload is
 * as large as the spec's strings, so the receiver must size its buffer from
 * the message (MSG_PEEK | MSG_TRUNC). The process answers with one message:
 * "ok" (it runs the task from now on; user code may start at once) or
 * "no <reason>" (it ran nothing and exits). */
#include "cgroup.h"
#include "mon_proto.h"
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define HANDOFF_MAGIC "ELH1"

/* Bytes of one field, its NUL included. */
static size_t field_len(const char *s) { return strlen(s) + 1; }

/* Builds the payload in a malloc'ed buffer; NULL when out of memory. */
static char *build_payload(const mon_spec *s, size_t *len) {
  char num[3][24];
  snprintf(num[0], sizeof num[0], "%u", (unsigned)s->uid);
  snprintf(num[1], sizeof num[1], "%u", (unsigned)s->gid);
  size_t argc = 0, envc = 0;
  while (s->argv[argc]) argc++;
  while (s->envp[envc]) envc++;
  char counts[2][24];
  snprintf(counts[0], sizeof counts[0], "%zu", argc);
  snprintf(counts[1], sizeof counts[1], "%zu", envc);

  size_t n = sizeof HANDOFF_MAGIC + 2 + field_len(num[0]) + field_len(num[1]);
  size_t ngroups = s->set_user ? s->ngroups : 0;
  n += ngroups * 11 + 1; /* at most 10 digits and a comma each, then the NUL */
  n += field_len(s->cwd) + field_len(counts[0]) + field_len(counts[1]);
  for (size_t i = 0; i < argc; i++) n += field_len(s->argv[i]);
  for (size_t i = 0; i < envc; i++) n += field_len(s->envp[i]);
  char *buf = malloc(n), *p = buf;
  if (!buf) return NULL;
  p = stpcpy(p, HANDOFF_MAGIC) + 1;
  p = stpcpy(p, s->set_user ? "1" : "0") + 1;
  p = stpcpy(p, num[0]) + 1;
  p = stpcpy(p, num[1]) + 1;
  for (size_t i = 0; i < ngroups; i++)
    p += sprintf(p, i ? ",%u" : "%u", (unsigned)s->groups[i]);
  *p++ = '\0';
  p = stpcpy(p, s->cwd) + 1;
  p = stpcpy(p, counts[0]) + 1;
  for (size_t i = 0; i < argc; i++) p = stpcpy(p, s->argv[i]) + 1;
  p = stpcpy(p, counts[1]) + 1;
  for (size_t i = 0; i < envc; i++) p = stpcpy(p, s->envp[i]) + 1;
  *len = (size_t)(p - buf);
  return buf;
}

/* Sends the one handoff message. 0, or -errno with the reason in why. */
static int send_handoff(const mon_spec *s, int in_fd, int out_fd, int err_fd, char *why,
                        size_t whylen) {
  size_t len = 0;
  char *payload = build_payload(s, &len);
  if (!payload) {
    snprintf(why, whylen, "out of memory for the handoff");
    return -ENOMEM;
  }
  /* A datagram must fit the send buffer whole; a task with a large
   * environment needs more than the default (~200 KiB). Forcing it past
   * wmem_max needs CAP_NET_ADMIN; without it the send may fail with
   * EMSGSIZE and the task starts cold. */
  if (len > 64 * 1024) {
    int want = len < (size_t)(1 << 29) ? (int)len + 64 * 1024 : 1 << 29;
    if (setsockopt(MON_WARM_FD, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want) < 0)
      setsockopt(MON_WARM_FD, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
  }
  int fds[3] = {in_fd, out_fd, err_fd};
  union {
    char buf[CMSG_SPACE(sizeof fds)];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct iovec iov = {.iov_base = payload, .iov_len = len};
  struct msghdr mh = {.msg_iov = &iov,
                      .msg_iovlen = 1,
                      .msg_control = control.buf,
                      .msg_controllen = sizeof control.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(c), fds, sizeof fds);
  ssize_t n;
  do n = sendmsg(MON_WARM_FD, &mh, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  int e = n < 0 ? errno : n != (ssize_t)len ? EPROTO : 0;
  free(payload);
  if (!e) return 0;
  if (e == EPIPE || e == ECONNRESET || e == ECONNREFUSED || e == ENOTCONN)
    snprintf(why, whylen, "pool process died");
  else if (e == EMSGSIZE)
    snprintf(why, whylen,
             "the task's arguments and environment (%zu bytes) are too large for a handoff", len);
  else
    snprintf(why, whylen, "cannot hand the task over: %s", strerror(e));
  return -e;
}

/* Reads the process's answer: 0 for "ok", else -1 with the reason in why. */
static int read_answer(char *why, size_t whylen) {
  char buf[256];
  ssize_t n;
  do n = recv(MON_WARM_FD, buf, sizeof buf - 1, 0);
  while (n < 0 && errno == EINTR);
  /* ECONNRESET: it died with our message unread in its queue. */
  if (n == 0 || (n < 0 && errno == ECONNRESET)) {
    snprintf(why, whylen, "pool process died");
    return -1;
  }
  if (n < 0) {
    snprintf(why, whylen, "cannot read the pool process's answer: %s", strerror(errno));
    return -1;
  }
  if (n == 2 && memcmp(buf, "ok", 2) == 0) return 0;
  if (n > 3 && memcmp(buf, "no ", 3) == 0) {
    /* Its words go into logs and a reply: printable ASCII only. */
    size_t k = 0;
    for (ssize_t i = 3; i < n && k + 1 < whylen; i++)
      why[k++] = buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : '?';
    why[k] = '\0';
    return -1;
  }
  snprintf(why, whylen, "unexpected answer from the pool process");
  return -1;
}

/* The monitor's part before the process may run user code: the task's
 * cgroups and OOM score, which the process cannot set itself once it has
 * dropped privileges. 0, or -errno with the reason in why. */
static int place_process(const mon_spec *s, pid_t pid, char *why, size_t whylen) {
  for (int i = 0; s->cgroup_dirs && s->cgroup_dirs[i]; i++) {
    int rc = cgroup_join(s->cgroup_dirs[i], pid);
    if (rc < 0) {
      snprintf(why, whylen, "cannot join %s: %s", s->cgroup_dirs[i], strerror(-rc));
      return rc;
    }
  }
  if (s->set_oom_score_adj) {
    char path[64], num[16];
    snprintf(path, sizeof path, "/proc/%d/oom_score_adj", (int)pid);
    int len = snprintf(num, sizeof num, "%d", s->oom_score_adj);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int e = fd < 0 ? errno : 0;
    if (!e && write(fd, num, (size_t)len) != len) e = errno ? errno : EIO;
    if (fd >= 0) close(fd);
    if (e) {
      snprintf(why, whylen, "cannot set oom_score_adj %d: %s", s->oom_score_adj, strerror(e));
      return -e;
    }
  }
  return 0;
}

int mon_start_warm(const mon_spec *s, pid_t idle_pid, int in_fd, int out_fd, int err_fd,
                   pid_t *pid, int *warm, char *note, size_t notelen, char *err, size_t errlen) {
  char why[160];
  *warm = 0;
  note[0] = '\0';
  /* Already dead (not yet reaped), it would only make the steps below
   * fail with less telling errors. */
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int took = 0;
  if (waitid(P_PID, (id_t)idle_pid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0 &&
      si.si_pid == idle_pid)
    snprintf(why, sizeof why, "pool process died");
  else
    took = place_process(s, idle_pid, why, sizeof why) == 0 &&
           send_handoff(s, in_fd, out_fd, err_fd, why, sizeof why) == 0 &&
           read_answer(why, sizeof why) == 0;
  close(MON_WARM_FD);
  if (took) {
    *pid = idle_pid;
    *warm = 1;
    return 0;
  }
  /* It runs nothing of the task's; whatever it is doing, it goes. Our
   * unreaped child, so the pid is still its own. */
  kill(idle_pid, SIGKILL);
  while (waitpid(idle_pid, NULL, __WALL) < 0 && errno == EINTR) {
  }
  snprintf(note, notelen, "warm start refused: %s", why);
  return mon_spawn_task(s, in_fd, out_fd, err_fd, pid, err, errlen);
}
