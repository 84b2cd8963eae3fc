/* SPDX-License-Identifier: MIT */
/* Output files: buffering, the optional writer thread, gzip compression and the preopened-file
 * table, over the targets of outfile-target.c (rules in outfile.h). */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include <zlib.h>

#include "outfile-target.h"

/* Level 1: on trace JSON about 330 MB/s on the development VM for an 8x smaller file; level 6
 * compresses 1.5x better at a third of the speed, slower than the JSON is formatted. */
#define GZIP_LEVEL 1
#define ZBUF_SIZE (1u << 20)
#define WRITER_NICE 10
#define PREOPEN_MAX 8
/* Direct I/O writes whole blocks from block-aligned memory. */
#define DIRECT_ALIGN 4096u

/* Synchronisation: `lock` guards the queue (full, nfull, head, free_, nfree), stop, discard, err
 * and stats; the buffer bufs[i] belongs to whoever holds index i (the caller's cur, the queue, or
 * the writer between taking and returning it). Without a thread everything is the caller's. */
struct rtc_outfile {
	struct rtc_target t;
	unsigned flags;
	bool gzip;
	bool threaded;
	z_stream z;
	char *zbuf;
	char *bufs[RTC_OUTFILE_BUFFERS];
	size_t lens[RTC_OUTFILE_BUFFERS];
	int cur;    /* the caller's buffer */
	size_t len; /* bytes in it */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int full[RTC_OUTFILE_BUFFERS]; /* FIFO of buffers to write */
	size_t head, nfull;
	int free_[RTC_OUTFILE_BUFFERS];
	size_t nfree;
	bool busy;    /* the writer holds a buffer */
	bool stop;    /* no more buffers will come */
	bool discard; /* aborting: drop what is queued */
	bool sync;    /* gzip: end the next buffer with a sync point */
	/* A new file written with O_DIRECT (no copy into the page cache: on a 2-core VM that copy cost
	 * more than formatting the JSON). Each hand-off writes whole blocks; the partial last block
	 * moves to the front of the next buffer; the file's tail is written without O_DIRECT. */
	bool direct;
	int err;      /* sticky */
	int seen_err; /* the caller's copy of err, taken at each hand-off */
	struct rtc_outfile_stats st;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && !strcmp(s + n - m, suffix);
}

/* ---- the data path (the writer thread, or the caller without one) ---- */

static int put_out(struct rtc_outfile *f, const char *p, size_t n, uint64_t *write_ns, uint64_t *out)
{
	uint64_t t0 = now_ns();
	int err = rtc_target_write(&f->t, p, n);

	*write_ns += now_ns() - t0;
	*out += n;
	return err;
}

/* Compress or write one buffer. flush: Z_NO_FLUSH, Z_SYNC_FLUSH or Z_FINISH. The counters are
 * returned through the pointers so that the thread updates f->st under the lock. */
static int deliver(struct rtc_outfile *f, const char *p, size_t n, int flush, struct rtc_outfile_stats *d)
{
	uint64_t t0;
	int err = 0, zr;

	d->bytes_in += n;
	if (!f->gzip)
		return n ? put_out(f, p, n, &d->write_ns, &d->bytes_out) : 0;
	f->z.next_in = (Bytef *)(uintptr_t)p;
	f->z.avail_in = (uInt)n;
	do {
		f->z.next_out = (Bytef *)f->zbuf;
		f->z.avail_out = ZBUF_SIZE;
		t0 = now_ns();
		zr = deflate(&f->z, flush);
		d->compress_ns += now_ns() - t0;
		if (zr == Z_STREAM_ERROR)
			return -EIO;
		if (ZBUF_SIZE - f->z.avail_out) {
			err = put_out(f, f->zbuf, ZBUF_SIZE - f->z.avail_out, &d->write_ns, &d->bytes_out);
			if (err)
				return err;
		}
	} while (f->z.avail_out == 0 || f->z.avail_in || (flush == Z_FINISH && zr != Z_STREAM_END));
	return 0;
}

static void add_stats(struct rtc_outfile_stats *to, const struct rtc_outfile_stats *d)
{
	to->bytes_in += d->bytes_in;
	to->bytes_out += d->bytes_out;
	to->compress_ns += d->compress_ns;
	to->write_ns += d->write_ns;
}

