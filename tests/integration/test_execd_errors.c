/* Integration test of elide-execd's refusals: bad requests answered with
 * the right gRPC status naming the field (unknown ids, wrong offsets,
 * oversize input, missing fields, validation), and bad configurations
 * refused at start with "file:line: message" and exit status 1; the
 * commented example INI is valid. */
#include "../check.h"
#include "execd_harness.h"

#include <grpc/grpc.h>
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

/* ExecuteSnippet `req` (id "bad" unless set) and expect `code` + `needle`. */
static void expect_execute(EP(ExecuteSnippetRequest) * req, int code, const char *needle) {
  char details[1024] = "";
  if (!req->execution_id[0]) req->execution_id = (char *)"bad";
  int got = api_execute(&D, req, NULL, NULL, NULL, NULL, details, sizeof details);
  if (got != code) fprintf(stderr, "expected %d, got %d: %s\n", code, got, details);
  CHECK(got == code);
  CHECK_STR_CONTAINS(details, needle);
}

static EP(ExecuteSnippetRequest) python(const char *code) {
  EP(ExecuteSnippetRequest) r = EP_INIT(EXECUTE_SNIPPET_REQUEST);
  r.language = (char *)"python";
  r.code = (char *)code;
  return r;
}

static void test_execute_refusals(void) {
  EP(ExecuteSnippetRequest) r = python("print(1)");
  r.execution_id = (char *)"";
  char details[512];
  CHECK(api_execute(&D, &r, NULL, NULL, NULL, NULL, details, sizeof details) ==
        GRPC_STATUS_INVALID_ARGUMENT);
  CHECK_STR_CONTAINS(details, "field \"execution_id\" is required");

  r = python("print(1)");
  r.language = (char *)"ruby";
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "unknown language \"ruby\" (available: ");
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "python");
  r.language = (char *)"";
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "field \"language\" is required");

  r = python("");
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "exactly one of fields \"code\" and \"script\"");
  r = python("print(1)");
  r.script = (char *)"x.py";
  r.working_directory = D.dir;
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "(got both)");

  /* Scripts stay inside the working directory, symlinks resolved. */
  char wd[300], link[400], inside[400];
  snprintf(wd, sizeof wd, "%s/wd", D.dir);
  mkdir(wd, 0755);
  snprintf(link, sizeof link, "%s/evil.py", wd);
  CHECK(symlink("/etc/hostname", link) == 0);
  snprintf(inside, sizeof inside, "%s/ok.py", wd);
  FILE *f = fopen(inside, "w");
  if (f) fputs("print('ok')\n", f), fclose(f);
  r = python("");
  r.working_directory = wd;
  r.script = (char *)"evil.py";
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "outside the working directory");
  r.script = (char *)"../execd.ini";
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "outside the working directory");
  r.script = (char *)"missing.py";
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "field \"script\": missing.py");
  r.working_directory = (char *)"";
  r.script = inside;
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "needs field \"working_directory\"");
  r.working_directory = (char *)"relative/dir";
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "field \"working_directory\"");
  r.working_directory = (char *)"/nonexistent/dir";
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "field \"working_directory\"");
  /* A good script in the same place runs. */
  r.working_directory = wd;
  r.script = (char *)"ok.py";
  r.execution_id = (char *)"script-ok";
  CHECK(api_execute(&D, &r, NULL, NULL, NULL, NULL, details, sizeof details) == 0);
  EP(WaitExecutionResponse) *w = api_wait(&D, "script-ok", 0);
  CHECK(w && w->result && w->result->exit_code == 0);
  free_msg(w);

  /* Options: unknown keys, bad values, required keys. */
  EP(ExecuteSnippetRequest__OptionsEntry) opt = EP_INIT(EXECUTE_SNIPPET_REQUEST__OPTIONS_ENTRY);
  EP(ExecuteSnippetRequest__OptionsEntry) *opts[] = {&opt};
  r = python("1");
  r.language = (char *)"js";
  r.n_options = 1;
  r.options = opts;
  opt.key = (char *)"nope";
  opt.value = (char *)"1";
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "\"nope\" is not an option of the js module");
  opt.key = (char *)"js_module_type";
  opt.value = (char *)"bogus";
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "js_module_type");
  /* A good option reaches the module typed: inline code as an ES module. */
  opt.value = (char *)"module";
  r.code = (char *)"import os from 'node:os';\nconsole.log(typeof os.cpus);\n";
  r.execution_id = (char *)"esm";
  CHECK(api_execute(&D, &r, NULL, NULL, NULL, NULL, details, sizeof details) == 0);
  w = api_wait(&D, "esm", 0);
  CHECK(w && w->result && w->result->exit_code == 0);
  free_msg(w);
  read_out o;
  CHECK(api_read(&D, "esm", 1, 0, 0, 0, 0, &o) == 0 && !strcmp(o.data, "function\n"));
  read_out_free(&o);
  r = python("");
  r.language = (char *)"native";
  r.script = inside;
  r.working_directory = wd;
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "is required by the native module");

  /* Oversize input. */
  char *big = malloc((1u << 20) + 2);
  memset(big, 'x', (1u << 20) + 1);
  big[(1u << 20) + 1] = '\0';
  r = python(big);
  expect_execute(&r, GRPC_STATUS_RESOURCE_EXHAUSTED, "field \"code\"");
  free(big);
  size_t nenv = 5000;
  EP(ExecuteSnippetRequest__EnvEntry) *env = calloc(nenv, sizeof *env);
  EP(ExecuteSnippetRequest__EnvEntry) **envp = calloc(nenv, sizeof *envp);
  char (*keys)[16] = calloc(nenv, 16);
  for (size_t i = 0; i < nenv; i++) {
    EP(ExecuteSnippetRequest__EnvEntry) init = EP_INIT(EXECUTE_SNIPPET_REQUEST__ENV_ENTRY);
    env[i] = init;
    snprintf(keys[i], 16, "V%zu", i);
    env[i].key = keys[i];
    env[i].value = (char *)"1";
    envp[i] = &env[i];
  }
  r = python("1");
  r.n_env = nenv;
  r.env = envp;
  expect_execute(&r, GRPC_STATUS_RESOURCE_EXHAUSTED, "field \"env\": 5000 entries");
  r.n_env = 1;
  env[0].key = (char *)"A=B";
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "field \"env\"");
  free(env);
  free(envp);
  free(keys);

  /* Bad values. (Limits themselves work: test_execd_limits.c.) */
  EP(ResourceLimits) lim = EP_INIT(RESOURCE_LIMITS);
  lim.cpu_millis = 9;
  r = python("1");
  r.limits = &lim;
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "field \"limits.cpu_millis\"");
  r = python("1");
  r.kill_signal = 99;
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "field \"kill_signal\"");
  r = python("1");
  r.user = (char *)"no-such-user-here";
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "field \"user\"");
  char longid[400];
  memset(longid, 'a', sizeof longid - 1);
  longid[sizeof longid - 1] = '\0';
  r = python("1");
  r.execution_id = longid;
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "field \"execution_id\"");
  r.execution_id = (char *)"a\tb";
  expect_execute(&r, GRPC_STATUS_INVALID_ARGUMENT, "control characters");
  /* A runtime that fails to start is an error, and leaves nothing. */
  EP(ListExecutionsRequest) lr = EP_INIT(LIST_EXECUTIONS_REQUEST);
  lr.include_finished = 1;
  EP(ListExecutionsResponse) *list = NULL;
  CHECK(api_call(&D, API("ListExecutions"), &lr.base, &EP_DESC(list_executions_response),
                 (ProtobufCMessage **)&list, NULL, 0) == 0);
  CHECK(list && list->n_executions == 2); /* script-ok and esm only */
  free_msg(list);
}

