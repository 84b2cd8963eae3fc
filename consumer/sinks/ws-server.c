/* SPDX-License-Identifier: MIT */
/* Live server core: the libwebsockets thread, websocket clients and their bounded send queues, the
 * publisher's side (join/leave, sends, statistics) and the /trace.json file. */
#include "ws-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>

#define QUEUE_SLOTS_MAX 65536u

_Static_assert(offsetof(struct ws_msg, data) == offsetof(struct ws_msg, pre) + LWS_PRE,
	       "lws writes frame headers just before the payload");

void rtc__ws_log(struct rtc_ws *ws, const char *fmt, ...)
{
	va_list ap;

	if (ws->o.quiet)
		return;
	va_start(ap, fmt);
	fputs("ringtrace: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- messages ---- */

static struct ws_msg *msg_new(size_t len)
{
	struct ws_msg *m = malloc(sizeof(*m) + len);

	if (!m)
		return NULL;
	atomic_init(&m->refs, 1);
	m->len = len;
	return m;
}

void rtc__ws_msg_ref(struct ws_msg *m)
{
	/* Relaxed: the caller already holds a reference, nothing is published by the increment. */
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void rtc__ws_msg_unref(struct ws_msg *m)
{
	/* acq_rel: the last holder frees after every other holder's use (pairs with itself). */
	if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
		free(m);
}

/* ---- clients ---- */

struct rtc_ws_client *rtc__ws_client_new(struct rtc_ws *ws, enum ws_chan chan, unsigned refs)
{
	struct rtc_ws_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ws = ws;
	c->chan = chan;
	atomic_init(&c->refs, refs);
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void rtc__ws_client_unref(struct rtc_ws_client *c)
{
	/* acq_rel: see struct rtc_ws_client. */
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < c->qlen; i++)
		rtc__ws_msg_unref(c->q[(c->qhead + i) & (c->qcap - 1)]);
	free(c->q);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Empty the queue into *out (caller unrefs outside the lock). Called with c->lock held. */
void rtc__ws_queue_take(struct rtc_ws_client *c, struct ws_msg ***out, size_t *n)
{
	struct ws_msg **all = NULL;

	*n = 0;
	if (c->qlen)
		all = malloc(c->qlen * sizeof(*all));
	for (size_t i = 0; i < c->qlen; i++) {
		struct ws_msg *m = c->q[(c->qhead + i) & (c->qcap - 1)];

		if (all)
			all[(*n)++] = m;
		else
			rtc__ws_msg_unref(m); /* no memory for the list: free under the lock (rare) */
	}
	c->qhead = c->qlen = 0;
	c->queued = 0;
	*out = all;
}

void rtc__ws_release_all(struct ws_msg **all, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rtc__ws_msg_unref(all[i]);
	free(all);
}

/* Room for one more slot; called with c->lock held. */
static bool queue_room(struct rtc_ws_client *c)
{
	struct ws_msg **nq;
	size_t ncap;

	if (c->qlen < c->qcap)
		return true;
	ncap = c->qcap ? c->qcap * 2 : 16;
	if (ncap > QUEUE_SLOTS_MAX)
		return false;
	nq = malloc(ncap * sizeof(*nq));
	if (!nq)
		return false;
	for (size_t i = 0; i < c->qlen; i++)
		nq[i] = c->q[(c->qhead + i) & (c->qcap - 1)];
	free(c->q);
	c->q = nq;
	c->qcap = ncap;
	c->qhead = 0;
	return true;
}

static void wake(struct rtc_ws *ws)
{
	/* acq_rel: pairs with the server's exchange in the WAIT_CANCELLED scan (see struct rtc_ws). */
	if (!atomic_exchange_explicit(&ws->wake_pending, true, memory_order_acq_rel))
		lws_cancel_service(ws->ctx);
}

/* Queue m on a websocket client. Returns true if queued (the server needs a wake-up). */
static bool client_push(struct rtc_ws_client *c, struct ws_msg *m)
{
	struct rtc_ws *ws = c->ws;
	size_t charge = m->len + WS_MSG_OVERHEAD;
	struct ws_msg **dropped;
	size_t ndropped, had;

	pthread_mutex_lock(&c->lock);
	if (c->gone || c->kicked) {
		pthread_mutex_unlock(&c->lock);
		return false;
	}
	if (c->queued + charge <= ws->o.client_queue_max && queue_room(c)) {
		c->q[(c->qhead + c->qlen) & (c->qcap - 1)] = m;
		c->qlen++;
		c->queued += charge;
		rtc__ws_msg_ref(m);
		pthread_mutex_unlock(&c->lock);
		return true;
	}
	/* Not keeping up: drop what it has queued now (memory back at once) and have the server
	 * close it; the publisher forgets it at the next pump. */
	had = c->queued;
	c->kicked = true;
	rtc__ws_queue_take(c, &dropped, &ndropped);
	pthread_mutex_unlock(&c->lock);
	rtc__ws_release_all(dropped, ndropped);
	atomic_fetch_add_explicit(&ws->n_slow, 1, memory_order_relaxed);
	/* Release: the pump's acquire load sees kicked (also under c->lock, so this is belt only). */
	atomic_fetch_add_explicit(&ws->ndeparted, 1, memory_order_release);
	rtc__ws_log(ws, "ws: disconnecting /trace client %s: not keeping up (%zu bytes queued, limit %zu)", c->name,
	      had + charge, ws->o.client_queue_max);
	return true;
}

/* ---- the /trace.json file (publisher thread) ---- */

static void file_append(struct rtc_ws *ws, const char *events, size_t len)
{
	struct iovec iov[2] = { { (void *)",\n", 2 }, { (void *)events, len } };
	int first = ws->file_off == 0;
	size_t want = len + (first ? 0 : 2);
	ssize_t n;

	if (atomic_load_explicit(&ws->file_truncated, memory_order_relaxed))
		return;
	if (ws->file_fd < 0 || ws->file_off + want > ws->o.file_max) {
		atomic_store_explicit(&ws->file_truncated, true, memory_order_relaxed);
		rtc__ws_log(ws, "ws: /trace.json stops growing at %" PRIu64 " bytes", ws->file_off);
		return;
	}
	do
		n = pwritev(ws->file_fd, iov + first, 2 - first, (off_t)ws->file_off);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)want) {
		/* Partial or failed: what is past file_len is never served, the file stays valid. */
		atomic_store_explicit(&ws->file_truncated, true, memory_order_relaxed);
		rtc__ws_log(ws, "ws: /trace.json: %s; it stops at %" PRIu64 " bytes", n < 0 ? strerror(errno) : "short write",
		      ws->file_off);
		return;
	}
	ws->file_off += want;
	/* Release: the bytes written above are visible to the HTTP thread that acquires file_len. */
	atomic_store_explicit(&ws->file_len, ws->file_off, memory_order_release);
}

int rtc__ws_file_open(struct rtc_ws *ws)
{
	const char *dir = ws->o.tmpdir ? ws->o.tmpdir : getenv("TMPDIR");
	char path[4096];
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* No O_TMPFILE on this file system: create and unlink at once. */
		if (snprintf(path, sizeof(path), "%s/ringtrace-ws-XXXXXX", dir) >= (int)sizeof(path))
			return -ENAMETOOLONG;
		fd = mkostemp(path, O_CLOEXEC);
		if (fd >= 0)
			unlink(path);
	}
	if (fd < 0)
		return -errno;
	ws->file_fd = fd;
	return 0;
}

/* ---- sending (publisher thread) ---- */

static struct ws_msg *trace_msg(const char *events, size_t len)
{
	struct ws_msg *m = msg_new(len + 2);

	if (!m)
		return NULL;
	m->data[0] = '[';
	memcpy(m->data + 1, events, len);
	m->data[len + 1] = ']';
	return m;
}

int rtc_ws_send(struct rtc_ws *ws, const char *events, size_t len)
{
	struct ws_msg *m;
	bool queued = false;

	if (!len)
		return -EINVAL;
	m = trace_msg(events, len);
	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < ws->njoined; i++) {
		struct rtc_ws_client *c = ws->joined[i];

		if (c->chan == WS_CH_FILE)
			file_append(ws, events, len);
		else
			queued |= client_push(c, m);
	}
	rtc__ws_msg_unref(m);
	if (queued)
		wake(ws);
	return 0;
}

