/* INI deployment files (see ini_config.h): file safety checks, inih driven
 * through our own line reader, and validation against the key tables. */
#include "ini_config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INI_MAX_FILE (1u << 20) /* bytes; a deployment file is a few hundred */
#define INI_MAX_SECTIONS 4096   /* bounds memory: each section holds a value per key */
#define SECTION_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_-"
#define KEY_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_"
#define SHOWN 80 /* buffer for value_printable */

/* One section present in the file. */
typedef struct ini_sec {
  const char *kind;      /* "driver", "daemon", "module" or a kind prefix (arena) */
  const char *name;      /* after the dot; "" for driver and daemon (arena) */
  const char *title;     /* the header text, e.g. "module.python" (arena) */
  int line;              /* of the header */
  const elide_key *keys; /* the schema's: borrowed, NULL once ini_load returns */
  size_t nkeys;
  elide_value *values;   /* nkeys, in declaration order (arena) */
  int *key_lines;        /* nkeys; 0 while the key is not in the file (arena) */
} ini_sec;

/* The sections of one kind, as handed out by ini_sections. */
typedef struct ini_group {
  const char *kind;
  elide_section *secs;
  size_t n;
} ini_group;

struct ini_doc {
  value_arena *arena; /* every string, value and array below except secs */
  const char *path;
  ini_sec *secs; /* file order (malloc) */
  size_t nsecs, cap;
  ini_group *groups;
  size_t ngroups;
};

/* ini_peek's query and answer. */
typedef struct peek_query {
  const char *section, *key;
  char cur[INI_MAX_LINE]; /* the current header's text */
  char *out;
  size_t outlen;
  int found;
} peek_query;

/* The state shared by the line reader and the key handler during one parse:
 * either a load (doc, schema) or a peek. */
typedef struct load_state {
  const char *path;
  ini_doc *doc;
  const ini_schema *schema;
  peek_query *peek;
  const char *buf; /* the whole file */
  size_t len, pos;
  int lineno;      /* of the line last handed to inih */
  long cur;        /* index of the current section in doc->secs, -1 before the first */
  int rc;          /* the first error, 0 while none */
  char *err;
  size_t errlen;
} load_state;

static const char *const empty_list[] = {NULL};

/* ---------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------- */

/* Writes "<where>: message" (where = "path:line", "path" or "schema"). */
static int verror(char *err, size_t errlen, int rc, const char *where, int line, const char *fmt,
                  va_list ap) {
  if (!err || errlen == 0) return rc;
  int n = line > 0 ? snprintf(err, errlen, "%s:%d: ", where, line)
                   : snprintf(err, errlen, "%s: ", where);
  if (n >= 0 && (size_t)n < errlen) vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
  return rc;
}

static int __attribute__((format(printf, 6, 7)))
error_at(char *err, size_t errlen, int rc, const char *where, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  verror(err, errlen, rc, where, line, fmt, ap);
  va_end(ap);
  return rc;
}

/* Records the first error of a parse at `line`; later ones are dropped. */
static int __attribute__((format(printf, 4, 5)))
fail(load_state *st, int rc, int line, const char *fmt, ...) {
  va_list ap;
  if (st->rc) return st->rc;
  st->rc = rc;
  va_start(ap, fmt);
  verror(st->err, st->errlen, rc, st->path, line, fmt, ap);
  va_end(ap);
  return rc;
}

/* ---------------------------------------------------------------------------
 * Schema checks: a bad table is a programming error, reported as "schema: ".
 * ------------------------------------------------------------------------- */

static int valid_name(const char *s, const char *chars) {
  return s && *s && strspn(s, chars) == strlen(s);
}

