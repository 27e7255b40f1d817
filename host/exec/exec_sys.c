/* Small process and file helpers for the plugin side of exec: /proc start
 * times, pidfd checks, the exit record reader, mkdir -p and rm -rf. */
#include "exec_internal.h"
#include "small_file.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t sys_realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int sys_proc_stat(pid_t pid, uint64_t *ticks, char *state) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  ssize_t n = small_file_read(AT_FDCWD, path, buf, sizeof buf);
  if (n < 0) return n == -ENOENT ? -ESRCH : (int)n;
  /* The command name may contain spaces and parentheses: fields are
   * counted from the last ')'. Field 3 (state) follows it; 22 is starttime. */
  char *p = strrchr(buf, ')');
  if (!p || p[1] != ' ' || !p[2]) return -EINVAL;
  if (state) *state = p[2];
  p++;
  for (int field = 3; field < 22; field++) {
    p = strchr(p + 1, ' ');
    if (!p) return -EINVAL;
  }
  char *end;
  errno = 0;
  unsigned long long v = strtoull(p + 1, &end, 10);
  if (errno || end == p + 1) return -EINVAL;
  *ticks = v;
  return 0;
}

int sys_mkdir_p(const char *path, mode_t mode) {
  char buf[PATH_MAX];
  size_t len = strlen(path);
  if (len == 0 || len >= sizeof buf) return -ENAMETOOLONG;
  memcpy(buf, path, len + 1);
  for (char *p = buf + 1;; p++) {
    if (*p != '/' && *p != '\0') continue;
    char c = *p;
    *p = '\0';
    if (mkdir(buf, mode) < 0 && errno != EEXIST) return -errno;
    *p = c;
    if (c == '\0') break;
  }
  struct stat st;
  if (stat(path, &st) < 0) return -errno;
  return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

int sys_remove_tree(const char *path) {
  if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0) return errno == ENOENT ? 0 : -errno;
  return 0;
}

int sys_read_exit_record(const char *dir, exec_result *out) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return -errno;
  char buf[1024];
  ssize_t n = small_file_read(dfd, MON_EXIT_RECORD, buf, sizeof buf);
  close(dfd);
  if (n < 0) return (int)n;
  mon_exit e;
  if (exit_record_parse(buf, (size_t)n, &e) < 0) return -EINVAL;
  memset(out, 0, sizeof *out);
  out->exit_code = e.exit_code;
  out->signal = e.signal;
  out->oom_killed = e.oom_killed;
  out->finished_at_ns = e.finished_at_ns;
  out->has_rusage = e.has_rusage;
  out->cpu_user_ns = e.cpu_user_ns;
  out->cpu_system_ns = e.cpu_system_ns;
  out->max_rss_bytes = e.max_rss_bytes;
  out->timed_out = e.timed_out;
  out->timeout_killed = e.timeout_killed;
  out->timeout_signal = e.timeout_signal;
  out->timeout_ms = e.timeout_ms;
  out->timeout_grace_ms = e.timeout_grace_ms;
  return 0;
}

void sys_spawnattr_clean_signals(posix_spawnattr_t *at) {
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(at, &none);
  posix_spawnattr_setsigdefault(at, &all);
  posix_spawnattr_setflags(at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}
