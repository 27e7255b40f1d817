/* driver_state encoding with msgpack-c (see driver_state.h). */
#include "driver_state.h"

#include <errno.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DRIVER_STATE_VERSION 1

static void pack_str(msgpack_packer *pk, const char *s) {
  size_t n = strlen(s);
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}

uint8_t *driver_state_encode(const driver_state *s, size_t *len) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 8 + (s->daemon_endpoint[0] ? 1 : 0) + (s->relay_pid > 0 ? 3 : 0));
  pack_str(&pk, "v");
  msgpack_pack_int(&pk, DRIVER_STATE_VERSION);
  pack_str(&pk, "module");
  pack_str(&pk, s->module);
  pack_str(&pk, "language");
  pack_str(&pk, s->language);
  pack_str(&pk, "state_dir");
  pack_str(&pk, s->state_dir);
  pack_str(&pk, "monitor_pid");
  msgpack_pack_int64(&pk, s->monitor_pid);
  pack_str(&pk, "monitor_start");
  msgpack_pack_uint64(&pk, s->monitor_start_ticks);
  pack_str(&pk, "task_pid");
  msgpack_pack_int64(&pk, s->task_pid);
  pack_str(&pk, "started_at");
  msgpack_pack_int64(&pk, s->started_at_ns);
  if (s->daemon_endpoint[0]) {
    pack_str(&pk, "daemon_endpoint");
    pack_str(&pk, s->daemon_endpoint);
  }
  if (s->relay_pid > 0) {
    pack_str(&pk, "relay_pid");
    msgpack_pack_int64(&pk, s->relay_pid);
    pack_str(&pk, "relay_start");
    msgpack_pack_uint64(&pk, s->relay_start_ticks);
    pack_str(&pk, "relay_socket");
    pack_str(&pk, s->relay_socket);
  }
  *len = sb.size;
  return (uint8_t *)sb.data; /* sbuffer memory is malloc'd: the caller frees it */
}

static int get_str(const msgpack_object *v, char *dst, size_t cap) {
  if (v->type != MSGPACK_OBJECT_STR || v->via.str.size >= cap) return -1;
  memcpy(dst, v->via.str.ptr, v->via.str.size);
  dst[v->via.str.size] = '\0';
  return 0;
}

static int get_int(const msgpack_object *v, int64_t *out) {
  if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX)
    *out = (int64_t)v->via.u64;
  else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
    *out = v->via.i64;
  else
    return -1;
  return 0;
}

int driver_state_decode(const uint8_t *buf, size_t len, driver_state *out, char *err,
                        size_t errlen) {
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  memset(out, 0, sizeof *out);
  size_t off = 0;
  int rc = -EINVAL;
  if (!buf || len == 0 ||
      msgpack_unpack_next(&u, (const char *)buf, len, &off) != MSGPACK_UNPACK_SUCCESS ||
      u.data.type != MSGPACK_OBJECT_MAP) {
    snprintf(err, errlen, "driver_state: not a msgpack map");
    goto out;
  }
  int64_t version = 0, i = 0;
  unsigned seen = 0;
  for (uint32_t k = 0; k < u.data.via.map.size; k++) {
    const msgpack_object *key = &u.data.via.map.ptr[k].key, *val = &u.data.via.map.ptr[k].val;
    char name[32];
    if (get_str(key, name, sizeof name) != 0) continue;
    int bad = 0;
    if (!strcmp(name, "v")) bad = get_int(val, &version), seen |= 1;
    else if (!strcmp(name, "module")) bad = get_str(val, out->module, sizeof out->module), seen |= 2;
    else if (!strcmp(name, "language"))
      bad = get_str(val, out->language, sizeof out->language), seen |= 4;
    else if (!strcmp(name, "state_dir"))
      bad = get_str(val, out->state_dir, sizeof out->state_dir), seen |= 8;
    else if (!strcmp(name, "monitor_pid")) bad = get_int(val, &i), out->monitor_pid = (pid_t)i, seen |= 16;
    else if (!strcmp(name, "monitor_start"))
      bad = get_int(val, &i), out->monitor_start_ticks = (uint64_t)i, seen |= 32;
    else if (!strcmp(name, "task_pid")) bad = get_int(val, &i), out->task_pid = (pid_t)i, seen |= 64;
    else if (!strcmp(name, "started_at")) bad = get_int(val, &out->started_at_ns), seen |= 128;
    else if (!strcmp(name, "daemon_endpoint"))
      bad = get_str(val, out->daemon_endpoint, sizeof out->daemon_endpoint);
    else if (!strcmp(name, "relay_pid")) bad = get_int(val, &i), out->relay_pid = (pid_t)i;
    else if (!strcmp(name, "relay_start"))
      bad = get_int(val, &i), out->relay_start_ticks = (uint64_t)i;
    else if (!strcmp(name, "relay_socket"))
      bad = get_str(val, out->relay_socket, sizeof out->relay_socket);
    if (bad) {
      snprintf(err, errlen, "driver_state: key \"%s\" has the wrong type", name);
      goto out;
    }
  }
  if (seen != 255) {
    snprintf(err, errlen, "driver_state: missing keys (mask %#x of 0xff)", seen);
    goto out;
  }
  if (version != DRIVER_STATE_VERSION) {
    snprintf(err, errlen, "driver_state: version %lld is not %d", (long long)version,
             DRIVER_STATE_VERSION);
    goto out;
  }
  rc = 0;
out:
  msgpack_unpacked_destroy(&u);
  return rc;
}
