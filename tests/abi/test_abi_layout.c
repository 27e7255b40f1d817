/* Compares the layout of every ABI struct (sizeof, offsetof and size of
 * each member) and the ABI's constants with tests/abi/abi_layout.baseline,
 * so the ABI cannot drift silently. `test_abi_layout --print` writes the
 * current layout; regenerate the baseline only together with an ABI
 * version change and a changelog entry in elide_module.h. */
#include "elide_module.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE(type) emit("sizeof %s %zu", #type, sizeof(type))
#define MEMBER(type, m) \
  emit("offsetof %s.%s %zu size %zu", #type, #m, offsetof(type, m), sizeof(((type *)0)->m))
#define CONST(name) emit("const %s %lld", #name, (long long)(name))

static char lines[512][128];
static size_t nlines;

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (nlines < sizeof lines / sizeof lines[0]) vsnprintf(lines[nlines++], sizeof lines[0], fmt, ap);
  va_end(ap);
}

static void layout(void) {
  CONST(ELIDE_ABI_MAJOR);
  CONST(ELIDE_ABI_MINOR);
  emit("const ELIDE_MODULE_ENTRY_SYMBOL %s", ELIDE_MODULE_ENTRY_SYMBOL);
  CONST(ELIDE_VALUE_STRING);
  CONST(ELIDE_VALUE_INT);
  CONST(ELIDE_VALUE_BOOL);
  CONST(ELIDE_VALUE_PATH);
  CONST(ELIDE_VALUE_LIST);
  CONST(ELIDE_KEY_REQUIRED);
  CONST(ELIDE_CAP_SIGNAL);
  CONST(ELIDE_CAP_STATS);
  CONST(ELIDE_CAP_RECOVER);
  CONST(ELIDE_MAX_ATTRS);

  SIZE(elide_key);
  MEMBER(elide_key, name);
  MEMBER(elide_key, type);
  MEMBER(elide_key, flags);
  MEMBER(elide_key, default_value);
  MEMBER(elide_key, doc);

  SIZE(elide_value);
  MEMBER(elide_value, name);
  MEMBER(elide_value, type);
  MEMBER(elide_value, is_set);
  MEMBER(elide_value, str);
  MEMBER(elide_value, i);
  MEMBER(elide_value, list);
  MEMBER(elide_value, nlist);

  SIZE(elide_section);
  MEMBER(elide_section, name);
  MEMBER(elide_section, values);
  MEMBER(elide_section, nvalues);

  SIZE(elide_exit);
  MEMBER(elide_exit, exit_code);
  MEMBER(elide_exit, signal);
  MEMBER(elide_exit, oom_killed);

  SIZE(elide_stats);
  MEMBER(elide_stats, size);
  MEMBER(elide_stats, cpu_user_ns);
  MEMBER(elide_stats, cpu_system_ns);
  MEMBER(elide_stats, memory_rss);
  MEMBER(elide_stats, memory_peak);
  MEMBER(elide_stats, nprocs);

  SIZE(elide_spawn_spec);
  MEMBER(elide_spawn_spec, size);
  MEMBER(elide_spawn_spec, argv);
  MEMBER(elide_spawn_spec, envp);
  MEMBER(elide_spawn_spec, cwd);

  SIZE(elide_host_services);
  MEMBER(elide_host_services, size);
  MEMBER(elide_host_services, abi_major);
  MEMBER(elide_host_services, abi_minor);
  MEMBER(elide_host_services, spawn);
  MEMBER(elide_host_services, proc_attach);
  MEMBER(elide_host_services, proc_poll);
  MEMBER(elide_host_services, proc_wait);
  MEMBER(elide_host_services, proc_signal);
  MEMBER(elide_host_services, proc_stop);
  MEMBER(elide_host_services, proc_stats);
  MEMBER(elide_host_services, run_capture);
  MEMBER(elide_host_services, log);

  SIZE(elide_module_config);
  MEMBER(elide_module_config, size);
  MEMBER(elide_module_config, values);
  MEMBER(elide_module_config, nvalues);
  MEMBER(elide_module_config, sections);
  MEMBER(elide_module_config, nsections);

  SIZE(elide_task);
  MEMBER(elide_task, size);
  MEMBER(elide_task, id);
  MEMBER(elide_task, language);
  MEMBER(elide_task, task_dir);
  MEMBER(elide_task, script);
  MEMBER(elide_task, code);
  MEMBER(elide_task, args);
  MEMBER(elide_task, envp);
  MEMBER(elide_task, options);
  MEMBER(elide_task, noptions);

  SIZE(elide_fingerprint);
  MEMBER(elide_fingerprint, healthy);
  MEMBER(elide_fingerprint, description);
  MEMBER(elide_fingerprint, nattrs);
  MEMBER(elide_fingerprint, attrs);
  MEMBER(elide_fingerprint, attrs[0].key);
  MEMBER(elide_fingerprint, attrs[0].value);
  MEMBER(elide_fingerprint, attrs[1]);

  SIZE(elide_module_ops);
  MEMBER(elide_module_ops, size);
  MEMBER(elide_module_ops, init);
  MEMBER(elide_module_ops, fingerprint);
  MEMBER(elide_module_ops, execute);
  MEMBER(elide_module_ops, status);
  MEMBER(elide_module_ops, cancel);
  MEMBER(elide_module_ops, signal);
  MEMBER(elide_module_ops, stats);
  MEMBER(elide_module_ops, recover);
  MEMBER(elide_module_ops, repl);
  MEMBER(elide_module_ops, warm_pool);
  SIZE(elide_warm_pool_spec);
  MEMBER(elide_warm_pool_spec, size);
  MEMBER(elide_warm_pool_spec, argv);
  MEMBER(elide_warm_pool_spec, bootstrap);
  MEMBER(elide_warm_pool_spec, bootstrap_len);
  MEMBER(elide_warm_pool_spec, runtime);
  MEMBER(elide_warm_pool_spec, description);

  SIZE(elide_module_descriptor);
  MEMBER(elide_module_descriptor, size);
  MEMBER(elide_module_descriptor, abi_major);
  MEMBER(elide_module_descriptor, abi_minor);
  MEMBER(elide_module_descriptor, name);
  MEMBER(elide_module_descriptor, version);
  MEMBER(elide_module_descriptor, languages);
  MEMBER(elide_module_descriptor, capabilities);
  MEMBER(elide_module_descriptor, config_keys);
  MEMBER(elide_module_descriptor, nconfig_keys);
  MEMBER(elide_module_descriptor, task_keys);
  MEMBER(elide_module_descriptor, ntask_keys);
  MEMBER(elide_module_descriptor, section_prefix);
  MEMBER(elide_module_descriptor, section_keys);
  MEMBER(elide_module_descriptor, nsection_keys);
  MEMBER(elide_module_descriptor, ops);
}