/* Every RPC that names an execution: unknown id -> NOT_FOUND, none ->
 * INVALID_ARGUMENT. */
static void test_unknown_ids(void) {
  char details[512];
  ProtobufCMessage *rep = NULL;
  EP(GetExecutionStatusRequest) gs = EP_INIT(GET_EXECUTION_STATUS_REQUEST);
  EP(CancelExecutionRequest) ce = EP_INIT(CANCEL_EXECUTION_REQUEST);
  EP(SignalExecutionRequest) se = EP_INIT(SIGNAL_EXECUTION_REQUEST);
  EP(WaitExecutionRequest) we = EP_INIT(WAIT_EXECUTION_REQUEST);
  EP(WriteStdinRequest) ws = EP_INIT(WRITE_STDIN_REQUEST);
  gs.execution_id = ce.execution_id = se.execution_id = we.execution_id = ws.execution_id =
      (char *)"nosuch";
  se.signal = SIGTERM;
  struct {
    const char *path;
    ProtobufCMessage *req;
    const ProtobufCMessageDescriptor *desc;
  } calls[] = {
      {API("GetExecutionStatus"), &gs.base, &EP_DESC(get_execution_status_response)},
      {API("CancelExecution"), &ce.base, &EP_DESC(cancel_execution_response)},
      {API("SignalExecution"), &se.base, &EP_DESC(signal_execution_response)},
      {API("WaitExecution"), &we.base, &EP_DESC(wait_execution_response)},
      {API("WriteStdin"), &ws.base, &EP_DESC(write_stdin_response)},
  };
  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
    CHECK(api_call(&D, calls[i].path, calls[i].req, calls[i].desc, &rep, details,
                   sizeof details) == GRPC_STATUS_NOT_FOUND);
    CHECK_STR_CONTAINS(details, "execution \"nosuch\" not found");
  }
  read_out r;
  CHECK(api_read(&D, "nosuch", 1, 0, 0, 0, 0, &r) == GRPC_STATUS_NOT_FOUND);
  read_out_free(&r);
  gs.execution_id = ce.execution_id = se.execution_id = we.execution_id = ws.execution_id =
      (char *)"";
  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
    CHECK(api_call(&D, calls[i].path, calls[i].req, calls[i].desc, &rep, details,
                   sizeof details) == GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(details, "\"execution_id\"");
  }
  EP(GetSessionRequest) gr = EP_INIT(GET_SESSION_REQUEST);
  CHECK(api_call(&D, API("GetSession"), &gr.base, &EP_DESC(get_session_response), &rep, details,
                 sizeof details) == GRPC_STATUS_INVALID_ARGUMENT);
  CHECK_STR_CONTAINS(details, "field \"session_id\" is required");
  gr.session_id = (char *)"nosuch";
  CHECK(api_call(&D, API("GetSession"), &gr.base, &EP_DESC(get_session_response), &rep, details,
                 sizeof details) == GRPC_STATUS_NOT_FOUND);
  /* An unknown method. */
  CHECK(api_call(&D, "/elide.daemon.v1alpha1.ExecutionApi/Nope", &gr.base,
                 &EP_DESC(get_session_response), &rep, details, sizeof details) ==
        GRPC_STATUS_UNIMPLEMENTED);
}

