/* SPDX-License-Identifier: MIT */
/* Internals shared by the live server's files (ws-server.c: threads, clients, queues; ws-http.c:
 * requests, the page and /trace.json). Not for other modules. */
#ifndef RTC_WS_INTERNAL_H
#define RTC_WS_INTERNAL_H

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>

#include "ws.h"

/* A message: shared by every client it is queued on, freed by the last reference. The server
 * thread writes websocket frame headers into pre (one connection at a time, never the payload). */
struct ws_msg {
	atomic_uint refs;
	size_t len;
	unsigned char pre[LWS_PRE];
	unsigned char data[];
};

/* What a queued message costs a client beyond its bytes (allocation, header, queue slot). */
#define WS_MSG_OVERHEAD 64

enum ws_chan { WS_CH_NONE, WS_CH_TRACE, WS_CH_STATS, WS_CH_FILE };

/*
 * A websocket client (or the trace file). Synchronisation:
 *   lock guards q*, queued, kicked, gone (publisher pushes, server pops and sets gone);
 *   ws->lock guards next_pending and the live list links;
 *   refs: one for the server while the connection lives, one for the publisher from arrival to
 *   leave; the last to drop frees (acq_rel decrement: the freeing side sees every write made
 *   under either reference).
 */
struct rtc_ws_client {
	struct rtc_ws *ws;
	atomic_uint refs;
	enum ws_chan chan;
	uint64_t id;
	char name[80];
	pthread_mutex_t lock;
	struct ws_msg **q;
	size_t qhead, qlen, qcap; /* ring, qcap a power of two */
	size_t queued;            /* bytes charged for what is in q */
	bool kicked;              /* over its limit: the server closes it */
	bool gone;                /* the connection closed */
	/* publisher thread only */
	void *user;
	struct rtc_ws_client *next_pending; /* under ws->lock */
	/* server thread only (links under ws->lock: the stats publisher walks them) */
	struct lws *wsi;
	struct rtc_ws_client *live_next, *live_prev;
	bool kill_armed;
};

/* Per-connection data (lws allocates it zeroed; a connection that upgrades gets a fresh one). */
struct ws_pss {
	enum ws_chan chan; /* websocket: chosen when the upgrade is checked */
	struct rtc_ws_client *c;
	/* HTTP response being streamed */
	unsigned char *buf;   /* LWS_PRE + WS_HTTP_CHUNK */
	const char *head;     /* first part (page, or the trace's opening), static */
	size_t head_len, head_off;
	uint64_t file_len, file_off; /* then the trace file, up to its length at request time */
	char *tail;           /* then this (heap), NULL if none */
	size_t tail_len, tail_off;
	bool responding;
};

#define WS_HTTP_CHUNK (64u * 1024)

struct rtc_ws {
	struct rtc_ws_options o;
	char token[65];
	char url[320];
	int port;
	bool v6;
	pthread_t thread;
	struct lws_context *ctx; /* written by the server thread before `started` is signalled */
	pthread_mutex_t lock;    /* pending, live, last_stats, other, start handshake */
	pthread_cond_t cond;
	bool started;
	int start_err;
	struct rtc_ws_client *pending_head, *pending_tail;
	struct rtc_ws_client *live; /* websocket clients, any channel */
	struct ws_msg *last_stats;
	char *other;
	/* Counts the publisher polls without the lock: released by the server after linking a
	 * pending client / marking one gone; acquired by rtc_ws_pump before taking the lock. */
	atomic_uint npending, ndeparted;
	/* Set by the publisher before lws_cancel_service(), cleared by the server before it scans
	 * the clients (acq_rel exchanges: a message queued before the set is seen by the scan). */
	atomic_bool wake_pending;
	atomic_bool stopping;
	atomic_uint_fast64_t n_trace, n_stats, n_total, n_slow, n_refused, n_msgs, n_bytes;
	/* /trace.json: events appended by the publisher, length released after each append and
	 * acquired by the HTTP side before it reads that far (pread, never past it). */
	int file_fd;
	uint64_t file_off;
	atomic_uint_fast64_t file_len;
	atomic_bool file_truncated;
	uint64_t next_id;
	struct rtc_ws_client *file;
	/* publisher thread only */
	struct rtc_ws_client **joined;
	size_t njoined, joined_cap;
	/* server thread only */
	unsigned nws;
	unsigned nhttp_files;
	bool shutting_down, done;
};

/* ws-server.c: messages, clients, the log (any thread unless said). */
void rtc__ws_log(struct rtc_ws *ws, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rtc__ws_msg_ref(struct ws_msg *m);
void rtc__ws_msg_unref(struct ws_msg *m); /* NULL is fine */
struct rtc_ws_client *rtc__ws_client_new(struct rtc_ws *ws, enum ws_chan chan, unsigned refs);
void rtc__ws_client_unref(struct rtc_ws_client *c);
/* Empty c's queue into *out (with c->lock held); release the result outside the lock. */
void rtc__ws_queue_take(struct rtc_ws_client *c, struct ws_msg ***out, size_t *n);
void rtc__ws_release_all(struct ws_msg **all, size_t n);
int rtc__ws_file_open(struct rtc_ws *ws);

/* ws-http.c: HTTP requests and the websocket upgrade check (server thread). */
int rtc__ws_http_request(struct rtc_ws *ws, struct lws *wsi, struct ws_pss *pss, const char *path);
int rtc__ws_http_writeable(struct rtc_ws *ws, struct lws *wsi, struct ws_pss *pss);
void rtc__ws_http_release(struct rtc_ws *ws, struct ws_pss *pss);
/* 0 to accept the upgrade (pss->chan set), nonzero to refuse it. */
int rtc__ws_upgrade_check(struct rtc_ws *ws, struct lws *wsi, struct ws_pss *pss);
bool rtc__ws_token_ok(struct rtc_ws *ws, struct lws *wsi);

/* The embedded page (generated at build time from web/index.html). */
extern const unsigned char rtc_ws_page[];
extern const size_t rtc_ws_page_len;

#endif
