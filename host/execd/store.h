/* The on-disk layout under work_root and its small files. Everything a
 * restarted daemon needs lives here:
 *
 *   <work_root>/sessions/<esc id>.pb         GetSessionResponse (protobuf)
 *   <work_root>/executions/<esc id>/
 *       request.pb      the ExecuteSnippetRequest as received (protobuf)
 *       identity        monitor pid + start ticks, task pid, start time
 *       monitor/        the monitor's state dir: exit record, monitor.log
 *       stdout, stderr  output spools, written by the task itself
 *       stdout.first, stderr.first   first offset still held (trimming)
 *       stdin           FIFO (executions started with stdin)
 *       stdin.offset, stdin.eof      bytes written so far; EOF sent
 *       stop            the daemon's intent (cancel / timeout), written
 *                       before any signal is sent
 *       result          the final result, once computed
 *       work/           the default working directory
 *
 * <esc id> keeps [A-Za-z0-9._-] and writes other bytes (and a leading '.')
 * as %XX. Small files are replaced atomically (tmp + rename). */
#ifndef ELIDE_EXECD_STORE_H
#define ELIDE_EXECD_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Longest escaped id accepted (a file name component, with room for
 * suffixes such as ".pb"). */
#define STORE_MAX_ESCAPED 200

/* Escapes `id` into out (cap >= STORE_MAX_ESCAPED + 1). -ENAMETOOLONG when
 * the escaped form would be longer than STORE_MAX_ESCAPED, -EINVAL for an
 * empty id. */
int store_escape(const char *id, char *out, size_t cap);

/* mkdir -p with `mode` for the components it creates; 0 or -errno. */
int store_mkdir_p(const char *path, mode_t mode);
/* rm -rf without following symlinks; 0 or -errno. */
int store_remove_tree(const char *path);

/* Replaces dir/name with `len` bytes (dir/name.tmp, then rename). */
int store_write(const char *dir, const char *name, const void *data, size_t len);
/* Reads dir/name whole (at most max bytes): malloc'd into *data (NUL-
 * terminated, not counted in *len). -ENOENT when absent, -EFBIG if larger. */
int store_read(const char *dir, const char *name, size_t max, char **data, size_t *len);
int store_exists(const char *dir, const char *name);
void store_unlink(const char *dir, const char *name);

/* Small "key=value\n" text records (identity, stop, result, offsets). */
typedef struct store_kv {
  const char *key;
  int64_t value;
} store_kv;
/* Writes the pairs, plus optionally one string value (`text_key`, may be
 * NULL) whose newlines are replaced by blanks. */
int store_write_kv(const char *dir, const char *name, const store_kv *kv, size_t n,
                   const char *text_key, const char *text);
/* Reads the record: fills each kv[i].value found (others keep theirs) and,
 * if text_key, copies that value into text. Returns 0, -ENOENT, -EINVAL. */
int store_read_kv(const char *dir, const char *name, store_kv *kv, size_t n, const char *text_key,
                  char *text, size_t textcap);

#endif
