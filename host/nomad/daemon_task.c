/* Daemon-mode tasks: the proxy onto the ExecutionApi (see daemon_task.h). */
#include "daemon_task.h"

#include "cgroup.h"
#include "daemon_client.h"
#include "log.h"
#include "nomad_pb.h"
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WAIT_SLICE_MS 2000 /* WaitExecution's own timeout, so closing is noticed */
#define CALL_TIMEOUT_MS 10000
#define RETRY_MS 500

typedef struct daemon_task {
  task *t; /* not referenced: release joins every thread before the task can go */
  char endpoint[512];
  char fifo[2][PATH_MAX];
  /* The task's elide-relay, which owns the FIFOs (relay.h). */
  pid_t relay_pid;
  uint64_t relay_ticks;
  char relay_sock[PATH_MAX + 16];
  int rfd[2]; /* each output thread's connection to the relay, -1 */
  pthread_mutex_t mu;
  pthread_cond_t cond;
  int closing;
  rpc_stream *streams[2];
  uint64_t offset[2]; /* next byte of each stream for the relay */
  int out_done[2];
  pthread_t out_th[2], wait_th;
  int out_started[2], wait_started;
  daemon_event_sink events; /* emit NULL: none */
} daemon_task;

/* mkdir -p, 0700 for the missing components. */
static int mkdir_p_state(const char *path) {
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return mkdir(buf, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int is_closing(daemon_task *d) {
  pthread_mutex_lock(&d->mu);
  int c = d->closing;
  pthread_mutex_unlock(&d->mu);
  return c;
}

/* Connects output thread i to the relay (after checking it is still the
 * process that was started) and learns where its stream stands; 1 when the
 * stream already got its eof, -1 when the relay is gone. */
static int relay_attach(daemon_task *d, int i) {
  if (!relay_alive(d->relay_pid, d->relay_ticks)) return -1;
  int fd = relay_connect(d->relay_sock);
  if (fd < 0) return -1;
  uint64_t next[2];
  unsigned closed = 0;
  if (relay_offsets(fd, next, &closed) != 0) {
    close(fd);
    return -1;
  }
  pthread_mutex_lock(&d->mu);
  if (d->rfd[i] >= 0) close(d->rfd[i]);
  d->rfd[i] = fd;
  d->offset[i] = next[i];
  int closing = d->closing;
  pthread_mutex_unlock(&d->mu);
  if (closing) shutdown(fd, SHUT_RDWR);
  return closed & (1u << i) ? 1 : 0;
}

static void relay_detach(daemon_task *d, int i) {
  pthread_mutex_lock(&d->mu);
  if (d->rfd[i] >= 0) close(d->rfd[i]);
  d->rfd[i] = -1;
  pthread_mutex_unlock(&d->mu);
}

/* Hands one chunk to the relay (which drops what it already wrote); 0, or
 * -1 when the stream cannot go on (relay gone or refusing). */
static int relay_chunk(daemon_task *d, int i, const EP(OutputChunk) * ch) {
  for (int attempt = 0; attempt < 2; attempt++) {
    pthread_mutex_lock(&d->mu);
    int fd = d->rfd[i];
    uint64_t next = d->offset[i];
    pthread_mutex_unlock(&d->mu);
    uint64_t nx[2] = {0, 0};
    int rc = 0;
    if (ch->offset > next) { /* trimmed from the daemon's spool: lost */
      char lost[32];
      snprintf(lost, sizeof lost, "%llu", (unsigned long long)(ch->offset - next));
      log_msg(LOG_WARN, "output trimmed by the daemon before it was read", "task_id", d->t->id,
              "bytes", lost, NULL);
      rc = relay_skip(fd, i, ch->offset, nx);
    }
    if (rc == 0 && ch->data.len) rc = relay_data(fd, i, ch->offset, ch->data.data, ch->data.len, nx);
    if (rc == 0 && ch->eof) rc = relay_eof(fd, i, nx);
    if (rc == 0) {
      pthread_mutex_lock(&d->mu);
      if (nx[i] > d->offset[i]) d->offset[i] = nx[i];
      pthread_mutex_unlock(&d->mu);
      return 0;
    }
    if (is_closing(d)) return -1;
    log_msg(LOG_WARN, "output relay refused a chunk; reconnecting", "task_id", d->t->id, "error",
            strerror(-rc), NULL);
    relay_detach(d, i);
    if (relay_attach(d, i) != 0) return -1;
    pthread_mutex_lock(&d->mu);
    next = d->offset[i];
    pthread_mutex_unlock(&d->mu);
    if (ch->offset > next) return 1; /* a gap the relay does not have: re-read */
  }
  return -1;
}

typedef struct out_arg {
  daemon_task *d;
  int i; /* 0 stdout, 1 stderr */
} out_arg;

/* Copies one stream from the daemon into its FIFO until eof; reconnects
 * from the recorded offset when the daemon goes away. */
static void *output_main(void *arg) {
  out_arg *a = arg;
  daemon_task *d = a->d;
  int i = a->i;
  free(a);
  int done = relay_attach(d, i);
  if (done < 0) {
    log_msg(LOG_WARN, "output relay is gone; the task's output no longer reaches Nomad",
            "task_id", d->t->id, "stream", i ? "stderr" : "stdout", NULL);
    done = 1;
  }
  while (!done && !is_closing(d)) {
    EP(ReadOutputRequest) req = EP_INIT(READ_OUTPUT_REQUEST);
    req.session_id = (char *)DAEMON_SESSION_ID;
    req.execution_id = d->t->id;
    req.fd = i == 0 ? EP_ENUM(OUTPUT_FD__OUTPUT_FD_STDOUT) : EP_ENUM(OUTPUT_FD__OUTPUT_FD_STDERR);
    pthread_mutex_lock(&d->mu);
    req.offset = d->offset[i];
    pthread_mutex_unlock(&d->mu);
    req.follow = 1;
    rpc_client *c = daemon_client(d->endpoint);
    rpc_stream *s = c ? rpc_stream_open(c, EXEC_API("ReadOutput"), &req.base, 1, 0) : NULL;
    if (!s) {
      sleep_ms(RETRY_MS);
      continue;
    }
    pthread_mutex_lock(&d->mu);
    d->streams[i] = d->closing ? NULL : s;
    int closing = d->closing;
    pthread_mutex_unlock(&d->mu);
    if (closing) rpc_stream_cancel(s);
    int reread = 0;
    for (;;) {
      ProtobufCMessage *m = NULL;
      int r = rpc_stream_recv(s, &EP_DESC(output_chunk), &m, 500);
      if (r == -2) {
        if (is_closing(d)) rpc_stream_cancel(s);
        continue;
      }
      if (r != 1) break;
      EP(OutputChunk) *ch = (void *)m;
      int rc = relay_chunk(d, i, ch);
      if (rc == 0 && ch->eof) done = 1;
      if (rc < 0) {
        if (!is_closing(d))
          log_msg(LOG_WARN, "output relay is gone; the task's output no longer reaches Nomad",
                  "task_id", d->t->id, "stream", i ? "stderr" : "stdout", NULL);
        done = 1;
      }
      reread = rc > 0;
      protobuf_c_message_free_unpacked(m, NULL);
      if (done || reread) break;
    }
    if (reread) rpc_stream_cancel(s);
    pthread_mutex_lock(&d->mu);
    d->streams[i] = NULL;
    pthread_mutex_unlock(&d->mu);
    rpc_status st = {0};
    rpc_stream_finish(s, &st);
    if (st.code == GRPC_STATUS_NOT_FOUND) done = 1; /* the execution is gone */
    rpc_status_clear(&st);
    if (!done && !reread) sleep_ms(RETRY_MS);
  }
  relay_detach(d, i);
  pthread_mutex_lock(&d->mu);
  d->out_done[i] = 1;
  pthread_cond_broadcast(&d->cond);
  pthread_mutex_unlock(&d->mu);
  return NULL;
}

static void result_from(const EP(ExitResult) * r, exec_result *out) {
  memset(out, 0, sizeof *out);
  if (!r) {
    out->exit_code = -1;
    snprintf(out->err, sizeof out->err, "the daemon reported no exit result");
    return;
  }
  out->exit_code = r->exit_code;
  out->signal = r->signal;
  out->oom_killed = r->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_OOM);
  out->finished_at_ns = r->finished_at_ns;
  if (r->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_INTERNAL_ERROR))
    snprintf(out->err, sizeof out->err, "%s", r->error && r->error[0] ? r->error : "internal error");
  /* A timeout is a real end with the stopping signal's 128+n, as in local
   * mode; its event says so (report_end_reason). */
  out->timed_out = r->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_TIMEOUT);
}

