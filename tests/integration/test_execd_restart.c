/* Integration test of what survives elide-execd restarts: the daemon is
 * SIGKILLed (and, later, SIGTERMed) while executions run, one finishes and
 * another times out while it is down, a cancel's SIGKILL is due meanwhile;
 * after the restart every record, status and byte of output is there
 * (compared exactly, resumed by offset), running executions keep running
 * and can be waited for, stdin continues at its offset. Also: a monitor
 * that dies is an INTERNAL_ERROR, and finished executions are deleted
 * retain_finished seconds after their end, also at start. */
#include "../check.h"
#include "execd_harness.h"

#include <grpc/grpc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static execd_proc D;

static void free_msg(void *m) {
  if (m) protobuf_c_message_free_unpacked((ProtobufCMessage *)m, NULL);
}

static int start(execd_proc *p, EP(ExecuteSnippetRequest) * req, const char *id, const char *code) {
  char details[512];
  int st = api_execute(p, req, id, "python", code, NULL, details, sizeof details);
  if (st != 0) fprintf(stderr, "ExecuteSnippet %s: %d %s\n", id, st, details);
  return st;
}

static int write_stdin(const char *id, uint64_t offset, const char *data, int eof,
                       uint64_t *next) {
  EP(WriteStdinRequest) req = EP_INIT(WRITE_STDIN_REQUEST);
  req.execution_id = (char *)id;
  req.offset = offset;
  req.data.data = (uint8_t *)data;
  req.data.len = strlen(data);
  req.eof = eof != 0;
  EP(WriteStdinResponse) *rep = NULL;
  char details[256];
  int st = api_call(&D, API("WriteStdin"), &req.base, &EP_DESC(write_stdin_response),
                    (ProtobufCMessage **)&rep, details, sizeof details);
  if (st != 0) fprintf(stderr, "WriteStdin: %d %s\n", st, details);
  *next = rep ? rep->next_offset : 0;
  free_msg(rep);
  return st;
}

static char *expected_lines(int n, const char *fmt) {
  char *s = calloc((size_t)n, 32);
  for (int i = 0; i < n; i++) sprintf(s + strlen(s), fmt, i);
  return s;
}

static const char *const LONG_CODE =
    "import sys, time\nfor i in range(150):\n    sys.stdout.write('line %06d\\n' % i)\n"
    "    sys.stdout.flush()\n    time.sleep(0.02)\n";
static const char *const STUBBORN_CODE =
    "import signal, time\nsignal.signal(signal.SIGTERM, lambda s, f: None)\n"
    "print('ready', flush=True)\nwhile True: time.sleep(0.05)\n";

static int wait_bytes(const char *id, uint64_t n) {
  int64_t deadline = now_ms() + 20000;
  while (now_ms() < deadline) {
    EP(GetExecutionStatusResponse) *st = api_status(&D, id);
    int ok = st && st->stdout_bytes >= n;
    free_msg(st);
    if (ok) return 1;
    usleep(20000);
  }
  return 0;
}

