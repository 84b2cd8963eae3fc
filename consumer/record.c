/* SPDX-License-Identifier: MIT */
/* Table-driven decoding of ring records: a bounds-checked msgpack reader of exactly what the record
 * table allows (tests/test-record-table.c checks it against msgpack-c's own decoder). */
#include "record.h"

#include <string.h>

#include <ringtrace/ringtrace.h>

#include "mpcursor.h"

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

/* ---- records ---- */

static bool read_entries(struct mp_cursor *c, struct rtc_record *rec, struct rt_rec_entries *out)
{
	uint32_t n;

	if (!mp_read_array(c, &n) || n > RTC_STACK_MAX)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		struct rt_rec_stack_entry *e = &rec->stack[i];
		uint32_t m;

		e->flags = 0;
		if (!mp_read_array(c, &m) || m < 4 || !mp_read_uint(c, &e->name_id) || !mp_read_uint(c, &e->span_seq) ||
		    !mp_read_uint(c, &e->begin_ts) || !mp_read_uint(c, &e->task_id) || (m > 4 && !mp_read_uint(c, &e->flags)) ||
		    !mp_skip(c, m > 5 ? m - 5 : 0))
			return false;
	}
	out->entries = rec->stack;
	out->count = n;
	return true;
}

static int decode(struct rtc_decoder *d, struct rtc_record *rec)
{
	struct mp_cursor c = { d->data, d->len, d->off };
	const struct desc *k;
	uint64_t kind, dt;
	uint32_t n, fields;

	if (!mp_read_array(&c, &n) || n < 2 || !mp_read_uint(&c, &kind) || kind > RT_REC_KIND_MAX || !descs[kind].name ||
	    !mp_read_uint(&c, &dt))
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

			ok = mp_read_uint(&c, &v);
			if (ok)
				memcpy(at, &v, sizeof(v));
			break;
		}
		case FT_S:
			ok = mp_read_str(&c, (struct rt_rec_str *)(void *)at);
			break;
		default:
			ok = read_entries(&c, rec, (struct rt_rec_entries *)(void *)at);
			break;
		}
		if (!ok)
			return -RT_ECORRUPT;
		rec->u.present |= 1u << i;
	}
	if (fields > k->nfields && !mp_skip(&c, fields - k->nfields))
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

bool rtc_chunk_start(struct rtc_chunk_cursor *cc, struct rtc_decoder *d, const uint8_t *data, size_t len,
		     uint64_t base_ts, bool continues, uint64_t rec0, uint64_t resume_rec0, uint64_t *lost)
{
	*lost = 0;
	if (!cc->rec_known && resume_rec0 != UINT64_MAX) {
		cc->next_rec = resume_rec0;
		cc->rec_known = true;
	}
	if (!continues && rec0 != UINT64_MAX) {
		if (cc->rec_known && rec0 > cc->next_rec)
			*lost = rec0 - cc->next_rec;
		cc->next_rec = rec0;
		cc->rec_known = true;
	}
	if (continues && !cc->ts_known) {
		/* Its records cannot be counted either: the next sub-buffer starts afresh. */
		cc->rec_known = false;
		return false;
	}
	rtc_decoder_reset(d, data, len, continues ? cc->raw_ts : base_ts);
	return true;
}

void rtc_chunk_done(struct rtc_chunk_cursor *cc, const struct rtc_decoder *d, int ret)
{
	cc->raw_ts = d->ts;
	cc->ts_known = ret == 0;
	cc->next_rec += d->records;
	if (ret != 0)
		cc->rec_known = false; /* how many records the rest held is unknown */
}
