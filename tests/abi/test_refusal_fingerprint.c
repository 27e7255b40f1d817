/* Refused modules as Nomad sees them: the real plugin, configured with a
 * module directory holding a good module and refused ones, keeps running
 * and reports each refusal with its reason in the fingerprint; an untrusted
 * module directory makes the driver unhealthy, naming the directory. */
#include "abi_test_util.h"
#include "check.h"
#include "plugin_harness.h"

#include "nomad/base.pb-c.h"
#include "nomad/driver.pb-c.h"

#include <grpc/grpc.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DP(n) Hashicorp__Nomad__Plugins__Drivers__Proto__##n
#define DP_INIT(N) HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__##N##__INIT
#define DP_DESC(n) hashicorp__nomad__plugins__drivers__proto__##n##__descriptor
#define HEALTH(s) HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__FINGERPRINT_RESPONSE__HEALTH_STATE__##s

/* SetConfig with {module_dir = dir} as cty msgpack. */
static int set_module_dir(plugin_proc *p, const char *dir) {
  uint8_t buf[PATH_MAX + 32];
  size_t n = 0, klen = strlen("module_dir"), dlen = strlen(dir);
  buf[n++] = 0x81;
  buf[n++] = (uint8_t)(0xa0 | klen);
  memcpy(buf + n, "module_dir", klen);
  n += klen;
  buf[n++] = 0xd9;
  buf[n++] = (uint8_t)dlen;
  memcpy(buf + n, dir, dlen);
  n += dlen;
  Hashicorp__Nomad__Plugins__Base__Proto__SetConfigRequest req =
      HASHICORP__NOMAD__PLUGINS__BASE__PROTO__SET_CONFIG_REQUEST__INIT;
  req.msgpack_config.data = buf;
  req.msgpack_config.len = n;
  ProtobufCMessage *rep = NULL;
  rpc_status st = {0};
  int rc = rpc_unary(p->client, "/hashicorp.nomad.plugins.base.proto.BasePlugin/SetConfig",
                     &req.base,
                     &hashicorp__nomad__plugins__base__proto__set_config_response__descriptor, &rep,
                     30000, &st);
  if (rc != 0 || st.code != GRPC_STATUS_OK)
    fprintf(stderr, "SetConfig: %d %s\n", st.code, st.details ? st.details : "");
  rc = rc == 0 && st.code == GRPC_STATUS_OK ? 0 : -1;
  rpc_status_clear(&st);
  if (rep) protobuf_c_message_free_unpacked(rep, NULL);
  return rc;
}

/* The first fingerprint; caller frees. */
static DP(FingerprintResponse) * fingerprint(plugin_proc *p) {
  DP(FingerprintRequest) req = DP_INIT(FINGERPRINT_REQUEST);
  rpc_stream *fs = rpc_stream_open(
      p->client, "/hashicorp.nomad.plugins.drivers.proto.Driver/Fingerprint", &req.base, 1, 0);
  ProtobufCMessage *fp = NULL;
  if (rpc_stream_recv(fs, &DP_DESC(fingerprint_response), &fp, 10000) != 1) fp = NULL;
  rpc_stream_cancel(fs);
  rpc_status st = {0};
  rpc_stream_finish(fs, &st);
  rpc_status_clear(&st);
  return (void *)fp;
}

static const char *attr(DP(FingerprintResponse) * f, const char *key) {
  for (size_t i = 0; f && i < f->n_attributes; i++)
    if (!strcmp(f->attributes[i]->key, key)) return f->attributes[i]->value->string_val;
  return NULL;
}

/* Runs one plugin life against `dir`; returns its first fingerprint. */
static DP(FingerprintResponse) * life(const char *dir) {
  plugin_proc p;
  DP(FingerprintResponse) *f = NULL;
  CHECK(plugin_start(&p, NULL) == 0);
  CHECK(set_module_dir(&p, dir) == 0);
  f = fingerprint(&p);
  CHECK(f != NULL);
  CHECK(plugin_stop(&p, 0, 5000) != -1); /* still answering after the refusals */
  return f;
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  grpc_init();
  char root[PATH_MAX], dir[PATH_MAX];
  abi_mkdtemp("refusal-fp", root);
  abi_mkdir(root, "modules", dir);
  abi_copy(ABI_FIXTURE_DIR "/good.so", dir, "good.so", 0755, NULL);
  abi_copy(ABI_FIXTURE_DIR "/wrong_major.so", dir, "wrong_major.so", 0755, NULL);
  abi_copy(ABI_FIXTURE_DIR "/init_fails.so", dir, "init_fails.so", 0755, NULL);
  abi_copy(ABI_FIXTURE_DIR "/dup_lang.so", dir, "z_dup_lang.so", 0755, NULL);

  DP(FingerprintResponse) *f = life(dir);
  CHECK(f && f->health == HEALTH(HEALTHY));
  const char *why = f ? f->health_description : NULL;
  char want[PATH_MAX + 256];
  snprintf(want, sizeof want, "%s/wrong_major.so: abi_major 2 does not match the host's 1", dir);
  CHECK_STR_CONTAINS(why, want);
  CHECK_STR_CONTAINS(why, "module init_fails: init failed: the fixture refuses to start");
  snprintf(want, sizeof want,
           "%s/z_dup_lang.so: language \"fixture\" of module \"dup_lang\" is already served by "
           "module \"good\" (%s/good.so)",
           dir, dir);
  CHECK_STR_CONTAINS(why, want);
  CHECK(attr(f, "driver.elide.backends") && strcmp(attr(f, "driver.elide.backends"), "good") == 0);
  CHECK(attr(f, "driver.elide.good.shell") &&
        strcmp(attr(f, "driver.elide.good.shell"), "/bin/sh") == 0);
  if (f) protobuf_c_message_free_unpacked(&f->base, NULL);

  /* A directory anybody may write to: nothing loads, the driver says why. */
  CHECK(chmod(dir, 0777) == 0);
  f = life(dir);
  CHECK(f && f->health == HEALTH(UNHEALTHY));
  snprintf(want, sizeof want,
           "module directory %s is writable by group and others (mode 0777); run chmod go-w on it",
           dir);
  CHECK_STR_CONTAINS(f ? f->health_description : NULL, want);
  if (f) protobuf_c_message_free_unpacked(&f->base, NULL);

  abi_rmtree(root);
  grpc_shutdown_blocking();
  return CHECK_DONE();
}
