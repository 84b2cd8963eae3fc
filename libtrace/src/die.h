/* SPDX-License-Identifier: MIT */
/* Fatal-invariant reporting and the three levels of checks (rt_assert, rt_assert_debug, validation). */
#ifndef RT_DIE_H
#define RT_DIE_H

#include <stdbool.h>

/* Abort with a message: only for broken internal invariants, never for bad input. */
__attribute__((noreturn, format(printf, 3, 4))) void rt__die(const char *file, int line, const char *fmt, ...);

#ifdef NDEBUG
#define rt_assert(expr) ((void)sizeof(expr))
#else
#define rt_assert(expr) ((expr) ? (void)0 : rt__die(__FILE__, __LINE__, "assertion failed: %s", #expr))
#endif

#ifdef RT_DEBUG_CHECKS
#define rt_assert_debug(expr) rt_assert(expr)
#else
#define rt_assert_debug(expr) ((void)sizeof(expr))
#endif

#define rt_likely(x) __builtin_expect(!!(x), 1)
#define rt_unlikely(x) __builtin_expect(!!(x), 0)

#endif
