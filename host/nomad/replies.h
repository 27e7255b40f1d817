/* Small reply helpers shared by the BasePlugin and Driver handlers. */
#ifndef ELIDE_NOMAD_REPLIES_H
#define ELIDE_NOMAD_REPLIES_H

#include "cty.h"
#include "nomad/hcl_spec.pb-c.h"
#include "rpc_server.h"

/* Answers OK with an empty message of type `desc`. */
void reply_empty(rpc_call *call, const ProtobufCMessageDescriptor *desc);

/* The hclspec Object for a field table as a protobuf-c tree (free with
 * hashicorp__nomad__plugins__shared__hclspec__spec__free_unpacked), or NULL
 * on allocation failure. */
Hashicorp__Nomad__Plugins__Shared__Hclspec__Spec *schema_spec(const cty_field *fields, size_t n);

#endif
