/* Integration test: starts nomad-driver-elide as Nomad does and drives the
 * go-plugin services and a whole task life over real gRPC on the plugin's
 * unix socket, with FIFOs read like logmon reads them. */
#include "../check.h"
#include "plugin_harness.h"
#include "task_helpers.h"

#include "google/protobuf/duration.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "nomad/base.pb-c.h"
#include "nomad/driver.pb-c.h"

#include <grpc/grpc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DP(n) Hashicorp__Nomad__Plugins__Drivers__Proto__##n
#define DP_INIT(N) HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__##N##__INIT
#define DP_DESC(n) hashicorp__nomad__plugins__drivers__proto__##n##__descriptor
#define DRV "/hashicorp.nomad.plugins.drivers.proto.Driver/"

static plugin_proc plug;

static grpc_status_code call(const char *path, const ProtobufCMessage *req,
                             const ProtobufCMessageDescriptor *desc, ProtobufCMessage **rep,
                             char *details, size_t dlen) {
  return plugin_call(&plug, path, req, desc, rep, details, dlen);
}

#define free_msg msg_free
#define tid test_task_id

static int wait_task(const char *id, DP(ExitResult) * res) {
  int oom = 0;
  int rc = plugin_wait_task(&plug, id, &res->exit_code, &res->signal, &oom);
  res->oom_killed = oom;
  return rc;
}

/* The job's env block of every task here: LD_PRELOAD must not reach it. */
static const char *const job_env[] = {"GREETING=hello from the job",
                                      "LD_PRELOAD=/nonexistent/evil.so", "PATH=/usr/bin:/bin",
                                      NULL};

static grpc_status_code start_task(fake_alloc *a, const char *id, const char *task_name,
                                   uint8_t *cfg, size_t cfg_len, const char *user,
                                   started_task *out, char *details, size_t dlen) {
  start_args args = {.user = user, .env = job_env};
  return th_start(&plug, a, id, task_name, cfg, cfg_len, &args, out, details, dlen);
}

static int process_exists(pid_t pid) { return pid > 0 && kill(pid, 0) == 0; }

static pid_t handle_pid(const char *id) {
  DP(InspectTaskRequest) req = DP_INIT(INSPECT_TASK_REQUEST);
  req.task_id = (char *)id;
  ProtobufCMessage *rep;
  pid_t pid = 0;
  if (call(DRV "InspectTask", &req.base, &DP_DESC(inspect_task_response), &rep, NULL, 0) ==
      GRPC_STATUS_OK) {
    DP(InspectTaskResponse) *r = (void *)rep;
    for (size_t i = 0; r->driver && i < r->driver->n_attributes; i++)
      if (!strcmp(r->driver->attributes[i]->key, "pid")) pid = atoi(r->driver->attributes[i]->value);
  }
  free_msg(rep);
  return pid;
}

