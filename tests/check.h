/* Minimal test harness: CHECK records a failure and goes on; every test
 * binary ends with CHECK_DONE(), which prints "N passed, N failed" and
 * returns non-zero on any failure. One test binary per source file. */
#ifndef ELIDE_TEST_CHECK_H
#define ELIDE_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed_, check_failed_;

#define CHECK(cond)                                                                     \
  do {                                                                                  \
    if (cond) {                                                                         \
      check_passed_++;                                                                  \
    } else {                                                                            \
      check_failed_++;                                                                  \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);          \
    }                                                                                   \
  } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                 \
  do {                                                                                  \
    const char *h_ = (hay), *n_ = (needle);                                             \
    if (h_ && strstr(h_, n_)) {                                                         \
      check_passed_++;                                                                  \
    } else {                                                                            \
      check_failed_++;                                                                  \
      fprintf(stderr, "%s:%d: expected \"%s\" to contain \"%s\"\n", __FILE__, __LINE__, \
              h_ ? h_ : "(null)", n_);                                                  \
    }                                                                                   \
  } while (0)

#define CHECK_DONE()                                                                    \
  (printf("%d passed, %d failed\n", check_passed_, check_failed_), check_failed_ != 0)

#endif
