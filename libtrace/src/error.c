/* SPDX-License-Identifier: MIT */
/* rt_strerror(): text for negative errno values and ringtrace's own codes (the text itself is shared
 * with the consumer through ringtrace/error-text.h). */
#include <ringtrace/ringtrace.h>
#include <ringtrace/error-text.h>

const char *rt_strerror(int err)
{
	return rt__error_text(err);
}
