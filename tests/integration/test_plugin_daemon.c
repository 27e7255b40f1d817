/* Integration test of daemon mode: nomad-driver-elide started as Nomad
 * does, configured with backends in `mode = daemon`, against a real
 * elide-execd (execd_harness) over its unix socket. */
#include "../check.h"
#include "execd_harness.h"
#include "plugin_harness.h"

#include "google/protobuf/duration.pb-c.h"
#include "nomad/base.pb-c.h"
#include "nomad/driver.pb-c.h"

#include <grpc/grpc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
static char tmp[] = "/tmp/elide-pdaemon-XXXXXX";

/* Packs NULL-terminated key/value pairs as a msgpack map of str8 -> str8
 * (up to 15 pairs, strings up to 255 bytes, as the tests use); returns the
 * length. Plugin configs and task configs are both such maps. */
static size_t pack_str_map(const char *const *kv, uint8_t *buf, size_t cap) {
  size_t n = 0, count = 0;
  while (kv[2 * count]) count++;
  CHECK(count <= 15);
  buf[n++] = (uint8_t)(0x80 | count);
  for (size_t i = 0; i < 2 * count; i++) {
    size_t l = strlen(kv[i]);
    CHECK(l <= 255 && n + 2 + l <= cap);
    buf[n++] = 0xd9;
    buf[n++] = (uint8_t)l;
    memcpy(buf + n, kv[i], l);
    n += l;
  }
  return n;
}

/* SetConfig with string keys. */
static grpc_status_code set_config(const char *const *kv, char *details, size_t dlen) {
  uint8_t buf[4096];
  size_t n = pack_str_map(kv, buf, sizeof buf);
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

/* Writes <tmp>/driver.ini (0600) and returns its path. */
static const char *write_ini(const char *content) {
  static char path[256];
  snprintf(path, sizeof path, "%s/driver.ini", tmp);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f) {
    fprintf(f, "[driver]\nmodule_dir = %s\nstate_dir = %s/state\n%s", MODULE_DIR_FOR_TESTS, tmp,
            content);
    fclose(f);
  }
  chmod(path, 0600);
  return path;
}

/* The first fingerprint of a new stream (caller frees). */
static DP(FingerprintResponse) * fingerprint(void) {
  DP(FingerprintRequest) freq = DP_INIT(FINGERPRINT_REQUEST);
  rpc_stream *fs = rpc_stream_open(plug.client, DRV "Fingerprint", &freq.base, 1, 0);
  ProtobufCMessage *fp = NULL;
  CHECK(rpc_stream_recv(fs, &DP_DESC(fingerprint_response), &fp, 10000) == 1);
  rpc_stream_cancel(fs);
  rpc_status st = {0};
  rpc_stream_finish(fs, &st);
  rpc_status_clear(&st);
  return (void *)fp;
}

static const char *fp_attr(const DP(FingerprintResponse) * f, const char *key) {
  for (size_t i = 0; f && i < f->n_attributes; i++)
    if (!strcmp(f->attributes[i]->key, key)) return f->attributes[i]->value->string_val;
  return NULL;
}

typedef struct started {
  char id[128];
  DP(TaskHandle) *handle; /* owned by reply */
  ProtobufCMessage *reply;
} started;

/* Nomad's `memory` (MiB) for the next start_task calls; 0 = no resources. */
static int64_t start_memory_mb;

