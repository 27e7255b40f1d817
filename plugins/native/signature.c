/* Signature parsing and argument conversion for the native backend (see
 * signature.h for the grammar). No libffi here: the module links this too. */
#include "signature.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct type_name {
  const char *name;
  nsig_type type;
} type_name;

/* Every spelling the grammar accepts. long, size_t and ssize_t follow the
 * host's LP64 model (checked below). */
static const type_name type_names[] = {
    {"void", NSIG_VOID},     {"int8", NSIG_INT8},     {"int16", NSIG_INT16},
    {"int32", NSIG_INT32},   {"int64", NSIG_INT64},   {"uint8", NSIG_UINT8},
    {"uint16", NSIG_UINT16}, {"uint32", NSIG_UINT32}, {"uint64", NSIG_UINT64},
    {"int", NSIG_INT32},     {"uint", NSIG_UINT32},   {"long", NSIG_INT64},
    {"ulong", NSIG_UINT64},  {"size_t", NSIG_UINT64}, {"ssize_t", NSIG_INT64},
    {"float", NSIG_FLOAT},   {"double", NSIG_DOUBLE}, {"string", NSIG_STRING},
    {"bytes", NSIG_BYTES},
};

_Static_assert(sizeof(int) == 4 && sizeof(long) == 8 && sizeof(size_t) == 8,
               "the signature aliases assume an LP64 target");

char *nsig_printable(char *out, size_t cap, const char *text) {
  size_t n = 0, i = 0;
  if (cap == 0) return out;
  for (; text[i] && n + 1 < cap && i < 40; i++)
    out[n++] = (text[i] >= 0x20 && text[i] < 0x7f) ? text[i] : '?';
  if (text[i] && n + 4 < cap) {
    memcpy(out + n, "...", 3);
    n += 3;
  }
  out[n] = '\0';
  return out;
}

int nsig_is_integer(nsig_type t) { return t >= NSIG_INT8 && t <= NSIG_UINT64; }

int nsig_is_signed(nsig_type t) { return t >= NSIG_INT8 && t <= NSIG_INT64; }

/* ---- parsing ---------------------------------------------------------- */

typedef struct lexer {
  const char *text;
  size_t pos; /* 0-based; messages say pos + 1 */
} lexer;

static void skip_space(lexer *lx) {
  while (lx->text[lx->pos] == ' ' || lx->text[lx->pos] == '\t') lx->pos++;
}

static int is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

/* Describes the character at pos for "unexpected ..." messages. */
static void describe_at(const lexer *lx, char *out, size_t outlen) {
  char c = lx->text[lx->pos];
  if (c == '\0')
    snprintf(out, outlen, "end of signature");
  else if (c >= 0x20 && c < 0x7f)
    snprintf(out, outlen, "\"%c\" at position %zu", c, lx->pos + 1);
  else
    snprintf(out, outlen, "byte 0x%02x at position %zu", (unsigned char)c, lx->pos + 1);
}

/* Reads one type name at the current position into *t (and its spelling). */
static int read_type(lexer *lx, const char *what, nsig_type *t, const char **name, char *err,
                     size_t errlen) {
  skip_space(lx);
  size_t start = lx->pos;
  if (!is_ident_start(lx->text[start])) {
    char at[64];
    describe_at(lx, at, sizeof at);
    snprintf(err, errlen, "expected %s, found %s", what, at);
    return -EINVAL;
  }
  while (is_ident_char(lx->text[lx->pos])) lx->pos++;
  size_t len = lx->pos - start;
  for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
    if (strlen(type_names[i].name) == len && !memcmp(type_names[i].name, lx->text + start, len)) {
      *t = type_names[i].type;
      *name = type_names[i].name;
      return 0;
    }
  }
  char word[64], shown[64];
  snprintf(word, sizeof word, "%.*s", (int)(len < 48 ? len : 48), lx->text + start);
  snprintf(err, errlen,
           "unknown type \"%s\" at position %zu (known: int8, int16, int32, int64, uint8, uint16, "
           "uint32, uint64, int, uint, long, ulong, size_t, ssize_t, float, double, string, "
           "bytes, void)",
           nsig_printable(shown, sizeof shown, word), start + 1);
  return -EINVAL;
}

static int expect(lexer *lx, char c, const char *why, char *err, size_t errlen) {
  skip_space(lx);
  if (lx->text[lx->pos] == c) {
    lx->pos++;
    return 0;
  }
  char at[64];
  describe_at(lx, at, sizeof at);
  snprintf(err, errlen, "expected \"%c\" %s, found %s", c, why, at);
  return -EINVAL;
}

