/* SPDX-License-Identifier: MIT */
/* Raw capture writer (msgpack-c packer onto a buffered file) and reader (mmap and a bounds-checked
 * parser that allocates nothing). */
#include "rawfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <msgpack.h>

#include <ringtrace/ringtrace.h>

#include "mpcursor.h"
#include "sinks/outfile.h"

enum msg {
	MSG_PROCESS = 1,     /* [1, index, pid, name, clock, mode, start_real_ns, start_mono_ns, parent_pid, coarse_res_ns (v2)] */
	MSG_NAME = 2,        /* [2, proc, id, name] */
	MSG_THREAD = 3,      /* [3, proc, index, thread_number, tid, name, attach_ns] */
	MSG_CALIB = 4,       /* [4, proc, raw, mono_ns, real_ns] */
	MSG_CHUNK = 5,       /* [5, thread, base_ts, lost_before, lost_first_ts, bin records, flags (v2), skip (v2), rec0 (v2), resume_rec0 (v2)] */
	MSG_WATERMARK = 6,   /* [6, watermark_ns] */
	MSG_THREAD_DONE = 7, /* [7, thread, ts_ns, unreported_lost (optional)] */
	MSG_END = 8,         /* [8, end_ns] */
	MSG_TASK = 9,        /* [9, proc, id, parent, name_id, flags, begin, tid] (v2) */
	MSG_COUNTS = 10,     /* [10, proc, threads_untraced, names_overflowed, tasks_untracked, stack_overflows, overwritten] (v2) */
	MSG_GAP = 11,        /* [11, proc, from_ns, to_ns, not_recorded] (v2) */
	MSG_STACK = 12,      /* [12, thread, ts_ns, current_task, span_seq, bin entries] (v2; readers before it skip it) */
};

struct rtc_raw_writer {
	struct rtc_outfile *out;
	msgpack_packer pk;
};

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static int out_write(void *data, const char *buf, size_t len)
{
	return rtc_outfile_write(data, buf, len);
}

struct rtc_raw_writer *rtc_raw_writer_open(const char *path, uint64_t origin_ns, uint64_t start_ns)
{
	struct rtc_raw_writer *w = calloc(1, sizeof(*w));
	int err;

	if (!w)
		return NULL;
	/* Not compressed: captures are read back with mmap (sinks/outfile.h for the rest). */
	err = rtc_outfile_open(&w->out, path, RTC_OUTFILE_THREAD | RTC_OUTFILE_PLAIN);
	if (err < 0) {
		free(w);
		errno = -err;
		return NULL;
	}
	msgpack_packer_init(&w->pk, w->out, out_write);
	/* [magic, version, origin_ns, start_ns (v2)] */
	msgpack_pack_array(&w->pk, 4);
	pack_str(&w->pk, RTC_RAW_MAGIC, strlen(RTC_RAW_MAGIC));
	msgpack_pack_uint32(&w->pk, RTC_RAW_VERSION);
	msgpack_pack_uint64(&w->pk, origin_ns);
	msgpack_pack_uint64(&w->pk, start_ns);
	return w;
}

static void head(struct rtc_raw_writer *w, uint32_t n, enum msg kind)
{
	msgpack_pack_array(&w->pk, n);
	msgpack_pack_uint32(&w->pk, kind);
}

static void w_process(void *ctx, const struct rtc_stream_process *p)
{
	struct rtc_raw_writer *w = ctx;

	head(w, 10, MSG_PROCESS);
	msgpack_pack_uint32(&w->pk, p->index);
	msgpack_pack_uint32(&w->pk, p->pid);
	pack_str(&w->pk, p->name, strlen(p->name));
	msgpack_pack_uint32(&w->pk, p->clock);
	msgpack_pack_uint32(&w->pk, p->mode);
	msgpack_pack_uint64(&w->pk, p->start_real_ns);
	msgpack_pack_uint64(&w->pk, p->start_mono_ns);
	msgpack_pack_uint32(&w->pk, p->parent_pid);
	msgpack_pack_uint64(&w->pk, p->coarse_resolution_ns);
}

