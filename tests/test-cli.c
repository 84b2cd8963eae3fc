/* SPDX-License-Identifier: MIT */
/* The `ringtrace` command as a user meets it: help for every subcommand, --version, strict
 * arguments (exit status 2 naming the option), commands that cannot run, list (every thread, the
 * producer's counters, squatted names), dump (a killed process, the open-task table), clean
 * (exactly the dead process's segments); and the parsers of tools/cli.c directly. Outputs:
 * test-cli-output.c. Runs under its own RINGTRACE_SHM_PREFIX (tests/meson.build). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <ringtrace/ringtrace.h>
#include <ringtrace/version.h>

#include "cli-run.h"
#include "cli.h"
#include "producer.h"
#include "rawfile.h"
#include "segments.h"

#define NOBODY 65534
#define OTHER 65533
#define MANY_THREADS 1100 /* more than the control segment's 256 directory slots, and than the 1024 list once read */

/* ---- help and version ---- */

static void test_every_subcommand_help(void **state)
{
	static const char *const cmds[] = { "list", "record", "convert", "dump", "clean" };
	char seg[128], usage[64];
	int fd;

	(void)state;
	/* A dead process's segment: `clean --help` must leave it (today's bug: it ran clean). */
	snprintf(seg, sizeof(seg), RT_SHM_CONTROL_NAME_FMT, rtc_shm_prefix(), (unsigned)geteuid(), (unsigned)dead_pid());
	fd = shm_open(seg, O_CREAT | O_EXCL | O_RDWR, 0600);
	assert_true(fd >= 0);
	close(fd);
	for (size_t i = 0; i < 5; i++) {
		const char *forms[3][4] = { { tool, cmds[i], "--help", NULL }, { tool, cmds[i], "-h", NULL },
					    { tool, "help", cmds[i], NULL } };

		snprintf(usage, sizeof(usage), "usage: ringtrace %s", cmds[i]);
		for (size_t k = 0; k < 3; k++) {
			assert_status(run(forms[k], "help.out", "help.err"), 0, "help.err");
			assert_contains("help.out", usage);
			assert_contains("help.out", "-h, --help");
			assert_empty("help.err");
		}
	}
	fd = shm_open(seg, O_RDONLY, 0);
	assert_true(fd >= 0); /* still there */
	close(fd);
	shm_unlink(seg);
	{
		const char *argv[] = { tool, "--help", NULL };

		assert_status(run(argv, "help.out", "help.err"), 0, "help.err");
		for (size_t i = 0; i < 5; i++)
			assert_contains("help.out", cmds[i]);
	}
	{
		const char *argv[] = { tool, NULL };

		assert_status(run(argv, "help.out", "help.err"), 2, "help.err");
		assert_contains("help.err", "usage: ringtrace");
	}
	{
		const char *argv[] = { tool, "help", "frobnicate", NULL };

		assert_status(run(argv, "help.out", "help.err"), 2, "help.err");
		assert_contains("help.err", "'frobnicate' is not a ringtrace command");
	}
}

static void test_version(void **state)
{
	const char *argv[] = { tool, "--version", NULL };
	char abi[64];

	(void)state;
	assert_status(run(argv, "version.out", "version.err"), 0, "version.err");
	assert_contains("version.out", "ringtrace " RT_VERSION_STRING "\n");
	assert_contains("version.out", "libringtrace");
	snprintf(abi, sizeof(abi), "shared-memory format ABI %d.%d", RT_SHM_ABI_MAJOR, RT_SHM_ABI_MINOR);
	assert_contains("version.out", abi);
	snprintf(abi, sizeof(abi), "raw capture format %d\n", RTC_RAW_VERSION);
	assert_contains("version.out", abi);
}

/* ---- arguments ---- */

static void expect_usage_error(const char *const argv[], const char *message)
{
	assert_status(run(argv, "args.out", "args.err"), 2, "args.err");
	assert_contains("args.err", message);
	assert_contains("args.err", "--help'.");
	assert_empty("args.out");
}

