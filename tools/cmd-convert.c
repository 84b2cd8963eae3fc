/* SPDX-License-Identifier: MIT */
/* `ringtrace convert`: replay a raw capture (.rtrace) through the same merge and rebuild as a live
 * recording, into Chrome JSON (a file, gzip, or standard output). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "engine.h"
#include "sinks/outfile.h"

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rtc_engine_options o = { 0 };
	struct rtc_engine *e;
	const char *in = NULL;
	bool quiet = false;
	FILE *report;
	int c, err;

	while ((c = cli_getopt(argc, argv, ":o:f:qh", longopts)) != -1) {
		switch (c) {
		case 'o':
			o.json_path = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "chrome") == 0)
				o.format = RTC_FORMAT_CHROME;
			else if (strcmp(optarg, "speedscope") == 0)
				o.format = RTC_FORMAT_SPEEDSCOPE;
			else
				return cli_usage_error(&cli_cmd_convert, "--format: '%s' is not chrome or speedscope", optarg);
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			return cli_help(&cli_cmd_convert);
		default:
			return cli_option_error(&cli_cmd_convert, c, argv);
		}
	}
	if (optind < argc)
		in = argv[optind++];
	if (optind < argc)
		return cli_usage_error(&cli_cmd_convert, "unexpected argument '%s' (one capture at a time)", argv[optind]);
	if (!in)
		return cli_usage_error(&cli_cmd_convert, "which capture? (ringtrace convert FILE.rtrace -o FILE.json)");
	if (!o.json_path)
		return cli_usage_error(&cli_cmd_convert, "where to? (-o FILE.json, -o FILE.json.gz, or -o - for stdout)");
	if (cli_preopen_output(&cli_cmd_convert, "-o", o.json_path))
		return CLI_FAILED;
	/* With the trace on stdout, everything else goes to stderr. */
	report = strcmp(o.json_path, "-") && strcmp(o.json_path, "/dev/stdout") ? stdout : stderr;
	o.log = stderr;
	e = rtc_engine_create(&o);
	if (!e) {
		cli_error(&cli_cmd_convert, "out of memory");
		rtc_outfile_preopen_drop();
		return CLI_FAILED;
	}
	err = rtc_engine_convert(e, in);
	{
		struct rtc_engine_summary sum;

		/* A capture that could not be read at all has nothing to summarise. */
		rtc_engine_summary(e, &sum);
		if (!quiet && (!err || sum.s.records))
			rtc_engine_report(e, report);
	}
	rtc_engine_destroy(e);
	rtc_outfile_preopen_drop();
	return err ? CLI_FAILED : CLI_OK;
}

const struct cli_command cli_cmd_convert = {
	.name = "convert",
	.summary = "turn a raw capture (--raw) into Chrome JSON or a speedscope file",
	.usage = "usage: ringtrace convert FILE.rtrace -o OUTPUT [--format chrome|speedscope] [--quiet]\n"
		 "\n"
		 "Replay a raw capture written by 'ringtrace record --raw' through the same merge and\n"
		 "rebuild as a live recording, and write Chrome trace-event JSON (open it in\n"
		 "https://ui.perfetto.dev or chrome://tracing). Prints the summary and statistics.\n"
		 "\n"
		 "Options:\n"
		 "  -o, --output OUTPUT  the JSON: a file (replaced atomically), FILE.json.gz (gzip),\n"
		 "                       '-' (standard output; messages go to standard error), or a\n"
		 "                       FIFO or character device (written in place)\n"
		 "  -f, --format FORMAT  chrome (default): Chrome trace-event JSON, every span with its\n"
		 "                       ids; speedscope: speedscope's own format, spans grouped by\n"
		 "                       name per thread, so its Left Heavy and Sandwich views\n"
		 "                       aggregate them (https://www.speedscope.app)\n"
		 "  -q, --quiet          no summary or statistics\n"
		 "  -h, --help           show this help\n",
	.run = run,
};
