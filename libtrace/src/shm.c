/* SPDX-License-Identifier: MIT */
/* Exclusive 0600 creation and mapping of the producer's shared-memory segments. */
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ringtrace/shm-format.h>

int rt__shm_create(const char *name, size_t size, void **map)
{
	int fd, err;
	void *p;

	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		/* Our pid is in the name, so the holder is dead: a crash or a pre-exec image. */
		shm_unlink(name);
		fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		return -errno;
	/* umask can only clear bits, but be explicit: other users must not read traces. */
	if (fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)size) < 0)
		goto error_unlink;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto error_unlink;
	close(fd);
	*map = p;
	return 0;

error_unlink:
	err = -errno;
	close(fd);
	shm_unlink(name);
	return err;
}

void rt__shm_control_name(char *buf, size_t len, uid_t uid, pid_t pid)
{
	snprintf(buf, len, RT_SHM_CONTROL_FMT, (unsigned)uid, (unsigned)pid);
}

void rt__shm_ring_name(char *buf, size_t len, uid_t uid, pid_t pid, uint64_t thread_number)
{
	snprintf(buf, len, RT_SHM_RING_FMT, (unsigned)uid, (unsigned)pid, thread_number);
}
