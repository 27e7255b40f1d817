/* Decodes cty msgpack (protocol doc §3) against a cty_field table - bounded,
 * strict, with defaults and validation - and encodes it back. */
#include "cty.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Containers open at once, root included. A config needs 2 (object, then a
 * list or map); deeper input is rejected by our own pre-scan long before
 * msgpack-c's fixed parse stack (MSGPACK_EMBED_STACK_SIZE, 32) fills up. */
#define CTY_MAX_DEPTH 16

/* User-supplied text quoted in messages is cut after this many bytes. */
#define QUOTE_MAX 64
#define QUOTE_BUF (QUOTE_MAX * 4 + 8)

/* Where errors go: "<what>: <message>" into err[0..errlen). */
typedef struct {
  const char *what;
  char *err;
  size_t errlen;
} dctx;

static int fail(const dctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(const dctx *c, int code, const char *fmt, ...) {
  if (!c->err || c->errlen == 0)
    return code;
  int n = snprintf(c->err, c->errlen, "%s: ", c->what);
  if (n < 0 || (size_t)n >= c->errlen)
    return code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
  va_end(ap);
  return code;
}

/* Appends to a message already written by fail(), truncating silently. */
static void fail_append(const dctx *c, const char *s) {
  if (!c->err || c->errlen == 0)
    return;
  size_t have = strlen(c->err);
  size_t room = c->errlen - 1 - have;
  size_t n = strlen(s);
  if (n > room)
    n = room;
  memcpy(c->err + have, s, n);
  c->err[have + n] = '\0';
}

/* Length (1-4) of the well-formed UTF-8 sequence at s, or 0 if the bytes
 * there are not one (overlong forms, surrogates, > U+10FFFF, truncation). */
static size_t utf8_seq_len(const uint8_t *s, size_t n) {
  uint8_t b = s[0];
  if (b < 0x80)
    return 1;
  size_t len;
  uint8_t lo = 0x80, hi = 0xbf;
  if (b >= 0xc2 && b <= 0xdf) {
    len = 2;
  } else if (b >= 0xe0 && b <= 0xef) {
    len = 3;
    if (b == 0xe0)
      lo = 0xa0;
    else if (b == 0xed)
      hi = 0x9f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    len = 4;
    if (b == 0xf0)
      lo = 0x90;
    else if (b == 0xf4)
      hi = 0x8f;
  } else {
    return 0;
  }
  if (n < len || s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xbf)
      return 0;
  return len;
}

static int utf8_valid(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n;) {
    size_t k = utf8_seq_len(s + i, n - i);
    if (k == 0)
      return 0;
    i += k;
  }
  return 1;
}

/* Writes s[0..n) double-quoted into dst (QUOTE_BUF bytes) for a message:
 * valid UTF-8 passes through, quotes, backslashes, control characters and
 * stray bytes are escaped, and long text is cut with "...". */
static const char *quote(char *dst, const void *s, size_t n) {
  const uint8_t *p = s;
  size_t o = 0, i = 0;
  dst[o++] = '"';
  while (i < n && i < QUOTE_MAX) {
    size_t k = utf8_seq_len(p + i, n - i);
    if (k == 1 && (p[i] == '"' || p[i] == '\\')) {
      dst[o++] = '\\';
      dst[o++] = (char)p[i];
    } else if (k == 1 && p[i] >= 0x20 && p[i] != 0x7f) {
      dst[o++] = (char)p[i];
    } else if (k > 1) {
      memcpy(dst + o, p + i, k);
      o += k;
    } else {
      o += (size_t)snprintf(dst + o, 5, "\\x%02x", p[i]);
      k = 1;
    }
    i += k;
  }
  if (i < n) {
    memcpy(dst + o, "...", 3);
    o += 3;
  }
  dst[o++] = '"';
  dst[o] = '\0';
  return dst;
}

const char *cty_type_name(cty_type t) {
  switch (t) {
  case CTY_STRING:
    return "string";
  case CTY_NUMBER:
    return "number";
  case CTY_BOOL:
    return "bool";
  case CTY_LIST_STRING:
    return "list(string)";
  case CTY_MAP_STRING:
    return "map(string)";
  }
  return "unknown";
}

