/* SPDX-License-Identifier: MIT */
/* Lock-free interning into the control segment's name table (see docs/format.md "Name table"). */
#include "names.h"

#include <stdlib.h>
#include <string.h>

#include "process.h"

/* Every offset and capacity is our copy of the layout (rt__proc.layout), never the segment's: other
 * processes can write there. So can they the table's contents (offsets, hash slots, entry bytes):
 * what we read back of those is bounds-checked before use. */
static uint32_t *name_offsets(struct rt_shm_control *ctl)
{
	return (uint32_t *)(void *)((char *)ctl + rt__proc.layout.names_offset);
}

static _Atomic uint32_t *hash_slots(struct rt_shm_control *ctl)
{
	return (_Atomic uint32_t *)(void *)((char *)ctl + rt__proc.layout.hash_offset);
}

static uint8_t *arena(struct rt_shm_control *ctl)
{
	return (uint8_t *)ctl + rt__proc.layout.arena_offset;
}

static uint32_t fnv1a(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)s[i];
		h *= 16777619u;
	}
	return h;
}

/* Allocate an id and arena bytes for the string, copy it and publish the id's offset. */
static uint32_t append(struct rt_shm_control *ctl, const char *s, uint32_t len, uint8_t flags)
{
	uint32_t need = RT_NAME_HDR_SIZE + len;
	/* Relaxed: the counters only hand out disjoint ranges; publication is the release below. */
	uint32_t id = atomic_fetch_add_explicit(&ctl->names_count, 1, memory_order_relaxed);
	uint32_t off;
	uint8_t *e;

	if (id >= rt__proc.layout.names_capacity) {
		atomic_fetch_add_explicit(&ctl->name_overflows, 1, memory_order_relaxed);
		return RT_NAME_ID_OVERFLOW;
	}
	off = atomic_fetch_add_explicit(&ctl->arena_used, need, memory_order_relaxed);
	/* Full, or no memory behind the bytes (a full /dev/shm): writing there would fault. The id
	 * stays unpublished (offset 0): consumers show it as unknown. */
	if (off > rt__proc.layout.arena_size || need > rt__proc.layout.arena_size - off ||
	    rt__process_claim_arena(ctl, off + need) < 0) {
		atomic_fetch_add_explicit(&ctl->name_overflows, 1, memory_order_relaxed);
		return RT_NAME_ID_OVERFLOW;
	}
	e = arena(ctl) + off;
	e[0] = (uint8_t)(len & 0xff);
	e[1] = (uint8_t)(len >> 8);
	e[2] = flags;
	memcpy(e + RT_NAME_HDR_SIZE, s, len);
	/* Release: the bytes above are visible to whoever acquires this offset (consumer's name
	 * reader, or another producer thread comparing through the hash index). */
	atomic_store_explicit((_Atomic uint32_t *)&name_offsets(ctl)[id], off, memory_order_release);
	return id;
}

static bool entry_equals(struct rt_shm_control *ctl, uint32_t id, const char *s, uint32_t len)
{
	uint32_t off, claimed;
	const uint8_t *e;

	if (id >= rt__proc.layout.names_capacity)
		return false;
	/* Acquire pairs with the release in append(): the entry bytes are complete. */
	off = atomic_load_explicit((_Atomic uint32_t *)&name_offsets(ctl)[id], memory_order_acquire);
	/* Within the part of the arena backed by memory, not merely within the arena: a read of a
	 * hole allocates a page, and with /dev/shm full that is SIGBUS. */
	claimed = rt__process_arena_claimed();
	if (off == 0 || off > claimed || RT_NAME_HDR_SIZE + len > claimed - off)
		return false;
	e = arena(ctl) + off;
	return (uint32_t)(e[0] | (e[1] << 8)) == len && memcmp(e + RT_NAME_HDR_SIZE, s, len) == 0;
}

static uint32_t intern_bytes(struct rt_shm_control *ctl, const char *s, uint32_t len, uint8_t flags)
{
	_Atomic uint32_t *slots = hash_slots(ctl);
	uint32_t mask = rt__proc.layout.hash_slots - 1;
	uint32_t h = fnv1a(s, len);

	for (uint32_t probe = 0; probe < 128; probe++) {
		_Atomic uint32_t *slot = &slots[(h + probe) & mask];
		/* Acquire pairs with the release CAS below: the slot's id is published. */
		uint32_t v = atomic_load_explicit(slot, memory_order_acquire);
		uint32_t id;

		if (v != 0) {
			if (entry_equals(ctl, v - 1, s, len))
				return v - 1;
			continue;
		}
		id = append(ctl, s, len, flags);
		if (id == RT_NAME_ID_OVERFLOW)
			return id;
		if (atomic_compare_exchange_strong_explicit(slot, &v, id + 1, memory_order_release,
							    memory_order_acquire))
			return id;
		/* Lost the race for this slot: if the winner holds our string use its id (ours stays
		 * a harmless duplicate), otherwise keep probing. */
		if (entry_equals(ctl, v - 1, s, len))
			return v - 1;
	}
	/* Index saturated: still give the string an id, just without deduplication. */
	return append(ctl, s, len, flags);
}

