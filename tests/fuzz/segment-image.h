/* SPDX-License-Identifier: MIT */
/* A process's shared-memory segments (its control segment and a few rings) in a compact form for
 * fuzzing: sizes, where to truncate them, and runs of bytes over zeros (real segments are sparse). */
#ifndef RT_FUZZ_SEGMENT_IMAGE_H
#define RT_FUZZ_SEGMENT_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEGMENT_IMAGE_RINGS 4
/* Sizes an image may give its segments (sparse files: only what is written takes memory). */
#define SEGMENT_IMAGE_SIZE_MAX (1u << 30)

/*
 * Layout, little-endian:
 *   u32 control_len, u32 ring_len, u32 control_cut, u32 ring_cut, u8 flags (nrings, and
 *   SEGMENT_IMAGE_FOREIGN: keep the pid and uid the segments claim)
 *   then runs: u8 segment (0 control, k = ring k-1), u32 offset, u16 len, len bytes
 * Every ring has ring_len bytes. A cut (0: none) truncates that segment once the
 * consumer has attached, as a producer that dies or misbehaves can: to (cut - 1) % len bytes. Offsets wrap at the segment's
 * size and runs are clipped to it, so that every input means something. Unless FOREIGN, the
 * segments are made the fuzzing process's own (its pid and uid in their headers), so that seeds
 * recorded by another process attach.
 */
#define SEGMENT_IMAGE_FOREIGN 0x80
struct segment_image {
	uint8_t *control, *ring[SEGMENT_IMAGE_RINGS];
	size_t control_len, ring_len[SEGMENT_IMAGE_RINGS];
	uint32_t control_cut, ring_cut;
	unsigned nrings;
	bool foreign;
};

/* Encode full segment contents (malloc'd, *len set; NULL on allocation failure). The rings'
 * lengths must be equal (the first one's is used). */
uint8_t *segment_image_encode(const struct segment_image *img, size_t *len);

struct segment_run {
	unsigned segment; /* 0 control, k ring k - 1 */
	uint64_t offset;
	const uint8_t *data;
	size_t len;
};

/* Header of an encoded image: false when data is too short. Sizes are capped at
 * SEGMENT_IMAGE_SIZE_MAX (and made at least 1) and nrings at SEGMENT_IMAGE_RINGS. */
bool segment_image_header(const uint8_t *data, size_t size, struct segment_image *hdr, size_t *off);

/* The next run at *off (advanced), clipped to its segment; false at the end. */
bool segment_image_next(const uint8_t *data, size_t size, const struct segment_image *hdr, size_t *off,
			struct segment_run *run);

#endif
