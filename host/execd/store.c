/* Small-file persistence under work_root (see store.h). */
#include "store.h"

#include "fs_tree.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int store_escape(const char *id, char *out, size_t cap) {
  if (!id || !id[0]) return -EINVAL;
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
    int keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
               (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
               (*p == '.' && p != (const unsigned char *)id);
    size_t need = keep ? 1 : 3;
    if (n + need > STORE_MAX_ESCAPED || n + need >= cap) return -ENAMETOOLONG;
    if (keep) out[n++] = (char)*p;
    else n += (size_t)snprintf(out + n, cap - n, "%%%02X", *p);
  }
  out[n] = '\0';
  return 0;
}

int store_mkdir_p(const char *path, mode_t mode) { return sys_mkdir_p(path, mode); }

int store_remove_tree(const char *path) { return sys_remove_tree(path); }

static int join(char *out, size_t cap, const char *dir, const char *name, const char *suffix) {
  int n = snprintf(out, cap, "%s/%s%s", dir, name, suffix);
  return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int store_write(const char *dir, const char *name, const void *data, size_t len) {
  char tmp[PATH_MAX], path[PATH_MAX];
  if (join(tmp, sizeof tmp, dir, name, ".tmp") < 0 || join(path, sizeof path, dir, name, "") < 0)
    return -ENAMETOOLONG;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return -errno;
  const char *p = data;
  int rc = 0;
  while (len && rc == 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) rc = -errno;
    else p += w, len -= (size_t)w;
  }
  if (close(fd) < 0 && rc == 0) rc = -errno;
  if (rc == 0 && rename(tmp, path) < 0) rc = -errno;
  if (rc != 0) unlink(tmp);
  return rc;
}

int store_read(const char *dir, const char *name, size_t max, char **data, size_t *len) {
  char path[PATH_MAX];
  *data = NULL;
  *len = 0;
  if (join(path, sizeof path, dir, name, "") < 0) return -ENAMETOOLONG;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return -EINVAL;
  }
  if ((uint64_t)st.st_size > max) {
    close(fd);
    return -EFBIG;
  }
  char *buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    close(fd);
    return -ENOMEM;
  }
  size_t have = 0;
  while (have < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + have, (size_t)st.st_size - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    have += (size_t)r;
  }
  close(fd);
  buf[have] = '\0';
  *data = buf;
  *len = have;
  return 0;
}

int store_exists(const char *dir, const char *name) {
  char path[PATH_MAX];
  return join(path, sizeof path, dir, name, "") == 0 && access(path, F_OK) == 0;
}

void store_unlink(const char *dir, const char *name) {
  char path[PATH_MAX];
  if (join(path, sizeof path, dir, name, "") == 0) unlink(path);
}

int store_write_kv(const char *dir, const char *name, const store_kv *kv, size_t n,
                   const char *text_key, const char *text) {
  char buf[2048];
  size_t used = 0;
  for (size_t i = 0; i < n && used < sizeof buf; i++)
    used += (size_t)snprintf(buf + used, sizeof buf - used, "%s=%" PRId64 "\n", kv[i].key,
                             kv[i].value);
  if (text_key && used < sizeof buf) {
    used += (size_t)snprintf(buf + used, sizeof buf - used, "%s=", text_key);
    for (const char *p = text ? text : ""; *p && used + 2 < sizeof buf; p++)
      buf[used++] = *p == '\n' || *p == '\r' ? ' ' : *p;
    if (used + 1 < sizeof buf) buf[used++] = '\n';
  }
  if (used >= sizeof buf) return -ENOSPC;
  return store_write(dir, name, buf, used);
}

int store_read_kv(const char *dir, const char *name, store_kv *kv, size_t n, const char *text_key,
                  char *text, size_t textcap) {
  char *data;
  size_t len;
  int rc = store_read(dir, name, 4096, &data, &len);
  if (rc < 0) return rc == -EFBIG ? -EINVAL : rc;
  if (text && textcap) text[0] = '\0';
  for (char *save = NULL, *line = strtok_r(data, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char *eq = strchr(line, '=');
    if (!eq) {
      rc = -EINVAL;
      break;
    }
    *eq = '\0';
    if (text_key && !strcmp(line, text_key)) {
      if (text) snprintf(text, textcap, "%s", eq + 1);
      continue;
    }
    for (size_t i = 0; i < n; i++) {
      if (strcmp(line, kv[i].key) != 0) continue;
      char *end;
      errno = 0;
      long long v = strtoll(eq + 1, &end, 10);
      if (errno || end == eq + 1 || *end) rc = -EINVAL;
      else kv[i].value = v;
    }
  }
  free(data);
  return rc;
}
