/* SPDX-License-Identifier: MIT */
/* Copies out of another process's shared memory that survive the segment being truncated under
 * us (SIGBUS): the copy fails with -EFAULT instead of killing the consumer. */
#ifndef RTC_SAFE_COPY_H
#define RTC_SAFE_COPY_H

#include <stddef.h>
#include <stdint.h>

/* Install the SIGBUS handler, or put it back if the program replaced it (thread-safe; call it when
 * opening segments: the guards below only install it once). Returns 0 or -errno. */
int rtc_safe_copy_init(void);

/* memcpy(dst, src, n); -EFAULT if reading src raised SIGBUS. */
int rtc_safe_copy(void *dst, const void *src, size_t n);

/* *out = acquire load of *p (a segment's magic word); -EFAULT if reading it raised SIGBUS. */
int rtc_safe_load_acquire(const uint64_t *p, uint64_t *out);

/* Run fn(arg) with any SIGBUS from shared memory turned into -EFAULT. State fn changed before the
 * fault stays as it was: callers drop the object whose segment faulted. Nests. */
int rtc_safe_call(void (*fn)(void *arg), void *arg);

#endif
