/* Driver health and node attributes: computed from every module's own
 * fingerprint, sent at once to each new Fingerprint stream and re-sent to
 * all of them when it changes (checked every 30 s). */
#include "daemon_client.h"
#include "nomad_pb.h"
#include "plugin.h"
#include "task_events.h"

#include "cgroup.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FINGERPRINT_PERIOD_S 30
#define MAX_FP_ATTRS 128

typedef DP(FingerprintResponse) FingerprintResponse;
typedef DP(FingerprintResponse__AttributesEntry) AttrEntry;

/* A fingerprint under construction, with storage for its attributes. */
typedef struct fp_build {
  FingerprintResponse rep;
  AttrEntry entries[MAX_FP_ATTRS];
  AttrEntry *entry_ptrs[MAX_FP_ATTRS];
  NomadAttribute values[MAX_FP_ATTRS];
  char keys[MAX_FP_ATTRS][128];
  char strs[MAX_FP_ATTRS][256];
  char description[1024];
} fp_build;

static void add_attr(fp_build *b, const char *key, const char *value) {
  size_t i = b->rep.n_attributes;
  if (i >= MAX_FP_ATTRS) return;
  AttrEntry init_entry = DP_INIT(FINGERPRINT_RESPONSE__ATTRIBUTES_ENTRY);
  NomadAttribute init_attr = HASHICORP__NOMAD__PLUGINS__SHARED__STRUCTS__ATTRIBUTE__INIT;
  b->entries[i] = init_entry;
  b->values[i] = init_attr;
  snprintf(b->keys[i], sizeof b->keys[i], "%s", key);
  snprintf(b->strs[i], sizeof b->strs[i], "%s", value);
  b->values[i].value_case = HASHICORP__NOMAD__PLUGINS__SHARED__STRUCTS__ATTRIBUTE__VALUE_STRING_VAL;
  b->values[i].string_val = b->strs[i];
  b->entries[i].key = b->keys[i];
  b->entries[i].value = &b->values[i];
  b->entry_ptrs[i] = &b->entries[i];
  b->rep.n_attributes = i + 1;
}

static void append(char *dst, size_t cap, const char *sep, const char *s) {
  size_t used = strlen(dst);
  snprintf(dst + used, cap - used, "%s%s", used ? sep : "", s);
}

/* The daemon's view of a module in daemon mode: its Health entry (health
 * NULL: the daemon did not answer, `why` says how). */
static void daemon_fingerprint(const EP(HealthResponse) * health, const char *why,
                               const char *endpoint, const char *module, elide_fingerprint *fp) {
  memset(fp, 0, sizeof *fp);
  snprintf(fp->attrs[0].key, sizeof fp->attrs[0].key, "mode");
  snprintf(fp->attrs[0].value, sizeof fp->attrs[0].value, "daemon");
  fp->nattrs = 1;
  if (!health) {
    snprintf(fp->description, sizeof fp->description, "%s", why);
    return;
  }
  const EP(ModuleInfo) *info = NULL;
  for (size_t i = 0; i < health->n_modules && !info; i++)
    if (health->modules[i]->name && !strcmp(health->modules[i]->name, module))
      info = health->modules[i];
  if (!info) {
    snprintf(fp->description, sizeof fp->description, "daemon at %s has no module \"%s\"",
             endpoint, module);
    return;
  }
  fp->healthy = info->healthy;
  if (!info->healthy)
    snprintf(fp->description, sizeof fp->description, "daemon at %s: %s", endpoint,
             info->description ? info->description : "unhealthy");
  for (size_t a = 0; a < info->n_attributes && fp->nattrs < ELIDE_MAX_ATTRS; a++) {
    snprintf(fp->attrs[fp->nattrs].key, sizeof fp->attrs[0].key, "%s", info->attributes[a]->key);
    snprintf(fp->attrs[fp->nattrs].value, sizeof fp->attrs[0].value, "%s",
             info->attributes[a]->value);
    fp->nattrs++;
  }
}