static int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The task event for the first WaitExecution answered after the daemon
 * could not be reached (it restarted, or the connection broke). */
static void report_reconnect(daemon_task *d, int64_t lost_at_ms, const char *why) {
  char message[1400], secs[32];
  snprintf(secs, sizeof secs, "%.1f", (double)(monotonic_ms() - lost_at_ms) / 1000.0);
  log_msg(LOG_INFO, "reconnected to the execution daemon", "task_id", d->t->id, "endpoint",
          d->endpoint, "unreachable_s", secs, NULL);
  if (!d->events.emit) return;
  snprintf(message, sizeof message, "Reconnected to the execution daemon at %s after %s s "
           "without it (%s); the task kept running there", d->endpoint, secs, why);
  const char *ann[] = {"daemon_endpoint", d->endpoint, "unreachable_seconds", secs, NULL};
  d->events.emit(d->events.arg, d->t, message, ann);
}

/* The task event when the daemon runs the task without Nomad's memory and
 * CPU limits (it has no cgroups it may manage). */
static void report_limits_not_enforced(daemon_task *d, const char *why) {
  log_msg(LOG_WARN, "task limits not enforced by the execution daemon", "task_id", d->t->id,
          "endpoint", d->endpoint, "reason", why, NULL);
  if (!d->events.emit) return;
  char message[1400];
  snprintf(message, sizeof message, "Memory and CPU limits are not enforced: the execution "
           "daemon at %s has no cgroups (%s)", d->endpoint, why);
  const char *ann[] = {"limits_enforced", "false", "reason", why, NULL};
  d->events.emit(d->events.arg, d->t, message, ann);
}