static int check_keys(const elide_key *keys, size_t n, const char *title, value_arena *tmp,
                      char *err, size_t errlen) {
  char msg[256];
  if (n && !keys) return error_at(err, errlen, -EINVAL, "schema", 0, "[%s]: no key table", title);
  for (size_t i = 0; i < n; i++) {
    const elide_key *k = &keys[i];
    elide_value v;
    if (!valid_name(k->name, KEY_CHARS))
      return error_at(err, errlen, -EINVAL, "schema", 0, "[%s]: bad key name \"%s\"", title,
                      k->name ? k->name : "(null)");
    for (size_t j = 0; j < i; j++)
      if (strcmp(keys[j].name, k->name) == 0)
        return error_at(err, errlen, -EINVAL, "schema", 0, "[%s]: duplicate key \"%s\"", title,
                        k->name);
    if (k->flags & ~ELIDE_KEY_REQUIRED)
      return error_at(err, errlen, -EINVAL, "schema", 0, "[%s]: %s: unknown flags 0x%x", title,
                      k->name, (unsigned)k->flags);
    if ((k->flags & ELIDE_KEY_REQUIRED) && k->default_value)
      return error_at(err, errlen, -EINVAL, "schema", 0,
                      "[%s]: %s: a required key cannot have a default", title, k->name);
    if (k->type < ELIDE_VALUE_STRING || k->type > ELIDE_VALUE_LIST)
      return error_at(err, errlen, -EINVAL, "schema", 0, "[%s]: %s: unknown value type %u", title,
                      k->name, (unsigned)k->type);
    if (k->default_value &&
        elide_value_parse(k, k->default_value, tmp, &v, msg, sizeof msg) < 0)
      return error_at(err, errlen, -EINVAL, "schema", 0, "[%s]: bad default: %s", title, msg);
  }
  return 0;
}

static int check_names(const ini_schema *s, char *err, size_t errlen) {
  static const char *const reserved[] = {"driver", "daemon", "module"};
  for (size_t i = 0; i < s->nmodules; i++) {
    const char *m = s->modules[i].name;
    if (!valid_name(m, SECTION_CHARS))
      return error_at(err, errlen, -EINVAL, "schema", 0, "bad module name \"%s\"",
                      m ? m : "(null)");
    for (size_t j = 0; j < i; j++)
      if (strcmp(s->modules[j].name, m) == 0)
        return error_at(err, errlen, -EINVAL, "schema", 0, "duplicate module \"%s\"", m);
  }
  for (size_t i = 0; i < s->nkinds; i++) {
    const char *p = s->kinds[i].prefix;
    if (!valid_name(p, KEY_CHARS))
      return error_at(err, errlen, -EINVAL, "schema", 0, "bad section prefix \"%s\"",
                      p ? p : "(null)");
    for (size_t j = 0; j < sizeof reserved / sizeof reserved[0]; j++)
      if (strcmp(p, reserved[j]) == 0)
        return error_at(err, errlen, -EINVAL, "schema", 0, "section prefix \"%s\" is reserved",
                        p);
    for (size_t j = 0; j < i; j++)
      if (strcmp(s->kinds[j].prefix, p) == 0)
        return error_at(err, errlen, -EINVAL, "schema", 0, "duplicate section prefix \"%s\"", p);
  }
  return 0;
}

static int check_schema(const ini_schema *s, char *err, size_t errlen) {
  char title[128];
  int rc;
  if ((s->nmodules && !s->modules) || (s->nkinds && !s->kinds))
    return error_at(err, errlen, -EINVAL, "schema", 0, "a count without a table");
  if ((rc = check_names(s, err, errlen)) < 0) return rc;
  value_arena *tmp = value_arena_new();
  if (!tmp) return error_at(err, errlen, -ENOMEM, "schema", 0, "out of memory");
  rc = check_keys(s->driver_keys, s->ndriver_keys, "driver", tmp, err, errlen);
  if (!rc) rc = check_keys(s->daemon_keys, s->ndaemon_keys, "daemon", tmp, err, errlen);
  for (size_t i = 0; !rc && i < s->nmodules; i++) {
    snprintf(title, sizeof title, "module.%s", s->modules[i].name);
    rc = check_keys(s->modules[i].keys, s->modules[i].nkeys, title, tmp, err, errlen);
  }
  for (size_t i = 0; !rc && i < s->nkinds; i++) {
    snprintf(title, sizeof title, "%s.<name>", s->kinds[i].prefix);
    rc = check_keys(s->kinds[i].keys, s->kinds[i].nkeys, title, tmp, err, errlen);
  }
  value_arena_free(tmp);
  return rc;
}

/* ---------------------------------------------------------------------------
 * The file: a regular file nobody else can rewrite, read whole.
 * ------------------------------------------------------------------------- */

