/* An execution's output spool: one regular file per stream that the task
 * itself appends to (so nothing is lost while the daemon restarts), read by
 * byte offset. Offsets are logical and never change: the file is bounded by
 * punching holes at its head (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE),
 * and the first offset still held is recorded in a sidecar file
 * (<name>.first) before the hole is punched. All functions are
 * thread-safe. */
#ifndef ELIDE_EXECD_SPOOL_H
#define ELIDE_EXECD_SPOOL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct spool {
  int fd; /* O_RDWR (hole punching needs write access); -1 when closed */
  char dir[4096];
  char name[16];      /* "stdout" / "stderr" */
  uint64_t max_bytes; /* held at most this much after a trim */
  pthread_rwlock_t lock; /* readers vs. trimming */
  uint64_t first;        /* guarded by lock */
} spool;

/* Creates dir/name (empty, 0640, must not exist) for a new execution. */
int spool_create(spool *s, const char *dir, const char *name, uint64_t max_bytes, char *err,
                 size_t errlen);
/* Opens an existing spool (daemon restart) and its recorded first offset. */
int spool_open(spool *s, const char *dir, const char *name, uint64_t max_bytes, char *err,
               size_t errlen);
void spool_close(spool *s);

/* The offset of the next byte the task will write (the file's size). */
uint64_t spool_size(spool *s);
uint64_t spool_first(spool *s);

/* Reads up to len bytes from *offset; an offset below the first one held
 * moves up to it first (so *offset says where the data really starts).
 * Returns the byte count (0 at the end) or -errno. */
ssize_t spool_read(spool *s, uint64_t *offset, void *buf, size_t len);

/* Trims the head once more than max_bytes (+1/16 slack, so trims stay
 * rare; `force` trims anything above max_bytes) are held: the new first
 * offset is rounded up to the file system's block size. Returns 1 if it
 * trimmed, 0 if not needed, -errno on failure (the first offset still
 * moves, then: bytes before it are never served, only their space is not
 * given back). */
int spool_trim(spool *s, int force);

/* The last bytes (at most max) as a malloc'd buffer; *len its size. */
int spool_tail(spool *s, size_t max, char **out, size_t *len);

#endif