static void test_bad_pids(void **state)
{
	static const char *const bad[] = { "abc", "0", "-5", "12x", "99999999999", "", "1.5" };
	char msg[64], pid[16], json[300];

	(void)state;
	path(json, sizeof(json), "never.json");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *record[] = { tool, "record", "-p", bad[i], "-o", json, NULL };
		const char *dump[] = { tool, "dump", "-p", bad[i], NULL };

		snprintf(msg, sizeof(msg), "-p '%s': not a process id", bad[i]);
		expect_usage_error(record, msg);
		expect_usage_error(dump, msg);
	}
	/* A pid that does not exist, and a process that is not traced, each said as such. */
	snprintf(pid, sizeof(pid), "%d", (int)dead_pid());
	{
		const char *record[] = { tool, "record", "-p", pid, "-o", json, NULL };
		const char *dump[] = { tool, "dump", "-p", pid, NULL };

		snprintf(msg, sizeof(msg), "pid %s: no such process", pid);
		assert_status(run(record, NULL, "args.err"), 1, "args.err");
		assert_contains("args.err", msg);
		assert_status(run(dump, NULL, "args.err"), 1, "args.err");
		assert_contains("args.err", msg);
	}
	{
		const char *sleeper[] = { "/bin/sleep", "30", NULL };
		pid_t s = start(sleeper, NULL, NULL, 0);
		const char *record[] = { tool, "record", "-p", pid, "-o", json, NULL };

		snprintf(pid, sizeof(pid), "%d", (int)s);
		snprintf(msg, sizeof(msg), "pid %s (sleep): not a traced process", pid);
		for (int i = 0; i < 5000; i++) { /* until it has exec()ed */
			char name[64];

			if (!strcmp(cli_process_name(s, name, sizeof(name)), "sleep"))
				break;
			usleep(1000);
		}
		assert_status(run(record, NULL, "args.err"), 1, "args.err");
		assert_contains("args.err", msg);
		kill(s, SIGKILL);
		waitpid(s, NULL, 0);
	}
	assert_int_equal(access(json, F_OK), -1);
}

static void test_bad_durations_sizes_and_options(void **state)
{
	static const char *const bad[] = { "abc", "-1", "0", "10x", "1e3", "99999999999999999999", "300y", "", ".s" };
	char msg[96];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *record[] = { tool, "record", "-a", "--duration", bad[i], NULL };
		const char *dump[] = { tool, "dump", "-p", "1", "-d", bad[i], NULL };

		snprintf(msg, sizeof(msg), "--duration '%s': not a usable duration", bad[i]);
		expect_usage_error(record, msg);
		expect_usage_error(dump, msg);
	}
	{
		const char *argv[] = { tool, "record", "-a", "--max-backlog", "0", NULL };

		expect_usage_error(argv, "--max-backlog '0': not a usable size (too small");
	}
	{
		const char *argv[] = { tool, "record", "-a", "--max-backlog", "12Q", NULL };

		expect_usage_error(argv, "--max-backlog '12Q': not a usable size (unknown unit");
	}
	{
		const char *argv[] = { tool, "record", "-a", "--frobnicate", NULL };

		expect_usage_error(argv, "record: unknown option '--frobnicate'");
	}
	{
		const char *argv[] = { tool, "convert", "x.rtrace", "-o", NULL };

		expect_usage_error(argv, "convert: option '-o' needs a value");
	}
	{
		const char *argv[] = { tool, "record", "-a", "-o", "-", "--raw", "-", NULL };

		expect_usage_error(argv, "-o and --raw name the same output '-'");
	}
	{
		const char *argv[] = { tool, "record", "-a", "--raw", "x.rtrace.gz", NULL };

		expect_usage_error(argv, "raw captures are not compressed");
	}
	{
		const char *argv[] = { tool, "record", NULL };

		expect_usage_error(argv, "what to record?");
	}
}

