/* SPDX-License-Identifier: MIT */
/* Ring writer and reader: wrap-around in discard and overwrite modes with exact loss counts, the
 * open sub-buffer left for later, and a writer racing a reader (the reader's reported gaps must
 * equal exactly what it did not see). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <ringtrace/ringtrace.h>

#include "encode.h"
#include "record.h"
#include "ring-reader.h"
#include "safe-copy.h"
#include "ring.h"

#define SB_SIZE 8192u
#define SB_COUNT 4u

struct pair {
	char name[64];
	struct rt__ring_writer w;
	struct rtc_ring_reader r;
	struct rtc_decoder dec;
	struct rtc_chunk_cursor cursor;
	uint64_t ts;
	uint64_t next_expected; /* value the reader expects next */
	uint64_t seen, gaps, lost_reported;
	int corrupt;
};

static void pair_open(struct pair *p, uint32_t mode, uint32_t sb_count)
{
	struct rt__ring_config cfg = {
		.ring_size = SB_SIZE * sb_count,
		.sb_count = sb_count,
		.mode = mode,
		.clock = RT_SHM_CLOCK_MONOTONIC,
		.pid = (uint32_t)getpid(),
		.tid = 1,
		.thread_number = 1,
	};
	static int n;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "/ringtrace-test.%d.%d", (int)getpid(), n++);
	p->ts = 1000;
	assert_int_equal(rt__ring_create(&p->w, p->name, &cfg, p->ts), 0);
	assert_int_equal(rtc_ring_reader_open(&p->r, p->name, (uint32_t)getpid()), 0);
}

static void pair_close(struct pair *p)
{
	rtc_ring_reader_close(&p->r);
	rt__ring_destroy(&p->w, p->name);
}

/* One span-begin-shaped record carrying value i: [4, dt, i]. */
static bool put(struct pair *p, uint64_t i)
{
	struct rt__ring_writer *w = &p->w;
	uint8_t *q;

	p->ts += 7;
	if (!rt__ring_fits(w, 16) && !rt__ring_switch(w, p->ts))
		return false;
	q = rt_mp_array(rt__ring_ptr(w), 3);
	*q++ = RT_REC_SPAN_BEGIN;
	q = rt_mp_uint(q, rt__ring_delta(w, p->ts));
	q = rt_mp_uint(q, i);
	rt__ring_commit(w, q);
	return true;
}

/* Drain what is committed; check values are consecutive except for reported gaps. */
static void drain(struct pair *p)
{
	struct rtc_ring_chunk c;
	struct rtc_record rec;
	int ret;

	while ((ret = rtc_ring_reader_next(&p->r, &c, NULL, NULL)) > 0) {
		uint64_t lost;

		if (!rtc_chunk_start(&p->cursor, &p->dec, c.data, c.len, c.base_ts, c.continues, c.rec0, c.resume_rec0, &lost)) {
			if (getenv("RT_TEST_DEBUG"))
				fprintf(stderr, "undecodable continuation at pos %llu\n", (unsigned long long)p->r.pos);
			p->corrupt++;
			continue;
		}
		p->lost_reported += lost;
		while ((ret = rtc_decoder_next(&p->dec, &rec)) > 0) {
			if (rec.u.span_begin.name_id != p->next_expected) {
				/* Overwrite mode: every jump is announced before the chunk (lost).
				 * Discard mode: the ring never loses; drops happen before the write. */
				if (rec.u.span_begin.name_id < p->next_expected ||
				    (p->w.mode == RT_SHM_MODE_OVERWRITE && rec.u.span_begin.name_id - p->next_expected != lost)) {
					if (getenv("RT_TEST_DEBUG"))
						fprintf(stderr, "jump: got %llu want %llu lost %llu continues %d rec0 %llu len %zu\n",
							(unsigned long long)rec.u.span_begin.name_id,
							(unsigned long long)p->next_expected, (unsigned long long)lost,
							c.continues, (unsigned long long)c.rec0, c.len);
					p->corrupt++;
				}
				p->gaps += rec.u.span_begin.name_id - p->next_expected;
				lost = 0;
			}
			p->next_expected = rec.u.span_begin.name_id + 1;
			p->seen++;
		}
		rtc_chunk_done(&p->cursor, &p->dec, ret);
		if (ret < 0) {
			if (getenv("RT_TEST_DEBUG"))
				fprintf(stderr, "decode error\n");
			p->corrupt++;
		}
	}
	if (ret < 0)
		p->corrupt++;
}