/* The events for an execution the daemon ended for its memory limit or its
 * timeout (local tasks get theirs from task_limits_exit_events). */
static void report_end_reason(daemon_task *d, const EP(ExitResult) * r) {
  if (!r || !d->events.emit) return;
  char message[1400];
  if (r->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_OOM)) {
    snprintf(message, sizeof message, "OOM killed: the task exceeded its memory limit in the "
             "execution daemon at %s and the kernel's OOM killer ended it (SIGKILL)", d->endpoint);
    const char *ann[] = {"oom_killed", "true", "daemon_endpoint", d->endpoint, NULL};
    d->events.emit(d->events.arg, d->t, message, ann);
  } else if (r->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_TIMEOUT)) {
    snprintf(message, sizeof message, "Task exceeded its timeout: the execution daemon at %s "
             "stopped it (%s)", d->endpoint, r->error && r->error[0] ? r->error : "timeout");
    const char *ann[] = {"timeout", "true", "daemon_endpoint", d->endpoint, NULL};
    d->events.emit(d->events.arg, d->t, message, ann);
  }
}

/* Waits for the end (WaitExecution in slices, riding out daemon restarts),
 * lets the output reach the FIFOs, then records the exit. */
static void *wait_main(void *arg) {
  daemon_task *d = arg;
  exec_result res;
  int ended = 0;
  int64_t lost_at_ms = -1; /* when the daemon stopped answering; -1 while it answers */
  char lost_why[600] = "";
  while (!ended && !is_closing(d)) {
    EP(WaitExecutionRequest) req = EP_INIT(WAIT_EXECUTION_REQUEST);
    req.session_id = (char *)DAEMON_SESSION_ID;
    req.execution_id = d->t->id;
    req.timeout_ms = WAIT_SLICE_MS;
    ProtobufCMessage *rep = NULL;
    grpc_status_code code;
    char err[600];
    if (daemon_call(d->endpoint, "WaitExecution", &req.base, &EP_DESC(wait_execution_response),
                    &rep, WAIT_SLICE_MS + CALL_TIMEOUT_MS, &code, err, sizeof err) != 0) {
      if (code == GRPC_STATUS_NOT_FOUND) {
        memset(&res, 0, sizeof res);
        res.exit_code = -1;
        snprintf(res.err, sizeof res.err, "the execution daemon does not know the task: %s", err);
        ended = 1;
      } else {
        if (lost_at_ms < 0) {
          lost_at_ms = monotonic_ms();
          snprintf(lost_why, sizeof lost_why, "%s", err);
          log_msg(LOG_WARN, "the execution daemon is unreachable; retrying", "task_id", d->t->id,
                  "endpoint", d->endpoint, "error", err, NULL);
        }
        sleep_ms(RETRY_MS);
      }
      continue;
    }
    if (lost_at_ms >= 0) {
      report_reconnect(d, lost_at_ms, lost_why);
      lost_at_ms = -1;
    }
    EP(WaitExecutionResponse) *w = (void *)rep;
    if (w->complete) {
      report_end_reason(d, w->result);
      result_from(w->result, &res);
      ended = 1;
    }
    protobuf_c_message_free_unpacked(rep, NULL);
  }
  if (!ended) return NULL;
  if (!res.finished_at_ns) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    res.finished_at_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
  }
  /* Nomad reads the logs after WaitTask: every byte first (bounded, in
   * case the daemon cannot deliver the rest). */
  struct timespec limit;
  clock_gettime(CLOCK_REALTIME, &limit);
  limit.tv_sec += 30;
  pthread_mutex_lock(&d->mu);
  while (!d->closing && (!d->out_done[0] || !d->out_done[1]))
    if (pthread_cond_timedwait(&d->cond, &d->mu, &limit) == ETIMEDOUT) break;
  pthread_mutex_unlock(&d->mu);
  char code[32];
  snprintf(code, sizeof code, "%d", res.exit_code);
  log_msg(LOG_INFO, "task exited", "task_id", d->t->id, "exit_code", code, "error", res.err, NULL);
  task_mark_exited(d->t, &res);
  return NULL;
}

