/* The task config schema Nomad enforces for `driver = "elide"`: the host's
 * own keys (language, script, code, args) plus every task key the loaded
 * modules declare, as one cty_field table. Built once the module set is
 * known; fixed afterwards (modules are never unloaded). */
#ifndef ELIDE_NOMAD_TASK_SCHEMA_H
#define ELIDE_NOMAD_TASK_SCHEMA_H

#include "cty.h"
#include "modules.h"

typedef struct task_schema {
  cty_field *fields; /* host fields first, then module keys */
  size_t nfields;
  size_t nhost;      /* how many of the first fields are the host's */
  const loaded_module **owner; /* per field: the declaring module, NULL for host fields */
} task_schema;

/* Builds the table from every loaded module. A module whose task key clashes
 * with the host's or with another module's key of a different type is
 * refused (its loaded_module.error names the key and the other module). */
int task_schema_build(task_schema *s, module_registry *reg, char *err, size_t errlen);
void task_schema_free(task_schema *s);

/* cty type for an ABI value type. */
cty_type task_schema_cty_type(uint32_t elide_type);

#endif
