/* Directory-tree helpers shared by the execution layer and the daemon's
 * store: create a path with its parents, remove a tree without following
 * symlinks. Both return 0 or a negative errno. */
#ifndef ELIDE_EXEC_FS_TREE_H
#define ELIDE_EXEC_FS_TREE_H

#include <sys/types.h>

/* mkdir -p: creates missing parents with `mode`; 0 if it ends a directory. */
int sys_mkdir_p(const char *path, mode_t mode);
/* rm -rf without following symlinks; a missing path is success. */
int sys_remove_tree(const char *path);

#endif
