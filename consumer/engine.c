/* SPDX-License-Identifier: MIT */
/* The consumer engine: live attach and drain, raw capture and replay, watermark merge, rebuild and
 * sinks (docs/consumer.md). */
#include "engine.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>

#include <msgpack.h>

#include <ringtrace/ringtrace.h>

#include "chrome.h"
#include "clockmap.h"
#include "producer.h"
#include "rawfile.h"
#include "record.h"
#include "ring-reader.h"
#include "safe-copy.h"
#include "stats.h"

#define MAX_SLOTS 4096
/* A record whose timestamp is older than this when we find its ring empty is assumed committed:
 * the watermark trails the present by it (bounds live memory, orders late commits correctly). */
#define WATERMARK_MARGIN_NS 20000000ull

struct eproc {
	struct cds_lfht_node node; /* in e->registry, keyed by pid */
	uint32_t index;
	pid_t pid;
	bool live;        /* attached to shared memory (not replaying a capture) */
	bool gone;        /* exited and drained, or refused */
	bool dead_seen;   /* the process was found gone: drain what is left, then finish */
	bool refused;     /* attach failed; -a retries it after retry_ns */
	uint64_t retry_ns;
	struct rtc_producer p;
	struct rtc_clockmap clock;
	uint64_t attach_ns;
	uint32_t names_written; /* raw capture: name ids already written */
	int32_t slot_thread[MAX_SLOTS]; /* directory slot -> engine thread index, -1 none */
	uint64_t slot_number[MAX_SLOTS];
	/* Replay: names from the capture. */
	char **names;
	uint32_t names_cap;
	char name[RT_SHM_PROCESS_NAME_LEN + 1];
};

struct ethread {
	uint32_t proc;
	uint32_t slot;
	uint64_t thread_number;
	uint32_t tid;
	bool open;     /* ring reader open (live) */
	bool finished; /* no more records will come */
	bool notified; /* rebuild told the thread is done */
	struct rtc_ring_reader r;
	struct rtc_event *q; /* FIFO of decoded, not yet merged events */
	size_t qhead, qlen, qcap;
	uint64_t order;
	uint64_t last_ts; /* ns of its newest decoded record */
	bool backlog;     /* the last poll stopped before the end of its ring */
	uint64_t raw_ts;  /* raw timestamp decode state (replay) */
};

struct rtc_engine {
	struct rtc_engine_options o;
	FILE *log;
	struct cds_lfht *registry; /* pid -> eproc, read by the helper thread under RCU */
	struct eproc **procs;
	size_t nprocs, procs_cap;
	struct ethread *threads;
	size_t nthreads, threads_cap;
	pid_t *expected;
	size_t nexpected;
	struct rtc_decoder dec;
	struct rtc_rebuild *rb;
	struct rtc_chrome *json;
	struct rtc_stats *stats;
	struct rtc_raw_writer *raw;
	uint32_t *heap; /* thread indices with queued events */
	size_t heap_len, heap_cap;
	uint64_t emitted_ts;
	uint64_t late;
	uint64_t origin_ns;
	uint64_t start_ns, end_ns;
	uint64_t bytes;
	_Atomic uint64_t status_records;
	_Atomic uint64_t status_bytes;
	_Atomic uint64_t status_lost;
	pthread_t helper;
	_Atomic int helper_stop;
	bool helper_running;
	bool rcu_registered;
	int err;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void say(struct rtc_engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct rtc_engine *e, const char *fmt, ...)
{
	va_list ap;

	fputs("ringtrace: ", e->log);
	va_start(ap, fmt);
	vfprintf(e->log, fmt, ap);
	va_end(ap);
	fputc('\n', e->log);
}

/* ---- names ---- */

static const char *name_of(void *ctx, uint32_t proc, uint32_t id)
{
	struct rtc_engine *e = ctx;
	struct eproc *p;

	if (proc >= e->nprocs)
		return "<unknown>";
	p = e->procs[proc];
	if (p->live)
		return rtc_producer_name(&p->p, id);
	return id < p->names_cap && p->names[id] ? p->names[id] : "<unknown>";
}

/* ---- creation ---- */

struct rtc_engine *rtc_engine_create(const struct rtc_engine_options *o)
{
	struct rtc_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->o = *o;
	if (!e->o.poll_us)
		e->o.poll_us = 1000;
	e->log = o->log ? o->log : stderr;
	e->registry = cds_lfht_new_flavor(16, 16, 0, CDS_LFHT_AUTO_RESIZE, &urcu_memb_flavor, NULL);
	e->rb = rtc_rebuild_create(name_of, e);
	e->stats = rtc_stats_create();
	if (!e->registry || !e->rb || !e->stats || rtc_decoder_init(&e->dec) < 0 || rtc_safe_copy_init() < 0) {
		rtc_engine_destroy(e);
		return NULL;
	}
	rtc_rebuild_add_sink(e->rb, rtc_stats_sink(e->stats));
	e->start_ns = mono_ns();
	return e;
}

static void free_proc(struct eproc *p)
{
	if (p->live)
		rtc_producer_close(&p->p);
	for (uint32_t i = 0; i < p->names_cap; i++)
		free(p->names[i]);
	free(p->names);
	free(p);
}

void rtc_engine_destroy(struct rtc_engine *e)
{
	if (!e)
		return;
	if (e->helper_running) {
		atomic_store(&e->helper_stop, 1);
		pthread_join(e->helper, NULL);
	}
	for (size_t i = 0; i < e->nthreads; i++) {
		struct ethread *t = &e->threads[i];

		if (t->open)
			rtc_ring_reader_close(&t->r);
		for (size_t k = 0; k < t->qlen; k++) {
			struct rtc_event *ev = &t->q[(t->qhead + k) & (t->qcap - 1)];

			free(ev->str);
			free(ev->stack);
		}
		free(t->q);
	}
	free(e->threads);
	for (size_t i = 0; i < e->nprocs; i++) {
		if (e->procs[i]->live && e->registry)
			cds_lfht_del(e->registry, &e->procs[i]->node);
		free_proc(e->procs[i]);
	}
	free(e->procs);
	if (e->registry)
		cds_lfht_destroy(e->registry, NULL);
	free(e->expected);
	free(e->heap);
	rtc_decoder_fini(&e->dec);
	rtc_rebuild_destroy(e->rb);
	rtc_stats_destroy(e->stats);
	free(e);
}

/* ---- processes and threads ---- */

static struct eproc *new_proc(struct rtc_engine *e, pid_t pid)
{
	struct eproc *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (e->nprocs == e->procs_cap) {
		size_t cap = e->procs_cap ? e->procs_cap * 2 : 8;
		struct eproc **n = realloc(e->procs, cap * sizeof(*n));

