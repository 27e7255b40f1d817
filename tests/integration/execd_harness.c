/* elide-execd launcher and ExecutionApi helpers for the integration
 * tests (see execd_harness.h). */
#include "execd_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

const char *execd_binary(void) {
  const char *b = getenv("ELIDE_EXECD_BINARY");
  return b && b[0] ? b : EXECD_BINARY;
}

int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  size_t r;
  while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap) {
      char *grown = realloc(buf, cap * 2 + 1);
      if (!grown) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = grown;
      cap *= 2;
    }
  }
  fclose(f);
  if (!buf) return NULL;
  buf[n] = '\0';
  if (len) *len = n;
  return buf;
}

int execd_setup(execd_proc *p, const char *extra) {
  memset(p, 0, sizeof *p);
  snprintf(p->dir, sizeof p->dir, "/tmp/execd-test.XXXXXX");
  if (!mkdtemp(p->dir)) return -1;
  chmod(p->dir, 0711); /* executions running as another user reach their work_root */
  snprintf(p->ini, sizeof p->ini, "%s/execd.ini", p->dir);
  snprintf(p->sock, sizeof p->sock, "%s/run/execd.sock", p->dir);
  snprintf(p->work, sizeof p->work, "%s/work", p->dir);
  snprintf(p->log, sizeof p->log, "%s/daemon.log", p->dir);
  snprintf(p->address, sizeof p->address, "unix:%s", p->sock);
  /* An `extra` that starts with its own listen (TCP) replaces the socket. */
  const char *listen = extra && !strncmp(extra, "listen = ", 9) ? extra + 9 : NULL;
  if (listen) {
    snprintf(p->address, sizeof p->address, "%.*s", (int)strcspn(listen, "\n"), listen);
    p->sock[0] = '\0';
  }
  FILE *f = fopen(p->ini, "w");
  if (!f) return -1;
  fprintf(f, "[daemon]\n");
  if (!listen) fprintf(f, "listen = unix:%s\n", p->sock);
  fprintf(f, "work_root = %s\nmodule_dir = %s\nlog_level = debug\n%s", p->work, MODULE_DIR,
          extra ? extra : "");
  fclose(f);
  return chmod(p->ini, 0600);
}

int execd_launch(execd_proc *p) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, p->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, p->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
  char *const argv[] = {(char *)execd_binary(), "-config", p->ini, NULL};
  int rc = posix_spawn(&p->pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    p->pid = 0;
    return -1;
  }
  p->client = rpc_client_new(p->address);
  int64_t deadline = now_ms() + 20000;
  while (now_ms() < deadline) {
    int status;
    if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
      p->pid = 0;
      break;
    }
    if (!p->sock[0] || access(p->sock, F_OK) == 0) {
      EP(HealthRequest) req = EP_INIT(HEALTH_REQUEST);
      ProtobufCMessage *rep = NULL;
      if (api_call(p, API("Health"), &req.base, &EP_DESC(health_response), &rep, NULL, 0) == 0) {
        protobuf_c_message_free_unpacked(rep, NULL);
        return 0;
      }
    }
    usleep(20000);
  }
  rpc_client_free(p->client);
  p->client = NULL;
  if (p->pid) execd_stop(p, SIGKILL, 5000);
  return -1;
}

int execd_stop(execd_proc *p, int sig, int timeout_ms) {
  if (!p->pid) return -1;
  kill(p->pid, sig);
  int status = -1;
  int64_t deadline = now_ms() + timeout_ms;
  for (;;) {
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == p->pid) break;
    if (now_ms() > deadline) {
      kill(p->pid, SIGKILL);
      waitpid(p->pid, NULL, 0);
      status = -1;
      break;
    }
    usleep(5000);
  }
  p->pid = 0;
  if (p->client) rpc_client_free(p->client);
  p->client = NULL;
  return status;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  remove(path);
  return 0;
}

void execd_teardown(execd_proc *p) {
  if (p->pid) execd_stop(p, SIGTERM, 10000);
  if (p->dir[0]) nftw(p->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  p->dir[0] = '\0';
}

int execd_run_cli(const char *const *args, char **output) {
  char path[] = "/tmp/execd-cli.XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  const char *argv[16] = {execd_binary()};
  int n = 1;
  for (const char *const *a = args; *a && n < 15; a++) argv[n++] = *a;
  argv[n] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd, 1);
  posix_spawn_file_actions_adddup2(&fa, fd, 2);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fd);
  int status = -1;
  if (rc == 0) waitpid(pid, &status, 0);
  if (output) *output = slurp(path, NULL);
  unlink(path);
  return status;
}

int api_call(execd_proc *p, const char *path, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *desc, ProtobufCMessage **rep, char *details,
             size_t dlen) {
  rpc_status st = {0};
  *rep = NULL;
  if (!p->client || rpc_unary(p->client, path, req, desc, rep, 60000, &st) != 0)
    st.code = GRPC_STATUS_UNKNOWN;
  if (details) snprintf(details, dlen, "%s", st.details ? st.details : "");
  int code = st.code;
  rpc_status_clear(&st);
  return code;
}

