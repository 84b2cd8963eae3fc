/* SPDX-License-Identifier: MIT */
/* The control segment's life: creation at library load, the consumer lease, calibration points,
 * cleanup at process exit and a fresh segment in fork()ed children. */
#include "process.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#include "clock.h"
#include "idle-clock.h"
#include "names.h"
#include "shm.h"
#include "task.h"
#include "thread-list.h"
#include "thread.h"

#define NAMES_CAPACITY 16384u
#define ARENA_SIZE (1u << 20)
#define HASH_SLOTS 32768u
#define THREADS_CAPACITY 1024u
#define DEFAULT_RING_SIZE (1u << 20)
#define DEFAULT_SUBBUFS 16u
#define MIN_SUBBUF_SIZE (8u << 10)

struct rt__process rt__proc;

static const uint32_t inactive_word = RT_SHM_ACTIVE_OFF;
/* In a fork()ed child before its segment exists: sends the first call into the slow path,
 * which creates the segment (rt__process_ensure()). */
static const uint32_t pending_word = RT_SHM_ACTIVE_ON;

/* The parent's name table, copied at fork() so that the call sites' cached ids stay valid in
 * the child's own table. */
struct names_snapshot {
	uint32_t count;
	uint32_t arena_used;
	uint32_t names_capacity, arena_size, hash_slots;
	uint32_t *offsets;
	uint8_t *arena;
	uint32_t *hash;
};

static struct names_snapshot *fork_names;
static pid_t fork_parent_pid;
static _Atomic int lazy_pending;
static pthread_mutex_t lazy_lock = PTHREAD_MUTEX_INITIALIZER;
RT_API const uint32_t *rt__active_v1 = &inactive_word;
RT_API __thread struct rt__fast rt__fast_v1 __attribute__((tls_model("initial-exec")));

/* Process-wide lease state, shared by the threads that run the periodic check. */
static _Atomic uint64_t next_periodic_ts;
static _Atomic uint64_t lease_heartbeat;
static _Atomic uint64_t lease_changed_ts;
static _Atomic uint32_t lease_session;
static _Atomic uint64_t next_task_id;

uint64_t rt__parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end == 'B')
		end++;
	return *end ? 0 : v;
}

static uint32_t floor_pow2(uint64_t v)
{
	uint32_t p = 1;

	while ((uint64_t)p * 2 <= v && p < (1u << 30))
		p *= 2;
	return p;
}