static void test_stream_refusals(void) {
  char details[512];
  EP(ExecuteSnippetRequest) r = python("print('abc')");
  r.execution_id = (char *)"short";
  CHECK(api_execute(&D, &r, NULL, NULL, NULL, NULL, details, sizeof details) == 0);
  free_msg(api_wait(&D, "short", 0));
  read_out o;
  CHECK(api_read(&D, "short", 1, 5, 0, 0, 0, &o) == GRPC_STATUS_OUT_OF_RANGE);
  CHECK_STR_CONTAINS(o.details, "field \"offset\": 5 is beyond the end of stdout (4 bytes");
  read_out_free(&o);
  CHECK(api_read(&D, "short", 7, 0, 0, 0, 0, &o) == GRPC_STATUS_INVALID_ARGUMENT);
  CHECK_STR_CONTAINS(o.details, "field \"fd\"");
  read_out_free(&o);
  /* WriteStdin: oversize data; SignalExecution: no signal. */
  EP(WriteStdinRequest) ws = EP_INIT(WRITE_STDIN_REQUEST);
  ws.execution_id = (char *)"short";
  ws.data.len = (1u << 20) + 1;
  ws.data.data = calloc(1, ws.data.len);
  ProtobufCMessage *rep = NULL;
  CHECK(api_call(&D, API("WriteStdin"), &ws.base, &EP_DESC(write_stdin_response), &rep, details,
                 sizeof details) == GRPC_STATUS_RESOURCE_EXHAUSTED);
  CHECK_STR_CONTAINS(details, "field \"data\"");
  free(ws.data.data);
  EP(SignalExecutionRequest) se = EP_INIT(SIGNAL_EXECUTION_REQUEST);
  se.execution_id = (char *)"short";
  CHECK(api_call(&D, API("SignalExecution"), &se.base, &EP_DESC(signal_execution_response), &rep,
                 details, sizeof details) == GRPC_STATUS_INVALID_ARGUMENT);
  CHECK_STR_CONTAINS(details, "field \"signal\" is required");
  EP(CancelExecutionRequest) ce = EP_INIT(CANCEL_EXECUTION_REQUEST);
  ce.execution_id = (char *)"short";
  ce.signal = 77;
  CHECK(api_call(&D, API("CancelExecution"), &ce.base, &EP_DESC(cancel_execution_response), &rep,
                 details, sizeof details) == GRPC_STATUS_INVALID_ARGUMENT);
  /* A message above the daemon's receive limit (8 MiB). */
  EP(ExecuteSnippetRequest) huge = python("1");
  huge.n_args = 1;
  char *arg = malloc(9u << 20);
  memset(arg, 'a', (9u << 20) - 1);
  arg[(9u << 20) - 1] = '\0';
  huge.args = &arg;
  huge.execution_id = (char *)"huge";
  CHECK(api_execute(&D, &huge, NULL, NULL, NULL, NULL, details, sizeof details) ==
        GRPC_STATUS_RESOURCE_EXHAUSTED);
  free(arg);
}

