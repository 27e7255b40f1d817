/* Executions: creation, reference counting, status, and the table keyed
 * by execution id. */
#include "execution.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

execution *ex_new(execd *d, ExecRequest *req, const char *dir) {
  execution *e = calloc(1, sizeof *e);
  if (!e) {
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return NULL;
  }
  e->d = d;
  e->req = req;
  e->id = dup_or_empty(req->execution_id);
  e->session_id = dup_or_empty(req->session_id);
  e->language = dup_or_empty(req->language);
  snprintf(e->dir, sizeof e->dir, "%s", dir);
  e->out[0].fd = e->out[1].fd = -1;
  e->has_stdin = req->stdin != 0;
  e->stdin_fd = -1;
  e->state = EX_STARTING;
  pthread_mutex_init(&e->mu, NULL);
  pthread_mutex_init(&e->stdin_mu, NULL);
  atomic_init(&e->refs, 1);
  if (!e->id || !e->session_id || !e->language) {
    ex_unref(e);
    return NULL;
  }
  return e;
}

void ex_ref(execution *e) { atomic_fetch_add(&e->refs, 1); }

void ex_unref(execution *e) {
  if (!e || atomic_fetch_sub(&e->refs, 1) != 1) return;
  /* The last reference: the process was destroyed or released before (its
   * exit callback holds no reference), no timer, waiter or stream is left. */
  spool_close(&e->out[0]);
  spool_close(&e->out[1]);
  if (e->stdin_fd >= 0) close(e->stdin_fd);
  free(e->followers);
  free(e->cg);
  pthread_mutex_destroy(&e->mu);
  pthread_mutex_destroy(&e->stdin_mu);
  if (e->req) protobuf_c_message_free_unpacked(&e->req->base, NULL);
  free(e->id);
  free(e->session_id);
  free(e->language);
  free(e);
}

int ex_status_of_result(const ex_result *r) {
  if (r->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_CANCELLED))
    return EP_ENUM(EXECUTION_STATUS__EXECUTION_STATUS_CANCELLED);
  if (r->reason == EP_ENUM(EXIT_RESULT__REASON__REASON_EXITED) && r->exit_code == 0)
    return EP_ENUM(EXECUTION_STATUS__EXECUTION_STATUS_COMPLETED);
  return EP_ENUM(EXECUTION_STATUS__EXECUTION_STATUS_FAILED);
}

int ex_status(execution *e) {
  pthread_mutex_lock(&e->mu);
  int st = e->state == EX_STARTING  ? EP_ENUM(EXECUTION_STATUS__EXECUTION_STATUS_QUEUED)
           : e->state == EX_RUNNING ? EP_ENUM(EXECUTION_STATUS__EXECUTION_STATUS_RUNNING)
                                    : ex_status_of_result(&e->result);
  pthread_mutex_unlock(&e->mu);
  return st;
}

void ex_table_init(ex_table *t) {
  memset(t, 0, sizeof *t);
  pthread_mutex_init(&t->mu, NULL);
}

static execution *find_locked(ex_table *t, const char *id) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->items[i]->id, id) == 0) return t->items[i];
  return NULL;
}

int ex_table_add(ex_table *t, execution *e, execution **existing) {
  *existing = NULL;
  pthread_mutex_lock(&t->mu);
  execution *found = find_locked(t, e->id);
  if (found) {
    ex_ref(found);
    *existing = found;
    pthread_mutex_unlock(&t->mu);
    return -EEXIST;
  }
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    execution **grown = realloc(t->items, cap * sizeof *grown);
    if (!grown) {
      pthread_mutex_unlock(&t->mu);
      return -ENOMEM;
    }
    t->items = grown;
    t->cap = cap;
  }
  ex_ref(e);
  t->items[t->n++] = e;
  pthread_mutex_unlock(&t->mu);
  return 0;
}

execution *ex_table_get(ex_table *t, const char *id) {
  pthread_mutex_lock(&t->mu);
  execution *e = find_locked(t, id);
  if (e) ex_ref(e);
  pthread_mutex_unlock(&t->mu);
  return e;
}

void ex_table_remove(ex_table *t, execution *e) {
  int found = 0;
  pthread_mutex_lock(&t->mu);
  for (size_t i = 0; i < t->n; i++) {
    if (t->items[i] == e) {
      t->items[i] = t->items[--t->n];
      found = 1;
      break;
    }
  }
  pthread_mutex_unlock(&t->mu);
  if (found) ex_unref(e);
}

execution **ex_table_list(ex_table *t, size_t *n) {
  pthread_mutex_lock(&t->mu);
  execution **all = malloc((t->n ? t->n : 1) * sizeof *all);
  *n = 0;
  if (all) {
    for (size_t i = 0; i < t->n; i++) {
      ex_ref(t->items[i]);
      all[i] = t->items[i];
    }
    *n = t->n;
  }
  pthread_mutex_unlock(&t->mu);
  return all;
}

void ex_table_clear(ex_table *t) {
  pthread_mutex_lock(&t->mu);
  execution **items = t->items;
  size_t n = t->n;
  t->items = NULL;
  t->n = t->cap = 0;
  pthread_mutex_unlock(&t->mu);
  for (size_t i = 0; i < n; i++) ex_unref(items[i]);
  free(items);
}
