/* Real cgroups for tests, laid out as Nomad's client lays them out (see
 * cgroup_fixture.h). */
#include "cgroup_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ROOT CGROUP_DEFAULT_ROOT

static int write_text(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int copy_value(const char *from_dir, const char *to_dir, const char *file) {
  char from[PATH_MAX + 64], to[PATH_MAX + 64], buf[256];
  snprintf(from, sizeof from, "%s/%s", from_dir, file);
  snprintf(to, sizeof to, "%s/%s", to_dir, file);
  FILE *f = fopen(from, "re");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return write_text(to, buf);
}

static int make_dir(const char *path, char *err, size_t errlen) {
  if (mkdir(path, 0755) == 0 || errno == EEXIST) return 0;
  snprintf(err, errlen, "mkdir %s: %s", path, strerror(errno));
  return -1;
}

char *cgf_read(const char *dir, const char *file) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  FILE *f = fopen(path, "re");
  if (!f) return NULL;
  size_t len = 0, cap = 4096;
  char *buf = malloc(cap);
  while (buf) {
    len += fread(buf + len, 1, cap - 1 - len, f);
    if (len < cap - 1) break;
    char *bigger = realloc(buf, cap * 2);
    if (!bigger) free(buf);
    buf = bigger;
    cap *= 2;
  }
  fclose(f);
  if (buf) buf[len] = '\0';
  return buf;
}

int cgf_file_is(const char *dir, const char *file, const char *want) {
  char *got = cgf_read(dir, file);
  int same = got && strcmp(got, want) == 0;
  if (!same)
    fprintf(stderr, "  %s/%s: got \"%s\", want \"%s\"\n", dir, file, got ? got : "(none)", want);
  free(got);
  return same;
}

int cgf_procs(const char *dir, pid_t *pids, int cap) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  int n = 0, p;
  while (n < cap && fscanf(f, "%d", &p) == 1) pids[n++] = p;
  fclose(f);
  return n;
}

void cgf_dir(const cg_fixture *f, const char *controller, char *out, size_t outlen) {
  if (f->mode == CGROUP_V2)
    snprintf(out, outlen, "%s", f->cpuset_cgroup);
  else
    snprintf(out, outlen, "%s/%s/%s/%s.%s", ROOT, controller, f->parent, f->alloc_id, f->task);
}

int cgf_create(cg_fixture *f, const char *alloc_id, const char *task, char *err, size_t errlen) {
  static int seq;
  memset(f, 0, sizeof *f);
  char why[512];
  cgroup_detect(ROOT, CGROUP_DEFAULT_MOUNTINFO, geteuid(), &f->mode, why, sizeof why);
  if (f->mode == CGROUP_NONE) {
    snprintf(err, errlen, "no cgroups to test with: %s", why);
    return -1;
  }
  snprintf(f->parent, sizeof f->parent, "elide-test-%d-%d", (int)getpid(), seq++);
  snprintf(f->alloc_id, sizeof f->alloc_id, "%s", alloc_id);
  snprintf(f->task, sizeof f->task, "%s", task);
  char path[PATH_MAX], dir[PATH_MAX];
  if (f->mode == CGROUP_V2) {
    snprintf(path, sizeof path, "%s/%s", ROOT, f->parent);
    if (make_dir(path, err, errlen) < 0) return -1;
    snprintf(dir, sizeof dir, "%s/cgroup.subtree_control", path);
    write_text(dir, "+cpu +memory +cpuset");
    snprintf(path, sizeof path, "%s/%s/share.slice", ROOT, f->parent);
    if (make_dir(path, err, errlen) < 0) return -1;
    snprintf(dir, sizeof dir, "%s/cgroup.subtree_control", path);
    write_text(dir, "+cpu +memory +cpuset");
    snprintf(f->cpuset_cgroup, sizeof f->cpuset_cgroup, "%s/%s/share.slice/%s.%s.scope", ROOT,
             f->parent, alloc_id, task);
    return make_dir(f->cpuset_cgroup, err, errlen);
  }
  static const char *const ctrls[] = {"freezer", "cpu", "memory"};
  for (size_t i = 0; i < sizeof ctrls / sizeof ctrls[0]; i++) {
    snprintf(path, sizeof path, "%s/%s/%s", ROOT, ctrls[i], f->parent);
    if (make_dir(path, err, errlen) < 0) return -1;
    cgf_dir(f, ctrls[i], path, sizeof path);
    if (make_dir(path, err, errlen) < 0) return -1;
  }
  /* A new cpuset group takes no process until it has cpus and mems. */
  const char *levels[] = {"", "/share"};
  snprintf(dir, sizeof dir, "%s/cpuset", ROOT);
  for (size_t i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/cpuset/%s%s", ROOT, f->parent, levels[i]);
    if (make_dir(path, err, errlen) < 0) return -1;
    if (copy_value(dir, path, "cpuset.cpus") < 0 || copy_value(dir, path, "cpuset.mems") < 0) {
      snprintf(err, errlen, "cannot set up cpuset %s: %s", path, strerror(errno));
      return -1;
    }
    snprintf(dir, sizeof dir, "%s", path);
  }
  snprintf(f->cpuset_cgroup, sizeof f->cpuset_cgroup, "%s/cpuset/%s/share", ROOT, f->parent);
  return 0;
}

/* SIGKILLs every process listed in <dir>/cgroup.procs. */
static void kill_members(const char *dir) {
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  FILE *fp = fopen(path, "re");
  if (!fp) return;
  int pid;
  while (fscanf(fp, "%d", &pid) == 1)
    if (pid > 1) kill(pid, SIGKILL);
  fclose(fp);
}

/* rmdir, retrying while exiting processes still hold the group. */
static void remove_dir(const char *dir) {
  for (int i = 0; i < 100; i++) {
    if (rmdir(dir) == 0 || errno == ENOENT) return;
    if (errno != EBUSY) break;
    kill_members(dir);
    struct timespec d = {0, 20 * 1000000L};
    nanosleep(&d, NULL);
  }
  fprintf(stderr, "cgroup fixture: cannot remove %s: %s\n", dir, strerror(errno));
}

void cgf_destroy(cg_fixture *f) {
  if (f->mode == CGROUP_NONE || !f->parent[0]) return;
  char path[PATH_MAX];
  if (f->mode == CGROUP_V2) {
    kill_members(f->cpuset_cgroup);
    remove_dir(f->cpuset_cgroup);
    snprintf(path, sizeof path, "%s/%s/share.slice", ROOT, f->parent);
    remove_dir(path);
    snprintf(path, sizeof path, "%s/%s", ROOT, f->parent);
    remove_dir(path);
    return;
  }
  static const char *const ctrls[] = {"freezer", "cpu", "memory", "cpuacct"};
  for (size_t i = 0; i < sizeof ctrls / sizeof ctrls[0]; i++) {
    cgf_dir(f, ctrls[i], path, sizeof path);
    kill_members(path);
    remove_dir(path);
    snprintf(path, sizeof path, "%s/%s/%s", ROOT, ctrls[i], f->parent);
    if (access(path, F_OK) == 0) remove_dir(path);
  }
  snprintf(path, sizeof path, "%s/cpuset/%s/share", ROOT, f->parent);
  remove_dir(path);
  snprintf(path, sizeof path, "%s/cpuset/%s", ROOT, f->parent);
  remove_dir(path);
}
