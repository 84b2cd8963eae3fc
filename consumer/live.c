/* SPDX-License-Identifier: MIT */
/* Live draining (docs/consumer.md "Live recording"): attach and lease, the RCU-protected process
 * registry, ring draining with validation and SIGBUS guards, and the stream it produces. */
#include "live.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>

#include <ringtrace/ringtrace.h>

#include "clockmap.h"
#include "producer.h"
#include "ring-reader.h"
#include "safe-copy.h"
#include "error.h"
#include "segments.h"

#define MAX_SLOTS 4096
/* A record whose timestamp is older than this when we find its ring empty is assumed committed:
 * the watermark trails the present by it (bounds live memory, orders late commits correctly). */
#define WATERMARK_MARGIN_NS 20000000ull
/* Our own TSC calibration points: often enough to follow drift, rarely enough to cost nothing. */
#define SAMPLE_INTERVAL_NS 10000000ull

struct lproc {
	struct cds_lfht_node node; /* in l->registry, keyed by pid */
	uint32_t index;            /* the process index of the stream */
	pid_t pid;
	bool attached;  /* the producer handle is open and attached */
	bool gone;      /* exited and drained, or refused */
	bool refused;   /* attach failed; -a retries it after retry_ns */
	uint64_t retry_ns;
	uint64_t sampled_ns;
	struct rtc_producer p;
	struct rtc_clockmap clock;
	uint64_t attach_ns;
	bool from_start; /* launched by us: recorded from its first record, nothing is "before attach" */
	uint32_t names_sent;
	int32_t slot_thread[MAX_SLOTS]; /* directory slot -> thread index, -1 none */
	uint64_t slot_number[MAX_SLOTS];
	char name[RT_SHM_PROCESS_NAME_LEN + 1];
};

struct lthread {
	uint32_t proc;
	uint32_t slot;
	uint64_t thread_number;
	bool open;    /* ring reader open */
	bool backlog; /* the last poll stopped before the end of its ring */
	struct rtc_ring_reader r;
	uint64_t records_seen; /* of r.records, already counted in l->records */
	uint64_t last_ts; /* CLOCK_MONOTONIC ns: no record still to read from it is older */
	uint64_t lost;    /* dropped by the producer plus overwritten before we read, so far */
};

struct rtc_live {
	struct rtc_live_options o;
	const struct rtc_stream_ops *out;
	void *out_ctx;
	struct cds_lfht *registry; /* pid -> lproc, read by the helper thread under RCU */
	struct lproc **procs;
	size_t nprocs, procs_cap;
	uint32_t next_index; /* stream process indices handed out */
	struct lthread *threads;
	size_t nthreads, threads_cap;
	pid_t *expected;
	size_t nexpected;
	uint64_t origin_ns;
	uint64_t start_ns;
	uint64_t lost_closed; /* of rings already closed */
	bool tsc;
	/* Written by the draining thread, read by the helper for the status line (relaxed:
	 * gauges, they order nothing). */
	_Atomic uint64_t records, bytes, lost;
	_Atomic uint64_t polled_ns; /* end of the last poll (relaxed: a hint for the processing thread) */
	pthread_t helper;
	_Atomic int helper_stop;
	bool helper_running;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void say(struct rtc_live *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct rtc_live *l, const char *fmt, ...)
{
	va_list ap;

	fputs("ringtrace: ", l->o.log);
	va_start(ap, fmt);
	vfprintf(l->o.log, fmt, ap);
	va_end(ap);
	fputc('\n', l->o.log);
}

struct rtc_live *rtc_live_create(const struct rtc_live_options *o, const struct rtc_stream_ops *out, void *out_ctx)
{
	struct rtc_live *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->o = *o;
	if (!l->o.log)
		l->o.log = stderr;
	l->out = out;
	l->out_ctx = out_ctx;
	l->start_ns = mono_ns();
	l->registry = cds_lfht_new_flavor(16, 16, 0, CDS_LFHT_AUTO_RESIZE, &urcu_memb_flavor, NULL);
	if (!l->registry || rtc_safe_copy_init() < 0) {
		if (l->registry)
			cds_lfht_destroy(l->registry, NULL);
		free(l);
		return NULL;
	}
	return l;
}

static void stop_helper(struct rtc_live *l)
{
	if (!l->helper_running)
		return;
	atomic_store(&l->helper_stop, 1);
	pthread_join(l->helper, NULL);
	l->helper_running = false;
	if (l->o.status)
		fputc('\n', stderr);
}

void rtc_live_destroy(struct rtc_live *l)
{
	if (!l)
		return;
	stop_helper(l);
	for (size_t i = 0; i < l->nthreads; i++)
		if (l->threads[i].open)
			rtc_ring_reader_close(&l->threads[i].r);
	free(l->threads);
	for (size_t i = 0; i < l->nprocs; i++) {
		struct lproc *p = l->procs[i];

		if (p->attached) {
			cds_lfht_del(l->registry, &p->node);
			rtc_producer_detach(&p->p);
			rtc_producer_close(&p->p);
		}
		rtc_clockmap_fini(&p->clock);
		free(p);
	}
	free(l->procs);
	cds_lfht_destroy(l->registry, NULL);
	free(l->expected);
	free(l);
}

/* ---- processes and threads ---- */

static struct lproc *new_proc(struct rtc_live *l, pid_t pid)
{
	struct lproc *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (l->nprocs == l->procs_cap) {
		size_t cap = l->procs_cap ? l->procs_cap * 2 : 8;
		struct lproc **n = realloc(l->procs, cap * sizeof(*n));

