/* SPDX-License-Identifier: MIT */
/* The `ringtrace` command: list live traced processes, dump a process's records. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#include "engine.h"
#include "producer.h"
#include "record.h"
#include "safe-copy.h"
#include "ring-reader.h"
#include "error.h"

#define MAX_THREADS 1024

/* Lock-free atomic: safe to store from a signal handler, read by the engine's thread. */
static atomic_int stop;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store_explicit(&stop, 1, memory_order_relaxed);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ringtrace list              live and dead traced processes of this user\n"
		"       ringtrace record [-p PID]... [-a] [-o FILE.json] [--raw FILE.rtrace]\n"
		"                        [--duration SECONDS] [--max-backlog MB] [--quiet] [-- CMD ARGS...]\n"
		"                                   attach at run time (-p, -a: every process of this user,\n"
		"                                   new ones too) or launch CMD, merge all threads on one\n"
		"                                   timeline, write Chrome JSON and/or a raw capture, print\n"
		"                                   span and task statistics. Stops on Ctrl-C, --duration,\n"
		"                                   or when every traced process exited and was drained.\n"
		"                                   Output may lag reading by up to --max-backlog MB of\n"
		"                                   records (default 512); then reading pauses.\n"
		"       ringtrace convert FILE.rtrace -o FILE.json\n"
		"       ringtrace dump -p PID [--duration SECONDS]\n"
		"                                   attach and print every record decoded\n"
		"       ringtrace clean             remove the segments of dead processes\n");
}

static const char *mode_name(uint32_t m)
{
	return m == RT_SHM_MODE_OVERWRITE ? "overwrite" : "discard";
}

struct list_state {
	int shown;
};

/* One process's row; reads shared memory, so it runs under the SIGBUS guard. */
static void list_row(void *arg)
{
	struct rtc_producer *pp = arg;
	struct rtc_thread_info th[MAX_THREADS];
	uint64_t records = 0, lost = 0, fill = 0;
	size_t n;

	n = rtc_producer_threads(pp, th, MAX_THREADS);
	for (size_t i = 0; i < n; i++) {
		struct rtc_ring_reader r;
		char rn[128];

		rtc_producer_ring_name(pp, th[i].thread_number, rn, sizeof(rn));
		if (rtc_ring_reader_open(&r, rn, (uint32_t)pp->pid) < 0)
			continue;
		records += atomic_load_explicit(&r.hdr->records, memory_order_relaxed);
		{
			/* Unread share of the fullest ring. */
			uint64_t cp = atomic_load_explicit(&r.hdr->commit_pos, memory_order_relaxed);
			uint64_t rp = atomic_load_explicit(&r.hdr->read_pos, memory_order_relaxed);
			uint64_t unread = cp > rp ? cp - rp : 0;
			uint64_t pct = (unread > r.data_size ? r.data_size : unread) * 100 / r.data_size;

			if (pct > fill)
				fill = pct;
		}
		lost += atomic_load_explicit(&r.hdr->dropped, memory_order_relaxed) +
			atomic_load_explicit(&r.hdr->overwritten_records, memory_order_relaxed) +
			atomic_load_explicit(&r.hdr->nested_dropped, memory_order_relaxed);
		rtc_ring_reader_close(&r);
	}
	printf("%-8d %-16s %-9s %7zu %8uK %4" PRIu64 "%% %12" PRIu64 " %10" PRIu64 " %-9s %s\n", (int)pp->pid,
	       pp->process_name, mode_name(pp->mode), n, pp->ring_size >> 10, fill, records, lost,
	       atomic_load_explicit(&pp->ctl->session, memory_order_relaxed) ? "attached" : "-",
	       rtc_producer_exited(pp) ? "dead" : "live");
}

static void list_one(void *ctx, pid_t pid, const char *shm_name, bool control)
{
	struct list_state *ls = ctx;
	struct rtc_producer p;
	int err;

	if (!control)
		return;
	ls->shown++;
	err = rtc_producer_open_name(&p, shm_name);
	if (err < 0) {
		printf("%-8d %-16s refused: %s\n", (int)pid, "?", rtc_strerror(err));
		return;
	}
	if (rtc_safe_call(list_row, &p) < 0)
		printf("%-8d %-16s segment truncated while reading it\n", (int)pid, p.process_name);
	rtc_producer_close(&p);
}

static int cmd_list(void)
{
	struct list_state ls = { 0 };
	int err;

	printf("%-8s %-16s %-9s %7s %9s %5s %12s %10s %-9s %s\n", "PID", "NAME", "MODE", "THREADS", "BUFFER", "FILL",
	       "RECORDS", "LOST", "CONSUMER", "STATE");
	err = rtc_producer_scan(list_one, &ls);
	if (err < 0) {
		fprintf(stderr, "ringtrace: cannot read /dev/shm: %s\n", strerror(-err));
		return 1;
	}
	if (!ls.shown)
		printf("(no traced processes of uid %u)\n", (unsigned)getuid());
	return 0;
}

