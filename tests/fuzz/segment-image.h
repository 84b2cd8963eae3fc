/* SPDX-License-Identifier: MIT */
/* A process's shared-memory segments (its control segment, a few rings and thread directory
 * extensions) in a compact form for fuzzing: sizes, where to truncate them, and runs of bytes over
 * zeros (real segments are sparse). */
#ifndef RT_FUZZ_SEGMENT_IMAGE_H
#define RT_FUZZ_SEGMENT_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SEGMENT_IMAGE_RINGS 4
#define SEGMENT_IMAGE_DIRS 3
/* Sizes an image may give its segments (sparse files: only what is written takes memory). */
#define SEGMENT_IMAGE_SIZE_MAX (1u << 30)

/*
 * Layout, little-endian:
 *   u32 control_len, u32 ring_len, u32 control_cut, u32 ring_cut, u8 flags: bits 0-2 nrings
 *   (mod 5), bits 3-4 ndirs, SEGMENT_IMAGE_FOREIGN (keep the pid and uid the segments claim)
 *   then runs: u8 segment (0 control, 1..nrings the rings, then the directory extensions), u32
 *   offset, u16 len, len bytes
 * Every ring and directory extension (ABI 1.2) has ring_len bytes. A cut (0: none) truncates that segment once the
 * consumer has attached, as a producer that dies or misbehaves can: to (cut - 1) % len bytes. Offsets wrap at the segment's
 * size and runs are clipped to it, so that every input means something. Unless FOREIGN, the
 * segments are made the fuzzing process's own (its pid and uid in their headers), so that seeds
 * recorded by another process attach.
 */
#define SEGMENT_IMAGE_FOREIGN 0x80
struct segment_image {
	uint8_t *control, *ring[SEGMENT_IMAGE_RINGS], *dir[SEGMENT_IMAGE_DIRS];
	size_t control_len, ring_len[SEGMENT_IMAGE_RINGS];
	uint32_t control_cut, ring_cut;
	unsigned nrings, ndirs;
	bool foreign;
};

/* Encode full segment contents (malloc'd, *len set; NULL on allocation failure). The rings and
 * directory extensions are ring_len[0] bytes (shorter ones are padded with zeros by the caller). */
uint8_t *segment_image_encode(const struct segment_image *img, size_t *len);

struct segment_run {
	unsigned segment; /* 0 control, 1..nrings a ring, then a directory extension */
	uint64_t offset;
	const uint8_t *data;
	size_t len;
};

/* Header of an encoded image: false when data is too short. Sizes are capped at
 * SEGMENT_IMAGE_SIZE_MAX (and made at least 1), nrings at SEGMENT_IMAGE_RINGS, ndirs at
 * SEGMENT_IMAGE_DIRS. */
bool segment_image_header(const uint8_t *data, size_t size, struct segment_image *hdr, size_t *off);

/* The next run at *off (advanced), clipped to its segment; false at the end. */
bool segment_image_next(const uint8_t *data, size_t size, const struct segment_image *hdr, size_t *off,
			struct segment_run *run);

#endif
