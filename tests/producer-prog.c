/* SPDX-License-Identifier: MIT */
/* A traced program for the integration tests: emits an exact, known number of spans, tasks and
 * logs on up to 4096 threads at once (or one after the other, or in fork()ed children), optionally
 * holding a span open across the consumer's attach or keeping every thread alive (--park). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#include "producer.h"
#include "ring-reader.h"

static int threads = 1, spans = 0, tasks = 0, logs = 0, forever = 0, handoffs = 0, forks = 0, sequential = 0;
/* Every worker is alive before any starts working: --threads N means N threads at once. */
static pthread_barrier_t all_alive;

/* --park FILE: workers stay alive after their work until FILE exists (all threads alive at once);
 * --parked FILE is touched once every worker is parked. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	const char *file;
	int parked, released;
} park = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0 };

/* Hand-offs: contexts captured inside a span on the main thread, adopted by a worker that runs a
 * job for them (each one flow in the trace). One slot, passed back and forth. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rt_context ctx;
	int pending, done;
} box = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, { 0, 0, 0 }, 0, 0 };

static void *adopter(void *arg)
{
	(void)arg;
	rt_thread_register("adopter");
	for (int i = 0; i < handoffs; i++) {
		struct rt_context ctx, prev;

		pthread_mutex_lock(&box.lock);
		while (!box.pending)
			pthread_cond_wait(&box.cond, &box.lock);
		ctx = box.ctx;
		box.pending = 0;
		pthread_mutex_unlock(&box.lock);
		prev = rt_context_adopt(ctx);
		{
			RT_SPAN("job");
		}
		rt_context_adopt(prev);
		pthread_mutex_lock(&box.lock);
		box.done++;
		pthread_cond_broadcast(&box.cond);
		pthread_mutex_unlock(&box.lock);
	}
	return NULL;
}

static void hand_off_all(void)
{
	pthread_t t;

	if (!handoffs)
		return;
	pthread_create(&t, NULL, adopter, NULL);
	for (int i = 0; i < handoffs; i++) {
		struct rt_task task = rt_task_begin("request");

		{
			RT_SPAN("submit");
			pthread_mutex_lock(&box.lock);
			box.ctx = rt_context_current();
			box.pending = 1;
			pthread_cond_broadcast(&box.cond);
			while (box.done <= i)
				pthread_cond_wait(&box.cond, &box.lock);
			pthread_mutex_unlock(&box.lock);
		}
		rt_task_end(task);
	}
	pthread_join(t, NULL);
}

/* Pre-fork server workers: children that never exec, each running `spans` "child" spans on its
 * one thread and ending with _exit (no exit handler runs). One at a time. */
static void fork_children(void)
{
	for (int i = 0; i < forks; i++) {
		pid_t pid = fork();
		int status;

		if (pid == 0) {
			for (int k = 0; k < spans; k++) {
				RT_SPAN("child");
			}
			_exit(0);
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			exit(3);
	}
}

static bool exists(const char *path)
{
	return path && access(path, F_OK) == 0;
}

static void touch(const char *path)
{
	int fd;

	if (!path)
		return;
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
}

static void park_here(void)
{
	pthread_mutex_lock(&park.lock);
	park.parked++;
	pthread_cond_broadcast(&park.cond);
	while (!park.released)
		pthread_cond_wait(&park.cond, &park.lock);
	pthread_mutex_unlock(&park.lock);
}

/* Main thread: once every worker is parked, touch `parked`; release them when the file appears. */
static void park_all(const char *parked)
{
	pthread_mutex_lock(&park.lock);
	while (park.parked < threads)
		pthread_cond_wait(&park.cond, &park.lock);
	pthread_mutex_unlock(&park.lock);
	touch(parked);
	for (int i = 0; i < 600000 && !exists(park.file); i++)
		usleep(1000);
	pthread_mutex_lock(&park.lock);
	park.released = 1;
	pthread_cond_broadcast(&park.cond);
	pthread_mutex_unlock(&park.lock);
}

/* --until FILE: as --forever, until FILE exists; then the program ends normally. */
static const char *until_file;

static void *work(void *arg)
{
	if (arg)
		pthread_barrier_wait(&all_alive);
	if (park.file)
		rt_thread_register("worker"); /* a ring even when it records nothing */
	do {
		for (int i = 0; i < spans; i++) {
			RT_SPAN("work");
			rt_span_begin("inner");
			rt_span_end();
		}
		for (int i = 0; i < tasks; i++) {
			struct rt_task t = rt_task_begin("job");

			rt_task_end(t);
		}
		for (int i = 0; i < logs; i++)
			rt_log("test", "log %d from a worker", i);
		if (forever)
			usleep(100);
	} while (forever && !(until_file && exists(until_file)));
	if (park.file)
		park_here();
	return NULL;
}

/* --names N: N distinct 200-byte names; how many the table refused (full, or no memory). */
static int intern_names(int n)
{
	char name[201];
	int refused = 0;

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%06d", i);
		name[6] = '-';
		memset(name + 7, 'n', 193);
		name[200] = 0;
		refused += rt_name_intern(name) == 1 /* RT_NAME_ID_OVERFLOW */;
	}
	return refused;
}

