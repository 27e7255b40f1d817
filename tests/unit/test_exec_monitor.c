/* Tests of the elide-monitor's own duties: orphaned descendants (exit is
 * the main process's, destroy kills them all and leaves no zombies), the
 * monitor dying, its memory bounds, and malformed start-up specs. */
#include "../check.h"
#include "mon_proto.h"
#include "test_exec_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The first child listed for `pid` (0 if none). */
static pid_t first_child(pid_t pid) {
  char p[128];
  snprintf(p, sizeof p, "/proc/%d/task/%d/children", (int)pid, (int)pid);
  char *s = tu_read_file(p);
  pid_t c = s ? (pid_t)atoi(s) : 0;
  free(s);
  return c;
}

static char *comm_of(pid_t pid, char *buf, size_t len) {
  char p[64];
  snprintf(p, sizeof p, "/proc/%d/comm", (int)pid);
  char *s = tu_read_file(p);
  snprintf(buf, len, "%s", s ? s : "");
  free(s);
  return buf;
}

/* Checklist item 9: a background child keeps the output open, yet the exit
 * is reported when the main process exits; destroy then kills it. */
static void test_orphan_exit_and_destroy(void) {
  char *dir = tu_tmpdir();
  char errp[512];
  snprintf(errp, sizeof errp, "%s/err", dir);
  tu_reader *re = tu_reader_start(errp, 0);
  exec_spec s = tu_spec(dir, ARGV("/bin/sh", "-c", "(sleep 30 >/dev/null &) ; exec sleep 1"));
  s.stderr_path = errp;
  exec_task *t;
  char err[256];
  int64_t t0 = tu_now_ms();
  CHECK(exec_start(&s, &t, err, sizeof err) == 0);
  exec_result r;
  CHECK(exec_wait(t, 7000, &r) == 1);
  int64_t elapsed = tu_now_ms() - t0;
  CHECK(elapsed >= 900 && elapsed < 3000);
  CHECK(r.exit_code == 0 && r.signal == 0 && r.err[0] == '\0');
  CHECK(!tu_reader_eof(re)); /* the orphan still holds stderr */

  pid_t mon = exec_monitor_pid(t), orphan = first_child(mon);
  char comm[64];
  CHECK(orphan > 0 && strcmp(comm_of(orphan, comm, sizeof comm), "sleep\n") == 0);
  CHECK(tu_pid_running(mon)); /* the monitor stays while it parents the orphan */
  CHECK(exec_signal(t, SIGTERM) == -ESRCH);

  exec_destroy(t, 1);
  CHECK(!tu_pid_exists(orphan));
  CHECK(!tu_pid_exists(mon));
  CHECK(tu_count_children() == 0);
  free(tu_reader_join(re, NULL)); /* EOF now that the orphan is dead */
  CHECK(access(s.state_dir, F_OK) < 0);
  tu_rmtree(dir);
}

/* Checklist item 27: the task prints its background child's pid and exits. */
static void test_destroy_kills_all(void) {
  char *dir = tu_tmpdir();
  char out[512];
  snprintf(out, sizeof out, "%s/out", dir);
  tu_reader *ro = tu_reader_start(out, 0);
  exec_spec s = tu_spec(dir, ARGV("/bin/sh", "-c", "sleep 3600 & echo SLEEP_PID=$!"));
  s.stdout_path = out;
  exec_task *t;
  char err[256];
  CHECK(exec_start(&s, &t, err, sizeof err) == 0);
  exec_result r;
  CHECK(exec_wait(t, 10000, &r) == 1 && r.exit_code == 0);
  CHECK(tu_reader_wait_for(ro, "\n", 5000));
  exec_destroy(t, 0);
  char *o = tu_reader_join(ro, NULL);
  pid_t sleeper = o && strncmp(o, "SLEEP_PID=", 10) == 0 ? (pid_t)atoi(o + 10) : 0;
  CHECK(sleeper > 0 && !tu_pid_exists(sleeper));
  free(o);
  /* remove_state = 0 kept the record and the monitor's log. */
  char path[600];
  snprintf(path, sizeof path, "%s/exit", s.state_dir);
  CHECK(access(path, F_OK) == 0);
  snprintf(path, sizeof path, "%s/monitor.log", s.state_dir);
  char *log = tu_read_file(path);
  CHECK_STR_CONTAINS(log, "destroy: done");
  free(log);
  tu_rmtree(dir);
}