static void test_no_cookie(void) {
  int errp[2];
  CHECK(pipe(errp) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(errp[1], 2);
    unsetenv("NOMAD_PLUGIN_MAGIC_COOKIE");
    const char *bin = getenv("ELIDE_PLUGIN_BINARY") ? getenv("ELIDE_PLUGIN_BINARY") : PLUGIN_BINARY;
    execl(bin, bin, (char *)NULL);
    _exit(127);
  }
  close(errp[1]);
  char buf[512] = "";
  ssize_t n = read(errp[0], buf, sizeof buf - 1);
  buf[n > 0 ? n : 0] = '\0';
  close(errp[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  CHECK_STR_CONTAINS(buf, "This binary is a plugin");
}

static void test_base_services(void) {
  CHECK(strncmp(plug.handshake, "1|2|unix|/", 10) == 0);
  CHECK(strstr(plug.handshake, "|grpc|") != NULL);
  Grpc__Health__V1__HealthCheckRequest hreq = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  hreq.service = (char *)"plugin";
  ProtobufCMessage *rep;
  CHECK(call("/grpc.health.v1.Health/Check", &hreq.base,
             &grpc__health__v1__health_check_response__descriptor, &rep, NULL, 0) == GRPC_STATUS_OK);
  CHECK(rep && ((Grpc__Health__V1__HealthCheckResponse *)rep)->status ==
                   GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
  free_msg(rep);

  Hashicorp__Nomad__Plugins__Base__Proto__PluginInfoRequest ireq =
      HASHICORP__NOMAD__PLUGINS__BASE__PROTO__PLUGIN_INFO_REQUEST__INIT;
  CHECK(call("/hashicorp.nomad.plugins.base.proto.BasePlugin/PluginInfo", &ireq.base,
             &hashicorp__nomad__plugins__base__proto__plugin_info_response__descriptor, &rep, NULL,
             0) == GRPC_STATUS_OK);
  Hashicorp__Nomad__Plugins__Base__Proto__PluginInfoResponse *info = (void *)rep;
  CHECK(info && info->type == HASHICORP__NOMAD__PLUGINS__BASE__PROTO__PLUGIN_TYPE__DRIVER);
  CHECK(info && !strcmp(info->name, "elide"));
  CHECK(info && info->n_plugin_api_versions == 1 && !strcmp(info->plugin_api_versions[0], "v0.1.0"));
  free_msg(rep);

  Hashicorp__Nomad__Plugins__Base__Proto__ConfigSchemaRequest creq =
      HASHICORP__NOMAD__PLUGINS__BASE__PROTO__CONFIG_SCHEMA_REQUEST__INIT;
  CHECK(call("/hashicorp.nomad.plugins.base.proto.BasePlugin/ConfigSchema", &creq.base,
             &hashicorp__nomad__plugins__base__proto__config_schema_response__descriptor, &rep,
             NULL, 0) == GRPC_STATUS_OK);
  CHECK(rep && ((Hashicorp__Nomad__Plugins__Base__Proto__ConfigSchemaResponse *)rep)->spec);
  free_msg(rep);

  /* SetConfig with a wrong type names the field; an empty config is fine. */
  Hashicorp__Nomad__Plugins__Base__Proto__SetConfigRequest sreq =
      HASHICORP__NOMAD__PLUGINS__BASE__PROTO__SET_CONFIG_REQUEST__INIT;
  uint8_t bad[] = {0x81, 0xae, 'p', 'y', 't', 'h', 'o', 'n', '_', 'r', 'u', 'n', 't', 'i', 'm', 'e', 0x07};
  sreq.msgpack_config.data = bad;
  sreq.msgpack_config.len = sizeof bad;
  char details[512];
  CHECK(call("/hashicorp.nomad.plugins.base.proto.BasePlugin/SetConfig", &sreq.base,
             &hashicorp__nomad__plugins__base__proto__set_config_response__descriptor, &rep,
             details, sizeof details) == GRPC_STATUS_INVALID_ARGUMENT);
  CHECK_STR_CONTAINS(details, "python_runtime");
  free_msg(rep);
  sreq.msgpack_config.len = 0;
  CHECK(call("/hashicorp.nomad.plugins.base.proto.BasePlugin/SetConfig", &sreq.base,
             &hashicorp__nomad__plugins__base__proto__set_config_response__descriptor, &rep, NULL,
             0) == GRPC_STATUS_OK);
  free_msg(rep);

  DP(CapabilitiesRequest) capreq = DP_INIT(CAPABILITIES_REQUEST);
  CHECK(call(DRV "Capabilities", &capreq.base, &DP_DESC(capabilities_response), &rep, NULL, 0) ==
        GRPC_STATUS_OK);
  DP(CapabilitiesResponse) *caps = (void *)rep;
  CHECK(caps && caps->capabilities && caps->capabilities->send_signals && caps->capabilities->exec);
  free_msg(rep);

  DP(TaskConfigSchemaRequest) tsreq = DP_INIT(TASK_CONFIG_SCHEMA_REQUEST);
  CHECK(call(DRV "TaskConfigSchema", &tsreq.base, &DP_DESC(task_config_schema_response), &rep, NULL,
             0) == GRPC_STATUS_OK);
  CHECK(rep && ((DP(TaskConfigSchemaResponse) *)rep)->spec);
  free_msg(rep);

  /* The fingerprint arrives at once and names the python runtime. */
  DP(FingerprintRequest) freq = DP_INIT(FINGERPRINT_REQUEST);
  rpc_stream *fs = rpc_stream_open(plug.client, DRV "Fingerprint", &freq.base, 1, 0);
  ProtobufCMessage *fp = NULL;
  CHECK(rpc_stream_recv(fs, &DP_DESC(fingerprint_response), &fp, 5000) == 1);
  DP(FingerprintResponse) *f = (void *)fp;
  CHECK(f && f->health == HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__FINGERPRINT_RESPONSE__HEALTH_STATE__HEALTHY);
  int saw_version = 0, saw_backends = 0;
  for (size_t i = 0; f && i < f->n_attributes; i++) {
    if (!strcmp(f->attributes[i]->key, "driver.elide.python.version"))
      saw_version = strncmp(f->attributes[i]->value->string_val, "3.", 2) == 0;
    if (!strcmp(f->attributes[i]->key, "driver.elide.backends"))
      saw_backends = strstr(f->attributes[i]->value->string_val, "python") != NULL;
  }
  CHECK(saw_version);
  CHECK(saw_backends);
  free_msg(fp);
  /* The stream stays open: no second message and no end within 300 ms. */
  CHECK(rpc_stream_recv(fs, &DP_DESC(fingerprint_response), &fp, 300) == -2);
  rpc_stream_cancel(fs);
  rpc_status st = {0};
  rpc_stream_finish(fs, &st);
  rpc_status_clear(&st);

  /* ExecTask's argument checks (test_plugin_exec.py covers exec itself). */
  DP(ExecTaskRequest) ereq = DP_INIT(EXEC_TASK_REQUEST);
  ereq.task_id = (char *)"x";
  CHECK(call(DRV "ExecTask", &ereq.base, &DP_DESC(exec_task_response), &rep, details,
             sizeof details) == GRPC_STATUS_INVALID_ARGUMENT);
  CHECK_STR_CONTAINS(details, "command must have at least one value");
  free_msg(rep);
  char *true_argv[] = {(char *)"/bin/true"};
  ereq.command = true_argv;
  ereq.n_command = 1;
  CHECK(call(DRV "ExecTask", &ereq.base, &DP_DESC(exec_task_response), &rep, details,
             sizeof details) == GRPC_STATUS_NOT_FOUND);
  CHECK_STR_CONTAINS(details, "task not found");
  free_msg(rep);
}

/* SetConfig with a plugin config holding one python_runtime value. */
static grpc_status_code set_python_runtime(const char *runtime, char *details, size_t dlen) {
  uint8_t buf[512];
  size_t n = 0;
  const char *key = "python_runtime";
  buf[n++] = 0x81;
  buf[n++] = (uint8_t)(0xa0 | strlen(key));
  memcpy(buf + n, key, strlen(key));
  n += strlen(key);
  buf[n++] = 0xd9;
  buf[n++] = (uint8_t)strlen(runtime);
  memcpy(buf + n, runtime, strlen(runtime));
  n += strlen(runtime);
  Hashicorp__Nomad__Plugins__Base__Proto__SetConfigRequest req =
      HASHICORP__NOMAD__PLUGINS__BASE__PROTO__SET_CONFIG_REQUEST__INIT;
  req.msgpack_config.data = buf;
  req.msgpack_config.len = n;
  ProtobufCMessage *rep;
  grpc_status_code c = call("/hashicorp.nomad.plugins.base.proto.BasePlugin/SetConfig", &req.base,
                            &hashicorp__nomad__plugins__base__proto__set_config_response__descriptor,
                            &rep, details, dlen);
  free_msg(rep);
  return c;
}

/* A runtime that does not exist makes the python backend unavailable, with
 * the reason in the health description; the driver stays healthy only if
 * another backend works. */
static void test_unhealthy_runtime(void) {
  char details[512];
  CHECK(set_python_runtime("/nonexistent/python3", details, sizeof details) == GRPC_STATUS_OK);
  DP(FingerprintRequest) freq = DP_INIT(FINGERPRINT_REQUEST);
  rpc_stream *fs = rpc_stream_open(plug.client, DRV "Fingerprint", &freq.base, 1, 0);
  ProtobufCMessage *fp = NULL;
  CHECK(rpc_stream_recv(fs, &DP_DESC(fingerprint_response), &fp, 5000) == 1);
  DP(FingerprintResponse) *f = (void *)fp;
  CHECK_STR_CONTAINS(f ? f->health_description : NULL, "python: python runtime unusable");
  CHECK_STR_CONTAINS(f ? f->health_description : NULL, "/nonexistent/python3");
  for (size_t i = 0; f && i < f->n_attributes; i++)
    if (!strcmp(f->attributes[i]->key, "driver.elide.backends"))
      CHECK(!strstr(f->attributes[i]->value->string_val, "python"));
  free_msg(fp);
  rpc_stream_cancel(fs);
  rpc_status st = {0};
  rpc_stream_finish(fs, &st);
  rpc_status_clear(&st);
  CHECK(set_python_runtime("/usr/bin/python3", details, sizeof details) == GRPC_STATUS_OK);
  /* A relative runtime path is refused, naming the field. */
  CHECK(set_python_runtime("python3", details, sizeof details) == GRPC_STATUS_INVALID_ARGUMENT);
  CHECK_STR_CONTAINS(details, "field \"python_runtime\"");
}

/* SetConfig with a one-key plugin config whose value is a string. */
static grpc_status_code set_config_key(const char *key, const char *value, char *details,
                                       size_t dlen) {
  uint8_t buf[1024];
  size_t n = 0, kl = strlen(key), vl = strlen(value);
  buf[n++] = 0x81;
  buf[n++] = (uint8_t)(0xa0 | kl);
  memcpy(buf + n, key, kl);
  n += kl;
  buf[n++] = 0xd9;
  buf[n++] = (uint8_t)vl;
  memcpy(buf + n, value, vl);
  n += vl;
  Hashicorp__Nomad__Plugins__Base__Proto__SetConfigRequest req =
      HASHICORP__NOMAD__PLUGINS__BASE__PROTO__SET_CONFIG_REQUEST__INIT;
  req.msgpack_config.data = buf;
  req.msgpack_config.len = n;
  ProtobufCMessage *rep;
  grpc_status_code c = call("/hashicorp.nomad.plugins.base.proto.BasePlugin/SetConfig", &req.base,
                            &hashicorp__nomad__plugins__base__proto__set_config_response__descriptor,
                            &rep, details, dlen);
  free_msg(rep);
  return c;
}

/* The commented production example (examples/driver.ini) is a valid
 * deployment for the modules built here, and INI errors name file:line. */
static void test_ini_deployment(void) {
  char dir[] = "/tmp/elide-ini-XXXXXX", path[128], cmd[1024], details[1024];
  CHECK(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/driver.ini", dir);
  /* The example's module_dir and state_dir name an installed system; point
   * them at this build and a scratch directory. */
  snprintf(cmd, sizeof cmd,
           "sed -e 's|^module_dir = .*|module_dir = %s|' -e 's|^state_dir = .*|state_dir = %s/state|' "
           "'%s' > '%s' && chmod 0600 '%s'",
           MODULE_DIR, dir, EXAMPLE_DRIVER_INI, path, path);
  CHECK(system(cmd) == 0);
  grpc_status_code rc = set_config_key("config_file", path, details, sizeof details);
  CHECK(rc == GRPC_STATUS_OK);
  if (rc != GRPC_STATUS_OK) fprintf(stderr, "examples/driver.ini: %s\n", details);
  DP(FingerprintRequest) freq = DP_INIT(FINGERPRINT_REQUEST);
  rpc_stream *fs = rpc_stream_open(plug.client, DRV "Fingerprint", &freq.base, 1, 0);
  ProtobufCMessage *fp = NULL;
  CHECK(rpc_stream_recv(fs, &DP_DESC(fingerprint_response), &fp, 10000) == 1);
  DP(FingerprintResponse) *f = (void *)fp;
  for (size_t i = 0; f && i < f->n_attributes; i++)
    if (!strcmp(f->attributes[i]->key, "driver.elide.backends"))
      CHECK_STR_CONTAINS(f->attributes[i]->value->string_val, "python");
  free_msg(fp);
  rpc_stream_cancel(fs);
  rpc_status st = {0};
  rpc_stream_finish(fs, &st);
  rpc_status_clear(&st);

  /* A typo in a key: refused with the file and line. */
  snprintf(cmd, sizeof cmd, "printf '[driver]\\nlog_level = info\\n[module.python]\\nruntme = /x\\n' > '%s'",
           path);
  CHECK(system(cmd) == 0);
  CHECK(set_config_key("config_file", path, details, sizeof details) ==
        GRPC_STATUS_INVALID_ARGUMENT);
  char where[160];
  snprintf(where, sizeof where, "%s:4:", path);
  CHECK_STR_CONTAINS(details, where);
  CHECK_STR_CONTAINS(details, "runtme");
  /* A file others may write is refused. */
  snprintf(cmd, sizeof cmd, "printf '[driver]\\n' > '%s' && chmod 0666 '%s'", path, path);
  CHECK(system(cmd) == 0);
  CHECK(set_config_key("config_file", path, details, sizeof details) ==
        GRPC_STATUS_INVALID_ARGUMENT);
  CHECK_STR_CONTAINS(details, "writable by");
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
  /* Back to the defaults for the rest of the tests. */
  CHECK(set_python_runtime("/usr/bin/python3", details, sizeof details) == GRPC_STATUS_OK);
}

/* The job's user is honoured: uid, gid and groups of "nobody". */
static void test_user(void) {
  if (geteuid() != 0) return; /* switching users needs root */
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "asuser") == 0);
  size_t len;
  uint8_t *cfg = task_config_msgpack(
      "python", NULL, "import os; print('ids', os.getuid(), os.getgid(), sorted(os.getgroups()))",
      NULL, &len);
  started_task s;
  char details[1024];
  grpc_status_code rc = start_task(&a, tid("asuser/0009"), "asuser", cfg, len, "nobody", &s,
                                  details, sizeof details);
  CHECK(rc == GRPC_STATUS_OK);
  if (rc != GRPC_STATUS_OK) fprintf(stderr, "StartTask as nobody: %s\n", details);
  free(cfg);
  DP(ExitResult) r;
  CHECK(wait_task(s.id, &r) == 0 && r.exit_code == 0);
  CHECK(fake_alloc_wait_eof(&a, 5000) == 0);
  CHECK_STR_CONTAINS(a.out, "ids 65534 65534 [65534]");
  CHECK(th_destroy(&plug, s.id, 1) == GRPC_STATUS_OK);
  free_msg(s.reply);
  fake_alloc_destroy(&a);
}

/* A script run with args and env; stdout/stderr reach the FIFOs; exit 3. */
static void test_script_task(void) {
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "hello") == 0);
  CHECK(fake_alloc_write(&a, "local/hello.py",
                         "import os, sys\n"
                         "print('args', sys.argv[1:])\n"
                         "print('greeting', os.environ.get('GREETING'))\n"
                         "print('preload', os.environ.get('LD_PRELOAD'))\n"
                         "print('cwd', os.getcwd())\n"
                         "print('to stderr', file=sys.stderr)\n"
                         "sys.exit(3)\n") == 0);
  const char *args[] = {"--day", "2026-11-20", NULL};
  size_t len;
  uint8_t *cfg = task_config_msgpack("python", "local/hello.py", NULL, args, &len);
  started_task s;
  char details[1024];
  CHECK(start_task(&a, tid("hello/0001"), "hello", cfg, len, NULL, &s, details,
                   sizeof details) == GRPC_STATUS_OK);
  free(cfg);
  CHECK(s.handle && s.handle->version == 1 && s.handle->driver_state.len > 0);
  CHECK(s.handle && s.handle->state == HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__TASK_STATE__RUNNING);
  CHECK(s.handle && s.handle->config && !strcmp(s.handle->config->id, s.id));
  DP(ExitResult) r;
  CHECK(wait_task(s.id, &r) == 0);
  CHECK(r.exit_code == 3 && r.signal == 0);
  /* WaitTask after exit returns the stored result at once. */
  DP(ExitResult) r2;
  CHECK(wait_task(s.id, &r2) == 0 && r2.exit_code == 3);
  CHECK(fake_alloc_wait_eof(&a, 5000) == 0);
  char cwd_line[700];
  snprintf(cwd_line, sizeof cwd_line, "cwd %s", a.task_dir);
  CHECK_STR_CONTAINS(a.out, "args ['--day', '2026-11-20']");
  CHECK_STR_CONTAINS(a.out, "greeting hello from the job");
  CHECK_STR_CONTAINS(a.out, "preload None");
  CHECK_STR_CONTAINS(a.out, cwd_line);
  CHECK_STR_CONTAINS(a.err, "to stderr");
  /* A second start of the same id is refused. */
  cfg = task_config_msgpack("python", "local/hello.py", NULL, NULL, &len);
  started_task dup;
  CHECK(start_task(&a, s.id, "hello", cfg, len, NULL, &dup, details, sizeof details) !=
        GRPC_STATUS_OK);
  CHECK_STR_CONTAINS(details, "already started");
  free_msg(dup.reply);
  free(cfg);
  CHECK(th_destroy(&plug, s.id, 1) == GRPC_STATUS_OK);
  CHECK(th_destroy(&plug, s.id, 1) == GRPC_STATUS_OK); /* idempotent */
  free_msg(s.reply);
  fake_alloc_destroy(&a);
}

