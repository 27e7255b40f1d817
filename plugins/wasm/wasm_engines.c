/* The engine description table of the wasm backend (see wasm_engines.h)
 * and the node WASI runner it embeds. */
#include "wasm_engines.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* node runs the module with its built-in WASI (node:wasi, preview1) through
 * this ES module, passed with `-e` so nothing has to be found on disk.
 * argv after "--": host dir, guest dir, module path, user args. argv[0] of
 * the guest is the module's file name, as wazero, wasmtime and wasmedge
 * give it. Exit code: the guest's proc_exit code; 134 on a trap (as
 * wasmtime and wasmedge); 1 when the module cannot be loaded. */
static const char node_runner[] =
    "import { readFile } from 'node:fs/promises';\n"
    "import { basename } from 'node:path';\n"
    "import { WASI } from 'node:wasi';\n"
    "const [hostDir, guestDir, file, ...args] = process.argv.slice(1);\n"
    "try {\n"
    "  const wasi = new WASI({ version: 'preview1', args: [basename(file), ...args],\n"
    "    env: process.env, preopens: { [guestDir]: hostDir }, returnOnExit: true });\n"
    "  const module = await WebAssembly.compile(await readFile(file));\n"
    "  const instance = await WebAssembly.instantiate(module, wasi.getImportObject());\n"
    "  process.exitCode = wasi.start(instance);\n"
    "} catch (e) {\n"
    "  const trap = e instanceof WebAssembly.RuntimeError;\n"
    "  const what = (e && e.message) || String(e);\n"
    "  process.stderr.write(trap ? `wasm trap: ${what}\\n` : `wasm: ${file}: ${what}\\n`);\n"
    "  process.exitCode = trap ? 134 : 1;\n"
    "}\n";

/* --no-warnings: node 20 prints an ExperimentalWarning for node:wasi on
 * stderr, which is the task's stderr; the guest cannot raise node warnings
 * itself, so silencing all of them hides nothing of the task's. */
static const char *const node_candidates[] = {"/usr/bin/node", "/usr/local/bin/node", NULL};
static const char *const node_lead[] = {"--no-warnings", "--input-type=module", "-e", node_runner,
                                        "--", NULL};
static const char *const node_preopen[] = {"{host}", "{guest}", NULL};

/* wazero CLI: `wazero run [flags] <wasm> [--] <args>`; it drops one "--"
 * after the module only when more arguments follow, hence after_module. */
static const char *const wazero_candidates[] = {"/usr/local/bin/wazero", "~/go/bin/wazero",
                                                "/usr/bin/wazero", NULL};
static const char *const wazero_lead[] = {"run", NULL};
static const char *const wazero_preopen[] = {"-mount={host}:{guest}", NULL};

/* wasmtime >= 14: `wasmtime run --dir HOST::GUEST --env NAME=VAL [--] WASM ARGS...`. */
static const char *const wasmtime_candidates[] = {"/usr/local/bin/wasmtime",
                                                  "~/.wasmtime/bin/wasmtime",
                                                  "/usr/bin/wasmtime", NULL};
static const char *const wasmtime_lead[] = {"run", NULL};
static const char *const wasmtime_preopen[] = {"--dir={host}::{guest}", NULL};

/* wasmedge: `wasmedge run --dir GUEST:HOST --env NAME=VAL [--] WASM ARGS...`
 * (guest first; the explicit `run` keeps a module path from being read as
 * a subcommand). */
static const char *const wasmedge_candidates[] = {"/usr/local/bin/wasmedge",
                                                  "~/.wasmedge/bin/wasmedge",
                                                  "/usr/bin/wasmedge", NULL};
static const char *const wasmedge_lead[] = {"run", NULL};
static const char *const wasmedge_preopen[] = {"--dir={guest}:{host}", NULL};

static const wasm_engine engines[] = {
    {"node", node_candidates, "--version", 20, node_lead, node_preopen, NULL, NULL, NULL},
    {"wazero", wazero_candidates, "version", 0, wazero_lead, wazero_preopen, "-env={kv}", NULL,
     "--"},
    {"wasmtime", wasmtime_candidates, "--version", 0, wasmtime_lead, wasmtime_preopen,
     "--env={kv}", "--", NULL},
    {"wasmedge", wasmedge_candidates, "--version", 0, wasmedge_lead, wasmedge_preopen,
     "--env={kv}", "--", NULL},
};

const wasm_engine *wasm_engine_find(const char *name) {
  for (size_t i = 0; i < sizeof engines / sizeof engines[0]; i++)
    if (strcmp(engines[i].name, name) == 0) return &engines[i];
  return NULL;
}

const char *wasm_engine_names(void) { return "node, wazero, wasmtime, wasmedge"; }

static int is_executable(const char *path, char *why, size_t whylen) {
  struct stat st;
  if (stat(path, &st) != 0) {
    snprintf(why, whylen, "%s: %s", path, strerror(errno));
    return 0;
  }
  if (!S_ISREG(st.st_mode) || access(path, X_OK) != 0) {
    snprintf(why, whylen, "%s: not an executable file", path);
    return 0;
  }
  return 1;
}