		if (!n) {
			free(p);
			return NULL;
		}
		e->procs = n;
		e->procs_cap = cap;
	}
	p->index = (uint32_t)e->nprocs;
	p->pid = pid;
	for (size_t i = 0; i < MAX_SLOTS; i++)
		p->slot_thread[i] = -1;
	e->procs[e->nprocs++] = p;
	return p;
}

static int new_thread(struct rtc_engine *e, uint32_t proc, uint64_t thread_number, uint32_t tid)
{
	struct ethread *t;

	if (e->nthreads == e->threads_cap) {
		size_t cap = e->threads_cap ? e->threads_cap * 2 : 64;
		struct ethread *n = realloc(e->threads, cap * sizeof(*n));

		if (!n)
			return -1;
		e->threads = n;
		e->threads_cap = cap;
	}
	t = &e->threads[e->nthreads];
	memset(t, 0, sizeof(*t));
	t->proc = proc;
	t->thread_number = thread_number;
	t->tid = tid;
	return (int)e->nthreads++;
}

static struct eproc *registered(struct rtc_engine *e, pid_t pid)
{
	for (size_t i = 0; i < e->nprocs; i++)
		if (e->procs[i]->pid == pid)
			return e->procs[i];
	return NULL;
}

static int attach_proc(struct rtc_engine *e, struct eproc *p, bool quiet)
{
	struct rt_shm_calib_point pts[RT_SHM_CALIB_MAX];
	pid_t pid = p->pid;
	size_t n;
	int err;

	err = rtc_producer_open(&p->p, pid, getuid());
	if (err == 0) {
		p->live = true;
		err = rtc_producer_attach(&p->p);
		if (err < 0) {
			rtc_producer_close(&p->p);
			p->live = false;
		}
	}
	if (err < 0) {
		if (!quiet)
			say(e, "pid %d: %s", (int)pid,
			    err == -ENOENT ? "not a traced process (no ringtrace segment)" : rt_strerror(err));
		p->gone = true;
		p->refused = true;
		p->retry_ns = mono_ns() + 1000000000ull;
		return err;
	}
	p->gone = false;
	p->refused = false;
	rtc_clockmap_init(&p->clock, p->p.clock);
	n = rtc_producer_calibration(&p->p, pts, RT_SHM_CALIB_MAX);
	rtc_clockmap_add(&p->clock, pts, n);
	rtc_clockmap_sample(&p->clock);
	p->attach_ns = mono_ns();
	snprintf(p->name, sizeof(p->name), "%s", p->p.process_name);
	if (!e->origin_ns || p->p.start_mono_ns < e->origin_ns)
		e->origin_ns = p->p.start_mono_ns ? p->p.start_mono_ns : p->attach_ns;
	/* Visible to the helper thread (heartbeats) from now on. */
	cds_lfht_add(e->registry, (unsigned long)pid, &p->node);
	rtc_rebuild_process(e->rb, p->index, (uint32_t)pid, p->name);
	if (e->raw)
		rtc_raw_write_process(e->raw, p->index, (uint32_t)pid, p->name, p->p.clock, p->p.mode, p->p.start_real_ns,
				      p->p.start_mono_ns, p->p.parent_pid);
	if (e->raw)
		for (size_t i = 0; i < n; i++)
			rtc_raw_write_calib(e->raw, p->index, &pts[i]);
	return 0;
}

int rtc_engine_attach(struct rtc_engine *e, pid_t pid)
{
	struct eproc *p = registered(e, pid);

	if (p)
		return p->refused ? -EBUSY : 0;
	p = new_proc(e, pid);
	if (!p)
		return -ENOMEM;
	return attach_proc(e, p, false);
}

void rtc_engine_expect(struct rtc_engine *e, pid_t pid)
{
	pid_t *n = realloc(e->expected, (e->nexpected + 1) * sizeof(*n));

	if (!n)
		return;
	e->expected = n;
	e->expected[e->nexpected++] = pid;
}

static void scan_one(void *ctx, pid_t pid, const char *shm_name, bool control)
{
	struct rtc_engine *e = ctx;
	struct eproc *p;

	(void)shm_name;
	if (!control || pid == e->o.self)
		return;
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return; /* leftovers of a dead process: `ringtrace clean` */
	p = registered(e, pid);
	if (!p)
		rtc_engine_attach(e, pid);
	else if (p->refused && mono_ns() >= p->retry_ns)
		attach_proc(e, p, true); /* e.g. another consumer held it: try again, quietly */
}

/* -a: attach to every traced process of ours not seen yet. */
static void scan_all(struct rtc_engine *e)
{
	rtc_producer_scan(scan_one, e);
}

static void check_expected(struct rtc_engine *e)
{
	for (size_t i = 0; i < e->nexpected;) {
		char path[128];

		snprintf(path, sizeof(path), "/dev/shm/" RT_SHM_PREFIX ".%u.%u", (unsigned)getuid(), (unsigned)e->expected[i]);
		if (access(path, F_OK) == 0 && rtc_engine_attach(e, e->expected[i]) != -RT_EBADMAGIC) {
			e->expected[i] = e->expected[--e->nexpected];
			continue;
		}
		if (kill(e->expected[i], 0) != 0 && errno == ESRCH) {
			e->expected[i] = e->expected[--e->nexpected]; /* exited before tracing anything */
			continue;
		}
		i++;
	}
}

/* ---- queues and merge ---- */

static struct rtc_event *enqueue(struct ethread *t)
{
	struct rtc_event *ev;