static int check_file(const char *path, const struct stat *sb, char *err, size_t errlen) {
  unsigned mode = (unsigned)(sb->st_mode & 07777);
  if (!S_ISREG(sb->st_mode))
    return error_at(err, errlen, -EINVAL, path, 0, "not a regular file");
  if (sb->st_mode & S_IWOTH)
    return error_at(err, errlen, -EPERM, path, 0,
                    "refusing a file writable by others (mode %04o)", mode);
  if (sb->st_mode & S_IWGRP)
    return error_at(err, errlen, -EPERM, path, 0,
                    "refusing a file writable by its group (mode %04o)", mode);
  if (sb->st_uid != 0 && sb->st_uid != geteuid())
    return error_at(err, errlen, -EPERM, path, 0,
                    "refusing a file owned by uid %u (expected root or uid %u)",
                    (unsigned)sb->st_uid, (unsigned)geteuid());
  if (sb->st_size > (off_t)INI_MAX_FILE)
    return error_at(err, errlen, -EFBIG, path, 0, "file too large (the limit is %u bytes)",
                    INI_MAX_FILE);
  return 0;
}

/* Reads at most INI_MAX_FILE bytes (the file may grow after fstat). */
static int read_all(int fd, const char *path, char **out, size_t *len, char *err, size_t errlen) {
  char *buf = malloc(INI_MAX_FILE + 1);
  size_t n = 0;
  if (!buf) return error_at(err, errlen, -ENOMEM, path, 0, "out of memory");
  for (;;) {
    ssize_t r = read(fd, buf + n, INI_MAX_FILE + 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      free(buf);
      return error_at(err, errlen, -e, path, 0, "%s", strerror(e));
    }
    if (r == 0) break;
    n += (size_t)r;
    if (n > INI_MAX_FILE) {
      free(buf);
      return error_at(err, errlen, -EFBIG, path, 0, "file too large (the limit is %u bytes)",
                      INI_MAX_FILE);
    }
  }
  *out = buf;
  *len = n;
  return 0;
}

static int load_file(const char *path, char **buf, size_t *len, char *err, size_t errlen) {
  struct stat sb;
  /* O_NONBLOCK: a FIFO must not hang the load; it is refused after fstat. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return error_at(err, errlen, -errno, path, 0, "%s", strerror(errno));
  int rc = fstat(fd, &sb) < 0 ? error_at(err, errlen, -errno, path, 0, "%s", strerror(errno))
                              : check_file(path, &sb, err, errlen);
  if (rc == 0) rc = read_all(fd, path, buf, len, err, errlen);
  close(fd);
  return rc;
}

/* ---------------------------------------------------------------------------
 * Sections
 * ------------------------------------------------------------------------- */

static ini_sec *find_sec(const ini_doc *doc, const char *kind, const char *name) {
  for (size_t i = 0; i < doc->nsecs; i++)
    if (strcmp(doc->secs[i].kind, kind) == 0 && strcmp(doc->secs[i].name, name) == 0)
      return &doc->secs[i];
  return NULL;
}

static int open_section(load_state *st, const char *kind, const char *name, const char *title,
                        const elide_key *keys, size_t nkeys) {
  ini_doc *doc = st->doc;
  ini_sec *dup = find_sec(doc, kind, name);
  if (dup)
    return fail(st, -EINVAL, st->lineno, "duplicate section [%s] (first defined at line %d)",
                title, dup->line);
  if (doc->nsecs >= INI_MAX_SECTIONS)
    return fail(st, -E2BIG, st->lineno, "too many sections (the limit is %d)", INI_MAX_SECTIONS);
  if (doc->nsecs == doc->cap) {
    size_t cap = doc->cap ? doc->cap * 2 : 8;
    ini_sec *secs = realloc(doc->secs, cap * sizeof *secs);
    if (!secs) return fail(st, -ENOMEM, st->lineno, "out of memory");
    doc->secs = secs;
    doc->cap = cap;
  }
  ini_sec *s = &doc->secs[doc->nsecs];
  *s = (ini_sec){.line = st->lineno, .keys = keys, .nkeys = nkeys};
  s->kind = value_arena_strdup(doc->arena, kind);
  s->name = value_arena_strdup(doc->arena, name);
  s->title = value_arena_strdup(doc->arena, title);
  s->values = value_arena_alloc(doc->arena, (nkeys ? nkeys : 1) * sizeof *s->values);
  s->key_lines = value_arena_alloc(doc->arena, (nkeys ? nkeys : 1) * sizeof *s->key_lines);
  if (!s->kind || !s->name || !s->title || !s->values || !s->key_lines)
    return fail(st, -ENOMEM, st->lineno, "out of memory");
  st->cur = (long)doc->nsecs++;
  return 0;
}

/* "js, python" or "none". */
static void module_list(const ini_schema *s, char *out, size_t cap) {
  size_t n = 0;
  out[0] = '\0';
  for (size_t i = 0; i < s->nmodules && n < cap; i++)
    n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? ", " : "", s->modules[i].name);
  if (s->nmodules == 0) snprintf(out, cap, "none");
}

