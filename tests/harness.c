/* SPDX-License-Identifier: MIT */
/* In-process consumer for tests: attach to self, drain all rings, keep copies of the records. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#include "thread.h"

static void *beat(void *arg)
{
	struct harness *h = arg;

	while (!atomic_load_explicit(&h->stop, memory_order_relaxed)) {
		rtc_producer_heartbeat(&h->p);
		usleep(50000);
	}
	return NULL;
}

int harness_attach(struct harness *h)
{
	int err;

	memset(h, 0, sizeof(*h));
	err = rtc_producer_open(&h->p, getpid(), getuid());
	if (err < 0)
		return err;
	err = rtc_producer_attach(&h->p);
	if (err < 0)
		return err;
	{
		/* The helper thread takes none of the test's signals. */
		sigset_t all, old;

		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		h->beating = pthread_create(&h->heartbeat, NULL, beat, h) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	return 0;
}

static void append(struct harness *h, const struct rtc_record *rec, uint64_t thread_number)
{
	struct rec_copy *c;

	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 1024;
		h->recs = realloc(h->recs, h->cap * sizeof(*h->recs));
		if (!h->recs)
			abort();
	}
	c = &h->recs[h->n++];
	memset(c, 0, sizeof(*c));
	c->kind = rec->kind;
	c->ts = rec->ts;
	c->thread_number = thread_number;
	c->str = (char *)"";
	{
		struct rtc_field f[8];
		size_t nf = rtc_record_fields(rec, f, 8), ints = 0;
		uint64_t *v[4] = { &c->a, &c->b, &c->c, &c->d };

		for (size_t i = 0; i < nf; i++) {
			if (f[i].type == RTC_FIELD_UINT && ints < 4)
				*v[ints++] = f[i].u;
			else if (f[i].type == RTC_FIELD_STR && !*c->str) {
				c->str_len = f[i].s.len;
				c->str = strndup(f[i].s.ptr, f[i].s.len);
			} else if (f[i].type == RTC_FIELD_ENTRIES) {
				c->stack_len = f[i].entries;
			}
		}
	}
	if (rec->kind == RT_REC_STACK) {
		c->stack = malloc((c->stack_len + 1) * sizeof(rec->stack[0]));
		if (!c->stack)
			abort();
		memcpy(c->stack, rec->stack, c->stack_len * sizeof(rec->stack[0]));
	}
}

