/* Unit tests of the cgroup library (host/exec/cgroup*.c) against directory
 * trees of plain files standing in for /sys/fs/cgroup: mode detection from
 * a mountinfo file, the task's directory set for v1 and v2, Nomad's memory
 * and CPU rules and the files they are written to, usage parsing, the
 * OOM-kill counter, joining and the driver's own cpuacct directory. */
#include "cgroup.h"

#include "../check.h"
#include "cgroup_fixture.h"
#include "test_exec_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(2);
  }
  fputs(text, f);
  fclose(f);
}

/* Creates <base>/<rel> (a directory, parents too). */
static void mkdirs(const char *base, const char *rel) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", base, rel);
  for (char *p = path + strlen(base) + 1;; p++) {
    if (*p != '/' && *p) continue;
    char c = *p;
    *p = '\0';
    mkdir(path, 0755);
    *p = c;
    if (!c) break;
  }
}

/* <base>/<rel> = text */
static void put(const char *base, const char *rel, const char *text) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", base, rel);
  write_file(path, text);
}

static int exists(const char *base, const char *rel) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", base, rel);
  return access(path, F_OK) == 0;
}

/* A fake v1 root: tmpfs with memory, cpu, freezer, cpuset (and cpuacct)
 * hierarchies, each with a cgroup.procs file. */
static void make_v1_root(const char *root) {
  mkdir(root, 0755);
  const char *ctrls[] = {"memory", "cpu", "freezer", "cpuset", "cpuacct"};
  for (size_t i = 0; i < 5; i++) {
    char rel[64];
    snprintf(rel, sizeof rel, "%s/cgroup.procs", ctrls[i]);
    mkdirs(root, ctrls[i]);
    put(root, rel, "");
  }
}

static void write_mountinfo(const char *path, const char *root, const char *type) {
  char text[4096];
  snprintf(text, sizeof text,
           "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/root rw\n"
           "31 22 0:28 / %s rw,relatime - %s %s rw,mode=755\n"
           "41 31 0:38 / %s/unified rw,relatime - cgroup2 cgroup2 rw\n",
           root, type, type, root);
  write_file(path, text);
}