static grpc_status_code start_task(fake_alloc *a, const char *id, const char *name, uint8_t *cfg,
                                   size_t cfg_len, started *out, char *details, size_t dlen,
                                   int *recoverable) {
  DP(StartTaskRequest) req = DP_INIT(START_TASK_REQUEST);
  DP(TaskConfig) tc = DP_INIT(TASK_CONFIG);
  DP(Resources) res = DP_INIT(RESOURCES);
  DP(AllocatedTaskResources) ar = DP_INIT(ALLOCATED_TASK_RESOURCES);
  DP(AllocatedMemoryResources) mem = DP_INIT(ALLOCATED_MEMORY_RESOURCES);
  if (start_memory_mb > 0) {
    mem.memory_mb = start_memory_mb;
    ar.memory = &mem;
    res.allocated_resources = &ar;
    tc.resources = &res;
  }
  DP(TaskConfig__EnvEntry) e1 = DP_INIT(TASK_CONFIG__ENV_ENTRY), e2 = e1;
  DP(TaskConfig__EnvEntry) *env[] = {&e1, &e2};
  e1.key = (char *)"GREETING";
  e1.value = (char *)"hello from the job";
  e2.key = (char *)"PATH";
  e2.value = (char *)"/usr/bin:/bin";
  tc.id = (char *)id;
  tc.name = (char *)name;
  tc.alloc_id = (char *)"alloc-0000";
  tc.alloc_dir = a->root;
  tc.stdout_path = a->stdout_fifo;
  tc.stderr_path = a->stderr_fifo;
  tc.user = (char *)"";
  tc.msgpack_driver_config.data = cfg;
  tc.msgpack_driver_config.len = cfg_len;
  tc.n_env = 2;
  tc.env = env;
  req.task = &tc;
  memset(out, 0, sizeof *out);
  snprintf(out->id, sizeof out->id, "%s", id);
  rpc_status st = {0};
  if (rpc_unary(plug.client, DRV "StartTask", &req.base, &DP_DESC(start_task_response),
                &out->reply, 30000, &st) != 0)
    st.code = GRPC_STATUS_UNKNOWN;
  snprintf(details, dlen, "%s", st.details ? st.details : "");
  /* RecoverableError{recoverable: true} packs as 08 01 inside the Any. */
  if (recoverable) {
    static const char url[] = "RecoverableError";
    *recoverable = 0;
    for (size_t i = 0; st.status_details_bin && i + sizeof url - 1 + 4 <= st.status_details_len; i++)
      if (!memcmp(st.status_details_bin + i, url, sizeof url - 1)) {
        const unsigned char *v = st.status_details_bin + i + sizeof url - 1;
        *recoverable = v[0] == 0x12 && v[1] == 2 && v[2] == 0x08 && v[3] == 1;
      }
  }
  grpc_status_code code = st.code;
  rpc_status_clear(&st);
  if (code == GRPC_STATUS_OK) out->handle = ((DP(StartTaskResponse) *)out->reply)->handle;
  return code;
}

static grpc_status_code simple(const char *method, const char *id, const char *sig, int ms) {
  ProtobufCMessage *rep = NULL;
  grpc_status_code c;
  if (!strcmp(method, "StopTask")) {
    DP(StopTaskRequest) req = DP_INIT(STOP_TASK_REQUEST);
    Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
    d.seconds = ms / 1000;
    d.nanos = (ms % 1000) * 1000000;
    req.task_id = (char *)id;
    req.timeout = &d;
    req.signal = (char *)sig;
    c = call(DRV "StopTask", &req.base, &DP_DESC(stop_task_response), &rep, NULL, 0);
  } else if (!strcmp(method, "SignalTask")) {
    DP(SignalTaskRequest) req = DP_INIT(SIGNAL_TASK_REQUEST);
    req.task_id = (char *)id;
    req.signal = (char *)sig;
    c = call(DRV "SignalTask", &req.base, &DP_DESC(signal_task_response), &rep, NULL, 0);
  } else {
    DP(DestroyTaskRequest) req = DP_INIT(DESTROY_TASK_REQUEST);
    req.task_id = (char *)id;
    req.force = 1;
    c = call(DRV "DestroyTask", &req.base, &DP_DESC(destroy_task_response), &rep, NULL, 0);
  }
  free_msg(rep);
  return c;
}

/* Configures the plugin with python in daemon mode at `endpoint`. */
static void daemon_mode(const char *endpoint) {
  char details[1024];
  const char *kv[] = {"config_file", write_ini("[module.python]\nmode = daemon\n"),
                      "daemon_endpoint", endpoint, NULL};
  CHECK(set_config(kv, details, sizeof details) == GRPC_STATUS_OK);
}

