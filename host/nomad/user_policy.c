/* The allow_root policy of StartTask (see user_policy.h). */
#include "user_policy.h"

#include <errno.h>
#include <stdio.h>

int user_policy_check(int allow_root, const task_request *tr, const char *user, int daemon_mode,
                      uid_t plugin_euid, char *err, size_t errlen) {
  if (allow_root) return 0;
  if (tr->set_user) {
    if (tr->uid != 0) return 0;
    snprintf(err, errlen, "user \"%s\" is root (uid 0), and the plugin config forbids running "
             "tasks as root (allow_root = false)", user ? user : "");
    return -EPERM;
  }
  if (daemon_mode) {
    snprintf(err, errlen, "the task sets no user, so it would run as the execution daemon's "
             "user, which the plugin cannot check, and the plugin config forbids running tasks "
             "as root (allow_root = false): set the task's user");
    return -EPERM;
  }
  if (plugin_euid != 0) return 0;
  snprintf(err, errlen, "the task sets no user, so it would run as root (uid 0) like the plugin, "
           "and the plugin config forbids running tasks as root (allow_root = false): set the "
           "task's user");
  return -EPERM;
}
