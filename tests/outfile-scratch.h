/* SPDX-License-Identifier: MIT */
/* Helpers of the output-file tests: a scratch directory emptied before each test, file contents,
 * a known pattern of BIG bytes. */
#ifndef RT_TEST_OUTFILE_SCRATCH_H
#define RT_TEST_OUTFILE_SCRATCH_H

#include <stddef.h>
#include <sys/types.h>

#include "sinks/outfile.h"

#define BIG (12u << 20) /* three buffers' worth: the writer thread is used */

extern char dir[64]; /* the scratch directory */
extern char *big;    /* BIG bytes of a known pattern */

/* cmocka group setup and teardown (make and remove the directory), and per-test setup (empty it). */
int setup(void **state);
int teardown(void **state);
int clean(void **state);

/* name in the scratch directory. */
void path(char *buf, size_t len, const char *name);

/* Entries of a directory, "." and ".." aside. */
int entries(const char *d);

/* The whole file (malloc'd), its length in *len; NULL if it cannot be read. */
char *slurp(const char *p, size_t *len);

/* Create or truncate p with content and mode. */
void put_file(const char *p, const char *content, mode_t mode);

/* Write the BIG pattern in 64 KiB pieces, each accepted. */
void write_big(struct rtc_outfile *f);

/* p is the character device maj:min. */
void assert_char_device(const char *p, unsigned maj, unsigned min);

#endif