static void test_parsers(void **state)
{
	static const struct {
		const char *s;
		uint64_t ns;
	} good[] = {
		{ "10s", 10000000000ull }, { "500ms", 500000000ull }, { "2m", 120000000000ull }, { "1h", 3600000000000ull },
		{ "1.5s", 1500000000ull }, { "1.5", 1500000000ull }, { "30", 30000000000ull }, { "250us", 250000ull },
		{ "7ns", 7 }, { "1d", 86400000000000ull }, { "2min", 120000000000ull }, { "0.000000001", 1 },
		{ "9223372036854775807ns", 9223372036854775807ull },
	};
	const char *why;
	uint64_t v;
	pid_t pid;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(cli_parse_duration(good[i].s, &v, &why), 0);
		assert_int_equal(v, good[i].ns);
	}
	assert_int_equal(cli_parse_duration("9223372036854775808ns", &v, &why), -ERANGE);
	assert_int_equal(cli_parse_duration("100000d", &v, &why), 0);
	assert_int_equal(cli_parse_duration("107000000d", &v, &why), -ERANGE);
	assert_int_equal(cli_parse_duration("-1s", &v, &why), -EINVAL);
	assert_string_equal(why, "negative");
	assert_int_equal(cli_parse_duration(" 1s", &v, &why), -EINVAL);
	assert_int_equal(cli_parse_duration("1 s", &v, &why), -EINVAL);
	assert_int_equal(cli_parse_size("512M", 1, &v, &why), 0);
	assert_int_equal(v, 512ull << 20);
	assert_int_equal(cli_parse_size("1.5G", 1, &v, &why), 0);
	assert_int_equal(v, 3ull << 29);
	assert_int_equal(cli_parse_size("64KiB", 1, &v, &why), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(cli_parse_size("3", 1u << 20, &v, &why), 0);
	assert_int_equal(v, 3u << 20);
	assert_int_equal(cli_parse_size("99999999999T", 1, &v, &why), -ERANGE);
	assert_int_equal(cli_parse_pid("4242", &pid, &why), 0);
	assert_int_equal(pid, 4242);
	assert_int_equal(cli_parse_pid("+42", &pid, &why), -EINVAL);
	assert_int_equal(cli_parse_pid("0x10", &pid, &why), -EINVAL);
	assert_int_equal(cli_parse_uint("1000001", 1, 1000000, &v, &why), -ERANGE);
}

/* ---- commands ---- */

static void test_record_command_problems(void **state)
{
	char json[300];

	(void)state;
	path(json, sizeof(json), "cmd.json");
	{
		const char *argv[] = { tool, "record", "-o", json, "--", "/nonexistent/program", NULL };

		assert_status(run(argv, NULL, "cmd.err"), 127, "cmd.err");
		assert_contains("cmd.err", "/nonexistent/program: command not found");
	}
	{
		const char *argv[] = { tool, "record", "-o", json, "--", "no-such-program-anywhere", NULL };

		assert_status(run(argv, NULL, "cmd.err"), 127, "cmd.err");
		assert_contains("cmd.err", "command not found");
	}
	assert_int_equal(access(json, F_OK), -1); /* refused before anything was opened */
	{
		const char *argv[] = { tool, "record", "-q", "-o", json, "--", "/bin/sleep", "0.1", NULL };

		assert_status(run(argv, NULL, "cmd.err"), 1, "cmd.err");
		assert_contains("cmd.err", "nothing was recorded: /bin/sleep never became a traced process");
	}
	/* -a with no traced process at all: in a /dev/shm of its own (others' tests trace too). */
	if (geteuid() == 0 && access("/usr/bin/unshare", X_OK) == 0) {
		char script[600];
		const char *argv[] = { "/usr/bin/unshare", "-m", "/bin/sh", "-c", script, NULL };

		snprintf(script, sizeof(script),
			 "mount -t tmpfs -o size=1M none /dev/shm || exit 99; exec %s record -a -q -d 300ms -o %s", tool,
			 json);
		assert_status(run(argv, NULL, "cmd.err"), 1, "cmd.err");
		assert_contains("cmd.err", "no traced process of uid 0 appeared while recording: nothing was recorded");
	} else {
		printf("(the -a case needs root and unshare(1) for a private /dev/shm: skipped)\n");
	}
}

static void test_dump_of_killed_process_ends(void **state)
{
	const char *argv[] = { producer, "--ready", NULL, "--forever", "--threads", "2", "--spans", "10", NULL };
	char ready[300], pid[16], seg[128];
	pid_t prod;

	(void)state;
	path(ready, sizeof(ready), "ready-dump");
	argv[2] = ready;
	prod = start(argv, NULL, NULL, 0);
	for (int i = 0; i < 5000 && access(ready, F_OK) != 0; i++)
		usleep(1000);
	kill(prod, SIGKILL);
	waitpid(prod, NULL, 0);
	snprintf(pid, sizeof(pid), "%d", (int)prod);
	snprintf(seg, sizeof(seg), "/dev/shm" RT_SHM_CONTROL_NAME_FMT, rtc_shm_prefix(), (unsigned)geteuid(), (unsigned)prod);
	if (access(seg, F_OK) != 0) {
		/* Another consumer on this machine (`record -a`) retired the dead process first. */
		printf("(the killed process's segments were removed by another consumer: skipped)\n");
		skip();
	}
	{
		const char *dump[] = { tool, "dump", "-p", pid, NULL };
		int status;

		for (int attempt = 0;; attempt++) {
			status = finish(start(dump, "dump.out", "dump.err", 0), 10000);
			if (attempt == 4 || !taken_by_another_consumer("dump.err"))
				break;
		}
		if (status != 0 && access(seg, F_OK) != 0) {
			printf("(the killed process's segments were removed by another consumer: skipped)\n");
			skip();
		}
		assert_status(status, 0, "dump.err");
	}
	assert_contains("dump.out", "# attached to pid");
	assert_contains("dump.out", " records\n");
	rtc_producer_scan(unlink_if, &prod); /* killed: its exit handler did not remove them */
}

