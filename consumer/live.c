/* SPDX-License-Identifier: MIT */
/* Live draining (docs/consumer.md "Live recording"): attach and lease, the RCU-protected process
 * registry, ring draining with validation and SIGBUS guards, and the stream it produces. */
#include "live-private.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#include "safe-copy.h"
#include "error.h"

/* A record whose timestamp is older than this when we find its ring empty is assumed committed:
 * the watermark trails the present by it (bounds live memory, orders late commits correctly). */
#define WATERMARK_MARGIN_NS 20000000ull
/* Our own TSC calibration points: often enough to follow drift, rarely enough to cost nothing. */
#define SAMPLE_INTERVAL_NS 10000000ull
/* Slots are at most the control directory's plus every extension's (docs/format.md). */
#define MAX_SLOTS ((uint32_t)RT_SHM_THREADS_MAX * (1u + RT_SHM_DIR_EXT_MAX))

uint64_t rtc_live_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void rtc_live_say(struct rtc_live *l, const char *fmt, ...)
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
	l->start_ns = rtc_live_mono_ns();
	l->registry = cds_lfht_new_flavor(16, 16, 0, CDS_LFHT_AUTO_RESIZE, &urcu_memb_flavor, NULL);
	if (!l->registry || rtc_safe_copy_init() < 0) {
		if (l->registry)
			cds_lfht_destroy(l->registry, NULL);
		free(l);
		return NULL;
	}
	/* Our recording session: programs we launch carry its token, and so does everything they
	 * start; with -a, the marker gives it to every process of the user that starts meanwhile.
	 * (The in-process engine records its own process only.) */
	l->inotify_fd = -1;
	if (!o->self) {
		rtc_live_watch(l);
		rtc_session_init(&l->session);
		if (o->all) {
			int err = rtc_session_marker_create(&l->session);

			if (err == -EBUSY)
				rtc_live_say(l, "another `record -a` of this user is running: processes that start now are "
						"attached when seen, and their first records may be missed");
			else if (err < 0)
				rtc_live_say(l, "cannot create the session marker: %s; processes that start now are attached "
						"when seen, and their first records may be missed", strerror(-err));
		}
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
	rtc_session_marker_remove(&l->session);
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
		free(p->slot_thread);
		free(p->slot_number);
		rtc_clockmap_fini(&p->clock);
		free(p);
	}
	free(l->procs);
	cds_lfht_destroy(l->registry, NULL);
	free(l->expected);
	free(l->skip.v);
	free(l->pending.v);
	if (l->inotify_fd >= 0)
		close(l->inotify_fd);
	free(l);
}

/* ---- processes and threads ---- */

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

/* ---- draining ---- */

/* Room for slot s in p's slot map (grown by doubling). */
static bool slot_room(struct lproc *p, uint32_t s)
{
	uint32_t n = p->nslots ? p->nslots : 256;
	int32_t *thread;
	uint64_t *number;

	if (s < p->nslots)
		return true;
	if (s >= MAX_SLOTS)
		return false;
	while (n <= s)
		n *= 2;
	thread = realloc(p->slot_thread, n * sizeof(*thread));
	if (thread)
		p->slot_thread = thread;
	number = thread ? realloc(p->slot_number, n * sizeof(*number)) : NULL;
	if (!number)
		return false;
	p->slot_number = number;
	for (uint32_t i = p->nslots; i < n; i++)
		p->slot_thread[i] = -1;
	p->nslots = n;
	return true;
}

struct open_call {
	struct rtc_live *l;
	struct lproc *p;
};

/* A directory slot with a ring to read: open it unless it is the thread we already read there. */
static int open_thread(void *ctx, const struct rtc_thread_info *info)
{
	struct open_call *c = ctx;
	struct rtc_live *l = c->l;
	struct lproc *p = c->p;
	uint32_t s = info->slot;
	struct rtc_stream_thread msg;
	struct lthread *t;
	int ti;

	if (info->state == RT_SHM_THREAD_DRAINED || !slot_room(p, s))
		return 0;
	if (p->slot_thread[s] >= 0 && p->slot_number[s] == info->thread_number)
		return 0;
	if (l->o.self == p->pid && info->tid == (uint32_t)gettid())
		return 0; /* the in-process engine's own thread */
	ti = new_thread(l, p->index, info->thread_number);
	if (ti < 0)
		return 1;
	t = &l->threads[ti];
	if (rtc_ring_reader_open(&t->r, info->ring_name, (uint32_t)p->pid) < 0) {
		l->nthreads--; /* exited and unlinked meanwhile, or refused: nothing to read */
		return 0;
	}
	t->open = true;
	t->open_commit = atomic_load_explicit(&t->r.hdr->commit_pos, memory_order_acquire);
	t->quiet = t->stack_done = t->retaken = false;
	t->slot = s;
	p->slot_thread[s] = ti;
	p->slot_number[s] = info->thread_number;
	msg = (struct rtc_stream_thread){ .proc = p->index, .index = (uint32_t)ti, .tid = info->tid,
					  .thread_number = info->thread_number, .attach_ts = p->attach_ns,
					  .name = info->name };
	l->out->thread(l->out_ctx, &msg);
	return 0;
}

