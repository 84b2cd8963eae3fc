/* SPDX-License-Identifier: MIT */
/* `ringtrace serve`: attach like record and serve the live page, the trace and the statistics over HTTP
 * and websockets until Ctrl-C; with -o (or --raw, --stats-file) the files are written as well. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "engine.h"
#include "sinks/outfile.h"
#include "target.h"

static int parse(int argc, char **argv, struct rtc_engine_options *o, struct cli_target *t, bool *quiet)
{
	enum { OPT_RAW = 256, OPT_LISTEN, OPT_STATS_FILE };
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, 'a' },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "output", required_argument, NULL, 'o' },
		{ "raw", required_argument, NULL, OPT_RAW },
		{ "stats-file", required_argument, NULL, OPT_STATS_FILE },
		{ "duration", required_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c, err;

	while ((c = cli_getopt(argc, argv, "+:p:al:o:d:qh", longopts)) != -1) {
		switch (c) {
		case 'p':
			if ((err = cli_target_add_pid(&cli_cmd_serve, t, optarg)) != 0)
				return err;
			break;
		case 'a':
			o->all = t->all = true;
			break;
		case 'l':
		case OPT_LISTEN:
			o->listen = optarg;
			break;
		case 'o':
			o->json_path = optarg;
			break;
		case OPT_RAW:
			o->raw_path = optarg;
			break;
		case OPT_STATS_FILE:
			o->stats_path = optarg;
			break;
		case 'd':
			if (cli_opt_duration(&cli_cmd_serve, "--duration", optarg, &v))
				return CLI_USAGE;
			o->duration = (double)v / 1e9;
			break;
		case 'q':
			*quiet = true;
			break;
		case 'h':
			return -1;
		default:
			return cli_option_error(&cli_cmd_serve, c, argv);
		}
	}
	if (optind < argc)
		t->cmd = &argv[optind];
	if (cli_target_check(&cli_cmd_serve, t, "serve"))
		return CLI_USAGE;
	if ((o->json_path && o->raw_path && !strcmp(o->json_path, o->raw_path)) ||
	    (o->stats_path && o->json_path && !strcmp(o->stats_path, o->json_path)) ||
	    (o->stats_path && o->raw_path && !strcmp(o->stats_path, o->raw_path)))
		return cli_usage_error(&cli_cmd_serve, "two outputs name the same file");
	return 0;
}

static int serve(struct rtc_engine_options *o, struct cli_target *t, bool quiet)
{
	struct rtc_engine *e;
	int status, err;

	status = cli_target_check_program(&cli_cmd_serve, t);
	if (status)
		return status;
	if ((o->json_path && cli_preopen_output(&cli_cmd_serve, "-o", o->json_path)) ||
	    (o->raw_path && cli_preopen_output(&cli_cmd_serve, "--raw", o->raw_path)) ||
	    (o->stats_path && cli_preopen_output(&cli_cmd_serve, "--stats-file", o->stats_path))) {
		rtc_outfile_preopen_drop();
		return CLI_FAILED;
	}
	o->serve = true;
	o->until_exit = false; /* serve until stopped, also after the processes are gone */
	o->status = !quiet && isatty(STDERR_FILENO);
	o->log = stderr;
	o->quiet = false;      /* the URL is the point */
	e = rtc_engine_create(o);
	if (!e) {
		cli_error(&cli_cmd_serve, "out of memory");
		rtc_outfile_preopen_drop();
		return CLI_FAILED;
	}
	if (cli_target_start(&cli_cmd_serve, e, t)) {
		rtc_engine_destroy(e);
		rtc_outfile_preopen_drop();
		return CLI_FAILED;
	}
	cli_catch_stop();
	err = rtc_engine_run(e, &cli_stop);
	if (!quiet)
		rtc_engine_report(e, stderr);
	status = err ? CLI_FAILED : CLI_OK;
	rtc_engine_destroy(e);
	rtc_outfile_preopen_drop();
	return status;
}

static int run(int argc, char **argv)
{
	struct rtc_engine_options o = { 0 };
	struct cli_target t = { 0 };
	bool quiet = false;
	int err = parse(argc, argv, &o, &t, &quiet);

	if (err == 0)
		err = serve(&o, &t, quiet);
	else if (err < 0)
		err = cli_help(&cli_cmd_serve);
	cli_target_free(&t);
	return err;
}

const struct cli_command cli_cmd_serve = {
	.name = "serve",
	.summary = "attach or launch, and serve the live page, trace and statistics",
	.usage = "usage: ringtrace serve [-p PID]... [-a] [--listen ADDR] [-o OUTPUT] [--raw OUTPUT]\n"
		 "                       [--stats-file OUTPUT] [--duration DURATION] [--quiet] [-- CMD [ARGS...]]\n"
		 "\n"
		 "Attach to traced processes (-p, -a) or launch CMD, as 'ringtrace record' does, and serve\n"
		 "until Ctrl-C (or DURATION): a live page with the span statistics and a timeline, the\n"
		 "merged trace as Chrome trace-event JSON over a websocket (ws://ADDR/trace), the\n"
		 "statistics JSON once a second (ws://ADDR/stats) and the trace so far (GET /trace.json).\n"
		 "The URL, printed at start, carries a random token: requests without it are refused.\n"
		 "With -o, --raw or --stats-file the files are written too, when serving stops.\n"
		 "\n"
		 "Options:\n"
		 "  -p, --pid PID            a process to attach to (repeatable)\n"
		 "  -a, --all                every traced process of this user, new ones too\n"
		 "  -l, --listen ADDR        HOST:PORT, :PORT or PORT (default 127.0.0.1, any free port);\n"
		 "                           another host than 127.0.0.1 serves the trace to the network\n"
		 "  -o, --output OUTPUT      also write Chrome JSON (as 'ringtrace record -o')\n"
		 "      --raw OUTPUT         also write a raw capture\n"
		 "      --stats-file OUTPUT  also write the statistics JSON\n"
		 "  -d, --duration DURATION  stop after this long: 10s, 500ms, 2m\n"
		 "  -q, --quiet              no status line or summary (the URL is still printed)\n"
		 "  -h, --help               show this help\n",
	.run = run,
};
