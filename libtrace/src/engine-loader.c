/* SPDX-License-Identifier: MIT */
/* dlopen() of libringtrace-engine.so beside this library, and its start/stop entry points. */
#include "engine-loader.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringtrace/engine-abi.h>
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
	const struct rt_engine_abi *abi;
	const struct rt_engine_abi *(*get)(void);

	if (!h) {
		fprintf(stderr, "ringtrace: RINGTRACE_TRACE_FILE is set but the engine cannot be loaded: %s\n", dlerror());
		return;
	}
	/* POSIX: a function pointer goes through dlsym's void *. */
	*(void **)&get = dlsym(h, RT_ENGINE_ABI_SYMBOL);
	if (!get) {
		fprintf(stderr, "ringtrace: the in-process engine has no interface: %s\n", dlerror());
		dlclose(h);
		return;
	}
	abi = get();
	if (!abi || abi->version != RT_ENGINE_ABI_VERSION || abi->size < sizeof(*abi) || !abi->start || !abi->stop) {
		fprintf(stderr, "ringtrace: the in-process engine does not match this library (interface version %u, "
				"want %u)\n", abi ? abi->version : 0, RT_ENGINE_ABI_VERSION);
		/* Nothing of it ran but the lookup: it may go (with the libraries it pulled in). */
		dlclose(h);
		return;
	}
	engine_stop = abi->stop;
	/* A failed start stays loaded: whatever it started before failing must keep its code. */
	if (abi->start(path) < 0) {
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