/* ---- list, dump and clean on real processes ---- */

/* A parked producer-prog (every thread alive until release_parked()): its pid, once parked. */
struct parked {
	pid_t pid;
	char park[300], parked[300];
};

/* Started and not yet reaped, and names planted: a failed test leaves neither behind (teardown). */
static pid_t unreaped[8];
static char planted[2][RT_SHM_NAME_MAX];

static void forget(pid_t pid)
{
	for (int i = 0; i < 8; i++)
		if (unreaped[i] == pid)
			unreaped[i] = 0;
}

static int kill_leftovers(void **state)
{
	(void)state;
	for (int i = 0; i < 8; i++)
		if (unreaped[i] > 0) {
			kill(unreaped[i], SIGKILL);
			waitpid(unreaped[i], NULL, 0);
			rtc_producer_scan(unlink_if, &unreaped[i]);
			unreaped[i] = 0;
		}
	for (int i = 0; i < 2; i++)
		if (planted[i][0]) {
			shm_unlink(planted[i]);
			planted[i][0] = 0;
		}
	return 0;
}

static void await_file(const char *p)
{
	for (int i = 0; i < 60000 && access(p, F_OK) != 0; i++)
		usleep(1000);
	assert_int_equal(access(p, F_OK), 0);
}

/* Start producer-prog with `threads` workers that stay alive, its files in directory `in`, as user
 * uid (0: ours); go, when >= 0, is a pipe the child waits on before it execs (so that names can be
 * planted for its pid first). */
static void start_parked(struct parked *pp, const char *in, const char *tag, int threads, int go, uid_t uid)
{
	char n[16];
	const char *argv[] = { producer, "--threads", n, "--spans", "1", "--park", pp->park, "--parked", pp->parked, NULL };

	snprintf(n, sizeof(n), "%d", threads);
	snprintf(pp->park, sizeof(pp->park), "%s/park-%s", in, tag);
	snprintf(pp->parked, sizeof(pp->parked), "%s/parked-%s", in, tag);
	/* Small rings: hundreds of threads in /dev/shm. */
	setenv("RINGTRACE_BUFFER_SIZE", "16K", 1);
	setenv("RINGTRACE_SUBBUFS", "2", 1);
	pp->pid = fork();
	if (pp->pid == 0) {
		char b;

		int null = open("/dev/null", O_RDWR);

		dup2(null, 1); /* not the test's output: meson waits for every holder of it */
		dup2(null, 2);
		if (go >= 0 && read(go, &b, 1) != 1)
			_exit(126);
		if (uid && (setgid(uid) < 0 || setuid(uid) < 0))
			_exit(124);
		execv(argv[0], (char *const *)argv);
		_exit(125);
	}
	unsetenv("RINGTRACE_BUFFER_SIZE");
	unsetenv("RINGTRACE_SUBBUFS");
	assert_true(pp->pid > 0);
	for (int i = 0; i < 8; i++)
		if (!unreaped[i]) {
			unreaped[i] = pp->pid;
			break;
		}
}

static void release_parked(struct parked *pp, int want_status)
{
	int status;

	close(open(pp->park, O_CREAT | O_WRONLY, 0600));
	assert_int_equal(waitpid(pp->pid, &status, 0), pp->pid);
	forget(pp->pid);
	if (want_status >= 0) {
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), want_status);
	}
}

static void kill_parked(struct parked *pp)
{
	kill(pp->pid, SIGKILL);
	assert_int_equal(waitpid(pp->pid, NULL, 0), pp->pid);
	forget(pp->pid);
}

/* Lines of the file that start with "<pid> " (list -A: "<uid> <pid> ", uid >= 0), up to max copied
 * into rows. */
