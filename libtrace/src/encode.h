/* SPDX-License-Identifier: MIT */
/* msgpack encoding on the producer's hot path: a hand-written encoder of the few msgpack types the
 * records use, and the record encoders generated from the table in ringtrace/records.h. No
 * allocation and no bounds bookkeeping: callers reserve the maximum size first. */
#ifndef RT_ENCODE_H
#define RT_ENCODE_H

#include <stdint.h>
#include <string.h>

static inline uint8_t *rt_mp_be16(uint8_t *p, uint16_t v)
{
	v = __builtin_bswap16(v);
	memcpy(p, &v, 2);
	return p + 2;
}

static inline uint8_t *rt_mp_be32(uint8_t *p, uint32_t v)
{
	v = __builtin_bswap32(v);
	memcpy(p, &v, 4);
	return p + 4;
}

static inline uint8_t *rt_mp_be64(uint8_t *p, uint64_t v)
{
	v = __builtin_bswap64(v);
	memcpy(p, &v, 8);
	return p + 8;
}

/* Smallest msgpack unsigned integer encoding of v (1, 2, 3, 5 or 9 bytes). Small values first:
 * name ids and the timestamp deltas of dense records are below 128. */
static inline uint8_t *rt_mp_uint(uint8_t *p, uint64_t v)
{
	if (__builtin_expect(v < 128, 1)) {
		*p = (uint8_t)v;
		return p + 1;
	}
	if (v < 65536) {
		if (v < 256) {
			p[0] = 0xcc;
			p[1] = (uint8_t)v;
			return p + 2;
		}
		*p = 0xcd;
		return rt_mp_be16(p + 1, (uint16_t)v);
	}
	if (v <= UINT32_MAX) {
		*p = 0xce;
		return rt_mp_be32(p + 1, (uint32_t)v);
	}
	*p = 0xcf;
	return rt_mp_be64(p + 1, v);
}

static inline uint8_t *rt_mp_array(uint8_t *p, uint32_t n)
{
	if (n < 16) {
		*p = (uint8_t)(0x90 | n);
		return p + 1;
	}
	*p = 0xdc;
	return rt_mp_be16(p + 1, (uint16_t)n);
}

/* len must be < 65536. */
static inline uint8_t *rt_mp_str(uint8_t *p, const char *s, uint32_t len)
{
	if (len < 32) {
		*p++ = (uint8_t)(0xa0 | len);
	} else if (len < 256) {
		p[0] = 0xd9;
		p[1] = (uint8_t)len;
		p += 2;
	} else {
		*p = 0xda;
		p = rt_mp_be16(p + 1, (uint16_t)len);
	}
	memcpy(p, s, len);
	return p + len;
}

/* ---- Records (ringtrace/records.h): rt_rec_put_<kind>(p, dt, &fields) ---- */

#include <ringtrace/shm-format.h>

/* STACK entries straight from the thread's shared open-span stack. */
static inline uint8_t *rt__rec_put_stack(uint8_t *p, const struct rt_rec_entries *k)
{
	const struct rt_shm_stack_entry *e = k->entries;

	p = rt_mp_array(p, k->count);
	for (uint32_t i = 0; i < k->count; i++) {
		/* flags only when set: entries stay 4 fields long for ABI 1.0/1.1 readers' sake. */
		p = rt_mp_array(p, e[i].flags ? 5 : 4);
		p = rt_mp_uint(p, e[i].name_id);
		p = rt_mp_uint(p, e[i].span_seq);
		p = rt_mp_uint(p, e[i].begin_ts);
		p = rt_mp_uint(p, e[i].task_id);
		if (e[i].flags)
			p = rt_mp_uint(p, e[i].flags);
	}
	return p;
}

#define RT__REC_COUNT_U(x, n) +1
#define RT__REC_COUNT_S(x, n) +1
#define RT__REC_COUNT_K(x, n) +1
#define RT__REC_COUNT_OU(x, n) +((r->present >> RT_RECF_##x##_##n) & 1u)
#define RT__REC_COUNT(x, t, n) RT__REC_COUNT_##t(x, n)
#define RT__REC_PUT_U(x, n) p = rt_mp_uint(p, r->n);
#define RT__REC_PUT_S(x, n) p = rt_mp_str(p, r->n.ptr, r->n.len);
#define RT__REC_PUT_K(x, n) p = rt__rec_put_stack(p, &r->n);
#define RT__REC_PUT_OU(x, n)                                  \
	if ((r->present >> RT_RECF_##x##_##n) & 1u)           \
		p = rt_mp_uint(p, r->n);
#define RT__REC_PUT(x, t, n) RT__REC_PUT_##t(x, n)
/* Optional fields are trailing and written in order: set their `present` bits left to right. Always
 * inlined: where a record has no optional field (`present` a constant 0) they cost nothing. */
#define RT__REC_ENCODER(num, NAME, name)                                                              \
	static inline __attribute__((always_inline)) uint8_t *rt_rec_put_##name(uint8_t *p, uint64_t dt,   \
										const struct rt_rec_##name *r) \
	{                                                                                             \
		p = rt_mp_array(p, 2 RT_REC_FIELDS_##name(RT__REC_COUNT, name));                      \
		*p++ = (uint8_t)(num);                                                                \
		p = rt_mp_uint(p, dt);                                                                \
		RT_REC_FIELDS_##name(RT__REC_PUT, name)(void) r;                                      \
		return p;                                                                             \
	}
RT_RECORD_KINDS(RT__REC_ENCODER)
#undef RT__REC_ENCODER

#endif
