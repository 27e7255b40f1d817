/* The two cgroup operations elide-monitor needs, kept libc-only and free of
 * allocation (the monitor is tiny, and cgroup_join runs between fork and
 * execve): putting a process into a cgroup, and reading the OOM-kill
 * counter. See cgroup.h. */
#include "cgroup.h"
#include "small_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* Decimal digits of v into buf (no NUL); returns the length. */
static size_t format_u64(uint64_t v, char *buf) {
  char tmp[24];
  size_t n = 0;
  do tmp[n++] = (char)('0' + v % 10);
  while ((v /= 10) && n < sizeof tmp);
  for (size_t i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
  return n;
}

int cgroup_join(const char *dir, pid_t pid) {
  static const char leaf[] = "/cgroup.procs";
  char path[PATH_MAX];
  size_t dl = strlen(dir);
  if (dl + sizeof leaf > sizeof path) return -ENAMETOOLONG;
  memcpy(path, dir, dl);
  memcpy(path + dl, leaf, sizeof leaf);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  char num[24];
  size_t n = format_u64((uint64_t)pid, num);
  ssize_t w;
  do w = write(fd, num, n);
  while (w < 0 && errno == EINTR);
  int rc = w == (ssize_t)n ? 0 : w < 0 ? -errno : -EIO;
  close(fd);
  return rc;
}

int cgroup_oom_kills(const char *file, uint64_t *count) {
  char buf[4096]; /* both files are a few short lines */
  ssize_t n = small_file_read(AT_FDCWD, file, buf, sizeof buf);
  if (n < 0) return (int)n;
  static const char key[] = "oom_kill ";
  for (const char *line = buf; *line;) {
    if (strncmp(line, key, sizeof key - 1) == 0) {
      const char *p = line + sizeof key - 1;
      if (*p < '0' || *p > '9') return -EINVAL;
      uint64_t v = 0;
      for (; *p >= '0' && *p <= '9'; p++) v = v * 10 + (uint64_t)(*p - '0');
      if (*p != '\n' && *p != '\0') return -EINVAL;
      *count = v;
      return 0;
    }
    const char *nl = strchr(line, '\n');
    if (!nl) break;
    line = nl + 1;
  }
  return -ENODATA;
}
