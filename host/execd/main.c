/* elide-execd: the execution daemon. Loads execd.ini and the modules,
 * takes its locks, re-attaches every execution found under work_root,
 * serves the ExecutionApi on a unix socket or TCP address, and on SIGTERM
 * (or SIGINT) stops serving within about a second, leaving running
 * executions running for the next daemon. */
#include "api.h"
#include "config.h"
#include "daemon.h"
#include "exec.h"
#include "execution.h"
#include "log.h"
#include "pool.h"
#include "sessions.h"
#include "store.h"
#include "timers.h"
#include "warm_pools.h"

#include <errno.h>
#include <fcntl.h>
#include <grpc/grpc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SHUTDOWN_GRACE_MS 1000
#define POOL_THREADS 4
#define RPC_WORKERS 2

static void usage(FILE *f) {
  fprintf(f, "usage: elide-execd [-config /path/execd.ini] [-check] [-version]\n"
             "  -config FILE  the INI configuration (default: built-in defaults)\n"
             "  -check        load and check the configuration and modules, then exit\n"
             "  -version      print the version and exit\n");
}

typedef struct args {
  const char *config;
  int check;
} args;

/* Returns -1 to exit 1, 1 to exit 0, 0 to run. */
static int parse_args(int argc, char **argv, args *a) {
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    if (s[0] == '-' && s[1] == '-') s++; /* -x and --x alike */
    if (!strcmp(s, "-config") && i + 1 < argc) {
      a->config = argv[++i];
    } else if (!strncmp(s, "-config=", 8)) {
      a->config = s + 8;
    } else if (!strcmp(s, "-check")) {
      a->check = 1;
    } else if (!strcmp(s, "-version")) {
      printf("elide-execd %s\n", ELIDE_VERSION);
      return 1;
    } else if (!strcmp(s, "-h") || !strcmp(s, "-help")) {
      usage(stdout);
      return 1;
    } else {
      fprintf(stderr, "elide-execd: unknown argument \"%s\"\n", argv[i]);
      usage(stderr);
      return -1;
    }
  }
  if (a->config && a->config[0] != '/') {
    fprintf(stderr, "elide-execd: -config needs an absolute path (got \"%s\")\n", a->config);
    return -1;
  }
  return 0;
}

/* An exclusive lock held for the process's life; -1 with a message if
 * another process holds it. */
static int take_lock(const char *path, const char *what) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    fprintf(stderr, "elide-execd: cannot open the lock file %s: %s\n", path, strerror(errno));
    return -1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    fprintf(stderr, "elide-execd: another elide-execd %s (it holds %s)\n", what, path);
    close(fd);
    return -1;
  }
  return fd;
}

/* systemd's Type=notify, without libsystemd: one datagram to NOTIFY_SOCKET. */
static void sd_notify_msg(const char *msg) {
  const char *path = getenv("NOTIFY_SOCKET");
  if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(struct sockaddr_un) - 2)
    return;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  size_t len = strlen(path);
  memcpy(sa.sun_path, path, len);
  if (sa.sun_path[0] == '@') sa.sun_path[0] = '\0'; /* abstract namespace */
  sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
         (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
  close(fd);
}

static int prepare_dirs(execd *d) {
  snprintf(d->exec_root, sizeof d->exec_root, "%s/executions", d->cfg.work_root);
  snprintf(d->session_root, sizeof d->session_root, "%s/sessions", d->cfg.work_root);
  /* Traversable (not listable) by others: an execution that runs as
   * another user must reach its working directory below. */
  const char *dirs[] = {d->cfg.work_root, d->exec_root, d->session_root};
  const mode_t modes[] = {0711, 0711, 0700};
  for (int i = 0; i < 3; i++) {
    int rc = store_mkdir_p(dirs[i], modes[i]);
    if (rc < 0) {
      fprintf(stderr, "elide-execd: cannot create %s: %s\n", dirs[i], strerror(-rc));
      return -1;
    }
  }
  if (d->cfg.socket_path[0]) {
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", d->cfg.socket_path);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) *slash = '\0';
    int rc = store_mkdir_p(parent, 0755);
    if (rc < 0) {
      fprintf(stderr, "elide-execd: cannot create the socket directory %s: %s\n", parent,
              strerror(-rc));
      return -1;
    }
  }
  return 0;
}

/* Serves on the configured address; the unix socket is created with the
 * configured mode (umask around the bind) and group. */
static rpc_server *serve(execd *d) {
  rpc_server_options opts = {.worker_threads = RPC_WORKERS,
                             .max_receive_message = EXECD_MAX_MESSAGE,
                             .user = d};
  char err[512];
  rpc_server *srv = NULL;
  mode_t old = umask(0777 & ~d->cfg.socket_mode);
  int rc = rpc_server_start(&srv, d->cfg.listen, execd_methods, execd_nmethods, &opts, err,
                            sizeof err);
  umask(old);
  if (rc != 0) {
    fprintf(stderr, "elide-execd: cannot serve on %s: %s\n", d->cfg.listen, err);
    return NULL;
  }
  const char *sock = d->cfg.socket_path;
  if (sock[0] && (chmod(sock, d->cfg.socket_mode) < 0 ||
                  (d->cfg.has_socket_group && chown(sock, (uid_t)-1, d->cfg.socket_gid) < 0))) {
    fprintf(stderr, "elide-execd: cannot set the mode or group of %s: %s\n", sock,
            strerror(errno));
    rpc_server_stop(srv, 0);
    return NULL;
  }
  return srv;
}

