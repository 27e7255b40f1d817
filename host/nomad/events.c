/* Task events pushed to Nomad over every open TaskEvents stream; Nomad
 * routes them by alloc id and task name and shows them in alloc status.
 *
 * A plugin that Nomad restarted gets RecoverTask calls before (or while)
 * Nomad re-opens TaskEvents, so an event with no stream to go to is kept
 * (packed, at most PENDING_MAX, oldest dropped first) and sent to the next
 * subscriber with its original timestamp. */
#include "nomad_pb.h"
#include "plugin.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ANNOTATIONS 16
#define PENDING_MAX 256

/* Events waiting for a subscriber. Process-wide like the plugin itself;
 * events_mu also orders emit against subscribe, so an event is either
 * broadcast to a subscriber or queued for it, never lost in between. */
static pthread_mutex_t events_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pending_event {
  uint8_t *buf;
  size_t len;
} pending[PENDING_MAX];
static size_t npending;

/* Caller holds events_mu. */
static void keep_pending(const ProtobufCMessage *ev) {
  size_t len = protobuf_c_message_get_packed_size(ev);
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf) return;
  protobuf_c_message_pack(ev, buf);
  if (npending == PENDING_MAX) {
    free(pending[0].buf);
    memmove(pending, pending + 1, (PENDING_MAX - 1) * sizeof pending[0]);
    npending--;
  }
  pending[npending].buf = buf;
  pending[npending].len = len;
  npending++;
}

void events_subscribe(plugin *p, rpc_call *call) {
  pthread_mutex_lock(&events_mu);
  if (stream_hub_add(&p->event_subscribers, call) != 0) {
    pthread_mutex_unlock(&events_mu);
    rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  for (size_t i = 0; i < npending; i++) {
    ProtobufCMessage *ev =
        protobuf_c_message_unpack(&DP_DESC(driver_task_event), NULL, pending[i].len, pending[i].buf);
    if (ev) rpc_send(call, ev);
    if (ev) protobuf_c_message_free_unpacked(ev, NULL);
    free(pending[i].buf);
  }
  npending = 0;
  pthread_mutex_unlock(&events_mu);
}

void events_emit(plugin *p, const task *t, const char *message, const char *const *annotations) {
  DP(DriverTaskEvent) ev = DP_INIT(DRIVER_TASK_EVENT);
  DP(DriverTaskEvent__AnnotationsEntry) entries[MAX_ANNOTATIONS], *ptrs[MAX_ANNOTATIONS];
  Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  pb_timestamp(&ts, (int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
  ev.task_id = t->id;
  ev.alloc_id = t->alloc_id;
  ev.task_name = t->name;
  ev.timestamp = &ts;
  ev.message = (char *)message;
  size_t n = 0;
  for (const char *const *a = annotations; a && a[0] && a[1] && n < MAX_ANNOTATIONS; a += 2) {
    DP(DriverTaskEvent__AnnotationsEntry) e = DP_INIT(DRIVER_TASK_EVENT__ANNOTATIONS_ENTRY);
    e.key = (char *)a[0];
    e.value = (char *)a[1];
    entries[n] = e;
    ptrs[n] = &entries[n];
    n++;
  }
  ev.n_annotations = n;
  ev.annotations = ptrs;
  pthread_mutex_lock(&events_mu);
  if (stream_hub_count(&p->event_subscribers) > 0)
    stream_hub_broadcast(&p->event_subscribers, &ev.base);
  else
    keep_pending(&ev.base);
  pthread_mutex_unlock(&events_mu);
}