/* Writes `content` as an INI file and runs the daemon on it with -check. */
static int run_ini(const char *content, char **out) {
  char path[300];
  snprintf(path, sizeof path, "%s/bad.ini", D.dir);
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs(content, f);
  fclose(f);
  chmod(path, 0600);
  const char *args[] = {"-config", path, "-check", NULL};
  return execd_run_cli(args, out);
}

static void expect_bad_ini(const char *content, const char *needle) {
  char *out = NULL;
  int status = run_ini(content, &out);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  CHECK_STR_CONTAINS(out, needle);
  free(out);
}

static void test_config(void) {
  expect_bad_ini("[driver]\nstate_dir = /tmp\n", "bad.ini:1: ");
  expect_bad_ini("[daemon]\nendpoint = unix:/x\n", "bad.ini:2: ");
  expect_bad_ini("[daemon]\nlisten = relative.sock\n", "bad.ini:2: [daemon]: listen:");
  expect_bad_ini("[daemon]\n\nlisten = 127.0.0.1:99999\n", "bad.ini:3: [daemon]: listen:");
  expect_bad_ini("[daemon]\nsocket_mode = 0999\n", "bad.ini:2: [daemon]: socket_mode:");
  expect_bad_ini("[daemon]\nsocket_group = no-such-group-here\n", "bad.ini:2: [daemon]: socket_group");
  expect_bad_ini("[daemon]\nspool_max_bytes = 100\n", "bad.ini:2: [daemon]: spool_max_bytes:");
  expect_bad_ini("[daemon]\nspool_max_bytes = lots\n", "bad.ini:2: ");
  expect_bad_ini("[daemon]\nretain_finished = -1\n", "bad.ini:2: [daemon]: retain_finished:");
  expect_bad_ini("[daemon]\nlog_level = loud\n", "bad.ini:2: [daemon]: log_level:");
  expect_bad_ini("[daemon]\nwork_root = not/absolute\n", "bad.ini:2: ");
  expect_bad_ini("[module.python]\nmode = daemon\n", "bad.ini:2: [module.python]: mode \"daemon\"");
  expect_bad_ini("[module.python]\nnope = 1\n", "bad.ini:2: ");
  expect_bad_ini("[daemon]\nmodule_dir = relative\n", "bad.ini:2: ");
  /* An unsafe file is refused too. */
  char path[300], *out = NULL;
  snprintf(path, sizeof path, "%s/open.ini", D.dir);
  FILE *f = fopen(path, "w");
  if (f) fputs("[daemon]\n", f), fclose(f);
  chmod(path, 0666);
  const char *args[] = {"-config", path, "-check", NULL};
  int status = execd_run_cli(args, &out);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  free(out);
  /* The command line. */
  const char *rel[] = {"-config", "execd.ini", NULL};
  status = execd_run_cli(rel, &out);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  CHECK_STR_CONTAINS(out, "absolute path");
  free(out);
  const char *unknown[] = {"-frobnicate", NULL};
  status = execd_run_cli(unknown, &out);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  CHECK_STR_CONTAINS(out, "usage: elide-execd");
  free(out);
  const char *version[] = {"-version", NULL};
  status = execd_run_cli(version, &out);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK_STR_CONTAINS(out, "elide-execd ");
  free(out);
  /* The commented production example is valid. */
  const char *example[] = {"-config", EXAMPLE_EXECD_INI, "-check", NULL};
  status = execd_run_cli(example, &out);
  if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
    fprintf(stderr, "examples/execd.ini: %s\n", out ? out : "");
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK_STR_CONTAINS(out, "configuration OK: listen unix:/run/elide-execd/execd.sock");
  CHECK_STR_CONTAINS(out, "module python: loaded");
  free(out);
  /* The systemd unit keeps executions alive across daemon restarts. */
  char *unit = slurp(EXAMPLE_SERVICE, NULL);
  CHECK_STR_CONTAINS(unit, "KillMode=process");
  CHECK_STR_CONTAINS(unit, "ExecStart=/usr/local/bin/elide-execd -config /etc/elide-execd/execd.ini");
  free(unit);
}

