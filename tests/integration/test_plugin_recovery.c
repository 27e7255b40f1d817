/* Integration test of survival across plugin restarts, over real gRPC with
 * the plugin started as Nomad starts it: a task that ended while no plugin
 * ran reports its recorded status; a task whose monitor is gone without
 * an exit record yields an error, never a success (with the plugin alive
 * and across a restart); a handle whose monitor pid now belongs to another
 * process (another start time) is refused, and that process is never
 * signalled, also when an exit record exists; the task events of a start
 * (backend, runtime version, cold start) and of a recovery, including
 * events emitted before Nomad re-opened TaskEvents. */
#include "../check.h"
#include "task_helpers.h"

#include <errno.h>
#include <grpc/grpc.h>
#include <inttypes.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DRV "/hashicorp.nomad.plugins.drivers.proto.Driver/"
#define DP(n) Hashicorp__Nomad__Plugins__Drivers__Proto__##n
#define DP_INIT(N) HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__##N##__INIT
#define DP_DESC(n) hashicorp__nomad__plugins__drivers__proto__##n##__descriptor

static plugin_proc plug;

/* The /proc state letter of pid, 0 when there is no such process. */
static char proc_state(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *rp = strrchr(buf, ')');
  return rp && rp[1] == ' ' ? rp[2] : 0;
}

/* /proc/<pid>/stat field 22, the start time in clock ticks (0 if gone). */
static uint64_t start_ticks(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (!p) return 0;
  p += 2; /* field 3, the state */
  for (int field = 3; field < 22 && p; field++) {
    p = strchr(p, ' ');
    if (p) p++;
  }
  return p ? strtoull(p, NULL, 10) : 0;
}

static int alive(pid_t pid) {
  char st = proc_state(pid);
  return st != 0 && st != 'Z' && st != 'X';
}

static int wait_gone(pid_t pid, int timeout_ms) {
  int64_t end = now_ms() + timeout_ms;
  while (alive(pid) && now_ms() < end) usleep(10000);
  return !alive(pid);
}

/* The python fingerprint, so start events can name the runtime. */
static void fingerprint_once(void) {
  DP(FingerprintRequest) req = DP_INIT(FINGERPRINT_REQUEST);
  rpc_stream *s = rpc_stream_open(plug.client, DRV "Fingerprint", &req.base, 1, 0);
  ProtobufCMessage *m = NULL;
  CHECK(rpc_stream_recv(s, &DP_DESC(fingerprint_response), &m, 10000) == 1);
  msg_free(m);
  rpc_stream_cancel(s);
  rpc_status st = {0};
  rpc_stream_finish(s, &st);
  rpc_status_clear(&st);
}

/* Says it is up, then runs until killed. */
static const char UP_FOREVER[] = "import time\nprint('up', flush=True)\ntime.sleep(600)\n";

/* Task `name` of a fresh fake alloc `a`, running inline python `code` with
 * id test_task_id(rest). */
static void start_python(fake_alloc *a, const char *name, const char *rest, const char *code,
                         started_task *s) {
  char details[1024] = "";
  CHECK(fake_alloc_create(a, name) == 0);
  grpc_status_code rc =
      th_start_python(&plug, a, test_task_id(rest), name, code, NULL, s, details, sizeof details);
  CHECK(rc == GRPC_STATUS_OK);
  if (rc != GRPC_STATUS_OK) fprintf(stderr, "StartTask %s: %s\n", name, details);
}

/* DestroyTask (forced), then the task's reply and its fake alloc go. */
static void finish(started_task *s, fake_alloc *a) {
  CHECK(th_destroy(&plug, s->id, 1) == GRPC_STATUS_OK);
  msg_free(s->reply);
  fake_alloc_destroy(a);
}

static void restart_plugin_hard(void) {
  CHECK(plugin_stop(&plug, 1, 5000) != -1);
  CHECK(plugin_start(&plug, NULL) == 0);
}

/* A start names the backend, the runtime and its fingerprinted version,
 * and says how it started: from the python warm pool when a copy was
 * ready, cold otherwise (the pool may still be filling this early;
 * integration.plugin_warm tests which one happens when). */
