/* Nomad's BasePlugin service: identity (PluginInfo), the agent-side config
 * schema (ConfigSchema) and the config itself (SetConfig). */
#include "nomad_pb.h"
#include "plugin.h"

#include "log.h"
#include "replies.h"

#include <stdio.h>
#include <stdlib.h>

static void plugin_info(rpc_call *call, const ProtobufCMessage *msg) {
  (void)msg;
  static char *versions[] = {(char *)"v0.1.0"};
  BP(PluginInfoResponse) rep = BP_INIT(PLUGIN_INFO_RESPONSE);
  rep.type = HASHICORP__NOMAD__PLUGINS__BASE__PROTO__PLUGIN_TYPE__DRIVER;
  rep.n_plugin_api_versions = 1;
  rep.plugin_api_versions = versions;
  rep.plugin_version = (char *)ELIDE_VERSION;
  rep.name = (char *)ELIDE_DRIVER_NAME;
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
}

static void config_schema(rpc_call *call, const ProtobufCMessage *msg) {
  (void)msg;
  Hashicorp__Nomad__Plugins__Shared__Hclspec__Spec *spec =
      schema_spec(plugin_config_fields, plugin_config_nfields);
  if (!spec) {
    rpc_finish(call, GRPC_STATUS_INTERNAL, "cannot build the plugin config schema");
    return;
  }
  BP(ConfigSchemaResponse) rep = BP_INIT(CONFIG_SCHEMA_RESPONSE);
  rep.spec = spec;
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
  hashicorp__nomad__plugins__shared__hclspec__spec__free_unpacked(spec, NULL);
}

/* Node compute from the client's topology (for CPU MHz in stats). */
static void take_topology(const BP(SetConfigRequest) * req, plugin_config *cfg) {
  if (!req->nomad_config || !req->nomad_config->driver || !req->nomad_config->driver->topology)
    return;
  const BP(ClientTopology) *topo = req->nomad_config->driver->topology;
  uint64_t total = 0;
  for (size_t i = 0; i < topo->n_cores; i++) {
    const BP(ClientTopologyCore) *c = topo->cores[i];
    total += c->base_speed ? c->base_speed : c->max_speed ? c->max_speed : c->guess_speed;
  }
  cfg->total_compute_mhz = topo->override_total_compute ? topo->override_total_compute : total;
  cfg->num_cores = (uint32_t)topo->n_cores;
}

static void set_config(rpc_call *call, const ProtobufCMessage *msg) {
  const BP(SetConfigRequest) *req = (const void *)msg;
  plugin *p = plugin_of(call);
  plugin_config cfg;
  char err[1024] = "";
  if (plugin_config_decode(req->msgpack_config.data, req->msgpack_config.len, &cfg, err,
                           sizeof err) != 0 ||
      plugin_apply_config(p, (take_topology(req, &cfg), &cfg), err, sizeof err) != 0) {
    log_msg(LOG_ERROR, "SetConfig rejected", "error", err, NULL);
    rpc_finish(call, GRPC_STATUS_INVALID_ARGUMENT, err);
    return;
  }
  log_msg(LOG_DEBUG, "plugin configured", "python_runtime", cfg.python_runtime, "module_dir",
          cfg.module_dir, "state_dir", cfg.state_dir, NULL);
  BP(SetConfigResponse) rep = BP_INIT(SET_CONFIG_RESPONSE);
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
}

const rpc_method base_methods[] = {
    {"/hashicorp.nomad.plugins.base.proto.BasePlugin/PluginInfo", RPC_UNARY,
     &BP_DESC(plugin_info_request), plugin_info, NULL, NULL},
    {"/hashicorp.nomad.plugins.base.proto.BasePlugin/ConfigSchema", RPC_UNARY,
     &BP_DESC(config_schema_request), config_schema, NULL, NULL},
    {"/hashicorp.nomad.plugins.base.proto.BasePlugin/SetConfig", RPC_UNARY,
     &BP_DESC(set_config_request), set_config, NULL, NULL},
};
const size_t base_nmethods = sizeof base_methods / sizeof base_methods[0];
