/* The environment variables that never reach a task, in the plugin and the
 * daemon alike: those that change what code the dynamic loader or libc runs. */
#ifndef ELIDE_ENV_FILTER_H
#define ELIDE_ENV_FILTER_H

/* 1 if the variable `name` must be removed: LD_*, GLIBC_TUNABLES,
 * GCONV_PATH, MALLOC_TRACE, LOCPATH, NLSPATH, HOSTALIASES, RESOLV_HOST_CONF. */
int env_name_is_denied(const char *name);

#endif
