/* Tests of elide-relay (host/exec/relay_main.c) through its client
 * (relay.c): offsets, duplicates dropped, gaps refused, eof, exit once both
 * FIFOs are closed, abort, surviving a client's disconnect, memory. */
#include "../check.h"
#include "relay.h"
#include "test_exec_util.h"

#include <errno.h>
#include <fcntl.h>
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
  test_spawn_errors();
  CHECK(tu_count_children() == 0);
  return CHECK_DONE();
}
