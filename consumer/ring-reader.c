/* SPDX-License-Identifier: MIT */
/* Consumer side of the ring protocol (docs/format.md "Reading a ring"). */
#include "ring-reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#include "safe-copy.h"

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

int rtc_ring_reader_open(struct rtc_ring_reader *r, const char *shm_name, uint32_t expect_pid)
{
	struct rt_shm_ring h;
	struct stat st;
	void *map;
	int fd, err;

	memset(r, 0, sizeof(*r));
	err = rtc_safe_copy_init();
	if (err < 0)
		return err;
	fd = shm_open(shm_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (st.st_uid != geteuid() && geteuid() != 0) {
		close(fd);
		return -EACCES;
	}
	if ((size_t)st.st_size < sizeof(h)) {
		close(fd);
		return -RT_ECORRUPT;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	err = map == MAP_FAILED ? -errno : 0;
	close(fd);
	if (err)
		return err;
	r->hdr = map;
	r->map_size = (size_t)st.st_size;
	/* Acquire pairs with the producer's release of the magic after initialising the header. */
	{
		uint64_t magic;

		if (rtc_safe_load_acquire(&r->hdr->magic, &magic) < 0 || magic != RT_SHM_RING_MAGIC) {
			err = -RT_EBADMAGIC;
			goto error;
		}
	}
	if (rtc_safe_copy(&h, map, sizeof(h)) < 0) {
		err = -RT_ECORRUPT;
		goto error;
	}
	if (h.abi_major != RT_SHM_ABI_MAJOR) {
		err = -RT_EABI;
		goto error;
	}
	err = -RT_ECORRUPT;
	if (h.header_size < sizeof(h) || h.segment_size > r->map_size || !pow2(h.subbuf_size) ||
	    !pow2(h.subbuf_count) || h.subbuf_size < 4096 || h.subbuf_size > (64u << 20) || h.subbuf_count < 2 ||
	    h.subbuf_count > 65536 || h.pid != expect_pid)
		goto error;
	r->abi_minor = h.abi_minor;
	r->sb_size = h.subbuf_size;
	r->sb_count = h.subbuf_count;
	r->data_size = (uint64_t)h.subbuf_size * h.subbuf_count;
	if (h.subbuf_offset < h.header_size ||
	    (uint64_t)h.subbuf_offset + (uint64_t)h.subbuf_count * sizeof(struct rt_shm_subbuf) > h.data_offset ||
	    (uint64_t)h.data_offset + r->data_size > h.segment_size || h.subbuf_offset % 8)
		goto error;
	r->mode = h.mode;
	r->clock = h.clock;
	r->pid = h.pid;
	r->tid = h.tid;
	r->thread_number = h.thread_number;
	r->created_ts = h.created_ts;
	r->sb = (struct rt_shm_subbuf *)((char *)map + h.subbuf_offset);
	r->data = (uint8_t *)map + h.data_offset;
	/* Resume where a previous reader of this ring stopped (a consumer attaching again). Reading
	 * starts at that sub-buffer's start, whose header gives the timestamp base; what the earlier
	 * reader delivered is decoded for its timestamps but not emitted again (chunk.skip). The
	 * sub-buffer cannot be recycled under us in discard mode: the writer waits for read_pos. */
	r->skip_to = atomic_load_explicit(&r->hdr->read_pos, memory_order_relaxed);
	r->pos = r->skip_to - r->skip_to % r->sb_size;
	/* Where the stream stands: a ring nobody read yet starts at record 0, so everything a
	 * flight recorder overwrote before we came counts as lost (what `list` shows as LOST).
	 * After an earlier reader, its sub-buffer's header says, if that sub-buffer is still
	 * intact; otherwise what lies between is unknown and not counted. */
	r->resume_rec0 = r->skip_to == 0 ? 0 : UINT64_MAX;
	if (r->skip_to) {
		struct rt_shm_subbuf *sb = &r->sb[(r->pos / r->sb_size) & (r->sb_count - 1)];
		uint64_t seq = atomic_load_explicit(&sb->seq, memory_order_acquire), rec0 = sb->rec_seq0;

		atomic_thread_fence(memory_order_acquire);
		if (seq == r->pos / r->sb_size && atomic_load_explicit(&sb->seq, memory_order_relaxed) == seq)
			r->resume_rec0 = rec0;
	}
	return 0;

error:
	munmap(map, r->map_size);
	r->hdr = NULL;
	return err;
}

void rtc_ring_reader_close(struct rtc_ring_reader *r)
{
	if (r->hdr)
		munmap(r->hdr, r->map_size);
	free(r->own);
	memset(r, 0, sizeof(*r));
}

static void publish_pos(struct rtc_ring_reader *r)
{
	/* Release: our copies out of the ring are complete before the writer (discard mode)
	 * acquires read_pos and reuses that memory. */
	atomic_store_explicit(&r->hdr->read_pos, r->pos, memory_order_release);
}

struct next_call {
	struct rtc_ring_reader *r;
	struct rtc_ring_chunk *c;
	uint8_t *(*buffer)(void *ctx, size_t len);
	void *ctx;
	int ret;
};

static uint8_t *own_buffer(void *ctx, size_t len)
{
	struct rtc_ring_reader *r = ctx;

	(void)len; /* never more than a sub-buffer */
	if (!r->own)
		r->own = malloc(r->sb_size);
	return r->own;
}

static int next_unguarded(struct next_call *n)
{
	struct rtc_ring_reader *r = n->r;
	struct rtc_ring_chunk *c = n->c;

	for (int attempt = 0; attempt < 64; attempt++) {
		/* Acquire pairs with the writer's release in commit/switch: every byte below the
		 * position, and the header of the sub-buffer it is in, are visible. */
		uint64_t cp = atomic_load_explicit(&r->hdr->commit_pos, memory_order_acquire);
		uint64_t v = r->pos / r->sb_size;
		uint64_t start = v * r->sb_size, off = r->pos - start, end, used = 0, rec0, base, seq, seq2, records = 0;
		struct rt_shm_subbuf *sb = &r->sb[v & (r->sb_count - 1)];
		uint8_t *dst = NULL;
		bool closed;

		if (cp <= r->pos)
			return 0;
		if (cp - r->pos > r->data_size + r->sb_size)
			/* The writer is more than a ring ahead: only overwrite mode does that. */
			goto overwritten;
		seq = atomic_load_explicit(&sb->seq, memory_order_acquire);
		if (seq != v) {
			if (seq != UINT64_MAX && seq > v)
				goto overwritten;
			return -RT_ECORRUPT; /* commit_pos is past a sub-buffer that never opened */
		}
		closed = cp >= start + r->sb_size;
		if (closed) {
			used = atomic_load_explicit(&sb->used, memory_order_acquire);
			if (used > r->sb_size) {
				/* Closing races with reading only when the slot was recycled. */
				if (atomic_load_explicit(&sb->seq, memory_order_acquire) != v)
					goto overwritten;
				return -RT_ECORRUPT;
			}
			end = start + used;
			/* Set before `used` was released: valid with it. */
			records = sb->records;
		} else {
			/* The writer hands each closed sub-buffer over out of its caches; the open one's
			 * lines are still in them, and copying them costs the writer (performance.md). */
			if (r->defer_open && rtc_ring_reader_may_defer(r, r->read_now)) {
				/* Nothing still to read is older than this sub-buffer's base (written before
				 * commit_pos entered it), unless the slot was recycled while we looked. */
				base = sb->base_ts;
				atomic_thread_fence(memory_order_acquire);
				if (atomic_load_explicit(&sb->seq, memory_order_relaxed) == v && base > r->lower_ts)
					r->lower_ts = base;
				r->deferred = true;
				return 0;
			}
			end = cp;
		}
		if (end < r->pos)
			return -RT_ECORRUPT;
		rec0 = sb->rec_seq0;
		base = sb->base_ts;
		if (end > r->pos) {
			dst = n->buffer(n->ctx, end - r->pos);
			if (!dst)
				return -ENOMEM;
			if (rtc_safe_copy(dst, r->data + (start & (r->data_size - 1)) + off, end - r->pos) < 0)
				return -EFAULT;
		}
		/* Validate the copy: if the slot was recycled meanwhile, the writer stored the new seq
		 * before touching any byte (release fence); our acquire fence then shows it. */
		atomic_thread_fence(memory_order_acquire);
		seq2 = atomic_load_explicit(&sb->seq, memory_order_relaxed);
		if (seq2 != v)
			goto overwritten;

		c->data = dst;
		c->len = end - r->pos;
		c->base_ts = base;
		c->continues = off != 0;
		c->closed = closed;
		c->skip = r->skip_to > r->pos ? (uint32_t)((r->skip_to < end ? r->skip_to : end) - r->pos) : 0;
		/* At a sub-buffer start the header says exactly where we are in the stream. */
		c->rec0 = rec0;
		c->resume_rec0 = r->resume_rec0;
		r->resume_rec0 = UINT64_MAX;
		r->lower_ts = base;
		if (closed)
			r->records += records;
		r->pos = closed ? start + r->sb_size : end;
		r->read_now += c->len;
		publish_pos(r);
		if (c->len == 0 && closed)
			continue; /* an empty closed sub-buffer: move on */
		return 1;

	overwritten:
		/* Skip to the oldest sub-buffer that can still be intact. If the writer recycles it
		 * while we copy, the seq re-check sends us here again. */
		cp = atomic_load_explicit(&r->hdr->commit_pos, memory_order_acquire);
		{
			uint64_t newest = cp / r->sb_size;
			uint64_t oldest = newest >= r->sb_count - 1 ? newest - (r->sb_count - 1) : 0;

			if (oldest * r->sb_size <= r->pos)
				oldest = v + 1;
			r->pos = oldest * r->sb_size;
			r->jumps++;
		}
		publish_pos(r);
	}
	return 0;
}

static void next_call(void *arg)
{
	struct next_call *n = arg;

	n->ret = next_unguarded(n);
}

int rtc_ring_reader_next(struct rtc_ring_reader *r, struct rtc_ring_chunk *c, uint8_t *(*buffer)(void *ctx, size_t len),
			 void *ctx)
{
	struct next_call n = { r, c, buffer ? buffer : own_buffer, buffer ? ctx : r, 0 };

	/* Every read of the segment (headers, not only the data copy) may fault if the producer
	 * truncated it. */
	if (rtc_safe_call(next_call, &n) < 0)
		return -EFAULT;
	return n.ret;
}

uint64_t rtc_ring_reader_unreported(struct rtc_ring_reader *r)
{
	uint64_t n = 0;

	/* Final once the thread finished, published by its release of state (done() acquired it).
	 * A value beyond any count the ring could hold is not trusted. */
	if (r->abi_minor >= 1 && rtc_safe_copy(&n, (const void *)&r->hdr->unreported_dropped, sizeof(n)) == 0 &&
	    n < (1ull << 48))
		return n;
	return 0;
}

bool rtc_ring_reader_may_defer(const struct rtc_ring_reader *r, uint64_t read_now)
{
	/* A discarding writer cannot reuse the open sub-buffer's slot before its end is read,
	 * deferred or not. An overwriting one laps us a sub-buffer sooner when we leave it: only
	 * when the writer, at this rate, needs two such intervals to fill what remains. */
	return r->mode != RT_SHM_MODE_OVERWRITE || read_now + r->sb_size <= r->data_size / 2;
}

bool rtc_ring_reader_done(struct rtc_ring_reader *r)
{
	/* Acquire pairs with the producer's release of FINISHED after its last commit. */
	uint32_t st = atomic_load_explicit(&r->hdr->state, memory_order_acquire);
	uint64_t cp = atomic_load_explicit(&r->hdr->commit_pos, memory_order_acquire);

	return st == RT_SHM_THREAD_FINISHED && cp <= r->pos;
}

int rtc_ring_reader_stack(struct rtc_ring_reader *r, struct rt_shm_stack_entry *out, size_t max, uint64_t *task,
			  uint64_t *span_seq)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		uint32_t g1 = atomic_load_explicit(&r->hdr->stack_gen, memory_order_acquire), g2;
		uint32_t depth;

		if (g1 & 1)
			continue;
		/* Relaxed, once: the producer's pop is a store outside the seqlock (format.md 3). */
		depth = __atomic_load_n(&r->hdr->stack_depth, __ATOMIC_RELAXED);
		if (depth > RT_SHM_STACK_MAX)
			depth = RT_SHM_STACK_MAX;
		if (depth > max)
			depth = (uint32_t)max;
		/* Relaxed atomic loads: the producer may be rewriting what we copy (its stores are
		 * relaxed atomics too); the generation check below discards such a copy. The caller
		 * holds the SIGBUS guard. */
		for (uint32_t k = 0; k < depth; k++) {
			const struct rt_shm_stack_entry *e = &r->hdr->stack[k];

			out[k] = (struct rt_shm_stack_entry){
				.begin_ts = __atomic_load_n(&e->begin_ts, __ATOMIC_RELAXED),
				.span_seq = __atomic_load_n(&e->span_seq, __ATOMIC_RELAXED),
				.task_id = __atomic_load_n(&e->task_id, __ATOMIC_RELAXED),
				.name_id = __atomic_load_n(&e->name_id, __ATOMIC_RELAXED),
				.flags = __atomic_load_n(&e->flags, __ATOMIC_RELAXED),
			};
		}
		*task = __atomic_load_n(&r->hdr->stack_task, __ATOMIC_RELAXED);
		*span_seq = __atomic_load_n(&r->hdr->stack_span_seq, __ATOMIC_RELAXED);
		/* Pairs with the producer's release fence after making the generation odd. */
		atomic_thread_fence(memory_order_acquire);
		g2 = atomic_load_explicit(&r->hdr->stack_gen, memory_order_relaxed);
		if (g1 == g2)
			return (int)depth;
	}
	return -EAGAIN;
}
