/* SPDX-License-Identifier: MIT */
/* A structure-aware libFuzzer mutator for raw captures: the capture as msgpack messages, mutated by
 * message (copy, drop, swap, integers set to edge values, a chunk's records mutated as bytes). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mpcursor.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

#define MAX_MSGS 4096
#define MAX_ELEMS 65536
#define MAX_OUT (1u << 20)

enum etype { E_UINT, E_STR, E_BIN, E_RAW };

struct elem {
	enum etype type;
	uint64_t u;
	const uint8_t *p; /* bytes of a str or bin; the whole value for E_RAW */
	size_t len;
};

struct msg {
	size_t first, n; /* elements [first, first + n) */
	const uint8_t *raw;
	size_t raw_len; /* not an array of ours: kept as bytes */
};

static struct msg msgs[MAX_MSGS];
static struct elem elems[MAX_ELEMS];
static size_t nmsgs, nelems;
static uint8_t out[MAX_OUT], scratch[MAX_OUT];
static uint64_t rng;
static bool bytes_mutated; /* scratch holds one mutated str or bin per call */

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static bool parse_msg(struct mp_cursor *c, struct msg *m)
{
	struct mp_cursor start = *c;
	uint32_t n;

	m->raw = NULL;
	m->first = nelems;
	m->n = 0;
	if (!mp_read_array(c, &n) || n > 64 || nelems + n > MAX_ELEMS) {
		*c = start;
		if (!mp_skip(c, 1))
			return false;
		m->raw = c->p + start.off;
		m->raw_len = c->off - start.off;
		return true;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct elem *e = &elems[nelems++];
		struct mp_cursor at = *c;

		if (mp_read_uint(c, &e->u)) {
			e->type = E_UINT;
		} else if (*c = at, mp_read_bytes(c, &e->p, &e->len, true)) {
			e->type = E_STR;
		} else if (*c = at, mp_read_bytes(c, &e->p, &e->len, false)) {
			e->type = E_BIN;
		} else {
			*c = at;
			if (!mp_skip(c, 1))
				return false;
			e->type = E_RAW;
			e->p = c->p + at.off;
			e->len = c->off - at.off;
		}
		m->n++;
	}
	return true;
}

/* The input as messages; what does not parse is dropped (the byte mutator keeps such inputs). */
static bool parse(const uint8_t *data, size_t size)
{
	struct mp_cursor c = { data, size, 0 };

	nmsgs = nelems = 0;
	while (c.off < size && nmsgs < MAX_MSGS)
		if (!parse_msg(&c, &msgs[nmsgs++])) {
			nmsgs--;
			break;
		}
	return nmsgs > 1;
}

struct writer {
	uint8_t *p;
	size_t len, cap;
	bool full;
};

static void put(struct writer *w, const void *b, size_t n)
{
	if (w->full || w->cap - w->len < n) {
		w->full = true;
		return;
	}
	memcpy(w->p + w->len, b, n);
	w->len += n;
}

