/* NULL-terminated vectors of malloc'd strings (an envp, argv or list of
 * directories a task keeps for its life): copying one and freeing it. */
#ifndef ELIDE_STRV_H
#define ELIDE_STRV_H

/* A deep copy of the NULL-terminated vector v (NULL reads as empty: the
 * copy is then a vector holding only the NULL). Free it with strv_free.
 * NULL when out of memory, with nothing left allocated. */
char **strv_copy(const char *const *v);

/* Frees every string of v and v itself; v may be NULL. */
void strv_free(char **v);

#endif
