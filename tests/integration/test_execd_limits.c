/* Integration test of elide-execd's resource limits over its real socket:
 * an execution's own cgroups under [daemon] cgroup_parent (a parent unique
 * to this test, removed at the end) with the memory and CPU limits of the
 * request written, only the task in them, an allocation past the limit
 * ending as REASON_OOM, a session's memory_limit_mb as the default, cgroup
 * figures in GetExecutionStatus, the groups surviving a daemon restart and
 * removed with the execution, and refusals. Needs root and cgroups. */
#include "../check.h"
#include "../unit/cgroup_fixture.h"
#include "cgroup.h"
#include "execd_harness.h"

#include <grpc/grpc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static execd_proc D;
static char parent[64];
static cgroup_mode mode;

static void free_msg(void *m) {
  if (m) protobuf_c_message_free_unpacked((ProtobufCMessage *)m, NULL);
}

/* The execution's directory in one hierarchy (v2: its only one). */
static void group_dir(const char *ctrl, const char *id, char *out, size_t outlen) {
  if (mode == CGROUP_V2)
    snprintf(out, outlen, "%s/%s/%s", CGROUP_DEFAULT_ROOT, parent, id);
  else
    snprintf(out, outlen, "%s/%s/%s/%s", CGROUP_DEFAULT_ROOT, ctrl, parent, id);
}

static EP(GetExecutionStatusResponse) * status_of(const char *id) { return api_status(&D, id); }

static int wait_output(const char *id, const char *needle) {
  return api_wait_stdout(&D, id, needle, 20000);
}

static int execute(const char *id, const char *session, const char *code,
                   const EP(ResourceLimits) * lim, char *details, size_t dlen) {
  EP(ExecuteSnippetRequest) req = EP_INIT(EXECUTE_SNIPPET_REQUEST);
  req.session_id = (char *)(session ? session : "");
  req.limits = (EP(ResourceLimits) *)lim;
  EP(ExecuteSnippetResponse) *rep = NULL;
  int st = api_execute(&D, &req, id, "python", code, &rep, details, dlen);
  free_msg(rep);
  return st;
}

static int wait_gone(const char *dir, int ms) {
  for (int64_t end = now_ms() + ms; now_ms() < end; usleep(50000))
    if (access(dir, F_OK) != 0) return 1;
  return access(dir, F_OK) != 0;
}

