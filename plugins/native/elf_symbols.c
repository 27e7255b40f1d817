/* ELF64 dynamic symbol lookup from the file alone (see elf_symbols.h). All
 * reads go through read_at, which bounds every offset and length by the
 * file size, so hostile or truncated files end in a message. */
#include "elf_symbols.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Upper bounds on what one library may make us allocate or walk. */
#define MAX_TABLE_BYTES (256u << 20)
#define MAX_DYN_ENTRIES 65536u
#define MAX_GNU_CHAIN (1u << 24)

#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#define HOST_MACHINE_NAME "x86_64"
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#define HOST_MACHINE_NAME "aarch64"
#elif defined(__riscv) && __riscv_xlen == 64
#define HOST_MACHINE EM_RISCV
#define HOST_MACHINE_NAME "riscv64"
#elif defined(__powerpc64__)
#define HOST_MACHINE EM_PPC64
#define HOST_MACHINE_NAME "ppc64"
#elif defined(__s390x__)
#define HOST_MACHINE EM_S390
#define HOST_MACHINE_NAME "s390x"
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_DATA ELFDATA2LSB
#else
#define HOST_DATA ELFDATA2MSB
#endif

typedef struct reader {
  int fd;
  uint64_t size;
  char *err;
  size_t errlen;
} reader;

/* The dynamic section's facts we use; addresses are virtual. */
typedef struct dyninfo {
  uint64_t symtab, strtab, strsz, syment, hash, gnu_hash, flags_1;
  int has_symtab, has_strtab, has_strsz, has_hash, has_gnu_hash;
} dyninfo;

static int fail(reader *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(reader *r, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err, r->errlen, fmt, ap);
  va_end(ap);
  return code;
}

static int check_range(reader *r, uint64_t off, uint64_t len, const char *what) {
  if (off <= r->size && len <= r->size - off) return 0;
  return fail(r, -ENOEXEC,
              "%s lies outside the file (offset %" PRIu64 ", %" PRIu64
              " bytes; the file has %" PRIu64 " bytes): truncated or malformed",
              what, off, len, r->size);
}