static void build_fingerprint(plugin *p, fp_build *b) {
  FingerprintResponse init = DP_INIT(FINGERPRINT_RESPONSE);
  char healthy_names[512] = "", problems[900] = "";
  memset(b, 0, sizeof *b);
  b->rep = init;
  b->rep.attributes = b->entry_ptrs;
  plugin_ensure_configured(p);
  add_attr(b, "driver.elide.version", ELIDE_VERSION);
  /* Modules in daemon mode are as healthy as the daemon says (asked
   * without holding the lock: the call may wait for its deadline). */
  char endpoint[512] = "", health_err[512] = "";
  pthread_mutex_lock(&p->mu);
  if (p->cfg.ndaemon_modules) snprintf(endpoint, sizeof endpoint, "%s", p->cfg.daemon_endpoint);
  pthread_mutex_unlock(&p->mu);
  ProtobufCMessage *health = NULL;
  if (endpoint[0]) {
    EP(HealthRequest) hreq = EP_INIT(HEALTH_REQUEST);
    grpc_status_code code;
    daemon_call(endpoint, "Health", &hreq.base, &EP_DESC(health_response), &health,
                DAEMON_HEALTH_TIMEOUT_MS, &code, health_err, sizeof health_err);
  }
  pthread_mutex_lock(&p->mu);
  if (p->modules_error[0]) append(problems, sizeof problems, "; ", p->modules_error);
  for (size_t i = 0; i < p->modules.n; i++) {
    loaded_module *m = &p->modules.mods[i];
    elide_fingerprint mfp;
    int daemon = m->desc && plugin_module_in_daemon_mode(&p->cfg, m->desc->name);
    if (daemon) {
      daemon_fingerprint((const void *)health, health_err, p->cfg.daemon_endpoint, m->desc->name,
                         &mfp);
    } else if (!m->desc || !m->state) {
      append(problems, sizeof problems, "; ", m->error[0] ? m->error : m->name);
      continue;
    } else {
      memset(&mfp, 0, sizeof mfp);
      if (m->desc->ops->fingerprint(m->state, &mfp) != 0) {
        snprintf(mfp.description, sizeof mfp.description, "fingerprint failed");
        mfp.healthy = 0;
      }
    }
    task_events_note_runtime(p, m->desc->name, &mfp);
    for (size_t a = 0; a < mfp.nattrs && a < ELIDE_MAX_ATTRS; a++) {
      char key[128];
      snprintf(key, sizeof key, "driver.elide.%s.%s", m->desc->name, mfp.attrs[a].key);
      add_attr(b, key, mfp.attrs[a].value);
    }
    if (mfp.healthy) {
      append(healthy_names, sizeof healthy_names, ",", m->desc->name);
    } else {
      char why[400];
      snprintf(why, sizeof why, "%s: %s", m->desc->name, mfp.description);
      append(problems, sizeof problems, "; ", why);
    }
  }
  pthread_mutex_unlock(&p->mu);
  if (health) protobuf_c_message_free_unpacked(health, NULL);
  add_attr(b, "driver.elide.backends", healthy_names);
  /* Whether local tasks' memory and CPU limits are enforced, and if not
   * why (e.g. the agent does not run as root). */
  const char *cgroups_why;
  cgroup_mode cgroups = cgroup_host_mode(&cgroups_why);
  add_attr(b, "driver.elide.cgroups", cgroup_mode_name(cgroups));
  if (cgroups == CGROUP_NONE) {
    char why[256];
    snprintf(why, sizeof why, "%s; memory and CPU limits are not enforced", cgroups_why);
    add_attr(b, "driver.elide.cgroups.reason", why);
  }
  if (!healthy_names[0]) {
    b->rep.health = DP_ENUM(FINGERPRINT_RESPONSE__HEALTH_STATE__UNHEALTHY);
    snprintf(b->description, sizeof b->description, "no usable backend: %s",
             problems[0] ? problems : "no modules found");
  } else if (problems[0]) {
    b->rep.health = DP_ENUM(FINGERPRINT_RESPONSE__HEALTH_STATE__HEALTHY);
    snprintf(b->description, sizeof b->description, "Healthy; unavailable: %s", problems);
  } else {
    b->rep.health = DP_ENUM(FINGERPRINT_RESPONSE__HEALTH_STATE__HEALTHY);
    snprintf(b->description, sizeof b->description, "Healthy");
  }
  b->rep.health_description = b->description;
}

static void subscribe_offloaded(rpc_call *call, const ProtobufCMessage *msg) {
  (void)msg;
  plugin *p = plugin_of(call);
  fp_build *b = malloc(sizeof *b);
  if (!b) {
    rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  build_fingerprint(p, b);
  rpc_send(call, &b->rep.base);
  free(b);
  stream_hub_add(&p->fingerprint_subscribers, call);
}

#include "offload.h"

void fingerprint_subscribe(plugin *p, rpc_call *call) {
  (void)p;
  DP(FingerprintRequest) req = DP_INIT(FINGERPRINT_REQUEST);
  offload(call, &req.base, subscribe_offloaded);
}

static void *fingerprint_main(void *arg) {
  plugin *p = arg;
  uint8_t *last = NULL;
  size_t last_len = 0;
  fp_build *b = malloc(sizeof *b);
  for (;;) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += FINGERPRINT_PERIOD_S;
    pthread_mutex_lock(&p->stop_mu);
    while (!p->stopping &&
           pthread_cond_timedwait(&p->stop_cond, &p->stop_mu, &deadline) != ETIMEDOUT) {
    }
    int stopping = p->stopping;
    pthread_mutex_unlock(&p->stop_mu);
    if (stopping || !b) break;
    build_fingerprint(p, b);
    size_t len = protobuf_c_message_get_packed_size(&b->rep.base);
    uint8_t *packed = malloc(len ? len : 1);
    if (!packed) continue;
    protobuf_c_message_pack(&b->rep.base, packed);
    if (!last || len != last_len || memcmp(packed, last, len) != 0) {
      if (last) log_msg(LOG_INFO, "fingerprint changed", "health", b->description, NULL);
      stream_hub_broadcast(&p->fingerprint_subscribers, &b->rep.base);
    }
    free(last);
    last = packed;
    last_len = len;
  }
  free(last);
  free(b);
  return NULL;
}

int fingerprint_start(plugin *p) {
  int rc = pthread_create(&p->fingerprint_thread, NULL, fingerprint_main, p);
  p->fingerprint_thread_started = rc == 0;
  return -rc;
}

void fingerprint_stop(plugin *p) {
  pthread_mutex_lock(&p->stop_mu);
  p->stopping = 1;
  pthread_cond_broadcast(&p->stop_cond);
  pthread_mutex_unlock(&p->stop_mu);
  if (p->fingerprint_thread_started) pthread_join(p->fingerprint_thread, NULL);
  p->fingerprint_thread_started = 0;
}
