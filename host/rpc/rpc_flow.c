/* rpc_flow: a bounded number of queued replies per server stream (see
 * rpc_flow.h). */
#include "rpc_flow.h"

#include <time.h>

void rpc_flow_init(rpc_flow *f, rpc_call *call, int max_queued) {
  pthread_mutex_init(&f->mu, NULL);
  pthread_cond_init(&f->room, NULL);
  f->call = call;
  f->queued = 0;
  f->max_queued = max_queued > 0 ? max_queued : 1;
}

void rpc_flow_destroy(rpc_flow *f) {
  pthread_cond_destroy(&f->room);
  pthread_mutex_destroy(&f->mu);
}

int rpc_flow_send(rpc_flow *f, const ProtobufCMessage *msg) {
  pthread_mutex_lock(&f->mu);
  while (f->queued >= f->max_queued && !rpc_call_is_done(f->call)) {
    /* Timed, so that an end nobody signalled is still noticed. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 100 * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&f->room, &f->mu, &until);
  }
  /* Counted before the send, so a drain can only undercount (never stall). */
  f->queued++;
  pthread_mutex_unlock(&f->mu);
  return rpc_send(f->call, msg);
}

void rpc_flow_drained(rpc_flow *f) {
  pthread_mutex_lock(&f->mu);
  f->queued = 0;
  pthread_cond_broadcast(&f->room);
  pthread_mutex_unlock(&f->mu);
}

void rpc_flow_wake(rpc_flow *f) {
  pthread_mutex_lock(&f->mu);
  pthread_cond_broadcast(&f->room);
  pthread_mutex_unlock(&f->mu);
}
