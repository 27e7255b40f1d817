/* nomad-driver-elide: the Nomad task driver plugin process. Checks Nomad's
 * magic cookie, serves every go-plugin and Nomad service on a private unix
 * socket, prints the go-plugin handshake line, and runs until Nomad asks it
 * to exit (GRPCController/Shutdown) or it receives SIGTERM. Running tasks
 * are left running at exit; the next plugin process recovers them. */
#include "plugin.h"

#include "exec.h"
#include "log.h"
#include "offload.h"
#include "warm_pools.h"

#include <errno.h>
#include <grp.h>
#include <grpc/grpc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC_COOKIE_KEY "NOMAD_PLUGIN_MAGIC_COOKIE"
#define MAGIC_COOKIE_VALUE "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255"
#define APP_PROTOCOL "2"
#define SHUTDOWN_GRACE_MS 200

static pid_t main_pid;

plugin *plugin_of(rpc_call *call) { return rpc_server_user(rpc_call_server(call)); }

void plugin_request_exit(void) { kill(main_pid, SIGUSR1); }

static int check_cookie(void) {
  const char *cookie = getenv(MAGIC_COOKIE_KEY);
  if (cookie && strcmp(cookie, MAGIC_COOKIE_VALUE) == 0) return 0;
  fprintf(stderr,
          "This binary is a plugin. These are not meant to be executed directly.\n"
          "Please execute the program that consumes these plugins, which will\n"
          "load any plugins automatically\n");
  return -1;
}

/* PLUGIN_PROTOCOL_VERSIONS is a comma-separated list; we speak "2". */
static int check_protocol(void) {
  const char *v = getenv("PLUGIN_PROTOCOL_VERSIONS");
  if (!v || !v[0]) return 0; /* older clients do not send it */
  char buf[256];
  snprintf(buf, sizeof buf, "%s", v);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
    if (strcmp(tok, APP_PROTOCOL) == 0) return 0;
  fprintf(stderr, "nomad-driver-elide speaks plugin protocol %s; the client offered %s\n",
          APP_PROTOCOL, v);
  return -1;
}

/* Creates a private directory for the socket (go-plugin's variables first,
 * then TMPDIR, then /tmp) and returns the socket path in it. */
static int make_socket_path(char *dir, size_t dircap, char *path, size_t pathcap) {
  const char *base = getenv("PLUGIN_UNIX_SOCKET_DIR");
  if (!base || !base[0]) base = getenv("TMPDIR");
  if (!base || !base[0]) base = "/tmp";
  snprintf(dir, dircap, "%s/elide-plugin-XXXXXX", base);
  if (!mkdtemp(dir)) return -errno;
  snprintf(path, pathcap, "%s/plugin.sock", dir);
  if (strlen(path) >= 108) return -ENAMETOOLONG;
  const char *group = getenv("PLUGIN_UNIX_SOCKET_GROUP");
  if (group && group[0]) {
    struct group *g = getgrnam(group);
    char *end;
    long gid = g ? (long)g->gr_gid : strtol(group, &end, 10);
    if ((g || *end == '\0') && chown(dir, (uid_t)-1, (gid_t)gid) == 0) chmod(dir, 0750);
  }
  return 0;
}

static int plugin_init(plugin *p) {
  memset(p, 0, sizeof *p);
  pthread_mutex_init(&p->mu, NULL);
  pthread_mutex_init(&p->stop_mu, NULL);
  pthread_cond_init(&p->stop_cond, NULL);
  task_table_init(&p->tasks);
  stream_hub_init(&p->fingerprint_subscribers);
  stream_hub_init(&p->event_subscribers);
  plugin_config_defaults(&p->cfg);
  exec_monitor_default_path(p->monitor_path, sizeof p->monitor_path);
  return 0;
}

/* Releases the tasks without touching their processes: they keep running. */
static void plugin_release_tasks(plugin *p) {
  size_t n = 0;
  task **all = task_table_list(&p->tasks, &n);
  for (size_t i = 0; i < n; i++) {
    task *t = task_table_remove(&p->tasks, all[i]->id);
    if (t && t->proc) {
      exec_release(t->proc);
      t->proc = NULL;
    }
    task_unref(t);
    task_unref(all[i]);
  }
  free(all);
}