static int spawn(pthread_t *th, void *(*fn)(void *), void *arg) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  int rc = pthread_create(th, &attr, fn, arg);
  pthread_attr_destroy(&attr);
  return rc;
}

static daemon_task *proxy_new(task *t, const char *endpoint, const char *out, const char *err) {
  daemon_task *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->t = t;
  snprintf(d->endpoint, sizeof d->endpoint, "%s", endpoint);
  snprintf(d->fifo[0], sizeof d->fifo[0], "%s", out ? out : "");
  snprintf(d->fifo[1], sizeof d->fifo[1], "%s", err ? err : "");
  snprintf(d->relay_sock, sizeof d->relay_sock, "%s/%s", t->state_dir, RELAY_SOCKET_NAME);
  d->rfd[0] = d->rfd[1] = -1;
  pthread_mutex_init(&d->mu, NULL);
  pthread_cond_init(&d->cond, NULL);
  return d;
}

/* Starts the output and wait threads; the task then belongs to the proxy. */
static int proxy_run(daemon_task *d) {
  for (int i = 0; i < 2; i++) {
    out_arg *a = malloc(sizeof *a);
    if (!a) return -ENOMEM;
    *a = (out_arg){d, i};
    if (spawn(&d->out_th[i], output_main, a) != 0) {
      free(a);
      return -EAGAIN;
    }
    d->out_started[i] = 1;
  }
  if (spawn(&d->wait_th, wait_main, d) != 0) return -EAGAIN;
  d->wait_started = 1;
  d->t->remote = d;
  d->t->runner = &daemon_runner;
  return 0;
}

/* Ends the relay of a task whose output will not be completed (released
 * or never started), and waits a little for it to go. */