/* "[driver], [daemon], [module.<name>], [native.<name>]": what may appear. */
static void section_list(const ini_schema *s, char *out, size_t cap) {
  size_t n = 0;
  out[0] = '\0';
  if (s->driver_keys) n += (size_t)snprintf(out + n, cap - n, "[driver], ");
  if (s->daemon_keys && n < cap) n += (size_t)snprintf(out + n, cap - n, "[daemon], ");
  if (n < cap) n += (size_t)snprintf(out + n, cap - n, "[module.<name>]");
  for (size_t i = 0; i < s->nkinds && n < cap; i++)
    n += (size_t)snprintf(out + n, cap - n, ", [%s.<name>]", s->kinds[i].prefix);
}

static int unknown_section(load_state *st, const char *title, const char *prefix) {
  char shown[SHOWN], known[512];
  value_printable(shown, sizeof shown, title);
  if (prefix)
    return fail(st, -EINVAL, st->lineno,
                "unknown section [%s] (names after \"%s.\" are [a-z0-9_-]+)", shown, prefix);
  section_list(st->schema, known, sizeof known);
  return fail(st, -EINVAL, st->lineno, "unknown section [%s] (known: %s)", shown, known);
}

/* Opens the section a header names, or fails. `title` is the text between
 * the brackets. */
static int classify(load_state *st, const char *title) {
  const ini_schema *s = st->schema;
  if (s->driver_keys && strcmp(title, "driver") == 0)
    return open_section(st, "driver", "", title, s->driver_keys, s->ndriver_keys);
  if (s->daemon_keys && strcmp(title, "daemon") == 0)
    return open_section(st, "daemon", "", title, s->daemon_keys, s->ndaemon_keys);
  const char *dot = strchr(title, '.');
  if (!dot) return unknown_section(st, title, NULL);
  size_t plen = (size_t)(dot - title);
  const char *name = dot + 1;
  int named_ok = valid_name(name, SECTION_CHARS);
  if (plen == 6 && memcmp(title, "module", 6) == 0) {
    if (!named_ok) return unknown_section(st, title, "module");
    for (size_t i = 0; i < s->nmodules; i++)
      if (strcmp(s->modules[i].name, name) == 0)
        return open_section(st, "module", name, title, s->modules[i].keys, s->modules[i].nkeys);
    char known[512];
    module_list(s, known, sizeof known);
    return fail(st, -EINVAL, st->lineno, "unknown module \"%s\" in [%s] (loaded modules: %s)",
                name, title, known);
  }
  for (size_t i = 0; i < s->nkinds; i++) {
    const ini_kind_schema *k = &s->kinds[i];
    if (strlen(k->prefix) != plen || memcmp(k->prefix, title, plen) != 0) continue;
    if (!named_ok) return unknown_section(st, title, k->prefix);
    return open_section(st, k->prefix, name, title, k->keys, k->nkeys);
  }
  return unknown_section(st, title, NULL);
}

/* A header line as inih reads it: the name runs to the first ']' unless an
 * inline comment (';' after a blank) comes first. After ']' we allow only a
 * ';' comment, where inih would silently ignore anything. */
static int read_header(load_state *st, const char *line) {
  size_t i = 1;
  for (; line[i] && line[i] != ']'; i++)
    if (line[i] == ';' && i > 1 && (line[i - 1] == ' ' || line[i - 1] == '\t')) break;
  if (line[i] != ']')
    return fail(st, -EINVAL, st->lineno, "syntax error (unterminated section header)");
  char title[INI_MAX_LINE];
  memcpy(title, line + 1, i - 1);
  title[i - 1] = '\0';
  const char *rest = line + i + 1;
  rest += strspn(rest, " \t");
  if (*rest && *rest != ';') {
    char shown[SHOWN];
    return fail(st, -EINVAL, st->lineno, "unexpected text after [%s]",
                value_printable(shown, sizeof shown, title));
  }
  if (st->peek) return snprintf(st->peek->cur, sizeof st->peek->cur, "%s", title), 0;
  return classify(st, title);
}

