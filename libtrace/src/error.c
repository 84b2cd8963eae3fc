/* SPDX-License-Identifier: MIT */
/* rt_strerror(): text for negative errno values and ringtrace's own codes. Also built into the
 * consumer, which must not link the producer library. */
#include <string.h>

#include <ringtrace/ringtrace.h>

const char *rt_strerror(int err)
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