static void *writer_main(void *arg)
{
	struct rtc_outfile *f = arg;

	/* Writing may lag (the caller waits when every buffer is full); whoever fills them must not
	 * wait for it. Linux keeps a nice value per thread; failure changes nothing. */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), WRITER_NICE);
	pthread_mutex_lock(&f->lock);
	for (;;) {
		struct rtc_outfile_stats d = { 0 };
		int idx, err = 0, flush;
		bool skip;

		while (!f->nfull && !f->stop)
			pthread_cond_wait(&f->cond, &f->lock);
		if (!f->nfull)
			break; /* stopped and drained */
		idx = f->full[f->head];
		f->head = (f->head + 1) % RTC_OUTFILE_BUFFERS;
		f->nfull--;
		f->busy = true;
		skip = f->err || f->discard;
		flush = f->sync && !f->nfull ? Z_SYNC_FLUSH : Z_NO_FLUSH;
		if (flush == Z_SYNC_FLUSH)
			f->sync = false;
		pthread_mutex_unlock(&f->lock);
		if (!skip)
			err = deliver(f, f->bufs[idx], f->lens[idx], flush, &d);
		pthread_mutex_lock(&f->lock);
		add_stats(&f->st, &d);
		if (err && !f->err)
			f->err = err;
		f->free_[f->nfree++] = idx;
		f->busy = false;
		pthread_cond_broadcast(&f->cond);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* Hand the caller's buffer over and continue in a free one (waiting for one if writing is slower
 * than filling). Without a thread, write it here. */
static void handoff(struct rtc_outfile *f, int flush)
{
	if (!f->threaded) {
		struct rtc_outfile_stats d = { 0 };

		if (!f->err) {
			int err = deliver(f, f->bufs[0], f->len, flush, &d);

			if (err)
				f->err = err;
		}
		add_stats(&f->st, &d);
		f->len = 0;
		return;
	}
	pthread_mutex_lock(&f->lock);
	if (f->len || flush != Z_NO_FLUSH) {
		uint64_t t0 = now_ns();

		size_t carry = f->direct ? f->len % DIRECT_ALIGN : 0;
		char tail[DIRECT_ALIGN];

		if (carry)
			memcpy(tail, f->bufs[f->cur] + f->len - carry, carry);
		f->lens[f->cur] = f->len - carry;
		f->full[(f->head + f->nfull) % RTC_OUTFILE_BUFFERS] = f->cur;
		f->nfull++;
		if (flush == Z_SYNC_FLUSH)
			f->sync = true;
		pthread_cond_broadcast(&f->cond);
		while (!f->nfree)
			pthread_cond_wait(&f->cond, &f->lock);
		f->cur = f->free_[--f->nfree];
		f->st.wait_ns += now_ns() - t0;
		f->seen_err = f->err;
		pthread_mutex_unlock(&f->lock);
		if (carry)
			memcpy(f->bufs[f->cur], tail, carry);
		f->len = carry;
		return;
	}
	f->seen_err = f->err;
	pthread_mutex_unlock(&f->lock);
	f->len = 0;
}

/* Threaded: wait until everything queued is written. */
static void drain(struct rtc_outfile *f)
{
	pthread_mutex_lock(&f->lock);
	while (f->nfull || f->busy)
		pthread_cond_wait(&f->cond, &f->lock);
	f->seen_err = f->err;
	pthread_mutex_unlock(&f->lock);
}

static void stop_writer(struct rtc_outfile *f, bool discard)
{
	if (!f->threaded)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	f->discard = discard;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	f->threaded = false;
}

/* ---- the preopened files ---- */

static pthread_mutex_t preopen_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	struct rtc_target t;
	unsigned flags;
	bool used;
} preopened[PREOPEN_MAX];

/* Take the preopened target of path, if any. */
static bool take_preopened(const char *path, struct rtc_target *t, unsigned *flags)
{
	bool found = false;

	pthread_mutex_lock(&preopen_lock);
	for (int i = 0; i < PREOPEN_MAX && !found; i++) {
		if (preopened[i].used && !strcmp(preopened[i].t.path, path)) {
			*t = preopened[i].t;
			*flags = preopened[i].flags;
			preopened[i].used = false;
			found = true;
		}
	}
	pthread_mutex_unlock(&preopen_lock);
	return found;
}

