/* SPDX-License-Identifier: MIT */
/* `ringtrace list`: the traced processes under the segment prefix (this user's, or every user's),
 * with every thread counted, records, loss, what the producer could not trace, the consumer or
 * recording session, dead processes' leftovers and squatted names. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "producer.h"
#include "ring-reader.h"
#include "safe-copy.h"
#include "segments.h"

struct list_opts {
	bool all_users, long_view;
};

/* Every segment seen, sorted by pid. */
struct seg_list {
	struct rtc_segment *v;
	size_t n, cap;
	int err;
};

/* One process's threads, summed. */
struct thread_sums {
	struct rtc_producer *p;
	const struct list_opts *o;
	uint64_t threads, records, lost, fill;
};

/* One ring's counters, read under the guard. */
struct ring_view {
	struct rtc_ring_reader *r;
	uint64_t records, lost, fill;
};

struct lease_view {
	struct rtc_producer *p;
	uint32_t session, consumer_pid, exited;
};

static const char *mode_name(uint32_t m)
{
	return m == RT_SHM_MODE_OVERWRITE ? "overwrite" : "discard";
}

static bool alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static int collect(void *ctx, const struct rtc_segment *s)
{
	struct seg_list *l = ctx;

	if (s->kind == RTC_SEG_MARKER)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct rtc_segment *v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			l->err = -ENOMEM;
			return 1;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *s;
	return 0;
}

static int by_pid_kind(const void *a, const void *b)
{
	const struct rtc_segment *x = a, *y = b;

	if (x->pid != y->pid)
		return (x->pid > y->pid) - (x->pid < y->pid);
	if (x->kind != y->kind)
		return (x->kind > y->kind) - (x->kind < y->kind);
	return (x->number > y->number) - (x->number < y->number);
}

/* ---- one process ---- */

static void ring_call(void *arg)
{
	struct ring_view *v = arg;
	struct rt_shm_ring *h = v->r->hdr;
	/* Relaxed: statistics that order nothing; a moving ring gives an approximate fill. */
	uint64_t cp = atomic_load_explicit(&h->commit_pos, memory_order_relaxed);
	uint64_t rp = atomic_load_explicit(&h->read_pos, memory_order_relaxed);
	uint64_t unread = cp > rp ? cp - rp : 0;

	v->records = atomic_load_explicit(&h->records, memory_order_relaxed);
	v->lost = atomic_load_explicit(&h->dropped, memory_order_relaxed) +
		  atomic_load_explicit(&h->overwritten_records, memory_order_relaxed) +
		  atomic_load_explicit(&h->nested_dropped, memory_order_relaxed);
	v->fill = (unread > v->r->data_size ? v->r->data_size : unread) * 100 / v->r->data_size;
}

static const char *thread_state(uint32_t s)
{
	return s == RT_SHM_THREAD_ACTIVE ? "running" : s == RT_SHM_THREAD_FINISHED ? "finished" : "?";
}

static int one_thread(void *ctx, const struct rtc_thread_info *t)
{
	struct thread_sums *s = ctx;
	struct rtc_ring_reader r;
	struct ring_view v = { &r, 0, 0, 0 };
	bool read = false;

	s->threads++;
	if (rtc_ring_reader_open(&r, t->ring_name, (uint32_t)s->p->pid) == 0) {
		read = rtc_safe_call(ring_call, &v) == 0;
		rtc_ring_reader_close(&r);
	}
	if (read) {
		s->records += v.records;
		s->lost += v.lost;
		if (v.fill > s->fill)
			s->fill = v.fill;
	}
	if (s->o->long_view) {
		if (read)
			printf("    thread %-6" PRIu64 " tid %-8u %-16s %-9s %12" PRIu64 " records %10" PRIu64 " lost %3" PRIu64
			       "%% full\n",
			       t->thread_number, t->tid, t->name[0] ? t->name : "-", thread_state(t->state), v.records, v.lost,
			       v.fill);
		else
			printf("    thread %-6" PRIu64 " tid %-8u %-16s %-9s (ring unreadable)\n", t->thread_number, t->tid,
			       t->name[0] ? t->name : "-", thread_state(t->state));
	}
	return 0;
}

