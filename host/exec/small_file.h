/* Reading a small file whole in one call: /proc/<pid>/stat, cgroup
 * counters, exit records. libc only and free of allocation, so that
 * elide-monitor can link it (see host/exec/CMakeLists.txt). */
#ifndef ELIDE_EXEC_SMALL_FILE_H
#define ELIDE_EXEC_SMALL_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Reads `path` (relative to dirfd, or AT_FDCWD) into buf: at most cap - 1
 * bytes, then a NUL, so the text can be parsed with string functions (a
 * longer file is cut there: callers size buf for the file's largest
 * form). The last path component is never followed as a symlink. Returns
 * the length read, or -errno (cap must be at least 1). */
ssize_t small_file_read(int dirfd, const char *path, char *buf, size_t cap);

#endif
