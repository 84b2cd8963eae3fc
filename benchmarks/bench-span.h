/* SPDX-License-Identifier: MIT */
/* bench-span's configurations and what one repetition measured, shared by the runner
 * (bench-span.c) and its report (bench-span-report.c). */
#ifndef RT_BENCH_SPAN_H
#define RT_BENCH_SPAN_H

#include <stdbool.h>
#include <stddef.h>

#define MAX_THREADS 2
#define WORK_SMALL 64
#define WORK_LARGE 256
#define MAX_REPS 64

enum state_kind { LIBRARY, TRACY_MODEL };

struct state {
	const char *name;
	const char *label;
	const char *env; /* RINGTRACE_* settings, space-separated */
	bool record;     /* a separate `ringtrace record` process drains while it runs */
	enum state_kind kind;
	bool drained;    /* Tracy model: its worker thread's model reads every item */
};

/* The configurations, in the order of the tables (bench-span.c). */
#define NSTATES 9
extern const struct state states[NSTATES];

/* The measured loops run in SLICES slices, each right after a slice of its baseline: a slow
 * moment of a shared machine then weighs on both alike. */
#define SLICES 16

/* What one repetition measured: the fields up to slice_store are the mean over its worker
 * threads, the slices are each worker's own. */
struct sample {
	double rdtsc2, rdtsc2_cpu; /* ns per two back-to-back rdtsc reads: wall clock, thread CPU time */
	double wall, cpu;  /* ns per span, tight loop: wall clock and thread CPU time */
	double work_small; /* ns per FNV-1a over WORK_SMALL bytes, bare */
	double span_small; /* ... with a span around each */
	double work_large, span_large;
	double bytes;      /* ring bytes per span in the tight loop */
	double lost;       /* records refused (discard mode, ring full) in the tight loop */
	double faults;     /* minor page faults of the thread during the tight loop */
	double csw;        /* context switches of the thread during the tight loop */
	double foreign;    /* another consumer attached (`ringtrace record -a` of someone else) */
	/* Per worker and slice of the tight loop: ns per store of a store burst (bench-host-state.h)
	 * and the spans' thread CPU time over that of two rdtsc. */
	double slice_store[MAX_THREADS][SLICES], slice_ratio[MAX_THREADS][SLICES];
};
#define SAMPLE_FIELDS (sizeof(struct sample) / sizeof(double))
#define SAMPLE_MEAN_FIELDS (offsetof(struct sample, slice_store) / sizeof(double))

/* The repetitions of one configuration at one thread count. */
struct series {
	struct sample s[MAX_REPS];
	int n;
};

/* The table of one binary's results (res[state][threads]). */
void print_table(const char *title, struct series res[NSTATES][MAX_THREADS + 1], int max_threads);

/* The tight loop's slices of every configuration, 1 and 2 threads, split by the host state they
 * ran in (res[binary][state][threads], nbin binaries, the second named `other`). */
void print_host_state(struct series res[2][NSTATES][MAX_THREADS + 1], int nbin, const char *other, int max_threads);

/* This binary against the compared one, per configuration. */
void print_compare(struct series res[2][NSTATES][MAX_THREADS + 1], int max_threads);

#endif
