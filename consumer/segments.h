/* SPDX-License-Identifier: MIT */
/* The consumer's view of /dev/shm: the segment-name prefix, parsing and listing segment names,
 * finding one process's control segment, `ringtrace clean`, recording sessions and the marker
 * that makes new processes record from their first record (`record -a`). */
#ifndef RTC_SEGMENTS_H
#define RTC_SEGMENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ringtrace/shm-format.h>

/* The prefix every name is built and matched with: RINGTRACE_SHM_PREFIX when valid
 * ([A-Za-z0-9_-], 1 to RT_SHM_PREFIX_MAX characters), else "ringtrace". Read once; thread-safe. */
const char *rtc_shm_prefix(void);

enum rtc_segment_kind {
	RTC_SEG_CONTROL = 1, /* a process's control segment */
	RTC_SEG_RING = 2,    /* a thread's ring */
	RTC_SEG_DIR = 3,     /* a thread directory extension */
	RTC_SEG_MARKER = 4,  /* a user's session marker (`record -a`) */
};

/* One name under /dev/shm, parsed. */
struct rtc_segment {
	char name[RT_SHM_NAME_MAX]; /* shm name, with the leading '/' */
	enum rtc_segment_kind kind;
	uid_t name_uid;     /* the uid the name carries */
	pid_t pid;          /* 0 for a marker */
	uint64_t number;    /* ring: thread number; directory extension: its index */
	uint64_t salt;      /* 0, or the name's .x<salt> suffix */
	uid_t owner;        /* the file's owner: differs from name_uid for a squatted or planted name */
	uint64_t size;      /* file size in bytes */
	uint64_t blocks;    /* bytes of memory behind it */
};

/* Parse a name (with or without the leading '/') under our prefix. 0, or -EINVAL. */
int rtc_segment_parse(const char *name, struct rtc_segment *out);

/* Call fn for every segment under our prefix: the caller's own (name uid = effective uid), or with
 * all_users every user's (root). fn returns nonzero to stop. Names owned by someone other than
 * their name's uid are reported too (owner says so): `ringtrace list` shows them as squatted.
 * Returns 0 or -errno. */
int rtc_segments_scan(bool all_users, int (*fn)(void *ctx, const struct rtc_segment *s), void *ctx);

/* Control segment names of pid, whatever their uid: the usual names (the process's own euid from
 * /proc, then ours; they may not exist), then with scan the salted fallbacks and names of other
 * uids found in /dev/shm. Fills up to max names; returns how many. */
size_t rtc_segments_find_pid(pid_t pid, bool scan, char (*names)[RT_SHM_NAME_MAX], size_t max);

/* The effective uid a live process runs as (/proc/<pid>/status), or -1 (gone, or no /proc). */
int64_t rtc_segments_pid_euid(pid_t pid);

/* Is pid alive and still the process that made a segment at start_mono_ns (CLOCK_MONOTONIC), not a
 * later one that reused its pid? */
bool rtc_segments_pid_is(pid_t pid, uint64_t start_mono_ns);

/* What `ringtrace clean` does: remove every segment of the caller's dead processes (flight
 * recorders' too), except those a live consumer is attached to or whose recording session's
 * consumer is alive. Counts processes and segments removed. Returns 0 or -errno. */
int rtc_segments_clean(unsigned *processes, unsigned *segments);

/* One dead process of the caller, as cleaning judged it. */
struct rtc_clean_entry {
	pid_t pid;
	char process_name[RT_SHM_PROCESS_NAME_LEN + 1]; /* from its control segment; "" without one */
	unsigned segments; /* its segments the caller owns */
	unsigned removed;  /* of those, removed (dry run: would be); 0 when kept */
	uint64_t bytes;    /* memory behind its segments */
	pid_t kept_for;    /* nonzero: kept for this live consumer, which will drain and remove them */
	bool session;      /* kept_for is its recording session's consumer (not attached yet) */
	bool marker;       /* not a process: the `record -a` session marker of consumer pid, dead */
};

/* rtc_segments_clean(), telling fn about every dead process (removed or kept) in pid order; with
 * dry_run nothing is removed and the counts say what would be. fn may be NULL. */
int rtc_segments_clean_each(bool dry_run, void (*fn)(void *ctx, const struct rtc_clean_entry *e), void *ctx,
			    unsigned *processes, unsigned *segments);

/* A recording session: the consumer's pid and a random token. */
struct rtc_session {
	pid_t pid;
	uint64_t token;
	bool marker; /* this consumer created the user's marker */
};

/* New session for the calling process (random token). */
void rtc_session_init(struct rtc_session *s);

/* RINGTRACE_SESSION's value for programs the consumer launches: "<pid>:<token hex>". Set it in the
 * launched program's environment (setenv(RT_SHM_SESSION_VAR, buf, 1) before exec): it and all its
 * descendants then record from their first record and carry the token (rtc_producer.session_token). */
void rtc_session_env(const struct rtc_session *s, char *buf, size_t len);

/* Create the user's marker (/dev/shm/<prefix>.<euid>.session, mode 0600, O_EXCL) naming this
 * session: processes of this user that start while it exists record from their first record and
 * carry the token. A marker left by a dead consumer is replaced. Returns 0, -EBUSY (another live
 * consumer's marker), or -errno. */
int rtc_session_marker_create(struct rtc_session *s);

/* Remove the marker if it is still ours (call before exiting; safe to call twice). */
void rtc_session_marker_remove(struct rtc_session *s);

#endif
