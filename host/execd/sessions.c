/* The session table and its files (see sessions.h). */
#include "sessions.h"

#include "limits.h"
#include "log.h"
#include "store.h"
#include "timers.h"
#include "validate.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct session {
  EP(GetSessionResponse) * rec; /* unpacked, owned: id, status, config, created_at */
} session;

static void session_free(session *s) {
  if (!s) return;
  if (s->rec) protobuf_c_message_free_unpacked(&s->rec->base, NULL);
  free(s);
}

static session *find_locked(session_table *t, const char *id, size_t *index) {
  for (size_t i = 0; i < t->n; i++) {
    if (strcmp(t->items[i]->rec->session_id, id) == 0) {
      if (index) *index = i;
      return t->items[i];
    }
  }
  return NULL;
}

static int add_locked(session_table *t, session *s) {
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    session **grown = realloc(t->items, cap * sizeof *grown);
    if (!grown) return -ENOMEM;
    t->items = grown;
    t->cap = cap;
  }
  t->items[t->n++] = s;
  return 0;
}

static session *session_from_bytes(const uint8_t *data, size_t len) {
  session *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->rec = (EP(GetSessionResponse) *)protobuf_c_message_unpack(&EP_DESC(get_session_response),
                                                               NULL, len, data);
  if (!s->rec || !s->rec->session_id[0]) {
    session_free(s);
    return NULL;
  }
  return s;
}

void sessions_load(execd *d) {
  session_table *t = &d->sessions;
  pthread_mutex_init(&t->mu, NULL);
  DIR *dir = opendir(d->session_root);
  if (!dir) return;
  struct dirent *ent;
  while ((ent = readdir(dir))) {
    size_t len = strlen(ent->d_name);
    if (len < 4 || strcmp(ent->d_name + len - 3, ".pb") != 0) continue;
    char *data;
    size_t n;
    session *s = NULL;
    if (store_read(d->session_root, ent->d_name, 1 << 20, &data, &n) == 0) {
      s = session_from_bytes((const uint8_t *)data, n);
      free(data);
    }
    if (!s || add_locked(t, s) != 0) {
      log_msg(LOG_WARN, "skipping an unreadable session record", "dir", d->session_root, "file",
              ent->d_name, NULL);
      session_free(s);
    }
  }
  closedir(dir);
}

void sessions_free(execd *d) {
  session_table *t = &d->sessions;
  for (size_t i = 0; i < t->n; i++) session_free(t->items[i]);
  free(t->items);
  t->items = NULL;
  t->n = t->cap = 0;
  pthread_mutex_destroy(&t->mu);
}

static int strs_eq(char **a, size_t na, char **b, size_t nb) {
  if (na != nb) return 0;
  for (size_t i = 0; i < na; i++)
    if (strcmp(a[i], b[i]) != 0) return 0;
  return 1;
}

static int config_eq(const EP(SessionConfiguration) * a, const EP(SessionConfiguration) * b) {
  EP(SessionConfiguration) zero = EP_INIT(SESSION_CONFIGURATION);
  if (!a) a = &zero;
  if (!b) b = &zero;
  return a->context_pool_size == b->context_pool_size && a->memory_limit_mb == b->memory_limit_mb &&
         !a->enable_ai == !b->enable_ai &&
         strs_eq(a->enabled_languages, a->n_enabled_languages, b->enabled_languages,
                 b->n_enabled_languages) &&
         strs_eq(a->enabled_intrinsics, a->n_enabled_intrinsics, b->enabled_intrinsics,
                 b->n_enabled_intrinsics);
}

static int check_config(const EP(SessionConfiguration) * c, grpc_status_code *code, char *err,
                        size_t errlen) {
  if (!c) return 0;
  /* The memory limit of the session's executions that set none: needs
   * cgroups (limits.c). */
  if (ex_limits_check_session(c->memory_limit_mb, code, err, errlen) < 0) return -1;
  if (c->n_enabled_languages > EXECD_MAX_LANGUAGES || c->n_enabled_intrinsics > EXECD_MAX_LANGUAGES) {
    snprintf(err, errlen, "field \"config\": at most %d enabled languages and intrinsics",
             EXECD_MAX_LANGUAGES);
    *code = GRPC_STATUS_RESOURCE_EXHAUSTED;
    return -1;
  }
  for (size_t i = 0; i < c->n_enabled_languages + c->n_enabled_intrinsics; i++) {
    const char *s = i < c->n_enabled_languages ? c->enabled_languages[i]
                                               : c->enabled_intrinsics[i - c->n_enabled_languages];
    if (strlen(s) > EXECD_MAX_ID) {
      snprintf(err, errlen, "field \"config\": a name longer than %d bytes", EXECD_MAX_ID);
      *code = GRPC_STATUS_INVALID_ARGUMENT;
      return -1;
    }
  }
  return 0;
}

/* Writes the record; the file name is the escaped id. */
static int persist(execd *d, const EP(GetSessionResponse) * rec, const char *escaped) {
  size_t len = protobuf_c_message_get_packed_size(&rec->base);
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf) return -ENOMEM;
  protobuf_c_message_pack(&rec->base, buf);
  char name[STORE_MAX_ESCAPED + 8];
  snprintf(name, sizeof name, "%s.pb", escaped);
  int rc = store_mkdir_p(d->session_root, 0700);
  if (rc == 0) rc = store_write(d->session_root, name, buf, len);
  free(buf);
  return rc;
}

