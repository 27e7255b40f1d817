/* Warm pools: the zygote's life, refills and the ready copies (see
 * warm_pool.h; the wire protocol is abi/warm-starts.md).
 *
 * One thread per pool owns the zygote (spawn, bootstrap, hello, restart,
 * reaping: it is our child and nobody else's business) and the pending
 * copies; the mutex guards the slot table and the figures, which
 * warm_pool_take reads from other threads. Nothing blocking runs under the
 * mutex. */
#include "warm_pool.h"

#include "exec_internal.h"
#include "log.h"
#include "strv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_COPIES 64
#define ZYGOTE_READY_TIMEOUT_NS (30LL * 1000000000LL) /* start-up of the runtime */
#define HELLO_TIMEOUT_NS (10LL * 1000000000LL)        /* fork + exec of the monitor */
#define BACKOFF_MIN_NS (100LL * 1000000LL)
#define BACKOFF_MAX_NS (30LL * 1000000000LL)
#define ZYGOTE_FD 3

typedef struct copy {
  int fd;
  int ready;          /* 0: fork asked, the monitor's hello not yet read */
  int64_t asked_ns;   /* when the fork was asked (pending copies time out) */
  warm_slot slot;     /* filled by the hello */
} copy;

struct warm_pool {
  /* Configuration: fixed after start. */
  char name[64];
  char **argv;
  char **envp; /* NULL-terminated, never NULL */
  char *bootstrap;
  size_t bootstrap_len;
  char *runtime;
  char *monitor_path;
  int size;

  pthread_t thread;
  int wake_fd; /* eventfd: refill (a taken copy has started), or stop */

  /* The pool thread's own. */
  pid_t zpid;         /* 0: no zygote */
  int zfd;            /* our end of its control socket */
  int zready;         /* it said "ready" */
  int64_t zstart_ns;
  int failures;       /* in a row; reset by a copy that comes up */
  int64_t retry_at_ns;
  int unusable;       /* the zygote said so: no more attempts */

  pthread_mutex_t mu; /* guards everything below */
  int stopping;
  copy copies[MAX_COPIES];
  int ncopies;
  warm_pool_stats stats;
};

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void set_state(warm_pool *p, const char *fmt, const char *detail) {
  pthread_mutex_lock(&p->mu);
  snprintf(p->stats.state, sizeof p->stats.state, fmt, detail);
  pthread_mutex_unlock(&p->mu);
}

/* Something failed: wait longer before the next attempt each time. */
static void back_off(warm_pool *p, const char *why) {
  p->failures++;
  int64_t d = BACKOFF_MIN_NS << (p->failures > 9 ? 9 : p->failures - 1);
  if (d > BACKOFF_MAX_NS) d = BACKOFF_MAX_NS;
  p->retry_at_ns = mono_ns() + d;
  set_state(p, "backing off: %s", why);
  log_msg(p->failures == 1 ? LOG_WARN : LOG_DEBUG, "warm pool: backing off", "module", p->name,
          "reason", why, NULL);
}

