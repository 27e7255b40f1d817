/* exec_stream (host/exec/exec_stream.h), the session loop both exec RPCs
 * and the daemon share, with real commands: the input queue (order, the
 * close marker, the 8 MiB backlog, sizes), pipes (stdout and stderr apart,
 * stdin then EOF, close markers once each), a pty (the size, a resize, a
 * stdin close ignored), a sink that blocks (nothing lost), a sink that
 * refuses and exec_stream_end (the session stops; freeing the command
 * kills its group), and the proxy side (pop, wait, wake). */
#include "../check.h"
#include "exec_stream.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const env[] = {"PATH=/usr/bin:/bin", "LANG=C", NULL};

/* A sink that keeps everything, optionally sleeping per chunk (a slow
 * client) or refusing after `refuse_after` chunks (a client gone). */
typedef struct collected {
  char out[2][1 << 16];
  size_t len[2];
  size_t total;
  int closes[2];
  int data_after_close;
  int chunks, refuse_after, delay_us;
} collected;

static int collect(void *arg, int is_stderr, const char *data, size_t len, int close) {
  collected *c = arg;
  if (c->refuse_after && c->chunks >= c->refuse_after) return -1;
  c->chunks++;
  if (c->delay_us) usleep((useconds_t)c->delay_us);
  if (close) {
    c->closes[is_stderr]++;
    return 0;
  }
  if (c->closes[is_stderr]) c->data_after_close = 1;
  size_t room = sizeof c->out[0] - 1 - c->len[is_stderr];
  size_t n = len < room ? len : room;
  memcpy(c->out[is_stderr] + c->len[is_stderr], data, n);
  c->len[is_stderr] += n;
  c->out[is_stderr][c->len[is_stderr]] = '\0';
  c->total += len;
  return 0;
}

/* Starts `sh -c script` and runs it through the stream. */
static int run_sh(exec_stream *s, const char *script, int tty, unsigned short rows,
                  unsigned short cols, collected *c, exec_cmd *cmd) {
  const char *argv[] = {"/bin/sh", "-c", script, NULL};
  exec_cmd_spec spec = {.argv = argv, .envp = env, .cwd = "/", .tty = tty, .rows = rows,
                        .cols = cols};
  char err[512];
  if (exec_cmd_start(&spec, cmd, err, sizeof err) != 0) {
    fprintf(stderr, "start: %s\n", err);
    return -100;
  }
  exec_stream_sink sink = {collect, c};
  return exec_stream_run(s, cmd, &sink);
}

static void test_queue(void) {
  exec_stream s;
  CHECK(exec_stream_init(&s) == 0);
  CHECK(exec_stream_pop(&s) == NULL);
  CHECK(exec_stream_put_stdin(&s, "ab", 2, 0) == 0);
  CHECK(exec_stream_put_stdin(&s, "c", 1, 1) == 0);
  CHECK(exec_stream_put_stdin(&s, NULL, 0, 0) == 0); /* a heartbeat queues nothing */
  exec_stream_chunk *a = exec_stream_pop(&s), *b = exec_stream_pop(&s), *c = exec_stream_pop(&s);
  CHECK(a && a->len == 2 && !memcmp(a->data, "ab", 2) && !a->close);
  CHECK(b && b->len == 1 && b->data[0] == 'c' && !b->close);
  CHECK(c && c->len == 0 && c->close); /* the close after the bytes of its message */
  CHECK(exec_stream_pop(&s) == NULL);
  free(a);
  free(b);
  free(c);

  /* The backlog: 8 MiB fit, one byte more does not, and nothing of the
   * refused message is queued. */
  char *big = calloc(1, EXEC_STREAM_MAX_STDIN_BACKLOG);
  CHECK(exec_stream_put_stdin(&s, big, EXEC_STREAM_MAX_STDIN_BACKLOG, 0) == 0);
  CHECK(exec_stream_put_stdin(&s, "x", 1, 1) == -ENOBUFS);
  CHECK_STR_CONTAINS(exec_stream_put_error(-ENOBUFS), "more than 8 MiB");
  exec_stream_chunk *d = exec_stream_pop(&s);
  CHECK(d && d->len == EXEC_STREAM_MAX_STDIN_BACKLOG && exec_stream_pop(&s) == NULL);
  free(d);
  CHECK(exec_stream_put_stdin(&s, "x", 1, 0) == 0); /* room again once taken */
  free(big);

  /* Sizes: clamped, the last wins, consumed once. */
  unsigned short rows, cols;
  CHECK(exec_stream_take_size(&s, &rows, &cols) == 0);
  exec_stream_resize(&s, 10, 20);
  exec_stream_resize(&s, -5, 70000);
  CHECK(exec_stream_take_size(&s, &rows, &cols) == 1 && rows == 0 && cols == 65535);
  CHECK(exec_stream_take_size(&s, &rows, &cols) == 0);

  /* Waiting: input and wake-ups wake, the end is seen. */
  CHECK(exec_stream_wait(&s, 0) == 1); /* the puts and resizes above */
  CHECK(exec_stream_wait(&s, 50) == 0);
  exec_stream_wake(&s);
  CHECK(exec_stream_wait(&s, 1000) == 1);
  CHECK(!exec_stream_ended(&s));
  exec_stream_end(&s);
  CHECK(exec_stream_ended(&s) && exec_stream_wait(&s, 1000) == 1);
  exec_stream_destroy(&s); /* frees the chunk still queued */
}

