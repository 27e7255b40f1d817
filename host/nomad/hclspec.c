/* The hclspec schema (nomad-plugin-protocol.md §2.5, §3.6) of a cty_field
 * table, serialized with protobuf-c: what ConfigSchema/TaskConfigSchema send. */
#include "cty.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nomad/hcl_spec.pb-c.h"

typedef Hashicorp__Nomad__Plugins__Shared__Hclspec__Spec hs_spec;
typedef Hashicorp__Nomad__Plugins__Shared__Hclspec__Object hs_object;
typedef Hashicorp__Nomad__Plugins__Shared__Hclspec__Object__AttributesEntry hs_entry;
typedef Hashicorp__Nomad__Plugins__Shared__Hclspec__Attr hs_attr;
typedef Hashicorp__Nomad__Plugins__Shared__Hclspec__Default hs_default;
typedef Hashicorp__Nomad__Plugins__Shared__Hclspec__Literal hs_literal;

/* Every message one attribute needs; the tree points into an array of
 * these, which lives only until the Spec is serialized. */
typedef struct {
  hs_entry entry;
  hs_spec outer;   /* entry.value: the Attr itself, or Default */
  hs_spec primary; /* Default.primary: the Attr */
  hs_spec fallback;
  hs_attr attr;
  hs_default def;
  hs_literal lit;
  char *owned; /* lit.value when it had to be built (quoted strings) */
} hs_node;

/* Quotes s as an HCL native-syntax string literal, which Nomad parses as an
 * expression: escapes backslash, quote and control characters, and doubles
 * the template introducers "${" -> "$${", "%{" -> "%%{" so the value is
 * taken literally. Returns a malloc'd string or NULL. */
static char *hcl_quote(const char *s) {
  size_t n = strlen(s);
  char *q = malloc(n * 6 + 3); /* worst case: every byte becomes \u00XX */
  if (!q)
    return NULL;
  size_t o = 0;
  q[o++] = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    switch (ch) {
    case '\\':
    case '"':
      q[o++] = '\\';
      q[o++] = (char)ch;
      break;
    case '\n':
      q[o++] = '\\';
      q[o++] = 'n';
      break;
    case '\r':
      q[o++] = '\\';
      q[o++] = 'r';
      break;
    case '\t':
      q[o++] = '\\';
      q[o++] = 't';
      break;
    case '$':
    case '%':
      q[o++] = (char)ch;
      if (s[i + 1] == '{')
        q[o++] = (char)ch;
      break;
    default:
      if (ch < 0x20 || ch == 0x7f)
        o += (size_t)snprintf(q + o, 7, "\\u%04x", ch);
      else
        q[o++] = (char)ch; /* UTF-8 passes through: HCL source is UTF-8 */
    }
  }
  q[o++] = '"';
  q[o] = '\0';
  return q;
}

/* The Literal expression for a field's default, or NULL for none. Numbers
 * and bools are HCL expressions as written (the table check guarantees the
 * syntax); lists and maps default to empty so Nomad never sends null. */
static const char *literal_text(const cty_field *f, char **owned) {
  *owned = NULL;
  switch (f->type) {
  case CTY_LIST_STRING:
    return "[]";
  case CTY_MAP_STRING:
    return "{}";
  case CTY_STRING:
    if (!f->default_text)
      return NULL;
    return *owned = hcl_quote(f->default_text);
  case CTY_NUMBER:
  case CTY_BOOL:
    return f->default_text;
  }
  return NULL;
}

/* Fills node for field f; returns -1 only on allocation failure. protobuf-c
 * never writes through the char pointers it packs, so const strings from
 * the table are referenced directly. */
