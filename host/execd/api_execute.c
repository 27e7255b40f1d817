/* ExecuteSnippet (in the pool: the module's execute op waits for the
 * runtime's execve), GetExecutionStatus and ListExecutions. */
#include "api.h"
#include "limits.h"
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void execute_snippet(rpc_call *call, const ProtobufCMessage *msg) {
  const ExecRequest *req = (const void *)msg;
  execd *d = execd_of(call);
  execution *e = NULL;
  int existing = 0;
  grpc_status_code code = GRPC_STATUS_OK;
  char err[2048];
  if (atomic_load(&d->stopping)) { /* queued before the stop: start nothing new */
    rpc_finish(call, GRPC_STATUS_UNAVAILABLE, "elide-execd is shutting down");
    return;
  }
  if (ex_start(d, req, &e, &existing, &code, err, sizeof err) != 0) {
    api_utf8_clean(err, strlen(err));
    rpc_finish(call, code, err);
    return;
  }
  EP(ExecuteSnippetResponse) rep = EP_INIT(EXECUTE_SNIPPET_RESPONSE);
  rep.execution_id = e->id;
  rep.session_id = e->session_id;
  rep.status = ex_status(e);
  rep.existing = existing != 0;
  rep.limits_enforced = e->cg != NULL;
  rep.limits_note = (char *)ex_limits_note(e->req);
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
  ex_unref(e);
}

void api_execute_snippet(rpc_call *call, const ProtobufCMessage *msg) {
  pool_call(call, msg, execute_snippet);
}

/* A snapshot of what a status or listing reports. */
typedef struct snapshot {
  ex_state state;
  ex_result result;
  int64_t started_at_ns;
  int status;
} snapshot;

static void take_snapshot(execution *e, snapshot *s) {
  s->status = ex_status(e);
  pthread_mutex_lock(&e->mu);
  s->state = e->state;
  s->result = e->result;
  s->started_at_ns = e->started_at_ns;
  pthread_mutex_unlock(&e->mu);
  api_utf8_clean(s->result.error, strlen(s->result.error));
}

void api_get_status(rpc_call *call, const ProtobufCMessage *msg) {
  const EP(GetExecutionStatusRequest) *req = (const void *)msg;
  execution *e = api_lookup(call, req->session_id, req->execution_id, 0);
  if (!e) return;
  snapshot s;
  take_snapshot(e, &s);
  EP(GetExecutionStatusResponse) rep = EP_INIT(GET_EXECUTION_STATUS_RESPONSE);
  EP(ExitResult) res = EP_INIT(EXIT_RESULT);
  EP(ExecutionStats) stats = EP_INIT(EXECUTION_STATS);
  char *tails[2] = {NULL, NULL};
  rep.execution_id = e->id;
  rep.session_id = e->session_id;
  rep.language = e->language;
  rep.status = s.status;
  rep.started_at_ns = s.started_at_ns;
  if (s.state != EX_STARTING) { /* the spools exist */
    for (int fd = 0; fd < 2; fd++) {
      size_t len = 0;
      if (spool_tail(&e->out[fd], EXECD_STATUS_TAIL, &tails[fd], &len) == 0)
        api_utf8_clean(tails[fd], len);
    }
    rep.stdout_bytes = spool_size(&e->out[EX_STDOUT]);
    rep.stderr_bytes = spool_size(&e->out[EX_STDERR]);
    if (tails[0]) rep.stdout = tails[0];
    if (tails[1]) rep.stderr = tails[1];
  }
  if (s.state == EX_ENDED) {
    rep.complete = 1;
    rep.exit_code = s.result.exit_code;
    rep.error = s.result.error;
    api_fill_result(&res, &s.result, s.started_at_ns);
    rep.result = &res;
  }
  ex_stats(e, &stats);
  rep.stats = &stats;
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
  free(tails[0]);
  free(tails[1]);
  ex_unref(e);
}

typedef struct listed {
  execution *e;
  snapshot s;
} listed;

static int by_start(const void *a, const void *b) {
  const listed *x = a, *y = b;
  if (x->s.started_at_ns != y->s.started_at_ns)
    return x->s.started_at_ns < y->s.started_at_ns ? -1 : 1;
  return strcmp(x->e->id, y->e->id);
}

void api_list_executions(rpc_call *call, const ProtobufCMessage *msg) {
  const EP(ListExecutionsRequest) *req = (const void *)msg;
  size_t n = 0;
  execution **all = ex_table_list(&execd_of(call)->executions, &n);
  listed *items = calloc(n + 1, sizeof *items);
  EP(ExecutionInfo) *infos = calloc(n + 1, sizeof *infos);
  EP(ExecutionInfo) **ptrs = calloc(n + 1, sizeof *ptrs);
  EP(ExitResult) *results = calloc(n + 1, sizeof *results);
  if (!all || !items || !infos || !ptrs || !results) {
    rpc_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    n = 0;
    goto out;
  }
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    execution *e = all[i];
    if (req->session_id[0] && strcmp(req->session_id, e->session_id) != 0) continue;
    take_snapshot(e, &items[k].s);
    if (items[k].s.state == EX_ENDED && !req->include_finished) continue;
    items[k++].e = e;
  }
  qsort(items, k, sizeof *items, by_start);
  for (size_t i = 0; i < k; i++) {
    EP(ExecutionInfo) init = EP_INIT(EXECUTION_INFO);
    EP(ExitResult) rinit = EP_INIT(EXIT_RESULT);
    execution *e = items[i].e;
    infos[i] = init;
    infos[i].execution_id = e->id;
    infos[i].session_id = e->session_id;
    infos[i].language = e->language;
    infos[i].status = items[i].s.status;
    infos[i].started_at_ns = items[i].s.started_at_ns;
    if (items[i].s.state != EX_STARTING) {
      infos[i].stdout_bytes = spool_size(&e->out[EX_STDOUT]);
      infos[i].stderr_bytes = spool_size(&e->out[EX_STDERR]);
    }
    if (items[i].s.state == EX_ENDED) {
      results[i] = rinit;
      api_fill_result(&results[i], &items[i].s.result, items[i].s.started_at_ns);
      infos[i].result = &results[i];
    }
    ptrs[i] = &infos[i];
  }
  EP(ListExecutionsResponse) rep = EP_INIT(LIST_EXECUTIONS_RESPONSE);
  rep.n_executions = k;
  rep.executions = ptrs;
  rpc_send(call, &rep.base);
  rpc_finish(call, GRPC_STATUS_OK, NULL);
out:
  for (size_t i = 0; i < n; i++) ex_unref(all[i]);
  free(all);
  free(items);
  free(infos);
  free(ptrs);
  free(results);
}
