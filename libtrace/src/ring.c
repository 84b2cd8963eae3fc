/* SPDX-License-Identifier: MIT */
/* Ring segment creation and the sub-buffer switch (the only non-inline part of the writer). */
#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "shm.h"

#define HAND_OVER_LINE 64u             /* x86 cache line */
#define HAND_OVER_DEFAULT (1u << 20)   /* when the L2 size is not known */

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* How much of a closed sub-buffer rt__ring_hand_over() evicts: what can still be in this CPU's
 * L2 (older lines left it already), 0 without CLFLUSHOPT. Once per ring: CPUID may trap to a
 * hypervisor, which is fine at thread start and not on the switch path. */
static uint32_t hand_over_limit(uint32_t sb_size)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;
	long l2;

	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & bit_CLFLUSHOPT))
		return 0;
	l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
	if (l2 <= 0 || l2 > (64l << 20))
		l2 = HAND_OVER_DEFAULT;
	return (uint64_t)l2 < sb_size ? (uint32_t)l2 : sb_size;
#else
	(void)sb_size;
	return 0;
#endif
}

int rt__ring_create(struct rt__ring_writer *w, const char *shm_name, const struct rt__ring_config *cfg, uint64_t ts)
{
	uint32_t sb_size = cfg->ring_size / cfg->sb_count;
	size_t sb_off = align_up(sizeof(struct rt_shm_ring), RT_SHM_CACHELINE);
	size_t data_off = align_up(sb_off + cfg->sb_count * sizeof(struct rt_shm_subbuf), 4096);
	size_t total = data_off + cfg->ring_size;
	struct rt_shm_ring *r;
	void *map;
	int err;

	memset(w, 0, sizeof(*w));
	/* Memory for the header and the first sub-buffer now, the others as the writer first enters
	 * them (rt__thread_claim_subbuf()): an idle thread costs one sub-buffer, not the whole ring. */
	err = rt__shm_create_partial(shm_name, total, data_off + sb_size, &map);
	if (err < 0)
		return err;
	r = map;
	r->abi_major = RT_SHM_ABI_MAJOR;
	r->abi_minor = RT_SHM_ABI_MINOR;
	r->header_size = sizeof(*r);
	r->segment_size = total;
	r->subbuf_size = sb_size;
	r->subbuf_count = cfg->sb_count;
	r->subbuf_offset = (uint32_t)sb_off;
	r->data_offset = (uint32_t)data_off;
	r->mode = cfg->mode;
	r->clock = cfg->clock;
	r->pid = cfg->pid;
	r->tid = cfg->tid;
	r->thread_number = cfg->thread_number;
	r->created_ts = ts;

	w->hdr = r;
	w->sb = (struct rt_shm_subbuf *)((char *)map + sb_off);
	w->data = (uint8_t *)map + data_off;
	w->map_size = total;
	w->sb_size = sb_size;
	w->sb_count = cfg->sb_count;
	w->data_mask = (uint64_t)cfg->ring_size - 1;
	w->mode = cfg->mode;
	w->hand_over_max = hand_over_limit(sb_size);
	for (uint32_t i = 0; i < cfg->sb_count; i++) {
		/* No slot holds a sub-buffer yet; slot 0 gets index 0 just below. */
		atomic_store_explicit(&w->sb[i].seq, UINT64_MAX, memory_order_relaxed);
		atomic_store_explicit(&w->sb[i].used, RT_SHM_SUBBUF_OPEN, memory_order_relaxed);
	}
	atomic_store_explicit(&w->sb[0].seq, 0, memory_order_relaxed);
	w->sb[0].base_ts = ts;
	w->sb_end = sb_size;
	w->last_ts = ts;
	atomic_store_explicit(&r->state, RT_SHM_THREAD_ACTIVE, memory_order_relaxed);
	/* Release: the whole header above is initialised before a consumer that checks the magic
	 * (acquire) reads any other field. */
	atomic_store_explicit((_Atomic uint64_t *)&r->magic, RT_SHM_RING_MAGIC, memory_order_release);
	return 0;
}

