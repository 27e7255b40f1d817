/* exec_cmd: commands run in a task's context (host/exec/exec_cmd.h) as real
 * processes: command lookup order, capture with its bound and timeout,
 * environment, directory, user, cgroup, session, signals, descriptors, the
 * pty and its window size, and failures that leave nothing behind. */
#include "../check.h"
#include "exec_cmd.h"
#include "test_exec_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const test_env[] = {"PATH=/usr/bin:/bin", "ELIDE_TEST=exec cmd", "LANG=C",
                                       NULL};

static exec_cmd_spec spec_of(const char *const *argv, const char *cwd) {
  exec_cmd_spec s = {.argv = argv, .envp = test_env, .cwd = cwd};
  return s;
}

/* Runs argv with capture; returns the combined output (caller frees). */
static char *run(const exec_cmd_spec *s, int *code, char *stderr_out, size_t cap) {
  exec_cmd_output o;
  char err[512] = "";
  if (exec_cmd_capture(s, 10000, 4096, &o, err, sizeof err) != 0) {
    fprintf(stderr, "capture failed: %s\n", err);
    *code = -1;
    return NULL;
  }
  *code = o.exit_code;
  if (stderr_out) snprintf(stderr_out, cap, "%s", o.stderr_only);
  char *out = o.combined;
  o.combined = NULL;
  exec_cmd_output_free(&o);
  return out;
}

static void write_file(const char *path, const char *text, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd >= 0) {
    ssize_t w = write(fd, text, strlen(text));
    (void)w;
    close(fd);
  }
}

static void test_lookup(const char *dir) {
  char local[1024], out[1024], err[256];
  snprintf(local, sizeof local, "%s/local", dir);
  mkdir(local, 0755);
  char a[1100], b[1100], c[1100];
  snprintf(a, sizeof a, "%s/local/tool", dir);
  snprintf(b, sizeof b, "%s/tool", dir);
  write_file(a, "#!/bin/sh\n", 0755);
  write_file(b, "#!/bin/sh\n", 0755);
  CHECK(exec_cmd_lookup("tool", dir, test_env, out, sizeof out, err, sizeof err) == 0);
  CHECK(strcmp(out, a) == 0); /* local/ first */
  unlink(a);
  CHECK(exec_cmd_lookup("tool", dir, test_env, out, sizeof out, err, sizeof err) == 0);
  CHECK(strcmp(out, b) == 0); /* then the task dir */
  /* Even an absolute command is joined onto the task dir first. */
  snprintf(c, sizeof c, "%s/bin", dir);
  mkdir(c, 0755);
  snprintf(c, sizeof c, "%s/bin/sh", dir);
  write_file(c, "#!/bin/sh\n", 0755);
  CHECK(exec_cmd_lookup("/bin/sh", dir, test_env, out, sizeof out, err, sizeof err) == 0);
  CHECK(strcmp(out, c) == 0);
  unlink(c);
  CHECK(exec_cmd_lookup("/bin/sh", dir, test_env, out, sizeof out, err, sizeof err) == 0);
  CHECK(strcmp(out, "/bin/sh") == 0); /* then the host path */
  /* Then PATH from the task's environment, not the plugin's. */
  const char *const only_sbin[] = {"PATH=/usr/sbin", NULL};
  CHECK(exec_cmd_lookup("sh", dir, test_env, out, sizeof out, err, sizeof err) == 0);
  CHECK(strcmp(out, "/usr/bin/sh") == 0);
  CHECK(exec_cmd_lookup("sh", dir, only_sbin, out, sizeof out, err, sizeof err) == -ENOENT);
  CHECK(exec_cmd_lookup("no-such-tool-x", dir, test_env, out, sizeof out, err, sizeof err) ==
        -ENOENT);
  CHECK(strcmp(err, "binary \"no-such-tool-x\" could not be found") == 0);
  CHECK(exec_cmd_lookup("", dir, test_env, out, sizeof out, err, sizeof err) == -EINVAL);
}

