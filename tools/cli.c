/* SPDX-License-Identifier: MIT */
/* The `ringtrace` command's shared helpers: strict parsers (pids, durations, sizes), messages that
 * name the option, program lookup for `record -- CMD`, output checks and the stop flag. */
#include "cli.h"
#include "segments.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ringtrace/shm-format.h>

#include "segments.h"
#include "sinks/outfile.h"

#define DEFAULT_PID_MAX 4194304 /* the kernel's ceiling (PID_MAX_LIMIT on 64-bit) */
#define DURATION_MAX_NS ((uint64_t)INT64_MAX)

atomic_int cli_stop;

/* ---- parsers ---- */

/* Digits, an optional fraction, then *end points at the unit. Fraction digits past 18 are
 * dropped (far below a nanosecond for any unit). */
static int parse_decimal(const char *s, uint64_t *whole, uint64_t *frac, unsigned *frac_digits, const char **end,
			 const char **why)
{
	bool digits = false;

	*whole = *frac = 0;
	*frac_digits = 0;
	if (!s || !*s) {
		*why = "empty";
		return -EINVAL;
	}
	if (*s == '-') {
		*why = "negative";
		return -EINVAL;
	}
	for (; *s >= '0' && *s <= '9'; s++) {
		if (*whole > (UINT64_MAX - 9) / 10) {
			*why = "too large";
			return -ERANGE;
		}
		*whole = *whole * 10 + (uint64_t)(*s - '0');
		digits = true;
	}
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++) {
			if (*frac_digits < 18) {
				*frac = *frac * 10 + (uint64_t)(*s - '0');
				(*frac_digits)++;
			}
			digits = true;
		}
	}
	if (!digits) {
		*why = "not a number";
		return -EINVAL;
	}
	*end = s;
	return 0;
}

/* whole.frac * unit, checked against max. */
static int scale(uint64_t whole, uint64_t frac, unsigned frac_digits, uint64_t unit, uint64_t max, uint64_t *out,
		 const char **why)
{
	__extension__ unsigned __int128 v = (unsigned __int128)whole * unit;
	__extension__ unsigned __int128 p10 = 1;

	for (unsigned i = 0; i < frac_digits; i++)
		p10 *= 10;
	v += (unsigned __int128)frac * unit / p10;
	if (v > max) {
		*why = "too large";
		return -ERANGE;
	}
	*out = (uint64_t)v;
	return 0;
}

struct unit {
	const char *name;
	uint64_t factor;
};

static const struct unit *find_unit(const struct unit *units, const char *name)
{
	for (; units->name; units++)
		if (!strcmp(units->name, name))
			return units;
	return NULL;
}

int cli_parse_duration(const char *s, uint64_t *ns, const char **why)
{
	static const struct unit units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "ms", 1000000 }, { "s", 1000000000ull }, { "", 1000000000ull },
		{ "m", 60000000000ull }, { "min", 60000000000ull }, { "h", 3600000000000ull }, { "d", 86400000000000ull },
		{ NULL, 0 },
	};
	const struct unit *u;
	uint64_t whole, frac;
	unsigned fd;
	const char *end;
	int err = parse_decimal(s, &whole, &frac, &fd, &end, why);

	if (err)
		return err;
	u = find_unit(units, end);
	if (!u) {
		*why = "unknown unit (ns, us, ms, s, m, h or d)";
		return -EINVAL;
	}
	return scale(whole, frac, fd, u->factor, DURATION_MAX_NS, ns, why);
}

int cli_parse_size(const char *s, uint64_t default_unit, uint64_t *bytes, const char **why)
{
	static const struct unit units[] = {
		{ "B", 1 },
		{ "K", 1ull << 10 }, { "k", 1ull << 10 }, { "KB", 1ull << 10 }, { "kB", 1ull << 10 }, { "KiB", 1ull << 10 },
		{ "M", 1ull << 20 }, { "MB", 1ull << 20 }, { "MiB", 1ull << 20 },
		{ "G", 1ull << 30 }, { "GB", 1ull << 30 }, { "GiB", 1ull << 30 },
		{ "T", 1ull << 40 }, { "TB", 1ull << 40 }, { "TiB", 1ull << 40 },
		{ NULL, 0 },
	};
	const struct unit *u;
	uint64_t whole, frac;
	unsigned fd;
	const char *end;
	int err = parse_decimal(s, &whole, &frac, &fd, &end, why);

	if (err)
		return err;
	u = *end ? find_unit(units, end) : NULL;
	if (*end && !u) {
		*why = "unknown unit (B, K, M, G or T)";
		return -EINVAL;
	}
	return scale(whole, frac, fd, u ? u->factor : default_unit, (uint64_t)SIZE_MAX / 2, bytes, why);
}