static void test_discard_wraps_and_counts_drops(void **state)
{
	struct pair p;
	uint64_t written = 0, dropped = 0, i = 0;

	(void)state;
	pair_open(&p, RT_SHM_MODE_DISCARD, SB_COUNT);
	/* Fill with no reader: the writer must stop at exactly the ring's capacity. */
	for (; i < 10000; i++) {
		if (put(&p, i))
			written++;
		else
			dropped++;
	}
	assert_true(written > 0 && dropped > 0);
	assert_true(written * 3 <= SB_SIZE * SB_COUNT); /* 3-5 bytes per record */
	drain(&p);
	assert_int_equal(p.seen, written);
	assert_int_equal(p.corrupt, 0);
	assert_int_equal(p.next_expected, written); /* the oldest were kept: 0..written-1 */

	/* Room again: wrap around several times while reading, no further loss. */
	for (uint64_t k = 0; k < 200000; k++, i++) {
		if (!put(&p, i)) {
			drain(&p);
			assert_true(put(&p, i));
		}
	}
	drain(&p);
	/* The values the reader saw jump once by exactly the drops. */
	assert_int_equal(p.gaps, dropped);
	assert_int_equal(p.seen, written + 200000);
	assert_int_equal(p.corrupt, 0);
	pair_close(&p);
}

static void test_overwrite_counts_overwritten_records(void **state)
{
	struct pair p;
	uint64_t i = 0;

	(void)state;
	pair_open(&p, RT_SHM_MODE_OVERWRITE, SB_COUNT);
	for (; i < 3000; i++)
		assert_true(put(&p, i));
	drain(&p); /* reads everything: no wrap yet */
	assert_int_equal(p.seen, 3000);
	assert_int_equal(p.lost_reported, 0);

	/* Lap the reader several times: the writer never blocks. */
	for (; i < 100000; i++)
		assert_true(put(&p, i));
	drain(&p);
	assert_int_equal(p.corrupt, 0);
	assert_true(p.lost_reported > 0);
	assert_int_equal(p.lost_reported, p.gaps);
	assert_int_equal(p.next_expected, i); /* read up to the newest */
	assert_int_equal(p.seen + p.lost_reported, i);
	/* The writer's counter counts whole recycled sub-buffers the reader had not finished, so it
	 * may exceed the reader's exact count by the part of one sub-buffer already read. */
	assert_true(atomic_load(&p.w.hdr->overwritten_records) >= p.lost_reported);
	assert_true(atomic_load(&p.w.hdr->overwritten_records) - p.lost_reported < SB_SIZE / 3);
	pair_close(&p);
}

/* live.c leaves the sub-buffer the writer is filling for the next poll once one closed since the
 * last: the reader copies up to the end of the closed one, says it left records, and gives the
 * rest when asked again without defer_open. */
static void test_defer_open_leaves_the_open_subbuffer(void **state)
{
	struct pair p;
	uint64_t i = 0, closed_records;

	(void)state;
	pair_open(&p, RT_SHM_MODE_DISCARD, SB_COUNT);
	while (p.w.sb_index == 0)
		assert_true(put(&p, i++));
	for (int k = 0; k < 10; k++)
		assert_true(put(&p, i++));
	closed_records = p.w.sb[0].records;
	assert_int_equal(closed_records, i - 11); /* the 11th-last record opened sub-buffer 1 */

	p.r.defer_open = true;
	drain(&p);
	assert_int_equal(p.seen, closed_records);
	assert_true(p.r.deferred);
	assert_int_equal(p.r.pos, SB_SIZE);
	/* Nothing left to read is older than the open sub-buffer's base: the watermark may go that far. */
	assert_true(p.w.sb[1].base_ts > p.w.sb[0].base_ts);
	assert_int_equal(p.r.lower_ts, p.w.sb[1].base_ts);
	drain(&p); /* asked again with defer_open still set: still nothing from the open one */
	assert_int_equal(p.seen, closed_records);

	p.r.defer_open = p.r.deferred = false;
	drain(&p);
	assert_false(p.r.deferred);
	assert_int_equal(p.seen, i);
	assert_int_equal(p.next_expected, i);
	assert_int_equal(p.corrupt, 0);
	pair_close(&p);
}

/* An overwriting writer laps a reader that left the open sub-buffer a sub-buffer sooner: the
 * reader leaves it only while what it read since the last call is at most half the ring less one
 * sub-buffer. A discarding writer waits for the reader either way. */
