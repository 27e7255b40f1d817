/* INI deployment files (driver.ini, execd.ini), parsed with inih and
 * validated against key tables: the host's own ([driver], [daemon]) and the
 * ones modules declare ([module.<name>], [<prefix>.<name>]). Values come out
 * typed (elide_value); every error reads "file:line: message". */
#ifndef ELIDE_INI_CONFIG_H
#define ELIDE_INI_CONFIG_H

#include "elide_module.h"

#include <stddef.h>

/* What may appear in a file. All pointers are borrowed for ini_load. */
typedef struct ini_module_schema {
  const char *name;      /* [module.<name>] */
  const elide_key *keys; /* host keys for every module (e.g. mode) followed by the module's own */
  size_t nkeys;
} ini_module_schema;

typedef struct ini_kind_schema {
  const char *prefix;    /* [<prefix>.<name>], e.g. "native" */
  const elide_key *keys;
  size_t nkeys;
} ini_kind_schema;

typedef struct ini_schema {
  const elide_key *driver_keys; /* [driver] */
  size_t ndriver_keys;
  const elide_key *daemon_keys; /* [daemon] */
  size_t ndaemon_keys;
  const ini_module_schema *modules;
  size_t nmodules;
  const ini_kind_schema *kinds;
  size_t nkinds;
} ini_schema;

typedef struct ini_doc ini_doc;

/* Parses and validates `path` (absolute). Unknown sections, unknown keys,
 * duplicate keys or sections, values of the wrong type (INT must be a
 * decimal int64; BOOL true/false/yes/no/on/off/1/0; PATH absolute; LIST
 * comma-separated with surrounding spaces trimmed, empty items refused),
 * missing required keys and syntax errors are all refused with
 * "path:line: message" naming the section and key. A file readable by
 * others is fine; one writable by group/others or owned by another non-root
 * user is refused (it configures what code runs). Returns 0 or a negative
 * code; on error *out is NULL. */
int ini_load(const char *path, const ini_schema *schema, ini_doc **out, char *err, size_t errlen);

/* Values of one section, one per declared key in declaration order (keys
 * not in the file are their defaults, or is_set = 0). `kind` is "driver",
 * "daemon", "module" or a kind prefix; `name` the section's name (ignored
 * for driver/daemon). Returns NULL when the section is absent from the file
 * (the caller then applies defaults itself). Valid until ini_free. */
const elide_value *ini_section_values(const ini_doc *doc, const char *kind, const char *name,
                                      size_t *nvalues);

/* The line a section or key was defined on, for messages that arise later
 * ("driver.ini:12: ..."); 0 if unknown. key may be NULL for the header. */
int ini_line(const ini_doc *doc, const char *kind, const char *name, const char *key);

/* Every section of a kind prefix, as elide_section (name + values), in file
 * order. Valid until ini_free. */
const elide_section *ini_sections(const ini_doc *doc, const char *prefix, size_t *nsections);

const char *ini_path(const ini_doc *doc);
void ini_free(ini_doc *doc);

/* Parses one text value against its key (shared with values that come from
 * elsewhere, such as Nomad's plugin block). On success *out points into
 * storage owned by `arena` (freed by value_arena_free). */
typedef struct value_arena value_arena;
value_arena *value_arena_new(void);
void value_arena_free(value_arena *a);
int elide_value_parse(const elide_key *key, const char *text, value_arena *arena, elide_value *out,
                      char *err, size_t errlen);

#endif
