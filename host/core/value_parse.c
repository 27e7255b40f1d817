/* Typed configuration values (see ini_config.h): the per-type parsing shared
 * by INI files and Nomad's plugin block, and the arena that owns the results. */
#include "ini_config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------------------
 * Arena: a list of chunks, bump-allocated, freed all at once.
 * ------------------------------------------------------------------------- */

#define ARENA_CHUNK 4096 /* usual chunk payload; larger requests get their own */
#define ARENA_ALIGN alignof(max_align_t)

typedef struct arena_chunk {
  struct arena_chunk *next;
  size_t used, cap;
  alignas(max_align_t) unsigned char data[];
} arena_chunk;

struct value_arena {
  arena_chunk *head; /* the chunk allocations are bumped from */
};

value_arena *value_arena_new(void) { return calloc(1, sizeof(value_arena)); }

void value_arena_free(value_arena *a) {
  if (!a) return;
  for (arena_chunk *c = a->head, *next; c; c = next) {
    next = c->next;
    free(c);
  }
  free(a);
}

static arena_chunk *chunk_new(size_t cap) {
  if (cap > SIZE_MAX - sizeof(arena_chunk)) return NULL;
  arena_chunk *c = calloc(1, sizeof(arena_chunk) + cap);
  if (c) c->cap = cap;
  return c;
}

