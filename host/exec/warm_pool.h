/* Warm pools (abi/warm-starts.md): for one module instance, a zygote (the
 * module's pre-initialised runtime, our child) and `size` forked copies of
 * it kept ready, each already parented by its own `elide-monitor --warm`.
 * A pool thread keeps the count up: it asks the zygote for a fork whenever
 * a taken copy's start is over (warm_pool_refill) or a copy dies, and
 * restarts a zygote that died (with a growing
 * back-off while starts keep failing). Nothing here knows about Nomad.
 *
 * Thread-safety: warm_pool_take, warm_pool_refill and warm_pool_get_stats
 * may be called from any thread; warm_pool_stop must be the last call. */
#ifndef ELIDE_WARM_POOL_H
#define ELIDE_WARM_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct warm_pool warm_pool;

/* Borrowed for warm_pool_start (everything is copied). */
typedef struct warm_pool_config {
  const char *name;         /* the module's name, for logs */
  const char *const *argv;  /* the zygote's command line, argv[0] absolute */
  const char *const *envp;  /* the zygote's environment; NULL = empty */
  const char *bootstrap;    /* written to the zygote's fd 0, then EOF; may be NULL */
  size_t bootstrap_len;
  const char *runtime;      /* spawns with this argv[0] are served from the pool */
  const char *monitor_path; /* elide-monitor, exec'd by each copy's parent in --warm mode */
  int size;                 /* copies kept ready, >= 1 */
} warm_pool_config;

/* A ready copy, handed over by warm_pool_take: the caller owns `fd` (our
 * end of the monitor's spec socket; closing it makes the monitor kill the
 * copy and exit) and passes it to exec_start_warm. */
typedef struct warm_slot {
  int fd;
  pid_t monitor_pid;
  uint64_t monitor_ticks; /* /proc/<pid>/stat starttime, read after the hello */
  pid_t task_pid;         /* the pre-initialised copy, the task once handed a spec */
} warm_slot;

typedef struct warm_pool_stats {
  int ready;              /* copies ready now */
  int pending;            /* forks asked for, monitors not yet ready */
  int zygote_pid;         /* 0 while none runs */
  uint64_t zygote_starts; /* zygotes started so far */
  uint64_t forks;         /* forks asked of a zygote */
  uint64_t taken;         /* copies handed to tasks */
  uint64_t died;          /* ready copies found dead (their monitor gone) */
  char state[256];        /* "ready", "starting", "unusable: <why>", "backing off: <why>" */
} warm_pool_stats;

/* Starts the pool's thread (which starts the zygote). 0, or -errno with a
 * message for bad configuration or no thread. */
int warm_pool_start(const warm_pool_config *c, warm_pool **out, char *err, size_t errlen);

/* A ready copy for a spawn of `argv0`: 1 with *slot filled; 0 when argv0
 * is not the pool's runtime or no copy is ready (`why` says which, for the
 * task's start event), the caller then starts the task cold. */
int warm_pool_take(warm_pool *p, const char *argv0, warm_slot *slot, char *why, size_t whylen);

/* Has the pool replace the copies taken, now. Called once a taken copy's
 * start is over (it ran or failed): forking the zygote is the most CPU a
 * start causes, and on a small machine it would compete with the very
 * hand-off it replaces the copy of. */
void warm_pool_refill(warm_pool *p);

void warm_pool_get_stats(warm_pool *p, warm_pool_stats *out);

/* Stops the thread, closes every ready copy (each monitor kills its copy
 * and exits) and the zygote, reaps the zygote, frees p. NULL is a no-op. */
void warm_pool_stop(warm_pool *p);

#endif
