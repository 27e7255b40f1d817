/* The loader built as a host one ABI minor newer than the header
 * (ELIDE_HOST_ABI_MINOR=1): modules built against 1.0 keep loading, 1.1
 * modules load, and a module claiming 1.2 is refused by name and values. */
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
  abi_copy(ABI_FIXTURE_DIR "/minor1.so", dir, "b.so", 0755, NULL);
  abi_copy(ABI_FIXTURE_DIR "/minor2.so", dir, "c.so", 0755, NULL);
  abi_copy(ABI_FIXTURE_DIR "/short_desc.so", dir, "d.so", 0755, NULL);

  CHECK(modules_host_abi_minor() == ELIDE_ABI_MINOR + 1);
  CHECK(modules_load_dir(&reg, dir, err, sizeof err) == 0);
  CHECK(reg.n == 4);
  if (reg.n != 4) return CHECK_DONE();
  loaded_module *good = &reg.mods[0], *m1 = &reg.mods[1], *m2 = &reg.mods[2], *shrt = &reg.mods[3];
  CHECK(good->desc && !good->error[0] && good->desc->abi_minor == 0);
  CHECK(m1->desc && !m1->error[0] && m1->desc->abi_minor == 1);
  snprintf(want, sizeof want, "%s/c.so: abi_minor 2 is newer than the host's 1", dir);
  CHECK(!m2->desc);
  CHECK(strcmp(m2->error, want) == 0);
  if (strcmp(m2->error, want) != 0) fprintf(stderr, "got %s\nwant %s\n", m2->error, want);
  /* A 1.0 module still needs the full 1.0 descriptor. */
  snprintf(want, sizeof want,
           "%s/d.so: descriptor size 64 is smaller than 112, the size for ABI 1.0", dir);
  CHECK(!shrt->desc && strcmp(shrt->error, want) == 0);

  /* The 1.0 module runs a task on the (1.0) mock host. */
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