static void w_calib(void *ctx, uint32_t proc, const struct rt_shm_calib_point *pt)
{
	struct rtc_raw_writer *w = ctx;

	head(w, 5, MSG_CALIB);
	msgpack_pack_uint32(&w->pk, proc);
	msgpack_pack_uint64(&w->pk, pt->tsc);
	msgpack_pack_uint64(&w->pk, pt->mono_ns);
	msgpack_pack_uint64(&w->pk, pt->real_ns);
}

static void w_name(void *ctx, uint32_t proc, uint32_t id, const char *s, size_t len)
{
	struct rtc_raw_writer *w = ctx;

	head(w, 4, MSG_NAME);
	msgpack_pack_uint32(&w->pk, proc);
	msgpack_pack_uint32(&w->pk, id);
	pack_str(&w->pk, s, len);
}

static void w_thread(void *ctx, const struct rtc_stream_thread *t)
{
	struct rtc_raw_writer *w = ctx;

	head(w, 7, MSG_THREAD);
	msgpack_pack_uint32(&w->pk, t->proc);
	msgpack_pack_uint32(&w->pk, t->index);
	msgpack_pack_uint64(&w->pk, t->thread_number);
	msgpack_pack_uint32(&w->pk, t->tid);
	pack_str(&w->pk, t->name, strlen(t->name));
	msgpack_pack_uint64(&w->pk, t->attach_ts);
}

static void w_chunk(void *ctx, const struct rtc_stream_chunk *c)
{
	struct rtc_raw_writer *w = ctx;

	head(w, 10, MSG_CHUNK);
	msgpack_pack_uint32(&w->pk, c->thread);
	msgpack_pack_uint64(&w->pk, c->base_ts);
	msgpack_pack_uint64(&w->pk, c->lost_before);
	msgpack_pack_uint64(&w->pk, c->lost_first_ts);
	msgpack_pack_bin(&w->pk, c->len);
	msgpack_pack_bin_body(&w->pk, c->data, c->len);
	msgpack_pack_uint32(&w->pk, c->flags);
	msgpack_pack_uint32(&w->pk, c->skip);
	msgpack_pack_uint64(&w->pk, c->rec0);
	msgpack_pack_uint64(&w->pk, c->resume_rec0);
}

static void w_watermark(void *ctx, uint64_t watermark_ns)
{
	struct rtc_raw_writer *w = ctx;

	head(w, 2, MSG_WATERMARK);
	msgpack_pack_uint64(&w->pk, watermark_ns);
}

static void w_thread_done(void *ctx, uint32_t thread, uint64_t ts, uint64_t unreported_lost)
{
	struct rtc_raw_writer *w = ctx;

	head(w, 4, MSG_THREAD_DONE);
	msgpack_pack_uint32(&w->pk, thread);
	msgpack_pack_uint64(&w->pk, ts);
	msgpack_pack_uint64(&w->pk, unreported_lost);
}

static void w_task(void *ctx, const struct rtc_stream_task *t)
{
	struct rtc_raw_writer *w = ctx;

	head(w, 8, MSG_TASK);
	msgpack_pack_uint32(&w->pk, t->proc);
	msgpack_pack_uint64(&w->pk, t->id);
	msgpack_pack_uint64(&w->pk, t->parent);
	msgpack_pack_uint32(&w->pk, t->name_id);
	msgpack_pack_uint32(&w->pk, t->flags);
	msgpack_pack_uint64(&w->pk, t->begin);
	msgpack_pack_uint32(&w->pk, t->tid);
}

static void w_counts(void *ctx, const struct rtc_stream_counts *c)
{
	struct rtc_raw_writer *w = ctx;

	head(w, 7, MSG_COUNTS);
	msgpack_pack_uint32(&w->pk, c->proc);
	msgpack_pack_uint64(&w->pk, c->threads_untraced);
	msgpack_pack_uint64(&w->pk, c->names_overflowed);
	msgpack_pack_uint64(&w->pk, c->tasks_untracked);
	msgpack_pack_uint64(&w->pk, c->stack_overflows);
	msgpack_pack_uint64(&w->pk, c->overwritten);
}

