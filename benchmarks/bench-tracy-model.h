/* SPDX-License-Identifier: MIT */
/* A MODEL of Tracy's zone fast path, for bench-span's baseline: not Tracy (which is not packaged for
 * Debian and cannot be fetched here), but the same instructions, written from its sources. */
#ifndef RT_BENCH_TRACY_MODEL_H
#define RT_BENCH_TRACY_MODEL_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <x86intrin.h>

/*
 * What Tracy (wolfpld/tracy, public/client/) does per zone in its default build (no
 * TRACY_ON_DEMAND), which this reproduces step for step:
 *  - ScopedZone's constructor (TracyScoped.hpp): TracyQueuePrepare(ZoneBegin), then
 *    MemWrite(&item->zoneBegin.time, Profiler::GetTime()) (rdtsc) and
 *    MemWrite(&item->zoneBegin.srcloc, (uint64_t)srcloc), then TracyQueueCommit.
 *  - TracyLfqPrepare (TracyProfiler.hpp): GetToken() — an exported, out-of-line function
 *    returning the thread_local producer token (TracyProfiler.cpp) — then the moodycamel
 *    ExplicitProducer's enqueue_begin (tracy_concurrentqueue.h): a relaxed load of tailIndex; when
 *    (tail & (BLOCK_SIZE-1)) == 0, enqueue_begin_alloc moves to the next (empty) block of the
 *    producer's circular list and records it in the block index; the item is
 *    tailBlock->elements[tail & (BLOCK_SIZE-1)]; MemWrite of the type byte.
 *  - TracyLfqCommit: tailIndex.store(tail + 1, release).
 *  - The destructor: the same with ZoneEnd and only the time.
 * Items are 32 bytes (QueueItem, #pragma pack(1): the type byte, then the time at offset 1 and the
 * source location at 9), in blocks of 128.
 * The worker thread that dequeues the items (Profiler::Dequeue) is modelled by
 * tracy_model_drainer(): it reads every committed item (acquire of tailIndex, then the items through
 * the block index), which is what makes the producer's stores meet a reader's cache lines. Not
 * modelled: its compression and sending, blocks handed back to a shared pool (here each producer
 * cycles through its own blocks whether or not they were read), TRACY_ON_DEMAND's extra calls and
 * acquire loads per zone (IsConnected, ConnectionId), and callstack capture.
 */

#define TRACY_MODEL_BLOCK_SIZE 128
#define TRACY_MODEL_BLOCKS 64 /* the producer's circular list: 256 KiB per thread */

enum { TRACY_MODEL_ZONE_BEGIN = 15, TRACY_MODEL_ZONE_END = 17 };

struct tracy_model_srcloc {
	const char *name;
	const char *function;
	const char *file;
	uint32_t line;
	uint32_t color;
};

struct tracy_model_item {
	uint8_t bytes[32]; /* hdr.type at 0; zoneBegin.time at 1, zoneBegin.srcloc at 9 */
};

struct tracy_model_block {
	struct tracy_model_item elements[TRACY_MODEL_BLOCK_SIZE];
	_Atomic uint64_t elements_completely_dequeued;
	struct tracy_model_block *next;
};

struct tracy_model_index_entry {
	uint64_t base;
	struct tracy_model_block *block;
};

struct tracy_model_producer {
	_Atomic uint64_t tail_index;
	struct tracy_model_block *tail_block;
	struct tracy_model_index_entry *index;
	_Atomic uint64_t index_front;
	uint64_t pr_index_front;
};

static __thread struct tracy_model_producer *tracy_model_token;

/* Producers a drainer reads (one per bench thread). */
#define TRACY_MODEL_MAX_PRODUCERS 8
static struct tracy_model_producer *_Atomic tracy_model_producers[TRACY_MODEL_MAX_PRODUCERS];
static _Atomic int tracy_model_nproducers;

/* GetToken(): TRACY_API, defined in TracyProfiler.cpp, so a call from every zone; noipa: the
 * caller knows nothing about it (which registers it clobbers), as with a function in another
 * object file or library. */
__attribute__((noipa)) static struct tracy_model_producer *tracy_model_get_token(void)
{
	return tracy_model_token;
}

static void tracy_model_thread_init(void)
{
	struct tracy_model_producer *p = calloc(1, sizeof(*p));
	struct tracy_model_block *b = aligned_alloc(64, TRACY_MODEL_BLOCKS * sizeof(*b));

	if (!p || !b)
		abort();
	memset(b, 0, TRACY_MODEL_BLOCKS * sizeof(*b));
	for (int i = 0; i < TRACY_MODEL_BLOCKS; i++) {
		b[i].next = &b[(i + 1) % TRACY_MODEL_BLOCKS];
		/* The worker thread dequeued everything: every block is empty. */
		atomic_store_explicit(&b[i].elements_completely_dequeued, TRACY_MODEL_BLOCK_SIZE, memory_order_relaxed);
	}
	p->tail_block = &b[TRACY_MODEL_BLOCKS - 1];
	p->index = calloc(TRACY_MODEL_BLOCKS, sizeof(*p->index));
	if (!p->index)
		abort();
	tracy_model_token = p;
	{
		int i = atomic_fetch_add(&tracy_model_nproducers, 1);

		if (i < TRACY_MODEL_MAX_PRODUCERS)
			atomic_store_explicit(&tracy_model_producers[i], p, memory_order_release);
	}
}