static void relay_end(daemon_task *d) {
  if (!relay_alive(d->relay_pid, d->relay_ticks)) return;
  int fd = relay_connect(d->relay_sock);
  if (fd >= 0) {
    relay_abort(fd);
    close(fd);
  } else {
    kill(d->relay_pid, SIGKILL);
  }
  for (int waited = 0; waited < 2000 && relay_alive(d->relay_pid, d->relay_ticks); waited += 10)
    sleep_ms(10);
}

/* end_relay: also ends the relay (the task is released). */
static void proxy_free(daemon_task *d, int end_relay) {
  if (!d) return;
  pthread_mutex_lock(&d->mu);
  d->closing = 1;
  for (int i = 0; i < 2; i++) {
    if (d->streams[i]) rpc_stream_cancel(d->streams[i]);
    if (d->rfd[i] >= 0) shutdown(d->rfd[i], SHUT_RDWR); /* a reply the relay may owe */
  }
  pthread_cond_broadcast(&d->cond);
  pthread_mutex_unlock(&d->mu);
  for (int i = 0; i < 2; i++)
    if (d->out_started[i]) pthread_join(d->out_th[i], NULL);
  if (d->wait_started) pthread_join(d->wait_th, NULL);
  if (end_relay) relay_end(d);
  pthread_cond_destroy(&d->cond);
  pthread_mutex_destroy(&d->mu);
  free(d);
}

/* The module's task options as text, as the daemon parses them. */
static char *option_text(const elide_value *v) {
  char buf[64];
  switch (v->type) {
  case ELIDE_VALUE_LIST: {
    size_t len = 1;
    for (size_t i = 0; i < v->nlist; i++) len += strlen(v->list[i]) + 1;
    char *s = calloc(1, len);
    for (size_t i = 0; s && i < v->nlist; i++) {
      if (i) strcat(s, ",");
      strcat(s, v->list[i]);
    }
    return s;
  }
  case ELIDE_VALUE_INT:
    snprintf(buf, sizeof buf, "%lld", (long long)v->i);
    return strdup(buf);
  case ELIDE_VALUE_BOOL: return strdup(v->i ? "true" : "false");
  default: return strdup(v->str ? v->str : "");
  }
}

/* Nomad's memory and CPU resources, as the daemon's ResourceLimits (hard
 * memory limit by raw_exec's rule, cpu shares), best effort: a daemon
 * without cgroups runs the task anyway and says why. 0 when none. */
static int limits_for(const NomadTaskConfig *cfg, EP(ResourceLimits) *out) {
  const DP(Resources) *res = cfg->resources;
  const DP(AllocatedTaskResources) *ar = res ? res->allocated_resources : NULL;
  const DP(LinuxResources) *lr = res ? res->linux_resources : NULL;
  cgroup_limits lim = {
      .memory_mb = ar && ar->memory ? ar->memory->memory_mb : 0,
      .memory_max_mb = ar && ar->memory ? ar->memory->memory_max_mb : 0,
  };
  int64_t hard = 0, soft = 0;
  cgroup_memory_rule(&lim, &hard, &soft);
  int64_t shares = lr && lr->cpu_shares > 0 ? lr->cpu_shares : ar && ar->cpu ? ar->cpu->cpu_shares : 0;
  out->memory_bytes = hard > 0 ? (uint64_t)hard : 0;
  out->cpu_shares = shares > 0 ? (uint64_t)shares : 0;
  out->best_effort = 1;
  return out->memory_bytes || out->cpu_shares;
}

/* CreateSession + ExecuteSnippet. *limits_note gets the daemon's reason
 * when it could not enforce the task's limits ("" otherwise). */
