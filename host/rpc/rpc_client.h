/* Blocking gRPC C-core client calls with protobuf-c messages: used by the
 * integration tests (driving the plugin as Nomad does) and, later, by the
 * daemon-mode proxy. One channel per rpc_client; calls are thread-safe. */
#ifndef ELIDE_RPC_CLIENT_H
#define ELIDE_RPC_CLIENT_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct rpc_client rpc_client;
typedef struct rpc_stream rpc_stream;

/* Outcome of a call: the gRPC status and its details (owned, freed by
 * rpc_status_clear), plus the raw grpc-status-details-bin trailer if any. */
typedef struct rpc_status {
  grpc_status_code code;
  char *details;
  unsigned char *status_details_bin;
  size_t status_details_len;
} rpc_status;
void rpc_status_clear(rpc_status *st);

/* `target` is a gRPC address ("unix:/path", "127.0.0.1:1234"). Receive limit
 * unlimited. Returns NULL on allocation failure only (connection is lazy).
 * A lost connection is retried after 100 ms, backing off to at most
 * RPC_MAX_RECONNECT_MS (gRPC's default starts at 1 s and grows to 120 s: a
 * restarted local daemon would stay unreachable that long). */
#define RPC_MAX_RECONNECT_MS 1000
rpc_client *rpc_client_new(const char *target);
void rpc_client_free(rpc_client *c);

/* Waits up to timeout_ms for the channel to be connected, connecting if it
 * is idle. 1 when it is, 0 when not by then. Calls fail fast while the
 * channel is in TRANSIENT_FAILURE, and the C core moves a channel on (its
 * back-off timer, the next connect) only while some thread polls it: a
 * fail-fast call does not. Without a waiter, a channel came back only with
 * gRPC's backup poll (5 s by default; measured 4.4-5 s after a restart),
 * and an exec 0.05 s after a daemon restart failed in 11 of 12 tries. A
 * user's one-off command, or a caller that has just seen the server come
 * back, waits here first. */
int rpc_client_wait_ready(rpc_client *c, int timeout_ms);

/* Unary call. `timeout_ms` <= 0 means no deadline. On OK, *reply is the
 * unpacked reply (free with protobuf_c_message_free_unpacked). Returns 0 when
 * the call completed with any status (see st->code), -1 on a local failure
 * (message in st->details). */
int rpc_unary(rpc_client *c, const char *path, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply,
              int timeout_ms, rpc_status *st);

/* Streaming calls (server-streaming and bidi). Open sends the first request
 * when `req` is non-NULL and, for server-streaming (`close_send` non-zero),
 * half-closes at once. */
rpc_stream *rpc_stream_open(rpc_client *c, const char *path, const ProtobufCMessage *req,
                            int close_send, int timeout_ms);
/* Sends one more request (bidi). 0 ok, -1 if the stream is over. */
int rpc_stream_send(rpc_stream *s, const ProtobufCMessage *req);
/* Half-closes the sending side (bidi). */
int rpc_stream_close_send(rpc_stream *s);
/* Waits up to timeout_ms (<= 0: forever) for the next reply. Returns 1 with
 * *msg set, 0 at end of stream (then read the status with rpc_stream_finish),
 * -2 on timeout (the stream stays usable), -1 on error. */
int rpc_stream_recv(rpc_stream *s, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **msg,
                    int timeout_ms);
/* Cancels the call (any thread, until rpc_stream_finish returns). */
void rpc_stream_cancel(rpc_stream *s);
/* Waits for the final status and frees the stream. Half-closes first if the
 * caller has not, and discards replies not yet read (cancel first to end a
 * stream the server would keep open). */
void rpc_stream_finish(rpc_stream *s, rpc_status *st);

#endif
