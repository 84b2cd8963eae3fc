/* SPDX-License-Identifier: MIT */
/* `--listen`: the live server (ws.h) and its trace stream (ws-trace.h) as one pipeline subscriber,
 * pumped on the processing thread's ticks, with the statistics published once a second. */
#ifndef RTC_SINKS_SERVE_H
#define RTC_SINKS_SERVE_H

#include <stddef.h>

#include "../pipeline.h"

/* The statistics JSON to publish now (malloc'ed, *len set), or NULL. Called on the processing
 * thread once a second. */
typedef char *(*rtc_serve_stats_cb)(void *ctx, size_t *len);

struct rtc_serve_options {
	const char *listen;      /* "HOST:PORT", "HOST", ":PORT" or "PORT"; NULL: 127.0.0.1, any port */
	rtc_serve_stats_cb stats; /* may be NULL */
	void *stats_ctx;
	bool quiet;
};

/* Start the server now (it listens at once; the URL is printed unless quiet) and make the sink
 * that feeds it from pipeline p. 0, -EINVAL (bad address), -EADDRINUSE, -ENOMEM... */
int rtc_serve_open(const struct rtc_serve_options *o, struct rtc_pipeline *p, struct rtc_sink *out);

/* The URL clients use (with its token), valid while the sink lives. */
const char *rtc_serve_url(const struct rtc_sink *s);

#endif