	if (t->qlen == t->qcap) {
		/* realloc() of a large block moves pages (mremap) instead of copying them and faulting
		 * in fresh ones; then only the wrapped part of the ring is moved up. */
		size_t old = t->qcap, cap = old ? old * 2 : 4096;
		struct rtc_event *n = realloc(t->q, cap * sizeof(*n));

		if (!n)
			return NULL;
		if (t->qhead + t->qlen > old)
			memcpy(n + old, n, (t->qhead + t->qlen - old) * sizeof(*n));
		t->q = n;
		t->qcap = cap;
	}
	/* qcap is a power of two. */
	ev = &t->q[(t->qhead + t->qlen) & (t->qcap - 1)];
	t->qlen++;
	return ev;
}

static bool before(struct rtc_engine *e, uint32_t a, uint32_t b)
{
	const struct ethread *x = &e->threads[a], *y = &e->threads[b];
	const struct rtc_event *ex = &x->q[x->qhead], *ey = &y->q[y->qhead];

	if (ex->ts != ey->ts)
		return ex->ts < ey->ts;
	/* Deterministic ties: process index, then thread index, then arrival. */
	if (x->proc != y->proc)
		return x->proc < y->proc;
	return a < b;
}

static void heap_push(struct rtc_engine *e, uint32_t t)
{
	size_t i;

	if (e->heap_len == e->heap_cap) {
		size_t cap = e->heap_cap ? e->heap_cap * 2 : 64;
		uint32_t *n = realloc(e->heap, cap * sizeof(*n));

		if (!n)
			return;
		e->heap = n;
		e->heap_cap = cap;
	}
	i = e->heap_len++;
	e->heap[i] = t;
	while (i > 0 && before(e, e->heap[i], e->heap[(i - 1) / 2])) {
		uint32_t tmp = e->heap[i];

		e->heap[i] = e->heap[(i - 1) / 2];
		e->heap[(i - 1) / 2] = tmp;
		i = (i - 1) / 2;
	}
}

static uint32_t heap_pop(struct rtc_engine *e)
{
	uint32_t top = e->heap[0];
	size_t i = 0;

	e->heap[0] = e->heap[--e->heap_len];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < e->heap_len && before(e, e->heap[l], e->heap[m]))
			m = l;
		if (r < e->heap_len && before(e, e->heap[r], e->heap[m]))
			m = r;
		if (m == i)
			break;
		uint32_t tmp = e->heap[i];
		e->heap[i] = e->heap[m];
		e->heap[m] = tmp;
		i = m;
	}
	return top;
}

/* Emit every queued event with ts <= watermark, in timestamp order. */
static void merge(struct rtc_engine *e, uint64_t watermark)
{
	e->heap_len = 0;
	for (uint32_t i = 0; i < e->nthreads; i++)
		if (e->threads[i].qlen)
			heap_push(e, i);
	while (e->heap_len) {
		uint32_t ti = e->heap[0];
		struct ethread *t = &e->threads[ti];
		struct rtc_event *ev = &t->q[t->qhead];

		if (ev->ts > watermark)
			break;
		heap_pop(e);
		if (ev->ts < e->emitted_ts)
			e->late++; /* committed after the watermark passed it: still emitted, in thread order */
		else
			e->emitted_ts = ev->ts;
		rtc_rebuild_event(e->rb, ev);
		free(ev->str);
		free(ev->stack);
		t->qhead = (t->qhead + 1) & (t->qcap - 1);
		t->qlen--;
		if (t->qlen)
			heap_push(e, ti);
	}
}

/* ---- decoding ---- */

