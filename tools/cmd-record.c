/* SPDX-License-Identifier: MIT */
/* `ringtrace record`: attach to running traced processes (-p, -a) or launch one (-- CMD), record
 * until stopped, write Chrome JSON and/or a raw capture, print the summary and statistics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "engine.h"
#include "sinks/outfile.h"
#include "target.h"

#define DEFAULT_OUTPUT "ringtrace.json"
#define POLL_US_MAX 1000000

struct record_args {
	struct rtc_engine_options o;
	struct cli_target t;
	bool quiet;
};

/* Is this output standard output (sinks/outfile.h)? */
static bool is_stdout(const char *path)
{
	return path && (!strcmp(path, "-") || !strcmp(path, "/dev/stdout"));
}

static int parse(int argc, char **argv, struct record_args *a)
{
	enum { OPT_RAW = 256, OPT_MAX_BACKLOG, OPT_POLL_US, OPT_LISTEN, OPT_STATS_FILE };
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'o' },
		{ "raw", required_argument, NULL, OPT_RAW },
		{ "duration", required_argument, NULL, 'd' },
		{ "max-backlog", required_argument, NULL, OPT_MAX_BACKLOG },
		{ "poll-us", required_argument, NULL, OPT_POLL_US },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "stats-file", required_argument, NULL, OPT_STATS_FILE },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c, err;

	/* '+': stop at the first argument that is not an option, the program to launch. */
	while ((c = cli_getopt(argc, argv, "+:p:ao:d:qh", longopts)) != -1) {
		switch (c) {
		case 'p':
			err = cli_target_add_pid(&cli_cmd_record, &a->t, optarg);
			if (err)
				return err;
			break;
		case 'a':
			a->o.all = a->t.all = true;
			break;
		case 'o':
			a->o.json_path = optarg;
			break;
		case OPT_RAW:
			a->o.raw_path = optarg;
			break;
		case 'd':
			if (cli_opt_duration(&cli_cmd_record, "--duration", optarg, &v))
				return CLI_USAGE;
			a->o.duration = (double)v / 1e9;
			break;
		case OPT_MAX_BACKLOG:
			if (cli_opt_size(&cli_cmd_record, "--max-backlog", optarg, 1u << 20, 1u << 20, &v))
				return CLI_USAGE;
			a->o.max_backlog = (size_t)v;
			break;
		case OPT_POLL_US:
			if (cli_opt_uint(&cli_cmd_record, "--poll-us", optarg, 1, POLL_US_MAX, &v))
				return CLI_USAGE;
			a->o.poll_us = (unsigned)v;
			break;
		case OPT_LISTEN:
			a->o.listen = optarg;
			a->o.serve = true;
			break;
		case OPT_STATS_FILE:
			a->o.stats_path = optarg;
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'h':
			return -1;
		default:
			return cli_option_error(&cli_cmd_record, c, argv);
		}
	}
	if (optind < argc)
		a->t.cmd = &argv[optind];
	if (cli_target_check(&cli_cmd_record, &a->t, "record"))
		return CLI_USAGE;
	if (a->o.raw_path && strlen(a->o.raw_path) > 3 && !strcmp(a->o.raw_path + strlen(a->o.raw_path) - 3, ".gz"))
		return cli_usage_error(&cli_cmd_record,
				       "--raw %s: raw captures are not compressed ('convert' maps them); drop the .gz",
				       a->o.raw_path);
	if (a->o.json_path && a->o.raw_path && !strcmp(a->o.json_path, a->o.raw_path))
		return cli_usage_error(&cli_cmd_record, "-o and --raw name the same output '%s'", a->o.json_path);
	if (is_stdout(a->o.json_path) && is_stdout(a->o.raw_path))
		return cli_usage_error(&cli_cmd_record, "-o and --raw cannot both be standard output");
	if (a->o.stats_path &&
	    ((a->o.json_path && !strcmp(a->o.stats_path, a->o.json_path)) ||
	     (a->o.raw_path && !strcmp(a->o.stats_path, a->o.raw_path))))
		return cli_usage_error(&cli_cmd_record, "--stats-file names the same output as -o or --raw ('%s')",
				       a->o.stats_path);
	if (is_stdout(a->o.stats_path) && (is_stdout(a->o.json_path) || is_stdout(a->o.raw_path)))
		return cli_usage_error(&cli_cmd_record, "only one output can be standard output");
	if (!a->o.json_path && !a->o.raw_path && !a->o.stats_path)
		a->o.json_path = DEFAULT_OUTPUT;
	return 0;
}

static void say_written(FILE *f, const struct record_args *a)
{
	if (a->o.json_path && !is_stdout(a->o.json_path))
		fprintf(f, "\nwrote %s (open it in https://ui.perfetto.dev or chrome://tracing)\n", a->o.json_path);
	if (a->o.raw_path && !is_stdout(a->o.raw_path))
		fprintf(f, "wrote %s (ringtrace convert %s -o FILE.json)\n", a->o.raw_path, a->o.raw_path);
	if (a->o.stats_path && !is_stdout(a->o.stats_path))
		fprintf(f, "wrote %s (ringtrace stats %s; ringtrace diff OLD.json %s)\n", a->o.stats_path,
			a->o.stats_path, a->o.stats_path);
}

