/* Task-level helpers for integration tests (see task_helpers.h). */
#include "task_helpers.h"

#include "nomad/base.pb-c.h"
#include "google/protobuf/duration.pb-c.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DP(n) Hashicorp__Nomad__Plugins__Drivers__Proto__##n
#define DP_INIT(N) HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__##N##__INIT
#define DP_DESC(n) hashicorp__nomad__plugins__drivers__proto__##n##__descriptor
#define DRV "/hashicorp.nomad.plugins.drivers.proto.Driver/"

#define MAX_ENV 32

grpc_status_code th_start(plugin_proc *p, fake_alloc *a, const char *id, const char *name,
                          const uint8_t *cfg, size_t cfg_len, const start_args *args,
                          started_task *out, char *details, size_t dlen) {
  static const start_args none = {0};
  if (!args) args = &none;
  DP(StartTaskRequest) req = DP_INIT(START_TASK_REQUEST);
  DP(TaskConfig) tc = DP_INIT(TASK_CONFIG);
  DP(TaskConfig__EnvEntry) entries[MAX_ENV], *env[MAX_ENV];
  char keys[MAX_ENV][128];
  size_t n = 0;
  for (const char *const *e = args->env; e && *e && n < MAX_ENV; e++) {
    const char *eq = strchr(*e, '=');
    if (!eq) continue;
    DP(TaskConfig__EnvEntry) init = DP_INIT(TASK_CONFIG__ENV_ENTRY);
    entries[n] = init;
    snprintf(keys[n], sizeof keys[n], "%.*s", (int)(eq - *e), *e);
    entries[n].key = keys[n];
    entries[n].value = (char *)eq + 1;
    env[n] = &entries[n];
    n++;
  }
  tc.id = (char *)id;
  tc.name = (char *)name;
  tc.alloc_id = (char *)"alloc-helpers";
  tc.alloc_dir = a->root;
  tc.stdout_path = (char *)(args->stdout_path ? args->stdout_path : a->stdout_fifo);
  tc.stderr_path = (char *)(args->stderr_path ? args->stderr_path : a->stderr_fifo);
  tc.user = (char *)(args->user ? args->user : "");
  tc.msgpack_driver_config.data = (uint8_t *)cfg;
  tc.msgpack_driver_config.len = cfg_len;
  tc.n_env = n;
  tc.env = env;
  req.task = &tc;
  memset(out, 0, sizeof *out);
  snprintf(out->id, sizeof out->id, "%s", id);
  grpc_status_code code = plugin_call(p, DRV "StartTask", &req.base, &DP_DESC(start_task_response),
                                      &out->reply, details, dlen);
  if (code == GRPC_STATUS_OK && out->reply)
    out->handle = ((DP(StartTaskResponse) *)out->reply)->handle;
  return code;
}

grpc_status_code th_start_python(plugin_proc *p, fake_alloc *a, const char *id, const char *name,
                                 const char *code, const start_args *args, started_task *out,
                                 char *details, size_t dlen) {
  size_t len;
  uint8_t *cfg = task_config_msgpack("python", NULL, code, NULL, &len);
  grpc_status_code rc = th_start(p, a, id, name, cfg, len, args, out, details, dlen);
  free(cfg);
  return rc;
}

int th_wait(plugin_proc *p, const char *id, int *exit_code, int *signal, char *err,
            size_t errlen) {
  DP(WaitTaskRequest) req = DP_INIT(WAIT_TASK_REQUEST);
  req.task_id = (char *)id;
  ProtobufCMessage *rep = NULL;
  grpc_status_code code =
      plugin_call(p, DRV "WaitTask", &req.base, &DP_DESC(wait_task_response), &rep, err, errlen);
  if (code != GRPC_STATUS_OK || !rep) {
    msg_free(rep);
    return -1;
  }
  DP(WaitTaskResponse) *w = (void *)rep;
  *exit_code = w->result ? w->result->exit_code : 0;
  *signal = w->result ? w->result->signal : 0;
  snprintf(err, errlen, "%s", w->err ? w->err : "");
  msg_free(rep);
  return 0;
}

