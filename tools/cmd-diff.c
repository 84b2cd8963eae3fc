/* SPDX-License-Identifier: MIT */
/* `ringtrace diff`: compare two runs (statistics JSON, raw captures or traces) per span name, with a
 * significance test and an optional CI gate; or export both sides for benchstat or compare.py. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "stats-input.h"
#include "stats/diff.h"
#include "stats/export.h"

/* Exit statuses of diff (documented in the usage). */
enum { DIFF_REGRESSION = 1, DIFF_UNREADABLE = 3 };

enum format { TEXT, GOBENCH, GBENCH_JSON };

struct diff_args {
	struct rtc_stats_diff_options o;
	enum format format;
	const char *prefix;
	const char *a, *b;
};

/* "5%", "5" (percent) or "0.5%": a fraction in *out. */
static int parse_percent(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || (*end && strcmp(end, "%")) || !(v > 0) || v > 1000)
		return -EINVAL;
	*out = v / 100;
	return 0;
}

struct export_ctx {
	const struct rtc_stats_view *v;
	const char *executable;
	enum format format;
};

static int write_export(void *ctx, FILE *f)
{
	const struct export_ctx *x = ctx;
	struct rtc_export_context ec = { .executable = x->executable };
	size_t n;
	struct rtc_export_row *rows;
	int rc;

	rtc_stats_view_spans(x->v, &n);
	if (!(rows = calloc(n + 1, sizeof(*rows))))
		return -ENOMEM;
	n = rtc_stats_view_export_rows(x->v, rows, n);
	rc = x->format == GOBENCH ? rtc_export_gobench(f, &ec, rows, n) : rtc_export_gbench_json(f, &ec, rows, n);
	free(rows);
	return rc;
}

static int export(const struct diff_args *a, const struct rtc_stats_diff *d)
{
	const char *ext = a->format == GOBENCH ? "txt" : "json";
	char path[2][4096];

	for (int side = 0; side < 2; side++) {
		struct export_ctx x = { rtc_stats_diff_view(d, side), side ? a->b : a->a, a->format };

		snprintf(path[side], sizeof(path[side]), "%s.%s.%s", a->prefix, side ? "new" : "old", ext);
		if (stats_output(&cli_cmd_diff, path[side], write_export, &x))
			return CLI_FAILED;
	}
	if (a->format == GOBENCH)
		printf("wrote %s and %s: benchstat %s %s\n", path[0], path[1], path[0], path[1]);
	else
		printf("wrote %s and %s: compare.py benchmarks %s %s\n", path[0], path[1], path[0], path[1]);
	return 0;
}

