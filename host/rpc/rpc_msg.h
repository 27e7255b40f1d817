/* Internal to host/rpc: protobuf-c messages <-> gRPC byte buffers, and
 * millisecond timeouts -> gRPC deadlines. Shared by the server and client. */
#ifndef ELIDE_RPC_MSG_H
#define ELIDE_RPC_MSG_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

/* Serializes `m` into a new byte buffer (destroy with grpc_byte_buffer_destroy).
 * Never NULL: gRPC aborts on allocation failure. */
grpc_byte_buffer *rpc_msg_pack(const ProtobufCMessage *m);

/* Parses `bb` as `desc`; NULL if the bytes are not a valid message. The result
 * is freed with protobuf_c_message_free_unpacked(m, NULL); `bb` stays the
 * caller's. */
ProtobufCMessage *rpc_msg_unpack(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb);

/* Absolute deadline `ms` from now on the monotonic clock; infinite for ms <= 0. */
gpr_timespec rpc_deadline_in(int ms);

#endif
