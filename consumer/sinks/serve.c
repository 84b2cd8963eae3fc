/* SPDX-License-Identifier: MIT */
/* The live server as a subscriber: begin, then the first pump (the /trace.json file joins before
 * any event), events to the trace stream, pumps and statistics on ticks, everything shut down at
 * close (connections closed cleanly, queued data sent for up to 2 s). */
#include "serve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws-trace.h"
#include "ws.h"

#define STATS_INTERVAL_NS 1000000000ull

struct serve {
	struct rtc_pipeline *pipe;
	struct rtc_ws *ws;
	struct rtc_ws_trace *wt;
	struct rtc_sink trace; /* the trace stream's own sink */
	rtc_serve_stats_cb stats;
	void *stats_ctx;
	uint64_t next_stats;
	char url[256];
};

static void snapshot(void *ctx, const struct rtc_sink *into)
{
	struct serve *s = ctx;

	rtc_pipeline_snapshot(s->pipe, into);
}

static void on_begin(void *ctx, const struct rtc_trace_info *info)
{
	struct serve *s = ctx;

	s->trace.ops->begin(s->trace.ctx, info);
	rtc_ws_trace_pump(s->wt);
}

static void on_event(void *ctx, const struct rtc_out *ev)
{
	struct serve *s = ctx;

	s->trace.ops->event(s->trace.ctx, ev);
}

static void on_tick(void *ctx, uint64_t now)
{
	struct serve *s = ctx;

	rtc_ws_trace_pump(s->wt);
	if (s->stats && now >= s->next_stats) {
		size_t len = 0;
		char *json = s->stats(s->stats_ctx, &len);

		if (json)
			rtc_ws_publish_stats(s->ws, json, len);
		free(json);
		s->next_stats = now + STATS_INTERVAL_NS;
	}
}

static void on_end(void *ctx, const struct rtc_summary *sum)
{
	struct serve *s = ctx;

	s->trace.ops->end(s->trace.ctx, sum);
	rtc_ws_trace_pump(s->wt);
}

static int on_close(void *ctx, bool ok)
{
	struct serve *s = ctx;
	int err = s->trace.ops->close(s->trace.ctx, ok);

	rtc_ws_trace_destroy(s->wt);
	rtc_ws_destroy(s->ws); /* closes every connection cleanly */
	free(s);
	return err;
}

static const struct rtc_sink_ops serve_ops = {
	.version = RTC_SINK_VERSION,
	.begin = on_begin,
	.event = on_event,
	.end = on_end,
	.close = on_close,
	.tick = on_tick,
};

/* "HOST:PORT", "HOST", ":PORT", "PORT" (IPv6 as "[::1]:PORT"). */
static int parse_listen(const char *in, char *host, size_t hlen, int *port)
{
	const char *colon;
	char *end;
	long p = 0;

	snprintf(host, hlen, "127.0.0.1");
	*port = 0;
	if (!in || !*in)
		return 0;
	if (in[0] == '[') {
		const char *close = strchr(in, ']');

		if (!close || (size_t)(close - in) >= hlen)
			return -EINVAL;
		snprintf(host, hlen, "%.*s", (int)(close - in - 1), in + 1);
		colon = close[1] == ':' ? close + 1 : NULL;
		if (close[1] && !colon)
			return -EINVAL;
	} else {
		colon = strrchr(in, ':');
		if (colon != in) {
			size_t n = colon ? (size_t)(colon - in) : strlen(in);

			/* A bare number is a port. */
			if (!colon && strspn(in, "0123456789") == n)
				colon = in - 1;
			else if (n >= hlen)
				return -EINVAL;
			else
				snprintf(host, hlen, "%.*s", (int)n, in);
		}
	}
	if (colon) {
		p = strtol(colon + 1, &end, 10);
		if (end == colon + 1 || *end || p < 0 || p > 65535)
			return -EINVAL;
	}
	*port = (int)p;
	return 0;
}

int rtc_serve_open(const struct rtc_serve_options *o, struct rtc_pipeline *p, struct rtc_sink *out)
{
	struct serve *s = calloc(1, sizeof(*s));
	struct rtc_ws_options wo = { .quiet = o->quiet };
	char host[128];
	int err;

	if (!s)
		return -ENOMEM;
	err = parse_listen(o->listen, host, sizeof(host), &wo.port);
	if (err < 0)
		goto error;
	wo.host = host;
	s->pipe = p;
	s->stats = o->stats;
	s->stats_ctx = o->stats_ctx;
	err = rtc_ws_create(&wo, &s->ws);
	if (err < 0)
		goto error;
	err = rtc_ws_trace_create(s->ws, snapshot, s, &s->wt);
	if (err < 0) {
		rtc_ws_destroy(s->ws);
		goto error;
	}
	s->trace = rtc_ws_trace_sink(s->wt);
	snprintf(s->url, sizeof(s->url), "%s", rtc_ws_url(s->ws));
	out->ops = &serve_ops;
	out->ctx = s;
	out->name = s->url;
	return 0;

error:
	free(s);
	return err;
}

const char *rtc_serve_url(const struct rtc_sink *sink)
{
	return ((const struct serve *)sink->ctx)->url;
}
