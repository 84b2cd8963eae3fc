/* SPDX-License-Identifier: MIT */
/* Exclusive 0600 creation and mapping of the producer's shared-memory segments, with their memory
 * claimed at creation, and the segment names (prefix, salted fallbacks). */
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char prefix[RT_SHM_PREFIX_MAX + 1] = RT_SHM_PREFIX;

static int prefix_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];

		if (n >= RT_SHM_PREFIX_MAX ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return n > 0;
}

void rt__shm_prefix_init(void)
{
	const char *s = getenv(RT_SHM_PREFIX_VAR);

	/* An invalid prefix falls back to the default rather than to a name we could not parse. */
	snprintf(prefix, sizeof(prefix), "%s", s && prefix_valid(s) ? s : RT_SHM_PREFIX);
}

const char *rt__shm_prefix(void)
{
	return prefix;
}

/* Create exactly `name`: 0, or -errno (-EEXIST when it exists). */
static int create_exact(const char *name, size_t size, size_t claim, void **map, uint64_t *ino)
{
	struct stat st;
	int fd, err;
	void *p;

	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	/* umask can only clear bits, but be explicit: other users must not read traces. */
	if (fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)size) < 0 || fstat(fd, &st) < 0)
		goto error_unlink;
	/* Back the pages now: a write to an unbacked page of a full tmpfs is a SIGBUS in the traced
	 * program, a failed creation here only leaves something untraced. */
	if (claim) {
		err = posix_fallocate(fd, 0, (off_t)(claim < size ? claim : size));
		if (err) {
			errno = err;
			goto error_unlink;
		}
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto error_unlink;
	close(fd);
	*map = p;
	if (ino)
		*ino = (uint64_t)st.st_ino;
	return 0;

error_unlink:
	err = -errno;
	close(fd);
	shm_unlink(name);
	return err;
}

/* Create `name`; -EEXIST when it exists. A segment of ours under our pid is a dead process's that
 * had the pid before us, and it is not ours to remove: its recording session's consumer may not
 * have read it yet (reclaim.c removes it once nobody will). The callers then take a salted name. */
static int create_replacing(const char *name, size_t size, size_t claim, void **map, uint64_t *ino)
{
	return create_exact(name, size, claim, map, ino);
}

int rt__shm_create(const char *name, size_t size, void **map)
{
	return create_replacing(name, size, size, map, NULL);
}

int rt__shm_create_partial(const char *name, size_t size, size_t claim, void **map)
{
	return create_replacing(name, size, claim, map, NULL);
}

int rt__shm_create_seg(struct rt__shm_seg *seg, const char *base, size_t size, size_t claim, int always_salt)
{
	int err = -EEXIST;

	seg->salt = 0;
	if (!always_salt) {
		snprintf(seg->name, sizeof(seg->name), "%s", base);
		err = create_replacing(seg->name, size, claim, &seg->map, &seg->ino);
	}
	/* Taken (another user's, or a dead process's with our pid still kept), or a salted name
	 * wanted: a random name nobody could plant ahead. */
	for (int i = 0; i < 4 && err == -EEXIST; i++) {
		seg->salt = rt__shm_random();
		snprintf(seg->name, sizeof(seg->name), "%s.x%016" PRIx64, base, seg->salt);
		err = create_exact(seg->name, size, claim, &seg->map, &seg->ino);
	}
	return err;
}

int rt__shm_claim(const char *name, uint64_t ino, size_t off, size_t len)
{
	struct stat st;
	int fd, err = 0;

	fd = shm_open(name, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0)
		return -errno;
	/* Still our file (not removed and replaced by someone else)? */
	if (fstat(fd, &st) < 0)
		err = -errno;
	else if ((ino && (uint64_t)st.st_ino != ino) || st.st_uid != geteuid())
		err = -ESTALE;
	else
		err = -posix_fallocate(fd, (off_t)off, (off_t)len);
	close(fd);
	return err;
}

uint64_t rt__shm_random(void)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
		struct timespec ts;

		/* No entropy source yet (early boot): weaker, still not predictable from outside. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		v = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 16) ^
		    (uint64_t)(uintptr_t)&v;
		v *= 0x9e3779b97f4a7c15ull;
	}
	return v ? v : 1;
}

void rt__shm_control_name(char *buf, size_t len, uid_t uid, pid_t pid, uint64_t salt)
{
	if (salt)
		snprintf(buf, len, RT_SHM_CONTROL_SALTED_FMT, prefix, (unsigned)uid, (unsigned)pid, salt);
	else
		snprintf(buf, len, RT_SHM_CONTROL_NAME_FMT, prefix, (unsigned)uid, (unsigned)pid);
}

void rt__shm_ring_name(char *buf, size_t len, uid_t uid, pid_t pid, uint64_t thread_number, uint64_t salt)
{
	if (salt)
		snprintf(buf, len, RT_SHM_RING_SALTED_FMT, prefix, (unsigned)uid, (unsigned)pid, thread_number, salt);
	else
		snprintf(buf, len, RT_SHM_RING_NAME_FMT, prefix, (unsigned)uid, (unsigned)pid, thread_number);
}

void rt__shm_dir_name(char *buf, size_t len, uid_t uid, pid_t pid, uint32_t index, uint64_t salt)
{
	snprintf(buf, len, RT_SHM_DIR_NAME_FMT, prefix, (unsigned)uid, (unsigned)pid, index, salt);
}
