/* tail_buf: the last bytes of a stream (see tail_buf.h). */
#include "tail_buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int tail_buf_init(tail_buf *t, size_t cap) {
  memset(t, 0, sizeof *t);
  t->cap = cap;
  t->data = malloc(cap ? cap : 1);
  return t->data ? 0 : -ENOMEM;
}

void tail_buf_put(tail_buf *t, const void *p, size_t n) {
  const char *bytes = p;
  if (t->cap == 0 || !t->data) return;
  if (n >= t->cap) { /* only the end of this chunk survives */
    memcpy(t->data, bytes + n - t->cap, t->cap);
    t->start = 0;
    t->len = t->cap;
    return;
  }
  for (size_t i = 0; i < n; i++) {
    size_t at = (t->start + t->len) % t->cap;
    t->data[at] = bytes[i];
    if (t->len < t->cap) t->len++;
    else t->start = (t->start + 1) % t->cap;
  }
}

char *tail_buf_take(tail_buf *t, size_t *len) {
  char *out = t->data ? malloc(t->len + 1) : NULL;
  if (out) {
    for (size_t i = 0; i < t->len; i++) out[i] = t->data[(t->start + i) % t->cap];
    out[t->len] = '\0';
    *len = t->len;
  }
  tail_buf_free(t);
  return out;
}

void tail_buf_free(tail_buf *t) {
  free(t->data);
  t->data = NULL;
  t->len = t->start = 0;
}
