/* SPDX-License-Identifier: MIT */
/* Live server, HTTP side (server thread): the token and Origin checks, the page, and /trace.json
 * streamed from the events file with its closing brackets. */
#include "ws-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char trace_head[] = "{\"traceEvents\":[\n";

bool rtc__ws_token_ok(struct rtc_ws *ws, struct lws *wsi)
{
	char buf[160];
	const char *v = lws_get_urlarg_by_name(wsi, "token=", buf, (int)sizeof(buf));
	size_t n, t = strlen(ws->token);
	unsigned diff;

	if (!v)
		return false;
	n = strlen(v);
	/* Same time whatever the first differing byte is. */
	diff = (unsigned)(n ^ t);
	for (size_t i = 0; i < t; i++)
		diff |= (unsigned char)(i < n ? v[i] : 0) ^ (unsigned char)ws->token[i];
	return diff == 0;
}

static int status(struct lws *wsi, unsigned code)
{
	if (lws_return_http_status(wsi, code, NULL))
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
		      unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)value,
					   (int)strlen(value), p, end);
}

/* The Host header, if it is a plain host[:port] (it goes into a header we send back). */
static bool safe_host(struct lws *wsi, char *host, size_t cap)
{
	int n = lws_hdr_copy(wsi, host, (int)cap, WSI_TOKEN_HOST);

	return n > 0 && strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") == (size_t)n;
}

static int respond(struct rtc_ws *ws, struct lws *wsi, struct ws_pss *pss, const char *ctype, uint64_t len,
		   bool page)
{
	unsigned char hbuf[LWS_PRE + 2048], *start = hbuf + LWS_PRE, *p = start, *end = hbuf + sizeof(hbuf) - 1;
	char csp[512], host[256];

	pss->buf = malloc(LWS_PRE + WS_HTTP_CHUNK);
	if (!pss->buf)
		return status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE);
	if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, ctype, len, &p, end) ||
	    add_header(wsi, "cache-control:", "no-store", &p, end) ||
	    add_header(wsi, "referrer-policy:", "no-referrer", &p, end) ||
	    add_header(wsi, "x-content-type-options:", "nosniff", &p, end))
		return -1;
	if (page) {
		/* Nothing from elsewhere, sockets only back to this server, never framed. */
		snprintf(csp, sizeof(csp),
			 "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
			 "connect-src 'self'%s%s; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
			 safe_host(wsi, host, sizeof(host)) ? " ws://" : "", safe_host(wsi, host, sizeof(host)) ? host : "");
		if (add_header(wsi, "content-security-policy:", csp, &p, end) ||
		    add_header(wsi, "x-frame-options:", "DENY", &p, end))
			return -1;
	} else if (add_header(wsi, "content-disposition:", "attachment; filename=\"trace.json\"", &p, end)) {
		return -1;
	}
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	pss->responding = true;
	ws->nhttp_files++;
	lws_callback_on_writable(wsi);
	return 0;
}

void rtc__ws_http_release(struct rtc_ws *ws, struct ws_pss *pss)
{
	if (pss->responding)
		ws->nhttp_files--;
	free(pss->buf);
	free(pss->tail);
	memset(pss, 0, sizeof(*pss));
}

static int trace_json(struct rtc_ws *ws, struct lws *wsi, struct ws_pss *pss)
{
	/* Acquire: pairs with file_append's release; everything up to here is written. */
	uint64_t len = atomic_load_explicit(&ws->file_len, memory_order_acquire);
	bool truncated = atomic_load_explicit(&ws->file_truncated, memory_order_relaxed);
	size_t cap;
	int n = 0;

	pthread_mutex_lock(&ws->lock);
	cap = 256 + (ws->other ? strlen(ws->other) : 0);
	pss->tail = malloc(cap);
	if (pss->tail)
		n = snprintf(pss->tail, cap,
			     "\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"source\":\"ringtrace live server\","
			     "\"truncated\":%s%s%s}}\n",
			     truncated ? "true" : "false", ws->other ? "," : "", ws->other ? ws->other : "");
	pthread_mutex_unlock(&ws->lock);
	if (!pss->tail)
		return status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE);
	pss->tail_len = (size_t)n;
	pss->head = trace_head;
	pss->head_len = sizeof(trace_head) - 1;
	pss->file_len = len;
	return respond(ws, wsi, pss, "application/json", pss->head_len + len + pss->tail_len, false);
}

