/* Whole-file reads of small files (see small_file.h). */
#include "small_file.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

ssize_t small_file_read(int dirfd, const char *path, char *buf, size_t cap) {
  int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -errno;
  size_t have = 0;
  while (have < cap - 1) {
    ssize_t n = read(fd, buf + have, cap - 1 - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      return -e;
    }
    if (n == 0) break;
    have += (size_t)n;
  }
  close(fd);
  buf[have] = '\0';
  return (ssize_t)have;
}
