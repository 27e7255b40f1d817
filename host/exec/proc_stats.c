/* /proc sampling of a process group (see stats.h). */
#include "proc_stats.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Parses /proc/<pid>/stat: pgrp (field 5), utime (14), stime (15), rss (24). */
static int read_stat(const char *pid, pid_t *pgrp, uint64_t *ut, uint64_t *st, uint64_t *rss) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%s/stat", pid);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')'); /* the command name may contain spaces */
  if (!p) return -1;
  long long rss_pages = 0;
  int pg = 0;
  unsigned long long u = 0, s = 0;
  if (sscanf(p + 2, "%*c %*d %d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
                    "%*d %*u %*u %lld",
             &pg, &u, &s, &rss_pages) != 4)
    return -1;
  *pgrp = pg;
  *ut = u;
  *st = s;
  *rss = rss_pages > 0 ? (uint64_t)rss_pages * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
  return 0;
}

int stats_sample_group(pid_t pgid, proc_sample *out) {
  memset(out, 0, sizeof *out);
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  out->at_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
  DIR *d = opendir("/proc");
  if (!d) return -1;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    pid_t pg;
    uint64_t ut, st, rss;
    if (read_stat(e->d_name, &pg, &ut, &st, &rss) != 0 || pg != pgid) continue;
    out->user_ticks += ut;
    out->system_ticks += st;
    out->rss_bytes += rss;
    out->nprocs++;
  }
  closedir(d);
  return 0;
}
