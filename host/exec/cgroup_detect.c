/* Which cgroup mode the host offers the driver (see cgroup_detect in
 * cgroup.h): the mount at the cgroup root, its controllers, and whether we
 * may manage it. */
#include "cgroup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *cgroup_mode_name(cgroup_mode m) {
  return m == CGROUP_V2 ? "v2" : m == CGROUP_V1 ? "v1" : "none";
}

/* Undoes mountinfo's octal escapes (\040 for a space, ...) in place. */
static void unescape(char *s) {
  char *w = s;
  for (char *r = s; *r; r++) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
        r[3] <= '7') {
      *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
      r += 3;
    } else {
      *w++ = *r;
    }
  }
  *w = '\0';
}

/* The file system type mounted at `root` (the last such mount wins, as it
 * hides the earlier ones): 1 and fstype filled, 0 when nothing is mounted
 * there, -errno when mountinfo cannot be read. */
static int mount_type_at(const char *mountinfo, const char *root, char *fstype, size_t cap) {
  FILE *f = fopen(mountinfo, "re");
  if (!f) return -errno;
  char *line = NULL;
  size_t linecap = 0;
  int found = 0;
  while (getline(&line, &linecap, f) > 0) {
    /* id parent maj:min root mount-point options [optional...] - fstype source super */
    char *save = NULL, *tok = strtok_r(line, " \n", &save);
    char *mount_point = NULL;
    for (int field = 0; tok && field < 4; field++) tok = strtok_r(NULL, " \n", &save);
    mount_point = tok;
    while (tok && strcmp(tok, "-") != 0) tok = strtok_r(NULL, " \n", &save);
    char *type = tok ? strtok_r(NULL, " \n", &save) : NULL;
    if (!mount_point || !type) continue;
    unescape(mount_point);
    if (strcmp(mount_point, root) == 0) {
      snprintf(fstype, cap, "%s", type);
      found = 1;
    }
  }
  free(line);
  fclose(f);
  return found;
}

/* 1 if the whitespace-separated list in <root>/cgroup.controllers names
 * `ctrl`. */
static int v2_has_controller(const char *root, const char *ctrl) {
  char path[PATH_MAX], buf[1024];
  snprintf(path, sizeof path, "%s/cgroup.controllers", root);
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *save = NULL;
  for (char *tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
    if (strcmp(tok, ctrl) == 0) return 1;
  return 0;
}

int cgroup_detect(const char *root, const char *mountinfo, uid_t euid, cgroup_mode *mode,
                  char *why, size_t whylen) {
  *mode = CGROUP_NONE;
  if (whylen) why[0] = '\0';
  char fstype[64];
  int rc = mount_type_at(mountinfo, root, fstype, sizeof fstype);
  if (rc == 0) {
    snprintf(why, whylen, "no cgroup filesystem is mounted at %s", root);
    return 0;
  }
  if (rc < 0) {
    snprintf(why, whylen, "cannot read %s: %s", mountinfo, strerror(-rc));
    return rc;
  }
  cgroup_mode found;
  if (strcmp(fstype, "cgroup2") == 0) {
    static const char *const needed[] = {"memory", "cpu"};
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
      if (!v2_has_controller(root, needed[i])) {
        snprintf(why, whylen, "cgroup v2 at %s does not offer the %s controller", root,
                 needed[i]);
        return 0;
      }
    }
    found = CGROUP_V2;
  } else if (strcmp(fstype, "tmpfs") == 0) {
    /* The hierarchies Nomad creates a task's groups in; a co-mounted one
     * (cpu,cpuacct) is reached through its symlink. */
    static const char *const needed[] = {"memory", "cpu", "freezer", "cpuset"};
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
      char path[PATH_MAX];
      snprintf(path, sizeof path, "%s/%s/cgroup.procs", root, needed[i]);
      if (access(path, F_OK) != 0) {
        snprintf(why, whylen, "cgroups v1: the %s controller is not mounted at %s/%s", needed[i],
                 root, needed[i]);
        return 0;
      }
    }
    found = CGROUP_V1;
  } else {
    snprintf(why, whylen, "%s is a %s mount, not a cgroup filesystem", root, fstype);
    return 0;
  }
  if (euid != 0) {
    snprintf(why, whylen, "cgroups %s found, but this process runs as uid %u, not root",
             cgroup_mode_name(found), (unsigned)euid);
    return 0;
  }
  *mode = found;
  return 0;
}