static void decode_chunk(struct rtc_engine *e, uint32_t ti, struct eproc *p, const uint8_t *data, size_t len,
			 uint64_t base_raw, uint64_t lost_before, uint64_t lost_first_raw, uint64_t *records)
{
	struct ethread *t = &e->threads[ti];
	struct rtc_record rec;
	int ret;

	if (lost_before) {
		struct rtc_event *ev = enqueue(t);

		if (ev) {
			memset(ev, 0, sizeof(*ev));
			ev->ts = rtc_clockmap_ns(&p->clock, lost_first_raw);
			if (ev->ts < t->last_ts)
				ev->ts = t->last_ts;
			ev->kind = RTC_EV_GAP;
			ev->a = lost_before;
			ev->thread = ti;
			ev->order = t->order++;
		}
	}
	rtc_decoder_reset(&e->dec, data, len, base_raw);
	while ((ret = rtc_decoder_next(&e->dec, &rec)) > 0) {
		struct rtc_event *ev = enqueue(t);

		if (!ev)
			break;
		ev->ts = rtc_clockmap_ns(&p->clock, rec.ts);
		/* Per thread, time never goes back on our timeline (calibration updates). */
		if (ev->ts < t->last_ts)
			ev->ts = t->last_ts;
		t->last_ts = ev->ts;
		ev->order = t->order++;
		ev->thread = ti;
		ev->kind = rec.kind;
		ev->a = rec.a;
		ev->b = rec.b;
		ev->c = rec.c;
		ev->d = rec.d;
		ev->str = NULL;
		ev->str_len = 0;
		ev->stack = NULL;
		ev->stack_len = 0;
		if (rec.kind == RT_REC_LOSS)
			ev->b = rec.b ? rtc_clockmap_ns(&p->clock, rec.b) : ev->ts;
		if (rec.str) {
			ev->str = malloc(rec.str_len + 1);
			if (ev->str) {
				memcpy(ev->str, rec.str, rec.str_len);
				ev->str[rec.str_len] = 0;
				ev->str_len = rec.str_len;
			}
		}
		if (rec.kind == RT_REC_STACK && rec.stack_len) {
			ev->stack = malloc(rec.stack_len * sizeof(*ev->stack));
			if (ev->stack) {
				for (uint32_t k = 0; k < rec.stack_len; k++) {
					ev->stack[k] = rec.stack[k];
					ev->stack[k].begin_ts =
						rec.stack[k].begin_ts ? rtc_clockmap_ns(&p->clock, rec.stack[k].begin_ts) : 0;
				}
				ev->stack_len = rec.stack_len;
			}
		}
	}
	if (ret < 0)
		say(e, "pid %d thread %" PRIu64 ": malformed record, rest of its chunk skipped", (int)p->pid,
		    t->thread_number);
	*records = e->dec.records;
	t->raw_ts = e->dec.ts;
	atomic_fetch_add_explicit(&e->status_records, e->dec.records, memory_order_relaxed);
}

/* ---- live draining ---- */

static void open_threads(struct rtc_engine *e, struct eproc *p)
{
	struct rtc_thread_info info[256];
	size_t n = rtc_producer_threads(&p->p, info, 256);

	for (size_t i = 0; i < n; i++) {
		uint32_t s = info[i].slot;
		struct rtc_thread_meta meta;
		struct ethread *t;
		char name[128];
		int ti;

		if (s >= MAX_SLOTS || info[i].state == RT_SHM_THREAD_DRAINED)
			continue;
		if (p->slot_thread[s] >= 0 && p->slot_number[s] == info[i].thread_number)
			continue;
		if (e->o.self == p->pid && info[i].tid == (uint32_t)gettid())
			continue; /* the in-process engine's own thread */
		ti = new_thread(e, p->index, info[i].thread_number, info[i].tid);
		if (ti < 0)
			return;
		t = &e->threads[ti];
		rtc_producer_ring_name(&p->p, info[i].thread_number, name, sizeof(name));
		if (rtc_ring_reader_open(&t->r, name, (uint32_t)p->pid) < 0) {
			/* Exited and unlinked meanwhile, or refused: nothing to read. */
			t->finished = true;
			t->notified = true;
			continue;
		}
		t->open = true;
		t->slot = s;
		p->slot_thread[s] = ti;
		p->slot_number[s] = info[i].thread_number;
		meta = (struct rtc_thread_meta){ .pid = (uint32_t)p->pid, .tid = info[i].tid,
						 .thread_number = info[i].thread_number, .proc = p->index };
		meta.attach_ts = p->attach_ns;
		rtc_rebuild_thread(e->rb, (uint32_t)ti, &meta, info[i].name);
		if (e->raw)
			rtc_raw_write_thread(e->raw, p->index, (uint32_t)ti, info[i].thread_number, info[i].tid, info[i].name,
					     meta.attach_ts);
	}
}

struct drain_ctx {
	struct rtc_engine *e;
	struct eproc *p;
	uint64_t now;
};