static void test_sigkill_restart(void) {
  char *want_long = expected_lines(150, "line %06d\n");
  EP(ExecuteSnippetRequest) req = EP_INIT(EXECUTE_SNIPPET_REQUEST);
  CHECK(start(&D, NULL, "long", LONG_CODE) == 0);
  CHECK(start(&D, NULL, "short", "import time, sys\nprint('before', flush=True)\n"
                                 "time.sleep(0.8)\nprint('after')\nsys.exit(4)\n") == 0);
  req.stdin = 1;
  CHECK(start(&D, &req, "stdin", "import sys\nsys.stdout.write(sys.stdin.read().upper())\n") == 0);
  CHECK(start(&D, NULL, "cancelled", STUBBORN_CODE) == 0);
  EP(ExecuteSnippetRequest) treq = EP_INIT(EXECUTE_SNIPPET_REQUEST);
  treq.timeout_ms = 1200;
  CHECK(start(&D, &treq, "timed", "import time\ntime.sleep(30)\n") == 0);

  CHECK(wait_bytes("long", 12 * 10));
  read_out r1;
  CHECK(api_read(&D, "long", 1, 0, 1, 24, 3, &r1) == GRPC_STATUS_CANCELLED);
  CHECK(r1.len == 72 && memcmp(r1.data, want_long, 72) == 0);
  uint64_t next = 0;
  CHECK(write_stdin("stdin", 0, "abc", 0, &next) == 0 && next == 3);
  CHECK(wait_bytes("cancelled", 6));
  EP(CancelExecutionRequest) cr = EP_INIT(CANCEL_EXECUTION_REQUEST);
  cr.execution_id = (char *)"cancelled";
  cr.grace_period_ms = 2500;
  ProtobufCMessage *rep = NULL;
  int64_t cancel_at = now_ms();
  CHECK(api_call(&D, API("CancelExecution"), &cr.base, &EP_DESC(cancel_execution_response), &rep,
                 NULL, 0) == 0);
  free_msg(rep);

  int status = execd_stop(&D, SIGKILL, 5000);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  usleep(1500 * 1000); /* "short" ends, "timed" is due, "long" keeps writing */
  CHECK(execd_launch(&D) == 0);

  EP(ListExecutionsRequest) lr = EP_INIT(LIST_EXECUTIONS_REQUEST);
  lr.include_finished = 1;
  EP(ListExecutionsResponse) *list = NULL;
  CHECK(api_call(&D, API("ListExecutions"), &lr.base, &EP_DESC(list_executions_response),
                 (ProtobufCMessage **)&list, NULL, 0) == 0);
  CHECK(list && list->n_executions == 5);
  for (size_t i = 0; list && i < list->n_executions; i++)
    if (!strcmp(list->executions[i]->execution_id, "short"))
      CHECK(list->executions[i]->result && list->executions[i]->result->exit_code == 4);
  free_msg(list);

  EP(WaitExecutionResponse) *w = api_wait(&D, "short", 0);
  CHECK(w && w->result && w->result->exit_code == 4 &&
        w->result->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_EXITED));
  free_msg(w);
  read_out r;
  CHECK(api_read(&D, "short", 1, 0, 0, 0, 0, &r) == 0 && r.eof && !strcmp(r.data, "before\nafter\n"));
  read_out_free(&r);

  /* Resumed where the first stream stopped: every byte once. */
  CHECK(api_read(&D, "long", 1, r1.next, 1, 100, 0, &r) == 0);
  CHECK(r.eof && r.contiguous && r.first_chunk_offset == r1.next);
  CHECK(r1.len + r.len == strlen(want_long) && memcmp(r.data, want_long + r1.len, r.len) == 0);
  read_out_free(&r);
  read_out_free(&r1);
  w = api_wait(&D, "long", 0);
  CHECK(w && w->result && w->result->exit_code == 0 &&
        w->status == EP_ENUM(EXECUTION_STATUS__EXECUTION_STATUS_COMPLETED));
  free_msg(w);

  /* Stdin goes on at its offset; the task never saw EOF meanwhile. */
  CHECK(write_stdin("stdin", 0, "abc", 0, &next) == 0 && next == 3);
  CHECK(write_stdin("stdin", 3, "def", 1, &next) == 0 && next == 6);
  w = api_wait(&D, "stdin", 0);
  CHECK(w && w->result && w->result->exit_code == 0);
  free_msg(w);
  CHECK(api_read(&D, "stdin", 1, 0, 0, 0, 0, &r) == 0 && !strcmp(r.data, "ABCDEF"));
  read_out_free(&r);

  /* The cancel's SIGKILL came at its recorded time, from the new daemon. */
  w = api_wait(&D, "cancelled", 0);
  CHECK(now_ms() - cancel_at >= 2400);
  CHECK(w && w->result && w->result->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_CANCELLED) &&
        w->result->signal == SIGKILL);
  free_msg(w);
  w = api_wait(&D, "timed", 0);
  CHECK(w && w->result && w->result->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_TIMEOUT));
  free_msg(w);
  free(want_long);
}

typedef struct reader_arg {
  const char *id;
  read_out out;
} reader_arg;

static void *reader_main(void *arg) {
  reader_arg *a = arg;
  api_read(&D, a->id, 1, 0, 1, 0, 0, &a->out);
  return NULL;
}

