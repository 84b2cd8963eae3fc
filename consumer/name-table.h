/* SPDX-License-Identifier: MIT */
/* A process's name ids -> names, as the stream delivers them: memory in proportion to the names
 * present whatever ids an untrusted stream claims (dense ids in an array, far-off ones hashed with a
 * random key, so that no choice of ids makes lookups slow). */
#ifndef RTC_NAME_TABLE_H
#define RTC_NAME_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct rtc_name {
	const char *s; /* NUL-terminated */
	uint32_t len;
};

struct rtc_name_table {
	struct rtc_name *dense; /* ids below dense_cap */
	uint32_t dense_cap;
	struct {
		uint32_t id;
		struct rtc_name n;
	} *sparse; /* open addressing, sparse_cap a power of two; s == NULL marks a free slot */
	uint32_t sparse_cap, sparse_count;
	uint64_t seed; /* of the sparse part's keyed hash (keyed-hash.h) */
	uint32_t count; /* names held */
};

void rtc_name_table_init(struct rtc_name_table *t);
void rtc_name_table_fini(struct rtc_name_table *t);

/* Set (or replace) id's name, made valid UTF-8 (invalid bytes become U+FFFD). 0 or -ENOMEM. */
int rtc_name_table_set(struct rtc_name_table *t, uint32_t id, const char *s, size_t len);

/* id's name, or NULL. */
const struct rtc_name *rtc_name_table_get(const struct rtc_name_table *t, uint32_t id);

#endif