static void lease_call(void *arg)
{
	struct lease_view *v = arg;

	/* Relaxed: a snapshot for display; nothing is read on the strength of it. */
	v->session = atomic_load_explicit(&v->p->ctl->session, memory_order_relaxed);
	v->consumer_pid = atomic_load_explicit(&v->p->ctl->consumer_pid, memory_order_relaxed);
	v->exited = atomic_load_explicit(&v->p->ctl->exited, memory_order_relaxed);
}

/* Who reads this process (an attached consumer, or its recording session's consumer) and its state.
 * 0, or -EFAULT when the segment faulted. */
static int lease_text(struct rtc_producer *p, char *consumer, size_t len, const char **state)
{
	struct lease_view v = { p, 0, 0, 0 };

	if (rtc_safe_call(lease_call, &v) < 0)
		return -EFAULT;
	snprintf(consumer, len, "-");
	if (v.session && alive((pid_t)v.consumer_pid))
		snprintf(consumer, len, "attached %u", v.consumer_pid);
	else if (v.session && v.consumer_pid)
		snprintf(consumer, len, "gone %u", v.consumer_pid); /* its lease lapses */
	else if (p->session_pid && alive((pid_t)p->session_pid))
		snprintf(consumer, len, "session %u", p->session_pid);
	/* Exiting: its exit handler ran, it waits for its consumer to drain it. */
	/* A pid taken over by a later process does not make the segment's process live. */
	*state = !rtc_segments_pid_is(p->pid, p->start_mono_ns) ? "dead" : v.exited ? "exiting" : "live";
	return 0;
}

static void print_uid(const struct list_opts *o, uid_t uid)
{
	if (o->all_users)
		printf("%-6u ", (unsigned)uid);
}

/* The producer's counters where they are not zero, and a dead process's leftovers. Footnotes go to
 * a buffer printed after the table. */
static void note(FILE *notes, struct rtc_producer *p, const struct rtc_producer_counts *c, bool dead,
		 unsigned segments, uint64_t bytes, const char *consumer)
{
	uint64_t untraced = c->thread_overflows + c->ring_failures;
	const char *sep = "";
	char size[32];

	if (!notes)
		return;
	if (!untraced && !c->name_overflows && !c->task_overflows && !c->lease_expiries && !dead)
		return;
	fprintf(notes, "pid %d (%s): ", (int)p->pid, p->process_name);
	if (untraced) {
		fprintf(notes, "%" PRIu64 " thread%s untraced (%" PRIu64 " with no directory slot, %" PRIu64
			       " with no ring: /dev/shm full)",
			untraced, untraced == 1 ? "" : "s", c->thread_overflows, c->ring_failures);
		sep = "; ";
	}
	if (c->name_overflows) {
		fprintf(notes, "%s%" PRIu64 " name%s recorded as \"<overflow>\" (name table full)", sep, c->name_overflows,
			c->name_overflows == 1 ? "" : "s");
		sep = "; ";
	}
	if (c->task_overflows) {
		fprintf(notes, "%s%" PRIu64 " task%s not in the task table (a consumer attaching later misses %s)", sep,
			c->task_overflows, c->task_overflows == 1 ? "" : "s", c->task_overflows == 1 ? "its begin" : "their begins");
		sep = "; ";
	}
	if (c->lease_expiries) {
		fprintf(notes, "%s%" PRIu64 " consumer lease%s expired (recording stopped until a consumer came back)", sep,
			c->lease_expiries, c->lease_expiries == 1 ? "" : "s");
		sep = "; ";
	}
	if (dead) {
		cli_size_text(bytes, size, sizeof(size));
		fprintf(notes, "%sdead, %u segment%s (%s) left in /dev/shm", sep, segments, segments == 1 ? "" : "s", size);
		if (strncmp(consumer, "attached ", 9) == 0 || strncmp(consumer, "session ", 8) == 0)
			fprintf(notes, ": its consumer (%s) will drain them", consumer);
		else
			fprintf(notes, ": 'ringtrace clean' removes them");
	}
	fputc('\n', notes);
}

