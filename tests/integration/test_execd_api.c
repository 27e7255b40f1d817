/* Integration test of elide-execd's ExecutionApi over its real unix socket
 * with real modules (python): idempotent ExecuteSnippet, status poll and
 * wait, ReadOutput from 0 / a middle offset / resumed after a cancelled
 * stream / followed to eof / after trimming, stdin by offset, signals,
 * cancel with grace and escalation, timeout, listing, health, sessions, a
 * user switch, and a clean SIGTERM exit. */
#include "../check.h"
#include "execd_harness.h"

#include <grp.h>
#include <grpc/grpc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SPOOL_MAX 65536

static execd_proc D;

static void free_msg(void *m) {
  if (m) protobuf_c_message_free_unpacked((ProtobufCMessage *)m, NULL);
}

/* "line 000000\n" ... as the python snippet below prints them. */
static char *lines(int n, size_t *len) {
  char *s = malloc((size_t)n * 12 + 1);
  for (int i = 0; i < n; i++) snprintf(s + (size_t)i * 12, 13, "line %06d\n", i);
  s[(size_t)n * 12] = '\0';
  *len = (size_t)n * 12;
  return s;
}

static const char *lines_code(int n) {
  static char code[256];
  snprintf(code, sizeof code,
           "import sys\nfor i in range(%d): sys.stdout.write('line %%06d\\n' %% i)\n", n);
  return code;
}

static EP(GetExecutionStatusResponse) * status_of(const char *id) { return api_status(&D, id); }

/* Polls the status until stdout contains `needle` (20 s). */
static int wait_output(const char *id, const char *needle) {
  return api_wait_stdout(&D, id, needle, 20000);
}

static int start(const char *id, const char *code) {
  char details[512];
  EP(ExecuteSnippetResponse) *rep = NULL;
  int st = api_execute(&D, NULL, id, "python", code, &rep, details, sizeof details);
  if (st != 0) fprintf(stderr, "ExecuteSnippet %s: %d %s\n", id, st, details);
  free_msg(rep);
  return st;
}

static void test_health(void) {
  EP(HealthRequest) req = EP_INIT(HEALTH_REQUEST);
  EP(HealthResponse) *rep = NULL;
  CHECK(api_call(&D, API("Health"), &req.base, &EP_DESC(health_response),
                 (ProtobufCMessage **)&rep, NULL, 0) == 0);
  if (!rep) return;
  CHECK(rep->healthy);
  CHECK(strcmp(rep->version, "0.1.0") == 0 || rep->version[0]);
  int python = 0, sorted = 1;
  for (size_t i = 0; i < rep->n_languages; i++) {
    python |= !strcmp(rep->languages[i], "python");
    if (i && strcmp(rep->languages[i - 1], rep->languages[i]) >= 0) sorted = 0;
  }
  CHECK(python && sorted);
  int found = 0;
  for (size_t i = 0; i < rep->n_modules; i++) {
    EP(ModuleInfo) *m = rep->modules[i];
    if (strcmp(m->name, "python") != 0) continue;
    found = 1;
    CHECK(m->healthy && !strcmp(m->description, "Healthy"));
    int runtime = 0;
    for (size_t a = 0; a < m->n_attributes; a++)
      runtime |= !strcmp(m->attributes[a]->key, "runtime") &&
                 !strcmp(m->attributes[a]->value, "/usr/bin/python3");
    CHECK(runtime);
  }
  CHECK(found);
  free_msg(rep);
}

