/* Merged task config schema (see task_schema.h). */
#include "task_schema.h"

#include "task_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cty_type task_schema_cty_type(uint32_t t) {
  switch (t) {
  case ELIDE_VALUE_INT: return CTY_NUMBER;
  case ELIDE_VALUE_BOOL: return CTY_BOOL;
  case ELIDE_VALUE_LIST: return CTY_LIST_STRING;
  default: return CTY_STRING; /* STRING and PATH */
  }
}

static ssize_t find_field(const task_schema *s, const char *name) {
  for (size_t i = 0; i < s->nfields; i++)
    if (strcmp(s->fields[i].name, name) == 0) return (ssize_t)i;
  return -1;
}

/* Adds a module's task keys, or refuses the module on a clash. */
static void add_module_keys(task_schema *s, loaded_module *m) {
  const elide_module_descriptor *d = m->desc;
  for (size_t k = 0; k < d->ntask_keys; k++) {
    const elide_key *key = &d->task_keys[k];
    ssize_t at = find_field(s, key->name);
    if (at < 0) continue;
    if ((size_t)at < s->nhost) {
      snprintf(m->error, sizeof m->error, "module %s: task key \"%s\" is reserved by the host",
               d->name, key->name);
      m->desc = NULL; /* refused, like the loader's refusals */
      modules_retire(m);
      return;
    }
    if (s->fields[at].type != task_schema_cty_type(key->type)) {
      snprintf(m->error, sizeof m->error,
               "module %s: task key \"%s\" clashes with module %s's key of another type", d->name,
               key->name, s->owner[at]->desc->name);
      m->desc = NULL;
      modules_retire(m);
      return;
    }
  }
  for (size_t k = 0; k < d->ntask_keys; k++) {
    const elide_key *key = &d->task_keys[k];
    if (find_field(s, key->name) >= 0) continue; /* shared by name and type */
    /* Module defaults are applied when the module receives its options, so
     * the schema publishes none and an unset key stays recognisably unset. */
    s->fields[s->nfields] = (cty_field){key->name, task_schema_cty_type(key->type), 0, NULL, NULL,
                                        key->doc};
    s->owner[s->nfields] = m;
    s->nfields++;
  }
}

int task_schema_build(task_schema *s, module_registry *reg, char *err, size_t errlen) {
  size_t total = task_config_nfields;
  for (size_t i = 0; i < reg->n; i++)
    if (reg->mods[i].desc) total += reg->mods[i].desc->ntask_keys;
  memset(s, 0, sizeof *s);
  s->fields = calloc(total, sizeof *s->fields);
  s->owner = calloc(total, sizeof *s->owner);
  if (!s->fields || !s->owner) {
    task_schema_free(s);
    snprintf(err, errlen, "out of memory building the task config schema");
    return -ENOMEM;
  }
  memcpy(s->fields, task_config_fields, task_config_nfields * sizeof *s->fields);
  s->nfields = s->nhost = task_config_nfields;
  for (size_t i = 0; i < reg->n; i++)
    if (reg->mods[i].desc) add_module_keys(s, &reg->mods[i]);
  return 0;
}

void task_schema_free(task_schema *s) {
  free(s->fields);
  free(s->owner);
  memset(s, 0, sizeof *s);
}
