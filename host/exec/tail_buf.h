/* tail_buf: keeps the last `cap` bytes written to it, like the circular
 * buffer of Nomad's executor for script checks (CheckBufSize). Shared by
 * the local one-shot exec (exec_cmd_capture.c) and the plugin's one-shot
 * exec into a task of the execution daemon. Not thread-safe. */
#ifndef ELIDE_EXEC_TAIL_BUF_H
#define ELIDE_EXEC_TAIL_BUF_H

#include <stddef.h>

typedef struct tail_buf {
  char *data; /* malloc'd, cap bytes (at least one) */
  size_t cap, start, len;
} tail_buf;

/* 0, or -ENOMEM (then t->data is NULL and tail_buf_take/free are no-ops). */
int tail_buf_init(tail_buf *t, size_t cap);
void tail_buf_put(tail_buf *t, const void *p, size_t n);
/* The kept bytes in order, NUL-terminated, malloc'd (the caller frees;
 * NULL on ENOMEM) with their count in *len; frees the buffer either way. */
char *tail_buf_take(tail_buf *t, size_t *len);
void tail_buf_free(tail_buf *t);

#endif