static void test_may_defer_only_with_room(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p, RT_SHM_MODE_OVERWRITE, 8);
	assert_true(rtc_ring_reader_may_defer(&p.r, 0));
	assert_true(rtc_ring_reader_may_defer(&p.r, 3 * SB_SIZE));
	assert_false(rtc_ring_reader_may_defer(&p.r, 3 * SB_SIZE + 1));
	assert_false(rtc_ring_reader_may_defer(&p.r, 8 * SB_SIZE));
	pair_close(&p);

	pair_open(&p, RT_SHM_MODE_OVERWRITE, 2); /* half the ring is the open sub-buffer itself */
	assert_true(rtc_ring_reader_may_defer(&p.r, 0));
	assert_false(rtc_ring_reader_may_defer(&p.r, 1));
	pair_close(&p);

	pair_open(&p, RT_SHM_MODE_DISCARD, 8);
	assert_true(rtc_ring_reader_may_defer(&p.r, 8 * SB_SIZE));
	pair_close(&p);
}

/* The reader itself applies the limit: in overwrite mode it leaves the open sub-buffer after two
 * closed ones read in this poll (16 KiB of a 64 KiB ring), not after five (40 KiB). */
static void test_defer_open_only_with_room(void **state)
{
	for (int closed_subbufs = 2; closed_subbufs <= 5; closed_subbufs += 3) {
		struct pair p;
		uint64_t i = 0, closed_records = 0;

		(void)state;
		pair_open(&p, RT_SHM_MODE_OVERWRITE, 8);
		while (p.w.sb_index < (uint64_t)closed_subbufs)
			assert_true(put(&p, i++));
		for (int k = 0; k < 10; k++)
			assert_true(put(&p, i++));
		for (int sb = 0; sb < closed_subbufs; sb++)
			closed_records += p.w.sb[sb].records;
		p.r.defer_open = true;
		p.r.read_now = 0;
		drain(&p);
		if (closed_subbufs == 2) {
			assert_true(p.r.deferred);
			assert_int_equal(p.seen, closed_records);
		} else {
			assert_false(p.r.deferred);
			assert_int_equal(p.seen, i);
		}
		assert_int_equal(p.corrupt, 0);
		pair_close(&p);
	}
}

static void test_corrupt_ring_is_refused(void **state)
{
	struct pair p;
	struct rtc_ring_reader r2;
	struct rtc_ring_chunk c;

	(void)state;
	pair_open(&p, RT_SHM_MODE_DISCARD, SB_COUNT);
	put(&p, 1);
	/* A commit position beyond anything written, and a sub-buffer that never opened. */
	atomic_store(&p.w.hdr->commit_pos, 3 * (uint64_t)SB_SIZE + 10);
	assert_int_equal(rtc_ring_reader_next(&p.r, &c, NULL, NULL), -RT_ECORRUPT);
	/* Bad geometry is refused at open. */
	p.w.hdr->subbuf_size = 1000;
	assert_int_equal(rtc_ring_reader_open(&r2, p.name, (uint32_t)getpid()), -RT_ECORRUPT);
	p.w.hdr->subbuf_size = SB_SIZE;
	p.w.hdr->magic = 0x1234;
	assert_int_equal(rtc_ring_reader_open(&r2, p.name, (uint32_t)getpid()), -RT_EBADMAGIC);
	p.w.hdr->magic = RT_SHM_RING_MAGIC;
	assert_int_equal(rtc_ring_reader_open(&r2, p.name, (uint32_t)getpid() + 1), -RT_ECORRUPT);
	pair_close(&p);
}

static void test_garbage_records_are_reported(void **state)
{
	struct rtc_decoder d;
	struct rtc_record rec;
	/* [4, 1] misses the name; then a str where an int belongs; then a truncated uint32. */
	static const uint8_t missing[] = { 0x92, 0x04, 0x01 };
	static const uint8_t wrongtype[] = { 0x93, 0x04, 0x01, 0xa1, 'x' };
	static const uint8_t truncated[] = { 0x93, 0x04, 0xce, 0x00 };
	static const uint8_t badkind[] = { 0x92, 0x63, 0x01 };

	(void)state;
	rtc_decoder_reset(&d, missing, sizeof(missing), 0);
	assert_int_equal(rtc_decoder_next(&d, &rec), -RT_ECORRUPT);
	rtc_decoder_reset(&d, wrongtype, sizeof(wrongtype), 0);
	assert_int_equal(rtc_decoder_next(&d, &rec), -RT_ECORRUPT);
	rtc_decoder_reset(&d, truncated, sizeof(truncated), 0);
	assert_int_equal(rtc_decoder_next(&d, &rec), -RT_ECORRUPT);
	rtc_decoder_reset(&d, badkind, sizeof(badkind), 0);
	assert_int_equal(rtc_decoder_next(&d, &rec), -RT_ECORRUPT);
	assert_int_equal(rtc_decoder_next(&d, &rec), 0);
}

/* A producer that truncates its segment while we read it: every read fails with -EFAULT, nothing
 * crashes, and the guards stay usable afterwards. */
