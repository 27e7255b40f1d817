/* Cgroups for tasks, v1 and v2, the way Nomad's client lays them out: which
 * mode the host is in, the set of directories one task lives in, Nomad's
 * memory/CPU limits written into them, their usage figures, and the OOM-kill
 * counter. Nothing here knows about Nomad's protobuf types.
 *
 * Nomad's client creates a task's cgroups before StartTask and removes them
 * after the task is gone; the driver only puts the task in them, writes the
 * limits and reads them. The one exception is cgroups v1 with cpuacct as a
 * hierarchy of its own (not co-mounted with cpu): Nomad creates no cpuacct
 * group, so the driver creates <root>/cpuacct/<parent>/<alloc>.<task> for CPU
 * figures and removes it itself (cgroup_set_remove_own).
 *
 * Every function takes the cgroup filesystem root (normally
 * CGROUP_DEFAULT_ROOT) through the set or as a parameter, so tests can run
 * against a directory tree of plain files. */
#ifndef ELIDE_EXEC_CGROUP_H
#define ELIDE_EXEC_CGROUP_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CGROUP_DEFAULT_ROOT "/sys/fs/cgroup"
#define CGROUP_DEFAULT_MOUNTINFO "/proc/self/mountinfo"

typedef enum cgroup_mode { CGROUP_NONE = 0, CGROUP_V1 = 1, CGROUP_V2 = 2 } cgroup_mode;

/* "v1", "v2" or "none". */
const char *cgroup_mode_name(cgroup_mode m);

/* How `root` is mounted according to `mountinfo` (a /proc/<pid>/mountinfo
 * file): CGROUP_V2 for a cgroup2 mount whose cgroup.controllers offers
 * memory and cpu, CGROUP_V1 for a tmpfs holding the memory, cpu, freezer
 * and cpuset hierarchies (Nomad's rule: a cgroup2 mount below it, as
 * systemd's hybrid layout has, does not count). Managing either needs root
 * (euid 0). Otherwise CGROUP_NONE with the reason in `why` (e.g. "no cgroup
 * filesystem is mounted at /sys/fs/cgroup", "this process runs as uid 1000,
 * not root"). Always returns 0, or -errno when mountinfo cannot be read
 * (mode NONE, why says so). */
int cgroup_detect(const char *root, const char *mountinfo, uid_t euid, cgroup_mode *mode,
                  char *why, size_t whylen);

/* This process's mode (cgroup_host.c): cgroup_detect of CGROUP_DEFAULT_ROOT
 * and CGROUP_DEFAULT_MOUNTINFO with our euid, run once, thread-safe, and
 * logged at info level; every later call returns the same answer, so
 * fingerprints, limits and stats agree for the life of the process. *why
 * (may be NULL) gets the reason, a static string ("" for v1/v2). */
cgroup_mode cgroup_host_mode(const char **why);

/* Where one task's cgroups are. For v2 every path is the task's own scope
 * (Nomad's cpuset_cgroup, e.g. <root>/nomad.slice/share.slice/<alloc>.<task>.scope).
 * For v1 each controller has its own directory:
 * <root>/<controller>/<parent>/<alloc>.<task> for freezer, cpu and memory,
 * the cpuset_cgroup Nomad gives (<root>/cpuset/<parent>/share, shared by
 * tasks, or <root>/cpuset/<parent>/reserve/<alloc>.<task>), and cpuacct:
 * the cpu directory when cpuacct is co-mounted with cpu, else a directory
 * of our own. */
typedef struct cgroup_set {
  cgroup_mode mode; /* V1 or V2 */
  char root[PATH_MAX];
  char parent[PATH_MAX];  /* v1: Nomad's cgroup_parent, relative ("nomad"); v2: "" */
  char scope[PATH_MAX];   /* v1: "<alloc>.<task>"; v2: the scope directory's name */
  char memory[PATH_MAX];
  char cpu[PATH_MAX];
  char cpuacct[PATH_MAX];
  char freezer[PATH_MAX]; /* v1 only; "" for v2 */
  char cpuset[PATH_MAX];
  int cpuacct_own; /* v1: cpuacct is a hierarchy of its own and the directory is ours */
  int all_own;     /* every directory is ours (cgroup_set_own): created and removed by us */
} cgroup_set;

/* Derives a task's set from Nomad's cpuset_cgroup, alloc id and task name.
 * Pure path work, nothing is touched except that for v1 it looks whether
 * <cpu dir>/cpuacct.usage exists (cpuacct co-mounted with cpu). Errors name
 * the field: cpuset_cgroup not below the root, not of Nomad's shape, or an
 * alloc id/task name that cannot be one path component. Returns 0 or
 * -EINVAL. */
int cgroup_set_derive(cgroup_mode mode, const char *root, const char *cpuset_cgroup,
                      const char *alloc_id, const char *task_name, cgroup_set *out, char *err,
                      size_t errlen);

/* A set entirely of our own, for a process no Nomad client manages (the
 * execution daemon's executions): v1 <root>/{memory,cpu}/<parent>/<name>
 * plus <root>/cpuacct/<parent>/<name> when cpuacct is a hierarchy of its
 * own (no freezer or cpuset group); v2 <root>/<parent>/<name>. `parent` is
 * relative ("elide-execd", "a/b"), `name` one path component. Pure path
 * work; -EINVAL with err naming what is wrong. */
int cgroup_set_own(cgroup_mode mode, const char *root, const char *parent, const char *name,
                   cgroup_set *out, char *err, size_t errlen);

/* Creates every directory of an all_own set (parents too, mode 0755; on v2
 * the memory and cpu controllers are enabled in <root>/<parent>'s
 * cgroup.subtree_control and each level above it). 0, or -errno with err
 * naming the path. */