		if (!n) {
			free(p);
			return NULL;
		}
		l->procs = n;
		l->procs_cap = cap;
	}
	p->index = UINT32_MAX; /* the stream's index once attached: dense over attached processes */
	p->pid = pid;
	for (size_t i = 0; i < MAX_SLOTS; i++)
		p->slot_thread[i] = -1;
	l->procs[l->nprocs++] = p;
	return p;
}

static int new_thread(struct rtc_live *l, uint32_t proc, uint64_t thread_number)
{
	struct lthread *t;

	if (l->nthreads == l->threads_cap) {
		size_t cap = l->threads_cap ? l->threads_cap * 2 : 64;
		struct lthread *n = realloc(l->threads, cap * sizeof(*n));

		if (!n)
			return -1;
		l->threads = n;
		l->threads_cap = cap;
	}
	t = &l->threads[l->nthreads];
	memset(t, 0, sizeof(*t));
	t->proc = proc;
	t->thread_number = thread_number;
	return (int)l->nthreads++;
}

static struct lproc *registered(struct rtc_live *l, pid_t pid)
{
	for (size_t i = 0; i < l->nprocs; i++)
		if (l->procs[i]->pid == pid)
			return l->procs[i];
	return NULL;
}

static void say_refused(struct rtc_live *l, pid_t pid, int err)
{
	say(l, "pid %d: %s", (int)pid, err == -ENOENT ? "not a traced process (no ringtrace segment)" : rtc_strerror(err));
}

static int attach_proc(struct rtc_live *l, struct lproc *p, bool quiet)
{
	struct rt_shm_calib_point pts[RT_SHM_CALIB_MAX];
	struct rtc_stream_process msg;
	pid_t pid = p->pid;
	size_t n;
	int err;

	err = rtc_producer_open(&p->p, pid, getuid());
	if (err == 0) {
		err = rtc_producer_attach(&p->p);
		if (err < 0)
			rtc_producer_close(&p->p);
	}
	if (err < 0) {
		if (!quiet)
			say_refused(l, pid, err);
		p->gone = true;
		p->refused = true;
		p->retry_ns = mono_ns() + 1000000000ull;
		return err;
	}
	p->attached = true;
	p->gone = false;
	if (p->index == UINT32_MAX)
		p->index = l->next_index++;
	p->refused = false;
	p->names_sent = 0;
	rtc_clockmap_fini(&p->clock); /* attached again: its clock starts afresh */
	rtc_clockmap_init(&p->clock, p->p.clock);
	n = rtc_producer_calibration(&p->p, pts, RT_SHM_CALIB_MAX);
	rtc_clockmap_add(&p->clock, pts, n);
	/* A process we launched records from its start: its spans began after "attach". */
	p->attach_ns = p->from_start && p->p.start_mono_ns ? p->p.start_mono_ns : mono_ns();
	snprintf(p->name, sizeof(p->name), "%s", p->p.process_name);
	if (!l->origin_ns || (p->p.start_mono_ns && p->p.start_mono_ns < l->origin_ns))
		l->origin_ns = p->p.start_mono_ns ? p->p.start_mono_ns : p->attach_ns;
	l->tsc |= p->p.clock == RT_SHM_CLOCK_TSC;
	/* Visible to the helper thread (heartbeats) from now on. */
	cds_lfht_add(l->registry, (unsigned long)pid, &p->node);
	msg = (struct rtc_stream_process){ .index = p->index, .pid = (uint32_t)pid, .clock = p->p.clock,
					.mode = p->p.mode, .parent_pid = p->p.parent_pid, .name = p->name,
					.start_real_ns = p->p.start_real_ns, .start_mono_ns = p->p.start_mono_ns };
	l->out->process(l->out_ctx, &msg);
	for (size_t i = 0; i < n; i++)
		l->out->calib(l->out_ctx, p->index, &pts[i]);
	/* The stream's reader maps timestamps with exactly the points we map them with. */
	if (rtc_clockmap_sample(&p->clock, &pts[0]))
		l->out->calib(l->out_ctx, p->index, &pts[0]);
	p->sampled_ns = mono_ns();
	return 0;
}

int rtc_live_attach(struct rtc_live *l, pid_t pid)
{
	struct lproc *p = registered(l, pid);

	if (p)
		return p->refused ? -EBUSY : 0;
	p = new_proc(l, pid);
	if (!p)
		return -ENOMEM;
	return attach_proc(l, p, false);
}

void rtc_live_expect(struct rtc_live *l, pid_t pid)
{
	pid_t *n = realloc(l->expected, (l->nexpected + 1) * sizeof(*n));

	if (!n)
		return;
	l->expected = n;
	l->expected[l->nexpected++] = pid;
}

uint64_t rtc_live_origin(const struct rtc_live *l)
{
	return l->origin_ns;
}

static void scan_one(void *ctx, pid_t pid, const char *shm_name, bool control)
{
	struct rtc_live *l = ctx;
	struct lproc *p;

	(void)shm_name;
	if (!control || pid == l->o.self)
		return;
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return; /* leftovers of a dead process: `ringtrace clean` */
	p = registered(l, pid);
	if (!p)
		rtc_live_attach(l, pid);
	else if (p->refused && mono_ns() >= p->retry_ns)
		attach_proc(l, p, true); /* e.g. another consumer held it: try again, quietly */
}

static void check_expected(struct rtc_live *l)
{
	for (size_t i = 0; i < l->nexpected;) {
		pid_t pid = l->expected[i];
		char path[128];

		snprintf(path, sizeof(path), "/dev/shm/%s.%u.%u", rtc_shm_prefix(), (unsigned)geteuid(), (unsigned)pid);
		if (access(path, F_OK) == 0) {
			struct lproc *p = registered(l, pid);
			int err;

			if (!p)
				p = new_proc(l, pid);
			if (p)
				p->from_start = true;
			/* A segment still being created has no magic yet: quietly try again next poll. */
			err = !p ? -ENOMEM : p->attached ? 0 : attach_proc(l, p, true);
			if (err != -RT_EBADMAGIC) {
				if (err < 0)
					say_refused(l, pid, err);
				l->expected[i] = l->expected[--l->nexpected];
				continue;
			}
		}
		if (kill(l->expected[i], 0) != 0 && errno == ESRCH) {
			l->expected[i] = l->expected[--l->nexpected]; /* exited before tracing anything */
			continue;
		}
		i++;
	}
}

/* ---- draining ---- */

static void open_threads(struct rtc_live *l, struct lproc *p)
{
	struct rtc_thread_info info[256];
	size_t n = rtc_producer_threads(&p->p, info, 256);

	for (size_t i = 0; i < n; i++) {
		uint32_t s = info[i].slot;
		struct rtc_stream_thread msg;
		struct lthread *t;
		char name[128];
		int ti;

		if (s >= MAX_SLOTS || info[i].state == RT_SHM_THREAD_DRAINED)
			continue;
		if (p->slot_thread[s] >= 0 && p->slot_number[s] == info[i].thread_number)
			continue;
		if (l->o.self == p->pid && info[i].tid == (uint32_t)gettid())
			continue; /* the in-process engine's own thread */
		ti = new_thread(l, p->index, info[i].thread_number);
		if (ti < 0)
			return;
		t = &l->threads[ti];
		rtc_producer_ring_name(&p->p, info[i].thread_number, name, sizeof(name));
		if (rtc_ring_reader_open(&t->r, name, (uint32_t)p->pid) < 0) {
			l->nthreads--; /* exited and unlinked meanwhile, or refused: nothing to read */
			continue;
		}
		t->open = true;
		t->slot = s;
		p->slot_thread[s] = ti;
		p->slot_number[s] = info[i].thread_number;
		msg = (struct rtc_stream_thread){ .proc = p->index, .index = (uint32_t)ti, .tid = info[i].tid,
					       .thread_number = info[i].thread_number, .attach_ts = p->attach_ns,
					       .name = info[i].name };
		l->out->thread(l->out_ctx, &msg);
	}
}

/* finished: the thread finished and all it committed was read (its final counters are valid);
 * hand_back: the slot goes back to the producer (dead: the ring is removed whatever its state). */
static void close_thread(struct rtc_live *l, struct lproc *p, uint32_t ti, bool finished, bool hand_back, bool dead)
{
	struct lthread *t = &l->threads[ti];
	uint64_t unreported = finished ? rtc_ring_reader_unreported(&t->r) : 0;

	if (hand_back)
		rtc_producer_thread_drained(&p->p, t->slot, t->thread_number, dead);
	l->lost_closed += t->lost;
	rtc_ring_reader_close(&t->r);
	t->open = false;
	p->slot_thread[t->slot] = -1;
	l->out->thread_done(l->out_ctx, ti, t->last_ts, unreported);
}

static void drain_thread(struct rtc_live *l, struct lproc *p, uint32_t ti, bool exited)
{
	struct lthread *t = &l->threads[ti];
	/* Per poll: a producer faster than us must not keep us in one ring while nothing is merged. */
	size_t budget = (size_t)t->r.data_size;
	struct rtc_ring_chunk c;
	int ret;

	t->backlog = false;
	/* Chunks are handed on undecoded, read straight into the receiver's buffer when it offers
	 * one; the reader knows record counts and timestamp lower bounds from sub-buffer headers. */
	while ((ret = rtc_ring_reader_next(&t->r, &c, l->out->chunk_buffer, l->out_ctx)) > 0) {
		struct rtc_stream_chunk sc = { .thread = ti, .flags = c.continues ? RTC_CHUNK_CONTINUES : 0,
					       .base_ts = c.base_ts, .rec0 = c.continues ? UINT64_MAX : c.rec0,
					       .resume_rec0 = c.resume_rec0,
					       .skip = c.skip, .data = c.data, .len = c.len };
		uint64_t ns = rtc_clockmap_ns(&p->clock, t->r.lower_ts);

		if (ns > t->last_ts)
			t->last_ts = ns;
		l->out->chunk(l->out_ctx, &sc);
		atomic_fetch_add_explicit(&l->records, t->r.records - t->records_seen, memory_order_relaxed);
		t->records_seen = t->r.records;
		atomic_fetch_add_explicit(&l->bytes, c.len, memory_order_relaxed);
		if (c.len >= budget) {
			t->backlog = true;
			break;
		}
		budget -= c.len;
	}
	/* The producer's own counts (a gauge for the status line; the trace counts exactly). */
	t->lost = atomic_load_explicit(&t->r.hdr->dropped, memory_order_relaxed) +
		  atomic_load_explicit(&t->r.hdr->overwritten_records, memory_order_relaxed);
	if (ret < 0) {
		say(l, "pid %d thread %" PRIu64 ": %s; its records so far are kept", (int)p->pid, t->thread_number,
		    rtc_strerror(ret));
		close_thread(l, p, ti, false, false, exited);
		return;
	}
	/* Finished thread read to the end, or its process is gone and nothing more comes. */
	if (rtc_ring_reader_done(&t->r))
		close_thread(l, p, ti, true, true, exited);
	else if (exited && atomic_load_explicit(&t->r.hdr->commit_pos, memory_order_acquire) <= t->r.pos)
		close_thread(l, p, ti, false, true, true);
}

struct drain_call {
	struct rtc_live *l;
	struct lproc *p;
};

/* Everything that reads the producer's shared memory: run under the SIGBUS guard. */
static void drain_proc(void *arg)
{
	struct drain_call *d = arg;
	struct rtc_live *l = d->l;
	struct lproc *p = d->p;
	bool exited = rtc_producer_exited(&p->p);
	uint32_t count;

	open_threads(l, p);
	for (uint32_t ti = 0; ti < l->nthreads; ti++)
		if (l->threads[ti].proc == p->index && l->threads[ti].open)
			drain_thread(l, p, ti, exited);
	/* Names after the chunks: every name a record refers to was published before the record
	 * was committed, so it is published now. */
	count = atomic_load_explicit(&p->p.ctl->names_count, memory_order_acquire);
	if (count > p->p.names_capacity)
		count = p->p.names_capacity;
	for (; p->names_sent < count; p->names_sent++) {
		const char *s = rtc_producer_name(&p->p, p->names_sent);

		if (strcmp(s, "<unknown>") == 0 && p->names_sent >= 2)
			break; /* not published yet: next time */
		l->out->name(l->out_ctx, p->index, p->names_sent, s, strlen(s));
	}
	if (exited) {
		bool open = false;

		for (uint32_t ti = 0; ti < l->nthreads; ti++)
			if (l->threads[ti].proc == p->index && l->threads[ti].open)
				open = true;
		if (!open)
			p->gone = true;
	}
}

static void retire_proc(struct rtc_live *l, struct lproc *p)
{
	/* The helper thread may be heartbeating it: unpublish, wait for readers, then unlink. */
	cds_lfht_del(l->registry, &p->node);
	urcu_memb_synchronize_rcu();
	rtc_producer_detach(&p->p);
	/* It exited leaving its segments to us (or was killed): nobody else will remove them. */
	if (rtc_producer_exited(&p->p)) /* guarded: the segment may be truncated */
		shm_unlink(p->p.shm_name);
	rtc_producer_close(&p->p);
	p->attached = false;
}

static void poll_proc(struct rtc_live *l, struct lproc *p, uint64_t now)
{
	struct drain_call d = { l, p };
	struct rt_shm_calib_point pt;

	if (now - p->sampled_ns >= SAMPLE_INTERVAL_NS && rtc_clockmap_sample(&p->clock, &pt)) {
		l->out->calib(l->out_ctx, p->index, &pt);
		p->sampled_ns = now;
	}
	if (rtc_safe_call(drain_proc, &d) < 0) {
		say(l, "pid %d: shared memory vanished under us (truncated); its records so far are kept", (int)p->pid);
		for (uint32_t ti = 0; ti < l->nthreads; ti++)
			if (l->threads[ti].proc == p->index && l->threads[ti].open)
				close_thread(l, p, ti, false, false, false);
		p->gone = true;
	}
	if (p->gone)
		retire_proc(l, p);
}

void rtc_live_poll(struct rtc_live *l, bool read_rings, struct rtc_live_poll *res)
{
	uint64_t now = mono_ns(), watermark, lost = l->lost_closed;

	res->now = now;
	res->backlog = false;
	res->attached = l->nexpected > 0 || l->o.all;
	if (l->o.all)
		rtc_producer_scan(scan_one, l);
	if (l->nexpected)
		check_expected(l);
	for (size_t i = 0; i < l->nprocs; i++)
		if (read_rings && l->procs[i]->attached)
			poll_proc(l, l->procs[i], now);
	for (size_t i = 0; i < l->nprocs; i++)
		res->attached |= l->procs[i]->attached;
	if (!read_rings) {
		atomic_store_explicit(&l->polled_ns, mono_ns(), memory_order_relaxed);
		return; /* no watermark: what we did not read may be older than anything */
	}
	/* Every ring was drained after `now` was taken, and a thread we have not seen registered
	 * after our directory scan, so no record still to come is older than `now` minus the time a
	 * producer may sit between taking a timestamp and committing (the margin). */
	watermark = now > WATERMARK_MARGIN_NS ? now - WATERMARK_MARGIN_NS : 0;
	for (uint32_t ti = 0; ti < l->nthreads; ti++) {
		struct lthread *t = &l->threads[ti];

		if (!t->open)
			continue;
		lost += t->lost;
		/* A ring we left unfinished may still hold anything after its last record read. */
		if (t->backlog) {
			res->backlog = true;
			if (t->last_ts < watermark)
				watermark = t->last_ts;
		}
	}
	atomic_store_explicit(&l->lost, lost, memory_order_relaxed);
	l->out->watermark(l->out_ctx, watermark);
	atomic_store_explicit(&l->polled_ns, mono_ns(), memory_order_relaxed);
}

uint64_t rtc_live_last_poll(const struct rtc_live *l)
{
	return atomic_load_explicit(&l->polled_ns, memory_order_relaxed);
}

void rtc_live_finish(struct rtc_live *l, uint64_t end_ns)
{
	l->out->watermark(l->out_ctx, UINT64_MAX);
	l->out->end(l->out_ctx, end_ns);
	stop_helper(l);
	for (size_t i = 0; i < l->nprocs; i++) {
		struct lproc *p = l->procs[i];

		if (!p->attached)
			continue;
		cds_lfht_del(l->registry, &p->node);
		rtc_producer_detach(&p->p);
		rtc_producer_close(&p->p);
		p->attached = false;
	}
}

void rtc_live_counts(const struct rtc_live *l, struct rtc_live_counts *c)
{
	c->records = atomic_load_explicit(&l->records, memory_order_relaxed);
	c->bytes = atomic_load_explicit(&l->bytes, memory_order_relaxed);
	c->lost = atomic_load_explicit(&l->lost, memory_order_relaxed);
	c->clock = l->tsc ? "tsc" : "monotonic";
}

/* ---- helper thread: leases and status ---- */

static void *helper(void *arg)
{
	struct rtc_live *l = arg;
	uint64_t last = mono_ns(), last_records = 0;
	int tick = 0;

	urcu_memb_register_thread();
	while (!atomic_load(&l->helper_stop)) {
		struct cds_lfht_iter iter;
		struct cds_lfht_node *node;

		urcu_memb_read_lock();
		/* Not cds_lfht_for_each_entry: at the end it takes container_of(NULL), which is
		 * undefined (clang's UBSan stops there). */
		cds_lfht_first(l->registry, &iter);
		while ((node = cds_lfht_iter_get_node(&iter)) != NULL) {
			rtc_producer_heartbeat(&caa_container_of(node, struct lproc, node)->p);
			cds_lfht_next(l->registry, &iter);
		}
		urcu_memb_read_unlock();
		if (l->o.status && ++tick % 10 == 0) {
			uint64_t now = mono_ns();
			uint64_t rec = atomic_load_explicit(&l->records, memory_order_relaxed);
			size_t backlog = l->o.backlog ? l->o.backlog(l->o.backlog_ctx) : 0;

			fprintf(stderr, "\r%-78s\rrecording: %.0f records/s, %.1f MB, %" PRIu64 " lost, %.1f MB behind, %.1f s ",
				"", (double)(rec - last_records) * 1e9 / (double)(now - last),
				(double)atomic_load_explicit(&l->bytes, memory_order_relaxed) / 1e6,
				atomic_load_explicit(&l->lost, memory_order_relaxed), (double)backlog / 1e6,
				(double)(now - l->start_ns) / 1e9);
			fflush(stderr);
			last = now;
			last_records = rec;
		}
		usleep(50000);
	}
	urcu_memb_unregister_thread();
	return NULL;
}

int rtc_live_start(struct rtc_live *l)
{
	int err = pthread_create(&l->helper, NULL, helper, l);

	if (err)
		return -err;
	l->helper_running = true;
	return 0;
}
