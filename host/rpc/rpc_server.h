/* gRPC C-core server plumbing shared by both front ends: a method table,
 * worker threads each owning a completion queue, per-call state, streams,
 * thread-safe sends from any thread, and an orderly shutdown.
 *
 * Handlers see only protobuf-c messages; no op, batch or tag leaks out. */
#ifndef ELIDE_RPC_SERVER_H
#define ELIDE_RPC_SERVER_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct rpc_server rpc_server;
typedef struct rpc_call rpc_call;

typedef enum {
  RPC_UNARY,            /* one request, one reply */
  RPC_SERVER_STREAMING, /* one request, many replies */
  RPC_CLIENT_STREAMING, /* many requests, one reply */
  RPC_BIDI              /* many both ways */
} rpc_kind;

/* One served method. The table passed to rpc_server_start must outlive the
 * server (normally a static const array).
 *
 * Callbacks run on the worker thread that owns the call; they must not block
 * for long (hand slow work to a thread of your own and reply from there: all
 * rpc_call functions below are thread-safe).
 *  - on_message: each request message, unpacked; `msg` is borrowed for the
 *    duration of the callback only. For UNARY/SERVER_STREAMING it is called
 *    exactly once (a call whose request cannot be parsed is answered
 *    INTERNAL "cannot parse request" by the framework without calling it).
 *  - on_half_close: the client finished sending (streaming-request kinds
 *    only; may be NULL).
 *  - on_done: exactly once when the call is over (status sent, or the client
 *    cancelled / disconnected / the server is stopping), `cancelled` says
 *    which. After it returns the call is unusable by handlers except through
 *    references taken with rpc_call_ref (sends then fail harmlessly). May be
 *    NULL. */
typedef struct rpc_method {
  const char *path; /* "/package.Service/Method" */
  rpc_kind kind;
  const ProtobufCMessageDescriptor *input;
  void (*on_message)(rpc_call *call, const ProtobufCMessage *msg);
  void (*on_half_close)(rpc_call *call);
  void (*on_done)(rpc_call *call, int cancelled);
} rpc_method;

typedef struct rpc_server_options {
  int worker_threads;      /* >= 1; default 2 when 0 */
  int max_receive_message; /* bytes; 0 = unlimited (-1 to the core) */
  void *user;              /* initial rpc_server_user(), visible from the first call */
} rpc_server_options;

/* Creates and starts a server listening on `address` (a gRPC address such as
 * "unix:/tmp/x.sock" or "127.0.0.1:0"). Unknown methods are answered
 * UNIMPLEMENTED at once. Returns 0, or a negative errno-style code with a
 * message in err (NUL-terminated, truncated to errlen). `methods` is borrowed
 * for the server's lifetime. grpc_init() must have been called. */
int rpc_server_start(rpc_server **out, const char *address, const rpc_method *methods,
                     size_t nmethods, const rpc_server_options *opts, char *err, size_t errlen);

/* Stops accepting calls, lets running calls finish for `grace_ms`, cancels
 * the rest, waits until every call is over (on_done has run and its gRPC
 * resources are freed), joins the workers and frees the server. A call a
 * handler still holds with rpc_call_ref stays a valid, inert handle after
 * this (sends return -1) until its last rpc_call_unref frees it. Must not be called from a worker thread (i.e. from a
 * handler): a handler that wants the process to stop must wake the main
 * thread instead. */
void rpc_server_stop(rpc_server *s, int grace_ms);

/* Queues one reply message (packed before return, so `msg` is borrowed).
 * Messages go out in order. Returns 0, or -1 if the call is already over
 * (cancelled, finished) in which case nothing is sent. Any thread; the
 * reply of a UNARY or CLIENT_STREAMING method queued from another thread
 * goes out with the status, at rpc_finish (which such a handler calls). */
int rpc_send(rpc_call *call, const ProtobufCMessage *msg);

/* Ends the call with a status after all queued messages. `details` may be
 * NULL. Only the first finish counts; later ones return -1. Any thread. */
int rpc_finish(rpc_call *call, grpc_status_code code, const char *details);

/* Like rpc_finish, and also sends the trailer `grpc-status-details-bin`
 * holding `status_details` (a serialized google.rpc.Status whose code must
 * equal `code`). Used for Nomad's RecoverableError. Bytes are copied. */
int rpc_finish_with_details(rpc_call *call, grpc_status_code code, const char *details,
                            const void *status_details, size_t status_details_len);

/* Non-zero once the call is over for any reason (client cancel, deadline,
 * disconnect, server stop, or finished). Any thread. */
int rpc_call_is_done(rpc_call *call);

/* Reference counting for handlers that keep a call beyond the callback that
 * handed it to them (another thread will reply later). The framework holds
 * its own reference until on_done has run; the context is freed when the
 * last reference goes. Any thread. */
void rpc_call_ref(rpc_call *call);
void rpc_call_unref(rpc_call *call);

/* Flow control for server streams: `fn` runs on the call's worker thread
 * each time a reply message has been sent and no other reply is queued
 * (not after the status), so a producer can keep a bounded number of
 * messages queued and send more from here instead of queueing a whole
 * backlog. Set it before the first rpc_send (normally in on_message); NULL
 * turns it off. Not called once the call is over. Any thread. */
void rpc_call_on_drain(rpc_call *call, void (*fn)(rpc_call *call));

/* Per-call handler data. Set and read from any thread; the framework never
 * touches it (free it in on_done or when your last reference goes). */
void rpc_call_set_user(rpc_call *call, void *user);
void *rpc_call_user(rpc_call *call);

/* The call's server (for handlers that need server-wide state) and that
 * server's user pointer (rpc_server_options.user, or rpc_server_set_user;
 * calls can arrive as soon as rpc_server_start returns, so prefer the
 * option). rpc_call_server is only valid until rpc_server_stop returns. */
rpc_server *rpc_call_server(rpc_call *call);
void rpc_server_set_user(rpc_server *s, void *user);
void *rpc_server_user(rpc_server *s);

#endif
