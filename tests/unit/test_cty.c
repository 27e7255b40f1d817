/* Unit tests of host/nomad/cty.c: decoding every wire form of every type,
 * defaults/required/allowed, hostile input, messages, and encoder round trips. */
#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cty.h"

/* ---- helpers ---------------------------------------------------------- */

typedef struct {
  uint8_t *b;
  size_t n, cap;
} raw;

static void put(raw *r, const void *p, size_t n) {
  if (r->n + n > r->cap) {
    r->cap = (r->n + n) * 2 + 64;
    r->b = realloc(r->b, r->cap);
  }
  memcpy(r->b + r->n, p, n);
  r->n += n;
}

static void put_byte(raw *r, uint8_t b) { put(r, &b, 1); }

/* Appends bytes written as hex pairs ("81 a1 6e"); spaces are ignored. */
static void put_hex(raw *r, const char *hex) {
  for (const char *h = hex; *h;) {
    if (*h == ' ') {
      h++;
      continue;
    }
    unsigned v;
    sscanf(h, "%2x", &v);
    put_byte(r, (uint8_t)v);
    h += 2;
  }
}

/* A fixstr (< 32 bytes). */
static void put_str(raw *r, const char *s) {
  size_t n = strlen(s);
  put_byte(r, (uint8_t)(0xa0 | n));
  put(r, s, n);
}

static void raw_free(raw *r) {
  free(r->b);
  *r = (raw){0};
}

static int all_null(const cty_value *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!v[i].is_null || v[i].str || v[i].items || v[i].values || v[i].n || v[i].num_is_int)
      return 0;
  return 1;
}

static char err[512];

/* Decodes from an exactly-sized heap copy, so ASan flags any over-read. On
 * failure checks the all-null contract. */
static int decode(const cty_field *f, size_t nf, const void *buf, size_t len, cty_value *out) {
  void *copy = NULL;
  if (len) {
    copy = malloc(len);
    memcpy(copy, buf, len);
  }
  memset(err, 'x', sizeof err);
  int rc = cty_decode_object(f, nf, copy, len, "task config", out, err, sizeof err);
  free(copy);
  if (rc) {
    CHECK(rc < 0);
    CHECK(all_null(out, nf));
    CHECK(strncmp(err, "task config: ", 13) == 0);
  }
  return rc;
}

/* ---- tables ----------------------------------------------------------- */

static const char *const langs[] = {"python", "js", NULL};

enum { F_ARGS, F_COUNT, F_ENABLED, F_ENV, F_LANGUAGE, F_RATIO, F_SCRIPT, NF };
static const cty_field T[NF] = {
    {"args", CTY_LIST_STRING, 0, NULL, NULL, "arguments"},
    {"count", CTY_NUMBER, 0, "3", NULL, "a number with a default"},
    {"enabled", CTY_BOOL, 0, "false", NULL, "a bool with a default"},
    {"env", CTY_MAP_STRING, 0, NULL, NULL, "environment"},
    {"language", CTY_STRING, 0, "python", langs, "restricted string"},
    {"ratio", CTY_NUMBER, 0, NULL, NULL, "a number without default"},
    {"script", CTY_STRING, 1, NULL, NULL, "required string"},
};

/* One number field, one string field, one bool: for single-value tests. */
static const cty_field N1[] = {{"n", CTY_NUMBER, 0, NULL, NULL, ""}};
static const cty_field S1[] = {{"s", CTY_STRING, 0, NULL, NULL, ""}};
static const cty_field B1[] = {{"b", CTY_BOOL, 0, NULL, NULL, ""}};
static const cty_field L1[] = {{"args", CTY_LIST_STRING, 0, NULL, NULL, ""}};
static const cty_field M1[] = {{"env", CTY_MAP_STRING, 0, NULL, NULL, ""}};

/* Decodes {name: <valhex>} against a one-field table. */
static int decode1(const cty_field *f, const char *valhex, cty_value *out) {
  raw r = {0};
  put_byte(&r, 0x81);
  put_str(&r, f->name);
  put_hex(&r, valhex);
  int rc = decode(f, 1, r.b, r.n, out);
  raw_free(&r);
  return rc;
}

/* {name: "text"} with the text as a str8 (any length < 256). */
static int decode1_text(const cty_field *f, const char *text, cty_value *out) {
  raw r = {0};
  put_byte(&r, 0x81);
  put_str(&r, f->name);
  put_byte(&r, 0xd9);
  put_byte(&r, (uint8_t)strlen(text));
  put(&r, text, strlen(text));
  int rc = decode(f, 1, r.b, r.n, out);
  raw_free(&r);
  return rc;
}

/* ---- the protocol document's example (§3.5) --------------------------- */

static const cty_field RAW_EXEC[] = {
    {"command", CTY_STRING, 1, NULL, NULL, ""},
    {"args", CTY_LIST_STRING, 0, NULL, NULL, ""},
    {"cgroup_v1_override", CTY_MAP_STRING, 0, NULL, NULL, ""},
    {"cgroup_v2_override", CTY_STRING, 0, NULL, NULL, ""},
    {"denied_envvars", CTY_LIST_STRING, 0, NULL, NULL, ""},
    {"oom_score_adj", CTY_NUMBER, 0, NULL, NULL, ""},
    {"work_dir", CTY_STRING, 0, NULL, NULL, ""},
};

#define RAW_EXEC_HEX(v1, denied)                                                               \
  "87 a4 61726773 91 a2 3130 b2 6367726f75705f76315f6f76657272696465 " v1                      \
  " b2 6367726f75705f76325f6f76657272696465 c0 a7 636f6d6d616e64 aa 2f62696e2f736c656570"     \
  " ae 64656e6965645f656e7676617273 " denied " ad 6f6f6d5f73636f72655f61646a c0"               \
  " a8 776f726b5f646972 c0"