int rtc_ws_client_send(struct rtc_ws_client *c, const char *events, size_t len)
{
	struct ws_msg *m;
	bool queued;

	if (!len)
		return -EINVAL;
	if (c->chan == WS_CH_FILE) {
		file_append(c->ws, events, len);
		return 0;
	}
	m = trace_msg(events, len);
	if (!m)
		return -ENOMEM;
	queued = client_push(c, m);
	rtc__ws_msg_unref(m);
	if (queued)
		wake(c->ws);
	return 0;
}

void rtc_ws_client_set_user(struct rtc_ws_client *c, void *user)
{
	c->user = user;
}

void *rtc_ws_client_user(const struct rtc_ws_client *c)
{
	return c->user;
}

bool rtc_ws_client_is_file(const struct rtc_ws_client *c)
{
	return c->chan == WS_CH_FILE;
}

const char *rtc_ws_client_name(const struct rtc_ws_client *c)
{
	return c->name;
}

static bool client_departed(struct rtc_ws_client *c)
{
	bool d;

	pthread_mutex_lock(&c->lock);
	d = c->gone || c->kicked;
	pthread_mutex_unlock(&c->lock);
	return d;
}

int rtc_ws_pump(struct rtc_ws *ws, const struct rtc_ws_publisher_ops *ops, void *ctx)
{
	struct rtc_ws_client *list = NULL;
	int joined = 0;

	/* Acquire (the exchange): pairs with the server's release increment after it marks a client
	 * gone, and with client_push's after a kick; none is lost between the read and the reset. */
	if (atomic_load_explicit(&ws->ndeparted, memory_order_relaxed) &&
	    atomic_exchange_explicit(&ws->ndeparted, 0, memory_order_acq_rel)) {
		for (size_t i = 0; i < ws->njoined;) {
			struct rtc_ws_client *c = ws->joined[i];

			if (c->chan == WS_CH_FILE || !client_departed(c)) {
				i++;
				continue;
			}
			ws->joined[i] = ws->joined[--ws->njoined];
			if (ops && ops->leave)
				ops->leave(ctx, c);
			rtc__ws_client_unref(c);
		}
	}
	/* Acquire: pairs with the server's release increment after it links a pending client (the
	 * list itself is read under ws->lock). */
	if (!atomic_load_explicit(&ws->npending, memory_order_acquire))
		return joined;
	pthread_mutex_lock(&ws->lock);
	list = ws->pending_head;
	ws->pending_head = ws->pending_tail = NULL;
	atomic_store_explicit(&ws->npending, 0, memory_order_relaxed);
	pthread_mutex_unlock(&ws->lock);
	while (list) {
		struct rtc_ws_client *c = list;

		list = c->next_pending;
		c->next_pending = NULL;
		if (client_departed(c)) {
			rtc__ws_client_unref(c);
			continue;
		}
		if (ws->njoined == ws->joined_cap) {
			size_t ncap = ws->joined_cap ? ws->joined_cap * 2 : 16;
			struct rtc_ws_client **nj = realloc(ws->joined, ncap * sizeof(*nj));

			if (!nj) {
				rtc__ws_client_unref(c); /* stays connected but gets nothing: it was never joined */
				continue;
			}
			ws->joined = nj;
			ws->joined_cap = ncap;
		}
		ws->joined[ws->njoined++] = c;
		if (ops && ops->join)
			ops->join(ctx, c);
		joined++;
	}
	return joined;
}

