/* exec_cmd_lookup: where a command named in an exec request is found, in
 * the order of Nomad's executor (drivers/shared/executor lookupBin): the
 * task's local/ directory, the task directory, an absolute host path, then
 * the task's PATH. */
#include "exec_cmd.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static int executable_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static const char *env_path(const char *const *envp) {
  for (const char *const *e = envp; e && *e; e++)
    if (strncmp(*e, "PATH=", 5) == 0) return *e + 5;
  return DEFAULT_PATH;
}

/* Joins dir and cmd as filepath.Join would for these inputs: one slash
 * between them whatever cmd starts with. */
static int join(char *out, size_t outlen, const char *dir, const char *sub, const char *cmd) {
  while (*cmd == '/') cmd++;
  int n = snprintf(out, outlen, "%s%s/%s", dir, sub, cmd);
  return n >= 0 && (size_t)n < outlen ? 0 : -ENAMETOOLONG;
}

static int found(char *out, size_t outlen, const char *path) {
  int n = snprintf(out, outlen, "%s", path);
  return n >= 0 && (size_t)n < outlen ? 0 : -ENAMETOOLONG;
}

int exec_cmd_lookup(const char *cmd, const char *task_dir, const char *const *envp, char *out,
                    size_t outlen, char *err, size_t errlen) {
  char path[PATH_MAX];
  if (!cmd || !cmd[0]) {
    snprintf(err, errlen, "the command is empty");
    return -EINVAL;
  }
  if (task_dir && task_dir[0]) {
    if (join(path, sizeof path, task_dir, "/local", cmd) == 0 && exists(path))
      return found(out, outlen, path);
    if (join(path, sizeof path, task_dir, "", cmd) == 0 && exists(path))
      return found(out, outlen, path);
  }
  if (cmd[0] == '/' && exists(cmd)) return found(out, outlen, cmd);
  /* Like exec.LookPath: a name with a slash is not searched in PATH. */
  if (!strchr(cmd, '/')) {
    const char *p = env_path(envp);
    while (*p) {
      size_t len = strcspn(p, ":");
      /* An empty PATH element means the current directory, which for a
       * plugin means nothing useful: skipped. */
      if (len > 0) {
        int n = snprintf(path, sizeof path, "%.*s/%s", (int)len, p, cmd);
        if (n > 0 && (size_t)n < sizeof path && path[0] == '/' && executable_file(path))
          return found(out, outlen, path);
      }
      p += len;
      if (*p == ':') p++;
    }
  }
  snprintf(err, errlen, "binary \"%s\" could not be found", cmd);
  return -ENOENT;
}