/* Limits written, only the task in the group, cgroup stats, then an OOM. */
static void test_limits_and_oom(void) {
  EP(ResourceLimits) lim = EP_INIT(RESOURCE_LIMITS);
  lim.memory_bytes = 48ull << 20;
  lim.cpu_shares = 300;
  lim.cpu_millis = 500;
  char details[512] = "";
  CHECK(execute("hold", NULL,
                "import time\nx = bytearray(20 << 20)\nprint('holding', flush=True)\n"
                "time.sleep(60)\n",
                &lim, details, sizeof details) == 0);
  if (details[0]) fprintf(stderr, "ExecuteSnippet: %s\n", details);
  CHECK(wait_output("hold", "holding"));
  char mem[PATH_MAX], cpu[PATH_MAX];
  group_dir("memory", "hold", mem, sizeof mem);
  group_dir("cpu", "hold", cpu, sizeof cpu);
  if (mode == CGROUP_V1) {
    CHECK(cgf_file_is(mem, "memory.limit_in_bytes", "50331648\n"));
    CHECK(cgf_file_is(cpu, "cpu.shares", "300\n"));
    CHECK(cgf_file_is(cpu, "cpu.cfs_quota_us", "50000\n"));
    CHECK(cgf_file_is(cpu, "cpu.cfs_period_us", "100000\n"));
  } else {
    CHECK(cgf_file_is(mem, "memory.max", "50331648\n"));
    CHECK(cgf_file_is(cpu, "cpu.max", "50000 100000\n"));
  }
  /* Only the task: one pid, the python process (not its monitor). */
  char *procs = cgf_read(mem, "cgroup.procs");
  int pid = procs ? atoi(procs) : 0;
  CHECK(procs && pid > 0 && strchr(procs, '\n') == procs + strcspn(procs, "\n") &&
        procs[strcspn(procs, "\n") + 1] == '\0');
  char comm_path[64];
  snprintf(comm_path, sizeof comm_path, "/proc/%d", pid);
  char *comm = cgf_read(comm_path, "comm");
  CHECK(comm && strncmp(comm, "python", 6) == 0);
  free(comm);
  free(procs);
  /* GetExecutionStatus: the group's memory (20 MiB held, and python). */
  EP(GetExecutionStatusResponse) *st = status_of("hold");
  CHECK(st && st->stats && st->stats->memory_current_bytes > (20u << 20) &&
        st->stats->memory_peak_bytes >= st->stats->memory_current_bytes);
  free_msg(st);
  EP(CancelExecutionRequest) cr = EP_INIT(CANCEL_EXECUTION_REQUEST);
  cr.execution_id = (char *)"hold";
  ProtobufCMessage *rep = NULL;
  CHECK(api_call(&D, API("CancelExecution"), &cr.base, &EP_DESC(cancel_execution_response), &rep,
                 NULL, 0) == 0);
  free_msg(rep);
  EP(WaitExecutionResponse) *w = api_wait(&D, "hold", 0);
  CHECK(w && w->result && w->result->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_CANCELLED));
  free_msg(w);

  /* Past the limit: the kernel's OOM killer, reported as such. */
  lim.cpu_millis = 0;
  CHECK(execute("hog", NULL, "import time\nx = 'x' * (256 << 20)\ntime.sleep(30)\n", &lim,
                details, sizeof details) == 0);
  w = api_wait(&D, "hog", 0);
  CHECK(w && w->complete && w->result &&
        w->result->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_OOM) &&
        w->result->signal == SIGKILL && w->result->exit_code == 137);
  free_msg(w);
  st = status_of("hog");
  CHECK(st && st->status == EP_ENUM(EXECUTION_STATUS__EXECUTION_STATUS_FAILED));
  free_msg(st);
  /* Deleted retain_finished (1 s) after their end, groups included. */
  CHECK(wait_gone(mem, 10000));
  group_dir("memory", "hog", mem, sizeof mem);
  CHECK(wait_gone(mem, 10000));
  if (mode == CGROUP_V1) {
    char acct[PATH_MAX];
    group_dir("cpuacct", "hog", acct, sizeof acct);
    CHECK(wait_gone(acct, 10000));
  }
}

/* A session's memory_limit_mb is the limit of its executions that set
 * none; an execution's own memory_bytes wins. */
static void test_session_limit(void) {
  EP(CreateSessionRequest) cr = EP_INIT(CREATE_SESSION_REQUEST);
  EP(SessionConfiguration) cfg = EP_INIT(SESSION_CONFIGURATION);
  cfg.memory_limit_mb = 32;
  cr.session_id = (char *)"small";
  cr.config = &cfg;
  ProtobufCMessage *rep = NULL;
  char details[512] = "";
  CHECK(api_call(&D, API("CreateSession"), &cr.base, &EP_DESC(create_session_response), &rep,
                 details, sizeof details) == 0);
  free_msg(rep);
  CHECK(execute("s-hog", "small", "import time\nx = 'x' * (128 << 20)\ntime.sleep(30)\n", NULL,
                details, sizeof details) == 0);
  EP(WaitExecutionResponse) *w = api_wait(&D, "s-hog", 0);
  CHECK(w && w->result && w->result->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_OOM));
  free_msg(w);
  EP(ResourceLimits) lim = EP_INIT(RESOURCE_LIMITS);
  lim.memory_bytes = 512ull << 20;
  CHECK(execute("s-big", "small", "x = 'x' * (128 << 20)\nprint('fits', flush=True)\n", &lim,
                details, sizeof details) == 0);
  w = api_wait(&D, "s-big", 0);
  CHECK(w && w->result && w->result->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_EXITED) &&
        w->result->exit_code == 0);
  free_msg(w);
}

