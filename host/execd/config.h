/* elide-execd's configuration: execd.ini ([daemon], plus [module.<name>]
 * and module kinds such as [native.<name>], shared with the plugin through
 * module_config), defaults, and the modules it loads and initialises. */
#ifndef ELIDE_EXECD_CONFIG_H
#define ELIDE_EXECD_CONFIG_H

#include "log.h"
#include "modules.h"

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#define EXECD_DEFAULT_SPOOL_MAX (64ull << 20)
#define EXECD_MIN_SPOOL_MAX 4096ull
#define EXECD_DEFAULT_RETAIN_S 3600

typedef struct execd_config {
  char config_file[PATH_MAX]; /* "" = none (defaults only) */
  char listen[PATH_MAX + 16]; /* gRPC address: "unix:/abs/path" or "host:port" */
  char socket_path[PATH_MAX]; /* the unix socket's path, "" for TCP */
  mode_t socket_mode;         /* permissions of the unix socket */
  int has_socket_group;
  gid_t socket_gid;
  char work_root[PATH_MAX];  /* every execution's persisted state */
  char module_dir[PATH_MAX];
  uint64_t spool_max_bytes;  /* per output stream */
  int64_t retain_finished_s; /* finished executions are deleted this long after their end */
  log_level level;
  /* Executions with limits get cgroups under <cgroup root>/<controller>/
   * <cgroup_parent>/ (v1) or <cgroup root>/<cgroup_parent>/ (v2). */
  char cgroup_parent[PATH_MAX];
} execd_config;

/* Loads `path` (absolute, or NULL for defaults only): peeks at [daemon]
 * module_dir, loads the modules from it into `reg` (a directory that cannot
 * be read is not fatal: *modules_error says why and no module works),
 * validates the whole file against [daemon] + the modules' keys, and
 * initialises every module (a module whose init fails stays listed with
 * its error). Returns 0, or a negative code with "file:line: message" in
 * err. */
int config_load(const char *path, module_registry *reg, char *modules_error,
                size_t modules_error_len, execd_config *out, char *err, size_t errlen);

#endif
