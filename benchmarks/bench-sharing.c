/* SPDX-License-Identifier: MIT */
/* What a reader's accesses cost the recording thread (cache lines it shares with the producer),
 * and what a first touch of ring memory costs (page faults): the numbers of docs/performance.md. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#include "bench-util.h"
#include "process.h"
#include "thread.h"

/* Run in overwrite mode (the benchmark sets it for itself): the thread records with no consumer,
 * and a second thread of this process plays the reader. RT_BENCH_SPANS spans per repetition. */

enum reader_mode {
	READER_ASLEEP,       /* polls nothing (a consumer between its 1 ms polls) */
	READER_POLL_50US,    /* loads commit_pos every 50 us */
	READER_SPIN_COMMIT,  /* loads commit_pos in a loop (a consumer that polls again at once) */
	READER_CHASE_DATA,   /* loads commit_pos and the newest record byte, in a loop */
	READER_CHASE_LINE,   /* loads commit_pos and the last completed line's byte, in a loop */
	READER_BEAT,         /* increments the control segment's heartbeat in a loop */
	READER_MODES,
};

static const char *const mode_names[READER_MODES] = {
	"reader asleep",
	"reader loads commit_pos every 50 us",
	"reader spins on commit_pos",
	"reader spins, reading the newest record byte",
	"reader spins, reading the last complete line",
	"heartbeat incremented in a loop",
};

static _Atomic int mode, stop;
static struct rt__thread *producer;
static volatile uint64_t sink;

static void *reader(void *arg)
{
	uint64_t acc = 0;

	(void)arg;
	while (!atomic_load(&stop)) {
		struct rt_shm_ring *r = producer->ring;
		const volatile uint8_t *data = producer->w.data;
		uint64_t mask = producer->w.data_mask, cp;

		switch (atomic_load(&mode)) {
		case READER_ASLEEP:
			usleep(1000);
			break;
		case READER_POLL_50US:
			acc += atomic_load_explicit(&r->commit_pos, memory_order_acquire);
			usleep(50);
			break;
		case READER_SPIN_COMMIT:
			acc += atomic_load_explicit(&r->commit_pos, memory_order_acquire);
			break;
		case READER_CHASE_DATA:
			cp = atomic_load_explicit(&r->commit_pos, memory_order_acquire);
			acc += data[(cp - 1) & mask];
			break;
		case READER_CHASE_LINE:
			cp = atomic_load_explicit(&r->commit_pos, memory_order_acquire) & ~(uint64_t)63;
			acc += data[(cp - 1) & mask];
			break;
		case READER_BEAT:
			atomic_fetch_add_explicit(&rt__proc.ctl->heartbeat, 1, memory_order_relaxed);
			break;
		}
	}
	sink = acc;
	return NULL;
}

static double cpu_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

__attribute__((noinline)) static void spans(long n)
{
	for (long i = 0; i < n; i++) {
		rt_span_begin("sharing");
		rt_span_end();
	}
}

/* ns per 4 KiB page to fault in a fresh 1 MiB shared-memory segment: touched lazily (what a ring
 * does), populated by mmap(MAP_POPULATE), or allocated by fallocate() first. */
static double fault_ns(int how)
{
	const size_t size = 1 << 20;
	char name[64];
	double t0, t1;
	char *p;
	int fd;

	snprintf(name, sizeof(name), "/rt-bench-faults.%d", (int)getpid());
	fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
	shm_unlink(name);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		return -1;
	t0 = bench_now_ns();
	if (how == 2 && posix_fallocate(fd, 0, (off_t)size) != 0)
		return -1;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | (how == 1 ? MAP_POPULATE : 0), fd, 0);
	if (p == MAP_FAILED)
		return -1;
	for (size_t off = 0; off < size; off += 4096)
		p[off] = 1;
	t1 = bench_now_ns();
	munmap(p, size);
	close(fd);
	return (t1 - t0) / (double)(size / 4096);
}

int main(void)
{
	const char *n_env = getenv("RT_BENCH_SPANS");
	long n = n_env ? atol(n_env) / 4 : 400000;
	enum { REPS = 7 };
	double cost[READER_MODES][REPS], busy[READER_MODES][REPS], faults[3][REPS];
	clockid_t reader_clock;
	pthread_t th;

	if (!getenv("RINGTRACE_MODE")) {
		/* The mode is read at library load: run again in overwrite mode. */
		setenv("RINGTRACE_MODE", "overwrite", 1);
		execl("/proc/self/exe", "bench-sharing", (char *)NULL);
		return 1;
	}
	if (rt_thread_register("sharing") < 0 || !(producer = rt__thread_peek())) {
		fprintf(stderr, "bench-sharing: the library is inert\n");
		return 1;
	}
	spans(n);
	pthread_create(&th, NULL, reader, NULL);
	pthread_getcpuclockid(th, &reader_clock);
	for (int k = 0; k < REPS; k++) {
		for (int m = 0; m < READER_MODES; m++) {
			double c0, r0, w0;

			atomic_store(&mode, m);
			usleep(2000);
			w0 = bench_now_ns();
			r0 = cpu_ns(reader_clock);
			c0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
			spans(n);
			cost[m][k] = (cpu_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)n;
			/* Share of the time the reader was on a CPU: on a loaded 2-CPU machine the two
			 * threads may take turns instead of running together, and then nothing is shared. */
			busy[m][k] = 100.0 * (cpu_ns(reader_clock) - r0) / (bench_now_ns() - w0);
		}
		for (int how = 0; how < 3; how++)
			faults[how][k] = fault_ns(how);
	}
	atomic_store(&stop, 1);
	pthread_join(th, NULL);

	printf("recording thread's cost per span (thread CPU time, %ld spans, %d interleaved repetitions),\n"
	       "overwrite mode, while another thread of the process:\n", n, REPS);
	for (int m = 0; m < READER_MODES; m++) {
		double med = bench_median(cost[m], REPS);

		printf("  %-48s min %6.2f  median %6.2f  max %6.2f ns   (reader on CPU %3.0f %%)\n", mode_names[m],
		       cost[m][0], med, cost[m][REPS - 1], bench_median(busy[m], REPS));
	}
	printf("first touch of a 1 MiB shared-memory segment, ns per 4 KiB page (median of %d):\n", REPS);
	printf("  lazy (as the rings) %.0f, MAP_POPULATE %.0f, fallocate first %.0f\n", bench_median(faults[0], REPS),
	       bench_median(faults[1], REPS), bench_median(faults[2], REPS));
	return 0;
}