static const char *kind_name(const msgpack_object *o) {
  switch (o->type) {
  case MSGPACK_OBJECT_NIL:
    return "null";
  case MSGPACK_OBJECT_BOOLEAN:
    return "bool";
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    return "integer";
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    return "float";
  case MSGPACK_OBJECT_STR:
    return "string";
  case MSGPACK_OBJECT_BIN:
    return "binary";
  case MSGPACK_OBJECT_ARRAY:
    return "array";
  case MSGPACK_OBJECT_MAP:
    return "map";
  case MSGPACK_OBJECT_EXT:
    return "extension";
  }
  return "unknown";
}

/* str and bin both carry text (§3.4: cty sends str; bin is tolerated). */
static int text_of(const msgpack_object *o, const uint8_t **p, size_t *n) {
  if (o->type == MSGPACK_OBJECT_STR) {
    *p = (const uint8_t *)o->via.str.ptr;
    *n = o->via.str.size;
    return 1;
  }
  if (o->type == MSGPACK_OBJECT_BIN) {
    *p = (const uint8_t *)o->via.bin.ptr;
    *n = o->via.bin.size;
    return 1;
  }
  return 0;
}

/* ---- numbers ---------------------------------------------------------- */

/* Digit k of the concatenation s[a..a+alen) ++ s[b..). */
static int digit_at(const char *s, size_t a, size_t alen, size_t b, size_t k) {
  return (k < alen ? s[a + k] : s[b + (k - alen)]) - '0';
}

/* Parses the decimal text cty sends for numbers that are not exact int64 or
 * float64 values (Go big.Float Text('f', -1)): -?digits(.digits)? plus,
 * tolerated, an exponent [eE][+-]?digits. The same grammar is a valid HCL
 * number expression, which hclspec.c relies on for defaults. *is_int is set
 * exactly when the text denotes an integer in int64 range (then *inum holds
 * it exactly). Returns 0, -EINVAL (syntax), -ERANGE (beyond double) or
 * -ENOMEM. */
static int parse_decimal(const char *s, size_t n, double *num, int64_t *inum, int *is_int) {
  size_t i = 0;
  int neg = 0;
  if (i < n && s[i] == '-') {
    neg = 1;
    i++;
  }
  size_t int_start = i;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    i++;
  size_t int_end = i, frac_start = i, frac_end = i;
  if (int_end == int_start)
    return -EINVAL;
  if (i < n && s[i] == '.') {
    frac_start = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
    frac_end = i;
    if (frac_end == frac_start)
      return -EINVAL;
  }
  int64_t exp10 = 0;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    int eneg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      eneg = s[i++] == '-';
    size_t es = i;
    /* Saturate: beyond a million the result is out of range or zero anyway. */
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      if (exp10 < 1000000)
        exp10 = exp10 * 10 + (s[i] - '0');
      i++;
    }
    if (i == es)
      return -EINVAL;
    if (eneg)
      exp10 = -exp10;
  }
  if (i != n)
    return -EINVAL;

  /* Exact integer test on the digits D = int ++ frac: with D's first and
   * last non-zero digits at f..l, the value is D[f..l] * 10^e. */
  size_t ilen = int_end - int_start, nd = ilen + (frac_end - frac_start);
  size_t f = 0, l = nd;
  while (f < nd && digit_at(s, int_start, ilen, frac_start, f) == 0)
    f++;
  while (l > f && digit_at(s, int_start, ilen, frac_start, l - 1) == 0)
    l--;
  int64_t e = exp10 - (int64_t)(frac_end - frac_start) + (int64_t)(nd - l);
  *is_int = 0;
  if (f == l) {
    *is_int = 1;
    *inum = 0;
  } else if (e >= 0 && (int64_t)(l - f) + e <= 19) {
    uint64_t u = 0; /* at most 19 digits: below 10^19 < 2^64 */
    for (size_t k = f; k < l; k++)
      u = u * 10 + (uint64_t)digit_at(s, int_start, ilen, frac_start, k);
    for (int64_t k = 0; k < e; k++)
      u *= 10;
    if (!neg && u <= (uint64_t)INT64_MAX) {
      *is_int = 1;
      *inum = (int64_t)u;
    } else if (neg && u <= (uint64_t)INT64_MAX + 1) {
      *is_int = 1;
      *inum = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    }
  }
  if (*is_int) {
    *num = (double)*inum;
    return 0;
  }

  /* strtod_l with the C locale: strtod would honour LC_NUMERIC's radix. */
  char *copy = malloc(n + 1);
  if (!copy)
    return -ENOMEM;
  memcpy(copy, s, n);
  copy[n] = '\0';
  locale_t cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
  if (!cloc) {
    free(copy);
    return -ENOMEM;
  }
  double d = strtod_l(copy, NULL, cloc);
  freelocale(cloc);
  free(copy);
  if (isinf(d))
    return -ERANGE;
  *num = d;
  return 0;
}

