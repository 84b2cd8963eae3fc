/* SPDX-License-Identifier: MIT */
/* `ringtrace stats`: span statistics of captures, traces or statistics files (merged when several), or
 * of running processes for a while, as an aligned table, JSON or CSV. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "engine.h"
#include "stats-input.h"
#include "target.h"

enum format { TABLE, JSON, CSV };

struct stats_args {
	struct cli_target t;
	uint64_t duration_ns;
	enum rtc_stats_sort sort;
	uint64_t top;
	bool merge, quiet, no_hists;
	enum format format;
	const char *output;
	char **files;
	size_t nfiles;
};

struct print_ctx {
	const struct stats_args *a;
	const struct rtc_stats *s;
};

static int print(void *ctx, FILE *f)
{
	const struct print_ctx *p = ctx;
	const struct stats_args *a = p->a;
	struct rtc_stats_view_options vo = { a->merge, a->sort };
	struct rtc_stats_view *v;
	int rc;

	if (a->format == JSON) {
		struct rtc_stats_json_options jo = { a->merge, a->no_hists, a->sort };

		return rtc_stats_write_json(p->s, &jo, f);
	}
	if (!(v = rtc_stats_view_create(p->s, &vo)))
		return -ENOMEM;
	if (a->format == CSV) {
		rc = rtc_stats_write_csv(v, f);
	} else {
		struct rtc_stats_table_options to = { .top = (size_t)a->top };

		rc = rtc_stats_write_table(v, &to, f);
	}
	rtc_stats_view_destroy(v);
	return rc;
}

/* Attach (or launch) and count for a while. */
static int live(struct stats_args *a, struct rtc_stats *dst)
{
	struct rtc_engine_options o = { .all = a->t.all, .log = stderr, .quiet = true };
	struct rtc_engine *e;
	int status = cli_target_check_program(&cli_cmd_stats, &a->t);

	if (status)
		return status;
	o.duration = (double)a->duration_ns / 1e9;
	o.until_exit = !a->t.all;
	o.status = !a->quiet && isatty(STDERR_FILENO);
	if (!(e = rtc_engine_create(&o))) {
		cli_error(&cli_cmd_stats, "out of memory");
		return CLI_FAILED;
	}
	if (cli_target_start(&cli_cmd_stats, e, &a->t)) {
		rtc_engine_destroy(e);
		return CLI_FAILED;
	}
	cli_catch_stop();
	status = rtc_engine_run(e, &cli_stop) ? CLI_FAILED : CLI_OK;
	if (status == CLI_OK && cli_target_recorded_nothing(&cli_cmd_stats, e, &a->t))
		status = CLI_FAILED;
	if (status == CLI_OK && rtc_stats_merge(dst, rtc_engine_stats(e)) < 0)
		cli_error(&cli_cmd_stats, "some statistics were left out (limits or memory)");
	rtc_engine_destroy(e);
	return status;
}

static int parse(int argc, char **argv, struct stats_args *a)
{
	enum { OPT_SORT = 256, OPT_TOP, OPT_MERGE, OPT_JSON, OPT_CSV, OPT_NO_HISTS };
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, 'a' },
		{ "duration", required_argument, NULL, 'd' },
		{ "sort", required_argument, NULL, OPT_SORT },
		{ "top", required_argument, NULL, OPT_TOP },
		{ "merge", no_argument, NULL, OPT_MERGE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "csv", no_argument, NULL, OPT_CSV },
		{ "no-hists", no_argument, NULL, OPT_NO_HISTS },
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, err;

	while ((c = cli_getopt(argc, argv, "+:p:ad:o:qh", longopts)) != -1) {
		switch (c) {
		case 'p':
			if ((err = cli_target_add_pid(&cli_cmd_stats, &a->t, optarg)) != 0)
				return err;
			break;
		case 'a':
			a->t.all = true;
			break;
		case 'd':
			if (cli_opt_duration(&cli_cmd_stats, "--duration", optarg, &a->duration_ns))
				return CLI_USAGE;
			break;
		case OPT_SORT:
			if (rtc_stats_sort_parse(optarg, &a->sort))
				return cli_usage_error(&cli_cmd_stats,
						       "--sort %s: one of total, self, count, mean, p50, p99, max, name", optarg);
			break;
		case OPT_TOP:
			if (cli_opt_uint(&cli_cmd_stats, "--top", optarg, 0, 1u << 30, &a->top))
				return CLI_USAGE;
			break;
		case OPT_MERGE:
			a->merge = true;
			break;
		case OPT_JSON:
		case OPT_CSV:
			if (a->format != TABLE && a->format != (c == OPT_JSON ? JSON : CSV))
				return cli_usage_error(&cli_cmd_stats, "--json and --csv: one format at a time");
			a->format = c == OPT_JSON ? JSON : CSV;
			break;
		case OPT_NO_HISTS:
			a->no_hists = true;
			break;
		case 'o':
			a->output = optarg;
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'h':
			return -1;
		default:
			return cli_option_error(&cli_cmd_stats, c, argv);
		}
	}
	/* Without -p or -a, the arguments are files; with them, a program to launch needs "--". */
	if (a->t.npids || a->t.all) {
		if (optind < argc)
			return cli_usage_error(&cli_cmd_stats, "files and -p/-a do not mix ('%s')", argv[optind]);
	} else if (optind > 1 && !strcmp(argv[optind - 1], "--")) {
		a->t.cmd = &argv[optind];
		if (optind >= argc)
			return cli_usage_error(&cli_cmd_stats, "which program? (-- CMD ARGS...)");
	} else {
		a->files = &argv[optind];
		a->nfiles = (size_t)(argc - optind);
	}
	if (!a->nfiles && !a->t.cmd && !a->t.npids && !a->t.all)
		return cli_usage_error(&cli_cmd_stats, "statistics of what? (FILE..., -p PID, -a, or -- CMD ARGS...)");
	if (a->nfiles && a->duration_ns)
		return cli_usage_error(&cli_cmd_stats, "--duration is for -p, -a or -- CMD, not files");
	if (a->no_hists && a->format != JSON)
		return cli_usage_error(&cli_cmd_stats, "--no-hists goes with --json");
	return 0;
}