grpc_status_code th_stop(plugin_proc *p, const char *id, int timeout_ms, const char *sig) {
  DP(StopTaskRequest) req = DP_INIT(STOP_TASK_REQUEST);
  Google__Protobuf__Duration d = GOOGLE__PROTOBUF__DURATION__INIT;
  d.seconds = timeout_ms / 1000;
  d.nanos = (timeout_ms % 1000) * 1000000;
  req.task_id = (char *)id;
  req.timeout = &d;
  req.signal = (char *)sig;
  ProtobufCMessage *rep = NULL;
  grpc_status_code c =
      plugin_call(p, DRV "StopTask", &req.base, &DP_DESC(stop_task_response), &rep, NULL, 0);
  msg_free(rep);
  return c;
}

grpc_status_code th_destroy(plugin_proc *p, const char *id, int force) {
  DP(DestroyTaskRequest) req = DP_INIT(DESTROY_TASK_REQUEST);
  req.task_id = (char *)id;
  req.force = force;
  ProtobufCMessage *rep = NULL;
  grpc_status_code c =
      plugin_call(p, DRV "DestroyTask", &req.base, &DP_DESC(destroy_task_response), &rep, NULL, 0);
  msg_free(rep);
  return c;
}

grpc_status_code th_signal(plugin_proc *p, const char *id, const char *sig) {
  DP(SignalTaskRequest) req = DP_INIT(SIGNAL_TASK_REQUEST);
  req.task_id = (char *)id;
  req.signal = (char *)sig;
  ProtobufCMessage *rep = NULL;
  grpc_status_code c =
      plugin_call(p, DRV "SignalTask", &req.base, &DP_DESC(signal_task_response), &rep, NULL, 0);
  msg_free(rep);
  return c;
}

grpc_status_code th_recover(plugin_proc *p, const TaskHandle *handle, char *details,
                            size_t dlen) {
  DP(RecoverTaskRequest) req = DP_INIT(RECOVER_TASK_REQUEST);
  req.handle = (TaskHandle *)handle;
  ProtobufCMessage *rep = NULL;
  grpc_status_code c = plugin_call(p, DRV "RecoverTask", &req.base,
                                   &DP_DESC(recover_task_response), &rep, details, dlen);
  msg_free(rep);
  return c;
}

static void pack_str(msgpack_packer *pk, const char *s) {
  msgpack_pack_str(pk, strlen(s));
  msgpack_pack_str_body(pk, s, strlen(s));
}

grpc_status_code th_set_config(plugin_proc *p, const config_kv *kv, size_t n, char *details,
                               size_t dlen) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  if (n) msgpack_pack_map(&pk, n);
  for (size_t i = 0; i < n; i++) {
    pack_str(&pk, kv[i].key);
    if (kv[i].str)
      pack_str(&pk, kv[i].str);
    else if (kv[i].boolean)
      msgpack_pack_true(&pk);
    else
      msgpack_pack_false(&pk);
  }
  Hashicorp__Nomad__Plugins__Base__Proto__SetConfigRequest req =
      HASHICORP__NOMAD__PLUGINS__BASE__PROTO__SET_CONFIG_REQUEST__INIT;
  req.msgpack_config.data = (uint8_t *)sb.data;
  req.msgpack_config.len = sb.size;
  ProtobufCMessage *rep = NULL;
  grpc_status_code c =
      plugin_call(p, "/hashicorp.nomad.plugins.base.proto.BasePlugin/SetConfig", &req.base,
                  &hashicorp__nomad__plugins__base__proto__set_config_response__descriptor, &rep,
                  details, dlen);
  msg_free(rep);
  msgpack_sbuffer_destroy(&sb);
  return c;
}