/* Sets v's number from a double, marking exact int64 values as integers so
 * num_is_int does not depend on which msgpack encoding was used. */
static void number_from_double(cty_value *v, double d) {
  v->num = d;
  v->num_is_int = 0;
  /* Range first: converting an out-of-range double to int64 is undefined. */
  if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && (double)(int64_t)d == d) {
    v->inum = (int64_t)d;
    v->num = (double)v->inum; /* folds -0.0 into 0 */
    v->num_is_int = 1;
  }
}

/* ---- structural pre-scan ---------------------------------------------- */

static uint64_t be(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

/* Reads the item header at *pos: on return *pos is past the header and any
 * scalar payload, and *kids is the number of child items that follow (maps
 * count keys and values). Every length is checked against the input. */
static int scan_item(const dctx *c, const uint8_t *p, size_t len, size_t *pos, uint64_t *kids) {
  size_t at = *pos, left = len - at;
  uint8_t b = p[at];
  size_t lenbytes = 0; /* big-endian length or count after the type byte */
  size_t hdr = 1;      /* type byte + length (+ ext type byte) */
  uint64_t body = 0;   /* payload bytes after the header */
  int is_array = 0, is_map = 0;
  *kids = 0;
  if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
    /* fixints, nil, bool: the type byte is all */
  } else if (b <= 0x8f) {
    is_map = 1;
    *kids = 2u * (b & 0x0f);
  } else if (b <= 0x9f) {
    is_array = 1;
    *kids = b & 0x0f;
  } else if (b <= 0xbf) {
    body = b & 0x1f;
  } else if (b == 0xc1) {
    return fail(c, -EBADMSG, "malformed msgpack: reserved type byte 0xc1 at byte %zu", at);
  } else if (b >= 0xc4 && b <= 0xc6) { /* bin 8/16/32 */
    lenbytes = (size_t)1 << (b - 0xc4);
  } else if (b >= 0xc7 && b <= 0xc9) { /* ext 8/16/32 */
    lenbytes = (size_t)1 << (b - 0xc7);
    hdr = 2;
  } else if (b == 0xca || b == 0xcb) {
    body = b == 0xca ? 4 : 8;
  } else if (b >= 0xcc && b <= 0xd3) { /* uint/int 8..64 */
    body = (uint64_t)1 << ((b - 0xcc) & 3);
  } else if (b >= 0xd4 && b <= 0xd8) { /* fixext: type byte + 1..16 */
    body = 1 + ((uint64_t)1 << (b - 0xd4));
  } else if (b >= 0xd9 && b <= 0xdb) { /* str 8/16/32 */
    lenbytes = (size_t)1 << (b - 0xd9);
  } else {
    is_array = b <= 0xdd;
    is_map = !is_array;
    lenbytes = b == 0xdc || b == 0xde ? 2 : 4;
  }
  hdr += lenbytes;
  if (left < hdr)
    return fail(c, -EBADMSG, "malformed msgpack: truncated input at byte %zu (item header)", at);
  if (lenbytes) {
    uint64_t count = be(p + at + 1, lenbytes);
    if (is_array)
      *kids = count;
    else if (is_map)
      *kids = 2 * count;
    else
      body = count;
  }
  if (body > left - hdr)
    return fail(c, -EBADMSG,
                "malformed msgpack: truncated input at byte %zu (%llu bytes of data, %zu left)", at,
                (unsigned long long)body, left - hdr);
  *pos = at + hdr + (size_t)body;
  /* Every child takes at least one byte: this bounds what msgpack-c will
   * allocate up front for a container to the size of the input. */
  if (*kids > len - *pos)
    return fail(c, -EBADMSG,
                "malformed msgpack: truncated input at byte %zu (%s of %llu entries, %zu bytes left)",
                at, is_array ? "array" : "map",
                (unsigned long long)(is_map ? *kids / 2 : *kids), len - *pos);
  return 0;
}

