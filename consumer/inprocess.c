/* SPDX-License-Identifier: MIT */
/* The engine inside a traced program (RINGTRACE_TRACE_FILE): libringtrace dlopen()s this shared
 * object and runs the same engine as `ringtrace record` in a background thread, writing Chrome
 * JSON that is completed when the program exits. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ringtrace/engine-abi.h>

#include "engine.h"

#define RT_ENGINE_API __attribute__((visibility("default")))

/* The one symbol libringtrace looks up (libtrace/src/engine-loader.c). */
RT_ENGINE_API const struct rt_engine_abi *rt_engine_abi(void);

static struct {
	pthread_t thread;
	struct rtc_engine *engine;
	atomic_int stop;
	int running;
	char path[4096];
} self;

static void *run(void *arg)
{
	sigset_t all;

	(void)arg;
	/* The program's signals are not ours to take. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	rtc_engine_run(self.engine, &self.stop);
	return NULL;
}

/* "%p" in the path becomes the pid: children that exec inherit the variable. */
static void expand(char *out, size_t len, const char *in)
{
	size_t o = 0;

	for (; *in && o + 16 < len; in++) {
		if (in[0] == '%' && in[1] == 'p') {
			o += (size_t)snprintf(out + o, len - o, "%d", (int)getpid());
			in++;
		} else {
			out[o++] = *in;
		}
	}
	out[o] = 0;
}

static int engine_start(const char *path)
{
	struct rtc_engine_options o = { 0 };

	if (self.running)
		return 0;
	expand(self.path, sizeof(self.path), path);
	o.json_path = self.path;
	o.self = getpid();
	o.poll_us = 2000;
	self.engine = rtc_engine_create(&o);
	if (!self.engine)
		return -1;
	if (rtc_engine_attach(self.engine, getpid()) < 0 ||
	    pthread_create(&self.thread, NULL, run, NULL) != 0) {
		rtc_engine_destroy(self.engine);
		self.engine = NULL;
		return -1;
	}
	self.running = 1;
	return 0;
}

/* Called by libringtrace's exit handler: final drain, complete the file. */
static void engine_stop(void)
{
	if (!self.running)
		return;
	atomic_store(&self.stop, 1);
	pthread_join(self.thread, NULL);
	rtc_engine_destroy(self.engine);
	self.engine = NULL;
	self.running = 0;
}

const struct rt_engine_abi *rt_engine_abi(void)
{
	static const struct rt_engine_abi abi = {
		.version = RT_ENGINE_ABI_VERSION,
		.size = sizeof(abi),
		.start = engine_start,
		.stop = engine_stop,
	};

	return &abi;
}