static int write_all(int fd, const char *s, size_t len) {
  while (len) {
    ssize_t n = write(fd, s, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    s += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Reaps the zygote (our child); SIGKILL first unless it is already gone. */
static void reap_zygote(warm_pool *p, int kill_it) {
  if (p->zfd >= 0) close(p->zfd);
  p->zfd = -1;
  if (p->zpid > 0) {
    if (kill_it) kill(p->zpid, SIGKILL);
    while (waitpid(p->zpid, NULL, 0) < 0 && errno == EINTR) {
    }
  }
  p->zpid = 0;
  p->zready = 0;
  pthread_mutex_lock(&p->mu);
  p->stats.zygote_pid = 0;
  pthread_mutex_unlock(&p->mu);
}

/* posix_spawn of the zygote: fd 0 the bootstrap pipe, 1-2 /dev/null, 3 the
 * control socket, nothing else; the module's environment, cwd "/", default
 * signals. The bootstrap is written before anything is awaited: it is
 * read at once, so a pipe larger than its buffer only blocks briefly. */
static void start_zygote(warm_pool *p) {
  int ctl[2], in[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
    back_off(p, strerror(errno));
    return;
  }
  if (pipe2(in, O_CLOEXEC) < 0) {
    back_off(p, strerror(errno));
    close(ctl[0]);
    close(ctl[1]);
    return;
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  posix_spawn_file_actions_adddup2(&fa, ctl[1], ZYGOTE_FD);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&fa, ZYGOTE_FD + 1);
  posix_spawn_file_actions_addchdir_np(&fa, "/");
  sys_spawnattr_clean_signals(&at);
  pid_t pid;
  int rc = posix_spawn(&pid, p->argv[0], &fa, &at, p->argv, p->envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(ctl[1]);
  close(in[0]);
  if (rc != 0) {
    char why[PATH_MAX + 64];
    snprintf(why, sizeof why, "cannot start %s: %s", p->argv[0], strerror(rc));
    back_off(p, why);
    close(ctl[0]);
    close(in[1]);
    return;
  }
  p->zpid = pid;
  p->zfd = ctl[0];
  p->zready = 0;
  p->zstart_ns = mono_ns();
  pthread_mutex_lock(&p->mu);
  p->stats.zygote_pid = pid;
  p->stats.zygote_starts++;
  snprintf(p->stats.state, sizeof p->stats.state, "starting");
  pthread_mutex_unlock(&p->mu);
  /* A zygote that dies first leaves EPIPE here; its EOF says the rest. */
  if (p->bootstrap_len) write_all(in[1], p->bootstrap, p->bootstrap_len);
  close(in[1]);
}

/* Asks the zygote for one more copy: a fresh socketpair whose far end goes
 * to the copy's monitor (SCM_RIGHTS), with the monitor's path. */
static int ask_fork(warm_pool *p) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return -errno;
  char buf[PATH_MAX + 8];
  int len = snprintf(buf, sizeof buf, "fork%c%s", '\0', p->monitor_path);
  struct iovec iov = {.iov_base = buf, .iov_len = (size_t)len};
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE(sizeof(int))];
  } cm;
  memset(&cm, 0, sizeof cm);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.space,
                       .msg_controllen = sizeof cm.space};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &sv[1], sizeof(int));
  ssize_t n;
  do n = sendmsg(p->zfd, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  int e = n < 0 ? errno : 0;
  close(sv[1]);
  if (e) {
    close(sv[0]);
    return -e;
  }
  pthread_mutex_lock(&p->mu);
  p->copies[p->ncopies++] = (copy){.fd = sv[0], .asked_ns = mono_ns(), .slot.fd = sv[0]};
  p->stats.forks++;
  p->stats.pending++;
  pthread_mutex_unlock(&p->mu);
  return 0;
}

/* Removes copy i (under mu) and closes it: its monitor kills the copy. */
static void drop_copy_locked(warm_pool *p, int i) {
  close(p->copies[i].fd);
  if (p->copies[i].ready) p->stats.ready--;
  else p->stats.pending--;
  p->copies[i] = p->copies[--p->ncopies];
}

/* The zygote spoke: "ready ...", "unusable <why>" or "error <why>"; or
 * it is gone (EOF). */
static void on_zygote(warm_pool *p) {
  char buf[512];
  ssize_t n;
  do n = recv(p->zfd, buf, sizeof buf - 1, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n <= 0) {
    reap_zygote(p, 0);
    back_off(p, "the zygote exited");
    return;
  }
  buf[n] = '\0';
  if (!strncmp(buf, "ready", 5)) {
    p->zready = 1;
    set_state(p, "ready%s", buf + 5);
    log_msg(LOG_INFO, "warm pool ready", "module", p->name, "zygote", buf + 5, NULL);
  } else if (!strncmp(buf, "unusable ", 9)) {
    p->unusable = 1;
    reap_zygote(p, 1);
    set_state(p, "unusable: %s", buf + 9);
    log_msg(LOG_WARN, "warm pool disabled: every task starts cold", "module", p->name, "reason",
            buf + 9, NULL);
  } else {
    back_off(p, n > 6 && !strncmp(buf, "error ", 6) ? buf + 6 : "unexpected zygote message");
  }
}

/* A copy's socket is readable: a pending copy's hello, or a ready copy's
 * end (any event on an idle monitor's socket means it is gone). */