static void clean_one(void *ctx, pid_t pid, const char *shm_name, bool control)
{
	(void)control;
	if (kill(pid, 0) == 0 || errno == EPERM)
		return; /* alive */
	if (shm_unlink(shm_name) == 0)
		(*(int *)ctx)++;
}

/* Remove every segment of this user's traced processes that are gone. */
static int cmd_clean(void)
{
	int removed = 0, err = rtc_producer_scan(clean_one, &removed);

	if (err < 0) {
		fprintf(stderr, "ringtrace: cannot read /dev/shm: %s\n", strerror(-err));
		return 1;
	}
	printf("removed %d segment(s) of dead processes\n", removed);
	return 0;
}

struct dump_thread {
	bool open;
	uint32_t slot;
	uint64_t thread_number;
	struct rtc_ring_reader r;
	struct rtc_chunk_cursor cursor;
};

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

static int drain(struct rtc_producer *p, struct dump_thread *t, struct rtc_decoder *dec, uint64_t *count)
{
	struct rtc_ring_chunk c;
	struct rtc_record rec;
	int ret, got = 0;

	while ((ret = rtc_ring_reader_next(&t->r, &c, NULL, NULL)) > 0) {
		uint64_t lost;
		bool decodable = rtc_chunk_start(&t->cursor, dec, c.data, c.len, c.base_ts, c.continues, c.rec0, c.resume_rec0, &lost);

		if (lost)
			printf("%20" PRIu64 " t%-3" PRIu64 " %-12s lost=%" PRIu64 " (overwritten)\n", c.base_ts,
			       t->thread_number, "gap", lost);
		got = 1;
		if (!decodable)
			continue; /* the start of this sub-buffer was undecodable */
		while ((ret = rtc_decoder_next(dec, &rec)) > 0) {
			if (dec->off <= c.skip)
				continue;
			print_record(p, t->thread_number, &rec);
			(*count)++;
		}
		rtc_chunk_done(&t->cursor, dec, ret);
		if (ret < 0)
			fprintf(stderr, "ringtrace: pid %d thread %" PRIu64 ": malformed record skipped\n", (int)p->pid,
				t->thread_number);
	}
	if (ret < 0)
		fprintf(stderr, "ringtrace: pid %d thread %" PRIu64 ": %s\n", (int)p->pid, t->thread_number, rtc_strerror(ret));
	return got;
}

struct dump_state {
	struct rtc_producer *p;
	struct dump_thread *threads;
	struct rtc_decoder *dec;
	uint64_t count;
	bool exited, pending;
};

/* One pass over the process's rings; reads shared memory, so it runs under the SIGBUS guard. */
static void dump_poll(void *arg)
{
	struct dump_state *d = arg;
	struct rtc_thread_info info[MAX_THREADS];
	size_t n = rtc_producer_threads(d->p, info, MAX_THREADS);

	d->exited = rtc_producer_exited(d->p);
	d->pending = false;
	for (size_t i = 0; i < n; i++) {
		struct dump_thread *t = &d->threads[info[i].slot];
		char rn[128];

		if (t->open && t->thread_number != info[i].thread_number) {
			rtc_ring_reader_close(&t->r);
			t->open = false;
		}
		if (!t->open && info[i].state != RT_SHM_THREAD_DRAINED) {
			rtc_producer_ring_name(d->p, info[i].thread_number, rn, sizeof(rn));
			if (rtc_ring_reader_open(&t->r, rn, (uint32_t)d->p->pid) < 0)
				continue;
			t->open = true;
			t->slot = info[i].slot;
			t->thread_number = info[i].thread_number;
		}
		if (!t->open)
			continue;
		drain(d->p, t, d->dec, &d->count);
		if (rtc_ring_reader_done(&t->r)) {
			rtc_producer_thread_drained(d->p, t->slot, t->thread_number, false);
			rtc_ring_reader_close(&t->r);
			t->open = false;
		} else {
			d->pending = true;
		}
	}
}

