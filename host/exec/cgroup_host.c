/* The cgroup mode of the host this process runs on, detected once (see
 * cgroup_host_mode in cgroup.h). Shared by both front ends, which must agree
 * with their own fingerprint and limits for their whole life. */
#include "cgroup.h"

#include "log.h"

#include <pthread.h>
#include <unistd.h>

static pthread_once_t detect_once = PTHREAD_ONCE_INIT;
static cgroup_mode host_mode;
static char host_why[512];

static void detect(void) {
  cgroup_detect(CGROUP_DEFAULT_ROOT, CGROUP_DEFAULT_MOUNTINFO, geteuid(), &host_mode, host_why,
                sizeof host_why);
  log_msg(LOG_INFO, "cgroups", "mode", cgroup_mode_name(host_mode), "reason", host_why, NULL);
}

cgroup_mode cgroup_host_mode(const char **why) {
  pthread_once(&detect_once, detect);
  if (why) *why = host_why;
  return host_mode;
}
