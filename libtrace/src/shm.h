/* SPDX-License-Identifier: MIT */
/* POSIX shared-memory segment helpers: exclusive creation with mode 0600, mapping, naming. */
#ifndef RT_SHM_H
#define RT_SHM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Create `name` exclusively (replacing a stale segment of the same name, which can only be left
 * by a dead process with our pid), size it and map it shared. Returns 0 or -errno. */
int rt__shm_create(const char *name, size_t size, void **map);

/* Names of a process's control segment and of one of its thread rings. */
void rt__shm_control_name(char *buf, size_t len, uid_t uid, pid_t pid);
void rt__shm_ring_name(char *buf, size_t len, uid_t uid, pid_t pid, uint64_t thread_number);

#define RT_SHM_NAME_BUF 96

#endif
