/* Looks a name up in the dynamic symbol table of an ELF64 shared library by
 * reading the file (never loading it), so the native module can reject a
 * missing or wrong symbol before any user code runs. */
#ifndef ELIDE_NATIVE_ELF_SYMBOLS_H
#define ELIDE_NATIVE_ELF_SYMBOLS_H

#include <stddef.h>

typedef struct elfsym_info {
  int found;           /* 0: no dynamic symbol has the name (the rest is 0) */
  unsigned type;       /* STT_* (STT_FUNC, STT_GNU_IFUNC, STT_OBJECT, ...) */
  unsigned binding;    /* STB_* */
  unsigned visibility; /* STV_* */
  int defined;         /* st_shndx != SHN_UNDEF */
} elfsym_info;

/* Checks that `path` is a shared library this host can load (ELF64, host
 * byte order and machine, ET_DYN and not a position-independent
 * executable, with a dynamic symbol table) and finds `name` in its dynamic
 * symbols: .dynsym through the section headers, or through PT_DYNAMIC's
 * DT_SYMTAB/DT_STRTAB and hash tables when the section headers are absent.
 * Among several entries with the name (symbol versions), a defined one
 * wins. Every offset and size is bounds-checked against the file; any
 * malformed or truncated file gives an error, never a crash.
 * Returns 0 with *out filled (out->found says whether the name exists);
 * -ENOEXEC when the file is not such a library (err says why, without the
 * path); another negative errno when it cannot be opened or read. */
int elfsym_lookup(const char *path, const char *name, elfsym_info *out, char *err, size_t errlen);

#endif