/* The model of Tracy's worker thread: reads every item committed by every producer until *stop,
 * pausing `pause_us` between rounds as Tracy's worker does when the queues are empty. Items it fell
 * a whole lap behind on are skipped. Returns a checksum of what it read. */
struct tracy_model_drainer {
	_Atomic int stop;
	unsigned pause_us;
	uint64_t items, sum;
};

static void *tracy_model_drainer(void *arg)
{
	struct tracy_model_drainer *d = arg;
	uint64_t head[TRACY_MODEL_MAX_PRODUCERS] = { 0 };

	while (!atomic_load_explicit(&d->stop, memory_order_relaxed)) {
		int n = atomic_load(&tracy_model_nproducers);

		for (int i = 0; i < n && i < TRACY_MODEL_MAX_PRODUCERS; i++) {
			struct tracy_model_producer *p = atomic_load_explicit(&tracy_model_producers[i], memory_order_acquire);
			/* Acquire pairs with the producer's release store of tailIndex (TracyLfqCommit). */
			uint64_t tail = p ? atomic_load_explicit(&p->tail_index, memory_order_acquire) : 0;

			if (tail - head[i] > (TRACY_MODEL_BLOCKS - 2) * TRACY_MODEL_BLOCK_SIZE)
				head[i] = tail - (TRACY_MODEL_BLOCKS - 2) * TRACY_MODEL_BLOCK_SIZE;
			for (; head[i] < tail; head[i]++) {
				uint64_t blk = head[i] / TRACY_MODEL_BLOCK_SIZE;
				struct tracy_model_block *b =
					__atomic_load_n(&p->index[blk & (TRACY_MODEL_BLOCKS - 1)].block, __ATOMIC_RELAXED);
				uint64_t v;

				if (!b)
					continue;
				memcpy(&v, &b->elements[head[i] & (TRACY_MODEL_BLOCK_SIZE - 1)].bytes[1], 8);
				d->sum += v;
				d->items++;
			}
		}
		if (d->pause_us)
			usleep(d->pause_us);
	}
	return NULL;
}

/* enqueue_begin_alloc, the path that reuses the next empty block. */
__attribute__((noipa)) static void tracy_model_enqueue_begin_alloc(struct tracy_model_producer *p, uint64_t tail)
{
	struct tracy_model_block *next = p->tail_block->next;

	if (atomic_load_explicit(&next->elements_completely_dequeued, memory_order_relaxed) == TRACY_MODEL_BLOCK_SIZE) {
		atomic_thread_fence(memory_order_acquire);
		p->tail_block = next;
		atomic_store_explicit(&next->elements_completely_dequeued, 0, memory_order_relaxed);
		/* Blocks are never read in the model: mark it empty again for the next lap. */
		atomic_store_explicit(&next->elements_completely_dequeued, TRACY_MODEL_BLOCK_SIZE, memory_order_relaxed);
	}
	p->index[p->pr_index_front].base = tail;
	__atomic_store_n(&p->index[p->pr_index_front].block, p->tail_block, __ATOMIC_RELAXED);
	atomic_store_explicit(&p->index_front, p->pr_index_front, memory_order_release);
	p->pr_index_front = (p->pr_index_front + 1) & (TRACY_MODEL_BLOCKS - 1);
}

static inline struct tracy_model_item *tracy_model_prepare(struct tracy_model_producer **tok, uint64_t *magic,
							   uint8_t type)
{
	struct tracy_model_producer *p = tracy_model_get_token();
	uint64_t tail = atomic_load_explicit(&p->tail_index, memory_order_relaxed);
	struct tracy_model_item *item;

	if (__builtin_expect((tail & (TRACY_MODEL_BLOCK_SIZE - 1)) == 0, 0))
		tracy_model_enqueue_begin_alloc(p, tail);
	item = &p->tail_block->elements[tail & (TRACY_MODEL_BLOCK_SIZE - 1)];
	memcpy(&item->bytes[0], &type, 1);
	*tok = p;
	*magic = tail;
	return item;
}

static inline void tracy_model_commit(struct tracy_model_producer *p, uint64_t magic)
{
	atomic_store_explicit(&p->tail_index, magic + 1, memory_order_release);
}

struct tracy_model_zone {
	int active;
};

static inline struct tracy_model_zone tracy_model_zone_begin(const struct tracy_model_srcloc *loc)
{
	struct tracy_model_zone z = { 1 };
	struct tracy_model_producer *p;
	uint64_t magic, time, srcloc = (uint64_t)(uintptr_t)loc;
	struct tracy_model_item *item = tracy_model_prepare(&p, &magic, TRACY_MODEL_ZONE_BEGIN);

	time = __rdtsc();
	memcpy(&item->bytes[1], &time, 8);
	memcpy(&item->bytes[9], &srcloc, 8);
	tracy_model_commit(p, magic);
	return z;
}

static inline void tracy_model_zone_end(struct tracy_model_zone *z)
{
	struct tracy_model_producer *p;
	uint64_t magic, time;
	struct tracy_model_item *item;

	if (!z->active)
		return;
	item = tracy_model_prepare(&p, &magic, TRACY_MODEL_ZONE_END);
	time = __rdtsc();
	memcpy(&item->bytes[1], &time, 8);
	tracy_model_commit(p, magic);
}

#endif
