/* Tests of elide-relay (host/exec/relay_main.c) through its client
 * (relay.c): offsets, duplicates dropped, gaps refused, eof, exit once both
 * FIFOs are closed, abort, surviving a client's disconnect, surviving its
 * FIFO's reader going away (SIGPIPE), memory. */
#include "../check.h"
#include "relay.h"
#include "test_exec_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fixture {
  char *dir;
  char fifo[2][512];
  char sock[600];
  tu_reader *reader[2];
  pid_t pid;
  uint64_t ticks;
} fixture;

static int setup(fixture *f, int with_stderr) {
  memset(f, 0, sizeof *f);
  f->dir = tu_tmpdir();
  snprintf(f->sock, sizeof f->sock, "%s/" RELAY_SOCKET_NAME, f->dir);
  for (int i = 0; i < 2; i++) {
    snprintf(f->fifo[i], sizeof f->fifo[i], "%s/%s.fifo", f->dir, i ? "err" : "out");
    if (i == 1 && !with_stderr) {
      f->fifo[i][0] = '\0';
      continue;
    }
    f->reader[i] = tu_reader_start(f->fifo[i], 0);
  }
  char err[256] = "";
  int rc = relay_spawn(ELIDE_TEST_RELAY, f->dir, f->fifo[0], f->fifo[1], &f->pid, &f->ticks, err,
                       sizeof err);
  if (rc != 0) fprintf(stderr, "relay_spawn: %s\n", err);
  CHECK(rc == 0 && f->pid > 0 && relay_alive(f->pid, f->ticks));
  return rc;
}

static void teardown(fixture *f) {
  for (int i = 0; i < 2; i++)
    if (f->reader[i]) free(tu_reader_join(f->reader[i], NULL));
  tu_rmtree(f->dir);
}

static long smaps_kb(pid_t pid, const char *key) {
  char p[64];
  snprintf(p, sizeof p, "/proc/%d/smaps_rollup", (int)pid);
  char *s = tu_read_file(p);
  char *k = s ? strstr(s, key) : NULL;
  long v = k ? atol(k + strlen(key)) : -1;
  free(s);
  return v;
}

static void test_offsets_duplicates_gap_eof(void) {
  fixture f;
  if (setup(&f, 1) != 0) return;
  int fd = relay_connect(f.sock);
  CHECK(fd >= 0);
  uint64_t next[2] = {9, 9};
  unsigned closed = 9;
  CHECK(relay_offsets(fd, next, &closed) == 0 && next[0] == 0 && next[1] == 0 && closed == 0);
  CHECK(relay_data(fd, 0, 0, "hello\n", 6, next) == 0 && next[0] == 6);
  CHECK(relay_data(fd, 0, 0, "hello\n", 6, next) == 0 && next[0] == 6); /* duplicate */
  CHECK(relay_data(fd, 0, 3, "lo\nworld\n", 9, next) == 0 && next[0] == 12); /* overlap */
  CHECK(relay_data(fd, 0, 20, "gap\n", 4, next) == -ERANGE && next[0] == 12);
  CHECK(relay_data(fd, 1, 0, "e1\n", 3, next) == 0 && next[1] == 3 && next[0] == 12);
  CHECK(relay_skip(fd, 1, 10, next) == 0 && next[1] == 10);
  CHECK(relay_data(fd, 1, 10, "e2\n", 3, next) == 0 && next[1] == 13);
  /* A large write is split into frames. */
  size_t big = 100000;
  char *b = malloc(big);
  for (size_t i = 0; i < big; i++) b[i] = (char)('a' + i % 26);
  CHECK(relay_data(fd, 0, 12, b, big, next) == 0 && next[0] == 12 + big);
  CHECK(tu_reader_wait_for(f.reader[1], "e2\n", 5000) == 1);

  /* The client goes away; the relay stays and keeps its offsets. */
  close(fd);
  usleep(50000);
  CHECK(relay_alive(f.pid, f.ticks));
  fd = relay_connect(f.sock);
  CHECK(fd >= 0 && relay_offsets(fd, next, NULL) == 0 && next[0] == 12 + big && next[1] == 13);

  /* Memory, with the big frames behind it. */
  int bin = open(ELIDE_TEST_RELAY, O_RDONLY | O_CLOEXEC);
  CHECK(bin >= 0 && fdatasync(bin) == 0);
  close(bin);
  long rss = smaps_kb(f.pid, "\nRss:"), dirty = smaps_kb(f.pid, "\nPrivate_Dirty:");
  printf("relay memory: Rss %ld kB, Private_Dirty %ld kB\n", rss, dirty);
  CHECK(rss > 0 && dirty > 0);
#ifndef ELIDE_TEST_ASAN
  CHECK(rss < 1536);
  CHECK(dirty < 256);
#endif

  CHECK(relay_eof(fd, 0, next) == 0);
  CHECK(tu_reader_eof(f.reader[0]) == 1 || (usleep(200000), tu_reader_eof(f.reader[0]) == 1));
  CHECK(relay_data(fd, 0, next[0], "late\n", 5, next) == -EPIPE);
  CHECK(relay_alive(f.pid, f.ticks));
  CHECK(relay_offsets(fd, next, &closed) == 0 && closed == 1);
  CHECK(relay_eof(fd, 1, next) == 0);
  CHECK(tu_wait_pid_gone(f.pid, 5000) == 1);
  CHECK(access(f.sock, F_OK) != 0);
  close(fd);
  size_t len = 0;
  char *out = tu_reader_join(f.reader[0], &len);
  f.reader[0] = NULL;
  CHECK(len == 12 + big && out && !memcmp(out, "hello\nworld\n", 12) && !memcmp(out + 12, b, big));
  free(out);
  char *err = tu_reader_join(f.reader[1], &len);
  f.reader[1] = NULL;
  CHECK(err && !strcmp(err, "e1\ne2\n"));
  free(err);
  free(b);
  teardown(&f);
}

