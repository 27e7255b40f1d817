/* The Echo test service (rpc_test.proto) served through host/rpc, plus the
 * server-side observations the rpc tests check. Shared by the C and Python
 * client tests. */
#ifndef ELIDE_RPC_TEST_SERVICE_H
#define ELIDE_RPC_TEST_SERVICE_H

#include "rpc_server.h"
#include "rpc_test.pb-c.h"

#include <pthread.h>

#define SVC_PATH(m) "/elide.rpctest.Echo/" m
#define SVC_MAX_HELD 64

/* Everything the handlers saw, guarded by mu; cv is broadcast on change. */
typedef struct svc_state {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done_total, done_cancelled; /* on_done calls on every method */
  int forever_done, forever_cancelled;
  rpc_call *held[SVC_MAX_HELD]; /* Hold calls parked with a reference */
  int nheld;
  rpc_call *kept; /* Forever "keep": a reference kept past on_done */
  int feeders;    /* Tick / Fan threads still running */
  int late_checks; /* Echo "late": results of the late-send checks, 1 = all ok */
} svc_state;

extern svc_state svc;

/* The method table of the Echo service. */
const rpc_method *svc_methods(size_t *n);

/* Waits until pred() (called with svc.mu held) or timeout_ms; returns pred(). */
int svc_wait(int (*pred)(void), int timeout_ms);

/* Replies to every parked Hold call from the calling thread (echoing its text
 * is not possible any more, so the reply text is "released") and drops the
 * references. Returns how many rpc_send calls succeeded. */
int svc_release_held(void);

/* The bytes Echo "details" puts in its grpc-status-details-bin trailer. */
const unsigned char *svc_details_bytes(size_t *n);

/* Milliseconds on the monotonic clock. */
long long svc_now_ms(void);

#endif
