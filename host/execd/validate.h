/* ExecuteSnippet's request checks and what they derive before anything is
 * created: the module, the script resolved inside the working directory,
 * the environment, the user, the module's typed options. Every refusal
 * names the field and carries the gRPC status it deserves. */
#ifndef ELIDE_EXECD_VALIDATE_H
#define ELIDE_EXECD_VALIDATE_H

#include "daemon.h"
#include "execd_pb.h"
#include "ini_config.h"
#include "store.h"

#include <grpc/grpc.h>
#include <limits.h>
#include <sys/types.h>

typedef struct prepared {
  char escaped[STORE_MAX_ESCAPED + 1]; /* the execution's directory name */
  loaded_module *module;
  char *script;      /* absolute, resolved inside wd; NULL with code */
  char wd[PATH_MAX]; /* "" = the default under the execution's directory */
  char **args;       /* NULL-terminated */
  char **envp;       /* NULL-terminated "K=V", loader variables removed */
  int set_user;
  uid_t uid;
  gid_t gid;
  gid_t *groups;
  size_t ngroups;
  elide_value *options; /* one per task key of the module */
  size_t noptions;
  value_arena *arena;   /* storage of the options */
  int kill_signal;      /* resolved default */
} prepared;

/* Checks `req`; on success fills *p (free with prepared_free). On failure
 * returns a negative code with *code and err set; *p needs no freeing. */
int prepare_request(execd *d, const ExecRequest *req, prepared *p, grpc_status_code *code,
                    char *err, size_t errlen);
void prepared_free(prepared *p);

/* The context an execution's processes run in, from its request (as
 * persisted in request.pb, so a restarted daemon has it too): wd, the user
 * (set_user, uid, gid, groups) and envp, resolved with the same rules as at
 * its start; nothing else of *p is set. For commands exec'd into the
 * execution (ExecInExecution). Same contract as prepare_request. */
int prepare_context(const ExecRequest *req, prepared *p, grpc_status_code *code, char *err,
                    size_t errlen);

/* 1 if two requests ask for the same execution (maps compared as sets). */
int request_equal(const ExecRequest *a, const ExecRequest *b);

/* Checks an id field (required, length, no control bytes). */
int check_id(const char *field, const char *id, int required, char *err, size_t errlen);

#endif