/* ---------------------------------------------------------------------------
 * inih callbacks
 * ------------------------------------------------------------------------- */

static int is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* inih's reader: hands over one physical line at a time, so inih's line
 * numbers are ours and the handler runs while st->lineno is its line.
 * Leading blanks are stripped: inih (built with multi-line values) would
 * otherwise join an indented line to the previous key. A line that does not
 * fit inih's buffer (num bytes with the NUL) is refused rather than split,
 * as is a NUL byte. Returns NULL (end of input) after the first error. */
static char *read_line(char *str, int num, void *stream) {
  load_state *st = stream;
  if (st->rc || st->pos >= st->len) return NULL;
  const char *line = st->buf + st->pos;
  const char *nl = memchr(line, '\n', st->len - st->pos);
  size_t n = nl ? (size_t)(nl - line) : st->len - st->pos;
  st->pos += n + (nl != NULL);
  st->lineno++;
  if (memchr(line, '\0', n)) return fail(st, -EINVAL, st->lineno, "NUL byte in line"), NULL;
  if (st->lineno == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) line += 3, n -= 3;
  while (n && is_blank(line[0])) line++, n--;
  while (n && is_blank(line[n - 1])) n--;
  if (num <= 0 || n >= (size_t)num || n >= INI_MAX_LINE) {
    size_t limit = (size_t)(num > 0 ? num - 1 : 0);
    if (limit > INI_MAX_LINE - 1) limit = INI_MAX_LINE - 1;
    return fail(st, -EINVAL, st->lineno, "line too long (%zu bytes; the limit is %zu)", n, limit),
           NULL;
  }
  memcpy(str, line, n);
  str[n] = '\0';
  if (str[0] == '[' && read_header(st, str) < 0) return NULL;
  return str;
}

static long find_key(const ini_sec *sec, const char *name) {
  for (size_t i = 0; i < sec->nkeys; i++)
    if (strcmp(sec->keys[i].name, name) == 0) return (long)i;
  return -1;
}

static int unknown_key(load_state *st, const ini_sec *sec, const char *name) {
  char shown[SHOWN], known[512];
  size_t n = 0;
  known[0] = '\0';
  for (size_t i = 0; i < sec->nkeys && n < sizeof known; i++)
    n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "", sec->keys[i].name);
  if (sec->nkeys == 0) snprintf(known, sizeof known, "none");
  return fail(st, -EINVAL, st->lineno, "[%s]: unknown key \"%s\" (known: %s)", sec->title,
              value_printable(shown, sizeof shown, name), known);
}

/* The first occurrence of the peeked key; later ones are ini_load's to judge. */
static int on_peek(load_state *st, const char *name, const char *value) {
  peek_query *q = st->peek;
  if (q->found || strcmp(q->cur, q->section) != 0 || strcmp(name, q->key) != 0) return 1;
  if (strlen(value) >= q->outlen) {
    fail(st, -ENAMETOOLONG, st->lineno, "[%s]: %s: value too long", q->section, q->key);
    return 1;
  }
  memcpy(q->out, value, strlen(value) + 1);
  q->found = 1;
  return 1;
}

/* inih's handler. `section` is ignored: inih cuts section names at 49 bytes
 * and never reports a section without keys, so the reader tracks sections.
 * Always returns 1: our errors are recorded in st, inih's own are syntax. */
static int on_pair(void *user, const char *section, const char *name, const char *value) {
  load_state *st = user;
  char shown[SHOWN], msg[512];
  (void)section;
  if (st->rc) return 1;
  if (st->peek) return on_peek(st, name, value);
  if (st->cur < 0) {
    fail(st, -EINVAL, st->lineno, "key \"%s\" before any section",
         value_printable(shown, sizeof shown, name));
    return 1;
  }
  ini_sec *sec = &st->doc->secs[st->cur];
  long k = find_key(sec, name);
  if (k < 0) return unknown_key(st, sec, name), 1;
  if (sec->key_lines[k]) {
    fail(st, -EINVAL, st->lineno, "[%s]: duplicate key \"%s\" (first defined at line %d)",
         sec->title, name, sec->key_lines[k]);
    return 1;
  }
  int rc = elide_value_parse(&sec->keys[k], value, st->doc->arena, &sec->values[k], msg,
                             sizeof msg);
  if (rc < 0) return fail(st, rc, st->lineno, "[%s]: %s", sec->title, msg), 1;
  sec->key_lines[k] = st->lineno;
  return 1;
}

