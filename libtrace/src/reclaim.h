/* SPDX-License-Identifier: MIT */
/* Removing the segments that dead processes of this user left in /dev/shm (docs/format.md 8.1), so
 * that programs ending with _exit(), crashes and kills do not fill it. */
#ifndef RT_RECLAIM_H
#define RT_RECLAIM_H

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"

/* Remove the segments of this user's dead processes under our prefix (and of our own pid when
 * self_stale: before we created any, they are a dead process's with the same pid): all of a discard-mode
 * process; of overwrite-mode (flight recorder) processes, all but the newest cfg->keep_dead whose
 * total size stays within cfg->keep_dead_bytes. Processes attached by a live consumer, or whose
 * recording session's consumer is alive, are left to that consumer. Never maps a segment (headers
 * are read with pread(): nothing here can fault). Returns how many processes' segments went. */
unsigned rt__reclaim(uid_t uid, pid_t self, bool self_stale, const struct rt__config *cfg);

#endif
