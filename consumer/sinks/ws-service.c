/* SPDX-License-Identifier: MIT */
/* Live server thread: the libwebsockets context and event loop, websocket connections (arrival,
 * writing their queues, closing), creation with its token and URL, and clean shutdown. */
#include "ws-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define QUEUE_MAX_DEFAULT (16u << 20)
#define CLIENTS_DEFAULT 64u
#define FILE_MAX_DEFAULT (4ull << 30)
#define CLOSE_GRACE_S 2

static const char reason_slow[] = "client too slow: send queue limit exceeded";
static const char reason_bye[] = "server shutting down";

static void live_link(struct rtc_ws *ws, struct rtc_ws_client *c)
{
	c->live_prev = NULL;
	c->live_next = ws->live;
	if (ws->live)
		ws->live->live_prev = c;
	ws->live = c;
}

static void live_unlink(struct rtc_ws *ws, struct rtc_ws_client *c)
{
	if (c->live_prev)
		c->live_prev->live_next = c->live_next;
	else
		ws->live = c->live_next;
	if (c->live_next)
		c->live_next->live_prev = c->live_prev;
	c->live_next = c->live_prev = NULL;
}

static void peer_name(struct lws *wsi, char *out, size_t cap, uint64_t id)
{
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&sa, &sl) == 0) {
		if (sa.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;

			inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
			port = ntohs(s4->sin_port);
		} else if (sa.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa;

			inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
			port = ntohs(s6->sin6_port);
		}
	}
	snprintf(out, cap, "%s:%u #%" PRIu64, ip, port, id);
}

static int established(struct rtc_ws *ws, struct lws *wsi, struct ws_pss *pss)
{
	struct rtc_ws_client *c;

	/* Trace clients also have a publisher reference from now until their leave. */
	c = rtc__ws_client_new(ws, pss->chan, pss->chan == WS_CH_TRACE ? 2 : 1);
	if (!c)
		return -1;
	c->wsi = wsi;
	c->id = ++ws->next_id;
	peer_name(wsi, c->name, sizeof(c->name), c->id);
	pss->c = c;
	ws->nws++;
	/* Relaxed: statistics. */
	atomic_fetch_add_explicit(pss->chan == WS_CH_TRACE ? &ws->n_trace : &ws->n_stats, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&ws->n_total, 1, memory_order_relaxed);
	pthread_mutex_lock(&ws->lock);
	live_link(ws, c);
	if (c->chan == WS_CH_TRACE) {
		if (ws->pending_tail)
			ws->pending_tail->next_pending = c;
		else
			ws->pending_head = c;
		ws->pending_tail = c;
		/* Release: pairs with rtc_ws_pump's acquire load; it then takes ws->lock anyway. */
		atomic_fetch_add_explicit(&ws->npending, 1, memory_order_release);
	} else if (ws->last_stats) {
		/* A new /stats client gets the latest statistics at once. */
		pthread_mutex_lock(&c->lock);
		c->q = malloc(16 * sizeof(*c->q));
		if (c->q) {
			c->qcap = 16;
			c->q[0] = ws->last_stats;
			c->qlen = 1;
			c->queued = ws->last_stats->len + WS_MSG_OVERHEAD;
			rtc__ws_msg_ref(ws->last_stats);
		}
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&ws->lock);
	lws_callback_on_writable(wsi);
	return 0;
}

static int ws_writeable(struct rtc_ws *ws, struct lws *wsi, struct ws_pss *pss)
{
	struct rtc_ws_client *c = pss->c;
	struct ws_msg *m = NULL;
	bool kicked, more;

	if (!c)
		return -1;
	pthread_mutex_lock(&c->lock);
	kicked = c->kicked;
	if (!kicked && c->qlen) {
		size_t charge;

		m = c->q[c->qhead];
		c->qhead = (c->qhead + 1) & (c->qcap - 1);
		c->qlen--;
		charge = m->len + WS_MSG_OVERHEAD;
		c->queued = c->queued > charge ? c->queued - charge : 0;
	}
	more = c->qlen > 0;
	pthread_mutex_unlock(&c->lock);
	if (kicked) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)reason_slow,
				 sizeof(reason_slow) - 1);
		return -1;
	}
	if (m) {
		/* One whole message per write: what the kernel does not take now, lws keeps (at most
		 * one message per client) and writes before asking us for more. */
		int n = lws_write(wsi, m->data, m->len, LWS_WRITE_TEXT);
		size_t len = m->len;

		rtc__ws_msg_unref(m);
		if (n < 0)
			return -1;
		/* Relaxed: statistics. */
		atomic_fetch_add_explicit(&ws->n_msgs, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&ws->n_bytes, len, memory_order_relaxed);
		if (more || ws->shutting_down)
			lws_callback_on_writable(wsi);
		return 0;
	}
	if (ws->shutting_down) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_GOINGAWAY, (unsigned char *)reason_bye, sizeof(reason_bye) - 1);
		return -1;
	}
	return 0;
}

