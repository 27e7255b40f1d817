/* Integration test of users and safety, over real gRPC with the plugin
 * started as Nomad starts it: allow_root = false (plugin block and INI
 * [driver], and which wins) refuses every task whose user would be root
 * and still runs `nobody`; a task sees none of the plugin's file
 * descriptors, signal dispositions or blocked signals, none of the
 * plugin's own environment and none of the loader variables of the job's;
 * the plugin survives a client that vanishes with streams open and a log
 * reader that goes away. */
#include "../check.h"
#include "task_helpers.h"

#include "grpc/health/v1/health.pb-c.h"
#include "google/protobuf/duration.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <grpc/grpc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DRV "/hashicorp.nomad.plugins.drivers.proto.Driver/"
#define DP(n) Hashicorp__Nomad__Plugins__Drivers__Proto__##n
#define DP_INIT(N) HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__##N##__INIT
#define DP_DESC(n) hashicorp__nomad__plugins__drivers__proto__##n##__descriptor

static plugin_proc plug;

/* Runs inline python as `user` and returns the status of StartTask; on
 * success waits for the end and leaves stdout in *out (free()). */
static grpc_status_code run_python(const char *rest, const char *code, const char *user,
                                   const char *const *env, char **out, int *exit_code,
                                   char *details, size_t dlen) {
  fake_alloc a;
  *out = NULL;
  CHECK(fake_alloc_create(&a, "safety") == 0);
  start_args args = {.user = user, .env = env};
  started_task s;
  grpc_status_code rc =
      th_start_python(&plug, &a, test_task_id(rest), "safety", code, &args, &s, details, dlen);
  if (rc == GRPC_STATUS_OK) {
    int sig;
    char err[512];
    CHECK(th_wait(&plug, s.id, exit_code, &sig, err, sizeof err) == 0);
    CHECK(fake_alloc_wait_eof(&a, 5000) == 0);
    *out = a.out ? strdup(a.out) : strdup("");
    if (a.err && a.err[0]) fprintf(stderr, "task stderr: %s\n", a.err);
    CHECK(th_destroy(&plug, s.id, 1) == GRPC_STATUS_OK);
  }
  msg_free(s.reply);
  fake_alloc_destroy(&a);
  return rc;
}

#define WHOAMI "import os; print('uid', os.getuid(), os.geteuid(), os.getgid())"

static void expect_refused(const char *rest, const char *user, const char *needle) {
  char details[1024] = "", *out = NULL;
  int code;
  grpc_status_code rc = run_python(rest, WHOAMI, user, NULL, &out, &code, details, sizeof details);
  CHECK(rc != GRPC_STATUS_OK);
  if (rc == GRPC_STATUS_OK) fprintf(stderr, "%s: not refused, output %s\n", rest, out);
  CHECK_STR_CONTAINS(details, "allow_root = false");
  CHECK_STR_CONTAINS(details, needle);
  free(out);
}

static void expect_runs_as(const char *rest, const char *user, const char *line) {
  char details[1024] = "", *out = NULL;
  int code = -1;
  grpc_status_code rc = run_python(rest, WHOAMI, user, NULL, &out, &code, details, sizeof details);
  CHECK(rc == GRPC_STATUS_OK);
  if (rc != GRPC_STATUS_OK) fprintf(stderr, "%s: StartTask: %s\n", rest, details);
  CHECK(code == 0);
  CHECK_STR_CONTAINS(out, line);
  free(out);
}

/* allow_root: default allowed; false in the plugin block refuses root
 * (no user while the plugin is root, or a uid-0 user) and runs nobody;
 * the INI's [driver] allow_root = false does the same unless the plugin
 * block says true. */
