/* SPDX-License-Identifier: MIT */
/* dlopen() of libringtrace-engine.so beside this library, and its start/stop entry points. */
#include "engine-loader.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringtrace/ringtrace.h>

static void (*engine_stop)(void);

static void *open_engine(void)
{
	const char *override = getenv("RINGTRACE_ENGINE");
	Dl_info info;
	void *h;

	if (override)
		return dlopen(override, RTLD_NOW | RTLD_LOCAL);
	h = dlopen("libringtrace-engine.so." RT_SOVERSION_STRING, RTLD_NOW | RTLD_LOCAL);
	if (h)
		return h;
	/* Beside this library, wherever it was installed. */
	if (dladdr((void *)open_engine, &info) && info.dli_fname) {
		char path[4096];
		const char *slash = strrchr(info.dli_fname, '/');

		if (slash && (size_t)(slash - info.dli_fname) < sizeof(path) - 64) {
			snprintf(path, sizeof(path), "%.*s/libringtrace-engine.so." RT_SOVERSION_STRING,
				 (int)(slash - info.dli_fname), info.dli_fname);
			h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		}
	}
	return h;
}

void rt__engine_load(const char *path)
{
	void *h = open_engine();
	int (*start)(const char *);

	if (!h) {
		fprintf(stderr, "ringtrace: RINGTRACE_TRACE_FILE is set but the engine cannot be loaded: %s\n", dlerror());
		return;
	}
	start = (int (*)(const char *))dlsym(h, "rt__engine_start");
	engine_stop = (void (*)(void))dlsym(h, "rt__engine_stop");
	if (!start || !engine_stop || start(path) < 0) {
		fprintf(stderr, "ringtrace: cannot start the in-process engine for %s\n", path);
		engine_stop = NULL;
	}
}

void rt__engine_unload(void)
{
	if (engine_stop) {
		engine_stop();
		engine_stop = NULL;
	}
}

bool rt__engine_running(void)
{
	return engine_stop != NULL;
}

void rt__engine_forget(void)
{
	engine_stop = NULL;
}
