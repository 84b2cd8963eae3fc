/* SPDX-License-Identifier: MIT */
/* Raw capture sink: rawfile.c's writer subscribed to the stream; the capture is kept only when the
 * recording ends well. */
#include "raw.h"

#include <errno.h>

#include "../rawfile.h"

static int on_close(void *ctx, bool ok)
{
	return rtc_raw_writer_close(ctx, ok);
}

static struct rtc_sink_ops raw_ops = {
	.version = RTC_SINK_VERSION,
	.close = on_close,
};

int rtc_raw_sink_open(const char *path, uint64_t origin_ns, uint64_t start_ns, struct rtc_sink *out)
{
	struct rtc_raw_writer *w = rtc_raw_writer_open(path, origin_ns, start_ns);

	if (!w)
		return -errno;
	raw_ops.stream = rtc_raw_writer_ops();
	out->ops = &raw_ops;
	out->ctx = w;
	out->name = path;
	return 0;
}
