/* SPDX-License-Identifier: MIT */
/* Thread directory slots in the control segment and in extension segments (docs/format.md 2.2). */
#include "thread-dir.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "process.h"
#include "shm.h"

/* This process's extensions. ext[k] is written once, before ext_count covers k (release); threads
 * that load ext_count with acquire may then read ext[k] without the lock. */
struct ext {
	struct rt_shm_thread_slot *slots;
	void *map;
	size_t size;
	char name[RT_SHM_NAME_BUF];
};

static struct ext exts[RT_SHM_DIR_EXT_MAX];
static _Atomic uint32_t ext_count;
static pthread_mutex_t grow_lock = PTHREAD_MUTEX_INITIALIZER;
/* Where the last claim succeeded: the next search starts there (relaxed: only a hint). */
static _Atomic uint32_t hint;
static _Atomic uint32_t finished_kept;

/* Offsets and capacities: our copy of the layout (rt__proc.layout), never the segment's. */
static struct rt_shm_thread_slot *control_slots(struct rt_shm_control *ctl)
{
	return (struct rt_shm_thread_slot *)(void *)((char *)ctl + rt__proc.layout.threads_offset);
}

static uint64_t *ext_salts(struct rt_shm_control *ctl)
{
	return (uint64_t *)(void *)((char *)ctl + rt__proc.layout.dir_ext_offset);
}

static uint32_t total_slots(struct rt_shm_control *ctl, uint32_t nexts)
{
	(void)ctl;
	return rt__proc.layout.threads_capacity + nexts * rt__proc.layout.dir_ext_capacity;
}

static struct rt_shm_thread_slot *slot_at(struct rt_shm_control *ctl, uint32_t i)
{
	const struct rt__control_layout *lay = &rt__proc.layout;

	if (i < lay->threads_capacity)
		return &control_slots(ctl)[i];
	i -= lay->threads_capacity;
	return &exts[i / lay->dir_ext_capacity].slots[i % lay->dir_ext_capacity];
}

void rt__dir_set_name(struct rt_shm_thread_slot *s, const char *name)
{
	char buf[RT_SHM_THREAD_NAME_LEN] = { 0 };
	size_t n = strnlen(name, RT_SHM_THREAD_NAME_LEN - 1);

	memcpy(buf, name, n);
	/* Word by word, relaxed: a consumer may copy the name concurrently (rt_thread_set_name() on a
	 * live thread); the state word's release/acquire orders it for a new slot. */
	for (size_t w = 0; w < RT_SHM_THREAD_NAME_LEN / 8; w++) {
		uint64_t v;

		memcpy(&v, buf + 8 * w, 8);
		atomic_store_explicit(&s->name.w[w], v, memory_order_relaxed);
	}
}

void rt__dir_get_name(const struct rt_shm_thread_slot *s, char out[RT_SHM_THREAD_NAME_LEN])
{
	for (size_t w = 0; w < RT_SHM_THREAD_NAME_LEN / 8; w++) {
		/* Relaxed: only this thread writes its own slot's name. */
		uint64_t v = atomic_load_explicit(&((struct rt_shm_thread_slot *)s)->name.w[w], memory_order_relaxed);

		memcpy(out + 8 * w, &v, 8);
	}
	out[RT_SHM_THREAD_NAME_LEN - 1] = 0;
}

static void unlink_ring(struct rt_shm_thread_slot *s)
{
	char name[RT_SHM_NAME_BUF];

	rt__shm_ring_name(name, sizeof(name), rt__proc.uid, rt__proc.pid,
			  atomic_load_explicit(&s->thread_number, memory_order_relaxed),
			  atomic_load_explicit(&s->ring_salt, memory_order_relaxed));
	shm_unlink(name);
}

/* One pass over every slot for those in state `want`; the CAS decides between racing claimers. */
static struct rt_shm_thread_slot *claim_pass(struct rt_shm_control *ctl, uint32_t want, uint32_t n)
{
	uint32_t start = atomic_load_explicit(&hint, memory_order_relaxed);

	if (start >= n)
		start = 0;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = start + k < n ? start + k : start + k - n;
		struct rt_shm_thread_slot *s = slot_at(ctl, i);
		uint32_t expect = want;

		if (atomic_load_explicit(&s->state, memory_order_relaxed) != want)
			continue;
		/* Acquire: the previous owner's thread number and salt are read below (to remove its
		 * ring), and a consumer's drained-CAS (release) finished its reads first. */
		if (!atomic_compare_exchange_strong_explicit(&s->state, &expect, RT_SHM_THREAD_CLAIMED,
							    memory_order_acquire, memory_order_relaxed))
			continue;
		/* Seqlock writer side: CLAIMED is visible before any field of the slot changes; pairs
		 * with the acquire fence readers issue before re-checking state (docs/format.md 2.2). */
		atomic_thread_fence(memory_order_release);
		if (want != RT_SHM_THREAD_FREE) {
			unlink_ring(s);
			if (want == RT_SHM_THREAD_FINISHED)
				atomic_fetch_sub_explicit(&finished_kept, 1, memory_order_relaxed);
		}
		atomic_store_explicit(&hint, i + 1, memory_order_relaxed);
		return s;
	}
	return NULL;
}