/* Inline code; several concurrent WaitTask callers all get the result. */
typedef struct waiter {
  const char *id;
  DP(ExitResult) r;
  int rc;
} waiter;
static void *wait_thread(void *arg) {
  waiter *w = arg;
  w->rc = wait_task(w->id, &w->r);
  return NULL;
}

static void test_concurrent_waiters_and_stop(void) {
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "sleeper") == 0);
  size_t len;
  uint8_t *cfg = task_config_msgpack(
      "python", NULL, "import time, sys\nprint('ready', flush=True)\ntime.sleep(600)\n", NULL, &len);
  started_task s;
  char details[1024];
  CHECK(start_task(&a, tid("sleeper/0002"), "sleeper", cfg, len, NULL, &s, details,
                   sizeof details) == GRPC_STATUS_OK);
  free(cfg);
  pid_t pid = handle_pid(s.id);
  CHECK(process_exists(pid));
  waiter w[3];
  pthread_t th[3];
  for (int i = 0; i < 3; i++) {
    w[i] = (waiter){.id = s.id};
    pthread_create(&th[i], NULL, wait_thread, &w[i]);
  }
  CHECK(fake_alloc_wait_output(&a, "ready", 20000));
  /* DestroyTask without force refuses a running task. */
  CHECK(th_destroy(&plug, s.id, 0) == GRPC_STATUS_FAILED_PRECONDITION);
  int64_t t0 = now_ms();
  CHECK(th_stop(&plug, s.id, 5000, "SIGTERM") == GRPC_STATUS_OK);
  int64_t took = now_ms() - t0;
  CHECK(took < 3000); /* python dies on SIGTERM at once */
  for (int i = 0; i < 3; i++) {
    pthread_join(th[i], NULL);
    CHECK(w[i].rc == 0 && w[i].r.signal == 15 && w[i].r.exit_code == 143);
  }
  CHECK(!process_exists(pid));
  CHECK(th_destroy(&plug, s.id, 1) == GRPC_STATUS_OK);
  free_msg(s.reply);
  fake_alloc_destroy(&a);
}