static void ws_closed(struct rtc_ws *ws, struct ws_pss *pss)
{
	struct rtc_ws_client *c = pss->c;
	struct ws_msg **dropped;
	size_t ndropped;

	if (!c)
		return;
	pss->c = NULL;
	pthread_mutex_lock(&ws->lock);
	live_unlink(ws, c);
	pthread_mutex_unlock(&ws->lock);
	pthread_mutex_lock(&c->lock);
	c->gone = true;
	rtc__ws_queue_take(c, &dropped, &ndropped);
	pthread_mutex_unlock(&c->lock);
	rtc__ws_release_all(dropped, ndropped);
	c->wsi = NULL;
	atomic_fetch_sub_explicit(c->chan == WS_CH_TRACE ? &ws->n_trace : &ws->n_stats, 1, memory_order_relaxed);
	if (c->chan == WS_CH_TRACE)
		/* Release: pairs with rtc_ws_pump's acquire load (gone is also under c->lock). */
		atomic_fetch_add_explicit(&ws->ndeparted, 1, memory_order_release);
	ws->nws--;
	rtc__ws_client_unref(c);
	if (ws->shutting_down && !ws->nws)
		ws->done = true;
}

/* Woken by the publisher (or destroy): ask to write for every client with something queued. */
static void scan(struct rtc_ws *ws)
{
	/* acq_rel: pairs with wake()'s exchange; messages queued before it are seen below. */
	atomic_exchange_explicit(&ws->wake_pending, false, memory_order_acq_rel);
	/* Acquire: pairs with rtc_ws_destroy's release store. */
	if (atomic_load_explicit(&ws->stopping, memory_order_acquire) && !ws->shutting_down) {
		ws->shutting_down = true;
		for (struct rtc_ws_client *c = ws->live; c; c = c->live_next) {
			/* Queued messages go out first; a client that takes none is closed anyway. */
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, CLOSE_GRACE_S);
			lws_callback_on_writable(c->wsi);
		}
		if (!ws->nws)
			ws->done = true;
		return;
	}
	for (struct rtc_ws_client *c = ws->live; c; c = c->live_next) {
		bool want, kicked;

		pthread_mutex_lock(&c->lock);
		want = c->qlen > 0 || c->kicked;
		kicked = c->kicked;
		pthread_mutex_unlock(&c->lock);
		if (kicked && !c->kill_armed) {
			/* Its socket may never become writable again: close it without waiting for that. */
			c->kill_armed = true;
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, CLOSE_GRACE_S);
		}
		if (want)
			lws_callback_on_writable(c->wsi);
	}
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct rtc_ws *ws = lws_context_user(lws_get_context(wsi));
	struct ws_pss *pss = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return rtc__ws_http_request(ws, wsi, pss, in);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return rtc__ws_http_writeable(ws, wsi, pss);
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss)
			rtc__ws_http_release(ws, pss);
		break;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (ws->shutting_down || ws->nws >= ws->o.max_clients) {
			atomic_fetch_add_explicit(&ws->n_refused, 1, memory_order_relaxed);
			return 1;
		}
		return rtc__ws_upgrade_check(ws, wsi, pss);
	case LWS_CALLBACK_ESTABLISHED:
		return established(ws, wsi, pss);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return ws_writeable(ws, wsi, pss);
	case LWS_CALLBACK_CLOSED:
		ws_closed(ws, pss);
		break;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		scan(ws);
		break;
	default:
		break;
	}
	(void)in;
	(void)len;
	return 0;
}

static const struct lws_protocols protocols[] = {
	/* The default protocol: websocket upgrades without a subprotocol (browsers, ws) land here,
	 * and so do the plain HTTP requests. */
	{ "ringtrace", callback, sizeof(struct ws_pss), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void lws_log_line(int level, const char *line)
{
	(void)level;
	fprintf(stderr, "ringtrace: ws (libwebsockets): %s", line);
}

static void *service_main(void *arg)
{
	struct rtc_ws *ws = arg;
	struct lws_context_creation_info info;
	struct lws_context *ctx;
	int port = 0;

	memset(&info, 0, sizeof(info));
	info.port = ws->o.port;
	info.iface = ws->o.host;
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	info.user = ws;
	info.server_string = "ringtrace";
	info.options = ws->v6 ? 0 : LWS_SERVER_OPTION_DISABLE_IPV6;
	ctx = lws_create_context(&info);
	if (ctx)
		port = lws_get_vhost_listen_port(lws_get_vhost_by_name(ctx, "default"));
	pthread_mutex_lock(&ws->lock);
	ws->ctx = ctx;
	ws->port = port;
	ws->start_err = ctx ? 0 : (ws->o.port ? -EADDRINUSE : -EIO);
	ws->started = true;
	pthread_cond_broadcast(&ws->cond);
	pthread_mutex_unlock(&ws->lock);
	if (!ctx)
		return NULL;
	while (!ws->done)
		lws_service(ctx, 0);
	lws_context_destroy(ctx);
	return NULL;
}

static int token_init(struct rtc_ws *ws)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[16];
	const char *t = ws->o.token;

	if (t) {
		size_t n = strlen(t);

		if (n < 16 || n >= sizeof(ws->token) || strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
								  "0123456789_-") != n)
			return -EINVAL;
		memcpy(ws->token, t, n + 1);
		return 0;
	}
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return errno ? -errno : -EIO;
	for (size_t i = 0; i < sizeof(raw); i++) {
		ws->token[2 * i] = hex[raw[i] >> 4];
		ws->token[2 * i + 1] = hex[raw[i] & 15];
	}
	ws->token[2 * sizeof(raw)] = 0;
	return 0;
}

