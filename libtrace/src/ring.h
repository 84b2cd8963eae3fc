/* SPDX-License-Identifier: MIT */
/* Per-thread ring writer: one producer thread, no lock, no syscall per record.
 *
 * Synchronization (writer = the owning thread, reader = a consumer in another process):
 *   reserve/commit  vs  reserve/commit : single writer only (the owning thread; signal
 *                                        handlers are kept out by the caller's busy flag)
 *   commit          vs  reader         : no exclusion; commit is a release store of commit_pos
 *   switch          vs  reader         : no exclusion; discard mode acquires read_pos before
 *                                        reusing memory, overwrite mode publishes the new seq
 *                                        before overwriting (readers validate their copy)
 *   hand_over       vs  reader         : none needed: cache-line eviction is coherent and
 *                                        changes no value anyone reads
 */
#ifndef RT_RING_H
#define RT_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ringtrace/shm-format.h>

#include "die.h"

struct rt__ring_writer {
	struct rt_shm_ring *hdr;
	struct rt_shm_subbuf *sb;
	uint8_t *data;
	size_t map_size;
	uint64_t pos;      /* next virtual write position */
	uint64_t sb_end;   /* virtual end of the current sub-buffer */
	uint64_t sb_index; /* virtual index of the current sub-buffer */
	uint64_t sb_records;
	uint64_t rec_seq; /* records committed before the current sub-buffer's records */
	uint64_t last_ts; /* timestamp deltas are relative to this */
	uint64_t data_mask;
	uint32_t sb_size;
	uint32_t sb_count;
	uint32_t mode;
	uint32_t hand_over_max; /* bytes rt__ring_hand_over() evicts; 0: the CPU cannot */
};

struct rt__ring_config {
	uint32_t ring_size; /* record bytes: sb_size * sb_count */
	uint32_t sb_count;
	uint32_t mode;
	uint32_t clock;
	uint32_t pid;
	uint32_t tid;
	uint64_t thread_number;
};

/* Create the ring segment `shm_name` (mode 0600) and map it. Returns 0 or -errno. */
int rt__ring_create(struct rt__ring_writer *w, const char *shm_name, const struct rt__ring_config *cfg, uint64_t ts);

/* Map the ring segment of the writer into a writer state again is not supported: a ring has one
 * writer for its life. Unmap; the segment stays for consumers unless unlink_name is given. */
void rt__ring_destroy(struct rt__ring_writer *w, const char *unlink_name);

/* Close the current sub-buffer and open the next one at timestamp ts. Returns false in discard
 * mode when the next sub-buffer has not been read yet (the ring is full). */
bool rt__ring_switch(struct rt__ring_writer *w, uint64_t ts);

/* Push the newest bytes of closed sub-buffer sb_index (at most hand_over_max, the size of this
 * CPU's L2) out of this CPU's caches, for a consumer about to read them: its reads then come from
 * the shared cache or memory instead of taking lines out of ours while we write, which cost the
 * writer 15-20 % of its time (docs/performance.md, "Handing closed sub-buffers over"). A cache
 * hint only (CLFLUSHOPT, coherent; nothing about memory ordering changes); a no-op where the CPU
 * has no such instruction. */
void rt__ring_hand_over(const struct rt__ring_writer *w, uint64_t sb_index);

static inline bool rt__ring_fits(const struct rt__ring_writer *w, size_t max)
{
	return w->pos + max <= w->sb_end;
}

static inline uint8_t *rt__ring_ptr(const struct rt__ring_writer *w)
{
	return w->data + (w->pos & w->data_mask);
}

/* Delta of ts to the previous record, advancing the base (ts never goes backwards in the ring). */
static inline uint64_t rt__ring_delta(struct rt__ring_writer *w, uint64_t ts)
{
	uint64_t dt = ts > w->last_ts ? ts - w->last_ts : 0;

	w->last_ts += dt;
	return dt;
}

/* Publish the record written from `start` (rt__ring_ptr() when reserved) to `end`. */
static inline void rt__ring_commit_from(struct rt__ring_writer *w, const uint8_t *start, const uint8_t *end)
{
	uint64_t len = (uint64_t)(end - start);

	rt_assert_debug(start == rt__ring_ptr(w) && rt__ring_fits(w, len));
	w->pos += len;
	w->sb_records++;
	/* Release: the record bytes are visible before the position that covers them; pairs with
	 * the consumer's acquire load of commit_pos. On x86 this is a plain store. */
	atomic_store_explicit(&w->hdr->commit_pos, w->pos, memory_order_release);
}

/* Publish the record that ends at `end` (reserved with rt__ring_fits()). */
static inline void rt__ring_commit(struct rt__ring_writer *w, const uint8_t *end)
{
	rt__ring_commit_from(w, rt__ring_ptr(w), end);
}

#endif