static void test_sigterm_restart(void) {
  char *want = expected_lines(60, "x %d\n");
  CHECK(start(&D, NULL, "steady", "import time\nfor i in range(60):\n"
                                  "    print('x %d' % i, flush=True)\n    time.sleep(0.05)\n") == 0);
  CHECK(wait_bytes("steady", 20));
  reader_arg ra = {"steady", {0}};
  pthread_t th;
  pthread_create(&th, NULL, reader_main, &ra);
  usleep(300 * 1000);
  int64_t t0 = now_ms();
  int status = execd_stop(&D, SIGTERM, 10000);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(now_ms() - t0 < 4000);
  pthread_join(th, NULL);
  CHECK(ra.out.code == GRPC_STATUS_UNAVAILABLE && !ra.out.eof);
  CHECK(ra.out.len > 0 && memcmp(ra.out.data, want, ra.out.len) == 0);
  CHECK(execd_launch(&D) == 0);
  read_out r;
  CHECK(api_read(&D, "steady", 1, ra.out.next, 1, 0, 0, &r) == 0 && r.eof);
  CHECK(ra.out.len + r.len == strlen(want) && memcmp(r.data, want + ra.out.len, r.len) == 0);
  read_out_free(&r);
  read_out_free(&ra.out);
  EP(WaitExecutionResponse) *w = api_wait(&D, "steady", 0);
  CHECK(w && w->result && w->result->exit_code == 0);
  free_msg(w);
  free(want);
}

/* A monitor that dies without recording the exit: INTERNAL_ERROR. */
static void test_monitor_lost(void) {
  CHECK(start(&D, NULL, "orphaned", "import time\ntime.sleep(30)\n") == 0);
  char dir[300];
  snprintf(dir, sizeof dir, "%s/executions/orphaned/identity", D.work);
  char *id = slurp(dir, NULL);
  long pid = 0;
  const char *p = id ? strstr(id, "monitor_pid=") : NULL;
  if (p) pid = strtol(p + 12, NULL, 10);
  CHECK(pid > 1);
  if (pid > 1) kill((pid_t)pid, SIGKILL);
  free(id);
  EP(WaitExecutionResponse) *w = api_wait(&D, "orphaned", 0);
  CHECK(w && w->status == EP_ENUM(EXECUTION_STATUS__EXECUTION_STATUS_FAILED));
  CHECK(w && w->result &&
        w->result->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_INTERNAL_ERROR));
  CHECK(w && w->result);
  if (w && w->result) CHECK_STR_CONTAINS(w->result->error, "monitor");
  free_msg(w);
}

static int exists(execd_proc *p, const char *id) {
  EP(GetExecutionStatusResponse) *st = api_status(p, id);
  int found = st != NULL;
  free_msg(st);
  return found;
}

static int gone_within(execd_proc *p, const char *id, int ms) {
  int64_t deadline = now_ms() + ms;
  while (now_ms() < deadline) {
    if (!exists(p, id)) return 1;
    usleep(50000);
  }
  return 0;
}

static void test_retention(void) {
  execd_proc R;
  if (execd_setup(&R, "retain_finished = 1\n") != 0 || execd_launch(&R) != 0) {
    CHECK(0);
    return;
  }
  CHECK(start(&R, NULL, "brief", "print('hi')\n") == 0);
  free_msg(api_wait(&R, "brief", 0));
  CHECK(exists(&R, "brief"));
  CHECK(gone_within(&R, "brief", 5000));
  char dir[300];
  snprintf(dir, sizeof dir, "%s/executions/brief", R.work);
  CHECK(access(dir, F_OK) != 0);
  /* Due while the daemon was down: deleted at start. */
  CHECK(start(&R, NULL, "old", "print('hi')\n") == 0);
  free_msg(api_wait(&R, "old", 0));
  int status = execd_stop(&R, SIGTERM, 10000);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  usleep(1200 * 1000);
  CHECK(execd_launch(&R) == 0);
  CHECK(gone_within(&R, "old", 3000));
  execd_teardown(&R);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  grpc_init();
  if (execd_setup(&D, NULL) != 0 || execd_launch(&D) != 0) {
    fprintf(stderr, "cannot start elide-execd; log:\n%s\n", slurp(D.log, NULL));
    return 1;
  }
  test_sigkill_restart();
  test_sigterm_restart();
  test_monitor_lost();
  test_retention();
  int status = execd_stop(&D, SIGTERM, 10000);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  if (check_failed_) {
    char *log = slurp(D.log, NULL);
    fprintf(stderr, "daemon log:\n%s\n", log ? log : "");
    free(log);
  }
  execd_teardown(&D);
  grpc_shutdown_blocking();
  return CHECK_DONE();
}