static int rows_of(const char *name, long uid, pid_t pid, char rows[][512], int max)
{
	char *t = text(name), prefix[32];
	int n = 0;

	if (uid >= 0)
		snprintf(prefix, sizeof(prefix), "%-6ld %d ", uid, (int)pid);
	else
		snprintf(prefix, sizeof(prefix), "%d ", (int)pid);
	for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n"))
		if (strncmp(line, prefix, strlen(prefix)) == 0) {
			if (n < max)
				snprintf(rows[n], 512, "%s", line);
			n++;
		}
	free(t);
	return n;
}

/* Occurrences of want in the file. */
static int count_in(const char *name, const char *want)
{
	char *t = text(name);
	int n = 0;

	for (const char *p = strstr(t, want); p; p = strstr(p + 1, want))
		n++;
	free(t);
	return n;
}

struct seg_count {
	pid_t pid;
	unsigned n;
};

static int count_pid(void *ctx, const struct rtc_segment *s)
{
	struct seg_count *c = ctx;

	c->n += s->pid == c->pid;
	return 0;
}

/* Segments of pid under our prefix, every user's. */
static unsigned segments_of(pid_t pid)
{
	struct seg_count c = { pid, 0 };

	assert_int_equal(rtc_segments_scan(true, count_pid, &c), 0);
	return c.n;
}

static void test_list_counts_every_thread(void **state)
{
	const char *list[] = { tool, "list", NULL };
	const char *list_long[] = { tool, "list", "--long", NULL };
	char rows[2][512], name[32], mode[16], buffer[16], consumer[32], state_s[16], want[160];
	unsigned long long threads, records, lost, untraced;
	unsigned fill;
	struct parked pp;
	uint32_t refused = 0;
	int consumer_n;

	(void)state;
	start_parked(&pp, dir, "many", MANY_THREADS, -1, 0);
	await_file(pp.parked);
	/* Our own counters (this test is a traced process too): names the table refused. */
	for (int i = 0; i < 6000; i++) {
		char nm[201];

		snprintf(nm, sizeof(nm), "%06d-", i);
		memset(nm + 7, 'n', 193);
		nm[200] = 0;
		refused += rt_name_intern(nm) == 1; /* RT_NAME_ID_OVERFLOW: the 1 MiB arena is full */
	}
	assert_true(refused > 0);
	assert_status(run(list, "list.out", "list.err"), 0, "list.err");
	assert_int_equal(rows_of("list.out", -1, pp.pid, rows, 2), 1);
	consumer_n = 0;
	assert_int_equal(sscanf(rows[0], "%*d %31s %15s %llu %15s %u%% %llu %llu %llu %31s%n", name, mode, &threads, buffer,
				&fill, &records, &lost, &untraced, consumer, &consumer_n),
			 9);
	assert_string_equal(name, "producer-prog");
	assert_string_equal(mode, "discard");
	assert_int_equal(threads, MANY_THREADS + 1); /* the workers and main */
	assert_string_equal(buffer, "16K");
	assert_int_equal(untraced, 0);
	assert_string_equal(consumer, "-");
	assert_int_equal(sscanf(rows[0] + consumer_n, "%15s", state_s), 1);
	assert_string_equal(state_s, "live");
	/* No footnote for it (every counter 0); ours names the refused names exactly. */
	snprintf(want, sizeof(want), "pid %d (", (int)pp.pid);
	assert_int_equal(count_in("list.out", want), 0);
	snprintf(want, sizeof(want), "pid %d (test-cli): %u names recorded as \"<overflow>\" (name table full)\n",
		 (int)getpid(), refused);
	assert_contains("list.out", want);
	assert_empty("list.err");
	/* The long view: one line per thread. */
	assert_status(run(list_long, "long.out", "long.err"), 0, "long.err");
	{
		char *t = text("long.out"), head[64], *from, *to;
		int n = 0;

		snprintf(head, sizeof(head), "\n%d ", (int)pp.pid);
		from = strstr(t, head);
		assert_non_null(from);
		from = strchr(from + 1, '\n');
		/* Its thread lines come between its header line and its table row. */
		to = strstr(from, head);
		assert_non_null(to);
		for (char *p = from; p && p < to; p = strchr(p + 1, '\n'))
			n += strncmp(p, "\n    thread ", 12) == 0;
		free(t);
		assert_int_equal(n, MANY_THREADS + 1);
	}
	release_parked(&pp, 0);
}