static int parse_params(lexer *lx, nsig *out, char *err, size_t errlen) {
  skip_space(lx);
  if (lx->text[lx->pos] == ')') return 0;
  for (;;) {
    size_t at = lx->pos;
    nsig_type t;
    const char *name;
    int rc = read_type(lx, "a parameter type", &t, &name, err, errlen);
    if (rc != 0) return rc;
    if (t == NSIG_VOID) {
      skip_space(lx);
      if (out->nparams == 0 && lx->text[lx->pos] == ')') return 0; /* "(void)" */
      snprintf(err, errlen, "\"void\" at position %zu: void is only allowed alone, as \"(void)\"",
               at + 1);
      return -EINVAL;
    }
    if (out->nparams == NSIG_MAX_PARAMS) {
      snprintf(err, errlen, "too many parameters at position %zu (at most %d)", at + 1,
               NSIG_MAX_PARAMS);
      return -EINVAL;
    }
    out->params[out->nparams] = t;
    out->names[out->nparams++] = name;
    skip_space(lx);
    if (lx->text[lx->pos] != ',') return 0;
    lx->pos++;
  }
}

int nsig_parse(const char *text, nsig *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  lexer lx = {text, 0};
  skip_space(&lx);
  if (!text[lx.pos]) {
    snprintf(err, errlen, "empty signature (expected e.g. \"int(int,double,string)\")");
    return -EINVAL;
  }
  size_t at = lx.pos;
  int rc = read_type(&lx, "a return type", &out->ret, &out->ret_name, err, errlen);
  if (rc != 0) return rc;
  if (out->ret == NSIG_STRING || out->ret == NSIG_BYTES) {
    snprintf(err, errlen,
             "return type \"%s\" at position %zu is not supported (use an integer type, float, "
             "double or void)",
             out->ret_name, at + 1);
    return -EINVAL;
  }
  if ((rc = expect(&lx, '(', "after the return type", err, errlen)) != 0) return rc;
  if ((rc = parse_params(&lx, out, err, errlen)) != 0) return rc;
  if ((rc = expect(&lx, ')', "to close the parameter list", err, errlen)) != 0) return rc;
  skip_space(&lx);
  if (text[lx.pos]) {
    char where[64];
    describe_at(&lx, where, sizeof where);
    snprintf(err, errlen, "unexpected %s after the closing \")\"", where);
    return -EINVAL;
  }
  return 0;
}

/* ---- argument conversion ---------------------------------------------- */

typedef struct int_range {
  int64_t min;
  uint64_t max;
} int_range;

static int_range range_of(nsig_type t) {
  switch (t) {
  case NSIG_INT8: return (int_range){INT8_MIN, INT8_MAX};
  case NSIG_INT16: return (int_range){INT16_MIN, INT16_MAX};
  case NSIG_INT32: return (int_range){INT32_MIN, INT32_MAX};
  case NSIG_INT64: return (int_range){INT64_MIN, INT64_MAX};
  case NSIG_UINT8: return (int_range){0, UINT8_MAX};
  case NSIG_UINT16: return (int_range){0, UINT16_MAX};
  case NSIG_UINT32: return (int_range){0, UINT32_MAX};
  default: return (int_range){0, UINT64_MAX};
  }
}

static int convert_int(nsig_type t, const char *type_name, const char *text, nsig_value *out,
                       char *err, size_t errlen) {
  char shown[64];
  const char *p = text;
  int neg = 0;
  if (*p == '+' || *p == '-') neg = *p++ == '-';
  int base = 10;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
    base = 16;
    p += 2;
  }
  /* strtoull would skip spaces and accept a second sign; allow digits only. */
  int digit = base == 16 ? ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                            (*p >= 'A' && *p <= 'F'))
                         : (*p >= '0' && *p <= '9');
  char *end = NULL;
  errno = 0;
  uint64_t mag = digit ? strtoull(p, &end, base) : 0;
  if (!digit || *end) {
    snprintf(err, errlen, "\"%s\" is not a valid %s (expected a decimal or 0x-hex integer)",
             nsig_printable(shown, sizeof shown, text), type_name);
    return -EINVAL;
  }
  int_range r = range_of(t);
  int over = errno == ERANGE;
  if (!over && neg) over = r.min == 0 ? mag != 0 : mag > (uint64_t)(-(r.min + 1)) + 1;
  if (!over && !neg) over = mag > r.max;
  if (over) {
    if (nsig_is_signed(t))
      snprintf(err, errlen, "\"%s\" is out of range for %s (%" PRId64 "..%" PRIu64 ")",
               nsig_printable(shown, sizeof shown, text), type_name, r.min, r.max);
    else
      snprintf(err, errlen, "\"%s\" is out of range for %s (0..%" PRIu64 ")",
               nsig_printable(shown, sizeof shown, text), type_name, r.max);
    return -EINVAL;
  }
  if (nsig_is_signed(t))
    out->i = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
  else
    out->u = mag;
  return 0;
}