static void test_protocol_example(void) {
  raw in = {0}, want = {0};
  put_hex(&in, RAW_EXEC_HEX("c0", "c0"));
  cty_value v[7];
  CHECK(decode(RAW_EXEC, 7, in.b, in.n, v) == 0);
  CHECK(v[0].str && strcmp(v[0].str, "/bin/sleep") == 0);
  CHECK(!v[1].is_null && v[1].n == 1 && strcmp(v[1].items[0], "10") == 0 && !v[1].items[1]);
  CHECK(!v[2].is_null && v[2].n == 0 && v[2].items && !v[2].items[0]); /* map -> empty */
  CHECK(v[3].is_null && !v[3].str);
  CHECK(!v[4].is_null && v[4].n == 0);
  CHECK(v[5].is_null && v[6].is_null);

  /* Re-encoding reproduces the bytes, except that the null list and map
   * now carry their defaults (empty), as Nomad sends them with our schema. */
  size_t len = 0;
  uint8_t *enc = cty_encode_object(RAW_EXEC, 7, v, &len);
  put_hex(&want, RAW_EXEC_HEX("80", "90"));
  CHECK(enc && len == want.n && memcmp(enc, want.b, len) == 0);
  free(enc);
  cty_values_free(v, 7);
  raw_free(&in);
  raw_free(&want);
}

/* ---- numbers ---------------------------------------------------------- */

typedef struct {
  const char *hex;
  int is_int;
  int64_t inum;
  double num;
} num_case;

