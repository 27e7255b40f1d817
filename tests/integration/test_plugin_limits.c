/* Integration test of limits through the plugin binary over gRPC, as Nomad
 * drives it: real cgroups created as Nomad's client creates them (under a
 * parent unique to this test, removed at the end), a python task with a
 * memory limit (only its pid in the groups, the limit values, cgroup stats,
 * an OOM kill reported in WaitTask and as an event), the `timeout` option
 * (SIGINT, SIGKILL after the grace, exit codes, events, bad values), a
 * missing cgroup directory failing the start, the fingerprint attribute,
 * and recovery of a task with a cgroup and a timeout after a kill -9 of the
 * plugin. Needs root and cgroups v1 or v2. */
#include "../check.h"
#include "../unit/cgroup_fixture.h"
#include "plugin_harness.h"
#include "task_helpers.h"

#include "nomad/driver.pb-c.h"

#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DP(name) Hashicorp__Nomad__Plugins__Drivers__Proto__##name
#define DP_INIT(NAME) HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__##NAME##__INIT
#define DP_DESC(name) hashicorp__nomad__plugins__drivers__proto__##name##__descriptor
#define DRV "/hashicorp.nomad.plugins.drivers.proto.Driver/"

static plugin_proc plug;

static void pack_str(msgpack_packer *pk, const char *s) {
  msgpack_pack_str(pk, strlen(s));
  msgpack_pack_str_body(pk, s, strlen(s));
}

/* {language = "python", code, timeout, timeout_signal, timeout_grace};
 * NULL leaves a key out (Nomad would send its default or null). */
static uint8_t *python_config(const char *code, const char *timeout, const char *sig,
                              const char *grace, size_t *len) {
  const char *keys[] = {"code", "language", "timeout", "timeout_grace", "timeout_signal"};
  const char *vals[] = {code, "python", timeout, grace, sig};
  size_t n = 0;
  for (size_t i = 0; i < 5; i++) n += vals[i] != NULL;
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, n);
  for (size_t i = 0; i < 5; i++) {
    if (!vals[i]) continue;
    pack_str(&pk, keys[i]);
    pack_str(&pk, vals[i]);
  }
  *len = sb.size;
  return (uint8_t *)sb.data;
}

/* Nomad's resources for a task: memory (MiB), memory_max, cpu (MHz =
 * cpu.shares) and the cgroup. */
typedef struct resources {
  int64_t memory_mb, memory_max_mb, cpu;
  const char *cpuset_cgroup; /* NULL: no linux_resources cgroup */
} resources;

/* StartTask of task `name` in alloc `alloc_id` with `res`. */
static grpc_status_code start(fake_alloc *a, const char *id, const char *alloc_id,
                              const char *name, const uint8_t *cfg, size_t cfg_len,
                              const resources *res, started_task *out, char *details,
                              size_t dlen) {
  DP(StartTaskRequest) req = DP_INIT(START_TASK_REQUEST);
  DP(TaskConfig) tc = DP_INIT(TASK_CONFIG);
  DP(Resources) r = DP_INIT(RESOURCES);
  DP(AllocatedTaskResources) ar = DP_INIT(ALLOCATED_TASK_RESOURCES);
  DP(AllocatedMemoryResources) mem = DP_INIT(ALLOCATED_MEMORY_RESOURCES);
  DP(AllocatedCpuResources) cpu = DP_INIT(ALLOCATED_CPU_RESOURCES);
  DP(LinuxResources) lr = DP_INIT(LINUX_RESOURCES);
  mem.memory_mb = res->memory_mb;
  mem.memory_max_mb = res->memory_max_mb;
  cpu.cpu_shares = res->cpu;
  ar.memory = &mem;
  ar.cpu = &cpu;
  lr.cpu_shares = res->cpu;
  int64_t limit = res->memory_max_mb > res->memory_mb ? res->memory_max_mb : res->memory_mb;
  lr.memory_limit_bytes = limit * 1024 * 1024;
  lr.cpuset_cgroup = (char *)(res->cpuset_cgroup ? res->cpuset_cgroup : "");
  r.allocated_resources = &ar;
  r.linux_resources = &lr;
  tc.id = (char *)id;
  tc.name = (char *)name;
  tc.alloc_id = (char *)alloc_id;
  tc.alloc_dir = a->root;
  tc.stdout_path = a->stdout_fifo;
  tc.stderr_path = a->stderr_fifo;
  tc.msgpack_driver_config.data = (uint8_t *)cfg;
  tc.msgpack_driver_config.len = cfg_len;
  tc.resources = &r;
  req.task = &tc;
  memset(out, 0, sizeof *out);
  snprintf(out->id, sizeof out->id, "%s", id);
  grpc_status_code code = plugin_call(&plug, DRV "StartTask", &req.base,
                                      &DP_DESC(start_task_response), &out->reply, details, dlen);
  if (code == GRPC_STATUS_OK && out->reply)
    out->handle = ((DP(StartTaskResponse) *)out->reply)->handle;
  return code;
}

