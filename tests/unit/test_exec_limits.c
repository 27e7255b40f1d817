/* Tests of the monitor's resource control with real processes: the
 * timeout (signal, grace, SIGKILL, the exit record, enforcement while no
 * plugin is attached) and, in real cgroups created as Nomad creates them,
 * joining (only the task, not its monitor), oom_score_adj, and OOM
 * detection with a memory limit. Needs root and cgroups (v1 here). */
#include "../check.h"
#include "cgroup_fixture.h"
#include "test_exec_util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

static exec_task *start(exec_spec *s) {
  exec_task *t = NULL;
  char err[512];
  if (exec_start(s, &t, err, sizeof err) < 0) {
    fprintf(stderr, "exec_start: %s\n", err);
    return NULL;
  }
  return t;
}

/* Runs argv to its end (5 s at most) with a timeout of timeout_ms, signal
 * sig and grace grace_ms, in a directory of its own. 0 with the result and
 * the milliseconds from the start to the end; -1 (a check failed) when it
 * did not start or did not end. */
static int run_timed(const char *const *argv, int64_t timeout_ms, int sig, int64_t grace_ms,
                     exec_result *r, int64_t *took_ms) {
  char *dir = tu_tmpdir();
  exec_spec s = tu_spec(dir, argv);
  s.timeout_ms = timeout_ms;
  s.timeout_signal = sig;
  s.timeout_grace_ms = grace_ms;
  int64_t t0 = tu_now_ms();
  exec_task *t = start(&s);
  CHECK(t != NULL);
  int ended = 0;
  if (t) {
    ended = exec_wait(t, 5000, r) == 1;
    CHECK(ended);
    *took_ms = tu_now_ms() - t0;
    exec_destroy(t, 1);
  }
  tu_rmtree(dir);
  return ended ? 0 : -1;
}

static void test_timeout_signal(void) {
  exec_result r;
  int64_t took;
  if (run_timed(ARGV("/bin/sleep", "30"), 300, SIGINT, 5000, &r, &took) < 0) return;
  CHECK(took >= 280 && took < 2000);
  CHECK(r.timed_out == 1 && r.timeout_killed == 0);
  CHECK(r.exit_code == 130 && r.signal == SIGINT);
  CHECK(r.timeout_ms == 300 && r.timeout_signal == SIGINT && r.timeout_grace_ms == 5000);
  CHECK(r.oom_killed == 0);
}

static void test_timeout_kill_after_grace(void) {
  exec_result r;
  int64_t took;
  /* Ignores SIGINT (and so does the sleep it starts): only SIGKILL ends it. */
  if (run_timed(ARGV("/bin/sh", "-c", "trap '' INT; sleep 30"), 200, SIGINT, 400, &r, &took) < 0)
    return;
  CHECK(took >= 580 && took < 3000);
  CHECK(r.timed_out == 1 && r.timeout_killed == 1);
  CHECK(r.exit_code == 137 && r.signal == SIGKILL);
}

/* SIGKILL as the timeout signal, and a grace of 0: killed at once. */
static void test_timeout_kill_at_once(void) {
  static const int sigs[] = {SIGKILL, SIGTERM};
  for (size_t i = 0; i < 2; i++) {
    exec_result r;
    int64_t took;
    if (run_timed(ARGV("/bin/sh", "-c", "trap '' TERM; sleep 30"), 200, sigs[i], 0, &r, &took) < 0)
      return;
    CHECK(took >= 180 && took < 1500);
    CHECK(r.timed_out == 1 && r.timeout_killed == 1 && r.timeout_signal == sigs[i]);
    CHECK(r.exit_code == 137 && r.signal == SIGKILL);
  }
}

static void test_timeout_handled_exit(void) {
  exec_result r;
  int64_t took;
  /* Handles the signal and exits 0 by itself: still reported as stopped by
   * the signal, never as a success. */
  if (run_timed(ARGV("/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done"), 200,
                SIGTERM, 3000, &r, &took) < 0)
    return;
  CHECK(r.timed_out == 1 && r.timeout_killed == 0);
  CHECK(r.exit_code == 128 + SIGTERM && r.signal == SIGTERM);
}

