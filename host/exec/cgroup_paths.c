/* A task's cgroup directories: derived from what Nomad passes
 * (cpuset_cgroup, alloc id, task name), checked before the start, and the
 * driver's own cpuacct directory created and removed. See cgroup.h. */
#include "cgroup.h"
#include "fs_tree.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Copies `s` without trailing slashes. */
static void trim_slashes(const char *s, char *out, size_t cap) {
  snprintf(out, cap, "%s", s);
  for (size_t n = strlen(out); n > 1 && out[n - 1] == '/'; n--) out[n - 1] = '\0';
}

/* 1 if a path component of `p` is "." or ".." or empty (a doubled slash). */
static int has_odd_component(const char *p) {
  for (const char *c = p; *c;) {
    const char *end = strchr(c, '/');
    size_t n = end ? (size_t)(end - c) : strlen(c);
    if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) return 1;
    if (!end) break;
    c = end + 1;
  }
  return 0;
}

static int ends_with(const char *s, const char *suffix, size_t *cut) {
  size_t sl = strlen(s), xl = strlen(suffix);
  if (xl > sl || strcmp(s + sl - xl, suffix) != 0) return 0;
  *cut = sl - xl;
  return 1;
}

static int valid_component(const char *s) {
  return s && s[0] && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

#define JOIN(dst, ...) snprintf((dst), sizeof(dst), __VA_ARGS__)

int cgroup_set_derive(cgroup_mode mode, const char *root, const char *cpuset_cgroup,
                      const char *alloc_id, const char *task_name, cgroup_set *out, char *err,
                      size_t errlen) {
  memset(out, 0, sizeof *out);
  char cg[PATH_MAX], rt[PATH_MAX];
  if (!cpuset_cgroup || cpuset_cgroup[0] != '/') {
    snprintf(err, errlen, "linux_resources.cpuset_cgroup \"%s\" is not an absolute path",
             cpuset_cgroup ? cpuset_cgroup : "");
    return -EINVAL;
  }
  if (strlen(cpuset_cgroup) >= sizeof cg - 64 || strlen(root) >= sizeof rt - 64) {
    snprintf(err, errlen, "linux_resources.cpuset_cgroup \"%s\" is too long", cpuset_cgroup);
    return -EINVAL;
  }
  trim_slashes(cpuset_cgroup, cg, sizeof cg);
  trim_slashes(root, rt, sizeof rt);
  if (has_odd_component(cg + 1)) {
    snprintf(err, errlen, "linux_resources.cpuset_cgroup \"%s\" has an empty, \".\" or \"..\" "
             "component", cpuset_cgroup);
    return -EINVAL;
  }
  out->mode = mode;
  JOIN(out->root, "%s", rt);
  size_t rl = strlen(rt);
  if (mode == CGROUP_V2) {
    if (strncmp(cg, rt, rl) != 0 || cg[rl] != '/' || !cg[rl + 1]) {
      snprintf(err, errlen, "linux_resources.cpuset_cgroup \"%s\" is not below the cgroup root %s",
               cpuset_cgroup, rt);
      return -EINVAL;
    }
    JOIN(out->scope, "%s", strrchr(cg, '/') + 1);
    JOIN(out->memory, "%s", cg);
    JOIN(out->cpu, "%s", cg);
    JOIN(out->cpuacct, "%s", cg);
    JOIN(out->cpuset, "%s", cg);
    return 0;
  }
  if (mode != CGROUP_V1) {
    snprintf(err, errlen, "cgroups are not available on this host");
    return -EINVAL;
  }
  if (!valid_component(alloc_id) || !valid_component(task_name)) {
    snprintf(err, errlen, "alloc id \"%s\" and task name \"%s\" must each be one path component",
             alloc_id ? alloc_id : "", task_name ? task_name : "");
    return -EINVAL;
  }
  JOIN(out->scope, "%s.%s", alloc_id, task_name);
  /* <root>/cpuset/<parent>/share or <root>/cpuset/<parent>/reserve/<scope> */
  char prefix[PATH_MAX + 16], reserve[PATH_MAX + 16];
  JOIN(prefix, "%s/cpuset/", rt);
  JOIN(reserve, "/reserve/%s", out->scope);
  size_t pl = strlen(prefix), cut = 0;
  const char *rest = cg + pl;
  if (strncmp(cg, prefix, pl) != 0 ||
      !(ends_with(rest, "/share", &cut) || ends_with(rest, reserve, &cut)) || cut == 0) {
    snprintf(err, errlen, "linux_resources.cpuset_cgroup \"%s\" is not Nomad's cgroups v1 cpuset "
             "group (%s<parent>/share or %s<parent>/reserve/%s)", cpuset_cgroup, prefix, prefix,
             out->scope);
    return -EINVAL;
  }
  JOIN(out->parent, "%.*s", (int)cut, rest);
  JOIN(out->memory, "%s/memory/%s/%s", rt, out->parent, out->scope);
  JOIN(out->cpu, "%s/cpu/%s/%s", rt, out->parent, out->scope);
  JOIN(out->freezer, "%s/freezer/%s/%s", rt, out->parent, out->scope);
  JOIN(out->cpuset, "%s", cg);
  /* Co-mounted (cpu,cpuacct): the cpu hierarchy's root has cpuacct's files. */
  char probe[PATH_MAX + 32];
  JOIN(probe, "%s/cpu/cpuacct.usage", rt);
  if (access(probe, F_OK) == 0) {
    JOIN(out->cpuacct, "%s", out->cpu);
  } else {
    JOIN(out->cpuacct, "%s/cpuacct/%s/%s", rt, out->parent, out->scope);
    out->cpuacct_own = 1;
  }
  return 0;
}

int cgroup_set_own(cgroup_mode mode, const char *root, const char *parent, const char *name,
                   cgroup_set *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (mode != CGROUP_V1 && mode != CGROUP_V2) {
    snprintf(err, errlen, "cgroups are not available on this host");
    return -EINVAL;
  }
  if (!parent || !parent[0] || parent[0] == '/' || has_odd_component(parent) ||
      strlen(parent) >= sizeof out->parent - 1) {
    snprintf(err, errlen, "cgroup parent \"%s\" must be a relative path without empty, \".\" or "
             "\"..\" components", parent ? parent : "");
    return -EINVAL;
  }
  if (!valid_component(name) || strlen(name) >= sizeof out->scope - 1) {
    snprintf(err, errlen, "cgroup name \"%s\" must be one path component", name ? name : "");
    return -EINVAL;
  }
  char rt[PATH_MAX];
  trim_slashes(root, rt, sizeof rt);
  out->mode = mode;
  out->all_own = 1;
  JOIN(out->root, "%s", rt);
  JOIN(out->parent, "%s", parent);
  for (size_t n = strlen(out->parent); n > 1 && out->parent[n - 1] == '/'; n--)
    out->parent[n - 1] = '\0';
  JOIN(out->scope, "%s", name);
  if (mode == CGROUP_V2) {
    JOIN(out->memory, "%s/%s/%s", rt, out->parent, name);
    JOIN(out->cpu, "%s", out->memory);
    JOIN(out->cpuacct, "%s", out->memory);
    return 0;
  }
  JOIN(out->memory, "%s/memory/%s/%s", rt, out->parent, name);
  JOIN(out->cpu, "%s/cpu/%s/%s", rt, out->parent, name);
  char probe[PATH_MAX + 32];
  JOIN(probe, "%s/cpu/cpuacct.usage", rt);
  if (access(probe, F_OK) == 0) {
    JOIN(out->cpuacct, "%s", out->cpu);
  } else {
    JOIN(out->cpuacct, "%s/cpuacct/%s/%s", rt, out->parent, name);
    out->cpuacct_own = 1;
  }
  return 0;
}

/* v2: enables the memory and cpu controllers for the children of every
 * level from the root down to <root>/<parent>, so the leaf has them. A
 * write that fails because the controller is on already is fine; the check
 * is memory.max existing in the leaf afterwards. */
static void v2_enable_controllers(const cgroup_set *s) {
  char path[PATH_MAX * 2];
  JOIN(path, "%s", s->root);
  for (const char *c = s->parent;;) {
    char file[PATH_MAX * 2 + 32];
    JOIN(file, "%s/cgroup.subtree_control", path);
    FILE *f = fopen(file, "we");
    if (f) {
      fputs("+memory +cpu", f);
      fclose(f);
    }
    if (!*c) break;
    const char *end = strchr(c, '/');
    size_t n = end ? (size_t)(end - c) : strlen(c);
    size_t pl = strlen(path);
    snprintf(path + pl, sizeof path - pl, "/%.*s", (int)n, c);
    c = end ? end + 1 : c + n;
  }
}

int cgroup_set_create(const cgroup_set *s, char *err, size_t errlen) {
  const char *dirs[CGROUP_MAX_DIRS];
  size_t n = cgroup_set_dirs(s, dirs, CGROUP_MAX_DIRS);
  for (size_t i = 0; i < n; i++) {
    /* The leaf's parents first, so that on v2 the controllers can be
     * enabled before the leaf exists. */
    char parent[PATH_MAX];
    JOIN(parent, "%s", dirs[i]);
    char *slash = strrchr(parent, '/');
    if (slash) *slash = '\0';
    int rc = sys_mkdir_p(parent, 0755);
    if (rc == 0 && s->mode == CGROUP_V2) v2_enable_controllers(s);
    if (rc == 0 && mkdir(dirs[i], 0755) < 0 && errno != EEXIST) rc = -errno;
    if (rc < 0) {
      snprintf(err, errlen, "unable to configure cgroups: cannot create %s: %s", dirs[i],
               strerror(-rc));
      return rc;
    }
  }
  if (s->mode == CGROUP_V2) {
    char probe[PATH_MAX + 32];
    JOIN(probe, "%s/memory.max", s->memory);
    if (access(probe, F_OK) != 0) {
      snprintf(err, errlen, "unable to configure cgroups: %s has no memory controller (is it "
               "enabled in the cgroup.subtree_control of its parents?)", s->memory);
      return -ENOTSUP;
    }
  }
  return 0;
}

static int require_dir(const char *dir, char *err, size_t errlen) {
  struct stat st;
  if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
  int e = errno ? errno : ENOTDIR;
  snprintf(err, errlen, "unable to configure cgroups: %s: %s (Nomad creates the task's cgroup "
           "before StartTask)", dir, strerror(e));
  return -e;
}

int cgroup_set_prepare(const cgroup_set *s, char *err, size_t errlen) {
  const char *dirs[CGROUP_MAX_DIRS];
  size_t n = cgroup_set_dirs(s, dirs, CGROUP_MAX_DIRS);
  for (size_t i = 0; i < n; i++) {
    if (s->cpuacct_own && dirs[i] == s->cpuacct) continue;
    int rc = require_dir(dirs[i], err, errlen);
    if (rc < 0) return rc;
  }
  if (s->cpuacct_own) {
    int rc = sys_mkdir_p(s->cpuacct, 0755);
    if (rc < 0) {
      snprintf(err, errlen, "unable to configure cgroups: cannot create %s: %s", s->cpuacct,
               strerror(-rc));
      return rc;
    }
  }
  return 0;
}

size_t cgroup_set_dirs(const cgroup_set *s, const char **dirs, size_t cap) {
  size_t n = 0;
  if (s->mode == CGROUP_V1 && s->all_own) {
    const char *own[] = {s->memory, s->cpu, s->cpuacct_own ? s->cpuacct : NULL};
    for (size_t i = 0; i < sizeof own / sizeof own[0] && n < cap; i++)
      if (own[i]) dirs[n++] = own[i];
    return n;
  }
  if (s->mode == CGROUP_V2) {
    if (cap > 0) dirs[n++] = s->memory;
    return n;
  }
  const char *all[] = {s->freezer, s->cpu, s->memory, s->cpuset,
                       s->cpuacct_own ? s->cpuacct : NULL};
  for (size_t i = 0; i < sizeof all / sizeof all[0] && n < cap; i++)
    if (all[i] && all[i][0]) dirs[n++] = all[i];
  return n;
}

void cgroup_oom_file(const cgroup_set *s, char *out, size_t outlen) {
  snprintf(out, outlen, "%s/%s", s->memory,
           s->mode == CGROUP_V2 ? "memory.events" : "memory.oom_control");
}

/* rmdir, retrying while exiting processes still hold the group. */
static int remove_dir(const char *dir, int wait_ms) {
  for (int waited = 0;; waited += 20) {
    if (rmdir(dir) == 0 || errno == ENOENT) return 0;
    if (errno != EBUSY || waited >= wait_ms) return -errno;
    struct timespec d = {0, 20 * 1000000L};
    nanosleep(&d, NULL);
  }
}

int cgroup_set_remove_own(const cgroup_set *s, int wait_ms) {
  if (s->all_own) {
    const char *dirs[CGROUP_MAX_DIRS];
    size_t n = cgroup_set_dirs(s, dirs, CGROUP_MAX_DIRS);
    int first = 0;
    for (size_t i = 0; i < n; i++) {
      int rc = remove_dir(dirs[i], wait_ms);
      if (rc < 0 && !first) first = rc;
    }
    return first;
  }
  if (s->mode != CGROUP_V1 || !s->cpuacct_own || !s->cpuacct[0]) return 0;
  return remove_dir(s->cpuacct, wait_ms);
}