/* Walks one complete msgpack item without recursion, so that msgpack-c is
 * only ever handed input that fits the buffer and CTY_MAX_DEPTH. *end is
 * set to the offset just past the item. */
static int prescan(const dctx *c, const uint8_t *p, size_t len, size_t *end) {
  uint64_t pending[CTY_MAX_DEPTH]; /* child items still due per open container */
  int depth = 0;
  size_t pos = 0;
  do {
    if (pos >= len)
      return fail(c, -EBADMSG, "malformed msgpack: truncated input at byte %zu", pos);
    size_t at = pos;
    uint64_t kids;
    int rc = scan_item(c, p, len, &pos, &kids);
    if (rc)
      return rc;
    if (kids > 0) {
      if (depth == CTY_MAX_DEPTH)
        return fail(c, -EBADMSG, "malformed msgpack: nesting deeper than %d levels at byte %zu",
                    CTY_MAX_DEPTH, at);
      pending[depth++] = kids;
      continue;
    }
    while (depth > 0 && --pending[depth - 1] == 0)
      depth--;
  } while (depth > 0);
  *end = pos;
  return 0;
}

/* ---- values ----------------------------------------------------------- */

static void value_reset(cty_value *v) {
  memset(v, 0, sizeof *v);
  v->is_null = 1;
}