/* Expands a leading "~/" from home; 0 when it cannot (no home). */
static int expand_home(const char *cand, const char *home, char *out, size_t outlen) {
  if (strncmp(cand, "~/", 2) != 0) {
    snprintf(out, outlen, "%s", cand);
    return 1;
  }
  if (!home || home[0] != '/') return 0;
  snprintf(out, outlen, "%s/%s", strcmp(home, "/") == 0 ? "" : home, cand + 2);
  return 1;
}

int wasm_engine_resolve(const wasm_engine *e, const char *configured, const char *home, char *out,
                        size_t outlen, char *why, size_t whylen) {
  if (configured && configured[0]) {
    snprintf(out, outlen, "%s", configured);
    return is_executable(out, why, whylen);
  }
  char path[4096], tried[1024] = "";
  size_t used = 0;
  out[0] = '\0';
  for (const char *const *c = e->candidates; *c; c++) {
    if (!expand_home(*c, home, path, sizeof path)) continue;
    char ignored[8];
    if (is_executable(path, ignored, sizeof ignored)) {
      snprintf(out, outlen, "%s", path);
      return 1;
    }
    if (!out[0]) snprintf(out, outlen, "%s", path);
    int n = snprintf(tried + used, sizeof tried - used, "%s%s", used ? ", " : "", path);
    if (n > 0 && (size_t)n < sizeof tried - used) used += (size_t)n;
  }
  snprintf(why, whylen, "%s not found (looked for %s; set engine_path)", e->name, tried);
  return 0;
}

/* Copies tmpl with {host}, {guest} and {kv} replaced. malloc'd. */
static char *expand(const char *tmpl, const char *host, const char *guest, const char *kv) {
  static const char *const names[] = {"{host}", "{guest}", "{kv}"};
  const char *vals[] = {host, guest, kv};
  size_t cap = strlen(tmpl) + 1;
  for (int i = 0; i < 3; i++)
    for (const char *p = strstr(tmpl, names[i]); p; p = strstr(p + 1, names[i]))
      cap += vals[i] ? strlen(vals[i]) : 0;
  char *out = malloc(cap), *w = out;
  if (!out) return NULL;
  while (*tmpl) {
    int hit = -1;
    for (int i = 0; i < 3 && hit < 0; i++)
      if (strncmp(tmpl, names[i], strlen(names[i])) == 0) hit = i;
    if (hit < 0) {
      *w++ = *tmpl++;
      continue;
    }
    size_t n = vals[hit] ? strlen(vals[hit]) : 0;
    memcpy(w, vals[hit] ? vals[hit] : "", n);
    w += n;
    tmpl += strlen(names[hit]);
  }
  *w = '\0';
  return out;
}

static size_t count(const char *const *v) {
  size_t n = 0;
  while (v && v[n]) n++;
  return n;
}

int wasm_engine_argv(const wasm_engine *e, const char *binary, const char *host_dir,
                     const char *module, const char *const *envp, const char *const *args,
                     char ***out) {
  size_t nargs = count(args), nenv = e->env ? count(envp) : 0;
  size_t cap = 1 + count(e->lead) + count(e->preopen) + nenv + 3 + nargs + 1;
  char **argv = calloc(cap, sizeof *argv);
  if (!argv) return -ENOMEM;
  size_t n = 0;
  argv[n++] = strdup(binary);
  for (const char *const *l = e->lead; *l; l++) argv[n++] = strdup(*l);
  for (const char *const *p = e->preopen; *p; p++)
    argv[n++] = expand(*p, host_dir, WASM_GUEST_DIR, NULL);
  for (size_t i = 0; i < nenv; i++) argv[n++] = expand(e->env, NULL, NULL, envp[i]);
  if (e->before_module) argv[n++] = strdup(e->before_module);
  argv[n++] = strdup(module);
  if (e->after_module && nargs) argv[n++] = strdup(e->after_module);
  for (size_t i = 0; i < nargs; i++) argv[n++] = strdup(args[i]);
  for (size_t i = 0; i < n; i++) {
    if (argv[i]) continue;
    /* A failed copy leaves a hole: free every slot, not up to the hole. */
    for (size_t j = 0; j < n; j++) free(argv[j]);
    free(argv);
    return -ENOMEM;
  }
  *out = argv;
  return 0;
}

void wasm_argv_free(char **argv) {
  if (!argv) return;
  for (char **a = argv; *a; a++) free(*a);
  free(argv);
}

int wasm_version_parse(const char *output, char *out, size_t outlen) {
  size_t len = strcspn(output, "\r\n");
  char line[256];
  snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), output);
  char *save = NULL;
  for (char *tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
    if (tok[0] == 'v' && isdigit((unsigned char)tok[1])) tok++;
    if (isdigit((unsigned char)tok[0])) {
      snprintf(out, outlen, "%s", tok);
      return 0;
    }
  }
  snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), output);
  if (!line[0]) return -1;
  snprintf(out, outlen, "%s", line);
  return 0;
}