/* Reads exactly len bytes at off, or fails naming `what`. */
static int read_at(reader *r, uint64_t off, uint64_t len, void *buf, const char *what) {
  int rc = check_range(r, off, len, what);
  if (rc != 0) return rc;
  uint64_t done = 0;
  while (done < len) {
    ssize_t n = pread(r->fd, (char *)buf + done, len - done, (off_t)(off + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(r, -errno, "reading %s: %s", what, strerror(errno));
    if (n == 0) return fail(r, -ENOEXEC, "%s: the file shrank while being read", what);
    done += (uint64_t)n;
  }
  return 0;
}

/* read_at into a fresh buffer (never NULL on success; one spare zero byte). */
static int read_alloc(reader *r, uint64_t off, uint64_t len, const char *what, void **out) {
  /* Bounds first: a malformed size never turns into a large allocation. */
  int rc = check_range(r, off, len, what);
  if (rc != 0) return rc;
  if (len > MAX_TABLE_BYTES)
    return fail(r, -ENOEXEC, "%s is implausibly large (%" PRIu64 " bytes)", what, len);
  char *buf = calloc(1, len + 1);
  if (!buf) return fail(r, -ENOMEM, "out of memory reading %s", what);
  rc = read_at(r, off, len, buf, what);
  if (rc != 0) {
    free(buf);
    return rc;
  }
  *out = buf;
  return 0;
}

static const char *type_word(unsigned t) {
  switch (t) {
  case ET_REL: return "an ELF relocatable object";
  case ET_EXEC: return "an ELF executable";
  case ET_CORE: return "an ELF core dump";
  default: return "an ELF file of an unknown type";
  }
}

static int check_header(reader *r, const Elf64_Ehdr *eh, size_t got) {
  if (got < SELFMAG || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
    return fail(r, -ENOEXEC, "not an ELF file (it does not start with \\x7fELF)");
  if (got < EI_NIDENT || (eh->e_ident[EI_CLASS] == ELFCLASS64 && got < sizeof *eh))
    return fail(r, -ENOEXEC, "truncated ELF header (%zu of %zu bytes)", got, sizeof *eh);
  if (eh->e_ident[EI_CLASS] == ELFCLASS32)
    return fail(r, -ENOEXEC, "a 32-bit ELF file; this host loads 64-bit (ELFCLASS64) libraries");
  if (eh->e_ident[EI_CLASS] != ELFCLASS64)
    return fail(r, -ENOEXEC, "unknown ELF class %u", eh->e_ident[EI_CLASS]);
  if (eh->e_ident[EI_DATA] != HOST_DATA)
    return fail(r, -ENOEXEC, "ELF byte order %u does not match this host's (%u)",
                eh->e_ident[EI_DATA], HOST_DATA);
  if (eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT)
    return fail(r, -ENOEXEC, "unknown ELF version %u", eh->e_ident[EI_VERSION]);
  if (eh->e_type != ET_DYN)
    return fail(r, -ENOEXEC, "%s (type %u), not a shared library (ET_DYN)", type_word(eh->e_type),
                eh->e_type);
#ifdef HOST_MACHINE
  if (eh->e_machine != HOST_MACHINE)
    return fail(r, -ENOEXEC, "built for ELF machine %u, not this host's %s (%u)", eh->e_machine,
                HOST_MACHINE_NAME, HOST_MACHINE);
#endif
  return 0;
}

static int read_phdrs(reader *r, const Elf64_Ehdr *eh, Elf64_Phdr **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (eh->e_phnum == 0 || eh->e_phoff == 0)
    return fail(r, -ENOEXEC, "has no program headers; not a loadable shared library");
  if (eh->e_phentsize != sizeof(Elf64_Phdr))
    return fail(r, -ENOEXEC, "program header size %u is not %zu", eh->e_phentsize,
                sizeof(Elf64_Phdr));
  if (eh->e_phnum == PN_XNUM)
    return fail(r, -ENOEXEC, "too many program headers (extended numbering)");
  *n = eh->e_phnum;
  return read_alloc(r, eh->e_phoff, (uint64_t)*n * sizeof(Elf64_Phdr), "the program header table",
                    (void **)out);
}

/* The file offset of virtual address [addr, addr+len) through PT_LOAD. */
static int vaddr_to_off(reader *r, const Elf64_Phdr *ph, size_t nph, uint64_t addr, uint64_t len,
                        const char *what, uint64_t *off) {
  for (size_t i = 0; i < nph; i++) {
    if (ph[i].p_type != PT_LOAD || addr < ph[i].p_vaddr) continue;
    uint64_t rel = addr - ph[i].p_vaddr;
    if (rel >= ph[i].p_filesz || len > ph[i].p_filesz - rel) continue;
    *off = ph[i].p_offset + rel;
    return 0;
  }
  return fail(r, -ENOEXEC, "%s (address 0x%" PRIx64 ") is not inside any loaded segment", what,
              addr);
}

static int read_dynamic(reader *r, const Elf64_Phdr *ph, size_t nph, dyninfo *d) {
  memset(d, 0, sizeof *d);
  const Elf64_Phdr *dyn = NULL;
  for (size_t i = 0; i < nph && !dyn; i++)
    if (ph[i].p_type == PT_DYNAMIC) dyn = &ph[i];
  if (!dyn) return fail(r, -ENOEXEC, "has no dynamic section (PT_DYNAMIC); not a shared library");
  uint64_t count = dyn->p_filesz / sizeof(Elf64_Dyn);
  if (count > MAX_DYN_ENTRIES) count = MAX_DYN_ENTRIES;
  Elf64_Dyn *ents = NULL;
  int rc = read_alloc(r, dyn->p_offset, count * sizeof(Elf64_Dyn), "the dynamic section",
                      (void **)&ents);
  if (rc != 0) return rc;
  for (uint64_t i = 0; i < count && ents[i].d_tag != DT_NULL; i++) {
    uint64_t v = ents[i].d_un.d_val;
    switch (ents[i].d_tag) {
    case DT_SYMTAB: d->symtab = v, d->has_symtab = 1; break;
    case DT_STRTAB: d->strtab = v, d->has_strtab = 1; break;
    case DT_STRSZ: d->strsz = v, d->has_strsz = 1; break;
    case DT_SYMENT: d->syment = v; break;
    case DT_HASH: d->hash = v, d->has_hash = 1; break;
    case DT_GNU_HASH: d->gnu_hash = v, d->has_gnu_hash = 1; break;
    case DT_FLAGS_1: d->flags_1 = v; break;
    default: break;
    }
  }
  free(ents);
  if (d->flags_1 & DF_1_PIE)
    return fail(r, -ENOEXEC, "a position-independent executable (DF_1_PIE), not a shared library");
  return 0;
}

/* The symbol count from DT_GNU_HASH: one past the highest index any bucket
 * chain reaches (chains end at an entry with the low bit set). */
static int gnu_hash_count(reader *r, const Elf64_Phdr *ph, size_t nph, uint64_t addr,
                          uint64_t *nsyms) {
  uint32_t hdr[4];
  uint64_t off;
  int rc = vaddr_to_off(r, ph, nph, addr, sizeof hdr, "DT_GNU_HASH", &off);
  if (rc == 0) rc = read_at(r, off, sizeof hdr, hdr, "the GNU hash table");
  if (rc != 0) return rc;
  uint64_t nbuckets = hdr[0], symoffset = hdr[1], bloom = hdr[2];
  uint64_t buckets_off = off + sizeof hdr + bloom * 8;
  uint32_t *buckets = NULL;
  if (nbuckets > MAX_TABLE_BYTES / 4 || bloom > MAX_TABLE_BYTES / 8)
    return fail(r, -ENOEXEC, "the GNU hash table is implausibly large");
  rc = read_alloc(r, buckets_off, nbuckets * 4, "the GNU hash buckets", (void **)&buckets);
  if (rc != 0) return rc;
  uint64_t max = 0;
  for (uint64_t i = 0; i < nbuckets; i++)
    if (buckets[i] > max) max = buckets[i];
  free(buckets);
  if (max < symoffset) {
    *nsyms = symoffset;
    return 0;
  }
  uint64_t chain_off = buckets_off + nbuckets * 4;
  for (uint64_t idx = max, steps = 0; steps < MAX_GNU_CHAIN; idx++, steps++) {
    uint32_t entry;
    rc = read_at(r, chain_off + (idx - symoffset) * 4, 4, &entry, "the GNU hash chains");
    if (rc != 0) return rc;
    if (entry & 1) {
      *nsyms = idx + 1;
      return 0;
    }
  }
  return fail(r, -ENOEXEC, "a GNU hash chain does not end");
}

typedef struct symtab {
  Elf64_Sym *syms;
  uint64_t nsyms;
  char *str;
  uint64_t strsz;
} symtab;

/* .dynsym and its string table through the section headers. Returns 1 when
 * found, 0 when the file has no usable section headers or no .dynsym (the
 * caller falls back to PT_DYNAMIC), negative on a malformed table. */
static int tables_from_sections(reader *r, const Elf64_Ehdr *eh, symtab *t) {
  if (eh->e_shoff == 0 || eh->e_shnum == 0) return 0;
  if (eh->e_shentsize != sizeof(Elf64_Shdr))
    return fail(r, -ENOEXEC, "section header size %u is not %zu", eh->e_shentsize,
                sizeof(Elf64_Shdr));
  Elf64_Shdr *sh = NULL;
  int rc = read_alloc(r, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof *sh,
                      "the section header table", (void **)&sh);
  if (rc != 0) return rc;
  const Elf64_Shdr *ds = NULL;
  for (size_t i = 0; i < eh->e_shnum && !ds; i++)
    if (sh[i].sh_type == SHT_DYNSYM) ds = &sh[i];
  if (!ds) {
    free(sh);
    return 0;
  }
  rc = -ENOEXEC;
  if (ds->sh_entsize != sizeof(Elf64_Sym) || ds->sh_size % sizeof(Elf64_Sym) != 0)
    fail(r, rc, ".dynsym entry size %" PRIu64 " or size %" PRIu64 " is malformed", ds->sh_entsize,
         ds->sh_size);
  else if (ds->sh_link == 0 || ds->sh_link >= eh->e_shnum || sh[ds->sh_link].sh_type != SHT_STRTAB)
    fail(r, rc, ".dynsym links to section %u, which is not a string table", ds->sh_link);
  else if ((rc = read_alloc(r, ds->sh_offset, ds->sh_size, ".dynsym", (void **)&t->syms)) == 0 &&
           (rc = read_alloc(r, sh[ds->sh_link].sh_offset, sh[ds->sh_link].sh_size, ".dynstr",
                            (void **)&t->str)) == 0) {
    t->nsyms = ds->sh_size / sizeof(Elf64_Sym);
    t->strsz = sh[ds->sh_link].sh_size;
    rc = 1;
  }
  free(sh);
  return rc;
}

/* The same tables through the dynamic section, as the loader sees them. */
static int tables_from_dynamic(reader *r, const Elf64_Phdr *ph, size_t nph, const dyninfo *d,
                               symtab *t) {
  if (!d->has_symtab || !d->has_strtab || !d->has_strsz)
    return fail(r, -ENOEXEC, "has no dynamic symbol table (DT_SYMTAB/DT_STRTAB)");
  if (d->syment && d->syment != sizeof(Elf64_Sym))
    return fail(r, -ENOEXEC, "DT_SYMENT %" PRIu64 " is not %zu", d->syment, sizeof(Elf64_Sym));
  uint64_t nsyms = 0, off;
  int rc;
  if (d->has_hash) {
    uint32_t hdr[2];
    rc = vaddr_to_off(r, ph, nph, d->hash, sizeof hdr, "DT_HASH", &off);
    if (rc == 0) rc = read_at(r, off, sizeof hdr, hdr, "the hash table");
    if (rc != 0) return rc;
    nsyms = hdr[1];
  } else if (d->has_gnu_hash) {
    if ((rc = gnu_hash_count(r, ph, nph, d->gnu_hash, &nsyms)) != 0) return rc;
  } else {
    return fail(r, -ENOEXEC, "has no symbol hash table (DT_HASH or DT_GNU_HASH)");
  }
  if (nsyms > MAX_TABLE_BYTES / sizeof(Elf64_Sym))
    return fail(r, -ENOEXEC, "implausible dynamic symbol count %" PRIu64, nsyms);
  uint64_t len = nsyms * sizeof(Elf64_Sym);
  if ((rc = vaddr_to_off(r, ph, nph, d->symtab, len, "DT_SYMTAB", &off)) != 0 ||
      (rc = read_alloc(r, off, len, "the dynamic symbol table", (void **)&t->syms)) != 0)
    return rc;
  if ((rc = vaddr_to_off(r, ph, nph, d->strtab, d->strsz, "DT_STRTAB", &off)) != 0 ||
      (rc = read_alloc(r, off, d->strsz, "the dynamic string table", (void **)&t->str)) != 0)
    return rc;
  t->nsyms = nsyms;
  t->strsz = d->strsz;
  return 0;
}

/* Finds `name`; a defined entry beats an undefined one. */
static void scan(const symtab *t, const char *name, elfsym_info *out) {
  size_t want = strlen(name) + 1;
  for (uint64_t i = 1; i < t->nsyms; i++) {
    const Elf64_Sym *s = &t->syms[i];
    if (s->st_name >= t->strsz || t->strsz - s->st_name < want) continue;
    if (memcmp(t->str + s->st_name, name, want) != 0) continue;
    int defined = s->st_shndx != SHN_UNDEF;
    if (out->found && (out->defined || !defined)) continue;
    out->type = ELF64_ST_TYPE(s->st_info);
    out->binding = ELF64_ST_BIND(s->st_info);
    out->visibility = ELF64_ST_VISIBILITY(s->st_other);
    out->defined = defined;
    out->found = 1;
  }
}

static int lookup(reader *r, const char *name, elfsym_info *out) {
  Elf64_Ehdr eh;
  memset(&eh, 0, sizeof eh);
  size_t got = r->size < sizeof eh ? (size_t)r->size : sizeof eh;
  int rc = read_at(r, 0, got, &eh, "the ELF header");
  if (rc != 0) return rc;
  if ((rc = check_header(r, &eh, got)) != 0) return rc;
  Elf64_Phdr *ph = NULL;
  size_t nph = 0;
  dyninfo d;
  symtab t = {0};
  if ((rc = read_phdrs(r, &eh, &ph, &nph)) == 0 && (rc = read_dynamic(r, ph, nph, &d)) == 0) {
    rc = tables_from_sections(r, &eh, &t);
    if (rc == 0) rc = tables_from_dynamic(r, ph, nph, &d, &t);
    if (rc >= 0) {
      scan(&t, name, out);
      rc = 0;
    }
  }
  free(ph);
  free(t.syms);
  free(t.str);
  return rc;
}

int elfsym_lookup(const char *path, const char *name, elfsym_info *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  reader r = {-1, 0, err, errlen};
  r.fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (r.fd < 0) return fail(&r, -errno, "cannot open: %s", strerror(errno));
  struct stat st;
  int rc;
  if (fstat(r.fd, &st) != 0)
    rc = fail(&r, -errno, "cannot stat: %s", strerror(errno));
  else if (!S_ISREG(st.st_mode))
    rc = fail(&r, -ENOEXEC, "not a regular file");
  else {
    r.size = (uint64_t)st.st_size;
    rc = lookup(&r, name, out);
  }
  close(r.fd);
  return rc;
}