static void free_strv(char **v, size_t n) {
  if (!v)
    return;
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

void cty_values_free(cty_value *vals, size_t n) {
  if (!vals)
    return;
  for (size_t i = 0; i < n; i++) {
    free(vals[i].str);
    free_strv(vals[i].items, vals[i].n);
    free_strv(vals[i].values, vals[i].n);
    value_reset(&vals[i]);
  }
}

/* Copies a str/bin object into a NUL-terminated string. `where` ("" or
 * "element 3: ") locates the text inside field f for messages. */
static int decode_text(const dctx *c, const cty_field *f, const char *where,
                       const msgpack_object *o, char **out) {
  const uint8_t *p;
  size_t n;
  if (o->type == MSGPACK_OBJECT_EXT)
    return fail(c, -EINVAL, "field \"%s\": %sunsupported msgpack extension type %d", f->name,
                where, o->via.ext.type);
  if (!text_of(o, &p, &n))
    return fail(c, -EINVAL, "field \"%s\": %sexpected string, got %s", f->name, where,
                kind_name(o));
  if (n && memchr(p, '\0', n))
    return fail(c, -EINVAL, "field \"%s\": %sstring contains a NUL byte", f->name, where);
  if (!utf8_valid(p, n))
    return fail(c, -EINVAL, "field \"%s\": %sstring is not valid UTF-8", f->name, where);
  char *s = malloc(n + 1);
  if (!s)
    return fail(c, -ENOMEM, "field \"%s\": out of memory", f->name);
  if (n)
    memcpy(s, p, n);
  s[n] = '\0';
  *out = s;
  return 0;
}

static int check_allowed(const dctx *c, const cty_field *f, const char *s) {
  if (!f->allowed)
    return 0;
  for (const char *const *a = f->allowed; *a; a++)
    if (strcmp(*a, s) == 0)
      return 0;
  char q[QUOTE_BUF];
  fail(c, -EINVAL, "field \"%s\": %s is not one of: ", f->name, quote(q, s, strlen(s)));
  for (const char *const *a = f->allowed; *a; a++) {
    if (a != f->allowed)
      fail_append(c, ", ");
    fail_append(c, *a);
  }
  return -EINVAL;
}

static int decode_number(const dctx *c, const cty_field *f, const msgpack_object *o,
                         cty_value *v) {
  const uint8_t *p;
  size_t n;
  switch (o->type) {
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    /* Above INT64_MAX (never from cty, which sends such numbers as text)
     * the value is kept only as a double, num_is_int = 0. */
    if (o->via.u64 <= (uint64_t)INT64_MAX) {
      v->inum = (int64_t)o->via.u64;
      v->num = (double)v->inum;
      v->num_is_int = 1;
    } else {
      v->num = (double)o->via.u64;
    }
    return 0;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    v->inum = o->via.i64;
    v->num = (double)v->inum;
    v->num_is_int = 1;
    return 0;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64:
    if (isnan(o->via.f64))
      return fail(c, -EINVAL, "field \"%s\": number is NaN", f->name);
    number_from_double(v, o->via.f64);
    return 0;
  default:
    break;
  }
  if (!text_of(o, &p, &n))
    return fail(c, -EINVAL, "field \"%s\": expected number, got %s", f->name, kind_name(o));
  int rc = parse_decimal((const char *)p, n, &v->num, &v->inum, &v->num_is_int);
  char q[QUOTE_BUF];
  if (rc == -ENOMEM)
    return fail(c, rc, "field \"%s\": out of memory", f->name);
  if (rc == -ERANGE)
    return fail(c, -EINVAL, "field \"%s\": number %s is out of range", f->name, quote(q, p, n));
  if (rc)
    return fail(c, -EINVAL, "field \"%s\": %s is not a number", f->name, quote(q, p, n));
  return 0;
}

static int decode_list(const dctx *c, const cty_field *f, const msgpack_object *o, cty_value *v) {
  if (o->type != MSGPACK_OBJECT_ARRAY)
    return fail(c, -EINVAL, "field \"%s\": expected list(string), got %s", f->name, kind_name(o));
  size_t n = o->via.array.size;
  /* NULL-terminated, so an argv-like list can be handed on as is. */
  v->items = calloc(n + 1, sizeof *v->items);
  if (!v->items)
    return fail(c, -ENOMEM, "field \"%s\": out of memory", f->name);
  for (size_t i = 0; i < n; i++) {
    const msgpack_object *e = &o->via.array.ptr[i];
    if (e->type == MSGPACK_OBJECT_NIL)
      return fail(c, -EINVAL, "field \"%s\": element %zu is null", f->name, i);
    char where[48];
    snprintf(where, sizeof where, "element %zu: ", i);
    int rc = decode_text(c, f, where, e, &v->items[i]);
    if (rc)
      return rc;
    v->n = i + 1;
  }
  return 0;
}

typedef struct {
  const uint8_t *p;
  size_t n;
} text_ref;

static int text_ref_cmp(const void *a, const void *b) {
  const text_ref *x = a, *y = b;
  size_t n = x->n < y->n ? x->n : y->n;
  int r = n ? memcmp(x->p, y->p, n) : 0;
  return r ? r : (x->n > y->n) - (x->n < y->n);
}

/* Finds duplicate keys by sorting (a hostile map can be large: no n^2
 * scan). Keys have already been checked to be text. */
static int check_map_dups(const dctx *c, const cty_field *f, const msgpack_object *o) {
  size_t n = o->via.map.size;
  if (n < 2)
    return 0;
  text_ref *keys = malloc(n * sizeof *keys);
  if (!keys)
    return fail(c, -ENOMEM, "field \"%s\": out of memory", f->name);
  for (size_t i = 0; i < n; i++)
    text_of(&o->via.map.ptr[i].key, &keys[i].p, &keys[i].n);
  qsort(keys, n, sizeof *keys, text_ref_cmp);
  int rc = 0;
  for (size_t i = 1; i < n && !rc; i++)
    if (text_ref_cmp(&keys[i - 1], &keys[i]) == 0) {
      char q[QUOTE_BUF];
      rc = fail(c, -EINVAL, "field \"%s\": duplicate key %s", f->name,
                quote(q, keys[i].p, keys[i].n));
    }
  free(keys);
  return rc;
}

static int decode_map(const dctx *c, const cty_field *f, const msgpack_object *o, cty_value *v) {
  if (o->type != MSGPACK_OBJECT_MAP)
    return fail(c, -EINVAL, "field \"%s\": expected map(string), got %s", f->name, kind_name(o));
  size_t n = o->via.map.size;
  v->items = calloc(n + 1, sizeof *v->items);
  v->values = calloc(n + 1, sizeof *v->values);
  if (!v->items || !v->values)
    return fail(c, -ENOMEM, "field \"%s\": out of memory", f->name);
  for (size_t i = 0; i < n; i++) {
    const msgpack_object_kv *kv = &o->via.map.ptr[i];
    char where[QUOTE_BUF + 16];
    const uint8_t *kp;
    size_t kn;
    if (!text_of(&kv->key, &kp, &kn)) {
      snprintf(where, sizeof where, "key %zu: ", i);
      return decode_text(c, f, where, &kv->key, &v->items[i]);
    }
    char q[QUOTE_BUF];
    quote(q, kp, kn);
    snprintf(where, sizeof where, "key %s: ", q);
    int rc = decode_text(c, f, where, &kv->key, &v->items[i]);
    if (rc)
      return rc;
    v->n = i + 1; /* items[i] is owned from here, even if the value fails */
    if (kv->val.type == MSGPACK_OBJECT_NIL)
      return fail(c, -EINVAL, "field \"%s\": key %s is null", f->name, q);
    rc = decode_text(c, f, where, &kv->val, &v->values[i]);
    if (rc)
      return rc;
  }
  return check_map_dups(c, f, o);
}

/* Decodes one non-nil attribute; on error v may hold partial allocations
 * (the caller frees the whole output). */
static int decode_value(const dctx *c, const cty_field *f, const msgpack_object *o,
                        cty_value *v) {
  if (o->type == MSGPACK_OBJECT_EXT)
    return fail(c, -EINVAL, "field \"%s\": unsupported msgpack extension type %d", f->name,
                o->via.ext.type);
  v->is_null = 0;
  switch (f->type) {
  case CTY_STRING: {
    int rc = decode_text(c, f, "", o, &v->str);
    return rc ? rc : check_allowed(c, f, v->str);
  }
  case CTY_NUMBER:
    return decode_number(c, f, o, v);
  case CTY_BOOL:
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
      return fail(c, -EINVAL, "field \"%s\": expected bool, got %s", f->name, kind_name(o));
    v->boolean = o->via.boolean ? 1 : 0;
    return 0;
  case CTY_LIST_STRING:
    return decode_list(c, f, o, v);
  case CTY_MAP_STRING:
    return decode_map(c, f, o, v);
  }
  return fail(c, -EINVAL, "field \"%s\": unknown cty_type %d", f->name, (int)f->type);
}

/* ---- the field table -------------------------------------------------- */

static int is_identifier(const char *s) {
  if (!s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
    return 0;
  for (s++; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
          *s == '_' || *s == '-'))
      return 0;
  return 1;
}

/* Everything the decoder and the schema builder assume about a table. */
static int check_table(const dctx *c, const cty_field *fields, size_t nfields) {
  if (nfields && !fields)
    return fail(c, -EINVAL, "field table: NULL with %zu fields", nfields);
  for (size_t i = 0; i < nfields; i++) {
    const cty_field *f = &fields[i];
    if (!is_identifier(f->name))
      return fail(c, -EINVAL, "field table: entry %zu: name is not an HCL identifier", i);
    for (size_t j = 0; j < i; j++)
      if (strcmp(fields[j].name, f->name) == 0)
        return fail(c, -EINVAL, "field table: field \"%s\": duplicate name", f->name);
    if ((unsigned)f->type > CTY_MAP_STRING)
      return fail(c, -EINVAL, "field table: field \"%s\": unknown cty_type %d", f->name,
                  (int)f->type);
    if (f->allowed && f->type != CTY_STRING)
      return fail(c, -EINVAL, "field table: field \"%s\": allowed values need type string",
                  f->name);
    const char *d = f->default_text;
    if (!d)
      continue;
    char q[QUOTE_BUF];
    double num;
    int64_t inum;
    int is_int;
    switch (f->type) {
    case CTY_STRING:
      if (!utf8_valid((const uint8_t *)d, strlen(d)))
        return fail(c, -EINVAL, "field table: field \"%s\": default is not valid UTF-8", f->name);
      if (f->allowed) {
        const char *const *a = f->allowed;
        while (*a && strcmp(*a, d) != 0)
          a++;
        if (!*a)
          return fail(c, -EINVAL, "field table: field \"%s\": default %s is not allowed",
                      f->name, quote(q, d, strlen(d)));
      }
      break;
    case CTY_NUMBER:
      if (parse_decimal(d, strlen(d), &num, &inum, &is_int) != 0)
        return fail(c, -EINVAL, "field table: field \"%s\": default %s is not a number",
                    f->name, quote(q, d, strlen(d)));
      break;
    case CTY_BOOL:
      if (strcmp(d, "true") != 0 && strcmp(d, "false") != 0)
        return fail(c, -EINVAL, "field table: field \"%s\": default %s is not true or false",
                    f->name, quote(q, d, strlen(d)));
      break;
    default:
      return fail(c, -EINVAL, "field table: field \"%s\": %s cannot have a default (it is empty)",
                  f->name, cty_type_name(f->type));
    }
  }
  return 0;
}

int cty_table_check(const cty_field *fields, size_t nfields, char *err, size_t errlen) {
  dctx c = {"cty", err, errlen};
  if (err && errlen)
    err[0] = '\0';
  return check_table(&c, fields, nfields);
}

/* Fills a null attribute from its default (lists and maps: empty). The
 * table has been checked, so only allocation can fail. */
static int apply_default(const dctx *c, const cty_field *f, cty_value *v) {
  const char *d = f->default_text;
  switch (f->type) {
  case CTY_STRING:
    if (!d)
      return 0;
    if (!(v->str = strdup(d)))
      return fail(c, -ENOMEM, "field \"%s\": out of memory", f->name);
    break;
  case CTY_NUMBER:
    if (!d)
      return 0;
    if (parse_decimal(d, strlen(d), &v->num, &v->inum, &v->num_is_int) != 0)
      return fail(c, -ENOMEM, "field \"%s\": out of memory", f->name);
    break;
  case CTY_BOOL:
    if (!d)
      return 0;
    v->boolean = strcmp(d, "true") == 0;
    break;
  case CTY_LIST_STRING:
    if (!(v->items = calloc(1, sizeof *v->items)))
      return fail(c, -ENOMEM, "field \"%s\": out of memory", f->name);
    break;
  case CTY_MAP_STRING:
    v->items = calloc(1, sizeof *v->items);
    v->values = calloc(1, sizeof *v->values);
    if (!v->items || !v->values)
      return fail(c, -ENOMEM, "field \"%s\": out of memory", f->name);
    break;
  }
  v->is_null = 0;
  return 0;
}

/* ---- the decoder ------------------------------------------------------ */

static int find_field(const cty_field *fields, size_t nfields, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < nfields; i++)
    if (strlen(fields[i].name) == n && memcmp(fields[i].name, p, n) == 0)
      return (int)i;
  return -1;
}

