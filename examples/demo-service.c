/* SPDX-License-Identifier: MIT */
/* A small traced service: an acceptor makes a task per request, a thread pool adopts each request's
 * context, a maintenance thread inherits its creator's task. Runs for argv[1] seconds (default 5). */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#define WORKERS 3
#define QUEUE_CAP 64

struct job {
	struct rt_context ctx;
	struct rt_task task;
	unsigned request;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t nonempty, nonfull;
	struct job jobs[QUEUE_CAP];
	unsigned head, tail, count;
	bool closed;
} queue = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, { { { 0, 0, 0 }, { 0 }, 0 } }, 0, 0, 0, false };

static volatile bool running = true;
static uint64_t sink;

/* Real work, so spans measure something: a few microseconds of hashing. */
static void burn(unsigned iterations)
{
	uint64_t h = 1469598103934665603ull;

	for (unsigned i = 0; i < iterations; i++)
		h = (h ^ i) * 1099511628211ull;
	sink += h;
}

static void sleep_us(unsigned us)
{
	struct timespec ts = { 0, (long)us * 1000 };

	nanosleep(&ts, NULL);
}

static void push(struct job j)
{
	pthread_mutex_lock(&queue.lock);
	while (queue.count == QUEUE_CAP && !queue.closed)
		pthread_cond_wait(&queue.nonfull, &queue.lock);
	queue.jobs[queue.tail] = j;
	queue.tail = (queue.tail + 1) % QUEUE_CAP;
	queue.count++;
	pthread_cond_signal(&queue.nonempty);
	pthread_mutex_unlock(&queue.lock);
}

static bool pop(struct job *j)
{
	pthread_mutex_lock(&queue.lock);
	while (queue.count == 0 && !queue.closed)
		pthread_cond_wait(&queue.nonempty, &queue.lock);
	if (queue.count == 0) {
		pthread_mutex_unlock(&queue.lock);
		return false;
	}
	*j = queue.jobs[queue.head];
	queue.head = (queue.head + 1) % QUEUE_CAP;
	queue.count--;
	pthread_cond_signal(&queue.nonfull);
	pthread_mutex_unlock(&queue.lock);
	return true;
}

static void query_db(unsigned request)
{
	RT_SPAN("db.query");
	burn(2000 + (request % 7) * 500);
	if (request % 13 == 0) {
		RT_SPAN("db.retry");
		sleep_us(200);
		rt_log("db", "request %u: retrying after a timeout", request);
	}
}

static void *worker(void *arg)
{
	char name[16];
	struct job j;

	snprintf(name, sizeof(name), "worker-%d", (int)(intptr_t)arg);
	rt_thread_register(name);
	while (pop(&j)) {
		struct rt_context prev = rt_context_adopt(j.ctx);
		char ids[128];

		{
			RT_SPAN("handle");
			query_db(j.request);
			{
				RT_SPAN("render");
				burn(1500);
			}
			rt_id_stack(ids, sizeof(ids));
			if (j.request % 50 == 0)
				rt_log("http", "request %u done [%s]", j.request, ids);
		}
		rt_task_end(j.task);
		rt_context_adopt(prev);
	}
	return NULL;
}

static void *maintenance(void *arg)
{
	(void)arg;
	rt_thread_set_name("maintenance");
	/* Inherited: this thread starts inside its creator's "maintenance" task. */
	while (running) {
		RT_SPAN("compact");
		burn(20000);
		{
			RT_SPAN("flush");
			sleep_us(3000);
		}
		rt_log("maint", "compaction pass done");
		sleep_us(20000);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5.0;
	pthread_t workers[WORKERS], maint;
	struct timespec t0, now;
	unsigned request = 0;
	struct rt_task maint_task;

	rt_thread_register("acceptor");
	printf("demo-service: pid %d, running %.1f s\n", (int)getpid(), seconds);
	fflush(stdout);

	for (intptr_t i = 0; i < WORKERS; i++)
		pthread_create(&workers[i], NULL, worker, (void *)i);

	maint_task = rt_task_begin("maintenance");
	rt_thread_create(&maint, NULL, maintenance, NULL);
	rt_context_adopt((struct rt_context){ 0, 0, 0 }); /* the acceptor itself is not in it */

	clock_gettime(CLOCK_MONOTONIC, &t0);
	{
		RT_SPAN("serve"); /* open for the whole run: a consumer attaching later sees its true begin */
		for (;;) {
			struct job j;

			clock_gettime(CLOCK_MONOTONIC, &now);
			if ((double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
				break;
			j.request = ++request;
			j.task = rt_task_begin("request");
			{
				RT_SPAN("accept");
				burn(800);
			}
			{
				RT_SPAN("parse");
				burn(400 + (request % 5) * 100);
			}
			j.ctx = rt_context_current();
			rt_context_adopt((struct rt_context){ 0, 0, 0 });
			push(j);
			sleep_us(150);
		}
	}

	pthread_mutex_lock(&queue.lock);
	queue.closed = true;
	pthread_cond_broadcast(&queue.nonempty);
	pthread_mutex_unlock(&queue.lock);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(workers[i], NULL);
	running = false;
	pthread_join(maint, NULL);
	rt_task_end(maint_task);
	printf("demo-service: %u requests served\n", request);
	return 0;
}
