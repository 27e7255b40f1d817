/* Helpers shared by the ABI tests (see abi_test_util.h). */
#include "abi_test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what, const char *path) {
  fprintf(stderr, "abi test: %s %s: %s\n", what, path, strerror(errno));
  exit(2);
}

void abi_mkdtemp(const char *tag, char *out) {
  const char *tmp = getenv("TMPDIR");
  char tmpl[PATH_MAX];
  snprintf(tmpl, sizeof tmpl, "%s/elide-%s-XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp", tag);
  if (!mkdtemp(tmpl)) die("mkdtemp", tmpl);
  if (!realpath(tmpl, out)) die("realpath", tmpl);
}

void abi_mkdir(const char *parent, const char *name, char *out) {
  snprintf(out, PATH_MAX, "%s/%s", parent, name);
  if (mkdir(out, 0700) != 0) die("mkdir", out);
}

void abi_copy(const char *src, const char *dir, const char *name, mode_t mode, char *out) {
  char dst[PATH_MAX];
  snprintf(dst, sizeof dst, "%s/%s", dir, name);
  int in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0) die("open", src);
  int o = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (o < 0) die("create", dst);
  char buf[65536];
  ssize_t n;
  while ((n = read(in, buf, sizeof buf)) > 0)
    if (write(o, buf, (size_t)n) != n) die("write", dst);
  if (n < 0) die("read", src);
  close(in);
  if (fchmod(o, mode) != 0) die("chmod", dst);
  close(o);
  if (out) snprintf(out, PATH_MAX, "%s", dst);
}

void abi_write(const char *dir, const char *name, const char *text) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) die("write", path);
}

char *abi_slurp(const char *path) {
  FILE *f = fopen(path, "r");
  char *buf = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&buf, &len);
  if (f) {
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) fwrite(chunk, 1, n, mem);
    fclose(f);
  }
  fclose(mem);
  return buf;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)ftw;
  if (flag == FTW_DP) rmdir(path);
  else unlink(path);
  return 0;
}

void abi_rmtree(const char *path) { nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS); }