static int contains(char (*set)[128], size_t n, const char *line) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(set[i], line) == 0) return 1;
  return 0;
}

/* Baseline lines without comments and blank lines. */
static size_t read_baseline(const char *path, char (*out)[128], size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) {
    perror(path);
    exit(2);
  }
  size_t n = 0;
  char buf[256];
  while (fgets(buf, sizeof buf, f) && n < cap) {
    buf[strcspn(buf, "\r\n")] = '\0';
    if (buf[0] && buf[0] != '#') snprintf(out[n++], sizeof out[0], "%s", buf);
  }
  fclose(f);
  return n;
}

int main(int argc, char **argv) {
  layout();
  if (argc == 2 && strcmp(argv[1], "--print") == 0) {
    printf("# ABI layout of abi/elide_module.h on x86_64 (LP64), checked by\n"
           "# tests/abi/test_abi_layout.c. Regenerate (test_abi_layout --print) only\n"
           "# with an ABI version change and a changelog entry in the header.\n");
    for (size_t i = 0; i < nlines; i++) printf("%s\n", lines[i]);
    return 0;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: %s BASELINE | --print\n", argv[0]);
    return 2;
  }
#if !defined(__x86_64__)
  printf("skip: the baseline describes x86_64\n");
  return 77;
#endif
  static char base[512][128];
  size_t nbase = read_baseline(argv[1], base, 512);
  int diffs = 0;
  for (size_t i = 0; i < nbase; i++)
    if (!contains(lines, nlines, base[i])) printf("- %s\n", base[i]), diffs++;
  for (size_t i = 0; i < nlines; i++)
    if (!contains(base, nbase, lines[i])) printf("+ %s\n", lines[i]), diffs++;
  if (diffs) {
    printf("ABI layout differs from %s (- baseline, + this build): %d line(s).\n"
           "Members may only be appended, with a minor bump and a changelog entry;\n"
           "then regenerate the baseline with `test_abi_layout --print`.\n",
           argv[1], diffs);
    return 1;
  }
  printf("ABI layout matches the baseline (%zu lines)\n", nlines);
  return 0;
}
