/* SPDX-License-Identifier: MIT */
/* Producer cost per span (begin+end) in every library state, on 1 and 2 threads, each repetition a
 * fresh process beside baselines measured on the same thread in the same repetition. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <ringtrace/ringtrace.h>

#include "bench-host-state.h"
#include "bench-span.h"
#include "bench-tracy-model.h"
#include "bench-util.h"
#ifdef BENCH_SHARED
#include <sys/syscall.h>

#include <ringtrace/shm-format.h>
#else
#include "process.h"
#include "thread.h"
#endif

/*
 * Usage: bench-span [RINGTRACE_TOOL] [--compare OTHER_BENCH_SPAN]
 * bench-span links libringtrace statically; bench-span-so is the same program linked to
 * libringtrace.so, as applications link it (calls through the PLT, thread-local variables through
 * the GOT): `bench-span TOOL --compare bench-span-so` measures both in the same rounds.
 * Environment: RT_BENCH_SPANS (tight-loop spans per repetition, default 2000000), RT_BENCH_REPS
 * (default 7, at least 5), RT_BENCH_STATES (comma-separated subset of the state names below),
 * RT_BENCH_THREADS (max threads, 1 or 2).
 *
 * A repetition of one configuration is one child process (the library's state is fixed when it
 * loads). Repetitions are interleaved: round r runs every configuration once (and, with
 * --compare, the other binary's right after), so slow periods of a shared machine hit all of them.
 */

const struct state states[NSTATES] = {
	{ "disabled", "disabled (RINGTRACE_DISABLE=1)", "RINGTRACE_DISABLE=1", false, LIBRARY, false },
	{ "idle", "idle, default", "", false, LIBRARY, false },
	{ "idle-untracked", "idle, tracking off", "RINGTRACE_TRACK_SPANS=0", false, LIBRARY, false },
	{ "idle-tracked-tsc", "idle, tracking with rdtsc", "RINGTRACE_TRACK_SPANS=1", false, LIBRARY, false },
	{ "overwrite", "overwrite, no reader", "RINGTRACE_MODE=overwrite", false, LIBRARY, false },
	{ "overwrite-record", "overwrite + record", "RINGTRACE_MODE=overwrite", true, LIBRARY, false },
	{ "discard-record", "discard + record", "RINGTRACE_MODE=discard", true, LIBRARY, false },
	{ "tracy-model", "Tracy model, nothing reads", "", false, TRACY_MODEL, false },
	{ "tracy-model-read", "Tracy model + its reader", "", false, TRACY_MODEL, true },
};
_Static_assert(sizeof(states) / sizeof(states[0]) == NSTATES, "NSTATES");


static long env_long(const char *name, long dflt)
{
	const char *s = getenv(name);

	return s && *s ? atol(s) : dflt;
}

static long tight_spans(void)
{
	return env_long("RT_BENCH_SPANS", 2000000);
}

/* ---- the measured loops (one worker thread) ---- */

static volatile uint64_t sink;
static uint8_t work_buf[MAX_THREADS][WORK_LARGE];

static double thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The real work. noinline and aligned: the bare loop and the loops with spans run this same
 * code, so their difference is the spans' alone. Inlined, each loop had its own copy of the inner
 * loop, and a copy's placement alone moved the cost by up to 45 ns per call (the disabled state
 * "added" 21 and 47 ns in one build, 3 in another). */
