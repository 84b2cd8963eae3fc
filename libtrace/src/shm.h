/* SPDX-License-Identifier: MIT */
/* POSIX shared-memory segment helpers: exclusive creation with mode 0600 whose pages are claimed
 * up front (a full /dev/shm fails the creation, never a later write), naming, the name prefix. */
#ifndef RT_SHM_H
#define RT_SHM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ringtrace/shm-format.h>

#define RT_SHM_NAME_BUF RT_SHM_NAME_MAX

/* Read RINGTRACE_SHM_PREFIX (at library load, before any segment is named). */
void rt__shm_prefix_init(void);

/* The segment-name prefix in use: RINGTRACE_SHM_PREFIX when valid, else "ringtrace". */
const char *rt__shm_prefix(void);

/* Create `name` exclusively (O_EXCL, mode 0600), size it, claim all its memory (posix_fallocate)
 * and map it shared. A stale segment of that name that we own (only a dead process with our pid
 * can have left it) is replaced. Returns 0 or -errno: -EEXIST when another user holds the name
 * (the caller picks a salted name), -ENOSPC when /dev/shm cannot back it (nothing is left behind). */
int rt__shm_create(const char *name, size_t size, void **map);

/* The same, claiming only the first `claim` bytes (the rest with rt__shm_claim() before use). */
int rt__shm_create_partial(const char *name, size_t size, size_t claim, void **map);

/* A segment created under a base name or its salted fallback. */
struct rt__shm_seg {
	char name[RT_SHM_NAME_BUF]; /* the name actually used */
	uint64_t salt;              /* 0: the base name; else the name is base ".x<salt>" */
	uint64_t ino;               /* the file's inode, for rt__shm_claim() */
	void *map;
};

/* Like rt__shm_create(), claiming only the first `claim` bytes; when another user holds `base`, or
 * always_salt is set, a random, unguessable suffix ".x<salt>" is added to the name. */
int rt__shm_create_seg(struct rt__shm_seg *seg, const char *base, size_t size, size_t claim, int always_salt);

/* Claim memory for bytes [off, off + len) of our segment `name` (inode ino; 0: any file of ours, for
 * names that nobody else can remove while we use them), reopening it by name: the library keeps no
 * descriptor that the program could close or reuse. Returns 0 or -errno. */
int rt__shm_claim(const char *name, uint64_t ino, size_t off, size_t len);

/* A random nonzero 64-bit value (getrandom, else clock and address entropy). */
uint64_t rt__shm_random(void);

/* Segment names of this process (the prefix is added). salt 0: the base name. */
void rt__shm_control_name(char *buf, size_t len, uid_t uid, pid_t pid, uint64_t salt);
void rt__shm_ring_name(char *buf, size_t len, uid_t uid, pid_t pid, uint64_t thread_number, uint64_t salt);
void rt__shm_dir_name(char *buf, size_t len, uid_t uid, pid_t pid, uint32_t index, uint64_t salt);

#endif