/* A task that ignores the stop signal is killed after the timeout. */
/* Starts task `name` of a new fake alloc: python that ignores SIGINT (the
 * default stop signal) and sleeps; returns once the handler is installed. */
static void start_sigint_ignorer(fake_alloc *a, const char *id, const char *name,
                                 started_task *s) {
  CHECK(fake_alloc_create(a, name) == 0);
  size_t len;
  uint8_t *cfg = task_config_msgpack(
      "python", NULL,
      "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
      "print('ignoring', flush=True)\ntime.sleep(600)\n",
      NULL, &len);
  char details[1024];
  CHECK(start_task(a, id, name, cfg, len, NULL, s, details, sizeof details) == GRPC_STATUS_OK);
  free(cfg);
  CHECK(fake_alloc_wait_output(a, "ignoring", 20000));
}

static void test_stop_escalates(void) {
  fake_alloc a;
  started_task s;
  start_sigint_ignorer(&a, tid("stubborn/0003"), "stubborn", &s);
  int64_t t0 = now_ms();
  CHECK(th_stop(&plug, s.id, 1000, "") == GRPC_STATUS_OK); /* empty signal = SIGINT */
  int64_t took = now_ms() - t0;
  CHECK(took >= 1000 && took < 4000);
  DP(ExitResult) r;
  CHECK(wait_task(s.id, &r) == 0 && r.signal == 9 && r.exit_code == 137);
  CHECK(th_destroy(&plug, s.id, 1) == GRPC_STATUS_OK);
  free_msg(s.reply);
  fake_alloc_destroy(&a);
}

