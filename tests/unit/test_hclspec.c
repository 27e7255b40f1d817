/* Unit tests of host/nomad/hclspec.c: unpacks the serialized Spec with
 * protobuf-c and checks the tree, and the HCL quoting of string defaults. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cty.h"
#include "nomad/hcl_spec.pb-c.h"

typedef Hashicorp__Nomad__Plugins__Shared__Hclspec__Spec hs_spec;
typedef Hashicorp__Nomad__Plugins__Shared__Hclspec__Attr hs_attr;

#define CASE_OBJECT HASHICORP__NOMAD__PLUGINS__SHARED__HCLSPEC__SPEC__BLOCK_OBJECT
#define CASE_ATTR HASHICORP__NOMAD__PLUGINS__SHARED__HCLSPEC__SPEC__BLOCK_ATTR
#define CASE_DEFAULT HASHICORP__NOMAD__PLUGINS__SHARED__HCLSPEC__SPEC__BLOCK_DEFAULT
#define CASE_LITERAL HASHICORP__NOMAD__PLUGINS__SHARED__HCLSPEC__SPEC__BLOCK_LITERAL

static hs_spec *pack_unpack(const cty_field *f, size_t n) {
  size_t len = 0;
  uint8_t *buf = hclspec_pack_object(f, n, &len);
  CHECK(buf != NULL);
  if (!buf)
    return NULL;
  hs_spec *s = hashicorp__nomad__plugins__shared__hclspec__spec__unpack(NULL, len, buf);
  free(buf);
  CHECK(s != NULL && s->block_case == CASE_OBJECT && s->object);
  return s;
}

static const hs_spec *attribute(const hs_spec *root, const char *name) {
  for (size_t i = 0; i < root->object->n_attributes; i++)
    if (strcmp(root->object->attributes[i]->key, name) == 0)
      return root->object->attributes[i]->value;
  return NULL;
}

/* The Attr of an attribute, whether bare or Default.primary. */
static const hs_attr *attr_of(const hs_spec *s) {
  if (!s)
    return NULL;
  if (s->block_case == CASE_ATTR)
    return s->attr;
  if (s->block_case == CASE_DEFAULT && s->default_->primary &&
      s->default_->primary->block_case == CASE_ATTR)
    return s->default_->primary->attr;
  return NULL;
}

/* Default.default's Literal value, or NULL for a bare Attr. */
static const char *literal_of(const hs_spec *s) {
  if (!s || s->block_case != CASE_DEFAULT || !s->default_->default_ ||
      s->default_->default_->block_case != CASE_LITERAL)
    return NULL;
  return s->default_->default_->literal->value;
}

static const char *const modes[] = {"fast", "safe", NULL};
static const cty_field T[] = {
    {"command", CTY_STRING, 1, NULL, NULL, "required string"},
    {"mode", CTY_STRING, 0, "safe", modes, "restricted string with default"},
    {"args", CTY_LIST_STRING, 0, NULL, NULL, "list"},
    {"env", CTY_MAP_STRING, 0, NULL, NULL, "map"},
    {"timeout", CTY_NUMBER, 0, "2.5", NULL, "number with default"},
    {"nice", CTY_NUMBER, 0, "-3", NULL, "negative number"},
    {"limit", CTY_NUMBER, 0, NULL, NULL, "number without default"},
    {"debug", CTY_BOOL, 0, "true", NULL, "bool with default"},
    {"quiet", CTY_BOOL, 1, NULL, NULL, "required bool"},
};
#define NT (sizeof T / sizeof T[0])

static void check_attr(const hs_spec *root, const char *name, const char *type, int required,
                       const char *literal) {
  const hs_spec *s = attribute(root, name);
  const hs_attr *a = attr_of(s);
  CHECK(a != NULL);
  if (!a)
    return;
  CHECK(strcmp(a->name, name) == 0); /* explicit even where implied */
  CHECK(strcmp(a->type, type) == 0);
  CHECK(!!a->required == required);
  if (literal) {
    CHECK(s->block_case == CASE_DEFAULT);
    CHECK(literal_of(s) && strcmp(literal_of(s), literal) == 0);
  } else {
    CHECK(s->block_case == CASE_ATTR);
  }
}

static void test_tree(void) {
  hs_spec *root = pack_unpack(T, NT);
  if (!root)
    return;
  CHECK(root->object->n_attributes == NT);
  check_attr(root, "command", "string", 1, NULL);
  check_attr(root, "mode", "string", 0, "\"safe\"");
  check_attr(root, "args", "list(string)", 0, "[]");
  check_attr(root, "env", "map(string)", 0, "{}");
  check_attr(root, "timeout", "number", 0, "2.5");
  check_attr(root, "nice", "number", 0, "-3");
  check_attr(root, "limit", "number", 0, NULL);
  check_attr(root, "debug", "bool", 0, "true");
  check_attr(root, "quiet", "bool", 1, NULL);
  /* Object keys are the field names, in table order. */
  for (size_t i = 0; i < NT; i++)
    CHECK(strcmp(root->object->attributes[i]->key, T[i].name) == 0);
  hashicorp__nomad__plugins__shared__hclspec__spec__free_unpacked(root, NULL);
}

static void test_empty(void) {
  /* No options still yields a set Object (Nomad rejects a nil spec). */
  size_t len = 99;
  uint8_t *buf = hclspec_pack_object(NULL, 0, &len);
  CHECK(buf && len == 2 && buf[0] == 0x0a && buf[1] == 0x00);
  free(buf);
  hs_spec *root = pack_unpack(NULL, 0);
  CHECK(root && root->object->n_attributes == 0);
  if (root)
    hashicorp__nomad__plugins__shared__hclspec__spec__free_unpacked(root, NULL);
}

