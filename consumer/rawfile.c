/* SPDX-License-Identifier: MIT */
/* Raw capture writer (msgpack-c packer onto a buffered file) and reader (mmap + msgpack_unpack). */
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

#include "sinks/outfile.h"

enum msg {
	MSG_PROCESS = 1,   /* [1, index, pid, name, clock, mode, start_real_ns, start_mono_ns, parent_pid] */
	MSG_NAME = 2,      /* [2, proc, id, name] */
	MSG_THREAD = 3,    /* [3, proc, index, thread_number, tid, name, attach_ns] */
	MSG_CALIB = 4,     /* [4, proc, raw, mono_ns, real_ns] */
	MSG_CHUNK = 5,     /* [5, thread, base_ts, lost_before, lost_first_ts, bin records] */
	MSG_WATERMARK = 6, /* [6, watermark_ns] */
	MSG_THREAD_DONE = 7, /* [7, thread, ts_ns, unreported_lost] (the last since 1.1 of the ring ABI; optional) */
	MSG_END = 8,       /* [8, end_ns] */
};

struct rtc_raw_writer {
	struct rtc_outfile *out;
	msgpack_packer pk;
};

static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static int out_write(void *data, const char *buf, size_t len)
{
	return rtc_outfile_write(data, buf, len);
}

struct rtc_raw_writer *rtc_raw_writer_open(const char *path, uint64_t origin_ns)
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
	msgpack_pack_array(&w->pk, 3);
	pack_str(&w->pk, RTC_RAW_MAGIC);
	msgpack_pack_uint32(&w->pk, RTC_RAW_VERSION);
	msgpack_pack_uint64(&w->pk, origin_ns);
	return w;
}

void rtc_raw_write_process(struct rtc_raw_writer *w, uint32_t index, uint32_t pid, const char *name, uint32_t clock,
			   uint32_t mode, uint64_t start_real_ns, uint64_t start_mono_ns, uint32_t parent_pid)
{
	msgpack_pack_array(&w->pk, 9);
	msgpack_pack_uint32(&w->pk, MSG_PROCESS);
	msgpack_pack_uint32(&w->pk, index);
	msgpack_pack_uint32(&w->pk, pid);
	pack_str(&w->pk, name);
	msgpack_pack_uint32(&w->pk, clock);
	msgpack_pack_uint32(&w->pk, mode);
	msgpack_pack_uint64(&w->pk, start_real_ns);
	msgpack_pack_uint64(&w->pk, start_mono_ns);
	msgpack_pack_uint32(&w->pk, parent_pid);
}

void rtc_raw_write_calib(struct rtc_raw_writer *w, uint32_t proc, const struct rt_shm_calib_point *pt)
{
	msgpack_pack_array(&w->pk, 5);
	msgpack_pack_uint32(&w->pk, MSG_CALIB);
	msgpack_pack_uint32(&w->pk, proc);
	msgpack_pack_uint64(&w->pk, pt->tsc);
	msgpack_pack_uint64(&w->pk, pt->mono_ns);
	msgpack_pack_uint64(&w->pk, pt->real_ns);
}

void rtc_raw_write_name(struct rtc_raw_writer *w, uint32_t proc, uint32_t id, const char *name)
{
	msgpack_pack_array(&w->pk, 4);
	msgpack_pack_uint32(&w->pk, MSG_NAME);
	msgpack_pack_uint32(&w->pk, proc);
	msgpack_pack_uint32(&w->pk, id);
	pack_str(&w->pk, name);
}

void rtc_raw_write_thread(struct rtc_raw_writer *w, uint32_t proc, uint32_t index, uint64_t thread_number, uint32_t tid,
			  const char *name, uint64_t attach_ts)
{
	msgpack_pack_array(&w->pk, 7);
	msgpack_pack_uint32(&w->pk, MSG_THREAD);
	msgpack_pack_uint32(&w->pk, proc);
	msgpack_pack_uint32(&w->pk, index);
	msgpack_pack_uint64(&w->pk, thread_number);
	msgpack_pack_uint32(&w->pk, tid);
	pack_str(&w->pk, name);
	msgpack_pack_uint64(&w->pk, attach_ts);
}

void rtc_raw_write_chunk(struct rtc_raw_writer *w, uint32_t thread, uint64_t base_ts, uint64_t lost_before,
			 uint64_t lost_first_ts, const uint8_t *data, size_t len)
{
	msgpack_pack_array(&w->pk, 6);
	msgpack_pack_uint32(&w->pk, MSG_CHUNK);
	msgpack_pack_uint32(&w->pk, thread);
	msgpack_pack_uint64(&w->pk, base_ts);
	msgpack_pack_uint64(&w->pk, lost_before);
	msgpack_pack_uint64(&w->pk, lost_first_ts);
	msgpack_pack_bin(&w->pk, len);
	msgpack_pack_bin_body(&w->pk, data, len);
}

