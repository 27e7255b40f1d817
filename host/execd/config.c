/* execd.ini: the [daemon] keys and their checks, defaults, and the module
 * sections through the shared module_config code. */
#include "config.h"

#include "ini_config.h"
#include "module_config.h"
#include "module_host.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const elide_key daemon_keys[] = {
    {"listen", ELIDE_VALUE_STRING, 0, NULL,
     "unix:/path (or an absolute path) or host:port; default unix:/run/elide-execd/execd.sock "
     "as root"},
    {"socket_mode", ELIDE_VALUE_STRING, 0, "0660", "permissions of the unix socket (octal)"},
    {"socket_group", ELIDE_VALUE_STRING, 0, NULL, "group of the unix socket (name or gid)"},
    {"work_root", ELIDE_VALUE_PATH, 0, NULL,
     "executions' state, output and working directories; default /var/lib/elide-execd as root"},
    {"module_dir", ELIDE_VALUE_PATH, 0, NULL,
     "directory of backend modules (default: next to the binary)"},
    {"spool_max_bytes", ELIDE_VALUE_INT, 0, "67108864",
     "bytes of output kept per stream and execution (older bytes are trimmed)"},
    {"retain_finished", ELIDE_VALUE_INT, 0, "3600",
     "seconds a finished execution is kept after its end"},
    {"log_level", ELIDE_VALUE_STRING, 0, "info", "trace, debug, info, warn or error"},
    {"cgroup_parent", ELIDE_VALUE_STRING, 0, "elide-execd",
     "cgroup (relative to each hierarchy) under which executions with limits get their own"},
};
#define NDAEMON_KEYS (sizeof daemon_keys / sizeof daemon_keys[0])

/* Every [module.<name>] takes `mode`, as in driver.ini; the daemon runs
 * modules locally, so only "local" is accepted. */
static const elide_key mode_key = {"mode", ELIDE_VALUE_STRING, 0, "local",
                                   "local: elide-execd runs every module on its own host"};

static int check_mode(void *arg, const ini_doc *doc, const loaded_module *m, const elide_value *ini,
                      size_t nini, char *err, size_t errlen) {
  (void)arg;
  const elide_value *mode = ini ? elide_value_find(ini, nini, "mode") : NULL;
  if (mode && mode->is_set && strcmp(mode->str, "local") != 0) {
    snprintf(err, errlen, "%s:%d: [module.%s]: mode \"%s\": elide-execd runs every module "
             "locally (only \"local\")", ini_path(doc), ini_line(doc, "module", m->desc->name,
                                                                  "mode"), m->desc->name,
             mode->str);
    return -EINVAL;
  }
  return 0;
}

/* "file:line: [daemon]: key: " for messages about a value. */
static int where(const ini_doc *doc, const char *key, char *out, size_t cap) {
  if (!doc) return snprintf(out, cap, "[daemon]: %s: ", key);
  return snprintf(out, cap, "%s:%d: [daemon]: %s: ", ini_path(doc),
                  ini_line(doc, "daemon", NULL, key), key);
}

static int bad(const ini_doc *doc, const char *key, char *err, size_t errlen, const char *what,
               const char *value) {
  char at[PATH_MAX + 64], shown[80];
  where(doc, key, at, sizeof at);
  snprintf(err, errlen, "%s\"%s\" %s", at, value_printable(shown, sizeof shown, value), what);
  return -EINVAL;
}