static void test_truncated_segment_is_survived(void **state)
{
	struct pair p;
	struct rtc_ring_chunk c;
	uint64_t magic = 0;
	char byte;
	int fd;

	(void)state;
	/* cmocka installed its own SIGBUS handler for this test: opening puts ours back. */
	pair_open(&p, RT_SHM_MODE_DISCARD, SB_COUNT);
	for (int i = 0; i < 100; i++)
		put(&p, (uint64_t)i);
	assert_int_equal(rtc_safe_load_acquire(&p.r.hdr->magic, &magic), 0);
	assert_true(magic == RT_SHM_RING_MAGIC);
	fd = shm_open(p.name, O_RDWR, 0);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 0), 0);
	close(fd);
	assert_int_equal(rtc_safe_load_acquire(&p.r.hdr->magic, &magic), -EFAULT);
	assert_int_equal(rtc_safe_copy(&byte, p.r.data, 1), -EFAULT);
	assert_int_equal(rtc_ring_reader_next(&p.r, &c, NULL, NULL) < 0 ? -EFAULT : 0, -EFAULT);
	/* A second fault after the first is caught as well. */
	assert_int_equal(rtc_safe_copy(&byte, p.r.data + 100, 1), -EFAULT);
	rtc_ring_reader_close(&p.r);
	/* The writer's mapping is gone too: do not touch it, only unmap and unlink. */
	munmap(p.w.hdr, p.w.map_size);
	shm_unlink(p.name);
}

struct race {
	struct pair *p;
	uint64_t total;
	_Atomic int done;
	uint64_t dropped;
};

static void *race_writer(void *arg)
{
	struct race *r = arg;

	for (uint64_t i = 0; i < r->total; i++) {
		if (!put(r->p, i))
			r->dropped++;
		/* Pace the writer so that the reader keeps up part of the time: the race then goes
		 * through many full/drained transitions rather than one. */
		if ((i & 7) == 0)
			for (int k = 0; k < 8; k++)
				__builtin_ia32_pause();
	}
	atomic_store_explicit(&r->done, 1, memory_order_release);
	return NULL;
}

static void race(uint32_t mode)
{
	struct pair p;
	struct race r = { &p, 2000000, 0, 0 };
	pthread_t w;

	pair_open(&p, mode, 8);
	assert_int_equal(pthread_create(&w, NULL, race_writer, &r), 0);
	while (!atomic_load_explicit(&r.done, memory_order_acquire))
		drain(&p);
	pthread_join(w, NULL);
	drain(&p);
	assert_int_equal(p.corrupt, 0);
	if (mode == RT_SHM_MODE_DISCARD) {
		/* Drops happen at the writer; the reader sees the values jump by exactly them (drops
		 * after the last record written show as the distance to the total). */
		assert_int_equal(p.gaps + (r.total - p.next_expected), r.dropped);
		assert_int_equal(p.seen + r.dropped, r.total);
		assert_int_equal(atomic_load(&p.w.hdr->dropped), 0); /* counted by the thread layer */
	} else {
		assert_int_equal(r.dropped, 0);
		assert_int_equal(p.lost_reported, p.gaps);
		assert_int_equal(p.seen + p.gaps, r.total);
		assert_int_equal(p.next_expected, r.total);
	}
	printf("# %s race: %llu records, %llu read, %llu lost\n", mode == RT_SHM_MODE_DISCARD ? "discard" : "overwrite",
	       (unsigned long long)r.total, (unsigned long long)p.seen, (unsigned long long)(p.gaps));
	pair_close(&p);
}

static void test_race_discard(void **state)
{
	(void)state;
	race(RT_SHM_MODE_DISCARD);
}

static void test_race_overwrite(void **state)
{
	(void)state;
	/* Reading a slot the writer may recycle is a seqlock: a data race by design, validated by
	 * the sequence re-check. ThreadSanitizer cannot know that, so that build skips it. */
	if (getenv("RT_TSAN"))
		skip();
	race(RT_SHM_MODE_OVERWRITE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discard_wraps_and_counts_drops),
		cmocka_unit_test(test_overwrite_counts_overwritten_records),
		cmocka_unit_test(test_defer_open_leaves_the_open_subbuffer),
		cmocka_unit_test(test_may_defer_only_with_room),
		cmocka_unit_test(test_defer_open_only_with_room),
		cmocka_unit_test(test_corrupt_ring_is_refused),
		cmocka_unit_test(test_garbage_records_are_reported),
		cmocka_unit_test(test_truncated_segment_is_survived),
		cmocka_unit_test(test_race_discard),
		cmocka_unit_test(test_race_overwrite),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
