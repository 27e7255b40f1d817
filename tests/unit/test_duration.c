/* Unit tests of Go-style duration strings (host/nomad/duration.c), the
 * syntax of the `timeout` and `timeout_grace` task options. */
#include "duration.h"

#include "../check.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static int64_t ms_of(const char *text) {
  char why[256] = "";
  int64_t ms = -42;
  int rc = duration_parse_ms(text, &ms, why, sizeof why);
  return rc == 0 ? ms : rc;
}

static void test_parse(void) {
  CHECK(ms_of("30s") == 30000);
  CHECK(ms_of("1m30s") == 90000);
  CHECK(ms_of("1.5h") == 5400000);
  CHECK(ms_of("250ms") == 250);
  CHECK(ms_of("2h45m") == 9900000);
  CHECK(ms_of("0.5s") == 500);
  CHECK(ms_of(".5s") == 500);
  CHECK(ms_of("1500us") == 2);        /* rounded up: never shorter than asked */
  CHECK(ms_of("1ns") == 1);
  CHECK(ms_of("1\xc2\xb5s") == 1);    /* µs */
  CHECK(ms_of("0") == 0);
  CHECK(ms_of("0s") == 0);
  CHECK(ms_of("2562047h") == 2562047LL * 3600000LL); /* Go's maximum, about 292 years */
  CHECK(ms_of("2562048h") == -ERANGE);
  CHECK(ms_of("99999999999999999999h") == -ERANGE);

  char why[256];
  int64_t ms;
  CHECK(duration_parse_ms("", &ms, why, sizeof why) == -EINVAL);
  CHECK_STR_CONTAINS(why, "empty duration");
  CHECK(duration_parse_ms("30", &ms, why, sizeof why) == -EINVAL);
  CHECK_STR_CONTAINS(why, "missing unit in duration \"30\"");
  CHECK(duration_parse_ms("1d", &ms, why, sizeof why) == -EINVAL);
  CHECK_STR_CONTAINS(why, "unknown unit in duration \"1d\"");
  CHECK(duration_parse_ms("soon", &ms, why, sizeof why) == -EINVAL);
  CHECK_STR_CONTAINS(why, "invalid duration \"soon\"");
  CHECK(duration_parse_ms("-1s", &ms, why, sizeof why) == -EINVAL);
  CHECK(duration_parse_ms("5 minutes", &ms, why, sizeof why) == -EINVAL);
  CHECK(duration_parse_ms("1s ", &ms, why, sizeof why) == -EINVAL);
  CHECK(duration_parse_ms(".s", &ms, why, sizeof why) == -EINVAL);
}

static void test_format(void) {
  static const struct {
    int64_t ms;
    const char *text;
  } cases[] = {
      {0, "0s"},          {250, "250ms"},     {1000, "1s"},       {1500, "1.5s"},
      {2000, "2s"},       {5000, "5s"},       {60000, "1m0s"},    {90000, "1m30s"},
      {90500, "1m30.5s"}, {3600000, "1h0m0s"}, {5400250, "1h30m0.25s"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[64];
    duration_format_ms(cases[i].ms, out, sizeof out);
    if (strcmp(out, cases[i].text) != 0)
      fprintf(stderr, "  format(%lld) = \"%s\", want \"%s\"\n", (long long)cases[i].ms, out,
              cases[i].text);
    CHECK(strcmp(out, cases[i].text) == 0);
    /* what is printed parses back to the same value */
    CHECK(ms_of(cases[i].text) == cases[i].ms);
  }
}

int main(void) {
  test_parse();
  test_format();
  return CHECK_DONE();
}
