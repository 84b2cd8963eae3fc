/* SPDX-License-Identifier: MIT */
/* `ringtrace dump`: attach to one traced process and print every record as decoded, for debugging
 * the library and the format (no merging, no rebuilding). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "producer.h"
#include "record.h"
#include "ring-reader.h"
#include "safe-copy.h"

/* Directory slots followed, as the engine (consumer/live.c); a segment claiming more has the
 * threads in the slots past it skipped, and counted. */
#define MAX_SLOTS 4096
#define POLL_US 2000

struct dump_thread {
	bool open;
	uint64_t thread_number;
	struct rtc_ring_reader r;
	struct rtc_chunk_cursor cursor;
};

struct dump_state {
	struct rtc_producer *p;
	struct dump_thread *threads; /* by directory slot */
	struct rtc_thread_info *info;
	struct rtc_decoder *dec;
	uint64_t count, skipped_slots;
	bool exited, pending, read_any;
};

static const char *mode_name(uint32_t m)
{
	return m == RT_SHM_MODE_OVERWRITE ? "overwrite" : "discard";
}

/* Every field of the record, as the record table (ringtrace/records.h) names it. */
static void print_record(struct rtc_producer *p, uint64_t thread_number, const struct rtc_record *rec)
{
	struct rtc_field f[8];
	size_t n = rtc_record_fields(rec, f, 8);

	printf("%20" PRIu64 " t%-3" PRIu64 " %-12s", rec->ts, thread_number, rtc_record_kind_name(rec->kind));
	for (size_t i = 0; i < n; i++) {
		if (!f[i].present)
			continue;
		if (f[i].type == RTC_FIELD_STR) {
			printf(" %s=\"%.*s\"", f[i].name, (int)f[i].s.len, f[i].s.ptr);
		} else if (f[i].type == RTC_FIELD_ENTRIES) {
			printf(" %s=[", f[i].name);
			for (uint32_t k = 0; k < f[i].entries; k++)
				printf("%s%s#%" PRIu64, k ? " " : "", rtc_producer_name(p, (uint32_t)rec->stack[k].name_id),
				       rec->stack[k].span_seq);
			printf("]");
		} else if (strcmp(f[i].name, "name_id") == 0 || strcmp(f[i].name, "category_id") == 0) {
			printf(" %s", rtc_producer_name(p, (uint32_t)f[i].u));
		} else {
			printf(" %s=%" PRIu64, f[i].name, f[i].u);
		}
	}
	putchar('\n');
}

/* Print what one ring has; true if it had anything. */
static bool drain(struct dump_state *d, struct dump_thread *t)
{
	struct rtc_ring_chunk c;
	struct rtc_record rec;
	bool got = false;
	int ret;

	while ((ret = rtc_ring_reader_next(&t->r, &c, NULL, NULL)) > 0) {
		uint64_t lost;
		bool decodable = rtc_chunk_start(&t->cursor, d->dec, c.data, c.len, c.base_ts, c.continues, c.rec0,
						 c.resume_rec0, &lost);

		if (lost)
			printf("%20" PRIu64 " t%-3" PRIu64 " %-12s lost=%" PRIu64 " (overwritten)\n", c.base_ts,
			       t->thread_number, "gap", lost);
		got = true;
		if (!decodable)
			continue; /* the start of this sub-buffer was undecodable */
		while ((ret = rtc_decoder_next(d->dec, &rec)) > 0) {
			if (d->dec->off <= c.skip)
				continue; /* delivered to an earlier reader */
			print_record(d->p, t->thread_number, &rec);
			d->count++;
		}
		rtc_chunk_done(&t->cursor, d->dec, ret);
		if (ret < 0)
			cli_error(&cli_cmd_dump, "pid %d thread %" PRIu64 ": malformed record skipped", (int)d->p->pid,
				  t->thread_number);
	}
	if (ret < 0)
		cli_error(&cli_cmd_dump, "pid %d thread %" PRIu64 ": %s", (int)d->p->pid, t->thread_number,
			  rtc_strerror(ret));
	return got;
}