/* StartTask in the daemon, output byte-exact in the FIFOs, WaitTask's exit
 * code; the execution id is Nomad's task id. */
static void test_run_in_daemon(execd_proc *d) {
  daemon_mode(d->address);
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "web") == 0);
  size_t len;
  uint8_t *cfg = task_config_msgpack(
      "python", NULL,
      "import os, sys\nfor i in range(2000): print('line', i, os.environ['GREETING'])\n"
      "sys.stderr.write('to stderr\\n')\nsys.exit(3)\n",
      NULL, &len);
  started s;
  char details[1024];
  grpc_status_code rc = start_task(&a, tid("web/0001"), "web", cfg, len, &s, details,
                                   sizeof details, NULL);
  free(cfg);
  CHECK(rc == GRPC_STATUS_OK);
  if (rc != GRPC_STATUS_OK) fprintf(stderr, "StartTask: %s\n", details);
  DP(ExitResult) r;
  CHECK(wait_task(s.id, &r) == 0 && r.exit_code == 3 && r.signal == 0);
  CHECK(fake_alloc_wait_eof(&a, 10000) == 0);
  size_t cap = 2000 * 40, n = 0;
  char *want = malloc(cap);
  for (int i = 0; i < 2000; i++)
    n += (size_t)snprintf(want + n, cap - n, "line %d hello from the job\n", i);
  CHECK(a.out_len == n && a.out && memcmp(a.out, want, n) == 0);
  CHECK(a.err && !strcmp(a.err, "to stderr\n"));
  free(want);
  /* The daemon knows the execution by Nomad's task id. */
  EP(WaitExecutionResponse) *w = api_wait(d, s.id, 1000);
  CHECK(w && w->complete && w->result && w->result->exit_code == 3);
  if (w) protobuf_c_message_free_unpacked(&w->base, NULL);
  CHECK(simple("DestroyTask", s.id, NULL, 0) == GRPC_STATUS_OK);
  free_msg(s.reply);
  fake_alloc_destroy(&a);
}

/* The `timeout` task option in daemon mode: passed to the daemon, which
 * sends timeout_signal, then SIGKILL after timeout_grace, and reports
 * REASON_TIMEOUT. */
static void test_timeout_in_daemon(execd_proc *d) {
  daemon_mode(d->address);
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "slow") == 0);
  /* {code, language, timeout, timeout_grace, timeout_signal} as cty msgpack */
  static const char *const kv[] = {
      "code", "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
              "print('up', flush=True)\ntime.sleep(60)\n",
      "language", "python", "timeout", "800ms", "timeout_grace", "400ms",
      "timeout_signal", "SIGTERM", NULL};
  uint8_t cfg[512];
  size_t len = pack_str_map(kv, cfg, sizeof cfg);
  started s;
  char details[1024];
  int64_t t0 = now_ms();
  CHECK(start_task(&a, tid("slow/0004"), "slow", cfg, len, &s, details, sizeof details, NULL) ==
        GRPC_STATUS_OK);
  DP(ExitResult) r;
  CHECK(wait_task(s.id, &r) == 0 && r.exit_code == 137 && r.signal == SIGKILL);
  int64_t took = now_ms() - t0;
  CHECK(took >= 1100 && took < 10000);
  EP(WaitExecutionResponse) *w = api_wait(d, s.id, 1000);
  CHECK(w && w->complete && w->result &&
        w->result->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_TIMEOUT));
  if (w) protobuf_c_message_free_unpacked(&w->base, NULL);
  CHECK(simple("DestroyTask", s.id, NULL, 0) == GRPC_STATUS_OK);
  free_msg(s.reply);
  fake_alloc_destroy(&a);
}

/* Nomad's memory resource reaches the daemon as a hard limit, which it
 * enforces in a cgroup of its own; going past it is reported as an OOM
 * kill (ExitResult.oom_killed, REASON_OOM). */
