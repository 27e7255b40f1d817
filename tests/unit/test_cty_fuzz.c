/* Deterministic random-input test of cty_decode_object (no libFuzzer): generated,
 * mutated and random buffers; checks the error and round-trip contracts. */
#include <errno.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cty.h"

static uint64_t rng = 0x2545f4914f6cdd1du;

static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static size_t below(size_t n) { return n ? (size_t)(next() % n) : 0; }

static const char *const colors[] = {"red", "green", NULL};
static const cty_field T[] = {
    {"args", CTY_LIST_STRING, 0, NULL, NULL, ""},
    {"color", CTY_STRING, 0, "red", colors, ""},
    {"count", CTY_NUMBER, 0, "1", NULL, ""},
    {"env", CTY_MAP_STRING, 0, NULL, NULL, ""},
    {"flag", CTY_BOOL, 0, NULL, NULL, ""},
    {"name", CTY_STRING, 0, NULL, NULL, ""},
    {"ratio", CTY_NUMBER, 0, NULL, NULL, ""},
};
#define NF (sizeof T / sizeof T[0])

static const char *const words[] = {"", "a", "red", "green", "blue", "h\xc3\xa9", "0.1",
                                    "-3", "1e3", "abc", "100000000000000000000", "x\x01y"};
#define NWORDS (sizeof words / sizeof words[0])

static void pack_text(msgpack_packer *pk, const char *s) {
  size_t n = strlen(s);
  if (below(8) == 0) {
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, s, n);
  } else {
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
  }
}

/* A random value, biased towards what `type` wants so that many inputs get
 * past the type checks; depth-limited nesting of arbitrary kinds. */
static void pack_random(msgpack_packer *pk, int want, int depth) {
  size_t pick = 4 + below(depth > 3 ? 6 : 9);
  if (want >= 0 && below(6) != 0) {
    switch (want) {
    case CTY_STRING: /* "red"/"green" half the time: the allowed colors */
      pack_text(pk, below(2) ? words[2 + below(2)] : words[below(NWORDS)]);
      return;
    case CTY_NUMBER:
      switch (below(4)) {
      case 0:
        msgpack_pack_int64(pk, (int64_t)next() >> below(64));
        return;
      case 1:
        msgpack_pack_uint64(pk, next() >> below(64));
        return;
      case 2:
        msgpack_pack_double(pk, (double)(int64_t)next() / (double)(1 + below(1000)));
        return;
      default:
        pack_text(pk, words[below(NWORDS)]);
        return;
      }
    case CTY_BOOL:
      below(2) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
      return;
    case CTY_LIST_STRING: {
      size_t n = below(5);
      msgpack_pack_array(pk, n);
      for (size_t i = 0; i < n; i++)
        below(20) ? pack_text(pk, words[below(NWORDS)]) : pack_random(pk, -1, depth + 1);
      return;
    }
    case CTY_MAP_STRING: {
      size_t n = below(5);
      msgpack_pack_map(pk, n);
      for (size_t i = 0; i < n; i++) {
        char k[16];
        snprintf(k, sizeof k, "K%zu", below(8));
        pack_text(pk, k);
        below(20) ? pack_text(pk, words[below(NWORDS)]) : pack_random(pk, -1, depth + 1);
      }
      return;
    }
    }
  }
  switch (pick) {
  case 4:
  case 5:
    msgpack_pack_nil(pk);
    return;
  case 6:
    msgpack_pack_float(pk, (float)below(100) / 4);
    return;
  case 7: {
    char d[4] = {0};
    msgpack_pack_ext(pk, 1 + below(3), (int8_t)(below(3) == 0 ? 0x0c : 0));
    msgpack_pack_ext_body(pk, d, 1 + below(3));
    return;
  }
  case 8:
    msgpack_pack_int64(pk, (int64_t)next());
    return;
  case 9:
    pack_text(pk, words[below(NWORDS)]);
    return;
  case 10: {
    size_t n = below(4);
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++)
      pack_random(pk, -1, depth + 1);
    return;
  }
  default: {
    size_t n = below(4);
    msgpack_pack_map(pk, n);
    for (size_t i = 0; i < n; i++) {
      pack_random(pk, CTY_STRING, depth + 1);
      pack_random(pk, -1, depth + 1);
    }
    return;
  }
  }
}

/* A mostly well-formed config object: most fields, sometimes an unknown
 * or duplicated key, keys in table or shuffled order. */
static void gen_object(msgpack_sbuffer *sb) {
  msgpack_packer pk;
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  size_t idx[NF + 2], n = 0;
  for (size_t i = 0; i < NF; i++)
    if (below(4))
      idx[n++] = i;
  if (below(10) == 0)
    idx[n++] = NF; /* unknown key */
  if (n && below(10) == 0)
    idx[n++] = idx[0]; /* duplicate */
  if (below(2))
    for (size_t i = n; i > 1; i--) {
      size_t j = below(i), t = idx[i - 1];
      idx[i - 1] = idx[j];
      idx[j] = t;
    }
  msgpack_pack_map(&pk, n);
  for (size_t i = 0; i < n; i++) {
    pack_text(&pk, idx[i] < NF ? T[idx[i]].name : "bogus");
    pack_random(&pk, idx[i] < NF ? (int)T[idx[i]].type : -1, 1);
  }
}