/* One pass over the process's rings; reads shared memory, so it runs under the SIGBUS guard. */
static void dump_poll(void *arg)
{
	struct dump_state *d = arg;
	size_t n = rtc_producer_threads(d->p, d->info, MAX_SLOTS);

	d->exited = rtc_producer_exited(d->p);
	d->pending = false;
	d->read_any = false;
	for (size_t i = 0; i < n; i++) {
		struct dump_thread *t;
		char rn[128];

		if (d->info[i].slot >= MAX_SLOTS) {
			d->skipped_slots++;
			continue;
		}
		t = &d->threads[d->info[i].slot];
		if (t->open && t->thread_number != d->info[i].thread_number) {
			rtc_ring_reader_close(&t->r);
			t->open = false;
		}
		if (!t->open && d->info[i].state != RT_SHM_THREAD_DRAINED) {
			rtc_producer_ring_name(d->p, d->info[i].thread_number, rn, sizeof(rn));
			if (rtc_ring_reader_open(&t->r, rn, (uint32_t)d->p->pid) < 0)
				continue;
			memset(&t->cursor, 0, sizeof(t->cursor)); /* a new ring starts a new cursor */
			t->open = true;
			t->thread_number = d->info[i].thread_number;
		}
		if (!t->open)
			continue;
		d->read_any |= drain(d, t);
		if (rtc_ring_reader_done(&t->r)) {
			rtc_producer_thread_drained(d->p, d->info[i].slot, t->thread_number, false);
			rtc_ring_reader_close(&t->r);
			t->open = false;
		} else {
			d->pending = true;
		}
	}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int dump(pid_t pid, uint64_t duration_ns)
{
	struct rtc_producer p;
	struct rtc_decoder dec;
	struct dump_state d = { .p = &p, .dec = &dec };
	uint64_t t0 = mono_ns();
	int err, status = CLI_FAILED;

	err = rtc_producer_open(&p, pid, geteuid());
	if (err == 0) {
		err = rtc_producer_attach(&p);
		if (err < 0)
			rtc_producer_close(&p);
	}
	if (err < 0) {
		cli_error(&cli_cmd_dump, "pid %d: %s", (int)pid,
			  err == -ENOENT ? "not a traced process (no ringtrace segment)" : rtc_strerror(err));
		return CLI_FAILED;
	}
	d.threads = calloc(MAX_SLOTS, sizeof(*d.threads));
	d.info = calloc(MAX_SLOTS, sizeof(*d.info));
	if (!d.threads || !d.info) {
		cli_error(&cli_cmd_dump, "out of memory");
		goto out;
	}
	cli_catch_stop();
	printf("# attached to pid %d (%s), mode %s\n", (int)pid, p.process_name, mode_name(p.mode));
	while (!atomic_load_explicit(&cli_stop, memory_order_relaxed)) {
		if (rtc_safe_call(dump_poll, &d) < 0) {
			cli_error(&cli_cmd_dump, "pid %d: segment truncated while reading it", (int)pid);
			break;
		}
		rtc_producer_heartbeat(&p);
		/* Gone and drained; or gone (killed: its rings never finish) and nothing more came. */
		if (d.exited && (!d.pending || !d.read_any))
			break;
		if (duration_ns && mono_ns() - t0 >= duration_ns)
			break;
		usleep(POLL_US);
	}
	for (size_t i = 0; i < MAX_SLOTS; i++)
		if (d.threads[i].open)
			rtc_ring_reader_close(&d.threads[i].r);
	printf("# %" PRIu64 " records\n", d.count);
	if (d.skipped_slots)
		cli_error(&cli_cmd_dump, "pid %d: threads in directory slots past %d were skipped", (int)pid, MAX_SLOTS);
	status = CLI_OK;
out:
	free(d.threads);
	free(d.info);
	rtc_producer_close(&p);
	return status;
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t duration_ns = 0;
	pid_t pid = 0;
	int c;

	while ((c = cli_getopt(argc, argv, ":p:d:h", longopts)) != -1) {
		switch (c) {
		case 'p':
			if (pid)
				return cli_usage_error(&cli_cmd_dump, "one -p only (dump follows one process)");
			if (cli_opt_pid(&cli_cmd_dump, "-p", optarg, &pid))
				return CLI_USAGE;
			break;
		case 'd':
			if (cli_opt_duration(&cli_cmd_dump, "--duration", optarg, &duration_ns))
				return CLI_USAGE;
			break;
		case 'h':
			return cli_help(&cli_cmd_dump);
		default:
			return cli_option_error(&cli_cmd_dump, c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(&cli_cmd_dump, "unexpected argument '%s'", argv[optind]);
	if (!pid)
		return cli_usage_error(&cli_cmd_dump, "which process? (-p PID)");
	/* A process that died (killed) leaves its segments: what they hold can still be dumped. */
	if (!cli_pid_exists(pid) && !cli_traced(pid)) {
		cli_error(&cli_cmd_dump, "pid %d: no such process", (int)pid);
		return CLI_FAILED;
	}
	return dump(pid, duration_ns);
}

const struct cli_command cli_cmd_dump = {
	.name = "dump",
	.summary = "attach to one process and print every record decoded (debugging)",
	.usage = "usage: ringtrace dump -p PID [--duration DURATION]\n"
		 "\n"
		 "Attach to a traced process and print every record of every thread as it is read: time\n"
		 "stamp, thread number, kind and fields, unmerged and not rebuilt into spans. For debugging\n"
		 "the library and the format; 'ringtrace record' is what makes traces. Stops on Ctrl-C, after\n"
		 "DURATION, or when the process has exited and its rings are drained. The segments a killed\n"
		 "process left behind can be dumped too.\n"
		 "\n"
		 "Options:\n"
		 "  -p, --pid PID            the process (a single one)\n"
		 "  -d, --duration DURATION  stop after this long: 10s, 500ms, 2m, 1h (no unit: seconds)\n"
		 "  -h, --help               show this help\n",
	.run = run,
};