static void w_gap(void *ctx, const struct rtc_stream_gap *g)
{
	struct rtc_raw_writer *w = ctx;

	head(w, 5, MSG_GAP);
	msgpack_pack_uint32(&w->pk, g->proc);
	msgpack_pack_uint64(&w->pk, g->from_ns);
	msgpack_pack_uint64(&w->pk, g->to_ns);
	msgpack_pack_uint64(&w->pk, g->not_recorded);
}

/* A stack entry in a capture: name_id, span_seq, begin_ts, task_id, flags, u64 little-endian. */
#define STACK_ENTRY_BYTES 40

static void w_stack(void *ctx, const struct rtc_stream_stack *st)
{
	struct rtc_raw_writer *w = ctx;
	uint8_t buf[RT_SHM_STACK_MAX * STACK_ENTRY_BYTES];
	uint32_t n = st->count < RT_SHM_STACK_MAX ? st->count : RT_SHM_STACK_MAX;

	for (uint32_t k = 0; k < n; k++) {
		const struct rt_rec_stack_entry *e = &st->entries[k];
		uint64_t f[5] = { e->name_id, e->span_seq, e->begin_ts, e->task_id, e->flags };

		for (int i = 0; i < 5; i++)
			for (int b = 0; b < 8; b++)
				buf[k * STACK_ENTRY_BYTES + i * 8 + b] = (uint8_t)(f[i] >> (8 * b));
	}
	head(w, 6, MSG_STACK);
	msgpack_pack_uint32(&w->pk, st->thread);
	msgpack_pack_uint64(&w->pk, st->ts);
	msgpack_pack_uint64(&w->pk, st->current_task);
	msgpack_pack_uint64(&w->pk, st->span_seq);
	msgpack_pack_bin(&w->pk, n * STACK_ENTRY_BYTES);
	msgpack_pack_bin_body(&w->pk, buf, n * STACK_ENTRY_BYTES);
}

static void w_end(void *ctx, uint64_t end_ns)
{
	struct rtc_raw_writer *w = ctx;

	head(w, 2, MSG_END);
	msgpack_pack_uint64(&w->pk, end_ns);
}

static const struct rtc_stream_ops writer_ops = {
	.process = w_process,
	.name = w_name,
	.calib = w_calib,
	.thread = w_thread,
	.chunk = w_chunk,
	.watermark = w_watermark,
	.thread_done = w_thread_done,
	.task = w_task,
	.counts = w_counts,
	.gap = w_gap,
	.stack = w_stack,
	.end = w_end,
};

const struct rtc_stream_ops *rtc_raw_writer_ops(void)
{
	return &writer_ops;
}

int rtc_raw_writer_close(struct rtc_raw_writer *w, bool keep)
{
	int err = 0;

	/* Put in place once complete (sinks/outfile.h), or abandoned leaving nothing. */
	if (keep)
		err = rtc_outfile_commit(w->out);
	else
		rtc_outfile_abort(w->out);
	free(w);
	return err;
}

/* ---- reading ---- */

struct mapped {
	const char *data;
	size_t len;
};

static int map_file(const char *path, struct mapped *m)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -errno;
	}
	m->len = (size_t)st.st_size;
	m->data = m->len ? mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	close(fd);
	if (m->len && m->data == MAP_FAILED)
		return -errno;
	return 0;
}

/* One message: a flat array of at most MAX_ELEMS unsigned integers, strings and bins (anything
 * else, nesting included, is not a message of ours). Parsed without allocating. */
#define MAX_ELEMS 16

enum etype { E_UINT, E_STR, E_BIN };

struct frame {
	uint32_t n;
	struct {
		enum etype type;
		uint64_t u;
		const uint8_t *p;
		size_t len;
	} e[MAX_ELEMS];
};