/* Another user (OTHER) takes the names a process of NOBODY is about to use: it guessed the pid. */
static void plant(pid_t pid, const char *suffix, char *name, size_t len)
{
	int fd;

	snprintf(name, len, RT_SHM_CONTROL_NAME_FMT "%s", rtc_shm_prefix(), NOBODY, (unsigned)pid, suffix);
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fchown(fd, OTHER, OTHER), 0);
	close(fd);
}

static void test_list_marks_squatted_names(void **state)
{
	const char *list[] = { tool, "list", "--all-users", NULL };
	char rows[4][512], want[400], files[] = "/tmp/rt-squat-XXXXXX";
	struct parked pp;
	int go[2], squatted = 0, live = 0;

	(void)state;
	if (geteuid() != 0) {
		printf("(a process of one user and a name squatted by another: root only, skipped)\n");
		skip();
	}
	assert_non_null(mkdtemp(files));
	assert_int_equal(chmod(files, 0777), 0);
	assert_int_equal(pipe(go), 0);
	start_parked(&pp, files, "squat", 2, go[0], NOBODY);
	plant(pp.pid, "", planted[0], sizeof(planted[0]));
	plant(pp.pid, ".t1", planted[1], sizeof(planted[1]));
	assert_int_equal(write(go[1], "g", 1), 1);
	close(go[0]);
	close(go[1]);
	await_file(pp.parked);
	assert_status(run(list, "squat.out", "squat.err"), 0, "squat.err");
	/* Two squatted names, and the process under its salted names with all three threads. */
	assert_int_equal(rows_of("squat.out", NOBODY, pp.pid, rows, 4), 3);
	for (int i = 0; i < 3; i++) {
		squatted += strstr(rows[i], " squatted: /dev/shm/") != NULL;
		live += strstr(rows[i], " producer-prog    discard         3 ") != NULL;
	}
	assert_int_equal(squatted, 2);
	assert_int_equal(live, 1);
	for (int i = 0; i < 2; i++) {
		snprintf(want, sizeof(want), "squatted: /dev/shm%s is owned by uid %u, not uid %u\n", planted[i], OTHER,
			 NOBODY);
		assert_contains("squat.out", want);
		snprintf(want, sizeof(want), "warning: /dev/shm%s is owned by uid %u, not by uid %u as its name says",
			 planted[i], OTHER, NOBODY);
		assert_contains("squat.err", want);
	}
	assert_int_equal(count_in("squat.err", "warning: "), 2);
	release_parked(&pp, 0);
	kill_leftovers(NULL);
	{
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", files);
		assert_int_equal(system(cmd), 0);
	}
}

static void test_clean_removes_exactly_the_dead(void **state)
{
	const char *dry[] = { tool, "clean", "--dry-run", NULL };
	const char *clean[] = { tool, "clean", NULL };
	struct parked live, dead, wanted;
	struct rtc_producer p;
	char want[200];

	(void)state;
	start_parked(&live, dir, "live", 2, -1, 0);
	await_file(live.parked);
	/* Dead, but our consumer is attached: kept for us. */
	start_parked(&wanted, dir, "wanted", 1, -1, 0);
	await_file(wanted.parked);
	kill_parked(&wanted);
	assert_int_equal(rtc_producer_open_pid(&p, wanted.pid), 0);
	assert_int_equal(rtc_producer_attach(&p), 0);
	/* Dead: its control segment and its four rings (main and three workers) stay behind. */
	start_parked(&dead, dir, "dead", 3, -1, 0);
	await_file(dead.parked);
	kill_parked(&dead);
	assert_int_equal(segments_of(dead.pid), 5);
	assert_int_equal(segments_of(wanted.pid), 3);
	assert_int_equal(segments_of(live.pid), 4);

	assert_status(run(dry, "dry.out", "dry.err"), 0, "dry.err");
	snprintf(want, sizeof(want), "would remove pid %d (producer-prog): 5 segments, ", (int)dead.pid);
	assert_contains("dry.out", want);
	snprintf(want, sizeof(want), "kept pid %d (producer-prog): 3 segments, ", (int)wanted.pid);
	assert_contains("dry.out", want);
	snprintf(want, sizeof(want), ": the attached consumer %d will drain them\n", (int)getpid());
	assert_contains("dry.out", want);
	snprintf(want, sizeof(want), "would remove 1 process, 5 segments (prefix %s); kept 1 dead process", rtc_shm_prefix());
	assert_contains("dry.out", want);
	assert_int_equal(segments_of(dead.pid), 5);

	assert_status(run(clean, "clean.out", "clean.err"), 0, "clean.err");
	snprintf(want, sizeof(want), "removed pid %d (producer-prog): 5 segments, ", (int)dead.pid);
	assert_contains("clean.out", want);
	snprintf(want, sizeof(want), "removed 1 process, 5 segments (prefix %s); kept 1 dead process", rtc_shm_prefix());
	assert_contains("clean.out", want);
	assert_int_equal(count_in("clean.out", "removed pid "), 1);
	assert_empty("clean.err");
	assert_int_equal(segments_of(dead.pid), 0);
	assert_int_equal(segments_of(wanted.pid), 3);
	assert_int_equal(segments_of(live.pid), 4);

	/* Detached: nothing wants it any more. */
	rtc_producer_close(&p);
	assert_status(run(clean, "clean.out", "clean.err"), 0, "clean.err");
	snprintf(want, sizeof(want), "removed 1 process, 3 segments (prefix %s)\n", rtc_shm_prefix());
	assert_contains("clean.out", want);
	assert_int_equal(segments_of(wanted.pid), 0);
	assert_int_equal(segments_of(live.pid), 4);
	release_parked(&live, 0);
	assert_int_equal(segments_of(live.pid), 0);
}