/* ---------------------------------------------------------------------------
 * After the parse: defaults, required keys, groups.
 * ------------------------------------------------------------------------- */

static int fill_defaults(load_state *st, ini_sec *sec) {
  char msg[512];
  for (size_t k = 0; k < sec->nkeys; k++) {
    const elide_key *key = &sec->keys[k];
    elide_value *v = &sec->values[k];
    if (sec->key_lines[k]) continue;
    if (key->flags & ELIDE_KEY_REQUIRED)
      return fail(st, -EINVAL, sec->line, "[%s]: missing required key \"%s\"", sec->title,
                  key->name);
    if (key->default_value) {
      int rc = elide_value_parse(key, key->default_value, st->doc->arena, v, msg, sizeof msg);
      if (rc < 0) return fail(st, rc, sec->line, "[%s]: bad default: %s", sec->title, msg);
      continue;
    }
    *v = (elide_value){.type = key->type};
    if (key->type == ELIDE_VALUE_LIST) v->list = empty_list;
    if (!(v->name = value_arena_strdup(st->doc->arena, key->name)))
      return fail(st, -ENOMEM, 0, "out of memory");
  }
  return 0;
}

static ini_group *find_group(const ini_doc *doc, const char *kind) {
  for (size_t i = 0; i < doc->ngroups; i++)
    if (strcmp(doc->groups[i].kind, kind) == 0) return &doc->groups[i];
  return NULL;
}

/* Two passes: count per kind (kinds in order of first appearance), then
 * fill each group's array in file order. */
static int build_groups(ini_doc *doc) {
  doc->groups = value_arena_alloc(doc->arena, (doc->nsecs ? doc->nsecs : 1) * sizeof *doc->groups);
  if (!doc->groups) return -ENOMEM;
  for (size_t i = 0; i < doc->nsecs; i++) {
    ini_group *g = find_group(doc, doc->secs[i].kind);
    if (!g) g = &doc->groups[doc->ngroups++], g->kind = doc->secs[i].kind;
    g->n++;
  }
  for (size_t i = 0; i < doc->ngroups; i++) {
    doc->groups[i].secs = value_arena_alloc(doc->arena, doc->groups[i].n * sizeof(elide_section));
    if (!doc->groups[i].secs) return -ENOMEM;
    doc->groups[i].n = 0;
  }
  for (size_t i = 0; i < doc->nsecs; i++) {
    ini_group *g = find_group(doc, doc->secs[i].kind);
    g->secs[g->n++] = (elide_section){doc->secs[i].name, doc->secs[i].values, doc->secs[i].nkeys};
  }
  return 0;
}

/* "syntax error", with a hint when the line was an attempted continuation. */
static int syntax_error(load_state *st, int line) {
  const char *p = st->buf;
  for (int i = 1; i < line && p; i++) {
    p = memchr(p, '\n', (size_t)(st->buf + st->len - p));
    if (p) p++;
  }
  int indented = p && p < st->buf + st->len && is_blank(*p);
  st->rc = 0;
  return fail(st, -EINVAL, line, "syntax error (%s)",
              indented ? "continuation lines are not supported"
                       : "expected \"key = value\", \"[section]\" or a comment");
}

static int parse_doc(load_state *st) {
  int r = ini_parse_stream(read_line, st, on_pair, st);
  /* inih keeps going after a syntax error; the reader stops at ours, so any
   * line inih reports comes before the line of our own error. */
  if (r > 0) return syntax_error(st, r);
  if (st->rc) return st->rc;
  if (r < 0) return fail(st, -ENOMEM, 0, "out of memory");
  for (size_t i = 0; i < st->doc->nsecs; i++)
    if (fill_defaults(st, &st->doc->secs[i]) < 0) return st->rc;
  if (build_groups(st->doc) < 0) return fail(st, -ENOMEM, 0, "out of memory");
  for (size_t i = 0; i < st->doc->nsecs; i++) st->doc->secs[i].keys = NULL;
  return 0;
}