/* ---- HCL quoting ------------------------------------------------------ */

static char *literal_for(const char *def) {
  cty_field f[1] = {{"s", CTY_STRING, 0, def, NULL, ""}};
  hs_spec *root = pack_unpack(f, 1);
  if (!root)
    return NULL;
  const char *lit = literal_of(attribute(root, "s"));
  char *copy = lit ? strdup(lit) : NULL;
  hashicorp__nomad__plugins__shared__hclspec__spec__free_unpacked(root, NULL);
  return copy;
}

static int hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Evaluates an HCL quoted string literal as hclsyntax would, for literals
 * without interpolation: escapes, "$${" and "%%{" are literal "${" "%{";
 * an unescaped "${" or "%{", a raw newline, or anything after the closing
 * quote is an error (NULL). Handles the \u escapes below U+0080 we emit. */
static char *hcl_eval_string(const char *lit) {
  size_t n = strlen(lit);
  if (n < 2 || lit[0] != '"' || lit[n - 1] != '"')
    return NULL;
  char *out = malloc(n), *o = out;
  for (size_t i = 1; i < n - 1; i++) {
    char ch = lit[i];
    if (ch == '\n' || ch == '\r' || (ch == '"' && i != n - 1)) {
      free(out);
      return NULL;
    }
    if (ch == '\\') {
      char e = lit[++i];
      if (e == 'n')
        *o++ = '\n';
      else if (e == 'r')
        *o++ = '\r';
      else if (e == 't')
        *o++ = '\t';
      else if (e == '"' || e == '\\')
        *o++ = e;
      else if (e == 'u' && i + 4 < n - 1 && lit[i + 1] == '0' && lit[i + 2] == '0' &&
               hexval(lit[i + 3]) >= 0 && hexval(lit[i + 4]) >= 0 && hexval(lit[i + 3]) < 8) {
        *o++ = (char)(hexval(lit[i + 3]) * 16 + hexval(lit[i + 4]));
        i += 4;
      } else {
        free(out);
        return NULL;
      }
    } else if ((ch == '$' || ch == '%') && lit[i + 1] == ch && lit[i + 2] == '{') {
      *o++ = ch; /* "$${" -> "${" */
      *o++ = '{';
      i += 2;
    } else if ((ch == '$' || ch == '%') && lit[i + 1] == '{') {
      free(out); /* a real template sequence */
      return NULL;
    } else {
      *o++ = ch;
    }
  }
  *o = '\0';
  return out;
}

static void check_quote(const char *def, const char *want) {
  char *lit = literal_for(def);
  CHECK(lit && strcmp(lit, want) == 0);
  if (lit && strcmp(lit, want) != 0)
    fprintf(stderr, "  quoting [%s]: got [%s] want [%s]\n", def, lit, want);
  char *back = lit ? hcl_eval_string(lit) : NULL;
  CHECK(back && strcmp(back, def) == 0);
  free(back);
  free(lit);
}

static void test_quoting(void) {
  check_quote("", "\"\"");
  check_quote("plain text", "\"plain text\"");
  check_quote("a\"b\\c", "\"a\\\"b\\\\c\"");
  check_quote("l1\nl2\tt\r", "\"l1\\nl2\\tt\\r\"");
  check_quote("${HOME}/x", "\"$${HOME}/x\"");
  check_quote("%{if x}y%{endif}", "\"%%{if x}y%%{endif}\"");
  check_quote("$${already}", "\"$$${already}\"");
  check_quote("%%{", "\"%%%{\"");
  check_quote("100% done, $5, {braces} $ %", "\"100% done, $5, {braces} $ %\"");
  check_quote("end$", "\"end$\"");
  check_quote("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
  check_quote("h\xc3\xa9llo \xe2\x82\xac", "\"h\xc3\xa9llo \xe2\x82\xac\"");
  check_quote("\\${x}", "\"\\\\$${x}\"");

  /* Random strings over the awkward characters always evaluate back. */
  static const char alphabet[] = "$%{}\\\"\n\r\t a\x01\x7f";
  uint64_t x = 0x9e3779b97f4a7c15u;
  int ok = 1;
  for (int iter = 0; iter < 3000; iter++) {
    char s[24];
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t n = (size_t)(x % 23);
    for (size_t i = 0; i < n; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      s[i] = alphabet[x % (sizeof alphabet - 1)];
    }
    s[n] = '\0';
    char *lit = literal_for(s);
    char *back = lit ? hcl_eval_string(lit) : NULL;
    if (!back || strcmp(back, s) != 0)
      ok = 0;
    free(back);
    free(lit);
  }
  CHECK(ok);
}

/* The schema and the decoder come from one table: every field the schema
 * names is one the decoder accepts, with the type the decoder enforces. */
static void test_agrees_with_decoder(void) {
  char err[256];
  CHECK(cty_table_check(T, NT, err, sizeof err) == 0);
  hs_spec *root = pack_unpack(T, NT);
  if (!root)
    return;
  for (size_t i = 0; i < root->object->n_attributes; i++) {
    const char *key = root->object->attributes[i]->key;
    const hs_attr *a = attr_of(root->object->attributes[i]->value);
    size_t k = 0;
    while (k < NT && strcmp(T[k].name, key) != 0)
      k++;
    CHECK(k < NT && a && strcmp(a->type, cty_type_name(T[k].type)) == 0);
  }
  hashicorp__nomad__plugins__shared__hclspec__spec__free_unpacked(root, NULL);
}

int main(void) {
  test_tree();
  test_empty();
  test_quoting();
  test_agrees_with_decoder();
  return CHECK_DONE();
}
