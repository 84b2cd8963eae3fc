/* SPDX-License-Identifier: MIT */
/* rt__die(): report a broken internal invariant on stderr and abort. */
#include "die.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void rt__die(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ringtrace: fatal: %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
