/* SPDX-License-Identifier: MIT */
/* The `ringtrace` command's shared parts: the subcommand table entry, strict parsers for pids,
 * durations and sizes, option errors (exit status 2), output checks and the stop flag. */
#ifndef RT_CLI_H
#define RT_CLI_H

#include <getopt.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Exit statuses. */
enum {
	CLI_OK = 0,
	CLI_FAILED = 1, /* it ran and failed: nothing to trace, an output that cannot be written */
	CLI_USAGE = 2,  /* a bad option or value: nothing was done */
};

/* One subcommand: `ringtrace NAME ...` calls run(argc, argv) with argv[0] = NAME. */
struct cli_command {
	const char *name;
	const char *summary; /* one line, for `ringtrace --help` */
	const char *usage;   /* printed by `ringtrace NAME --help` and `ringtrace help NAME` */
	int (*run)(int argc, char **argv);
};

extern const struct cli_command cli_cmd_list, cli_cmd_record, cli_cmd_convert, cli_cmd_dump, cli_cmd_clean,
	cli_cmd_stats, cli_cmd_top, cli_cmd_diff, cli_cmd_serve;

/* ---- parsers: 0, or -EINVAL / -ERANGE with *why saying what is wrong ---- */

/* A process id: decimal digits only, 1 .. the kernel's pid_max. */
int cli_parse_pid(const char *s, pid_t *pid, const char **why);

/* A duration: a decimal number (fraction allowed) and a unit ns, us, ms, s, m (or min), h or d;
 * no unit means seconds. Never negative; at most 292 years. */
int cli_parse_duration(const char *s, uint64_t *ns, const char **why);

/* A size: a decimal number (fraction allowed) and a binary unit B, K, M, G or T (KiB, KB, k ...
 * alike: powers of 1024); no unit means `default_unit` bytes. */
int cli_parse_size(const char *s, uint64_t default_unit, uint64_t *bytes, const char **why);

/* A whole number in [min, max]. */
int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out, const char **why);

/* ---- messages ---- */

/* "ringtrace CMD: <message>" and a hint to --help on stderr; returns CLI_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* For getopt_long()'s '?' and ':' results: names the option. Returns CLI_USAGE. */
int cli_option_error(const struct cli_command *cmd, int c, char **argv);

/* "ringtrace CMD: <message>" on stderr. */
void cli_error(const struct cli_command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The usage text to stdout; returns CLI_OK. */
int cli_help(const struct cli_command *cmd);

/* Parsed option values, or the usage error already reported (CLI_USAGE). 0 on success. */
int cli_opt_pid(const struct cli_command *cmd, const char *opt, const char *s, pid_t *pid);
int cli_opt_duration(const struct cli_command *cmd, const char *opt, const char *s, uint64_t *ns);
int cli_opt_size(const struct cli_command *cmd, const char *opt, const char *s, uint64_t default_unit,
		 uint64_t min, uint64_t *bytes);
int cli_opt_uint(const struct cli_command *cmd, const char *opt, const char *s, uint64_t min, uint64_t max,
		 uint64_t *out);

/* ---- processes and outputs ---- */

/* Does the process exist (it may belong to someone else)? */
bool cli_pid_exists(pid_t pid);

/* Has it a control segment under the prefix (RINGTRACE_SHM_PREFIX): its own uid's, ours, a salted
 * fallback name or another uid's, owned by the uid its name carries? (Whether we may open it is
 * rtc_producer_open_pid()'s to say.) */
bool cli_traced(pid_t pid);

/* A size in segment listings: bytes, KiB from 10 KiB, MiB from 10 MiB (whole units). */
void cli_size_text(uint64_t bytes, char *buf, size_t len);

/* Its command name (/proc/PID/comm), "?" when unknown. Returns buf. */
const char *cli_process_name(pid_t pid, char *buf, size_t len);

/* Open an output path now (sinks/outfile.h: rtc_outfile_preopen), so that a bad one is refused
 * before recording starts: says why and returns CLI_FAILED, else 0. */
int cli_preopen_output(const struct cli_command *cmd, const char *opt, const char *path);

/* Is argv[0] a program execvp() would find and may run? Says why not and returns 127 (as a
 * shell does) or 126, else 0. */
int cli_check_program(const struct cli_command *cmd, const char *prog);

/* Set by SIGINT and SIGTERM once cli_catch_stop() ran. Lock-free: stored from a signal handler,
 * read by the engine's thread (relaxed: it orders nothing else). */
extern atomic_int cli_stop;
void cli_catch_stop(void);

/* getopt_long() over a subcommand's argv (main() resets the scan before run()), with getopt's own
 * messages off: cli_option_error() reports. */
int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts);

#endif
