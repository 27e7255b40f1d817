/* Test harness for elide-execd: a daemon process with its own temporary
 * INI, work_root and unix socket, started and killed like an operator (or
 * systemd) would, and blocking helpers for its ExecutionApi over the real
 * socket. Used by tests/integration/test_execd_*.c. */
#ifndef ELIDE_TEST_EXECD_HARNESS_H
#define ELIDE_TEST_EXECD_HARNESS_H

#include "elide/daemon/v1alpha1/execution_api.pb-c.h"
#include "rpc_client.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define EP(name) Elide__Daemon__V1alpha1__##name
#define EP_INIT(NAME) ELIDE__DAEMON__V1ALPHA1__##NAME##__INIT
#define EP_DESC(name) elide__daemon__v1alpha1__##name##__descriptor
#define EP_ENUM(NAME) ELIDE__DAEMON__V1ALPHA1__##NAME
#define API(method) "/elide.daemon.v1alpha1.ExecutionApi/" method

typedef struct execd_proc {
  pid_t pid;          /* 0 when not running */
  char dir[128];      /* the test's temporary root */
  char ini[192];      /* <dir>/execd.ini */
  char sock[192];     /* <dir>/run/execd.sock */
  char work[192];     /* <dir>/work (work_root) */
  char log[192];      /* <dir>/daemon.log: the daemon's stderr, appended per start */
  char address[256];  /* unix:<sock> */
  rpc_client *client; /* while running */
} execd_proc;

/* The built daemon (or $ELIDE_EXECD_BINARY) and the modules it loads. */
const char *execd_binary(void);

/* A fresh directory and execd.ini: [daemon] listen, work_root, module_dir,
 * then `extra` (more [daemon] keys, then any sections) verbatim. An `extra`
 * that starts with "listen = host:port\n" serves TCP instead of the
 * socket. */
int execd_setup(execd_proc *p, const char *extra);
/* Starts the daemon on the setup's INI and waits (20 s) until Health
 * answers. Returns 0, or -1 (the log says why). */
int execd_launch(execd_proc *p);
/* Sends `sig` and waits up to timeout_ms for the exit; returns the wait
 * status, or -1 on timeout (the daemon is then SIGKILLed). */
int execd_stop(execd_proc *p, int sig, int timeout_ms);
/* Stops a running daemon (SIGTERM) and removes the directory. */
void execd_teardown(execd_proc *p);

/* Runs the daemon binary with `args` (NULL-terminated, argv[0] excluded)
 * to completion; returns its exit status and its stderr (malloc'd). */
int execd_run_cli(const char *const *args, char **output);

/* Unary call on the API; returns the status code, *rep the reply (free
 * with protobuf_c_message_free_unpacked), details copied. */
int api_call(execd_proc *p, const char *path, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *desc, ProtobufCMessage **rep, char *details,
             size_t dlen);

/* ExecuteSnippet with the common fields; more fields through `req` when
 * not NULL (its id, language and code are overwritten when given). */
int api_execute(execd_proc *p, EP(ExecuteSnippetRequest) * req, const char *id,
                const char *language, const char *code, EP(ExecuteSnippetResponse) * *rep,
                char *details, size_t dlen);

/* GetExecutionStatus; NULL on error (an unknown id included). */
EP(GetExecutionStatusResponse) * api_status(execd_proc *p, const char *id);

/* Polls GetExecutionStatus until the execution's stdout contains `needle`:
 * 1, or 0 after timeout_ms. */
int api_wait_stdout(execd_proc *p, const char *id, const char *needle, int timeout_ms);

/* WaitExecution; NULL on error. */
EP(WaitExecutionResponse) * api_wait(execd_proc *p, const char *id, uint64_t timeout_ms);

/* What a ReadOutput stream delivered. */
typedef struct read_out {
  char *data; /* malloc'd, NUL-terminated */
  size_t len;
  uint64_t first_chunk_offset; /* offset of the first data chunk (or of eof) */
  uint64_t next;               /* offset after the last byte received */
  uint64_t first_offset;       /* the last first_offset reported */
  int chunks;
  int eof;
  int contiguous; /* every chunk started where the previous ended */
  int code;       /* the stream's final status */
  char details[256];
} read_out;
/* Reads fd (1 stdout, 2 stderr) from offset; with follow until eof. With
 * stop_after > 0, cancels the stream after that many data chunks. */
int api_read(execd_proc *p, const char *id, int fd, uint64_t offset, int follow,
             uint32_t max_chunk, int stop_after, read_out *out);
void read_out_free(read_out *r);

int64_t now_ms(void);
/* Reads a whole file (malloc'd, NUL-terminated) or NULL. */
char *slurp(const char *path, size_t *len);

#endif
