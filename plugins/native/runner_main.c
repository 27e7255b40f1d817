/* elide-native-runner: the process a native task runs as. It loads the
 * job's shared library, calls one exported function through libffi with
 * the arguments converted per the signature, and exits with the result.
 *
 *   elide-native-runner LIBRARY SYMBOL SIGNATURE [ARG...]
 *   elide-native-runner --version
 *
 * Exit status: an integer return value truncated to 0..255 (value & 0xff,
 * as exit() does); 0 for void; 0 for float/double, whose value is printed
 * on stdout as one line (shortest text that reads back exactly). The
 * runner's own failures (bad arguments, dlopen/dlsym errors) print
 * "elide-native-runner: ..." on stderr and exit 127. */
#include "elf_symbols.h"
#include "signature.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <ffi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNNER_FAILED 127

/* One C argument's storage; libffi reads it through a pointer to the
 * member of the parameter's exact type. */
typedef union ffi_slot {
  int8_t i8;
  int16_t i16;
  int32_t i32;
  int64_t i64;
  uint8_t u8;
  uint16_t u16;
  uint32_t u32;
  uint64_t u64;
  float f;
  double d;
  void *p;
  size_t sz;
} ffi_slot;

/* Return storage: libffi widens integer results to ffi_arg. */
typedef union ffi_ret {
  ffi_arg a;
  ffi_sarg s;
  float f;
  double d;
  uint64_t u64;
} ffi_ret;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("elide-native-runner: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(RUNNER_FAILED);
}

static ffi_type *ffi_type_of(nsig_type t) {
  switch (t) {
  case NSIG_VOID: return &ffi_type_void;
  case NSIG_INT8: return &ffi_type_sint8;
  case NSIG_INT16: return &ffi_type_sint16;
  case NSIG_INT32: return &ffi_type_sint32;
  case NSIG_INT64: return &ffi_type_sint64;
  case NSIG_UINT8: return &ffi_type_uint8;
  case NSIG_UINT16: return &ffi_type_uint16;
  case NSIG_UINT32: return &ffi_type_uint32;
  case NSIG_UINT64: return &ffi_type_uint64;
  case NSIG_FLOAT: return &ffi_type_float;
  case NSIG_DOUBLE: return &ffi_type_double;
  default: return &ffi_type_pointer; /* string; bytes' pointer half */
  }
}

static void store(const nsig_value *v, ffi_slot *s) {
  switch (v->type) {
  case NSIG_INT8: s->i8 = (int8_t)v->i; break;
  case NSIG_INT16: s->i16 = (int16_t)v->i; break;
  case NSIG_INT32: s->i32 = (int32_t)v->i; break;
  case NSIG_INT64: s->i64 = v->i; break;
  case NSIG_UINT8: s->u8 = (uint8_t)v->u; break;
  case NSIG_UINT16: s->u16 = (uint16_t)v->u; break;
  case NSIG_UINT32: s->u32 = (uint32_t)v->u; break;
  case NSIG_UINT64: s->u64 = v->u; break;
  case NSIG_FLOAT: s->f = v->f; break;
  case NSIG_DOUBLE: s->d = v->d; break;
  case NSIG_STRING: s->p = v->str; break;
  default: s->p = v->bytes; break;
  }
}

/* The exit status for an integer result of type t: its low 8 bits. */
static int exit_status_of(nsig_type t, const ffi_ret *r) {
  uint64_t v;
  switch (t) {
  case NSIG_INT8: v = (uint64_t)(int8_t)r->s; break;
  case NSIG_INT16: v = (uint64_t)(int16_t)r->s; break;
  case NSIG_INT32: v = (uint64_t)(int32_t)r->s; break;
  case NSIG_INT64: v = (uint64_t)(int64_t)r->s; break;
  default: v = (uint64_t)r->a; break;
  }
  return (int)(v & 0xff);
}

