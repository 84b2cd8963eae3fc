/* SPDX-License-Identifier: MIT */
/* The `ringtrace` command as a user meets it: help for every subcommand, --version, strict
 * arguments (exit status 2 naming the option), commands that cannot run, dump of a killed
 * process; and the parsers of tools/cli.c directly. Outputs: test-cli-output.c. */
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <ringtrace/version.h>

#include "cli-run.h"
#include "cli.h"
#include "producer.h"
#include "rawfile.h"

/* ---- help and version ---- */

static void test_every_subcommand_help(void **state)
{
	static const char *const cmds[] = { "list", "record", "convert", "dump", "clean" };
	char seg[128], usage[64];
	int fd;

	(void)state;
	/* A dead process's segment: `clean --help` must leave it (today's bug: it ran clean). */
	snprintf(seg, sizeof(seg), "/ringtrace.%u.%u", (unsigned)getuid(), (unsigned)dead_pid());
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
	snprintf(seg, sizeof(seg), "/dev/shm/ringtrace.%u.%d", (unsigned)getuid(), (int)prod);
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
	};

	if (cli_run_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
