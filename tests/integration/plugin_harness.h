/* Test harness that starts nomad-driver-elide exactly as Nomad's go-plugin
 * client does (environment, handshake line on stdout, unix socket), plays
 * logmon's part for a task (FIFOs with readers), and builds cty-msgpack
 * task configs. Used by the integration tests. */
#ifndef ELIDE_TEST_PLUGIN_HARNESS_H
#define ELIDE_TEST_PLUGIN_HARNESS_H

#include "rpc_client.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct plugin_proc {
  pid_t pid;
  int stderr_fd;      /* the plugin's stderr (hclog JSON lines) */
  char address[512];  /* "unix:/..." from the handshake */
  char handshake[1024];
  rpc_client *client;
} plugin_proc;

/* Starts the plugin with Nomad's cookie; waits for the handshake (10 s).
 * extra_env: NULL-terminated "K=V" list added to the environment, or NULL. */
int plugin_start(plugin_proc *p, const char *const *extra_env);
/* SIGKILLs (hard=1) or asks GRPCController/Shutdown and waits; returns the
 * exit status as from waitpid, or -1 on timeout. */
int plugin_stop(plugin_proc *p, int hard, int timeout_ms);

/* A fake allocation: <root>/alloc/logs/.<task>.std{out,err}.fifo with reader
 * threads that collect everything written, and the task dir <root>/<task>
 * with local/. */
typedef struct fake_alloc {
  char root[256];
  char task_dir[512];
  char stdout_fifo[512];
  char stderr_fifo[512];
  char *out, *err;      /* collected bytes, NUL-terminated */
  size_t out_len, err_len;
  pthread_t out_th, err_th;
  pthread_mutex_t mu;
  _Atomic int stop; /* tells the readers to quit (fake_alloc_destroy) */
} fake_alloc;

int fake_alloc_create(fake_alloc *a, const char *task_name);
/* Writes a file under the task dir (relative path). */
int fake_alloc_write(fake_alloc *a, const char *rel, const char *content);
/* Waits until the collected stdout contains `needle` (1) or timeout (0). */
int fake_alloc_wait_output(fake_alloc *a, const char *needle, int timeout_ms);
/* Waits until both FIFOs reached EOF (all writers closed) or timeout. */
int fake_alloc_wait_eof(fake_alloc *a, int timeout_ms);
void fake_alloc_destroy(fake_alloc *a);

/* cty msgpack for the task config object {args, code, language, script}
 * (keys sorted, every attribute present, NULL = nil). args NULL-terminated. */
uint8_t *task_config_msgpack(const char *language, const char *script, const char *code,
                             const char *const *args, size_t *len);

int64_t now_ms(void);

/* Task ids unique to this test process, like Nomad's ("alloc-<pid>/<rest>":
 * tests run in parallel and a task's state directory derives from its id).
 * Returns one of 16 rotating static buffers. */
const char *test_task_id(const char *rest);

/* Unary call on the plugin (30 s deadline): the status code, the reply in
 * *rep (free with msg_free), the status details in `details` if non-NULL. */
grpc_status_code plugin_call(plugin_proc *p, const char *path, const ProtobufCMessage *req,
                             const ProtobufCMessageDescriptor *desc, ProtobufCMessage **rep,
                             char *details, size_t dlen);
void msg_free(ProtobufCMessage *m);

/* WaitTask: 0 with the result in *res (exit_code, signal, oom_killed). */
int plugin_wait_task(plugin_proc *p, const char *id, int *exit_code, int *signal, int *oom);

#endif