static void test_socket(void) {
  struct stat st;
  CHECK(stat(D.sock, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0660);
  struct group *nogroup = getgrnam("nogroup");
  if (geteuid() == 0 && nogroup) CHECK(st.st_gid == nogroup->gr_gid);
  /* A second daemon on the same work_root, or on the same socket with
   * another work_root, must not steal them. */
  char *out = NULL;
  const char *args[] = {"-config", D.ini, NULL};
  int status = execd_run_cli(args, &out);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  CHECK_STR_CONTAINS(out, "another elide-execd uses this work_root");
  free(out);
  char ini[300];
  snprintf(ini, sizeof ini, "%s/second.ini", D.dir);
  FILE *f = fopen(ini, "w");
  if (f) {
    fprintf(f, "[daemon]\nlisten = %s\nwork_root = %s/second\nmodule_dir = %s\n", D.address,
            D.dir, MODULE_DIR_FOR_TESTS);
    fclose(f);
  }
  chmod(ini, 0600);
  const char *args2[] = {"-config", ini, NULL};
  status = execd_run_cli(args2, &out);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  CHECK_STR_CONTAINS(out, "another elide-execd listens on this socket");
  free(out);
  EP(HealthRequest) req = EP_INIT(HEALTH_REQUEST);
  ProtobufCMessage *rep = NULL;
  CHECK(api_call(&D, API("Health"), &req.base, &EP_DESC(health_response), &rep, NULL, 0) == 0);
  free_msg(rep);
}

static void test_idempotent(void) {
  const char *code = "import os\nprint('pid', os.getpid())\n";
  EP(ExecuteSnippetResponse) *a = NULL, *b = NULL;
  char details[512];
  CHECK(api_execute(&D, NULL, "idem", "python", code, &a, details, sizeof details) == 0);
  CHECK(a && !a->existing && !strcmp(a->execution_id, "idem"));
  CHECK(a && a->status == EP_ENUM(EXECUTION_STATUS__EXECUTION_STATUS_RUNNING));
  CHECK(api_execute(&D, NULL, "idem", "python", code, &b, details, sizeof details) == 0);
  CHECK(b && b->existing);
  free_msg(a);
  free_msg(b);
  EP(WaitExecutionResponse) *w = api_wait(&D, "idem", 0);
  CHECK(w && w->complete && w->status == EP_ENUM(EXECUTION_STATUS__EXECUTION_STATUS_COMPLETED));
  free_msg(w);
  /* Repeated after the end: still the same execution, nothing started. */
  CHECK(api_execute(&D, NULL, "idem", "python", code, &b, details, sizeof details) == 0);
  CHECK(b && b->existing && b->status == EP_ENUM(EXECUTION_STATUS__EXECUTION_STATUS_COMPLETED));
  free_msg(b);
  read_out r;
  CHECK(api_read(&D, "idem", 1, 0, 0, 0, 0, &r) == 0);
  CHECK(r.eof && strncmp(r.data, "pid ", 4) == 0 && strchr(r.data, '\n') == r.data + r.len - 1);
  read_out_free(&r);
  /* The same id with a different request. */
  CHECK(api_execute(&D, NULL, "idem", "python", "print(2)", NULL, details, sizeof details) ==
        GRPC_STATUS_ALREADY_EXISTS);
  CHECK_STR_CONTAINS(details, "different request");
}

static void test_status_and_wait(void) {
  CHECK(start("st", "import sys, time\nprint('out')\nprint('err', file=sys.stderr)\n"
                    "time.sleep(0.4)\nsys.exit(3)\n") == 0);
  EP(GetExecutionStatusResponse) *st = status_of("st");
  CHECK(st && !st->complete && st->status == EP_ENUM(EXECUTION_STATUS__EXECUTION_STATUS_RUNNING));
  CHECK(st && !strcmp(st->language, "python") && st->started_at_ns > 0);
  free_msg(st);
  EP(WaitExecutionResponse) *w = api_wait(&D, "st", 50);
  CHECK(w && !w->complete); /* timed out first */
  free_msg(w);
  int64_t deadline = now_ms() + 20000;
  int done = 0;
  while (!done && now_ms() < deadline) {
    st = status_of("st");
    done = st && st->complete;
    if (done) {
      CHECK(st->status == EP_ENUM(EXECUTION_STATUS__EXECUTION_STATUS_FAILED));
      CHECK(st->exit_code == 3 && st->result && st->result->exit_code == 3);
      CHECK(st->result && st->result->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_EXITED));
      CHECK(st->result && st->result->finished_at_ns >= st->result->started_at_ns);
      CHECK(!strcmp(st->stdout, "out\n") && !strcmp(st->stderr, "err\n"));
      CHECK(st->stdout_bytes == 4 && st->stderr_bytes == 4);
      CHECK(st->stats && st->stats->cpu_user_ns + st->stats->cpu_system_ns > 0);
      CHECK(st->stats && st->stats->memory_peak_bytes > 1000000);
    }
    free_msg(st);
    if (!done) usleep(20000);
  }
  CHECK(done);
  w = api_wait(&D, "st", 0);
  CHECK(w && w->complete && w->result && w->result->exit_code == 3);
  free_msg(w);
}

