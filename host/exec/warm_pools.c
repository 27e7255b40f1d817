/* The registry of warm pools (see warm_pools.h). */
#include "warm_pools.h"

#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define MAX_POOLS 32

typedef struct pool_entry {
  char module[64];
  const void *state; /* the instance the pool was described by */
  int size;
  warm_pool *pool;
} pool_entry;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pool_entry pools[MAX_POOLS];
static int npools;

static pool_entry *find(const char *module) {
  for (int i = 0; i < npools; i++)
    if (!strcmp(pools[i].module, module)) return &pools[i];
  return NULL;
}

/* Starts the pool `m` asks for; NULL (logged) when it cannot. */
static warm_pool *start_pool(loaded_module *m, const char *monitor_path) {
  elide_warm_pool_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.size = sizeof spec;
  char err[512] = "";
  int rc = m->desc->ops->warm_pool(m->state, &spec, err, sizeof err);
  warm_pool *pool = NULL;
  if (rc == 0) {
    warm_pool_config c = {.name = m->desc->name,
                          .argv = spec.argv,
                          .envp = spec.envp, /* 0 from a module without it (memset) */
                          .bootstrap = spec.bootstrap,
                          .bootstrap_len = spec.bootstrap ? spec.bootstrap_len : 0,
                          .runtime = spec.runtime,
                          .monitor_path = monitor_path,
                          .size = m->warm_pool_size};
    rc = warm_pool_start(&c, &pool, err, sizeof err);
  }
  if (rc != 0) {
    log_msg(LOG_WARN, "no warm pool: every task starts cold", "module", m->desc->name, "error",
            err[0] ? err : "the module gave no reason", NULL);
    return NULL;
  }
  char size[16];
  snprintf(size, sizeof size, "%d", m->warm_pool_size);
  log_msg(LOG_INFO, "warm pool starting", "module", m->desc->name, "size", size, "zygote",
          spec.description ? spec.description : spec.argv[0], NULL);
  return pool;
}

void warm_pools_sync(module_registry *reg, const char *monitor_path,
                     int (*is_local)(void *arg, const char *module), void *arg) {
  warm_pool *retired[MAX_POOLS];
  int nretired = 0;
  pthread_mutex_lock(&mu);
  /* Pools whose module changed or no longer qualifies go first. */
  for (int i = npools - 1; i >= 0; i--) {
    const loaded_module *m = NULL;
    for (size_t k = 0; k < reg->n && !m; k++)
      if (reg->mods[k].desc && !strcmp(reg->mods[k].desc->name, pools[i].module))
        m = &reg->mods[k];
    int keep = m && m->state == pools[i].state && m->warm_pool_size == pools[i].size &&
               (!is_local || is_local(arg, pools[i].module));
    if (keep) continue;
    retired[nretired++] = pools[i].pool;
    pools[i] = pools[--npools];
  }
  for (size_t k = 0; k < reg->n; k++) {
    loaded_module *m = &reg->mods[k];
    if (!m->desc || !m->state || !m->desc->ops->warm_pool || m->warm_pool_size <= 0) continue;
    if (find(m->desc->name) || (is_local && !is_local(arg, m->desc->name))) continue;
    if (npools == MAX_POOLS) break;
    warm_pool *pool = start_pool(m, monitor_path);
    if (!pool) continue;
    pool_entry *e = &pools[npools++];
    snprintf(e->module, sizeof e->module, "%s", m->desc->name);
    e->state = m->state;
    e->size = m->warm_pool_size;
    e->pool = pool;
  }
  pthread_mutex_unlock(&mu);
  /* Outside the lock: stopping waits for the pool's thread. */
  for (int i = 0; i < nretired; i++) warm_pool_stop(retired[i]);
}

int warm_pools_take(const char *module, const char *argv0, warm_slot *slot, char *why,
                    size_t whylen) {
  pthread_mutex_lock(&mu);
  pool_entry *e = module ? find(module) : NULL;
  int got = e ? warm_pool_take(e->pool, argv0, slot, why, whylen) : 0;
  if (!e && whylen) why[0] = '\0';
  pthread_mutex_unlock(&mu);
  return got;
}

void warm_pools_refill(const char *module) {
  pthread_mutex_lock(&mu);
  pool_entry *e = module ? find(module) : NULL;
  if (e) warm_pool_refill(e->pool);
  pthread_mutex_unlock(&mu);
}

int warm_pools_stats(const char *module, warm_pool_stats *out) {
  pthread_mutex_lock(&mu);
  pool_entry *e = find(module);
  if (e) warm_pool_get_stats(e->pool, out);
  pthread_mutex_unlock(&mu);
  return e ? 0 : -ENOENT;
}

void warm_pools_stop_all(void) {
  warm_pool *all[MAX_POOLS];
  pthread_mutex_lock(&mu);
  int n = npools;
  for (int i = 0; i < n; i++) all[i] = pools[i].pool;
  npools = 0;
  pthread_mutex_unlock(&mu);
  for (int i = 0; i < n; i++) warm_pool_stop(all[i]);
}
