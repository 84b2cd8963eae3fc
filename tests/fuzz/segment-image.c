/* SPDX-License-Identifier: MIT */
/* Encoding (the seed generator) and decoding (fuzz-segment) of segment images: runs of non-zero
 * 64-byte blocks. */
#include "segment-image.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK 64
#define HEADER 17
#define RUN_HEADER 7

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Append the runs of one segment at out (NULL: only count). Returns the bytes they take. */
static size_t runs(uint8_t *out, unsigned seg, const uint8_t *p, size_t len)
{
	size_t n = 0;

	for (size_t at = 0; at < len;) {
		size_t end;

		if (zero(p + at, len - at < BLOCK ? len - at : BLOCK)) {
			at += BLOCK;
			continue;
		}
		for (end = at; end < len && end - at < 65535 - BLOCK; end += BLOCK)
			if (zero(p + end, len - end < BLOCK ? len - end : BLOCK))
				break;
		if (end > len)
			end = len;
		if (out) {
			out[n] = (uint8_t)seg;
			put32(out + n + 1, (uint32_t)at);
			out[n + 5] = (uint8_t)(end - at);
			out[n + 6] = (uint8_t)((end - at) >> 8);
			memcpy(out + n + RUN_HEADER, p + at, end - at);
		}
		n += RUN_HEADER + (end - at);
		at = end;
	}
	return n;
}

uint8_t *segment_image_encode(const struct segment_image *img, size_t *len)
{
	size_t n = HEADER + runs(NULL, 0, img->control, img->control_len);
	uint8_t *out;

	for (unsigned k = 0; k < img->nrings; k++)
		n += runs(NULL, k + 1, img->ring[k], img->ring_len[0]);
	for (unsigned k = 0; k < img->ndirs; k++)
		n += runs(NULL, img->nrings + 1 + k, img->dir[k], img->ring_len[0]);
	out = malloc(n);
	if (!out)
		return NULL;
	put32(out, (uint32_t)img->control_len);
	put32(out + 4, img->nrings || img->ndirs ? (uint32_t)img->ring_len[0] : 0);
	put32(out + 8, img->control_cut);
	put32(out + 12, img->ring_cut);
	out[16] = (uint8_t)(img->nrings | img->ndirs << 3);
	n = HEADER + runs(out + HEADER, 0, img->control, img->control_len);
	for (unsigned k = 0; k < img->nrings; k++)
		n += runs(out + n, k + 1, img->ring[k], img->ring_len[0]);
	for (unsigned k = 0; k < img->ndirs; k++)
		n += runs(out + n, img->nrings + 1 + k, img->dir[k], img->ring_len[0]);
	*len = n;
	return out;
}

static size_t cap_size(uint32_t v)
{
	return v == 0 ? 1 : v > SEGMENT_IMAGE_SIZE_MAX ? SEGMENT_IMAGE_SIZE_MAX : v;
}

bool segment_image_header(const uint8_t *data, size_t size, struct segment_image *hdr, size_t *off)
{
	memset(hdr, 0, sizeof(*hdr));
	if (size < HEADER)
		return false;
	hdr->control_len = cap_size(get32(data));
	for (unsigned k = 0; k < SEGMENT_IMAGE_RINGS; k++)
		hdr->ring_len[k] = cap_size(get32(data + 4));
	hdr->control_cut = get32(data + 8);
	hdr->ring_cut = get32(data + 12);
	hdr->nrings = (data[16] & 7) % (SEGMENT_IMAGE_RINGS + 1);
	hdr->ndirs = (data[16] >> 3 & 3) % (SEGMENT_IMAGE_DIRS + 1);
	hdr->foreign = data[16] & SEGMENT_IMAGE_FOREIGN;
	*off = HEADER;
	return true;
}

bool segment_image_next(const uint8_t *data, size_t size, const struct segment_image *hdr, size_t *off,
			struct segment_run *run)
{
	size_t len, seg_len;

	if (size - *off < RUN_HEADER)
		return false;
	run->segment = data[*off] % (hdr->nrings + hdr->ndirs + 1);
	seg_len = run->segment ? hdr->ring_len[0] : hdr->control_len;
	run->offset = get32(data + *off + 1) % seg_len;
	len = (size_t)data[*off + 5] | (size_t)data[*off + 6] << 8;
	*off += RUN_HEADER;
	if (len > size - *off)
		len = size - *off;
	run->data = data + *off;
	*off += len;
	run->len = len > seg_len - run->offset ? seg_len - run->offset : len;
	return true;
}