static void test_started_event(void) {
  fingerprint_once();
  events_reader *ev = th_events_open(&plug);
  fake_alloc a;
  started_task s;
  start_python(&a, "hello", "hello/e001", "print('hi')", &s);
  char *msg = th_events_wait(ev, s.id, "Started", 5000);
  CHECK(msg != NULL);
  CHECK_STR_CONTAINS(msg, "Started python task: backend python ");
  CHECK_STR_CONTAINS(msg, "runtime python3 3.");
  CHECK_STR_CONTAINS(msg, "(/usr/bin/python3)");
  CHECK(strstr(msg, "(/usr/bin/python3), warm start") ||
        strstr(msg, "(/usr/bin/python3), cold start"));
  free(msg);
  int code, sig;
  char err[512];
  CHECK(th_wait(&plug, s.id, &code, &sig, err, sizeof err) == 0 && code == 0 && !err[0]);
  th_events_close(ev);
  finish(&s, &a);
}

/* Re-attached while running: the Recovered event, emitted before any
 * TaskEvents stream was open, reaches the first one opened afterwards. */
static void test_recovered_running(void) {
  fake_alloc a;
  started_task s;
  char details[1024];
  start_python(&a, "runner", "runner/e002",
               "import sys, time\nprint('before', flush=True)\ntime.sleep(1.5)\n"
               "print('after', flush=True)\nsys.exit(5)\n", &s);
  pid_t task = (pid_t)th_state_int(s.handle, "task_pid");
  CHECK(fake_alloc_wait_output(&a, "before", 10000));
  restart_plugin_hard();
  CHECK(alive(task));
  CHECK(th_recover(&plug, s.handle, details, sizeof details) == GRPC_STATUS_OK);
  events_reader *ev = th_events_open(&plug);
  char want[96];
  snprintf(want, sizeof want, "re-attached to the running task (pid %d)", (int)task);
  char *msg = th_events_wait(ev, s.id, "Recovered after plugin restart", 5000);
  CHECK_STR_CONTAINS(msg, want);
  free(msg);
  int code, sig;
  char err[512];
  CHECK(th_wait(&plug, s.id, &code, &sig, err, sizeof err) == 0 && code == 5 && !err[0]);
  CHECK(fake_alloc_wait_eof(&a, 5000) == 0);
  CHECK_STR_CONTAINS(a.out, "before\nafter\n");
  th_events_close(ev);
  finish(&s, &a);
}

/* The task ends while no plugin runs: the next plugin reports the status
 * its monitor recorded, and says so in an event. */
static void test_ended_while_down(void) {
  fake_alloc a;
  started_task s;
  char details[1024];
  start_python(&a, "quick", "quick/e003",
               "import sys, time\nprint('a', flush=True)\ntime.sleep(0.5)\n"
               "print('b', flush=True)\nsys.exit(23)\n", &s);
  pid_t mon = (pid_t)th_state_int(s.handle, "monitor_pid");
  CHECK(fake_alloc_wait_output(&a, "a\n", 10000));
  CHECK(plugin_stop(&plug, 1, 5000) != -1);
  CHECK(wait_gone(mon, 10000)); /* task ended, record written, monitor gone */
  CHECK(plugin_start(&plug, NULL) == 0);
  CHECK(th_recover(&plug, s.handle, details, sizeof details) == GRPC_STATUS_OK);
  int code = -2, sig = -2;
  char err[512];
  CHECK(th_wait(&plug, s.id, &code, &sig, err, sizeof err) == 0);
  CHECK(code == 23 && sig == 0 && !err[0]);
  events_reader *ev = th_events_open(&plug);
  char *msg = th_events_wait(ev, s.id, "Recovered after plugin restart", 5000);
  CHECK_STR_CONTAINS(msg, "the task ended while no plugin ran, with exit code 23");
  free(msg);
  CHECK(fake_alloc_wait_eof(&a, 5000) == 0);
  CHECK(a.out && strcmp(a.out, "a\nb\n") == 0);
  th_events_close(ev);
  finish(&s, &a);
}

/* The monitor dies without recording an exit: WaitTask answers with an
 * error (never exit code 0), while the plugin runs. */
