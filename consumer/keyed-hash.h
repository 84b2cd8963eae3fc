/* SPDX-License-Identifier: MIT */
/* Keyed hashing for tables indexed by ids an untrusted stream chooses (task ids, name ids, thread
 * numbers): with a random seed per table, no input can aim its keys at one slot (hash flooding). */
#ifndef RTC_KEYED_HASH_H
#define RTC_KEYED_HASH_H

#include <stdint.h>
#include <sys/random.h>
#include <time.h>

/* A fresh seed (the kernel's randomness; never blocks, falls back to the clock and an address). */
static inline uint64_t rtc_hash_seed(void)
{
	uint64_t seed = 0;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed = ((uint64_t)ts.tv_sec << 32 ^ (uint64_t)ts.tv_nsec) ^ (uint64_t)(uintptr_t)&ts;
	}
	return seed | 1;
}

/* Two keyed multiply-xorshift rounds (splitmix64's constants): every bit of key and seed reaches
 * the low bits a power-of-two table uses. */
static inline uint64_t rtc_hash_u64(uint64_t seed, uint64_t key)
{
	uint64_t h = (key ^ seed) * 0xbf58476d1ce4e5b9ull;

	h ^= h >> 31;
	h = (h ^ (seed >> 23 | seed << 41)) * 0x94d049bb133111ebull;
	return h ^ h >> 29;
}

#endif
