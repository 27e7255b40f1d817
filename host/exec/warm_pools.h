/* The warm pools of the configured modules: one pool (warm_pool.h) per
 * module whose instance has the `warm_pool` op, whose warm_pool size is
 * above 0 and which the front end runs locally. A process-wide registry,
 * keyed by module name, guarded by its own lock. */
#ifndef ELIDE_WARM_POOLS_H
#define ELIDE_WARM_POOLS_H

#include "modules.h"
#include "warm_pool.h"

#include <stddef.h>

/* Brings the pools in line with the registry after a (re)configuration: a
 * module whose instance or size changed gets a new pool (the old one's
 * ready copies end; running tasks are not touched), one that no longer
 * qualifies loses it. `is_local` (NULL = every module) tells whether the
 * front end runs the module here. A pool that cannot be started is
 * logged, and that module's tasks start cold. */
void warm_pools_sync(module_registry *reg, const char *monitor_path,
                     int (*is_local)(void *arg, const char *module), void *arg);

/* warm_pool_take on the pool of `module`: 1 with *slot, or 0 with `why`
 * ("" when the module has no pool). */
int warm_pools_take(const char *module, const char *argv0, warm_slot *slot, char *why,
                    size_t whylen);

/* warm_pool_refill on the pool of `module`, if it has one (after the start
 * of a copy warm_pools_take handed out). */
void warm_pools_refill(const char *module);

/* The figures of `module`'s pool; 0, or -ENOENT when it has none. */
int warm_pools_stats(const char *module, warm_pool_stats *out);

/* Stops every pool (shutdown; also frees everything for leak checkers). */
void warm_pools_stop_all(void);

#endif
