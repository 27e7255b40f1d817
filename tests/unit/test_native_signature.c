/* Unit tests of the native backend's signature parser and argument
 * conversion (plugins/native/signature.c): every type and alias, every
 * class of bad signature with its position, numbers at and past each
 * type's limits, and the bytes encoding. */
#include "../check.h"
#include "signature.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static nsig parse_ok(const char *text) {
  nsig s;
  char err[512] = "";
  int rc = nsig_parse(text, &s, err, sizeof err);
  CHECK(rc == 0);
  if (rc != 0) fprintf(stderr, "  parse(\"%s\"): %s\n", text, err);
  return s;
}

/* A bad signature fails with -EINVAL and a message containing `want`. */
static void parse_bad(const char *text, const char *want) {
  nsig s;
  char err[512] = "";
  CHECK(nsig_parse(text, &s, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, want);
}

static void test_parse_types(void) {
  nsig s = parse_ok("int(int,double,string)");
  CHECK(s.ret == NSIG_INT32 && !strcmp(s.ret_name, "int"));
  CHECK(s.nparams == 3 && s.params[0] == NSIG_INT32 && s.params[1] == NSIG_DOUBLE &&
        s.params[2] == NSIG_STRING);
  CHECK(!strcmp(s.names[1], "double"));

  s = parse_ok("int8(int16,int32,int64,uint8,uint16,uint32,uint64)");
  nsig_type fixed[] = {NSIG_INT16, NSIG_INT32, NSIG_INT64, NSIG_UINT8, NSIG_UINT16, NSIG_UINT32,
                       NSIG_UINT64};
  CHECK(s.ret == NSIG_INT8 && s.nparams == 7);
  for (size_t i = 0; i < 7; i++) CHECK(s.params[i] == fixed[i]);

  s = parse_ok("uint64(int,uint,long,ulong,size_t,ssize_t,float,bytes)");
  nsig_type alias[] = {NSIG_INT32, NSIG_UINT32, NSIG_INT64, NSIG_UINT64,
                       NSIG_UINT64, NSIG_INT64, NSIG_FLOAT, NSIG_BYTES};
  CHECK(s.ret == NSIG_UINT64 && s.nparams == 8);
  for (size_t i = 0; i < 8; i++) CHECK(s.params[i] == alias[i]);
  CHECK(!strcmp(s.names[4], "size_t") && !strcmp(s.names[7], "bytes"));

  s = parse_ok("void()");
  CHECK(s.ret == NSIG_VOID && s.nparams == 0);
  s = parse_ok("double(void)");
  CHECK(s.ret == NSIG_DOUBLE && s.nparams == 0);
  s = parse_ok("  float ( float ,\tdouble )  ");
  CHECK(s.ret == NSIG_FLOAT && s.nparams == 2 && s.params[1] == NSIG_DOUBLE);
  s = parse_ok("int( void )");
  CHECK(s.nparams == 0);

  char many[1024] = "int(";
  for (int i = 0; i < NSIG_MAX_PARAMS; i++) strcat(many, i ? ",int" : "int");
  strcat(many, ")");
  s = parse_ok(many);
  CHECK(s.nparams == NSIG_MAX_PARAMS);
}

static void test_parse_errors(void) {
  /* unknown types, with their 1-based position */
  parse_bad("int(int,strng)", "unknown type \"strng\" at position 9");
  parse_bad("integer(int)", "unknown type \"integer\" at position 1");
  parse_bad("int(char)", "unknown type \"char\" at position 5");
  parse_bad("int(Int)", "unknown type \"Int\" at position 5");
  parse_bad("int(int,double,str)", "unknown type \"str\" at position 16");
  parse_bad("int(int,strng)", "known: int8, int16");
  /* unbalanced parentheses and stray characters */
  parse_bad("int(int,int", "expected \")\" to close the parameter list, found end of signature");
  parse_bad("int(int))", "unexpected \")\" at position 9 after the closing \")\"");
  parse_bad("int((int)", "expected a parameter type, found \"(\" at position 5");
  parse_bad("int", "expected \"(\" after the return type, found end of signature");
  parse_bad("int int", "expected \"(\" after the return type, found \"i\" at position 5");
  parse_bad("int)(", "expected \"(\" after the return type, found \")\" at position 4");
  parse_bad("(int)", "expected a return type, found \"(\" at position 1");
  parse_bad("int(int*)", "expected \")\" to close the parameter list, found \"*\" at position 8");
  parse_bad("int(int a)", "found \"a\" at position 9");
  parse_bad("int(int) x", "unexpected \"x\" at position 10");
  parse_bad("int(\x01)", "byte 0x01 at position 5");
  /* empty pieces */
  parse_bad("", "empty signature");
  parse_bad("   ", "empty signature");
  parse_bad("int(int,)", "expected a parameter type, found \")\" at position 9");
  parse_bad("int(,int)", "expected a parameter type, found \",\" at position 5");
  /* void and unsupported return types */
  parse_bad("int(int,void)", "\"void\" at position 9: void is only allowed alone");
  parse_bad("int(void,int)", "\"void\" at position 5: void is only allowed alone");
  parse_bad("string(int)", "return type \"string\" at position 1 is not supported");
  parse_bad("bytes()", "return type \"bytes\" at position 1 is not supported");
  /* too many parameters */
  char many[1024] = "int(";
  for (int i = 0; i <= NSIG_MAX_PARAMS; i++) strcat(many, i ? ",int" : "int");
  strcat(many, ")");
  parse_bad(many, "too many parameters");
  /* hostile text is shown printable and bounded */
  char lng[300];
  memset(lng, 'a', sizeof lng - 1);
  lng[sizeof lng - 1] = '\0';
  nsig s;
  char err[512];
  CHECK(nsig_parse(lng, &s, err, sizeof err) == -EINVAL);
  CHECK(strlen(err) < 400);
  CHECK_STR_CONTAINS(err, "...\" at position 1");
}

static nsig_value conv_ok(nsig_type t, const char *name, const char *text) {
  nsig_value v;
  char err[256] = "";
  int rc = nsig_convert(t, name, text, &v, err, sizeof err);
  CHECK(rc == 0);
  if (rc != 0) fprintf(stderr, "  convert %s \"%s\": %s\n", name, text, err);
  return v;
}

static void conv_bad(nsig_type t, const char *name, const char *text, const char *want) {
  nsig_value v;
  char err[256] = "";
  CHECK(nsig_convert(t, name, text, &v, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, want);
}

static void test_integers(void) {
  CHECK(conv_ok(NSIG_INT8, "int8", "-128").i == -128);
  CHECK(conv_ok(NSIG_INT8, "int8", "127").i == 127);
  CHECK(conv_ok(NSIG_INT8, "int8", "+5").i == 5);
  CHECK(conv_ok(NSIG_INT16, "int16", "-32768").i == -32768);
  CHECK(conv_ok(NSIG_INT32, "int", "-2147483648").i == INT32_MIN);
  CHECK(conv_ok(NSIG_INT32, "int", "0x7fffffff").i == INT32_MAX);
  CHECK(conv_ok(NSIG_INT32, "int", "-0x10").i == -16);
  CHECK(conv_ok(NSIG_INT32, "int", "010").i == 10); /* decimal, never octal */
  CHECK(conv_ok(NSIG_INT64, "int64", "-9223372036854775808").i == INT64_MIN);
  CHECK(conv_ok(NSIG_INT64, "long", "9223372036854775807").i == INT64_MAX);
  CHECK(conv_ok(NSIG_UINT8, "uint8", "255").u == 255);
  CHECK(conv_ok(NSIG_UINT8, "uint8", "-0").u == 0);
  CHECK(conv_ok(NSIG_UINT16, "uint16", "0xFFFF").u == 65535);
  CHECK(conv_ok(NSIG_UINT32, "uint", "4294967295").u == UINT32_MAX);
  CHECK(conv_ok(NSIG_UINT64, "size_t", "18446744073709551615").u == UINT64_MAX);

  conv_bad(NSIG_INT8, "int8", "128", "\"128\" is out of range for int8 (-128..127)");
  conv_bad(NSIG_INT8, "int8", "-129", "\"-129\" is out of range for int8 (-128..127)");
  conv_bad(NSIG_INT16, "int16", "32768", "out of range for int16 (-32768..32767)");
  conv_bad(NSIG_INT32, "int", "2147483648", "out of range for int (-2147483648..2147483647)");
  conv_bad(NSIG_INT32, "int", "-2147483649", "out of range for int");
  conv_bad(NSIG_INT64, "int64", "9223372036854775808", "out of range for int64");
  conv_bad(NSIG_INT64, "ssize_t", "-9223372036854775809", "out of range for ssize_t");
  conv_bad(NSIG_UINT8, "uint8", "256", "\"256\" is out of range for uint8 (0..255)");
  conv_bad(NSIG_UINT8, "uint8", "-1", "\"-1\" is out of range for uint8 (0..255)");
  conv_bad(NSIG_UINT32, "uint32", "0x100000000", "out of range for uint32 (0..4294967295)");
  conv_bad(NSIG_UINT64, "uint64", "18446744073709551616", "out of range for uint64");
  conv_bad(NSIG_UINT64, "uint64", "99999999999999999999999", "out of range for uint64");

  conv_bad(NSIG_INT32, "int", "abc", "\"abc\" is not a valid int");
  conv_bad(NSIG_INT32, "int", "", "\"\" is not a valid int");
  conv_bad(NSIG_INT32, "int", "1.5", "\"1.5\" is not a valid int");
  conv_bad(NSIG_INT32, "int", " 5", "is not a valid int");
  conv_bad(NSIG_INT32, "int", "5 ", "is not a valid int");
  conv_bad(NSIG_INT32, "int", "--5", "is not a valid int");
  conv_bad(NSIG_INT32, "int", "+-5", "is not a valid int");
  conv_bad(NSIG_INT32, "int", "0x", "is not a valid int");
  conv_bad(NSIG_INT32, "int", "0x-5", "is not a valid int");
  conv_bad(NSIG_INT32, "int", "12abc", "is not a valid int");
  conv_bad(NSIG_UINT8, "uint8", "1e3", "is not a valid uint8");
}

static void test_floats(void) {
  CHECK(conv_ok(NSIG_DOUBLE, "double", "2.5").d == 2.5);
  CHECK(conv_ok(NSIG_DOUBLE, "double", "-1e-3").d == -1e-3);
  CHECK(conv_ok(NSIG_DOUBLE, "double", "42").d == 42.0);
  CHECK(conv_ok(NSIG_DOUBLE, "double", "0x1p4").d == 16.0);
  CHECK(isinf(conv_ok(NSIG_DOUBLE, "double", "inf").d));
  CHECK(isnan(conv_ok(NSIG_DOUBLE, "double", "nan").d));
  CHECK(conv_ok(NSIG_DOUBLE, "double", "1e-320").d > 0); /* subnormal: kept */
  CHECK(conv_ok(NSIG_FLOAT, "float", "1.5").f == 1.5f);
  CHECK(conv_ok(NSIG_FLOAT, "float", "3.4e38").f > 3e38f);
  conv_bad(NSIG_FLOAT, "float", "1e39", "\"1e39\" is out of range for float");
  conv_bad(NSIG_DOUBLE, "double", "1e400", "\"1e400\" is out of range for double");
  conv_bad(NSIG_DOUBLE, "double", "", "\"\" is not a valid double");
  conv_bad(NSIG_DOUBLE, "double", "1e", "\"1e\" is not a valid double");
  conv_bad(NSIG_DOUBLE, "double", " 1", "is not a valid double");
  conv_bad(NSIG_DOUBLE, "double", "1.0x", "is not a valid double");
  conv_bad(NSIG_FLOAT, "float", "one", "\"one\" is not a valid float");
}

static void test_strings_and_bytes(void) {
  nsig_value v = conv_ok(NSIG_STRING, "string", "hello, world");
  CHECK(v.str && !strcmp(v.str, "hello, world"));
  nsig_values_free(&v, 1);
  v = conv_ok(NSIG_STRING, "string", "");
  CHECK(v.str && v.str[0] == '\0');
  nsig_values_free(&v, 1);

  v = conv_ok(NSIG_BYTES, "bytes", "00ff7F0a");
  CHECK(v.len == 4 && v.bytes[0] == 0x00 && v.bytes[1] == 0xff && v.bytes[2] == 0x7f &&
        v.bytes[3] == 0x0a);
  nsig_values_free(&v, 1);
  v = conv_ok(NSIG_BYTES, "bytes", "");
  CHECK(v.len == 0 && v.bytes != NULL);
  nsig_values_free(&v, 1);
  conv_bad(NSIG_BYTES, "bytes", "abc", "\"abc\" is not valid bytes (an odd number of hex digits)");
  conv_bad(NSIG_BYTES, "bytes", "zz", "found \"z\" at offset 0");
  conv_bad(NSIG_BYTES, "bytes", "0g", "found \"g\" at offset 1");
  conv_bad(NSIG_BYTES, "bytes", "0x00", "found \"x\" at offset 1");
  conv_bad(NSIG_BYTES, "bytes", "00 1", "found \" \" at offset 2");
}

static void test_convert_all(void) {
  nsig s = parse_ok("int(int,double,string,bytes,uint8)");
  nsig_value v[NSIG_MAX_PARAMS];
  char err[256] = "";
  const char *good[] = {"-7", "0.5", "text", "beef", "200", NULL};
  CHECK(nsig_convert_all(&s, good, v, err, sizeof err) == 0);
  CHECK(v[0].type == NSIG_INT32 && v[0].i == -7);
  CHECK(v[1].d == 0.5 && !strcmp(v[2].str, "text") && v[3].len == 2 && v[3].bytes[0] == 0xbe);
  CHECK(v[4].u == 200);
  nsig_values_free(v, s.nparams);

  const char *few[] = {"1", NULL};
  CHECK(nsig_convert_all(&s, few, v, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err,
                     "the signature takes 5 arguments (int, double, string, bytes, uint8), got 1");
  const char *more[] = {"1", "2", "3", "44", "5", "6", NULL};
  CHECK(nsig_convert_all(&s, more, v, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, "takes 5 arguments (int, double, string, bytes, uint8), got 6");
  nsig one = parse_ok("int(int)");
  CHECK(nsig_convert_all(&one, NULL, v, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, "takes 1 argument (int), got 0");
  nsig none = parse_ok("int(void)");
  CHECK(nsig_convert_all(&none, NULL, v, err, sizeof err) == 0);
  CHECK(nsig_convert_all(&none, few, v, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, "takes 0 arguments, got 1");

  /* a failure after earlier string/bytes conversions leaves nothing to free */
  const char *late[] = {"1", "2", "text", "beef", "300", NULL};
  CHECK(nsig_convert_all(&s, late, v, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, "argument 5: \"300\" is out of range for uint8 (0..255)");
  const char *second[] = {"1", "abc", "x", "", "1", NULL};
  CHECK(nsig_convert_all(&s, second, v, err, sizeof err) == -EINVAL);
  CHECK_STR_CONTAINS(err, "argument 2: \"abc\" is not a valid double");
}

static void test_printable(void) {
  char out[64];
  CHECK(!strcmp(nsig_printable(out, sizeof out, "a\nb\x1b" "c\xc3\xa9"), "a?b?c??"));
  char lng[100];
  memset(lng, 'x', 99);
  lng[99] = '\0';
  nsig_printable(out, sizeof out, lng);
  CHECK(strlen(out) == 43 && !strcmp(out + 40, "..."));
  CHECK(!strcmp(nsig_printable(out, 4, "abcdef"), "abc"));
}

int main(void) {
  test_parse_types();
  test_parse_errors();
  test_integers();
  test_floats();
  test_strings_and_bytes();
  test_convert_all();
  test_printable();
  return CHECK_DONE();
}