/* A finished thread's ring: records committed and dropped. */
static int report_ring(void *ctx, const struct rtc_thread_info *t)
{
	struct rtc_producer *p = ctx;
	struct rtc_ring_reader r;

	if (t->state != RT_SHM_THREAD_FINISHED || rtc_ring_reader_open(&r, t->ring_name, (uint32_t)p->pid) < 0)
		return 0;
	printf("ring records=%llu dropped=%llu\n", (unsigned long long)atomic_load(&r.hdr->records),
	       (unsigned long long)atomic_load(&r.hdr->dropped));
	rtc_ring_reader_close(&r);
	return 0;
}

/* --report: what the library could not record, from our own segment. */
static void report(int refused)
{
	struct rtc_producer p;
	struct rtc_producer_counts c;

	if (rtc_producer_open_pid(&p, getpid()) < 0 || rtc_producer_counts(&p, &c) < 0) {
		printf("segment=0\n");
		return;
	}
	printf("segment=1 ring_failures=%llu thread_overflows=%llu name_overflows=%llu refused_names=%d\n",
	       (unsigned long long)c.ring_failures, (unsigned long long)c.thread_overflows,
	       (unsigned long long)c.name_overflows, refused);
	rtc_producer_each_thread(&p, report_ring, &p);
	rtc_producer_close(&p);
}

static void wait_consumer(void)
{
	struct rtc_producer p;

	if (rtc_producer_open(&p, getpid(), getuid()) < 0)
		return;
	for (int i = 0; i < 10000 && atomic_load(&p.ctl->session) == 0; i++)
		usleep(1000);
	rtc_producer_close(&p);
}

/* --then-exec N[,M...]: a new traced image in this same process (a wrapper exec()ing the real
 * program) with --spans N, which execs the next with M, and so on; the last one gets --last-ready
 * and --last-hold as its --ready and --hold. Returns only if exec failed. */
static void exec_next(const char *self, const char *list, const char *last_ready, const char *last_hold)
{
	const char *args[12];
	const char *comma = strchr(list, ',');
	char count[32];
	size_t n = 0;

	snprintf(count, sizeof(count), "%.*s", comma ? (int)(comma - list) : (int)strlen(list), list);
	args[n++] = self;
	args[n++] = "--spans";
	args[n++] = count;
	if (comma)
		args[n++] = "--then-exec", args[n++] = comma + 1;
	if (last_ready)
		args[n++] = comma ? "--last-ready" : "--ready", args[n++] = last_ready;
	if (last_hold)
		args[n++] = comma ? "--last-hold" : "--hold", args[n++] = last_hold;
	args[n] = NULL;
	execv("/proc/self/exe", (char *const *)args);
}