void rt__config_from_env(struct rt__config *cfg)
{
	const char *mode = getenv("RINGTRACE_MODE");
	const char *track = getenv("RINGTRACE_TRACK_SPANS");
	const char *off = getenv("RINGTRACE_DISABLE");
	uint64_t size = rt__parse_size(getenv("RINGTRACE_BUFFER_SIZE"));
	uint64_t subbufs = rt__parse_size(getenv("RINGTRACE_SUBBUFS"));

	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = (mode && strcmp(mode, "overwrite") == 0) ? RT_SHM_MODE_OVERWRITE : RT_SHM_MODE_DISCARD;
	cfg->sb_count = subbufs >= 2 ? floor_pow2(subbufs) : DEFAULT_SUBBUFS;
	/* Sizes round down to powers of two so positions map to offsets with a mask. */
	cfg->ring_size = size ? floor_pow2(size) : DEFAULT_RING_SIZE;
	if (cfg->ring_size < cfg->sb_count * MIN_SUBBUF_SIZE)
		cfg->ring_size = cfg->sb_count * MIN_SUBBUF_SIZE;
	/* Open spans are tracked by default, so a consumer that attaches late sees what the threads
	 * are in: with the coarse clock (a few ns per span); `1` uses the process clock, `0` turns
	 * tracking off. */
	if (cfg->mode == RT_SHM_MODE_OVERWRITE)
		cfg->idle_active = RT_SHM_ACTIVE_ON;
	else if (track && strcmp(track, "0") == 0)
		cfg->idle_active = RT_SHM_ACTIVE_OFF;
	else
		cfg->idle_active = RT_SHM_ACTIVE_TRACK;
	cfg->track_tsc = track && strcmp(track, "1") == 0;
	cfg->disabled = off && strcmp(off, "1") == 0;
	cfg->from_start = getenv("RINGTRACE_RECORD_FROM_START") && strcmp(getenv("RINGTRACE_RECORD_FROM_START"), "1") == 0;
}

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static void add_calib_point(struct rt_shm_control *ctl, const struct rt_shm_calib_point *pt)
{
	struct rt_shm_calib_point *pts = (struct rt_shm_calib_point *)((char *)ctl + ctl->calib_offset);
	uint64_t n = atomic_fetch_add_explicit(&ctl->calib_count, 1, memory_order_relaxed);
	struct rt_shm_calib_point *dst = &pts[n % ctl->calib_capacity];
	uint64_t seq = atomic_load_explicit(&dst->seq, memory_order_relaxed);

	/* Seqlock (odd while written); see rt__stack_write_begin() for the pairing. */
	atomic_store_explicit(&dst->seq, seq | 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	dst->tsc = pt->tsc;
	dst->mono_ns = pt->mono_ns;
	dst->real_ns = pt->real_ns;
	atomic_store_explicit(&dst->seq, (seq | 1) + 1, memory_order_release);
}

static struct names_snapshot *snapshot_names(const struct rt_shm_control *ctl)
{
	struct names_snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->count = atomic_load_explicit(&ctl->names_count, memory_order_acquire);
	if (s->count > ctl->names_capacity)
		s->count = ctl->names_capacity;
	s->arena_used = atomic_load_explicit(&ctl->arena_used, memory_order_acquire);
	if (s->arena_used > ctl->arena_size)
		s->arena_used = ctl->arena_size;
	s->names_capacity = ctl->names_capacity;
	s->arena_size = ctl->arena_size;
	s->hash_slots = ctl->hash_slots;
	s->offsets = malloc(s->count * sizeof(uint32_t) + 1);
	s->arena = malloc(s->arena_used + 1);
	s->hash = malloc(s->hash_slots * sizeof(uint32_t));
	if (!s->offsets || !s->arena || !s->hash) {
		free(s->offsets);
		free(s->arena);
		free(s->hash);
		free(s);
		return NULL;
	}
	memcpy(s->offsets, (const char *)ctl + ctl->names_offset, s->count * sizeof(uint32_t));
	memcpy(s->arena, (const char *)ctl + ctl->arena_offset, s->arena_used);
	memcpy(s->hash, (const char *)ctl + ctl->hash_offset, s->hash_slots * sizeof(uint32_t));
	return s;
}

static void restore_names(struct rt_shm_control *ctl, struct names_snapshot *s)
{
	if (s->names_capacity != ctl->names_capacity || s->arena_size != ctl->arena_size ||
	    s->hash_slots != ctl->hash_slots)
		return;
	/* The segment is not published yet (no magic): plain copies, then the counters. */
	memcpy((char *)ctl + ctl->names_offset, s->offsets, s->count * sizeof(uint32_t));
	memcpy((char *)ctl + ctl->arena_offset, s->arena, s->arena_used);
	memcpy((char *)ctl + ctl->hash_offset, s->hash, s->hash_slots * sizeof(uint32_t));
	atomic_store_explicit(&ctl->names_count, s->count, memory_order_relaxed);
	atomic_store_explicit(&ctl->arena_used, s->arena_used, memory_order_relaxed);
}

static void free_snapshot(struct names_snapshot *s)
{
	if (!s)
		return;
	free(s->offsets);
	free(s->arena);
	free(s->hash);
	free(s);
}

static int create_control(pid_t parent_pid, struct names_snapshot *names)
{
	struct rt__config *cfg = &rt__proc.cfg;
	struct rt_shm_control *ctl;
	struct rt_shm_calib_point p0, p1;
	size_t names_off, arena_off, hash_off, threads_off, calib_off, total;
	void *map;
	int err;

	rt__clock_sample(&p0);
	names_off = align_up(sizeof(struct rt_shm_control), RT_SHM_CACHELINE);
	arena_off = align_up(names_off + NAMES_CAPACITY * sizeof(uint32_t), RT_SHM_CACHELINE);
	hash_off = align_up(arena_off + ARENA_SIZE, RT_SHM_CACHELINE);
	threads_off = align_up(hash_off + HASH_SLOTS * sizeof(uint32_t), RT_SHM_CACHELINE);
	calib_off = align_up(threads_off + THREADS_CAPACITY * sizeof(struct rt_shm_thread_slot), RT_SHM_CACHELINE);
	total = align_up(calib_off + RT_SHM_CALIB_MAX * sizeof(struct rt_shm_calib_point), 4096);

	rt__shm_control_name(rt__proc.ctl_name, sizeof(rt__proc.ctl_name), rt__proc.uid, rt__proc.pid);
	err = rt__shm_create(rt__proc.ctl_name, total, &map);
	if (err < 0)
		return err;
	ctl = map;
	ctl->abi_major = RT_SHM_ABI_MAJOR;
	ctl->abi_minor = RT_SHM_ABI_MINOR;
	ctl->abi_oldest = RT_SHM_ABI_OLDEST;
	ctl->header_size = sizeof(*ctl);
	ctl->segment_size = total;
	ctl->pid = (uint32_t)rt__proc.pid;
	ctl->uid = (uint32_t)rt__proc.uid;
	ctl->parent_pid = (uint32_t)parent_pid;
	ctl->clock = cfg->clock;
	ctl->mode = cfg->mode;
	ctl->idle_active = cfg->idle_active;
	ctl->ring_size = cfg->ring_size;
	ctl->subbuf_size = cfg->ring_size / cfg->sb_count;
	ctl->subbuf_count = cfg->sb_count;
	ctl->names_capacity = NAMES_CAPACITY;
	ctl->names_offset = (uint32_t)names_off;
	ctl->arena_offset = (uint32_t)arena_off;
	ctl->arena_size = ARENA_SIZE;
	ctl->hash_offset = (uint32_t)hash_off;
	ctl->hash_slots = HASH_SLOTS;
	ctl->threads_offset = (uint32_t)threads_off;
	ctl->threads_capacity = THREADS_CAPACITY;
	ctl->calib_offset = (uint32_t)calib_off;
	ctl->calib_capacity = RT_SHM_CALIB_MAX;
	ctl->coarse_res_ns = rt__idle_clock_res_ns();
	ctl->start_real_ns = p0.real_ns;
	ctl->start_mono_ns = p0.mono_ns;
	if (prctl(PR_GET_NAME, ctl->process_name, 0, 0, 0) != 0)
		strcpy(ctl->process_name, "process");
	rt__names_init(ctl);
	if (names)
		restore_names(ctl, names);
	/* Launched by `ringtrace record -- CMD`: record before the consumer's attach lands. */
	atomic_store_explicit(&ctl->active, cfg->from_start && !parent_pid ? RT_SHM_ACTIVE_ON : cfg->idle_active,
			      memory_order_relaxed);

	/* A second point for a first rate estimate; the segment setup above gave it some distance. */
	do
		rt__clock_sample(&p1);
	while (p1.mono_ns - p0.mono_ns < 50000);
	add_calib_point(ctl, &p0);
	add_calib_point(ctl, &p1);
	rt__proc.ticks_per_ns = rt__clock_rate(&p0, &p1);
	rt__proc.check_interval = (uint64_t)(100e6 * rt__proc.ticks_per_ns);
	rt__proc.lease_timeout = (uint64_t)(1e9 * rt__proc.ticks_per_ns);
	rt__proc.calib_interval = (uint64_t)(1e9 * rt__proc.ticks_per_ns);
	atomic_store_explicit(&next_periodic_ts, p1.tsc + rt__proc.calib_interval, memory_order_relaxed);

	/* Release: the segment is fully initialised before a consumer that acquires the magic
	 * reads anything else. */
	atomic_store_explicit((_Atomic uint64_t *)&ctl->magic, RT_SHM_CONTROL_MAGIC, memory_order_release);
	rt__proc.ctl = ctl;
	rt__proc.ctl_size = total;
	/* Relaxed: call sites only compare the word; they may see the new pointer a little late. */
	__atomic_store_n(&rt__active_v1, (const uint32_t *)&ctl->active, __ATOMIC_RELAXED);
	return 0;
}

uint64_t rt__process_next_task_id(void)
{
	/* Relaxed: ids only need to be unique. */
	return atomic_fetch_add_explicit(&next_task_id, 1, memory_order_relaxed) + 1;
}

void rt__process_periodic(uint64_t ts)
{
	struct rt_shm_control *ctl = rt__proc.ctl;
	uint32_t session = atomic_load_explicit(&ctl->session, memory_order_acquire);
	uint64_t hb, due;

	if (session != 0) {
		hb = atomic_load_explicit(&ctl->heartbeat, memory_order_relaxed);
		if (session != atomic_load_explicit(&lease_session, memory_order_relaxed) ||
		    hb != atomic_load_explicit(&lease_heartbeat, memory_order_relaxed)) {
			atomic_store_explicit(&lease_session, session, memory_order_relaxed);
			atomic_store_explicit(&lease_heartbeat, hb, memory_order_relaxed);
			atomic_store_explicit(&lease_changed_ts, ts, memory_order_relaxed);
		} else if (ts - atomic_load_explicit(&lease_changed_ts, memory_order_relaxed) > rt__proc.lease_timeout) {
			/* The consumer stopped beating (killed): stop paying for recording. The CAS
			 * makes sure a consumer that attached meanwhile is not the one dropped. */
			if (atomic_compare_exchange_strong_explicit(&ctl->session, &session, 0, memory_order_acq_rel,
								    memory_order_relaxed)) {
				atomic_store_explicit(&ctl->active, ctl->idle_active, memory_order_relaxed);
				atomic_store_explicit(&ctl->consumer_pid, 0, memory_order_relaxed);
				atomic_fetch_add_explicit(&ctl->lease_expiries, 1, memory_order_relaxed);
			}
		}
	}

	due = atomic_load_explicit(&next_periodic_ts, memory_order_relaxed);
	if (ts >= due && atomic_compare_exchange_strong_explicit(&next_periodic_ts, &due, ts + rt__proc.calib_interval,
								 memory_order_relaxed, memory_order_relaxed)) {
		struct rt_shm_calib_point pt;

		rt__clock_sample(&pt);
		add_calib_point(ctl, &pt);
	}
}

/* The in-process engine (RINGTRACE_TRACE_FILE), loaded on demand. */
static void (*engine_stop)(void);

static void *open_engine(void)
{
	const char *override = getenv("RINGTRACE_ENGINE");
	Dl_info info;
	void *h;

	if (override)
		return dlopen(override, RTLD_NOW | RTLD_LOCAL);
	h = dlopen("libringtrace-engine.so." RT_SOVERSION_STRING, RTLD_NOW | RTLD_LOCAL);
	if (h)
		return h;
	/* Beside this library, wherever it was installed. */
	if (dladdr((void *)open_engine, &info) && info.dli_fname) {
		char path[4096];
		const char *slash = strrchr(info.dli_fname, '/');

		if (slash && (size_t)(slash - info.dli_fname) < sizeof(path) - 64) {
			snprintf(path, sizeof(path), "%.*s/libringtrace-engine.so." RT_SOVERSION_STRING,
				 (int)(slash - info.dli_fname), info.dli_fname);
			h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		}
	}
	return h;
}

static void start_engine(const char *path)
{
	void *h = open_engine();
	int (*start)(const char *);

	if (!h) {
		fprintf(stderr, "ringtrace: RINGTRACE_TRACE_FILE is set but the engine cannot be loaded: %s\n", dlerror());
		return;
	}
	start = (int (*)(const char *))dlsym(h, "rt__engine_start");
	engine_stop = (void (*)(void))dlsym(h, "rt__engine_stop");
	if (!start || !engine_stop || start(path) < 0) {
		fprintf(stderr, "ringtrace: cannot start the in-process engine for %s\n", path);
		engine_stop = NULL;
	}
}

static void finish_thread(struct rt__thread *t)
{
	rt__thread_finish(t, false);
}

static void process_exit(void)
{
	struct rt_shm_control *ctl = rt__proc.ctl;
	struct rt__thread *t;
	bool consumer;

	if (!ctl || rt__proc.pid != getpid())
		return;
	if (engine_stop) {
		/* Our own consumer: let it drain everything and complete its file first. */
		engine_stop();
		engine_stop = NULL;
	}
	if (rt__proc.cfg.from_start) {
		/* A launching consumer may not have attached yet: give it up to 2 s, or our records
		 * go with the segments. */
		for (int i = 0; i < 2000 && atomic_load_explicit(&ctl->session, memory_order_acquire) == 0; i++)
			usleep(1000);
	}
	rt__thread_list_each(finish_thread);
	/* Release: the rings' final states are visible before `exited`. */
	atomic_store_explicit(&ctl->exited, 1, memory_order_release);
	consumer = atomic_load_explicit(&ctl->session, memory_order_acquire) != 0;
	if (consumer) {
		/* Only a live consumer in another process will drain and unlink what we leave. */
		pid_t cpid = (pid_t)atomic_load_explicit(&ctl->consumer_pid, memory_order_relaxed);

		if (cpid > 0 && cpid != getpid() && (kill(cpid, 0) == 0 || errno == EPERM))
			return;
	}
	while ((t = rt__thread_list_pop()) != NULL)
		shm_unlink(t->ring_name);
	/* Finished rings kept for late consumers are named by the directory. */
	{
		struct rt_shm_thread_slot *slots = (struct rt_shm_thread_slot *)((char *)ctl + ctl->threads_offset);

		for (uint32_t i = 0; i < ctl->threads_capacity; i++) {
			char name[RT_SHM_NAME_BUF];
			uint32_t st = atomic_load_explicit(&slots[i].state, memory_order_relaxed);

			if (st == RT_SHM_THREAD_FREE)
				continue;
			rt__shm_ring_name(name, sizeof(name), rt__proc.uid, rt__proc.pid,
					  atomic_load_explicit(&slots[i].thread_number, memory_order_relaxed));
			shm_unlink(name);
		}
	}
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
	/* The engine thread (RINGTRACE_TRACE_FILE) did not survive fork(): the child has none. */
	engine_stop = NULL;
	/* The child must never write into the parent's segments: drop them all. */
	__atomic_store_n(&rt__active_v1, &inactive_word, __ATOMIC_RELAXED);
	rt__thread_forget_all();
	free_snapshot(fork_names);
	fork_names = NULL;
	if (rt__proc.ctl) {
		fork_names = snapshot_names(rt__proc.ctl);
		munmap(rt__proc.ctl, rt__proc.ctl_size);
	}
	rt__proc.ctl = NULL;
	/* Spans still open continue untracked; the child starts outside any task. */
	rt__fast_v1.tracked = 0;
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
		if (create_control(fork_parent_pid, fork_names) < 0)
			__atomic_store_n(&rt__active_v1, &inactive_word, __ATOMIC_RELAXED);
		free_snapshot(fork_names);
		fork_names = NULL;
		atomic_store_explicit(&lazy_pending, 0, memory_order_release);
	}
	pthread_mutex_unlock(&lazy_lock);
	return rt__proc.ctl;
}

int rt__process_init(void)
{
	int err;

	rt__config_from_env(&rt__proc.cfg);
	rt__proc.cfg.clock = (uint32_t)rt__clock_init(getenv("RINGTRACE_CLOCK"));
	rt__proc.pid = getpid();
	rt__proc.uid = getuid();
	rt__tasks_init();
	if (rt__proc.cfg.disabled)
		return 0;
	err = rt__thread_list_init();
	if (err < 0)
		return err;
	err = create_control(0, NULL);
	if (err < 0)
		return err;
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	atexit(process_exit);
	if (getenv("RINGTRACE_TRACE_FILE") && *getenv("RINGTRACE_TRACE_FILE"))
		start_engine(getenv("RINGTRACE_TRACE_FILE"));
	return 0;
}

__attribute__((constructor)) static void library_load(void)
{
	rt__process_init();
}