static bool parse(struct mp_cursor *c, struct frame *m)
{
	uint32_t n;

	if (!mp_read_array(c, &n))
		return false;
	m->n = n < MAX_ELEMS ? n : MAX_ELEMS;
	for (uint32_t i = 0; i < n; i++) {
		struct mp_cursor at = *c;

		if (i >= MAX_ELEMS) {
			/* Trailing elements of a later version: skipped whatever they are. */
			if (!mp_skip(c, n - i))
				return false;
			break;
		}
		if (mp_read_uint(c, &m->e[i].u)) {
			m->e[i].type = E_UINT;
		} else if (*c = at, mp_read_bytes(c, &m->e[i].p, &m->e[i].len, true)) {
			m->e[i].type = E_STR;
		} else if (*c = at, mp_read_bytes(c, &m->e[i].p, &m->e[i].len, false)) {
			m->e[i].type = E_BIN;
		} else {
			*c = at;
			if (!mp_skip(c, 1))
				return false;
			m->e[i].type = (enum etype)-1; /* present, of no type a field of ours has */
		}
	}
	return true;
}

static bool u(const struct frame *m, uint32_t i, uint64_t *out)
{
	if (i >= m->n || m->e[i].type != E_UINT)
		return false;
	*out = m->e[i].u;
	return true;
}

static bool s(const struct frame *m, uint32_t i, const char **p, size_t *n, enum etype type)
{
	if (i >= m->n || m->e[i].type != type)
		return false;
	*p = (const char *)m->e[i].p;
	*n = m->e[i].len;
	return true;
}

static int header(const struct mapped *m, size_t *off, uint64_t *origin, uint64_t *start)
{
	struct mp_cursor c = { (const uint8_t *)m->data, m->len, *off };
	struct frame h;
	const char *magic;
	size_t n;
	uint64_t version;

	if (!parse(&c, &h) || !s(&h, 0, &magic, &n, E_STR) || n != strlen(RTC_RAW_MAGIC) ||
	    memcmp(magic, RTC_RAW_MAGIC, n))
		return -RT_EBADMAGIC;
	if (!u(&h, 1, &version) || version < 1 || version > RTC_RAW_VERSION)
		return -RT_EABI;
	if (!u(&h, 2, origin))
		return -RT_ECORRUPT;
	if (!u(&h, 3, start))
		*start = 0;
	*off = c.off;
	return 0;
}

int rtc_raw_read_header(const char *path, uint64_t *origin_ns, uint64_t *start_ns)
{
	struct mapped m;
	size_t off = 0;
	int err = map_file(path, &m);

	if (err < 0)
		return err;
	err = m.len ? header(&m, &off, origin_ns, start_ns) : -RT_EBADMAGIC;
	if (m.len)
		munmap((void *)m.data, m.len);
	return err;
}

struct reader {
	const struct rtc_stream_ops *ops;
	void *ctx;
	uint32_t version;
	uint32_t processes, threads; /* indices handed out so far: the next must be <= these */
};

#define CALL(op, ...)                                      \
	do {                                               \
		if (rd->ops->op)                           \
			rd->ops->op(rd->ctx, __VA_ARGS__); \
	} while (0)

