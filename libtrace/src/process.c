/* SPDX-License-Identifier: MIT */
/* The control segment's life: creation at library load (or at a fork()ed child's first call), the
 * consumer lease, calibration points, early recording for sessions, cleanup at process exit. */
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#include "clock.h"
#include "engine-loader.h"
#include "idle-clock.h"
#include "names.h"
#include "reclaim.h"
#include "shm.h"
#include "thread-dir.h"
#include "thread-list.h"
#include "thread.h"

#define NAMES_CAPACITY 16384u
#define ARENA_SIZE (1u << 20)
#define ARENA_CLAIM_STEP (64u << 10)
#define HASH_SLOTS 32768u
#define THREADS_CAPACITY 256u
#define DIR_EXT_CAPACITY 1024u
/* Early recording nobody attached to stops after this long (a refused or absent consumer). */
#define EARLY_GRACE_NS (10ull * 1000000000ull)

_Static_assert(THREADS_CAPACITY <= RT_SHM_THREADS_MAX && DIR_EXT_CAPACITY <= RT_SHM_THREADS_MAX, "limits");
_Static_assert(NAMES_CAPACITY <= RT_SHM_NAMES_MAX && ARENA_SIZE <= RT_SHM_ARENA_MAX, "limits");
_Static_assert(HASH_SLOTS <= RT_SHM_HASH_SLOTS_MAX, "limits");

struct rt__process rt__proc;

static const uint32_t inactive_word = RT_SHM_ACTIVE_OFF;
/* In a fork()ed child before its segment exists: sends the first call into the slow path,
 * which creates the segment (rt__process_ensure()). */
static const uint32_t pending_word = RT_SHM_ACTIVE_ON;

static struct rt__names_snapshot *fork_names;
static pid_t fork_parent_pid;
static _Atomic int lazy_pending;
static pthread_mutex_t lazy_lock = PTHREAD_MUTEX_INITIALIZER;
RT_API const uint32_t *rt__active_v1 = &inactive_word;
RT_API __thread struct rt__fast rt__fast_v2 __attribute__((tls_model("initial-exec")));
/* Call sites built with 0.1 headers name the same storage rt__fast_v1 and use only its first 16
 * bytes (depth and tracked, at the same offsets). The new name makes a binary built with 0.2
 * headers fail to load with a 0.1 library, whose rt__fast_v1 has no stack_depth field, rather
 * than read past it (and rt_check_library_version(0, 2, 0) refuses a 0.1 library). */
extern RT_API __thread struct rt__fast rt__fast_v1 __attribute__((alias("rt__fast_v2")));

/* Process-wide lease state, shared by the threads that run the periodic check. */
static _Atomic uint64_t next_periodic_ts;
static _Atomic uint64_t next_lease_ts;
static _Atomic uint64_t lease_heartbeat;
static _Atomic uint64_t lease_changed_ts;
static _Atomic uint32_t lease_session;
/* The consumer whose lease we last dropped (its heartbeat stopped: it was stopped or starved, not
 * necessarily gone) and the control segment's `attaches` then: if it lives and nobody attached
 * since, it will take the lease back and drain us, so our segments stay for it at exit. */
static _Atomic uint32_t dropped_consumer;
static _Atomic uint32_t dropped_at_attaches;
/* next_thread_number when it was dropped: threads numbered above began after the drop. */
static _Atomic uint64_t dropped_at_threads;
static _Atomic uint64_t next_task_id;
/* Recording before any consumer attached (launched, or a session); cleared when given up. */
static _Atomic bool early;
static uint64_t early_since_ns;
static _Atomic bool arena_claim_failed;
/* Bytes of the name arena backed by memory: ours, mirrored to ctl->arena_claimed for consumers
 * (never read back, as the layout). */
