/* SPDX-License-Identifier: MIT */
/* The consumer's text for error codes: the producer library's (ringtrace/error-text.h), without
 * linking or exporting the library's rt_strerror(). */
#ifndef RTC_ERROR_H
#define RTC_ERROR_H

#include <ringtrace/error-text.h>

static inline const char *rtc_strerror(int err)
{
	return rt__error_text(err);
}

#endif