/* A StopTask waiting out its kill timeout holds no other call up: tasks
 * start, run and are destroyed meanwhile, one after the other (so handler
 * threads that wait for work are reused too). */
typedef struct stopper {
  const char *id;
  grpc_status_code rc;
  atomic_int done;
} stopper;
static void *stop_thread(void *arg) {
  stopper *st = arg;
  st->rc = th_stop(&plug, st->id, 4000, "");
  atomic_store(&st->done, 1);
  return NULL;
}

static void test_stop_holds_nothing_up(void) {
  fake_alloc a;
  started_task s;
  start_sigint_ignorer(&a, tid("holdout/0009"), "holdout", &s);
  size_t len;
  uint8_t *cfg;
  char details[1024];
  stopper st = {.id = s.id};
  atomic_init(&st.done, 0);
  pthread_t th;
  CHECK(pthread_create(&th, NULL, stop_thread, &st) == 0);
  usleep(200000); /* the stop waits now */
  for (int i = 0; i < 3; i++) {
    fake_alloc b;
    CHECK(fake_alloc_create(&b, "quick") == 0);
    cfg = task_config_msgpack("python", NULL, "print('quick')\n", NULL, &len);
    started_task q;
    char id[32];
    snprintf(id, sizeof id, "quick/%04d", i);
    CHECK(start_task(&b, tid(id), "quick", cfg, len, NULL, &q, details, sizeof details) ==
          GRPC_STATUS_OK);
    free(cfg);
    DP(ExitResult) r;
    CHECK(wait_task(q.id, &r) == 0 && r.exit_code == 0);
    CHECK(th_destroy(&plug, q.id, 1) == GRPC_STATUS_OK);
    free_msg(q.reply);
    fake_alloc_destroy(&b);
  }
  CHECK(!atomic_load(&st.done)); /* all of the above while the stop waited */
  pthread_join(th, NULL);
  CHECK(st.rc == GRPC_STATUS_OK);
  DP(ExitResult) r;
  CHECK(wait_task(s.id, &r) == 0 && r.signal == 9);
  CHECK(th_destroy(&plug, s.id, 1) == GRPC_STATUS_OK);
  free_msg(s.reply);
  fake_alloc_destroy(&a);
}