static void test_read_output(void) {
  size_t want_len;
  char *want = lines(4000, &want_len); /* 48000 bytes, below the spool bound */
  CHECK(start("out", lines_code(4000)) == 0);
  EP(WaitExecutionResponse) *w = api_wait(&D, "out", 0);
  free_msg(w);
  read_out r;
  CHECK(api_read(&D, "out", 1, 0, 0, 0, 0, &r) == 0);
  CHECK(r.eof && r.contiguous && r.len == want_len && memcmp(r.data, want, want_len) == 0);
  CHECK(r.first_offset == 0 && r.next == want_len);
  read_out_free(&r);
  /* From the middle, in small chunks. */
  CHECK(api_read(&D, "out", 1, 12345, 0, 1000, 0, &r) == 0);
  CHECK(r.first_chunk_offset == 12345 && r.contiguous && r.eof);
  CHECK(r.len == want_len - 12345 && memcmp(r.data, want + 12345, r.len) == 0);
  CHECK(r.chunks == (int)((want_len - 12345 + 999) / 1000));
  read_out_free(&r);
  /* A stream cancelled after 7 chunks, resumed where it stopped: every byte
   * once. */
  CHECK(api_read(&D, "out", 1, 0, 0, 777, 7, &r) == GRPC_STATUS_CANCELLED);
  CHECK(r.len == 7 * 777 && !r.eof);
  read_out r2;
  CHECK(api_read(&D, "out", 1, r.next, 0, 777, 0, &r2) == 0);
  CHECK(r2.eof && r2.first_chunk_offset == r.next);
  CHECK(r.len + r2.len == want_len && memcmp(r.data, want, r.len) == 0 &&
        memcmp(r2.data, want + r.len, r2.len) == 0);
  read_out_free(&r);
  read_out_free(&r2);
  /* Exactly at the end: just eof. Beyond it: OUT_OF_RANGE. */
  CHECK(api_read(&D, "out", 1, want_len, 0, 0, 0, &r) == 0);
  CHECK(r.len == 0 && r.eof && r.first_chunk_offset == want_len);
  read_out_free(&r);
  CHECK(api_read(&D, "out", 1, want_len + 1, 0, 0, 0, &r) == GRPC_STATUS_OUT_OF_RANGE);
  CHECK_STR_CONTAINS(r.details, "beyond the end of stdout");
  read_out_free(&r);
  CHECK(api_read(&D, "out", 2, 0, 0, 0, 0, &r) == 0 && r.len == 0 && r.eof);
  read_out_free(&r);
  free(want);
}

static void test_follow(void) {
  CHECK(start("follow", "import sys, time\nfor i in range(25):\n"
                        "    print('tick %d' % i, flush=True)\n    time.sleep(0.02)\n") == 0);
  read_out r;
  int64_t t0 = now_ms();
  CHECK(api_read(&D, "follow", 1, 0, 1, 0, 0, &r) == 0);
  CHECK(r.eof && r.contiguous && now_ms() - t0 >= 400);
  CHECK(r.chunks > 1); /* it arrived while the execution ran */
  char want[512] = "";
  for (int i = 0; i < 25; i++) snprintf(want + strlen(want), sizeof want - strlen(want), "tick %d\n", i);
  CHECK(r.len == strlen(want) && memcmp(r.data, want, r.len) == 0);
  read_out_free(&r);
  /* Following an execution that has ended: the rest, then eof at once. */
  CHECK(api_read(&D, "follow", 1, 10, 1, 0, 0, &r) == 0);
  CHECK(r.eof && r.len == strlen(want) - 10);
  read_out_free(&r);
}

static void test_trimming(void) {
  size_t want_len;
  char *want = lines(30000, &want_len); /* 360000 bytes, far above the bound */
  CHECK(start("trim", lines_code(30000)) == 0);
  free_msg(api_wait(&D, "trim", 0));
  read_out r;
  CHECK(api_read(&D, "trim", 1, 0, 0, 0, 0, &r) == 0);
  CHECK(r.first_offset > 0 && r.first_chunk_offset == r.first_offset);
  CHECK(r.first_offset % 4096 == 0 && want_len - r.first_offset <= SPOOL_MAX);
  CHECK(r.next == want_len && r.eof && r.contiguous);
  CHECK(r.len == want_len - r.first_offset &&
        memcmp(r.data, want + r.first_offset, r.len) == 0);
  read_out_free(&r);
  char path[400];
  snprintf(path, sizeof path, "%s/executions/trim/stdout", D.work);
  struct stat st;
  CHECK(stat(path, &st) == 0 && (uint64_t)st.st_size == want_len);
  CHECK((uint64_t)st.st_blocks * 512 <= SPOOL_MAX + 65536); /* the head's space was given back */
  EP(GetExecutionStatusResponse) *s = status_of("trim");
  CHECK(s && s->stdout_bytes == want_len);
  CHECK(s && strlen(s->stdout) <= 65536 && strstr(s->stdout, "line 029999\n"));
  free_msg(s);
  free(want);
}