static void test_memory_limit_in_daemon(execd_proc *d) {
  daemon_mode(d->address);
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "hog") == 0);
  static const char *const kv[] = {
      "code", "import sys\n"
              "print(open('/proc/self/cgroup').read(), flush=True)\n"
              "hog = [bytearray(16 << 20) for _ in range(40)]\n"
              "print('survived', flush=True)\n",
      "language", "python", NULL};
  uint8_t cfg[512];
  size_t len = pack_str_map(kv, cfg, sizeof cfg);
  started s;
  char details[1024];
  start_memory_mb = 48;
  CHECK(start_task(&a, tid("hog/0005"), "hog", cfg, len, &s, details, sizeof details, NULL) ==
        GRPC_STATUS_OK);
  start_memory_mb = 0;
  DP(ExitResult) r;
  CHECK(wait_task(s.id, &r) == 0 && r.oom_killed && r.exit_code == 137 && r.signal == SIGKILL);
  EP(WaitExecutionResponse) *w = api_wait(d, s.id, 1000);
  CHECK(w && w->complete && w->result &&
        w->result->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_OOM));
  if (w) protobuf_c_message_free_unpacked(&w->base, NULL);
  CHECK(simple("DestroyTask", s.id, NULL, 0) == GRPC_STATUS_OK);
  free_msg(s.reply);
  fake_alloc_destroy(&a);
}

/* What check_exec expects of an ExecTask. */
typedef enum { EXEC_RUNS, EXEC_TASK_EXITED, EXEC_DAEMON_DOWN } exec_outcome;

/* ExecTask into a task in the daemon: the daemon runs the command in the
 * execution's context (ExecInExecution); or the refusal once the task
 * ended, or while its daemon is down (unreachable). test_plugin_exec.py
 * covers exec in daemon mode in depth. */
static void check_exec(const char *id, exec_outcome expect) {
  DP(ExecTaskRequest) req = DP_INIT(EXEC_TASK_REQUEST);
  char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)"echo out; echo err >&2; exit 4"};
  req.task_id = (char *)id;
  req.command = argv;
  req.n_command = 3;
  ProtobufCMessage *rep = NULL;
  char details[1024] = "";
  grpc_status_code c = call(DRV "ExecTask", &req.base, &DP_DESC(exec_task_response), &rep, details,
                            sizeof details);
  if (expect == EXEC_TASK_EXITED) {
    CHECK(c == GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_STR_CONTAINS(details, "the task has exited");
  } else if (expect == EXEC_DAEMON_DOWN) {
    CHECK(c == GRPC_STATUS_UNAVAILABLE);
    CHECK_STR_CONTAINS(details, "unreachable");
  } else {
    DP(ExecTaskResponse) *r = (void *)rep;
    CHECK(c == GRPC_STATUS_OK && r && r->result && r->result->exit_code == 4);
    if (c != GRPC_STATUS_OK) fprintf(stderr, "ExecTask: %d %s\n", (int)c, details);
    CHECK(r && r->stdout.len == 8 &&
          (!memcmp(r->stdout.data, "out\nerr\n", 8) || !memcmp(r->stdout.data, "err\nout\n", 8)));
    CHECK(r && r->stderr.len == 4 && !memcmp(r->stderr.data, "err\n", 4));
  }
  free_msg(rep);
}