/* SignalTask delivers the named signal; unknown names are an error. */
static void test_signal(void) {
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "trap") == 0);
  size_t len;
  uint8_t *cfg = task_config_msgpack(
      "python", NULL,
      "import signal, sys, time\n"
      "def h(s, f):\n    print('got', s, flush=True)\n    sys.exit(7)\n"
      "signal.signal(signal.SIGUSR1, h)\nprint('ready', flush=True)\ntime.sleep(600)\n",
      NULL, &len);
  started_task s;
  char details[1024];
  CHECK(start_task(&a, tid("trap/0004"), "trap", cfg, len, NULL, &s, details,
                   sizeof details) == GRPC_STATUS_OK);
  free(cfg);
  CHECK(fake_alloc_wait_output(&a, "ready", 20000)); /* the handler is installed */
  DP(SignalTaskRequest) req = DP_INIT(SIGNAL_TASK_REQUEST);
  req.task_id = s.id;
  req.signal = (char *)"FOO";
  ProtobufCMessage *rep;
  CHECK(call(DRV "SignalTask", &req.base, &DP_DESC(signal_task_response), &rep, details,
             sizeof details) == GRPC_STATUS_INVALID_ARGUMENT);
  CHECK_STR_CONTAINS(details, "FOO");
  free_msg(rep);
  req.signal = (char *)"sigusr1";
  CHECK(call(DRV "SignalTask", &req.base, &DP_DESC(signal_task_response), &rep, NULL, 0) ==
        GRPC_STATUS_OK);
  free_msg(rep);
  DP(ExitResult) r;
  CHECK(wait_task(s.id, &r) == 0 && r.exit_code == 7);
  CHECK(fake_alloc_wait_eof(&a, 5000) == 0);
  CHECK_STR_CONTAINS(a.out, "got 10");
  CHECK(th_destroy(&plug, s.id, 1) == GRPC_STATUS_OK);
  free_msg(s.reply);
  fake_alloc_destroy(&a);
}

