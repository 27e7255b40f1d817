/* run_capture: posix_spawn with stdout+stderr on a pipe, a deadline, and a
 * minimal environment, so a fingerprint never inherits the plugin's. */
#include "run_capture.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int run_capture(const char *const *argv, int timeout_ms, char *out, size_t outlen, int *exit_code,
                char *err, size_t errlen) {
  if (!argv || !argv[0] || argv[0][0] != '/' || !out || outlen == 0) {
    snprintf(err, errlen, "run_capture: argv[0] must be an absolute path");
    return -EINVAL;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    return -errno;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char *const envp[] = {(char *)"PATH=/usr/local/bin:/usr/bin:/bin", (char *)"LANG=C.UTF-8", NULL};
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, &attr, (char *const *)argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(rc));
    return -rc;
  }
  size_t used = 0;
  int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 5000);
  int timed_out = 0;
  for (;;) {
    int left = (int)(deadline - mono_ms());
    if (left <= 0) {
      timed_out = 1;
      break;
    }
    struct pollfd pfd = {fds[0], POLLIN, 0};
    int pr = poll(&pfd, 1, left);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) {
      timed_out = pr == 0;
      break;
    }
    char scratch[512];
    char *dst = used + 1 < outlen ? out + used : scratch;
    size_t cap = used + 1 < outlen ? outlen - 1 - used : sizeof scratch;
    ssize_t n = read(fds[0], dst, cap);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (dst != scratch) used += (size_t)n; /* output beyond outlen is drained and dropped */
  }
  out[used] = '\0';
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    snprintf(err, errlen, "%s did not finish within %d ms", argv[0], timeout_ms);
    return -ETIMEDOUT;
  }
  *exit_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  return 0;
}
