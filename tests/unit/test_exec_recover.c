/* Tests of exec_attach, the recovery after a plugin restart: a task started
 * by a process that then dies without cleanup, release + re-attach, attach
 * after the task ended, and attach refusals. This test process is a child
 * subreaper, so orphaned monitors are reparented to it as they would be to
 * init, and must still end up reaped. */
#include "../check.h"
#include "test_exec_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

typedef struct identity {
  pid_t monitor, task;
  uint64_t ticks;
  int64_t started;
} identity;

static identity identity_of(const exec_task *t) {
  return (identity){exec_monitor_pid(t), exec_task_pid(t), exec_monitor_start_ticks(t),
                    exec_started_at_ns(t)};
}

/* Child mode: plays a plugin that starts a task, prints its identity and
 * dies at once (no exec_release, no exit handlers). */
static int crash_child(const char *dir, const char *out) {
  exec_spec s = tu_spec(dir, ARGV("/bin/sh", "-c", "echo before; sleep 1; echo after; exit 9"));
  s.stdout_path = out;
  exec_task *t;
  char err[256];
  if (exec_start(&s, &t, err, sizeof err) < 0) {
    fprintf(stderr, "exec_start: %s\n", err);
    _exit(1);
  }
  identity id = identity_of(t);
  /* A crashed plugin's standby monitors exit on EOF, and this test's
   * process, a subreaper to adopt the task's monitor, would adopt them as
   * zombies too: ended first, so that the counts are about the task's. */
  exec_standby_stop();
  printf("%d %d %" PRIu64 " %" PRId64 "\n", (int)id.monitor, (int)id.task, id.ticks, id.started);
  fflush(stdout);
  _exit(0);
}

