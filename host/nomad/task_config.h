/* A task's `config { ... }` block and everything else StartTask derives
 * from Nomad's TaskConfig before anything runs: the decoded fields, the
 * script resolved inside the task directory, the filtered environment and
 * the resolved user. Every error names the field or value at fault. */
#ifndef ELIDE_NOMAD_TASK_CONFIG_H
#define ELIDE_NOMAD_TASK_CONFIG_H

#include "cty.h"
#include "elide_module.h"
#include "env_filter.h"
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
  /* `timeout` (0 = none), `timeout_signal` (default SIGINT) and
   * `timeout_grace` (default 5 s), enforced by the task's monitor. */
  int64_t timeout_ms;
  int timeout_signal;
  int64_t timeout_grace_ms;
  /* Every decoded field of the schema (module keys included), owned. */
  struct task_schema const *schema;
  cty_value *values;
  /* The chosen module's options (task_request_options), owned. */
  elide_value *options;
  size_t noptions;
  char **option_texts;
} task_request;

struct task_schema;
struct loaded_module;

/* Decodes `cfg` against `schema` and validates the host's part; on error
 * *out is left empty (nothing to free). */
int task_request_build(const NomadTaskConfig *cfg, const struct task_schema *schema,
                       task_request *out, char *err, size_t errlen);
/* Converts the chosen module's task keys into typed options (defaults
 * applied), and refuses keys declared by other modules that are set: they
 * would silently do nothing for this language. */
int task_request_options(task_request *r, const struct loaded_module *m, char *err,
                         size_t errlen);
void task_request_free(task_request *r);
/* Only what a running task hands down to commands exec'd into it: task_dir,
 * envp and the user, from the TaskConfig alone (the driver config is not
 * decoded: after an agent restart Nomad's recovered handle has none). On
 * error *out is left empty. */
int task_request_identity(const NomadTaskConfig *cfg, task_request *out, char *err,
                          size_t errlen);


#endif
