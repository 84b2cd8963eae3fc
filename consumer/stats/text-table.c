/* SPDX-License-Identifier: MIT */
/* Aligned text tables: strings per cell, widths in code points, names sanitised for the terminal. */
#include "text-table.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

void rtc_tt_init(struct rtc_tt *t, size_t ncols, const char *left)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->left = left;
}

void rtc_tt_free(struct rtc_tt *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cell[i]);
	free(t->cell);
	t->cell = NULL;
	t->nrows = t->cap = 0;
}

char **rtc_tt_row(struct rtc_tt *t)
{
	if (t->oom)
		return NULL;
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **c = realloc(t->cell, cap * t->ncols * sizeof(*c));

		if (!c) {
			t->oom = true;
			return NULL;
		}
		t->cell = c;
		t->cap = cap;
	}
	memset(t->cell + t->nrows * t->ncols, 0, t->ncols * sizeof(*t->cell));
	return t->cell + t->nrows++ * t->ncols;
}

void rtc_tt_set(struct rtc_tt *t, char **row, size_t col, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (!row)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		t->oom = true;
		s = NULL;
	}
	va_end(ap);
	free(row[col]);
	row[col] = s;
}

void rtc_tt_name(struct rtc_tt *t, char **row, size_t col, const char *name, size_t len)
{
	const unsigned char *p = (const unsigned char *)name;
	char *s, *o;

	if (!row)
		return;
	s = o = malloc(len + 1);
	if (!s) {
		t->oom = true;
		return;
	}
	for (size_t i = 0; i < len;) {
		size_t l = rtc_utf8_len(p + i, len - i);

		if (l == 0 || (l == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
			*o++ = '?';
			i++;
		} else {
			memcpy(o, p + i, l);
			o += l;
			i += l;
		}
	}
	*o = 0;
	free(row[col]);
	row[col] = s;
}

size_t rtc_tt_width(const char *s)
{
	size_t w = 0;

	for (; s && *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

/* s cut to at most n code points: the byte length. */
static size_t cut(const char *s, size_t n)
{
	size_t i = 0;

	for (size_t w = 0; s[i]; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80 && w++ == n)
			break;
	}
	return i;
}

void rtc_tt_print_cut(struct rtc_tt *t, FILE *f, size_t max_width)
{
	size_t *w = calloc(t->ncols, sizeof(*w));

	if (!w) {
		t->oom = true;
		return;
	}
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t x = rtc_tt_width(t->cell[r * t->ncols + c]);

			if (x > w[c])
				w[c] = x;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		size_t used = 0, room = max_width ? max_width : SIZE_MAX;

		for (size_t c = 0; c < t->ncols && used < room; c++) {
			const char *s = t->cell[r * t->ncols + c] ? t->cell[r * t->ncols + c] : "";
			size_t pad = w[c] - rtc_tt_width(s), sw = rtc_tt_width(s);
			bool last = c + 1 == t->ncols;

			if (t->left[c] != 'l') {
				size_t p = pad < room - used ? pad : room - used;

				fprintf(f, "%*s", (int)p, "");
				used += p;
			}
			if (sw <= room - used) {
				fputs(s, f);
				used += sw;
			} else {
				fwrite(s, 1, cut(s, room - used), f);
				used = room;
			}
			if (t->left[c] == 'l' && !last && used < room) {
				size_t p = pad < room - used ? pad : room - used;

				fprintf(f, "%*s", (int)p, "");
				used += p;
			}
			if (!last && used + 2 <= room) {
				fputs("  ", f);
				used += 2;
			} else if (!last) {
				used = room;
			}
		}
		putc('\n', f);
	}
	free(w);
}

void rtc_tt_print(struct rtc_tt *t, FILE *f)
{
	rtc_tt_print_cut(t, f, 0);
}