/* --exiting FILE: touched by an exit handler registered after the library's (so it runs before
 * it): the process has begun to exit, the library's exit handler is next. */
static const char *exiting;

static void touch_exiting(void)
{
	touch(exiting);
}

int main(int argc, char **argv)
{
	const char *ready = NULL, *hold = NULL, *worked = NULL, *parked = NULL;
	bool wait = false, want_report = false;
	const char *then_exec = NULL, *last_ready = NULL, *last_hold = NULL;
	int names = 0, refused = 0;
	pthread_t *th;
	struct rt_task top;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--spans") && i + 1 < argc)
			spans = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--tasks") && i + 1 < argc)
			tasks = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--logs") && i + 1 < argc)
			logs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--handoffs") && i + 1 < argc)
			handoffs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--sequential") && i + 1 < argc)
			sequential = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--then-exec") && i + 1 < argc)
			then_exec = argv[++i];
		else if (!strcmp(argv[i], "--forks") && i + 1 < argc)
			forks = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--ready") && i + 1 < argc)
			ready = argv[++i];
		else if (!strcmp(argv[i], "--hold") && i + 1 < argc)
			hold = argv[++i];
		else if (!strcmp(argv[i], "--worked") && i + 1 < argc)
			worked = argv[++i];
		else if (!strcmp(argv[i], "--exiting") && i + 1 < argc)
			exiting = argv[++i];
		else if (!strcmp(argv[i], "--last-ready") && i + 1 < argc)
			last_ready = argv[++i];
		else if (!strcmp(argv[i], "--last-hold") && i + 1 < argc)
			last_hold = argv[++i];
		else if (!strcmp(argv[i], "--wait-consumer"))
			wait = true;
		else if (!strcmp(argv[i], "--forever"))
			forever = 1;
		else if (!strcmp(argv[i], "--until") && i + 1 < argc)
			forever = 1, until_file = argv[++i];
		else if (!strcmp(argv[i], "--names") && i + 1 < argc)
			names = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--report"))
			want_report = true;
		else if (!strcmp(argv[i], "--park") && i + 1 < argc)
			park.file = argv[++i];
		else if (!strcmp(argv[i], "--parked") && i + 1 < argc)
			parked = argv[++i];
		else {
			fprintf(stderr, "producer-prog: bad argument %s\n", argv[i]);
			return 2;
		}
	}
	if (threads < 0 || threads > 4096 || sequential < 0)
		return 2;
	th = calloc((size_t)threads + 1, sizeof(*th));
	if (!th || pthread_barrier_init(&all_alive, NULL, (unsigned)threads + 1) != 0)
		return 1;
	rt_thread_register("main");
	if (exiting)
		atexit(touch_exiting); /* after the library's constructor registered its own */
	if (hold)
		rt_span_begin("held"); /* open before any consumer attaches */
	touch(ready);
	if (wait)
		wait_consumer();
	top = rt_task_begin("top");
	for (int i = 0; i < threads; i++)
		if (rt_thread_create(&th[i], NULL, work, &all_alive) != 0) {
			fprintf(stderr, "producer-prog: thread %d of %d not started\n", i, threads);
			return 1;
		}
	pthread_barrier_wait(&all_alive);
	if (park.file)
		park_all(parked);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	/* Thread-per-connection: short-lived threads one after the other. */
	for (int i = 0; i < sequential; i++) {
		if (rt_thread_create(&th[0], NULL, work, NULL) != 0)
			return 1;
		pthread_join(th[0], NULL);
	}
	hand_off_all();
	fork_children();
	rt_task_end(top);
	touch(worked); /* all work recorded; --hold keeps the process (and its rings) alive */
	if (hold) {
		for (int i = 0; i < 20000 && !exists(hold); i++)
			usleep(1000);
		rt_span_end();
	}
	refused = intern_names(names);
	if (want_report)
		report(refused);
	pthread_barrier_destroy(&all_alive);
	free(th);
	if (then_exec)
		exec_next(argv[0], then_exec, last_ready, last_hold);
	return 0;
}
