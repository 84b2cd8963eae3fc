/* SPDX-License-Identifier: MIT */
/* Raw capture writer: every stream message packed with msgpack-c onto a buffered file, the capture
 * sink of `record --raw`. */
#include "rawfile-private.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include <ringtrace/ringtrace.h>

#include "sinks/outfile.h"

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