static int build_node(hs_node *nd, const cty_field *f) {
  *nd = (hs_node){
      .entry = HASHICORP__NOMAD__PLUGINS__SHARED__HCLSPEC__OBJECT__ATTRIBUTES_ENTRY__INIT,
      .outer = HASHICORP__NOMAD__PLUGINS__SHARED__HCLSPEC__SPEC__INIT,
      .primary = HASHICORP__NOMAD__PLUGINS__SHARED__HCLSPEC__SPEC__INIT,
      .fallback = HASHICORP__NOMAD__PLUGINS__SHARED__HCLSPEC__SPEC__INIT,
      .attr = HASHICORP__NOMAD__PLUGINS__SHARED__HCLSPEC__ATTR__INIT,
      .def = HASHICORP__NOMAD__PLUGINS__SHARED__HCLSPEC__DEFAULT__INIT,
      .lit = HASHICORP__NOMAD__PLUGINS__SHARED__HCLSPEC__LITERAL__INIT,
  };
  char *name = (char *)(f->name ? f->name : "");
  nd->entry.key = name;
  nd->entry.value = &nd->outer;
  /* The name is explicit even where the Object key would imply it:
   * inside Default, Nomad does not pass the implied name down (§3.3). */
  nd->attr.name = name;
  nd->attr.type = (char *)cty_type_name(f->type);
  nd->attr.required = f->required ? 1 : 0;

  const char *lit = literal_text(f, &nd->owned);
  if (f->type == CTY_STRING && f->default_text && !lit)
    return -1;
  if (!lit) {
    nd->outer.block_case = HASHICORP__NOMAD__PLUGINS__SHARED__HCLSPEC__SPEC__BLOCK_ATTR;
    nd->outer.attr = &nd->attr;
    return 0;
  }
  nd->lit.value = (char *)lit;
  nd->fallback.block_case = HASHICORP__NOMAD__PLUGINS__SHARED__HCLSPEC__SPEC__BLOCK_LITERAL;
  nd->fallback.literal = &nd->lit;
  nd->primary.block_case = HASHICORP__NOMAD__PLUGINS__SHARED__HCLSPEC__SPEC__BLOCK_ATTR;
  nd->primary.attr = &nd->attr;
  nd->def.primary = &nd->primary;
  nd->def.default_ = &nd->fallback;
  nd->outer.block_case = HASHICORP__NOMAD__PLUGINS__SHARED__HCLSPEC__SPEC__BLOCK_DEFAULT;
  nd->outer.default_ = &nd->def;
  return 0;
}

/* Serializes Spec{object{attributes: entries}}. An empty Object is still
 * set in the oneof: Nomad rejects a nil spec (§3.6). */
static uint8_t *pack_object(hs_entry **entries, size_t n, size_t *len) {
  hs_object obj = HASHICORP__NOMAD__PLUGINS__SHARED__HCLSPEC__OBJECT__INIT;
  obj.n_attributes = n;
  obj.attributes = entries;
  hs_spec root = HASHICORP__NOMAD__PLUGINS__SHARED__HCLSPEC__SPEC__INIT;
  root.block_case = HASHICORP__NOMAD__PLUGINS__SHARED__HCLSPEC__SPEC__BLOCK_OBJECT;
  root.object = &obj;
  size_t size = protobuf_c_message_get_packed_size(&root.base);
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf)
    return NULL;
  protobuf_c_message_pack(&root.base, buf);
  if (len)
    *len = size;
  return buf;
}

uint8_t *hclspec_pack_object(const cty_field *fields, size_t nfields, size_t *len) {
  hs_node *nodes = calloc(nfields ? nfields : 1, sizeof *nodes);
  hs_entry **entries = calloc(nfields ? nfields : 1, sizeof *entries);
  uint8_t *out = NULL;
  size_t built = 0;
  if (nodes && entries) {
    while (built < nfields && build_node(&nodes[built], &fields[built]) == 0) {
      entries[built] = &nodes[built].entry;
      built++;
    }
    if (built == nfields)
      out = pack_object(entries, nfields, len);
  }
  for (size_t i = 0; i < built; i++)
    free(nodes[i].owned);
  free(nodes);
  free(entries);
  return out;
}