static void test_numbers_binary(void) {
  static const num_case cases[] = {
      {"00", 1, 0, 0},
      {"7f", 1, 127, 127},
      {"cc ff", 1, 255, 255},
      {"cd ff ff", 1, 65535, 65535},
      {"ce ff ff ff ff", 1, 4294967295LL, 4294967295.0},
      {"cf 7f ff ff ff ff ff ff ff", 1, INT64_MAX, 9223372036854775807.0},
      {"cf 80 00 00 00 00 00 00 00", 0, 0, 9223372036854775808.0},
      {"cf ff ff ff ff ff ff ff ff", 0, 0, 18446744073709551615.0},
      {"e0", 1, -32, -32},
      {"ff", 1, -1, -1},
      {"d0 80", 1, -128, -128},
      {"d0 05", 1, 5, 5}, /* signed encoding of a positive value */
      {"d1 80 00", 1, -32768, -32768},
      {"d2 80 00 00 00", 1, INT32_MIN, (double)INT32_MIN},
      {"d3 80 00 00 00 00 00 00 00", 1, INT64_MIN, -9223372036854775808.0},
      {"ca 3f c0 00 00", 0, 0, 1.5},               /* float32 */
      {"ca 40 40 00 00", 1, 3, 3},                 /* integral float32 */
      {"cb 3f b9 99 99 99 99 99 9a", 0, 0, 0.1},   /* float64 */
      {"cb c0 09 21 fb 54 44 2d 18", 0, 0, -3.141592653589793},
      {"cb 80 00 00 00 00 00 00 00", 1, 0, 0},     /* -0.0 */
      {"cb 43 e0 00 00 00 00 00 00", 0, 0, 9223372036854775808.0}, /* 2^63 */
      {"cb c3 e0 00 00 00 00 00 00", 1, INT64_MIN, -9223372036854775808.0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cty_value v[1];
    int rc = decode1(N1, cases[i].hex, v);
    CHECK(rc == 0);
    if (rc) {
      fprintf(stderr, "  case %s: %s\n", cases[i].hex, err);
      continue;
    }
    CHECK(!v[0].is_null && v[0].num_is_int == cases[i].is_int);
    CHECK(v[0].num == cases[i].num);
    if (cases[i].is_int)
      CHECK(v[0].inum == cases[i].inum);
    if (v[0].num_is_int != cases[i].is_int || v[0].num != cases[i].num)
      fprintf(stderr, "  case %s: is_int %d num %.17g\n", cases[i].hex, v[0].num_is_int, v[0].num);
    cty_values_free(v, 1);
  }

  cty_value v[1];
  CHECK(decode1(N1, "cb 7f f0 00 00 00 00 00 00", v) == 0); /* +Inf is a cty number */
  CHECK(isinf(v[0].num) && v[0].num > 0 && !v[0].num_is_int);
  CHECK(decode1(N1, "cb ff f0 00 00 00 00 00 00", v) == 0);
  CHECK(isinf(v[0].num) && v[0].num < 0);
  CHECK(decode1(N1, "cb 7f f8 00 00 00 00 00 00", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"n\": number is NaN") == 0);
  CHECK(decode1(N1, "c3", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"n\": expected number, got bool") == 0);
  CHECK(decode1(N1, "90", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"n\": expected number, got array") == 0);
  CHECK(decode1(N1, "c0", v) == 0 && v[0].is_null); /* no default: stays null */
}

typedef struct {
  const char *text;
  int is_int;
  int64_t inum;
  double num;
} text_case;

static void test_numbers_text(void) {
  static const text_case ok[] = {
      {"0.1", 0, 0, 0.1},
      {"100000000000000000000", 0, 0, 1e20},
      {"-3", 1, -3, -3},
      {"1e3", 1, 1000, 1000},
      {"1E+3", 1, 1000, 1000},
      {"3.0", 1, 3, 3},
      {"-0", 1, 0, 0},
      {"0.000", 1, 0, 0},
      {"007", 1, 7, 7},
      {"12.5e1", 1, 125, 125},
      {"1.25e-1", 0, 0, 0.125},
      {"123000e-3", 1, 123, 123},
      {"9223372036854775807", 1, INT64_MAX, 9223372036854775807.0},
      {"9223372036854775808", 0, 0, 9223372036854775808.0},
      {"-9223372036854775808", 1, INT64_MIN, -9223372036854775808.0},
      {"-9223372036854775809", 0, 0, -9223372036854775809.0},
      {"92233720368547758070e-1", 1, INT64_MAX, 9223372036854775807.0},
      {"0.00000000000000000000000000001", 0, 0, 1e-29},
      {"3.14159", 0, 0, 3.14159},
      {"1e-400", 0, 0, 0}, /* underflows to 0 but is not an integer */
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    cty_value v[1];
    int rc = decode1_text(N1, ok[i].text, v);
    CHECK(rc == 0);
    if (rc) {
      fprintf(stderr, "  case \"%s\": %s\n", ok[i].text, err);
      continue;
    }
    CHECK(v[0].num_is_int == ok[i].is_int && v[0].num == ok[i].num);
    if (ok[i].is_int)
      CHECK(v[0].inum == ok[i].inum);
    if (v[0].num_is_int != ok[i].is_int || v[0].num != ok[i].num)
      fprintf(stderr, "  case \"%s\": is_int %d num %.17g\n", ok[i].text, v[0].num_is_int,
              v[0].num);
    cty_values_free(v, 1);
  }

  static const char *const bad[] = {"abc", "", "-", "1.", ".5", "1e", "+1", "0x10", " 1",
                                    "1 ", "inf", "-Inf", "nan", "1,5", "--1", "1e+", "1.2.3",
                                    "1e3.5", "\xc3\xa9"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cty_value v[1];
    CHECK(decode1_text(N1, bad[i], v) == -EINVAL);
    CHECK_STR_CONTAINS(err, "field \"n\": \"");
    CHECK_STR_CONTAINS(err, "\" is not a number");
  }
  cty_value v[1];
  CHECK(decode1_text(N1, "abc", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"n\": \"abc\" is not a number") == 0);
  CHECK(decode1_text(N1, "1e400", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"n\": number \"1e400\" is out of range") == 0);
  CHECK(decode1(N1, "c4 02 34 32", v) == 0 && v[0].inum == 42); /* bin "42" */

  /* A 200-digit integer: valid, approximate, not an int64. */
  char big[201];
  memset(big, '9', 200);
  big[200] = '\0';
  raw r = {0};
  put_hex(&r, "81 a1 6e d9 c8");
  put(&r, big, 200);
  CHECK(decode(N1, 1, r.b, r.n, v) == 0 && !v[0].num_is_int && v[0].num == 1e200);
  raw_free(&r);
}

/* ---- strings and bools ------------------------------------------------ */

static void test_strings(void) {
  cty_value v[1];
  CHECK(decode1(S1, "a3 616263", v) == 0 && strcmp(v[0].str, "abc") == 0);
  cty_values_free(v, 1);
  CHECK(decode1(S1, "a0", v) == 0 && !v[0].is_null && strcmp(v[0].str, "") == 0);
  cty_values_free(v, 1);
  CHECK(decode1(S1, "d9 03 616263", v) == 0 && strcmp(v[0].str, "abc") == 0);
  cty_values_free(v, 1);
  CHECK(decode1(S1, "da 00 03 616263", v) == 0 && strcmp(v[0].str, "abc") == 0);
  cty_values_free(v, 1);
  CHECK(decode1(S1, "db 00 00 00 03 616263", v) == 0 && strcmp(v[0].str, "abc") == 0);
  cty_values_free(v, 1);
  CHECK(decode1(S1, "c4 03 616263", v) == 0 && strcmp(v[0].str, "abc") == 0); /* bin8 */
  cty_values_free(v, 1);
  CHECK(decode1(S1, "c5 00 02 6869", v) == 0 && strcmp(v[0].str, "hi") == 0); /* bin16 */
  cty_values_free(v, 1);
  CHECK(decode1(S1, "a4 f09f9880", v) == 0 && strcmp(v[0].str, "\xf0\x9f\x98\x80") == 0);
  cty_values_free(v, 1);

  /* A long string through the str16 path. */
  raw r = {0};
  put_hex(&r, "81 a1 73 da 11 70");
  for (int i = 0; i < 0x1170; i++)
    put_byte(&r, (uint8_t)('a' + i % 26));
  CHECK(decode(S1, 1, r.b, r.n, v) == 0 && strlen(v[0].str) == 0x1170 && v[0].str[27] == 'b');
  cty_values_free(v, 1);
  raw_free(&r);

  CHECK(decode1(S1, "a3 610062", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"s\": string contains a NUL byte") == 0);
  static const char *const bad_utf8[] = {"a2 c328", "a2 c080", "a3 eda080", "a4 f4908080",
                                         "a1 ff", "a2 e282", "a1 80"};
  for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++) {
    CHECK(decode1(S1, bad_utf8[i], v) == -EINVAL);
    CHECK(strcmp(err, "task config: field \"s\": string is not valid UTF-8") == 0);
  }
  CHECK(decode1(S1, "2a", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"s\": expected string, got integer") == 0);
  CHECK(decode1(S1, "80", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"s\": expected string, got map") == 0);
  CHECK(decode1(S1, "cb 3f b9 99 99 99 99 99 9a", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"s\": expected string, got float") == 0);
}

static void test_bools(void) {
  cty_value v[1];
  CHECK(decode1(B1, "c3", v) == 0 && !v[0].is_null && v[0].boolean == 1);
  CHECK(decode1(B1, "c2", v) == 0 && !v[0].is_null && v[0].boolean == 0);
  CHECK(decode1(B1, "c0", v) == 0 && v[0].is_null);
  CHECK(decode1(B1, "01", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"b\": expected bool, got integer") == 0);
  CHECK(decode1(B1, "a4 74727565", v) == -EINVAL); /* "true" as text is not a bool */
  CHECK(strcmp(err, "task config: field \"b\": expected bool, got string") == 0);
}

/* ---- lists and maps --------------------------------------------------- */

