/* Unit tests of the native backend's ELF symbol reader
 * (plugins/native/elf_symbols.c): symbol kinds in the fixture library and
 * libc, both table paths (section headers, PT_DYNAMIC with GNU or SysV
 * hash), and truncated, patched, random and mutated files, which must end
 * in an error and never in a crash (run under ASan in the sanitizer build). */
#include "../check.h"
#include "elf_symbols.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIXTURES ELIDE_TEST_NATIVE_FIXTURES

static char tmpdir[PATH_MAX];

static unsigned char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)n + 1);
  *len = fread(buf, 1, (size_t)n, f);
  fclose(f);
  return buf;
}

/* Writes bytes to <tmpdir>/<name>; returns the path (static buffer). */
static const char *put(const char *name, const void *data, size_t len) {
  static char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "wb");
  if (f) {
    if (len) fwrite(data, 1, len, f);
    fclose(f);
  }
  return path;
}

static elfsym_info look(const char *path, const char *name, int want_rc, char *err, size_t errlen) {
  elfsym_info info;
  err[0] = '\0';
  int rc = elfsym_lookup(path, name, &info, err, errlen);
  CHECK(rc == want_rc);
  if (rc != want_rc) fprintf(stderr, "  lookup %s in %s: rc %d: %s\n", name, path, rc, err);
  return info;
}

static void check_fixture_symbols(const char *path) {
  char err[512];
  elfsym_info i = look(path, "add", 0, err, sizeof err);
  CHECK(i.found && i.defined && i.type == STT_FUNC && i.binding == STB_GLOBAL &&
        i.visibility == STV_DEFAULT);
  i = look(path, "counter", 0, err, sizeof err);
  CHECK(i.found && i.defined && i.type == STT_OBJECT);
  i = look(path, "getenv", 0, err, sizeof err);
  CHECK(i.found && !i.defined);
  i = look(path, "weak_four", 0, err, sizeof err);
  CHECK(i.found && i.defined && i.type == STT_FUNC && i.binding == STB_WEAK);
  i = look(path, "pick", 0, err, sizeof err);
  CHECK(i.found && i.defined && i.type == STT_GNU_IFUNC);
  i = look(path, "twice", 0, err, sizeof err);
  CHECK(!i.found && !i.defined && i.type == 0);
  i = look(path, "internal_helper", 0, err, sizeof err);
  CHECK(!i.found);
  i = look(path, "ad", 0, err, sizeof err); /* prefixes do not match */
  CHECK(!i.found);
  i = look(path, "", 0, err, sizeof err);
  CHECK(!i.found);
}

static void test_fixture(void) {
  check_fixture_symbols(FIXTURES "/mathlib.so");
  check_fixture_symbols(FIXTURES "/mathlib_sysv.so");
}

/* The libc this process runs with (asked by name: under ASan, dladdr of a
 * libc function would name the sanitizer's interceptor library). */
