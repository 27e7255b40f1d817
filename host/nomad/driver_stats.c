/* TaskStats: one sampling thread per open stream sends a fully populated
 * TaskStatsResponse every collection interval, from /proc figures of the
 * task's process group, until the client cancels or the task is gone. */
#include "driver_tasks.h"

#include "daemon_task.h"

#include "nomad_pb.h"
#include "proc_stats.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct stats_stream {
  rpc_call *call;
  task *t;
  int interval_ms;
  uint64_t total_compute_mhz;
  uint32_t num_cores;
} stats_stream;

static void send_sample(stats_stream *s, const proc_sample *prev, const proc_sample *cur) {
  DP(TaskStatsResponse) rep = DP_INIT(TASK_STATS_RESPONSE);
  DP(TaskStats) stats = DP_INIT(TASK_STATS);
  DP(TaskResourceUsage) usage = DP_INIT(TASK_RESOURCE_USAGE);
  DP(CPUUsage) cpu = DP_INIT(CPUUSAGE);
  DP(MemoryUsage) mem = DP_INIT(MEMORY_USAGE);
  Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  DP(CPUUsage__Fields) cpu_fields[4];
  DP(MemoryUsage__Fields) mem_fields[1] = {DP_ENUM(MEMORY_USAGE__FIELDS__RSS)};
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  pb_timestamp(&ts, (int64_t)now.tv_sec * 1000000000 + now.tv_nsec);

  double hz = (double)sysconf(_SC_CLK_TCK);
  double wall_s = (double)(cur->at_ns - prev->at_ns) / 1e9;
  size_t nf = 0;
  if (wall_s > 0 && cur->user_ticks >= prev->user_ticks &&
      cur->system_ticks >= prev->system_ticks) {
    cpu.user_mode = (double)(cur->user_ticks - prev->user_ticks) / hz / wall_s * 100.0;
    cpu.system_mode = (double)(cur->system_ticks - prev->system_ticks) / hz / wall_s * 100.0;
    cpu.percent = cpu.user_mode + cpu.system_mode;
    cpu_fields[nf++] = DP_ENUM(CPUUSAGE__FIELDS__USER_MODE);
    cpu_fields[nf++] = DP_ENUM(CPUUSAGE__FIELDS__SYSTEM_MODE);
    cpu_fields[nf++] = DP_ENUM(CPUUSAGE__FIELDS__PERCENT);
    if (s->total_compute_mhz && s->num_cores) {
      cpu.total_ticks = cpu.percent / 100.0 * (double)s->total_compute_mhz / s->num_cores;
      cpu_fields[nf++] = DP_ENUM(CPUUSAGE__FIELDS__TOTAL_TICKS);
    }
  }
  cpu.n_measured_fields = nf;
  cpu.measured_fields = cpu_fields;
  mem.rss = cur->rss_bytes;
  mem.n_measured_fields = 1;
  mem.measured_fields = mem_fields;
  usage.cpu = &cpu;
  usage.memory = &mem;
  stats.id = s->t->id;
  stats.timestamp = &ts;
  stats.agg_resource_usage = &usage;
  rep.stats = &stats;
  rpc_send(s->call, &rep.base);
}

/* One sample: /proc of the local process group, or the daemon's figures
 * for a daemon-mode task (GetExecutionStatus). */
static void sample(const task *t, pid_t pgid, proc_sample *out) {
  if (!t->remote) {
    stats_sample_group(pgid, out);
    return;
  }
  memset(out, 0, sizeof *out);
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  out->at_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
  uint64_t user_ns = 0, system_ns = 0, rss = 0;
  if (daemon_task_usage((task *)t, &user_ns, &system_ns, &rss) == 0) {
    double hz = (double)sysconf(_SC_CLK_TCK);
    out->user_ticks = (uint64_t)((double)user_ns * hz / 1e9);
    out->system_ticks = (uint64_t)((double)system_ns * hz / 1e9);
    out->rss_bytes = rss;
  }
}

static void *stats_main(void *arg) {
  stats_stream *s = arg;
  pid_t pgid = s->t->runner->pid(s->t);
  proc_sample prev, cur;
  sample(s->t, pgid, &prev);
  send_sample(s, &prev, &prev); /* the first sample goes out at once */
  while (!rpc_call_is_done(s->call)) {
    /* Sleep in short slices so a cancelled stream releases its thread fast. */
    for (int left = s->interval_ms; left > 0 && !rpc_call_is_done(s->call); left -= 100) {
      struct timespec slice = {0, (left < 100 ? left : 100) * 1000000L};
      nanosleep(&slice, NULL);
    }
    if (rpc_call_is_done(s->call)) break;
    if (task_exit_state(s->t, NULL, NULL)) {
      rpc_finish(s->call, GRPC_STATUS_OK, NULL);
      break;
    }
    sample(s->t, pgid, &cur);
    send_sample(s, &prev, &cur);
    prev = cur;
  }
  rpc_call_unref(s->call);
  task_unref(s->t);
  free(s);
  return NULL;
}

void driver_task_stats(rpc_call *call, const ProtobufCMessage *msg) {
  const DP(TaskStatsRequest) *req = (const void *)msg;
  plugin *p = plugin_of(call);
  task *t = task_table_get(&p->tasks, req->task_id);
  if (!t || !t->runner) {
    task_unref(t);
    rpc_finish(call, GRPC_STATUS_NOT_FOUND, "task not found for given id");
    return;
  }
  stats_stream *s = calloc(1, sizeof *s);
  if (!s) {
    task_unref(t);
    rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  int64_t ms = req->collection_interval
                   ? req->collection_interval->seconds * 1000 +
                         req->collection_interval->nanos / 1000000
                   : 1000;
  s->interval_ms = ms < 100 ? 100 : ms > 3600000 ? 3600000 : (int)ms;
  s->call = call;
  s->t = t;
  pthread_mutex_lock(&p->mu);
  s->total_compute_mhz = p->cfg.total_compute_mhz;
  s->num_cores = p->cfg.num_cores;
  pthread_mutex_unlock(&p->mu);
  rpc_call_ref(call);
  pthread_t th;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  if (pthread_create(&th, &attr, stats_main, s) != 0) {
    rpc_call_unref(call);
    task_unref(t);
    free(s);
    rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "cannot start a stats thread");
  }
  pthread_attr_destroy(&attr);
}