static void test_allow_root(void) {
  char details[1024];
  int root = geteuid() == 0;
  /* Default: allowed, as before the option existed. */
  CHECK(th_set_config(&plug, NULL, 0, details, sizeof details) == GRPC_STATUS_OK);
  if (root) expect_runs_as("root/s001", NULL, "uid 0 0 0");

  config_kv deny = {"allow_root", NULL, 0};
  CHECK(th_set_config(&plug, &deny, 1, details, sizeof details) == GRPC_STATUS_OK);
  if (root) {
    expect_refused("root/s002", NULL, "the task sets no user, so it would run as root");
    expect_refused("root/s003", "root", "user \"root\" is root (uid 0)");
    expect_runs_as("root/s004", "nobody", "uid 65534 65534 65534");
  } else {
    expect_runs_as("root/s002", NULL, "uid "); /* not root: nothing to refuse */
  }
  /* A wrong type is refused naming the field. */
  config_kv bad = {"allow_root", "no", 0};
  CHECK(th_set_config(&plug, &bad, 1, details, sizeof details) == GRPC_STATUS_INVALID_ARGUMENT);
  CHECK_STR_CONTAINS(details, "field \"allow_root\"");

  /* The deployment file: [driver] allow_root = false. */
  char dir[] = "/tmp/elide-safety-XXXXXX", ini[128];
  CHECK(mkdtemp(dir) != NULL);
  snprintf(ini, sizeof ini, "%s/driver.ini", dir);
  FILE *f = fopen(ini, "we");
  CHECK(f != NULL);
  if (f) {
    fputs("[driver]\nallow_root = false\n", f);
    fclose(f);
  }
  chmod(ini, 0600);
  config_kv file_only = {"config_file", ini, 0};
  CHECK(th_set_config(&plug, &file_only, 1, details, sizeof details) == GRPC_STATUS_OK);
  if (root) expect_refused("root/s005", NULL, "would run as root");
  config_kv both[] = {{"allow_root", NULL, 1}, {"config_file", ini, 0}};
  CHECK(th_set_config(&plug, both, 2, details, sizeof details) == GRPC_STATUS_OK);
  if (root) expect_runs_as("root/s006", NULL, "uid 0 0 0"); /* the plugin block wins */
  /* A value that is not a bool names file and line. */
  f = fopen(ini, "we");
  if (f) {
    fputs("[driver]\nallow_root = sometimes\n", f);
    fclose(f);
  }
  CHECK(th_set_config(&plug, &file_only, 1, details, sizeof details) ==
        GRPC_STATUS_INVALID_ARGUMENT);
  CHECK_STR_CONTAINS(details, ":2:");
  CHECK_STR_CONTAINS(details, "allow_root");
  unlink(ini);
  rmdir(dir);
  CHECK(th_set_config(&plug, NULL, 0, details, sizeof details) == GRPC_STATUS_OK);
}

/* Nothing of the plugin process reaches a task: not a descriptor (not
 * even one the plugin itself inherited without close-on-exec), not its
 * ignored signals (the plugin ignores SIGINT and SIGPIPE) or blocked
 * ones, not its environment; and no loader variable of the job's. */
