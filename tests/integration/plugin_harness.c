/* Plugin launcher, fake logmon and config builders for integration tests. */
#include "plugin_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <poll.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "goplugin/grpc_controller.pb-c.h"
#include "nomad/driver.pb-c.h"

extern char **environ;

/* The plugin under test: ELIDE_PLUGIN_BINARY, else the one built here. */
static const char *plugin_binary(void) {
  const char *b = getenv("ELIDE_PLUGIN_BINARY");
  return b && b[0] ? b : PLUGIN_BINARY;
}

/* Weak: execd_harness.c has the same clock when both are linked. */
__attribute__((weak)) int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int plugin_start(plugin_proc *p, const char *const *extra_env) {
  int out[2], err[2];
  memset(p, 0, sizeof *p);
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return -1;
  p->pid = fork();
  if (p->pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    setenv("NOMAD_PLUGIN_MAGIC_COOKIE",
           "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255", 1);
    setenv("PLUGIN_PROTOCOL_VERSIONS", "2", 1);
    setenv("PLUGIN_MIN_PORT", "10000", 1);
    setenv("PLUGIN_MAX_PORT", "25000", 1);
    for (const char *const *e = extra_env; e && *e; e++) putenv((char *)*e);
    /* ELIDE_PLUGIN_WRAPPER runs the plugin under a tool, e.g. valgrind:
     * space-separated words put before the binary. */
    const char *wrapper = getenv("ELIDE_PLUGIN_WRAPPER");
    if (wrapper && wrapper[0]) {
      char *words[32], *copy = strdup(wrapper), *save = NULL;
      int n = 0;
      for (char *w = strtok_r(copy, " ", &save); w && n < 30; w = strtok_r(NULL, " ", &save))
        words[n++] = w;
      words[n++] = (char *)plugin_binary();
      words[n] = NULL;
      execvp(words[0], words);
      _exit(127);
    }
    execl(plugin_binary(), plugin_binary(), (char *)NULL);
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  p->stderr_fd = err[0];
  fcntl(p->stderr_fd, F_SETFL, O_NONBLOCK);
  /* Read the first stdout line within 10 s. */
  size_t used = 0;
  int64_t deadline = now_ms() + 60000; /* go-plugin's StartTimeout is 1 min */
  while (used < sizeof p->handshake - 1 && !memchr(p->handshake, '\n', used)) {
    struct pollfd pfd = {out[0], POLLIN, 0};
    int left = (int)(deadline - now_ms());
    if (left <= 0 || poll(&pfd, 1, left) <= 0) break;
    ssize_t n = read(out[0], p->handshake + used, sizeof p->handshake - 1 - used);
    if (n <= 0) break;
    used += (size_t)n;
  }
  close(out[0]);
  p->handshake[used] = '\0';
  char *nl = strchr(p->handshake, '\n');
  if (!nl) return -1;
  *nl = '\0';
  /* 1|2|unix|/path|grpc| */
  char copy[1024], *fields[8] = {0};
  int nf = 0;
  snprintf(copy, sizeof copy, "%s", p->handshake);
  for (char *s = copy, *bar; nf < 8; s = bar + 1) {
    fields[nf++] = s;
    if (!(bar = strchr(s, '|'))) break;
    *bar = '\0';
  }
  if (nf < 5 || strcmp(fields[2], "unix") != 0) return -1;
  snprintf(p->address, sizeof p->address, "unix:%s", fields[3]);
  p->client = rpc_client_new(p->address);
  return p->client ? 0 : -1;
}

int plugin_stop(plugin_proc *p, int hard, int timeout_ms) {
  if (hard) {
    kill(p->pid, SIGKILL);
  } else {
    Plugin__Empty req = PLUGIN__EMPTY__INIT;
    ProtobufCMessage *rep = NULL;
    rpc_status st = {0};
    rpc_unary(p->client, "/plugin.GRPCController/Shutdown", &req.base, &plugin__empty__descriptor,
              &rep, 2000, &st);
    if (rep) protobuf_c_message_free_unpacked(rep, NULL);
    rpc_status_clear(&st);
  }
  int status = -1;
  int64_t deadline = now_ms() + timeout_ms;
  while (now_ms() < deadline) {
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid) break;
    status = -1;
    usleep(10000);
  }
  if (status == -1) {
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
  }
  rpc_client_free(p->client);
  p->client = NULL;
  close(p->stderr_fd);
  return status;
}