static void test_pipes(void) {
  exec_stream s;
  exec_cmd cmd;
  collected c = {0};
  CHECK(exec_stream_init(&s) == 0);
  CHECK(exec_stream_put_stdin(&s, "from stdin\n", 11, 1) == 0);
  int rc = run_sh(&s, "echo out; echo err >&2; cat; exit 43", 0, 0, 0, &c, &cmd);
  CHECK(rc == 1 && cmd.exit_code == 43 && cmd.signal == 0);
  CHECK(!strcmp(c.out[0], "out\nfrom stdin\n") && !strcmp(c.out[1], "err\n"));
  CHECK(c.closes[0] == 1 && c.closes[1] == 1 && !c.data_after_close);
  exec_cmd_free(&cmd);
  exec_stream_destroy(&s);

  /* Death by a signal: 128+n. */
  CHECK(exec_stream_init(&s) == 0);
  memset(&c, 0, sizeof c);
  rc = run_sh(&s, "kill -TERM $$", 0, 0, 0, &c, &cmd);
  CHECK(rc == 1 && cmd.exit_code == 143 && cmd.signal == SIGTERM);
  exec_cmd_free(&cmd);
  exec_stream_destroy(&s);
}

static void test_tty(void) {
  exec_stream s;
  exec_cmd cmd;
  collected c = {0};
  CHECK(exec_stream_init(&s) == 0);
  CHECK(exec_stream_put_stdin(&s, "typed\n", 6, 1) == 0); /* the close is ignored */
  int rc = run_sh(&s, "stty size; head -n1", 1, 30, 100, &c, &cmd);
  CHECK(rc == 1 && cmd.exit_code == 0);
  /* The terminal echoes the input when it is written, which may be before
   * stty prints: the lines, in either order. */
  CHECK(!strcmp(c.out[0], "30 100\r\ntyped\r\ntyped\r\n") ||
        !strcmp(c.out[0], "typed\r\n30 100\r\ntyped\r\n"));
  CHECK(c.closes[0] == 1 && c.closes[1] == 0 && c.len[1] == 0); /* stderr is the pty */
  exec_cmd_free(&cmd);
  exec_stream_destroy(&s);

  /* A resize while it runs reaches the terminal. */
  CHECK(exec_stream_init(&s) == 0);
  memset(&c, 0, sizeof c);
  exec_stream_resize(&s, 40, 120);
  rc = run_sh(&s, "sleep 0.3; stty size", 1, 30, 100, &c, &cmd);
  CHECK(rc == 1 && !strcmp(c.out[0], "40 120\r\n"));
  exec_cmd_free(&cmd);
  exec_stream_destroy(&s);
}

/* A slow sink loses nothing (the command waits); a refusing one and the
 * client's end stop the session early, with the command still to kill. */
static void *end_later(void *arg) {
  usleep(200000);
  exec_stream_end(arg);
  return NULL;
}

static void test_flow_and_end(void) {
  exec_stream s;
  exec_cmd cmd;
  collected c = {0};
  c.delay_us = 200;
  CHECK(exec_stream_init(&s) == 0);
  int rc = run_sh(&s, "head -c 1000000 /dev/zero", 0, 0, 0, &c, &cmd);
  CHECK(rc == 1 && c.total == 1000000 && cmd.exit_code == 0);
  exec_cmd_free(&cmd);
  exec_stream_destroy(&s);

  CHECK(exec_stream_init(&s) == 0);
  memset(&c, 0, sizeof c);
  c.refuse_after = 1;
  rc = run_sh(&s, "echo one; sleep 0.2; echo two; exec sleep 30", 0, 0, 0, &c, &cmd);
  CHECK(rc == 0 && !cmd.reaped);
  pid_t leader = cmd.pid;
  exec_cmd_free(&cmd); /* kills the group */
  CHECK(kill(leader, 0) != 0);
  exec_stream_destroy(&s);

  CHECK(exec_stream_init(&s) == 0);
  memset(&c, 0, sizeof c);
  pthread_t th;
  pthread_create(&th, NULL, end_later, &s);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  rc = run_sh(&s, "exec sleep 30", 0, 0, 0, &c, &cmd);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  pthread_join(th, NULL);
  CHECK(rc == 0 && t1.tv_sec - t0.tv_sec < 5);
  exec_cmd_free(&cmd);
  exec_stream_destroy(&s);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  test_queue();
  test_pipes();
  test_tty();
  test_flow_and_end();
  return CHECK_DONE();
}