int cgroup_set_create(const cgroup_set *s, char *err, size_t errlen);

/* Makes the set usable for a task that is about to start: every directory
 * Nomad creates must exist (else -ENOENT and err names the path, as Nomad's
 * "unable to configure cgroups" does), and a v1 cpuacct directory of our own
 * is created (mode 0755, parents too). */
int cgroup_set_prepare(const cgroup_set *s, char *err, size_t errlen);

/* The directories the task joins, in order (v1: freezer, cpu, memory,
 * cpuset, then cpuacct when it is a hierarchy of its own; an all_own v1
 * set: memory, cpu, then such a cpuacct; v2: the scope).
 * Returns how many were stored (at most cap); pointers into *s. */
#define CGROUP_MAX_DIRS 5
size_t cgroup_set_dirs(const cgroup_set *s, const char **dirs, size_t cap);

/* The file holding the OOM-kill counter: v1 <memory>/memory.oom_control,
 * v2 <scope>/memory.events. */
void cgroup_oom_file(const cgroup_set *s, char *out, size_t outlen);

/* Removes what the driver created (the v1 cpuacct directory; every
 * directory of an all_own set, not its parents), waiting up to `wait_ms`
 * for exiting processes to leave it. 0, or -errno (e.g. -EBUSY: something
 * still runs in it). Nomad's directories are left to Nomad. */
int cgroup_set_remove_own(const cgroup_set *s, int wait_ms);

/* ---- limits ---------------------------------------------------------- */

/* Nomad's resources as the client allocates them. */
typedef struct cgroup_limits {
  int64_t memory_mb;       /* `memory`; 0 = none */
  int64_t memory_max_mb;   /* `memory_max`: > 0 the hard limit, -1 no hard limit, 0 unset */
  int64_t cpu_shares;      /* `cpu` (MHz) as cpu.shares; 0 = unset */
  const char *cpuset_cpus; /* reserved cores ("0,1"); NULL or "" = none */
  /* For callers with their own units (the execution daemon): */
  int64_t memory_bytes;     /* > 0: the hard limit in bytes, instead of the MiB rule */
  int64_t cpu_quota_millis; /* > 0: CPU time per 100 ms period in millicores (1000 = one
                               core): v1 cpu.cfs_quota_us, v2 cpu.max */
} cgroup_limits;

/* raw_exec's memory rule: hard = memory_max when > 0 (none when -1), else
 * memory; soft (v1 memory.soft_limit_in_bytes, v2 memory.low) = memory when
 * memory_max is set. *hard_bytes = -1 for no hard limit, 0 when nothing is
 * allocated; *soft_bytes = 0 for none. memory_bytes > 0 overrides the hard
 * limit. */
void cgroup_memory_rule(const cgroup_limits *l, int64_t *hard_bytes, int64_t *soft_bytes);

/* cgroup v2 cpu.weight for a cpu.shares value, as Nomad converts it
 * (opencontainers/cgroups ConvertCPUSharesToCgroupV2Value: 0 unset, <= 2 ->
 * 1, >= 262144 -> 10000, else ceil(10^((l^2 + 125 l)/612 - 7/34)), l =
 * log2(shares)). 1024 -> 100. */
uint64_t cgroup_cpu_weight(uint64_t shares);

/* Writes the limits into the task's cgroups: v1 memory.limit_in_bytes,
 * memory.soft_limit_in_bytes, memory.swappiness 0 (where the kernel has
 * it), cpu.shares, cpu.cfs_period_us/cfs_quota_us, cpuset.cpus of a
 * reserved cpuset; v2 memory.max, memory.low, cpu.weight, cpu.max,
 * cpuset.cpus. A write that fails is an error naming
 * the file and value (a limit that is silently not enforced is worse than a
 * failed start), except swappiness, which is best effort as in Nomad. */
int cgroup_apply_limits(const cgroup_set *s, const cgroup_limits *l, char *err, size_t errlen);

/* ---- usage ------------------------------------------------------------ */

typedef struct cgroup_stats {
  /* memory, bytes */
  uint64_t rss;       /* v1 memory.stat rss; v2 anon */
  uint64_t cache;     /* v1 cache; v2 file */
  uint64_t swap;      /* v1 swap (with swap accounting); v2 memory.swap.current */
  uint64_t usage;     /* v1 memory.usage_in_bytes; v2 memory.current */
  uint64_t max_usage; /* v1 memory.max_usage_in_bytes; v2 memory.peak (kernel >= 5.19) */
  uint64_t kernel_usage, kernel_max_usage; /* v1 memory.kmem.* where present */
  int has_memory, has_swap, has_max_usage, has_kernel;
  /* cpu */
  uint64_t cpu_user_ns, cpu_system_ns, cpu_total_ns;
  uint64_t throttled_periods, throttled_time_ns;
  int has_cpu, has_throttling;
} cgroup_stats;

/* Reads what the set offers; fields it lacks stay 0 with their has_ flag
 * clear. Returns 0 when at least the memory figures were read, else -errno
 * (the cgroup is gone, for instance). */
int cgroup_read_stats(const cgroup_set *s, cgroup_stats *out);

/* ---- libc-only pieces, shared with elide-monitor (cgroup_procs.c) ------ */

/* Moves process `pid` into `dir` by writing it to <dir>/cgroup.procs.
 * Uses only open/write/close and no allocation, so it is usable between
 * fork and execve. 0 or -errno. */
int cgroup_join(const char *dir, pid_t pid);

/* Reads the `oom_kill N` counter of a v1 memory.oom_control or v2
 * memory.events file. 0 or -errno (-ENODATA: no such line, as on kernels
 * before 4.13). */
int cgroup_oom_kills(const char *file, uint64_t *count);

#endif
