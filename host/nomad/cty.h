/* cty-msgpack decoding of Nomad configuration against a field table, and
 * generation of the matching hclspec schema from the same table, so the
 * schema Nomad enforces and the decoder we run can never drift apart.
 *
 * Facts (shared/docs/nomad-plugin-protocol.md §3): the value is a msgpack
 * map with keys sorted and every schema attribute present (null = unset);
 * numbers arrive as int, float64 or decimal string; strings as str (bin
 * accepted); no type information on the wire. */
#ifndef ELIDE_CTY_H
#define ELIDE_CTY_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  CTY_STRING,      /* HCL "string" */
  CTY_NUMBER,      /* HCL "number" */
  CTY_BOOL,        /* HCL "bool" */
  CTY_LIST_STRING, /* HCL "list(string)" */
  CTY_MAP_STRING   /* HCL "map(string)" */
} cty_type;

/* One attribute of a config object. Tables are static const arrays. */
typedef struct cty_field {
  const char *name;
  cty_type type;
  int required;             /* Attr.required in the schema; null is then an error */
  const char *default_text; /* default when null or absent: the string itself for
                               CTY_STRING, a decimal for CTY_NUMBER, "true"/"false"
                               for CTY_BOOL; NULL = no default. Lists and maps
                               default to empty. Also published in the schema as
                               Default{Attr, Literal}. */
  const char *const *allowed; /* CTY_STRING only: NULL-terminated set of accepted
                                 values, or NULL for any */
  const char *doc;            /* one line for the README's reference; not on the wire */
} cty_field;

/* A decoded attribute. Strings are NUL-terminated copies (embedded NULs and
 * invalid UTF-8 are rejected). Owned by the value; free with cty_values_free.
 * Non-null lists and maps always have items (and, for maps, values) arrays
 * of n + 1 entries ending in NULL, so a list can serve as an argv. Numbers:
 * num_is_int is set exactly when the value is an integer in int64 range,
 * whatever its wire encoding (int, float64 or decimal text); num is then
 * (double)inum. Other numbers (fractions, integers beyond int64, +-Inf)
 * have only num, rounded to the nearest double; NaN is rejected. */
typedef struct cty_value {
  int is_null;      /* no value and no default */
  char *str;        /* CTY_STRING */
  double num;       /* CTY_NUMBER: the value as a double */
  int64_t inum;     /* CTY_NUMBER: the value as an integer when num_is_int */
  int num_is_int;
  int boolean;      /* CTY_BOOL: 0 or 1 */
  char **items;     /* CTY_LIST_STRING: the elements; CTY_MAP_STRING: the keys */
  char **values;    /* CTY_MAP_STRING: the values, parallel to items */
  size_t n;         /* element count for lists and maps */
} cty_value;

/* Decodes `buf` (cty msgpack of an object) into out[0..nfields-1], one value
 * per field in table order. An empty buffer (len 0) decodes as an object
 * with every attribute null. Defaults are applied. Errors - returned as a
 * negative code with a message in `err` that names the field, e.g.
 *   field "args": expected list(string), got map
 *   field "language": "ruby" is not one of: python
 *   field "script": required but not set
 *   unknown field "scirpt"
 *   malformed msgpack: truncated input at byte 17
 * - leave `out` all null (nothing to free). `what` prefixes messages
 * ("task config", "plugin config"). Never reads past buf+len; bounded
 * nesting; rejects ext types, trailing bytes and duplicate keys.
 * Codes: -EBADMSG malformed msgpack, -EINVAL a config (or field table) that
 * does not match, -ENOMEM. The table is checked as by cty_table_check. */
int cty_decode_object(const cty_field *fields, size_t nfields, const void *buf, size_t len,
                      const char *what, cty_value *out, char *err, size_t errlen);

/* Frees what the values own and resets them to null; safe to repeat. */
void cty_values_free(cty_value *vals, size_t n);

/* Checks a field table: names are unique HCL identifiers, types known,
 * `allowed` only on strings, defaults only on scalars, parseable for their
 * type (numbers as -?digits(.digits)?(e[+-]?digits)?) and within `allowed`.
 * Returns 0 or -EINVAL with a message naming the field. Meant for unit
 * tests of each table; cty_decode_object performs the same check. */
int cty_table_check(const cty_field *fields, size_t nfields, char *err, size_t errlen);

/* The HCL type string of a cty_type ("list(string)"). */
const char *cty_type_name(cty_type t);

/* Builds an hclspec Object spec for the table: each attribute is an Attr
 * with an explicit name and type (wrapped in Default{primary, Literal} when
 * a default exists; string literals are quoted and escaped for HCL).
 * Returned as a serialized hashicorp.nomad.plugins.shared.hclspec.Spec in
 * a malloc'd buffer (free()), so callers need not own protobuf-c trees.
 * Returns NULL on allocation failure. */
uint8_t *hclspec_pack_object(const cty_field *fields, size_t nfields, size_t *len);

/* Encodes values as cty msgpack (sorted keys, every field present, nulls
 * as nil): used by tests and to persist decoded task config in
 * driver_state. Returns a malloc'd buffer, NULL on allocation failure. */
uint8_t *cty_encode_object(const cty_field *fields, size_t nfields, const cty_value *vals,
                           size_t *len);

#endif