/* The CONSUMER column field of pid's row in a `list` output. */
static void consumer_of(const char *out, pid_t pid, char *buf, size_t len)
{
	char rows[2][512], *p;

	assert_int_equal(rows_of(out, -1, pid, rows, 2), 1);
	/* After UNTRACED: the row's 10th and 11th fields are CONSUMER ("attached 123") unless "-". */
	p = rows[0];
	for (int field = 0; field < 9; field++) {
		p += strspn(p, " ");
		p += strcspn(p, " ");
	}
	p += strspn(p, " ");
	snprintf(buf, len, "%.*s", p[0] == '-' ? 1 : (int)(strchr(strchr(p, ' ') + 1, ' ') - p), p);
}

static void test_list_and_clean_follow_sessions(void **state)
{
	const char *sleeper[] = { "/bin/sleep", "120", NULL };
	const char *list[] = { tool, "list", NULL };
	const char *clean[] = { tool, "clean", NULL };
	struct parked member, gone;
	struct rtc_producer p;
	char env[64], want[200], consumer[64];
	pid_t session;

	(void)state;
	/* A recording session's consumer (as `record -- CMD` is for what CMD starts): a process that
	 * started before its members. */
	session = start(sleeper, NULL, NULL, 0);
	for (int i = 0; i < 8; i++)
		if (!unreaped[i]) {
			unreaped[i] = session;
			break;
		}
	snprintf(env, sizeof(env), "%d:5e5510", (int)session);
	setenv(RT_SHM_SESSION_VAR, env, 1);
	start_parked(&member, dir, "member", 1, -1, 0);
	start_parked(&gone, dir, "gone", 1, -1, 0);
	unsetenv(RT_SHM_SESSION_VAR);
	await_file(member.parked);
	await_file(gone.parked);
	kill_parked(&gone);
	assert_status(run(list, "session.out", "session.err"), 0, "session.err");
	snprintf(want, sizeof(want), "session %d", (int)session);
	consumer_of("session.out", member.pid, consumer, sizeof(consumer));
	assert_string_equal(consumer, want);
	consumer_of("session.out", gone.pid, consumer, sizeof(consumer));
	assert_string_equal(consumer, want);
	/* The dead member waits for its session's consumer: clean keeps it, and says for whom. */
	assert_status(run(clean, "session-clean.out", "session-clean.err"), 0, "session-clean.err");
	snprintf(want, sizeof(want), "kept pid %d (producer-prog): 3 segments, ", (int)gone.pid);
	assert_contains("session-clean.out", want);
	snprintf(want, sizeof(want), ": its recording session's consumer %d will drain them\n", (int)session);
	assert_contains("session-clean.out", want);
	assert_contains("session-clean.out", "removed 0 processes, 0 segments");
	/* Attached: the lease holder is shown. */
	assert_int_equal(rtc_producer_open_pid(&p, member.pid), 0);
	assert_int_equal(rtc_producer_attach(&p), 0);
	assert_status(run(list, "session.out", "session.err"), 0, "session.err");
	snprintf(want, sizeof(want), "attached %d", (int)getpid());
	consumer_of("session.out", member.pid, consumer, sizeof(consumer));
	assert_string_equal(consumer, want);
	rtc_producer_close(&p);
	/* The session's consumer ends: nobody reads them any more. */
	kill(session, SIGKILL);
	waitpid(session, NULL, 0);
	forget(session);
	assert_status(run(list, "session.out", "session.err"), 0, "session.err");
	consumer_of("session.out", member.pid, consumer, sizeof(consumer));
	assert_string_equal(consumer, "-");
	assert_status(run(clean, "session-clean.out", "session-clean.err"), 0, "session-clean.err");
	snprintf(want, sizeof(want), "removed 1 process, 3 segments (prefix %s)\n", rtc_shm_prefix());
	assert_contains("session-clean.out", want);
	release_parked(&member, 0);
	assert_int_equal(segments_of(member.pid), 0);
}

