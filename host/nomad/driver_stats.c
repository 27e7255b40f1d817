/* TaskStats: one sampling thread per open stream sends a fully populated
 * TaskStatsResponse every collection interval until the client cancels or
 * the task is gone. Figures come from the task's cgroups when it has them
 * (memory RSS/cache/swap/usage/max usage, CPU user/system and throttling,
 * as Nomad's own executor reports them), else from /proc of its process
 * group, or from the execution daemon in daemon mode. Every sample lists
 * exactly the fields it filled. */
#include "driver_tasks.h"

#include "daemon_task.h"

#include "cgroup.h"
#include "nomad_pb.h"
#include "proc_stats.h"
#include "task_limits.h"

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

/* One reading, whatever its source, in the cgroup figures' form: /proc and
 * the daemon fill CPU and rss only. */
typedef struct sample {
  int64_t at_ns;   /* CLOCK_MONOTONIC */
  int from_cgroup; /* cache and usage are then real */
  cgroup_stats f;
} sample;

static int64_t mono_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static uint64_t ticks_to_ns(uint64_t ticks) {
  long hz = sysconf(_SC_CLK_TCK);
  return hz > 0 ? ticks * (1000000000ull / (uint64_t)hz) : 0;
}

/* One sample: the task's cgroups, /proc of the local process group (no
 * cgroup, or it is already gone), or the daemon's figures for a
 * daemon-mode task (GetExecutionStatus). */
static void take_sample(const task *t, pid_t pgid, sample *out) {
  memset(out, 0, sizeof *out);
  out->at_ns = mono_ns();
  if (t->remote) {
    uint64_t user_ns = 0, system_ns = 0, rss = 0;
    if (daemon_task_usage((task *)t, &user_ns, &system_ns, &rss) == 0) {
      out->f.cpu_user_ns = user_ns;
      out->f.cpu_system_ns = system_ns;
      out->f.cpu_total_ns = user_ns + system_ns;
      out->f.has_cpu = 1;
      out->f.rss = rss;
    }
    return;
  }
  if (t->limits && cgroup_read_stats(&t->limits->set, &out->f) == 0) {
    out->from_cgroup = 1;
    return;
  }
  /* cgroup_read_stats may have filled part of it before failing. */
  memset(&out->f, 0, sizeof out->f);
  proc_sample ps;
  if (stats_sample_group(pgid, &ps) == 0) {
    out->f.cpu_user_ns = ticks_to_ns(ps.user_ticks);
    out->f.cpu_system_ns = ticks_to_ns(ps.system_ticks);
    out->f.cpu_total_ns = out->f.cpu_user_ns + out->f.cpu_system_ns;
    out->f.has_cpu = 1;
    out->f.rss = ps.rss_bytes;
  }
}

/* Percent of one core over the interval (Nomad's cpustats.Tracker: 0 when
 * there is no interval yet or the counter went backwards). */
static double percent(uint64_t prev_ns, uint64_t cur_ns, int64_t wall_ns) {
  if (wall_ns <= 0 || cur_ns <= prev_ns) return 0;
  return (double)(cur_ns - prev_ns) / (double)wall_ns * 100.0;
}

static void send_sample(stats_stream *s, const sample *prev_sample, const sample *cur_sample) {
  const cgroup_stats *prev = &prev_sample->f, *cur = &cur_sample->f;
  DP(TaskStatsResponse) rep = DP_INIT(TASK_STATS_RESPONSE);
  DP(TaskStats) stats = DP_INIT(TASK_STATS);
  DP(TaskResourceUsage) usage = DP_INIT(TASK_RESOURCE_USAGE);
  DP(CPUUsage) cpu = DP_INIT(CPUUSAGE);
  DP(MemoryUsage) mem = DP_INIT(MEMORY_USAGE);
  Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  DP(CPUUsage__Fields) cpu_fields[6];
  DP(MemoryUsage__Fields) mem_fields[7];
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  pb_timestamp(&ts, (int64_t)now.tv_sec * 1000000000 + now.tv_nsec);

  size_t nc = 0;
  if (cur->has_cpu) {
    int64_t wall = cur_sample->at_ns - prev_sample->at_ns;
    cpu.user_mode = percent(prev->cpu_user_ns, cur->cpu_user_ns, wall);
    cpu.system_mode = percent(prev->cpu_system_ns, cur->cpu_system_ns, wall);
    cpu.percent = percent(prev->cpu_total_ns, cur->cpu_total_ns, wall);
    cpu_fields[nc++] = DP_ENUM(CPUUSAGE__FIELDS__USER_MODE);
    cpu_fields[nc++] = DP_ENUM(CPUUSAGE__FIELDS__SYSTEM_MODE);
    cpu_fields[nc++] = DP_ENUM(CPUUSAGE__FIELDS__PERCENT);
    if (s->total_compute_mhz && s->num_cores) {
      cpu.total_ticks = cpu.percent / 100.0 * (double)s->total_compute_mhz / s->num_cores;
      cpu_fields[nc++] = DP_ENUM(CPUUSAGE__FIELDS__TOTAL_TICKS);
    }
  }
  if (cur->has_throttling) {
    cpu.throttled_periods = cur->throttled_periods;
    cpu.throttled_time = cur->throttled_time_ns;
    cpu_fields[nc++] = DP_ENUM(CPUUSAGE__FIELDS__THROTTLED_PERIODS);
    cpu_fields[nc++] = DP_ENUM(CPUUSAGE__FIELDS__THROTTLED_TIME);
  }
  cpu.n_measured_fields = nc;
  cpu.measured_fields = cpu_fields;

  size_t nm = 0;
  mem.rss = cur->rss;
  mem_fields[nm++] = DP_ENUM(MEMORY_USAGE__FIELDS__RSS);
  if (cur_sample->from_cgroup) {
    mem.cache = cur->cache;
    mem.usage = cur->usage;
    mem_fields[nm++] = DP_ENUM(MEMORY_USAGE__FIELDS__CACHE);
    mem_fields[nm++] = DP_ENUM(MEMORY_USAGE__FIELDS__USAGE);
  }
  if (cur->has_swap) {
    mem.swap = cur->swap;
    mem_fields[nm++] = DP_ENUM(MEMORY_USAGE__FIELDS__SWAP);
  }
  if (cur->has_max_usage) {
    mem.max_usage = cur->max_usage;
    mem_fields[nm++] = DP_ENUM(MEMORY_USAGE__FIELDS__MAX_USAGE);
  }
  if (cur->has_kernel) {
    mem.kernel_usage = cur->kernel_usage;
    mem.kernel_max_usage = cur->kernel_max_usage;
    mem_fields[nm++] = DP_ENUM(MEMORY_USAGE__FIELDS__KERNEL_USAGE);
    mem_fields[nm++] = DP_ENUM(MEMORY_USAGE__FIELDS__KERNEL_MAX_USAGE);
  }
  mem.n_measured_fields = nm;
  mem.measured_fields = mem_fields;
  usage.cpu = &cpu;
  usage.memory = &mem;
  stats.id = s->t->id;
  stats.timestamp = &ts;
  stats.agg_resource_usage = &usage;
  rep.stats = &stats;
  rpc_send(s->call, &rep.base);
}

static void *stats_main(void *arg) {
  stats_stream *s = arg;
  pid_t pgid = s->t->runner->pid(s->t);
  sample prev, cur;
  take_sample(s->t, pgid, &prev);
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
    take_sample(s->t, pgid, &cur);
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
