/* go-plugin's own services and gRPC health: GRPCController (clean exit on
 * Shutdown), GRPCStdio (held open; we never forward stdio), GRPCBroker (held
 * open and drained; Nomad drivers never broker connections), and
 * grpc.health.v1.Health reporting SERVING for "" and "plugin". */
#include "plugin.h"

#include "goplugin/grpc_broker.pb-c.h"
#include "goplugin/grpc_controller.pb-c.h"
#include "goplugin/grpc_stdio.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"

#include <string.h>

static void controller_shutdown(rpc_call *call, const ProtobufCMessage *msg) {
  (void)msg;
  Plugin__Empty rep = PLUGIN__EMPTY__INIT;
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
  plugin_request_exit();
}

/* Streams that stay open until the client goes away: nothing to send. */
static void hold_open(rpc_call *call, const ProtobufCMessage *msg) {
  (void)call;
  (void)msg;
}

static void broker_half_close(rpc_call *call) { rpc_finish(call, GRPC_STATUS_OK, NULL); }

static int health_known(const char *service) {
  return !service || !service[0] || strcmp(service, "plugin") == 0;
}

static void health_check(rpc_call *call, const ProtobufCMessage *msg) {
  const Grpc__Health__V1__HealthCheckRequest *req = (const void *)msg;
  if (!health_known(req->service)) {
    rpc_finish(call, GRPC_STATUS_NOT_FOUND, "unknown service");
    return;
  }
  Grpc__Health__V1__HealthCheckResponse rep = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
  rep.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
}

/* Watch: the current status once, then the stream stays open (the status
 * never changes while the process serves). */
static void health_watch(rpc_call *call, const ProtobufCMessage *msg) {
  const Grpc__Health__V1__HealthCheckRequest *req = (const void *)msg;
  Grpc__Health__V1__HealthCheckResponse rep = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
  rep.status = health_known(req->service)
                   ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
                   : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
  rpc_send(call, &rep.base);
}

const rpc_method goplugin_methods[] = {
    {"/plugin.GRPCController/Shutdown", RPC_UNARY, &plugin__empty__descriptor,
     controller_shutdown, NULL, NULL},
    {"/plugin.GRPCStdio/StreamStdio", RPC_SERVER_STREAMING, &google__protobuf__empty__descriptor,
     hold_open, NULL, NULL},
    {"/plugin.GRPCBroker/StartStream", RPC_BIDI, &plugin__conn_info__descriptor, hold_open,
     broker_half_close, NULL},
    {"/grpc.health.v1.Health/Check", RPC_UNARY, &grpc__health__v1__health_check_request__descriptor,
     health_check, NULL, NULL},
    {"/grpc.health.v1.Health/Watch", RPC_SERVER_STREAMING,
     &grpc__health__v1__health_check_request__descriptor, health_watch, NULL, NULL},
};
const size_t goplugin_nmethods = sizeof goplugin_methods / sizeof goplugin_methods[0];
