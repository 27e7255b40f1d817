/* Reply helpers (see replies.h). */
#include "replies.h"

#include <stdlib.h>

void reply_empty(rpc_call *call, const ProtobufCMessageDescriptor *desc) {
  ProtobufCMessage empty;
  protobuf_c_message_init(desc, &empty);
  rpc_send(call, &empty);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
}

Hashicorp__Nomad__Plugins__Shared__Hclspec__Spec *schema_spec(const cty_field *fields, size_t n) {
  size_t len = 0;
  uint8_t *packed = hclspec_pack_object(fields, n, &len);
  Hashicorp__Nomad__Plugins__Shared__Hclspec__Spec *spec =
      packed ? hashicorp__nomad__plugins__shared__hclspec__spec__unpack(NULL, len, packed) : NULL;
  free(packed);
  return spec;
}
