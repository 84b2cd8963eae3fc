/* SPDX-License-Identifier: MIT */
/* Aligned text tables for the terminal: cells of strings, columns padded to their display width (code
 * points), names made safe to print. Used by the statistics tables, `diff` and `top`. */
#ifndef RTC_TEXT_TABLE_H
#define RTC_TEXT_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct rtc_tt {
	size_t ncols, nrows, cap;
	char **cell;      /* nrows * ncols, row 0 = header */
	const char *left; /* per column: 'l' left-aligned, else right */
	bool oom;         /* a cell could not be made: the table is incomplete */
};

/* left: one character per column ('l' = left-aligned), kept by pointer. */
void rtc_tt_init(struct rtc_tt *t, size_t ncols, const char *left);
void rtc_tt_free(struct rtc_tt *t);
/* A new row of empty cells (NULL on no memory; setters accept NULL rows). */
char **rtc_tt_row(struct rtc_tt *t);
void rtc_tt_set(struct rtc_tt *t, char **row, size_t col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A name as given (any bytes): control characters and invalid UTF-8 bytes become '?'. */
void rtc_tt_name(struct rtc_tt *t, char **row, size_t col, const char *name, size_t len);
/* Display width of a UTF-8 string (code points). */
size_t rtc_tt_width(const char *s);
/* Print every row; max_width > 0 cuts each line to that many columns (a terminal's width). */
void rtc_tt_print(struct rtc_tt *t, FILE *f);
void rtc_tt_print_cut(struct rtc_tt *t, FILE *f, size_t max_width);

#endif
