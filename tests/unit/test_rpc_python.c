/* Cross-check of host/rpc with Debian's Python grpcio: serves the Echo test
 * service and runs rpc_python_client.py against it as a child process.
 * Usage: test_rpc_python PYTHON SCRIPT PROTO. Exit 77 = skipped. */
#include "check.h"
#include "rpc_test_service.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int run_child(char *const argv[]) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    execv(argv[0], argv);
    _exit(127);
  }
  int status;
  if (waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int no_feeders(void) {
  return svc.feeders == 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s PYTHON SCRIPT PROTO\n", argv[0]);
    return 2;
  }
  if (access(argv[1], X_OK) != 0) {
    fprintf(stderr, "%s not found: skipped\n", argv[1]);
    return 77;
  }
  grpc_init();
  char dir[] = "/tmp/elide-rpc-py-XXXXXX";
  if (!mkdtemp(dir)) return 2;
  char addr[128];
  snprintf(addr, sizeof addr, "unix:%s/echo.sock", dir);
  size_t n;
  const rpc_method *m = svc_methods(&n);
  rpc_server *s;
  char err[256];
  if (rpc_server_start(&s, addr, m, n, NULL, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  char *child[] = {argv[1], argv[2], argv[3], addr, NULL};
  int rc = run_child(child);
  rpc_server_stop(s, 500);
  svc_wait(no_feeders, 5000);
  grpc_shutdown_blocking();
  rmdir(dir);
  if (rc == 77) return 77;
  CHECK(rc == 0);
  return CHECK_DONE();
}