int rtc__ws_http_request(struct rtc_ws *ws, struct lws *wsi, struct ws_pss *pss, const char *path)
{
	rtc__ws_http_release(ws, pss); /* a previous request on this connection */
	if (!lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
		return status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED);
	if (!rtc__ws_token_ok(ws, wsi)) {
		/* Relaxed: statistics. */
		atomic_fetch_add_explicit(&ws->n_refused, 1, memory_order_relaxed);
		return status(wsi, HTTP_STATUS_FORBIDDEN);
	}
	if (ws->nhttp_files >= ws->o.max_clients)
		return status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE);
	if (!strcmp(path, "/") || !strcmp(path, "/index.html")) {
		pss->head = (const char *)rtc_ws_page;
		pss->head_len = rtc_ws_page_len;
		return respond(ws, wsi, pss, "text/html; charset=utf-8", rtc_ws_page_len, true);
	}
	if (!strcmp(path, "/trace.json"))
		return trace_json(ws, wsi, pss);
	return status(wsi, HTTP_STATUS_NOT_FOUND);
}

int rtc__ws_http_writeable(struct rtc_ws *ws, struct lws *wsi, struct ws_pss *pss)
{
	unsigned char *out;
	size_t n = 0;
	bool final;

	if (!pss->responding)
		return 0;
	out = pss->buf + LWS_PRE;
	while (n < WS_HTTP_CHUNK) {
		size_t room = WS_HTTP_CHUNK - n, k;

		if (pss->head_off < pss->head_len) {
			k = pss->head_len - pss->head_off < room ? pss->head_len - pss->head_off : room;
			memcpy(out + n, pss->head + pss->head_off, k);
			pss->head_off += k;
		} else if (pss->file_off < pss->file_len) {
			uint64_t left = pss->file_len - pss->file_off;
			ssize_t r = pread(ws->file_fd, out + n, left < room ? (size_t)left : room, (off_t)pss->file_off);

			if (r <= 0) {
				if (r < 0 && errno == EINTR)
					continue;
				return -1; /* the length was announced: cut the connection */
			}
			k = (size_t)r;
			pss->file_off += k;
		} else if (pss->tail_off < pss->tail_len) {
			k = pss->tail_len - pss->tail_off < room ? pss->tail_len - pss->tail_off : room;
			memcpy(out + n, pss->tail + pss->tail_off, k);
			pss->tail_off += k;
		} else {
			break;
		}
		n += k;
	}
	final = pss->head_off == pss->head_len && pss->file_off == pss->file_len && pss->tail_off == pss->tail_len;
	if (lws_write(wsi, out, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
		return -1;
	if (!final) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	rtc__ws_http_release(ws, pss);
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int rtc__ws_upgrade_check(struct rtc_ws *ws, struct lws *wsi, struct ws_pss *pss)
{
	char uri[64], origin[256], host[256];
	int n = lws_hdr_copy(wsi, uri, (int)sizeof(uri), WSI_TOKEN_GET_URI);

	if (n <= 0)
		goto refuse;
	if (!strcmp(uri, "/trace"))
		pss->chan = WS_CH_TRACE;
	else if (!strcmp(uri, "/stats"))
		pss->chan = WS_CH_STATS;
	else
		goto refuse;
	if (!rtc__ws_token_ok(ws, wsi))
		goto refuse;
	/* Browsers always send Origin; other clients need not. A page from elsewhere is refused. */
	n = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
	if (n) {
		if (n >= (int)sizeof(origin) || lws_hdr_copy(wsi, origin, (int)sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
			goto refuse;
		if (lws_hdr_copy(wsi, host, (int)sizeof(host), WSI_TOKEN_HOST) <= 0)
			goto refuse;
		if (strncasecmp(origin, "http://", 7) != 0 || strcasecmp(origin + 7, host) != 0)
			goto refuse;
	}
	return 0;
refuse:
	/* Relaxed: statistics. */
	atomic_fetch_add_explicit(&ws->n_refused, 1, memory_order_relaxed);
	pss->chan = WS_CH_NONE;
	return 1;
}