/* A daemon restart keeps the groups: the recovered execution is still
 * limited and OOM-detected, and its groups go with it. */
static void test_restart(void) {
  EP(ResourceLimits) lim = EP_INIT(RESOURCE_LIMITS);
  lim.memory_bytes = 40ull << 20;
  char details[512] = "";
  CHECK(execute("r-hog", NULL,
                "import sys, time\nprint('waiting', flush=True)\n"
                "while not __import__('os').path.exists('go'): time.sleep(0.05)\n"
                "x = 'x' * (256 << 20)\ntime.sleep(30)\n",
                &lim, details, sizeof details) == 0);
  CHECK(wait_output("r-hog", "waiting"));
  CHECK(execd_stop(&D, SIGKILL, 5000) >= 0);
  CHECK(execd_launch(&D) == 0);
  char mem[PATH_MAX];
  group_dir("memory", "r-hog", mem, sizeof mem);
  CHECK(access(mem, F_OK) == 0);
  /* Let it allocate: its working directory is work/ under the execution. */
  char go[PATH_MAX + 64];
  snprintf(go, sizeof go, "%s/executions/r-hog/work/go", D.work);
  FILE *f = fopen(go, "w");
  CHECK(f != NULL);
  if (f) fclose(f);
  EP(WaitExecutionResponse) *w = api_wait(&D, "r-hog", 0);
  CHECK(w && w->result && w->result->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_OOM));
  free_msg(w);
  CHECK(wait_gone(mem, 10000));
}

static void test_refusals(void) {
  EP(ResourceLimits) lim = EP_INIT(RESOURCE_LIMITS);
  lim.cpu_millis = 5;
  char details[512] = "";
  CHECK(execute("tiny", NULL, "print(1)\n", &lim, details, sizeof details) ==
        GRPC_STATUS_INVALID_ARGUMENT);
  CHECK_STR_CONTAINS(details, "field \"limits.cpu_millis\": 5 is below the smallest quota");
}

/* Removes the test's parent group in every hierarchy. */
static void remove_parent(void) {
  const char *ctrls[] = {"memory", "cpu", "cpuacct"};
  char path[PATH_MAX];
  if (mode == CGROUP_V2) {
    snprintf(path, sizeof path, "%s/%s", CGROUP_DEFAULT_ROOT, parent);
    CHECK(rmdir(path) == 0);
    return;
  }
  for (size_t i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/%s/%s", CGROUP_DEFAULT_ROOT, ctrls[i], parent);
    if (access(path, F_OK) == 0) CHECK(rmdir(path) == 0); /* empty: every group was removed */
  }
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  grpc_init();
  char why[512];
  cgroup_detect(CGROUP_DEFAULT_ROOT, CGROUP_DEFAULT_MOUNTINFO, geteuid(), &mode, why, sizeof why);
  if (mode == CGROUP_NONE) fprintf(stderr, "no cgroups on this host: %s\n", why);
  CHECK(mode != CGROUP_NONE);
  snprintf(parent, sizeof parent, "elide-test-%d", (int)getpid());
  char extra[256];
  snprintf(extra, sizeof extra, "retain_finished = 1\ncgroup_parent = %s\n", parent);
  if (mode == CGROUP_NONE || execd_setup(&D, extra) != 0 || execd_launch(&D) != 0) {
    fprintf(stderr, "cannot start the daemon (log: %s)\n", D.log);
    CHECK(0);
    return CHECK_DONE();
  }
  test_limits_and_oom();
  test_session_limit();
  test_restart();
  test_refusals();
  execd_teardown(&D);
  remove_parent();
  grpc_shutdown_blocking();
  return CHECK_DONE();
}
