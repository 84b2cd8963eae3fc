/* SPDX-License-Identifier: MIT */
/* Table-driven decoding of ring records: a bounds-checked msgpack reader of exactly what the record
 * table allows (tests/test-record-table.c checks it against msgpack-c's own decoder). */
#include "record.h"

#include <string.h>

#include <ringtrace/ringtrace.h>

enum ftype { FT_U, FT_OU, FT_S, FT_K };

#define MAX_FIELDS 8

struct desc {
	const char *name;
	uint8_t nfields, nrequired;
	uint8_t type[MAX_FIELDS];
	uint16_t off[MAX_FIELDS];
	const char *field[MAX_FIELDS];
};

#define D_COUNT(x, t, n) +1
#define D_REQ_U 1
#define D_REQ_S 1
#define D_REQ_K 1
#define D_REQ_OU 0
#define D_NREQ(x, t, n) +D_REQ_##t
#define D_TYPE(x, t, n) FT_##t,
#define D_OFF(x, t, n) offsetof(struct rt_rec_##x, n),
#define D_NAME(x, t, n) #n,
#define DESC(num, NAME, kind)                                                  \
	[num] = {                                                              \
		.name = #kind,                                                 \
		.nfields = 0 RT_REC_FIELDS_##kind(D_COUNT, kind),              \
		.nrequired = 0 RT_REC_FIELDS_##kind(D_NREQ, kind),             \
		.type = { RT_REC_FIELDS_##kind(D_TYPE, kind) },                \
		.off = { RT_REC_FIELDS_##kind(D_OFF, kind) },                  \
		.field = { RT_REC_FIELDS_##kind(D_NAME, kind) },               \
	},
static const struct desc descs[RT_REC_KIND_MAX + 1] = { RT_RECORD_KINDS(DESC) };
#undef DESC

#define D_CHECK(num, NAME, name) _Static_assert(0 RT_REC_FIELDS_##name(D_COUNT, name) <= MAX_FIELDS, #name);
RT_RECORD_KINDS(D_CHECK)
#undef D_CHECK

void rtc_decoder_reset(struct rtc_decoder *d, const uint8_t *data, size_t len, uint64_t base_ts)
{
	d->data = data;
	d->len = len;
	d->off = 0;
	d->ts = base_ts;
	d->records = 0;
}

/* ---- msgpack, bounds-checked ---- */

struct cursor {
	const uint8_t *p;
	size_t len, off;
};

static bool need(const struct cursor *c, size_t n)
{
	return c->len - c->off >= n;
}

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* A non-negative integer in any encoding msgpack-c decodes as a positive integer (the unsigned
 * ones, and the signed ones holding a value >= 0). */
static bool read_uint(struct cursor *c, uint64_t *v)
{
	static const int8_t width[] = { [0xcc - 0xcc] = 1, [0xcd - 0xcc] = 2, [0xce - 0xcc] = 4, [0xcf - 0xcc] = 8,
					[0xd0 - 0xcc] = -1, [0xd1 - 0xcc] = -2, [0xd2 - 0xcc] = -4, [0xd3 - 0xcc] = -8 };
	uint8_t b;
	int w;

	if (!need(c, 1))
		return false;
	b = c->p[c->off];
	if (b < 0x80) {
		*v = b;
		c->off++;
		return true;
	}
	if (b < 0xcc || b > 0xd3)
		return false;
	w = width[b - 0xcc];
	if (!need(c, 1 + (size_t)(w < 0 ? -w : w)))
		return false;
	if (w < 0) {
		w = -w;
		if (c->p[c->off + 1] & 0x80)
			return false; /* negative */
	}
	*v = be(c->p + c->off + 1, w);
	c->off += 1 + (size_t)w;
	return true;
}

static bool read_array(struct cursor *c, uint32_t *n)
{
	uint8_t b;

	if (!need(c, 1))
		return false;
	b = c->p[c->off];
	if ((b & 0xf0) == 0x90) {
		*n = b & 0x0f;
		c->off++;
		return true;
	}
	if (b == 0xdc && need(c, 3)) {
		*n = (uint32_t)be(c->p + c->off + 1, 2);
		c->off += 3;
		return true;
	}
	if (b == 0xdd && need(c, 5)) {
		*n = (uint32_t)be(c->p + c->off + 1, 4);
		c->off += 5;
		return true;
	}
	return false;
}

static bool read_str(struct cursor *c, struct rt_rec_str *s)
{
	uint8_t b;
	size_t hdr, n;

	if (!need(c, 1))
		return false;
	b = c->p[c->off];
	if ((b & 0xe0) == 0xa0) {
		hdr = 1;
		n = b & 0x1f;
	} else if (b >= 0xd9 && b <= 0xdb) {
		int w = 1 << (b - 0xd9);

		if (!need(c, 1 + (size_t)w))
			return false;
		hdr = 1 + (size_t)w;
		n = (size_t)be(c->p + c->off + 1, w);
	} else {
		return false;
	}
	if (!need(c, hdr) || c->len - c->off - hdr < n)
		return false;
	s->ptr = (const char *)c->p + c->off + hdr;
	s->len = (uint32_t)n;
	c->off += hdr + n;
	return true;
}

/* Skip `items` msgpack values of any type (fields of a later version). Iterative, and the count of
 * values still to skip can never exceed the bytes left, so hostile nesting costs linear time. */
static bool skip(struct cursor *c, uint64_t items)
{
	while (items) {
		uint8_t b;
		uint64_t body = 0, more = 0;

		if (!need(c, 1) || items > c->len - c->off)
			return false;
		b = c->p[c->off++];
		items--;
		if (b == 0xc1) {
			return false; /* never used: msgpack-c rejects it too */
		} else if (b < 0x80 || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
			/* fixint, nil, bool */
		} else if (b < 0x90) {
			more = 2u * (b & 0x0f);
		} else if (b < 0xa0) {
			more = b & 0x0f;
		} else if (b < 0xc0) {
			body = b & 0x1f;
		} else {
			static const uint8_t lenw[0xdf - 0xc4 + 1] = { [0xc4 - 0xc4] = 1, [0xc5 - 0xc4] = 2, [0xc6 - 0xc4] = 4,
							 [0xc7 - 0xc4] = 1, [0xc8 - 0xc4] = 2, [0xc9 - 0xc4] = 4,
							 [0xd9 - 0xc4] = 1, [0xda - 0xc4] = 2, [0xdb - 0xc4] = 4,
							 [0xdc - 0xc4] = 2, [0xdd - 0xc4] = 4, [0xde - 0xc4] = 2,
							 [0xdf - 0xc4] = 4 };
			static const uint8_t fixed[0xdf - 0xc4 + 1] = { [0xca - 0xc4] = 4, [0xcb - 0xc4] = 8, [0xcc - 0xc4] = 1,
							  [0xcd - 0xc4] = 2, [0xce - 0xc4] = 4, [0xcf - 0xc4] = 8,
							  [0xd0 - 0xc4] = 1, [0xd1 - 0xc4] = 2, [0xd2 - 0xc4] = 4,
							  [0xd3 - 0xc4] = 8, [0xd4 - 0xc4] = 2, [0xd5 - 0xc4] = 3,
							  [0xd6 - 0xc4] = 5, [0xd7 - 0xc4] = 9, [0xd8 - 0xc4] = 17 };
			unsigned i = b - 0xc4u;
			uint64_t n;

			if (fixed[i]) {
				body = fixed[i];
			} else {
				if (!need(c, lenw[i]))
					return false;
				n = be(c->p + c->off, lenw[i]);
				c->off += lenw[i];
				if (b >= 0xdc && b <= 0xdd)
					more = n;
				else if (b >= 0xde)
					more = 2 * n;
				else
					body = n + (b >= 0xc7 && b <= 0xc9 ? 1 : 0); /* ext: type byte */
			}
		}
		if (c->len - c->off < body)
			return false;
		c->off += body;
		items += more;
	}
	return true;
}

/* ---- records ---- */

static bool read_entries(struct cursor *c, struct rtc_record *rec, struct rt_rec_entries *out)
{
	uint32_t n;

	if (!read_array(c, &n) || n > RTC_STACK_MAX)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		struct rt_rec_stack_entry *e = &rec->stack[i];
		uint32_t m;

		e->flags = 0;
		if (!read_array(c, &m) || m < 4 || !read_uint(c, &e->name_id) || !read_uint(c, &e->span_seq) ||
		    !read_uint(c, &e->begin_ts) || !read_uint(c, &e->task_id) || (m > 4 && !read_uint(c, &e->flags)) ||
		    !skip(c, m > 5 ? m - 5 : 0))
			return false;
	}
	out->entries = rec->stack;
	out->count = n;
	return true;
}

static int decode(struct rtc_decoder *d, struct rtc_record *rec)
{
	struct cursor c = { d->data, d->len, d->off };
	const struct desc *k;
	uint64_t kind, dt;
	uint32_t n, fields;

	if (!read_array(&c, &n) || n < 2 || !read_uint(&c, &kind) || kind > RT_REC_KIND_MAX || !descs[kind].name ||
	    !read_uint(&c, &dt))
		return -RT_ECORRUPT;
	k = &descs[kind];
	fields = n - 2;
	if (fields < k->nrequired)
		return -RT_ECORRUPT;
	memset(&rec->u, 0, sizeof(rec->u));
	for (uint32_t i = 0; i < k->nfields && i < fields; i++) {
		char *at = (char *)&rec->u + k->off[i];
		bool ok;

		switch (k->type[i]) {
		case FT_U:
		case FT_OU: {
			uint64_t v;

			ok = read_uint(&c, &v);
			if (ok)
				memcpy(at, &v, sizeof(v));
			break;
		}
		case FT_S:
			ok = read_str(&c, (struct rt_rec_str *)(void *)at);
			break;
		default:
			ok = read_entries(&c, rec, (struct rt_rec_entries *)(void *)at);
			break;
		}
		if (!ok)
			return -RT_ECORRUPT;
		rec->u.present |= 1u << i;
	}
	if (fields > k->nfields && !skip(&c, fields - k->nfields))
		return -RT_ECORRUPT;
	d->ts += dt;
	rec->kind = (uint32_t)kind;
	rec->ts = d->ts;
	d->off = c.off;
	d->records++;
	return 1;
}

int rtc_decoder_next(struct rtc_decoder *d, struct rtc_record *rec)
{
	int ret;

	if (d->off >= d->len)
		return 0;
	ret = decode(d, rec);
	if (ret < 0)
		d->off = d->len;
	return ret;
}

const char *rtc_record_kind_name(uint32_t kind)
{
	return kind <= RT_REC_KIND_MAX && descs[kind].name ? descs[kind].name : "unknown";
}

size_t rtc_record_fields(const struct rtc_record *rec, struct rtc_field *out, size_t max)
{
	const struct desc *k;
	size_t n = 0;

	if (rec->kind > RT_REC_KIND_MAX || !descs[rec->kind].name)
		return 0;
	k = &descs[rec->kind];
	for (uint32_t i = 0; i < k->nfields && n < max; i++, n++) {
		const char *at = (const char *)&rec->u + k->off[i];
		struct rtc_field *f = &out[n];

		memset(f, 0, sizeof(*f));
		f->name = k->field[i];
		f->present = (rec->u.present >> i) & 1u;
		if (k->type[i] == FT_S) {
			f->type = RTC_FIELD_STR;
			memcpy(&f->s, at, sizeof(f->s));
		} else if (k->type[i] == FT_K) {
			struct rt_rec_entries e;

			memcpy(&e, at, sizeof(e));
			f->type = RTC_FIELD_ENTRIES;
			f->entries = e.count;
		} else {
			f->type = RTC_FIELD_UINT;
			memcpy(&f->u, at, sizeof(f->u));
		}
	}
	return n;
}
