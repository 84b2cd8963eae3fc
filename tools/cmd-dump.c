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
#include "segments.h"

#define POLL_US 2000

/* One thread's ring being read. */
struct dump_thread {
	uint64_t thread_number;
	struct rtc_ring_reader r;
	struct rtc_chunk_cursor cursor;
};

struct dump_state {
	struct rtc_producer *p;
	/* By directory slot (control segment first, then extensions), NULL while no reader is open:
	 * grows to the highest slot the directory reports, which the segment's size bounds. */
	struct dump_thread **slots;
	size_t nslots;
	struct rtc_decoder *dec;
	uint64_t count, faulted;
	bool exited, pending, read_any, nomem;
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

struct thread_call {
	struct dump_state *d;
	struct dump_thread *t;
	bool done;
};

/* Print what the ring has, and whether it is finished and read to its end; reads shared memory,
 * so it runs under the SIGBUS guard. */
static void thread_call(void *arg)
{
	struct thread_call *a = arg;

	a->d->read_any |= drain(a->d, a->t);
	a->done = rtc_ring_reader_done(&a->t->r);
}

static void close_thread(struct dump_state *d, uint32_t slot)
{
	rtc_ring_reader_close(&d->slots[slot]->r);
	free(d->slots[slot]);
	d->slots[slot] = NULL;
}

/* The reader of t's slot, opened if need be; NULL when its ring cannot be read (yet). */
static struct dump_thread *reader(struct dump_state *d, const struct rtc_thread_info *t)
{
	struct dump_thread *dt;

