/* The plugin's connection to the execution daemon (elide-execd or any
 * other server of elide.daemon.v1alpha1.ExecutionApi) for backends in
 * `mode = daemon`: one lazily connected, thread-safe client per endpoint,
 * kept for the life of the process. */
#ifndef ELIDE_NOMAD_DAEMON_CLIENT_H
#define ELIDE_NOMAD_DAEMON_CLIENT_H

#include "elide/daemon/v1alpha1/execution_api.pb-c.h"
#include "rpc_client.h"

#include <stddef.h>

#define EP(name) Elide__Daemon__V1alpha1__##name
#define EP_INIT(NAME) ELIDE__DAEMON__V1ALPHA1__##NAME##__INIT
#define EP_DESC(name) elide__daemon__v1alpha1__##name##__descriptor
#define EP_ENUM(NAME) ELIDE__DAEMON__V1ALPHA1__##NAME
#define EXEC_API(method) "/elide.daemon.v1alpha1.ExecutionApi/" method

/* Deadline of Health in the fingerprint (the daemon answers at once). */
#define DAEMON_HEALTH_TIMEOUT_MS 2000

/* The client for `endpoint` ("unix:/path" or "host:port"); NULL on ENOMEM. */
rpc_client *daemon_client(const char *endpoint);

/* Unary call on the API. Returns 0 with *reply set (free with
 * protobuf_c_message_free_unpacked) or -1 with "daemon at <endpoint>
 * unreachable: ..." (transport failures: UNAVAILABLE, deadline) or
 * "daemon at <endpoint>: <method>: <status details>" in err and the gRPC
 * status in *code (GRPC_STATUS_UNAVAILABLE for a local failure). */
int daemon_call(const char *endpoint, const char *method, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply,
                int timeout_ms, grpc_status_code *code, char *err, size_t errlen);

#endif