static int write_stdin(const char *id, uint64_t offset, const char *data, int eof,
                       uint64_t *next, char *details, size_t dlen) {
  EP(WriteStdinRequest) req = EP_INIT(WRITE_STDIN_REQUEST);
  req.execution_id = (char *)id;
  req.offset = offset;
  req.data.data = (uint8_t *)data;
  req.data.len = strlen(data);
  req.eof = eof != 0;
  EP(WriteStdinResponse) *rep = NULL;
  int st = api_call(&D, API("WriteStdin"), &req.base, &EP_DESC(write_stdin_response),
                    (ProtobufCMessage **)&rep, details, dlen);
  if (next) *next = rep ? rep->next_offset : 0;
  free_msg(rep);
  return st;
}

static void test_stdin(void) {
  EP(ExecuteSnippetRequest) req = EP_INIT(EXECUTE_SNIPPET_REQUEST);
  req.stdin = 1;
  char details[512];
  CHECK(api_execute(&D, &req, "stdin", "python",
                    "import sys\nsys.stdout.write(sys.stdin.read().upper())\n", NULL, details,
                    sizeof details) == 0);
  uint64_t next = 0;
  CHECK(write_stdin("stdin", 0, "hello ", 0, &next, details, sizeof details) == 0 && next == 6);
  /* A repeat of what was written is acknowledged, not written again. */
  CHECK(write_stdin("stdin", 0, "hello ", 0, &next, details, sizeof details) == 0 && next == 6);
  CHECK(write_stdin("stdin", 3, "lo wo", 0, &next, details, sizeof details) == 0 && next == 8);
  CHECK(write_stdin("stdin", 20, "x", 0, &next, details, sizeof details) ==
        GRPC_STATUS_OUT_OF_RANGE);
  CHECK_STR_CONTAINS(details, "beyond the 8 bytes written");
  EP(WaitExecutionResponse) *w = api_wait(&D, "stdin", 300);
  CHECK(w && !w->complete); /* no EOF yet */
  free_msg(w);
  CHECK(write_stdin("stdin", 8, "rld", 1, &next, details, sizeof details) == 0 && next == 11);
  CHECK(write_stdin("stdin", 8, "rld", 1, &next, details, sizeof details) == 0 && next == 11);
  CHECK(write_stdin("stdin", 11, "more", 0, &next, details, sizeof details) ==
        GRPC_STATUS_FAILED_PRECONDITION);
  CHECK_STR_CONTAINS(details, "closed");
  w = api_wait(&D, "stdin", 0);
  CHECK(w && w->complete && w->result && w->result->exit_code == 0);
  free_msg(w);
  read_out r;
  CHECK(api_read(&D, "stdin", 1, 0, 0, 0, 0, &r) == 0 && !strcmp(r.data, "HELLO WORLD"));
  read_out_free(&r);
  /* Not started with stdin; oversize. */
  CHECK(write_stdin("out", 0, "x", 0, &next, details, sizeof details) ==
        GRPC_STATUS_FAILED_PRECONDITION);
  CHECK_STR_CONTAINS(details, "without \"stdin\"");
}