/* TaskStats: the first sample at once, fully populated, with real memory. */
static void test_stats(void) {
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "stats") == 0);
  size_t len;
  uint8_t *cfg = task_config_msgpack("python", NULL,
                                     "import time\nx = bytearray(32 << 20)\nprint('allocated', flush=True)\ntime.sleep(600)\n",
                                     NULL, &len);
  started_task s;
  char details[1024];
  CHECK(start_task(&a, tid("stats/0005"), "stats", cfg, len, NULL, &s, details,
                   sizeof details) == GRPC_STATUS_OK);
  free(cfg);
  CHECK(fake_alloc_wait_output(&a, "allocated", 20000));
  DP(TaskStatsRequest) req = DP_INIT(TASK_STATS_REQUEST);
  Google__Protobuf__Duration iv = GOOGLE__PROTOBUF__DURATION__INIT;
  iv.nanos = 200000000;
  req.task_id = s.id;
  req.collection_interval = &iv;
  rpc_stream *st = rpc_stream_open(plug.client, DRV "TaskStats", &req.base, 1, 0);
  ProtobufCMessage *m = NULL;
  CHECK(rpc_stream_recv(st, &DP_DESC(task_stats_response), &m, 2000) == 1);
  DP(TaskStatsResponse) *sr = (void *)m;
  CHECK(sr && sr->stats && sr->stats->timestamp && sr->stats->agg_resource_usage &&
        sr->stats->agg_resource_usage->memory && sr->stats->agg_resource_usage->cpu);
  if (sr && sr->stats && sr->stats->agg_resource_usage && sr->stats->agg_resource_usage->memory)
    CHECK(sr->stats->agg_resource_usage->memory->rss > (30u << 20));
  free_msg(m);
  CHECK(rpc_stream_recv(st, &DP_DESC(task_stats_response), &m, 2000) == 1);
  free_msg(m);
  rpc_stream_cancel(st);
  rpc_status sts = {0};
  rpc_stream_finish(st, &sts);
  rpc_status_clear(&sts);
  CHECK(th_stop(&plug, s.id, 1000, "SIGKILL") == GRPC_STATUS_OK);
  CHECK(th_destroy(&plug, s.id, 1) == GRPC_STATUS_OK);
  free_msg(s.reply);
  fake_alloc_destroy(&a);
}

/* Bad task configs fail StartTask with the field named. */
static void expect_start_error(const char *what, uint8_t *cfg, size_t len, const char *needle) {
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "bad") == 0);
  char link[700];
  snprintf(link, sizeof link, "%s/local/escape.py", a.task_dir);
  CHECK(symlink("/etc/hostname", link) == 0);
  started_task s;
  char details[1024] = "";
  grpc_status_code code =
      start_task(&a, tid("bad/0006"), "bad", cfg, len, NULL, &s, details, sizeof details);
  CHECK(code != GRPC_STATUS_OK);
  if (code == GRPC_STATUS_OK || !strstr(details, needle))
    fprintf(stderr, "case %s: status %d details \"%s\"\n", what, code, details);
  CHECK_STR_CONTAINS(details, needle);
  free_msg(s.reply);
  free(cfg);
  fake_alloc_destroy(&a);
}