static void test_libc(void) {
  void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  struct link_map *map = NULL;
  CHECK(h && dlinfo(h, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name[0] == '/');
  if (!map || map->l_name[0] != '/') return;
  char err[512];
  elfsym_info i = look(map->l_name, "printf", 0, err, sizeof err);
  CHECK(i.found && i.defined && (i.type == STT_FUNC || i.type == STT_GNU_IFUNC));
  i = look(map->l_name, "environ", 0, err, sizeof err);
  CHECK(i.found && i.defined && i.type == STT_OBJECT);
  i = look(map->l_name, "no_such_function_in_libc", 0, err, sizeof err);
  CHECK(!i.found);
  dlclose(h);
}

/* The same library with its section headers removed, as `sstrip` leaves
 * it: found through PT_DYNAMIC (GNU hash in mathlib.so, SysV hash in
 * mathlib_sysv.so). */
static void test_no_section_headers(void) {
  const char *libs[] = {FIXTURES "/mathlib.so", FIXTURES "/mathlib_sysv.so"};
  for (size_t k = 0; k < 2; k++) {
    size_t len;
    unsigned char *buf = slurp(libs[k], &len);
    CHECK(buf != NULL);
    if (!buf) continue;
    Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
    eh->e_shoff = 0;
    eh->e_shnum = 0;
    eh->e_shstrndx = 0;
    check_fixture_symbols(put("nosections.so", buf, len));
    free(buf);
  }
}

/* Patches one header field of a copy of mathlib.so and expects -ENOEXEC
 * with `want` in the message. */
static void patched(void (*patch)(unsigned char *, size_t), const char *want) {
  size_t len;
  unsigned char *buf = slurp(FIXTURES "/mathlib.so", &len);
  if (!buf) {
    CHECK(buf != NULL);
    return;
  }
  patch(buf, len);
  char err[512];
  look(put("patched.so", buf, len), "add", -ENOEXEC, err, sizeof err);
  CHECK_STR_CONTAINS(err, want);
  free(buf);
}

static void p_class32(unsigned char *b, size_t n) { (void)n, b[EI_CLASS] = ELFCLASS32; }
static void p_class9(unsigned char *b, size_t n) { (void)n, b[EI_CLASS] = 9; }
static void p_bigendian(unsigned char *b, size_t n) { (void)n, b[EI_DATA] = ELFDATA2MSB; }
static void p_version(unsigned char *b, size_t n) { (void)n, b[EI_VERSION] = 7; }
static void p_exec(unsigned char *b, size_t n) { (void)n, ((Elf64_Ehdr *)b)->e_type = ET_EXEC; }
static void p_rel(unsigned char *b, size_t n) { (void)n, ((Elf64_Ehdr *)b)->e_type = ET_REL; }
static void p_machine(unsigned char *b, size_t n) {
  (void)n, ((Elf64_Ehdr *)b)->e_machine = EM_SPARCV9;
}
static void p_phoff(unsigned char *b, size_t n) {
  ((Elf64_Ehdr *)b)->e_phoff = (Elf64_Off)n - 8;
}
static void p_phnum0(unsigned char *b, size_t n) { (void)n, ((Elf64_Ehdr *)b)->e_phnum = 0; }
static void p_phentsize(unsigned char *b, size_t n) {
  (void)n, ((Elf64_Ehdr *)b)->e_phentsize = 12;
}
static void p_shoff(unsigned char *b, size_t n) {
  ((Elf64_Ehdr *)b)->e_shoff = (Elf64_Off)n + 4096;
}
static void p_shoff_huge(unsigned char *b, size_t n) {
  (void)n, ((Elf64_Ehdr *)b)->e_shoff = UINT64_MAX - 16;
}
/* Every PT_DYNAMIC becomes PT_NULL. */
static void p_nodynamic(unsigned char *b, size_t n) {
  (void)n;
  Elf64_Ehdr *eh = (Elf64_Ehdr *)b;
  Elf64_Phdr *ph = (Elf64_Phdr *)(b + eh->e_phoff);
  for (int i = 0; i < eh->e_phnum; i++)
    if (ph[i].p_type == PT_DYNAMIC) ph[i].p_type = PT_NULL;
}
/* .dynsym's size and string-table link point past the file. */
static Elf64_Shdr *dynsym_of(unsigned char *b) {
  Elf64_Ehdr *eh = (Elf64_Ehdr *)b;
  Elf64_Shdr *sh = (Elf64_Shdr *)(b + eh->e_shoff);
  for (int i = 0; i < eh->e_shnum; i++)
    if (sh[i].sh_type == SHT_DYNSYM) return &sh[i];
  return &sh[0];
}
static void p_dynsym_size(unsigned char *b, size_t n) {
  dynsym_of(b)->sh_size = ((Elf64_Xword)n / 24 + 10) * 24;
}
static void p_dynsym_entsize(unsigned char *b, size_t n) { (void)n, dynsym_of(b)->sh_entsize = 7; }
static void p_dynsym_link(unsigned char *b, size_t n) { (void)n, dynsym_of(b)->sh_link = 60000; }
static void p_dynsym_offset(unsigned char *b, size_t n) {
  dynsym_of(b)->sh_offset = (Elf64_Off)n - 24;
}
static void p_pie(unsigned char *b, size_t n) {
  (void)n;
  Elf64_Ehdr *eh = (Elf64_Ehdr *)b;
  Elf64_Phdr *ph = (Elf64_Phdr *)(b + eh->e_phoff);
  for (int i = 0; i < eh->e_phnum; i++) {
    if (ph[i].p_type != PT_DYNAMIC) continue;
    Elf64_Dyn *d = (Elf64_Dyn *)(b + ph[i].p_offset);
    while (d->d_tag != DT_NULL) d++;
    d->d_tag = DT_FLAGS_1; /* the first spare DT_NULL slot */
    d->d_un.d_val = DF_1_PIE;
    d[1].d_tag = DT_NULL;
  }
}

static void test_patched_headers(void) {
  patched(p_class32, "a 32-bit ELF file");
  patched(p_class9, "unknown ELF class 9");
  patched(p_bigendian, "byte order");
  patched(p_version, "unknown ELF version 7");
  patched(p_exec, "an ELF executable (type 2), not a shared library (ET_DYN)");
  patched(p_rel, "an ELF relocatable object (type 1), not a shared library");
  patched(p_machine, "built for ELF machine 43");
  patched(p_phoff, "the program header table lies outside the file");
  patched(p_phnum0, "has no program headers");
  patched(p_phentsize, "program header size 12");
  patched(p_shoff, "the section header table lies outside the file");
  patched(p_shoff_huge, "the section header table lies outside the file");
  patched(p_nodynamic, "has no dynamic section (PT_DYNAMIC)");
  patched(p_dynsym_size, ".dynsym lies outside the file");
  patched(p_dynsym_entsize, ".dynsym entry size 7");
  patched(p_dynsym_link, "not a string table");
  patched(p_dynsym_offset, ".dynsym lies outside the file");
  patched(p_pie, "a position-independent executable (DF_1_PIE)");
}

static void test_not_libraries(void) {
  char err[512];
  look(put("empty.so", "", 0), "add", -ENOEXEC, err, sizeof err);
  CHECK_STR_CONTAINS(err, "not an ELF file");
  const char *text = "#!/bin/sh\necho this is not a library\n";
  look(put("text.so", text, strlen(text)), "add", -ENOEXEC, err, sizeof err);
  CHECK_STR_CONTAINS(err, "not an ELF file (it does not start with \\x7fELF)");
  look(put("magic.so", "\x7f" "ELF", 4), "add", -ENOEXEC, err, sizeof err);
  CHECK_STR_CONTAINS(err, "truncated ELF header (4 of 64 bytes)");
  unsigned char random[8192];
  srand(1234);
  for (size_t i = 0; i < sizeof random; i++) random[i] = (unsigned char)rand();
  look(put("random.so", random, sizeof random), "add", -ENOEXEC, err, sizeof err);
  CHECK_STR_CONTAINS(err, "not an ELF file");
  memcpy(random, "\x7f" "ELF\x02\x01\x01", 7); /* an ELF64 prefix on noise */
  look(put("noise.so", random, sizeof random), "add", -ENOEXEC, err, sizeof err);
  look(tmpdir, "add", -ENOEXEC, err, sizeof err);
  CHECK_STR_CONTAINS(err, "not a regular file");
  look("/nonexistent/lib.so", "add", -ENOENT, err, sizeof err);
  CHECK_STR_CONTAINS(err, "cannot open: No such file or directory");
  /* a position-independent executable is ET_DYN but cannot be dlopen'd */
  look("/usr/bin/true", "main", -ENOEXEC, err, sizeof err);
  CHECK_STR_CONTAINS(err, "position-independent executable");
}

/* Every prefix of the library: each either fails cleanly or (for long
 * prefixes that keep all the tables) still finds the symbol. */
static void test_truncated(void) {
  size_t len;
  unsigned char *buf = slurp(FIXTURES "/mathlib.so", &len);
  CHECK(buf != NULL);
  if (!buf) return;
  int failed_short = 1, clean = 1;
  for (size_t cut = 0; cut < len; cut += (cut < 4096 ? 7 : 97)) {
    char err[512];
    elfsym_info info;
    int rc = elfsym_lookup(put("cut.so", buf, cut), "add", &info, err, sizeof err);
    if (rc != 0 && rc != -ENOEXEC) clean = 0;
    if (rc == -ENOEXEC && !err[0]) clean = 0;
    if (cut < 64 && rc != -ENOEXEC) failed_short = 0;
  }
  CHECK(clean);
  CHECK(failed_short);
  char err[512];
  look(put("half.so", buf, len / 2), "add", -ENOEXEC, err, sizeof err);
  CHECK_STR_CONTAINS(err, "lies outside the file");
  free(buf);
}

/* Random byte changes in the headers and tables of both fixtures (with and
 * without section headers): only 0 or -ENOEXEC, always with a message. */
static void test_mutations(void) {
  const char *libs[] = {FIXTURES "/mathlib.so", FIXTURES "/mathlib_sysv.so"};
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  int clean = 1, found = 0, refused = 0;
  for (size_t k = 0; k < 2; k++) {
    size_t len;
    unsigned char *orig = slurp(libs[k], &len);
    CHECK(orig != NULL);
    if (!orig) continue;
    unsigned char *buf = malloc(len);
    for (int iter = 0; iter < 1500; iter++) {
      memcpy(buf, orig, len);
      if (iter % 2) {
        Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
        eh->e_shoff = 0, eh->e_shnum = 0;
      }
      int nflips = 1 + iter % 8;
      for (int f = 0; f < nflips; f++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        /* Most changes land in the first pages (headers, .dynsym, .dynstr,
         * hash tables, dynamic section); some anywhere. */
        size_t span = (seed >> 60) < 12 && len > 2048 ? 2048 : len;
        size_t pos = (size_t)((seed >> 16) % span);
        buf[pos] = (unsigned char)(seed >> 8);
      }
      char err[512] = "";
      elfsym_info info;
      int rc = elfsym_lookup(put("mutant.so", buf, len), "add", &info, err, sizeof err);
      if (rc == 0 && info.found) found++;
      if (rc == -ENOEXEC) refused++;
      if ((rc != 0 && rc != -ENOEXEC) || (rc != 0 && !err[0])) {
        clean = 0;
        fprintf(stderr, "  mutation %d: rc %d: %s\n", iter, rc, err);
      }
    }
    free(buf);
    free(orig);
  }
  CHECK(clean);
  CHECK(found > 0 && refused > 0);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/elide-native-elf-XXXXXX");
  if (!mkdtemp(tmpdir)) return 1;
  test_fixture();
  test_libc();
  test_no_section_headers();
  test_patched_headers();
  test_not_libraries();
  test_truncated();
  test_mutations();
  const char *names[] = {"nosections.so", "patched.so", "empty.so", "text.so", "magic.so",
                         "random.so", "noise.so", "cut.so", "half.so", "mutant.so"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
    unlink(p);
  }
  rmdir(tmpdir);
  return CHECK_DONE();
}
