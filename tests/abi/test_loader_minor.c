/* The loader built as a host one ABI minor newer than the header
 * (ELIDE_HOST_ABI_MINOR = ELIDE_ABI_MINOR+1, i.e. 1.3): modules built
 * against 1.0 and 1.2 keep loading, 1.3 modules load, and a module claiming
 * 1.4 is refused by name and values. */
#include "abi_test_util.h"
#include "check.h"
#include "mock_host.h"
#include "modules.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static module_registry reg; /* reachable: modules are never unloaded */

int main(void) {
  char dir[PATH_MAX], err[512] = "", want[PATH_MAX + 128];
  abi_mkdtemp("loader-minor", dir);
  abi_copy(ABI_FIXTURE_DIR "/good.so", dir, "a.so", 0755, NULL);
  abi_copy(ABI_FIXTURE_DIR "/minor_next.so", dir, "b.so", 0755, NULL);
  abi_copy(ABI_FIXTURE_DIR "/minor_after.so", dir, "c.so", 0755, NULL);
  abi_copy(ABI_FIXTURE_DIR "/short_desc.so", dir, "d.so", 0755, NULL);
  abi_copy(ABI_FIXTURE_DIR "/minor0.so", dir, "e.so", 0755, NULL);

  CHECK(ELIDE_ABI_MINOR == 2 && modules_host_abi_minor() == 3);
  CHECK(modules_load_dir(&reg, dir, err, sizeof err) == 0);
  CHECK(reg.n == 5);
  if (reg.n != 5) return CHECK_DONE();
  loaded_module *good = &reg.mods[0], *next = &reg.mods[1], *after = &reg.mods[2],
                *shrt = &reg.mods[3], *m0 = &reg.mods[4];
  CHECK(good->desc && !good->error[0] && good->desc->abi_minor == 2 && good->desc->ops->repl);
  CHECK(next->desc && !next->error[0] && next->desc->abi_minor == 3);
  CHECK(m0->desc && !m0->error[0] && m0->desc->abi_minor == 0 && !m0->desc->ops->repl);
  snprintf(want, sizeof want, "%s/c.so: abi_minor 4 is newer than the host's 3", dir);
  CHECK(!after->desc);
  CHECK(strcmp(after->error, want) == 0);
  if (strcmp(after->error, want) != 0) fprintf(stderr, "got %s\nwant %s\n", after->error, want);
  /* A 1.2 module still needs the full 1.2 descriptor. */
  snprintf(want, sizeof want,
           "%s/d.so: descriptor size 64 is smaller than 112, the size for ABI 1.2", dir);
  CHECK(!shrt->desc && strcmp(shrt->error, want) == 0);

  /* The 1.2 and the 1.0 module run tasks on the mock host. */
  elide_module_config mc0 = {sizeof mc0, NULL, 0, NULL, 0};
  CHECK(modules_init(m0, &mock_host_services, &mc0) == 0);
  {
    elide_exit ex0;
    char *o0 = NULL, *e0 = NULL, m0msg[256] = "";
    CHECK(mock_run_task(m0->desc, NULL, dir, NULL, "echo 1.0 loads", NULL, NULL, NULL, &ex0, &o0,
                        &e0, m0msg, sizeof m0msg) == 0);
    CHECK(o0 && strcmp(o0, "1.0 loads\n") == 0 && ex0.exit_code == 0);
    free(o0);
    free(e0);
  }
  elide_module_config mc = {sizeof mc, NULL, 0, NULL, 0};
  CHECK(modules_init(good, &mock_host_services, &mc) == 0);
  CHECK(modules_for_language(&reg, "fixture") == good);
  elide_exit ex;
  char *out = NULL, *errout = NULL, msg[256] = "";
  CHECK(mock_run_task(good->desc, NULL, dir, NULL, "echo still loads", NULL, NULL, NULL, &ex,
                      &out, &errout, msg, sizeof msg) == 0);
  CHECK(out && strcmp(out, "still loads\n") == 0 && ex.exit_code == 0);
  free(out);
  free(errout);
  abi_rmtree(dir);
  return CHECK_DONE();
}
