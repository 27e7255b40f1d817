/* Task events pushed to Nomad over every open TaskEvents stream; Nomad
 * routes them by alloc id and task name and shows them in alloc status. */
#include "nomad_pb.h"
#include "plugin.h"

#include <time.h>

#define MAX_ANNOTATIONS 16

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
  stream_hub_broadcast(&p->event_subscribers, &ev.base);
}
