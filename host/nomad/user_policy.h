/* Whether StartTask may run a task as the user it would run as: the
 * plugin config's allow_root = false refuses every task whose effective
 * user would be root (uid 0). */
#ifndef ELIDE_NOMAD_USER_POLICY_H
#define ELIDE_NOMAD_USER_POLICY_H

#include "task_config.h"

#include <stddef.h>
#include <sys/types.h>

/* The effective user of a task is its resolved `user` (tr->set_user), or,
 * without one, the plugin's own user in local mode, or the execution
 * daemon's user in daemon mode, which the plugin cannot see: with
 * allow_root = false a daemon-mode task therefore needs an explicit user.
 * `plugin_euid` is the plugin's effective uid (geteuid(), a parameter so
 * tests can play root). Returns 0 when allowed, or -EPERM with a message
 * naming the option and the user. */
int user_policy_check(int allow_root, const task_request *tr, const char *user, int daemon_mode,
                      uid_t plugin_euid, char *err, size_t errlen);

#endif
