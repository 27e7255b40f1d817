/* Mock host services (see mock_host.h). */
#include "mock_host.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct elide_proc {
  pid_t pid;
  int done;
  elide_exit ex;
};

static void decode_status(int status, elide_exit *ex) {
  memset(ex, 0, sizeof *ex);
  if (WIFSIGNALED(status)) {
    ex->signal = WTERMSIG(status);
    ex->exit_code = 128 + ex->signal;
  } else {
    ex->exit_code = WEXITSTATUS(status);
  }
}

static int mock_spawn(void *task_ctx, const elide_spawn_spec *spec, elide_proc **out, char *err,
                      size_t errlen) {
  const mock_task_ctx *ctx = task_ctx;
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) != 0) return -errno;
  pid_t pid = fork();
  if (pid == 0) {
    int o = open(ctx->stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(ctx->stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int n = open("/dev/null", O_RDONLY);
    if (o < 0 || e < 0 || n < 0 || dup2(n, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0 ||
        chdir(spec->cwd) != 0)
      goto fail;
    setpgid(0, 0);
    execve(spec->argv[0], (char *const *)spec->argv, (char *const *)spec->envp);
  fail:;
    int code = errno;
    ssize_t w = write(errpipe[1], &code, sizeof code);
    (void)w;
    _exit(127);
  }
  close(errpipe[1]);
  int code = 0;
  ssize_t r = read(errpipe[0], &code, sizeof code);
  close(errpipe[0]);
  if (pid < 0 || r == (ssize_t)sizeof code) {
    if (pid > 0) waitpid(pid, NULL, 0);
    snprintf(err, errlen, "cannot execute %s: %s", spec->argv[0], strerror(pid < 0 ? errno : code));
    return -(pid < 0 ? errno : code);
  }
  elide_proc *p = calloc(1, sizeof *p);
  p->pid = pid;
  *out = p;
  return 0;
}

static int mock_proc_wait(elide_proc *p, int timeout_ms, elide_exit *out) {
  if (!p->done) {
    for (int waited = 0;; waited += 5) {
      int status;
      pid_t r = waitpid(p->pid, &status, timeout_ms < 0 ? 0 : WNOHANG);
      if (r == p->pid) {
        decode_status(status, &p->ex);
        p->done = 1;
        break;
      }
      if (timeout_ms >= 0 && waited >= timeout_ms) return 0;
      usleep(5000);
    }
  }
  *out = p->ex;
  return 1;
}

static int mock_proc_poll(elide_proc *p, elide_exit *out) { return mock_proc_wait(p, 0, out); }

static int mock_proc_signal(elide_proc *p, int sig) {
  if (p->done) return -ESRCH;
  return kill(-p->pid, sig) == 0 ? 0 : -errno;
}

static int mock_proc_stop(elide_proc *p, int sig, int grace_ms, elide_exit *out) {
  mock_proc_signal(p, sig ? sig : SIGINT);
  if (!mock_proc_wait(p, grace_ms, out)) {
    mock_proc_signal(p, SIGKILL);
    mock_proc_wait(p, -1, out);
  }
  return 0;
}

static int mock_proc_stats(elide_proc *p, elide_stats *out) {
  (void)p;
  memset(out, 0, sizeof *out);
  out->size = sizeof *out;
  return 0;
}

static int mock_proc_attach(void *task_ctx, elide_proc **out, char *err, size_t errlen) {
  (void)task_ctx;
  (void)out;
  snprintf(err, errlen, "the mock host cannot re-attach processes");
  return -ENOTSUP;
}

static int mock_run_capture(const char *const *argv, int timeout_ms, char *out, size_t outlen,
                            int *exit_code, char *err, size_t errlen) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return -errno;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    char *const env[] = {(char *)"PATH=/usr/bin:/bin", NULL};
    execve(argv[0], (char *const *)argv, env);
    _exit(127);
  }
  close(fds[1]);
  size_t used = 0;
  struct pollfd pfd = {fds[0], POLLIN, 0};
  while (used + 1 < outlen && poll(&pfd, 1, timeout_ms) > 0) {
    ssize_t n = read(fds[0], out + used, outlen - 1 - used);
    if (n <= 0) break;
    used += (size_t)n;
  }
  out[used] = '\0';
  close(fds[0]);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  elide_exit ex;
  decode_status(status, &ex);
  *exit_code = ex.exit_code;
  (void)err;
  (void)errlen;
  return 0;
}

static void mock_log(int level, const char *module, const char *msg) {
  fprintf(stderr, "[mock-host %d] %s: %s\n", level, module, msg);
}

const elide_host_services mock_host_services = {
    .size = sizeof(elide_host_services),
    .abi_major = ELIDE_ABI_MAJOR,
    .abi_minor = ELIDE_ABI_MINOR,
    .spawn = mock_spawn,
    .proc_attach = mock_proc_attach,
    .proc_poll = mock_proc_poll,
    .proc_wait = mock_proc_wait,
    .proc_signal = mock_proc_signal,
    .proc_stop = mock_proc_stop,
    .proc_stats = mock_proc_stats,
    .run_capture = mock_run_capture,
    .log = mock_log,
};

