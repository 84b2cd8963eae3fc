/* SPDX-License-Identifier: MIT */
/* Name table: the dense part grows only while the ids stay close to the number of names held. */
#include "name-table.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "keyed-hash.h"
#include "stats/json.h"

/* Ids below twice the names held plus this go to the dense array: a producer's ids are dense from
 * 1, and one far-off id costs no more than a few slots (it was 1024: 16 KB for one name). */
#define DENSE_SLACK 16u

void rtc_name_table_init(struct rtc_name_table *t)
{
	memset(t, 0, sizeof(*t));
	t->seed = rtc_hash_seed();
}

void rtc_name_table_fini(struct rtc_name_table *t)
{
	for (uint32_t i = 0; i < t->dense_cap; i++)
		free((char *)t->dense[i].s);
	for (uint32_t i = 0; i < t->sparse_cap; i++)
		free((char *)t->sparse[i].n.s);
	free(t->dense);
	free(t->sparse);
	memset(t, 0, sizeof(*t));
}

static uint32_t hash(const struct rtc_name_table *t, uint32_t id)
{
	return (uint32_t)rtc_hash_u64(t->seed, id);
}

static int sparse_grow(struct rtc_name_table *t)
{
	uint32_t cap = t->sparse_cap ? t->sparse_cap * 2 : 64;
	__typeof__(t->sparse) n = calloc(cap, sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->sparse_cap; i++) {
		uint32_t j;

		if (!t->sparse[i].n.s)
			continue;
		for (j = hash(t, t->sparse[i].id) & (cap - 1); n[j].n.s; j = (j + 1) & (cap - 1))
			;
		n[j] = t->sparse[i];
	}
	free(t->sparse);
	t->sparse = n;
	t->sparse_cap = cap;
	return 0;
}

static struct rtc_name *slot(struct rtc_name_table *t, uint32_t id, bool create)
{
	if (id < t->dense_cap)
		return &t->dense[id];
	if (create && id < 2 * t->count + DENSE_SLACK) {
		uint32_t cap = t->dense_cap ? t->dense_cap : 16;
		struct rtc_name *n;

		while (cap <= id)
			cap *= 2;
		n = realloc(t->dense, cap * sizeof(*n));
		if (!n)
			return NULL;
		memset(n + t->dense_cap, 0, (cap - t->dense_cap) * sizeof(*n));
		t->dense = n;
		t->dense_cap = cap;
		return &t->dense[id];
	}
	if (t->sparse_cap) {
		for (uint32_t j = hash(t, id) & (t->sparse_cap - 1);; j = (j + 1) & (t->sparse_cap - 1)) {
			if (!t->sparse[j].n.s)
				break;
			if (t->sparse[j].id == id)
				return &t->sparse[j].n;
		}
	}
	if (!create)
		return NULL;
	if ((t->sparse_count + 1) * 2 > t->sparse_cap && sparse_grow(t) < 0)
		return NULL;
	for (uint32_t j = hash(t, id) & (t->sparse_cap - 1);; j = (j + 1) & (t->sparse_cap - 1)) {
		if (!t->sparse[j].n.s) {
			t->sparse[j].id = id;
			t->sparse_count++;
			return &t->sparse[j].n;
		}
	}
}

/* s as valid UTF-8: each byte that is not part of a valid sequence becomes U+FFFD, as every output
 * writes it. Done once here, so that names every output shows alike are one name everywhere (the
 * statistics key spans by name: two names differing only in invalid bytes were two entries written
 * with the same name, which the statistics reader rightly refuses). *out_len gets the length. */
static char *valid_utf8(const char *s, size_t len, size_t *out_len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0, l;
	char *copy;

	for (size_t i = 0; i < len; i += l ? l : 1)
		n += (l = rtc_utf8_len(p + i, len - i)) ? l : 3;
	copy = malloc(n + 1);
	if (!copy)
		return NULL;
	n = 0;
	for (size_t i = 0; i < len; i += l ? l : 1) {
		l = rtc_utf8_len(p + i, len - i);
		memcpy(copy + n, l ? s + i : "\xef\xbf\xbd", l ? l : 3);
		n += l ? l : 3;
	}
	copy[n] = 0;
	*out_len = n;
	return copy;
}

int rtc_name_table_set(struct rtc_name_table *t, uint32_t id, const char *s, size_t len)
{
	char *copy = valid_utf8(s, len, &len);
	struct rtc_name *n;

	if (!copy)
		return -ENOMEM;
	n = slot(t, id, true);
	if (!n) {
		free(copy);
		return -ENOMEM;
	}
	if (n->s)
		free((char *)n->s);
	else
		t->count++;
	n->s = copy;
	n->len = (uint32_t)len;
	return 0;
}

const struct rtc_name *rtc_name_table_get(const struct rtc_name_table *t, uint32_t id)
{
	const struct rtc_name *n = slot((struct rtc_name_table *)t, id, false);

	return n && n->s ? n : NULL;
}
