/* SPDX-License-Identifier: MIT */
/* The interface between libringtrace and the in-process engine it dlopen()s for
 * RINGTRACE_TRACE_FILE (libringtrace-engine.so): one versioned table both sides include. */
#ifndef RINGTRACE_ENGINE_ABI_H
#define RINGTRACE_ENGINE_ABI_H

#include <stdint.h>

/* The engine exports one function under this name, const struct rt_engine_abi *(void): its table. */
#define RT_ENGINE_ABI_SYMBOL "rt_engine_abi"
#define RT_ENGINE_ABI_VERSION 1

/* Fields are only ever added at the end; `size` says how many the engine has. A library reads a
 * table whose version it knows and whose size covers what it uses; anything else is refused. */
struct rt_engine_abi {
	uint32_t version; /* RT_ENGINE_ABI_VERSION */
	uint32_t size;    /* sizeof(struct rt_engine_abi) as the engine was built */
	/* Start writing the trace of this process to path ("%p" becomes the pid): 0, or -1 (the
	 * engine said why on stderr). Called once, from the library's initialisation. */
	int (*start)(const char *path);
	/* Drain everything and complete the file; from the library's exit handler. */
	void (*stop)(void);
};

#endif