static void test_attach_after_crash(const char *self) {
  char *dir = tu_tmpdir();
  char out[512];
  snprintf(out, sizeof out, "%s/out", dir);
  tu_reader *ro = tu_reader_start(out, 0); /* logmon outlives the plugin */
  int p[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  char *const argv[] = {(char *)self, "--crash-child", dir, out, NULL};
  pid_t child;
  CHECK(posix_spawn(&child, self, &fa, NULL, argv, NULL) == 0);
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  char line[256] = "";
  ssize_t n = read(p[0], line, sizeof line - 1);
  close(p[0]);
  int st;
  CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  identity id = {0};
  int mon, task;
  CHECK(n > 0 && sscanf(line, "%d %d %" SCNu64 " %" SCNd64, &mon, &task, &id.ticks,
                        &id.started) == 4);
  id.monitor = mon;
  id.task = task;

  char state[600], err[256];
  snprintf(state, sizeof state, "%s/state", dir);
  exec_task *t;
  CHECK(exec_attach(state, id.monitor, id.ticks, id.task, id.started, &t, err, sizeof err) == 0);
  CHECK(exec_task_pid(t) == id.task && exec_monitor_pid(t) == id.monitor);
  CHECK(exec_started_at_ns(t) == id.started && exec_monitor_start_ticks(t) == id.ticks);
  exec_result r;
  CHECK(exec_poll(t, &r) == 0); /* still running */
  CHECK(exec_wait(t, 5000, &r) == 1);
  CHECK(r.exit_code == 9 && r.signal == 0 && r.err[0] == '\0');
  /* The monitor, now our child by reparenting, exits and is reaped. */
  CHECK(tu_wait_pid_gone(id.monitor, 3000));
  exec_destroy(t, 1);
  char *o = tu_reader_join(ro, NULL);
  CHECK(o && strcmp(o, "before\nafter\n") == 0); /* nothing written was lost */
  free(o);
  tu_rmtree(dir);
}

static void test_release_and_reattach_running(void) {
  char *dir = tu_tmpdir();
  exec_spec s = tu_spec(dir, ARGV("/bin/sleep", "30"));
  exec_task *t;
  char err[256];
  CHECK(exec_start(&s, &t, err, sizeof err) == 0);
  identity id = identity_of(t);
  exec_release(t);
  CHECK(tu_pid_running(id.task)); /* release left it alone */
  CHECK(exec_attach(s.state_dir, id.monitor, id.ticks, id.task, id.started, &t, err,
                    sizeof err) == 0);
  exec_result r;
  CHECK(exec_poll(t, &r) == 0);
  CHECK(exec_stop(t, SIGTERM, 2000, &r) == 0);
  CHECK(r.exit_code == 143 && r.signal == SIGTERM);
  exec_destroy(t, 1);
  CHECK(!tu_pid_exists(id.task) && !tu_pid_exists(id.monitor));
  CHECK(tu_count_children() == 0);
  tu_rmtree(dir);
}

static void test_attach_after_end(void) {
  char *dir = tu_tmpdir();
  exec_spec s = tu_spec(dir, ARGV("/bin/sh", "-c", "exit 3"));
  exec_task *t;
  char err[256];
  CHECK(exec_start(&s, &t, err, sizeof err) == 0);
  identity id = identity_of(t);
  exec_result r;
  CHECK(exec_wait(t, 5000, &r) == 1 && r.exit_code == 3);
  int64_t finished = r.finished_at_ns;
  exec_release(t);
  /* Released, the exited monitor stays a zombie until someone reaps it
   * (unless the watcher reaped it before the release). */
  int64_t end = tu_now_ms() + 3000;
  while (tu_pid_running(id.monitor) && tu_now_ms() < end) usleep(5000);
  CHECK(!tu_pid_running(id.monitor));
  CHECK(exec_attach(s.state_dir, id.monitor, id.ticks, id.task, id.started, &t, err,
                    sizeof err) == 0);
  CHECK(!tu_pid_exists(id.monitor)); /* attach reaped it */
  CHECK(exec_poll(t, &r) == 1);
  CHECK(r.exit_code == 3 && r.signal == 0 && r.finished_at_ns == finished && r.err[0] == '\0');
  CHECK(exec_signal(t, SIGTERM) == -ESRCH);
  exec_release(t);

  /* Again, with the monitor long gone and its pid possibly reused: the
   * record alone answers. */
  CHECK(exec_attach(s.state_dir, id.monitor, id.ticks + 1, id.task, id.started, &t, err,
                    sizeof err) == 0);
  CHECK(exec_wait(t, 0, &r) == 1 && r.exit_code == 3);
  exec_destroy(t, 1);
  CHECK(access(s.state_dir, F_OK) < 0);
  tu_rmtree(dir);
}

/* The task ended but an orphan keeps the monitor alive: attach reports the
 * recorded exit and destroy still kills the orphan. */
static void test_attach_with_orphan(void) {
  char *dir = tu_tmpdir();
  exec_spec s = tu_spec(dir, ARGV("/bin/sh", "-c", "sleep 30 >/dev/null 2>&1 & exit 6"));
  exec_task *t;
  char err[256];
  CHECK(exec_start(&s, &t, err, sizeof err) == 0);
  identity id = identity_of(t);
  exec_result r;
  CHECK(exec_wait(t, 5000, &r) == 1 && r.exit_code == 6);
  exec_release(t);
  CHECK(exec_attach(s.state_dir, id.monitor, id.ticks, id.task, id.started, &t, err,
                    sizeof err) == 0);
  CHECK(exec_poll(t, &r) == 1 && r.exit_code == 6);
  CHECK(tu_pid_running(id.monitor));
  exec_destroy(t, 1);
  CHECK(!tu_pid_exists(id.monitor));
  CHECK(tu_count_children() == 0);
  tu_rmtree(dir);
}

static void test_attach_refused(void) {
  char *dir = tu_tmpdir();
  exec_task *t = (exec_task *)1;
  char err[256];
  /* A live pid with another start time (ours) and no record. */
  CHECK(exec_attach(dir, getpid(), 1, 12345, 0, &t, err, sizeof err) == -ESRCH);
  CHECK(t == NULL);
  CHECK_STR_CONTAINS(err, "is gone");
  CHECK_STR_CONTAINS(err, "no exit record");

  /* A dead pid. */
  pid_t dead;
  char *const argv[] = {"true", NULL};
  CHECK(posix_spawn(&dead, "/bin/true", NULL, NULL, argv, NULL) == 0);
  waitpid(dead, NULL, 0);
  CHECK(exec_attach(dir, dead, 1, dead, 0, &t, err, sizeof err) == -ESRCH);
  CHECK_STR_CONTAINS(err, "no exit record");

  /* A state directory that does not exist. */
  char missing[600];
  snprintf(missing, sizeof missing, "%s/missing", dir);
  CHECK(exec_attach(missing, dead, 1, dead, 0, &t, err, sizeof err) == -ESRCH);
  CHECK(exec_attach("relative", dead, 1, dead, 0, &t, err, sizeof err) == -EINVAL);

  /* A corrupt record ends the task with an error instead of a status. */
  char rec[600];
  snprintf(rec, sizeof rec, "%s/exit", dir);
  FILE *f = fopen(rec, "we");
  fputs("elide-exit-record 1\nexit_code=oops\n", f);
  fclose(f);
  CHECK(exec_attach(dir, dead, 1, dead, 0, &t, err, sizeof err) == 0);
  exec_result r;
  CHECK(exec_poll(t, &r) == 1 && r.exit_code == -1);
  CHECK_STR_CONTAINS(r.err, "corrupt exit record");
  exec_destroy(t, 0);
  tu_rmtree(dir);
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "--crash-child") == 0) return crash_child(argv[2], argv[3]);
  tu_setup(argc, argv);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGPIPE, SIG_IGN);
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  self[n > 0 ? n : 0] = '\0';
  test_attach_after_crash(self);
  test_release_and_reattach_running();
  test_attach_after_end();
  test_attach_with_orphan();
  test_attach_refused();
  CHECK(tu_count_children() == 0);
  return CHECK_DONE();
}