/* A running task whose descendants left its process group (new session):
 * only the monitor's subreaper sweep reaches them. */
static void test_destroy_running_tree(void) {
  char *dir = tu_tmpdir();
  char out[512];
  snprintf(out, sizeof out, "%s/out", dir);
  tu_reader *ro = tu_reader_start(out, 0);
  exec_spec s = tu_spec(
      dir, ARGV("/bin/sh", "-c",
                "setsid sleep 60 & echo A=$!; (setsid sleep 60 & echo B=$!); sleep 60; exit 0"));
  s.stdout_path = out;
  exec_task *t;
  char err[256];
  CHECK(exec_start(&s, &t, err, sizeof err) == 0);
  CHECK(tu_reader_wait_for(ro, "B=", 5000) && tu_reader_wait_for(ro, "\n", 5000));
  usleep(50000);
  pid_t task = exec_task_pid(t), mon = exec_monitor_pid(t);
  exec_destroy(t, 1);
  char *o = tu_reader_join(ro, NULL);
  char *a = o ? strstr(o, "A=") : NULL, *b = o ? strstr(o, "B=") : NULL;
  CHECK(a && b);
  pid_t pa = a ? (pid_t)atoi(a + 2) : 0, pb = b ? (pid_t)atoi(b + 2) : 0;
  CHECK(pa > 0 && pb > 0 && !tu_pid_exists(pa) && !tu_pid_exists(pb));
  CHECK(!tu_pid_exists(task) && !tu_pid_exists(mon));
  CHECK(tu_count_children() == 0);
  free(o);
  tu_rmtree(dir);
}

typedef struct waiter {
  exec_task *t;
  exec_result r;
  int got;
} waiter;

static void *wait_thread(void *arg) {
  waiter *w = arg;
  w->got = exec_wait(w->t, -1, &w->r);
  return NULL;
}

/* Destroying a running task wakes its waiters with the kill's status. */
static void test_destroy_wakes_waiters(void) {
  char *dir = tu_tmpdir();
  exec_spec s = tu_spec(dir, ARGV("/bin/sleep", "30"));
  exec_task *t;
  char err[256];
  CHECK(exec_start(&s, &t, err, sizeof err) == 0);
  waiter w = {.t = t};
  pthread_t th;
  pthread_create(&th, NULL, wait_thread, &w);
  usleep(50000);
  pid_t task = exec_task_pid(t);
  exec_destroy(t, 1);
  pthread_join(th, NULL);
  CHECK(w.got == 1 && w.r.exit_code == 137 && w.r.signal == SIGKILL);
  CHECK(!tu_pid_exists(task));
  tu_rmtree(dir);
}

/* The monitor is SIGKILLed: the task goes with it (parent-death signal)
 * and the wait reports an error instead of a status. */