	if (t->slot >= d->nslots) {
		size_t n = d->nslots ? d->nslots : 64;
		struct dump_thread **v;

		while (n <= t->slot)
			n *= 2;
		v = realloc(d->slots, n * sizeof(*v));
		if (!v) {
			d->nomem = true;
			return NULL;
		}
		memset(v + d->nslots, 0, (n - d->nslots) * sizeof(*v));
		d->slots = v;
		d->nslots = n;
	}
	dt = d->slots[t->slot];
	if (dt && dt->thread_number != t->thread_number) {
		close_thread(d, t->slot); /* the slot was reused by a new thread */
		dt = NULL;
	}
	if (dt)
		return dt;
	dt = calloc(1, sizeof(*dt));
	if (!dt) {
		d->nomem = true;
		return NULL;
	}
	if (rtc_ring_reader_open(&dt->r, t->ring_name, (uint32_t)d->p->pid) < 0) {
		free(dt);
		return NULL;
	}
	dt->thread_number = t->thread_number; /* a new ring starts a new cursor (zeroed) */
	d->slots[t->slot] = dt;
	return dt;
}

static int poll_thread(void *ctx, const struct rtc_thread_info *t)
{
	struct dump_state *d = ctx;
	struct thread_call a = { d, reader(d, t), false };

	if (!a.t)
		return 0;
	if (rtc_safe_call(thread_call, &a) < 0) {
		cli_error(&cli_cmd_dump, "pid %d thread %" PRIu64 ": ring truncated while reading it", (int)d->p->pid,
			  t->thread_number);
		d->faulted++;
		close_thread(d, t->slot);
		return 0;
	}
	if (a.done) {
		rtc_producer_thread_drained(d->p, t->slot, t->thread_number, false);
		close_thread(d, t->slot);
	} else {
		d->pending = true;
	}
	return 0;
}

/* One pass over the process's threads, every slot of the directory and its extensions. 0, or
 * -EFAULT when the control segment faulted. */
static int dump_poll(struct dump_state *d)
{
	d->exited = rtc_producer_exited(d->p);
	d->pending = false;
	d->read_any = false;
	return rtc_producer_each_thread(d->p, poll_thread, d) < 0 ? -EFAULT : 0;
}

/* What the producer could not record, as `ringtrace list` shows it. */
static void print_counts(struct rtc_producer *p, const char *when)
{
	struct rtc_producer_counts c;

	if (rtc_producer_counts(p, &c) < 0) {
		printf("# counters %s: unreadable (segment truncated)\n", when);
		return;
	}
	printf("# counters %s: threads untraced %" PRIu64 " (no directory slot %" PRIu64 ", no ring %" PRIu64
	       "), names overflowed %" PRIu64 " (of %u ids), tasks untracked %" PRIu64 ", consumer leases expired %" PRIu64
	       ", dead processes reclaimed %" PRIu64 ", directory slots %u, extensions %u\n",
	       when, c.thread_overflows + c.ring_failures, c.thread_overflows, c.ring_failures, c.name_overflows,
	       c.names_count, c.task_overflows, c.lease_expiries, c.reclaimed, c.threads_capacity, c.dir_ext_count);
}

struct task_list {
	struct rtc_task_info *v;
	size_t n, cap;
	bool nomem;
};

static int collect_task(void *ctx, const struct rtc_task_info *t)
{
	struct task_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct rtc_task_info *v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			l->nomem = true;
			return 1;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *t;
	return 0;
}

/* The task table: every task begun and not ended when we attached (one consistent pass). */
static void print_tasks(struct rtc_producer *p)
{
	struct task_list l = { 0 };
	int n;

	if (!p->tasks_capacity) {
		printf("# open tasks: unknown (the producer has no task table: ABI %u.%u)\n", RT_SHM_ABI_MAJOR, p->abi_minor);
		return;
	}
	n = rtc_producer_each_task(p, collect_task, &l);
	if (n < 0 || l.nomem) {
		printf("# open tasks: unreadable (%s)\n", n < 0 ? rtc_strerror(n) : "out of memory");
		free(l.v);
		return;
	}
	printf("# open tasks: %zu (task table of %u)\n", l.n, p->tasks_capacity);
	for (size_t i = 0; i < l.n; i++)
		printf("# task id=%" PRIu64 " name=\"%s\" parent=%" PRIu64 " begin_ts=%" PRIu64 "%s\n", l.v[i].id,
		       rtc_producer_name(p, l.v[i].name_id), l.v[i].parent, l.v[i].begin_ts,
		       l.v[i].coarse ? " (coarse: CLOCK_MONOTONIC ns, begun while nothing recorded)" : "");
	free(l.v);
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
	bool truncated = false, gone;
	int err;

	err = rtc_producer_open_pid(&p, pid);
	if (err < 0) {
		if (err == -ENOENT)
			cli_error(&cli_cmd_dump, "pid %d: not a traced process (no segment under the prefix %s)", (int)pid,
				  rtc_shm_prefix());
		else
			cli_error(&cli_cmd_dump, "pid %d: refused: %s%s%s", (int)pid, rtc_strerror(err), p.why[0] ? ": " : "",
				  p.why);
		return CLI_FAILED;
	}
	err = rtc_producer_attach(&p);
	if (err < 0) {
		cli_error(&cli_cmd_dump, "pid %d: %s", (int)pid, rtc_strerror(err));
		rtc_producer_close(&p);
		return CLI_FAILED;
	}
	cli_catch_stop();
	printf("# attached to pid %d (%s) of uid %u, mode %s, ABI %u.%u, segment /dev/shm%s\n", (int)pid,
	       p.process_name, (unsigned)p.uid, mode_name(p.mode), RT_SHM_ABI_MAJOR, p.abi_minor, p.shm_name);
	if (p.session_pid)
		printf("# recording session of consumer %u\n", p.session_pid);
	print_counts(&p, "at attach");
	print_tasks(&p);
	while (!atomic_load_explicit(&cli_stop, memory_order_relaxed)) {
		if (dump_poll(&d) < 0) {
			cli_error(&cli_cmd_dump, "pid %d: segment truncated while reading it", (int)pid);
			truncated = true;
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
	for (size_t i = 0; i < d.nslots; i++)
		if (d.slots[i])
			close_thread(&d, (uint32_t)i);
	free(d.slots);
	printf("# %" PRIu64 " records\n", d.count);
	print_counts(&p, "at the end");
	gone = d.exited && !d.pending && !truncated;
	if (p.why[0])
		cli_error(&cli_cmd_dump, "pid %d: %s (the threads there were not read)", (int)pid, p.why);
	if (d.nomem)
		cli_error(&cli_cmd_dump, "pid %d: out of memory: some threads were not read", (int)pid);
	rtc_producer_detach(&p);
	/* It exited normally and left its segments to us, its consumer, and we read everything (the
	 * rings went as they were drained): remove them, as `record` does. A killed process's stay
	 * for post-mortem reading ('ringtrace clean'). */
	if (gone)
		rtc_producer_remove(&p);
	rtc_producer_close(&p);
	return truncated || d.faulted || d.nomem ? CLI_FAILED : CLI_OK;
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
		 "the library and the format; 'ringtrace record' is what makes traces. First it prints the\n"
		 "process's counters (threads untraced, names overflowed, tasks untracked, consumer leases\n"
		 "expired) and its open-task table (every task begun and not ended: id, name, parent,\n"
		 "begin time); at the end the record count and the counters again. Stops on Ctrl-C, after\n"
		 "DURATION, or when the process has exited and its rings are drained. The segments a killed\n"
		 "process left behind can be dumped too. Another user's process only as root (or with\n"
		 "CAP_SYS_PTRACE over it); a refused segment is reported with the reason.\n"
		 "\n"
		 "Options:\n"
		 "  -p, --pid PID            the process (a single one)\n"
		 "  -d, --duration DURATION  stop after this long: 10s, 500ms, 2m, 1h (no unit: seconds)\n"
		 "  -h, --help               show this help\n",
	.run = run,
};
