/* Tests of the task's stdin (exec_spec.stdin_path, exec_close_stdin) and
 * of the rusage in the exit record: a file as stdin, a FIFO the task does
 * not see EOF on until exec_close_stdin although writers come and go (a
 * restarting daemon), the same across exec_release + exec_attach, and
 * refusals. */
#include "../check.h"
#include "test_exec_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

static void write_file(const char *path, const char *content) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  CHECK(fd >= 0);
  if (fd < 0) return;
  CHECK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
  close(fd);
}

/* Writes `s` into the FIFO through a writer opened and closed for this one
 * write, as a daemon that restarts between writes would. */
static void fifo_write_once(const char *fifo, const char *s) {
  int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  CHECK(fd >= 0);
  if (fd < 0) return;
  CHECK(write(fd, s, strlen(s)) == (ssize_t)strlen(s));
  close(fd);
}

static void test_file_stdin(void) {
  char *dir = tu_tmpdir();
  char in[512], out[512];
  snprintf(in, sizeof in, "%s/in", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  write_file(in, "from a file\n");
  write_file(out, "");
  exec_spec s = tu_spec(dir, ARGV("/bin/cat"));
  s.stdin_path = in;
  s.stdout_path = out;
  exec_task *t;
  char err[256];
  CHECK(exec_start(&s, &t, err, sizeof err) == 0);
  exec_result r;
  CHECK(exec_wait(t, 10000, &r) == 1 && r.exit_code == 0);
  char *got = tu_read_file(out);
  CHECK(got && strcmp(got, "from a file\n") == 0);
  free(got);
  /* Closing a non-FIFO stdin is harmless; after the end it is -ESRCH. */
  CHECK(exec_close_stdin(t) == -ESRCH);
  exec_destroy(t, 1);
  tu_rmtree(dir);
}

static void test_default_stdin_is_null(void) {
  char *dir = tu_tmpdir();
  char out[512];
  snprintf(out, sizeof out, "%s/out", dir);
  write_file(out, "");
  exec_spec s = tu_spec(dir, ARGV("/bin/sh", "-c", "cat; echo rc=$?"));
  s.stdout_path = out;
  exec_task *t;
  char err[256];
  CHECK(exec_start(&s, &t, err, sizeof err) == 0);
  exec_result r;
  CHECK(exec_wait(t, 10000, &r) == 1 && r.exit_code == 0);
  char *got = tu_read_file(out);
  CHECK(got && strcmp(got, "rc=0\n") == 0);
  free(got);
  exec_destroy(t, 1);
  tu_rmtree(dir);
}

/* Starts `cat` on a FIFO stdin with its stdout in a file. */
static exec_task *start_cat(const char *dir, char *fifo, char *out, size_t cap) {
  snprintf(fifo, cap, "%s/stdin", dir);
  snprintf(out, cap, "%s/out", dir);
  CHECK(mkfifo(fifo, 0600) == 0);
  write_file(out, "");
  exec_spec s = tu_spec(dir, ARGV("/bin/cat"));
  s.stdin_path = fifo;
  s.stdout_path = out;
  exec_task *t = NULL;
  char err[256];
  CHECK(exec_start(&s, &t, err, sizeof err) == 0);
  if (!t) fprintf(stderr, "exec_start: %s\n", err);
  return t;
}

static void test_fifo_stdin_survives_writers(void) {
  char *dir = tu_tmpdir();
  char fifo[512], out[512];
  exec_task *t = start_cat(dir, fifo, out, sizeof fifo);
  if (!t) return;
  exec_result r;
  /* No writer at all yet: the task must still be waiting, not at EOF. */
  CHECK(exec_wait(t, 300, &r) == 0);
  fifo_write_once(fifo, "one ");
  fifo_write_once(fifo, "two ");
  CHECK(exec_wait(t, 300, &r) == 0); /* both writers gone: still no EOF */
  int w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  CHECK(w >= 0);
  CHECK(write(w, "three", 5) == 5);
  CHECK(exec_close_stdin(t) == 0);
  CHECK(exec_close_stdin(t) == 0); /* idempotent */
  CHECK(exec_wait(t, 300, &r) == 0); /* our writer still holds it open */
  close(w);
  CHECK(exec_wait(t, 10000, &r) == 1 && r.exit_code == 0);
  char *got = tu_read_file(out);
  CHECK(got && strcmp(got, "one two three") == 0);
  free(got);
  CHECK(exec_close_stdin(t) == -ESRCH);
  exec_destroy(t, 1);
  tu_rmtree(dir);
}

/* The daemon restart: release the task, re-attach it, go on writing. */
static void test_fifo_stdin_across_reattach(void) {
  char *dir = tu_tmpdir();
  char fifo[512], out[512];
  exec_task *t = start_cat(dir, fifo, out, sizeof fifo);
  if (!t) return;
  fifo_write_once(fifo, "before ");
  pid_t mon = exec_monitor_pid(t), task = exec_task_pid(t);
  uint64_t ticks = exec_monitor_start_ticks(t);
  int64_t started = exec_started_at_ns(t);
  char state[512];
  snprintf(state, sizeof state, "%s", exec_state_dir(t));
  exec_release(t);
  CHECK(tu_pid_running(task));
  exec_task *t2 = NULL;
  char err[256];
  CHECK(exec_attach(state, mon, ticks, task, started, &t2, err, sizeof err) == 0);
  if (!t2) return;
  fifo_write_once(fifo, "after");
  CHECK(exec_close_stdin(t2) == 0);
  exec_result r;
  CHECK(exec_wait(t2, 10000, &r) == 1 && r.exit_code == 0);
  char *got = tu_read_file(out);
  CHECK(got && strcmp(got, "before after") == 0);
  free(got);
  exec_destroy(t2, 1);
  tu_rmtree(dir);
}

/* A task that ends while the monitor still holds the write end must not
 * keep anything open: the monitor drops it and exits as usual. */
static void test_fifo_task_exits_early(void) {
  char *dir = tu_tmpdir();
  char fifo[512];
  snprintf(fifo, sizeof fifo, "%s/stdin", dir);
  CHECK(mkfifo(fifo, 0600) == 0);
  exec_spec s = tu_spec(dir, ARGV("/bin/sh", "-c", "exit 5"));
  s.stdin_path = fifo;
  exec_task *t;
  char err[256];
  CHECK(exec_start(&s, &t, err, sizeof err) == 0);
  exec_result r;
  CHECK(exec_wait(t, 10000, &r) == 1 && r.exit_code == 5);
  pid_t mon = exec_monitor_pid(t);
  CHECK(tu_wait_pid_gone(mon, 5000));
  /* Nobody reads the FIFO any more: a writer cannot even open it. */
  CHECK(open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC) < 0 && errno == ENXIO);
  exec_destroy(t, 1);
  tu_rmtree(dir);
}

