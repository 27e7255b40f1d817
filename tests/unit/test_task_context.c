/* The exec context of a task (host/nomad/task_context.h): what StartTask
 * keeps and what RecoverTask rebuilds from a handle's TaskConfig alone —
 * the filtered environment, the task directory and the resolved user — and
 * that a failure leaves nothing half set. */
#include "../check.h"
#include "nomad_pb.h"
#include "task_context.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef Hashicorp__Nomad__Plugins__Drivers__Proto__TaskConfig__EnvEntry env_entry;

/* A handle's TaskConfig as Nomad keeps it after an agent restart: no
 * driver config. */
static NomadTaskConfig config(const char *alloc_dir, const char *name, const char *user,
                              env_entry *e, env_entry **env) {
  const char *kv[3][2] = {{"PATH", "/usr/bin:/bin"},
                          {"LD_PRELOAD", "/x.so"},
                          {"GREETING", "a=b c"}};
  for (int i = 0; i < 3; i++) {
    env_entry init = DP_INIT(TASK_CONFIG__ENV_ENTRY);
    e[i] = init;
    e[i].key = (char *)kv[i][0];
    e[i].value = (char *)kv[i][1];
    env[i] = &e[i];
  }
  NomadTaskConfig tc = DP_INIT(TASK_CONFIG);
  tc.id = (char *)"alloc/t/00000001";
  tc.name = (char *)name;
  tc.alloc_dir = (char *)alloc_dir;
  tc.user = (char *)user;
  tc.n_env = 3;
  tc.env = env;
  return tc;
}

static size_t count(char **v) {
  size_t n = 0;
  while (v && v[n]) n++;
  return n;
}

static void test_recover(void) {
  env_entry e[3], *env[3];
  char err[512] = "";
  NomadTaskConfig tc = config("/srv/alloc/a1", "web", "", e, env);
  task_context c;
  memset(&c, 0, sizeof c);
  CHECK(task_context_recover(&c, &tc, err, sizeof err) == 0);
  CHECK(strcmp(c.cwd, "/srv/alloc/a1/web") == 0);
  CHECK(count(c.envp) == 2); /* LD_PRELOAD filtered as at StartTask */
  CHECK(c.envp && strcmp(c.envp[0], "PATH=/usr/bin:/bin") == 0 &&
        strcmp(c.envp[1], "GREETING=a=b c") == 0);
  CHECK(!c.set_user && !c.groups && c.ngroups == 0);
  CHECK(c.cgroup_dirs == NULL); /* not this code's field */
  task_context_free(&c);
  CHECK(c.envp == NULL);

  if (geteuid() == 0) {
    tc = config("/srv/alloc/a1", "web", "nobody", e, env);
    memset(&c, 0, sizeof c);
    CHECK(task_context_recover(&c, &tc, err, sizeof err) == 0);
    CHECK(c.set_user && c.uid == 65534 && c.gid == 65534);
    CHECK(c.ngroups == 1 && c.groups && c.groups[0] == 65534);
    task_context_free(&c);
  }

  /* Failures leave the context unset (exec then refuses, saying why). */
  tc = config("/srv/alloc/a1", "web", "no-such-user-zz", e, env);
  memset(&c, 0, sizeof c);
  CHECK(task_context_recover(&c, &tc, err, sizeof err) == -ENOENT);
  CHECK(strcmp(err, "user \"no-such-user-zz\": no such user") == 0);
  CHECK(c.envp == NULL && !c.set_user && c.cwd[0] == '\0');
  tc = config("relative", "web", "", e, env);
  CHECK(task_context_recover(&c, &tc, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, "must give an absolute task directory");
  CHECK(c.envp == NULL);
}

/* StartTask's copy is deep: the request can go away. */
static void test_from_request(void) {
  env_entry e[3], *env[3];
  char err[512] = "";
  NomadTaskConfig tc = config("/srv/alloc/a2", "job", "", e, env);
  task_request tr;
  CHECK(task_request_identity(&tc, &tr, err, sizeof err) == 0);
  gid_t groups[2] = {7, 8};
  tr.set_user = 1;
  tr.uid = 1000;
  tr.gid = 1001;
  tr.groups = malloc(sizeof groups); /* owned by tr, freed with it */
  task_context c;
  memset(&c, 0, sizeof c);
  memcpy(tr.groups, groups, sizeof groups);
  tr.ngroups = 2;
  CHECK(task_context_from_request(&c, &tr, err, sizeof err) == 0);
  char *first_env = tr.envp[0];
  task_request_free(&tr);
  CHECK(c.envp && c.envp[0] != first_env && strcmp(c.envp[0], "PATH=/usr/bin:/bin") == 0);
  CHECK(strcmp(c.cwd, "/srv/alloc/a2/job") == 0);
  CHECK(c.set_user && c.uid == 1000 && c.gid == 1001 && c.ngroups == 2 && c.groups[1] == 8);
  task_context_free(&c);
}

int main(void) {
  test_recover();
  test_from_request();
  return CHECK_DONE();
}