/* finished: the thread finished and all it committed was read (its final counters are valid);
 * hand_back: the slot goes back to the producer (dead: the ring is removed whatever its state).
 * A slot handed back before the producer marked it finished stays ours: we keep its reader and
 * try again at the next poll (closing it now would show the thread a second time). */
static void close_thread(struct rtc_live *l, struct lproc *p, uint32_t ti, bool finished, bool hand_back, bool dead)
{
	struct lthread *t = &l->threads[ti];
	uint64_t unreported = finished ? rtc_ring_reader_unreported(&t->r) : 0;

	if (hand_back && rtc_producer_thread_drained(&p->p, t->slot, t->thread_number, dead) == -EAGAIN && !dead)
		return;
	l->lost_closed += t->lost;
	rtc_ring_reader_close(&t->r);
	t->open = false;
	if (t->slot < p->nslots)
		p->slot_thread[t->slot] = -1;
	l->out->thread_done(l->out_ctx, ti, t->last_ts, unreported);
}

/*
 * A thread that commits nothing after we attach writes no STACK record (the producer writes one at
 * its first record of a session), so spans it is blocked in would stay unknown. Read them from its
 * shared stack once (and once more after a lease retake), when it has committed nothing since we
 * opened it (or retook the lease), everything it committed before was read, and the stack's
 * generation and depth are what the previous poll saw. A thread still caught between committing a
 * BEGIN or END and its push or pop (records first, then the stack) gives a read one record off;
 * rebuild matches it to the records by span number (rebuild-resync.c). The read goes after the
 * records already sent, like a STACK record before the thread's next record.
 */
static void send_stack(struct rtc_live *l, uint32_t ti)
{
	struct lthread *t = &l->threads[ti];
	struct rt_shm_ring *h = t->r.hdr;
	struct rt_shm_stack_entry shm[RT_SHM_STACK_MAX];
	struct rt_rec_stack_entry e[RT_SHM_STACK_MAX];
	struct rtc_stream_stack st = { .thread = ti, .entries = e };
	/* Acquire pairs with the producer's release of commit_pos, relaxed for the stack words: a
	 * change is all we look for, and the seqlock read below checks the copy. */
	uint64_t commit = atomic_load_explicit(&h->commit_pos, memory_order_acquire);
	uint32_t gen = atomic_load_explicit(&h->stack_gen, memory_order_relaxed);
	uint32_t depth = __atomic_load_n(&h->stack_depth, __ATOMIC_RELAXED);
	int n;

	if (t->retaken) {
		t->open_commit = commit;
		t->retaken = false;
	}
	if (commit != t->open_commit) {
		t->stack_done = true; /* it records: its own STACK record says it */
		return;
	}
	if (t->backlog || t->r.deferred || t->r.pos != commit)
		return;
	if (!t->quiet || gen != t->quiet_gen || depth != t->quiet_depth) {
		t->quiet = true;
		t->quiet_gen = gen;
		t->quiet_depth = depth;
		return;
	}
	n = rtc_ring_reader_stack(&t->r, shm, RT_SHM_STACK_MAX, &st.current_task, &st.span_seq);
	if (n < 0 || atomic_load_explicit(&h->commit_pos, memory_order_acquire) != commit ||
	    atomic_load_explicit(&h->stack_gen, memory_order_relaxed) != gen) {
		t->quiet = false;
		return;
	}
	for (int k = 0; k < n; k++)
		e[k] = (struct rt_rec_stack_entry){ .name_id = shm[k].name_id, .span_seq = shm[k].span_seq,
						    .begin_ts = shm[k].begin_ts, .task_id = shm[k].task_id,
						    .flags = shm[k].flags };
	st.count = (uint32_t)n;
	st.ts = rtc_live_mono_ns();
	t->stack_done = true;
	if (l->out->stack)
		l->out->stack(l->out_ctx, &st);
}

