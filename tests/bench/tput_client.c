/* elide-bench-tput: the throughput benchmark's load generator in C.
 *
 *   elide-bench-tput ADDRESS ROOT TASKS CONCURRENCY
 *
 * CONCURRENCY threads share TASKS python `pass` tasks; each task goes
 * StartTask -> WaitTask -> DestroyTask(force) on the plugin at ADDRESS
 * (unix:...), with an alloc directory of its own under ROOT laid out as
 * Nomad's client lays it out (task dir with local/, alloc/logs with the
 * two FIFOs, both opened for reading, non-blocking, as logmon does).
 * Nomad makes all of that before it calls StartTask, for any driver: the
 * directories and FIFOs are made before the clock starts and removed after
 * it stops, so the figure is the plugin's (making them took about a fifth
 * of this machine's CPU at 16 clients on ext4). Prints one JSON line:
 * {"tasks":..,"seconds":..,"tasks_per_s":..}; exits 1 with the first
 * error on stderr.
 *
 * Why in C: bench.py's python gRPC client used about 18 % of this 2-CPU
 * machine at 16 clients (perf -a), CPU the plugin and its tasks then did
 * not have. Nomad's own client is Go. bench.py reports both figures. */
#include "nomad/driver.pb-c.h"
#include "plugin_harness.h" /* task_config_msgpack */
#include "rpc_client.h"

#include <errno.h>
#include <fcntl.h>
#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DP(n) Hashicorp__Nomad__Plugins__Drivers__Proto__##n
#define DP_INIT(N) HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__##N##__INIT
#define DP_DESC(n) hashicorp__nomad__plugins__drivers__proto__##n##__descriptor
#define DRV "/hashicorp.nomad.plugins.drivers.proto.Driver/"
#define START_SUCCESS HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__START_TASK_RESPONSE__RESULT__SUCCESS
#define CALL_TIMEOUT_MS 60000

static rpc_client *client;
static const char *root;
static atomic_int next_task, tasks_total, failed;
static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;
static char first_err[1024];

