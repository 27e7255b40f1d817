/* Task events about a task's life in this driver (see task_events.h). */
#include "task_events.h"

#include <stdio.h>
#include <string.h>

static const char *attr_of(const elide_fingerprint *fp, const char *key) {
  for (size_t i = 0; i < fp->nattrs && i < ELIDE_MAX_ATTRS; i++)
    if (strcmp(fp->attrs[i].key, key) == 0) return fp->attrs[i].value;
  return "";
}

void task_events_note_runtime(plugin *p, const char *module, const elide_fingerprint *fp) {
  runtime_note *n = NULL;
  for (size_t i = 0; i < p->nruntimes && !n; i++)
    if (strcmp(p->runtimes[i].module, module) == 0) n = &p->runtimes[i];
  if (!n) {
    if (p->nruntimes == PLUGIN_MAX_RUNTIME_NOTES) return;
    n = &p->runtimes[p->nruntimes++];
    snprintf(n->module, sizeof n->module, "%s", module);
  }
  /* Replaced as a whole: an unhealthy runtime reports no version, and an
   * event must not name one it no longer has. */
  snprintf(n->runtime, sizeof n->runtime, "%s", attr_of(fp, "runtime"));
  snprintf(n->version, sizeof n->version, "%s", attr_of(fp, "version"));
  snprintf(n->engine, sizeof n->engine, "%s", attr_of(fp, "engine"));
}

/* Copies the note of `module` (an empty note when none exists). */
static runtime_note note_of(plugin *p, const char *module) {
  runtime_note n;
  memset(&n, 0, sizeof n);
  pthread_mutex_lock(&p->mu);
  for (size_t i = 0; i < p->nruntimes; i++)
    if (strcmp(p->runtimes[i].module, module) == 0) n = p->runtimes[i];
  pthread_mutex_unlock(&p->mu);
  return n;
}

/* "python3 3.11.2 (/usr/bin/python3)": the binary's name, its version and
 * path; "runtime not fingerprinted yet" before any fingerprint. */
static void describe_runtime(const runtime_note *n, char *out, size_t cap) {
  if (!n->runtime[0]) {
    snprintf(out, cap, "runtime not fingerprinted yet");
    return;
  }
  const char *base = strrchr(n->runtime, '/');
  base = base ? base + 1 : n->runtime;
  if (n->version[0])
    snprintf(out, cap, "runtime %s %s (%s)", base, n->version, n->runtime);
  else
    snprintf(out, cap, "runtime %s, version unknown (%s)", base, n->runtime);
}

void task_events_started(plugin *p, const task *t, const loaded_module *m,
                         const char *daemon_endpoint) {
  runtime_note n = note_of(p, m->desc->name);
  char runtime[700], where[600] = "", pid[32], message[1600];
  describe_runtime(&n, runtime, sizeof runtime);
  if (daemon_endpoint && daemon_endpoint[0])
    snprintf(where, sizeof where, " in the execution daemon at %s", daemon_endpoint);
  /* Local tasks say how they started (a warm pool's copy, or cold and why
   * not warm); a daemon's task started however the daemon's pool allowed,
   * which the daemon does not report. */
  const char *kind = "daemon", *note = "";
  char start[400] = "";
  if (!where[0] && t->proc) {
    kind = exec_start_was_warm(t->proc, &note) > 0 ? "warm" : "cold";
    snprintf(start, sizeof start, ", %s start%s%s%s", kind, note[0] ? " (" : "", note,
             note[0] ? ")" : "");
  }
  snprintf(message, sizeof message, "Started %s task%s: backend %s %s, %s%s", t->language, where,
           m->desc->name, m->desc->version, runtime, start);
  snprintf(pid, sizeof pid, "%d", t->runner ? (int)t->runner->pid(t) : 0);
  const char *ann[2 * 9 + 1];
  size_t k = 0;
  ann[k++] = "backend";
  ann[k++] = m->desc->name;
  ann[k++] = "backend_version";
  ann[k++] = m->desc->version;
  ann[k++] = "runtime";
  ann[k++] = n.runtime;
  ann[k++] = "runtime_version";
  ann[k++] = n.version;
  if (n.engine[0]) {
    ann[k++] = "engine";
    ann[k++] = n.engine;
  }
  ann[k++] = "start";
  ann[k++] = kind;
  ann[k++] = "mode";
  ann[k++] = t->runner ? t->runner->kind : "local";
  ann[k++] = "pid";
  ann[k++] = pid;
  ann[k] = NULL;
  events_emit(p, t, message, ann);
}

void task_events_recovered(plugin *p, task *t, const char *daemon_endpoint) {
  char message[1200], state[600];
  exec_result r;
  const char *ended = "false";
  if (daemon_endpoint && daemon_endpoint[0]) {
    snprintf(state, sizeof state, "re-attached to the task in the execution daemon at %s",
             daemon_endpoint);
  } else if (task_exit_state(t, &r, NULL)) {
    ended = "true";
    if (r.err[0])
      snprintf(state, sizeof state, "the task ended while no plugin ran, without a status: %s",
               r.err);
    else if (r.signal)
      snprintf(state, sizeof state,
               "the task ended while no plugin ran: killed by signal %d (exit code %d)", r.signal,
               r.exit_code);
    else
      snprintf(state, sizeof state, "the task ended while no plugin ran, with exit code %d",
               r.exit_code);
  } else {
    snprintf(state, sizeof state, "re-attached to the running task (pid %d)",
             t->runner ? (int)t->runner->pid(t) : 0);
  }
  snprintf(message, sizeof message, "Recovered after plugin restart: %s", state);
  const char *ann[] = {"recovered", "true", "ended_while_down", ended, "mode",
                       t->runner ? t->runner->kind : "local", NULL};
  events_emit(p, t, message, ann);
}

void task_events_recovery_failed(plugin *p, const task *t, const char *why) {
  char message[1200];
  snprintf(message, sizeof message, "Recovery after plugin restart failed: %s", why);
  const char *ann[] = {"recovered", "false", NULL};
  events_emit(p, t, message, ann);
}

void task_events_emit_for(void *plugin_arg, const task *t, const char *message,
                          const char *const *annotations) {
  events_emit(plugin_arg, t, message, annotations);
}
