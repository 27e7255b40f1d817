/* A started task's life after exec_start: identity, re-attaching after a
 * plugin restart, signals, stop with escalation, destroy and release. */
#include "exec_internal.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long exec_destroy lets the monitor kill and reap everything before it
 * SIGKILLs the monitor itself. */
#define DESTROY_WAIT_MS 10000

pid_t exec_task_pid(const exec_task *t) { return t->task_pid; }
pid_t exec_monitor_pid(const exec_task *t) { return t->mon.pid; }
uint64_t exec_monitor_start_ticks(const exec_task *t) { return t->mon.ticks; }
int64_t exec_started_at_ns(const exec_task *t) { return t->started_at_ns; }
const char *exec_state_dir(const exec_task *t) { return t->state_dir; }

int exec_monitor_default_path(char *out, size_t outlen) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) {
      *slash = '\0';
      int len = snprintf(out, outlen, "%s/../%s/elide-monitor", self, ELIDE_PKGLIBDIR_REL);
      if (len > 0 && (size_t)len < outlen && access(out, X_OK) == 0) return 0;
    }
  }
  int len = snprintf(out, outlen, "%s/elide-monitor", ELIDE_INSTALL_PKGLIBDIR);
  if (len < 0 || (size_t)len >= outlen) return -ENAMETOOLONG;
  return access(out, X_OK) == 0 ? 0 : -ENOENT;
}

int exec_attach(const char *state_dir, pid_t monitor_pid, uint64_t monitor_start_ticks,
                pid_t task_pid, int64_t started_at_ns, exec_task **out, char *err,
                size_t errlen) {
  *out = NULL;
  if (errlen) err[0] = '\0';
  if (!state_dir || state_dir[0] != '/') {
    snprintf(err, errlen, "state directory must be an absolute path");
    return -EINVAL;
  }
  int rc = watch_start(err, errlen);
  if (rc < 0) return rc;
  exec_task *t = calloc(1, sizeof *t);
  if (t) t->warm = -1; /* how an earlier plugin process started it is not recorded */
  if (!t || !(t->state_dir = strdup(state_dir))) {
    free(t);
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  t->task_pid = task_pid;
  t->started_at_ns = started_at_ns;
  t->wd = -1;
  if (monref_attach(&t->mon, monitor_pid, monitor_start_ticks) < 0) {
    /* No monitor: only the record can tell how the task ended. */
    exec_result r;
    rc = sys_read_exit_record(state_dir, &r);
    if (rc == -EINVAL) {
      memset(&r, 0, sizeof r);
      r.exit_code = -1;
      r.finished_at_ns = sys_realtime_ns();
      snprintf(r.err, sizeof r.err, "corrupt exit record %s/%s", state_dir, MON_EXIT_RECORD);
    } else if (rc < 0) {
      if (rc == -ENOENT || rc == -ENOTDIR) {
        snprintf(err, errlen,
                 "task monitor %d is gone (or its pid now belongs to another process) and "
                 "there is no exit record in %s",
                 (int)monitor_pid, state_dir);
        rc = -ESRCH;
      } else {
        snprintf(err, errlen, "cannot read the exit record in %s: %s", state_dir,
                 strerror(-rc));
      }
      free(t->state_dir);
      free(t);
      return rc;
    }
    task_set_result(t, &r);
  }
  if ((rc = watch_add(t, err, errlen)) < 0) {
    monref_close(&t->mon);
    free(t->state_dir);
    free(t);
    return rc;
  }
  *out = t;
  return 0;
}

int exec_signal(exec_task *t, int sig) {
  if (sig <= 0 || sig >= NSIG) return -EINVAL;
  return watch_send(t, sig);
}

int exec_close_stdin(exec_task *t) { return watch_send(t, MON_CMD_CLOSE_STDIN); }

int exec_stop(exec_task *t, int sig, int grace_ms, exec_result *out) {
  if (sig == 0) sig = SIGINT;
  /* -ESRCH: it has ended (or its monitor is gone); the wait reports how. */
  int rc = exec_signal(t, sig);
  if (rc < 0 && rc != -ESRCH) return rc;
  if (exec_wait(t, grace_ms > 0 ? grace_ms : 0, out)) return 0;
  rc = exec_signal(t, SIGKILL);
  if (rc < 0 && rc != -ESRCH) return rc;
  exec_wait(t, -1, out);
  return 0;
}

int exec_start_was_warm(const exec_task *t, const char **note) {
  *note = t->start_note;
  return t->warm;
}

void exec_set_start_note(exec_task *t, const char *note) {
  if (!t->start_note[0]) snprintf(t->start_note, sizeof t->start_note, "%s", note);
}

static void free_task(exec_task *t) {
  monref_close(&t->mon);
  free(t->state_dir);
  free(t);
}

void exec_destroy(exec_task *t, int remove_state) {
  if (!t) return;
  watch_remove(t);
  if (!monref_check(&t->mon, NULL, 0)) {
    monref_send(&t->mon, MON_CTL_SIGNAL, MON_CMD_DESTROY);
    if (!monref_wait(&t->mon, DESTROY_WAIT_MS)) {
      /* A wedged monitor: kill it; PR_SET_PDEATHSIG takes the task along. */
      monref_send(&t->mon, SIGKILL, 0);
      monref_wait(&t->mon, -1);
    }
  }
  /* Before the state goes: a task killed here has its record by now. */
  watch_retire(t, "task destroyed");
  if (remove_state) sys_remove_tree(t->state_dir);
  free_task(t);
}

void exec_release(exec_task *t) {
  if (!t) return;
  watch_remove(t);
  watch_retire(t, "task released by this process");
  free_task(t);
}