static void drain_proc(void *arg)
{
	struct drain_ctx *d = arg;
	struct rtc_engine *e = d->e;
	struct eproc *p = d->p;
	bool exited = rtc_producer_exited(&p->p);

	open_threads(e, p);
	for (uint32_t ti = 0; ti < e->nthreads; ti++) {
		struct ethread *t = &e->threads[ti];
		struct rtc_ring_chunk c;
		uint64_t records;
		int ret;
		bool drained = false;

		size_t budget = (size_t)t->r.data_size; /* per poll: a producer faster than us must not
							* keep us in one ring while nothing is merged */

		if (t->proc != p->index || !t->open)
			continue;
		t->backlog = false;
		while ((ret = rtc_ring_reader_next(&t->r, &c)) > 0) {
			if (e->raw)
				rtc_raw_write_chunk(e->raw, ti, c.base_ts, c.lost_before, c.lost_first_ts, c.data, c.len);
			e->bytes += c.len;
			atomic_fetch_add_explicit(&e->status_bytes, c.len, memory_order_relaxed);
			decode_chunk(e, ti, p, c.data, c.len, c.base_ts, c.lost_before, c.lost_first_ts, &records);
			rtc_ring_reader_consumed(&t->r, records, t->raw_ts);
			if (c.len >= budget) {
				t->backlog = true;
				break;
			}
			budget -= c.len;
		}
		if (ret < 0) {
			say(e, "pid %d thread %" PRIu64 ": %s; its records so far are kept", (int)p->pid, t->thread_number,
			    rt_strerror(ret));
			drained = true;
		}
		/* Finished thread read to the end, or its process is gone and nothing more comes. */
		if (drained || rtc_ring_reader_done(&t->r) ||
		    (exited && atomic_load_explicit(&t->r.hdr->commit_pos, memory_order_acquire) <= t->r.pos)) {
			/* Read to the end: hand the slot back (and, if the process was killed, remove a
			 * ring nobody else will). */
			if (rtc_ring_reader_done(&t->r) || exited)
				rtc_producer_thread_drained(&p->p, t->slot, t->thread_number, exited);
			atomic_fetch_add_explicit(&e->status_lost,
						  atomic_load_explicit(&t->r.hdr->dropped, memory_order_relaxed),
						  memory_order_relaxed);
			rtc_ring_reader_close(&t->r);
			t->open = false;
			t->finished = true;
			p->slot_thread[t->slot] = -1;
		}
	}
	if (e->raw) {
		/* Names after the chunks: every name a record refers to was published before it. */
		uint32_t count = atomic_load_explicit(&p->p.ctl->names_count, memory_order_acquire);

		if (count > p->p.names_capacity)
			count = p->p.names_capacity;
		for (; p->names_written < count; p->names_written++) {
			const char *s = rtc_producer_name(&p->p, p->names_written);

			if (strcmp(s, "<unknown>") == 0 && p->names_written >= 2)
				break; /* not published yet: next time */
			rtc_raw_write_name(e->raw, p->index, p->names_written, s);
		}
	}
	if (exited) {
		bool open = false;

		for (uint32_t ti = 0; ti < e->nthreads; ti++)
			if (e->threads[ti].proc == p->index && e->threads[ti].open)
				open = true;
		p->dead_seen = true;
		if (!open)
			p->gone = true;
	}
}

static void finish_threads(struct rtc_engine *e)
{
	for (uint32_t ti = 0; ti < e->nthreads; ti++) {
		struct ethread *t = &e->threads[ti];

		if (t->finished && !t->notified && t->qlen == 0) {
			rtc_rebuild_thread_done(e->rb, ti, t->last_ts);
			if (e->raw)
				rtc_raw_write_thread_done(e->raw, ti, t->last_ts);
			t->notified = true;
		}
	}
}

static void retire_proc(struct rtc_engine *e, struct eproc *p)
{
	/* The helper thread may be heartbeating it: unpublish, wait for readers, then unlink. */
	cds_lfht_del(e->registry, &p->node);
	urcu_memb_synchronize_rcu();
	rtc_producer_detach(&p->p);
	/* It exited leaving its segments to us (or was killed): nobody else will remove them. */
	if (atomic_load_explicit(&p->p.ctl->exited, memory_order_acquire) || (kill(p->pid, 0) != 0 && errno == ESRCH))
		shm_unlink(p->p.shm_name);
}

static uint64_t poll_once(struct rtc_engine *e)
{
	uint64_t now = mono_ns(), watermark;

	if (e->o.all)
		scan_all(e);
	if (e->nexpected)
		check_expected(e);
	for (size_t i = 0; i < e->nprocs; i++) {
		struct eproc *p = e->procs[i];
		struct drain_ctx d = { e, p, now };

		if (!p->live || p->gone)
			continue;
		rtc_clockmap_sample(&p->clock);
		if (rtc_safe_call(drain_proc, &d) < 0) {
			say(e, "pid %d: shared memory vanished under us (truncated); its records so far are kept",
			    (int)p->pid);
			for (uint32_t ti = 0; ti < e->nthreads; ti++)
				if (e->threads[ti].proc == p->index) {
					e->threads[ti].open = false;
					e->threads[ti].finished = true;
				}
			p->gone = true;
		}
		if (p->gone)
			retire_proc(e, p);
	}
	/* Every ring was drained after `now` was taken, and a thread we have not seen registered
	 * after our directory scan, so no record still to come is older than `now` minus the time a
	 * producer may sit between taking a timestamp and committing (the margin). */
	watermark = now > WATERMARK_MARGIN_NS ? now - WATERMARK_MARGIN_NS : 0;
	/* A ring we left unfinished may still hold anything after its last decoded record. */
	for (uint32_t ti = 0; ti < e->nthreads; ti++)
		if (e->threads[ti].backlog && !e->threads[ti].finished && e->threads[ti].last_ts < watermark)
			watermark = e->threads[ti].last_ts;
	merge(e, watermark);
	if (e->raw)
		rtc_raw_write_watermark(e->raw, watermark);
	finish_threads(e);
	return now;
}

/* ---- helper thread: leases and status ---- */

