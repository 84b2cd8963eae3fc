/* SPDX-License-Identifier: MIT */
/* A bounds-checked msgpack reader over untrusted bytes: exactly the encodings ringtrace writes, plus
 * skipping any value in time linear in its bytes (record.c, rawfile.c). */
#ifndef RTC_MPCURSOR_H
#define RTC_MPCURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ringtrace/records.h>


struct mp_cursor {
	const uint8_t *p;
	size_t len, off;
};

static inline bool mp_need(const struct mp_cursor *c, size_t n)
{
	return c->len - c->off >= n;
}

static inline uint64_t mp_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* A non-negative integer in any encoding msgpack-c decodes as a positive integer (the unsigned
 * ones, and the signed ones holding a value >= 0). */
static inline bool mp_read_uint(struct mp_cursor *c, uint64_t *v)
{
	static const int8_t width[] = { [0xcc - 0xcc] = 1, [0xcd - 0xcc] = 2, [0xce - 0xcc] = 4, [0xcf - 0xcc] = 8,
					[0xd0 - 0xcc] = -1, [0xd1 - 0xcc] = -2, [0xd2 - 0xcc] = -4, [0xd3 - 0xcc] = -8 };
	uint8_t b;
	int w;

	if (!mp_need(c, 1))
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
	if (!mp_need(c, 1 + (size_t)(w < 0 ? -w : w)))
		return false;
	if (w < 0) {
		w = -w;
		if (c->p[c->off + 1] & 0x80)
			return false; /* negative */
	}
	*v = mp_be(c->p + c->off + 1, w);
	c->off += 1 + (size_t)w;
	return true;
}

static inline bool mp_read_array(struct mp_cursor *c, uint32_t *n)
{
	uint8_t b;

	if (!mp_need(c, 1))
		return false;
	b = c->p[c->off];
	if ((b & 0xf0) == 0x90) {
		*n = b & 0x0f;
		c->off++;
		return true;
	}
	if (b == 0xdc && mp_need(c, 3)) {
		*n = (uint32_t)mp_be(c->p + c->off + 1, 2);
		c->off += 3;
		return true;
	}
	if (b == 0xdd && mp_need(c, 5)) {
		*n = (uint32_t)mp_be(c->p + c->off + 1, 4);
		c->off += 5;
		return true;
	}
	return false;
}

static inline bool mp_read_str(struct mp_cursor *c, struct rt_rec_str *s)
{
	uint8_t b;
	size_t hdr, n;

	if (!mp_need(c, 1))
		return false;
	b = c->p[c->off];
	if ((b & 0xe0) == 0xa0) {
		hdr = 1;
		n = b & 0x1f;
	} else if (b >= 0xd9 && b <= 0xdb) {
		int w = 1 << (b - 0xd9);

		if (!mp_need(c, 1 + (size_t)w))
			return false;
		hdr = 1 + (size_t)w;
		n = (size_t)mp_be(c->p + c->off + 1, w);
	} else {
		return false;
	}
	if (!mp_need(c, hdr) || c->len - c->off - hdr < n)
		return false;
	s->ptr = (const char *)c->p + c->off + hdr;
	s->len = (uint32_t)n;
	c->off += hdr + n;
	return true;
}

/* Skip `items` msgpack values of any type (fields of a later version). Iterative, and the count of
 * values still to skip can never exceed the bytes left, so hostile nesting costs linear time. */
static inline bool mp_skip(struct mp_cursor *c, uint64_t items)
{
	while (items) {
		uint8_t b;
		uint64_t body = 0, more = 0;

		if (!mp_need(c, 1) || items > c->len - c->off)
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
				if (!mp_need(c, lenw[i]))
					return false;
				n = mp_be(c->p + c->off, lenw[i]);
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


/* A bin (or, with str set, a str) value's bytes. */
static inline bool mp_read_bytes(struct mp_cursor *c, const uint8_t **p, size_t *n, bool str)
{
	uint8_t b;
	size_t hdr, len;
	int w;

	if (!mp_need(c, 1))
		return false;
	b = c->p[c->off];
	if (str && (b & 0xe0) == 0xa0) {
		hdr = 1;
		len = b & 0x1f;
	} else if ((str && b >= 0xd9 && b <= 0xdb) || (!str && b >= 0xc4 && b <= 0xc6)) {
		w = 1 << (b - (str ? 0xd9 : 0xc4));
		if (!mp_need(c, 1 + (size_t)w))
			return false;
		hdr = 1 + (size_t)w;
		len = (size_t)mp_be(c->p + c->off + 1, w);
	} else {
		return false;
	}
	if (c->len - c->off - hdr < len)
		return false;
	*p = c->p + c->off + hdr;
	*n = len;
	c->off += hdr + len;
	return true;
}

#endif