static void put_head(struct writer *w, uint8_t tag, uint64_t v, int bytes)
{
	uint8_t b[9] = { tag };

	for (int i = 0; i < bytes; i++)
		b[1 + i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	put(w, b, 1 + (size_t)bytes);
}

static void put_uint(struct writer *w, uint64_t v)
{
	if (v < 0x80)
		put_head(w, (uint8_t)v, 0, 0);
	else if (v <= UINT8_MAX)
		put_head(w, 0xcc, v, 1);
	else if (v <= UINT16_MAX)
		put_head(w, 0xcd, v, 2);
	else if (v <= UINT32_MAX)
		put_head(w, 0xce, v, 4);
	else
		put_head(w, 0xcf, v, 8);
}

static void put_bytes(struct writer *w, bool str, const uint8_t *p, size_t n)
{
	if (str && n < 32)
		put_head(w, (uint8_t)(0xa0 | n), 0, 0);
	else if (n <= UINT8_MAX)
		put_head(w, str ? 0xd9 : 0xc4, n, 1);
	else if (n <= UINT16_MAX)
		put_head(w, str ? 0xda : 0xc5, n, 2);
	else
		put_head(w, str ? 0xdb : 0xc6, n, 4);
	put(w, p, n);
}

static void put_msg(struct writer *w, const struct msg *m)
{
	if (m->raw) {
		put(w, m->raw, m->raw_len);
		return;
	}
	if (m->n < 16)
		put_head(w, (uint8_t)(0x90 | m->n), 0, 0);
	else
		put_head(w, 0xdc, m->n, 2);
	for (size_t i = 0; i < m->n; i++) {
		const struct elem *e = &elems[m->first + i];

		if (e->type == E_UINT)
			put_uint(w, e->u);
		else if (e->type == E_RAW)
			put(w, e->p, e->len);
		else
			put_bytes(w, e->type == E_STR, e->p, e->len);
	}
}

/* An edge value, a neighbour of v, or another integer of the input. */
static uint64_t interesting(uint64_t v)
{
	static const uint64_t edges[] = { 0, 1, 2, 3, 7, 15, 16, 64, 127, 128, 255, 256, 1023, 1024, 65535, 65536,
					  (1u << 22) - 1, 1u << 22, UINT32_MAX, 1ull << 32, 1ull << 62, INT64_MAX,
					  UINT64_MAX - 1, UINT64_MAX };

	switch (rnd() % 4) {
	case 0:
		return edges[rnd() % (sizeof(edges) / sizeof(edges[0]))];
	case 1:
		return v + 1;
	case 2:
		return v - 1;
	default: {
		const struct elem *e = &elems[rnd() % nelems];

		return e->type == E_UINT ? e->u : v ^ (1ull << (rnd() % 64));
	}
	}
}

/* One structural change to the parsed messages (never the header, message 0). */
static void mutate_messages(void)
{
	size_t i = 1 + rnd() % (nmsgs - 1), j = 1 + rnd() % (nmsgs - 1);
	struct msg *m = &msgs[i];

	switch (rnd() % 6) {
	case 0: /* an integer element */
	case 1:
		if (!m->raw && m->n) {
			struct elem *e = &elems[m->first + rnd() % m->n];

			if (e->type == E_UINT)
				e->u = interesting(e->u);
		}
		break;
	case 2: /* a chunk's records (or a string) mutated as bytes */
		for (size_t k = 0; !m->raw && !bytes_mutated && k < m->n; k++) {
			struct elem *e = &elems[m->first + k];
			size_t room = sizeof(scratch) / 2, n;

			if (e->type != E_BIN && e->type != E_STR)
				continue;
			/* The mutated copy lives in the upper half of scratch until serialized. */
			memcpy(scratch + room, e->p, e->len < room / 2 ? e->len : room / 2);
			n = LLVMFuzzerMutate(scratch + room, e->len < room / 2 ? e->len : room / 2, room / 2);
			e->p = scratch + room;
			e->len = n;
			bytes_mutated = true;
			break;
		}
		break;
	case 3: /* a copy of a message elsewhere */
		if (nmsgs < MAX_MSGS) {
			memmove(&msgs[j + 1], &msgs[j], (nmsgs - j) * sizeof(msgs[0]));
			msgs[j] = msgs[i < j ? i : i + 1];
			nmsgs++;
		}
		break;
	case 4: /* a message dropped */
		if (nmsgs > 2) {
			memmove(&msgs[i], &msgs[i + 1], (nmsgs - i - 1) * sizeof(msgs[0]));
			nmsgs--;
		}
		break;
	default: { /* two messages swapped */
		struct msg t = msgs[i];

		msgs[i] = msgs[j];
		msgs[j] = t;
		break;
	}
	}
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
	struct writer w = { out, 0, max_size < MAX_OUT ? max_size : MAX_OUT, false };

	rng = (uint64_t)seed * 0x9e3779b97f4a7c15ull + 1;
	bytes_mutated = false;
	/* A third of the time, and whenever the input is not a stream of messages: bytes. */
	if (rnd() % 3 == 0 || !parse(data, size))
		return LLVMFuzzerMutate(data, size, max_size);
	for (int k = 1 + (int)(rnd() % 3); k > 0; k--)
		mutate_messages();
	for (size_t i = 0; i < nmsgs; i++)
		put_msg(&w, &msgs[i]);
	if (w.full || w.len == 0)
		return LLVMFuzzerMutate(data, size, max_size);
	memcpy(data, out, w.len);
	return w.len;
}