static void test_monitor_killed(void) {
  char *dir = tu_tmpdir();
  exec_spec s = tu_spec(dir, ARGV("/bin/sleep", "30"));
  exec_task *t;
  char err[256];
  CHECK(exec_start(&s, &t, err, sizeof err) == 0);
  pid_t task = exec_task_pid(t), mon = exec_monitor_pid(t);
  CHECK(kill(mon, SIGKILL) == 0); /* our unreaped child: the pid is its own */
  exec_result r;
  CHECK(exec_wait(t, 5000, &r) == 1);
  CHECK(r.exit_code == -1);
  CHECK_STR_CONTAINS(r.err, "exited (signal 9) without recording the task's exit");
  CHECK(tu_wait_pid_gone(mon, 2000));
  int64_t end = tu_now_ms() + 2000;
  while (tu_pid_state(task) != 0 && tu_pid_state(task) != 'Z' && tu_now_ms() < end) usleep(5000);
  char st = tu_pid_state(task);
  CHECK(st == 0 || st == 'Z'); /* dead; its zombie belongs to init now */
  CHECK(exec_signal(t, SIGTERM) == -ESRCH);
  exec_destroy(t, 1);
  tu_rmtree(dir);
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

static void test_monitor_memory(void) {
  char *dir = tu_tmpdir();
  /* A big environment (4 x 60 KB) must not stay resident in the monitor. */
  static char big[4][60000];
  for (int i = 0; i < 4; i++) {
    memset(big[i], 'v', sizeof big[i] - 1);
    memcpy(big[i], "BIGn=", 5);
    big[i][3] = (char)('0' + i);
  }
  const char *const envp[] = {"PATH=/usr/bin:/bin", big[0], big[1], big[2], big[3], NULL};
  exec_spec s = tu_spec(dir, ARGV("/bin/sleep", "30"));
  s.envp = envp;
  exec_task *t;
  char err[256];
  int rc = exec_start(&s, &t, err, sizeof err);
  CHECK(rc == 0);
  if (rc < 0) {
    fprintf(stderr, "exec_start: %s\n", err);
    return;
  }
  usleep(100000);
  /* A just-linked binary's page-cache pages are still dirty and would be
   * counted as the monitor's Private_Dirty; an installed one's are not. */
  int bin = open(tu_monitor(), O_RDONLY | O_CLOEXEC);
  CHECK(bin >= 0 && fdatasync(bin) == 0);
  close(bin);
  pid_t mon = exec_monitor_pid(t);
  long rss = smaps_kb(mon, "\nRss:"), dirty = smaps_kb(mon, "\nPrivate_Dirty:");
  printf("monitor memory: Rss %ld kB, Private_Dirty %ld kB\n", rss, dirty);
  CHECK(rss > 0 && dirty > 0);
#ifndef ELIDE_TEST_ASAN
  CHECK(rss < 1536);
  CHECK(dirty < 256);
#endif
  exec_destroy(t, 1);
  tu_rmtree(dir);
}

/* Feeds `len` bytes to a freshly spawned monitor and returns its reply. */
static int monitor_reply(const void *data, size_t len, mon_reply *r) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], MON_SPEC_FD);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  char *const argv[] = {"elide-monitor", NULL};
  char *const envp[] = {NULL};
  pid_t pid;
  int rc = posix_spawn(&pid, tu_monitor(), &fa, NULL, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  close(sv[1]);
  if (rc != 0) return -1;
  if (len) CHECK(send(sv[0], data, len, MSG_NOSIGNAL) == (ssize_t)len);
  shutdown(sv[0], SHUT_WR);
  memset(r, 0, sizeof *r);
  ssize_t n = recv(sv[0], r, sizeof *r, MSG_WAITALL);
  close(sv[0]);
  int st;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
  return n == (ssize_t)sizeof *r ? 0 : -1;
}

static void test_bad_specs(void) {
  mon_reply r;
  char garbage[sizeof(mon_spec_hdr)];
  memset(garbage, '!', sizeof garbage);
  CHECK(monitor_reply(garbage, sizeof garbage, &r) == 0);
  CHECK(r.status < 0);
  CHECK_STR_CONTAINS(r.msg, "malformed spec header");

  CHECK(monitor_reply("", 0, &r) == 0);
  CHECK_STR_CONTAINS(r.msg, "cannot read the spec");

  struct {
    mon_spec_hdr h;
    char s[32];
  } m = {.h = {.magic = MON_SPEC_MAGIC, .argc = 1, .envc = 0, .strings_len = 13}};
  memcpy(m.s, "/tmp\0/\0\0\0abcd", 13); /* last string unterminated */
  CHECK(monitor_reply(&m, sizeof m.h + 13, &r) == 0);
  CHECK_STR_CONTAINS(r.msg, "malformed spec strings");

  memcpy(m.s, "tmp\0/\0\0\0/bin\0", 13); /* relative state dir */
  CHECK(monitor_reply(&m, sizeof m.h + 13, &r) == 0);
  CHECK_STR_CONTAINS(r.msg, "malformed spec strings");

  m.h.strings_len = 0xffffffffu;
  CHECK(monitor_reply(&m, sizeof m.h, &r) == 0);
  CHECK_STR_CONTAINS(r.msg, "malformed spec header");

  /* Truncated body. */
  m.h.strings_len = 30;
  CHECK(monitor_reply(&m, sizeof m.h + 5, &r) == 0);
  CHECK_STR_CONTAINS(r.msg, "cannot read the spec");
}