/* Matches each key of the root map to a field and decodes its value. */
static int decode_root(const dctx *c, const cty_field *fields, size_t nfields,
                       const msgpack_object *root, cty_value *out) {
  if (root->type != MSGPACK_OBJECT_MAP)
    return fail(c, -EINVAL, "expected an object (msgpack map), got %s", kind_name(root));
  unsigned char *seen = calloc(nfields ? nfields : 1, 1);
  if (!seen)
    return fail(c, -ENOMEM, "out of memory");
  int rc = 0;
  for (uint32_t i = 0; i < root->via.map.size && !rc; i++) {
    const msgpack_object_kv *kv = &root->via.map.ptr[i];
    const uint8_t *kp;
    size_t kn;
    char q[QUOTE_BUF];
    if (!text_of(&kv->key, &kp, &kn)) {
      rc = fail(c, -EINVAL, "object key %u: expected string, got %s", i, kind_name(&kv->key));
      break;
    }
    int fi = find_field(fields, nfields, kp, kn);
    if (fi < 0) {
      rc = fail(c, -EINVAL, "unknown field %s", quote(q, kp, kn));
    } else if (seen[fi]) {
      rc = fail(c, -EINVAL, "duplicate field \"%s\"", fields[fi].name);
    } else {
      seen[fi] = 1;
      if (kv->val.type != MSGPACK_OBJECT_NIL)
        rc = decode_value(c, &fields[fi], &kv->val, &out[fi]);
    }
  }
  free(seen);
  return rc;
}

