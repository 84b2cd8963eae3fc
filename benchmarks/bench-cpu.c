/* SPDX-License-Identifier: MIT */
/* What the CPU breakdown (RINGTRACE_CPU_STATS) costs per span while recording: each source against the
 * same spans without it, in fresh processes run in alternating rounds (the source is chosen when the
 * library loads); and the system calls the sources make, alone. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#include "bench-util.h"

#define MAX_ROUNDS 64

static const char *const modes[] = { "0", "perf", "clock", "rusage" };
static const char *const labels[] = {
	"off (baseline)",
	"perf: context-switch records",
	"clock: CLOCK_THREAD_CPUTIME_ID",
	"rusage: getrusage(RUSAGE_THREAD)",
};
#define NMODES (sizeof(modes) / sizeof(modes[0]))

static long spans(void)
{
	const char *s = getenv("RT_BENCH_CPU_SPANS");

	return s ? atol(s) : 200000;
}

static int rounds(void)
{
	const char *s = getenv("RT_BENCH_CPU_ROUNDS");
	int n = s ? atoi(s) : 9;

	return n < 3 ? 3 : n > MAX_ROUNDS ? MAX_ROUNDS : n;
}

/* In the child: ns per span (begin + end), recording in overwrite mode. */
static double child_loop(long n)
{
	double t0;

	rt_thread_register("bench");
	for (long i = 0; i < 1000; i++) { /* warm: the ring's pages, the perf ring */
		rt_span_begin("warm");
		rt_span_end();
	}
	t0 = bench_now_ns();
	for (long i = 0; i < n; i++) {
		rt_span_begin("span");
		rt_span_end();
	}
	return (bench_now_ns() - t0) / (double)n;
}

/* Run this program again as a child with the mode set; its result on a pipe. */
static double run_child(const char *self, const char *mode, long n)
{
	int fd[2];
	pid_t pid;
	double v = -1;
	char buf[64] = "";

	if (pipe(fd) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		char arg[32];

		close(fd[0]);
		dup2(fd[1], 1);
		setenv("RINGTRACE_MODE", "overwrite", 1);
		setenv("RINGTRACE_CPU_STATS", mode, 1);
		snprintf(arg, sizeof(arg), "%ld", n);
		execl(self, self, "--child", arg, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	if (read(fd[0], buf, sizeof(buf) - 1) > 0)
		v = atof(buf);
	close(fd[0]);
	waitpid(pid, NULL, 0);
	return v;
}

static double per_call(int which, long n)
{
	struct timespec ts;
	struct rusage ru;
	double t0 = bench_now_ns();

	for (long i = 0; i < n; i++) {
		if (which == 0)
			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
		else if (which == 1)
			getrusage(RUSAGE_THREAD, &ru);
		else
			clock_gettime(CLOCK_MONOTONIC, &ts);
	}
	return (bench_now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
	double v[NMODES][MAX_ROUNDS], ratio[NMODES][MAX_ROUNDS];
	long n = spans();
	int r = rounds();

	if (argc == 3 && !strcmp(argv[1], "--child")) {
		printf("%.3f\n", child_loop(atol(argv[2])));
		return 0;
	}
	printf("CPU breakdown: ns per span (begin + end) while recording (overwrite mode), %ld spans a run,\n"
	       "%d rounds, each round every source in a fresh process; ratio = source / baseline of the same round\n\n",
	       n, r);
	for (int k = 0; k < r; k++)
		for (size_t m = 0; m < NMODES; m++) {
			/* Alternate the order between rounds: drift falls on every source alike. */
			size_t i = k % 2 ? NMODES - 1 - m : m;

			v[i][k] = run_child(argv[0], modes[i], n);
		}
	printf("%-34s %9s %9s %9s   %s\n", "source", "min", "median", "max", "ratio min / median / max");
	for (size_t m = 0; m < NMODES; m++) {
		double c[MAX_ROUNDS];

		for (int k = 0; k < r; k++) {
			ratio[m][k] = v[m][k] / v[0][k];
			c[k] = v[m][k];
		}
		printf("%-34s %9.1f %9.1f %9.1f", labels[m], bench_min(c, r), bench_median(c, r), bench_max(c, r));
		if (m)
			printf("   %.2f / %.2f / %.2f", bench_min(ratio[m], r), bench_median(ratio[m], r),
			       bench_max(ratio[m], r));
		printf("\n");
	}
	printf("\nthe system calls alone (ns per call, median of %d):\n", r);
	{
		static const char *const calls[] = { "clock_gettime(CLOCK_THREAD_CPUTIME_ID)",
						     "getrusage(RUSAGE_THREAD)", "clock_gettime(CLOCK_MONOTONIC) (vDSO)" };

		for (int c = 0; c < 3; c++) {
			double x[MAX_ROUNDS];

			for (int k = 0; k < r; k++)
				x[k] = per_call(c, 100000);
			printf("  %-40s min %.1f, median %.1f, max %.1f\n", calls[c], bench_min(x, r), bench_median(x, r),
			       bench_max(x, r));
		}
	}
	return 0;
}
