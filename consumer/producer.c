/* SPDX-License-Identifier: MIT */
/* Validated access to a producer's control segment (docs/format.md "Control segment"): opening
 * with permission checks and limits, names, calibration and counters, all under the SIGBUS guard. */
#include "producer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#include "safe-copy.h"
#include "segments.h"

#define WHY(p, ...) snprintf((p)->why, sizeof((p)->why), __VA_ARGS__)

static bool range_ok(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* A count or size beyond its documented limit: refused, naming the limit. */
#define LIMIT(p, field, v, max)                                                                            \
	do {                                                                                               \
		if ((uint64_t)(v) > (uint64_t)(max)) {                                                     \
			WHY(p, "%s %" PRIu64 " exceeds the limit %" PRIu64 " (" #max ")", field, (uint64_t)(v), \
			    (uint64_t)(max));                                                              \
			return -RT_ELIMIT;                                                                 \
		}                                                                                          \
	} while (0)

/* Every table inside the segment and aligned for its type (a misaligned slot is undefined behaviour
 * to read, whatever the bytes say). */
#define TABLE(p, field, off, count, type)                                                                  \
	do {                                                                                               \
		if (!range_ok(off, (uint64_t)(count) * sizeof(type), size) || (off) % _Alignof(type)) {      \
			WHY(p, "%s %u (x%" PRIu64 ") outside the segment or misaligned", field, (unsigned)(off), \
			    (uint64_t)(count));                                                            \
			return -RT_ECORRUPT;                                                               \
		}                                                                                          \
	} while (0)

static int validate_limits(struct rtc_producer *p, const struct rt_shm_control *h)
{
	LIMIT(p, "names_capacity", h->names_capacity, RT_SHM_NAMES_MAX);
	LIMIT(p, "arena_size", h->arena_size, RT_SHM_ARENA_MAX);
	LIMIT(p, "hash_slots", h->hash_slots, RT_SHM_HASH_SLOTS_MAX);
	LIMIT(p, "threads_capacity", h->threads_capacity, RT_SHM_THREADS_MAX);
	LIMIT(p, "calib_capacity", h->calib_capacity, RT_SHM_CALIB_MAX);
	LIMIT(p, "tasks_capacity", h->tasks_capacity, RT_SHM_TASKS_MAX);
	LIMIT(p, "dir_ext_max", h->dir_ext_max, RT_SHM_DIR_EXT_MAX);
	LIMIT(p, "dir_ext_capacity", h->dir_ext_capacity, RT_SHM_THREADS_MAX);
	LIMIT(p, "subbuf_size", h->subbuf_size, RT_SHM_SUBBUF_SIZE_MAX);
	LIMIT(p, "subbuf_count", h->subbuf_count, RT_SHM_SUBBUF_COUNT_MAX);
	LIMIT(p, "ring_size", h->ring_size, RT_SHM_RING_SIZE_MAX);
	return 0;
}

static int validate(struct rtc_producer *p, struct rt_shm_control *h, size_t file_size)
{
	uint64_t size;
	int err;

	if (h->magic != RT_SHM_CONTROL_MAGIC)
		return -RT_EBADMAGIC;
	if (h->abi_major != RT_SHM_ABI_MAJOR || h->abi_oldest > RT_SHM_ABI_MINOR) {
		WHY(p, "ABI %u.%u (oldest reader %u), this consumer reads %u.0 to %u.%u", h->abi_major, h->abi_minor,
		    h->abi_oldest, RT_SHM_ABI_MAJOR, RT_SHM_ABI_MAJOR, RT_SHM_ABI_MINOR);
		return -RT_EABI;
	}
	if (h->header_size < RT_SHM_CONTROL_HEADER_V10 || h->segment_size > file_size || h->header_size > h->segment_size) {
		WHY(p, "header_size %u or segment_size %" PRIu64 " inconsistent with the file (%zu bytes)", h->header_size,
		    h->segment_size, file_size);
		return -RT_ECORRUPT;
	}
	/* Older producers: the 1.2 fields are not theirs (our copy zeroed them), so no task table and
	 * no directory extensions. */
	size = h->segment_size;
	err = validate_limits(p, h);
	if (err < 0)
		return err;
	if (h->subbuf_size < RT_SHM_SUBBUF_SIZE_MIN || !pow2(h->subbuf_size) || !pow2(h->subbuf_count) ||
	    h->subbuf_count < 2 || (uint64_t)h->subbuf_size * h->subbuf_count != h->ring_size) {
		WHY(p, "ring geometry %u x %u != %u", h->subbuf_count, h->subbuf_size, h->ring_size);
		return -RT_ECORRUPT;
	}
	if (h->calib_capacity == 0 || (h->tasks_capacity && !pow2(h->tasks_capacity)) ||
	    (h->dir_ext_max && h->dir_ext_capacity == 0)) {
		WHY(p, "calib_capacity, tasks_capacity or dir_ext_capacity invalid");
		return -RT_ECORRUPT;
	}
	TABLE(p, "names_offset", h->names_offset, h->names_capacity, uint32_t);
	TABLE(p, "arena_offset", h->arena_offset, h->arena_size, uint8_t);
	TABLE(p, "threads_offset", h->threads_offset, h->threads_capacity, struct rt_shm_thread_slot);
	TABLE(p, "calib_offset", h->calib_offset, h->calib_capacity, struct rt_shm_calib_point);
	TABLE(p, "tasks_offset", h->tasks_offset, h->tasks_capacity, struct rt_shm_task_slot);
	TABLE(p, "dir_ext_offset", h->dir_ext_offset, h->dir_ext_max, uint64_t);
	if ((h->mode != RT_SHM_MODE_DISCARD && h->mode != RT_SHM_MODE_OVERWRITE) ||
	    (h->clock != RT_SHM_CLOCK_TSC && h->clock != RT_SHM_CLOCK_MONOTONIC) || h->idle_active > RT_SHM_ACTIVE_TRACK) {
		WHY(p, "mode %u, clock %u or idle_active %u unknown", h->mode, h->clock, h->idle_active);
		return -RT_ECORRUPT;
	}
	p->abi_minor = h->abi_minor;
	p->header_size = h->header_size;
	p->mode = h->mode;
	p->clock = h->clock;
	p->idle_active = h->idle_active;
	p->ring_size = h->ring_size;
	p->subbuf_size = h->subbuf_size;
	p->subbuf_count = h->subbuf_count;
	p->names_capacity = h->names_capacity;
	p->names_offset = h->names_offset;
	p->arena_offset = h->arena_offset;
	p->arena_size = h->arena_size;
	p->threads_offset = h->threads_offset;
	p->threads_capacity = h->threads_capacity;
	p->calib_offset = h->calib_offset;
	p->calib_capacity = h->calib_capacity;
	p->tasks_offset = h->tasks_offset;
	p->tasks_capacity = h->tasks_capacity;
	p->dir_ext_offset = h->dir_ext_offset;
	p->dir_ext_max = h->dir_ext_max;
	p->dir_ext_capacity = h->dir_ext_capacity;
	p->parent_pid = h->parent_pid;
	p->session_pid = h->session_pid;
	p->session_flags = h->session_flags;
	p->session_token = h->session_token;
	p->start_real_ns = h->start_real_ns;
	p->start_mono_ns = h->start_mono_ns;
	/* Read once: the idle clock's helper states it when it starts (bounded: a second at most). */
	p->coarse_res_ns = h->abi_minor >= 2 && h->coarse_res_ns <= 1000000000u ? h->coarse_res_ns : 0;
	memcpy(p->process_name, h->process_name, RT_SHM_PROCESS_NAME_LEN);
	p->process_name[RT_SHM_PROCESS_NAME_LEN] = 0;
	for (char *c = p->process_name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\')
			*c = '?';
	return 0;
}

/* May we read (and steer) the producer `pid` whose segment `owner` owns? */
static int may_trace(struct rtc_producer *p, pid_t pid, uid_t owner)
{
	int64_t euid;
	char mem[64];
	int fd;

	if (owner == geteuid())
		return 0;
	euid = rtc_segments_pid_euid(pid);
	if (euid < 0) {
		if (geteuid() == 0)
			return 0; /* a dead process's leftovers: root may read them post mortem */
		WHY(p, "the segment belongs to uid %u", (unsigned)owner);
		return -EACCES;
	}
	if ((uid_t)euid != owner) {
		WHY(p, "the segment's owner (uid %u) is not the user pid %d runs as (uid %u)", (unsigned)owner, (int)pid,
		    (unsigned)euid);
		return -EACCES;
	}
	/* The kernel's ptrace access check (root, CAP_SYS_PTRACE over the target, Yama's scope):
	 * whoever may read the process's memory may read its trace. */
	snprintf(mem, sizeof(mem), "/proc/%d/mem", (int)pid);
	fd = open(mem, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		WHY(p, "not permitted to trace pid %d of uid %u (ptrace rules)", (int)pid, (unsigned)owner);
		return -EACCES;
	}
	close(fd);
	return 0;
}

int rtc_producer_open_name(struct rtc_producer *p, const char *shm_name)
{
	struct rt_shm_control head;
	struct rtc_segment seg;
	struct stat st;
	size_t copy;
	void *map;
	int fd, err;
	uint64_t magic;

	memset(p, 0, sizeof(*p));
	if (rtc_segment_parse(shm_name, &seg) < 0 || seg.kind != RTC_SEG_CONTROL)
		return -EINVAL;
	snprintf(p->shm_name, sizeof(p->shm_name), "%s", seg.name);
	p->pid = seg.pid;
	p->uid = seg.name_uid;
	err = rtc_safe_copy_init();
	if (err < 0)
		return err;
	fd = shm_open(p->shm_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto error_close;
	}
	/* A name carries its owner's uid: anything else was planted or squats the name. */
	if (!S_ISREG(st.st_mode) || st.st_uid != seg.name_uid) {
		WHY(p, "owned by uid %u, not by the uid in its name (%u)", (unsigned)st.st_uid, (unsigned)seg.name_uid);
		err = -EACCES;
		goto error_close;
	}
	err = may_trace(p, seg.pid, st.st_uid);
	if (err < 0)
		goto error_close;
	if ((uint64_t)st.st_size > RT_SHM_CONTROL_SIZE_MAX) {
		WHY(p, "segment size %" PRIu64 " exceeds the limit %u (RT_SHM_CONTROL_SIZE_MAX)", (uint64_t)st.st_size,
		    RT_SHM_CONTROL_SIZE_MAX);
		err = -RT_ELIMIT;
		goto error_close;
	}
	if ((size_t)st.st_size < RT_SHM_CONTROL_HEADER_V10) {
		err = st.st_size == 0 ? -RT_EBADMAGIC : -RT_ECORRUPT;
		goto error_close;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		err = -errno;
		goto error_close;
	}
	close(fd);
	p->ctl = map;
	p->map_size = (size_t)st.st_size;
	/* Acquire on the magic pairs with the producer's release after initialising the header;
	 * then take a private copy. Both reads survive a truncation (SIGBUS). */
	if (rtc_safe_load_acquire(&p->ctl->magic, &magic) < 0 || magic != RT_SHM_CONTROL_MAGIC) {
		err = -RT_EBADMAGIC;
		goto error_unmap;
	}
	memset(&head, 0, sizeof(head));
	copy = p->map_size < sizeof(head) ? p->map_size : sizeof(head);
	if (rtc_safe_copy(&head, p->ctl, copy) < 0) {
		err = -RT_ECORRUPT;
		goto error_unmap;
	}
	/* Fields a 1.0/1.1 producer does not have are not read from its bytes. */
	if (head.header_size >= RT_SHM_CONTROL_HEADER_V10 && head.header_size < sizeof(head))
		memset((char *)&head + head.header_size, 0, sizeof(head) - head.header_size);
	err = validate(p, &head, p->map_size);
	if (err < 0)
		goto error_unmap;
	if (head.pid != (uint32_t)seg.pid || head.uid != (uint32_t)seg.name_uid ||
	    (seg.salt && head.header_size >= sizeof(head) && head.name_salt != seg.salt)) {
		WHY(p, "pid %u / uid %u / salt in the header differ from the name", head.pid, head.uid);
		err = -RT_ECORRUPT;
		goto error_unmap;
	}
	return 0;

error_unmap:
	munmap(map, p->map_size);
	p->ctl = NULL;
	p->map_size = 0;
	return err;
error_close:
	close(fd);
	return err;
}

int rtc_producer_open_pid(struct rtc_producer *p, pid_t pid)
{
	char names[8][RT_SHM_NAME_MAX], why[sizeof(p->why)] = "", dead[RT_SHM_NAME_MAX] = "";
	uint64_t dead_start = 0;
	int err = -ENOENT;

	/* The usual names first (no scan of /dev/shm); then every candidate. The first that opens
	 * and is the live process wins (a dead process that had the pid before may have left its
	 * segments, kept for its consumer); else the newest dead one (read post mortem: the last
	 * image before an exec, or the last process with the pid); otherwise the most telling
	 * refusal. */
	for (int scan = 0; scan < 2; scan++) {
		size_t n = rtc_segments_find_pid(pid, scan, names, 8);

		for (size_t i = 0; i < n; i++) {
			int e = rtc_producer_open_name(p, names[i]);

			if (e == 0 && !rtc_producer_exited(p))
				return 0;
			if (e == 0) {
				if (!dead[0] || p->start_mono_ns > dead_start) {
					memcpy(dead, names[i], sizeof(dead));
					dead_start = p->start_mono_ns;
				}
				rtc_producer_close(p);
				continue;
			}
			if (err == -ENOENT || (e != -ENOENT && e != -EACCES)) {
				err = e;
				memcpy(why, p->why, sizeof(why));
			}
		}
		/* A half-created segment (no magic yet) is there: no need to look for another. */
		if (err == -RT_EBADMAGIC)
			break;
	}
	if (dead[0] && rtc_producer_open_name(p, dead) == 0)
		return 0;
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	memcpy(p->why, why, sizeof(why));
	return err;
}

int rtc_producer_open(struct rtc_producer *p, pid_t pid, uid_t uid)
{
	(void)uid;
	return rtc_producer_open_pid(p, pid);
}

void rtc_producer_close(struct rtc_producer *p)
{
	if (atomic_load_explicit(&p->session, memory_order_relaxed))
		rtc_producer_detach(p);
	if (p->names) {
		for (uint32_t i = 0; i < p->names_cached; i++)
			free(p->names[i]);
		free(p->names);
	}
	for (uint32_t k = 0; k < p->ext_mapped; k++)
		munmap(p->ext[k].hdr, p->ext[k].map_size);
	if (p->ctl)
		munmap(p->ctl, p->map_size);
	memset(p, 0, sizeof(*p));
}

/* ---- counters, names, calibration ---- */

struct counts_call {
	struct rtc_producer *p;
	struct rtc_producer_counts *c;
};

static void counts_call(void *arg)
{
	struct counts_call *a = arg;
	struct rt_shm_control *h = a->p->ctl;
	struct rtc_producer_counts *c = a->c;
	uint32_t ext;

	/* Relaxed: statistics, they order nothing. */
	c->thread_overflows = atomic_load_explicit(&h->thread_overflows, memory_order_relaxed);
	c->name_overflows = atomic_load_explicit(&h->name_overflows, memory_order_relaxed);
	c->lease_expiries = atomic_load_explicit(&h->lease_expiries, memory_order_relaxed);
	c->names_count = atomic_load_explicit(&h->names_count, memory_order_relaxed);
	if (c->names_count > a->p->names_capacity)
		c->names_count = a->p->names_capacity;
	c->threads_capacity = a->p->threads_capacity;
	if (a->p->header_size < sizeof(*h))
		return; /* the rest are ABI 1.2 fields */
	c->ring_failures = atomic_load_explicit(&h->ring_failures, memory_order_relaxed);
	c->task_overflows = atomic_load_explicit(&h->task_overflows, memory_order_relaxed);
	c->reclaimed = atomic_load_explicit(&h->reclaimed, memory_order_relaxed);
	ext = atomic_load_explicit(&h->dir_ext_count, memory_order_relaxed);
	c->dir_ext_count = ext < a->p->dir_ext_max ? ext : a->p->dir_ext_max;
	c->threads_capacity += c->dir_ext_count * a->p->dir_ext_capacity;
}

int rtc_producer_counts(struct rtc_producer *p, struct rtc_producer_counts *c)
{
	struct counts_call a = { p, c };

	memset(c, 0, sizeof(*c));
	return rtc_safe_call(counts_call, &a);
}

struct count_call {
	struct rtc_producer *p;
	uint32_t v;
};

static void names_count_call(void *arg)
{
	struct count_call *a = arg;

	/* Acquire: ids below the count were handed out before; each is read with its own acquire. */
	a->v = atomic_load_explicit(&a->p->ctl->names_count, memory_order_acquire);
}

uint32_t rtc_producer_names_count(struct rtc_producer *p)
{
	struct count_call a = { p, 0 };

	if (rtc_safe_call(names_count_call, &a) < 0)
		return 0;
	return a.v < p->names_capacity ? a.v : p->names_capacity;
}

/* The cache covers ids up to `id` (grown on demand: memory follows the ids actually asked for). */
static bool cache_names(struct rtc_producer *p, uint32_t id)
{
	uint32_t cap;
	char **n;

	if (id < p->names_cached)
		return true;
	cap = p->names_cached ? p->names_cached * 2 : 64;
	if (cap <= id)
		cap = id + 1;
	if (cap > p->names_capacity)
		cap = p->names_capacity;
	n = realloc(p->names, cap * sizeof(*n));
	if (!n)
		return false;
	memset(n + p->names_cached, 0, (cap - p->names_cached) * sizeof(*n));
	p->names = n;
	p->names_cached = cap;
	return true;
}

struct name_call {
	struct rtc_producer *p;
	uint32_t id, off;
};

static void name_offset_call(void *arg)
{
	struct name_call *a = arg;
	const _Atomic uint32_t *offsets = (const _Atomic uint32_t *)((const char *)a->p->ctl + a->p->names_offset);

	/* Acquire pairs with the producer's release after writing the entry bytes. */
	a->off = atomic_load_explicit(&offsets[a->id], memory_order_acquire);
}

const char *rtc_producer_name(struct rtc_producer *p, uint32_t id)
{
	static const char unknown[] = "<unknown>";
	struct name_call a = { p, id, 0 };
	uint8_t hdr[RT_NAME_HDR_SIZE];
	uint32_t len;
	char *s;

	if (id >= p->names_capacity || !cache_names(p, id))
		return unknown;
	if (p->names[id])
		return p->names[id];
	if (rtc_safe_call(name_offset_call, &a) < 0)
		return unknown;
	if (a.off == 0 || a.off >= p->arena_size || p->arena_size - a.off < RT_NAME_HDR_SIZE)
		return unknown; /* not (yet) published, or garbage */
	if (rtc_safe_copy(hdr, (const char *)p->ctl + p->arena_offset + a.off, sizeof(hdr)) < 0)
		return unknown;
	len = hdr[0] | ((uint32_t)hdr[1] << 8);
	if (len > RT_SHM_NAME_MAX_LEN || p->arena_size - a.off - RT_NAME_HDR_SIZE < len)
		return unknown;
	s = malloc(len + 1);
	if (!s)
		return unknown;
	if (rtc_safe_copy(s, (const char *)p->ctl + p->arena_offset + a.off + RT_NAME_HDR_SIZE, len) < 0) {
		free(s);
		return unknown;
	}
	s[len] = 0;
	p->names[id] = s;
	return s;
}

static int cmp_calib(const void *a, const void *b)
{
	const struct rt_shm_calib_point *x = a, *y = b;

	return x->tsc < y->tsc ? -1 : x->tsc > y->tsc;
}

struct calib_call {
	struct rtc_producer *p;
	struct rt_shm_calib_point *out;
	size_t max, n;
};

static void calib_call(void *arg)
{
	struct calib_call *a = arg;
	struct rt_shm_calib_point *pts = (struct rt_shm_calib_point *)((char *)a->p->ctl + a->p->calib_offset);

	for (uint32_t i = 0; i < a->p->calib_capacity && a->n < a->max; i++) {
		/* Seqlock read: acquire the sequence, copy, fence, check it did not move. */
		uint64_t s1 = atomic_load_explicit(&pts[i].seq, memory_order_acquire), s2;
		struct rt_shm_calib_point c;

		if (s1 == 0 || (s1 & 1))
			continue;
		c.tsc = pts[i].tsc;
		c.mono_ns = pts[i].mono_ns;
		c.real_ns = pts[i].real_ns;
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&pts[i].seq, memory_order_relaxed);
		if (s1 != s2 || c.mono_ns == 0)
			continue;
		c.seq = s1;
		a->out[a->n++] = c;
	}
}

size_t rtc_producer_calibration(struct rtc_producer *p, struct rt_shm_calib_point *out, size_t max)
{
	struct calib_call a = { p, out, max, 0 };

	rtc_safe_call(calib_call, &a); /* after a fault: the points copied before it */
	if (a.n)
		qsort(out, a.n, sizeof(*out), cmp_calib);
	return a.n;
}

/* ---- names of segments ---- */

struct scan_adapter {
	void (*fn)(void *ctx, pid_t pid, const char *shm_name, bool control);
	void *ctx;
};

static int scan_adapt(void *ctx, const struct rtc_segment *s)
{
	struct scan_adapter *a = ctx;

	if (s->kind != RTC_SEG_MARKER)
		a->fn(a->ctx, s->pid, s->name, s->kind == RTC_SEG_CONTROL);
	return 0;
}

int rtc_producer_scan(void (*fn)(void *ctx, pid_t pid, const char *shm_name, bool control), void *ctx)
{
	struct scan_adapter a = { fn, ctx };

	return rtc_segments_scan(false, scan_adapt, &a);
}

void rtc_producer_ring_name(const struct rtc_producer *p, uint64_t thread_number, char *buf, size_t len)
{
	for (uint32_t i = 0; i < p->nsalted; i++)
		if (p->salted[i].thread_number == thread_number) {
			snprintf(buf, len, RT_SHM_RING_SALTED_FMT, rtc_shm_prefix(), (unsigned)p->uid, (unsigned)p->pid,
				 thread_number, p->salted[i].salt);
			return;
		}
	snprintf(buf, len, RT_SHM_RING_NAME_FMT, rtc_shm_prefix(), (unsigned)p->uid, (unsigned)p->pid, thread_number);
}