/* SignalTask reaches the execution; StopTask cancels it with the signal. */
static void test_signal_and_stop(execd_proc *d) {
  daemon_mode(d->address);
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "sig") == 0);
  size_t len;
  uint8_t *cfg = task_config_msgpack(
      "python", NULL,
      "import signal, time, sys\n"
      "signal.signal(signal.SIGUSR1, lambda *a: print('got usr1', flush=True))\n"
      "print('ready', flush=True)\n"
      "while True: time.sleep(0.05)\n",
      NULL, &len);
  started s;
  char details[1024];
  CHECK(start_task(&a, tid("sig/0002"), "sig", cfg, len, &s, details, sizeof details, NULL) ==
        GRPC_STATUS_OK);
  free(cfg);
  CHECK(fake_alloc_wait_output(&a, "ready\n", 10000) == 1);
  check_exec(s.id, EXEC_RUNS);
  CHECK(simple("SignalTask", s.id, "SIGUSR1", 0) == GRPC_STATUS_OK);
  CHECK(fake_alloc_wait_output(&a, "got usr1\n", 10000) == 1);
  CHECK(simple("StopTask", s.id, "SIGTERM", 2000) == GRPC_STATUS_OK);
  DP(ExitResult) r;
  CHECK(wait_task(s.id, &r) == 0 && r.signal == SIGTERM);
  check_exec(s.id, EXEC_TASK_EXITED);
  CHECK(simple("SignalTask", s.id, "SIGUSR1", 0) == GRPC_STATUS_FAILED_PRECONDITION);
  CHECK(simple("DestroyTask", s.id, NULL, 0) == GRPC_STATUS_OK);
  free_msg(s.reply);
  fake_alloc_destroy(&a);
}

/* A kill -9 of the daemon and a restart, as systemd would do it: the task
 * goes on in its monitor, and an ExecTask right after the new daemon
 * answers runs in it. An exec tried while the daemon was down left the
 * plugin's channel waiting out a reconnect back-off, during which calls
 * fail at once: the exec must wait for the channel instead (in Nomad, the
 * failed `nomad alloc exec` printed only "unexpected EOF"). */
static void test_exec_after_daemon_kill(execd_proc *d) {
  daemon_mode(d->address);
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "execkill") == 0);
  size_t len;
  uint8_t *cfg = task_config_msgpack(
      "python", NULL, "import time\nprint('ready', flush=True)\nwhile True: time.sleep(0.05)\n",
      NULL, &len);
  started s;
  char details[1024];
  grpc_status_code rc = start_task(&a, tid("execkill/0006"), "execkill", cfg, len, &s, details,
                                   sizeof details, NULL);
  free(cfg);
  CHECK(rc == GRPC_STATUS_OK);
  if (rc == GRPC_STATUS_OK && fake_alloc_wait_output(&a, "ready\n", 10000) == 1) {
    check_exec(s.id, EXEC_RUNS);
    for (int round = 0; round < 2; round++) {
      int status = execd_stop(d, SIGKILL, 5000);
      CHECK(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
      check_exec(s.id, EXEC_DAEMON_DOWN);
      CHECK(execd_launch(d) == 0);
      check_exec(s.id, EXEC_RUNS);
    }
    CHECK(simple("StopTask", s.id, "SIGTERM", 2000) == GRPC_STATUS_OK);
    DP(ExitResult) r;
    CHECK(wait_task(s.id, &r) == 0 && r.signal == SIGTERM);
    CHECK(simple("DestroyTask", s.id, NULL, 0) == GRPC_STATUS_OK);
  } else if (rc != GRPC_STATUS_OK) {
    fprintf(stderr, "StartTask: %s\n", details);
  }
  free_msg(s.reply);
  fake_alloc_destroy(&a);
}

static grpc_status_code recover_task(const started *s) {
  DP(RecoverTaskRequest) req = DP_INIT(RECOVER_TASK_REQUEST);
  req.task_id = (char *)s->id;
  req.handle = s->handle;
  ProtobufCMessage *rep;
  char details[1024];
  grpc_status_code c = call(DRV "RecoverTask", &req.base, &DP_DESC(recover_task_response), &rep,
                            details, sizeof details);
  if (c != GRPC_STATUS_OK) fprintf(stderr, "RecoverTask: %s\n", details);
  free_msg(rep);
  return c;
}

/* A kill -9 of the plugin mid-stream: the relay keeps the FIFOs open (the
 * reader sees no EOF), a new plugin process recovers the task from its
 * handle and the output goes on from the relay's offsets: the reader gets
 * every line exactly once, then the exit code. */