static void *helper(void *arg)
{
	struct rtc_engine *e = arg;
	uint64_t last = mono_ns(), last_records = 0;
	int tick = 0;

	urcu_memb_register_thread();
	while (!atomic_load(&e->helper_stop)) {
		struct cds_lfht_iter iter;
		struct eproc *p;

		urcu_memb_read_lock();
		cds_lfht_for_each_entry(e->registry, &iter, p, node)
			rtc_producer_heartbeat(&p->p);
		urcu_memb_read_unlock();
		if (e->o.status && ++tick % 10 == 0) {
			uint64_t now = mono_ns();
			uint64_t rec = atomic_load(&e->status_records);

			fprintf(stderr, "\r%-78s\rrecording: %.0f records/s, %.1f MB, %" PRIu64 " lost, %.1f s ",
				"", (double)(rec - last_records) * 1e9 / (double)(now - last),
				(double)atomic_load(&e->status_bytes) / 1e6, atomic_load(&e->status_lost),
				(double)(now - e->start_ns) / 1e9);
			fflush(stderr);
			last = now;
			last_records = rec;
		}
		usleep(50000);
	}
	urcu_memb_unregister_thread();
	return NULL;
}

static int open_outputs(struct rtc_engine *e, uint64_t origin)
{
	if (e->o.json_path && !e->json) {
		e->json = rtc_chrome_open(e->o.json_path, origin);
		if (!e->json) {
			say(e, "cannot write %s: %s", e->o.json_path, strerror(errno));
			return -errno;
		}
		rtc_rebuild_add_sink(e->rb, rtc_chrome_sink(e->json));
	}
	return 0;
}

static void lost_other(void *ctx, const struct rtc_thread_meta *m, uint64_t lost)
{
	char key[64];

	snprintf(key, sizeof(key), "lost.%u.%u", m->pid, m->tid);
	rtc_chrome_other_u64(ctx, key, lost);
}

static int close_outputs(struct rtc_engine *e, const char *clock)
{
	struct rtc_rebuild_counts c;
	char host[256] = "";
	int err = 0;

	rtc_rebuild_counts(e->rb, &c);
	if (e->json) {
		gethostname(host, sizeof(host) - 1);
		rtc_chrome_other(e->json, "host", host);
		rtc_chrome_other(e->json, "clock", clock);
		rtc_chrome_other(e->json, "tool", "ringtrace " RT_VERSION_STRING);
		rtc_chrome_other_u64(e->json, "origin_monotonic_ns", e->origin_ns);
		rtc_chrome_other_u64(e->json, "attach_us", e->start_ns > e->origin_ns ? (e->start_ns - e->origin_ns) / 1000 : 0);
		rtc_chrome_other_u64(e->json, "records", c.records);
		rtc_chrome_other_u64(e->json, "lost_records", c.lost);
		rtc_chrome_other_u64(e->json, "spans", c.spans);
		rtc_chrome_other_u64(e->json, "spans_incomplete", c.spans_incomplete);
		rtc_chrome_other_u64(e->json, "spans_repaired", c.spans_repaired);
		rtc_chrome_other_u64(e->json, "tasks", c.tasks);
		rtc_chrome_other_u64(e->json, "late_records", e->late);
		rtc_rebuild_each_loss(e->rb, lost_other, e->json);
		err = rtc_chrome_close(e->json);
		e->json = NULL;
		if (err < 0)
			say(e, "writing %s failed: %s", e->o.json_path, strerror(-err));
	}
	if (e->raw) {
		int rerr = rtc_raw_writer_close(e->raw);

		e->raw = NULL;
		if (rerr < 0) {
			say(e, "writing %s failed: %s", e->o.raw_path, strerror(-rerr));
			err = err ? err : rerr;
		}
	}
	return err;
}