struct events_reader {
  rpc_stream *s;
  char **lines; /* "<task id>|<message>" */
  size_t n;
};

events_reader *th_events_open(plugin_proc *p) {
  events_reader *r = calloc(1, sizeof *r);
  DP(TaskEventsRequest) req = DP_INIT(TASK_EVENTS_REQUEST);
  r->s = rpc_stream_open(p->client, DRV "TaskEvents", &req.base, 1, 0);
  return r;
}

/* Takes in what arrives within timeout_ms; 1 when something arrived. */
static int events_pump(events_reader *r, int timeout_ms) {
  ProtobufCMessage *m = NULL;
  if (!r->s || rpc_stream_recv(r->s, &DP_DESC(driver_task_event), &m, timeout_ms) != 1) return 0;
  DP(DriverTaskEvent) *ev = (void *)m;
  char *line = NULL;
  if (asprintf(&line, "%s|%s", ev->task_id ? ev->task_id : "", ev->message ? ev->message : "") >= 0) {
    char **grown = realloc(r->lines, (r->n + 1) * sizeof *grown);
    if (grown) {
      r->lines = grown;
      r->lines[r->n++] = line;
    } else {
      free(line);
    }
  }
  msg_free(m);
  return 1;
}

static const char *message_of(const char *line, const char *id) {
  size_t il = strlen(id);
  return strncmp(line, id, il) == 0 && line[il] == '|' ? line + il + 1 : NULL;
}

char *th_events_wait(events_reader *r, const char *id, const char *needle, int timeout_ms) {
  int64_t deadline = now_ms() + timeout_ms;
  size_t seen = 0;
  for (;;) {
    for (; seen < r->n; seen++) {
      const char *m = message_of(r->lines[seen], id);
      if (m && strstr(m, needle)) return strdup(m);
    }
    int64_t left = deadline - now_ms();
    if (left <= 0) return NULL;
    events_pump(r, left > 200 ? 200 : (int)left);
  }
}

char *th_events_all(events_reader *r, const char *id) {
  while (events_pump(r, 50)) {
  }
  size_t cap = 1;
  for (size_t i = 0; i < r->n; i++) cap += strlen(r->lines[i]) + 3;
  char *out = calloc(1, cap);
  for (size_t i = 0; out && i < r->n; i++) {
    const char *m = message_of(r->lines[i], id);
    if (!m) continue;
    if (out[0]) strcat(out, " | ");
    strcat(out, m);
  }
  return out;
}

void th_events_close(events_reader *r) {
  if (!r) return;
  if (r->s) {
    rpc_stream_cancel(r->s);
    rpc_status st = {0};
    rpc_stream_finish(r->s, &st);
    rpc_status_clear(&st);
  }
  for (size_t i = 0; i < r->n; i++) free(r->lines[i]);
  free(r->lines);
  free(r);
}

int64_t th_state_int(const TaskHandle *h, const char *key) {
  if (!h) return 0;
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  int64_t v = 0;
  if (msgpack_unpack_next(&u, (const char *)h->driver_state.data, h->driver_state.len, NULL) ==
          MSGPACK_UNPACK_SUCCESS &&
      u.data.type == MSGPACK_OBJECT_MAP) {
    const msgpack_object_map *m = &u.data.via.map;
    for (uint32_t i = 0; i < m->size; i++) {
      const msgpack_object *k = &m->ptr[i].key, *val = &m->ptr[i].val;
      if (k->type != MSGPACK_OBJECT_STR || k->via.str.size != strlen(key) ||
          memcmp(k->via.str.ptr, key, k->via.str.size) != 0)
        continue;
      if (val->type == MSGPACK_OBJECT_POSITIVE_INTEGER) v = (int64_t)val->via.u64;
      if (val->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) v = val->via.i64;
    }
  }
  msgpack_unpacked_destroy(&u);
  return v;
}
