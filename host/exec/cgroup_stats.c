/* A task's memory and CPU figures read from its cgroups (see
 * cgroup_read_stats in cgroup.h). */
#include "cgroup.h"
#include "small_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

/* Reads <dir>/<file> into buf (NUL-terminated, truncated to cap - 1). */
static int read_text(const char *dir, const char *file, char *buf, size_t cap) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  ssize_t n = small_file_read(AT_FDCWD, path, buf, cap);
  return n < 0 ? (int)n : 0;
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || (*end && *end != '\n' && *end != ' ')) return -EINVAL;
  *out = v;
  return 0;
}

/* One number alone in a file (memory.current, cpuacct.usage, ...). */
static int read_u64(const char *dir, const char *file, uint64_t *out) {
  char buf[64];
  int rc = read_text(dir, file, buf, sizeof buf);
  return rc < 0 ? rc : parse_u64(buf, out);
}

/* The value of `key` in a "key value" per line file held in `text`. */
static int keyed(const char *text, const char *key, uint64_t *out) {
  size_t kl = strlen(key);
  for (const char *line = text; line && *line;) {
    if (strncmp(line, key, kl) == 0 && line[kl] == ' ') return parse_u64(line + kl + 1, out);
    line = strchr(line, '\n');
    if (line) line++;
  }
  return -ENODATA;
}

static int read_v1(const cgroup_set *s, cgroup_stats *o) {
  char text[16384];
  int rc = read_text(s->memory, "memory.stat", text, sizeof text);
  if (rc < 0) return rc;
  if (read_u64(s->memory, "memory.usage_in_bytes", &o->usage) < 0) return -EIO;
  keyed(text, "rss", &o->rss);
  keyed(text, "cache", &o->cache);
  o->has_swap = keyed(text, "swap", &o->swap) == 0;
  o->has_max_usage = read_u64(s->memory, "memory.max_usage_in_bytes", &o->max_usage) == 0;
  o->has_kernel = read_u64(s->memory, "memory.kmem.usage_in_bytes", &o->kernel_usage) == 0 &&
                  read_u64(s->memory, "memory.kmem.max_usage_in_bytes", &o->kernel_max_usage) == 0;
  o->has_memory = 1;

  /* cpuacct.usage_user/_sys are nanoseconds (Linux 4.7+); cpuacct.stat
   * is in USER_HZ ticks. */
  if (read_u64(s->cpuacct, "cpuacct.usage_user", &o->cpu_user_ns) == 0 &&
      read_u64(s->cpuacct, "cpuacct.usage_sys", &o->cpu_system_ns) == 0) {
    o->has_cpu = 1;
  } else if (read_text(s->cpuacct, "cpuacct.stat", text, sizeof text) == 0) {
    uint64_t u, sy;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz > 0 && keyed(text, "user", &u) == 0 && keyed(text, "system", &sy) == 0) {
      o->cpu_user_ns = u * (1000000000u / (uint64_t)hz);
      o->cpu_system_ns = sy * (1000000000u / (uint64_t)hz);
      o->has_cpu = 1;
    }
  }
  if (o->has_cpu && read_u64(s->cpuacct, "cpuacct.usage", &o->cpu_total_ns) < 0)
    o->cpu_total_ns = o->cpu_user_ns + o->cpu_system_ns;
  if (read_text(s->cpu, "cpu.stat", text, sizeof text) == 0 &&
      keyed(text, "nr_throttled", &o->throttled_periods) == 0 &&
      keyed(text, "throttled_time", &o->throttled_time_ns) == 0)
    o->has_throttling = 1;
  return 0;
}

static int read_v2(const cgroup_set *s, cgroup_stats *o) {
  char text[16384];
  int rc = read_text(s->memory, "memory.stat", text, sizeof text);
  if (rc < 0) return rc;
  if (read_u64(s->memory, "memory.current", &o->usage) < 0) return -EIO;
  keyed(text, "anon", &o->rss);
  keyed(text, "file", &o->cache);
  o->has_swap = read_u64(s->memory, "memory.swap.current", &o->swap) == 0;
  o->has_max_usage = read_u64(s->memory, "memory.peak", &o->max_usage) == 0;
  o->has_memory = 1;
  if (read_text(s->cpu, "cpu.stat", text, sizeof text) == 0) {
    uint64_t total, user, sys;
    if (keyed(text, "usage_usec", &total) == 0 && keyed(text, "user_usec", &user) == 0 &&
        keyed(text, "system_usec", &sys) == 0) {
      o->cpu_total_ns = total * 1000;
      o->cpu_user_ns = user * 1000;
      o->cpu_system_ns = sys * 1000;
      o->has_cpu = 1;
    }
    uint64_t usec;
    if (keyed(text, "nr_throttled", &o->throttled_periods) == 0 &&
        keyed(text, "throttled_usec", &usec) == 0) {
      o->throttled_time_ns = usec * 1000;
      o->has_throttling = 1;
    }
  }
  return 0;
}

int cgroup_read_stats(const cgroup_set *s, cgroup_stats *out) {
  memset(out, 0, sizeof *out);
  if (s->mode == CGROUP_V1) return read_v1(s, out);
  if (s->mode == CGROUP_V2) return read_v2(s, out);
  return -EINVAL;
}
