/* SPDX-License-Identifier: MIT */
/* The in-process engine (RINGTRACE_TRACE_FILE): libringtrace-engine.so loaded on demand, so that
 * programs that never set the variable never load the consumer's dependencies. */
#ifndef RT_ENGINE_LOADER_H
#define RT_ENGINE_LOADER_H

#include <stdbool.h>

/* Load the engine and start it writing `path` ("%p" becomes the pid). Messages go to stderr. */
void rt__engine_load(const char *path);

/* Let the engine drain everything and complete its file (exit handler). */
void rt__engine_unload(void);

/* Is an engine running in this process? */
bool rt__engine_running(void);

/* In a fork()ed child: the parent's engine thread did not survive; forget it. */
void rt__engine_forget(void);

#endif