int rtc_engine_run(struct rtc_engine *e, atomic_int *stop)
{
	uint64_t deadline = e->o.duration > 0 ? e->start_ns + (uint64_t)(e->o.duration * 1e9) : UINT64_MAX;
	const char *clock = "monotonic";
	int err;

	urcu_memb_register_thread();
	e->rcu_registered = true;
	if (!e->origin_ns)
		e->origin_ns = e->start_ns;
	err = open_outputs(e, e->origin_ns);
	if (err < 0)
		return err;
	if (e->o.raw_path) {
		e->raw = rtc_raw_writer_open(e->o.raw_path, e->origin_ns);
		if (!e->raw) {
			say(e, "cannot write %s: %s", e->o.raw_path, strerror(errno));
			return -errno;
		}
		/* Processes attached before run() were announced before the file existed. */
		for (size_t i = 0; i < e->nprocs; i++) {
			struct eproc *p = e->procs[i];
			struct rt_shm_calib_point pts[RT_SHM_CALIB_MAX];
			size_t n;

			if (!p->live || p->gone)
				continue;
			rtc_raw_write_process(e->raw, p->index, (uint32_t)p->pid, p->name, p->p.clock, p->p.mode,
					      p->p.start_real_ns, p->p.start_mono_ns, p->p.parent_pid);
			n = rtc_producer_calibration(&p->p, pts, RT_SHM_CALIB_MAX);
			for (size_t k = 0; k < n; k++)
				rtc_raw_write_calib(e->raw, p->index, &pts[k]);
		}
	}
	e->helper_running = pthread_create(&e->helper, NULL, helper, e) == 0;
	for (;;) {
		uint64_t now = poll_once(e);
		bool any = e->nexpected > 0 || e->o.all;

		for (size_t i = 0; i < e->nprocs; i++)
			if (e->procs[i]->live && !e->procs[i]->gone)
				any = true;
		if ((stop && atomic_load_explicit(stop, memory_order_relaxed)) || now >= deadline || (e->o.until_exit && !any))
			break;
		{
			bool backlog = false;

			for (uint32_t ti = 0; ti < e->nthreads; ti++)
				backlog |= e->threads[ti].backlog && !e->threads[ti].finished;
			if (backlog)
				continue; /* behind: poll again at once */
		}
		if (e->raw && e->nprocs) {
			/* Our own calibration of the shared TSC, for the capture. */
			struct eproc *p = e->procs[0];

			if (p->clock.n)
				rtc_raw_write_calib(e->raw, p->index, &p->clock.pts[p->clock.n - 1]);
		}
		usleep(e->o.poll_us);
	}
	/* Final drain: everything committed until now, then close everything at the end time. */
	for (int i = 0; i < 1000; i++) {
		bool backlog = false;

		poll_once(e);
		for (uint32_t ti = 0; ti < e->nthreads; ti++)
			backlog |= e->threads[ti].backlog && !e->threads[ti].finished;
		if (!backlog)
			break;
	}
	e->end_ns = mono_ns();
	merge(e, UINT64_MAX);
	finish_threads(e);
	for (size_t i = 0; i < e->nprocs; i++)
		if (e->procs[i]->live && e->procs[i]->p.clock == RT_SHM_CLOCK_TSC)
			clock = "tsc";
	rtc_rebuild_finish(e->rb, e->end_ns);
	if (e->raw)
		rtc_raw_write_end(e->raw, e->end_ns);
	if (e->helper_running) {
		atomic_store(&e->helper_stop, 1);
		pthread_join(e->helper, NULL);
		e->helper_running = false;
		if (e->o.status)
			fputc('\n', stderr);
	}
	for (size_t i = 0; i < e->nprocs; i++)
		if (e->procs[i]->live && !e->procs[i]->gone)
			rtc_producer_detach(&e->procs[i]->p);
	/* Unregistered by the thread that registered (destroy may run elsewhere). */
	urcu_memb_unregister_thread();
	e->rcu_registered = false;
	return close_outputs(e, clock);
}

/* ---- replay ---- */

struct replay {
	struct rtc_engine *e;
	int32_t *thread_map; /* capture thread index -> engine thread index */
	size_t map_cap;
};

static int map_thread(struct replay *r, uint32_t idx)
{
	return idx < r->map_cap ? r->thread_map[idx] : -1;
}

static void on_process(void *ctx, const struct rtc_raw_process *rp)
{
	struct replay *r = ctx;
	struct rtc_engine *e = r->e;
	struct eproc *p;

	while (e->nprocs <= rp->index) {
		p = new_proc(e, 0);
		if (!p)
			return;
		p->gone = true;
	}
	p = e->procs[rp->index];
	p->pid = (pid_t)rp->pid;
	p->gone = false;
	snprintf(p->name, sizeof(p->name), "%s", rp->name);
	rtc_clockmap_init(&p->clock, rp->clock);
	rtc_rebuild_process(e->rb, p->index, rp->pid, p->name);
	if (e->raw)
		rtc_raw_write_process(e->raw, rp->index, rp->pid, p->name, rp->clock, rp->mode, rp->start_real_ns,
				      rp->start_mono_ns, rp->parent_pid);
}

static void on_name(void *ctx, uint32_t proc, uint32_t id, const char *s, size_t len)
{
	struct replay *r = ctx;
	struct eproc *p;

	if (proc >= r->e->nprocs || id > (1u << 24))
		return;
	p = r->e->procs[proc];
	if (id >= p->names_cap) {
		uint32_t cap = p->names_cap ? p->names_cap : 64;
		char **n;

		while (cap <= id)
			cap *= 2;
		n = realloc(p->names, cap * sizeof(*n));
		if (!n)
			return;
		memset(n + p->names_cap, 0, (cap - p->names_cap) * sizeof(*n));
		p->names = n;
		p->names_cap = cap;
	}
	free(p->names[id]);
	p->names[id] = strndup(s, len);
	if (r->e->raw && p->names[id])
		rtc_raw_write_name(r->e->raw, proc, id, p->names[id]);
}

static void on_calib(void *ctx, uint32_t proc, const struct rt_shm_calib_point *pt)
{
	struct replay *r = ctx;

	if (proc < r->e->nprocs)
		rtc_clockmap_add(&r->e->procs[proc]->clock, pt, 1);
	if (r->e->raw)
		rtc_raw_write_calib(r->e->raw, proc, pt);
}

static void on_thread(void *ctx, const struct rtc_raw_thread *rt)
{
	struct replay *r = ctx;
	struct rtc_engine *e = r->e;
	struct rtc_thread_meta meta;
	int ti;

	if (rt->proc >= e->nprocs || rt->index > (1u << 20))
		return;
	if (rt->index >= r->map_cap) {
		size_t cap = r->map_cap ? r->map_cap : 64;
		int32_t *n;

		while (cap <= rt->index)
			cap *= 2;
		n = realloc(r->thread_map, cap * sizeof(*n));
		if (!n)
			return;
		for (size_t i = r->map_cap; i < cap; i++)
			n[i] = -1;
		r->thread_map = n;
		r->map_cap = cap;
	}
	ti = new_thread(e, rt->proc, rt->thread_number, rt->tid);
	if (ti < 0)
		return;
	r->thread_map[rt->index] = ti;
	if (e->raw)
		rtc_raw_write_thread(e->raw, rt->proc, (uint32_t)ti, rt->thread_number, rt->tid, rt->name, rt->attach_ts);
	meta = (struct rtc_thread_meta){ .pid = e->procs[rt->proc]->pid, .tid = rt->tid,
					 .thread_number = rt->thread_number, .proc = rt->proc,
					 .attach_ts = rt->attach_ts };
	rtc_rebuild_thread(e->rb, (uint32_t)ti, &meta, rt->name);
}