static int parse(int argc, char **argv, struct diff_args *a)
{
	enum { OPT_FAIL = 256, OPT_ALPHA, OPT_FORMAT, OPT_MIN_COUNT };
	static const struct option longopts[] = {
		{ "fail-on-regression", required_argument, NULL, OPT_FAIL },
		{ "alpha", required_argument, NULL, OPT_ALPHA },
		{ "min-count", required_argument, NULL, OPT_MIN_COUNT },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	while ((c = cli_getopt(argc, argv, ":o:h", longopts)) != -1) {
		switch (c) {
		case OPT_FAIL:
			if (parse_percent(optarg, &a->o.fail_on))
				return cli_usage_error(&cli_cmd_diff, "--fail-on-regression %s: a percentage such as 5%%",
						       optarg);
			break;
		case OPT_ALPHA:
			errno = 0;
			a->o.alpha = strtod(optarg, &end);
			if (end == optarg || *end || errno || !(a->o.alpha > 0 && a->o.alpha < 1))
				return cli_usage_error(&cli_cmd_diff, "--alpha %s: a probability between 0 and 1 (0.05)",
						       optarg);
			break;
		case OPT_MIN_COUNT:
			if (cli_opt_uint(&cli_cmd_diff, "--min-count", optarg, 1, UINT64_MAX, &a->o.min_count))
				return CLI_USAGE;
			break;
		case OPT_FORMAT:
			if (!strcmp(optarg, "text"))
				a->format = TEXT;
			else if (!strcmp(optarg, "gobench"))
				a->format = GOBENCH;
			else if (!strcmp(optarg, "gbench-json"))
				a->format = GBENCH_JSON;
			else
				return cli_usage_error(&cli_cmd_diff, "--format %s: text, gobench or gbench-json", optarg);
			break;
		case 'o':
			a->prefix = optarg;
			break;
		case 'h':
			return -1;
		default:
			return cli_option_error(&cli_cmd_diff, c, argv);
		}
	}
	if (argc - optind != 2)
		return cli_usage_error(&cli_cmd_diff, "compare what with what? (ringtrace diff OLD NEW)");
	a->a = argv[optind];
	a->b = argv[optind + 1];
	if (a->format != TEXT && !a->prefix)
		return cli_usage_error(&cli_cmd_diff, "--format %s writes two files: name them with -o PREFIX",
				       a->format == GOBENCH ? "gobench" : "gbench-json");
	if (a->format == TEXT && a->prefix)
		return cli_usage_error(&cli_cmd_diff, "-o goes with --format gobench or gbench-json");
	return 0;
}

static int run(int argc, char **argv)
{
	struct diff_args a = { 0 };
	struct rtc_stats *s[2] = { NULL, NULL };
	struct rtc_stats_diff *d = NULL;
	int err = parse(argc, argv, &a), status = CLI_OK;

	if (err)
		return err < 0 ? cli_help(&cli_cmd_diff) : err;
	for (int i = 0; i < 2; i++) {
		bool partial = false;

		if (!(s[i] = rtc_stats_create(NULL))) {
			cli_error(&cli_cmd_diff, "out of memory");
			status = CLI_FAILED;
			goto out;
		}
		/* A run read only in part would be compared wrongly: refuse it. */
		if (stats_input_load(&cli_cmd_diff, i ? a.b : a.a, s[i], &partial)) {
			status = DIFF_UNREADABLE;
			goto out;
		}
	}
	if (!(d = rtc_stats_diff_create(s[0], s[1], &a.o))) {
		cli_error(&cli_cmd_diff, "%s", strerror(errno));
		status = CLI_FAILED;
		goto out;
	}
	if (a.format != TEXT) {
		status = export(&a, d);
		goto out;
	}
	if (rtc_stats_diff_write(d, a.a, a.b, stdout) < 0 || fflush(stdout)) {
		cli_error(&cli_cmd_diff, "writing the comparison failed");
		status = CLI_FAILED;
		goto out;
	}
	if (rtc_stats_diff_regressions(d))
		status = DIFF_REGRESSION;
out:
	rtc_stats_diff_destroy(d);
	rtc_stats_destroy(s[0]);
	rtc_stats_destroy(s[1]);
	return status;
}

const struct cli_command cli_cmd_diff = {
	.name = "diff",
	.summary = "compare the span statistics of two runs, with a significance test and a CI gate",
	.usage = "usage: ringtrace diff [--fail-on-regression PCT] [--alpha P] [--min-count N] OLD NEW\n"
		 "       ringtrace diff --format gobench|gbench-json -o PREFIX OLD NEW\n"
		 "\n"
		 "Compare run NEW with run OLD per span name (over all processes): span counts, median\n"
		 "and p99 of each side and their change, and whether the durations changed significantly:\n"
		 "a two-sided Mann-Whitney U test over the two duration histograms (docs/statistics.md).\n"
		 "OLD and NEW are statistics JSON files (record --stats-file, stats --json), raw captures\n"
		 "or Chrome trace JSON written by ringtrace. To compare several runs per side, merge them\n"
		 "first: ringtrace stats --json --merge -o old.json run1.rtrace run2.rtrace ...\n"
		 "\n"
		 "Options:\n"
		 "      --fail-on-regression PCT  exit 1 when a span's median got slower by more than PCT\n"
		 "                                (5%, 0.5%) and the change is significant\n"
		 "      --alpha P                 significance level (default 0.05)\n"
		 "      --min-count N             spans a side needs to be gated (default 1)\n"
		 "      --format FORMAT           text (default); gobench: Go benchmark lines for benchstat;\n"
		 "                                gbench-json: Google Benchmark JSON for compare.py\n"
		 "  -o, --output PREFIX           with gobench/gbench-json: write PREFIX.old.txt and\n"
		 "                                PREFIX.new.txt (or .json)\n"
		 "  -h, --help                    show this help\n"
		 "\n"
		 "Exit status: 0 no regression; 1 a regression (with --fail-on-regression), or an output\n"
		 "failed; 2 bad usage; 3 an input could not be read.\n",
	.run = run,
};
