/* Short spellings for the protobuf-c names generated from the ExecutionApi
 * proto (package elide.daemon.v1alpha1). */
#ifndef ELIDE_EXECD_PB_H
#define ELIDE_EXECD_PB_H

#include "elide/daemon/v1alpha1/execution_api.pb-c.h"

#define EP(name) Elide__Daemon__V1alpha1__##name
#define EP_INIT(NAME) ELIDE__DAEMON__V1ALPHA1__##NAME##__INIT
#define EP_DESC(name) elide__daemon__v1alpha1__##name##__descriptor
#define EP_ENUM(NAME) ELIDE__DAEMON__V1ALPHA1__##NAME

typedef EP(ExecuteSnippetRequest) ExecRequest;

#endif