static void on_chunk(void *ctx, uint32_t thread, uint64_t base_ts, uint64_t lost_before, uint64_t lost_first_ts,
		     const uint8_t *data, size_t len)
{
	struct replay *r = ctx;
	int ti = map_thread(r, thread);
	uint64_t records;

	if (ti < 0)
		return;
	r->e->bytes += len;
	if (r->e->raw)
		rtc_raw_write_chunk(r->e->raw, (uint32_t)ti, base_ts, lost_before, lost_first_ts, data, len);
	if (!r->e->json)
		return; /* a raw re-capture only copies */
	decode_chunk(r->e, (uint32_t)ti, r->e->procs[r->e->threads[ti].proc], data, len, base_ts, lost_before,
		     lost_first_ts, &records);
}

static void on_watermark(void *ctx, uint64_t watermark)
{
	struct replay *r = ctx;

	merge(r->e, watermark);
	finish_threads(r->e);
	if (r->e->raw)
		rtc_raw_write_watermark(r->e->raw, watermark);
}

static void on_thread_done(void *ctx, uint32_t thread, uint64_t ts)
{
	struct replay *r = ctx;
	int ti = map_thread(r, thread);

	if (ti >= 0)
		r->e->threads[ti].finished = true;
	if (ti >= 0 && r->e->raw)
		rtc_raw_write_thread_done(r->e->raw, (uint32_t)ti, ts);
}

static void on_end(void *ctx, uint64_t end_ns)
{
	struct replay *r = ctx;

	r->e->end_ns = end_ns;
	if (r->e->raw)
		rtc_raw_write_end(r->e->raw, end_ns);
}

int rtc_engine_convert(struct rtc_engine *e, const char *raw_path)
{
	struct replay r = { e, NULL, 0 };
	struct rtc_raw_callbacks cb = { .process = on_process, .name = on_name, .calib = on_calib,
					.thread = on_thread, .chunk = on_chunk, .watermark = on_watermark,
					.thread_done = on_thread_done, .end = on_end, .ctx = &r };
	uint64_t origin = 0;
	int err;

	err = rtc_raw_read_header(raw_path, &origin);
	if (err < 0) {
		say(e, "%s: %s", raw_path, err == -RT_EBADMAGIC ? "not a ringtrace raw capture" : rt_strerror(err));
		return err;
	}
	e->origin_ns = origin;
	err = open_outputs(e, origin);
	if (err < 0)
		return err;
	if (e->o.raw_path) {
		e->raw = rtc_raw_writer_open(e->o.raw_path, origin);
		if (!e->raw) {
			say(e, "cannot write %s: %s", e->o.raw_path, strerror(errno));
			return -errno;
		}
	}
	err = rtc_raw_read(raw_path, &cb);
	if (err < 0)
		say(e, "%s: %s; what was read is converted", raw_path,
		    err == -RT_ECORRUPT ? "corrupt or truncated capture" : rt_strerror(err));
	merge(e, UINT64_MAX);
	finish_threads(e);
	rtc_rebuild_finish(e->rb, e->end_ns ? e->end_ns : e->emitted_ts);
	free(r.thread_map);
	{
		int cerr = close_outputs(e, "capture");

		return err < 0 ? err : cerr;
	}
}

/* ---- reporting ---- */

void rtc_engine_summary(const struct rtc_engine *e, struct rtc_engine_summary *s)
{
	memset(s, 0, sizeof(*s));
	rtc_rebuild_counts(e->rb, &s->rb);
	for (size_t i = 0; i < e->nprocs; i++)
		if (!e->procs[i]->gone || e->procs[i]->live)
			s->processes++;
	s->threads = s->rb.threads;
	s->bytes = e->bytes;
	s->late = e->late;
	s->seconds = (double)((e->end_ns ? e->end_ns : mono_ns()) - e->start_ns) / 1e9;
}

void rtc_engine_report(const struct rtc_engine *e, FILE *f)
{
	struct rtc_engine_summary s;

	rtc_engine_summary(e, &s);
	fprintf(f,
		"recorded %.1f s: %" PRIu64 " records (%.1f MB), %" PRIu64 " spans (%" PRIu64 " incomplete, %" PRIu64
		" repaired, %" PRIu64 " begun before attach), %" PRIu64 " tasks, %" PRIu64 " logs, %" PRIu64
		" threads in %" PRIu64 " process(es), %" PRIu64 " records lost, %" PRIu64 " misuse reports\n\n",
		s.seconds, s.rb.records, (double)s.bytes / 1e6, s.rb.spans, s.rb.spans_incomplete, s.rb.spans_repaired,
		s.rb.spans_before_attach + s.rb.spans_begin_unknown, s.rb.tasks, s.rb.logs, s.threads, s.processes,
		s.rb.lost, s.rb.misuse);
	rtc_stats_print(e->stats, f, 20);
}