static void test_signal(void) {
  CHECK(start("sig", "import signal, sys, time\n"
                     "def h(s, f):\n    print('got', s, flush=True)\n    sys.exit(0)\n"
                     "signal.signal(signal.SIGUSR1, h)\nprint('ready', flush=True)\n"
                     "time.sleep(30)\n") == 0);
  CHECK(wait_output("sig", "ready"));
  EP(SignalExecutionRequest) req = EP_INIT(SIGNAL_EXECUTION_REQUEST);
  req.execution_id = (char *)"sig";
  req.signal = SIGUSR1;
  ProtobufCMessage *rep = NULL;
  char details[512];
  CHECK(api_call(&D, API("SignalExecution"), &req.base, &EP_DESC(signal_execution_response),
                 &rep, details, sizeof details) == 0);
  free_msg(rep);
  EP(WaitExecutionResponse) *w = api_wait(&D, "sig", 0);
  CHECK(w && w->result && w->result->exit_code == 0 &&
        w->result->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_EXITED));
  free_msg(w);
  CHECK(wait_output("sig", "got 10"));
  CHECK(api_call(&D, API("SignalExecution"), &req.base, &EP_DESC(signal_execution_response),
                 &rep, details, sizeof details) == GRPC_STATUS_FAILED_PRECONDITION);
  CHECK_STR_CONTAINS(details, "already ended");
  free_msg(rep);
  /* A signal nobody handles: SIGNALED. */
  CHECK(start("sig2", "import time\ntime.sleep(30)\n") == 0);
  req.execution_id = (char *)"sig2";
  req.signal = SIGHUP;
  CHECK(api_call(&D, API("SignalExecution"), &req.base, &EP_DESC(signal_execution_response),
                 &rep, details, sizeof details) == 0);
  free_msg(rep);
  w = api_wait(&D, "sig2", 0);
  CHECK(w && w->result && w->result->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_SIGNALED));
  CHECK(w && w->result && w->result->signal == SIGHUP && w->result->exit_code == 128 + SIGHUP);
  free_msg(w);
}

static int cancel(const char *id, int sig, uint64_t grace) {
  EP(CancelExecutionRequest) req = EP_INIT(CANCEL_EXECUTION_REQUEST);
  req.execution_id = (char *)id;
  req.signal = sig;
  req.grace_period_ms = grace;
  EP(CancelExecutionResponse) *rep = NULL;
  char details[256];
  int st = api_call(&D, API("CancelExecution"), &req.base, &EP_DESC(cancel_execution_response),
                    (ProtobufCMessage **)&rep, details, sizeof details);
  if (st == 0 && !(rep && rep->success)) st = -1;
  free_msg(rep);
  return st;
}

static void test_cancel(void) {
  CHECK(start("stubborn", "import signal, time\n"
                          "signal.signal(signal.SIGTERM, lambda s, f: print('term ignored', "
                          "flush=True))\nprint('ready', flush=True)\n"
                          "while True: time.sleep(0.05)\n") == 0);
  CHECK(wait_output("stubborn", "ready"));
  int64_t t0 = now_ms();
  CHECK(cancel("stubborn", SIGTERM, 700) == 0);
  EP(WaitExecutionResponse) *w = api_wait(&D, "stubborn", 0);
  int64_t took = now_ms() - t0;
  CHECK(took >= 650 && took < 15000);
  CHECK(w && w->status == EP_ENUM(EXECUTION_STATUS__EXECUTION_STATUS_CANCELLED));
  CHECK(w && w->result && w->result->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_CANCELLED));
  CHECK(w && w->result && w->result->signal == SIGKILL && w->result->exit_code == 137);
  free_msg(w);
  CHECK(wait_output("stubborn", "term ignored"));
  CHECK(cancel("stubborn", 0, 0) == 0); /* ended: still a success */
  /* Grace 0: SIGKILL at once. */
  CHECK(start("quick", "import time\ntime.sleep(30)\n") == 0);
  t0 = now_ms();
  CHECK(cancel("quick", 0, 0) == 0);
  w = api_wait(&D, "quick", 0);
  CHECK(now_ms() - t0 < 5000);
  CHECK(w && w->result && w->result->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_CANCELLED));
  free_msg(w);
}

static void test_timeout(void) {
  EP(ExecuteSnippetRequest) req = EP_INIT(EXECUTE_SNIPPET_REQUEST);
  req.timeout_ms = 300;
  req.kill_grace_ms = 2000;
  char details[256];
  int64_t t0 = now_ms();
  CHECK(api_execute(&D, &req, "slow", "python", "import time\ntime.sleep(30)\n", NULL, details,
                    sizeof details) == 0);
  EP(WaitExecutionResponse) *w = api_wait(&D, "slow", 0);
  int64_t took = now_ms() - t0;
  CHECK(took >= 250 && took < 10000);
  CHECK(w && w->status == EP_ENUM(EXECUTION_STATUS__EXECUTION_STATUS_FAILED));
  CHECK(w && w->result && w->result->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_TIMEOUT));
  CHECK(w && w->result && w->result->signal == SIGTERM);
  free_msg(w);
}