void rt__ring_destroy(struct rt__ring_writer *w, const char *unlink_name)
{
	if (w->hdr)
		munmap(w->hdr, w->map_size);
	if (unlink_name)
		shm_unlink(unlink_name);
	memset(w, 0, sizeof(*w));
}

bool rt__ring_switch(struct rt__ring_writer *w, uint64_t ts)
{
	uint64_t next = w->sb_index + 1;
	struct rt_shm_subbuf *cur = &w->sb[w->sb_index & (w->sb_count - 1)];
	struct rt_shm_subbuf *sb = &w->sb[next & (w->sb_count - 1)];
	uint64_t reader, need;

	if (next >= w->sb_count) {
		/* Before reusing the slot of sub-buffer next - count, the reader must be past it.
		 * Acquire pairs with the consumer's release store of read_pos after it copied that
		 * data out, so our writes below cannot land under its reads. */
		reader = atomic_load_explicit(&w->hdr->read_pos, memory_order_acquire);
		need = (next - w->sb_count + 1) * (uint64_t)w->sb_size;
		if (reader < need) {
			if (w->mode == RT_SHM_MODE_DISCARD)
				return false;
			/* Overwrite: the oldest sub-buffer is lost to any reader that has not read it. */
			atomic_fetch_add_explicit(&w->hdr->overwritten_records, sb->records, memory_order_relaxed);
			atomic_fetch_add_explicit(&w->hdr->overwritten_subbufs, 1, memory_order_relaxed);
		}
	}

	cur->records = w->sb_records;
	atomic_store_explicit(&w->hdr->bytes,
			      atomic_load_explicit(&w->hdr->bytes, memory_order_relaxed) + (w->pos - w->sb_index * w->sb_size),
			      memory_order_relaxed);
	/* Release: the records count and every record byte of the closed sub-buffer are visible to
	 * a reader that acquires `used` (or commit_pos beyond this sub-buffer, stored later). */
	atomic_store_explicit(&cur->used, w->pos - w->sb_index * w->sb_size, memory_order_release);

	/* The slot's new index goes out before any of its bytes change. The release fence orders
	 * the seq store before the header and record stores that follow; a reader copies, then
	 * fences (acquire) and re-reads seq, so a copy that saw any new byte sees the new seq. */
	atomic_store_explicit(&sb->seq, next, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&sb->used, RT_SHM_SUBBUF_OPEN, memory_order_relaxed);
	w->rec_seq += w->sb_records;
	/* Statistics for `ringtrace list`: relaxed, this thread is the only writer. */
	atomic_store_explicit(&w->hdr->records, w->rec_seq, memory_order_relaxed);
	sb->rec_seq0 = w->rec_seq;
	sb->base_ts = ts;
	sb->records = 0;

	w->sb_index = next;
	w->pos = next * w->sb_size;
	w->sb_end = w->pos + w->sb_size;
	w->sb_records = 0;
	w->last_ts = ts;
	/* Release: the new sub-buffer's header is visible before a reader sees a position in it. */
	atomic_store_explicit(&w->hdr->commit_pos, w->pos, memory_order_release);
	return true;
}

void rt__ring_hand_over(const struct rt__ring_writer *w, uint64_t sb_index)
{
#if defined(__x86_64__) || defined(__i386__)
	const uint8_t *end = w->data + (sb_index & (w->sb_count - 1)) * (uint64_t)w->sb_size + w->sb_size;

	/* No fence: CLFLUSHOPT is weakly ordered and pipelined, and nothing needs to wait for the
	 * write-backs. Sub-buffers are page-aligned, so every step is one whole line. */
	for (const uint8_t *p = end - w->hand_over_max; p < end; p += HAND_OVER_LINE)
		__asm__ volatile("clflushopt %0" : "+m"(*(volatile uint8_t *)p));
#else
	(void)w;
	(void)sb_index;
#endif
}
