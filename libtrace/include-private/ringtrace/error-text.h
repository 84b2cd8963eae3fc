/* SPDX-License-Identifier: MIT */
/* The text of ringtrace's error codes, one inline copy for the library's rt_strerror() and the
 * consumer's rtc_strerror() (the consumer never links the producer library). */
#ifndef RINGTRACE_ERROR_TEXT_H
#define RINGTRACE_ERROR_TEXT_H

#include <string.h>

#include <ringtrace/error.h>

static inline const char *rt__error_text(int err)
{
	switch (-err) {
	case 0: return "success";
	case RT_EBADMAGIC: return "not a ringtrace segment (bad magic)";
	case RT_EABI: return "unsupported ringtrace ABI version";
	case RT_ECORRUPT: return "ringtrace segment is corrupt";
	case RT_EBUSY_CONSUMER: return "another consumer is attached";
	case RT_EGONE: return "the traced process is gone";
	case RT_ELIMIT: return "ringtrace segment exceeds a documented limit (docs/format.md 2.5)";
	default: break;
	}
	if (err < 0 && -err < 1024) {
		const char *s = strerrordesc_np(-err);

		return s ? s : "unknown error";
	}
	return "unknown error";
}

#endif