static void drain_thread(struct rtc_live *l, struct lproc *p, uint32_t ti, bool exited)
{
	struct lthread *t = &l->threads[ti];
	/* Per poll: a producer faster than us must not keep us in one ring while nothing is merged. */
	size_t budget = (size_t)t->r.data_size;
	struct rtc_ring_chunk c;
	int ret;

	t->backlog = false;
	t->r.defer_open = t->r.deferred = false;
	t->r.read_now = 0;
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
		/* A sub-buffer closed since the last poll: this writer fills them faster than we poll.
		 * Leave the one it is filling for the next poll, when it will have been handed over
		 * out of the writer's caches (rtc_live_poll() holds the watermark back for it). The
		 * reader does not leave it when an overwriting writer could lap us for it before the
		 * next poll (rtc_ring_reader_may_defer() with what this poll read). */
		if (c.closed && !l->read_all && !exited)
			t->r.defer_open = true;
	}
	if (t->r.deferred) {
		uint64_t ns = rtc_clockmap_ns(&p->clock, t->r.lower_ts);

		if (ns > t->last_ts)
			t->last_ts = ns;
	}
	/* The producer's own counts (a gauge for the status line; the trace counts exactly). */
	t->lost = atomic_load_explicit(&t->r.hdr->dropped, memory_order_relaxed) +
		  atomic_load_explicit(&t->r.hdr->overwritten_records, memory_order_relaxed);
	if (ret < 0) {
		rtc_live_say(l, "pid %d thread %" PRIu64 ": %s; its records so far are kept", (int)p->pid, t->thread_number,
		    rtc_strerror(ret));
		close_thread(l, p, ti, false, false, exited);
		return;
	}
	if (!t->stack_done && !exited)
		send_stack(l, ti);
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

	struct open_call oc = { l, p };

	rtc_producer_each_thread(&p->p, open_thread, &oc);
	for (uint32_t ti = 0; ti < l->nthreads; ti++)
		if (l->threads[ti].proc == p->index && l->threads[ti].open)
			drain_thread(l, p, ti, exited);
	/* Names after the chunks: every name a record refers to was published before the record
	 * was committed, so it is published now. */
	rtc_live_send_names(l, p);
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
	rtc_live_final_counts(l, p);
	cds_lfht_del(l->registry, &p->node);
	urcu_memb_synchronize_rcu();
	RCU_ACQUIRED(l->registry);
	rtc_producer_detach(&p->p);
	/* It exited leaving its segments to us (or was killed): nobody else will remove them. */
	rtc_producer_remove(&p->p);
	rtc_producer_close(&p->p);
	p->attached = false;
	p->retired = true;
}

/* Stop reading p: what was read is kept. */
static void abandon_proc(struct rtc_live *l, struct lproc *p)
{
	for (uint32_t ti = 0; ti < l->nthreads; ti++)
		if (l->threads[ti].proc == p->index && l->threads[ti].open)
			close_thread(l, p, ti, false, false, false);
	p->gone = true;
}

static void poll_proc(struct rtc_live *l, struct lproc *p, uint64_t now)
{
	struct drain_call d = { l, p };
	struct rt_shm_calib_point pt;

	if (now - p->sampled_ns >= SAMPLE_INTERVAL_NS && rtc_clockmap_sample(&p->clock, &pt)) {
		l->out->calib(l->out_ctx, p->index, &pt);
		p->sampled_ns = now;
	}
	if (rtc_live_proc_state(l, p, now) < 0) {
		abandon_proc(l, p);
	} else if (rtc_safe_call(drain_proc, &d) < 0) {
		rtc_live_say(l, "pid %d: shared memory vanished under us (truncated); its records so far are kept", (int)p->pid);
		abandon_proc(l, p);
	}
	if (p->gone)
		retire_proc(l, p);
}

void rtc_live_poll(struct rtc_live *l, bool read_rings, struct rtc_live_poll *res)
{
	uint64_t now = rtc_live_mono_ns(), watermark, lost = l->lost_closed;

	res->now = now;
	res->backlog = false;
	res->attached = l->nexpected > 0 || l->o.all;
	rtc_live_find(l);
	for (size_t i = 0; i < l->nprocs; i++)
		if (read_rings && l->procs[i]->attached)
			poll_proc(l, l->procs[i], now);
	for (size_t i = 0; i < l->nprocs; i++)
		res->attached |= l->procs[i]->attached;
	if (!read_rings) {
		atomic_store_explicit(&l->polled_ns, rtc_live_mono_ns(), memory_order_relaxed);
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
		/* A ring we left unfinished may still hold anything after its last record read; one
		 * whose open sub-buffer was left, anything after that sub-buffer's base. */
		if (t->backlog || t->r.deferred) {
			res->backlog |= t->backlog;
			if (t->last_ts < watermark)
				watermark = t->last_ts;
		}
	}
	atomic_store_explicit(&l->lost, lost, memory_order_relaxed);
	l->out->watermark(l->out_ctx, watermark);
	atomic_store_explicit(&l->polled_ns, rtc_live_mono_ns(), memory_order_relaxed);
}

void rtc_live_read_all(struct rtc_live *l)
{
	l->read_all = true;
}

uint64_t rtc_live_last_poll(const struct rtc_live *l)
{
	return atomic_load_explicit(&l->polled_ns, memory_order_relaxed);
}

void rtc_live_finish(struct rtc_live *l, uint64_t end_ns)
{
	for (size_t i = 0; i < l->nprocs; i++)
		if (l->procs[i]->attached)
			rtc_live_final_counts(l, l->procs[i]);
	l->out->watermark(l->out_ctx, UINT64_MAX);
	l->out->end(l->out_ctx, end_ns);
	stop_helper(l);
	rtc_session_marker_remove(&l->session);
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
	uint64_t last = rtc_live_mono_ns(), last_records = 0;
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
			struct lproc *p = caa_container_of(node, struct lproc, node);

			RCU_ACQUIRED(p);
			rtc_producer_heartbeat(&p->p);
			cds_lfht_next(l->registry, &iter);
		}
		urcu_memb_read_unlock();
		RCU_PUBLISHED(l->registry); /* our reads are done before any grace period that follows */
		if (l->o.status && ++tick % 10 == 0) {
			uint64_t now = rtc_live_mono_ns();
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