/* ---------------------------------------------------------------------------
 * Public
 * ------------------------------------------------------------------------- */

int ini_load(const char *path, const ini_schema *schema, ini_doc **out, char *err, size_t errlen) {
  char *buf = NULL;
  size_t len = 0;
  int rc;
  if (err && errlen) err[0] = '\0';
  if (out) *out = NULL;
  if (!out || !path || !schema)
    return error_at(err, errlen, -EINVAL, "ini_load", 0, "invalid argument");
  if (path[0] != '/') return error_at(err, errlen, -EINVAL, path, 0, "not an absolute path");
  if ((rc = check_schema(schema, err, errlen)) < 0) return rc;
  if ((rc = load_file(path, &buf, &len, err, errlen)) < 0) return rc;

  ini_doc *doc = calloc(1, sizeof *doc);
  if (doc) doc->arena = value_arena_new();
  if (doc && doc->arena) doc->path = value_arena_strdup(doc->arena, path);
  if (!doc || !doc->path) {
    free(buf);
    ini_free(doc);
    return error_at(err, errlen, -ENOMEM, path, 0, "out of memory");
  }
  load_state st = {.path = doc->path, .doc = doc, .schema = schema, .buf = buf, .len = len,
                   .cur = -1, .err = err, .errlen = errlen};
  rc = parse_doc(&st);
  free(buf);
  if (rc < 0) {
    ini_free(doc);
    return rc;
  }
  *out = doc;
  return 0;
}

int ini_peek(const char *path, const char *section, const char *key, char *out, size_t outlen,
             char *err, size_t errlen) {
  char *buf = NULL;
  size_t len = 0;
  int rc;
  if (err && errlen) err[0] = '\0';
  if (!path || !section || !key || !out || outlen == 0)
    return error_at(err, errlen, -EINVAL, "ini_peek", 0, "invalid argument");
  out[0] = '\0';
  if (path[0] != '/') return error_at(err, errlen, -EINVAL, path, 0, "not an absolute path");
  if ((rc = load_file(path, &buf, &len, err, errlen)) < 0) return rc;
  peek_query q = {.section = section, .key = key, .out = out, .outlen = outlen};
  load_state st = {.path = path, .peek = &q, .buf = buf, .len = len, .cur = -1, .err = err,
                   .errlen = errlen};
  int r = ini_parse_stream(read_line, &st, on_pair, &st);
  if (r > 0) rc = syntax_error(&st, r);
  else if (st.rc) rc = st.rc;
  else if (r < 0) rc = error_at(err, errlen, -ENOMEM, path, 0, "out of memory");
  free(buf);
  if (rc < 0) out[0] = '\0';
  return rc < 0 ? rc : q.found;
}

static const ini_sec *lookup(const ini_doc *doc, const char *kind, const char *name) {
  if (!doc || !kind) return NULL;
  if (strcmp(kind, "driver") == 0 || strcmp(kind, "daemon") == 0) name = "";
  return name ? find_sec(doc, kind, name) : NULL;
}

const elide_value *ini_section_values(const ini_doc *doc, const char *kind, const char *name,
                                      size_t *nvalues) {
  const ini_sec *s = lookup(doc, kind, name);
  if (nvalues) *nvalues = s ? s->nkeys : 0;
  return s ? s->values : NULL;
}

int ini_line(const ini_doc *doc, const char *kind, const char *name, const char *key) {
  const ini_sec *s = lookup(doc, kind, name);
  if (!s) return 0;
  if (!key) return s->line;
  for (size_t i = 0; i < s->nkeys; i++)
    if (strcmp(s->values[i].name, key) == 0) return s->key_lines[i];
  return 0;
}

const elide_section *ini_sections(const ini_doc *doc, const char *prefix, size_t *nsections) {
  const ini_group *g = doc && prefix ? find_group(doc, prefix) : NULL;
  if (nsections) *nsections = g ? g->n : 0;
  return g ? g->secs : NULL;
}

const char *ini_path(const ini_doc *doc) { return doc ? doc->path : NULL; }

void ini_free(ini_doc *doc) {
  if (!doc) return;
  free(doc->secs);
  value_arena_free(doc->arena);
  free(doc);
}