static void test_lists(void) {
  cty_value v[1];
  CHECK(decode1(L1, "93 a1 61 a0 c4 01 63", v) == 0);
  CHECK(v[0].n == 3 && strcmp(v[0].items[0], "a") == 0 && strcmp(v[0].items[1], "") == 0 &&
        strcmp(v[0].items[2], "c") == 0 && v[0].items[3] == NULL && !v[0].values);
  cty_values_free(v, 1);
  CHECK(decode1(L1, "dc 00 01 a1 61", v) == 0 && v[0].n == 1);
  cty_values_free(v, 1);
  CHECK(decode1(L1, "dd 00 00 00 00", v) == 0 && v[0].n == 0 && !v[0].is_null);
  cty_values_free(v, 1);
  CHECK(decode1(L1, "90", v) == 0 && v[0].n == 0 && !v[0].is_null && v[0].items &&
        !v[0].items[0]);
  cty_values_free(v, 1);
  CHECK(decode1(L1, "c0", v) == 0 && v[0].n == 0 && !v[0].is_null && v[0].items);
  cty_values_free(v, 1);

  CHECK(decode1(L1, "93 a1 61 c0 a1 63", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"args\": element 1 is null") == 0);
  CHECK(decode1(L1, "92 a1 61 05", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"args\": element 1: expected string, got integer") ==
        0);
  CHECK(decode1(L1, "91 91 a1 61", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"args\": element 0: expected string, got array") == 0);
  CHECK(decode1(L1, "92 a1 61 d4 00 00", v) == -EINVAL);
  CHECK(strcmp(err,
               "task config: field \"args\": element 1: unsupported msgpack extension type 0") ==
        0);
  CHECK(decode1(L1, "81 a1 61 a1 62", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"args\": expected list(string), got map") == 0);
  CHECK(decode1(L1, "a1 61", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"args\": expected list(string), got string") == 0);
}

static void test_maps(void) {
  cty_value v[1];
  CHECK(decode1(M1, "82 a1 41 a1 31 a1 42 a0", v) == 0);
  CHECK(v[0].n == 2 && strcmp(v[0].items[0], "A") == 0 && strcmp(v[0].values[0], "1") == 0 &&
        strcmp(v[0].items[1], "B") == 0 && strcmp(v[0].values[1], "") == 0 && !v[0].items[2] &&
        !v[0].values[2]);
  cty_values_free(v, 1);
  CHECK(decode1(M1, "80", v) == 0 && v[0].n == 0 && v[0].items && v[0].values);
  cty_values_free(v, 1);
  CHECK(decode1(M1, "c0", v) == 0 && v[0].n == 0 && !v[0].is_null && v[0].values);
  cty_values_free(v, 1);
  CHECK(decode1(M1, "de 00 01 a1 41 a1 31", v) == 0 && v[0].n == 1);
  cty_values_free(v, 1);

  CHECK(decode1(M1, "83 a1 41 a1 31 a1 42 a1 32 a1 41 a1 33", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"env\": duplicate key \"A\"") == 0);
  CHECK(decode1(M1, "82 a1 41 a1 31 c4 01 41 a1 33", v) == -EINVAL); /* str "A" == bin "A" */
  CHECK(strcmp(err, "task config: field \"env\": duplicate key \"A\"") == 0);
  CHECK(decode1(M1, "81 a1 41 c0", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"env\": key \"A\" is null") == 0);
  CHECK(decode1(M1, "81 a1 41 07", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"env\": key \"A\": expected string, got integer") == 0);
  CHECK(decode1(M1, "82 a1 41 a1 31 07 a1 31", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"env\": key 1: expected string, got integer") == 0);
  CHECK(decode1(M1, "81 a2 0a22 a1 31", v) == 0); /* control chars are fine in data */
  cty_values_free(v, 1);
  CHECK(decode1(M1, "81 a2 0a22 07", v) == -EINVAL); /* ...and escaped in messages */
  CHECK(strcmp(err, "task config: field \"env\": key \"\\x0a\\\"\": expected string, got integer") ==
        0);
  CHECK(decode1(M1, "81 a1 41 c7 01 0c 00", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"env\": key \"A\": unsupported msgpack extension type 12") ==
        0);
  CHECK(decode1(M1, "92 a1 41 a1 31", v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"env\": expected map(string), got array") == 0);

  /* Many keys: duplicate detection is by sorting, and still exact. */
  raw r = {0};
  put_hex(&r, "81 a3 656e76 de 10 00");
  for (int i = 0; i < 0x1000; i++) {
    char k[8];
    snprintf(k, sizeof k, "k%04d", i == 0xfff ? 17 : i);
    put_str(&r, k);
    put_str(&r, "v");
  }
  CHECK(decode(M1, 1, r.b, r.n, v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"env\": duplicate key \"k0017\"") == 0);
  raw_free(&r);
}

/* ---- the object level ------------------------------------------------- */