static void test_nothing_leaks(void) {
  /* A plugin that inherits a descriptor without close-on-exec. */
  CHECK(plugin_stop(&plug, 0, 10000) != -1);
  int leak = open("/etc/hostname", O_RDONLY); /* no O_CLOEXEC on purpose */
  int high = dup2(leak, 77);
  CHECK(leak >= 0 && high == 77);
  const char *plugin_env[] = {"ELIDE_PLUGIN_OWN_SECRET=plugin-only", NULL};
  CHECK(plugin_start(&plug, plugin_env) == 0);
  close(leak);
  close(high);

  const char *code =
      "import os\n"
      "fds = sorted(int(f) for f in os.listdir('/proc/self/fd'))\n"
      "print('fds', fds)\n"
      "print('fd0', os.readlink('/proc/self/fd/0'))\n"
      "st = dict(l.split(':\\t') for l in open('/proc/self/status').read().splitlines() "
      "if ':\\t' in l)\n"
      "print('blocked', st['SigBlk'])\n"
      "print('sigint ignored', bool(int(st['SigIgn'], 16) & (1 << 1)))\n"
      "for k in ('LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT', 'GLIBC_TUNABLES', 'GCONV_PATH',\n"
      "          'MALLOC_TRACE', 'ELIDE_PLUGIN_OWN_SECRET', 'NOMAD_PLUGIN_MAGIC_COOKIE',\n"
      "          'KEEP_ME'):\n"
      "    print('env', k, os.environ.get(k))\n";
  const char *env[] = {"LD_PRELOAD=/nonexistent/evil.so", "LD_LIBRARY_PATH=/nonexistent",
                       "LD_AUDIT=/nonexistent/audit.so", "GLIBC_TUNABLES=glibc.malloc.check=3",
                       "GCONV_PATH=/nonexistent", "MALLOC_TRACE=/tmp/trace",
                       "KEEP_ME=kept", "PATH=/usr/bin:/bin", NULL};
  char details[1024] = "", *out = NULL;
  int exit_code = -1;
  CHECK(run_python("leak/s010", code, NULL, env, &out, &exit_code, details, sizeof details) ==
        GRPC_STATUS_OK);
  CHECK(exit_code == 0);
  /* 0, 1, 2 and the one os.listdir opened to list them */
  CHECK_STR_CONTAINS(out, "fds [0, 1, 2, 3]\n");
  CHECK_STR_CONTAINS(out, "fd0 /dev/null\n");
  CHECK_STR_CONTAINS(out, "blocked 0000000000000000\n");
  CHECK_STR_CONTAINS(out, "sigint ignored False\n");
  static const char *const gone[] = {"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT",
                                     "GLIBC_TUNABLES", "GCONV_PATH", "MALLOC_TRACE",
                                     "ELIDE_PLUGIN_OWN_SECRET", "NOMAD_PLUGIN_MAGIC_COOKIE"};
  for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
    char line[128];
    snprintf(line, sizeof line, "env %s None\n", gone[i]);
    CHECK_STR_CONTAINS(out, line);
  }
  CHECK_STR_CONTAINS(out, "env KEEP_ME kept\n");
  if (out && !strstr(out, "fds [0, 1, 2, 3]")) fprintf(stderr, "task output:\n%s\n", out);
  free(out);
}

/* Child mode: a client that opens TaskStats, TaskEvents, Fingerprint and
 * WaitTask on the task, says "ready" once stats flow, and is then killed
 * by the parent without closing anything. */
static int drop_client(const char *address, const char *task_id) {
  grpc_init();
  rpc_client *c = rpc_client_new(address);
  DP(TaskStatsRequest) sreq = DP_INIT(TASK_STATS_REQUEST);
  Google__Protobuf__Duration iv = GOOGLE__PROTOBUF__DURATION__INIT;
  iv.nanos = 50 * 1000000;
  sreq.task_id = (char *)task_id;
  sreq.collection_interval = &iv;
  rpc_stream *stats = rpc_stream_open(c, DRV "TaskStats", &sreq.base, 1, 0);
  DP(TaskEventsRequest) ereq = DP_INIT(TASK_EVENTS_REQUEST);
  rpc_stream *events = rpc_stream_open(c, DRV "TaskEvents", &ereq.base, 1, 0);
  DP(FingerprintRequest) freq = DP_INIT(FINGERPRINT_REQUEST);
  rpc_stream *fp = rpc_stream_open(c, DRV "Fingerprint", &freq.base, 1, 0);
  DP(WaitTaskRequest) wreq = DP_INIT(WAIT_TASK_REQUEST);
  wreq.task_id = (char *)task_id;
  rpc_stream *wait = rpc_stream_open(c, DRV "WaitTask", &wreq.base, 1, 0);
  ProtobufCMessage *m = NULL;
  if (rpc_stream_recv(stats, &DP_DESC(task_stats_response), &m, 10000) != 1) return 1;
  msg_free(m);
  if (rpc_stream_recv(fp, &DP_DESC(fingerprint_response), &m, 10000) != 1) return 1;
  msg_free(m);
  printf("ready\n");
  fflush(stdout);
  (void)events;
  (void)wait;
  pause(); /* killed here, every stream open */
  return 0;
}

static int plugin_running(void) { return waitpid(plug.pid, NULL, WNOHANG) == 0; }

static int health_serving(void) {
  Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  req.service = (char *)"plugin";
  ProtobufCMessage *rep = NULL;
  int ok = plugin_call(&plug, "/grpc.health.v1.Health/Check", &req.base,
                       &grpc__health__v1__health_check_response__descriptor, &rep, NULL,
                       0) == GRPC_STATUS_OK &&
           rep &&
           ((Grpc__Health__V1__HealthCheckResponse *)rep)->status ==
               GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  msg_free(rep);
  return ok;
}