static int record(struct record_args *a)
{
	/* With the trace on standard output, the summary and messages go to standard error. */
	FILE *report = is_stdout(a->o.json_path) || is_stdout(a->o.raw_path) || is_stdout(a->o.stats_path) ? stderr
														    : stdout;
	struct rtc_engine *e;
	int err, status;

	status = cli_target_check_program(&cli_cmd_record, &a->t);
	if (status)
		return status;
	/* Every output is opened before anything is attached: a bad one costs nothing. */
	if ((a->o.json_path && cli_preopen_output(&cli_cmd_record, "-o", a->o.json_path)) ||
	    (a->o.raw_path && cli_preopen_output(&cli_cmd_record, "--raw", a->o.raw_path)) ||
	    (a->o.stats_path && cli_preopen_output(&cli_cmd_record, "--stats-file", a->o.stats_path))) {
		rtc_outfile_preopen_drop();
		return CLI_FAILED;
	}
	a->o.until_exit = !a->o.all;
	a->o.status = !a->quiet && isatty(STDERR_FILENO);
	a->o.log = stderr;
	e = rtc_engine_create(&a->o);
	if (!e) {
		cli_error(&cli_cmd_record, "out of memory");
		rtc_outfile_preopen_drop();
		return CLI_FAILED;
	}
	if (cli_target_start(&cli_cmd_record, e, &a->t)) {
		rtc_engine_destroy(e);
		rtc_outfile_preopen_drop();
		return CLI_FAILED;
	}
	cli_catch_stop();
	err = rtc_engine_run(e, &cli_stop);
	status = err ? CLI_FAILED : CLI_OK;
	if (!err && cli_target_recorded_nothing(&cli_cmd_record, e, &a->t)) {
		status = CLI_FAILED; /* and no file was written */
	} else if (!a->quiet) {
		rtc_engine_report(e, report);
		if (!err)
			say_written(report, a);
	}
	rtc_engine_destroy(e);
	rtc_outfile_preopen_drop();
	if (status == CLI_OK && a->t.cmd && cli_target_child_status() > 0)
		status = cli_target_child_status(); /* the launched program's failure is the command's */
	return status;
}

static int run(int argc, char **argv)
{
	struct record_args a;
	int err;

	memset(&a, 0, sizeof(a));
	err = parse(argc, argv, &a);
	if (err == 0)
		err = record(&a);
	else if (err < 0)
		err = cli_help(&cli_cmd_record);
	cli_target_free(&a.t);
	return err;
}

const struct cli_command cli_cmd_record = {
	.name = "record",
	.summary = "attach to running processes or launch one, and write a trace",
	.usage = "usage: ringtrace record [-p PID]... [-a] [-o OUTPUT] [--raw OUTPUT] [--stats-file OUTPUT]\n"
		 "                        [--duration DURATION] [--listen ADDR] [--max-backlog SIZE] [--quiet]\n"
		 "                        [-- CMD [ARGS...]]\n"
		 "\n"
		 "Attach at run time to traced processes (-p, or -a for every traced process of this user,\n"
		 "new ones too), or launch CMD and record it from its first record. Merge every thread on\n"
		 "one timeline, write Chrome trace-event JSON and/or a raw capture, and print a summary and\n"
		 "span and task statistics. Stops on Ctrl-C or SIGTERM, after DURATION, or once every\n"
		 "recorded process has exited and been drained (not with -a).\n"
		 "\n"
		 "Options:\n"
		 "  -p, --pid PID            a process to attach to (repeatable)\n"
		 "  -a, --all                every traced process of this user, including those that start\n"
		 "  -o, --output OUTPUT      Chrome JSON (default " DEFAULT_OUTPUT " unless --raw or\n"
		 "                           --stats-file is given):\n"
		 "                           a file (replaced atomically when complete), FILE.json.gz (gzip),\n"
		 "                           '-' (standard output; messages go to standard error), or a FIFO\n"
		 "                           or character device (written in place)\n"
		 "      --raw OUTPUT         raw capture of the records as read, for 'ringtrace convert'\n"
		 "                           (same kinds of OUTPUT, not compressed)\n"
		 "      --stats-file OUTPUT  the span statistics as JSON (as 'ringtrace stats --json'),\n"
		 "                           for 'ringtrace stats' and 'ringtrace diff' (same kinds of OUTPUT)\n"
		 "      --listen ADDR        also serve the live page, trace and statistics (as 'ringtrace\n"
		 "                           serve'): HOST:PORT, :PORT or PORT (host 127.0.0.1)\n"
		 "  -d, --duration DURATION  stop after this long: 10s, 500ms, 2m, 1.5h (no unit: seconds)\n"
		 "      --max-backlog SIZE   how far output may lag reading before reading pauses: 512M\n"
		 "                           (the default), 2G (no unit: MiB; at least 1M)\n"
		 "      --poll-us N          microseconds between drains of the rings (default 1000)\n"
		 "  -q, --quiet              no status line, summary or statistics\n"
		 "  -h, --help               show this help\n"
		 "\n"
		 "Exit status: 0 recorded; 1 nothing recorded or an output failed; 2 bad usage; with\n"
		 "-- CMD, CMD's own status when it failed (127: CMD not found).\n",
	.run = run,
};
