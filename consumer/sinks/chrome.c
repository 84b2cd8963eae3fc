/* SPDX-License-Identifier: MIT */
/* Chrome JSON file sink: events formatted into large buffers that a writer thread hands to write(2),
 * so formatting goes on while the kernel copies (the largest single cost at high rates). */
#include "chrome.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../chrome-format.h"

#define OUT_BUFS 4
#define OUT_CAP (1u << 22) /* flush when less than one event's worth is left */
#define WRITER_NICE 10

struct writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *bufs[OUT_BUFS];
	size_t lens[OUT_BUFS];
	int full[OUT_BUFS]; /* FIFO of buffers to write, by index */
	size_t nfull, head;
	int free_[OUT_BUFS];
	size_t nfree;
	bool stop;
	int fd;
	int err;
};

struct chrome {
	int fd;
	struct writer *w; /* NULL: written synchronously */
	int cur;          /* index of buf in w->bufs */
	char *path, *partial;
	char *buf;
	size_t len;
	uint64_t events;
	struct rtc_chrome_fmt fmt;
	struct rtc_trace_info info;
	char host[256], tool[64];
	int err;
};

static int write_all(int fd, const char *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)n;
	}
	return 0;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;

	/* Writing may lag (the formatter waits when all buffers are full); whoever drains rings
	 * must not wait for it. Linux keeps a nice value per thread; failure changes nothing. */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), WRITER_NICE);
	pthread_mutex_lock(&w->lock);
	for (;;) {
		int idx, err;

		while (!w->nfull && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->nfull)
			break; /* stopped and drained */
		idx = w->full[w->head];
		w->head = (w->head + 1) % OUT_BUFS;
		w->nfull--;
		pthread_mutex_unlock(&w->lock);
		err = write_all(w->fd, w->bufs[idx], w->lens[idx]);
		pthread_mutex_lock(&w->lock);
		if (err && !w->err)
			w->err = err;
		w->free_[w->nfree++] = idx;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static struct writer *writer_start(int fd, char *first)
{
	struct writer *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->fd = fd;
	w->bufs[0] = first;
	for (int i = 1; i < OUT_BUFS; i++) {
		w->bufs[i] = malloc(OUT_CAP);
		if (!w->bufs[i])
			goto error;
		w->free_[w->nfree++] = i;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0)
		goto error;
	return w;
error:
	for (int i = 1; i < OUT_BUFS; i++)
		free(w->bufs[i]);
	free(w);
	return NULL;
}

/* Hand the current buffer to the writer and continue in a free one (waiting for one if the disk
 * is slower than we format). Without a writer thread, write it here. */
static void flush(struct chrome *c)
{
	struct writer *w = c->w;

	if (!w) {
		int err = write_all(c->fd, c->buf, c->len);

		if (err && !c->err)
			c->err = err;
		c->len = 0;
		return;
	}
	pthread_mutex_lock(&w->lock);
	w->lens[c->cur] = c->len;
	w->full[(w->head + w->nfull) % OUT_BUFS] = c->cur;
	w->nfull++;
	pthread_cond_broadcast(&w->cond);
	while (!w->nfree)
		pthread_cond_wait(&w->cond, &w->lock);
	c->cur = w->free_[--w->nfree];
	c->buf = w->bufs[c->cur];
	pthread_mutex_unlock(&w->lock);
	c->len = 0;
}

/* Write what is left, stop the writer, collect its error. */
static void writer_finish(struct chrome *c)
{
	struct writer *w = c->w;

	if (!w)
		return;
	flush(c);
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	if (w->err && !c->err)
		c->err = w->err;
	for (int i = 0; i < OUT_BUFS; i++)
		free(w->bufs[i]);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
	c->w = NULL;
	c->buf = NULL;
}

static void room(struct chrome *c)
{
	if (OUT_CAP - c->len < RTC_CHROME_EVENT_MAX)
		flush(c);
}

static void append(struct chrome *c, const char *s, size_t n)
{
	room(c);
	memcpy(c->buf + c->len, s, n);
	c->len += n;
}

#define APPEND(c, lit) append((c), (lit), sizeof(lit) - 1)

static void on_begin(void *ctx, const struct rtc_trace_info *info)
{
	struct chrome *c = ctx;

	c->info = *info;
	snprintf(c->host, sizeof(c->host), "%s", info->host ? info->host : "");
	snprintf(c->tool, sizeof(c->tool), "%s", info->tool ? info->tool : "ringtrace");
	rtc_chrome_fmt_init(&c->fmt, info->origin_ns);
	APPEND(c, "{\"traceEvents\":[\n");
}

static void on_event(void *ctx, const struct rtc_out *ev)
{
	struct chrome *c = ctx;
	size_t at, n;

	room(c);
	at = c->len + (c->events ? 2 : 0);
	n = rtc_chrome_fmt_event(&c->fmt, ev, c->buf + at);
	if (!n)
		return;
	if (c->events)
		memcpy(c->buf + c->len, ",\n", 2);
	c->len = at + n;
	c->events++;
}

/* ---- otherData ---- */

static void other_sep(struct chrome *c, const char *key)
{
	char tmp[600];
	size_t n = 0;

	tmp[n++] = ',';
	n += rtc_json_string(tmp + n, key, strlen(key));
	tmp[n++] = ':';
	append(c, tmp, n);
}

static void other_u64(struct chrome *c, const char *key, uint64_t v)
{
	char num[24];

	other_sep(c, key);
	append(c, num, (size_t)snprintf(num, sizeof(num), "%" PRIu64, v));
}

static void other_str(struct chrome *c, const char *key, const char *v)
{
	char tmp[600];

	other_sep(c, key);
	append(c, tmp, rtc_json_string(tmp, v ? v : "", v ? strlen(v) : 0));
}

static void on_end(void *ctx, const struct rtc_summary *s)
{
	struct chrome *c = ctx;
	char key[96];

	APPEND(c, "\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"format\":\"ringtrace\"");
	other_str(c, "host", c->host);
	other_str(c, "tool", c->tool);
	other_str(c, "clock", s->clock);
	other_u64(c, "origin_monotonic_ns", c->info.origin_ns);
	other_u64(c, "origin_realtime_ns", c->info.origin_real_ns);
	other_u64(c, "attach_us", c->info.attach_ns > c->info.origin_ns ? (c->info.attach_ns - c->info.origin_ns) / 1000 : 0);
	other_u64(c, "duration_us", s->end_ns > s->start_ns ? (s->end_ns - s->start_ns) / 1000 : 0);
	other_u64(c, "coarse_resolution_ns", s->coarse_resolution_ns);
	other_u64(c, "processes", s->processes);
	other_u64(c, "threads", s->threads);
	other_u64(c, "records", s->records);
	other_u64(c, "lost_records", s->lost);
	other_u64(c, "spans", s->spans);
	other_u64(c, "spans_incomplete", s->spans_incomplete);
	other_u64(c, "spans_repaired", s->spans_repaired);
	other_u64(c, "spans_before_attach", s->spans_before_attach);
	other_u64(c, "spans_begin_unknown", s->spans_begin_unknown);
	other_u64(c, "unmatched_ends", s->unmatched_ends);
	other_u64(c, "tasks", s->tasks);
	other_u64(c, "tasks_incomplete", s->tasks_incomplete);
	other_u64(c, "tasks_begin_unknown", s->tasks_begin_unknown);
	other_u64(c, "logs", s->logs);
	other_u64(c, "flows", s->flows);
	other_u64(c, "misuse", s->misuse);
	other_u64(c, "late_records", s->late_records);
	other_u64(c, "recording_gaps", s->gaps);
	if (c->info.live)
		other_u64(c, "backlog_peak_bytes", s->backlog_peak);
	for (size_t i = 0; i < s->nthread_loss; i++) {
		const struct rtc_thread_loss *l = &s->thread_loss[i];
		static const char *const why[] = { "full", "signal", "overwritten", "full_at_exit", "not_recorded" };
		uint64_t v[] = { l->full, l->signal, l->overwritten, l->full_at_exit, l->not_recorded };

		snprintf(key, sizeof(key), "lost.%u.%u", l->pid, l->tid);
		other_u64(c, key, v[0] + v[1] + v[2] + v[3] + v[4]);
		for (size_t k = 0; k < 5; k++) {
			if (!v[k])
				continue;
			snprintf(key, sizeof(key), "lost.%u.%u.%s", l->pid, l->tid, why[k]);
			other_u64(c, key, v[k]);
		}
	}
	for (size_t i = 0; i < s->nprocess_loss; i++) {
		const struct rtc_process_loss *l = &s->process_loss[i];
		static const char *const what[] = { "threads_untraced", "names_overflowed", "tasks_untracked",
						    "overwritten", "stack_overflows" };
		uint64_t v[] = { l->threads_untraced, l->names_overflowed, l->tasks_untracked, l->overwritten,
				 l->stack_overflows };

		for (size_t k = 0; k < 5; k++) {
			if (!v[k])
				continue;
			snprintf(key, sizeof(key), "%s.%u", what[k], l->pid);
			other_u64(c, key, v[k]);
		}
	}
	APPEND(c, "}}\n");
}

static int on_close(void *ctx, bool ok)
{
	struct chrome *c = ctx;
	int err;

	if (c->w)
		writer_finish(c);
	else if (c->len)
		flush(c);
	err = c->err;
	/* Complete, then renamed into place: a reader never sees a partial file at the final path.
	 * Not fsync()ed: that guards against power loss, not against the interruptions (signals,
	 * dying producers) this protects from, and costs more than the writing. */
	if (close(c->fd) != 0 && !err)
		err = -errno;
	if (!err && ok && rename(c->partial, c->path) != 0)
		err = -errno;
	if (err || !ok)
		unlink(c->partial);
	free(c->partial);
	free(c->path);
	free(c->buf);
	free(c);
	return err;
}

static const struct rtc_sink_ops chrome_ops = {
	.version = RTC_SINK_VERSION,
	.begin = on_begin,
	.event = on_event,
	.end = on_end,
	.close = on_close,
};

int rtc_chrome_sink_open(const char *path, struct rtc_sink *out)
{
	struct chrome *c = calloc(1, sizeof(*c));
	size_t n = strlen(path);
	int err = -ENOMEM;

	if (!c)
		return -ENOMEM;
	c->path = strdup(path);
	c->partial = malloc(n + 9);
	c->buf = malloc(OUT_CAP);
	if (!c->path || !c->partial || !c->buf)
		goto error;
	memcpy(c->partial, path, n);
	memcpy(c->partial + n, ".partial", 9);
	c->fd = open(c->partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (c->fd < 0) {
		err = -errno;
		goto error;
	}
	c->w = writer_start(c->fd, c->buf);
	out->ops = &chrome_ops;
	out->ctx = c;
	out->name = c->path;
	return 0;

error:
	free(c->path);
	free(c->partial);
	free(c->buf);
	free(c);
	return err;
}