typedef struct reader_arg {
  fake_alloc *a;
  const char *path;
  int is_err;
} reader_arg;

/* A logmon-like reader. The FIFO is opened non-blocking, so the reader is
 * in place at once (the monitor's non-blocking writer open needs one) and
 * can be told to stop; EOF is POLLHUP, which Linux reports only after a
 * writer has come and all writers have gone. */
static void *fifo_reader(void *arg) {
  reader_arg *ra = arg;
  fake_alloc *a = ra->a;
  int fd = open(ra->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  while (fd >= 0 && !atomic_load(&a->stop)) {
    struct pollfd pfd = {fd, POLLIN, 0};
    if (poll(&pfd, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      pthread_mutex_lock(&a->mu);
      char **dst = ra->is_err ? &a->err : &a->out;
      size_t *len = ra->is_err ? &a->err_len : &a->out_len;
      char *grown = realloc(*dst, *len + (size_t)n + 1);
      if (grown) {
        memcpy(grown + *len, buf, (size_t)n);
        *len += (size_t)n;
        grown[*len] = '\0';
        *dst = grown;
      }
      pthread_mutex_unlock(&a->mu);
    } else if (n == 0 && (pfd.revents & POLLHUP)) {
      break; /* every writer that came has gone, and the data is drained */
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      break;
    }
  }
  if (fd >= 0) close(fd);
  free(ra);
  return NULL;
}

static int mkdirs(const char *path) {
  char tmp[512];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *s = tmp + 1; *s; s++)
    if (*s == '/') {
      *s = '\0';
      mkdir(tmp, 0755);
      *s = '/';
    }
  return mkdir(tmp, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

int fake_alloc_create(fake_alloc *a, const char *task_name) {
  memset(a, 0, sizeof *a);
  pthread_mutex_init(&a->mu, NULL);
  snprintf(a->root, sizeof a->root, "/tmp/elide-it-XXXXXX");
  if (!mkdtemp(a->root) || chmod(a->root, 0755) != 0) return -1; /* like Nomad's alloc dir */
  char logs[400], local[600];
  snprintf(a->task_dir, sizeof a->task_dir, "%s/%s", a->root, task_name);
  snprintf(local, sizeof local, "%s/local", a->task_dir);
  snprintf(logs, sizeof logs, "%s/alloc/logs", a->root);
  if (mkdirs(local) || mkdirs(logs)) return -1;
  snprintf(a->stdout_fifo, sizeof a->stdout_fifo, "%s/.%s.stdout.fifo", logs, task_name);
  snprintf(a->stderr_fifo, sizeof a->stderr_fifo, "%s/.%s.stderr.fifo", logs, task_name);
  if (mkfifo(a->stdout_fifo, 0600) || mkfifo(a->stderr_fifo, 0600)) return -1;
  reader_arg *o = calloc(1, sizeof *o), *e = calloc(1, sizeof *e);
  *o = (reader_arg){a, a->stdout_fifo, 0};
  *e = (reader_arg){a, a->stderr_fifo, 1};
  pthread_create(&a->out_th, NULL, fifo_reader, o);
  pthread_create(&a->err_th, NULL, fifo_reader, e);
  return 0;
}

int fake_alloc_write(fake_alloc *a, const char *rel, const char *content) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", a->task_dir, rel);
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs(content, f);
  return fclose(f);
}

int fake_alloc_wait_output(fake_alloc *a, const char *needle, int timeout_ms) {
  int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    pthread_mutex_lock(&a->mu);
    int found = a->out && strstr(a->out, needle) != NULL;
    pthread_mutex_unlock(&a->mu);
    if (found) return 1;
    if (now_ms() >= deadline) return 0;
    usleep(10000);
  }
}

int fake_alloc_wait_eof(fake_alloc *a, int timeout_ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += timeout_ms / 1000;
  ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  if (pthread_timedjoin_np(a->out_th, NULL, &ts) != 0) return -1;
  a->out_th = 0;
  if (pthread_timedjoin_np(a->err_th, NULL, &ts) != 0) return -1;
  a->err_th = 0;
  return 0;
}

static void stop_reader(fake_alloc *a, pthread_t th) {
  if (!th) return;
  atomic_store(&a->stop, 1);
  pthread_join(th, NULL);
}

static int rm_tree(const char *path) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  return system(cmd);
}

