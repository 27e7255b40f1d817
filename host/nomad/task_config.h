/* A task's `config { ... }` block and everything else StartTask derives
 * from Nomad's TaskConfig before anything runs: the decoded fields, the
 * script resolved inside the task directory, the filtered environment and
 * the resolved user. Every error names the field or value at fault. */
#ifndef ELIDE_NOMAD_TASK_CONFIG_H
#define ELIDE_NOMAD_TASK_CONFIG_H

#include "cty.h"
#include "nomad/driver.pb-c.h"

#include <limits.h>
#include <sys/types.h>

typedef Hashicorp__Nomad__Plugins__Drivers__Proto__TaskConfig NomadTaskConfig;

extern const cty_field task_config_fields[];
extern const size_t task_config_nfields;

typedef struct task_request {
  char *language;
  char *script;   /* absolute and resolved inside task_dir, or NULL */
  char *code;     /* or NULL */
  char **args;    /* NULL-terminated */
  char **envp;    /* NULL-terminated "K=V", loader variables removed */
  char task_dir[PATH_MAX];
  int set_user;
  uid_t uid;
  gid_t gid;
  gid_t *groups;
  size_t ngroups;
} task_request;

/* Decodes and validates; on error *out is left empty (nothing to free). */
int task_request_build(const NomadTaskConfig *cfg, task_request *out, char *err, size_t errlen);
void task_request_free(task_request *r);

/* 1 if `name` (a variable name) must not reach a task: dynamic-loader and
 * libc variables that change what code runs (LD_*, GLIBC_TUNABLES, ...). */
int env_name_is_denied(const char *name);

#endif