void rtc_raw_write_watermark(struct rtc_raw_writer *w, uint64_t watermark_ns)
{
	msgpack_pack_array(&w->pk, 2);
	msgpack_pack_uint32(&w->pk, MSG_WATERMARK);
	msgpack_pack_uint64(&w->pk, watermark_ns);
}

void rtc_raw_write_thread_done(struct rtc_raw_writer *w, uint32_t thread, uint64_t ts, uint64_t unreported_lost)
{
	msgpack_pack_array(&w->pk, 4);
	msgpack_pack_uint32(&w->pk, MSG_THREAD_DONE);
	msgpack_pack_uint32(&w->pk, thread);
	msgpack_pack_uint64(&w->pk, ts);
	msgpack_pack_uint64(&w->pk, unreported_lost);
}

void rtc_raw_write_end(struct rtc_raw_writer *w, uint64_t end_ns)
{
	msgpack_pack_array(&w->pk, 2);
	msgpack_pack_uint32(&w->pk, MSG_END);
	msgpack_pack_uint64(&w->pk, end_ns);
}

int rtc_raw_writer_close(struct rtc_raw_writer *w)
{
	int err = rtc_outfile_commit(w->out); /* put in place once complete */

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

static bool u(const msgpack_object *a, uint32_t i, uint64_t *out)
{
	if (i >= a->via.array.size || a->via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return false;
	*out = a->via.array.ptr[i].via.u64;
	return true;
}

static bool s(const msgpack_object *a, uint32_t i, const char **p, size_t *n, msgpack_object_type type)
{
	if (i >= a->via.array.size || a->via.array.ptr[i].type != type)
		return false;
	if (type == MSGPACK_OBJECT_STR) {
		*p = a->via.array.ptr[i].via.str.ptr;
		*n = a->via.array.ptr[i].via.str.size;
	} else {
		*p = a->via.array.ptr[i].via.bin.ptr;
		*n = a->via.array.ptr[i].via.bin.size;
	}
	return true;
}

static int header(const struct mapped *m, size_t *off, uint64_t *origin, msgpack_zone *zone)
{
	msgpack_object o;
	const char *magic;
	size_t n;
	uint64_t version;

	if (msgpack_unpack(m->data, m->len, off, zone, &o) < MSGPACK_UNPACK_EXTRA_BYTES || o.type != MSGPACK_OBJECT_ARRAY ||
	    !s(&o, 0, &magic, &n, MSGPACK_OBJECT_STR) || n != strlen(RTC_RAW_MAGIC) || memcmp(magic, RTC_RAW_MAGIC, n))
		return -RT_EBADMAGIC;
	if (!u(&o, 1, &version) || version != RTC_RAW_VERSION)
		return -RT_EABI;
	if (!u(&o, 2, origin))
		return -RT_ECORRUPT;
	return 0;
}

int rtc_raw_read_header(const char *path, uint64_t *origin_ns)
{
	struct mapped m;
	msgpack_zone zone;
	size_t off = 0;
	int err = map_file(path, &m);

	if (err < 0)
		return err;
	if (!msgpack_zone_init(&zone, 1024)) {
		err = -ENOMEM;
	} else {
		err = m.len ? header(&m, &off, origin_ns, &zone) : -RT_EBADMAGIC;
		msgpack_zone_destroy(&zone);
	}
	if (m.len)
		munmap((void *)m.data, m.len);
	return err;
}

static int message(const msgpack_object *o, const struct rtc_raw_callbacks *cb)
{
	uint64_t v[8];
	const char *p;
	size_t n;

	if (o->type != MSGPACK_OBJECT_ARRAY || !u(o, 0, &v[0]))
		return -RT_ECORRUPT;
	switch (v[0]) {
	case MSG_PROCESS: {
		struct rtc_raw_process rp;
		char name[RT_SHM_PROCESS_NAME_LEN + 1];

		if (!u(o, 1, &v[1]) || !u(o, 2, &v[2]) || !s(o, 3, &p, &n, MSGPACK_OBJECT_STR) || !u(o, 4, &v[4]) ||
		    !u(o, 5, &v[5]) || !u(o, 6, &v[6]) || !u(o, 7, &v[7]) || !u(o, 8, &v[3]) || v[1] > 65535)
			return -RT_ECORRUPT;
		if (n > RT_SHM_PROCESS_NAME_LEN)
			n = RT_SHM_PROCESS_NAME_LEN;
		memcpy(name, p, n);
		name[n] = 0;
		rp = (struct rtc_raw_process){ .index = (uint32_t)v[1], .pid = (uint32_t)v[2], .clock = (uint32_t)v[4],
					       .mode = (uint32_t)v[5], .start_real_ns = v[6], .start_mono_ns = v[7],
					       .parent_pid = (uint32_t)v[3], .name = name };
		cb->process(cb->ctx, &rp);
		break;
	}
	case MSG_NAME:
		if (!u(o, 1, &v[1]) || !u(o, 2, &v[2]) || !s(o, 3, &p, &n, MSGPACK_OBJECT_STR) || n > RT_SHM_NAME_MAX_LEN + 16)
			return -RT_ECORRUPT;
		cb->name(cb->ctx, (uint32_t)v[1], (uint32_t)v[2], p, n);
		break;
	case MSG_THREAD: {
		struct rtc_raw_thread rt;
		char name[RT_SHM_THREAD_NAME_LEN + 1];

		if (!u(o, 1, &v[1]) || !u(o, 2, &v[2]) || !u(o, 3, &v[3]) || !u(o, 4, &v[4]) ||
		    !s(o, 5, &p, &n, MSGPACK_OBJECT_STR) || !u(o, 6, &v[6]))
			return -RT_ECORRUPT;
		if (n > RT_SHM_THREAD_NAME_LEN)
			n = RT_SHM_THREAD_NAME_LEN;
		memcpy(name, p, n);
		name[n] = 0;
		rt = (struct rtc_raw_thread){ .proc = (uint32_t)v[1], .index = (uint32_t)v[2], .thread_number = v[3],
					      .tid = (uint32_t)v[4], .name = name, .attach_ts = v[6] };
		cb->thread(cb->ctx, &rt);
		break;
	}
	case MSG_CALIB: {
		struct rt_shm_calib_point pt = { 0, 0, 0, 0 };

		if (!u(o, 1, &v[1]) || !u(o, 2, &pt.tsc) || !u(o, 3, &pt.mono_ns) || !u(o, 4, &pt.real_ns))
			return -RT_ECORRUPT;
		cb->calib(cb->ctx, (uint32_t)v[1], &pt);
		break;
	}
	case MSG_CHUNK:
		if (!u(o, 1, &v[1]) || !u(o, 2, &v[2]) || !u(o, 3, &v[3]) || !u(o, 4, &v[4]) ||
		    !s(o, 5, &p, &n, MSGPACK_OBJECT_BIN))
			return -RT_ECORRUPT;
		cb->chunk(cb->ctx, (uint32_t)v[1], v[2], v[3], v[4], (const uint8_t *)p, n);
		break;
	case MSG_WATERMARK:
		if (!u(o, 1, &v[1]))
			return -RT_ECORRUPT;
		cb->watermark(cb->ctx, v[1]);
		break;
	case MSG_THREAD_DONE:
		if (!u(o, 1, &v[1]) || !u(o, 2, &v[2]))
			return -RT_ECORRUPT;
		if (!u(o, 3, &v[3]))
			v[3] = 0; /* written before the count existed */
		cb->thread_done(cb->ctx, (uint32_t)v[1], v[2], v[3]);
		break;
	case MSG_END:
		if (!u(o, 1, &v[1]))
			return -RT_ECORRUPT;
		cb->end(cb->ctx, v[1]);
		break;
	default:
		break; /* a later version's message: skipped */
	}
	return 0;
}

int rtc_raw_read(const char *path, const struct rtc_raw_callbacks *cb)
{
	struct mapped m;
	msgpack_zone zone;
	uint64_t origin;
	size_t off = 0;
	int err = map_file(path, &m);

	if (err < 0)
		return err;
	if (!msgpack_zone_init(&zone, 1 << 16)) {
		if (m.len)
			munmap((void *)m.data, m.len);
		return -ENOMEM;
	}
	err = m.len ? header(&m, &off, &origin, &zone) : -RT_EBADMAGIC;
	while (err == 0 && off < m.len) {
		msgpack_object o;
		msgpack_unpack_return r;

		msgpack_zone_clear(&zone);
		r = msgpack_unpack(m.data, m.len, &off, &zone, &o);
		if (r != MSGPACK_UNPACK_SUCCESS && r != MSGPACK_UNPACK_EXTRA_BYTES) {
			err = -RT_ECORRUPT; /* e.g. a capture cut short by a crash */
			break;
		}
		err = message(&o, cb);
	}
	msgpack_zone_destroy(&zone);
	if (m.len)
		munmap((void *)m.data, m.len);
	return err;
}