static void test_object(void) {
  cty_value v[NF];
  raw r = {0};

  /* Empty buffer: all null, then defaults, then required fails. */
  CHECK(decode(T, NF, NULL, 0, v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"script\": required but not set") == 0);

  /* Only the required key; absent keys are null, defaults apply. */
  put_hex(&r, "81");
  put_str(&r, "script");
  put_str(&r, "run.py");
  CHECK(decode(T, NF, r.b, r.n, v) == 0);
  CHECK(strcmp(v[F_SCRIPT].str, "run.py") == 0);
  CHECK(!v[F_ARGS].is_null && v[F_ARGS].n == 0);
  CHECK(v[F_COUNT].num_is_int && v[F_COUNT].inum == 3 && v[F_COUNT].num == 3);
  CHECK(!v[F_ENABLED].is_null && v[F_ENABLED].boolean == 0);
  CHECK(!v[F_ENV].is_null && v[F_ENV].n == 0);
  CHECK(strcmp(v[F_LANGUAGE].str, "python") == 0);
  CHECK(v[F_RATIO].is_null);
  cty_values_free(v, NF);
  cty_values_free(v, NF); /* idempotent */
  CHECK(all_null(v, NF));
  raw_free(&r);

  /* Keys in any order; explicit null takes the default. */
  put_hex(&r, "84");
  put_str(&r, "script");
  put_str(&r, "x");
  put_str(&r, "language");
  put_str(&r, "js");
  put_str(&r, "count");
  put_hex(&r, "c0");
  put_str(&r, "enabled");
  put_hex(&r, "c3");
  CHECK(decode(T, NF, r.b, r.n, v) == 0);
  CHECK(strcmp(v[F_LANGUAGE].str, "js") == 0 && v[F_COUNT].inum == 3 && v[F_ENABLED].boolean);
  cty_values_free(v, NF);
  raw_free(&r);

  put_hex(&r, "82");
  put_str(&r, "script");
  put_str(&r, "x");
  put_str(&r, "language");
  put_str(&r, "ruby");
  CHECK(decode(T, NF, r.b, r.n, v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"language\": \"ruby\" is not one of: python, js") == 0);
  raw_free(&r);

  put_hex(&r, "82");
  put_str(&r, "script");
  put_hex(&r, "c0");
  put_str(&r, "args");
  put_hex(&r, "90");
  CHECK(decode(T, NF, r.b, r.n, v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"script\": required but not set") == 0);
  raw_free(&r);

  /* Errors in later keys free what earlier keys allocated (ASan/LSan). */
  put_hex(&r, "83");
  put_str(&r, "args");
  put_hex(&r, "92 a1 61 a1 62");
  put_str(&r, "script");
  put_str(&r, "x");
  put_str(&r, "scirpt");
  put_str(&r, "y");
  CHECK(decode(T, NF, r.b, r.n, v) == -EINVAL);
  CHECK(strcmp(err, "task config: unknown field \"scirpt\"") == 0);
  raw_free(&r);

  put_hex(&r, "82");
  put_str(&r, "script");
  put_str(&r, "x");
  put_str(&r, "script");
  put_str(&r, "y");
  CHECK(decode(T, NF, r.b, r.n, v) == -EINVAL);
  CHECK(strcmp(err, "task config: duplicate field \"script\"") == 0);
  raw_free(&r);

  put_hex(&r, "81 01 a1 78");
  CHECK(decode(T, NF, r.b, r.n, v) == -EINVAL);
  CHECK(strcmp(err, "task config: object key 0: expected string, got integer") == 0);
  raw_free(&r);

  put_hex(&r, "81 a4 736372 00 a1 78"); /* "scr\0" is unknown, not "scr" */
  CHECK(decode(T, NF, r.b, r.n, v) == -EINVAL);
  CHECK(strcmp(err, "task config: unknown field \"scr\\x00\"") == 0);
  raw_free(&r);

  static const struct {
    const char *hex, *kind;
  } roots[] = {{"90", "array"}, {"c0", "null"}, {"2a", "integer"}, {"a1 61", "string"},
               {"c3", "bool"},  {"d4 00 00", "extension"}};
  for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
    put_hex(&r, roots[i].hex);
    CHECK(decode(T, NF, r.b, r.n, v) == -EINVAL);
    char want[128];
    snprintf(want, sizeof want, "task config: expected an object (msgpack map), got %s",
             roots[i].kind);
    CHECK(strcmp(err, want) == 0);
    raw_free(&r);
  }

  /* Ext values at field level: cty's unknown values (types 0 and 0x0c). */
  put_hex(&r, "81");
  put_str(&r, "script");
  put_hex(&r, "d4 00 00");
  CHECK(decode(T, NF, r.b, r.n, v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"script\": unsupported msgpack extension type 0") == 0);
  raw_free(&r);
  put_hex(&r, "81");
  put_str(&r, "ratio");
  put_hex(&r, "c7 03 0c 81 01 02");
  CHECK(decode(T, NF, r.b, r.n, v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"ratio\": unsupported msgpack extension type 12") == 0);
  raw_free(&r);
  put_hex(&r, "81");
  put_str(&r, "enabled");
  put_hex(&r, "d6 ff 00 00 00 01"); /* timestamp ext, type -1 */
  CHECK(decode(T, NF, r.b, r.n, v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"enabled\": unsupported msgpack extension type -1") ==
        0);
  raw_free(&r);

  /* An empty table accepts only an empty object (or nothing). */
  put_hex(&r, "80");
  CHECK(decode(NULL, 0, r.b, r.n, NULL) == 0);
  CHECK(decode(NULL, 0, NULL, 0, NULL) == 0);
  raw_free(&r);
  put_hex(&r, "81 a1 61 c0");
  CHECK(decode(NULL, 0, r.b, r.n, NULL) == -EINVAL);
  CHECK(strcmp(err, "task config: unknown field \"a\"") == 0);
  raw_free(&r);

  /* A NULL `what` still yields a prefixed message. */
  char e2[128];
  CHECK(cty_decode_object(S1, 1, "\x90", 1, NULL, v, e2, sizeof e2) == -EINVAL);
  CHECK(strcmp(e2, "config: expected an object (msgpack map), got array") == 0);
  CHECK(cty_decode_object(S1, 1, NULL, 5, "x", v, e2, sizeof e2) == -EINVAL);
  CHECK(all_null(v, 1));
}

/* ---- hostile input ---------------------------------------------------- */