static void test_capture(const char *dir) {
  const char *const argv[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL};
  exec_cmd_spec s = spec_of(argv, dir);
  int code;
  char err_only[256];
  char *out = run(&s, &code, err_only, sizeof err_only);
  CHECK(code == 3);
  CHECK(out && strstr(out, "out\n") && strstr(out, "err\n") && strlen(out) == 8);
  CHECK(strcmp(err_only, "err\n") == 0);
  free(out);

  /* The bound keeps the tail, as Nomad's circular buffer does. */
  const char *const big[] = {"/bin/sh", "-c",
                             "i=0; while [ $i -lt 1000 ]; do printf '%09d\\n' $i; i=$((i+1)); done",
                             NULL};
  s = spec_of(big, dir);
  exec_cmd_output o;
  char err[256];
  CHECK(exec_cmd_capture(&s, 10000, 4096, &o, err, sizeof err) == 0);
  CHECK(o.combined_len == 4096 && o.exit_code == 0 && !o.timed_out);
  CHECK(o.combined_len == 4096 && strcmp(o.combined + 4096 - 10, "000000999\n") == 0);
  /* 10-byte lines: the tail (from byte 5904) starts 4 bytes into line 590. */
  CHECK(o.combined_len == 4096 && strncmp(o.combined, "00590\n000000591\n", 16) == 0);
  exec_cmd_output_free(&o);

  /* A death by signal is 128+n. */
  const char *const killed[] = {"/bin/sh", "-c", "kill -TERM $$", NULL};
  s = spec_of(killed, dir);
  CHECK(exec_cmd_capture(&s, 10000, 4096, &o, err, sizeof err) == 0);
  CHECK(o.exit_code == 143 && o.signal == SIGTERM);
  exec_cmd_output_free(&o);
}

static void test_timeout(const char *dir) {
  char bg[1100];
  snprintf(bg, sizeof bg, "%s/bg.pid", dir);
  const char *const argv[] = {"/bin/sh", "-c", "sleep 30 & echo $! > bg.pid; exec sleep 31", NULL};
  exec_cmd_spec s = spec_of(argv, dir);
  exec_cmd_output o;
  char err[256];
  int64_t t0 = tu_now_ms();
  CHECK(exec_cmd_capture(&s, 500, 4096, &o, err, sizeof err) == 0);
  int64_t took = tu_now_ms() - t0;
  CHECK(o.timed_out && o.exit_code == 128 + SIGKILL && o.signal == SIGKILL);
  CHECK(took >= 450 && took < 3000);
  exec_cmd_output_free(&o);
  /* The background child was in the command's process group: killed too. */
  char *text = tu_read_file(bg);
  pid_t child = text ? (pid_t)atoi(text) : 0;
  free(text);
  CHECK(child > 0);
  if (child > 0) CHECK(tu_wait_pid_gone(child, 3000) || tu_pid_state(child) == 'Z');
}

static void test_environment(const char *dir) {
  const char *const env[] = {"/usr/bin/env", NULL};
  exec_cmd_spec s = spec_of(env, dir);
  int code;
  char *out = run(&s, &code, NULL, 0);
  CHECK(code == 0 && out && strcmp(out, "PATH=/usr/bin:/bin\nELIDE_TEST=exec cmd\nLANG=C\n") == 0);
  free(out);
  const char *const pwd[] = {"/bin/pwd", NULL};
  s = spec_of(pwd, dir);
  out = run(&s, &code, NULL, 0);
  char want[1100];
  snprintf(want, sizeof want, "%s\n", dir);
  CHECK(code == 0 && out && strcmp(out, want) == 0);
  free(out);
}