static void test_no_timeout_and_validation(void) {
  char *dir = tu_tmpdir();
  exec_spec s = tu_spec(dir, ARGV("/bin/sh", "-c", "sleep 0.3; exit 4"));
  s.timeout_ms = 5000;
  s.timeout_signal = SIGINT;
  exec_task *t = start(&s);
  CHECK(t != NULL);
  if (t) {
    exec_result r;
    CHECK(exec_wait(t, 5000, &r) == 1);
    CHECK(r.exit_code == 4 && r.timed_out == 0 && r.timeout_killed == 0);
    exec_destroy(t, 1);
  }
  char err[256];
  s.timeout_signal = 0;
  CHECK(exec_start(&s, &t, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, "timeout signal 0 is not a signal");
  s.timeout_signal = SIGINT;
  const char *rel[] = {"relative/cgroup", NULL};
  s.cgroup_dirs = rel;
  CHECK(exec_start(&s, &t, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, "must be an absolute path");
  tu_rmtree(dir);
}

/* The monitor enforces the timeout with no plugin attached: release the
 * task (as a plugin shutdown does), let the timeout pass, re-attach. */
static void test_timeout_while_detached(void) {
  char *dir = tu_tmpdir();
  exec_spec s = tu_spec(dir, ARGV("/bin/sleep", "30"));
  s.timeout_ms = 300;
  s.timeout_signal = SIGTERM;
  s.timeout_grace_ms = 1000;
  exec_task *t = start(&s);
  CHECK(t != NULL);
  if (!t) return;
  pid_t mon = exec_monitor_pid(t), task = exec_task_pid(t);
  uint64_t ticks = exec_monitor_start_ticks(t);
  int64_t started = exec_started_at_ns(t);
  exec_release(t);
  CHECK(tu_wait_pid_gone(task, 3000));
  char err[256];
  CHECK(exec_attach(s.state_dir, mon, ticks, task, started, &t, err, sizeof err) == 0);
  exec_result r;
  CHECK(exec_wait(t, 3000, &r) == 1);
  CHECK(r.timed_out == 1 && r.exit_code == 143 && r.signal == SIGTERM && r.timeout_ms == 300);
  exec_destroy(t, 1);
  tu_rmtree(dir);
}

/* Task `task`'s cgroups in fixture f, made as the plugin makes them at
 * StartTask (derived from Nomad's cpuset_cgroup, prepared, `lim` written),
 * and what an exec_spec takes from them. dirs point into set. */
typedef struct task_cgroups {
  cg_fixture f;
  cgroup_set set;
  const char *dirs[CGROUP_MAX_DIRS + 1];
  char oom[PATH_MAX + 32];
} task_cgroups;

/* 0, or -1 after a failed check (cgroups unavailable: nothing to undo). */
static int task_cgroups_create(task_cgroups *c, const char *task, const cgroup_limits *lim) {
  char err[1024];
  memset(c, 0, sizeof *c);
  if (cgf_create(&c->f, "0a1b2c3d-alloc", task, err, sizeof err) < 0) {
    fprintf(stderr, "%s\n", err);
    CHECK(!"cgroups available");
    return -1;
  }
  CHECK(cgroup_set_derive(c->f.mode, CGROUP_DEFAULT_ROOT, c->f.cpuset_cgroup, c->f.alloc_id,
                          c->f.task, &c->set, err, sizeof err) == 0);
  CHECK(cgroup_set_prepare(&c->set, err, sizeof err) == 0);
  CHECK(cgroup_apply_limits(&c->set, lim, err, sizeof err) == 0);
  cgroup_set_dirs(&c->set, c->dirs, CGROUP_MAX_DIRS);
  cgroup_oom_file(&c->set, c->oom, sizeof c->oom);
  return 0;
}

/* A task in Nomad-style cgroups: only its own process in them, its
 * /proc/self/cgroup naming them, the oom_score_adj given, the limits. */
static void test_cgroups_joined(void) {
  task_cgroups c;
  cgroup_limits lim = {.memory_mb = 200, .cpu_shares = 300};
  if (task_cgroups_create(&c, "web", &lim) < 0) return;
  const cg_fixture *f = &c.f;
  const cgroup_set *set = &c.set;
  char err[1024];

  char *dir = tu_tmpdir();
  char out[PATH_MAX];
  snprintf(out, sizeof out, "%s/out", dir);
  fclose(fopen(out, "w"));
  exec_spec s = tu_spec(dir, ARGV("/bin/sh", "-c",
                                  "cat /proc/self/cgroup; cat /proc/self/oom_score_adj; exec sleep 30"));
  s.stdout_path = out;
  s.cgroup_dirs = c.dirs;
  s.oom_counter_path = c.oom;
  s.set_oom_score_adj = 1;
  s.oom_score_adj = 500;
  exec_task *t = start(&s);
  CHECK(t != NULL);
  if (t) {
    for (int i = 0; i < 100; i++) {
      char *text = tu_read_file(out);
      int done = text && strstr(text, "500\n");
      free(text);
      if (done) break;
      usleep(20000);
    }
    char *text = tu_read_file(out);
    char want[256];
    if (f->mode == CGROUP_V1) {
      static const char *const ctrls[] = {"memory", "cpu", "freezer", "cpuacct"};
      for (size_t i = 0; i < 4; i++) {
        snprintf(want, sizeof want, ":%s:/%s/%s.%s\n", ctrls[i], f->parent, f->alloc_id, f->task);
        CHECK_STR_CONTAINS(text, want);
      }
      snprintf(want, sizeof want, ":cpuset:/%s/share\n", f->parent);
      CHECK_STR_CONTAINS(text, want);
    } else {
      snprintf(want, sizeof want, "0::/%s/share.slice/%s.%s.scope\n", f->parent, f->alloc_id,
               f->task);
      CHECK_STR_CONTAINS(text, want);
    }
    CHECK_STR_CONTAINS(text, "\n500\n");
    free(text);
    /* Checklist item 96: exactly one pid, the task's (the shell exec'd
     * sleep; its cats are gone once they are reaped), never the monitor. */
    pid_t pids[16];
    const char *check_dirs[] = {set->memory, set->cpu,
                                f->mode == CGROUP_V1 ? set->freezer : set->memory};
    for (size_t i = 0; i < 3; i++) {
      int n = 0;
      for (int tries = 0; tries < 50; tries++) {
        n = cgf_procs(check_dirs[i], pids, 16);
        if (n == 1) break;
        usleep(20000);
      }
      CHECK(n == 1 && pids[0] == exec_task_pid(t) && pids[0] != exec_monitor_pid(t));
    }
    char limit_file[PATH_MAX + 64];
    snprintf(limit_file, sizeof limit_file, "%s/%s", set->memory,
             f->mode == CGROUP_V1 ? "memory.limit_in_bytes" : "memory.max");
    char *limit = tu_read_file(limit_file);
    CHECK(limit && strcmp(limit, "209715200\n") == 0);
    free(limit);
    cgroup_stats st;
    CHECK(cgroup_read_stats(set, &st) == 0);
    CHECK(st.has_memory && st.usage > 0);
    CHECK(st.has_cpu);
    /* An external SIGKILL is not an OOM kill. */
    CHECK(exec_signal(t, SIGKILL) == 0);
    exec_result r;
    CHECK(exec_wait(t, 5000, &r) == 1);
    CHECK(r.exit_code == 137 && r.signal == SIGKILL && r.oom_killed == 0);
    exec_destroy(t, 1);
  }
  CHECK(cgroup_set_remove_own(set, 2000) == 0);
  if (set->cpuacct_own) CHECK(access(set->cpuacct, F_OK) != 0);

  /* A group that does not exist fails the start, naming it. */
  const char *missing[] = {"/sys/fs/cgroup/memory/elide-test-no-such-group", NULL};
  s = tu_spec(dir, ARGV("/bin/true"));
  s.cgroup_dirs = missing;
  CHECK(exec_start(&s, &t, err, sizeof err) == -ENOENT);
  CHECK_STR_CONTAINS(err, "unable to configure cgroups: cannot join "
                          "/sys/fs/cgroup/memory/elide-test-no-such-group");
  cgf_destroy(&c.f);
  tu_rmtree(dir);
}

/* Allocating past the memory limit: the OOM killer ends the task and the
 * monitor says so. */
static void test_oom_detected(void) {
  task_cgroups c;
  cgroup_limits lim = {.memory_mb = 32};
  if (task_cgroups_create(&c, "hog", &lim) < 0) return;
  char *dir = tu_tmpdir();
  exec_spec s = tu_spec(dir, ARGV("/usr/bin/python3", "-c",
                                  "import time\nx = 'x' * (256 << 20)\ntime.sleep(5)"));
  s.cgroup_dirs = c.dirs;
  s.oom_counter_path = c.oom;
  exec_task *t = start(&s);
  CHECK(t != NULL);
  if (t) {
    exec_result r;
    CHECK(exec_wait(t, 20000, &r) == 1);
    CHECK(r.oom_killed == 1);
    CHECK(r.exit_code == 137 && r.signal == SIGKILL);
    CHECK(r.timed_out == 0);
    exec_destroy(t, 1);
  }
  cgroup_set_remove_own(&c.set, 2000);
  cgf_destroy(&c.f);
  tu_rmtree(dir);
}

int main(int argc, char **argv) {
  tu_setup(argc, argv);
  test_timeout_signal();
  test_timeout_kill_after_grace();
  test_timeout_kill_at_once();
  test_timeout_handled_exit();
  test_no_timeout_and_validation();
  test_timeout_while_detached();
  test_cgroups_joined();
  test_oom_detected();
  return CHECK_DONE();
}