/* First TaskStats sample of task `id`. */
static DP(TaskStatsResponse) *first_stats(const char *id) {
  DP(TaskStatsRequest) req = DP_INIT(TASK_STATS_REQUEST);
  Google__Protobuf__Duration iv = GOOGLE__PROTOBUF__DURATION__INIT;
  iv.nanos = 200000000;
  req.task_id = (char *)id;
  req.collection_interval = &iv;
  rpc_stream *st = rpc_stream_open(plug.client, DRV "TaskStats", &req.base, 1, 0);
  ProtobufCMessage *m = NULL;
  /* the second sample has CPU percentages over an interval */
  for (int i = 0; i < 2; i++) {
    msg_free(m);
    m = NULL;
    if (rpc_stream_recv(st, &DP_DESC(task_stats_response), &m, 3000) != 1) break;
  }
  rpc_stream_cancel(st);
  rpc_status sts = {0};
  rpc_stream_finish(st, &sts);
  rpc_status_clear(&sts);
  return (DP(TaskStatsResponse) *)m;
}

static int has_mem_field(const DP(MemoryUsage) *m, DP(MemoryUsage__Fields) f) {
  for (size_t i = 0; i < m->n_measured_fields; i++)
    if (m->measured_fields[i] == f) return 1;
  return 0;
}

static void test_fingerprint(cgroup_mode mode) {
  DP(FingerprintRequest) req = DP_INIT(FINGERPRINT_REQUEST);
  rpc_stream *st = rpc_stream_open(plug.client, DRV "Fingerprint", &req.base, 1, 0);
  ProtobufCMessage *m = NULL;
  CHECK(rpc_stream_recv(st, &DP_DESC(fingerprint_response), &m, 5000) == 1);
  DP(FingerprintResponse) *fp = (void *)m;
  const char *got = NULL;
  for (size_t i = 0; fp && i < fp->n_attributes; i++)
    if (!strcmp(fp->attributes[i]->key, "driver.elide.cgroups") && fp->attributes[i]->value)
      got = fp->attributes[i]->value->string_val;
  CHECK(got && strcmp(got, cgroup_mode_name(mode)) == 0);
  msg_free(m);
  rpc_stream_cancel(st);
  rpc_status sts = {0};
  rpc_stream_finish(st, &sts);
  rpc_status_clear(&sts);
}

/* A task in its cgroups: only its pid there, the limits Nomad's numbers
 * give, /proc/self/cgroup, stats from the cgroup; our cpuacct group gone
 * after DestroyTask. */