/* A stream without a FIFO is discarded; abort ends the relay. */
static void test_discard_and_abort(void) {
  fixture f;
  if (setup(&f, 0) != 0) return;
  int fd = relay_connect(f.sock);
  uint64_t next[2];
  CHECK(relay_data(fd, 1, 0, "nowhere\n", 8, next) == 0 && next[1] == 8);
  /* A second client at the same time. */
  int fd2 = relay_connect(f.sock);
  CHECK(fd2 >= 0 && relay_data(fd2, 0, 0, "x\n", 2, next) == 0 && next[0] == 2 && next[1] == 8);
  CHECK(relay_abort(fd) == 0);
  CHECK(tu_wait_pid_gone(f.pid, 5000) == 1);
  CHECK(tu_reader_wait_for(f.reader[0], "x\n", 1000) == 1);
  CHECK(tu_reader_eof(f.reader[0]) == 1 || (usleep(200000), tu_reader_eof(f.reader[0]) == 1));
  close(fd);
  close(fd2);
  teardown(&f);
}

/* Reads the FIFO (non-blocking open, like logmon) until `want` arrived or
 * 5 s passed; 1 if it did. */
static int read_until(const char *fifo, const char *want) {
  int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  char got[256] = "";
  size_t n = 0;
  int64_t end = tu_now_ms() + 5000;
  while (fd >= 0 && !strstr(got, want) && tu_now_ms() < end && n < sizeof got - 1) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t r = read(fd, got + n, sizeof got - 1 - n);
    if (r > 0) n += (size_t)r;
    got[n] = '\0';
  }
  if (fd >= 0) close(fd);
  return strstr(got, want) != NULL;
}

typedef struct late_reader {
  const char *fifo;
  int got;
} late_reader;

static void *late_reader_main(void *arg) {
  late_reader *lr = arg;
  usleep(300000); /* logmon coming back a moment later */
  lr->got = read_until(lr->fifo, "two\n");
  return NULL;
}

/* logmon's reader goes away: the relay's next write meets a broken pipe,
 * which must not kill it (SIGPIPE); it waits for a new reader, which gets
 * the rest. */
static void test_reader_gone(void) {
  char *dir = tu_tmpdir();
  char fifo[512], sock[600];
  snprintf(fifo, sizeof fifo, "%s/out.fifo", dir);
  snprintf(sock, sizeof sock, "%s/" RELAY_SOCKET_NAME, dir);
  CHECK(mkfifo(fifo, 0600) == 0);
  int first = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  pid_t pid;
  uint64_t ticks;
  char err[256] = "";
  CHECK(relay_spawn(ELIDE_TEST_RELAY, dir, fifo, "", &pid, &ticks, err, sizeof err) == 0);
  int fd = relay_connect(sock);
  uint64_t next[2];
  CHECK(fd >= 0 && relay_data(fd, 0, 0, "one\n", 4, next) == 0 && next[0] == 4);
  char buf[16] = "";
  int64_t end = tu_now_ms() + 5000;
  ssize_t r = 0;
  while (r <= 0 && tu_now_ms() < end) {
    r = read(first, buf, sizeof buf - 1);
    if (r <= 0) usleep(10000);
  }
  CHECK(r == 4 && !memcmp(buf, "one\n", 4));
  close(first); /* the reader goes away */
  late_reader lr = {fifo, 0};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, late_reader_main, &lr) == 0);
  CHECK(relay_data(fd, 0, 4, "two\n", 4, next) == 0 && next[0] == 8);
  pthread_join(th, NULL);
  CHECK(lr.got);
  CHECK(relay_alive(pid, ticks));
  CHECK(relay_eof(fd, 0, next) == 0);
  CHECK(relay_eof(fd, 1, next) == 0);
  CHECK(tu_wait_pid_gone(pid, 5000) == 1);
  close(fd);
  tu_rmtree(dir);
}

/* Failures are reported: a missing binary, a state dir that is not there. */
static void test_spawn_errors(void) {
  pid_t pid;
  uint64_t ticks;
  char err[256];
  CHECK(relay_spawn("/nonexistent/elide-relay", "/tmp", "", "", &pid, &ticks, err, sizeof err) < 0);
  CHECK_STR_CONTAINS(err, "cannot start relay");
  CHECK(relay_spawn(ELIDE_TEST_RELAY, "/nonexistent/dir", "", "", &pid, &ticks, err, sizeof err) ==
        -ENOENT);
  CHECK_STR_CONTAINS(err, "chdir");
  CHECK(!relay_alive(getpid(), 1));
}

int main(int argc, char **argv) {
  tu_setup(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  test_offsets_duplicates_gap_eof();
  test_discard_and_abort();
  test_reader_gone();
  test_spawn_errors();
  CHECK(tu_count_children() == 0);
  return CHECK_DONE();
}