static bool wants_gzip(const char *path, unsigned flags)
{
	return !(flags & RTC_OUTFILE_PLAIN) && ((flags & RTC_OUTFILE_GZIP) || ends_with(path, ".gz"));
}

int rtc_outfile_preopen(const char *path, unsigned flags)
{
	struct rtc_target t;
	int err = rtc_target_open(&t, path, flags), slot = -1;

	if (err < 0)
		return err;
	pthread_mutex_lock(&preopen_lock);
	for (int i = 0; i < PREOPEN_MAX && slot < 0; i++)
		if (!preopened[i].used)
			slot = i;
	if (slot >= 0) {
		preopened[slot].t = t;
		preopened[slot].flags = flags;
		preopened[slot].used = true;
	}
	pthread_mutex_unlock(&preopen_lock);
	if (slot < 0) {
		rtc_target_abort(&t);
		return -EMFILE;
	}
	return 0;
}

void rtc_outfile_preopen_drop(void)
{
	pthread_mutex_lock(&preopen_lock);
	for (int i = 0; i < PREOPEN_MAX; i++) {
		if (preopened[i].used)
			rtc_target_abort(&preopened[i].t);
		preopened[i].used = false;
	}
	pthread_mutex_unlock(&preopen_lock);
}

/* ---- the handle ---- */

static void free_file(struct rtc_outfile *f)
{
	if (f->gzip)
		deflateEnd(&f->z);
	for (int i = 0; i < RTC_OUTFILE_BUFFERS; i++)
		free(f->bufs[i]);
	free(f->zbuf);
	free(f);
}

/* Block-aligned, for direct I/O. */
static char *buffer_new(void)
{
	void *p = NULL;

	return posix_memalign(&p, DIRECT_ALIGN, RTC_OUTFILE_BUFFER_SIZE) == 0 ? p : NULL;
}

/* A new regular file written by the writer thread without compression: try direct I/O (file
 * systems without it, tmpfs among them, refuse the flag: then the page cache it is). */
static void try_direct(struct rtc_outfile *f)
{
	int fl;

	if (!f->threaded || f->gzip || f->t.kind != RTC_TARGET_REPLACE || getenv("RINGTRACE_NO_DIRECT_IO"))
		return;
	fl = fcntl(f->t.fd, F_GETFL);
	if (fl >= 0 && fcntl(f->t.fd, F_SETFL, fl | O_DIRECT) == 0)
		f->direct = true;
}

/* Before the tail: the last, partial block goes through the page cache. */
static void end_direct(struct rtc_outfile *f)
{
	int fl;

	if (!f->direct)
		return;
	fl = fcntl(f->t.fd, F_GETFL);
	if (fl >= 0)
		fcntl(f->t.fd, F_SETFL, fl & ~O_DIRECT);
	f->direct = false;
}

static void start_writer(struct rtc_outfile *f)
{
	for (int i = 1; i < RTC_OUTFILE_BUFFERS; i++) {
		f->bufs[i] = buffer_new();
		if (!f->bufs[i])
			return; /* written synchronously, from bufs[0] */
	}
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	if (pthread_create(&f->thread, NULL, writer_main, f) != 0) {
		pthread_mutex_destroy(&f->lock);
		pthread_cond_destroy(&f->cond);
		return;
	}
	for (int i = 1; i < RTC_OUTFILE_BUFFERS; i++)
		f->free_[f->nfree++] = i;
	f->threaded = true;
}

int rtc_outfile_open(struct rtc_outfile **out, const char *path, unsigned flags)
{
	struct rtc_outfile *f = calloc(1, sizeof(*f));
	unsigned pre = 0;
	int err;

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->flags = flags;
	if (take_preopened(path, &f->t, &pre)) {
		flags |= pre & RTC_OUTFILE_GZIP;
	} else {
		err = rtc_target_open(&f->t, path, flags);
		if (err < 0) {
			free(f);
			return err;
		}
	}
	f->gzip = wants_gzip(path, flags);
	f->bufs[0] = buffer_new();
	if (!f->bufs[0])
		goto error_nomem;
	if (f->gzip) {
		f->zbuf = malloc(ZBUF_SIZE);
		/* windowBits 15 + 16: a gzip header and trailer around the deflate stream. */
		if (!f->zbuf || deflateInit2(&f->z, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
			f->gzip = false;
			goto error_nomem;
		}
	}
	if (flags & RTC_OUTFILE_THREAD)
		start_writer(f);
	try_direct(f);
	*out = f;
	return 0;

error_nomem:
	rtc_target_abort(&f->t);
	free_file(f);
	return -ENOMEM;
}

int rtc_outfile_error(struct rtc_outfile *f)
{
	int err;

	if (!f->threaded)
		return f->err;
	pthread_mutex_lock(&f->lock);
	err = f->err;
	pthread_mutex_unlock(&f->lock);
	return err;
}

int rtc_outfile_write(struct rtc_outfile *f, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		size_t room = RTC_OUTFILE_BUFFER_SIZE - f->len, n = len < room ? len : room;

		memcpy(f->bufs[f->cur] + f->len, p, n);
		f->len += n;
		p += n;
		len -= n;
		if (f->len == RTC_OUTFILE_BUFFER_SIZE)
			handoff(f, Z_NO_FLUSH);
	}
	return f->threaded ? f->seen_err : f->err;
}