static void test_limits_and_stats(void) {
  cg_fixture f;
  char err[1024];
  if (cgf_create(&f, "c0ffee00-limits", "mem", err, sizeof err) < 0) {
    fprintf(stderr, "%s\n", err);
    CHECK(!"cgroups");
    return;
  }
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "mem") == 0);
  size_t len;
  uint8_t *cfg = python_config(
      "import time\nprint(open('/proc/self/cgroup').read(), flush=True)\n"
      "print('oom_score_adj=' + open('/proc/self/oom_score_adj').read().strip(), flush=True)\n"
      "x = bytearray(24 << 20)\nprint('allocated', flush=True)\ntime.sleep(600)\n",
      NULL, NULL, NULL, &len);
  /* Checklist item 95: the task does not inherit the plugin's (the
   * agent's) oom_score_adj. */
  char adj[64];
  snprintf(adj, sizeof adj, "/proc/%d/oom_score_adj", (int)plug.pid);
  FILE *af = fopen(adj, "w");
  CHECK(af != NULL);
  if (af) {
    fputs("-100", af);
    fclose(af);
  }
  resources res = {.memory_mb = 150, .memory_max_mb = 250, .cpu = 250,
                   .cpuset_cgroup = f.cpuset_cgroup};
  started_task s;
  char details[1024] = "";
  CHECK(start(&a, test_task_id("limits/0001"), f.alloc_id, f.task, cfg, len, &res, &s, details,
              sizeof details) == GRPC_STATUS_OK);
  free(cfg);
  if (details[0]) fprintf(stderr, "StartTask: %s\n", details);
  CHECK(fake_alloc_wait_output(&a, "allocated", 20000));
  CHECK_STR_CONTAINS(a.out, "oom_score_adj=0\n");
  pid_t task_pid = (pid_t)th_state_int(s.handle, "task_pid");
  CHECK(task_pid > 0);
  char mem[PATH_MAX], cpu[PATH_MAX], frz[PATH_MAX];
  cgf_dir(&f, "memory", mem, sizeof mem);
  cgf_dir(&f, "cpu", cpu, sizeof cpu);
  cgf_dir(&f, "freezer", frz, sizeof frz);
  /* Checklist item 96: exactly the task's pid, not its monitor's. */
  const char *dirs[] = {mem, cpu, frz};
  for (size_t i = 0; i < 3; i++) {
    pid_t pids[8];
    int n = cgf_procs(dirs[i], pids, 8);
    CHECK(n == 1 && pids[0] == task_pid);
  }
  char want[512];
  if (f.mode == CGROUP_V1) {
    /* Checklist item 91 in v1 terms: 150 + memory_max 250. */
    CHECK(cgf_file_is(mem, "memory.limit_in_bytes", "262144000\n"));
    CHECK(cgf_file_is(mem, "memory.soft_limit_in_bytes", "157286400\n"));
    CHECK(cgf_file_is(cpu, "cpu.shares", "250\n"));
    snprintf(want, sizeof want, ":memory:/%s/%s.%s\n", f.parent, f.alloc_id, f.task);
    CHECK_STR_CONTAINS(a.out, want);
    snprintf(want, sizeof want, ":freezer:/%s/%s.%s\n", f.parent, f.alloc_id, f.task);
    CHECK_STR_CONTAINS(a.out, want);
    snprintf(want, sizeof want, ":cpu:/%s/%s.%s\n", f.parent, f.alloc_id, f.task);
    CHECK_STR_CONTAINS(a.out, want);
  } else {
    CHECK(cgf_file_is(mem, "memory.max", "262144000\n"));
    CHECK(cgf_file_is(mem, "memory.low", "157286400\n"));
    snprintf(want, sizeof want, "0::/%s/share.slice/%s.%s.scope\n", f.parent, f.alloc_id, f.task);
    CHECK_STR_CONTAINS(a.out, want);
  }
  /* Stats from the cgroup: cache and usage measured, real numbers. */
  DP(TaskStatsResponse) *sr = first_stats(s.id);
  CHECK(sr && sr->stats && sr->stats->agg_resource_usage &&
        sr->stats->agg_resource_usage->memory && sr->stats->agg_resource_usage->cpu);
  if (sr && sr->stats && sr->stats->agg_resource_usage && sr->stats->agg_resource_usage->memory) {
    const DP(MemoryUsage) *m = sr->stats->agg_resource_usage->memory;
    CHECK(m->rss > (20u << 20));
    CHECK(m->usage >= m->rss);
    CHECK(has_mem_field(m, HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__MEMORY_USAGE__FIELDS__RSS));
    CHECK(has_mem_field(m, HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__MEMORY_USAGE__FIELDS__USAGE));
    CHECK(has_mem_field(m, HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__MEMORY_USAGE__FIELDS__CACHE));
    const DP(CPUUsage) *c = sr->stats->agg_resource_usage->cpu;
    CHECK(c->n_measured_fields >= 3);
  }
  msg_free((ProtobufCMessage *)sr);
  CHECK(th_stop(&plug, s.id, 1000, "SIGKILL") == GRPC_STATUS_OK);
  CHECK(th_destroy(&plug, s.id, 1) == GRPC_STATUS_OK);
  if (f.mode == CGROUP_V1) {
    /* our own cpuacct group is gone; Nomad's are Nomad's to remove */
    char acct[PATH_MAX];
    cgf_dir(&f, "cpuacct", acct, sizeof acct);
    CHECK(access(acct, F_OK) != 0);
    CHECK(access(mem, F_OK) == 0);
  }
  msg_free(s.reply);
  fake_alloc_destroy(&a);
  cgf_destroy(&f);
}