static void test_bad_configs(void) {
  size_t len;
  uint8_t *cfg;
  cfg = task_config_msgpack("python", "local/x.py", "print(1)", NULL, &len);
  expect_start_error("both", cfg, len, "exactly one of fields \"script\" and \"code\"");
  cfg = task_config_msgpack("python", NULL, NULL, NULL, &len);
  expect_start_error("neither", cfg, len, "exactly one of fields \"script\" and \"code\"");
  cfg = task_config_msgpack("ruby", NULL, "puts 1", NULL, &len);
  expect_start_error("language", cfg, len, "field \"language\": unknown language \"ruby\"");
  cfg = task_config_msgpack("python", "local/missing.py", NULL, NULL, &len);
  expect_start_error("missing", cfg, len, "field \"script\": local/missing.py");
  cfg = task_config_msgpack("python", "local/escape.py", NULL, NULL, &len);
  expect_start_error("escape", cfg, len, "outside the task directory");
  cfg = task_config_msgpack("python", "../../../etc/hostname", NULL, NULL, &len);
  expect_start_error("dotdot", cfg, len, "outside the task directory");
  /* args as a map instead of a list */
  uint8_t wrong[] = {0x84, 0xa4, 'a', 'r', 'g', 's', 0x81, 0xa1, 'k', 0xa1, 'v', 0xa4, 'c', 'o',
                     'd', 'e', 0xa1, '1', 0xa8, 'l', 'a', 'n', 'g', 'u', 'a', 'g', 'e', 0xa6, 'p',
                     'y', 't', 'h', 'o', 'n', 0xa6, 's', 'c', 'r', 'i', 'p', 't', 0xc0};
  cfg = malloc(sizeof wrong);
  memcpy(cfg, wrong, sizeof wrong);
  expect_start_error("types", cfg, sizeof wrong, "field \"args\"");
  /* truncated msgpack */
  cfg = malloc(5);
  memcpy(cfg, wrong, 5);
  expect_start_error("truncated", cfg, 5, "task config");
  cfg = task_config_msgpack("python", NULL, "print(1)", NULL, &len);
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "user") == 0);
  started_task s;
  char details[1024];
  CHECK(start_task(&a, tid("user/0007"), "user", cfg, len, "no-such-user-elide", &s, details,
                   sizeof details) != GRPC_STATUS_OK);
  CHECK_STR_CONTAINS(details, "no-such-user-elide");
  free_msg(s.reply);
  free(cfg);
  fake_alloc_destroy(&a);
}

/* The plugin is SIGKILLed while a task runs; a new plugin process recovers
 * it from the handle and reports the real exit code. */
static void test_recover_after_plugin_kill(void) {
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "survivor") == 0);
  size_t len;
  uint8_t *cfg = task_config_msgpack(
      "python", NULL,
      "import time, sys\nprint('before', flush=True)\ntime.sleep(2)\nprint('after', flush=True)\n"
      "sys.exit(5)\n",
      NULL, &len);
  started_task s;
  char details[1024];
  CHECK(start_task(&a, tid("survivor/0008"), "survivor", cfg, len, NULL, &s, details,
                   sizeof details) == GRPC_STATUS_OK);
  free(cfg);
  pid_t pid = handle_pid(s.id);
  CHECK(plugin_stop(&plug, 1, 5000) != -1);
  CHECK(process_exists(pid));
  CHECK(plugin_start(&plug, NULL) == 0);
  grpc_status_code rc = th_recover(&plug, s.handle, details, sizeof details);
  CHECK(rc == GRPC_STATUS_OK);
  if (rc != GRPC_STATUS_OK) fprintf(stderr, "RecoverTask: %d %s\n", rc, details);
  /* Recovering a task already tracked is a no-op. */
  CHECK(th_recover(&plug, s.handle, NULL, 0) == GRPC_STATUS_OK);
  DP(ExitResult) r;
  CHECK(wait_task(s.id, &r) == 0 && r.exit_code == 5);
  CHECK(fake_alloc_wait_eof(&a, 5000) == 0);
  CHECK_STR_CONTAINS(a.out, "before\nafter\n");
  CHECK(th_destroy(&plug, s.id, 1) == GRPC_STATUS_OK);
  free_msg(s.reply);
  fake_alloc_destroy(&a);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  grpc_init();
  test_no_cookie();
  CHECK(plugin_start(&plug, NULL) == 0);
  test_base_services();
  test_unhealthy_runtime();
  test_ini_deployment();
  test_script_task();
  test_user();
  test_concurrent_waiters_and_stop();
  test_stop_escalates();
  test_stop_holds_nothing_up();
  test_signal();
  test_stats();
  test_bad_configs();
  test_recover_after_plugin_kill();
  /* GRPCController/Shutdown: a clean exit well within go-plugin's 2 s (a
   * wrapper such as valgrind gets longer, and its exit status reports leaks
   * and memory errors). */
  int wrapped = getenv("ELIDE_PLUGIN_WRAPPER") && getenv("ELIDE_PLUGIN_WRAPPER")[0];
  int64_t t0 = now_ms();
  int status = plugin_stop(&plug, 0, wrapped ? 60000 : 2000);
  CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) != 0)
    fprintf(stderr, "plugin exit status %d\n", WEXITSTATUS(status));
  if (!wrapped) CHECK(now_ms() - t0 < 2000);
  grpc_shutdown_blocking();
  return CHECK_DONE();
}