static int execute(const char *endpoint, task *t, const task_request *tr,
                   const NomadTaskConfig *cfg, char *limits_note, size_t notelen, char *err,
                   size_t errlen) {
  limits_note[0] = '\0';
  grpc_status_code code;
  ProtobufCMessage *rep = NULL;
  EP(CreateSessionRequest) sreq = EP_INIT(CREATE_SESSION_REQUEST);
  sreq.session_id = (char *)DAEMON_SESSION_ID;
  if (daemon_call(endpoint, "CreateSession", &sreq.base, &EP_DESC(create_session_response), &rep,
                  CALL_TIMEOUT_MS, &code, err, errlen) != 0)
    return code == GRPC_STATUS_UNAVAILABLE || code == GRPC_STATUS_DEADLINE_EXCEEDED ? -EAGAIN
                                                                                     : -EPROTO;
  protobuf_c_message_free_unpacked(rep, NULL);

  size_t nenv = 0, nargs = 0;
  while (tr->envp && tr->envp[nenv]) nenv++;
  while (tr->args && tr->args[nargs]) nargs++;
  EP(ExecuteSnippetRequest__EnvEntry) *env = calloc(nenv + 1, sizeof *env);
  EP(ExecuteSnippetRequest__EnvEntry) **envp = calloc(nenv + 1, sizeof *envp);
  EP(ExecuteSnippetRequest__OptionsEntry) *opt = calloc(tr->noptions + 1, sizeof *opt);
  EP(ExecuteSnippetRequest__OptionsEntry) **optp = calloc(tr->noptions + 1, sizeof *optp);
  char **texts = calloc(tr->noptions + 1, sizeof *texts);
  char **envtexts = calloc(nenv + 1, sizeof *envtexts);
  int rc = -ENOMEM;
  if (!env || !envp || !opt || !optp || !texts || !envtexts) {
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  EP(ExecuteSnippetRequest) req = EP_INIT(EXECUTE_SNIPPET_REQUEST);
  for (size_t i = 0; i < nenv; i++) {
    EP(ExecuteSnippetRequest__EnvEntry) init = EP_INIT(EXECUTE_SNIPPET_REQUEST__ENV_ENTRY);
    env[i] = init;
    if (!(envtexts[i] = strdup(tr->envp[i]))) goto out;
    char *eq = strchr(envtexts[i], '=');
    if (eq) *eq = '\0';
    env[i].key = envtexts[i];
    env[i].value = eq ? eq + 1 : (char *)"";
    envp[i] = &env[i];
  }
  size_t nopt = 0;
  for (size_t i = 0; i < tr->noptions; i++) {
    if (!tr->options[i].is_set) continue;
    EP(ExecuteSnippetRequest__OptionsEntry) init = EP_INIT(EXECUTE_SNIPPET_REQUEST__OPTIONS_ENTRY);
    opt[nopt] = init;
    if (!(texts[nopt] = option_text(&tr->options[i]))) goto out;
    opt[nopt].key = (char *)tr->options[i].name;
    opt[nopt].value = texts[nopt];
    optp[nopt] = &opt[nopt];
    nopt++;
  }
  req.session_id = (char *)DAEMON_SESSION_ID;
  req.execution_id = t->id;
  req.language = tr->language;
  req.code = tr->code ? tr->code : (char *)"";
  req.script = tr->script ? tr->script : (char *)"";
  req.n_env = nenv;
  req.env = envp;
  req.n_args = nargs;
  req.args = tr->args;
  req.working_directory = (char *)tr->task_dir;
  req.user = cfg->user ? cfg->user : (char *)"";
  req.n_options = nopt;
  req.options = optp;
  if (tr->timeout_ms > 0) { /* the `timeout` option: the daemon enforces it */
    req.timeout_ms = (uint64_t)tr->timeout_ms;
    req.kill_signal = tr->timeout_signal;
    req.kill_grace_ms = (uint64_t)tr->timeout_grace_ms;
  }
  EP(ResourceLimits) limits = EP_INIT(RESOURCE_LIMITS);
  if (limits_for(cfg, &limits)) req.limits = &limits;
  rep = NULL;
  if (daemon_call(endpoint, "ExecuteSnippet", &req.base, &EP_DESC(execute_snippet_response), &rep,
                  CALL_TIMEOUT_MS, &code, err, errlen) != 0) {
    rc = code == GRPC_STATUS_UNAVAILABLE || code == GRPC_STATUS_DEADLINE_EXCEEDED ? -EAGAIN
                                                                                   : -EPROTO;
    goto out;
  }
  const EP(ExecuteSnippetResponse) *started = (const void *)rep;
  if (started->limits_note && started->limits_note[0])
    snprintf(limits_note, notelen, "%s", started->limits_note);
  protobuf_c_message_free_unpacked(rep, NULL);
  rc = 0;
out:
  for (size_t i = 0; texts && i < tr->noptions; i++) free(texts[i]);
  for (size_t i = 0; envtexts && i < nenv; i++) free(envtexts[i]);
  free(texts);
  free(envtexts);
  free(env);
  free(envp);
  free(opt);
  free(optp);
  return rc;
}

int daemon_task_start(task *t, const char *endpoint, const task_request *tr,
                      const NomadTaskConfig *cfg, const daemon_event_sink *events, char *err,
                      size_t errlen) {
  daemon_task *d = proxy_new(t, endpoint, cfg->stdout_path, cfg->stderr_path);
  if (!d) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  if (events) d->events = *events;
  if (mkdir_p_state(t->state_dir) != 0) {
    snprintf(err, errlen, "cannot create %s: %s", t->state_dir, strerror(errno));
    proxy_free(d, 0);
    return -EIO;
  }
  char relay_path[PATH_MAX];
  int rc = relay_default_path(relay_path, sizeof relay_path);
  if (rc != 0) {
    snprintf(err, errlen, "elide-relay not found next to the plugin or in %s",
             ELIDE_INSTALL_PKGLIBDIR);
    proxy_free(d, 0);
    return rc;
  }
  rc = relay_spawn(relay_path, t->state_dir, d->fifo[0], d->fifo[1], &d->relay_pid,
                   &d->relay_ticks, err, errlen);
  if (rc != 0) {
    proxy_free(d, 0);
    return rc == -EAGAIN ? -EIO : rc;
  }
  char limits_note[600];
  rc = execute(endpoint, t, tr, cfg, limits_note, sizeof limits_note, err, errlen);
  if (rc == 0 && limits_note[0]) report_limits_not_enforced(d, limits_note);
  if (rc == 0 && (rc = proxy_run(d)) != 0) snprintf(err, errlen, "cannot start threads");
  if (rc != 0) {
    t->remote = NULL;
    t->runner = NULL;
    proxy_free(d, 1);
  }
  return rc;
}

int daemon_task_recover(task *t, const char *endpoint, const char *stdout_path,
                        const char *stderr_path, pid_t relay_pid, uint64_t relay_ticks,
                        const char *relay_socket, const daemon_event_sink *events, char *err,
                        size_t errlen) {
  daemon_task *d = proxy_new(t, endpoint, stdout_path, stderr_path);
  if (!d) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  if (events) d->events = *events;
  d->relay_pid = relay_pid;
  d->relay_ticks = relay_ticks;
  if (relay_socket && relay_socket[0])
    snprintf(d->relay_sock, sizeof d->relay_sock, "%s", relay_socket);
  int rc = proxy_run(d);
  if (rc != 0) {
    snprintf(err, errlen, "cannot start threads");
    t->remote = NULL;
    t->runner = NULL;
    proxy_free(d, 0);
  }
  return rc;
}

void daemon_task_relay(const task *t, pid_t *pid, uint64_t *ticks, const char **sock) {
  const daemon_task *d = t->remote;
  *pid = d ? d->relay_pid : 0;
  *ticks = d ? d->relay_ticks : 0;
  *sock = d ? d->relay_sock : "";
}

const char *daemon_task_endpoint(const task *t) { return t->remote ? t->remote->endpoint : ""; }

int daemon_task_usage(task *t, uint64_t *user_ns, uint64_t *system_ns, uint64_t *rss_bytes) {
  daemon_task *d = t->remote;
  if (!d) return -1;
  EP(GetExecutionStatusRequest) req = EP_INIT(GET_EXECUTION_STATUS_REQUEST);
  req.session_id = (char *)DAEMON_SESSION_ID;
  req.execution_id = t->id;
  ProtobufCMessage *rep = NULL;
  grpc_status_code code;
  char err[600];
  if (daemon_call(d->endpoint, "GetExecutionStatus", &req.base,
                  &EP_DESC(get_execution_status_response), &rep, CALL_TIMEOUT_MS, &code, err,
                  sizeof err) != 0)
    return -1;
  EP(GetExecutionStatusResponse) *s = (void *)rep;
  *user_ns = s->stats ? s->stats->cpu_user_ns : 0;
  *system_ns = s->stats ? s->stats->cpu_system_ns : 0;
  *rss_bytes = s->stats ? s->stats->memory_current_bytes : 0;
  protobuf_c_message_free_unpacked(rep, NULL);
  return 0;
}

/* --- the runner ------------------------------------------------------ */

static int cancel(task *t, int sig, int grace_ms, char *err, size_t errlen) {
  EP(CancelExecutionRequest) req = EP_INIT(CANCEL_EXECUTION_REQUEST);
  req.session_id = (char *)DAEMON_SESSION_ID;
  req.execution_id = t->id;
  req.signal = sig;
  req.grace_period_ms = (uint64_t)grace_ms;
  ProtobufCMessage *rep = NULL;
  grpc_status_code code;
  if (daemon_call(t->remote->endpoint, "CancelExecution", &req.base,
                  &EP_DESC(cancel_execution_response), &rep, CALL_TIMEOUT_MS, &code, err,
                  errlen) != 0)
    return code == GRPC_STATUS_NOT_FOUND ? 0 : -EIO;
  protobuf_c_message_free_unpacked(rep, NULL);
  return 0;
}

/* Waits until the wait thread recorded the exit (it also drains output). */
static int await_exit(task *t, int timeout_ms) {
  for (int waited = 0; timeout_ms < 0 || waited < timeout_ms; waited += 20) {
    if (task_exit_state(t, NULL, NULL)) return 0;
    sleep_ms(20);
  }
  return -ETIMEDOUT;
}

static int daemon_stop(task *t, int sig, int grace_ms, char *err, size_t errlen) {
  int rc = cancel(t, sig, grace_ms, err, errlen);
  if (rc != 0) return rc;
  if (await_exit(t, grace_ms + 60000) != 0) {
    snprintf(err, errlen, "the daemon did not end the task within %d ms", grace_ms + 60000);
    return -ETIMEDOUT;
  }
  return 0;
}

static int daemon_signal(task *t, int sig) {
  if (task_exit_state(t, NULL, NULL)) return -ESRCH;
  EP(SignalExecutionRequest) req = EP_INIT(SIGNAL_EXECUTION_REQUEST);
  req.session_id = (char *)DAEMON_SESSION_ID;
  req.execution_id = t->id;
  req.signal = sig;
  ProtobufCMessage *rep = NULL;
  grpc_status_code code;
  char err[600];
  if (daemon_call(t->remote->endpoint, "SignalExecution", &req.base,
                  &EP_DESC(signal_execution_response), &rep, CALL_TIMEOUT_MS, &code, err,
                  sizeof err) != 0) {
    log_msg(LOG_WARN, "signal failed", "task_id", t->id, "error", err, NULL);
    return code == GRPC_STATUS_NOT_FOUND || code == GRPC_STATUS_FAILED_PRECONDITION ? -ESRCH
                                                                                     : -EIO;
  }
  protobuf_c_message_free_unpacked(rep, NULL);
  return 0;
}

static void daemon_kill(task *t) {
  char err[600];
  if (cancel(t, SIGKILL, 0, err, sizeof err) != 0)
    log_msg(LOG_WARN, "kill failed", "task_id", t->id, "error", err, NULL);
  if (await_exit(t, 10000) != 0) {
    exec_result r;
    memset(&r, 0, sizeof r);
    r.exit_code = -1;
    r.signal = SIGKILL;
    snprintf(r.err, sizeof r.err, "killed; the daemon did not confirm the end");
    task_mark_exited(t, &r);
  }
}

static void daemon_release(task *t) {
  daemon_task *d = t->remote;
  t->remote = NULL;
  proxy_free(d, 1);
  if (d) rmdir(t->state_dir);
}

static pid_t daemon_pid(const task *t) {
  (void)t;
  return 0;
}

const task_runner daemon_runner = {"daemon", daemon_stop, daemon_signal, daemon_kill,
                                   daemon_release, daemon_pid};