static void print_check(const execd *d) {
  printf("configuration OK: listen %s, work_root %s, modules from %s\n", d->cfg.listen,
         d->cfg.work_root, d->cfg.module_dir);
  if (d->modules_error[0]) printf("  modules: %s\n", d->modules_error);
  for (size_t i = 0; i < d->modules.n; i++) {
    const loaded_module *m = &d->modules.mods[i];
    printf("  module %s: %s\n", m->name, m->desc && m->state ? "loaded" : m->error);
  }
}

/* Ends what the daemon itself keeps open on executions: following streams
 * and waits (clients resume after the restart). */
static void abort_clients(execd *d) {
  size_t n = 0;
  execution **all = ex_table_list(&d->executions, &n);
  for (size_t i = 0; i < n; i++) {
    ex_abort_followers(all[i], GRPC_STATUS_UNAVAILABLE,
                       "elide-execd is shutting down; resume from your offset");
    ex_abort_waiters(all[i], GRPC_STATUS_UNAVAILABLE, "elide-execd is shutting down");
    ex_unref(all[i]);
  }
  free(all);
}

/* Every execution keeps its two spool files open (and a stdin FIFO): raise
 * the soft descriptor limit to the hard one, as systemd's LimitNOFILE
 * would. Executions inherit it. */
static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static int run(execd *d) {
  int rc = 1, wlock = -1, slock = -1;
  rpc_server *srv = NULL;
  char lock[PATH_MAX + 16];
  if (prepare_dirs(d) < 0) return 1;
  raise_nofile();
  snprintf(lock, sizeof lock, "%s/execd.lock", d->cfg.work_root);
  if ((wlock = take_lock(lock, "uses this work_root")) < 0) return 1;
  snprintf(lock, sizeof lock, "%s.lock", d->cfg.socket_path);
  if (d->cfg.socket_path[0] && (slock = take_lock(lock, "listens on this socket")) < 0) goto out;
  if (exec_monitor_default_path(d->monitor_path, sizeof d->monitor_path) != 0) {
    fprintf(stderr, "elide-execd: cannot find elide-monitor (looked at %s)\n", d->monitor_path);
    goto out;
  }
  ex_table_init(&d->executions);
  if (pool_start(POOL_THREADS) != 0 || timers_start() != 0 || spool_watch_start() != 0) {
    fprintf(stderr, "elide-execd: cannot start its threads\n");
    goto stop_threads;
  }
  sessions_load(d);
  ex_recover_all(d);
  warm_pools_sync(&d->modules, d->monitor_path, NULL, NULL);
  if (!(srv = serve(d))) goto stop_all;
  sd_notify_msg("READY=1");
  log_msg(LOG_INFO, "elide-execd serving", "address", d->cfg.listen, "work_root",
          d->cfg.work_root, "version", ELIDE_VERSION, NULL);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      log_msg(LOG_INFO, "SIGHUP ignored: restart the daemon to reload its configuration", NULL);
      continue;
    }
    log_msg(LOG_INFO, "elide-execd stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT",
            NULL);
    break;
  }
  sd_notify_msg("STOPPING=1");
  atomic_store(&d->stopping, 1);
  abort_clients(d);
  api_exec_shutdown(SHUTDOWN_GRACE_MS);
  rpc_server_stop(srv, SHUTDOWN_GRACE_MS);
  rc = 0;
stop_all:
  warm_pools_stop_all();
  exec_standby_stop();
  pool_stop();
  ex_release_all(d);
  sessions_free(d);
stop_threads:
  pool_stop();
  timers_stop();
  spool_watch_stop();
  if (d->cfg.socket_path[0]) {
    struct stat st;
    if (lstat(d->cfg.socket_path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(d->cfg.socket_path);
  }
out:
  if (slock >= 0) close(slock);
  close(wlock);
  return rc;
}

int main(int argc, char **argv) {
  args a = {0};
  int prc = parse_args(argc, argv, &a);
  if (prc) return prc < 0 ? 1 : 0;
  signal(SIGPIPE, SIG_IGN);
  /* Before any thread exists (gRPC's included), so only sigwait sees them. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  static execd d;
  char err[2048];
  if (config_load(a.config, &d.modules, d.modules_error, sizeof d.modules_error, &d.cfg, err,
                  sizeof err) != 0) {
    fprintf(stderr, "elide-execd: %s\n", err);
    return 1;
  }
  log_set_level(d.cfg.level);
  if (a.check) {
    print_check(&d);
    return 0;
  }
  if (d.modules_error[0])
    log_msg(LOG_ERROR, "no modules could be loaded", "error", d.modules_error, NULL);
  grpc_init();
  int rc = run(&d);
  grpc_shutdown_blocking();
  return rc;
}