/* Create extension k; the caller holds grow_lock and k == ext_count. */
static int grow(struct rt_shm_control *ctl, uint32_t k)
{
	struct rt__shm_seg seg;
	struct rt_shm_dir_ext *h;
	char base[RT_SHM_NAME_BUF];
	size_t slots_off = sizeof(struct rt_shm_dir_ext);
	size_t size = (slots_off + (size_t)rt__proc.layout.dir_ext_capacity * sizeof(struct rt_shm_thread_slot) + 4095) &
		      ~(size_t)4095;
	int err;

	if (k >= rt__proc.layout.dir_ext_max)
		return -ENOSPC;
	/* The salt is part of every extension's name (never guessable before it exists); the base is
	 * only a stem. */
	snprintf(base, sizeof(base), "/%s.%u.%u.d%u", rt__shm_prefix(), (unsigned)rt__proc.uid,
		 (unsigned)rt__proc.pid, k);
	err = rt__shm_create_seg(&seg, base, size, size, 1);
	if (err < 0)
		return err;
	h = seg.map;
	h->abi_major = RT_SHM_ABI_MAJOR;
	h->abi_minor = RT_SHM_ABI_MINOR;
	h->header_size = sizeof(*h);
	h->segment_size = size;
	h->pid = (uint32_t)rt__proc.pid;
	h->index = k;
	h->slots_offset = (uint32_t)slots_off;
	h->capacity = rt__proc.layout.dir_ext_capacity;
	h->salt = seg.salt;
	/* Release: the header is complete before a consumer that acquires the magic reads it. */
	atomic_store_explicit((_Atomic uint64_t *)&h->magic, RT_SHM_DIR_MAGIC, memory_order_release);
	exts[k] = (struct ext){ .slots = (struct rt_shm_thread_slot *)((char *)seg.map + slots_off),
				.map = seg.map, .size = size };
	memcpy(exts[k].name, seg.name, sizeof(seg.name));
	ext_salts(ctl)[k] = seg.salt;
	/* Release (both): the salt and the extension's slots are in place before a consumer (control
	 * segment's count) or another of our threads (ext_count) uses extension k. */
	atomic_store_explicit(&ctl->dir_ext_count, k + 1, memory_order_release);
	atomic_store_explicit(&ext_count, k + 1, memory_order_release);
	return 0;
}

struct rt_shm_thread_slot *rt__dir_claim(struct rt_shm_control *ctl)
{
	/* Drained slots first: threads come and go in the same few slots, which keeps the part of the
	 * directory consumers scan small. */
	static const uint32_t wanted[] = { RT_SHM_THREAD_DRAINED, RT_SHM_THREAD_FREE, RT_SHM_THREAD_FINISHED };
	struct rt_shm_thread_slot *s;

	for (;;) {
		/* Acquire pairs with the release in grow(): exts[0 .. n) are filled in. */
		uint32_t n = atomic_load_explicit(&ext_count, memory_order_acquire);
		size_t tries = sizeof(wanted) / sizeof(wanted[0]);
		int err;

		/* Finished rings belong to an attached consumer until it drains them; without one, a
		 * new slot is preferred to overwriting kept history. */
		if (atomic_load_explicit(&ctl->session, memory_order_relaxed) != 0)
			tries--;
		for (size_t w = 0; w < 2; w++) {
			s = claim_pass(ctl, wanted[w], total_slots(ctl, n));
			if (s)
				return s;
		}
		pthread_mutex_lock(&grow_lock);
		err = 0;
		if (atomic_load_explicit(&ext_count, memory_order_relaxed) == n)
			err = grow(ctl, n);
		pthread_mutex_unlock(&grow_lock);
		if (err < 0) {
			if (tries == 3 && (s = claim_pass(ctl, RT_SHM_THREAD_FINISHED, total_slots(ctl, n))) != NULL)
				return s;
			atomic_fetch_add_explicit(&ctl->thread_overflows, 1, memory_order_relaxed);
			return NULL;
		}
	}
}

void rt__dir_release(struct rt_shm_thread_slot *s)
{
	/* Release: our writes to the slot are done before another thread's claim (acquire). */
	atomic_store_explicit(&s->state, RT_SHM_THREAD_FREE, memory_order_release);
}

bool rt__dir_keep_finished(void)
{
	if (atomic_fetch_add_explicit(&finished_kept, 1, memory_order_relaxed) < RT__DIR_FINISHED_KEPT)
		return true;
	atomic_fetch_sub_explicit(&finished_kept, 1, memory_order_relaxed);
	return false;
}

void rt__dir_each(struct rt_shm_control *ctl, void (*fn)(struct rt_shm_thread_slot *s, void *ctx), void *ctx)
{
	uint32_t n = total_slots(ctl, atomic_load_explicit(&ext_count, memory_order_acquire));

	for (uint32_t i = 0; i < n; i++)
		fn(slot_at(ctl, i), ctx);
}

void rt__dir_unlink(void)
{
	uint32_t n = atomic_load_explicit(&ext_count, memory_order_acquire);

	for (uint32_t k = 0; k < n; k++)
		shm_unlink(exts[k].name);
}

void rt__dir_forget(void)
{
	uint32_t n = atomic_load_explicit(&ext_count, memory_order_relaxed);

	for (uint32_t k = 0; k < n; k++)
		munmap(exts[k].map, exts[k].size);
	memset(exts, 0, sizeof(exts));
	atomic_store_explicit(&ext_count, 0, memory_order_relaxed);
	atomic_store_explicit(&hint, 0, memory_order_relaxed);
	atomic_store_explicit(&finished_kept, 0, memory_order_relaxed);
	pthread_mutex_init(&grow_lock, NULL);
}
