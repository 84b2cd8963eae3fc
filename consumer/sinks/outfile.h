/* SPDX-License-Identifier: MIT */
/* Output files: the one place that writes them, for every file sink (Chrome JSON, raw captures,
 * statistics): atomic replacement of regular files, streaming to stdout, pipes and devices, gzip.
 *
 * Where the bytes go, by what PATH is when it is opened:
 *   "-", "/dev/stdout"       standard output (fd 1, duplicated; never closed, never replaced);
 *                            "/dev/stderr" likewise.
 *   a regular file, or none  a new file in the same directory, invisible until commit (O_TMPFILE,
 *                            or an exclusive random name created with O_CREAT|O_EXCL|O_NOFOLLOW
 *                            where the filesystem lacks O_TMPFILE), then renamed over PATH: a
 *                            reader sees the old file or the complete new one, never a part.
 *                            Mode 0666 minus the umask, or the replaced file's mode minus the
 *                            umask; owned by the caller. Not fsync()ed.
 *   a character device,      opened in place (O_NOFOLLOW, no truncation) and streamed; it stays
 *   FIFO or socket           what it is. A FIFO must have a reader when it is opened (-ENXIO).
 *   a symbolic link          owned by the caller or root: followed, and its target is treated by
 *                            these rules (the link itself stays). Owned by anyone else: refused
 *                            (-ELOOP), whoever the caller is, even where fs.protected_symlinks=0.
 *   anything else            refused: a directory (-EISDIR), a missing directory (-ENOENT), one not
 *                            writable (-EACCES, -EROFS), a block device (-ENOTSUP), a regular file
 *                            of another user in a sticky directory (-EPERM).
 * A name ending in ".gz" is written gzip-compressed (zlib deflate at level 1, one member, as
 * gzip(1), Perfetto UI and chrome://tracing read it).
 *
 * Threads: a handle is used by one thread at a time. With RTC_OUTFILE_THREAD a writer thread of
 * its own (nice 10) compresses and writes full buffers while the caller fills the next one; at
 * most RTC_OUTFILE_BUFFERS buffers of RTC_OUTFILE_BUFFER_SIZE bytes exist, then the caller waits.
 * Writes to pipes never raise SIGPIPE in the process (-EPIPE is returned instead). */
#ifndef RTC_OUTFILE_H
#define RTC_OUTFILE_H

#include <stddef.h>
#include <stdint.h>

#define RTC_OUTFILE_BUFFER_SIZE (4u << 20)
#define RTC_OUTFILE_BUFFERS 4
/* The most rtc_outfile_reserve() may be asked for. */
#define RTC_OUTFILE_RESERVE_MAX (1u << 20)

enum rtc_outfile_flags {
	RTC_OUTFILE_THREAD = 1u << 0,      /* write from a background thread */
	RTC_OUTFILE_GZIP = 1u << 1,        /* compress whatever the name ("-" included) */
	RTC_OUTFILE_PLAIN = 1u << 2,       /* never compress, even when the name ends in ".gz" */
	RTC_OUTFILE_NAMED_TEMP = 1u << 3,  /* exclusive named temporary file even where O_TMPFILE works */
};

struct rtc_outfile;

struct rtc_outfile_stats {
	uint64_t bytes_in;    /* handed to the file */
	uint64_t bytes_out;   /* written to the kernel (compressed size with gzip) */
	uint64_t compress_ns; /* spent in deflate */
	uint64_t write_ns;    /* spent in write(2) */
	uint64_t wait_ns;     /* the caller spent waiting for a free buffer */
};

/* Open PATH by the rules above. Returns 0 and *out, or -errno (rtc_outfile_strerror() says why in
 * the words of an output path). Nothing is left behind on failure. */
int rtc_outfile_open(struct rtc_outfile **out, const char *path, unsigned flags);

/* Append len bytes (copied). Errors are sticky: once writing failed, what follows is discarded and
 * the error returned here (possibly a call or two late, with a writer thread) and by commit. */
int rtc_outfile_write(struct rtc_outfile *f, const void *buf, size_t len);

/* Zero-copy appending: room for at least min (<= RTC_OUTFILE_RESERVE_MAX) bytes in the current
 * buffer, *avail bytes in all; never NULL. Tell how much was used with rtc_outfile_advance(). */
char *rtc_outfile_reserve(struct rtc_outfile *f, size_t min, size_t *avail);
void rtc_outfile_advance(struct rtc_outfile *f, size_t used);

/* Hand everything appended so far to the kernel (gzip: a sync point, so a reader can decompress all
 * of it) and wait until it is written. Returns the sticky error. */
int rtc_outfile_flush(struct rtc_outfile *f);

/* Write the rest and put the file in place (rename over PATH; streams: close). Returns 0 or
 * -errno; on error, as after rtc_outfile_abort(), nothing new is left at PATH. Frees f. */
int rtc_outfile_commit(struct rtc_outfile *f);

/* Give up: a replacement file is discarded (PATH keeps what it had), a stream is closed. Frees f.
 * NULL is allowed. */
void rtc_outfile_abort(struct rtc_outfile *f);

/* The error so far (0 or -errno). */
int rtc_outfile_error(struct rtc_outfile *f);

/* Counters; exact after rtc_outfile_flush(). */
void rtc_outfile_stats(struct rtc_outfile *f, struct rtc_outfile_stats *s);

/* PATH as given to open. */
const char *rtc_outfile_path(const struct rtc_outfile *f);

/* Why opening or writing an output path failed, phrased for "cannot write PATH: <reason>". */
const char *rtc_outfile_strerror(int err);

/* Open PATH now and keep it for the next rtc_outfile_open() of the same PATH string in this
 * process (whatever flags that call gives, except that gzip is decided by the name or by the
 * preopen's RTC_OUTFILE_GZIP): a command checks its outputs, FIFO readers included, before it starts
 * recording, while the writers open them later by name. 0 or -errno. Thread-safe. */
int rtc_outfile_preopen(const char *path, unsigned flags);

/* Abort every preopened file no one opened. Thread-safe. */
void rtc_outfile_preopen_drop(void);

#endif