char *rtc_outfile_reserve(struct rtc_outfile *f, size_t min, size_t *avail)
{
	if (min > RTC_OUTFILE_RESERVE_MAX)
		min = RTC_OUTFILE_RESERVE_MAX;
	if (RTC_OUTFILE_BUFFER_SIZE - f->len < min)
		handoff(f, Z_NO_FLUSH);
	*avail = RTC_OUTFILE_BUFFER_SIZE - f->len;
	return f->bufs[f->cur] + f->len;
}

void rtc_outfile_advance(struct rtc_outfile *f, size_t used)
{
	size_t room = RTC_OUTFILE_BUFFER_SIZE - f->len;

	f->len += used < room ? used : room;
}

int rtc_outfile_flush(struct rtc_outfile *f)
{
	handoff(f, f->gzip ? Z_SYNC_FLUSH : Z_NO_FLUSH);
	if (f->threaded)
		drain(f);
	return rtc_outfile_error(f);
}

void rtc_outfile_stats(struct rtc_outfile *f, struct rtc_outfile_stats *s)
{
	if (f->threaded)
		pthread_mutex_lock(&f->lock);
	*s = f->st;
	if (f->threaded)
		pthread_mutex_unlock(&f->lock);
}

const char *rtc_outfile_path(const struct rtc_outfile *f)
{
	return f->t.path;
}

int rtc_outfile_commit(struct rtc_outfile *f)
{
	int err;

	/* The last buffer goes through the thread too (order), then the gzip trailer here. */
	if (f->threaded && f->len)
		handoff(f, Z_NO_FLUSH);
	stop_writer(f, false);
	end_direct(f);
	if (!f->err) {
		struct rtc_outfile_stats d = { 0 };
		int e = deliver(f, f->bufs[f->cur], f->len, f->gzip ? Z_FINISH : Z_NO_FLUSH, &d);

		add_stats(&f->st, &d);
		if (e)
			f->err = e;
	}
	err = f->err;
	if (err)
		rtc_target_abort(&f->t);
	else
		err = rtc_target_commit(&f->t);
	free_file(f);
	return err;
}

void rtc_outfile_abort(struct rtc_outfile *f)
{
	if (!f)
		return;
	stop_writer(f, true);
	rtc_target_abort(&f->t);
	free_file(f);
}

const char *rtc_outfile_strerror(int err)
{
	switch (-err) {
	case EISDIR:
		return "is a directory";
	case ENOENT:
		return "no such directory";
	case ENOTDIR:
		return "a part of the path is not a directory";
	case EACCES:
		return "permission denied";
	case EROFS:
		return "read-only file system";
	case ELOOP:
		return "a symbolic link owned by another user (refused), or links that lead too far";
	case ENXIO:
		return "a FIFO with no reader (start the reader first), or a device that is not there";
	case ENOTSUP:
		return "a block device or another kind of file that is never overwritten";
	case EPERM:
		return "not permitted (another user's file in a sticky directory, or an immutable one)";
	case EEXIST:
		return "the path changed while writing (it is no longer a regular file): left alone";
	case EAGAIN:
		return "the path changed while opening it";
	case EBADF:
		return "standard output is closed or not writable";
	case ECONNREFUSED:
		return "no one listens on that socket";
	case EPIPE:
		return "the reader went away (broken pipe)";
	case ENOSPC:
		return "no space left on the device";
	default:
		return strerror(-err);
	}
}
