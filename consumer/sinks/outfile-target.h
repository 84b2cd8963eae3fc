/* SPDX-License-Identifier: MIT */
/* Where an output file's bytes go (private to outfile.c): PATH resolved by the rules of outfile.h,
 * opened as a hidden replacement file or a stream, then committed (renamed into place) or aborted. */
#ifndef RTC_OUTFILE_TARGET_H
#define RTC_OUTFILE_TARGET_H

#include <stdbool.h>
#include <sys/types.h>

enum rtc_target_kind {
	RTC_TARGET_STDOUT,  /* "-", /dev/stdout, /dev/stderr: a duplicate of fd 1 or 2 */
	RTC_TARGET_REPLACE, /* a hidden new file in dirfd, renamed over `base` on commit */
	RTC_TARGET_STREAM,  /* a character device, FIFO or socket, written in place */
};

struct rtc_target {
	enum rtc_target_kind kind;
	int fd;         /* where the bytes are written */
	int dirfd;      /* REPLACE: the directory (O_PATH), -1 otherwise */
	bool anonymous; /* REPLACE: an O_TMPFILE without a name until commit */
	bool pipe;      /* a write may raise SIGPIPE (FIFO, socket, stdout) */
	char *base;     /* REPLACE: the final name in dirfd */
	char *temp;     /* REPLACE: the temporary name in dirfd (named or linked at commit), or NULL */
	char *path;     /* as given */
};

/* Open PATH (flags: RTC_OUTFILE_NAMED_TEMP matters). 0 or -errno; nothing left behind on error. */
int rtc_target_open(struct rtc_target *t, const char *path, unsigned flags);

/* Put the file in place and close. 0 or -errno (then as rtc_target_abort()). */
int rtc_target_commit(struct rtc_target *t);

/* Close; a replacement file is removed. */
void rtc_target_abort(struct rtc_target *t);

/* write(2) all of buf; SIGPIPE is never raised (-EPIPE instead). 0 or -errno. */
int rtc_target_write(const struct rtc_target *t, const void *buf, size_t len);

#endif
