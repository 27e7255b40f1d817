/* Handlers of the task-lifecycle Driver RPCs (driver_tasks.c) and of
 * TaskStats (driver_stats.c); the method table lives in driver_service.c. */
#ifndef ELIDE_NOMAD_DRIVER_TASKS_H
#define ELIDE_NOMAD_DRIVER_TASKS_H

#include "plugin.h"

void driver_start_task(rpc_call *call, const ProtobufCMessage *msg);
void driver_recover_task(rpc_call *call, const ProtobufCMessage *msg);
void driver_wait_task(rpc_call *call, const ProtobufCMessage *msg);
void driver_stop_task(rpc_call *call, const ProtobufCMessage *msg);
void driver_destroy_task(rpc_call *call, const ProtobufCMessage *msg);
void driver_inspect_task(rpc_call *call, const ProtobufCMessage *msg);
void driver_signal_task(rpc_call *call, const ProtobufCMessage *msg);
void driver_task_stats(rpc_call *call, const ProtobufCMessage *msg);

#endif