/* Session, process group, signals and descriptors of the child. */
static void test_process_state(const char *dir) {
  /* Make the parent's state what the plugin's is: SIGPIPE and SIGINT
   * ignored, SIGTERM blocked, a descriptor without CLOEXEC. */
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, &old);
  int leak = open("/dev/null", O_RDONLY);

  const char *const status[] = {"/bin/cat", "/proc/self/status", NULL};
  exec_cmd_spec s = spec_of(status, dir);
  int code;
  char *out = run(&s, &code, NULL, 0);
  CHECK(code == 0 && out);
  CHECK_STR_CONTAINS(out, "SigBlk:\t0000000000000000\n");
  CHECK_STR_CONTAINS(out, "SigIgn:\t0000000000000000\n");
  free(out);

  const char *const fds[] = {"/bin/ls", "/proc/self/fd", NULL};
  s = spec_of(fds, dir);
  out = run(&s, &code, NULL, 0);
  /* 0-2 and the directory ls itself opened. */
  CHECK(code == 0 && out && strcmp(out, "0\n1\n2\n3\n") == 0);
  if (out && strcmp(out, "0\n1\n2\n3\n") != 0) fprintf(stderr, "fds: %s\n", out);
  free(out);

  const char *const stat[] = {"/bin/sh", "-c", "read -r pid comm state ppid pgrp sid rest "
                                               "< /proc/$$/stat; echo $pid $pgrp $sid",
                              NULL};
  s = spec_of(stat, dir);
  out = run(&s, &code, NULL, 0);
  int pid = 0, pgrp = -1, sid = -2;
  CHECK(code == 0 && out && sscanf(out, "%d %d %d", &pid, &pgrp, &sid) == 3);
  CHECK(pid > 0 && pgrp == pid && sid == pid); /* its own session and group */
  free(out);

  close(leak);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  signal(SIGINT, SIG_DFL);
}

static void test_user(const char *dir) {
  if (geteuid() != 0) {
    printf("skip: user switch needs root\n");
    return;
  }
  chmod(dir, 0755);
  const gid_t groups[] = {65534};
  const char *const id[] = {"/usr/bin/id", NULL};
  exec_cmd_spec s = spec_of(id, dir);
  s.set_user = 1;
  s.uid = 65534;
  s.gid = 65534;
  s.groups = groups;
  s.ngroups = 1;
  int code;
  char *out = run(&s, &code, NULL, 0);
  CHECK(code == 0 && out && strcmp(out, "uid=65534(nobody) gid=65534(nogroup) "
                                        "groups=65534(nogroup)\n") == 0);
  if (out) printf("id as nobody: %s", out);
  free(out);
}

static void test_cgroup(const char *dir) {
  char cg[256];
  snprintf(cg, sizeof cg, "/sys/fs/cgroup/freezer/elide-exec-cmd-test-%d", (int)getpid());
  if (geteuid() != 0 || mkdir(cg, 0755) != 0) {
    printf("skip: cannot create %s: %s\n", cg, strerror(errno));
  } else {
    const char *const dirs[] = {cg, NULL};
    const char *const argv[] = {"/bin/cat", "/proc/self/cgroup", NULL};
    exec_cmd_spec s = spec_of(argv, dir);
    s.cgroup_dirs = dirs;
    int code;
    char *out = run(&s, &code, NULL, 0);
    char want[300];
    snprintf(want, sizeof want, ":freezer:/elide-exec-cmd-test-%d\n", (int)getpid());
    CHECK(code == 0);
    CHECK_STR_CONTAINS(out, want);
    free(out);
    /* The command is gone and reaped: its cgroup can be removed. */
    CHECK(rmdir(cg) == 0);
  }
  /* A directory that cannot be joined fails the start, naming it. */
  const char *const bad[] = {"/nonexistent-cgroup-dir", NULL};
  const char *const argv[] = {"/bin/true", NULL};
  exec_cmd_spec s = spec_of(argv, dir);
  s.cgroup_dirs = bad;
  exec_cmd c;
  char err[512];
  CHECK(exec_cmd_start(&s, &c, err, sizeof err) == -ENOENT);
  CHECK(strcmp(err, "cannot join cgroup /nonexistent-cgroup-dir: No such file or directory") == 0);
}

/* Reads the pty until EIO/EOF (every holder gone) or timeout. */
static size_t read_all(int fd, char *buf, size_t cap, int timeout_ms) {
  size_t have = 0;
  int64_t deadline = tu_now_ms() + timeout_ms;
  while (have + 1 < cap) {
    struct pollfd p = {fd, POLLIN, 0};
    int left = (int)(deadline - tu_now_ms());
    if (left <= 0 || poll(&p, 1, left) <= 0) break;
    ssize_t n = read(fd, buf + have, cap - 1 - have);
    if (n < 0 && errno == EAGAIN) continue;
    if (n <= 0) break;
    have += (size_t)n;
  }
  buf[have] = '\0';
  return have;
}

