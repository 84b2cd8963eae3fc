/* SPDX-License-Identifier: MIT */
/* `ringtrace top`: live span statistics of running processes, refreshed every second, over a sliding
 * window and since attach, full screen on a terminal (q quits, s sorts, m merges processes) and as plain
 * refreshed tables otherwise. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "engine.h"
#include "stats/text-table.h"
#include "stats/window.h"
#include "target.h"
#include "top-open.h"

#define NS 1000000000ull
#define PLAIN_ROWS 20
/* Records read and not yet processed, at most: about 0.5 s of processing here, several under
 * ThreadSanitizer. */
#define TOP_MAX_BACKLOG (16u << 20)

static const enum rtc_stats_sort sort_cycle[] = { RTC_STATS_SORT_TOTAL, RTC_STATS_SORT_COUNT, RTC_STATS_SORT_P50,
						  RTC_STATS_SORT_P99,   RTC_STATS_SORT_MAX,   RTC_STATS_SORT_NAME };
static const char *const sort_names[] = { "total", "count", "p50", "p99", "max", "name" };

struct top {
	struct cli_target t;
	unsigned window_s;
	uint64_t duration_ns, top;
	size_t sort; /* index in sort_cycle */
	bool merge;
	bool screen;   /* full screen on a terminal */
	bool keys;     /* stdin is a terminal: read keys */
	struct termios saved;
	struct rtc_engine *e;
	struct rtc_stats_window *w;
	uint64_t start_ns, next_roll_ns;
	uint64_t frames;
	char target[128];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* ---- one frame ---- */

/* The model's row of (name, pid) in a name-sorted view, or NULL. */
static const struct rtc_stats_span_row *find_row(const struct rtc_stats_span_row *rows, size_t n, const char *name,
						 size_t len, uint32_t pid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct rtc_stats_span_row *r = &rows[mid];
		int c = memcmp(r->name, name, r->name_len < len ? r->name_len : len);

		if (!c)
			c = r->name_len != len ? (r->name_len < len ? -1 : 1) : (r->pid > pid) - (r->pid < pid);
		if (!c)
			return r;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void dur(struct rtc_tt *t, char **row, size_t col, uint64_t ns)
{
	char buf[32];

	rtc_tt_set(t, row, col, "%s", rtc_stats_format_ns(ns, buf, sizeof(buf)));
}

static void add_row(struct rtc_tt *t, const struct top *tp, const struct rtc_stats_window_row *w,
		    const struct rtc_stats_span_row *all, uint64_t covered_ns)
{
	char **row = rtc_tt_row(t);
	const char *name = w ? w->name : all->name;
	size_t len = w ? w->name_len : all->name_len;
	uint32_t pid = w ? w->pid : all->pid;

	rtc_tt_name(t, row, 0, name, len);
	if (tp->merge)
		rtc_tt_set(t, row, 1, "*");
	else
		rtc_tt_set(t, row, 1, "%u", pid);
	if (w && covered_ns) {
		rtc_tt_set(t, row, 2, "%.1f", (double)w->d.count * 1e9 / (double)covered_ns);
		rtc_tt_set(t, row, 3, "%.1f%%", (double)w->d.total_ns * 100 / (double)covered_ns);
		dur(t, row, 4, w->d.p50_ns);
		dur(t, row, 5, w->d.p99_ns);
		dur(t, row, 6, w->d.max_ns);
	} else {
		for (size_t c = 2; c <= 6; c++)
			rtc_tt_set(t, row, c, "-");
	}
	if (all) {
		rtc_tt_set(t, row, 7, "%llu", (unsigned long long)all->d.count);
		if (all->d.count) {
			dur(t, row, 8, all->d.p50_ns);
			dur(t, row, 9, all->d.p99_ns);
		} else {
			rtc_tt_set(t, row, 8, "-");
			rtc_tt_set(t, row, 9, "-");
		}
		rtc_tt_set(t, row, 10, "%llu", (unsigned long long)(all->flagged + all->open));
	} else {
		for (size_t c = 7; c <= 10; c++)
			rtc_tt_set(t, row, c, "-");
	}
}

/* Window rows first (by the sort key), then the names with no span in the window (by total since
 * attach). max_rows 0: all. */
static void frame(struct top *tp, FILE *f, size_t max_rows, size_t width)
{
	struct rtc_stats_view_options vo = { tp->merge, RTC_STATS_SORT_NAME };
	struct rtc_stats_view *v = rtc_stats_view_create(rtc_engine_stats(tp->e), &vo);
	struct rtc_stats_window_rows wr;
	struct rtc_stats_window_info wi;
	const struct rtc_stats_span_row *all = NULL;
	const struct rtc_stats_info *in;
	size_t nall = 0, shown = 0, total;
	bool *used = NULL;
	struct rtc_tt t;
	char **row, up[32], *open_text = NULL;
	size_t open_len = 0, open_lines = 0;
	FILE *of;
	static const char *const head[] = { "span", "pid", "rate/s", "busy", "p50", "p99", "max",
					    "count", "p50 all", "p99 all", "flagged" };

	if (!v)
		return;
	/* What each thread is inside of now, below the table: up to a third of the rows, taken from
	 * the table's. */
	of = open_memstream(&open_text, &open_len);
	if (of) {
		open_lines = top_open_print(rtc_engine_pipeline(tp->e), of,
					    !max_rows ? SIZE_MAX : max_rows > 3 ? max_rows / 3 : 1, width, mono_ns());
		fclose(of);
		if (max_rows)
			max_rows = max_rows > open_lines + 1 ? max_rows - open_lines : 1;
	}
	in = rtc_stats_view_info(v);
	all = rtc_stats_view_spans(v, &nall);
	rtc_stats_window_info(tp->w, &wi);
	if (rtc_stats_window_rows(tp->w, tp->merge, sort_cycle[tp->sort], &wr) < 0) {
		rtc_stats_view_destroy(v);
		free(open_text);
		return;
	}
	used = calloc(nall + 1, sizeof(*used));
	fprintf(f, "ringtrace top  %s  window %us (%llus so far)  up %s  %llu spans  sort %s", tp->target, wi.seconds,
		(unsigned long long)(wi.covered_ns / NS),
		rtc_stats_format_ns(mono_ns() - tp->start_ns, up, sizeof(up)), (unsigned long long)in->spans,
		sort_names[tp->sort]);
	if (in->summary.lost)
		fprintf(f, "  lost %llu", (unsigned long long)in->summary.lost);
	fputs(tp->keys ? "  [q]uit [s]ort [m]erge\n" : "\n", f);
	rtc_tt_init(&t, 11, "lrrrrrrrrrr");
	row = rtc_tt_row(&t);
	for (size_t c = 0; c < 11; c++)
		rtc_tt_set(&t, row, c, "%s", head[c]);
	total = wr.n;
	for (size_t i = 0; i < wr.n; i++) {
		const struct rtc_stats_span_row *a = find_row(all, nall, wr.rows[i].name, wr.rows[i].name_len, wr.rows[i].pid);

		if (a && used)
			used[a - all] = true;
		if (!max_rows || shown < max_rows) {
			add_row(&t, tp, &wr.rows[i], a, wi.covered_ns);
			shown++;
		}
	}
	if (used) {
		for (size_t i = 0; i < nall; i++)
			total += !used[i];
		/* The idle names, busiest since attach first (a selection: at most the rows left). */
		for (size_t k = 0; k < nall; k++) {
			size_t best = nall;

			if (max_rows && shown >= max_rows)
				break;
			for (size_t i = 0; i < nall; i++)
				if (!used[i] && (best == nall || all[i].d.total_ns > all[best].d.total_ns))
					best = i;
			if (best == nall)
				break;
			used[best] = true;
			add_row(&t, tp, NULL, &all[best], wi.covered_ns);
			shown++;
		}
	}
	rtc_tt_print_cut(&t, f, width);
	if (shown < total)
		fprintf(f, "... %zu more span names (of %zu)\n", total - shown, total);
	if (!nall && !wr.n)
		fputs("(no span ended yet)\n", f);
	if (open_text)
		fwrite(open_text, 1, open_len, f);
	free(open_text);

	rtc_tt_free(&t);
	free(used);
	rtc_stats_window_rows_free(&wr);
	rtc_stats_view_destroy(v);
}

/* ---- the terminal ---- */

static void term_size(size_t *rows, size_t *cols)
{
	struct winsize ws;

	*rows = 24;
	*cols = 80;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

static void render(struct top *tp)
{
	char *buf = NULL;
	size_t len = 0, rows, cols;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	if (tp->screen) {
		term_size(&rows, &cols);
		fputs("\x1b[H", f); /* home; each line cleared to its end, the rest below at the end */
		frame(tp, f, rows > 4 ? rows - 4 : 1, cols);
		fclose(f);
		/* Clear each line's tail: replace "\n" by "\x1b[K\n". */
		for (size_t i = 0; i < len; i++) {
			if (buf[i] == '\n')
				fputs("\x1b[K", stdout);
			putchar(buf[i]);
		}
		fputs("\x1b[J", stdout);
	} else {
		time_t now = time(NULL);
		char when[32];

		strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
		fprintf(f, "--- %s\n", when);
		frame(tp, f, tp->top ? (size_t)tp->top : PLAIN_ROWS, 0);
		fputc('\n', f);
		fclose(f);
		fwrite(buf, 1, len, stdout);
	}
	fflush(stdout);
	free(buf);
	tp->frames++;
}

static void screen_enter(struct top *tp)
{
	struct termios raw;

	if (tp->keys && tcgetattr(STDIN_FILENO, &tp->saved) == 0) {
		raw = tp->saved;
		/* Keys one at a time, not echoed; Ctrl-C still raises SIGINT (ISIG kept). */
		raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	} else {
		tp->keys = false;
	}
	if (tp->screen)
		fputs("\x1b[?1049h\x1b[?25l\x1b[H\x1b[J", stdout); /* alternate screen, cursor hidden */
	fflush(stdout);
}

static void screen_leave(struct top *tp)
{
	if (tp->screen)
		fputs("\x1b[?25h\x1b[?1049l", stdout);
	fflush(stdout);
	if (tp->keys)
		tcsetattr(STDIN_FILENO, TCSANOW, &tp->saved);
}

/* Keys waiting on a terminal: q quits, s cycles the sort key, m toggles merging. True to redraw. */
static bool read_keys(struct top *tp)
{
	struct pollfd p = { STDIN_FILENO, POLLIN, 0 };
	bool redraw = false;
	char buf[16];
	ssize_t n;

	if (!tp->keys || poll(&p, 1, 0) != 1 || !(p.revents & POLLIN))
		return false;
	n = read(STDIN_FILENO, buf, sizeof(buf));
	for (ssize_t i = 0; i < n; i++) {
		switch (buf[i]) {
		case 'q':
		case 'Q':
			/* Relaxed: the drain loop only polls it (cli.h). */
			atomic_store_explicit(&cli_stop, 1, memory_order_relaxed);
			break;
		case 's':
			tp->sort = (tp->sort + 1) % (sizeof(sort_cycle) / sizeof(sort_cycle[0]));
			redraw = true;
			break;
		case 'm':
			tp->merge = !tp->merge;
			redraw = true;
			break;
		default:
			break;
		}
	}
	return redraw;
}

/* ---- the sink (processing thread) ---- */

static void on_event(void *ctx, const struct rtc_out *ev)
{
	struct top *tp = ctx;

	rtc_stats_window_event(tp->w, ev);
}

static void on_tick(void *ctx, uint64_t now)
{
	struct top *tp = ctx;
	bool redraw = read_keys(tp);

	if (now >= tp->next_roll_ns) {
		/* Ticks may come late on a loaded machine: roll every second that passed. */
		for (unsigned i = 0; now >= tp->next_roll_ns && i <= tp->window_s; i++) {
			rtc_stats_window_roll(tp->w);
			tp->next_roll_ns += NS;
		}
		if (now >= tp->next_roll_ns)
			tp->next_roll_ns = now + NS;
		redraw = true;
	}
	if (redraw)
		render(tp);
}

static const struct rtc_sink_ops top_ops = {
	.version = RTC_SINK_VERSION,
	.event = on_event,
	.tick = on_tick,
};

/* ---- the command ---- */

static int parse(int argc, char **argv, struct top *tp)
{
	enum { OPT_WINDOW = 256, OPT_SORT, OPT_TOP, OPT_MERGE };
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, 'a' },
		{ "duration", required_argument, NULL, 'd' },
		{ "window", required_argument, NULL, OPT_WINDOW },
		{ "sort", required_argument, NULL, OPT_SORT },
		{ "top", required_argument, NULL, OPT_TOP },
		{ "merge", no_argument, NULL, OPT_MERGE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum rtc_stats_sort key;
	uint64_t v;
	int c, err;

	while ((c = cli_getopt(argc, argv, "+:p:ad:h", longopts)) != -1) {
		switch (c) {
		case 'p':
			if ((err = cli_target_add_pid(&cli_cmd_top, &tp->t, optarg)) != 0)
				return err;
			break;
		case 'a':
			tp->t.all = true;
			break;
		case 'd':
			if (cli_opt_duration(&cli_cmd_top, "--duration", optarg, &tp->duration_ns))
				return CLI_USAGE;
			break;
		case OPT_WINDOW:
			if (cli_opt_duration(&cli_cmd_top, "--window", optarg, &v))
				return CLI_USAGE;
			if (v < NS || v > 3600 * NS || v % NS)
				return cli_usage_error(&cli_cmd_top, "--window %s: whole seconds from 1s to 1h", optarg);
			tp->window_s = (unsigned)(v / NS);
			break;
		case OPT_SORT:
			if (rtc_stats_sort_parse(optarg, &key))
				return cli_usage_error(&cli_cmd_top, "--sort %s: one of total, count, p50, p99, max, name",
						       optarg);
			for (size_t i = 0; i < sizeof(sort_cycle) / sizeof(sort_cycle[0]); i++)
				if (sort_cycle[i] == key)
					tp->sort = i;
			break;
		case OPT_TOP:
			if (cli_opt_uint(&cli_cmd_top, "--top", optarg, 1, 1u << 20, &tp->top))
				return CLI_USAGE;
			break;
		case OPT_MERGE:
			tp->merge = true;
			break;
		case 'h':
			return -1;
		default:
			return cli_option_error(&cli_cmd_top, c, argv);
		}
	}
	if (optind < argc)
		tp->t.cmd = &argv[optind];
	return cli_target_check(&cli_cmd_top, &tp->t, "watch") ? CLI_USAGE : 0;
}

static void describe_target(struct top *tp)
{
	char name[64];

	if (tp->t.all)
		snprintf(tp->target, sizeof(tp->target), "all traced processes");
	else if (tp->t.cmd)
		snprintf(tp->target, sizeof(tp->target), "%s", tp->t.cmd[0]);
	else if (tp->t.npids == 1)
		snprintf(tp->target, sizeof(tp->target), "pid %d (%s)", (int)tp->t.pids[0],
			 cli_process_name(tp->t.pids[0], name, sizeof(name)));
	else
		snprintf(tp->target, sizeof(tp->target), "%zu processes", tp->t.npids);
}

/* What the engine said while the screen was taken, shown once it is given back. */
static void replay_log(FILE *log)
{
	char buf[4096];
	size_t n;

	if (!log)
		return;
	rewind(log);
	while ((n = fread(buf, 1, sizeof(buf), log)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(log);
}

static int top(struct top *tp)
{
	/* A live view: what it shows lags reading by at most what waits to be processed, so keep
	 * that small (past it reading pauses and the rings' drops are counted, as with record's
	 * --max-backlog); quitting works it off too. */
	struct rtc_engine_options o = { .all = tp->t.all, .quiet = true, .max_backlog = TOP_MAX_BACKLOG };
	struct rtc_sink sink = { &top_ops, tp, "top" };
	FILE *log = NULL;
	int status = cli_target_check_program(&cli_cmd_top, &tp->t);

	if (status)
		return status;
	tp->screen = isatty(STDOUT_FILENO);
	tp->keys = isatty(STDIN_FILENO);
	log = tp->screen ? tmpfile() : NULL;
	o.log = log ? log : stderr;
	o.until_exit = !tp->t.all;
	o.duration = (double)tp->duration_ns / 1e9;
	describe_target(tp);
	tp->e = rtc_engine_create(&o);
	tp->w = rtc_stats_window_create(tp->window_s, 0);
	if (!tp->e || !tp->w) {
		cli_error(&cli_cmd_top, "out of memory");
		status = CLI_FAILED;
		goto out;
	}
	rtc_pipeline_subscribe(rtc_engine_pipeline(tp->e), sink, 0);
	if (cli_target_start(&cli_cmd_top, tp->e, &tp->t)) {
		status = CLI_FAILED;
		goto out;
	}
	cli_catch_stop();
	tp->start_ns = mono_ns();
	tp->next_roll_ns = tp->start_ns + NS;
	screen_enter(tp);
	status = rtc_engine_run(tp->e, &cli_stop) ? CLI_FAILED : CLI_OK;
	screen_leave(tp);
	/* The last frame stays on the normal screen (the engine's threads are done: this thread may read). */
	if (tp->screen) {
		tp->screen = tp->keys = false;
		render(tp);
	}
	replay_log(log);
	log = NULL;
	if (status == CLI_OK && cli_target_recorded_nothing(&cli_cmd_top, tp->e, &tp->t))
		status = CLI_FAILED;
out:
	replay_log(log);
	rtc_engine_destroy(tp->e);
	rtc_stats_window_destroy(tp->w);
	return status;
}

static int run(int argc, char **argv)
{
	struct top tp;
	int err;

	memset(&tp, 0, sizeof(tp));
	tp.window_s = 10;
	err = parse(argc, argv, &tp);
	if (err == 0)
		err = top(&tp);
	else if (err < 0)
		err = cli_help(&cli_cmd_top);
	cli_target_free(&tp.t);
	return err;
}

const struct cli_command cli_cmd_top = {
	.name = "top",
	.summary = "live span statistics of running processes, refreshed every second",
	.usage = "usage: ringtrace top [-p PID]... [-a] [--window SECONDS] [--sort KEY] [--top N] [--merge]\n"
		 "                     [--duration DURATION] [-- CMD [ARGS...]]\n"
		 "\n"
		 "Attach to traced processes (-p, -a) or launch CMD and show, refreshed every second, each\n"
		 "span name's rate, busy time (time in the span per second of wall time, over all threads),\n"
		 "p50, p99 and max over the last SECONDS (a sliding window), and its count, p50 and p99\n"
		 "since attach. Below it, each thread inside spans now (a request it is stuck in):\n"
		 "its spans, outermost first, and how long the innermost has been running, the longest\n"
		 "first (a + marks a begin before the attach that is not known: at least that long).\n"
		 "On a terminal: full screen; q quits, s changes the sort key, m merges or splits\n"
		 "processes; Ctrl-C quits too. Otherwise a table is printed every second.\n"
		 "Stops on q, Ctrl-C, after DURATION, or once every process exited (not with -a).\n"
		 "\n"
		 "Options:\n"
		 "  -p, --pid PID            a process to attach to (repeatable)\n"
		 "  -a, --all                every traced process of this user, new ones too\n"
		 "      --window SECONDS     the sliding window: 10s (default), 1s .. 1h\n"
		 "      --sort KEY           total (default), count, p50, p99, max or name (window values)\n"
		 "      --top N              rows when not on a terminal (default 20; a terminal: what fits)\n"
		 "      --merge              one row per span name over all processes\n"
		 "  -d, --duration DURATION  stop after this long\n"
		 "  -h, --help               show this help\n",
	.run = run,
};
