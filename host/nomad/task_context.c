/* task_context filling (see task_context.h). */
#include "task_context.h"

#include "strv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int task_context_from_request(task_context *c, const task_request *tr, char *err, size_t errlen) {
  if (strlen(tr->task_dir) >= sizeof c->cwd) {
    snprintf(err, errlen, "task directory %s is too long", tr->task_dir);
    return -ENAMETOOLONG;
  }
  char **envp = strv_copy((const char *const *)tr->envp);
  gid_t *groups = NULL;
  if (envp && tr->set_user && tr->ngroups) {
    groups = malloc(tr->ngroups * sizeof *groups);
    if (groups) memcpy(groups, tr->groups, tr->ngroups * sizeof *groups);
  }
  if (!envp || (tr->set_user && tr->ngroups && !groups)) {
    strv_free(envp);
    snprintf(err, errlen, "out of memory keeping the task's exec context");
    return -ENOMEM;
  }
  c->envp = envp;
  snprintf(c->cwd, sizeof c->cwd, "%s", tr->task_dir);
  c->set_user = tr->set_user;
  c->uid = tr->uid;
  c->gid = tr->gid;
  c->groups = groups;
  c->ngroups = groups ? tr->ngroups : 0;
  return 0;
}

int task_context_recover(task_context *c, const NomadTaskConfig *cfg, char *err, size_t errlen) {
  task_request tr;
  int rc = task_request_identity(cfg, &tr, err, errlen);
  if (rc != 0) return rc;
  rc = task_context_from_request(c, &tr, err, errlen);
  task_request_free(&tr);
  return rc;
}
