/* The out-of-tree Lua module (examples/vendor-module), installed next to the
 * shipped modules, through the real loader and the mock host: it loads
 * beside them, fingerprints lua5.4, and runs scripts and inline code with
 * args, task options, output and exit codes. Usage: test_vendor_module DIR */
#include "abi_test_util.h"
#include "check.h"
#include "mock_host.h"
#include "modules.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static module_registry reg; /* reachable: modules are never unloaded */

static const char *const task_env[] = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", NULL};

/* Runs one Lua task; returns its exit code (-1 when it did not start). */
static int run(const loaded_module *m, const char *task_dir, const char *script,
               const char *code, const char *const *args, const char *const *opts, char **out,
               char **err_out) {
  elide_exit ex;
  char msg[256] = "";
  *out = *err_out = NULL;
  if (mock_run_task(m->desc, NULL, task_dir, script, code, args, task_env, opts, &ex, out,
                    err_out, msg, sizeof msg) != 0) {
    fprintf(stderr, "task did not start: %s\n", msg);
    return -1;
  }
  return ex.exit_code;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODULE_DIR\n", argv[0]);
    return 2;
  }
  char err[512] = "";
  CHECK(modules_load_dir(&reg, argv[1], err, sizeof err) == 0);
  loaded_module *lua = NULL;
  for (size_t i = 0; i < reg.n; i++) {
    loaded_module *m = &reg.mods[i];
    printf("%s: %s\n", m->path, m->error[0] ? m->error : "loaded");
    CHECK(m->desc && !m->error[0]); /* the vendor module and every shipped one */
    if (m->desc && strcmp(m->desc->name, "lua") == 0) lua = m;
  }
  CHECK(lua != NULL);
  if (!lua) return CHECK_DONE();
  CHECK(strcmp(lua->desc->languages[0], "lua") == 0);

  elide_module_config mc = {sizeof mc, NULL, 0, NULL, 0};
  CHECK(modules_init(lua, &mock_host_services, &mc) == 0);
  CHECK(modules_for_language(&reg, "lua") == lua);
  elide_fingerprint fp;
  memset(&fp, 0, sizeof fp);
  CHECK(lua->desc->ops->fingerprint(lua->state, &fp) == 0);
  CHECK(fp.healthy == 1);
  CHECK(fp.nattrs == 2 && strcmp(fp.attrs[0].key, "runtime") == 0 &&
        strcmp(fp.attrs[0].value, "/usr/bin/lua5.4") == 0);
  CHECK(fp.nattrs == 2 && strcmp(fp.attrs[1].key, "version") == 0 &&
        strncmp(fp.attrs[1].value, "5.4.", 4) == 0);

  char task_dir[PATH_MAX], *out, *errout;
  abi_mkdtemp("vendor-task", task_dir);

  /* A script with args and an exit code. */
  abi_write(task_dir, "hello.lua",
            "print('hello from ' .. _VERSION)\n"
            "print(select('#', ...), ...)\n"
            "io.stderr:write('to stderr\\n')\n"
            "os.exit(7)\n");
  char script[PATH_MAX + 16];
  snprintf(script, sizeof script, "%s/hello.lua", task_dir);
  const char *const args[] = {"a", "b c", NULL};
  CHECK(run(lua, task_dir, script, NULL, args, NULL, &out, &errout) == 7);
  CHECK_STR_CONTAINS(out, "hello from Lua 5.4\n2\ta\tb c\n");
  CHECK_STR_CONTAINS(errout, "to stderr");
  free(out);
  free(errout);

  /* Inline code sees its args in `arg`; a runtime error exits 1. */
  CHECK(run(lua, task_dir, NULL, "io.write(arg[1], '+', arg[2], '\\n') error('boom')", args,
            NULL, &out, &errout) == 1);
  CHECK(out && strcmp(out, "a+b c\n") == 0);
  CHECK_STR_CONTAINS(errout, "boom");
  free(out);
  free(errout);

  /* The module's own task key reaches it typed: warnings on and off. */
  const char *const warn_on[] = {"warnings", "true", NULL};
  CHECK(run(lua, task_dir, NULL, "warn('careful')", NULL, warn_on, &out, &errout) == 0);
  CHECK_STR_CONTAINS(errout, "Lua warning: careful");
  free(out);
  free(errout);
  CHECK(run(lua, task_dir, NULL, "warn('careful')", NULL, NULL, &out, &errout) == 0);
  CHECK(errout && strstr(errout, "careful") == NULL);
  free(out);
  free(errout);

  abi_rmtree(task_dir);
  return CHECK_DONE();
}
