/* Test fixture: a task's cgroups created on the real cgroup filesystem the
 * way Nomad's client creates them before StartTask, under a parent unique
 * to the test process (instead of Nomad's "nomad"), and removed again; and
 * reading the files of a cgroup (or of a tree standing in for one). Shared
 * by the cgroup and exec unit tests and the plugin and daemon integration
 * tests. cgf_create needs root and cgroups v1 or v2 at /sys/fs/cgroup. */
#ifndef ELIDE_TEST_CGROUP_FIXTURE_H
#define ELIDE_TEST_CGROUP_FIXTURE_H

#include "cgroup.h"

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct cg_fixture {
  cgroup_mode mode;
  char parent[64];             /* "elide-test-<pid>-<n>" */
  char alloc_id[64];
  char task[64];
  char cpuset_cgroup[PATH_MAX]; /* what Nomad passes in linux_resources.cpuset_cgroup */
} cg_fixture;

/* Creates the groups of task `task` of alloc `alloc_id`: v1 freezer, cpu
 * and memory <root>/<ctrl>/<parent>/<alloc>.<task> and the cpuset
 * <root>/cpuset/<parent>/share (cpus and mems copied from the root, as
 * Nomad's partition does); v2 <root>/<parent>/share.slice/<alloc>.<task>.scope
 * with the memory and cpu controllers enabled down to it. 0, or -1 with the
 * reason in err (no cgroups, not root, ...). */
int cgf_create(cg_fixture *f, const char *alloc_id, const char *task, char *err, size_t errlen);

/* A v1 controller's task directory ("memory", "cpu", "freezer"), or the v2
 * scope for any controller. */
void cgf_dir(const cg_fixture *f, const char *controller, char *out, size_t outlen);

/* <dir>/<file> whole (malloc'd, NUL-terminated), or NULL when it cannot be
 * read. */
char *cgf_read(const char *dir, const char *file);

/* 1 if <dir>/<file> holds exactly `want`; else 0, printing what it holds. */
int cgf_file_is(const char *dir, const char *file, const char *want);

/* The pids listed in <dir>/cgroup.procs into pids (at most cap); how many,
 * or -1 when the file cannot be opened. */
int cgf_procs(const char *dir, pid_t *pids, int cap);

/* Kills whatever still runs in the groups and removes every directory under
 * the parent, the driver's cpuacct one included, then the parent. */
void cgf_destroy(cg_fixture *f);

#endif