static void test_plugin_killed_mid_stream(execd_proc *d) {
  daemon_mode(d->address);
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "killed") == 0);
  size_t len;
  uint8_t *cfg = task_config_msgpack(
      "python", NULL,
      "import sys, time\n"
      "for i in range(400):\n"
      "  print('line %04d' % i, flush=True)\n"
      "  if i % 50 == 0: sys.stderr.write('err %d\\n' % i); sys.stderr.flush()\n"
      "  time.sleep(0.008)\n"
      "sys.exit(7)\n",
      NULL, &len);
  started s;
  char details[1024];
  grpc_status_code rc = start_task(&a, tid("killed/0004"), "killed", cfg, len, &s, details,
                                   sizeof details, NULL);
  free(cfg);
  CHECK(rc == GRPC_STATUS_OK);
  if (rc != GRPC_STATUS_OK) {
    fprintf(stderr, "StartTask: %s\n", details);
    fake_alloc_destroy(&a);
    return;
  }
  CHECK(fake_alloc_wait_output(&a, "line 0100\n", 10000) == 1);
  int status = plugin_stop(&plug, 1, 5000);
  CHECK(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  usleep(300000); /* the task goes on printing with nobody relaying */
  CHECK(fake_alloc_wait_eof(&a, 200) != 0); /* the relay still holds the FIFOs */
  CHECK(plugin_start(&plug, NULL) == 0);
  daemon_mode(d->address);
  CHECK(recover_task(&s) == GRPC_STATUS_OK);
  DP(ExitResult) r;
  CHECK(wait_task(s.id, &r) == 0 && r.exit_code == 7 && r.signal == 0);
  CHECK(fake_alloc_wait_eof(&a, 10000) == 0);
  size_t cap = 400 * 16, n = 0;
  char *want = malloc(cap);
  for (int i = 0; i < 400; i++) n += (size_t)snprintf(want + n, cap - n, "line %04d\n", i);
  pthread_mutex_lock(&a.mu);
  CHECK(a.out_len == n && a.out && memcmp(a.out, want, n) == 0);
  if (a.out_len != n) fprintf(stderr, "stdout: %zu bytes, want %zu\n", a.out_len, n);
  char want_err[200] = "";
  for (int i = 0; i < 400; i += 50)
    snprintf(want_err + strlen(want_err), sizeof want_err - strlen(want_err), "err %d\n", i);
  CHECK(a.err && !strcmp(a.err, want_err));
  pthread_mutex_unlock(&a.mu);
  free(want);
  CHECK(simple("DestroyTask", s.id, NULL, 0) == GRPC_STATUS_OK);
  free_msg(s.reply);
  fake_alloc_destroy(&a);
}

/* An unreachable daemon: StartTask fails with a recoverable error. */
static void test_unreachable_start(void) {
  char ep[300];
  snprintf(ep, sizeof ep, "unix:%s/no-daemon.sock", tmp);
  daemon_mode(ep);
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "nodaemon") == 0);
  size_t len;
  uint8_t *cfg = task_config_msgpack("python", NULL, "print(1)\n", NULL, &len);
  started s;
  char details[1024];
  int recoverable = 0;
  CHECK(start_task(&a, tid("nodaemon/0003"), "nodaemon", cfg, len, &s, details, sizeof details,
                   &recoverable) == GRPC_STATUS_UNAVAILABLE);
  free(cfg);
  CHECK_STR_CONTAINS(details, "unreachable");
  CHECK(recoverable == 1);
  free_msg(s.reply);
  fake_alloc_destroy(&a);
}

/* mode = daemon needs an endpoint; bad modes and endpoints are refused
 * with the file:line or the plugin block's field. */
