/* The contract between the plugin side of exec (exec_*.c) and the
 * elide-monitor binary: start-up spec and reply, control signal, file names.
 * The protocol itself is described at the top of monitor_main.c. */
#ifndef ELIDE_MON_PROTO_H
#define ELIDE_MON_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* The monitor's fd on which it reads the spec and writes the reply. */
#define MON_SPEC_FD 3
/* Warm mode only (`elide-monitor --warm <pid>`): the AF_UNIX SOCK_SEQPACKET
 * socket to the idle pre-initialised task process, over which the task is
 * handed off (payload and replies described in monitor_warm.c). */
#define MON_WARM_FD 4

/* "ELM3" little-endian; "ELM2" specs had no cgroups, OOM counter,
 * oom_score_adj or timeout, "ELM1" no stdin path. A monitor refuses a spec
 * of another version (plugin and monitor ship together). */
#define MON_SPEC_MAGIC 0x334d4c45u
#define MON_SPEC_MAX (64u << 20)   /* bound on groups + strings */
#define MON_MAX_GROUPS 65536u
#define MON_MAX_CGROUPS 16u

/* Control signal, sent with pidfd_send_signal() and an SI_QUEUE value; a
 * real-time signal so that commands queue instead of merging. A fixed
 * number (glibc's SIGRTMIN is 34) so that monitors survive a plugin upgrade. */
#define MON_CTL_SIGNAL 40
/* Values carried by MON_CTL_SIGNAL: 0 < v < 65 forwards signal v to the
 * task's process group; MON_CMD_DESTROY kills everything the monitor parents,
 * reaps it and makes the monitor exit; MON_CMD_CLOSE_STDIN closes the
 * monitor's write end of a FIFO stdin (older monitors ignore it). */
#define MON_CMD_DESTROY 0x10000
#define MON_CMD_CLOSE_STDIN 0x10001

/* Files in the task's state directory. */
#define MON_EXIT_RECORD "exit"
#define MON_EXIT_RECORD_TMP "exit.tmp"
#define MON_LOG "monitor.log"

/* Sent by the plugin, followed by ngroups uint32 gids, then strings_len
 * bytes of NUL-terminated strings: state_dir, cwd, stdin_path, stdout_path,
 * stderr_path, oom_counter_path ("" = none), cgroup dirs[0..ncgroups),
 * argv[0..argc), envp[0..envc). Host byte order. */
#define MON_SPEC_FIXED_STRINGS 6
typedef struct mon_spec_hdr {
  uint32_t magic;
  uint32_t set_user;
  uint32_t uid;
  uint32_t gid;
  uint32_t ngroups;
  uint32_t argc;
  uint32_t envc;
  uint32_t strings_len;
  uint32_t ncgroups;          /* directories the task joins before execve */
  uint32_t set_oom_score_adj; /* non-zero: the task writes oom_score_adj */
  int32_t oom_score_adj;
  uint32_t timeout_signal;    /* sent at timeout_ms; SIGKILL follows after the grace */
  uint64_t timeout_ms;        /* 0 = no timeout; counted from the task's start */
  uint64_t timeout_grace_ms;
} mon_spec_hdr;

/* "ELW1" little-endian: a warm monitor's first message on MON_SPEC_FD, sent
 * as soon as it is ready for a spec. Host byte order. */
#define MON_WARM_MAGIC 0x31574c45u
typedef struct mon_warm_hello {
  uint32_t magic;
  int32_t monitor_pid;
  int32_t task_pid; /* the idle process that a spec will be handed to */
} mon_warm_hello;

/* The monitor's one reply; smaller than PIPE_BUF so it is written whole. */
typedef struct mon_reply {
  int32_t status;        /* 0: the task's execve succeeded; else -errno */
  int32_t task_pid;      /* when status == 0 */
  int64_t started_at_ns; /* CLOCK_REALTIME just before the task was forked
                            (warm: just before the handoff) */
  char msg[240];         /* when status != 0: what failed, NUL-terminated */
  int32_t warm;          /* 1: the idle warm process took the task; 0: started cold */
  char note[200];        /* warm mode with warm == 0: "warm start refused: <reason>",
                            NUL-terminated; "" otherwise */
} mon_reply;

/* The exit record, a small text file (see exit_record.c). */
typedef struct mon_exit {
  int exit_code;  /* status, or 128+n for a death by signal n (see timed_out) */
  int signal;
  int oom_killed; /* died by SIGKILL while its memory cgroup's OOM-kill counter rose */
  /* The monitor's timeout fired: it sent timeout_signal, and SIGKILL after
   * timeout_grace_ms if timeout_killed. exit_code/signal then name the
   * signal that stopped the task (128+n) even if it exited by itself after
   * the signal, so a timed-out task never reads as a success. */
  int timed_out;
  int timeout_killed;
  int timeout_signal;
  int64_t timeout_ms;
  int64_t timeout_grace_ms;
  int64_t finished_at_ns;
  int32_t task_pid;
  int has_rusage; /* the three below were in the record */
  uint64_t cpu_user_ns;
  uint64_t cpu_system_ns;
  uint64_t max_rss_bytes;
} mon_exit;

/* Formats `e` into buf; returns the length (< cap) or -ENOSPC. */
int exit_record_format(char *buf, size_t cap, const mon_exit *e);
/* Parses a record; returns 0 or -EINVAL. */
int exit_record_parse(const char *buf, size_t len, mon_exit *out);

#endif