static int convert_float(nsig_type t, const char *type_name, const char *text, nsig_value *out,
                         char *err, size_t errlen) {
  char shown[64];
  char *end = NULL;
  errno = 0;
  int space = text[0] == ' ' || (text[0] >= '\t' && text[0] <= '\r');
  double d = 0;
  float f = 0;
  if (t == NSIG_FLOAT)
    f = strtof(text, &end);
  else
    d = strtod(text, &end);
  if (!text[0] || space || *end) {
    snprintf(err, errlen, "\"%s\" is not a valid %s", nsig_printable(shown, sizeof shown, text),
             type_name);
    return -EINVAL;
  }
  /* ERANGE also flags harmless underflow; only an overflow to infinity from
   * finite text loses the value. */
  if (errno == ERANGE && (t == NSIG_FLOAT ? isinf(f) : isinf(d))) {
    snprintf(err, errlen, "\"%s\" is out of range for %s",
             nsig_printable(shown, sizeof shown, text), type_name);
    return -EINVAL;
  }
  out->f = f;
  out->d = d;
  return 0;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int convert_bytes(const char *text, nsig_value *out, char *err, size_t errlen) {
  char shown[64];
  size_t n = strlen(text);
  if (n % 2) {
    snprintf(err, errlen, "\"%s\" is not valid bytes (an odd number of hex digits)",
             nsig_printable(shown, sizeof shown, text));
    return -EINVAL;
  }
  unsigned char *buf = malloc(n / 2 + 1);
  if (!buf) {
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
  }
  for (size_t i = 0; i < n; i += 2) {
    int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
    if (hi < 0 || lo < 0) {
      snprintf(err, errlen,
               "\"%s\" is not valid bytes (expected hex digits, found \"%c\" at offset %zu)",
               nsig_printable(shown, sizeof shown, text),
               hi < 0 ? (text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?')
                      : (text[i + 1] >= 0x20 && text[i + 1] < 0x7f ? text[i + 1] : '?'),
               hi < 0 ? i : i + 1);
      free(buf);
      return -EINVAL;
    }
    buf[i / 2] = (unsigned char)(hi << 4 | lo);
  }
  out->bytes = buf;
  out->len = n / 2;
  return 0;
}

int nsig_convert(nsig_type t, const char *type_name, const char *text, nsig_value *out, char *err,
                 size_t errlen) {
  memset(out, 0, sizeof *out);
  out->type = t;
  if (nsig_is_integer(t)) return convert_int(t, type_name, text, out, err, errlen);
  if (t == NSIG_FLOAT || t == NSIG_DOUBLE)
    return convert_float(t, type_name, text, out, err, errlen);
  if (t == NSIG_BYTES) return convert_bytes(text, out, err, errlen);
  if (t == NSIG_STRING) {
    if (!(out->str = strdup(text))) {
      snprintf(err, errlen, "out of memory");
      return -ENOMEM;
    }
    return 0;
  }
  snprintf(err, errlen, "a parameter cannot have type %s", type_name);
  return -EINVAL;
}

void nsig_values_free(nsig_value *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(v[i].str);
    free(v[i].bytes);
    v[i].str = NULL;
    v[i].bytes = NULL;
  }
}

int nsig_convert_all(const nsig *sig, const char *const *args, nsig_value *out, char *err,
                     size_t errlen) {
  size_t nargs = 0;
  while (args && args[nargs]) nargs++;
  if (nargs != sig->nparams) {
    char types[NSIG_MAX_PARAMS * 10] = "";
    size_t used = 0;
    for (size_t i = 0; i < sig->nparams && used < sizeof types; i++)
      used += (size_t)snprintf(types + used, sizeof types - used, "%s%s", i ? ", " : " (",
                               sig->names[i]);
    if (sig->nparams && used < sizeof types) snprintf(types + used, sizeof types - used, ")");
    snprintf(err, errlen, "the signature takes %zu argument%s%s, got %zu", sig->nparams,
             sig->nparams == 1 ? "" : "s", types, nargs);
    return -EINVAL;
  }
  for (size_t i = 0; i < nargs; i++) {
    char why[256];
    int rc = nsig_convert(sig->params[i], sig->names[i], args[i], &out[i], why, sizeof why);
    if (rc != 0) {
      nsig_values_free(out, i);
      snprintf(err, errlen, "argument %zu: %s", i + 1, why);
      return rc;
    }
  }
  return 0;
}
