/* exec_cmd_capture: one-shot commands (Nomad's ExecTask, script checks):
 * run to the end or to the timeout, then kill the whole process group,
 * keeping only the tail of the output like Nomad's executor (a circular
 * buffer of CheckBufSize bytes). */
#include "exec_cmd.h"
#include "tail_buf.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads what one pipe has; closes it at EOF. 1 if bytes came. */
static int pump(int *fd, tail_buf *combined, tail_buf *alone) {
  char buf[4096];
  ssize_t n = read(*fd, buf, sizeof buf);
  if (n > 0) {
    tail_buf_put(combined, buf, (size_t)n);
    if (alone) tail_buf_put(alone, buf, (size_t)n);
    return 1;
  }
  if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
    close(*fd);
    *fd = -1;
  }
  return 0;
}

int exec_cmd_capture(const exec_cmd_spec *spec, int timeout_ms, size_t limit,
                     exec_cmd_output *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (spec->tty) {
    snprintf(err, errlen, "a captured command cannot have a tty");
    return -EINVAL;
  }
  tail_buf combined = {0}, alone = {0};
  if (tail_buf_init(&combined, limit) < 0 || tail_buf_init(&alone, limit) < 0) {
    tail_buf_free(&combined);
    tail_buf_free(&alone);
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  exec_cmd c;
  int rc = exec_cmd_start(spec, &c, err, errlen);
  if (rc < 0) {
    tail_buf_free(&combined);
    tail_buf_free(&alone);
    return rc;
  }
  exec_cmd_close_stdin(&c); /* a check reads nothing: EOF at once */

  int64_t start = mono_ms();
  int64_t deadline = timeout_ms > 0 ? start + timeout_ms : INT64_MAX;
  int64_t drain_until = INT64_MAX, last_data = 0;
  for (;;) {
    if (!c.reaped && exec_cmd_reap(&c, 0)) {
      last_data = mono_ms();
      drain_until = last_data + EXEC_CMD_DRAIN_MAX_MS;
    }
    if (c.reaped && c.stdout_fd < 0 && c.stderr_fd < 0) break;
    int64_t now = mono_ms();
    if (!c.reaped && now >= deadline) {
      exec_cmd_kill_group(&c, SIGKILL);
      out->timed_out = 1;
      exec_cmd_reap(&c, -1);
      last_data = now;
      drain_until = now + EXEC_CMD_DRAIN_MAX_MS;
      continue;
    }
    if (c.reaped && (now >= drain_until || now - last_data >= EXEC_CMD_DRAIN_IDLE_MS)) break;

    struct pollfd pfd[3];
    int n = 0, out_i = -1, err_i = -1;
    if (c.stdout_fd >= 0) pfd[out_i = n++] = (struct pollfd){c.stdout_fd, POLLIN, 0};
    if (c.stderr_fd >= 0) pfd[err_i = n++] = (struct pollfd){c.stderr_fd, POLLIN, 0};
    /* Without a pidfd the exit is noticed on a 20 ms tick. */
    if (!c.reaped && c.pidfd >= 0) pfd[n++] = (struct pollfd){c.pidfd, POLLIN, 0};
    int64_t wait = c.reaped ? EXEC_CMD_DRAIN_IDLE_MS - (now - last_data)
                            : (c.pidfd >= 0 ? deadline - now : 20);
    if (!c.reaped && deadline - now < wait) wait = deadline - now;
    if (wait > 1000) wait = 1000;
    if (wait < 0) wait = 0;
    if (poll(pfd, (nfds_t)n, (int)wait) < 0 && errno != EINTR) {
      rc = -errno;
      snprintf(err, errlen, "poll: %s", strerror(errno));
      break;
    }
    int got = 0;
    if (out_i >= 0 && pfd[out_i].revents) got |= pump(&c.stdout_fd, &combined, NULL);
    if (err_i >= 0 && pfd[err_i].revents) got |= pump(&c.stderr_fd, &combined, &alone);
    if (got) last_data = mono_ms();
  }
  exec_cmd_free(&c); /* a failed poll leaves it running: killed here */
  out->exit_code = c.exit_code;
  out->signal = c.signal;
  out->combined = tail_buf_take(&combined, &out->combined_len);
  out->stderr_only = tail_buf_take(&alone, &out->stderr_len);
  if (rc == 0 && (!out->combined || !out->stderr_only)) {
    rc = -ENOMEM;
    snprintf(err, errlen, "out of memory");
  }
  if (rc < 0) exec_cmd_output_free(out);
  return rc;
}

void exec_cmd_output_free(exec_cmd_output *o) {
  free(o->combined);
  free(o->stderr_only);
  o->combined = o->stderr_only = NULL;
  o->combined_len = o->stderr_len = 0;
}