static void list_control(const struct list_opts *o, FILE *notes, const struct rtc_segment *seg, unsigned segments,
			 uint64_t bytes)
{
	struct rtc_producer p;
	struct rtc_producer_counts c;
	struct thread_sums s = { &p, o, 0, 0, 0, 0 };
	char consumer[32], buffer[16];
	const char *state;
	bool dead;
	int err, n;

	err = rtc_producer_open_name(&p, seg->name);
	if (err < 0) {
		print_uid(o, seg->name_uid);
		printf("%-8d %-16s refused: %s%s%s\n", (int)seg->pid, "?", rtc_strerror(err), p.why[0] ? ": " : "", p.why);
		return;
	}
	if (rtc_producer_counts(&p, &c) < 0 || lease_text(&p, consumer, sizeof(consumer), &state) < 0) {
		print_uid(o, seg->name_uid);
		printf("%-8d %-16s segment truncated while reading it\n", (int)seg->pid, p.process_name);
		rtc_producer_close(&p);
		return;
	}
	dead = strcmp(state, "dead") == 0;
	if (o->long_view) {
		print_uid(o, seg->name_uid);
		printf("%-8d %-16s %s\n", (int)p.pid, p.process_name, seg->name);
	}
	n = rtc_producer_each_thread(&p, one_thread, &s);
	if (p.ring_size >= (1u << 20) && !(p.ring_size & ((1u << 20) - 1)))
		snprintf(buffer, sizeof(buffer), "%uM", p.ring_size >> 20);
	else
		snprintf(buffer, sizeof(buffer), "%uK", p.ring_size >> 10);
	print_uid(o, seg->name_uid);
	if (n < 0) {
		printf("%-8d %-16s %s\n", (int)p.pid, p.process_name,
		       n == -EFAULT ? "segment truncated while reading it" : rtc_strerror(n));
	} else {
		printf("%-8d %-16s %-9s %7" PRIu64 " %7s %4" PRIu64 "%% %12" PRIu64 " %10" PRIu64 " %8" PRIu64
		       " %-15s %s\n",
		       (int)p.pid, p.process_name, mode_name(p.mode), s.threads, buffer, s.fill, s.records, s.lost,
		       c.thread_overflows + c.ring_failures, consumer, state);
	}
	if (p.why[0] && notes) /* a directory extension could not be read: its threads are not counted */
		fprintf(notes, "pid %d (%s): %s\n", (int)p.pid, p.process_name, p.why);
	note(notes, &p, &c, dead, segments, bytes, consumer);
	rtc_producer_close(&p);
}