/* Past the memory limit: WaitTask says OOM, and an event says why. */
static void test_oom(events_reader *ev) {
  cg_fixture f;
  char err[1024];
  if (cgf_create(&f, "c0ffee00-oom", "hog", err, sizeof err) < 0) {
    fprintf(stderr, "%s\n", err);
    CHECK(!"cgroups");
    return;
  }
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "hog") == 0);
  size_t len;
  uint8_t *cfg = python_config("import time\nx = 'x' * (256 << 20)\ntime.sleep(30)\n", NULL, NULL,
                               NULL, &len);
  resources res = {.memory_mb = 32, .cpu = 100, .cpuset_cgroup = f.cpuset_cgroup};
  started_task s;
  char details[1024] = "";
  CHECK(start(&a, test_task_id("limits/0002"), f.alloc_id, f.task, cfg, len, &res, &s, details,
              sizeof details) == GRPC_STATUS_OK);
  free(cfg);
  int code = 0, sig = 0, oom = 0;
  CHECK(plugin_wait_task(&plug, s.id, &code, &sig, &oom) == 0);
  CHECK(oom == 1 && code == 137 && sig == SIGKILL);
  char *msg = th_events_wait(ev, s.id, "OOM killed", 5000);
  CHECK_STR_CONTAINS(msg, "exceeded its memory limit of 32 MiB");
  free(msg);
  CHECK(th_destroy(&plug, s.id, 1) == GRPC_STATUS_OK);
  msg_free(s.reply);
  fake_alloc_destroy(&a);
  cgf_destroy(&f);
}

/* The timeout: the signal, SIGKILL after the grace, events, exit codes. */
static void test_timeout(events_reader *ev) {
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "slow") == 0);
  size_t len;
  resources none = {.memory_mb = 0};
  uint8_t *cfg = python_config("import time\nprint('up', flush=True)\ntime.sleep(60)\n", "1s",
                               NULL, NULL, &len);
  started_task s;
  char details[1024] = "";
  int64_t t0 = now_ms();
  CHECK(start(&a, test_task_id("limits/0003"), "c0ffee00-timeout", "slow", cfg, len, &none, &s,
              details, sizeof details) == GRPC_STATUS_OK);
  free(cfg);
  int code = 0, sig = 0, oom = 0;
  CHECK(plugin_wait_task(&plug, s.id, &code, &sig, &oom) == 0);
  int64_t took = now_ms() - t0;
  CHECK(code == 130 && sig == SIGINT && oom == 0); /* python dies of the SIGINT */
  CHECK(took >= 900 && took < 5000);
  char *msg = th_events_wait(ev, s.id, "exceeded its timeout", 5000);
  CHECK_STR_CONTAINS(msg, "Task exceeded its timeout of 1s: sent SIGINT, it stopped within the 5s grace");
  free(msg);
  CHECK(th_destroy(&plug, s.id, 1) == GRPC_STATUS_OK);
  msg_free(s.reply);
  fake_alloc_destroy(&a);

  /* Ignores SIGTERM: SIGKILL after the grace. (A fresh alloc: the FIFO
   * readers, like logmon's, end at EOF.) */
  CHECK(fake_alloc_create(&a, "slow") == 0);
  cfg = python_config("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                      "print('up', flush=True)\ntime.sleep(60)\n",
                      "500ms", "SIGTERM", "700ms", &len);
  t0 = now_ms();
  CHECK(start(&a, test_task_id("limits/0004"), "c0ffee00-timeout", "slow", cfg, len, &none, &s,
              details, sizeof details) == GRPC_STATUS_OK);
  free(cfg);
  CHECK(plugin_wait_task(&plug, s.id, &code, &sig, &oom) == 0);
  took = now_ms() - t0;
  CHECK(code == 137 && sig == SIGKILL);
  CHECK(took >= 1150 && took < 5000);
  msg = th_events_wait(ev, s.id, "exceeded its timeout", 5000);
  CHECK_STR_CONTAINS(msg, "Task exceeded its timeout of 500ms: sent SIGTERM, killed with SIGKILL "
                          "after the 700ms grace");
  free(msg);
  CHECK(th_destroy(&plug, s.id, 1) == GRPC_STATUS_OK);
  msg_free(s.reply);

  /* Bad values fail StartTask naming the field. */
  static const struct {
    const char *timeout, *sig, *grace, *want;
  } bad[] = {
      {"soon", NULL, NULL, "field \"timeout\": invalid duration \"soon\""},
      {"30", NULL, NULL, "field \"timeout\": missing unit in duration \"30\""},
      {"0s", NULL, NULL, "field \"timeout\": \"0s\" must be longer than 0"},
      {"10s", "SIGFOO", NULL, "field \"timeout_signal\": unknown signal \"SIGFOO\""},
      {"10s", NULL, "5 minutes", "field \"timeout_grace\""},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cfg = python_config("print(1)\n", bad[i].timeout, bad[i].sig, bad[i].grace, &len);
    started_task b;
    details[0] = '\0';
    CHECK(start(&a, test_task_id("limits/0005"), "c0ffee00-timeout", "slow", cfg, len, &none, &b,
                details, sizeof details) == GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(details, bad[i].want);
    free(cfg);
    msg_free(b.reply);
  }
  fake_alloc_destroy(&a);
}

