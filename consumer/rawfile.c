/* SPDX-License-Identifier: MIT */
/* Raw capture reader: the file mapped and its messages parsed by a bounds-checked parser that
 * allocates nothing (the writer is rawfile-write.c). */
#include "rawfile-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#include "mpcursor.h"

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