void fake_alloc_destroy(fake_alloc *a) {
  stop_reader(a, a->out_th);
  stop_reader(a, a->err_th);
  free(a->out);
  free(a->err);
  rm_tree(a->root);
  pthread_mutex_destroy(&a->mu);
}

static void pack_str(msgpack_packer *pk, const char *s) {
  msgpack_pack_str(pk, strlen(s));
  msgpack_pack_str_body(pk, s, strlen(s));
}

static void pack_opt_str(msgpack_packer *pk, const char *s) {
  if (s)
    pack_str(pk, s);
  else
    msgpack_pack_nil(pk);
}

uint8_t *task_config_msgpack(const char *language, const char *script, const char *code,
                             const char *const *args, size_t *len) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 4);
  pack_str(&pk, "args");
  if (args) {
    size_t n = 0;
    while (args[n]) n++;
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++) pack_str(&pk, args[i]);
  } else {
    msgpack_pack_nil(&pk);
  }
  pack_str(&pk, "code");
  pack_opt_str(&pk, code);
  pack_str(&pk, "language");
  pack_opt_str(&pk, language);
  pack_str(&pk, "script");
  pack_opt_str(&pk, script);
  *len = sb.size;
  return (uint8_t *)sb.data;
}

const char *test_task_id(const char *rest) {
  static char pool[16][128];
  static int next;
  char *id = pool[next++ % 16];
  snprintf(id, 128, "alloc-%d/%s", (int)getpid(), rest);
  return id;
}

grpc_status_code plugin_call(plugin_proc *p, const char *path, const ProtobufCMessage *req,
                             const ProtobufCMessageDescriptor *desc, ProtobufCMessage **rep,
                             char *details, size_t dlen) {
  rpc_status st = {0};
  *rep = NULL;
  if (rpc_unary(p->client, path, req, desc, rep, 30000, &st) != 0) st.code = GRPC_STATUS_UNKNOWN;
  if (details) snprintf(details, dlen, "%s", st.details ? st.details : "");
  grpc_status_code code = st.code;
  rpc_status_clear(&st);
  return code;
}

void msg_free(ProtobufCMessage *m) {
  if (m) protobuf_c_message_free_unpacked(m, NULL);
}

int plugin_wait_task(plugin_proc *p, const char *id, int *exit_code, int *signal, int *oom) {
  Hashicorp__Nomad__Plugins__Drivers__Proto__WaitTaskRequest req =
      HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__WAIT_TASK_REQUEST__INIT;
  req.task_id = (char *)id;
  ProtobufCMessage *rep;
  if (plugin_call(p, "/hashicorp.nomad.plugins.drivers.proto.Driver/WaitTask", &req.base,
                  &hashicorp__nomad__plugins__drivers__proto__wait_task_response__descriptor, &rep,
                  NULL, 0) != GRPC_STATUS_OK)
    return -1;
  Hashicorp__Nomad__Plugins__Drivers__Proto__WaitTaskResponse *w = (void *)rep;
  int ok = w->result != NULL;
  if (ok) {
    *exit_code = w->result->exit_code;
    *signal = w->result->signal;
    *oom = w->result->oom_killed;
  }
  msg_free(rep);
  return ok ? 0 : -1;
}