static void test_detect(void) {
  char *dir = tu_tmpdir();
  char root[PATH_MAX], mi[PATH_MAX], why[512];
  snprintf(root, sizeof root, "%s/cg", dir);
  snprintf(mi, sizeof mi, "%s/mountinfo", dir);
  mkdirs(dir, "cg");
  cgroup_mode m;

  /* Nothing mounted there. */
  write_file(mi, "22 1 0:21 / / rw - ext4 /dev/root rw\n");
  CHECK(cgroup_detect(root, mi, 0, &m, why, sizeof why) == 0);
  CHECK(m == CGROUP_NONE);
  CHECK_STR_CONTAINS(why, "no cgroup filesystem is mounted at");

  /* v1: a tmpfs (the cgroup2 mount below it is systemd's hybrid layout and
   * does not count, as in Nomad), but freezer missing. */
  write_mountinfo(mi, root, "tmpfs");
  mkdirs(root, "memory");
  put(root, "memory/cgroup.procs", "");
  mkdirs(root, "cpu");
  put(root, "cpu/cgroup.procs", "");
  CHECK(cgroup_detect(root, mi, 0, &m, why, sizeof why) == 0);
  CHECK(m == CGROUP_NONE);
  CHECK_STR_CONTAINS(why, "the freezer controller is not mounted");
  make_v1_root(root);
  CHECK(cgroup_detect(root, mi, 0, &m, why, sizeof why) == 0);
  CHECK(m == CGROUP_V1);
  CHECK(strcmp(cgroup_mode_name(m), "v1") == 0);
  /* Not root: no cgroups, and the reason says why. */
  CHECK(cgroup_detect(root, mi, 1000, &m, why, sizeof why) == 0);
  CHECK(m == CGROUP_NONE);
  CHECK_STR_CONTAINS(why, "uid 1000, not root");

  /* v2 with and without the controllers Nomad needs. */
  write_mountinfo(mi, root, "cgroup2");
  put(root, "cgroup.controllers", "cpuset io pids\n");
  CHECK(cgroup_detect(root, mi, 0, &m, why, sizeof why) == 0);
  CHECK(m == CGROUP_NONE);
  CHECK_STR_CONTAINS(why, "does not offer the memory controller");
  put(root, "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
  CHECK(cgroup_detect(root, mi, 0, &m, why, sizeof why) == 0);
  CHECK(m == CGROUP_V2);

  /* Something else mounted there. */
  write_mountinfo(mi, root, "ext4");
  CHECK(cgroup_detect(root, mi, 0, &m, why, sizeof why) == 0);
  CHECK(m == CGROUP_NONE);
  CHECK_STR_CONTAINS(why, "is a ext4 mount");

  /* A mount point with a space, escaped as \040 in mountinfo. */
  char spaced[PATH_MAX], text[PATH_MAX * 2];
  snprintf(spaced, sizeof spaced, "%s/c g", dir);
  mkdirs(dir, "c g");
  make_v1_root(spaced);
  snprintf(text, sizeof text, "31 22 0:28 / %s/c\\040g rw - tmpfs tmpfs rw\n", dir);
  write_file(mi, text);
  CHECK(cgroup_detect(spaced, mi, 0, &m, why, sizeof why) == 0);
  CHECK(m == CGROUP_V1);

  /* An unreadable mountinfo is an error, not a guess. */
  CHECK(cgroup_detect(root, "/nonexistent/mountinfo", 0, &m, why, sizeof why) == -ENOENT);
  CHECK(m == CGROUP_NONE);
  CHECK_STR_CONTAINS(why, "cannot read /nonexistent/mountinfo");

  /* This host, for the record (the integration tests need v1 or v2). */
  cgroup_detect(CGROUP_DEFAULT_ROOT, CGROUP_DEFAULT_MOUNTINFO, geteuid(), &m, why, sizeof why);
  printf("this host: cgroups %s%s%s\n", cgroup_mode_name(m), why[0] ? ": " : "", why);
  tu_rmtree(dir);
}

static void test_derive_v1(void) {
  char *dir = tu_tmpdir();
  char root[PATH_MAX], cs[PATH_MAX * 2], want[PATH_MAX * 2], err[512];
  snprintf(root, sizeof root, "%s/cg", dir);
  make_v1_root(root);
  cgroup_set s;

  /* Shared cores: <root>/cpuset/nomad/share; cpuacct its own hierarchy. */
  snprintf(cs, sizeof cs, "%s/cpuset/nomad/share", root);
  CHECK(cgroup_set_derive(CGROUP_V1, root, cs, "a1b2", "web", &s, err, sizeof err) == 0);
  CHECK(strcmp(s.parent, "nomad") == 0);
  CHECK(strcmp(s.scope, "a1b2.web") == 0);
  snprintf(want, sizeof want, "%s/memory/nomad/a1b2.web", root);
  CHECK(strcmp(s.memory, want) == 0);
  snprintf(want, sizeof want, "%s/cpu/nomad/a1b2.web", root);
  CHECK(strcmp(s.cpu, want) == 0);
  snprintf(want, sizeof want, "%s/freezer/nomad/a1b2.web", root);
  CHECK(strcmp(s.freezer, want) == 0);
  CHECK(strcmp(s.cpuset, cs) == 0);
  snprintf(want, sizeof want, "%s/cpuacct/nomad/a1b2.web", root);
  CHECK(strcmp(s.cpuacct, want) == 0);
  CHECK(s.cpuacct_own == 1);
  const char *dirs[CGROUP_MAX_DIRS];
  size_t n = cgroup_set_dirs(&s, dirs, CGROUP_MAX_DIRS);
  CHECK(n == 5);
  CHECK(n == 5 && dirs[0] == s.freezer && dirs[1] == s.cpu && dirs[2] == s.memory &&
        dirs[3] == s.cpuset && dirs[4] == s.cpuacct);
  char oom[PATH_MAX + 32];
  cgroup_oom_file(&s, oom, sizeof oom);
  snprintf(want, sizeof want, "%s/memory/nomad/a1b2.web/memory.oom_control", root);
  CHECK(strcmp(oom, want) == 0);

  /* Reserved cores, a nested cgroup_parent, a trailing slash; cpuacct
   * co-mounted with cpu (its files in the cpu hierarchy). */
  put(root, "cpu/cpuacct.usage", "0\n");
  snprintf(cs, sizeof cs, "%s/cpuset/ops/nomad/reserve/a1b2.web/", root);
  CHECK(cgroup_set_derive(CGROUP_V1, root, cs, "a1b2", "web", &s, err, sizeof err) == 0);
  CHECK(strcmp(s.parent, "ops/nomad") == 0);
  snprintf(want, sizeof want, "%s/memory/ops/nomad/a1b2.web", root);
  CHECK(strcmp(s.memory, want) == 0);
  snprintf(want, sizeof want, "%s/cpuset/ops/nomad/reserve/a1b2.web", root);
  CHECK(strcmp(s.cpuset, want) == 0);
  CHECK(strcmp(s.cpuacct, s.cpu) == 0);
  CHECK(s.cpuacct_own == 0);
  CHECK(cgroup_set_dirs(&s, dirs, CGROUP_MAX_DIRS) == 4);
  CHECK(cgroup_set_dirs(&s, dirs, 2) == 2);

  /* Refusals name the field. */
  snprintf(cs, sizeof cs, "%s/cpuset/nomad/reserve/other.task", root);
  CHECK(cgroup_set_derive(CGROUP_V1, root, cs, "a1b2", "web", &s, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, "linux_resources.cpuset_cgroup");
  CHECK_STR_CONTAINS(err, "reserve/a1b2.web");
  CHECK(cgroup_set_derive(CGROUP_V1, root, "/elsewhere/cpuset/nomad/share", "a", "t", &s, err,
                          sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, "is not Nomad's cgroups v1 cpuset group");
  snprintf(cs, sizeof cs, "%s/cpuset/share", root); /* no parent */
  CHECK(cgroup_set_derive(CGROUP_V1, root, cs, "a", "t", &s, err, sizeof err) == -EINVAL);
  snprintf(cs, sizeof cs, "%s/cpuset/../../etc/share", root);
  CHECK(cgroup_set_derive(CGROUP_V1, root, cs, "a", "t", &s, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, "\"..\"");
  CHECK(cgroup_set_derive(CGROUP_V1, root, "relative/share", "a", "t", &s, err, sizeof err) ==
        -EINVAL);
  CHECK_STR_CONTAINS(err, "not an absolute path");
  snprintf(cs, sizeof cs, "%s/cpuset/nomad/share", root);
  CHECK(cgroup_set_derive(CGROUP_V1, root, cs, "a/b", "t", &s, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, "one path component");
  CHECK(cgroup_set_derive(CGROUP_NONE, root, cs, "a", "t", &s, err, sizeof err) == -EINVAL);
  tu_rmtree(dir);
}

static void test_derive_v2(void) {
  char err[512];
  cgroup_set s;
  const char *scope = "/sys/fs/cgroup/nomad.slice/share.slice/a1b2.web.scope";
  CHECK(cgroup_set_derive(CGROUP_V2, "/sys/fs/cgroup", scope, "a1b2", "web", &s, err,
                          sizeof err) == 0);
  CHECK(strcmp(s.memory, scope) == 0 && strcmp(s.cpu, scope) == 0 &&
        strcmp(s.cpuset, scope) == 0 && strcmp(s.cpuacct, scope) == 0);
  CHECK(s.freezer[0] == '\0');
  CHECK(strcmp(s.scope, "a1b2.web.scope") == 0);
  const char *dirs[CGROUP_MAX_DIRS];
  CHECK(cgroup_set_dirs(&s, dirs, CGROUP_MAX_DIRS) == 1 && strcmp(dirs[0], scope) == 0);
  char oom[PATH_MAX + 32];
  cgroup_oom_file(&s, oom, sizeof oom);
  CHECK(strcmp(oom, "/sys/fs/cgroup/nomad.slice/share.slice/a1b2.web.scope/memory.events") == 0);
  CHECK(cgroup_set_derive(CGROUP_V2, "/sys/fs/cgroup", "/sys/fs/cgroupx/a.scope", "a", "t", &s,
                          err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, "is not below the cgroup root /sys/fs/cgroup");
  CHECK(cgroup_set_derive(CGROUP_V2, "/sys/fs/cgroup", "/sys/fs/cgroup", "a", "t", &s, err,
                          sizeof err) == -EINVAL);
}

static void test_prepare_and_remove(void) {
  char *dir = tu_tmpdir();
  char root[PATH_MAX], cs[PATH_MAX * 2], err[1024];
  snprintf(root, sizeof root, "%s/cg", dir);
  make_v1_root(root);
  snprintf(cs, sizeof cs, "%s/cpuset/nomad/share", root);
  mkdirs(root, "cpuset/nomad/share");
  mkdirs(root, "freezer/nomad/a.t");
  mkdirs(root, "cpu/nomad/a.t");
  cgroup_set s;
  CHECK(cgroup_set_derive(CGROUP_V1, root, cs, "a", "t", &s, err, sizeof err) == 0);
  /* Nomad did not create the memory group: the start must fail naming it. */
  CHECK(cgroup_set_prepare(&s, err, sizeof err) == -ENOENT);
  CHECK_STR_CONTAINS(err, "unable to configure cgroups");
  CHECK_STR_CONTAINS(err, s.memory);
  CHECK(!exists(root, "cpuacct/nomad/a.t"));
  mkdirs(root, "memory/nomad/a.t");
  CHECK(cgroup_set_prepare(&s, err, sizeof err) == 0);
  CHECK(exists(root, "cpuacct/nomad/a.t"));
  CHECK(cgroup_set_remove_own(&s, 0) == 0);
  CHECK(!exists(root, "cpuacct/nomad/a.t"));
  CHECK(exists(root, "memory/nomad/a.t")); /* Nomad's own are left alone */
  CHECK(cgroup_set_remove_own(&s, 0) == 0); /* already gone */
  /* Something left inside: -ENOTEMPTY on a plain directory (EBUSY on
   * cgroupfs), after the wait. */
  mkdirs(root, "cpuacct/nomad/a.t/x");
  CHECK(cgroup_set_remove_own(&s, 40) < 0);
  tu_rmtree(dir);
}

/* A set entirely of our own (the execution daemon's): paths, creation,
 * limits in bytes and millicores, removal of every directory. */
static void test_own_set(void) {
  char *dir = tu_tmpdir();
  char root[PATH_MAX], want[PATH_MAX * 2], err[1024];
  snprintf(root, sizeof root, "%s/cg", dir);
  make_v1_root(root);
  cgroup_set s;
  CHECK(cgroup_set_own(CGROUP_V1, root, "elide-execd", "exec%2F1", &s, err, sizeof err) == 0);
  CHECK(s.all_own == 1 && s.cpuacct_own == 1);
  snprintf(want, sizeof want, "%s/memory/elide-execd/exec%%2F1", root);
  CHECK(strcmp(s.memory, want) == 0);
  snprintf(want, sizeof want, "%s/cpuacct/elide-execd/exec%%2F1", root);
  CHECK(strcmp(s.cpuacct, want) == 0);
  CHECK(s.freezer[0] == '\0' && s.cpuset[0] == '\0');
  const char *dirs[CGROUP_MAX_DIRS];
  CHECK(cgroup_set_dirs(&s, dirs, CGROUP_MAX_DIRS) == 3);
  CHECK(dirs[0] == s.memory && dirs[1] == s.cpu && dirs[2] == s.cpuacct);
  CHECK(cgroup_set_create(&s, err, sizeof err) == 0);
  CHECK(exists(root, "memory/elide-execd/exec%2F1") && exists(root, "cpu/elide-execd/exec%2F1") &&
        exists(root, "cpuacct/elide-execd/exec%2F1"));
  put(root, "memory/elide-execd/exec%2F1/memory.limit_in_bytes", "");
  put(root, "cpu/elide-execd/exec%2F1/cpu.shares", "");
  put(root, "cpu/elide-execd/exec%2F1/cpu.cfs_period_us", "");
  put(root, "cpu/elide-execd/exec%2F1/cpu.cfs_quota_us", "");
  cgroup_limits l = {.memory_bytes = 12345678, .cpu_shares = 512, .cpu_quota_millis = 500};
  CHECK(cgroup_apply_limits(&s, &l, err, sizeof err) == 0);
  CHECK(cgf_file_is(root, "memory/elide-execd/exec%2F1/memory.limit_in_bytes", "12345678"));
  CHECK(cgf_file_is(root, "cpu/elide-execd/exec%2F1/cpu.shares", "512"));
  CHECK(cgf_file_is(root, "cpu/elide-execd/exec%2F1/cpu.cfs_period_us", "100000"));
  CHECK(cgf_file_is(root, "cpu/elide-execd/exec%2F1/cpu.cfs_quota_us", "50000"));
  /* plain files stand in for the interface files, so empty them first */
  const char *files[] = {"memory/elide-execd/exec%2F1/memory.limit_in_bytes",
                         "cpu/elide-execd/exec%2F1/cpu.shares",
                         "cpu/elide-execd/exec%2F1/cpu.cfs_period_us",
                         "cpu/elide-execd/exec%2F1/cpu.cfs_quota_us"};
  for (size_t i = 0; i < 4; i++) {
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", root, files[i]);
    unlink(path);
  }
  CHECK(cgroup_set_remove_own(&s, 0) == 0);
  CHECK(!exists(root, "memory/elide-execd/exec%2F1") && !exists(root, "cpu/elide-execd/exec%2F1") &&
        !exists(root, "cpuacct/elide-execd/exec%2F1"));
  CHECK(exists(root, "memory/elide-execd")); /* the parent stays for the next one */

  /* v2: one directory; cpu.max from millicores. */
  CHECK(cgroup_set_own(CGROUP_V2, "/sys/fs/cgroup", "elide-execd", "x", &s, err, sizeof err) == 0);
  CHECK(strcmp(s.memory, "/sys/fs/cgroup/elide-execd/x") == 0 && strcmp(s.cpu, s.memory) == 0);
  CHECK(cgroup_set_dirs(&s, dirs, CGROUP_MAX_DIRS) == 1);
  char v2[PATH_MAX];
  snprintf(v2, sizeof v2, "%s/v2/elide-execd/x", dir);
  mkdirs(dir, "v2/elide-execd/x");
  put(v2, "memory.max", "");
  put(v2, "cpu.max", "");
  snprintf(root, sizeof root, "%s/v2", dir);
  CHECK(cgroup_set_own(CGROUP_V2, root, "elide-execd", "x", &s, err, sizeof err) == 0);
  l = (cgroup_limits){.memory_bytes = 1000000, .cpu_quota_millis = 1500};
  CHECK(cgroup_apply_limits(&s, &l, err, sizeof err) == 0);
  CHECK(cgf_file_is(v2, "memory.max", "1000000"));
  CHECK(cgf_file_is(v2, "cpu.max", "150000 100000"));

  /* Refusals. */
  CHECK(cgroup_set_own(CGROUP_V1, root, "/abs", "x", &s, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, "must be a relative path");
  CHECK(cgroup_set_own(CGROUP_V1, root, "a/../b", "x", &s, err, sizeof err) == -EINVAL);
  CHECK(cgroup_set_own(CGROUP_V1, root, "p", "a/b", &s, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, "one path component");
  CHECK(cgroup_set_own(CGROUP_NONE, root, "p", "x", &s, err, sizeof err) == -EINVAL);
  tu_rmtree(dir);
}

static void test_memory_rule(void) {
  /* Checklist item 91 and Nomad's Test_memoryLimits. */
  static const struct {
    int64_t mem, max, hard, soft;
  } cases[] = {
      {200, 0, 209715200, 0},
      {150, 250, 262144000, 157286400},
      {64, 128, 134217728, 67108864},
      {64, -1, -1, 67108864},
      {20, 30, 31457280, 20971520},
      {100, 0, 104857600, 0},
      {0, 0, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cgroup_limits l = {.memory_mb = cases[i].mem, .memory_max_mb = cases[i].max};
    int64_t hard = 1, soft = 1;
    cgroup_memory_rule(&l, &hard, &soft);
    CHECK(hard == cases[i].hard);
    CHECK(soft == cases[i].soft);
  }
}

static void test_cpu_weight(void) {
  /* Values printed by opencontainers/cgroups v0.0.6's
   * ConvertCPUSharesToCgroupV2Value (the version Nomad v1.11.3 pins); the C
   * version was also compared with it for every value 0..300000. */
  static const uint64_t cases[][2] = {
      {0, 0},     {1, 1},       {2, 1},         {3, 2},         {10, 4},        {100, 17},
      {250, 34},  {500, 58},    {1000, 99},     {1024, 100},    {2048, 174},    {4000, 297},
      {10000, 627}, {100000, 4340}, {262143, 10000}, {262144, 10000}, {1000000, 10000},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint64_t got = cgroup_cpu_weight(cases[i][0]);
    if (got != cases[i][1])
      fprintf(stderr, "  cpu.weight(%llu) = %llu, want %llu\n", (unsigned long long)cases[i][0],
              (unsigned long long)got, (unsigned long long)cases[i][1]);
    CHECK(got == cases[i][1]);
  }
}

/* A v1 task set in a fake tree, with the interface files cgroupfs has. */
static void make_v1_task(const char *root, const char *cpuset_rel, cgroup_set *s) {
  make_v1_root(root);
  const char *dirs[] = {"memory/nomad/a.t", "cpu/nomad/a.t", "freezer/nomad/a.t",
                        "cpuacct/nomad/a.t", cpuset_rel};
  for (size_t i = 0; i < 5; i++) {
    char rel[PATH_MAX];
    mkdirs(root, dirs[i]);
    snprintf(rel, sizeof rel, "%s/cgroup.procs", dirs[i]);
    put(root, rel, "");
  }
  put(root, "memory/nomad/a.t/memory.limit_in_bytes", "9223372036854771712\n");
  put(root, "memory/nomad/a.t/memory.soft_limit_in_bytes", "9223372036854771712\n");
  put(root, "cpu/nomad/a.t/cpu.shares", "1024\n");
  char rel[PATH_MAX], cs[PATH_MAX * 2], err[256];
  snprintf(rel, sizeof rel, "%s/cpuset.cpus", cpuset_rel);
  put(root, rel, "");
  snprintf(cs, sizeof cs, "%s/%s", root, cpuset_rel);
  if (cgroup_set_derive(CGROUP_V1, root, cs, "a", "t", s, err, sizeof err) != 0) {
    fprintf(stderr, "derive: %s\n", err);
    exit(2);
  }
}

static void test_apply_v1(void) {
  char *dir = tu_tmpdir();
  char root[PATH_MAX], err[1024];
  snprintf(root, sizeof root, "%s/cg", dir);
  cgroup_set s;
  make_v1_task(root, "cpuset/nomad/share", &s);

  cgroup_limits l = {.memory_mb = 200, .cpu_shares = 500, .cpuset_cpus = "1"};
  CHECK(cgroup_apply_limits(&s, &l, err, sizeof err) == 0);
  CHECK(cgf_file_is(root, "memory/nomad/a.t/memory.limit_in_bytes", "209715200"));
  /* no memory_max: no soft limit written */
  CHECK(cgf_file_is(root, "memory/nomad/a.t/memory.soft_limit_in_bytes", "9223372036854771712\n"));
  CHECK(cgf_file_is(root, "cpu/nomad/a.t/cpu.shares", "500"));
  /* the shared cpuset is Nomad's business */
  CHECK(cgf_file_is(root, "cpuset/nomad/share/cpuset.cpus", ""));
  CHECK(!exists(root, "memory/nomad/a.t/memory.swappiness")); /* best effort, absent here */

  l = (cgroup_limits){.memory_mb = 150, .memory_max_mb = 250};
  put(root, "memory/nomad/a.t/memory.swappiness", "60\n");
  CHECK(cgroup_apply_limits(&s, &l, err, sizeof err) == 0);
  CHECK(cgf_file_is(root, "memory/nomad/a.t/memory.limit_in_bytes", "262144000"));
  CHECK(cgf_file_is(root, "memory/nomad/a.t/memory.soft_limit_in_bytes", "157286400"));
  CHECK(cgf_file_is(root, "memory/nomad/a.t/memory.swappiness", "0"));
  CHECK(cgf_file_is(root, "cpu/nomad/a.t/cpu.shares", "500")); /* cpu unset: untouched */

  l = (cgroup_limits){.memory_mb = 64, .memory_max_mb = -1};
  CHECK(cgroup_apply_limits(&s, &l, err, sizeof err) == 0);
  CHECK(cgf_file_is(root, "memory/nomad/a.t/memory.limit_in_bytes", "-1"));
  CHECK(cgf_file_is(root, "memory/nomad/a.t/memory.soft_limit_in_bytes", "67108864"));

  /* A reserved cpuset gets the cores. */
  tu_rmtree(root);
  make_v1_task(root, "cpuset/nomad/reserve/a.t", &s);
  l = (cgroup_limits){.memory_mb = 32, .cpu_shares = 100, .cpuset_cpus = "0,1"};
  CHECK(cgroup_apply_limits(&s, &l, err, sizeof err) == 0);
  CHECK(cgf_file_is(root, "cpuset/nomad/reserve/a.t/cpuset.cpus", "0,1"));
  CHECK(cgf_file_is(root, "memory/nomad/a.t/memory.limit_in_bytes", "33554432"));

  /* A limit that cannot be written is an error naming the file. */
  char path[PATH_MAX * 2];
  snprintf(path, sizeof path, "%s/memory/nomad/a.t/memory.limit_in_bytes", root);
  unlink(path);
  CHECK(cgroup_apply_limits(&s, &l, err, sizeof err) == -ENOENT);
  CHECK_STR_CONTAINS(err, "cannot write \"33554432\" to");
  CHECK_STR_CONTAINS(err, path);
  tu_rmtree(dir);
}

static void test_apply_v2(void) {
  char *dir = tu_tmpdir();
  char scope[PATH_MAX], err[1024];
  snprintf(scope, sizeof scope, "%s/cg/nomad.slice/share.slice/a.t.scope", dir);
  mkdirs(dir, "cg/nomad.slice/share.slice/a.t.scope");
  const char *files[] = {"memory.max", "memory.low", "cpu.weight", "cpuset.cpus"};
  for (size_t i = 0; i < 4; i++) put(scope, files[i], "");
  char root[PATH_MAX];
  snprintf(root, sizeof root, "%s/cg", dir);
  cgroup_set s;
  CHECK(cgroup_set_derive(CGROUP_V2, root, scope, "a", "t", &s, err, sizeof err) == 0);
  cgroup_limits l = {.memory_mb = 200, .cpu_shares = 1024};
  CHECK(cgroup_apply_limits(&s, &l, err, sizeof err) == 0);
  CHECK(cgf_file_is(scope, "memory.max", "209715200"));
  CHECK(cgf_file_is(scope, "memory.low", ""));
  CHECK(cgf_file_is(scope, "cpu.weight", "100"));
  CHECK(cgf_file_is(scope, "cpuset.cpus", ""));
  l = (cgroup_limits){.memory_mb = 64, .memory_max_mb = -1, .cpu_shares = 100, .cpuset_cpus = "1"};
  CHECK(cgroup_apply_limits(&s, &l, err, sizeof err) == 0);
  CHECK(cgf_file_is(scope, "memory.max", "max"));
  CHECK(cgf_file_is(scope, "memory.low", "67108864"));
  CHECK(cgf_file_is(scope, "cpu.weight", "17"));
  CHECK(cgf_file_is(scope, "cpuset.cpus", "1"));
  tu_rmtree(dir);
}

static void test_stats_v1(void) {
  char *dir = tu_tmpdir();
  char root[PATH_MAX];
  snprintf(root, sizeof root, "%s/cg", dir);
  cgroup_set s;
  make_v1_task(root, "cpuset/nomad/share", &s);
  cgroup_stats st;
  CHECK(cgroup_read_stats(&s, &st) < 0); /* no memory.stat yet */
  put(root, "memory/nomad/a.t/memory.stat",
      "cache 8192\nrss 1048576\nrss_huge 0\nshmem 0\nmapped_file 4096\nswap 512\n"
      "total_cache 8192\ntotal_rss 1048576\n");
  put(root, "memory/nomad/a.t/memory.usage_in_bytes", "2097152\n");
  put(root, "memory/nomad/a.t/memory.max_usage_in_bytes", "4194304\n");
  put(root, "memory/nomad/a.t/memory.kmem.usage_in_bytes", "65536\n");
  put(root, "memory/nomad/a.t/memory.kmem.max_usage_in_bytes", "131072\n");
  put(root, "cpuacct/nomad/a.t/cpuacct.usage", "3000000000\n");
  put(root, "cpuacct/nomad/a.t/cpuacct.usage_user", "2000000000\n");
  put(root, "cpuacct/nomad/a.t/cpuacct.usage_sys", "1000000000\n");
  put(root, "cpu/nomad/a.t/cpu.stat",
      "nr_periods 10\nnr_throttled 3\nthrottled_time 4500\nnr_bursts 0\nburst_time 0\n");
  CHECK(cgroup_read_stats(&s, &st) == 0);
  CHECK(st.has_memory && st.rss == 1048576 && st.cache == 8192 && st.usage == 2097152);
  CHECK(st.has_swap && st.swap == 512);
  CHECK(st.has_max_usage && st.max_usage == 4194304);
  CHECK(st.has_kernel && st.kernel_usage == 65536 && st.kernel_max_usage == 131072);
  CHECK(st.has_cpu && st.cpu_user_ns == 2000000000ull && st.cpu_system_ns == 1000000000ull &&
        st.cpu_total_ns == 3000000000ull);
  CHECK(st.has_throttling && st.throttled_periods == 3 && st.throttled_time_ns == 4500);

  /* Older kernels: cpuacct.stat in USER_HZ ticks, no swap accounting. */
  char path[PATH_MAX * 2];
  snprintf(path, sizeof path, "%s/cpuacct/nomad/a.t/cpuacct.usage_user", root);
  unlink(path);
  put(root, "cpuacct/nomad/a.t/cpuacct.stat", "user 150\nsystem 50\n");
  put(root, "memory/nomad/a.t/memory.stat", "cache 0\nrss 4096\n");
  CHECK(cgroup_read_stats(&s, &st) == 0);
  long hz = sysconf(_SC_CLK_TCK);
  CHECK(st.has_cpu && st.cpu_user_ns == 150ull * (1000000000ull / (uint64_t)hz) &&
        st.cpu_system_ns == 50ull * (1000000000ull / (uint64_t)hz));
  CHECK(!st.has_swap && st.rss == 4096);
  tu_rmtree(dir);
}

static void test_stats_v2(void) {
  char *dir = tu_tmpdir();
  char scope[PATH_MAX], err[256];
  snprintf(scope, sizeof scope, "%s/cg/x.scope", dir);
  mkdirs(dir, "cg/x.scope");
  put(scope, "memory.stat", "anon 3145728\nfile 1048576\nkernel 20480\nanon_thp 0\n");
  put(scope, "memory.current", "4300000\n");
  put(scope, "memory.swap.current", "0\n");
  put(scope, "cpu.stat",
      "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\nnr_throttled 2\n"
      "throttled_usec 70\n");
  char root[PATH_MAX];
  snprintf(root, sizeof root, "%s/cg", dir);
  cgroup_set s;
  CHECK(cgroup_set_derive(CGROUP_V2, root, scope, "a", "t", &s, err, sizeof err) == 0);
  cgroup_stats st;
  CHECK(cgroup_read_stats(&s, &st) == 0);
  CHECK(st.rss == 3145728 && st.cache == 1048576 && st.usage == 4300000);
  CHECK(st.has_swap && st.swap == 0);
  CHECK(!st.has_max_usage); /* memory.peak only on kernels >= 5.19 */
  CHECK(!st.has_kernel);
  CHECK(st.has_cpu && st.cpu_total_ns == 1500000 && st.cpu_user_ns == 1000000 &&
        st.cpu_system_ns == 500000);
  CHECK(st.has_throttling && st.throttled_periods == 2 && st.throttled_time_ns == 70000);
  put(scope, "memory.peak", "5000000\n");
  CHECK(cgroup_read_stats(&s, &st) == 0);
  CHECK(st.has_max_usage && st.max_usage == 5000000);
  tu_rmtree(dir);
}

static void test_oom_and_join(void) {
  char *dir = tu_tmpdir();
  uint64_t n = 99;
  put(dir, "oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/oom_control", dir);
  CHECK(cgroup_oom_kills(path, &n) == 0 && n == 3);
  put(dir, "oom_control", "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n");
  CHECK(cgroup_oom_kills(path, &n) == 0 && n == 1);
  put(dir, "oom_control", "oom_kill_disable 0\nunder_oom 0\n"); /* kernels before 4.13 */
  CHECK(cgroup_oom_kills(path, &n) == -ENODATA);
  put(dir, "oom_control", "oom_kill x\n");
  CHECK(cgroup_oom_kills(path, &n) == -EINVAL);
  CHECK(cgroup_oom_kills("/nonexistent/memory.events", &n) == -ENOENT);

  put(dir, "cgroup.procs", "");
  CHECK(cgroup_join(dir, 12345) == 0);
  CHECK(cgf_file_is(dir, "cgroup.procs", "12345"));
  CHECK(cgroup_join("/nonexistent/cgroup", 1) == -ENOENT);
  tu_rmtree(dir);
}

int main(void) {
  test_detect();
  test_derive_v1();
  test_derive_v2();
  test_prepare_and_remove();
  test_own_set();
  test_memory_rule();
  test_cpu_weight();
  test_apply_v1();
  test_apply_v2();
  test_stats_v1();
  test_stats_v2();
  test_oom_and_join();
  return CHECK_DONE();
}