/* ---- statistics (any thread) ---- */

static size_t counters_json(struct rtc_ws *ws, char *buf, size_t cap)
{
	struct rtc_ws_counters k;
	int n;

	rtc_ws_get_counters(ws, &k);
	n = snprintf(buf, cap,
		     "{\"trace_clients\":%" PRIu64 ",\"stats_clients\":%" PRIu64 ",\"clients_total\":%" PRIu64
		     ",\"slow_disconnects\":%" PRIu64 ",\"refused\":%" PRIu64 ",\"messages\":%" PRIu64
		     ",\"bytes\":%" PRIu64 ",\"file_bytes\":%" PRIu64 ",\"file_truncated\":%s}",
		     k.trace_clients, k.stats_clients, k.clients_total, k.slow_disconnects, k.refused, k.messages,
		     k.bytes, k.file_bytes, k.file_truncated ? "true" : "false");
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int rtc_ws_publish_stats(struct rtc_ws *ws, const char *json, size_t len)
{
	char counters[512];
	size_t i = 0, j, clen;
	bool empty;
	struct ws_msg *m, *old;
	bool any = false;

	while (i < len && (json[i] == ' ' || json[i] == '\n' || json[i] == '\t' || json[i] == '\r'))
		i++;
	if (i == len || json[i] != '{')
		return -EINVAL;
	j = i + 1;
	while (j < len && (json[j] == ' ' || json[j] == '\n' || json[j] == '\t' || json[j] == '\r'))
		j++;
	empty = j < len && json[j] == '}';
	clen = counters_json(ws, counters, sizeof(counters));
	/* {"ws":{counters}, + the object's members */
	m = msg_new(7 + clen + 1 + (len - i - 1));
	if (!m)
		return -ENOMEM;
	memcpy(m->data, "{\"ws\":", 6);
	memcpy(m->data + 6, counters, clen);
	m->len = 6 + clen;
	if (!empty)
		m->data[m->len++] = ',';
	memcpy(m->data + m->len, json + i + 1, len - i - 1);
	m->len += len - i - 1;

	pthread_mutex_lock(&ws->lock);
	old = ws->last_stats;
	ws->last_stats = m;
	for (struct rtc_ws_client *c = ws->live; c; c = c->live_next) {
		struct ws_msg *prev = NULL;

		if (c->chan != WS_CH_STATS)
			continue;
		pthread_mutex_lock(&c->lock);
		if (!c->gone) {
			/* Latest wins: a client still sending the previous one gets this instead. */
			if (c->qlen) {
				prev = c->q[c->qhead];
				c->q[c->qhead] = m;
			} else if (queue_room(c)) {
				c->q[c->qhead] = m;
				c->qlen = 1;
			} else {
				pthread_mutex_unlock(&c->lock); /* no memory for a slot: it gets the next */
				continue;
			}
			c->queued = m->len + WS_MSG_OVERHEAD;
			rtc__ws_msg_ref(m);
			any = true;
		}
		pthread_mutex_unlock(&c->lock);
		rtc__ws_msg_unref(prev);
	}
	pthread_mutex_unlock(&ws->lock);
	rtc__ws_msg_unref(old);
	if (any)
		wake(ws);
	return 0;
}

int rtc_ws_set_other(struct rtc_ws *ws, const char *members)
{
	char *copy = members ? strdup(members) : NULL;

	if (members && !copy)
		return -ENOMEM;
	pthread_mutex_lock(&ws->lock);
	free(ws->other);
	ws->other = copy;
	pthread_mutex_unlock(&ws->lock);
	return 0;
}

void rtc_ws_get_counters(struct rtc_ws *ws, struct rtc_ws_counters *k)
{
	/* Relaxed: statistics, each counter on its own. */
	k->trace_clients = atomic_load_explicit(&ws->n_trace, memory_order_relaxed);
	k->stats_clients = atomic_load_explicit(&ws->n_stats, memory_order_relaxed);
	k->clients_total = atomic_load_explicit(&ws->n_total, memory_order_relaxed);
	k->slow_disconnects = atomic_load_explicit(&ws->n_slow, memory_order_relaxed);
	k->refused = atomic_load_explicit(&ws->n_refused, memory_order_relaxed);
	k->messages = atomic_load_explicit(&ws->n_msgs, memory_order_relaxed);
	k->bytes = atomic_load_explicit(&ws->n_bytes, memory_order_relaxed);
	k->file_bytes = atomic_load_explicit(&ws->file_len, memory_order_relaxed);
	k->file_truncated = atomic_load_explicit(&ws->file_truncated, memory_order_relaxed);
}