static void test_config(void) {
  char details[1024], where[320];
  const char *ini = write_ini("[module.python]\nmode = daemon\n");
  const char *kv1[] = {"config_file", ini, NULL};
  CHECK(set_config(kv1, details, sizeof details) == GRPC_STATUS_INVALID_ARGUMENT);
  snprintf(where, sizeof where, "%s:5: [module.python]: mode", ini);
  CHECK_STR_CONTAINS(details, where);
  CHECK_STR_CONTAINS(details, "endpoint");
  CHECK_STR_CONTAINS(details, "daemon_endpoint");

  ini = write_ini("[module.python]\nmode = remote\n");
  CHECK(set_config(kv1, details, sizeof details) == GRPC_STATUS_INVALID_ARGUMENT);
  CHECK_STR_CONTAINS(details, "\"remote\" is not a mode");

  ini = write_ini("[daemon]\nendpoint = nowhere\n[module.python]\nmode = daemon\n");
  CHECK(set_config(kv1, details, sizeof details) == GRPC_STATUS_INVALID_ARGUMENT);
  snprintf(where, sizeof where, "%s:5: [daemon]: endpoint", ini);
  CHECK_STR_CONTAINS(details, where);

  const char *kv2[] = {"daemon_endpoint", "relative/sock", NULL};
  CHECK(set_config(kv2, details, sizeof details) == GRPC_STATUS_INVALID_ARGUMENT);
  CHECK_STR_CONTAINS(details, "field \"daemon_endpoint\"");
}

/* An unreachable daemon makes its modules unhealthy with the reason. */
static void test_unreachable_fingerprint(void) {
  char details[1024], ep[300];
  snprintf(ep, sizeof ep, "unix:%s/no-daemon.sock", tmp);
  const char *ini = write_ini("[module.python]\nmode = daemon\n");
  const char *kv[] = {"config_file", ini, "daemon_endpoint", ep, NULL};
  CHECK(set_config(kv, details, sizeof details) == GRPC_STATUS_OK);
  if (details[0]) fprintf(stderr, "SetConfig: %s\n", details);
  DP(FingerprintResponse) *f = fingerprint();
  char want[400];
  snprintf(want, sizeof want, "python: daemon at %s unreachable", ep);
  CHECK_STR_CONTAINS(f ? f->health_description : NULL, want);
  const char *backends = fp_attr(f, "driver.elide.backends");
  CHECK(backends && !strstr(backends, "python"));
  free_msg((void *)f);
}

/* A running daemon: the module is healthy with the daemon's attributes. */
static void test_healthy_fingerprint(execd_proc *d) {
  char details[1024], body[512];
  snprintf(body, sizeof body, "[daemon]\nendpoint = %s\n[module.python]\nmode = daemon\n",
           d->address);
  const char *kv[] = {"config_file", write_ini(body), NULL};
  CHECK(set_config(kv, details, sizeof details) == GRPC_STATUS_OK);
  if (details[0]) fprintf(stderr, "SetConfig: %s\n", details);
  DP(FingerprintResponse) *f = fingerprint();
  const char *backends = fp_attr(f, "driver.elide.backends");
  CHECK(backends && strstr(backends, "python"));
  const char *mode = fp_attr(f, "driver.elide.python.mode");
  CHECK(mode && !strcmp(mode, "daemon"));
  if (f && !(backends && strstr(backends, "python")))
    fprintf(stderr, "fingerprint: %s\n", f->health_description);
  free_msg((void *)f);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  grpc_init();
  CHECK(mkdtemp(tmp) != NULL);
  CHECK(plugin_start(&plug, NULL) == 0);
  test_config();
  test_unreachable_fingerprint();
  execd_proc d;
  CHECK(execd_setup(&d, "") == 0);
  int up = execd_launch(&d) == 0;
  CHECK(up);
  if (up) {
    test_healthy_fingerprint(&d);
    test_run_in_daemon(&d);
    test_signal_and_stop(&d);
    test_exec_after_daemon_kill(&d);
    test_timeout_in_daemon(&d);
    test_memory_limit_in_daemon(&d);
    test_plugin_killed_mid_stream(&d);
  }
  test_unreachable_start();
  execd_teardown(&d);
  int status = plugin_stop(&plug, 0, 5000);
  CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  CHECK(system(cmd) == 0);
  grpc_shutdown_blocking();
  return CHECK_DONE();
}
