/* Resource usage of a task's process group, sampled from /proc (cgroup
 * accounting replaces this in the lifecycle work). */
#ifndef ELIDE_EXEC_PROC_STATS_H
#define ELIDE_EXEC_PROC_STATS_H

#include <stdint.h>
#include <sys/types.h>

typedef struct proc_sample {
  uint64_t user_ticks;   /* clock ticks, summed over the group */
  uint64_t system_ticks;
  uint64_t rss_bytes;
  int64_t at_ns;         /* CLOCK_MONOTONIC */
  int nprocs;
} proc_sample;

/* Sums every live process whose process group is `pgid`. */
int stats_sample_group(pid_t pgid, proc_sample *out);

#endif