static void test_monitor_gone_live(void) {
  fake_alloc a;
  started_task s;
  start_python(&a, "orphan", "orphan/e004", UP_FOREVER, &s);
  pid_t mon = (pid_t)th_state_int(s.handle, "monitor_pid");
  pid_t task = (pid_t)th_state_int(s.handle, "task_pid");
  CHECK(fake_alloc_wait_output(&a, "up", 10000));
  CHECK(mon > 0 && kill(mon, SIGKILL) == 0);
  int code = 0, sig = 0;
  char err[512] = "";
  CHECK(th_wait(&plug, s.id, &code, &sig, err, sizeof err) == 0);
  CHECK(code != 0);
  CHECK_STR_CONTAINS(err, "without recording the task's exit");
  CHECK(wait_gone(task, 5000)); /* the task goes with its monitor */
  finish(&s, &a);
}

/* The monitor dies without a record while no plugin runs: RecoverTask
 * fails (Nomad then restarts or fails the task) and says why. */
static void test_monitor_gone_while_down(void) {
  fake_alloc a;
  started_task s;
  char details[1024];
  start_python(&a, "lost", "lost/e005", UP_FOREVER, &s);
  pid_t mon = (pid_t)th_state_int(s.handle, "monitor_pid");
  pid_t task = (pid_t)th_state_int(s.handle, "task_pid");
  CHECK(fake_alloc_wait_output(&a, "up", 10000));
  CHECK(plugin_stop(&plug, 1, 5000) != -1);
  CHECK(mon > 0 && kill(mon, SIGKILL) == 0);
  CHECK(wait_gone(mon, 5000) && wait_gone(task, 5000));
  CHECK(plugin_start(&plug, NULL) == 0);
  CHECK(th_recover(&plug, s.handle, details, sizeof details) == GRPC_STATUS_FAILED_PRECONDITION);
  CHECK_STR_CONTAINS(details, "no exit record");
  events_reader *ev = th_events_open(&plug);
  char *msg = th_events_wait(ev, s.id, "Recovery after plugin restart failed", 5000);
  CHECK_STR_CONTAINS(msg, "no exit record");
  free(msg);
  /* Not tracked: WaitTask cannot report a success either. */
  int code, sig;
  char err[512];
  CHECK(th_wait(&plug, s.id, &code, &sig, err, sizeof err) == -1);
  th_events_close(ev);
  msg_free(s.reply);
  fake_alloc_destroy(&a);
}

/* A process unrelated to the driver, in its own session and process group
 * (so that a stray kill of its group would reach it too). */
static pid_t spawn_bystander(void) {
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    execl("/bin/sleep", "sleep", "60", (char *)NULL);
    _exit(127);
  }
  int64_t end = now_ms() + 2000; /* until it is sleep, not our fork */
  char path[64], exe[256] = "";
  snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
  while (now_ms() < end) {
    ssize_t n = readlink(path, exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    if (strstr(exe, "sleep")) break;
    usleep(5000);
  }
  return pid;
}

static void pack_str(msgpack_packer *pk, const char *s) {
  msgpack_pack_str(pk, strlen(s));
  msgpack_pack_str_body(pk, s, strlen(s));
}

/* A handle as a plugin would have written it for a python task whose
 * monitor and task had pid `pid` with start time `ticks`. */
static TaskHandle *forged_handle(fake_alloc *a, const char *id, const char *state_dir, pid_t pid,
                                 uint64_t ticks, msgpack_sbuffer *sb, DP(TaskConfig) * tc) {
  msgpack_packer pk;
  msgpack_sbuffer_init(sb);
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 8);
  pack_str(&pk, "v");
  msgpack_pack_int(&pk, 1);
  pack_str(&pk, "module");
  pack_str(&pk, "python");
  pack_str(&pk, "language");
  pack_str(&pk, "python");
  pack_str(&pk, "state_dir");
  pack_str(&pk, state_dir);
  pack_str(&pk, "monitor_pid");
  msgpack_pack_int64(&pk, pid);
  pack_str(&pk, "monitor_start");
  msgpack_pack_uint64(&pk, ticks);
  pack_str(&pk, "task_pid");
  msgpack_pack_int64(&pk, pid);
  pack_str(&pk, "started_at");
  msgpack_pack_int64(&pk, 1);
  DP(TaskConfig) init = DP_INIT(TASK_CONFIG);
  *tc = init;
  tc->id = (char *)id;
  tc->name = (char *)"reused";
  tc->alloc_id = (char *)"alloc-helpers";
  tc->alloc_dir = a->root;
  tc->stdout_path = a->stdout_fifo;
  tc->stderr_path = a->stderr_fifo;
  TaskHandle *h = calloc(1, sizeof *h);
  DP(TaskHandle) hinit = DP_INIT(TASK_HANDLE);
  *h = hinit;
  h->version = 1;
  h->config = tc;
  h->driver_state.data = (uint8_t *)sb->data;
  h->driver_state.len = sb->size;
  return h;
}