static void test_truncation(void) {
  /* A buffer exercising every container and length-prefixed kind. */
  raw r = {0};
  put_hex(&r, "87");
  put_str(&r, "args");
  put_hex(&r, "dc 00 02 d9 02 6162 da 00 01 63");
  put_str(&r, "count");
  put_hex(&r, "cb 3f f8 00 00 00 00 00 00");
  put_str(&r, "enabled");
  put_hex(&r, "c3");
  put_str(&r, "env");
  put_hex(&r, "de 00 01 c4 01 4b db 00 00 00 01 56");
  put_str(&r, "language");
  put_hex(&r, "a2 6a73");
  put_str(&r, "ratio");
  put_hex(&r, "a3 302e31");
  put_str(&r, "script");
  put_hex(&r, "d3 00 00 00 00 00 00 00 01");
  cty_value v[NF];
  CHECK(decode(T, NF, r.b, r.n, v) == -EINVAL); /* script is not a string */
  r.b[r.n - 9] = 0xa0;                          /* ...now "" + 8 trailing bytes */
  CHECK(decode(T, NF, r.b, r.n, v) == -EBADMSG);
  CHECK_STR_CONTAINS(err, "malformed msgpack: 8 trailing bytes after the object at byte");
  r.n -= 8;
  CHECK(decode(T, NF, r.b, r.n, v) == 0);
  CHECK(v[F_ARGS].n == 2 && strcmp(v[F_ARGS].items[0], "ab") == 0);
  CHECK(strcmp(v[F_ENV].items[0], "K") == 0 && strcmp(v[F_ENV].values[0], "V") == 0);
  CHECK(v[F_COUNT].num == 1.5 && fabs(v[F_RATIO].num - 0.1) == 0 && v[F_ENABLED].boolean);
  cty_values_free(v, NF);

  /* Every proper prefix is malformed; nothing leaks or over-reads. */
  int all_bad = 1;
  for (size_t n = 1; n < r.n; n++) {
    int rc = decode(T, NF, r.b, n, v);
    if (rc != -EBADMSG || !strstr(err, "malformed msgpack: truncated input at byte ")) {
      all_bad = 0;
      fprintf(stderr, "  prefix %zu: rc %d: %s\n", n, rc, err);
    }
  }
  CHECK(all_bad);
  raw_free(&r);

  put_hex(&r, "82 a1 61 c0 a1");
  CHECK(decode(T, NF, r.b, r.n, v) == -EBADMSG);
  CHECK(strcmp(err, "task config: malformed msgpack: truncated input at byte 4 (1 bytes of data, 0 left)") == 0);
  raw_free(&r);
}

static void test_huge_lengths(void) {
  /* Length prefixes and counts far beyond the buffer, at root and field. */
  static const char *const hostile[] = {
      "dd ff ff ff ff", "df ff ff ff ff", "db ff ff ff ff 61", "c6 ff ff ff ff 61",
      "c9 ff ff ff ff 00", "dc ff ff 90", "de ff ff 80 80", "da ff ff",
      "81 a4 61726773 dd ff ff ff ff a1 61",
      "81 a3 656e76 df 7f ff ff ff a1 61 a1 62",
      "81 a6 736372697074 db 7f ff ff ff 61",
      "81 a6 736372697074 c9 00 00 00 10 00 01",
  };
  cty_value v[NF];
  for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
    raw r = {0};
    put_hex(&r, hostile[i]);
    CHECK(decode(T, NF, r.b, r.n, v) == -EBADMSG);
    CHECK_STR_CONTAINS(err, "task config: malformed msgpack: truncated input at byte ");
    raw_free(&r);
  }
  raw r = {0};
  put_hex(&r, "dd ff ff ff ff");
  CHECK(decode(T, NF, r.b, r.n, v) == -EBADMSG);
  CHECK(strcmp(err, "task config: malformed msgpack: truncated input at byte 0 (array of "
                    "4294967295 entries, 0 bytes left)") == 0);
  raw_free(&r);
  put_hex(&r, "c1");
  CHECK(decode(T, NF, r.b, r.n, v) == -EBADMSG);
  CHECK(strcmp(err, "task config: malformed msgpack: reserved type byte 0xc1 at byte 0") == 0);
  raw_free(&r);
  put_hex(&r, "81 a4 61726773 91 c1");
  CHECK(decode(T, NF, r.b, r.n, v) == -EBADMSG);
  CHECK(strcmp(err, "task config: malformed msgpack: reserved type byte 0xc1 at byte 7") == 0);
  raw_free(&r);
}

static void test_nesting(void) {
  cty_value v[NF];
  raw r = {0};
  /* 10000 nested arrays (and maps) inside a field: rejected, no recursion. */
  put_hex(&r, "81 a4 61726773");
  for (int i = 0; i < 10000; i++)
    put_byte(&r, 0x91);
  put_byte(&r, 0x90);
  CHECK(decode(T, NF, r.b, r.n, v) == -EBADMSG);
  CHECK(strcmp(err, "task config: malformed msgpack: nesting deeper than 16 levels at byte 21") ==
        0);
  raw_free(&r);
  put_hex(&r, "81 a3 656e76");
  for (int i = 0; i < 10000; i++)
    put_hex(&r, "81 a1 6b");
  put_byte(&r, 0x80);
  CHECK(decode(T, NF, r.b, r.n, v) == -EBADMSG);
  CHECK_STR_CONTAINS(err, "nesting deeper than 16 levels");
  raw_free(&r);

  /* Exactly at the limit: parsed, then rejected on type. */
  put_hex(&r, "81 a4 61726773");
  for (int i = 0; i < 14; i++)
    put_byte(&r, 0x91);
  put_hex(&r, "91 a1 61");
  CHECK(decode(T, NF, r.b, r.n, v) == -EINVAL);
  CHECK(strcmp(err, "task config: field \"args\": element 0: expected string, got array") == 0);
  raw_free(&r);
  put_hex(&r, "81 a4 61726773");
  for (int i = 0; i < 15; i++)
    put_byte(&r, 0x91);
  put_hex(&r, "91 a1 61");
  CHECK(decode(T, NF, r.b, r.n, v) == -EBADMSG);
  raw_free(&r);
}

