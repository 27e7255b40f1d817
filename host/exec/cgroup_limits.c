/* Nomad's memory and CPU resources written into a task's cgroups, with the
 * rules raw_exec's executor uses (see cgroup.h). */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MIB (1024 * 1024)

void cgroup_memory_rule(const cgroup_limits *l, int64_t *hard_bytes, int64_t *soft_bytes) {
  int64_t mem = l->memory_mb > 0 ? l->memory_mb : 0;
  if (l->memory_max_mb == -1) { /* oversubscription without a ceiling */
    *hard_bytes = -1;
    *soft_bytes = mem * MIB;
  } else if (l->memory_max_mb > 0) {
    *hard_bytes = l->memory_max_mb * MIB;
    *soft_bytes = mem * MIB;
  } else {
    *hard_bytes = mem * MIB;
    *soft_bytes = 0;
  }
  if (l->memory_bytes > 0) *hard_bytes = l->memory_bytes;
}

#define CPU_PERIOD_US 100000 /* the kernel's default CFS period */

uint64_t cgroup_cpu_weight(uint64_t shares) {
  if (shares == 0) return 0;
  if (shares <= 2) return 1;
  if (shares >= 262144) return 10000;
  double l = log2((double)shares);
  double exponent = (l * l + 125 * l) / 612.0 - 7.0 / 34.0;
  return (uint64_t)ceil(pow(10, exponent));
}

/* Writes `value` to <dir>/<file>; on failure err names both. */
static int write_file(const char *dir, const char *file, const char *value, char *err,
                      size_t errlen) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  /* O_TRUNC changes nothing on cgroupfs and keeps tests' plain files exact. */
  int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  int rc = 0;
  if (fd < 0) {
    rc = -errno;
  } else {
    size_t len = strlen(value);
    ssize_t n;
    do n = write(fd, value, len);
    while (n < 0 && errno == EINTR);
    if (n < 0) rc = -errno;
    else if ((size_t)n != len) rc = -EIO;
    close(fd);
  }
  if (rc < 0)
    snprintf(err, errlen, "unable to configure cgroups: cannot write \"%s\" to %s: %s", value,
             path, strerror(-rc));
  return rc;
}

static int apply_v1(const cgroup_set *s, const cgroup_limits *l, int64_t hard, int64_t soft,
                    char *err, size_t errlen) {
  char num[32];
  int rc;
  if (hard != 0) {
    snprintf(num, sizeof num, "%" PRId64, hard); /* -1: no limit, as v1 spells it */
    if ((rc = write_file(s->memory, "memory.limit_in_bytes", num, err, errlen)) < 0) return rc;
  }
  if (soft > 0) {
    snprintf(num, sizeof num, "%" PRId64, soft);
    if ((rc = write_file(s->memory, "memory.soft_limit_in_bytes", num, err, errlen)) < 0)
      return rc;
  }
  /* Like Nomad: keep the task out of swap, so the memory limit is the
   * limit. Kernels without the knob (or cgroups without swap accounting)
   * refuse it; that changes nothing about the limit. */
  char ignored[8];
  write_file(s->memory, "memory.swappiness", "0", ignored, sizeof ignored);
  if (l->cpu_shares > 0) {
    snprintf(num, sizeof num, "%" PRId64, l->cpu_shares);
    if ((rc = write_file(s->cpu, "cpu.shares", num, err, errlen)) < 0) return rc;
  }
  if (l->cpu_quota_millis > 0) {
    snprintf(num, sizeof num, "%d", CPU_PERIOD_US);
    if ((rc = write_file(s->cpu, "cpu.cfs_period_us", num, err, errlen)) < 0) return rc;
    snprintf(num, sizeof num, "%" PRId64, l->cpu_quota_millis * CPU_PERIOD_US / 1000);
    if ((rc = write_file(s->cpu, "cpu.cfs_quota_us", num, err, errlen)) < 0) return rc;
  }
  /* Only a reserved cpuset is the task's own; the shared one belongs to
   * Nomad's partition bookkeeping. */
  if (l->cpuset_cpus && l->cpuset_cpus[0] && strstr(s->cpuset, "/reserve/"))
    if ((rc = write_file(s->cpuset, "cpuset.cpus", l->cpuset_cpus, err, errlen)) < 0) return rc;
  return 0;
}

static int apply_v2(const cgroup_set *s, const cgroup_limits *l, int64_t hard, int64_t soft,
                    char *err, size_t errlen) {
  char num[32];
  int rc;
  if (hard != 0) {
    if (hard < 0) snprintf(num, sizeof num, "max");
    else snprintf(num, sizeof num, "%" PRId64, hard);
    if ((rc = write_file(s->memory, "memory.max", num, err, errlen)) < 0) return rc;
  }
  if (soft > 0) {
    snprintf(num, sizeof num, "%" PRId64, soft);
    if ((rc = write_file(s->memory, "memory.low", num, err, errlen)) < 0) return rc;
  }
  uint64_t weight = cgroup_cpu_weight(l->cpu_shares > 0 ? (uint64_t)l->cpu_shares : 0);
  if (weight) {
    snprintf(num, sizeof num, "%" PRIu64, weight);
    if ((rc = write_file(s->cpu, "cpu.weight", num, err, errlen)) < 0) return rc;
  }
  if (l->cpu_quota_millis > 0) {
    snprintf(num, sizeof num, "%" PRId64 " %d", l->cpu_quota_millis * CPU_PERIOD_US / 1000,
             CPU_PERIOD_US);
    if ((rc = write_file(s->cpu, "cpu.max", num, err, errlen)) < 0) return rc;
  }
  if (l->cpuset_cpus && l->cpuset_cpus[0])
    if ((rc = write_file(s->cpuset, "cpuset.cpus", l->cpuset_cpus, err, errlen)) < 0) return rc;
  return 0;
}

int cgroup_apply_limits(const cgroup_set *s, const cgroup_limits *l, char *err, size_t errlen) {
  int64_t hard, soft;
  cgroup_memory_rule(l, &hard, &soft);
  if (s->mode == CGROUP_V1) return apply_v1(s, l, hard, soft, err, errlen);
  if (s->mode == CGROUP_V2) return apply_v2(s, l, hard, soft, err, errlen);
  snprintf(err, errlen, "unable to configure cgroups: cgroups are not available on this host");
  return -EINVAL;
}