int sessions_create(execd *d, const EP(CreateSessionRequest) * req, int64_t *created_at,
                    grpc_status_code *code, char *err, size_t errlen) {
  char escaped[STORE_MAX_ESCAPED + 1];
  *code = GRPC_STATUS_INVALID_ARGUMENT;
  if (check_id("session_id", req->session_id, 1, err, errlen) < 0) return -1;
  if (store_escape(req->session_id, escaped, sizeof escaped) < 0) {
    snprintf(err, errlen, "field \"session_id\" is too long once escaped for a file name");
    return -1;
  }
  if (check_config(req->config, code, err, errlen) < 0) return -1;
  session_table *t = &d->sessions;
  pthread_mutex_lock(&t->mu);
  session *s = find_locked(t, req->session_id, NULL);
  if (s) {
    int same = config_eq(s->rec->config, req->config);
    *created_at = s->rec->created_at;
    pthread_mutex_unlock(&t->mu);
    if (same) return 0;
    snprintf(err, errlen, "session \"%s\" exists with another config", req->session_id);
    *code = GRPC_STATUS_ALREADY_EXISTS;
    return -1;
  }
  /* The new record: the request's config copied through its packed form. */
  EP(GetSessionResponse) rec = EP_INIT(GET_SESSION_RESPONSE);
  rec.session_id = req->session_id;
  rec.status = EP_ENUM(SESSION_STATUS__SESSION_STATUS_ACTIVE);
  rec.config = req->config;
  rec.created_at = timers_realtime_ns() / 1000000000LL;
  size_t len = protobuf_c_message_get_packed_size(&rec.base);
  uint8_t *buf = malloc(len ? len : 1);
  session *added = NULL;
  int rc = -ENOMEM;
  if (buf) {
    protobuf_c_message_pack(&rec.base, buf);
    added = session_from_bytes(buf, len);
    free(buf);
  }
  if (added && (rc = persist(d, added->rec, escaped)) == 0) rc = add_locked(t, added);
  pthread_mutex_unlock(&t->mu);
  if (rc != 0) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.pb", d->session_root, escaped);
    if (added) unlink(path);
    session_free(added);
    snprintf(err, errlen, "cannot record session \"%s\": %s", req->session_id, strerror(-rc));
    *code = GRPC_STATUS_INTERNAL;
    return -1;
  }
  *created_at = rec.created_at;
  return 0;
}

int sessions_reply(execd *d, const char *id, rpc_call *call) {
  session_table *t = &d->sessions;
  pthread_mutex_lock(&t->mu);
  session *s = find_locked(t, id, NULL);
  if (s) rpc_send(call, &s->rec->base); /* packed before it returns */
  pthread_mutex_unlock(&t->mu);
  return s ? 0 : -ENOENT;
}

int sessions_delete(execd *d, const char *id) {
  session_table *t = &d->sessions;
  size_t i;
  pthread_mutex_lock(&t->mu);
  session *s = find_locked(t, id, &i);
  if (s) t->items[i] = t->items[--t->n];
  pthread_mutex_unlock(&t->mu);
  if (!s) return -ENOENT;
  char escaped[STORE_MAX_ESCAPED + 1], name[STORE_MAX_ESCAPED + 8];
  if (store_escape(id, escaped, sizeof escaped) == 0) {
    snprintf(name, sizeof name, "%s.pb", escaped);
    store_unlink(d->session_root, name);
  }
  session_free(s);
  return 0;
}

uint64_t sessions_memory_limit_mb(execd *d, const char *session_id) {
  if (!session_id || !session_id[0]) return 0;
  pthread_mutex_lock(&d->sessions.mu);
  session *s = find_locked(&d->sessions, session_id, NULL);
  uint64_t mb = s && s->rec->config ? s->rec->config->memory_limit_mb : 0;
  pthread_mutex_unlock(&d->sessions.mu);
  return mb;
}

int sessions_check(execd *d, const char *session_id, const char *language,
                   grpc_status_code *code, char *err, size_t errlen) {
  if (!session_id || !session_id[0]) return 0;
  session_table *t = &d->sessions;
  int rc = 0;
  pthread_mutex_lock(&t->mu);
  session *s = find_locked(t, session_id, NULL);
  if (!s) {
    snprintf(err, errlen, "session \"%s\" not found", session_id);
    *code = GRPC_STATUS_NOT_FOUND;
    rc = -1;
  } else if (s->rec->config && s->rec->config->n_enabled_languages) {
    const EP(SessionConfiguration) *c = s->rec->config;
    int ok = 0;
    for (size_t i = 0; i < c->n_enabled_languages && !ok; i++)
      ok = strcmp(c->enabled_languages[i], language) == 0;
    if (!ok) {
      snprintf(err, errlen, "field \"language\": \"%s\" is not enabled in session \"%s\"",
               language, session_id);
      *code = GRPC_STATUS_INVALID_ARGUMENT;
      rc = -1;
    }
  }
  pthread_mutex_unlock(&t->mu);
  return rc;
}