/* unix:/abs, unix:///abs or /abs (a unix socket), or host:port. */
static int parse_listen(const ini_doc *doc, const char *text, execd_config *c, char *err,
                        size_t errlen) {
  const char *path = NULL;
  if (!strncmp(text, "unix://", 7)) path = text + 7;
  else if (!strncmp(text, "unix:", 5)) path = text + 5;
  else if (text[0] == '/') path = text;
  if (path) {
    if (path[0] != '/')
      return bad(doc, "listen", err, errlen, "must name an absolute socket path", text);
    if (strlen(path) >= 108)
      return bad(doc, "listen", err, errlen, "is too long for a unix socket path (107 bytes)",
                 text);
    snprintf(c->socket_path, sizeof c->socket_path, "%s", path);
    snprintf(c->listen, sizeof c->listen, "unix:%s", path);
    return 0;
  }
  const char *colon = strrchr(text, ':');
  char *end = NULL;
  long port = colon ? strtol(colon + 1, &end, 10) : 0;
  if (!colon || colon == text || !colon[1] || *end || port < 1 || port > 65535 ||
      strchr(text, '/'))
    return bad(doc, "listen", err, errlen,
               "is neither unix:/absolute/path nor host:port with a port 1-65535", text);
  c->socket_path[0] = '\0';
  snprintf(c->listen, sizeof c->listen, "%s", text);
  return 0;
}

static int parse_mode(const ini_doc *doc, const char *text, execd_config *c, char *err,
                      size_t errlen) {
  size_t n = strlen(text);
  if (n == 0 || n > 4 || strspn(text, "01234567") != n)
    return bad(doc, "socket_mode", err, errlen, "is not an octal mode such as 0660", text);
  c->socket_mode = (mode_t)strtol(text, NULL, 8);
  if (c->socket_mode & ~0777u)
    return bad(doc, "socket_mode", err, errlen, "has bits beyond 0777", text);
  return 0;
}

static int parse_group(const ini_doc *doc, const char *text, execd_config *c, char *err,
                       size_t errlen) {
  struct group gr, *res = NULL;
  char buf[16384];
  if (getgrnam_r(text, &gr, buf, sizeof buf, &res) == 0 && res) {
    c->socket_gid = gr.gr_gid;
  } else if (text[0] && strspn(text, "0123456789") == strlen(text) && strlen(text) < 10) {
    c->socket_gid = (gid_t)strtoul(text, NULL, 10);
  } else {
    return bad(doc, "socket_group", err, errlen, "is not a known group name or a gid", text);
  }
  c->has_socket_group = 1;
  return 0;
}

static void defaults(execd_config *c) {
  c->socket_mode = 0660;
  c->spool_max_bytes = EXECD_DEFAULT_SPOOL_MAX;
  c->retain_finished_s = EXECD_DEFAULT_RETAIN_S;
  c->level = LOG_INFO;
  snprintf(c->cgroup_parent, sizeof c->cgroup_parent, "elide-execd");
  if (geteuid() == 0) {
    snprintf(c->work_root, sizeof c->work_root, "/var/lib/elide-execd");
  } else {
    const char *tmp = getenv("TMPDIR");
    snprintf(c->work_root, sizeof c->work_root, "%s/elide-execd-%u",
             tmp && tmp[0] == '/' ? tmp : "/tmp", (unsigned)geteuid());
  }
}