static void test_stdin_refusals(void) {
  char *dir = tu_tmpdir();
  char link[512], target[512];
  exec_spec s = tu_spec(dir, ARGV("/bin/cat"));
  s.stdin_path = "/nonexistent/stdin";
  exec_task *t = NULL;
  char err[256];
  CHECK(exec_start(&s, &t, err, sizeof err) == -ENOENT && !t);
  CHECK_STR_CONTAINS(err, "cannot open stdin /nonexistent/stdin");
  /* A final symlink is not followed. */
  snprintf(target, sizeof target, "%s/target", dir);
  snprintf(link, sizeof link, "%s/link", dir);
  write_file(target, "x");
  CHECK(symlink(target, link) == 0);
  s.stdin_path = link;
  CHECK(exec_start(&s, &t, err, sizeof err) == -ELOOP && !t);
  CHECK_STR_CONTAINS(err, "cannot open stdin");
  tu_rmtree(dir);
}

static void test_rusage(void) {
  char *dir = tu_tmpdir();
  /* Some CPU and a few MB of memory in the task's main process. */
  exec_spec s = tu_spec(dir, ARGV("/bin/sh", "-c",
                                  "i=0; x=; while [ $i -lt 20000 ]; do i=$((i+1)); done; "
                                  "x=$(head -c 4000000 /dev/zero | tr '\\0' a); exit 0"));
  exec_task *t;
  char err[256];
  CHECK(exec_start(&s, &t, err, sizeof err) == 0);
  exec_result r;
  CHECK(exec_wait(t, 20000, &r) == 1 && r.exit_code == 0);
  CHECK(r.has_rusage == 1);
  CHECK(r.cpu_user_ns + r.cpu_system_ns > 0);
  CHECK(r.max_rss_bytes > 1000000);
  char path[600];
  snprintf(path, sizeof path, "%s/exit", exec_state_dir(t));
  char *rec = tu_read_file(path);
  CHECK_STR_CONTAINS(rec, "cpu_user_ns=");
  CHECK_STR_CONTAINS(rec, "max_rss_bytes=");
  free(rec);
  exec_destroy(t, 1);
  tu_rmtree(dir);
}

int main(int argc, char **argv) {
  tu_setup(argc, argv);
  prctl(PR_SET_CHILD_SUBREAPER, 1); /* released monitors stay ours to reap */
  signal(SIGPIPE, SIG_IGN);
  test_file_stdin();
  test_default_stdin_is_null();
  test_fifo_stdin_survives_writers();
  test_fifo_stdin_across_reattach();
  test_fifo_task_exits_early();
  test_stdin_refusals();
  test_rusage();
  CHECK(tu_count_children() == 0);
  return CHECK_DONE();
}
