/* SPDX-License-Identifier: MIT */
/* Hand-written msgpack encoders for the producer's hot path: they write straight into a reserved
 * ring slot with no callback or bounds bookkeeping; every output decodes with msgpack-c. */
#ifndef RT_ENCODE_H
#define RT_ENCODE_H

#include <stdint.h>
#include <string.h>

/* Largest encodings, used to reserve space before encoding. */
#define RT_MP_UINT_MAX 9u
#define RT_MP_ARRAY_MAX 3u
#define RT_MP_STR_HDR_MAX 3u

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

/* Smallest msgpack unsigned integer encoding of v. */
static inline uint8_t *rt_mp_uint(uint8_t *p, uint64_t v)
{
	if (v < 128) {
		*p = (uint8_t)v;
		return p + 1;
	}
	if (v < 256) {
		p[0] = 0xcc;
		p[1] = (uint8_t)v;
		return p + 2;
	}
	if (v < 65536) {
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

#endif
