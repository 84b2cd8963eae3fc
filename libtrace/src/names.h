/* SPDX-License-Identifier: MIT */
/* The process's name table: an append-only arena of interned strings in the control segment with a
 * lock-free hash index. Producers intern; consumers read ids -> strings without any lock. */
#ifndef RT_NAMES_H
#define RT_NAMES_H

#include <stdbool.h>
#include <stdint.h>

#include <ringtrace/shm-format.h>

/* Lay out the (zeroed) table areas of a new control segment and intern the reserved names. */
void rt__names_init(struct rt_shm_control *ctl);

/* Intern name (NULL allowed). *truncated is set when the name was cut at RT_SHM_NAME_MAX_LEN.
 * Lock-free; concurrent interns of the same string return the same id (a lost race may leave an
 * unused duplicate entry behind, never a wrong one). Returns RT_NAME_ID_OVERFLOW when full. */
uint32_t rt__names_intern(struct rt_shm_control *ctl, const char *name, bool *truncated);

/* fork(): the parent's table, copied in the child before it unmaps the parent's segment, so that
 * the call sites' cached ids stay valid in the child's own table. */
struct rt__names_snapshot;
struct rt__names_snapshot *rt__names_snapshot(const struct rt_shm_control *ctl);
/* Arena bytes the snapshot holds (the child claims at least that much). */
uint32_t rt__names_snapshot_arena(const struct rt__names_snapshot *s);
/* Into a new, not yet published control segment with the same table geometry. */
void rt__names_restore(struct rt_shm_control *ctl, const struct rt__names_snapshot *s);
void rt__names_snapshot_free(struct rt__names_snapshot *s);

#endif