static void test_error_buffer(void) {
  cty_value v[NF];
  raw r = {0};
  put_hex(&r, "81 a4 61726773 80");
  CHECK(cty_decode_object(T, NF, r.b, r.n, "task config", v, NULL, 0) == -EINVAL);
  CHECK(cty_decode_object(T, NF, r.b, r.n, "task config", v, err, 0) == -EINVAL);
  char small[12];
  memset(small, 'x', sizeof small);
  CHECK(cty_decode_object(T, NF, r.b, r.n, "task config", v, small, sizeof small) == -EINVAL);
  CHECK(strcmp(small, "task config") == 0);
  memset(small, 'x', sizeof small);
  CHECK(cty_decode_object(T, NF, r.b, r.n, "t", v, small, sizeof small) == -EINVAL);
  CHECK(strcmp(small, "t: field \"a") == 0);
  raw_free(&r);

  /* Long user text in messages is cut, and the allowed list truncates. */
  char longname[200];
  memset(longname, 'q', 199);
  longname[199] = '\0';
  put_hex(&r, "81 d9 c7");
  put(&r, longname, 199);
  put_hex(&r, "c0");
  CHECK(decode(T, NF, r.b, r.n, v) == -EINVAL);
  CHECK(strlen(err) < 13 + 20 + 64 + 8);
  CHECK_STR_CONTAINS(err, "qqq...\"");
  raw_free(&r);
  put_hex(&r, "82");
  put_str(&r, "script");
  put_str(&r, "x");
  put_str(&r, "language");
  put_str(&r, "ruby");
  char mid[60];
  CHECK(cty_decode_object(T, NF, r.b, r.n, "task config", v, mid, sizeof mid) == -EINVAL);
  CHECK(strlen(mid) == sizeof mid - 1);
  raw_free(&r);
}

/* ---- the field table -------------------------------------------------- */

