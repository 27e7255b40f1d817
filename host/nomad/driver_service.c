/* The Driver service: its method table, and the RPCs that are about the
 * driver rather than one task (schema, capabilities, fingerprint, events,
 * init/shutdown) plus those this version refuses with a clear reason. */
#include "driver_exec.h"
#include "driver_tasks.h"

#include "nomad_pb.h"

#include "replies.h"
#include "task_config.h"

static void task_config_schema(rpc_call *call, const ProtobufCMessage *msg) {
  (void)msg;
  plugin *p = plugin_of(call);
  plugin_ensure_configured(p);
  pthread_mutex_lock(&p->mu);
  Hashicorp__Nomad__Plugins__Shared__Hclspec__Spec *spec =
      p->task_schema_built ? schema_spec(p->task_schema.fields, p->task_schema.nfields)
                           : schema_spec(task_config_fields, task_config_nfields);
  pthread_mutex_unlock(&p->mu);
  if (!spec) {
    rpc_finish(call, GRPC_STATUS_INTERNAL, "cannot build the task config schema");
    return;
  }
  DP(TaskConfigSchemaResponse) rep = DP_INIT(TASK_CONFIG_SCHEMA_RESPONSE);
  rep.spec = spec;
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
  hashicorp__nomad__plugins__shared__hclspec__spec__free_unpacked(spec, NULL);
}

/* Honest capabilities: signals yes; exec yes (driver_exec.c; for tasks in
 * the execution daemon the daemon runs the command); no filesystem isolation (the
 * task dir is a host path); host networking only; no volume mounts; Nomad
 * collects logs from our FIFOs. */
static void capabilities(rpc_call *call, const ProtobufCMessage *msg) {
  (void)msg;
  DP(CapabilitiesResponse) rep = DP_INIT(CAPABILITIES_RESPONSE);
  DP(DriverCapabilities) caps = DP_INIT(DRIVER_CAPABILITIES);
  caps.send_signals = 1;
  caps.exec = 1;
  caps.fs_isolation = DP_ENUM(DRIVER_CAPABILITIES__FSISOLATION__NONE);
  caps.mount_configs = DP_ENUM(DRIVER_CAPABILITIES__MOUNT_CONFIGS__NO_MOUNTS);
  rep.capabilities = &caps;
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
}

static void fingerprint(rpc_call *call, const ProtobufCMessage *msg) {
  (void)msg;
  fingerprint_subscribe(plugin_of(call), call);
}

static void task_events(rpc_call *call, const ProtobufCMessage *msg) {
  (void)msg;
  events_subscribe(plugin_of(call), call);
}

static void init(rpc_call *call, const ProtobufCMessage *msg) {
  (void)msg;
  reply_empty(call, &DP_DESC(init_response));
}

/* Driver/Shutdown: the agent is going away; running tasks keep running
 * (they are recovered by the next plugin process), so nothing to do. */
static void shutdown_driver(rpc_call *call, const ProtobufCMessage *msg) {
  (void)msg;
  reply_empty(call, &DP_DESC(shutdown_response));
}

static void network_unsupported(rpc_call *call, const ProtobufCMessage *msg) {
  (void)msg;
  rpc_finish(call, GRPC_STATUS_UNIMPLEMENTED,
             "the elide driver does not create networks (capability must_create_network = false)");
}

#define DRIVER_PATH(m) "/hashicorp.nomad.plugins.drivers.proto.Driver/" m

const rpc_method driver_methods[] = {
    {DRIVER_PATH("TaskConfigSchema"), RPC_UNARY, &DP_DESC(task_config_schema_request),
     task_config_schema, NULL, NULL},
    {DRIVER_PATH("Capabilities"), RPC_UNARY, &DP_DESC(capabilities_request), capabilities, NULL,
     NULL},
    {DRIVER_PATH("Fingerprint"), RPC_SERVER_STREAMING, &DP_DESC(fingerprint_request), fingerprint,
     NULL, NULL},
    {DRIVER_PATH("RecoverTask"), RPC_UNARY, &DP_DESC(recover_task_request), driver_recover_task,
     NULL, NULL},
    {DRIVER_PATH("StartTask"), RPC_UNARY, &DP_DESC(start_task_request), driver_start_task, NULL,
     NULL},
    {DRIVER_PATH("WaitTask"), RPC_UNARY, &DP_DESC(wait_task_request), driver_wait_task, NULL, NULL},
    {DRIVER_PATH("StopTask"), RPC_UNARY, &DP_DESC(stop_task_request), driver_stop_task, NULL, NULL},
    {DRIVER_PATH("DestroyTask"), RPC_UNARY, &DP_DESC(destroy_task_request), driver_destroy_task,
     NULL, NULL},
    {DRIVER_PATH("InspectTask"), RPC_UNARY, &DP_DESC(inspect_task_request), driver_inspect_task,
     NULL, NULL},
    {DRIVER_PATH("TaskStats"), RPC_SERVER_STREAMING, &DP_DESC(task_stats_request),
     driver_task_stats, NULL, NULL},
    {DRIVER_PATH("TaskEvents"), RPC_SERVER_STREAMING, &DP_DESC(task_events_request), task_events,
     NULL, NULL},
    {DRIVER_PATH("SignalTask"), RPC_UNARY, &DP_DESC(signal_task_request), driver_signal_task, NULL,
     NULL},
    {DRIVER_PATH("ExecTask"), RPC_UNARY, &DP_DESC(exec_task_request), driver_exec_task, NULL,
     NULL},
    {DRIVER_PATH("ExecTaskStreaming"), RPC_BIDI, &DP_DESC(exec_task_streaming_request),
     driver_exec_stream_message, NULL, driver_exec_stream_done},
    {DRIVER_PATH("CreateNetwork"), RPC_UNARY, &DP_DESC(create_network_request),
     network_unsupported, NULL, NULL},
    {DRIVER_PATH("DestroyNetwork"), RPC_UNARY, &DP_DESC(destroy_network_request),
     network_unsupported, NULL, NULL},
    {DRIVER_PATH("Init"), RPC_UNARY, &DP_DESC(init_request), init, NULL, NULL},
    {DRIVER_PATH("Shutdown"), RPC_UNARY, &DP_DESC(shutdown_request), shutdown_driver, NULL, NULL},
};
const size_t driver_nmethods = sizeof driver_methods / sizeof driver_methods[0];