static int run(int argc, char **argv)
{
	struct stats_args a;
	struct rtc_stats *s;
	struct print_ctx p;
	int status = CLI_OK, err;

	memset(&a, 0, sizeof(a));
	err = parse(argc, argv, &a);
	if (err) {
		cli_target_free(&a.t);
		return err < 0 ? cli_help(&cli_cmd_stats) : err;
	}
	if (!(s = rtc_stats_create(NULL))) {
		cli_error(&cli_cmd_stats, "out of memory");
		cli_target_free(&a.t);
		return CLI_FAILED;
	}
	if (a.nfiles) {
		size_t loaded = 0;

		for (size_t i = 0; i < a.nfiles; i++) {
			bool part = false;
			/* A failed input fails the command; what could be read is still shown. */
			int rc = stats_input_load(&cli_cmd_stats, a.files[i], s, &part);

			if (rc != 0)
				status = CLI_FAILED;
			if (rc == 0 || part)
				loaded++;
		}
		if (!loaded)
			goto out;
	} else {
		status = live(&a, s);
		if (status != CLI_OK)
			goto out;
	}
	p = (struct print_ctx){ &a, s };
	if (stats_output(&cli_cmd_stats, a.output, print, &p))
		status = CLI_FAILED;
out:
	rtc_stats_destroy(s);
	cli_target_free(&a.t);
	return status;
}

const struct cli_command cli_cmd_stats = {
	.name = "stats",
	.summary = "span statistics of a capture, trace or statistics file, or of running processes",
	.usage = "usage: ringtrace stats [OPTIONS] FILE...\n"
		 "       ringtrace stats [OPTIONS] (-p PID... | -a | -- CMD [ARGS...]) [--duration DURATION]\n"
		 "\n"
		 "Span statistics per span name and process (count, total, self, mean, stddev, min, p50,\n"
		 "p90, p99, p99.9, max; flagged and open spans apart), per task name, thread and process.\n"
		 "FILE is a raw capture (record --raw), a Chrome trace JSON written by ringtrace (.json or\n"
		 ".json.gz) or a statistics JSON (record --stats-file, stats --json); several files are\n"
		 "merged (runs of one program: rows of the same name and pid add up; --merge joins pids).\n"
		 "With -p, -a or -- CMD, attach (or launch) and count until DURATION, Ctrl-C, or every\n"
		 "process exited (not with -a).\n"
		 "\n"
		 "Options:\n"
		 "  -p, --pid PID            a process to attach to (repeatable)\n"
		 "  -a, --all                every traced process of this user, new ones too\n"
		 "  -d, --duration DURATION  stop after this long: 10s, 500ms, 2m\n"
		 "      --sort KEY           order rows by total (default), self, count, mean, p50, p99,\n"
		 "                           max or name\n"
		 "      --top N              at most N rows per table, then how many more there are\n"
		 "                           (default 0: all)\n"
		 "      --merge              one row per span name over all processes\n"
		 "      --json               the statistics JSON (with histograms: 'ringtrace diff' reads it)\n"
		 "      --no-hists           with --json: without the histograms (smaller; not comparable)\n"
		 "      --csv                the span rows as CSV (durations in ns)\n"
		 "  -o, --output FILE        write there instead of standard output (replaced atomically;\n"
		 "                           FILE.gz is compressed)\n"
		 "  -q, --quiet              no status line while attached\n"
		 "  -h, --help               show this help\n"
		 "\n"
		 "Exit status: 0 shown; 1 an input could not be read (what could be is shown) or nothing\n"
		 "was recorded; 2 bad usage.\n",
	.run = run,
};