static void test_table_check(void) {
  char e[256];
  CHECK(cty_table_check(T, NF, e, sizeof e) == 0);
  CHECK(cty_table_check(RAW_EXEC, 7, e, sizeof e) == 0);
  CHECK(cty_table_check(NULL, 0, e, sizeof e) == 0);

  static const char *const one[] = {"a", NULL};
  static const struct {
    cty_field f[2];
    const char *msg;
  } bad[] = {
      {{{"a", CTY_STRING, 0, NULL, NULL, ""}, {"a", CTY_BOOL, 0, NULL, NULL, ""}},
       "field \"a\": duplicate name"},
      {{{"9a", CTY_STRING, 0, NULL, NULL, ""}, {"b", CTY_BOOL, 0, NULL, NULL, ""}},
       "entry 0: name is not an HCL identifier"},
      {{{"a", CTY_STRING, 0, NULL, NULL, ""}, {"b c", CTY_BOOL, 0, NULL, NULL, ""}},
       "entry 1: name is not an HCL identifier"},
      {{{"a", CTY_STRING, 0, NULL, NULL, ""}, {NULL, CTY_BOOL, 0, NULL, NULL, ""}},
       "entry 1: name is not an HCL identifier"},
      {{{"a", CTY_NUMBER, 0, "0x1", NULL, ""}, {"b", CTY_BOOL, 0, NULL, NULL, ""}},
       "field \"a\": default \"0x1\" is not a number"},
      {{{"a", CTY_NUMBER, 0, "1", NULL, ""}, {"b", CTY_BOOL, 0, "yes", NULL, ""}},
       "field \"b\": default \"yes\" is not true or false"},
      {{{"a", CTY_STRING, 0, "b", one, ""}, {"b", CTY_BOOL, 0, NULL, NULL, ""}},
       "field \"a\": default \"b\" is not allowed"},
      {{{"a", CTY_NUMBER, 0, NULL, one, ""}, {"b", CTY_BOOL, 0, NULL, NULL, ""}},
       "field \"a\": allowed values need type string"},
      {{{"a", CTY_LIST_STRING, 0, "[]", NULL, ""}, {"b", CTY_BOOL, 0, NULL, NULL, ""}},
       "field \"a\": list(string) cannot have a default (it is empty)"},
      {{{"a", (cty_type)9, 0, NULL, NULL, ""}, {"b", CTY_BOOL, 0, NULL, NULL, ""}},
       "field \"a\": unknown cty_type 9"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char want[256];
    snprintf(want, sizeof want, "cty: field table: %s", bad[i].msg);
    CHECK(cty_table_check(bad[i].f, 2, e, sizeof e) == -EINVAL);
    CHECK(strcmp(e, want) == 0);
    if (strcmp(e, want) != 0)
      fprintf(stderr, "  got \"%s\"\n", e);
    cty_value v[2];
    CHECK(decode(bad[i].f, 2, "\x80", 1, v) == -EINVAL);
    snprintf(want, sizeof want, "task config: field table: %s", bad[i].msg);
    CHECK(strcmp(err, want) == 0);
  }

  /* A valid table where required meets a default: the default wins. */
  static const cty_field rd[] = {{"a", CTY_STRING, 1, "d", NULL, ""}};
  cty_value v[1];
  CHECK(decode(rd, 1, NULL, 0, v) == 0 && strcmp(v[0].str, "d") == 0);
  cty_values_free(v, 1);
}

static void test_type_names(void) {
  CHECK(strcmp(cty_type_name(CTY_STRING), "string") == 0);
  CHECK(strcmp(cty_type_name(CTY_NUMBER), "number") == 0);
  CHECK(strcmp(cty_type_name(CTY_BOOL), "bool") == 0);
  CHECK(strcmp(cty_type_name(CTY_LIST_STRING), "list(string)") == 0);
  CHECK(strcmp(cty_type_name(CTY_MAP_STRING), "map(string)") == 0);
}

/* ---- the encoder ------------------------------------------------------ */

static int str_eq(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int values_equal(const cty_field *f, size_t nf, const cty_value *a, const cty_value *b) {
  for (size_t i = 0; i < nf; i++) {
    if (a[i].is_null != b[i].is_null)
      return 0;
    if (a[i].is_null)
      continue;
    switch (f[i].type) {
    case CTY_STRING:
      if (!str_eq(a[i].str, b[i].str))
        return 0;
      break;
    case CTY_NUMBER:
      if (a[i].num_is_int != b[i].num_is_int || a[i].num != b[i].num ||
          (a[i].num_is_int && a[i].inum != b[i].inum))
        return 0;
      break;
    case CTY_BOOL:
      if (a[i].boolean != b[i].boolean)
        return 0;
      break;
    case CTY_LIST_STRING:
    case CTY_MAP_STRING:
      if (a[i].n != b[i].n)
        return 0;
      for (size_t k = 0; k < a[i].n; k++)
        if (!str_eq(a[i].items[k], b[i].items[k]) ||
            (f[i].type == CTY_MAP_STRING && !str_eq(a[i].values[k], b[i].values[k])))
          return 0;
      break;
    }
  }
  return 1;
}

static void test_encode(void) {
  char *args[] = {"-c", "print('h\xc3\xa9')", "", NULL};
  char *keys[] = {"A", "B", "PATH", NULL};
  char *vals[] = {"1", "", "/bin", NULL};
  cty_value x[NF] = {
      [F_ARGS] = {.items = args, .n = 3},
      [F_COUNT] = {.num = -70000, .inum = -70000, .num_is_int = 1},
      [F_ENABLED] = {.boolean = 1},
      [F_ENV] = {.items = keys, .values = vals, .n = 3},
      [F_LANGUAGE] = {.str = "js"},
      [F_RATIO] = {.num = 0.1},
      [F_SCRIPT] = {.str = "main.js"},
  };
  size_t len = 0;
  uint8_t *enc = cty_encode_object(T, NF, x, &len);
  CHECK(enc != NULL);
  cty_value y[NF];
  CHECK(decode(T, NF, enc, len, y) == 0);
  CHECK(values_equal(T, NF, x, y));
  cty_values_free(y, NF);

  /* Keys sorted, all present; 0.1 as float64, -70000 as int32. */
  raw want = {0};
  put_hex(&want, "87");
  put_str(&want, "args");
  put_hex(&want, "93 a2 2d63");
  put_str(&want, "print('h\xc3\xa9')");
  put_hex(&want, "a0");
  put_str(&want, "count");
  put_hex(&want, "d2 ff fe ee 90");
  put_str(&want, "enabled");
  put_hex(&want, "c3");
  put_str(&want, "env");
  put_hex(&want, "83 a1 41 a1 31 a1 42 a0 a4 50415448 a4 2f62696e");
  put_str(&want, "language");
  put_str(&want, "js");
  put_str(&want, "ratio");
  put_hex(&want, "cb 3f b9 99 99 99 99 99 9a");
  put_str(&want, "script");
  put_str(&want, "main.js");
  CHECK(len == want.n && memcmp(enc, want.b, len) == 0);
  free(enc);
  raw_free(&want);

  /* Map entries come out sorted whatever their order in the value. */
  char *k2[] = {"b", "a", "B", NULL};
  char *v2[] = {"2", "1", "3", NULL};
  cty_value m = {.items = k2, .values = v2, .n = 3};
  enc = cty_encode_object(M1, 1, &m, &len);
  put_hex(&want, "81 a3 656e76 83 a1 42 a1 33 a1 61 a1 31 a1 62 a1 32");
  CHECK(enc && len == want.n && memcmp(enc, want.b, len) == 0);
  free(enc);
  raw_free(&want);

  /* Nulls are nil; numbers pick the smallest int form, floats stay float64. */
  cty_value nul[NF];
  for (size_t i = 0; i < NF; i++)
    nul[i] = (cty_value){.is_null = 1};
  enc = cty_encode_object(T, NF, nul, &len);
  CHECK(enc && len == 1 + 5 + 6 + 8 + 4 + 9 + 6 + 7 + 7 && enc[0] == 0x87);
  CHECK(enc[6] == 0xc0 && enc[len - 1] == 0xc0);
  free(enc);
  static const struct {
    cty_value v;
    const char *hex;
  } nums[] = {
      {{.num_is_int = 1, .inum = 5, .num = 5}, "05"},
      {{.num_is_int = 1, .inum = 200, .num = 200}, "cc c8"},
      {{.num_is_int = 1, .inum = -1, .num = -1}, "ff"},
      {{.num_is_int = 1, .inum = INT64_MIN, .num = -9223372036854775808.0},
       "d3 80 00 00 00 00 00 00 00"},
      {{.num = 1.5}, "cb 3f f8 00 00 00 00 00 00"},
      {{.num = INFINITY}, "cb 7f f0 00 00 00 00 00 00"},
  };
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    enc = cty_encode_object(N1, 1, &nums[i].v, &len);
    put_hex(&want, "81 a1 6e");
    put_hex(&want, nums[i].hex);
    CHECK(enc && len == want.n && memcmp(enc, want.b, len) == 0);
    cty_value back[1];
    CHECK(decode(N1, 1, enc, len, back) == 0 && values_equal(N1, 1, &nums[i].v, back));
    free(enc);
    raw_free(&want);
  }

  enc = cty_encode_object(NULL, 0, NULL, &len);
  CHECK(enc && len == 1 && enc[0] == 0x80);
  free(enc);

  /* decode -> encode -> decode over a value built from text numbers. */
  raw in = {0};
  put_hex(&in, "83");
  put_str(&in, "ratio");
  put_str(&in, "100000000000000000000");
  put_str(&in, "count");
  put_str(&in, "-12e2");
  put_str(&in, "script");
  put_str(&in, "s");
  CHECK(decode(T, NF, in.b, in.n, x) == 0);
  enc = cty_encode_object(T, NF, x, &len);
  CHECK(enc && decode(T, NF, enc, len, y) == 0 && values_equal(T, NF, x, y));
  CHECK(y[F_COUNT].num_is_int && y[F_COUNT].inum == -1200 && y[F_RATIO].num == 1e20);
  free(enc);
  cty_values_free(x, NF);
  cty_values_free(y, NF);
  raw_free(&in);
}

int main(void) {
  test_protocol_example();
  test_numbers_binary();
  test_numbers_text();
  test_strings();
  test_bools();
  test_lists();
  test_maps();
  test_object();
  test_truncation();
  test_huge_lengths();
  test_nesting();
  test_error_buffer();
  test_table_check();
  test_type_names();
  test_encode();
  return CHECK_DONE();
}
