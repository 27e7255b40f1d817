/* Signal names as Nomad sends them ("SIGTERM", "sigterm", "TERM") to
 * numbers. */
#ifndef ELIDE_NOMAD_SIGNALS_H
#define ELIDE_NOMAD_SIGNALS_H

/* Returns the signal number, or 0 when the name is unknown. */
int signal_from_name(const char *name);

#endif