/* One pid's segments [from, to): a row per control segment, squatted names shown and warned. */
static unsigned list_pid(const struct list_opts *o, FILE *notes, const struct rtc_segment *v, size_t from, size_t to)
{
	unsigned rows = 0, segments = 0;
	uint64_t bytes = 0;

	for (size_t i = from; i < to; i++) {
		if (v[i].owner == v[i].name_uid) {
			segments++;
			bytes += v[i].blocks;
		}
	}
	for (size_t i = from; i < to; i++) {
		const struct rtc_segment *s = &v[i];

		if (s->owner != s->name_uid) {
			/* Someone took a name that belongs to uid name_uid: the producer fell back to a
			 * salted name (or stayed untraced); whoever owns this file guessed the pid. */
			print_uid(o, s->name_uid);
			printf("%-8d %-16s squatted: /dev/shm%s is owned by uid %u, not uid %u\n", (int)s->pid, "?", s->name,
			       (unsigned)s->owner, (unsigned)s->name_uid);
			cli_error(&cli_cmd_list,
				  "warning: /dev/shm%s is owned by uid %u, not by uid %u as its name says: a squatted or "
				  "planted name (never opened)",
				  s->name, (unsigned)s->owner, (unsigned)s->name_uid);
			rows++;
		} else if (s->kind == RTC_SEG_CONTROL) {
			list_control(o, notes, s, segments, bytes);
			rows++;
		}
	}
	if (!rows && segments) {
		char size[32];

		cli_size_text(bytes, size, sizeof(size));
		print_uid(o, v[from].name_uid);
		printf("%-8d %-16s no control segment: %u leftover segment%s (%s), process %s\n", (int)v[from].pid, "?",
		       segments, segments == 1 ? "" : "s", size, alive(v[from].pid) ? "live" : "dead");
		rows++;
	}
	return rows;
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all-users", no_argument, NULL, 'A' },
		{ "long", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct list_opts o = { 0 };
	struct seg_list l = { 0 };
	char *notes_buf = NULL;
	size_t notes_len = 0;
	unsigned rows = 0;
	FILE *notes;
	int c, err;

	while ((c = cli_getopt(argc, argv, ":Alh", longopts)) != -1) {
		switch (c) {
		case 'A':
			o.all_users = true;
			break;
		case 'l':
			o.long_view = true;
			break;
		case 'h':
			return cli_help(&cli_cmd_list);
		default:
			return cli_option_error(&cli_cmd_list, c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(&cli_cmd_list, "unexpected argument '%s'", argv[optind]);
	err = rtc_segments_scan(o.all_users, collect, &l);
	if (err == 0)
		err = l.err;
	if (err < 0) {
		cli_error(&cli_cmd_list, "cannot read /dev/shm: %s", strerror(-err));
		free(l.v);
		return CLI_FAILED;
	}
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), by_pid_kind);
	notes = open_memstream(&notes_buf, &notes_len);
	if (o.all_users)
		printf("%-6s ", "UID");
	printf("%-8s %-16s %-9s %7s %7s %5s %12s %10s %8s %-15s %s\n", "PID", "NAME", "MODE", "THREADS", "BUFFER", "FILL",
	       "RECORDS", "LOST", "UNTRACED", "CONSUMER", "STATE");
	for (size_t i = 0, j; i < l.n; i = j) {
		for (j = i; j < l.n && l.v[j].pid == l.v[i].pid; j++)
			;
		rows += list_pid(&o, notes, l.v, i, j);
	}
	if (!rows) {
		if (o.all_users)
			printf("(no traced processes under the prefix %s)\n", rtc_shm_prefix());
		else
			printf("(no traced processes of uid %u under the prefix %s)\n", (unsigned)geteuid(), rtc_shm_prefix());
	}
	if (notes) {
		fclose(notes);
		if (notes_len)
			printf("\n%s", notes_buf);
		free(notes_buf);
	}
	free(l.v);
	return CLI_OK;
}

const struct cli_command cli_cmd_list = {
	.name = "list",
	.summary = "traced processes: threads, records, loss, untraced threads, consumer, alive",
	.usage = "usage: ringtrace list [-A] [-l]\n"
		 "\n"
		 "List the traced processes of this user, from their shared-memory segments in /dev/shm\n"
		 "(PREFIX.UID.PID*, PREFIX from RINGTRACE_SHM_PREFIX, default ringtrace). Columns:\n"
		 "  PID, NAME   the process\n"
		 "  MODE        discard, or overwrite (a flight recorder)\n"
		 "  THREADS     every thread with a ring: running, or finished and not yet read\n"
		 "  BUFFER      ring size per thread\n"
		 "  FILL        unread share of the fullest ring\n"
		 "  RECORDS     records written; LOST: records dropped or overwritten\n"
		 "  UNTRACED    threads the producer could not trace (no directory slot, or no ring:\n"
		 "              /dev/shm full)\n"
		 "  CONSUMER    'attached PID': a consumer reads it; 'session PID': it belongs to the\n"
		 "              live recording session of that consumer (record -- CMD, record -a);\n"
		 "              'gone PID': the attached consumer died, its lease lapses\n"
		 "  STATE       live; exiting (its consumer is draining it); or dead: it exited or was\n"
		 "              killed and left its segments ('ringtrace clean' removes them)\n"
		 "Below the table, for each process where they are not zero: threads untraced, names\n"
		 "recorded as \"<overflow>\", tasks missing from the task table, consumer leases that\n"
		 "expired; and a dead process's leftover segments and memory. A name in /dev/shm owned by\n"
		 "another user than the uid it carries is shown as squatted, with a warning: someone\n"
		 "guessed the pid (the process then uses a salted name, listed as well).\n"
		 "\n"
		 "Options:\n"
		 "  -A, --all-users  every user's traced processes (a UID column); those you may not\n"
		 "                   trace (root, or ptrace rules) are shown as refused\n"
		 "  -l, --long       each process's control segment and every thread: number, tid, name,\n"
		 "                   running or finished, records, lost, fill\n"
		 "  -h, --help       show this help\n",
	.run = run,
};
