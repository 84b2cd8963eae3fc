/* SPDX-License-Identifier: MIT */
/* Live server (libwebsockets, in a thread of its own): the page, the trace so far, the Chrome
 * trace-event stream (ws /trace) and the statistics (ws /stats) to any number of clients. */
#ifndef RTC_WS_H
#define RTC_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Endpoints (every request carries ?token=T, or it is refused with 403 / a failed upgrade):
 *   GET /             the page (self-contained: statistics table and timeline, fed by the two sockets)
 *   GET /trace.json   the trace so far, complete JSON (streamed from an unlinked temporary file)
 *   ws  /trace        Chrome trace events: each message is a JSON array; a client's messages,
 *                     concatenated, form a valid trace (snapshot of what is open first, then live)
 *   ws  /stats        the statistics JSON, as published (about once a second), with one member
 *                     added: "ws", this server's counters
 * Websocket upgrades carrying an Origin other than the server's own page (http://<Host>) are
 * refused, so no other web page can read the trace through the user's browser.
 *
 * Threads. The server runs in its own thread. Everything below except rtc_ws_create(),
 * rtc_ws_url(), rtc_ws_get_counters() and rtc_ws_publish_stats() is called from one thread, the
 * publisher (the pipeline's processing thread). Nothing a client does blocks the publisher: it
 * takes one short per-client lock per message (held by either side only to push or pop a pointer),
 * never waits for a socket. Memory is bounded: each client has a send queue of at most
 * client_queue_max bytes; a /trace client that would exceed it is disconnected (close code 1008
 * with a reason), logged and counted; a /stats client only ever holds the latest statistics.
 * Messages are shared between clients (reference counted), not copied per client.
 */

struct rtc_ws;        /* the server */
struct rtc_ws_client; /* one /trace client (or the /trace.json file) as the publisher sees it */

struct rtc_ws_options {
	const char *host;        /* listen address: NULL = "127.0.0.1"; another only when asked */
	int port;                /* 0 = any free port (see rtc_ws_url()) */
	const char *token;       /* NULL = 128 random bits from getrandom(); else >= 16 characters of
	                          * [A-Za-z0-9_-] (lets a restarted server keep its URL) */
	size_t client_queue_max; /* bytes a client may have queued; 0 = 16 MiB */
	unsigned max_clients;    /* websocket clients at once, more are refused; 0 = 64 */
	uint64_t file_max;       /* bytes of events kept for /trace.json; 0 = 4 GiB; past it the
	                          * file stops growing and says so in otherData ("truncated") */
	const char *tmpdir;      /* where that file lives (unlinked): NULL = $TMPDIR or /tmp */
	bool quiet;              /* no log lines on stderr (the URL, slow clients) */
};

/* Counters, for the statistics and the log. */
struct rtc_ws_counters {
	uint64_t trace_clients, stats_clients; /* connected now */
	uint64_t clients_total;                /* websocket clients accepted since start */
	uint64_t slow_disconnects;             /* clients disconnected for not keeping up */
	uint64_t refused;                      /* requests and upgrades refused (token, Origin, limit) */
	uint64_t messages, bytes;              /* websocket messages and bytes handed to the kernel */
	uint64_t file_bytes;                   /* bytes of events in /trace.json */
	bool file_truncated;
};

/**
 * Start the server thread and bind. Logs "ringtrace: serving on <URL>" unless quiet.
 * \return 0, -EINVAL (bad options), -EADDRINUSE / -EADDRNOTAVAIL / -EIO (could not listen),
 *         -ENOMEM, or another -errno (temporary file, thread).
 */
int rtc_ws_create(const struct rtc_ws_options *opts, struct rtc_ws **out);

/* The page's URL with its token ("http://127.0.0.1:PORT/?token=..."); lives as long as ws. */
const char *rtc_ws_url(const struct rtc_ws *ws);
int rtc_ws_port(const struct rtc_ws *ws);
const char *rtc_ws_token(const struct rtc_ws *ws);

/* Any thread. */
void rtc_ws_get_counters(struct rtc_ws *ws, struct rtc_ws_counters *out);

/**
 * Close every connection cleanly (queued messages are still sent for up to 2 s, then a close
 * frame, code 1001 "server shutting down"), stop the thread, free everything. Publisher thread.
 * Client handles die with it; no leave callback is made: free what you keep about them first.
 */
void rtc_ws_destroy(struct rtc_ws *ws);

/* ---- Publisher thread ---- */

struct rtc_ws_publisher_ops {
	/* A /trace client arrives (or the /trace.json file, at the first pump). Write its first
	 * messages with rtc_ws_client_send(): metadata and the begins of what is open now. Every
	 * rtc_ws_send() made after this call returns reaches it, none made before: between the
	 * snapshot and the live stream there is no gap and no duplicate as long as the snapshot is
	 * of the state after the last event sent. */
	void (*join)(void *ctx, struct rtc_ws_client *c);
	/* It is gone (closed, or disconnected for being slow): forget it; c is invalid after. */
	void (*leave)(void *ctx, struct rtc_ws_client *c);
};

/**
 * Admit the /trace clients that arrived since the last call (join), and report the ones that
 * left (leave). Call it between two sends, regularly (every 10-100 ms, also when idle): new
 * clients wait for it. Cheap when nothing changed (two relaxed or acquire loads).
 * \return number of clients joined.
 */
int rtc_ws_pump(struct rtc_ws *ws, const struct rtc_ws_publisher_ops *ops, void *ctx);

/**
 * Send trace events to every joined /trace client and to the /trace.json file. `events` is one
 * or more Chrome trace-event JSON objects separated by commas, without brackets (the server adds
 * them). Never blocks on a client; a client over its queue limit is disconnected.
 * \return 0, -ENOMEM (nothing sent), -EINVAL (len 0).
 */
int rtc_ws_send(struct rtc_ws *ws, const char *events, size_t len);

/* The same, to one client (between its join and its leave). */
int rtc_ws_client_send(struct rtc_ws_client *c, const char *events, size_t len);

/* The publisher's pointer for a client (NULL until set). */
void rtc_ws_client_set_user(struct rtc_ws_client *c, void *user);
void *rtc_ws_client_user(const struct rtc_ws_client *c);
/* True for the /trace.json file. */
bool rtc_ws_client_is_file(const struct rtc_ws_client *c);
/* Short description for logs: "127.0.0.1:40312 #3" or "trace.json". */
const char *rtc_ws_client_name(const struct rtc_ws_client *c);

/* Members added to /trace.json's otherData ("\"key\":value,..." without braces; copied; NULL
 * clears). */
int rtc_ws_set_other(struct rtc_ws *ws, const char *members);

/**
 * Publish statistics to every /stats client: `json` is one JSON object; the server adds a "ws"
 * member with its counters. A client still sending the previous one gets this one instead.
 * Any thread. \return 0, -EINVAL (not an object), -ENOMEM.
 */
int rtc_ws_publish_stats(struct rtc_ws *ws, const char *json, size_t len);

#endif