void *value_arena_alloc(value_arena *a, size_t n) {
  if (!a || n > SIZE_MAX - ARENA_ALIGN) return NULL;
  n = (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
  if (n == 0) n = ARENA_ALIGN;
  arena_chunk *c = a->head;
  if (c && c->cap - c->used >= n) {
    void *p = c->data + c->used;
    c->used += n;
    return p;
  }
  if (n > ARENA_CHUNK / 4 && c) {
    /* A big block gets a chunk of its own behind the head, so the head's
     * free space stays usable for the small allocations that follow. */
    arena_chunk *big = chunk_new(n);
    if (!big) return NULL;
    big->used = n;
    big->next = c->next;
    c->next = big;
    return big->data;
  }
  arena_chunk *fresh = chunk_new(n > ARENA_CHUNK ? n : ARENA_CHUNK);
  if (!fresh) return NULL;
  fresh->used = n;
  fresh->next = c;
  a->head = fresh;
  return fresh->data;
}

static char *arena_strndup(value_arena *a, const char *s, size_t n) {
  if (n == SIZE_MAX) return NULL;
  char *p = value_arena_alloc(a, n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *value_arena_strdup(value_arena *a, const char *s) {
  return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

/* ---------------------------------------------------------------------------
 * Messages
 * ------------------------------------------------------------------------- */

#define PRINTABLE_MAX 60 /* bytes of hostile text quoted in a message */

char *value_printable(char *out, size_t cap, const char *text) {
  size_t n = 0, i = 0;
  if (cap == 0) return out;
  if (!text) text = "";
  for (; text[i] && i < PRINTABLE_MAX && n + 1 < cap; i++) {
    unsigned char c = (unsigned char)text[i];
    out[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
  }
  if (text[i] && cap > 4) {
    if (n > cap - 4) n = cap - 4;
    memcpy(out + n, "...", 3);
    n += 3;
  }
  out[n] = '\0';
  return out;
}

const char *elide_value_type_name(uint32_t type) {
  switch (type) {
  case ELIDE_VALUE_STRING: return "string";
  case ELIDE_VALUE_INT: return "int";
  case ELIDE_VALUE_BOOL: return "bool";
  case ELIDE_VALUE_PATH: return "path";
  case ELIDE_VALUE_LIST: return "list";
  default: return "?";
  }
}

/* "<key>: <text quoted> <problem>", the form of every value error. */
static int value_error(char *err, size_t errlen, const elide_key *key, const char *text,
                       const char *problem) {
  char shown[PRINTABLE_MAX + 8];
  if (err && errlen)
    snprintf(err, errlen, "%s: \"%s\" %s", key->name, value_printable(shown, sizeof shown, text),
             problem);
  return -EINVAL;
}

static int no_memory(char *err, size_t errlen) {
  if (err && errlen) snprintf(err, errlen, "out of memory");
  return -ENOMEM;
}

/* ---------------------------------------------------------------------------
 * Per-type parsing
 * ------------------------------------------------------------------------- */

static int is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Decimal, optional leading '-', nothing else (no '+', spaces, hex, octal). */
static int parse_int64(const char *s, int64_t *out) {
  const char *p = s;
  int neg = *p == '-';
  uint64_t limit, v = 0;
  if (neg) p++;
  if (*p < '0' || *p > '9') return -EINVAL;
  limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; *p; p++) {
    if (*p < '0' || *p > '9') return -EINVAL;
    unsigned d = (unsigned)(*p - '0');
    if (v > (limit - d) / 10) return -ERANGE;
    v = v * 10 + d;
  }
  if (!neg) *out = (int64_t)v;
  else *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
  return 0;
}

static int parse_bool(const char *s, int64_t *out) {
  static const char *const yes[] = {"true", "yes", "on", "1"};
  static const char *const no[] = {"false", "no", "off", "0"};
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    if (strcasecmp(s, yes[i]) == 0) return *out = 1, 0;
    if (strcasecmp(s, no[i]) == 0) return *out = 0, 0;
  }
  return -EINVAL;
}

/* The empty NULL-terminated list of an unset or empty LIST value. */
static const char *const empty_list[] = {NULL};

/* Splits on ',' with every item trimmed. A value of only blanks is the empty
 * list; an empty item anywhere else ("a,,b", "a,") is an error. */
static int parse_list(const elide_key *key, const char *text, value_arena *arena,
                      elide_value *out, char *err, size_t errlen) {
  size_t n = 1, i = 0;
  const char *p = text;
  while (is_blank(*p)) p++;
  if (*p == '\0') {
    out->list = empty_list;
    return 0;
  }
  for (p = text; *p; p++) n += *p == ',';
  const char **items = value_arena_alloc(arena, (n + 1) * sizeof *items);
  if (!items) return no_memory(err, errlen);
  for (p = text; i < n; i++) {
    const char *end = strchr(p, ',');
    const char *stop = end ? end : p + strlen(p);
    while (p < stop && is_blank(*p)) p++;
    while (stop > p && is_blank(stop[-1])) stop--;
    if (stop == p) {
      char problem[64];
      snprintf(problem, sizeof problem, "has an empty item (item %zu)", i + 1);
      return value_error(err, errlen, key, text, problem);
    }
    if (!(items[i] = arena_strndup(arena, p, (size_t)(stop - p)))) return no_memory(err, errlen);
    p = end ? end + 1 : stop;
  }
  items[n] = NULL;
  out->list = items;
  out->nlist = n;
  return 0;
}

static int parse_typed(const elide_key *key, const char *text, value_arena *arena,
                       elide_value *out, char *err, size_t errlen) {
  int rc;
  switch (key->type) {
  case ELIDE_VALUE_STRING: return 0;
  case ELIDE_VALUE_PATH:
    if (text[0] != '/')
      return value_error(err, errlen, key, text,
                         text[0] == '"' || text[0] == '\''
                             ? "is not an absolute path (quotes are taken literally)"
                             : "is not an absolute path");
    if (strlen(text) >= PATH_MAX) return value_error(err, errlen, key, text, "is too long");
    return 0;
  case ELIDE_VALUE_INT:
    rc = parse_int64(text, &out->i);
    if (rc == -ERANGE)
      return value_error(err, errlen, key, text, "is out of range (a signed 64-bit integer)");
    if (rc < 0) return value_error(err, errlen, key, text, "is not a decimal integer");
    return 0;
  case ELIDE_VALUE_BOOL:
    if (parse_bool(text, &out->i) < 0)
      return value_error(err, errlen, key, text,
                         "is not a boolean (true/false, yes/no, on/off, 1/0)");
    return 0;
  case ELIDE_VALUE_LIST: return parse_list(key, text, arena, out, err, errlen);
  default:
    if (err && errlen)
      snprintf(err, errlen, "%s: unknown value type %" PRIu32, key->name, key->type);
    return -EINVAL;
  }
}

int elide_value_parse(const elide_key *key, const char *text, value_arena *arena, elide_value *out,
                      char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  if (!key || !key->name || !text || !arena || !out) {
    if (err && errlen) snprintf(err, errlen, "elide_value_parse: invalid argument");
    return -EINVAL;
  }
  elide_value v = {.type = key->type, .is_set = 1};
  int rc = parse_typed(key, text, arena, &v, err, errlen);
  if (rc < 0) return rc;
  /* Copies, so the value outlives both the key table and the text. */
  if (!(v.name = value_arena_strdup(arena, key->name)) ||
      !(v.str = value_arena_strdup(arena, text)))
    return no_memory(err, errlen);
  *out = v;
  return 0;
}