static _Atomic uint32_t arena_claimed;

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static void add_calib_point(struct rt_shm_control *ctl, const struct rt_shm_calib_point *pt)
{
	const struct rt__control_layout *lay = &rt__proc.layout;
	struct rt_shm_calib_point *pts = (struct rt_shm_calib_point *)(void *)((char *)ctl + lay->calib_offset);
	uint64_t n = atomic_fetch_add_explicit(&ctl->calib_count, 1, memory_order_relaxed);
	struct rt_shm_calib_point *dst = &pts[n % lay->calib_capacity];
	uint64_t seq = atomic_load_explicit(&dst->seq, memory_order_relaxed);

	/* Seqlock (odd while written); see rt__stack_write_begin() for the pairing. */
	atomic_store_explicit(&dst->seq, seq | 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	dst->tsc = pt->tsc;
	dst->mono_ns = pt->mono_ns;
	dst->real_ns = pt->real_ns;
	atomic_store_explicit(&dst->seq, (seq | 1) + 1, memory_order_release);
}

struct layout {
	size_t names, hash, threads, calib, exts, tasks, arena, total;
};

static void plan(struct layout *l, const struct rt__config *cfg)
{
	l->names = align_up(sizeof(struct rt_shm_control), RT_SHM_CACHELINE);
	l->hash = align_up(l->names + NAMES_CAPACITY * sizeof(uint32_t), RT_SHM_CACHELINE);
	l->threads = align_up(l->hash + HASH_SLOTS * sizeof(uint32_t), RT_SHM_CACHELINE);
	l->calib = align_up(l->threads + THREADS_CAPACITY * sizeof(struct rt_shm_thread_slot), RT_SHM_CACHELINE);
	l->exts = align_up(l->calib + RT_SHM_CALIB_MAX * sizeof(struct rt_shm_calib_point), RT_SHM_CACHELINE);
	l->tasks = align_up(l->exts + RT_SHM_DIR_EXT_MAX * sizeof(uint64_t), RT_SHM_CACHELINE);
	/* The arena last and page-aligned: its memory is claimed as names arrive, in whole pages. */
	l->arena = align_up(l->tasks + (size_t)cfg->task_slots * sizeof(struct rt_shm_task_slot), 4096);
	l->total = align_up(l->arena + ARENA_SIZE, 4096);
	_Static_assert(sizeof(struct rt_shm_control) + NAMES_CAPACITY * 4 + HASH_SLOTS * 4 + THREADS_CAPACITY * 64 +
				       RT_SHM_CALIB_MAX * 32 + RT_SHM_DIR_EXT_MAX * 8 + RT_SHM_TASKS_MAX * 32 +
				       ARENA_SIZE + 8 * 4096 <= RT_SHM_CONTROL_SIZE_MAX,
		       "the largest control segment we create is within the limit");
}

/* Our copy of the layout (process.h): what every access of ours goes by. */
static void own_layout(const struct layout *l)
{
	rt__proc.layout = (struct rt__control_layout){
		.names_offset = (uint32_t)l->names,
		.names_capacity = NAMES_CAPACITY,
		.hash_offset = (uint32_t)l->hash,
		.hash_slots = HASH_SLOTS,
		.arena_offset = (uint32_t)l->arena,
		.arena_size = ARENA_SIZE,
		.threads_offset = (uint32_t)l->threads,
		.threads_capacity = THREADS_CAPACITY,
		.calib_offset = (uint32_t)l->calib,
		.calib_capacity = RT_SHM_CALIB_MAX,
		.dir_ext_offset = (uint32_t)l->exts,
		.dir_ext_capacity = DIR_EXT_CAPACITY,
		.dir_ext_max = RT_SHM_DIR_EXT_MAX,
	};
}

static void fill_header(struct rt_shm_control *ctl, const struct layout *l, pid_t parent_pid, uint64_t salt,
			const struct rt_shm_calib_point *p0)
{
	struct rt__config *cfg = &rt__proc.cfg;
	const struct rt__control_layout *lay = &rt__proc.layout;

	ctl->abi_major = RT_SHM_ABI_MAJOR;
	ctl->abi_minor = RT_SHM_ABI_MINOR;
	ctl->abi_oldest = RT_SHM_ABI_OLDEST;
	ctl->header_size = sizeof(*ctl);
	ctl->segment_size = l->total;
	ctl->pid = (uint32_t)rt__proc.pid;
	ctl->uid = (uint32_t)rt__proc.uid;
	ctl->parent_pid = (uint32_t)parent_pid;
	ctl->clock = cfg->clock;
	ctl->mode = cfg->mode;
	ctl->idle_active = cfg->idle_active;
	ctl->ring_size = cfg->ring_size;
	ctl->subbuf_size = cfg->ring_size / cfg->sb_count;
	ctl->subbuf_count = cfg->sb_count;
	ctl->names_capacity = lay->names_capacity;
	ctl->names_offset = lay->names_offset;
	ctl->arena_offset = lay->arena_offset;
	ctl->arena_size = lay->arena_size;
	ctl->hash_offset = lay->hash_offset;
	ctl->hash_slots = lay->hash_slots;
	ctl->threads_offset = lay->threads_offset;
	ctl->threads_capacity = lay->threads_capacity;
	ctl->calib_offset = lay->calib_offset;
	ctl->calib_capacity = lay->calib_capacity;
	ctl->coarse_res_ns = rt__idle_clock_res_ns();
	ctl->tasks_offset = (uint32_t)l->tasks;
	ctl->tasks_capacity = cfg->task_slots;
	ctl->dir_ext_offset = lay->dir_ext_offset;
	ctl->dir_ext_max = lay->dir_ext_max;
	ctl->dir_ext_capacity = lay->dir_ext_capacity;
	ctl->session_pid = (uint32_t)cfg->session_pid;
	ctl->session_token = cfg->session_token;
	ctl->name_salt = salt;
	ctl->start_real_ns = p0->real_ns;
	ctl->start_mono_ns = p0->mono_ns;
	if (prctl(PR_GET_NAME, ctl->process_name, 0, 0, 0) != 0)
		strcpy(ctl->process_name, "process");
}

static int create_control(pid_t parent_pid, struct rt__names_snapshot *names)
{
	struct rt__config *cfg = &rt__proc.cfg;
	struct rt_shm_control *ctl;
	struct rt_shm_calib_point p0, p1;
	struct rt__shm_seg seg;
	struct layout l;
	char base[RT_SHM_NAME_BUF];
	size_t arena_claim = ARENA_CLAIM_STEP;
	unsigned reclaimed;
	bool record_early;
	int err;

	/* The first points are the only ones for a second: a few more tries for a narrow one. */
	for (int k = 0; k < 8 && rt__clock_sample(&p0) > RT_CLOCK_SAMPLE_MAX_NS; k++)
		;
	plan(&l, cfg);
	if (names && rt__names_snapshot_arena(names) + 8 > arena_claim)
		arena_claim = align_up(rt__names_snapshot_arena(names) + 8, ARENA_CLAIM_STEP);
	/* Dead processes' leftovers go first: our creation is what keeps /dev/shm from filling up. */
	/* Our own pid's segments (our image before an exec, a dead process with our pid) are marked
	 * exited there, and kept while a consumer may read them: we take a salted name then. */
	reclaimed = rt__reclaim(rt__proc.uid, rt__proc.pid, true, cfg);
	rt__shm_control_name(base, sizeof(base), rt__proc.uid, rt__proc.pid, 0);
	err = rt__shm_create_seg(&seg, base, l.total, l.arena + arena_claim, 0);
	if (err < 0)
		return err;
	memcpy(rt__proc.ctl_name, seg.name, sizeof(seg.name));
	rt__proc.ctl_ino = seg.ino;
	ctl = seg.map;
	own_layout(&l);
	fill_header(ctl, &l, parent_pid, seg.salt, &p0);
	atomic_store_explicit(&arena_claimed, (uint32_t)arena_claim, memory_order_relaxed);
	atomic_store_explicit(&ctl->arena_claimed, (uint32_t)arena_claim, memory_order_relaxed);
	atomic_store_explicit(&ctl->reclaimed, reclaimed, memory_order_relaxed);
	atomic_store_explicit(&arena_claim_failed, false, memory_order_relaxed);
	rt__names_init(ctl);
	if (names)
		rt__names_restore(ctl, names);
	/* Launched by `ringtrace record -- CMD`, or part of a recording session (a descendant of such a
	 * program, or any program while `record -a` runs): record before the consumer's attach lands. */
	record_early = (cfg->from_start && !parent_pid) || cfg->session_pid != 0;
	ctl->session_flags = cfg->session_flags | (record_early ? RT_SHM_SESSION_FROM_START : 0) |
			     (cfg->from_start && !parent_pid ? RT_SHM_SESSION_LAUNCHED : 0);
	atomic_store_explicit(&early, record_early, memory_order_relaxed);
	early_since_ns = p0.mono_ns;
	atomic_store_explicit(&ctl->active, record_early ? RT_SHM_ACTIVE_ON : cfg->idle_active, memory_order_relaxed);

	/* A second point for a first rate estimate; the segment setup above gave it some distance. */
	for (int wide = 0;;) {
		uint64_t width = rt__clock_sample(&p1);

		if (p1.mono_ns - p0.mono_ns >= 50000 && (width <= RT_CLOCK_SAMPLE_MAX_NS || ++wide >= 8))
			break;
	}
	add_calib_point(ctl, &p0);
	add_calib_point(ctl, &p1);
	rt__proc.ticks_per_ns = rt__clock_rate(&p0, &p1);
	rt__proc.check_interval = (uint64_t)(100e6 * rt__proc.ticks_per_ns);
	rt__proc.lease_timeout = (uint64_t)(cfg->lease_ms * 1e6 * rt__proc.ticks_per_ns);
	rt__proc.calib_interval = (uint64_t)(1e9 * rt__proc.ticks_per_ns);
	atomic_store_explicit(&next_periodic_ts, p1.tsc + rt__proc.calib_interval, memory_order_relaxed);

	/* Release: the segment is fully initialised before a consumer that acquires the magic
	 * reads anything else. */
	atomic_store_explicit((_Atomic uint64_t *)&ctl->magic, RT_SHM_CONTROL_MAGIC, memory_order_release);
	rt__proc.tasks = cfg->task_slots ? (struct rt_shm_task_slot *)((char *)ctl + l.tasks) : NULL;
	rt__proc.tasks_mask = cfg->task_slots - 1;
	rt__proc.ctl = ctl;
	rt__proc.ctl_size = l.total;
	/* Relaxed: call sites only compare the word; they may see the new pointer a little late. */
	__atomic_store_n(&rt__active_v1, (const uint32_t *)&ctl->active, __ATOMIC_RELAXED);
	return 0;
}

uint32_t rt__process_arena_claimed(void)
{
	return atomic_load_explicit(&arena_claimed, memory_order_relaxed);
}

int rt__process_claim_arena(struct rt_shm_control *ctl, uint32_t end)
{
	const struct rt__control_layout *lay = &rt__proc.layout;
	/* Relaxed: the claim is a fact of the file (the syscall finished before the store), not of
	 * memory ordering; a thread that sees the new value writes to pages that are backed. */
	uint32_t cur = atomic_load_explicit(&arena_claimed, memory_order_relaxed);
	uint32_t want, shown;
	int err;

	if (end <= cur)
		return 0;
	if (atomic_load_explicit(&arena_claim_failed, memory_order_relaxed) || end > lay->arena_size)
		return -ENOSPC;
	want = (uint32_t)align_up(end, ARENA_CLAIM_STEP);
	if (want > lay->arena_size)
		want = lay->arena_size;
	/* Concurrent claims of overlapping ranges are harmless: fallocate is idempotent. */
	err = rt__shm_claim(rt__proc.ctl_name, rt__proc.ctl_ino, lay->arena_offset + cur, want - cur);
	if (err < 0) {
		atomic_store_explicit(&arena_claim_failed, true, memory_order_relaxed);
		return err;
	}
	while (cur < want && !atomic_compare_exchange_weak_explicit(&arena_claimed, &cur, want, memory_order_relaxed,
								    memory_order_relaxed))
		;
	/* The consumers' copy only grows too (relaxed, as above). */
	shown = atomic_load_explicit(&ctl->arena_claimed, memory_order_relaxed);
	while (shown < want && !atomic_compare_exchange_weak_explicit(&ctl->arena_claimed, &shown, want,
								      memory_order_relaxed, memory_order_relaxed))
		;
	return 0;
}

uint64_t rt__process_next_task_id(void)
{
	/* Relaxed: ids only need to be unique. */
	return atomic_fetch_add_explicit(&next_task_id, 1, memory_order_relaxed) + 1;
}

bool rt__process_records_early(void)
{
	return atomic_load_explicit(&early, memory_order_relaxed);
}

/* Recording early that nobody attached to (the consumer was refused, or is gone): stop paying. */
static void give_up_early(struct rt_shm_control *ctl)
{
	uint64_t now = rt__mono_ns();

	if (atomic_load_explicit(&ctl->session, memory_order_acquire) != 0) {
		atomic_store_explicit(&early, false, memory_order_relaxed); /* attached: the lease rules */
		return;
	}
	if (now - early_since_ns < EARLY_GRACE_NS && (!rt__proc.cfg.session_pid || rt__session_alive(&rt__proc.cfg)))
		return;
	atomic_store_explicit(&early, false, memory_order_relaxed);
	/* seq_cst store then load: a consumer attaching now CASes session before it stores
	 * active = ON, so either we see its session and put ON back, or its store comes after ours. */
	atomic_store_explicit(&ctl->active, ctl->idle_active, memory_order_seq_cst);
	if (atomic_load_explicit(&ctl->session, memory_order_seq_cst) != 0)
		atomic_store_explicit(&ctl->active, RT_SHM_ACTIVE_ON, memory_order_seq_cst);
}

/* The lease check, by one thread at a time (the caller won the CAS on next_lease_ts). */
static void check_lease(struct rt_shm_control *ctl, uint64_t ts)
{
	uint32_t session = atomic_load_explicit(&ctl->session, memory_order_acquire);
	uint64_t hb, changed;

	if (session == 0)
		return;
	hb = atomic_load_explicit(&ctl->heartbeat, memory_order_relaxed);
	changed = atomic_load_explicit(&lease_changed_ts, memory_order_relaxed);
	if (session != atomic_load_explicit(&lease_session, memory_order_relaxed) ||
	    hb != atomic_load_explicit(&lease_heartbeat, memory_order_relaxed)) {
		atomic_store_explicit(&lease_session, session, memory_order_relaxed);
		atomic_store_explicit(&lease_heartbeat, hb, memory_order_relaxed);
		atomic_store_explicit(&lease_changed_ts, ts, memory_order_relaxed);
	} else if (ts > changed && ts - changed > rt__proc.lease_timeout) {
		/* The consumer stopped beating (killed or stopped): stop paying for recording. The CAS
		 * makes sure a consumer that attached meanwhile is not the one dropped. (ts > changed:
		 * timestamps of different threads are not ordered; a wrapped difference must not drop
		 * anyone.) Relaxed reads: the holder's pid and the attach count were stored before its
		 * session, which our acquire load above saw. */
		uint32_t holder = atomic_load_explicit(&ctl->consumer_pid, memory_order_relaxed);
		uint32_t attaches = atomic_load_explicit(&ctl->attaches, memory_order_relaxed);

		if (atomic_compare_exchange_strong_explicit(&ctl->session, &session, 0, memory_order_acq_rel,
							    memory_order_relaxed)) {
			/* Relaxed: read at exit by whichever thread runs the exit handler, after every
			 * other thread stopped recording (exit is ordered after them by the program). */
			atomic_store_explicit(&dropped_consumer, holder, memory_order_relaxed);
			atomic_store_explicit(&dropped_at_attaches, attaches, memory_order_relaxed);
			atomic_store_explicit(&dropped_at_threads,
					      atomic_load_explicit(&ctl->next_thread_number, memory_order_relaxed),
					      memory_order_relaxed);
			atomic_store_explicit(&ctl->active, ctl->idle_active, memory_order_relaxed);
			atomic_store_explicit(&ctl->consumer_pid, 0, memory_order_relaxed);
			atomic_fetch_add_explicit(&ctl->lease_expiries, 1, memory_order_relaxed);
		}
	}
}

void rt__process_periodic(uint64_t ts)
{
	struct rt_shm_control *ctl = rt__proc.ctl;
	uint64_t due = atomic_load_explicit(&next_lease_ts, memory_order_relaxed);

	/* One checker per interval: the lease_* values are then written by one thread at a time.
	 * acq_rel pairs with the previous winner's CAS, so we see the values it stored. */
	if (ts >= due && atomic_compare_exchange_strong_explicit(&next_lease_ts, &due, ts + rt__proc.check_interval,
								 memory_order_acq_rel, memory_order_relaxed))
		check_lease(ctl, ts);

	due = atomic_load_explicit(&next_periodic_ts, memory_order_relaxed);
	if (ts >= due && atomic_compare_exchange_strong_explicit(&next_periodic_ts, &due, ts + rt__proc.calib_interval,
								 memory_order_relaxed, memory_order_relaxed)) {
		struct rt_shm_calib_point pt;

		/* A wide one is left out: the next period takes another. */
		if (rt__clock_sample(&pt) <= RT_CLOCK_SAMPLE_MAX_NS)
			add_calib_point(ctl, &pt);
		if (atomic_load_explicit(&early, memory_order_relaxed))
			give_up_early(ctl);
	}
}

static void finish_thread(struct rt__thread *t)
{
	rt__thread_finish(t, false);
}

static void unlink_slot_ring(struct rt_shm_thread_slot *s, void *ctx)
{
	char name[RT_SHM_NAME_BUF];

	(void)ctx;
	if (atomic_load_explicit(&s->state, memory_order_relaxed) == RT_SHM_THREAD_FREE)
		return;
	rt__shm_ring_name(name, sizeof(name), rt__proc.uid, rt__proc.pid,
			  atomic_load_explicit(&s->thread_number, memory_order_relaxed),
			  atomic_load_explicit(&s->ring_salt, memory_order_relaxed));
	shm_unlink(name);
}

static bool pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* A consumer launching us, or our session's, may not have attached yet: give it a moment, or
 * our records go with the segments. Once a consumer attached (`attaches`), none is waited for:
 * one still attached drains us after we exit, one that left (`--duration` ended) is done with us,
 * and one whose lease we dropped keeps our segments (segments_wanted()). */
static void wait_for_consumer(struct rt_shm_control *ctl)
{
	/* Acquire pairs with the consumer's acq_rel CAS of `session` at attach; `attaches` is only
	 * a "stop waiting" hint (relaxed on both sides). */
	for (uint32_t i = 0; i < rt__proc.cfg.exit_wait_ms && atomic_load_explicit(&ctl->session, memory_order_acquire) == 0 &&
			     atomic_load_explicit(&ctl->attaches, memory_order_relaxed) == 0;
	     i++) {
		if (i % 100 == 0 && rt__proc.cfg.session_pid && !rt__session_alive(&rt__proc.cfg))
			return;
		usleep(1000);
	}
}

/* Does a live consumer in another process still want what we leave (it will drain and unlink
 * it)? The attached one; one whose lease we dropped while it was stopped, if nobody attached
 * since (it takes the lease back when it runs again); our session's consumer, if we recorded
 * early and no consumer ever attached (it may still come for us). */
bool rt__process_dropped_consumer_alive(void)
{
	struct rt_shm_control *ctl = rt__proc.ctl;
	pid_t dropped = (pid_t)atomic_load_explicit(&dropped_consumer, memory_order_relaxed);

	/* Relaxed: see check_lease(); a consumer attaching since is a new count. */
	return ctl && dropped && dropped != getpid() &&
	       atomic_load_explicit(&ctl->attaches, memory_order_relaxed) ==
		       atomic_load_explicit(&dropped_at_attaches, memory_order_relaxed) &&
	       pid_alive(dropped);
}

bool rt__process_dropped_consumer_knows(uint64_t thread_number)
{
	/* Relaxed: stored with dropped_consumer by the same check, long before a thread begun after
	 * the drop ends; a thread racing with the drop was never seen by the stopped consumer. */
	return thread_number <= atomic_load_explicit(&dropped_at_threads, memory_order_relaxed) &&
	       rt__process_dropped_consumer_alive();
}

static bool segments_wanted(struct rt_shm_control *ctl)
{
	uint32_t attaches = atomic_load_explicit(&ctl->attaches, memory_order_relaxed);
	pid_t cpid;

	/* Acquire pairs with the consumer's CAS of `session` at attach: its pid is stored after. */
	cpid = atomic_load_explicit(&ctl->session, memory_order_acquire) != 0
		       ? (pid_t)atomic_load_explicit(&ctl->consumer_pid, memory_order_relaxed)
		       : 0;
	if (cpid)
		return cpid != getpid() && pid_alive(cpid);
	if (rt__process_dropped_consumer_alive())
		return true;
	return attaches == 0 && rt__process_records_early() && rt__proc.cfg.session_pid &&
	       rt__session_alive(&rt__proc.cfg);
}

static void process_exit(void)
{
	struct rt_shm_control *ctl = rt__proc.ctl;
	struct rt__thread *t;

	if (!ctl || rt__proc.pid != getpid())
		return;
	/* Our own consumer: let it drain everything and complete its file first. */
	rt__engine_unload();
	if (rt__process_records_early())
		wait_for_consumer(ctl);
	rt__thread_list_each(finish_thread);
	/* Release: the rings' final states are visible before `exited`. */
	atomic_store_explicit(&ctl->exited, 1, memory_order_release);
	/* Dead children's leftovers (those that ended with _exit()) go with us. */
	atomic_fetch_add_explicit(&ctl->reclaimed, rt__reclaim(rt__proc.uid, rt__proc.pid, false, &rt__proc.cfg),
				  memory_order_relaxed);
	if (segments_wanted(ctl))
		return;
	while ((t = rt__thread_list_pop()) != NULL)
		shm_unlink(t->ring_name);
	/* Finished rings kept for late consumers are named by the directory. */
	rt__dir_each(ctl, unlink_slot_ring, NULL);
	rt__dir_unlink();
	shm_unlink(rt__proc.ctl_name);
}

static void fork_prepare(void)
{
	rt__thread_list_lock();
}

static void fork_parent(void)
{
	rt__thread_list_unlock();
}

static void fork_child(void)
{
	rt__thread_list_reset_child();
	pthread_mutex_init(&lazy_lock, NULL);
	rt__engine_forget();
	/* The child must never write into the parent's segments: drop them all. */
	__atomic_store_n(&rt__active_v1, &inactive_word, __ATOMIC_RELAXED);
	rt__thread_forget_all();
	rt__names_snapshot_free(fork_names);
	fork_names = NULL;
	if (rt__proc.ctl) {
		fork_names = rt__names_snapshot(rt__proc.ctl);
		munmap(rt__proc.ctl, rt__proc.ctl_size);
	}
	rt__proc.ctl = NULL;
	rt__proc.tasks = NULL;
	/* Spans still open continue untracked; the child starts outside any task. */
	rt__fast_v2.tracked = 0;
	/* Our parent's consumer is not ours (single-threaded here: relaxed). */
	atomic_store_explicit(&dropped_consumer, 0, memory_order_relaxed);
	fork_parent_pid = rt__proc.pid;
	rt__proc.pid = getpid();
	/* Create the child's segment at its first tracing call, not here: a fork() followed by
	 * exec() must not leave a segment behind. */
	if (!rt__proc.cfg.disabled) {
		atomic_store_explicit(&lazy_pending, 1, memory_order_release);
		__atomic_store_n(&rt__active_v1, &pending_word, __ATOMIC_RELAXED);
	}
}

struct rt_shm_control *rt__process_ensure(void)
{
	/* Acquire pairs with the release below: a thread that sees 0 sees the finished segment. */
	if (__builtin_expect(!atomic_load_explicit(&lazy_pending, memory_order_acquire), 1))
		return rt__proc.ctl;
	pthread_mutex_lock(&lazy_lock);
	if (atomic_load_explicit(&lazy_pending, memory_order_relaxed)) {
		/* The child may have changed user since fork() (a server dropping privileges): its
		 * segments are named after, and owned by, who it is now. A session may have started
		 * since our parent looked (`record -a`), or ended. */
		rt__proc.uid = geteuid();
		rt__session_find(&rt__proc.cfg, rt__proc.uid);
		if (create_control(fork_parent_pid, fork_names) < 0)
			__atomic_store_n(&rt__active_v1, &inactive_word, __ATOMIC_RELAXED);
		rt__names_snapshot_free(fork_names);
		fork_names = NULL;
		atomic_store_explicit(&lazy_pending, 0, memory_order_release);
	}
	pthread_mutex_unlock(&lazy_lock);
	return rt__proc.ctl;
}

static bool wants_output(void)
{
	const char *f = getenv("RINGTRACE_TRACE_FILE");

	return rt__proc.cfg.from_start || rt__proc.cfg.session_pid || (f && *f);
}

int rt__process_init(void)
{
	int err;

	rt__config_from_env(&rt__proc.cfg);
	rt__shm_prefix_init();
	rt__proc.cfg.clock = (uint32_t)rt__clock_init(getenv("RINGTRACE_CLOCK"));
	rt__proc.pid = getpid();
	rt__proc.uid = geteuid();
	if (rt__proc.cfg.disabled)
		return 0;
	rt__session_find(&rt__proc.cfg, rt__proc.uid);
	err = rt__thread_list_init();
	if (err < 0)
		return err;
	err = create_control(0, NULL);
	if (err < 0) {
		/* Someone is recording and would otherwise get an empty trace with no reason. */
		if (wants_output())
			fprintf(stderr, "ringtrace: pid %d not traced: cannot create its shared memory: %s\n",
				(int)rt__proc.pid, strerror(-err));
		return err;
	}
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	atexit(process_exit);
	if (getenv("RINGTRACE_TRACE_FILE") && *getenv("RINGTRACE_TRACE_FILE"))
		rt__engine_load(getenv("RINGTRACE_TRACE_FILE"));
	return 0;
}

__attribute__((constructor)) static void library_load(void)
{
	rt__process_init();
}
