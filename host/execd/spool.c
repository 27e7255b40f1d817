/* Output spool files: creation, offsets, reads and head trimming (see
 * spool.h). */
#include "spool.h"

#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void sidecar_name(const spool *s, char *out, size_t cap) {
  snprintf(out, cap, "%s.first", s->name);
}

static int init(spool *s, const char *dir, const char *name, uint64_t max_bytes, int create,
                char *err, size_t errlen) {
  memset(s, 0, sizeof *s);
  s->fd = -1;
  snprintf(s->dir, sizeof s->dir, "%s", dir);
  snprintf(s->name, sizeof s->name, "%s", name);
  s->max_bytes = max_bytes;
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT | O_EXCL : 0);
  s->fd = open(path, flags, 0640);
  if (s->fd < 0) {
    int e = errno;
    snprintf(err, errlen, "cannot %s the output spool %s: %s", create ? "create" : "open", path,
             strerror(e));
    return -e;
  }
  if (!create) {
    char side[32];
    sidecar_name(s, side, sizeof side);
    store_kv kv = {"first", 0};
    int rc = store_read_kv(dir, side, &kv, 1, NULL, NULL, 0);
    if (rc < 0 && rc != -ENOENT) {
      snprintf(err, errlen, "cannot read %s/%s: %s", dir, side, strerror(-rc));
      close(s->fd);
      s->fd = -1;
      return rc;
    }
    s->first = kv.value > 0 ? (uint64_t)kv.value : 0;
  }
  pthread_rwlock_init(&s->lock, NULL);
  return 0;
}

int spool_create(spool *s, const char *dir, const char *name, uint64_t max_bytes, char *err,
                 size_t errlen) {
  return init(s, dir, name, max_bytes, 1, err, errlen);
}

int spool_open(spool *s, const char *dir, const char *name, uint64_t max_bytes, char *err,
               size_t errlen) {
  return init(s, dir, name, max_bytes, 0, err, errlen);
}

void spool_close(spool *s) {
  if (s->fd < 0) return;
  close(s->fd);
  s->fd = -1;
  pthread_rwlock_destroy(&s->lock);
}

uint64_t spool_size(spool *s) {
  struct stat st;
  return s->fd >= 0 && fstat(s->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
}

uint64_t spool_first(spool *s) {
  pthread_rwlock_rdlock(&s->lock);
  uint64_t f = s->first;
  pthread_rwlock_unlock(&s->lock);
  return f;
}

ssize_t spool_read(spool *s, uint64_t *offset, void *buf, size_t len) {
  pthread_rwlock_rdlock(&s->lock);
  if (*offset < s->first) *offset = s->first;
  ssize_t n;
  do n = pread(s->fd, buf, len, (off_t)*offset);
  while (n < 0 && errno == EINTR);
  if (n < 0) n = -errno;
  pthread_rwlock_unlock(&s->lock);
  return n;
}

int spool_trim(spool *s, int force) {
  pthread_rwlock_wrlock(&s->lock);
  struct stat st;
  if (fstat(s->fd, &st) < 0) {
    int e = errno;
    pthread_rwlock_unlock(&s->lock);
    return -e;
  }
  uint64_t size = (uint64_t)st.st_size;
  uint64_t slack = force ? 0 : s->max_bytes / 16 > 4096 ? s->max_bytes / 16 : 4096;
  if (size <= s->first || size - s->first <= s->max_bytes + slack) {
    pthread_rwlock_unlock(&s->lock);
    return 0;
  }
  uint64_t blk = st.st_blksize > 0 ? (uint64_t)st.st_blksize : 4096;
  uint64_t first = (size - s->max_bytes + blk - 1) / blk * blk;
  if (first > size) first = size;
  if (first <= s->first) {
    pthread_rwlock_unlock(&s->lock);
    return 0;
  }
  /* Recorded first: after a restart, the hole must never be read as data. */
  char side[32];
  sidecar_name(s, side, sizeof side);
  store_kv kv = {"first", (int64_t)first};
  int rc = store_write_kv(s->dir, side, &kv, 1, NULL, NULL);
  if (rc < 0) {
    pthread_rwlock_unlock(&s->lock);
    return rc;
  }
  uint64_t from = s->first / blk * blk;
  s->first = first;
  rc = fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)from,
                 (off_t)(first - from)) < 0 ? -errno : 1;
  pthread_rwlock_unlock(&s->lock);
  return rc;
}

int spool_tail(spool *s, size_t max, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  uint64_t size = spool_size(s);
  uint64_t off = size > max ? size - max : 0;
  char *buf = malloc(max + 1);
  if (!buf) return -ENOMEM;
  size_t have = 0;
  while (have < max) {
    uint64_t at = off + have;
    ssize_t n = spool_read(s, &at, buf + have, max - have);
    if (n <= 0) break;
    if (at != off + have) { /* trimmed under us: restart at the new head */
      off = at;
      have = 0;
      continue;
    }
    have += (size_t)n;
  }
  buf[have] = '\0';
  *out = buf;
  *len = have;
  return 0;
}