/* The [daemon] values over the defaults. */
static int apply_daemon(const ini_doc *doc, execd_config *c, char *err, size_t errlen) {
  size_t n = 0;
  const elide_value *v = doc ? ini_section_values(doc, "daemon", NULL, &n) : NULL;
  const elide_value *x;
  if (v && (x = elide_value_find(v, n, "work_root")) && x->is_set)
    snprintf(c->work_root, sizeof c->work_root, "%s", x->str);
  if (v && (x = elide_value_find(v, n, "module_dir")) && x->is_set)
    snprintf(c->module_dir, sizeof c->module_dir, "%s", x->str);
  char sock[PATH_MAX + 32];
  if (geteuid() == 0) snprintf(sock, sizeof sock, "unix:/run/elide-execd/execd.sock");
  else snprintf(sock, sizeof sock, "unix:%s/execd.sock", c->work_root);
  const char *listen = v && (x = elide_value_find(v, n, "listen")) && x->is_set ? x->str : sock;
  int rc = parse_listen(v ? doc : NULL, listen, c, err, errlen);
  if (rc == 0 && v && (x = elide_value_find(v, n, "socket_mode")) && x->is_set)
    rc = parse_mode(doc, x->str, c, err, errlen);
  if (rc == 0 && v && (x = elide_value_find(v, n, "socket_group")) && x->is_set)
    rc = parse_group(doc, x->str, c, err, errlen);
  if (rc == 0 && v && (x = elide_value_find(v, n, "spool_max_bytes")) && x->is_set) {
    if (x->i < (int64_t)EXECD_MIN_SPOOL_MAX)
      return bad(doc, "spool_max_bytes", err, errlen, "must be at least 4096", x->str);
    c->spool_max_bytes = (uint64_t)x->i;
  }
  if (rc == 0 && v && (x = elide_value_find(v, n, "retain_finished")) && x->is_set) {
    if (x->i < 0) return bad(doc, "retain_finished", err, errlen, "must not be negative", x->str);
    c->retain_finished_s = x->i;
  }
  if (rc == 0 && v && (x = elide_value_find(v, n, "cgroup_parent")) && x->is_set) {
    /* Relative, plain components: it names a directory in every hierarchy. */
    const char *t = x->str;
    int ok = t[0] && t[0] != '/' && strlen(t) < 256 &&
             strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/") ==
                 strlen(t) &&
             !strstr(t, "//") && t[strlen(t) - 1] != '/';
    for (const char *c = t; ok && *c; c = strchr(c, '/') ? strchr(c, '/') + 1 : c + strlen(c))
      ok = strncmp(c, "./", 2) && strcmp(c, ".") && strncmp(c, "../", 3) && strcmp(c, "..");
    if (!ok)
      return bad(doc, "cgroup_parent", err, errlen,
                 "is not a relative cgroup path of [A-Za-z0-9._-] components", x->str);
    snprintf(c->cgroup_parent, sizeof c->cgroup_parent, "%s", x->str);
  }
  if (rc == 0 && v && (x = elide_value_find(v, n, "log_level")) && x->is_set) {
    static const char *const names[] = {"trace", "debug", "info", "warn", "error"};
    int found = -1;
    for (int i = 0; i < 5; i++)
      if (!strcmp(x->str, names[i])) found = i;
    if (found < 0)
      return bad(doc, "log_level", err, errlen, "is not one of trace, debug, info, warn, error",
                 x->str);
    c->level = (log_level)found;
  }
  return rc;
}

int config_load(const char *path, module_registry *reg, char *modules_error,
                size_t modules_error_len, execd_config *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  defaults(out);
  modules_error[0] = '\0';
  if (path) {
    snprintf(out->config_file, sizeof out->config_file, "%s", path);
    /* module_dir decides the modules, and so the schema: peek first. */
    char dir[PATH_MAX];
    int found = ini_peek(path, "daemon", "module_dir", dir, sizeof dir, err, errlen);
    if (found < 0) return found;
    /* A relative one is refused below, by ini_load, with its line. */
    if (found == 1 && dir[0] == '/') snprintf(out->module_dir, sizeof out->module_dir, "%s", dir);
  }
  if (!out->module_dir[0]) modules_default_path("modules", out->module_dir, sizeof out->module_dir);
  if (modules_load_dir(reg, out->module_dir, modules_error, modules_error_len) != 0 &&
      !modules_error[0])
    snprintf(modules_error, modules_error_len, "cannot load modules from %s", out->module_dir);

  module_schema *schema = NULL;
  ini_doc *doc = NULL;
  const elide_key host_keys[] = {mode_key, module_warm_pool_key};
  int rc = module_schema_build(reg, host_keys, 2, NULL, 0, daemon_keys, NDAEMON_KEYS, &schema);
  if (rc != 0) snprintf(err, errlen, "out of memory building the configuration schema");
  if (rc == 0 && path) rc = ini_load(path, module_schema_ini(schema), &doc, err, errlen);
  if (rc == 0) rc = apply_daemon(doc, out, err, errlen);
  module_config_hooks hooks = {.check = check_mode};
  if (rc == 0) rc = module_config_apply(reg, doc, &hooks, &module_host_services, err, errlen);
  ini_free(doc);
  module_schema_free(schema);
  return rc;
}
