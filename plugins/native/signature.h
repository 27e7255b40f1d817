/* The native backend's C signatures as data: parsing a job's `signature`
 * string and converting its `args` to typed values. Shared by the module
 * (validation before anything runs) and elide-native-runner (the call).
 *
 * Grammar (whitespace allowed between tokens; positions in messages count
 * bytes of the signature from 1):
 *
 *   signature := return "(" params ")"
 *   return    := "void" | integer | "float" | "double"
 *   params    := "" | "void" | param { "," param }
 *   param     := integer | "float" | "double" | "string" | "bytes"
 *   integer   := "int8" | "int16" | "int32" | "int64" | "uint8" | "uint16"
 *              | "uint32" | "uint64" | "int" | "uint" | "long" | "ulong"
 *              | "size_t" | "ssize_t"
 *
 * int/uint are 32-bit; long, ulong, size_t and ssize_t are the host's
 * (64-bit on every supported target). "string" passes a NUL-terminated
 * `char *`; "bytes" passes TWO C parameters, `unsigned char *` then
 * `size_t` length, from one hex-encoded argument. */
#ifndef ELIDE_NATIVE_SIGNATURE_H
#define ELIDE_NATIVE_SIGNATURE_H

#include <stddef.h>
#include <stdint.h>

typedef enum nsig_type {
  NSIG_VOID,
  NSIG_INT8,
  NSIG_INT16,
  NSIG_INT32,
  NSIG_INT64,
  NSIG_UINT8,
  NSIG_UINT16,
  NSIG_UINT32,
  NSIG_UINT64,
  NSIG_FLOAT,
  NSIG_DOUBLE,
  NSIG_STRING,
  NSIG_BYTES
} nsig_type;

#define NSIG_MAX_PARAMS 32

/* A parsed signature. Aliases (int, long, size_t, ...) are resolved to the
 * fixed-width types above; `names` keeps the spelling for messages. */
typedef struct nsig {
  nsig_type ret;
  const char *ret_name;
  size_t nparams;
  nsig_type params[NSIG_MAX_PARAMS];
  const char *names[NSIG_MAX_PARAMS]; /* static strings */
} nsig;

/* One converted argument. `str` (STRING) and `bytes` (BYTES) are malloc'd
 * and owned by the value (nsig_values_free); `bytes` is never NULL, even
 * for an empty buffer. */
typedef struct nsig_value {
  nsig_type type;
  int64_t i;   /* signed integer types */
  uint64_t u;  /* unsigned integer types */
  float f;
  double d;
  char *str;
  unsigned char *bytes;
  size_t len;
} nsig_value;

/* Parses `text`. Returns 0, or -EINVAL with a message such as
 * `unknown type "strng" at position 9` (no field prefix: callers add it). */
int nsig_parse(const char *text, nsig *out, char *err, size_t errlen);

/* Converts one argument for a parameter of type t (never NSIG_VOID).
 * Integers: decimal or 0x-hex with an optional sign, range-checked for the
 * type; floats: strtod syntax (inf/nan allowed), finite text overflowing
 * the type is refused; string: as is; bytes: an even number of hex digits
 * (case-insensitive, "" for an empty buffer). Returns 0 or -EINVAL/-ENOMEM
 * with a message like `"300" is out of range for uint8 (0..255)`. */
int nsig_convert(nsig_type t, const char *type_name, const char *text, nsig_value *out, char *err,
                 size_t errlen);

/* Converts every argument; their count must equal sig->nparams. `out` has
 * room for NSIG_MAX_PARAMS values; on failure nothing is left to free.
 * Messages name the argument: `argument 2 ("abc"): not a valid int`. */
int nsig_convert_all(const nsig *sig, const char *const *args, nsig_value *out, char *err,
                     size_t errlen);
void nsig_values_free(nsig_value *v, size_t n);

/* 1 for the integer types. */
int nsig_is_integer(nsig_type t);
int nsig_is_signed(nsig_type t);

/* Writes a printable, bounded copy of job-supplied text for a message:
 * control and non-ASCII bytes become '?', and text longer than 40 bytes is
 * cut and ends in "...". Returns out. */
char *nsig_printable(char *out, size_t cap, const char *text);

#endif