static void print_float_result(nsig_type t, const ffi_ret *r) {
  char buf[64] = "";
  for (int prec = 1; prec <= 17; prec++) {
    if (t == NSIG_FLOAT) {
      snprintf(buf, sizeof buf, "%.*g", prec, (double)r->f);
      if (strtof(buf, NULL) == r->f) break;
    } else {
      snprintf(buf, sizeof buf, "%.*g", prec, r->d);
      if (strtod(buf, NULL) == r->d) break;
    }
  }
  printf("%s\n", buf);
}

/* The same checks the module made before spawning us, repeated because
 * the file may have changed since; they also give clearer messages than
 * dlsym's. */
static void check_symbol(const char *library, const char *symbol) {
  elfsym_info info;
  char why[512];
  int rc = elfsym_lookup(library, symbol, &info, why, sizeof why);
  if (rc != 0) die("%s: %s", library, why);
  if (!info.found) die("%s: no dynamic symbol is named \"%s\"", library, symbol);
  if (!info.defined) die("%s: \"%s\" is imported, not defined in the library", library, symbol);
  if (info.type != STT_FUNC && info.type != STT_GNU_IFUNC)
    die("%s: \"%s\" is not a function (ELF symbol type %u)", library, symbol, info.type);
}

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "--version")) {
    printf("elide-native-runner %s libffi %s\n", ELIDE_VERSION, ELIDE_FFI_VERSION);
    return 0;
  }
  if (argc < 4) die("usage: elide-native-runner LIBRARY SYMBOL SIGNATURE [ARG...]");
  const char *library = argv[1], *symbol = argv[2], *signature = argv[3];
  char why[512];
  nsig sig;
  if (nsig_parse(signature, &sig, why, sizeof why) != 0) die("signature: %s", why);
  nsig_value vals[NSIG_MAX_PARAMS];
  if (nsig_convert_all(&sig, (const char *const *)argv + 4, vals, why, sizeof why) != 0)
    die("args: %s", why);
  check_symbol(library, symbol);

  /* RTLD_LOCAL: the library's symbols stay out of the global scope. */
  void *lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (!lib) die("dlopen: %s", dlerror());
  dlerror();
  void *fn = dlsym(lib, symbol);
  const char *dlerr = dlerror();
  if (dlerr || !fn) die("dlsym %s: %s", symbol, dlerr ? dlerr : "resolves to NULL");

  ffi_type *types[2 * NSIG_MAX_PARAMS];
  void *avalues[2 * NSIG_MAX_PARAMS];
  ffi_slot slots[2 * NSIG_MAX_PARAMS];
  unsigned n = 0;
  for (size_t i = 0; i < sig.nparams; i++) {
    types[n] = ffi_type_of(sig.params[i]);
    store(&vals[i], &slots[n]);
    avalues[n] = &slots[n];
    n++;
    if (sig.params[i] == NSIG_BYTES) { /* the length follows the pointer */
      types[n] = &ffi_type_uint64;
      slots[n].sz = vals[i].len;
      avalues[n] = &slots[n];
      n++;
    }
  }
  ffi_cif cif;
  if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, n, ffi_type_of(sig.ret), types) != FFI_OK)
    die("libffi cannot describe the call \"%s\"", signature);

  /* Line-buffered, so a long-running function's output reaches the logs as
   * it goes rather than at exit. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  ffi_ret ret;
  memset(&ret, 0, sizeof ret);
  ffi_call(&cif, FFI_FN(fn), &ret, avalues);
  fflush(stdout);
  fflush(stderr);

  int status = 0;
  if (nsig_is_integer(sig.ret))
    status = exit_status_of(sig.ret, &ret);
  else if (sig.ret == NSIG_FLOAT || sig.ret == NSIG_DOUBLE)
    print_float_result(sig.ret, &ret);
  nsig_values_free(vals, sig.nparams);
  /* exit(), not _exit(): stdio is flushed and the library's destructors
   * and atexit handlers run, as for any program that returns. */
  exit(status);
}