static void test_dump_shows_open_tasks_and_counters(void **state)
{
	struct parked pp;
	char pid[16];
	const char *dump[] = { tool, "dump", "-p", pid, NULL };
	pid_t d;

	(void)state;
	start_parked(&pp, dir, "dump", MANY_THREADS, -1, 0);
	await_file(pp.parked);
	snprintf(pid, sizeof(pid), "%d", (int)pp.pid);
	d = start(dump, "tasks.out", "tasks.err", 0);
	/* Attached once the task table is out; then let the program finish. */
	for (int i = 0; i < 30000 && count_in("tasks.out", "# counters at attach") == 0; i++)
		usleep(1000);
	release_parked(&pp, 0);
	assert_status(finish(d, 30000), 0, "tasks.err");
	/* "top" was begun before anything recorded and is open while the workers are parked. */
	assert_contains("tasks.out", "# open tasks: 1 (task table of ");
	assert_contains("tasks.out", "# task id=1 name=\"top\" parent=0 begin_ts=");
	assert_int_equal(count_in("tasks.out", "# task id="), 1);
	assert_contains("tasks.out", "# counters at attach: threads untraced 0 (no directory slot 0, no ring 0), "
				     "names overflowed 0 (of ");
	assert_contains("tasks.out", ", tasks untracked 0, consumer leases expired 0, ");
	assert_contains("tasks.out", "# counters at the end: threads untraced 0 ");
	/* Its end, after the attach: one task_end record, and each worker's exit, from every slot of
	 * the directory and its extensions. */
	assert_int_equal(count_in("tasks.out", " task_end "), 1);
	assert_int_equal(count_in("tasks.out", " thread_exit"), MANY_THREADS);
	assert_empty("tasks.err");
	/* It exited leaving its segments to its consumer, which read everything and removed them. */
	assert_int_equal(segments_of(pp.pid), 0);
}

static void test_dump_refusal_says_why(void **state)
{
	char seg[RT_SHM_NAME_MAX], pid[16];
	const char *dump[] = { tool, "dump", "-p", pid, NULL };
	pid_t gone = dead_pid();
	int fd;

	(void)state;
	/* A dead process's control segment that was never completed (no magic): refused, with the
	 * reason. */
	snprintf(seg, sizeof(seg), RT_SHM_CONTROL_NAME_FMT, rtc_shm_prefix(), (unsigned)geteuid(), (unsigned)gone);
	fd = shm_open(seg, O_CREAT | O_EXCL | O_RDWR, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	close(fd);
	snprintf(pid, sizeof(pid), "%d", (int)gone);
	assert_status(run(dump, "refused.out", "refused.err"), 1, "refused.err");
	assert_contains("refused.err", "refused: ");
	assert_empty("refused.out");
	shm_unlink(seg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_subcommand_help),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_bad_pids),
		cmocka_unit_test(test_bad_durations_sizes_and_options),
		cmocka_unit_test(test_parsers),
		cmocka_unit_test(test_record_command_problems),
		cmocka_unit_test(test_dump_of_killed_process_ends),
		cmocka_unit_test_teardown(test_list_counts_every_thread, kill_leftovers),
		cmocka_unit_test_teardown(test_list_marks_squatted_names, kill_leftovers),
		cmocka_unit_test_teardown(test_clean_removes_exactly_the_dead, kill_leftovers),
		cmocka_unit_test_teardown(test_list_and_clean_follow_sessions, kill_leftovers),
		cmocka_unit_test_teardown(test_dump_shows_open_tasks_and_counters, kill_leftovers),
		cmocka_unit_test(test_dump_refusal_says_why),
	};

	if (cli_run_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
