/* Helpers shared by the ABI tests: scratch directories, file copies and
 * reading files back. Every failure aborts the test with a message. */
#ifndef ELIDE_TEST_ABI_UTIL_H
#define ELIDE_TEST_ABI_UTIL_H

#include <sys/types.h>

/* A fresh 0700 directory under $TMPDIR (or /tmp), resolved with realpath;
 * writes it into out (PATH_MAX). */
void abi_mkdtemp(const char *tag, char *out);
/* A fresh 0700 directory `name` inside `parent`; writes its path into out. */
void abi_mkdir(const char *parent, const char *name, char *out);
/* Copies src to dir/name with `mode`; writes the new path into out (may be NULL). */
void abi_copy(const char *src, const char *dir, const char *name, mode_t mode, char *out);
/* Writes text to dir/name (mode 0644). */
void abi_write(const char *dir, const char *name, const char *text);
/* The whole file, malloc'd and NUL-terminated ("" when unreadable). */
char *abi_slurp(const char *path);
/* rm -rf; errors ignored. */
void abi_rmtree(const char *path);

#endif