static void test_tty(const char *dir) {
  const char *const argv[] = {"/bin/sh", "-c", "stty size; tty; sleep 0.5; stty size", NULL};
  exec_cmd_spec s = spec_of(argv, dir);
  s.tty = 1;
  s.rows = 40;
  s.cols = 100;
  exec_cmd c;
  char err[512], buf[4096];
  CHECK(exec_cmd_start(&s, &c, err, sizeof err) == 0);
  CHECK(c.tty && c.stdin_fd >= 0 && c.stdout_fd == c.stdin_fd && c.stderr_fd == -1);
  usleep(200000);
  CHECK(exec_cmd_resize(&c, 50, 120) == 0);
  read_all(c.stdout_fd, buf, sizeof buf, 5000);
  CHECK(exec_cmd_reap(&c, 5000) == 1 && c.exit_code == 0);
  CHECK(strncmp(buf, "40 100\r\n/dev/pts/", 17) == 0);
  CHECK_STR_CONTAINS(buf, "\r\n50 120\r\n");
  exec_cmd_free(&c);

  /* Without a tty, stty has no terminal. */
  const char *const notty[] = {"/bin/stty", "size", NULL};
  s = spec_of(notty, dir);
  int code;
  char err_only[256];
  char *out = run(&s, &code, err_only, sizeof err_only);
  CHECK(code == 1);
  CHECK_STR_CONTAINS(err_only, "Inappropriate ioctl for device");
  free(out);
  CHECK(exec_cmd_resize(&c, 1, 1) == -ENOTTY);
}

static void test_stdin(const char *dir) {
  const char *const argv[] = {"/bin/sh", "-c", "head -n1", NULL};
  exec_cmd_spec s = spec_of(argv, dir);
  exec_cmd c;
  char err[512], buf[256];
  CHECK(exec_cmd_start(&s, &c, err, sizeof err) == 0);
  CHECK(write(c.stdin_fd, "line one\nline two\n", 18) == 18);
  exec_cmd_close_stdin(&c);
  CHECK(c.stdin_fd == -1);
  read_all(c.stdout_fd, buf, sizeof buf, 5000);
  CHECK(strcmp(buf, "line one\n") == 0);
  CHECK(exec_cmd_reap(&c, -1) == 1 && c.exit_code == 0);
  CHECK(exec_cmd_kill_group(&c, SIGKILL) == -ESRCH); /* never after the reap */
  exec_cmd_free(&c);

  /* Freeing a running command kills its group and reaps it. */
  const char *const sleeper[] = {"/bin/sleep", "30", NULL};
  s = spec_of(sleeper, dir);
  CHECK(exec_cmd_start(&s, &c, err, sizeof err) == 0);
  pid_t pid = c.pid;
  CHECK(exec_cmd_reap(&c, 0) == 0);
  exec_cmd_free(&c);
  CHECK(!tu_pid_exists(pid));
}

static void test_failures(const char *dir) {
  exec_cmd c;
  char err[512];
  const char *const missing[] = {"/nonexistent/program", NULL};
  exec_cmd_spec s = spec_of(missing, dir);
  CHECK(exec_cmd_start(&s, &c, err, sizeof err) == -ENOENT);
  CHECK(strcmp(err, "cannot execute /nonexistent/program: No such file or directory") == 0);
  const char *const ok[] = {"/bin/true", NULL};
  s = spec_of(ok, "/nonexistent-dir");
  CHECK(exec_cmd_start(&s, &c, err, sizeof err) == -ENOENT);
  CHECK(strcmp(err, "cannot change directory to /nonexistent-dir: No such file or directory") ==
        0);
  const char *const relative[] = {"true", NULL};
  s = spec_of(relative, dir);
  CHECK(exec_cmd_start(&s, &c, err, sizeof err) == -EINVAL);
  /* A failed child is reaped, nothing else is open. */
  CHECK(tu_count_children() == 0);
}

int main(int argc, char **argv) {
  tu_setup(argc, argv);
  char *dir = tu_tmpdir();
  test_lookup(dir);
  test_capture(dir);
  test_timeout(dir);
  test_environment(dir);
  test_process_state(dir);
  test_user(dir);
  test_cgroup(dir);
  test_tty(dir);
  test_stdin(dir);
  test_failures(dir);
  CHECK(tu_count_children() == 0);
  tu_rmtree(dir);
  return CHECK_DONE();
}