static void free_ws(struct rtc_ws *ws)
{
	while (ws->pending_head) {
		struct rtc_ws_client *c = ws->pending_head;

		ws->pending_head = c->next_pending;
		rtc__ws_client_unref(c);
	}
	for (size_t i = 0; i < ws->njoined; i++)
		rtc__ws_client_unref(ws->joined[i]);
	free(ws->joined);
	rtc__ws_msg_unref(ws->last_stats);
	free(ws->other);
	if (ws->file_fd >= 0)
		close(ws->file_fd);
	pthread_mutex_destroy(&ws->lock);
	pthread_cond_destroy(&ws->cond);
	free((char *)ws->o.host);
	free(ws);
}

int rtc_ws_create(const struct rtc_ws_options *opts, struct rtc_ws **out)
{
	static const struct rtc_ws_options none;
	struct rtc_ws *ws = calloc(1, sizeof(*ws));
	unsigned char addr[sizeof(struct in6_addr)];
	int err = 0;

	*out = NULL;
	if (!ws)
		return -ENOMEM;
	ws->o = opts ? *opts : none;
	ws->file_fd = -1;
	pthread_mutex_init(&ws->lock, NULL);
	pthread_cond_init(&ws->cond, NULL);
	ws->o.host = strdup(ws->o.host ? ws->o.host : "127.0.0.1");
	if (!ws->o.host) {
		free_ws(ws);
		return -ENOMEM;
	}
	/* An address, not an interface name: what is bound is what the user asked for. */
	if (inet_pton(AF_INET, ws->o.host, addr) == 1)
		ws->v6 = false;
	else if (inet_pton(AF_INET6, ws->o.host, addr) == 1)
		ws->v6 = true;
	else
		err = -EINVAL;
	if (!err && (ws->o.port < 0 || ws->o.port > 65535))
		err = -EINVAL;
	if (!err)
		err = token_init(ws);
	if (!err)
		err = rtc__ws_file_open(ws); /* o.tmpdir is the caller's: used only here */
	ws->o.tmpdir = NULL;
	if (err)
		goto error;
	if (!ws->o.client_queue_max)
		ws->o.client_queue_max = QUEUE_MAX_DEFAULT;
	if (!ws->o.max_clients)
		ws->o.max_clients = CLIENTS_DEFAULT;
	if (!ws->o.file_max)
		ws->o.file_max = FILE_MAX_DEFAULT;
	/* The file joins like a client, at the first pump. */
	ws->file = rtc__ws_client_new(ws, WS_CH_FILE, 1);
	if (!ws->file) {
		err = -ENOMEM;
		goto error;
	}
	snprintf(ws->file->name, sizeof(ws->file->name), "trace.json");
	ws->pending_head = ws->pending_tail = ws->file;
	atomic_store_explicit(&ws->npending, 1, memory_order_relaxed);

	lws_set_log_level(LLL_ERR, lws_log_line);
	err = -pthread_create(&ws->thread, NULL, service_main, ws);
	if (err)
		goto error;
	pthread_mutex_lock(&ws->lock);
	while (!ws->started)
		pthread_cond_wait(&ws->cond, &ws->lock);
	err = ws->start_err;
	pthread_mutex_unlock(&ws->lock);
	if (err) {
		pthread_join(ws->thread, NULL);
		goto error;
	}
	snprintf(ws->url, sizeof(ws->url), ws->v6 ? "http://[%s]:%d/?token=%s" : "http://%s:%d/?token=%s", ws->o.host,
		 ws->port, ws->token);
	rtc__ws_log(ws, "serving on %s", ws->url);
	*out = ws;
	return 0;
error:
	free_ws(ws);
	return err;
}

const char *rtc_ws_url(const struct rtc_ws *ws)
{
	return ws->url;
}

int rtc_ws_port(const struct rtc_ws *ws)
{
	return ws->port;
}

const char *rtc_ws_token(const struct rtc_ws *ws)
{
	return ws->token;
}

void rtc_ws_destroy(struct rtc_ws *ws)
{
	if (!ws)
		return;
	/* Release: pairs with scan()'s acquire load. */
	atomic_store_explicit(&ws->stopping, true, memory_order_release);
	lws_cancel_service(ws->ctx);
	pthread_join(ws->thread, NULL);
	free_ws(ws);
}