/* PID reuse: the handle's monitor pid now belongs to an unrelated process
 * (another start time). Without an exit record RecoverTask refuses; with
 * one it reports the record; in neither case is the process signalled,
 * whatever Nomad asks next (signal, stop, destroy). */
static void test_pid_reuse(void) {
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "reused") == 0);
  pid_t other = spawn_bystander();
  uint64_t ticks = start_ticks(other);
  CHECK(other > 0 && ticks > 0);
  char state[600], details[1024];
  snprintf(state, sizeof state, "%s/state", a.root);
  CHECK(mkdir(state, 0700) == 0);

  msgpack_sbuffer sb;
  DP(TaskConfig) tc;
  const char *id = test_task_id("reused/e006");
  TaskHandle *h = forged_handle(&a, id, state, other, ticks + 1, &sb, &tc);
  CHECK(th_recover(&plug, h, details, sizeof details) == GRPC_STATUS_FAILED_PRECONDITION);
  CHECK_STR_CONTAINS(details, "no exit record");
  CHECK(th_signal(&plug, id, "SIGTERM") == GRPC_STATUS_NOT_FOUND);
  CHECK(th_stop(&plug, id, 100, "SIGINT") == GRPC_STATUS_OK); /* unknown: nothing to stop */
  CHECK(th_destroy(&plug, id, 1) == GRPC_STATUS_OK);
  usleep(200000);
  CHECK(alive(other) && start_ticks(other) == ticks);
  msgpack_sbuffer_destroy(&sb);
  free(h);

  /* The same pid with an exit record in the state directory. */
  char rec[700];
  snprintf(rec, sizeof rec, "%s/exit", state);
  FILE *f = fopen(rec, "we");
  CHECK(f != NULL);
  if (f) {
    fprintf(f, "elide-exit-record 1\nexit_code=17\nsignal=0\noom_killed=0\n"
               "finished_at_ns=1700000000000000000\ntask_pid=%d\n", (int)other);
    fclose(f);
  }
  id = test_task_id("reused/e007");
  h = forged_handle(&a, id, state, other, ticks + 1, &sb, &tc);
  CHECK(th_recover(&plug, h, details, sizeof details) == GRPC_STATUS_OK);
  int code = -2, sig = -2;
  char err[512];
  CHECK(th_wait(&plug, id, &code, &sig, err, sizeof err) == 0 && code == 17 && !err[0]);
  CHECK(th_signal(&plug, id, "SIGTERM") == GRPC_STATUS_FAILED_PRECONDITION);
  CHECK(th_stop(&plug, id, 100, "SIGINT") == GRPC_STATUS_OK);
  CHECK(th_destroy(&plug, id, 1) == GRPC_STATUS_OK);
  usleep(200000);
  CHECK(alive(other) && start_ticks(other) == ticks);
  msgpack_sbuffer_destroy(&sb);
  free(h);

  kill(other, SIGKILL);
  waitpid(other, NULL, 0);
  fake_alloc_destroy(&a);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  grpc_init();
  CHECK(plugin_start(&plug, NULL) == 0);
  test_started_event();
  test_recovered_running();
  test_ended_while_down();
  test_monitor_gone_live();
  test_monitor_gone_while_down();
  test_pid_reuse();
  int status = plugin_stop(&plug, 0, 60000);
  CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  grpc_shutdown_blocking();
  return CHECK_DONE();
}
