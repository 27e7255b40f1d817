/* Health: the daemon's version, the languages of its healthy modules and
 * every module (refused ones included) with its fingerprint. Fingerprints
 * run the runtimes briefly, so they are computed in the pool and cached for
 * a few seconds. */
#include "api.h"
#include "log.h"
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_MS 5000
#define MAX_MODULES 64

static struct {
  pthread_mutex_t mu;
  int64_t at_ms; /* 0 = never taken */
  size_t n;
  elide_fingerprint fp[MAX_MODULES]; /* per registry entry; healthy = 0 for refused ones */
} C = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* With C.mu held: fingerprints every module unless the cache is fresh. */
static void refresh_locked(execd *d) {
  if (C.at_ms && now_ms() - C.at_ms < CACHE_MS) return;
  C.n = d->modules.n < MAX_MODULES ? d->modules.n : MAX_MODULES;
  for (size_t i = 0; i < C.n; i++) {
    loaded_module *m = &d->modules.mods[i];
    elide_fingerprint *fp = &C.fp[i];
    memset(fp, 0, sizeof *fp);
    if (!m->desc || !m->state) {
      snprintf(fp->description, sizeof fp->description, "%s", m->error[0] ? m->error : "refused");
    } else if (m->desc->ops->fingerprint(m->state, fp) != 0) {
      fp->healthy = 0;
      snprintf(fp->description, sizeof fp->description, "fingerprint failed");
    } else if (fp->healthy) {
      snprintf(fp->description, sizeof fp->description, "Healthy");
    }
    if (fp->nattrs > ELIDE_MAX_ATTRS) fp->nattrs = ELIDE_MAX_ATTRS;
    api_utf8_clean(fp->description, strnlen(fp->description, sizeof fp->description - 1));
    for (size_t a = 0; a < fp->nattrs; a++) {
      api_utf8_clean(fp->attrs[a].key, strnlen(fp->attrs[a].key, sizeof fp->attrs[a].key - 1));
      api_utf8_clean(fp->attrs[a].value,
                     strnlen(fp->attrs[a].value, sizeof fp->attrs[a].value - 1));
    }
  }
  C.at_ms = now_ms();
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef EP(ModuleInfo__AttributesEntry) AttrEntry;

static void health(rpc_call *call, const ProtobufCMessage *msg) {
  (void)msg;
  execd *d = execd_of(call);
  pthread_mutex_lock(&C.mu);
  refresh_locked(d);
  size_t n = C.n, nlangs = 0;
  EP(ModuleInfo) *infos = calloc(n + 1, sizeof *infos);
  EP(ModuleInfo) **ptrs = calloc(n + 1, sizeof *ptrs);
  AttrEntry *attrs = calloc(n * ELIDE_MAX_ATTRS + 1, sizeof *attrs);
  AttrEntry **attr_ptrs = calloc(n * ELIDE_MAX_ATTRS + 1, sizeof *attr_ptrs);
  char **langs = calloc(n * MODULES_MAX_LANGUAGES + 1, sizeof *langs);
  if (!infos || !ptrs || !attrs || !attr_ptrs || !langs) {
    rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    goto out;
  }
  int healthy = 0;
  for (size_t i = 0; i < n; i++) {
    const loaded_module *m = &d->modules.mods[i];
    const elide_fingerprint *fp = &C.fp[i];
    EP(ModuleInfo) init = EP_INIT(MODULE_INFO);
    infos[i] = init;
    infos[i].name = (char *)m->name;
    infos[i].version = m->desc ? (char *)m->desc->version : (char *)"";
    infos[i].healthy = fp->healthy != 0;
    infos[i].description = (char *)fp->description;
    size_t nl = 0;
    while (m->desc && m->desc->languages[nl]) nl++;
    if (m->desc) {
      infos[i].n_languages = nl;
      infos[i].languages = (char **)m->desc->languages;
    }
    for (size_t l = 0; fp->healthy && l < nl; l++) langs[nlangs++] = (char *)m->desc->languages[l];
    AttrEntry **mine = &attr_ptrs[i * ELIDE_MAX_ATTRS];
    for (size_t a = 0; a < fp->nattrs; a++) {
      AttrEntry ainit = EP_INIT(MODULE_INFO__ATTRIBUTES_ENTRY);
      AttrEntry *ae = &attrs[i * ELIDE_MAX_ATTRS + a];
      *ae = ainit;
      ae->key = (char *)fp->attrs[a].key;
      ae->value = (char *)fp->attrs[a].value;
      mine[a] = ae;
    }
    infos[i].n_attributes = fp->nattrs;
    infos[i].attributes = mine;
    healthy |= fp->healthy != 0;
    ptrs[i] = &infos[i];
  }
  qsort(langs, nlangs, sizeof *langs, cmp_str);
  EP(HealthResponse) rep = EP_INIT(HEALTH_RESPONSE);
  rep.healthy = healthy && !d->modules_error[0];
  rep.version = (char *)ELIDE_VERSION;
  rep.n_languages = nlangs;
  rep.languages = langs;
  rep.n_modules = n;
  rep.modules = ptrs;
  rpc_send(call, &rep.base); /* packed here, while the cache is locked */
  rpc_finish(call, GRPC_STATUS_OK, NULL);
out:
  pthread_mutex_unlock(&C.mu);
  free(infos);
  free(ptrs);
  free(attrs);
  free(attr_ptrs);
  free(langs);
}

void api_health(rpc_call *call, const ProtobufCMessage *msg) { pool_call(call, msg, health); }