/* Nomad did not create the task's memory group: the start fails naming it. */
static void test_missing_cgroup(void) {
  cg_fixture f;
  char err[1024];
  if (cgf_create(&f, "c0ffee00-missing", "gone", err, sizeof err) < 0) {
    fprintf(stderr, "%s\n", err);
    CHECK(!"cgroups");
    return;
  }
  char mem[PATH_MAX];
  cgf_dir(&f, "memory", mem, sizeof mem);
  CHECK(rmdir(mem) == 0);
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "gone") == 0);
  size_t len;
  uint8_t *cfg = python_config("print(1)\n", NULL, NULL, NULL, &len);
  resources res = {.memory_mb = 64, .cpu = 100, .cpuset_cgroup = f.cpuset_cgroup};
  started_task s;
  char details[1024] = "";
  CHECK(start(&a, test_task_id("limits/0006"), f.alloc_id, f.task, cfg, len, &res, &s, details,
              sizeof details) == GRPC_STATUS_FAILED_PRECONDITION);
  CHECK_STR_CONTAINS(details, "unable to configure cgroups");
  CHECK_STR_CONTAINS(details, mem);
  CHECK_STR_CONTAINS(details, "No such file or directory");
  free(cfg);
  msg_free(s.reply);
  fake_alloc_destroy(&a);
  cgf_destroy(&f);
}

/* kill -9 of the plugin while a task with a cgroup and a timeout runs: the
 * monitor enforces the timeout with no plugin, a new plugin recovers the
 * task from the handle (cgroup stats again), reports the timeout and its
 * event, and removes our cpuacct group at DestroyTask. */