static int cmd_dump(pid_t pid, double duration)
{
	static struct dump_thread threads[MAX_THREADS];
	struct rtc_producer p;
	struct rtc_decoder dec;
	struct timespec t0, now;
	struct dump_state d = { &p, threads, &dec, 0, false, false };
	int err;

	err = rtc_producer_open(&p, pid, geteuid());
	if (err < 0) {
		fprintf(stderr, "ringtrace: pid %d: %s\n", (int)pid, rtc_strerror(err));
		return 1;
	}
	err = rtc_producer_attach(&p);
	if (err < 0) {
		fprintf(stderr, "ringtrace: pid %d: %s\n", (int)pid, rtc_strerror(err));
		rtc_producer_close(&p);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	printf("# attached to pid %d (%s), mode %s\n", (int)pid, p.process_name, mode_name(p.mode));
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		if (rtc_safe_call(dump_poll, &d) < 0) {
			fprintf(stderr, "ringtrace: pid %d: segment truncated while reading it\n", (int)pid);
			break;
		}
		rtc_producer_heartbeat(&p);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (d.exited && !d.pending)
			break;
		if (duration > 0 && (now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 >= duration)
			break;
		usleep(2000);
	}
	for (size_t i = 0; i < MAX_THREADS; i++)
		if (threads[i].open)
			rtc_ring_reader_close(&threads[i].r);
	printf("# %" PRIu64 " records\n", d.count);
	rtc_producer_close(&p);
	return 0;
}

static volatile sig_atomic_t child_status = -1;
static pid_t child_pid;

static void on_child(int sig)
{
	int status;
	int saved = errno;

	(void)sig;
	if (child_pid > 0 && waitpid(child_pid, &status, WNOHANG) == child_pid)
		child_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	errno = saved;
}

static pid_t launch(char **argv)
{
	struct sigaction sa;
	pid_t pid;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_child;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	pid = fork();
	if (pid == 0) {
		/* Record from the first record; the consumer attaches within milliseconds. */
		setenv("RINGTRACE_RECORD_FROM_START", "1", 1);
		execvp(argv[0], argv);
		fprintf(stderr, "ringtrace: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	child_pid = pid;
	return pid;
}

static int cmd_record(int argc, char **argv)
{
	struct rtc_engine_options o = { .until_exit = true };
	struct rtc_engine *e;
	pid_t pids[64];
	size_t npids = 0;
	char **cmd = NULL;
	bool quiet = false;
	int err, attached = 0;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-p") == 0 && i + 1 < argc && npids < 64) {
			pids[npids++] = (pid_t)atoi(argv[++i]);
		} else if (strcmp(argv[i], "-a") == 0) {
			o.all = true;
			o.until_exit = false;
		} else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
			o.json_path = argv[++i];
		} else if (strcmp(argv[i], "--raw") == 0 && i + 1 < argc) {
			o.raw_path = argv[++i];
		} else if (strcmp(argv[i], "--duration") == 0 && i + 1 < argc) {
			o.duration = atof(argv[++i]);
		} else if (strcmp(argv[i], "--max-backlog") == 0 && i + 1 < argc) {
			o.max_backlog = (size_t)strtoull(argv[++i], NULL, 10) << 20;
			if (!o.max_backlog) {
				fprintf(stderr, "ringtrace: --max-backlog needs a size in MB of at least 1\n");
				return 2;
			}
		} else if (strcmp(argv[i], "--poll-us") == 0 && i + 1 < argc) {
			o.poll_us = (unsigned)atoi(argv[++i]);
		} else if (strcmp(argv[i], "--quiet") == 0) {
			quiet = true;
		} else if (strcmp(argv[i], "--") == 0 && i + 1 < argc) {
			cmd = &argv[i + 1];
			break;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!npids && !o.all && !cmd) {
		fprintf(stderr, "ringtrace: record needs -p PID, -a or -- CMD\n");
		return 2;
	}
	if (!o.json_path && !o.raw_path)
		o.json_path = "ringtrace.json";
	o.status = !quiet && isatty(STDERR_FILENO);
	e = rtc_engine_create(&o);
	if (!e) {
		fprintf(stderr, "ringtrace: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < npids; i++)
		if (rtc_engine_attach(e, pids[i]) == 0)
			attached++;
	if (npids && !attached && !o.all && !cmd) {
		rtc_engine_destroy(e);
		return 1;
	}
	if (cmd)
		rtc_engine_expect(e, launch(cmd));
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	err = rtc_engine_run(e, &stop);
	if (!quiet)
		rtc_engine_report(e, stdout);
	if (err == 0 && !quiet) {
		if (o.json_path)
			printf("\nwrote %s (open it in https://ui.perfetto.dev or chrome://tracing)\n", o.json_path);
		if (o.raw_path)
			printf("wrote %s (ringtrace convert %s -o FILE.json)\n", o.raw_path, o.raw_path);
	}
	rtc_engine_destroy(e);
	if (err)
		return 1;
	return cmd && child_status > 0 ? (int)child_status : 0;
}

static int cmd_convert(int argc, char **argv)
{
	struct rtc_engine_options o = { 0 };
	const char *in = NULL;
	struct rtc_engine *e;
	int err;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			o.json_path = argv[++i];
		else if (!in && argv[i][0] != '-')
			in = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!in || !o.json_path) {
		usage(stderr);
		return 2;
	}
	e = rtc_engine_create(&o);
	if (!e)
		return 1;
	err = rtc_engine_convert(e, in);
	rtc_engine_report(e, stdout);
	rtc_engine_destroy(e);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "list") == 0)
		return cmd_list();
	if (strcmp(argv[1], "clean") == 0)
		return cmd_clean();
	if (strcmp(argv[1], "record") == 0)
		return cmd_record(argc, argv);
	if (strcmp(argv[1], "convert") == 0)
		return cmd_convert(argc, argv);
	if (strcmp(argv[1], "dump") == 0) {
		pid_t pid = 0;
		double duration = 0;

		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "-p") == 0 && i + 1 < argc)
				pid = (pid_t)atoi(argv[++i]);
			else if (strcmp(argv[i], "--duration") == 0 && i + 1 < argc)
				duration = atof(argv[++i]);
			else {
				usage(stderr);
				return 2;
			}
		}
		if (pid <= 0) {
			usage(stderr);
			return 2;
		}
		return cmd_dump(pid, duration);
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