__attribute__((noinline, aligned(64))) static uint64_t fnv1a(const uint8_t *p, int n)
{
	uint64_t h = 1469598103934665603ull;

	for (int i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static double loop_rdtsc2(long n)
{
	double t0 = bench_now_ns();
	uint64_t acc = 0;

	for (long i = 0; i < n; i++) {
		uint64_t a = __rdtsc();
		__asm__ volatile("" ::: "memory");
		acc += __rdtsc() - a;
	}
	sink = acc;
	return (bench_now_ns() - t0) / (double)n;
}

/* noinline: every loop is one function, the way a call site in an application looks. */
__attribute__((noinline)) static void spans_tight(long n)
{
	for (long i = 0; i < n; i++) {
		rt_span_begin("bench-span");
		rt_span_end();
	}
}

__attribute__((noinline)) static void tracy_tight(long n)
{
	static const struct tracy_model_srcloc loc = { "bench-span", __func__, __FILE__, __LINE__, 0 };

	for (long i = 0; i < n; i++) {
		struct tracy_model_zone z = tracy_model_zone_begin(&loc);

		tracy_model_zone_end(&z);
	}
}

__attribute__((noinline)) static uint64_t work_bare(uint8_t *buf, int bytes, long n)
{
	uint64_t acc = 0;

	for (long i = 0; i < n; i++) {
		buf[i & (bytes - 1)]++;
		acc += fnv1a(buf, bytes);
	}
	return acc;
}

__attribute__((noinline)) static uint64_t work_spans(uint8_t *buf, int bytes, long n)
{
	uint64_t acc = 0;

	for (long i = 0; i < n; i++) {
		rt_span_begin("bench-work");
		buf[i & (bytes - 1)]++;
		acc += fnv1a(buf, bytes);
		rt_span_end();
	}
	return acc;
}

__attribute__((noinline)) static uint64_t work_tracy(uint8_t *buf, int bytes, long n)
{
	static const struct tracy_model_srcloc loc = { "bench-work", __func__, __FILE__, __LINE__, 0 };
	uint64_t acc = 0;

	for (long i = 0; i < n; i++) {
		struct tracy_model_zone z = tracy_model_zone_begin(&loc);

		buf[i & (bytes - 1)]++;
		acc += fnv1a(buf, bytes);
		tracy_model_zone_end(&z);
	}
	return acc;
}

#ifdef BENCH_SHARED
/* Linked to the shared library, the benchmark cannot reach its internals: it finds the library's
 * segments among its own mappings of /dev/shm, by magic (and, for a ring, by thread id). */
static void *own_segment(uint64_t magic, uint32_t tid)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	void *found = NULL;

	while (f && !found && fgets(line, sizeof(line), f)) {
		unsigned long start, end, off;
		char perms[8];

		if (!strstr(line, "/dev/shm/") || sscanf(line, "%lx-%lx %7s %lx", &start, &end, perms, &off) != 4 ||
		    perms[0] != 'r' || off || end - start < 4096)
			continue;
		if (magic == RT_SHM_RING_MAGIC) {
			struct rt_shm_ring *r = (struct rt_shm_ring *)start;

			if (r->magic == magic && r->tid == tid)
				found = r;
		} else if (*(uint64_t *)start == magic) {
			found = (void *)start;
		}
	}
	if (f)
		fclose(f);
	return found;
}

static struct rt_shm_control *control(void)
{
	static struct rt_shm_control *ctl;

	if (!ctl)
		ctl = own_segment(RT_SHM_CONTROL_MAGIC, 0);
	return ctl;
}

static void ring_counts(uint64_t *pos, uint64_t *dropped)
{
	struct rt_shm_ring *r = own_segment(RT_SHM_RING_MAGIC, (uint32_t)syscall(SYS_gettid));

	*pos = r ? atomic_load(&r->commit_pos) : 0;
	*dropped = r ? atomic_load(&r->dropped) : 0;
}
#else
static struct rt_shm_control *control(void)
{
	return rt__proc.ctl;
}

/* Ring statistics of the calling thread (0 when the library keeps no ring for it). */
static void ring_counts(uint64_t *pos, uint64_t *dropped)
{
	struct rt__thread *t = rt__thread_peek();

	*pos = t ? atomic_load(&t->ring->commit_pos) : 0;
	*dropped = t ? atomic_load(&t->ring->dropped) : 0;
}
#endif

struct worker {
	pthread_t th;
	int index;
	enum state_kind kind;
	pthread_barrier_t *phase;
	struct sample s;
};

static void run_spans(struct worker *w, long n)
{
	if (w->kind == TRACY_MODEL)
		tracy_tight(n);
	else
		spans_tight(n);
}

static uint64_t run_work(struct worker *w, int bytes, long n, int with_spans)
{
	uint8_t *buf = work_buf[w->index];

	if (!with_spans)
		return work_bare(buf, bytes, n);
	if (w->kind == TRACY_MODEL)
		return work_tracy(buf, bytes, n);
	return work_spans(buf, bytes, n);
}

/* ns per iteration in thread CPU time (these differences are small, and a preemption in the
 * middle must not count) of the bare work loop and of the same loop with spans. */
static void timed_work(struct worker *w, int bytes, long n, double *bare, double *spans)
{
	double t_bare = 0, t_spans = 0, t0;
	long per = n / SLICES > 1 ? n / SLICES : 1;

	pthread_barrier_wait(w->phase);
	for (int k = 0; k < SLICES; k++) {
		t0 = thread_cpu_ns();
		sink = run_work(w, bytes, per, 0);
		t_bare += thread_cpu_ns() - t0;
		t0 = thread_cpu_ns();
		sink = run_work(w, bytes, per, 1);
		t_spans += thread_cpu_ns() - t0;
	}
	*bare = t_bare / (double)(per * SLICES);
	*spans = t_spans / (double)(per * SLICES);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	long n = tight_spans();
	long per = n / SLICES > 1 ? n / SLICES : 1, per_base = per / 4 > 1 ? per / 4 : 1;
	struct rusage ru0, ru1;
	uint64_t pos0, pos1, drop0, drop1;
	double base_wall = 0, base_cpu = 0, wall = 0, cpu = 0, t0, c0;

	if (w->kind == TRACY_MODEL)
		tracy_model_thread_init();
	else
		rt_thread_register("bench");
	for (int i = 0; i < WORK_LARGE; i++)
		work_buf[w->index][i] = (uint8_t)i;
	/* Warm-up: name interning, the first records after attach, code and data in cache. */
	run_spans(w, n / 16);

	pthread_barrier_wait(w->phase);
	ring_counts(&pos0, &drop0);
	getrusage(RUSAGE_THREAD, &ru0);
	for (int k = 0; k < SLICES; k++) {
		double slice_base, slice_cpu;

		w->s.slice_store[w->index][k] = host_store_ns(per_base / 8 > 1 ? per_base / 8 : 1);
		c0 = thread_cpu_ns();
		t0 = bench_now_ns();
		sink = (uint64_t)loop_rdtsc2(per_base);
		base_wall += bench_now_ns() - t0;
		slice_base = thread_cpu_ns() - c0;
		base_cpu += slice_base;
		c0 = thread_cpu_ns();
		t0 = bench_now_ns();
		run_spans(w, per);
		wall += bench_now_ns() - t0;
		slice_cpu = thread_cpu_ns() - c0;
		cpu += slice_cpu;
		w->s.slice_ratio[w->index][k] = slice_base > 0 ? (slice_cpu / (double)per) / (slice_base / (double)per_base) : 0;
	}
	getrusage(RUSAGE_THREAD, &ru1);
	ring_counts(&pos1, &drop1);
	w->s.rdtsc2 = base_wall / (double)(per_base * SLICES);
	w->s.rdtsc2_cpu = base_cpu / (double)(per_base * SLICES);
	w->s.wall = wall / (double)(per * SLICES);
	w->s.cpu = cpu / (double)(per * SLICES);
	w->s.bytes = (double)(pos1 - pos0) / (double)(per * SLICES);
	w->s.lost = (double)(drop1 - drop0);
	w->s.faults = (double)(ru1.ru_minflt - ru0.ru_minflt);
	w->s.csw = (double)(ru1.ru_nvcsw - ru0.ru_nvcsw + ru1.ru_nivcsw - ru0.ru_nivcsw);

	timed_work(w, WORK_SMALL, n / 8, &w->s.work_small, &w->s.span_small);
	timed_work(w, WORK_LARGE, n / 32, &w->s.work_large, &w->s.span_large);
	return NULL;
}

/* ---- child: one repetition of one configuration ---- */

static pid_t start_recorder(const char *tool, const char *raw_path)
{
	char pid[32];
	pid_t r;

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	r = fork();
	if (r == 0) {
		/* The recorder is not traced itself. */
		setenv("RINGTRACE_DISABLE", "1", 1);
		execl(tool, tool, "record", "-p", pid, "--raw", raw_path, "--quiet", (char *)NULL);
		_exit(127);
	}
	return r;
}

static bool recorder_attached(void)
{
	/* Relaxed: polled until the consumer's attach shows. */
	struct rt_shm_control *ctl = control();

	return ctl && atomic_load_explicit(&ctl->session, memory_order_relaxed) != 0;
}

static int child(const struct state *st, int threads, const char *tool)
{
	struct worker w[MAX_THREADS];
	pthread_barrier_t phase;
	char raw_path[256] = "";
	pid_t rec = -1;
	struct sample avg = { 0 };
	struct tracy_model_drainer drain = { .pause_us = 1000 };
	pthread_t drain_th;

	if (st->record) {
		const char *tmp = getenv("TMPDIR");

		snprintf(raw_path, sizeof(raw_path), "%s/bench-span.%d.rtrace", tmp && *tmp ? tmp : "/tmp", (int)getpid());
		rec = start_recorder(tool, raw_path);
		for (int i = 0; i < 5000 && !recorder_attached(); i++)
			usleep(1000);
		if (!recorder_attached()) {
			fprintf(stderr, "bench-span: %s did not attach\n", tool);
			kill(rec, SIGKILL);
			waitpid(rec, NULL, 0);
			return 1;
		}
	}
	if (st->drained)
		pthread_create(&drain_th, NULL, tracy_model_drainer, &drain);
	pthread_barrier_init(&phase, NULL, (unsigned)threads);
	for (int t = 0; t < threads; t++) {
		w[t] = (struct worker){ .index = t, .kind = st->kind, .phase = &phase };
		pthread_create(&w[t].th, NULL, worker_main, &w[t]);
	}
	for (int t = 0; t < threads; t++) {
		double *a = (double *)&avg, *s = (double *)&w[t].s;

		pthread_join(w[t].th, NULL);
		for (size_t f = 0; f < SAMPLE_MEAN_FIELDS; f++)
			a[f] += s[f] / threads;
		memcpy(avg.slice_store[t], w[t].s.slice_store[t], sizeof(avg.slice_store[t]));
		memcpy(avg.slice_ratio[t], w[t].s.slice_ratio[t], sizeof(avg.slice_ratio[t]));
	}
	pthread_barrier_destroy(&phase);
	if (st->drained) {
		atomic_store(&drain.stop, 1);
		pthread_join(drain_th, NULL);
	}
	/* Other tracing sessions of this user (`ringtrace record -a`) attach to every traced process:
	 * such a repetition measured something else and is run again. Relaxed loads: read once, after
	 * the workers were joined. */
	if (control()) {
		uint64_t beats = atomic_load_explicit(&control()->heartbeat, memory_order_relaxed);
		uint32_t cpid = atomic_load_explicit(&control()->consumer_pid, memory_order_relaxed);

		avg.foreign = rec > 0 ? cpid != (uint32_t)rec : beats != 0;
	}
	if (rec > 0) {
		kill(rec, SIGINT);
		waitpid(rec, NULL, 0);
		unlink(raw_path);
	}
	{
		double *a = (double *)&avg;

		for (size_t f = 0; f < SAMPLE_FIELDS; f++)
			printf("%s%.4f", f ? " " : "", a[f]);
		printf("\n");
	}
	return 0;
}

/* ---- parent: interleaved rounds, then the table ---- */

static int run_child(const char *bin, const struct state *st, int threads, const char *tool, struct sample *out)
{
	int fd[2];
	pid_t pid;
	FILE *f;
	int status, ok = 0;

	if (pipe(fd) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		char thr[8], env[256];
		char *save, *tok;

		close(fd[0]);
		dup2(fd[1], STDOUT_FILENO);
		unsetenv("RINGTRACE_DISABLE");
		unsetenv("RINGTRACE_TRACK_SPANS");
		unsetenv("RINGTRACE_MODE");
		unsetenv("RINGTRACE_TRACE_FILE");
		snprintf(env, sizeof(env), "%s", st->env);
		for (tok = strtok_r(env, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			putenv(strdup(tok));
		snprintf(thr, sizeof(thr), "%d", threads);
		execl(bin, bin, "--child", st->name, thr, tool, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	f = fdopen(fd[0], "r");
	if (f) {
		double *s = (double *)out;

		ok = 1;
		for (size_t i = 0; i < SAMPLE_FIELDS; i++)
			ok &= fscanf(f, "%lf", &s[i]) == 1;
		fclose(f);
	}
	waitpid(pid, &status, 0);
	return ok && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static bool state_selected(const struct state *st)
{
	const char *sel = getenv("RT_BENCH_STATES");
	size_t n = strlen(st->name);

	if (!sel || !*sel)
		return true;
	for (const char *p = sel; (p = strstr(p, st->name)) != NULL; p += n)
		if ((p == sel || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	static struct series res[2][NSTATES][MAX_THREADS + 1];
	const char *tool = NULL, *other = NULL;
	int reps = (int)env_long("RT_BENCH_REPS", 7);
	int max_threads = (int)env_long("RT_BENCH_THREADS", MAX_THREADS);
	int nbin;

	if (argc == 5 && strcmp(argv[1], "--child") == 0) {
		for (size_t s = 0; s < NSTATES; s++)
			if (strcmp(argv[2], states[s].name) == 0)
				return child(&states[s], atoi(argv[3]), argv[4]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--compare") == 0 && i + 1 < argc)
			other = argv[++i];
		else
			tool = argv[i];
	}
	if (!tool)
		tool = "ringtrace";
	if (reps < 5)
		reps = 5;
	if (reps > MAX_REPS)
		reps = MAX_REPS;
	if (max_threads < 1 || max_threads > MAX_THREADS)
		max_threads = MAX_THREADS;
	nbin = other ? 2 : 1;

	for (int r = 0; r < reps; r++) {
		for (size_t s = 0; s < NSTATES; s++) {
			if (!state_selected(&states[s]))
				continue;
			for (int t = 1; t <= max_threads; t++) {
				for (int b = 0; b < nbin; b++) {
					/* Alternate which binary goes first from round to round. */
					int bi = (b + r) % nbin;
					struct series *v = &res[bi][s][t];

					int tries = 0, err;

					while ((err = run_child(bi ? other : argv[0], &states[s], t, tool, &v->s[v->n])) == 0 &&
					       v->s[v->n].foreign > 0 && ++tries < 20)
						fprintf(stderr, "bench-span: another consumer attached to %s, running it again\n",
							states[s].name);
					if (err < 0 || v->s[v->n].foreign > 0) {
						fprintf(stderr, "bench-span: %s, %d thread(s)%s failed\n", states[s].name, t,
							bi ? " (compared binary)" : "");
						return 1;
					}
					if (getenv("RT_BENCH_RAW")) {
						const struct sample *x = &v->s[v->n];

						fprintf(stderr, "raw %s %s %d wall %.2f cpu %.2f rdtsc2 %.2f/%.2f faults %.0f csw %.0f lost %.0f\n",
							bi ? "B" : "A", states[s].name, t, x->wall, x->cpu, x->rdtsc2, x->rdtsc2_cpu,
							x->faults, x->csw, x->lost);
					}
					v->n++;
				}
			}
		}
	}

	printf("ringtrace span benchmark: %ld spans per repetition (begin+end, tight loop), %d repetitions,\n"
	       "each a fresh process; configurations interleaved round by round. Ratios: to two rdtsc reads\n"
	       "timed on the same thread in slices alternating with the spans' (wall to wall, thread CPU\n"
	       "time to thread CPU time). lost: most records refused in one repetition. faults, csw: page\n"
	       "faults and context switches of a worker. Tracy model: benchmarks/bench-tracy-model.h (a\n"
	       "model of Tracy's fast path, not Tracy).\n",
	       tight_spans(), reps);
#ifdef BENCH_SHARED
	print_table(other ? "this binary (linked to libringtrace.so)" : "results (linked to libringtrace.so)", res[0],
		    max_threads);
#else
	print_table(other ? "this binary (libringtrace linked statically)" : "results (libringtrace linked statically)",
		    res[0], max_threads);
#endif
	print_host_state(res, nbin, other, max_threads);
	if (other) {
		char title[600];

		snprintf(title, sizeof(title), "compared binary: %s", other);
		print_table(title, res[1], max_threads);
		print_compare(res, max_threads);
	}
	return 0;
}
