/* Helpers shared by the exec tests: temp dirs, specs, FIFO readers that
 * stand in for Nomad's logmon, and /proc checks. */
#include "test_exec_util.h"

#include "exec_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 64
static char paths[SLOTS][PATH_MAX];
static int next_slot;

static char *slot(void) { return paths[next_slot++ % SLOTS]; }

int tu_setup(int argc, char **argv) {
  int fallback = argc > 1 && strcmp(argv[1], "--no-pidfd") == 0;
  monref_force_fallback(fallback);
  if (fallback) printf("running without pidfds\n");
  return fallback;
}

const char *tu_monitor(void) { return ELIDE_TEST_MONITOR; }

char *tu_tmpdir(void) {
  char *p = slot();
  snprintf(p, PATH_MAX, "/tmp/elide-exec-test.XXXXXX");
  if (!mkdtemp(p)) {
    perror("mkdtemp");
    abort();
  }
  return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  remove(path);
  return 0;
}

void tu_rmtree(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static const char *const default_env[] = {"PATH=/usr/bin:/bin", NULL};

exec_spec tu_spec(const char *dir, const char *const *argv) {
  char *state = slot();
  snprintf(state, PATH_MAX, "%s/state", dir);
  exec_spec s = {
      .monitor_path = tu_monitor(),
      .state_dir = state,
      .argv = argv,
      .envp = default_env,
      .cwd = "/",
  };
  return s;
}

int64_t tu_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct tu_reader {
  char path[PATH_MAX];
  int delay_ms;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  char *buf;
  size_t len, cap;
  int eof;
};

static void *reader_main(void *arg) {
  tu_reader *r = arg;
  if (r->delay_ms) {
    struct timespec d = {r->delay_ms / 1000, (long)(r->delay_ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
  }
  int fd = open(r->path, O_RDONLY | O_CLOEXEC);
  char chunk[65536];
  for (;;) {
    ssize_t n = fd < 0 ? 0 : read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    pthread_mutex_lock(&r->lock);
    if (n <= 0) {
      r->eof = 1;
      pthread_cond_broadcast(&r->cond);
      pthread_mutex_unlock(&r->lock);
      break;
    }
    if (r->len + (size_t)n + 1 > r->cap) {
      r->cap = (r->len + (size_t)n + 1) * 2;
      r->buf = realloc(r->buf, r->cap);
    }
    memcpy(r->buf + r->len, chunk, (size_t)n);
    r->len += (size_t)n;
    r->buf[r->len] = '\0';
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
  }
  if (fd >= 0) close(fd);
  return NULL;
}

tu_reader *tu_reader_start(const char *fifo_path, int delay_ms) {
  tu_reader *r = calloc(1, sizeof *r);
  snprintf(r->path, sizeof r->path, "%s", fifo_path);
  r->delay_ms = delay_ms;
  r->cap = 1;
  r->buf = calloc(1, 1);
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->cond, NULL);
  if (mkfifo(fifo_path, 0600) < 0 && errno != EEXIST) perror("mkfifo");
  pthread_create(&r->thread, NULL, reader_main, r);
  return r;
}

int tu_reader_wait_for(tu_reader *r, const char *needle, int timeout_ms) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += timeout_ms / 1000;
  deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;
  pthread_mutex_lock(&r->lock);
  while (!strstr(r->buf, needle) && !r->eof)
    if (pthread_cond_timedwait(&r->cond, &r->lock, &deadline) == ETIMEDOUT) break;
  int found = strstr(r->buf, needle) != NULL;
  pthread_mutex_unlock(&r->lock);
  return found;
}

int tu_reader_eof(tu_reader *r) {
  pthread_mutex_lock(&r->lock);
  int eof = r->eof;
  pthread_mutex_unlock(&r->lock);
  return eof;
}

char *tu_reader_join(tu_reader *r, size_t *len) {
  pthread_join(r->thread, NULL);
  char *out = r->buf;
  if (len) *len = r->len;
  pthread_mutex_destroy(&r->lock);
  pthread_cond_destroy(&r->cond);
  free(r);
  return out;
}

char *tu_read_file(const char *path) {
  FILE *f = fopen(path, "re");
  if (!f) return NULL;
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap);
  size_t n;
  while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += n;
    if (cap - len - 1 == 0) buf = realloc(buf, cap *= 2);
  }
  buf[len] = '\0';
  fclose(f);
  return buf;
}

int tu_pid_exists(pid_t pid) {
  char p[64];
  snprintf(p, sizeof p, "/proc/%d", (int)pid);
  return access(p, F_OK) == 0;
}

int tu_wait_pid_gone(pid_t pid, int timeout_ms) {
  int64_t end = tu_now_ms() + timeout_ms;
  while (tu_pid_exists(pid)) {
    if (tu_now_ms() > end) return 0;
    struct timespec d = {0, 5000000};
    nanosleep(&d, NULL);
  }
  return 1;
}

int tu_count_children(void) {
  exec_standby_settle(); /* so that the standby count is the children's */
  DIR *d = opendir("/proc/self/task");
  if (!d) return -1;
  int count = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char p[128];
    snprintf(p, sizeof p, "/proc/self/task/%s/children", e->d_name);
    char *s = tu_read_file(p);
    if (!s) continue;
    for (char *q = s; *q;) {
      while (*q == ' ') q++;
      if (!*q) break;
      count++;
      while (*q && *q != ' ') q++;
    }
    free(s);
  }
  closedir(d);
  return count - exec_standby_count();
}

char tu_pid_state(pid_t pid) {
  char p[64];
  snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
  char *s = tu_read_file(p);
  if (!s) return 0;
  char *q = strrchr(s, ')');
  char st = q && q[1] && q[2] ? q[2] : 0;
  free(s);
  return st;
}

int tu_pid_running(pid_t pid) {
  char st = tu_pid_state(pid);
  return st != 0 && st != 'Z' && st != 'X';
}