static void test_list(void) {
  EP(ListExecutionsRequest) req = EP_INIT(LIST_EXECUTIONS_REQUEST);
  EP(ListExecutionsResponse) *rep = NULL;
  CHECK(start("listed", "import time\ntime.sleep(30)\n") == 0);
  CHECK(api_call(&D, API("ListExecutions"), &req.base, &EP_DESC(list_executions_response),
                 (ProtobufCMessage **)&rep, NULL, 0) == 0);
  CHECK(rep && rep->n_executions == 1 && !strcmp(rep->executions[0]->execution_id, "listed"));
  CHECK(rep && rep->n_executions == 1 &&
        rep->executions[0]->status == EP_ENUM(EXECUTION_STATUS__EXECUTION_STATUS_RUNNING));
  free_msg(rep);
  req.include_finished = 1;
  CHECK(api_call(&D, API("ListExecutions"), &req.base, &EP_DESC(list_executions_response),
                 (ProtobufCMessage **)&rep, NULL, 0) == 0);
  int idem = 0;
  for (size_t i = 0; rep && i < rep->n_executions; i++) {
    EP(ExecutionInfo) *x = rep->executions[i];
    if (strcmp(x->execution_id, "idem") == 0)
      idem = x->result && x->result->exit_code == 0 && x->stdout_bytes > 0 &&
             !strcmp(x->language, "python");
    if (i) CHECK(rep->executions[i - 1]->started_at_ns <= x->started_at_ns);
  }
  CHECK(rep && rep->n_executions >= 10 && idem);
  free_msg(rep);
  CHECK(cancel("listed", 0, 0) == 0);
  free_msg(api_wait(&D, "listed", 0));
}

static void test_sessions(void) {
  EP(SessionConfiguration) cfg = EP_INIT(SESSION_CONFIGURATION);
  char *langs[] = {"python"};
  cfg.n_enabled_languages = 1;
  cfg.enabled_languages = langs;
  EP(CreateSessionRequest) cr = EP_INIT(CREATE_SESSION_REQUEST);
  cr.session_id = (char *)"s1";
  cr.config = &cfg;
  EP(CreateSessionResponse) *c1 = NULL, *c2 = NULL;
  char details[512];
  CHECK(api_call(&D, API("CreateSession"), &cr.base, &EP_DESC(create_session_response),
                 (ProtobufCMessage **)&c1, details, sizeof details) == 0);
  CHECK(c1 && c1->status == EP_ENUM(SESSION_STATUS__SESSION_STATUS_ACTIVE) && c1->created_at > 0);
  CHECK(api_call(&D, API("CreateSession"), &cr.base, &EP_DESC(create_session_response),
                 (ProtobufCMessage **)&c2, details, sizeof details) == 0);
  CHECK(c1 && c2 && c1->created_at == c2->created_at);
  free_msg(c1);
  free_msg(c2);
  cfg.n_enabled_languages = 0;
  ProtobufCMessage *rep = NULL;
  CHECK(api_call(&D, API("CreateSession"), &cr.base, &EP_DESC(create_session_response), &rep,
                 details, sizeof details) == GRPC_STATUS_ALREADY_EXISTS);
  /* A memory limit for the session's executions: enforced in cgroups on
   * this host (test_execd_limits.c runs executions under one). */
  cr.session_id = (char *)"s2";
  cfg.memory_limit_mb = 64;
  CHECK(api_call(&D, API("CreateSession"), &cr.base, &EP_DESC(create_session_response), &rep,
                 details, sizeof details) == GRPC_STATUS_OK);
  free_msg(rep);
  rep = NULL;
  EP(GetSessionRequest) gr = EP_INIT(GET_SESSION_REQUEST);
  gr.session_id = (char *)"s1";
  EP(GetSessionResponse) *g = NULL;
  CHECK(api_call(&D, API("GetSession"), &gr.base, &EP_DESC(get_session_response),
                 (ProtobufCMessage **)&g, NULL, 0) == 0);
  CHECK(g && g->config && g->config->n_enabled_languages == 1 &&
        !strcmp(g->config->enabled_languages[0], "python"));
  free_msg(g);

  EP(ExecuteSnippetRequest) req = EP_INIT(EXECUTE_SNIPPET_REQUEST);
  req.session_id = (char *)"s1";
  CHECK(api_execute(&D, &req, "in-s1-js", "js", "1", NULL, details, sizeof details) ==
        GRPC_STATUS_INVALID_ARGUMENT);
  CHECK_STR_CONTAINS(details, "not enabled in session \"s1\"");
  req.session_id = (char *)"nosuch";
  CHECK(api_execute(&D, &req, "in-nosuch", "python", "1", NULL, details, sizeof details) ==
        GRPC_STATUS_NOT_FOUND);
  req.session_id = (char *)"s1";
  CHECK(api_execute(&D, &req, "in-s1", "python", "import time\ntime.sleep(30)\n", NULL, details,
                    sizeof details) == 0);
  EP(GetExecutionStatusRequest) sr = EP_INIT(GET_EXECUTION_STATUS_REQUEST);
  sr.execution_id = (char *)"in-s1";
  sr.session_id = (char *)"other";
  CHECK(api_call(&D, API("GetExecutionStatus"), &sr.base, &EP_DESC(get_execution_status_response),
                 &rep, details, sizeof details) == GRPC_STATUS_NOT_FOUND);
  sr.session_id = (char *)"s1";
  CHECK(api_call(&D, API("GetExecutionStatus"), &sr.base, &EP_DESC(get_execution_status_response),
                 &rep, details, sizeof details) == 0);
  free_msg(rep);
  /* Deleting the session cancels its executions. */
  EP(DeleteSessionRequest) dr = EP_INIT(DELETE_SESSION_REQUEST);
  dr.session_id = (char *)"s1";
  EP(DeleteSessionResponse) *del = NULL;
  CHECK(api_call(&D, API("DeleteSession"), &dr.base, &EP_DESC(delete_session_response),
                 (ProtobufCMessage **)&del, NULL, 0) == 0);
  CHECK(del && del->success);
  free_msg(del);
  EP(WaitExecutionResponse) *w = api_wait(&D, "in-s1", 0);
  CHECK(w && w->result && w->result->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_CANCELLED));
  free_msg(w);
  CHECK(api_call(&D, API("GetSession"), &gr.base, &EP_DESC(get_session_response), &rep, NULL, 0) ==
        GRPC_STATUS_NOT_FOUND);
  CHECK(api_call(&D, API("DeleteSession"), &dr.base, &EP_DESC(delete_session_response), &rep, NULL,
                 0) == GRPC_STATUS_NOT_FOUND);
}

