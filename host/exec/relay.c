/* The plugin's side of elide-relay (see relay.h and relay_proto.h). */
#include "relay.h"

#include "exec_internal.h"
#include "relay_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

int relay_default_path(char *out, size_t outlen) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) {
      *slash = '\0';
      int len = snprintf(out, outlen, "%s/../%s/elide-relay", self, ELIDE_PKGLIBDIR_REL);
      if (len > 0 && (size_t)len < outlen && access(out, X_OK) == 0) return 0;
    }
  }
  int len = snprintf(out, outlen, "%s/elide-relay", ELIDE_INSTALL_PKGLIBDIR);
  if (len < 0 || (size_t)len >= outlen) return -ENAMETOOLONG;
  return access(out, X_OK) == 0 ? 0 : -ENOENT;
}

int relay_spawn(const char *relay_path, const char *state_dir, const char *stdout_fifo,
                const char *stderr_fifo, pid_t *pid, uint64_t *ticks, char *err,
                size_t errlen) {
  int pp[2];
  if (pipe2(pp, O_CLOEXEC) != 0) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    return -errno;
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  posix_spawn_file_actions_adddup2(&fa, pp[1], RELAY_READY_FD);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&fa, RELAY_READY_FD + 1);
  sys_spawnattr_clean_signals(&at);
  char *const argv[] = {"elide-relay", (char *)state_dir, (char *)(stdout_fifo ? stdout_fifo : ""),
                        (char *)(stderr_fifo ? stderr_fifo : ""), NULL};
  char *const envp[] = {NULL};
  pid_t first;
  int rc = posix_spawn(&first, relay_path, &fa, &at, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(pp[1]);
  if (rc != 0) {
    close(pp[0]);
    snprintf(err, errlen, "cannot start relay %s: %s", relay_path, strerror(rc));
    return -rc;
  }
  relay_ready r;
  memset(&r, 0, sizeof r);
  ssize_t n;
  do n = read(pp[0], &r, sizeof r);
  while (n < 0 && errno == EINTR);
  close(pp[0]);
  while (waitpid(first, NULL, 0) < 0 && errno == EINTR) {
  }
  if (n != (ssize_t)sizeof r) {
    snprintf(err, errlen, "relay %s exited without a reply", relay_path);
    return -EPROTO;
  }
  r.msg[sizeof r.msg - 1] = '\0';
  if (r.status != 0) {
    snprintf(err, errlen, "relay: %s: %s", r.msg, strerror(-r.status));
    return r.status;
  }
  *pid = r.pid;
  if (sys_proc_stat(r.pid, ticks, NULL) != 0) {
    snprintf(err, errlen, "relay %d vanished", (int)r.pid);
    return -ESRCH;
  }
  return 0;
}

int relay_alive(pid_t pid, uint64_t ticks) {
  uint64_t now;
  char state;
  return pid > 0 && sys_proc_stat(pid, &now, &state) == 0 && now == ticks && state != 'Z';
}

int relay_connect(const char *sock_path) {
  /* Through an O_PATH descriptor of the directory: sun_path holds only 108
   * bytes. */
  char dir_path[PATH_MAX];
  const char *slash = strrchr(sock_path, '/');
  if (!slash || slash == sock_path || (size_t)(slash - sock_path) >= sizeof dir_path ||
      strlen(slash + 1) > 64)
    return -EINVAL;
  memcpy(dir_path, sock_path, (size_t)(slash - sock_path));
  dir_path[slash - sock_path] = '\0';
  int dir = open(dir_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return -errno;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "/proc/self/fd/%d/%s", dir, slash + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rc = fd < 0 ? -errno : 0;
  if (rc == 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    rc = -errno;
    close(fd);
  }
  close(dir);
  return rc == 0 ? fd : rc;
}

static int send_all(int fd, const void *p, size_t n) {
  const char *q = p;
  while (n) {
    ssize_t w = send(fd, q, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -EPIPE;
    q += w;
    n -= (size_t)w;
  }
  return 0;
}

static int request(int fd, uint32_t type, int which, uint64_t offset, const void *p, uint32_t len,
                   uint64_t next[2], unsigned *closed) {
  relay_req q = {type, (uint32_t)which, offset, len, 0};
  if (send_all(fd, &q, sizeof q) != 0 || (len && send_all(fd, p, len) != 0)) return -EPIPE;
  relay_rep r;
  size_t got = 0;
  while (got < sizeof r) {
    ssize_t n = recv(fd, (char *)&r + got, sizeof r - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -EPIPE;
    got += (size_t)n;
  }
  if (next) {
    next[0] = r.next[0];
    next[1] = r.next[1];
  }
  if (closed) *closed = r.closed;
  return r.status;
}

int relay_offsets(int fd, uint64_t next[2], unsigned *closed) {
  return request(fd, RELAY_OFFSETS, 0, 0, NULL, 0, next, closed);
}

int relay_data(int fd, int which, uint64_t offset, const void *p, size_t len, uint64_t next[2]) {
  const unsigned char *q = p;
  int rc = 0;
  do {
    uint32_t n = len > RELAY_MAX_DATA ? RELAY_MAX_DATA : (uint32_t)len;
    rc = request(fd, RELAY_DATA, which, offset, q, n, next, NULL);
    q += n;
    offset += n;
    len -= n;
  } while (rc == 0 && len);
  return rc;
}

int relay_skip(int fd, int which, uint64_t offset, uint64_t next[2]) {
  return request(fd, RELAY_SKIP, which, offset, NULL, 0, next, NULL);
}

int relay_eof(int fd, int which, uint64_t next[2]) {
  return request(fd, RELAY_EOF, which, 0, NULL, 0, next, NULL);
}

int relay_abort(int fd) { return request(fd, RELAY_ABORT, 0, 0, NULL, 0, NULL, NULL); }
