/* Task table and per-task exit state (see tasks.h). */
#include "tasks.h"

#include "strv.h"
#include "task_limits.h"

#include "nomad/driver.pb-c.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void task_table_init(task_table *tt) {
  pthread_mutex_init(&tt->mu, NULL);
  tt->items = NULL;
  tt->n = tt->cap = 0;
}

task *task_new(const char *id, const char *name, const char *alloc_id, const char *language) {
  task *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->id = strdup(id ? id : "");
  t->name = strdup(name ? name : "");
  t->alloc_id = strdup(alloc_id ? alloc_id : "");
  t->language = strdup(language ? language : "");
  if (!t->id || !t->name || !t->alloc_id || !t->language) {
    free(t->id);
    free(t->name);
    free(t->alloc_id);
    free(t->language);
    free(t);
    return NULL;
  }
  pthread_mutex_init(&t->mu, NULL);
  t->refs = 1;
  return t;
}

void task_context_free(task_context *c) {
  strv_free(c->envp);
  strv_free(c->cgroup_dirs);
  free(c->groups);
  memset(c, 0, sizeof *c);
}

void task_ref(task *t) {
  pthread_mutex_lock(&t->mu);
  t->refs++;
  pthread_mutex_unlock(&t->mu);
}

void task_unref(task *t) {
  if (!t) return;
  pthread_mutex_lock(&t->mu);
  int last = --t->refs == 0;
  pthread_mutex_unlock(&t->mu);
  if (!last) return;
  for (size_t i = 0; i < t->nwaiters; i++) rpc_call_unref(t->waiters[i]);
  free(t->waiters);
  free(t->driver_state);
  task_context_free(&t->ctx);
  task_limits_free(t->limits);
  free(t->id);
  free(t->name);
  free(t->alloc_id);
  free(t->language);
  pthread_mutex_destroy(&t->mu);
  free(t);
}

static ssize_t find_locked(task_table *tt, const char *id) {
  for (size_t i = 0; i < tt->n; i++)
    if (strcmp(tt->items[i]->id, id) == 0) return (ssize_t)i;
  return -1;
}

int task_table_insert(task_table *tt, task *t) {
  pthread_mutex_lock(&tt->mu);
  if (find_locked(tt, t->id) >= 0) {
    pthread_mutex_unlock(&tt->mu);
    return -EEXIST;
  }
  if (tt->n == tt->cap) {
    size_t cap = tt->cap ? tt->cap * 2 : 16;
    task **grown = realloc(tt->items, cap * sizeof *grown);
    if (!grown) {
      pthread_mutex_unlock(&tt->mu);
      return -ENOMEM;
    }
    tt->items = grown;
    tt->cap = cap;
  }
  task_ref(t);
  tt->items[tt->n++] = t;
  pthread_mutex_unlock(&tt->mu);
  return 0;
}

task *task_table_get(task_table *tt, const char *id) {
  pthread_mutex_lock(&tt->mu);
  ssize_t i = find_locked(tt, id ? id : "");
  task *t = i >= 0 ? tt->items[i] : NULL;
  if (t) task_ref(t);
  pthread_mutex_unlock(&tt->mu);
  return t;
}

task *task_table_remove(task_table *tt, const char *id) {
  pthread_mutex_lock(&tt->mu);
  ssize_t i = find_locked(tt, id ? id : "");
  task *t = NULL;
  if (i >= 0) {
    t = tt->items[i];
    tt->items[i] = tt->items[--tt->n];
  }
  pthread_mutex_unlock(&tt->mu);
  return t;
}

task **task_table_list(task_table *tt, size_t *n) {
  pthread_mutex_lock(&tt->mu);
  task **out = calloc(tt->n ? tt->n : 1, sizeof *out);
  *n = 0;
  if (out) {
    for (size_t i = 0; i < tt->n; i++) {
      task_ref(tt->items[i]);
      out[i] = tt->items[i];
    }
    *n = tt->n;
  }
  pthread_mutex_unlock(&tt->mu);
  return out;
}

/* Sends the WaitTaskResponse for an ended task and closes the call. */
static void answer_wait(rpc_call *call, const exec_result *r) {
  Hashicorp__Nomad__Plugins__Drivers__Proto__ExitResult res =
      HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__EXIT_RESULT__INIT;
  Hashicorp__Nomad__Plugins__Drivers__Proto__WaitTaskResponse rep =
      HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__WAIT_TASK_RESPONSE__INIT;
  res.exit_code = r->exit_code;
  res.signal = r->signal;
  res.oom_killed = r->oom_killed != 0;
  rep.result = &res;
  rep.err = (char *)(r->err[0] ? r->err : "");
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
}

void task_mark_exited(task *t, const exec_result *r) {
  pthread_mutex_lock(&t->mu);
  if (t->exited) {
    pthread_mutex_unlock(&t->mu);
    return;
  }
  t->exited = 1;
  t->result = *r;
  t->completed_at_ns = r->finished_at_ns;
  rpc_call **waiters = t->waiters;
  size_t n = t->nwaiters;
  t->waiters = NULL;
  t->nwaiters = t->capwaiters = 0;
  pthread_mutex_unlock(&t->mu);
  for (size_t i = 0; i < n; i++) {
    answer_wait(waiters[i], r);
    rpc_call_unref(waiters[i]);
  }
  free(waiters);
}

void task_add_waiter(task *t, rpc_call *call) {
  pthread_mutex_lock(&t->mu);
  if (t->exited) {
    exec_result r = t->result;
    pthread_mutex_unlock(&t->mu);
    answer_wait(call, &r);
    return;
  }
  /* Drop waiters whose calls were cancelled so repeated waits do not grow
   * the list without bound. */
  size_t w = 0;
  for (size_t i = 0; i < t->nwaiters; i++) {
    if (rpc_call_is_done(t->waiters[i]))
      rpc_call_unref(t->waiters[i]);
    else
      t->waiters[w++] = t->waiters[i];
  }
  t->nwaiters = w;
  if (t->nwaiters == t->capwaiters) {
    size_t cap = t->capwaiters ? t->capwaiters * 2 : 4;
    rpc_call **grown = realloc(t->waiters, cap * sizeof *grown);
    if (!grown) {
      pthread_mutex_unlock(&t->mu);
      rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory queueing WaitTask");
      return;
    }
    t->waiters = grown;
    t->capwaiters = cap;
  }
  rpc_call_ref(call);
  t->waiters[t->nwaiters++] = call;
  pthread_mutex_unlock(&t->mu);
}

int task_exit_state(task *t, exec_result *r, int64_t *completed_at_ns) {
  pthread_mutex_lock(&t->mu);
  int exited = t->exited;
  if (exited) {
    if (r) *r = t->result;
    if (completed_at_ns) *completed_at_ns = t->completed_at_ns;
  }
  pthread_mutex_unlock(&t->mu);
  return exited;
}