static void on_copy(warm_pool *p, int fd) {
  pthread_mutex_lock(&p->mu);
  int i = 0;
  while (i < p->ncopies && p->copies[i].fd != fd) i++;
  if (i == p->ncopies) { /* taken meanwhile */
    pthread_mutex_unlock(&p->mu);
    return;
  }
  copy *c = &p->copies[i];
  if (c->ready) {
    p->stats.died++;
    drop_copy_locked(p, i);
    pthread_mutex_unlock(&p->mu);
    eventfd_write(p->wake_fd, 1);
    return;
  }
  mon_warm_hello h;
  ssize_t n;
  do n = recv(fd, &h, sizeof h, MSG_DONTWAIT | MSG_WAITALL);
  while (n < 0 && errno == EINTR);
  uint64_t ticks = 0;
  if (n == (ssize_t)sizeof h && h.magic == MON_WARM_MAGIC && h.monitor_pid > 0 &&
      h.task_pid > 0 && sys_proc_stat(h.monitor_pid, &ticks, NULL) == 0) {
    c->ready = 1;
    c->slot.monitor_pid = h.monitor_pid;
    c->slot.monitor_ticks = ticks;
    c->slot.task_pid = h.task_pid;
    p->stats.pending--;
    p->stats.ready++;
    p->failures = 0;
    pthread_mutex_unlock(&p->mu);
    return;
  }
  drop_copy_locked(p, i);
  pthread_mutex_unlock(&p->mu);
  back_off(p, "a forked copy's monitor did not come up");
}

/* Pending copies and a zygote that take too long count as failures. */
static void expire(warm_pool *p, int64_t now) {
  int expired = 0;
  pthread_mutex_lock(&p->mu);
  for (int i = p->ncopies - 1; i >= 0; i--) {
    if (!p->copies[i].ready && now - p->copies[i].asked_ns > HELLO_TIMEOUT_NS) {
      drop_copy_locked(p, i);
      expired = 1;
    }
  }
  pthread_mutex_unlock(&p->mu);
  if (expired) back_off(p, "a forked copy was not ready within 10 s");
  if (p->zpid && !p->zready && now - p->zstart_ns > ZYGOTE_READY_TIMEOUT_NS) {
    reap_zygote(p, 1);
    back_off(p, "the zygote was not ready within 30 s");
  }
}

/* One round: start or refill as needed, then wait for something to do. */
static void *pool_thread(void *arg) {
  warm_pool *p = arg;
  struct pollfd fds[MAX_COPIES + 2];
  for (;;) {
    int64_t now = mono_ns();
    expire(p, now);
    int waiting = p->failures && now < p->retry_at_ns;
    if (!p->unusable && !p->zpid && !waiting) start_zygote(p);
    pthread_mutex_lock(&p->mu);
    int want = p->size - p->ncopies, stopping = p->stopping;
    pthread_mutex_unlock(&p->mu);
    if (stopping) break;
    for (; p->zready && !waiting && want > 0; want--) {
      int rc = ask_fork(p);
      if (rc < 0) {
        back_off(p, strerror(-rc));
        break;
      }
    }
    nfds_t n = 0;
    fds[n++] = (struct pollfd){.fd = p->wake_fd, .events = POLLIN};
    if (p->zfd >= 0) fds[n++] = (struct pollfd){.fd = p->zfd, .events = POLLIN};
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->ncopies; i++)
      fds[n++] = (struct pollfd){.fd = p->copies[i].fd, .events = POLLIN};
    int any_pending = p->stats.pending > 0;
    pthread_mutex_unlock(&p->mu);
    /* Wake for the back-off's end and the start-up deadlines. */
    int timeout = -1;
    if (p->failures && !p->unusable) timeout = (int)((p->retry_at_ns - now) / 1000000) + 1;
    if (any_pending || (p->zpid && !p->zready)) timeout = timeout < 0 || timeout > 1000 ? 1000 : timeout;
    if (timeout == 0) timeout = 1;
    int r = poll(fds, n, timeout);
    if (r <= 0) continue;
    for (nfds_t i = 0; i < n; i++) {
      if (!fds[i].revents) continue;
      if (fds[i].fd == p->wake_fd) {
        eventfd_t v;
        eventfd_read(p->wake_fd, &v);
      } else if (fds[i].fd == p->zfd) {
        on_zygote(p);
      } else {
        on_copy(p, fds[i].fd);
      }
    }
  }
  return NULL;
}