/* Flips, overwrites with length-prefix bytes, inserts, deletes, truncates. */
static size_t mutate(uint8_t *b, size_t n, size_t cap) {
  static const uint8_t nasty[] = {0xc1, 0xdc, 0xdd, 0xde, 0xdf, 0xdb, 0xc6, 0xc9, 0xd4,
                                  0xff, 0x00, 0x7f, 0x80, 0x90, 0xa0, 0xc0, 0xcb, 0xd3};
  for (size_t k = 1 + below(4); k > 0 && n > 0; k--) {
    size_t at = below(n);
    switch (below(6)) {
    case 0:
      b[at] ^= (uint8_t)(1u << below(8));
      break;
    case 1:
      b[at] = nasty[below(sizeof nasty)];
      break;
    case 2:
      if (n < cap) {
        memmove(b + at + 1, b + at, n - at);
        b[at] = (uint8_t)next();
        n++;
      }
      break;
    case 3:
      memmove(b + at, b + at + 1, n - at - 1);
      n--;
      break;
    case 4:
      n = at;
      break;
    default:
      b[at] = 0xff;
      if (at + 1 < n)
        b[at + 1] = 0xff;
      break;
    }
  }
  return n;
}

static int all_null(const cty_value *v) {
  for (size_t i = 0; i < NF; i++)
    if (!v[i].is_null || v[i].str || v[i].items || v[i].values || v[i].n)
      return 0;
  return 1;
}

static int str_eq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* Invariants of a successful decode, and decode(encode(v)) == v. */
static int check_success(const cty_value *v) {
  for (size_t i = 0; i < NF; i++) {
    if (v[i].is_null) {
      if (T[i].default_text || T[i].type >= CTY_LIST_STRING)
        return 0;
      continue;
    }
    if (T[i].type == CTY_STRING && !v[i].str)
      return 0;
    if (T[i].type >= CTY_LIST_STRING) {
      if (!v[i].items || v[i].items[v[i].n])
        return 0;
      for (size_t k = 0; k < v[i].n; k++)
        if (!v[i].items[k] || (T[i].type == CTY_MAP_STRING && !v[i].values[k]))
          return 0;
    }
    if (T[i].type == CTY_NUMBER && v[i].num_is_int && v[i].num != (double)v[i].inum)
      return 0;
  }
  size_t len;
  uint8_t *enc = cty_encode_object(T, NF, v, &len);
  if (!enc)
    return 0;
  cty_value w[NF];
  char err[256];
  int rc = cty_decode_object(T, NF, enc, len, "again", w, err, sizeof err);
  free(enc);
  if (rc)
    return 0;
  int same = 1;
  for (size_t i = 0; i < NF && same; i++) {
    same = v[i].is_null == w[i].is_null && v[i].n == w[i].n;
    if (!same || v[i].is_null)
      continue;
    switch (T[i].type) {
    case CTY_STRING:
      same = str_eq(v[i].str, w[i].str);
      break;
    case CTY_NUMBER:
      same = v[i].num_is_int == w[i].num_is_int && v[i].num == w[i].num &&
             (!v[i].num_is_int || v[i].inum == w[i].inum);
      break;
    case CTY_BOOL:
      same = v[i].boolean == w[i].boolean;
      break;
    case CTY_LIST_STRING:
      for (size_t k = 0; k < v[i].n && same; k++)
        same = str_eq(v[i].items[k], w[i].items[k]);
      break;
    case CTY_MAP_STRING:
      /* The encoder sorts map keys; look each one up. */
      for (size_t k = 0; k < v[i].n && same; k++) {
        size_t j = 0;
        while (j < w[i].n && !str_eq(v[i].items[k], w[i].items[j]))
          j++;
        same = j < w[i].n && str_eq(v[i].values[k], w[i].values[j]);
      }
      break;
    }
  }
  cty_values_free(w, NF);
  return same;
}

static int ok_count, bad_count, contract_failures;

/* Decodes from an exactly-sized heap copy, so ASan flags any over-read. */
static void run(const uint8_t *b, size_t n) {
  uint8_t *copy = n ? malloc(n) : NULL;
  if (n)
    memcpy(copy, b, n);
  cty_value v[NF];
  char err[256];
  memset(err, 'x', sizeof err);
  int rc = cty_decode_object(T, NF, copy, n, "fuzz", v, err, sizeof err);
  free(copy);
  if (rc == 0) {
    ok_count++;
    if (!check_success(v))
      contract_failures++;
    cty_values_free(v, NF);
  } else {
    bad_count++;
    if ((rc != -EINVAL && rc != -EBADMSG) || !all_null(v) || strncmp(err, "fuzz: ", 6) != 0 ||
        strlen(err) >= sizeof err)
      contract_failures++;
  }
}

int main(void) {
  enum { ROUNDS = 20000, CAP = 4096 };
  uint8_t *buf = malloc(CAP);
  for (int r = 0; r < ROUNDS; r++) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    gen_object(&sb);
    size_t n = sb.size < CAP ? sb.size : CAP;
    run((const uint8_t *)sb.data, n);
    for (int m = 0; m < 4; m++) {
      memcpy(buf, sb.data, n);
      run(buf, mutate(buf, n, CAP));
    }
    msgpack_sbuffer_destroy(&sb);

    size_t rn = below(64);
    for (size_t i = 0; i < rn; i++)
      buf[i] = (uint8_t)next();
    if (rn && below(2))
      buf[0] = (uint8_t)(0x80 | below(16)); /* a plausible root */
    run(buf, rn);
  }
  free(buf);
  printf("%d decoded, %d rejected\n", ok_count, bad_count);
  CHECK(contract_failures == 0);
  CHECK(ok_count > ROUNDS / 20); /* the generator does reach the success path */
  CHECK(bad_count > ROUNDS);
  return CHECK_DONE();
}