static int parse_and_decode(const dctx *c, const cty_field *fields, size_t nfields,
                            const uint8_t *p, size_t len, cty_value *out) {
  size_t end = 0;
  int rc = prescan(c, p, len, &end);
  if (rc)
    return rc;
  if (end != len)
    return fail(c, -EBADMSG, "malformed msgpack: %zu trailing bytes after the object at byte %zu",
                len - end, end);
  msgpack_unpacked up;
  msgpack_unpacked_init(&up);
  size_t off = 0;
  msgpack_unpack_return ur = msgpack_unpack_next(&up, (const char *)p, len, &off);
  if (ur == MSGPACK_UNPACK_NOMEM_ERROR)
    rc = fail(c, -ENOMEM, "out of memory");
  else if (ur != MSGPACK_UNPACK_SUCCESS || off != len)
    rc = fail(c, -EBADMSG, "malformed msgpack: rejected by the parser at byte %zu", off);
  else
    rc = decode_root(c, fields, nfields, &up.data, out);
  msgpack_unpacked_destroy(&up);
  return rc;
}

int cty_decode_object(const cty_field *fields, size_t nfields, const void *buf, size_t len,
                      const char *what, cty_value *out, char *err, size_t errlen) {
  dctx c = {what ? what : "config", err, errlen};
  if (err && errlen)
    err[0] = '\0';
  if (nfields && !out)
    return fail(&c, -EINVAL, "no output array");
  for (size_t i = 0; i < nfields; i++)
    value_reset(&out[i]);
  int rc = check_table(&c, fields, nfields);
  if (!rc && len > 0 && !buf)
    rc = fail(&c, -EINVAL, "NULL buffer of %zu bytes", len);
  if (!rc && len > 0)
    rc = parse_and_decode(&c, fields, nfields, buf, len, out);
  for (size_t i = 0; i < nfields && !rc; i++) {
    if (out[i].is_null)
      rc = apply_default(&c, &fields[i], &out[i]);
    if (!rc && out[i].is_null && fields[i].required)
      rc = fail(&c, -EINVAL, "field \"%s\": required but not set", fields[i].name);
  }
  if (rc)
    cty_values_free(out, nfields);
  return rc;
}