/* Streams whose client vanished (kill -9, sockets reset while the plugin
 * writes stats every 50 ms) cost the plugin nothing: it keeps serving, and
 * the task is still stopped and waited for normally. */
static void test_vanished_client(const char *self) {
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "streamed") == 0);
  started_task s;
  char details[1024];
  CHECK(th_start_python(&plug, &a, test_task_id("streamed/s020"), "streamed",
                        "import time\nprint('up', flush=True)\ntime.sleep(600)\n", NULL, &s,
                        details, sizeof details) == GRPC_STATUS_OK);
  CHECK(fake_alloc_wait_output(&a, "up", 10000));
  int p[2];
  CHECK(pipe(p) == 0);
  pid_t child = fork();
  if (child == 0) {
    dup2(p[1], 1);
    close(p[0]);
    execl(self, self, "--drop-client", plug.address, s.id, (char *)NULL);
    _exit(127);
  }
  close(p[1]);
  char buf[32] = "";
  struct pollfd pfd = {p[0], POLLIN, 0};
  ssize_t n = poll(&pfd, 1, 20000) > 0 ? read(p[0], buf, sizeof buf - 1) : -1;
  buf[n > 0 ? n : 0] = '\0';
  close(p[0]);
  CHECK(strcmp(buf, "ready\n") == 0);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  usleep(500000); /* several stats periods into the void */
  CHECK(plugin_running());
  CHECK(health_serving());
  CHECK(th_stop(&plug, s.id, 2000, "SIGTERM") == GRPC_STATUS_OK);
  int code = 0, sig = 0;
  char err[512];
  CHECK(th_wait(&plug, s.id, &code, &sig, err, sizeof err) == 0 && sig == SIGTERM);
  CHECK(th_destroy(&plug, s.id, 1) == GRPC_STATUS_OK);
  CHECK(plugin_running());
  msg_free(s.reply);
  fake_alloc_destroy(&a);
}

/* logmon's reader goes away while the task writes: the task alone sees
 * the broken pipe (python raises BrokenPipeError; this task then exits 42),
 * and its monitor and the plugin report that exit normally. */
static void test_log_reader_gone(void) {
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "piped") == 0);
  char fifo[700];
  snprintf(fifo, sizeof fifo, "%s/alloc/logs/own.stdout.fifo", a.root);
  CHECK(mkfifo(fifo, 0600) == 0);
  int rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  CHECK(rfd >= 0);
  start_args args = {.stdout_path = fifo};
  started_task s;
  char details[1024];
  CHECK(th_start_python(&plug, &a, test_task_id("piped/s030"), "piped",
                        "import os, sys, time\n"
                        "try:\n"
                        "    while True:\n"
                        "        print('line', flush=True)\n"
                        "        time.sleep(0.01)\n"
                        "except BrokenPipeError:\n"
                        "    os._exit(42)\n",
                        &args, &s, details, sizeof details) == GRPC_STATUS_OK);
  char buf[256];
  int got = 0;
  for (int64_t end = now_ms() + 10000; !got && now_ms() < end;) {
    struct pollfd pfd = {rfd, POLLIN, 0};
    if (poll(&pfd, 1, 100) > 0 && read(rfd, buf, sizeof buf) > 0) got = 1;
  }
  CHECK(got);
  close(rfd); /* the reader goes away */
  int code = 0, sig = 0;
  char err[512];
  CHECK(th_wait(&plug, s.id, &code, &sig, err, sizeof err) == 0);
  CHECK(code == 42 && sig == 0 && !err[0]);
  CHECK(plugin_running() && health_serving());
  CHECK(th_destroy(&plug, s.id, 1) == GRPC_STATUS_OK);
  msg_free(s.reply);
  fake_alloc_destroy(&a);
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "--drop-client") == 0) return drop_client(argv[2], argv[3]);
  signal(SIGPIPE, SIG_IGN);
  grpc_init();
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  self[n > 0 ? n : 0] = '\0';
  CHECK(plugin_start(&plug, NULL) == 0);
  test_allow_root();
  test_nothing_leaks();
  test_vanished_client(self);
  test_log_reader_gone();
  int status = plugin_stop(&plug, 0, 60000);
  CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  grpc_shutdown_blocking();
  return CHECK_DONE();
}