int api_execute(execd_proc *p, EP(ExecuteSnippetRequest) * req, const char *id,
                const char *language, const char *code, EP(ExecuteSnippetResponse) * *rep,
                char *details, size_t dlen) {
  EP(ExecuteSnippetRequest) local = EP_INIT(EXECUTE_SNIPPET_REQUEST);
  if (!req) req = &local;
  if (id) req->execution_id = (char *)id;
  if (language) req->language = (char *)language;
  if (code) req->code = (char *)code;
  ProtobufCMessage *r = NULL;
  int st = api_call(p, API("ExecuteSnippet"), &req->base, &EP_DESC(execute_snippet_response), &r,
                    details, dlen);
  if (rep) *rep = (EP(ExecuteSnippetResponse) *)r;
  else if (r) protobuf_c_message_free_unpacked(r, NULL);
  return st;
}

EP(GetExecutionStatusResponse) * api_status(execd_proc *p, const char *id) {
  EP(GetExecutionStatusRequest) req = EP_INIT(GET_EXECUTION_STATUS_REQUEST);
  req.execution_id = (char *)id;
  ProtobufCMessage *rep = NULL;
  if (api_call(p, API("GetExecutionStatus"), &req.base, &EP_DESC(get_execution_status_response),
               &rep, NULL, 0) != 0) {
    if (rep) protobuf_c_message_free_unpacked(rep, NULL);
    return NULL;
  }
  return (EP(GetExecutionStatusResponse) *)rep;
}

int api_wait_stdout(execd_proc *p, const char *id, const char *needle, int timeout_ms) {
  int64_t deadline = now_ms() + timeout_ms;
  while (now_ms() < deadline) {
    EP(GetExecutionStatusResponse) *st = api_status(p, id);
    int found = st && strstr(st->stdout, needle);
    if (st) protobuf_c_message_free_unpacked(&st->base, NULL);
    if (found) return 1;
    usleep(20000);
  }
  return 0;
}

EP(WaitExecutionResponse) * api_wait(execd_proc *p, const char *id, uint64_t timeout_ms) {
  EP(WaitExecutionRequest) req = EP_INIT(WAIT_EXECUTION_REQUEST);
  req.execution_id = (char *)id;
  req.timeout_ms = timeout_ms;
  ProtobufCMessage *rep = NULL;
  char details[256];
  int st = api_call(p, API("WaitExecution"), &req.base, &EP_DESC(wait_execution_response), &rep,
                    details, sizeof details);
  if (st != 0) {
    fprintf(stderr, "WaitExecution %s: %d %s\n", id, st, details);
    if (rep) protobuf_c_message_free_unpacked(rep, NULL);
    return NULL;
  }
  return (EP(WaitExecutionResponse) *)rep;
}

int api_read(execd_proc *p, const char *id, int fd, uint64_t offset, int follow,
             uint32_t max_chunk, int stop_after, read_out *out) {
  memset(out, 0, sizeof *out);
  out->contiguous = 1;
  out->next = offset;
  size_t cap = 4096;
  out->data = malloc(cap + 1);
  EP(ReadOutputRequest) req = EP_INIT(READ_OUTPUT_REQUEST);
  req.execution_id = (char *)id;
  req.fd = fd;
  req.offset = offset;
  req.follow = follow != 0;
  req.max_chunk_bytes = max_chunk;
  rpc_stream *s = p->client ? rpc_stream_open(p->client, API("ReadOutput"), &req.base, 1, 120000)
                            : NULL;
  if (!s || !out->data) {
    out->code = GRPC_STATUS_UNKNOWN;
    return out->code;
  }
  int first = 1;
  for (;;) {
    ProtobufCMessage *m = NULL;
    int r = rpc_stream_recv(s, &EP_DESC(output_chunk), &m, 120000);
    if (r != 1) break;
    EP(OutputChunk) *c = (EP(OutputChunk) *)m;
    if (first) out->first_chunk_offset = c->offset;
    else if (c->offset != out->next) out->contiguous = 0;
    first = 0;
    out->first_offset = c->first_offset;
    if (c->data.len) {
      while (out->len + c->data.len > cap) {
        cap *= 2;
        out->data = realloc(out->data, cap + 1);
      }
      memcpy(out->data + out->len, c->data.data, c->data.len);
      out->len += c->data.len;
      out->chunks++;
    }
    out->next = c->offset + c->data.len;
    out->eof |= c->eof;
    protobuf_c_message_free_unpacked(m, NULL);
    if (stop_after > 0 && out->chunks >= stop_after) {
      rpc_stream_cancel(s);
      break;
    }
  }
  out->data[out->len] = '\0';
  rpc_status st = {0};
  rpc_stream_finish(s, &st);
  out->code = st.code;
  snprintf(out->details, sizeof out->details, "%s", st.details ? st.details : "");
  rpc_status_clear(&st);
  return out->code;
}

void read_out_free(read_out *r) {
  free(r->data);
  r->data = NULL;
}