static void test_exit_record_format(void) {
  mon_exit e = {.exit_code = 143, .signal = 15, .finished_at_ns = 1234567890123LL, .task_pid = 42};
  char buf[256];
  int n = exit_record_format(buf, sizeof buf, &e);
  CHECK(n > 0);
  mon_exit back;
  CHECK(exit_record_parse(buf, (size_t)n, &back) == 0);
  CHECK(back.exit_code == 143 && back.signal == 15 && back.finished_at_ns == 1234567890123LL &&
        back.task_pid == 42 && back.oom_killed == 0);
  CHECK(exit_record_parse(buf, (size_t)n - 1, &back) == -EINVAL); /* cut last line */
  CHECK(exit_record_parse("elide-exit-record 1\nexit_code=1\n", 31, &back) == -EINVAL);
  CHECK(exit_record_parse("nonsense", 8, &back) == -EINVAL);
  const char *extra = "elide-exit-record 1\nexit_code=0\nsignal=0\nfinished_at_ns=5\nfuture=9\n";
  CHECK(exit_record_parse(extra, strlen(extra), &back) == 0 && back.finished_at_ns == 5);
  CHECK(exit_record_format(buf, 10, &e) == -ENOSPC);
}

/* OOM and timeout fields survive the round trip (the plugin and the daemon
 * learn them only from the record), and a record without them reads as
 * neither. */
static void test_exit_record_oom_timeout(void) {
  mon_exit e = {.exit_code = 137, .signal = 9, .oom_killed = 1, .finished_at_ns = 77,
                .task_pid = 42, .has_rusage = 1, .cpu_user_ns = 5, .cpu_system_ns = 6,
                .max_rss_bytes = 7, .timed_out = 1, .timeout_killed = 1, .timeout_signal = 2,
                .timeout_ms = 2000, .timeout_grace_ms = 5000};
  char buf[512];
  int n = exit_record_format(buf, sizeof buf, &e);
  CHECK(n > 0);
  CHECK_STR_CONTAINS(buf, "oom_killed=1\n");
  CHECK_STR_CONTAINS(buf, "timed_out=1\ntimeout_killed=1\ntimeout_signal=2\n");
  mon_exit back;
  CHECK(exit_record_parse(buf, (size_t)n, &back) == 0);
  CHECK(back.oom_killed == 1 && back.exit_code == 137 && back.signal == 9);
  CHECK(back.timed_out == 1 && back.timeout_killed == 1 && back.timeout_signal == 2 &&
        back.timeout_ms == 2000 && back.timeout_grace_ms == 5000);
  CHECK(back.has_rusage && back.cpu_user_ns == 5 && back.max_rss_bytes == 7);
  e.timed_out = 0;
  e.oom_killed = 0;
  n = exit_record_format(buf, sizeof buf, &e);
  CHECK(n > 0 && !strstr(buf, "timed_out"));
  CHECK(exit_record_parse(buf, (size_t)n, &back) == 0);
  CHECK(back.timed_out == 0 && back.timeout_killed == 0 && back.oom_killed == 0);
}

int main(int argc, char **argv) {
  tu_setup(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  test_orphan_exit_and_destroy();
  test_destroy_kills_all();
  test_destroy_running_tree();
  test_destroy_wakes_waiters();
  test_monitor_killed();
  test_monitor_memory();
  test_bad_specs();
  test_exit_record_format();
  test_exit_record_oom_timeout();
  CHECK(tu_count_children() == 0);
  return CHECK_DONE();
}
