/* SPDX-License-Identifier: MIT */
/* A model of the producer's recorded span (begin + end), with nothing from the library: the same
 * loads and stores in the same order, so that the cost of each piece in the host core's two states
 * can be measured with compile-time switches instead of library builds (docs/performance.md, "On
 * a Zen 3 host"). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <x86intrin.h>

#include "bench-host-state.h"

/* -DMODEL_SHAPE=0: the span loop calls the record function directly. 1: the library's shape, a
 * TLS block with the depth and the tracked bits, the active word read through a pointer, and the
 * record behind a second call gated on a TLS thread pointer. 2: shape 1 with the record inlined
 * into that call, one call per begin and per end as in the library. */
#ifndef MODEL_SHAPE
#define MODEL_SHAPE 1
#endif

#if MODEL_SHAPE == 2
#define MODEL_NAME "bench-record-model-single"
#elif MODEL_SHAPE == 1
#define MODEL_NAME "bench-record-model"
#else
#define MODEL_NAME "bench-record-model-direct"
#endif

#define SLICE 200000

struct writer {
	uint8_t *data;
	uint64_t pos, mask, last_ts, records, fast_end;
	uint8_t busy, cpu;
	uint32_t session;
};

struct stack_entry {
	uint64_t ts, seq, task;
	uint32_t name, flags;
};

struct header { /* as the shared ring header: commit position, then the open-span stack */
	uint64_t pad[16];
	volatile uint64_t commit_pos;
	uint64_t pad2[23];
	uint32_t gen, depth;
	uint64_t span_seq;
	struct stack_entry stack[64];
};

struct fast {
	uint32_t depth, pad;
	uint64_t tracked;
};

static struct writer w;
static struct header *hdr;
static const uint32_t *active;
static uint32_t session = 1;
#if MODEL_SHAPE
static __thread struct fast fast __attribute__((tls_model("initial-exec")));
static __thread struct writer *current __attribute__((tls_model("initial-exec")));
#endif
static volatile uint64_t sink;

static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#if MODEL_SHAPE == 2
__attribute__((always_inline)) static inline void record(int begin)
#else
__attribute__((noinline)) static void record(int begin)
#endif
{
	uint32_t sd;
	uint64_t ts, dt;
	uint8_t *p;
	unsigned len = 3;

	if (w.busy | w.cpu)
		return;
	w.busy = 1;
	__asm__ volatile("" ::: "memory");
	sd = hdr->depth;
	ts = __rdtsc();
	if (w.pos + 58 > w.fast_end || w.session != session)
		w.pos = 0;
	p = w.data + (w.pos & w.mask);
	dt = ts > w.last_ts ? ts - w.last_ts : 0;
	w.last_ts = ts;
	p[0] = 0x93;
	p[1] = begin ? 4 : 5;
	p[2] = (uint8_t)(dt & 0x7f);
	if (begin) {
		p[3] = 7;
		len = 4;
	}
	w.pos += len;
	w.records++;
	hdr->commit_pos = w.pos;
	if (begin) {
		uint32_t g = hdr->gen + 1;

		hdr->gen = g;
		hdr->stack[sd] = (struct stack_entry){ .ts = ts, .seq = ++hdr->span_seq, .name = 7 };
		hdr->depth = sd + 1;
		hdr->gen = g + 1;
	} else {
		hdr->depth = sd - 1;
	}
	__asm__ volatile("" ::: "memory");
	w.busy = 0;
}

#if MODEL_SHAPE
__attribute__((noinline)) static void begin_at(void)
{
	struct writer *t = current;

	if (!t || (t->busy | t->cpu))
		return;
	record(1);
	fast.tracked |= 1;
}

__attribute__((noinline)) static void end_tracked(void)
{
	struct writer *t = current;

	if (!t || (t->busy | t->cpu))
		return;
	record(0);
}

__attribute__((noinline)) static void spans(long n)
{
	for (long i = 0; i < n; i++) {
		uint32_t d = fast.depth + 1;
		uint64_t bit;

		fast.depth = d;
		__asm__ volatile("" ::: "memory");
		if (*active)
			begin_at();
		d = fast.depth;
		bit = 1ull << (d - 1);
		if ((fast.tracked & bit) == 0) {
			fast.depth = d - 1;
			continue;
		}
		fast.tracked &= ~bit;
		__asm__ volatile("" ::: "memory");
		fast.depth = d - 1;
		end_tracked();
	}
}
#else
__attribute__((noinline)) static void spans(long n)
{
	for (long i = 0; i < n; i++) {
		record(1);
		record(0);
	}
}
#endif

__attribute__((noinline)) static void rdtsc_pairs(long n)
{
	uint64_t acc = 0;

	for (long i = 0; i < n; i++) {
		uint64_t a = __rdtsc();

		__asm__ volatile("" ::: "memory");
		acc += __rdtsc() - a;
	}
	sink = acc;
}

/* bench-record-model[-direct|-single] [SLICES [SLOW_NS]]: prints, per slice, the host state's
 * store time (bench-host-state.h) and the thread CPU time per span over that of two rdtsc reads in
 * the slice before; then the slices split by state, slow above SLOW_NS per store (default:
 * HOST_SLOW_FACTOR times the fastest slice, wrong when every slice ran slow; docs/performance.md
 * uses 0.22 ns on the Zen 3 host). */
int main(int argc, char **argv)
{
	size_t size = 1u << 20;
	int slices = argc > 1 ? atoi(argv[1]) : 12;
	static double store[4096], ratio[4096];
	static struct host_split split;
	double fastest = 0;
	uint32_t *shared;

	w.data = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	shared = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (w.data == MAP_FAILED || shared == MAP_FAILED) {
		perror("bench-record-model: mmap");
		return 1;
	}
	hdr = (struct header *)shared;
	shared[60000 / sizeof(uint32_t)] = 1;
	active = &shared[60000 / sizeof(uint32_t)];
#if MODEL_SHAPE
	current = &w;
#endif
	w.mask = size - 1;
	w.fast_end = UINT64_MAX >> 1;
	w.session = 1;
	spans(SLICE);
	if (slices > 4096)
		slices = 4096;
	for (int k = 0; k < slices; k++) {
		double t0, t1, t2;

		store[k] = host_store_ns(SLICE / 32);
		t0 = cpu_ns();
		rdtsc_pairs(SLICE);
		t1 = cpu_ns();
		spans(SLICE);
		t2 = cpu_ns();
		ratio[k] = (t2 - t1) / (t1 - t0);
		fastest = k == 0 || store[k] < fastest ? store[k] : fastest;
		printf("%.3f %.3f\n", store[k], ratio[k]);
	}
	host_split_add(&split, argc > 2 ? atof(argv[2]) : fastest * HOST_SLOW_FACTOR, store, ratio, slices);
	host_split_print(MODEL_NAME, &split);
	return 0;
}
