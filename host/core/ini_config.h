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

/* A NULL driver_keys or daemon_keys table makes that section unknown in
 * this file (execd.ini has no [driver]); a non-NULL table with a count of 0
 * allows an empty section. Tables are checked first: bad key names, unknown
 * types, duplicates, a REQUIRED key with a default, a default that does not
 * parse, or a prefix "driver"/"daemon"/"module" fail with "schema: ...". */
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
 * code; on error *out is NULL.
 *
 * Syntax (inih r55 as Debian builds it, driven line by line by our reader):
 *   - `key = value` or `key: value`; blanks around keys and values are
 *     stripped, quotes are not (`"/usr/bin"` is not an absolute path).
 *     Keys and section names are case-sensitive.
 *   - Whole-line comments start with ';' or '#'. Inline comments start with
 *     ';' after a blank: `a ; note` is "a", `a;b` stays "a;b", and '#'
 *     inside a value is part of it. A header may be followed by a ';'
 *     comment only.
 *   - No continuation lines: indented lines are ordinary lines (inih would
 *     join them to the previous value), so an indented line without '=' is
 *     "syntax error (continuation lines are not supported)".
 *   - A UTF-8 BOM and CRLF line ends are accepted.
 * Limits, each refused with a message rather than cut: a line of at most
 * 199 bytes once trimmed (inih's line buffer), no NUL bytes, a file of at
 * most 1 MiB, at most 4096 sections. The first error in file order is the
 * one reported; missing required keys point at the section header.
 * Codes: -errno of open/read (-ENOENT...), -EPERM for an unsafe file,
 * -EFBIG, -E2BIG (sections), -ENOMEM, -EINVAL for everything else. */
int ini_load(const char *path, const ini_schema *schema, ini_doc **out, char *err, size_t errlen);

/* Values of one section, one per declared key in declaration order (keys
 * not in the file are their defaults, or is_set = 0 with str NULL and, for
 * a LIST, list an empty NULL-terminated array). `kind` is "driver",
 * "daemon", "module" or a kind prefix; `name` the section's name (ignored
 * for driver/daemon). Returns NULL when the section is absent from the file
 * (the caller then applies defaults itself). Valid until ini_free. */
const elide_value *ini_section_values(const ini_doc *doc, const char *kind, const char *name,
                                      size_t *nvalues);

/* The line a section or key was defined on, for messages that arise later
 * ("driver.ini:12: ..."); 0 if unknown. key may be NULL for the header. */
int ini_line(const ini_doc *doc, const char *kind, const char *name, const char *key);

/* Every section of a kind prefix, as elide_section (name + values), in file
 * order; NULL and *nsections = 0 when there is none. "module" works too.
 * Valid until ini_free. */
const elide_section *ini_sections(const ini_doc *doc, const char *prefix, size_t *nsections);

/* Reads one raw value (untyped, no schema) with ini_load's file checks and
 * syntax: for what must be known before the schema can be built, such as
 * [driver] module_dir, which decides the modules. Returns 1 with the value
 * in out, 0 when absent (out = ""), or a negative code and err: an unsafe or
 * unreadable file, a syntax error, a value of outlen bytes or more. The
 * first occurrence wins; ini_load judges the rest of the file later. */
int ini_peek(const char *path, const char *section, const char *key, char *out, size_t outlen,
             char *err, size_t errlen);

const char *ini_path(const ini_doc *doc);
void ini_free(ini_doc *doc);

/* Parses one text value against its key (shared with values that come from
 * elsewhere, such as Nomad's plugin block). On success *out points into
 * storage owned by `arena` (freed by value_arena_free): name, str (the text
 * as written, for every type) and list are copies. The text is taken as is
 * (no trimming) except LIST items; a LIST of only blanks is the empty list.
 * On error (-EINVAL, -ENOMEM) err reads `<key>: "<text>" <problem>` with no
 * location: callers prefix their own ("file:line: [section]: "). */
typedef struct value_arena value_arena;
value_arena *value_arena_new(void);
void value_arena_free(value_arena *a);
int elide_value_parse(const elide_key *key, const char *text, value_arena *arena, elide_value *out,
                      char *err, size_t errlen);

/* Arena storage for callers that build values by hand: n zeroed bytes
 * aligned for any type, or a copy of s; NULL when out of memory. Valid until
 * value_arena_free. */
void *value_arena_alloc(value_arena *a, size_t n);
char *value_arena_strdup(value_arena *a, const char *s);

/* "int", "bool", ... for messages and documentation; "?" if unknown. */
const char *elide_value_type_name(uint32_t type);

/* Writes a printable copy of text for a message into out (at most cap bytes,
 * NUL-terminated): control bytes become '?', and text longer than 60 bytes
 * is cut and ends in "...". Returns out. Text from files and jobs can be
 * hostile; it never reaches a log or terminal raw. */
char *value_printable(char *out, size_t cap, const char *text);

#endif