static void free_pool(warm_pool *p) {
  strv_free(p->argv);
  strv_free(p->envp);
  free(p->bootstrap);
  free(p->runtime);
  free(p->monitor_path);
  if (p->wake_fd >= 0) close(p->wake_fd);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

int warm_pool_start(const warm_pool_config *c, warm_pool **out, char *err, size_t errlen) {
  *out = NULL;
  if (!c->argv || !c->argv[0] || c->argv[0][0] != '/' || !c->runtime || c->runtime[0] != '/' ||
      !c->monitor_path || c->monitor_path[0] != '/') {
    snprintf(err, errlen, "warm pool of %s: the zygote, its runtime and the monitor need "
             "absolute paths", c->name ? c->name : "?");
    return -EINVAL;
  }
  if (c->size < 1 || c->size > MAX_COPIES) {
    snprintf(err, errlen, "warm pool of %s: size %d is not within 1..%d", c->name, c->size,
             MAX_COPIES);
    return -EINVAL;
  }
  warm_pool *p = calloc(1, sizeof *p);
  if (!p) goto oom;
  pthread_mutex_init(&p->mu, NULL);
  p->wake_fd = -1;
  p->zfd = -1;
  snprintf(p->name, sizeof p->name, "%s", c->name ? c->name : "?");
  if (!(p->argv = strv_copy(c->argv)) || !(p->envp = strv_copy(c->envp))) goto oom;
  if (c->bootstrap_len) {
    if (!(p->bootstrap = malloc(c->bootstrap_len))) goto oom;
    memcpy(p->bootstrap, c->bootstrap, c->bootstrap_len);
    p->bootstrap_len = c->bootstrap_len;
  }
  p->runtime = strdup(c->runtime);
  p->monitor_path = strdup(c->monitor_path);
  if (!p->runtime || !p->monitor_path) goto oom;
  p->size = c->size;
  snprintf(p->stats.state, sizeof p->stats.state, "starting");
  p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (p->wake_fd < 0) {
    snprintf(err, errlen, "warm pool of %s: eventfd: %s", p->name, strerror(errno));
    free_pool(p);
    return -EMFILE;
  }
  int rc = pthread_create(&p->thread, NULL, pool_thread, p);
  if (rc != 0) {
    snprintf(err, errlen, "warm pool of %s: cannot start its thread: %s", p->name, strerror(rc));
    free_pool(p);
    return -rc;
  }
  *out = p;
  return 0;
oom:
  snprintf(err, errlen, "out of memory");
  if (p) free_pool(p);
  return -ENOMEM;
}

int warm_pool_take(warm_pool *p, const char *argv0, warm_slot *slot, char *why, size_t whylen) {
  if (!argv0 || strcmp(argv0, p->runtime) != 0) {
    snprintf(why, whylen, "%s is not the warm pool's runtime %s", argv0 ? argv0 : "(none)",
             p->runtime);
    return 0;
  }
  pthread_mutex_lock(&p->mu);
  int i = 0;
  while (i < p->ncopies && !p->copies[i].ready) i++;
  if (i == p->ncopies) {
    snprintf(why, whylen, "no warm copy ready (pool %s)", p->stats.state);
    pthread_mutex_unlock(&p->mu);
    return 0;
  }
  *slot = p->copies[i].slot;
  p->copies[i] = p->copies[--p->ncopies];
  p->stats.ready--;
  p->stats.taken++;
  pthread_mutex_unlock(&p->mu);
  return 1; /* the replacement comes with warm_pool_refill */
}

void warm_pool_refill(warm_pool *p) { eventfd_write(p->wake_fd, 1); }

void warm_pool_get_stats(warm_pool *p, warm_pool_stats *out) {
  pthread_mutex_lock(&p->mu);
  *out = p->stats;
  pthread_mutex_unlock(&p->mu);
}

void warm_pool_stop(warm_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stopping = 1;
  pthread_mutex_unlock(&p->mu);
  eventfd_write(p->wake_fd, 1);
  pthread_join(p->thread, NULL);
  for (int i = 0; i < p->ncopies; i++) close(p->copies[i].fd);
  p->ncopies = 0;
  /* EOF on its control socket ends the zygote; it gets a moment first. */
  if (p->zpid > 0) {
    close(p->zfd);
    p->zfd = -1;
    int reaped = 0;
    for (int i = 0; i < 200 && !reaped; i++) {
      reaped = waitpid(p->zpid, NULL, WNOHANG) == p->zpid;
      struct timespec d = {0, 10 * 1000000L};
      if (!reaped) nanosleep(&d, NULL);
    }
    if (reaped) p->zpid = 0;
    else reap_zygote(p, 1);
  }
  free_pool(p);
}
