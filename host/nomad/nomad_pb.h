/* Short spellings for the protobuf-c names generated from Nomad's protos
 * (package hashicorp.nomad.plugins.drivers.proto and friends). */
#ifndef ELIDE_NOMAD_PB_H
#define ELIDE_NOMAD_PB_H

#include "google/protobuf/timestamp.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "nomad/attribute.pb-c.h"
#include "nomad/base.pb-c.h"
#include "nomad/driver.pb-c.h"
#include "nomad/recoverable_error.pb-c.h"

#define DP(name) Hashicorp__Nomad__Plugins__Drivers__Proto__##name
#define DP_INIT(NAME) HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__##NAME##__INIT
#define DP_DESC(name) hashicorp__nomad__plugins__drivers__proto__##name##__descriptor
#define DP_ENUM(NAME) HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__##NAME

#define BP(name) Hashicorp__Nomad__Plugins__Base__Proto__##name
#define BP_INIT(NAME) HASHICORP__NOMAD__PLUGINS__BASE__PROTO__##NAME##__INIT
#define BP_DESC(name) hashicorp__nomad__plugins__base__proto__##name##__descriptor

typedef Hashicorp__Nomad__Plugins__Shared__Structs__Attribute NomadAttribute;

/* Fills a Timestamp from nanoseconds since the epoch. */
static inline void pb_timestamp(Google__Protobuf__Timestamp *ts, int64_t ns) {
  ts->seconds = ns / 1000000000;
  ts->nanos = (int32_t)(ns % 1000000000);
}

#endif