int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out, const char **why)
{
	uint64_t whole, frac;
	unsigned fd;
	const char *end;
	int err = parse_decimal(s, &whole, &frac, &fd, &end, why);

	if (err)
		return err;
	if (*end) {
		*why = "not a number";
		return -EINVAL;
	}
	if (fd || strchr(s, '.')) {
		*why = "not a whole number";
		return -EINVAL;
	}
	if (whole < min || whole > max) {
		*why = whole < min ? "too small" : "too large";
		return -ERANGE;
	}
	*out = whole;
	return 0;
}

static uint64_t pid_max(void)
{
	FILE *f = fopen("/proc/sys/kernel/pid_max", "re");
	unsigned long long v = 0;

	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v ? v : DEFAULT_PID_MAX;
}

int cli_parse_pid(const char *s, pid_t *pid, const char **why)
{
	uint64_t v;
	int err = cli_parse_uint(s, 1, pid_max(), &v, why);

	if (err == -ERANGE && !strcmp(*why, "too small"))
		*why = "0 is not a process";
	if (!err)
		*pid = (pid_t)v;
	return err;
}

/* ---- messages ---- */

static void vsay(const struct cli_command *cmd, const char *fmt, va_list ap)
{
	fprintf(stderr, "ringtrace%s%s: ", cmd ? " " : "", cmd ? cmd->name : "");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_error(const struct cli_command *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(cmd, fmt, ap);
	va_end(ap);
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(cmd, fmt, ap);
	va_end(ap);
	if (cmd)
		fprintf(stderr, "Try 'ringtrace %s --help'.\n", cmd->name);
	else
		fprintf(stderr, "Try 'ringtrace --help'.\n");
	return CLI_USAGE;
}

int cli_option_error(const struct cli_command *cmd, int c, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	bool is_long = arg && arg[0] == '-' && arg[1] == '-';
	int len = is_long ? (int)strcspn(arg, "=") : 0;

	if (c == ':') {
		if (is_long)
			return cli_usage_error(cmd, "option '%.*s' needs a value", len, arg);
		return cli_usage_error(cmd, "option '-%c' needs a value", optopt);
	}
	if (is_long && arg[len] == '=' && optopt)
		return cli_usage_error(cmd, "option '%.*s' takes no value", len, arg);
	if (is_long || !optopt)
		return cli_usage_error(cmd, "unknown option '%.*s'", is_long ? len : (int)strlen(arg), arg);
	return cli_usage_error(cmd, "unknown option '-%c'", optopt);
}

int cli_help(const struct cli_command *cmd)
{
	fputs(cmd->usage, stdout);
	return CLI_OK;
}

int cli_opt_pid(const struct cli_command *cmd, const char *opt, const char *s, pid_t *pid)
{
	const char *why = "";

	if (cli_parse_pid(s, pid, &why) == 0)
		return 0;
	return cli_usage_error(cmd, "%s '%s': not a process id (%s; expected a number from 1 to %llu)", opt, s, why,
			       (unsigned long long)pid_max());
}

int cli_opt_duration(const struct cli_command *cmd, const char *opt, const char *s, uint64_t *ns)
{
	const char *why = "";

	if (cli_parse_duration(s, ns, &why) == 0 && *ns == 0)
		why = "zero";
	else if (why[0] == 0)
		return 0;
	return cli_usage_error(cmd, "%s '%s': not a usable duration (%s; for example 10s, 500ms, 2m, 1.5h)", opt, s,
			       why);
}

int cli_opt_size(const struct cli_command *cmd, const char *opt, const char *s, uint64_t default_unit,
		 uint64_t min, uint64_t *bytes)
{
	const char *why = "";

	if (cli_parse_size(s, default_unit, bytes, &why) == 0 && *bytes < min)
		why = "too small";
	else if (why[0] == 0)
		return 0;
	if (min >= (1u << 20) && !(min & ((1u << 20) - 1)))
		return cli_usage_error(cmd, "%s '%s': not a usable size (%s; for example 512M, 2G; at least %lluM)", opt,
				       s, why, (unsigned long long)(min >> 20));
	return cli_usage_error(cmd, "%s '%s': not a usable size (%s; for example 512M, 2G; at least %llu bytes)", opt, s,
			       why, (unsigned long long)min);
}

int cli_opt_uint(const struct cli_command *cmd, const char *opt, const char *s, uint64_t min, uint64_t max,
		 uint64_t *out)
{
	const char *why = "";

	if (cli_parse_uint(s, min, max, out, &why) == 0)
		return 0;
	return cli_usage_error(cmd, "%s '%s': %s (expected a whole number from %llu to %llu)", opt, s, why,
			       (unsigned long long)min, (unsigned long long)max);
}

/* ---- processes and outputs ---- */

bool cli_pid_exists(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

/* A control segment name that exists and is owned by the uid it names (not squatted or planted). */
static bool genuine(const char *name)
{
	struct rtc_segment seg;
	char path[RT_SHM_NAME_MAX + 16];
	struct stat st;

	if (rtc_segment_parse(name, &seg) < 0 || seg.kind != RTC_SEG_CONTROL)
		return false;
	snprintf(path, sizeof(path), "/dev/shm%s", seg.name);
	return lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == seg.name_uid;
}

bool cli_traced(pid_t pid)
{
	char names[8][RT_SHM_NAME_MAX];

	/* The usual names first (no scan of /dev/shm), then salted ones and other uids'. */
	for (int scan = 0; scan < 2; scan++) {
		size_t n = rtc_segments_find_pid(pid, scan, names, 8);

		for (size_t i = 0; i < n; i++)
			if (genuine(names[i]))
				return true;
	}
	return false;
}

void cli_size_text(uint64_t bytes, char *buf, size_t len)
{
	if (bytes >= (10u << 20))
		snprintf(buf, len, "%" PRIu64 " MiB", bytes >> 20);
	else if (bytes >= (10u << 10))
		snprintf(buf, len, "%" PRIu64 " KiB", bytes >> 10);
	else
		snprintf(buf, len, "%" PRIu64 " bytes", bytes);
}

const char *cli_process_name(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	snprintf(buf, len, "?");
	f = fopen(path, "re");
	if (f) {
		if (fgets(buf, (int)len, f))
			buf[strcspn(buf, "\n")] = 0;
		fclose(f);
	}
	return buf;
}

int cli_preopen_output(const struct cli_command *cmd, const char *opt, const char *path)
{
	int err = rtc_outfile_preopen(path, 0);

	if (err == 0)
		return 0;
	cli_error(cmd, "%s %s: cannot write there: %s", opt, path, rtc_outfile_strerror(err));
	return CLI_FAILED;
}

/* 0 if path is a regular file we may execute; else the shell's status with a reason. */
static int runnable(const char *path, const char **why)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		*why = "command not found";
		return 127;
	}
	if (S_ISDIR(st.st_mode)) {
		*why = "is a directory";
		return 126;
	}
	if (access(path, X_OK) != 0 || !S_ISREG(st.st_mode)) {
		*why = "permission denied (not an executable file)";
		return 126;
	}
	return 0;
}

