/* Helpers shared by the exec tests (test_exec*.c): temp dirs, specs, FIFO
 * readers standing in for Nomad's logmon, and /proc checks. */
#ifndef ELIDE_TEST_EXEC_UTIL_H
#define ELIDE_TEST_EXEC_UTIL_H

#include "exec.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Handles the common test arguments: `--no-pidfd` runs the whole test as
 * on a kernel without pidfds (exec's fallback). Returns 1 in that mode. */
int tu_setup(int argc, char **argv);
/* The built monitor (compile definition from exec_tests.cmake). */
const char *tu_monitor(void);
/* A fresh directory under /tmp; the string is static storage per call. */
char *tu_tmpdir(void);
/* Removes a directory tree. */
void tu_rmtree(const char *dir);
/* A spec with the given argv, env {PATH=/usr/bin:/bin}, cwd "/", /dev/null
 * outputs and state dir <dir>/state. */
exec_spec tu_spec(const char *dir, const char *const *argv);
int64_t tu_now_ms(void);

/* A reader on a FIFO (created here), collecting everything until EOF, like
 * logmon. delay_ms postpones opening the read end. */
typedef struct tu_reader tu_reader;
tu_reader *tu_reader_start(const char *fifo_path, int delay_ms);
/* Waits up to timeout_ms for `needle` to have arrived; 1 if it has. */
int tu_reader_wait_for(tu_reader *r, const char *needle, int timeout_ms);
/* 1 once the reader has seen EOF. */
int tu_reader_eof(tu_reader *r);
/* Waits for EOF and returns everything read (malloc'd; caller frees) and
 * frees the reader. */
char *tu_reader_join(tu_reader *r, size_t *len);

/* Reads a whole (small) file; malloc'd, NUL-terminated, NULL on error. */
char *tu_read_file(const char *path);
/* 1 if /proc/<pid> exists (a process or a zombie). */
int tu_pid_exists(pid_t pid);
/* Waits up to timeout_ms for /proc/<pid> to disappear; 1 if it did. */
int tu_wait_pid_gone(pid_t pid, int timeout_ms);
/* Number of child processes (zombies included) of this process, not
 * counting the standby monitors that wait for the next start. */
int tu_count_children(void);
/* 1 if pid is a live process (exists and is not a zombie). */
int tu_pid_running(pid_t pid);
/* Process state letter from /proc/<pid>/stat, or 0. */
char tu_pid_state(pid_t pid);

#endif