/* Instances stay referenced for the process lifetime, as in the host (and
 * so leak checkers see them as reachable). */
static void *instances[64];
static size_t ninstances;

const elide_module_descriptor *mock_load_module(const char *path) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
    return NULL;
  }
  elide_module_entry_fn entry = (elide_module_entry_fn)dlsym(h, ELIDE_MODULE_ENTRY_SYMBOL);
  if (!entry) {
    fprintf(stderr, "%s: no %s\n", path, ELIDE_MODULE_ENTRY_SYMBOL);
    return NULL;
  }
  return entry();
}

/* Fills one value from its declared key and optional text. */
static void make_value(const elide_key *k, const char *text, elide_value *v, char ***lists) {
  memset(v, 0, sizeof *v);
  v->name = k->name;
  v->type = k->type;
  if (!text) text = k->default_value;
  if (!text) return;
  v->is_set = 1;
  v->str = text;
  if (k->type == ELIDE_VALUE_INT) v->i = strtoll(text, NULL, 10);
  if (k->type == ELIDE_VALUE_BOOL) v->i = !strcmp(text, "true") || !strcmp(text, "1");
  if (k->type == ELIDE_VALUE_LIST) {
    char **items = calloc(64, sizeof *items), *copy = strdup(text), *save = NULL;
    size_t n = 0;
    for (char *t = strtok_r(copy, ",", &save); t && n < 63; t = strtok_r(NULL, ",", &save))
      items[n++] = strdup(t);
    free(copy);
    v->list = (const char *const *)items;
    v->nlist = n;
    *lists = items;
  }
}

static const char *pair_value(const char *const *pairs, const char *name) {
  for (; pairs && pairs[0] && pairs[1]; pairs += 2)
    if (!strcmp(pairs[0], name)) return pairs[1];
  return NULL;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return strdup("");
  char *buf = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&buf, &len);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) fwrite(chunk, 1, n, mem);
  fclose(mem);
  fclose(f);
  return buf;
}

static void free_values(elide_value *vals, char ***lists, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (!lists[i]) continue;
    for (char **it = lists[i]; *it; it++) free(*it);
    free(lists[i]);
  }
  free(vals);
  free(lists);
}

int mock_run_task(const elide_module_descriptor *d, const char *const *config_pairs,
                  const char *task_dir, const char *script, const char *code,
                  const char *const *args, const char *const *envp,
                  const char *const *option_pairs, elide_exit *exit, char **out, char **err_out,
                  char *err, size_t errlen) {
  elide_value *cfg = calloc(d->nconfig_keys + 1, sizeof *cfg);
  char ***cfg_lists = calloc(d->nconfig_keys + 1, sizeof *cfg_lists);
  for (size_t i = 0; i < d->nconfig_keys; i++)
    make_value(&d->config_keys[i], pair_value(config_pairs, d->config_keys[i].name), &cfg[i],
               &cfg_lists[i]);
  elide_module_config mc = {sizeof mc, cfg, d->nconfig_keys, NULL, 0};
  void *state = NULL;
  int rc = d->ops->init(&mock_host_services, &mc, &state, err, errlen);
  if (rc == 0 && ninstances < 64) instances[ninstances++] = state;
  free_values(cfg, cfg_lists, d->nconfig_keys);
  if (rc != 0) return rc;
  elide_value *opts = calloc(d->ntask_keys + 1, sizeof *opts);
  char ***opt_lists = calloc(d->ntask_keys + 1, sizeof *opt_lists);
  for (size_t i = 0; i < d->ntask_keys; i++)
    make_value(&d->task_keys[i], pair_value(option_pairs, d->task_keys[i].name), &opts[i],
               &opt_lists[i]);
  static const char *const no_args[] = {NULL};
  elide_task task = {sizeof task, "mock/task/0001", d->languages[0], task_dir, script, code,
                     args ? args : no_args, envp ? envp : no_args, opts, d->ntask_keys};
  char stdout_path[512], stderr_path[512];
  snprintf(stdout_path, sizeof stdout_path, "%s/.mock.stdout", task_dir);
  snprintf(stderr_path, sizeof stderr_path, "%s/.mock.stderr", task_dir);
  mock_task_ctx ctx = {stdout_path, stderr_path};
  elide_proc *p = NULL;
  rc = d->ops->execute(state, &task, &ctx, &p, err, errlen);
  free_values(opts, opt_lists, d->ntask_keys);
  if (rc != 0) return rc;
  d->ops->status(state, p, exit); /* exercises status; the wait below is authoritative */
  mock_proc_wait(p, -1, exit);
  free(p);
  *out = slurp(stdout_path);
  *err_out = slurp(stderr_path);
  unlink(stdout_path);
  unlink(stderr_path);
  return 0;
}