int cli_check_program(const struct cli_command *cmd, const char *prog)
{
	const char *path = getenv("PATH"), *why = "command not found";
	char buf[PATH_MAX];
	int status = 127;

	if (!*prog) {
		cli_error(cmd, "'': command not found");
		return 127;
	}
	if (strchr(prog, '/')) {
		status = runnable(prog, &why);
	} else {
		/* As execvp() searches: each PATH entry in turn, an empty one meaning ".". */
		if (!path)
			path = "/usr/local/bin:/usr/bin:/bin";
		while (status) {
			size_t n = strcspn(path, ":");
			const char *w = "";
			int s;

			snprintf(buf, sizeof(buf), "%.*s/%s", n ? (int)n : 1, n ? path : ".", prog);
			s = runnable(buf, &w);
			if (s == 0 || (s == 126 && status == 127)) {
				status = s;
				why = w;
			}
			if (!path[n])
				break;
			path += n + 1;
		}
	}
	if (status)
		cli_error(cmd, "%s: %s", prog, why);
	return status;
}

static void on_stop(int sig)
{
	(void)sig;
	atomic_store_explicit(&cli_stop, 1, memory_order_relaxed);
}

void cli_catch_stop(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
	opterr = 0; /* main() set optind = 0 before the subcommand: a fresh scan */
	return getopt_long(argc, argv, shortopts, longopts, NULL);
}
