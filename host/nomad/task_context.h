/* Filling a task's exec context (task_context in tasks.h): what commands
 * exec'd into the task (ExecTask, ExecTaskStreaming) inherit from it — its
 * environment, working directory and user — at StartTask from the decoded
 * request and at RecoverTask from the TaskConfig in Nomad's handle. These
 * touch envp, cwd and the user fields only; cgroup_dirs is filled by the
 * cgroup code. All or nothing: on failure the fields are left unset, and an
 * unset context (envp NULL) makes exec refuse rather than run as someone
 * else. */
#ifndef ELIDE_NOMAD_TASK_CONTEXT_H
#define ELIDE_NOMAD_TASK_CONTEXT_H

#include "task_config.h"
#include "tasks.h"

#include <stddef.h>

/* Copies envp, task_dir and the user out of tr (which keeps its own). */
int task_context_from_request(task_context *c, const task_request *tr, char *err, size_t errlen);

/* Rebuilds them from the handle's TaskConfig with the same environment
 * filter and user resolution StartTask used. */
int task_context_recover(task_context *c, const NomadTaskConfig *cfg, char *err, size_t errlen);

#endif