static rpc_method *all_methods(size_t *n) {
  *n = goplugin_nmethods + base_nmethods + driver_nmethods;
  rpc_method *m = calloc(*n, sizeof *m);
  if (!m) return NULL;
  memcpy(m, goplugin_methods, goplugin_nmethods * sizeof *m);
  memcpy(m + goplugin_nmethods, base_methods, base_nmethods * sizeof *m);
  memcpy(m + goplugin_nmethods + base_nmethods, driver_methods, driver_nmethods * sizeof *m);
  return m;
}

int main(void) {
  if (check_cookie() != 0 || check_protocol() != 0) return 1;
  main_pid = getpid();
  /* The Nomad agent that started us: if it goes away without stopping us
   * (killed, or exiting after it re-launched us during its own shutdown),
   * nobody will ever call this plugin again, so it leaves as on SIGTERM.
   * Watched by polling, not PR_SET_PDEATHSIG, which fires when the forking
   * thread of the parent exits rather than the parent. */
  pid_t parent = getppid();
  /* Ignore what go-plugin servers ignore; handle the rest on this thread. */
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  sigset_t wait_set;
  sigemptyset(&wait_set);
  sigaddset(&wait_set, SIGTERM);
  sigaddset(&wait_set, SIGUSR1);
  sigaddset(&wait_set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &wait_set, NULL); /* before any thread exists */

  char dir[4096], sock[4096], addr[4200], err[512];
  int rc = make_socket_path(dir, sizeof dir, sock, sizeof sock);
  if (rc != 0) {
    fprintf(stderr, "nomad-driver-elide: cannot create the plugin socket directory: %s\n",
            strerror(-rc));
    return 1;
  }
  snprintf(addr, sizeof addr, "unix:%s", sock);

  static plugin p;
  plugin_init(&p);
  grpc_init();
  size_t nmethods = 0;
  rpc_method *methods = all_methods(&nmethods);
  rpc_server *srv = NULL;
  rpc_server_options opts = {.worker_threads = 2, .max_receive_message = 0, .user = &p};
  if (!methods || rpc_server_start(&srv, addr, methods, nmethods, &opts, err, sizeof err) != 0) {
    fprintf(stderr, "nomad-driver-elide: cannot serve on %s: %s\n", addr, err);
    rmdir(dir);
    return 1;
  }
  fingerprint_start(&p);
  log_msg(LOG_DEBUG, "plugin serving", "address", addr, "version", ELIDE_VERSION, NULL);

  printf("1|%s|unix|%s|grpc|\n", APP_PROTOCOL, sock);
  fflush(stdout);

  const struct timespec parent_check = {1, 0};
  for (;;) {
    int sig = sigtimedwait(&wait_set, NULL, &parent_check);
    if (sig < 0) {
      if (errno != EAGAIN || getppid() == parent) continue;
      log_msg(LOG_WARN, "plugin exiting", "reason",
              "the Nomad agent that started the plugin is gone; tasks keep running", NULL);
      break;
    }
    if (sig == SIGHUP) continue; /* no controlling terminal semantics for a plugin */
    log_msg(LOG_DEBUG, "plugin exiting", "reason", sig == SIGUSR1 ? "shutdown requested" : "SIGTERM",
            NULL);
    break;
  }
  fingerprint_stop(&p);
  stream_hub_close_all(&p.fingerprint_subscribers);
  stream_hub_close_all(&p.event_subscribers);
  rpc_server_stop(srv, SHUTDOWN_GRACE_MS);
  offload_stop();
  warm_pools_stop_all(); /* idle copies end; running tasks do not */
  exec_standby_stop();
  plugin_release_tasks(&p);
  stream_hub_destroy(&p.fingerprint_subscribers);
  stream_hub_destroy(&p.event_subscribers);
  free(methods);
  unlink(sock);
  rmdir(dir);
  grpc_shutdown_blocking();
  return 0;
}