static int message(struct reader *rd, const struct frame *o)
{
	uint64_t v[10];
	const char *p;
	size_t n;

	if (!u(o, 0, &v[0]))
		return -RT_ECORRUPT;
	switch (v[0]) {
	case MSG_PROCESS: {
		struct rtc_stream_process sp;
		char name[RT_SHM_PROCESS_NAME_LEN + 1];

		if (!u(o, 1, &v[1]) || !u(o, 2, &v[2]) || !s(o, 3, &p, &n, E_STR) || !u(o, 4, &v[4]) ||
		    !u(o, 5, &v[5]) || !u(o, 6, &v[6]) || !u(o, 7, &v[7]) || !u(o, 8, &v[3]) ||
		    v[1] > rd->processes || v[1] >= RTC_RAW_MAX_PROCESSES || v[2] > UINT32_MAX)
			return -RT_ECORRUPT;
		if (!u(o, 9, &v[8]))
			v[8] = 0;
		if (v[1] == rd->processes)
			rd->processes++;
		if (n > RT_SHM_PROCESS_NAME_LEN)
			n = RT_SHM_PROCESS_NAME_LEN;
		memcpy(name, p, n);
		name[n] = 0;
		sp = (struct rtc_stream_process){ .index = (uint32_t)v[1], .pid = (uint32_t)v[2], .clock = (uint32_t)v[4],
						  .mode = (uint32_t)v[5], .start_real_ns = v[6], .start_mono_ns = v[7],
						  .parent_pid = (uint32_t)v[3], .name = name, .coarse_resolution_ns = v[8] };
		CALL(process, &sp);
		break;
	}
	case MSG_NAME:
		if (!u(o, 1, &v[1]) || !u(o, 2, &v[2]) || !s(o, 3, &p, &n, E_STR) ||
		    n > RT_SHM_NAME_MAX_LEN + 16 || v[1] >= rd->processes || v[2] > UINT32_MAX)
			return -RT_ECORRUPT;
		CALL(name, (uint32_t)v[1], (uint32_t)v[2], p, n);
		break;
	case MSG_THREAD: {
		struct rtc_stream_thread st;
		char name[RT_SHM_THREAD_NAME_LEN + 1];

		if (!u(o, 1, &v[1]) || !u(o, 2, &v[2]) || !u(o, 3, &v[3]) || !u(o, 4, &v[4]) ||
		    !s(o, 5, &p, &n, E_STR) || !u(o, 6, &v[6]) || v[1] >= rd->processes ||
		    v[2] > rd->threads || v[2] >= RTC_RAW_MAX_THREADS || v[4] > UINT32_MAX)
			return -RT_ECORRUPT;
		if (v[2] == rd->threads)
			rd->threads++;
		if (n > RT_SHM_THREAD_NAME_LEN)
			n = RT_SHM_THREAD_NAME_LEN;
		memcpy(name, p, n);
		name[n] = 0;
		st = (struct rtc_stream_thread){ .proc = (uint32_t)v[1], .index = (uint32_t)v[2], .thread_number = v[3],
						 .tid = (uint32_t)v[4], .name = name, .attach_ts = v[6] };
		CALL(thread, &st);
		break;
	}
	case MSG_CALIB: {
		struct rt_shm_calib_point pt = { 0, 0, 0, 0 };

		if (!u(o, 1, &v[1]) || !u(o, 2, &pt.tsc) || !u(o, 3, &pt.mono_ns) || !u(o, 4, &pt.real_ns) ||
		    v[1] >= rd->processes)
			return -RT_ECORRUPT;
		CALL(calib, (uint32_t)v[1], &pt);
		break;
	}
	case MSG_CHUNK: {
		struct rtc_stream_chunk c;

		if (!u(o, 1, &v[1]) || !u(o, 2, &v[2]) || !u(o, 3, &v[3]) || !u(o, 4, &v[4]) ||
		    !s(o, 5, &p, &n, E_BIN) || v[1] >= rd->threads)
			return -RT_ECORRUPT;
		if (!u(o, 6, &v[6]))
			v[6] = 0;
		if (!u(o, 7, &v[7]))
			v[7] = 0;
		if (!u(o, 8, &v[8]))
			v[8] = UINT64_MAX;
		if (!u(o, 9, &v[9]))
			v[9] = UINT64_MAX;
		if (v[6] > UINT32_MAX || v[7] > n)
			return -RT_ECORRUPT;
		c = (struct rtc_stream_chunk){ .thread = (uint32_t)v[1], .base_ts = v[2], .lost_before = v[3],
					       .lost_first_ts = v[4], .data = (const uint8_t *)p, .len = n,
					       .flags = (uint32_t)v[6], .skip = (uint32_t)v[7], .rec0 = v[8],
					       .resume_rec0 = v[9] };
		CALL(chunk, &c);
		break;
	}
	case MSG_WATERMARK:
		if (!u(o, 1, &v[1]))
			return -RT_ECORRUPT;
		CALL(watermark, v[1]);
		break;
	case MSG_THREAD_DONE:
		if (!u(o, 1, &v[1]) || !u(o, 2, &v[2]) || v[1] >= rd->threads)
			return -RT_ECORRUPT;
		if (!u(o, 3, &v[3]))
			v[3] = 0; /* written before the count existed */
		CALL(thread_done, (uint32_t)v[1], v[2], v[3]);
		break;
	case MSG_END:
		if (!u(o, 1, &v[1]))
			return -RT_ECORRUPT;
		CALL(end, v[1]);
		break;
	case MSG_TASK: {
		struct rtc_stream_task t;

		for (uint32_t i = 1; i <= 7; i++)
			if (!u(o, i, &v[i]))
				return -RT_ECORRUPT;
		if (v[1] >= rd->processes || v[4] > UINT32_MAX || v[5] > UINT32_MAX || v[7] > UINT32_MAX)
			return -RT_ECORRUPT;
		t = (struct rtc_stream_task){ .proc = (uint32_t)v[1], .id = v[2], .parent = v[3], .name_id = (uint32_t)v[4],
					      .flags = (uint32_t)v[5], .begin = v[6], .tid = (uint32_t)v[7] };
		CALL(task, &t);
		break;
	}
	case MSG_COUNTS: {
		struct rtc_stream_counts c;

		for (uint32_t i = 1; i <= 6; i++)
			if (!u(o, i, &v[i]))
				return -RT_ECORRUPT;
		if (v[1] >= rd->processes)
			return -RT_ECORRUPT;
		c = (struct rtc_stream_counts){ .proc = (uint32_t)v[1], .threads_untraced = v[2], .names_overflowed = v[3],
						.tasks_untracked = v[4], .stack_overflows = v[5], .overwritten = v[6] };
		CALL(counts, &c);
		break;
	}
	case MSG_GAP: {
		struct rtc_stream_gap g;

		for (uint32_t i = 1; i <= 4; i++)
			if (!u(o, i, &v[i]))
				return -RT_ECORRUPT;
		if (v[1] >= rd->processes)
			return -RT_ECORRUPT;
		g = (struct rtc_stream_gap){ .proc = (uint32_t)v[1], .from_ns = v[2], .to_ns = v[3], .not_recorded = v[4] };
		CALL(gap, &g);
		break;
	}
	case MSG_STACK: {
		struct rt_rec_stack_entry e[RT_SHM_STACK_MAX];
		struct rtc_stream_stack st;

		for (uint32_t i = 1; i <= 4; i++)
			if (!u(o, i, &v[i]))
				return -RT_ECORRUPT;
		if (!s(o, 5, &p, &n, E_BIN) || v[1] >= rd->threads || n % STACK_ENTRY_BYTES ||
		    n > sizeof(e) / sizeof(e[0]) * STACK_ENTRY_BYTES)
			return -RT_ECORRUPT;
		st = (struct rtc_stream_stack){ .thread = (uint32_t)v[1], .ts = v[2], .current_task = v[3],
						.span_seq = v[4], .count = (uint32_t)(n / STACK_ENTRY_BYTES), .entries = e };
		for (uint32_t k = 0; k < st.count; k++) {
			uint64_t f[5] = { 0 };

			for (int i = 0; i < 5; i++)
				for (int b = 0; b < 8; b++)
					f[i] |= (uint64_t)(uint8_t)p[k * STACK_ENTRY_BYTES + i * 8 + b] << (8 * b);
			if (f[0] > UINT32_MAX || f[4] > UINT32_MAX)
				return -RT_ECORRUPT; /* name ids and flags are 32-bit, as in MSG_TASK */
			e[k] = (struct rt_rec_stack_entry){ .name_id = f[0], .span_seq = f[1], .begin_ts = f[2],
							    .task_id = f[3], .flags = f[4] };
		}
		CALL(stack, &st);
		break;
	}
	default:
		break; /* a later version's message: skipped */
	}
	return 0;
}

int rtc_raw_read(const char *path, const struct rtc_stream_ops *ops, void *ctx, uint64_t *where)
{
	struct reader rd = { ops, ctx, 0, 0, 0 };
	struct mapped m;
	uint64_t origin, start;
	size_t off = 0;
	int err = map_file(path, &m);

	if (err < 0)
		return err;
	err = m.len ? header(&m, &off, &origin, &start) : -RT_EBADMAGIC;
	while (err == 0 && off < m.len) {
		struct mp_cursor c = { (const uint8_t *)m.data, m.len, off };
		struct frame msg;

		if (!parse(&c, &msg))
			err = -RT_ECORRUPT; /* e.g. a capture cut short by a crash */
		else
			err = message(&rd, &msg);
		if (err && where)
			*where = off;
		off = c.off;
	}
	if (m.len)
		munmap((void *)m.data, m.len);
	return err;
}