/* A TCP listener instead of the unix socket. */
static void test_tcp(void) {
  execd_proc T;
  char extra[64];
  snprintf(extra, sizeof extra, "listen = 127.0.0.1:%d\n", 20000 + (int)(getpid() % 30000));
  if (execd_setup(&T, extra) != 0 || execd_launch(&T) != 0) {
    char *log = slurp(T.log, NULL);
    fprintf(stderr, "TCP daemon: %s\n", log ? log : "");
    free(log);
    CHECK(0);
    execd_teardown(&T);
    return;
  }
  char details[256];
  CHECK(api_execute(&T, NULL, "tcp", "python", "print('over tcp')", NULL, details,
                    sizeof details) == 0);
  free_msg(api_wait(&T, "tcp", 0));
  read_out r;
  CHECK(api_read(&T, "tcp", 1, 0, 0, 0, 0, &r) == 0 && !strcmp(r.data, "over tcp\n"));
  read_out_free(&r);
  int status = execd_stop(&T, SIGTERM, 10000);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  execd_teardown(&T);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  grpc_init();
  if (execd_setup(&D, NULL) != 0 || execd_launch(&D) != 0) {
    fprintf(stderr, "cannot start elide-execd; log:\n%s\n", slurp(D.log, NULL));
    return 1;
  }
  test_execute_refusals();
  test_unknown_ids();
  test_stream_refusals();
  test_config();
  test_tcp();
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