static void test_recovery(void) {
  cg_fixture f;
  char err[1024];
  if (cgf_create(&f, "c0ffee00-recover", "keep", err, sizeof err) < 0) {
    fprintf(stderr, "%s\n", err);
    CHECK(!"cgroups");
    return;
  }
  fake_alloc a;
  CHECK(fake_alloc_create(&a, "keep") == 0);
  size_t len;
  /* The timeout must outlast the plugin restarts and the stats read below:
   * under valgrind (ELIDE_PLUGIN_WRAPPER) the plugin is many times slower. */
  const char *timeout = getenv("ELIDE_PLUGIN_WRAPPER") ? "20s" : "3s";
  uint8_t *cfg = python_config("import time\nx = bytearray(16 << 20)\nprint('up', flush=True)\n"
                               "time.sleep(60)\n",
                               timeout, "SIGTERM", NULL, &len);
  resources res = {.memory_mb = 128, .cpu = 100, .cpuset_cgroup = f.cpuset_cgroup};
  started_task s;
  char details[1024] = "";
  CHECK(start(&a, test_task_id("limits/0007"), f.alloc_id, f.task, cfg, len, &res, &s, details,
              sizeof details) == GRPC_STATUS_OK);
  free(cfg);
  CHECK(fake_alloc_wait_output(&a, "up", 20000));

  /* A second task that goes past its memory limit while no plugin runs. */
  cg_fixture f2;
  if (cgf_create(&f2, "c0ffee00-recover", "hog", err, sizeof err) < 0) {
    fprintf(stderr, "%s\n", err);
    CHECK(!"cgroups");
    return;
  }
  fake_alloc a2;
  CHECK(fake_alloc_create(&a2, "hog") == 0);
  cfg = python_config("import os, time\nprint('waiting', flush=True)\n"
                      "while not os.path.exists('go'): time.sleep(0.05)\n"
                      "x = 'x' * (256 << 20)\ntime.sleep(30)\n",
                      NULL, NULL, NULL, &len);
  resources res2 = {.memory_mb = 32, .cpu = 100, .cpuset_cgroup = f2.cpuset_cgroup};
  started_task s2;
  CHECK(start(&a2, test_task_id("limits/0008"), f2.alloc_id, f2.task, cfg, len, &res2, &s2,
              details, sizeof details) == GRPC_STATUS_OK);
  free(cfg);
  CHECK(fake_alloc_wait_output(&a2, "waiting", 20000));
  pid_t hog = (pid_t)th_state_int(s2.handle, "task_pid");

  CHECK(plugin_stop(&plug, 1, 5000) >= 0);
  CHECK(fake_alloc_write(&a2, "go", "") == 0);
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/%d", (int)hog);
  for (int i = 0; i < 200 && access(proc, F_OK) == 0; i++) usleep(50000);
  CHECK(access(proc, F_OK) != 0); /* OOM-killed with no plugin running */
  CHECK(plugin_start(&plug, NULL) == 0);
  events_reader *ev = th_events_open(&plug);
  CHECK(th_recover(&plug, s2.handle, details, sizeof details) == GRPC_STATUS_OK);
  int c2 = 0, sig2 = 0, oom2 = 0;
  CHECK(plugin_wait_task(&plug, s2.id, &c2, &sig2, &oom2) == 0);
  CHECK(oom2 == 1 && c2 == 137 && sig2 == SIGKILL); /* from the monitor's exit record */
  char *oom_msg = th_events_wait(ev, s2.id, "OOM killed", 5000);
  CHECK_STR_CONTAINS(oom_msg, "memory limit of 32 MiB");
  free(oom_msg);
  CHECK(th_destroy(&plug, s2.id, 1) == GRPC_STATUS_OK);
  msg_free(s2.reply);
  fake_alloc_destroy(&a2);
  cgf_destroy(&f2);

  CHECK(th_recover(&plug, s.handle, details, sizeof details) == GRPC_STATUS_OK);
  DP(TaskStatsResponse) *sr = first_stats(s.id);
  CHECK(sr && sr->stats && sr->stats->agg_resource_usage &&
        sr->stats->agg_resource_usage->memory &&
        has_mem_field(sr->stats->agg_resource_usage->memory,
                      HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__MEMORY_USAGE__FIELDS__USAGE) &&
        sr->stats->agg_resource_usage->memory->rss > (10u << 20));
  msg_free((ProtobufCMessage *)sr);
  int code = 0, sig = 0, oom = 0;
  CHECK(plugin_wait_task(&plug, s.id, &code, &sig, &oom) == 0);
  CHECK(code == 128 + SIGTERM && sig == SIGTERM && oom == 0);
  char *msg = th_events_wait(ev, s.id, "exceeded its timeout", 5000);
  char expected[64];
  snprintf(expected, sizeof expected, "Task exceeded its timeout of %s: sent SIGTERM", timeout);
  CHECK_STR_CONTAINS(msg, expected);
  free(msg);
  th_events_close(ev);
  CHECK(th_destroy(&plug, s.id, 1) == GRPC_STATUS_OK);
  if (f.mode == CGROUP_V1) {
    char acct[PATH_MAX];
    cgf_dir(&f, "cpuacct", acct, sizeof acct);
    CHECK(access(acct, F_OK) != 0);
  }
  msg_free(s.reply);
  fake_alloc_destroy(&a);
  cgf_destroy(&f);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  cgroup_mode mode;
  char why[512];
  cgroup_detect(CGROUP_DEFAULT_ROOT, CGROUP_DEFAULT_MOUNTINFO, geteuid(), &mode, why, sizeof why);
  if (mode == CGROUP_NONE) fprintf(stderr, "no cgroups on this host: %s\n", why);
  CHECK(mode != CGROUP_NONE);
  if (plugin_start(&plug, NULL) != 0) {
    fprintf(stderr, "cannot start the plugin\n");
    return 1;
  }
  test_fingerprint(mode);
  events_reader *ev = th_events_open(&plug);
  test_limits_and_stats();
  test_oom(ev);
  test_timeout(ev);
  test_missing_cgroup();
  th_events_close(ev);
  test_recovery();
  /* A clean exit (under ELIDE_PLUGIN_WRAPPER=valgrind: no error, no leak). */
  int status = plugin_stop(&plug, 0, 10000);
  CHECK(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  return CHECK_DONE();
}