uint32_t rt__names_intern(struct rt_shm_control *ctl, const char *name, bool *truncated)
{
	size_t len;

	*truncated = false;
	if (!name)
		return RT_NAME_ID_NULL;
	len = strnlen(name, RT_SHM_NAME_MAX_LEN + 1);
	if (len > RT_SHM_NAME_MAX_LEN) {
		len = RT_SHM_NAME_MAX_LEN;
		*truncated = true;
	}
	return intern_bytes(ctl, name, (uint32_t)len, *truncated ? RT_NAME_FLAG_TRUNCATED : 0);
}

void rt__names_init(struct rt_shm_control *ctl)
{
	/* Offset 0 means "unpublished", so the arena starts after a pad. */
	atomic_store_explicit(&ctl->arena_used, 8, memory_order_relaxed);
	if (append(ctl, "<null>", 6, 0) != RT_NAME_ID_NULL || append(ctl, "<overflow>", 10, 0) != RT_NAME_ID_OVERFLOW)
		return;
}

struct rt__names_snapshot {
	uint32_t count;
	uint32_t arena_used;
	uint32_t names_capacity, arena_size, hash_slots;
	uint32_t *offsets;
	uint8_t *arena;
	uint32_t *hash;
};

struct rt__names_snapshot *rt__names_snapshot(const struct rt_shm_control *ctl)
{
	const struct rt__control_layout *lay = &rt__proc.layout;
	struct rt__names_snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	/* Our own segment, and the only thread left (fork child): plain reads are fine. */
	s->count = atomic_load_explicit(&ctl->names_count, memory_order_acquire);
	if (s->count > lay->names_capacity)
		s->count = lay->names_capacity;
	s->arena_used = atomic_load_explicit(&ctl->arena_used, memory_order_acquire);
	if (s->arena_used > rt__process_arena_claimed())
		s->arena_used = rt__process_arena_claimed();
	s->names_capacity = lay->names_capacity;
	s->arena_size = lay->arena_size;
	s->hash_slots = lay->hash_slots;
	s->offsets = malloc(s->count * sizeof(uint32_t) + 1);
	s->arena = malloc(s->arena_used + 1);
	s->hash = malloc(s->hash_slots * sizeof(uint32_t));
	if (!s->offsets || !s->arena || !s->hash) {
		rt__names_snapshot_free(s);
		return NULL;
	}
	memcpy(s->offsets, (const char *)ctl + lay->names_offset, s->count * sizeof(uint32_t));
	memcpy(s->arena, (const char *)ctl + lay->arena_offset, s->arena_used);
	memcpy(s->hash, (const char *)ctl + lay->hash_offset, s->hash_slots * sizeof(uint32_t));
	/* Entries beyond the claimed arena (refused names) must not be restored as published. */
	for (uint32_t i = 0; i < s->count; i++)
		if (s->offsets[i] >= s->arena_used)
			s->offsets[i] = 0;
	return s;
}

uint32_t rt__names_snapshot_arena(const struct rt__names_snapshot *s)
{
	return s ? s->arena_used : 0;
}

void rt__names_restore(struct rt_shm_control *ctl, const struct rt__names_snapshot *s)
{
	const struct rt__control_layout *lay = &rt__proc.layout;

	if (s->names_capacity != lay->names_capacity || s->arena_size != lay->arena_size ||
	    s->hash_slots != lay->hash_slots)
		return;
	/* The segment is not published yet (no magic): plain copies, then the counters. */
	memcpy((char *)ctl + lay->names_offset, s->offsets, s->count * sizeof(uint32_t));
	memcpy((char *)ctl + lay->arena_offset, s->arena, s->arena_used);
	memcpy((char *)ctl + lay->hash_offset, s->hash, s->hash_slots * sizeof(uint32_t));
	atomic_store_explicit(&ctl->names_count, s->count, memory_order_relaxed);
	atomic_store_explicit(&ctl->arena_used, s->arena_used, memory_order_relaxed);
}

void rt__names_snapshot_free(struct rt__names_snapshot *s)
{
	if (!s)
		return;
	free(s->offsets);
	free(s->arena);
	free(s->hash);
	free(s);
}