static void fail(const char *fmt, const char *a, const char *b) {
  pthread_mutex_lock(&err_mu);
  if (!first_err[0]) snprintf(first_err, sizeof first_err, fmt, a, b);
  pthread_mutex_unlock(&err_mu);
  atomic_store(&failed, 1);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One task's alloc directory and FIFO readers. */
typedef struct alloc {
  char dir[512], task_dir[600], local[640], alloc_sub[560], logs[600];
  char out_path[700], err_path[700];
  char name[32], id[128], alloc_id[64];
  int out_fd, err_fd;
} alloc;

static int alloc_make(alloc *a, int n) {
  snprintf(a->name, sizeof a->name, "t%d", n);
  snprintf(a->dir, sizeof a->dir, "%s/alloc-%d", root, n);
  snprintf(a->task_dir, sizeof a->task_dir, "%s/%s", a->dir, a->name);
  snprintf(a->local, sizeof a->local, "%s/local", a->task_dir);
  snprintf(a->alloc_sub, sizeof a->alloc_sub, "%s/alloc", a->dir);
  snprintf(a->logs, sizeof a->logs, "%s/logs", a->alloc_sub);
  if (mkdir(a->dir, 0755) || mkdir(a->task_dir, 0755) || mkdir(a->local, 0755) ||
      mkdir(a->alloc_sub, 0755) || mkdir(a->logs, 0755))
    return -1;
  snprintf(a->out_path, sizeof a->out_path, "%s/.%s.stdout.fifo", a->logs, a->name);
  snprintf(a->err_path, sizeof a->err_path, "%s/.%s.stderr.fifo", a->logs, a->name);
  if (mkfifo(a->out_path, 0600) || mkfifo(a->err_path, 0600)) return -1;
  a->out_fd = open(a->out_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  a->err_fd = open(a->err_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (a->out_fd < 0 || a->err_fd < 0) return -1;
  snprintf(a->id, sizeof a->id, "tput-%d-%d/%s/%08x", (int)getpid(), n, a->name, n);
  snprintf(a->alloc_id, sizeof a->alloc_id, "tput-alloc-%d", n);
  return 0;
}

static void drain(int fd) {
  char buf[4096];
  while (fd >= 0 && read(fd, buf, sizeof buf) > 0) {
  }
}

static void alloc_free(alloc *a) {
  drain(a->out_fd);
  drain(a->err_fd);
  if (a->out_fd >= 0) close(a->out_fd);
  if (a->err_fd >= 0) close(a->err_fd);
  unlink(a->out_path);
  unlink(a->err_path);
  rmdir(a->logs);
  rmdir(a->alloc_sub);
  rmdir(a->local);
  rmdir(a->task_dir);
  rmdir(a->dir);
}

/* A unary call; 0, or -1 with the first error recorded. */
static int call(const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *desc, ProtobufCMessage **rep, const char *id) {
  char path[128];
  snprintf(path, sizeof path, DRV "%s", method);
  rpc_status st = {0};
  int rc = rpc_unary(client, path, req, desc, rep, CALL_TIMEOUT_MS, &st);
  if (rc != 0 || st.code != GRPC_STATUS_OK) {
    char what[256];
    snprintf(what, sizeof what, "%s %s", method, id);
    fail("%s: %s", what, st.details ? st.details : "call failed");
    rc = -1;
  }
  rpc_status_clear(&st);
  return rc;
}

/* The task config bench.py sends: python, code "pass". */
typedef struct config {
  uint8_t *data;
  size_t len;
} config;

static alloc *allocs; /* TASKS of them, made before the clock starts */

static void run_task(int n, const config *cfg) {
  alloc *a = &allocs[n]; /* this thread's alone while the task runs */
  DP(TaskConfig) tc = DP_INIT(TASK_CONFIG);
  DP(TaskConfig__EnvEntry) e_path = DP_INIT(TASK_CONFIG__ENV_ENTRY), e_dir = e_path;
  DP(TaskConfig__EnvEntry) *env[] = {&e_path, &e_dir};
  e_path.key = (char *)"PATH";
  e_path.value = (char *)"/usr/local/bin:/usr/bin:/bin";
  e_dir.key = (char *)"NOMAD_TASK_DIR";
  e_dir.value = a->local;
  tc.id = a->id;
  tc.name = a->name;
  tc.alloc_id = a->alloc_id;
  tc.alloc_dir = a->dir;
  tc.stdout_path = a->out_path;
  tc.stderr_path = a->err_path;
  tc.env = env;
  tc.n_env = 2;
  tc.msgpack_driver_config.data = cfg->data;
  tc.msgpack_driver_config.len = cfg->len;
  DP(StartTaskRequest) sreq = DP_INIT(START_TASK_REQUEST);
  sreq.task = &tc;
  ProtobufCMessage *rep = NULL;
  if (call("StartTask", &sreq.base, &DP_DESC(start_task_response), &rep, a->id) == 0) {
    DP(StartTaskResponse) *s = (void *)rep;
    if (s->result != START_SUCCESS)
      fail("StartTask %s: %s", a->id, s->driver_error_msg ? s->driver_error_msg : "refused");
  }
  if (rep) protobuf_c_message_free_unpacked(rep, NULL);
  if (!atomic_load(&failed)) {
    DP(WaitTaskRequest) wreq = DP_INIT(WAIT_TASK_REQUEST);
    wreq.task_id = a->id;
    rep = NULL;
    if (call("WaitTask", &wreq.base, &DP_DESC(wait_task_response), &rep, a->id) == 0) {
      DP(WaitTaskResponse) *w = (void *)rep;
      if (w->err && w->err[0]) fail("WaitTask %s: %s", a->id, w->err);
      else if (!w->result || w->result->exit_code != 0) fail("task %s: %s", a->id, "exit code not 0");
    }
    if (rep) protobuf_c_message_free_unpacked(rep, NULL);
    DP(DestroyTaskRequest) dreq = DP_INIT(DESTROY_TASK_REQUEST);
    dreq.task_id = a->id;
    dreq.force = 1;
    rep = NULL;
    call("DestroyTask", &dreq.base, &DP_DESC(destroy_task_response), &rep, a->id);
    if (rep) protobuf_c_message_free_unpacked(rep, NULL);
  }
}

static void *worker(void *arg) {
  const config *cfg = arg;
  for (;;) {
    int n = atomic_fetch_add(&next_task, 1);
    if (n >= atomic_load(&tasks_total) || atomic_load(&failed)) return NULL;
    run_task(n, cfg);
  }
}

/* Every task's alloc directory and open FIFOs, as Nomad has them before
 * StartTask. Two descriptors a task: the soft limit on open files is
 * raised to the hard one first. */
static int prepare_allocs(int tasks) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  allocs = calloc((size_t)tasks, sizeof *allocs);
  if (!allocs) {
    fail("%s%s", "out of memory", "");
    return -1;
  }
  for (int n = 0; n < tasks; n++) allocs[n].out_fd = allocs[n].err_fd = -1;
  for (int n = 0; n < tasks; n++)
    if (alloc_make(&allocs[n], n) != 0) {
      fail("alloc dir %s: %s", allocs[n].dir, strerror(errno));
      return -1;
    }
  return 0;
}

static void remove_allocs(int tasks) {
  if (!allocs) return;
  for (int n = 0; n < tasks; n++)
    if (allocs[n].dir[0]) alloc_free(&allocs[n]);
  free(allocs);
  allocs = NULL;
}

static int positive(const char *s, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v <= 0 || v > 1000000) return -1;
  *out = (int)v;
  return 0;
}

int main(int argc, char **argv) {
  int tasks, conc;
  if (argc != 5 || positive(argv[3], &tasks) || positive(argv[4], &conc) || conc > 256) {
    fprintf(stderr, "usage: elide-bench-tput ADDRESS ROOT TASKS CONCURRENCY (1..256)\n");
    return 2;
  }
  root = argv[2];
  atomic_store(&tasks_total, tasks);
  grpc_init();
  client = rpc_client_new(argv[1]);
  config cfg;
  cfg.data = task_config_msgpack("python", NULL, "pass", NULL, &cfg.len);
  if (prepare_allocs(tasks) != 0) {
    fprintf(stderr, "elide-bench-tput: %s\n", first_err);
    remove_allocs(tasks);
    return 1;
  }
  pthread_t th[256];
  int started = 0;
  double t0 = now_s();
  for (; started < conc; started++)
    if (pthread_create(&th[started], NULL, worker, &cfg) != 0) {
      fail("%s%s", "cannot start a client thread", "");
      break;
    }
  for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
  double secs = now_s() - t0;
  remove_allocs(tasks);
  free(cfg.data);
  rpc_client_free(client);
  grpc_shutdown_blocking();
  if (atomic_load(&failed)) {
    fprintf(stderr, "elide-bench-tput: %s\n", first_err);
    return 1;
  }
  printf("{\"tasks\": %d, \"seconds\": %.6f, \"tasks_per_s\": %.3f}\n", tasks, secs,
         (double)tasks / secs);
  return 0;
}