void harness_drain(struct harness *h)
{
	struct rtc_thread_info info[HARNESS_THREADS];
	size_t n = rtc_producer_threads(&h->p, info, HARNESS_THREADS);

	rtc_producer_heartbeat(&h->p);
	for (size_t i = 0; i < n; i++) {
		uint32_t s = info[i].slot % HARNESS_THREADS;
		struct rtc_ring_chunk c;
		struct rtc_record rec;
		char name[128];
		int ret;

		if (h->t[s].open && h->t[s].thread_number != info[i].thread_number) {
			rtc_ring_reader_close(&h->t[s].r);
			h->t[s].open = false;
		}
		if (!h->t[s].open) {
			if (info[i].state == RT_SHM_THREAD_DRAINED)
				continue;
			rtc_producer_ring_name(&h->p, info[i].thread_number, name, sizeof(name));
			if (rtc_ring_reader_open(&h->t[s].r, name, (uint32_t)h->p.pid) < 0)
				continue;
			h->t[s].open = true;
			memset(&h->t[s].cursor, 0, sizeof(h->t[s].cursor));
			h->t[s].thread_number = info[i].thread_number;
			h->t[s].slot = info[i].slot;
		}
		while ((ret = rtc_ring_reader_next(&h->t[s].r, &c, NULL, NULL)) > 0) {
			uint64_t lost;
			bool decodable = rtc_chunk_start(&h->t[s].cursor, &h->dec, c.data, c.len, c.base_ts, c.continues,
							 c.rec0, c.resume_rec0, &lost);

			h->gap_records += lost;
			if (!decodable) {
				h->corrupt++;
				continue;
			}
			while ((ret = rtc_decoder_next(&h->dec, &rec)) > 0)
				if (h->dec.off > c.skip)
					append(h, &rec, h->t[s].thread_number);
			rtc_chunk_done(&h->t[s].cursor, &h->dec, ret);
			if (ret < 0) {
				h->corrupt++;
				fprintf(stderr, "harness: thread %llu: undecodable record at offset %zu of a %zu-byte chunk\n",
					(unsigned long long)h->t[s].thread_number, h->dec.off, c.len);
			}
		}
		if (ret < 0) {
			h->corrupt++;
			fprintf(stderr, "harness: thread %llu: ring read error %d\n",
				(unsigned long long)h->t[s].thread_number, ret);
		}
		if (rtc_ring_reader_done(&h->t[s].r)) {
			h->dropped += atomic_load(&h->t[s].r.hdr->dropped);
			if (h->ndone < sizeof(h->done) / sizeof(h->done[0])) {
				h->done[h->ndone].thread_number = h->t[s].thread_number;
				h->done[h->ndone].unreported = rtc_ring_reader_unreported(&h->t[s].r);
				h->done[h->ndone++].dropped = atomic_load(&h->t[s].r.hdr->dropped);
			}
			h->nested_dropped += atomic_load(&h->t[s].r.hdr->nested_dropped);
			h->finished++;
			rtc_producer_thread_drained(&h->p, h->t[s].slot, h->t[s].thread_number, false);
			rtc_ring_reader_close(&h->t[s].r);
			h->t[s].open = false;
		}
	}
}

size_t harness_count(const struct harness *h, uint32_t kind, uint64_t thread_number)
{
	size_t n = 0;

	for (size_t i = 0; i < h->n; i++)
		if ((!kind || h->recs[i].kind == kind) && (!thread_number || h->recs[i].thread_number == thread_number))
			n++;
	return n;
}

long harness_find(const struct harness *h, uint32_t kind, size_t from)
{
	for (size_t i = from; i < h->n; i++)
		if (h->recs[i].kind == kind)
			return (long)i;
	return -1;
}

void harness_fini(struct harness *h)
{
	if (h->beating) {
		atomic_store(&h->stop, 1);
		pthread_join(h->heartbeat, NULL);
	}
	for (size_t i = 0; i < HARNESS_THREADS; i++)
		if (h->t[i].open)
			rtc_ring_reader_close(&h->t[i].r);
	rtc_producer_close(&h->p);
	for (size_t i = 0; i < h->n; i++) {
		if (h->recs[i].str_len || h->recs[i].kind == RT_REC_THREAD_START || h->recs[i].kind == RT_REC_LOG ||
		    h->recs[i].kind == RT_REC_THREAD_NAME)
			free(h->recs[i].str);
		free(h->recs[i].stack);
	}
	free(h->recs);
	memset(h, 0, sizeof(*h));
}

uint64_t harness_self_thread(void)
{
	/* Not rt_context_current(): that records a CONTEXT record, which would change the counts. */
	struct rt__thread *t = rt__thread_self();

	return t ? t->thread_number : 0;
}

uint64_t harness_final_unreported(const struct harness *h, uint64_t thread_number)
{
	for (size_t i = 0; i < h->ndone; i++)
		if (h->done[i].thread_number == thread_number)
			return h->done[i].unreported;
	return UINT64_MAX;
}

uint64_t harness_final_dropped(const struct harness *h, uint64_t thread_number)
{
	for (size_t i = 0; i < h->ndone; i++)
		if (h->done[i].thread_number == thread_number)
			return h->done[i].dropped;
	return UINT64_MAX;
}

struct harness harness_group;

int harness_group_setup(void **state)
{
	(void)state;
	return harness_attach(&harness_group);
}

int harness_group_teardown(void **state)
{
	(void)state;
	harness_fini(&harness_group);
	return 0;
}