static void test_user(void) {
  if (geteuid() != 0) {
    printf("not root: user switch not tested\n");
    return;
  }
  EP(ExecuteSnippetRequest) req = EP_INIT(EXECUTE_SNIPPET_REQUEST);
  req.user = (char *)"nobody";
  char details[256];
  CHECK(api_execute(&D, &req, "as-nobody", "python",
                    "import os\nprint(os.getuid(), os.getcwd().endswith('/work'))\n", NULL, details,
                    sizeof details) == 0);
  free_msg(api_wait(&D, "as-nobody", 0));
  read_out r;
  CHECK(api_read(&D, "as-nobody", 1, 0, 0, 0, 0, &r) == 0);
  CHECK(!strcmp(r.data, "65534 True\n"));
  read_out_free(&r);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  grpc_init();
  char extra[128];
  snprintf(extra, sizeof extra, "spool_max_bytes = %d\n%s", SPOOL_MAX,
           geteuid() == 0 && getgrnam("nogroup") ? "socket_group = nogroup\n" : "");
  if (execd_setup(&D, extra) != 0 || execd_launch(&D) != 0) {
    fprintf(stderr, "cannot start elide-execd; log:\n%s\n", slurp(D.log, NULL));
    return 1;
  }
  test_health();
  test_socket();
  test_idempotent();
  test_status_and_wait();
  test_read_output();
  test_follow();
  test_trimming();
  test_stdin();
  test_signal();
  test_cancel();
  test_timeout();
  test_list();
  test_sessions();
  test_user();
  /* SIGTERM: a clean exit (under ASan also leak-free) within ~1 s. */
  int64_t t0 = now_ms();
  int status = execd_stop(&D, SIGTERM, 10000);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(now_ms() - t0 < 5000);
  CHECK(access(D.sock, F_OK) != 0);
  if (check_failed_) {
    char *log = slurp(D.log, NULL);
    fprintf(stderr, "daemon log:\n%s\n", log ? log : "");
    free(log);
  }
  execd_teardown(&D);
  grpc_shutdown_blocking();
  return CHECK_DONE();
}