/* ---- the encoder ------------------------------------------------------ */

static int field_ptr_cmp(const void *a, const void *b) {
  return strcmp((*(const cty_field *const *)a)->name, (*(const cty_field *const *)b)->name);
}

static int str_ptr_cmp(const void *a, const void *b) {
  return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

static int pack_text(msgpack_packer *pk, const char *s) {
  if (!s)
    return msgpack_pack_nil(pk);
  size_t n = strlen(s);
  if (msgpack_pack_str(pk, n) != 0)
    return -1;
  return n ? msgpack_pack_str_body(pk, s, n) : 0;
}

/* Map entries in ascending key order, as cty writes them. */
static int pack_map(msgpack_packer *pk, const cty_value *v) {
  if (msgpack_pack_map(pk, v->n) != 0)
    return -1;
  if (v->n == 0)
    return 0;
  char ***o = malloc(v->n * sizeof *o); /* pointers into items, sorted */
  if (!o)
    return -1;
  for (size_t i = 0; i < v->n; i++)
    o[i] = &v->items[i];
  qsort(o, v->n, sizeof *o, str_ptr_cmp);
  int rc = 0;
  for (size_t i = 0; i < v->n && !rc; i++) {
    size_t k = (size_t)(o[i] - v->items);
    rc = pack_text(pk, v->items[k]);
    if (!rc)
      rc = pack_text(pk, v->values ? v->values[k] : NULL);
  }
  free(o);
  return rc;
}

static int pack_value(msgpack_packer *pk, const cty_field *f, const cty_value *v) {
  if (v->is_null)
    return msgpack_pack_nil(pk);
  switch (f->type) {
  case CTY_STRING:
    return pack_text(pk, v->str);
  case CTY_NUMBER:
    return v->num_is_int ? msgpack_pack_int64(pk, v->inum) : msgpack_pack_double(pk, v->num);
  case CTY_BOOL:
    return v->boolean ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
  case CTY_LIST_STRING:
    if (msgpack_pack_array(pk, v->n) != 0)
      return -1;
    for (size_t i = 0; i < v->n; i++)
      if (pack_text(pk, v->items[i]) != 0)
        return -1;
    return 0;
  case CTY_MAP_STRING:
    return pack_map(pk, v);
  }
  return msgpack_pack_nil(pk);
}

uint8_t *cty_encode_object(const cty_field *fields, size_t nfields, const cty_value *vals,
                           size_t *len) {
  const cty_field **order = malloc((nfields ? nfields : 1) * sizeof *order);
  if (!order)
    return NULL;
  for (size_t i = 0; i < nfields; i++)
    order[i] = &fields[i];
  qsort(order, nfields, sizeof *order, field_ptr_cmp);

  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  int rc = msgpack_pack_map(&pk, nfields);
  for (size_t i = 0; i < nfields && !rc; i++) {
    size_t k = (size_t)(order[i] - fields);
    rc = pack_text(&pk, fields[k].name);
    if (!rc)
      rc = pack_value(&pk, &fields[k], &vals[k]);
  }
  free(order);
  if (rc) {
    msgpack_sbuffer_destroy(&sb);
    return NULL;
  }
  if (len)
    *len = sb.size;
  return (uint8_t *)msgpack_sbuffer_release(&sb);
}
