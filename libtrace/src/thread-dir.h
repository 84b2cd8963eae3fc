/* SPDX-License-Identifier: MIT */
/* The shared thread directory: the control segment's slots, then extension segments created on
 * demand, so that any number of threads (up to the format's limits) gets a slot. Lock-free claim;
 * only creating an extension takes a mutex. */
#ifndef RT_THREAD_DIR_H
#define RT_THREAD_DIR_H

#include <stdbool.h>
#include <stdint.h>

#include <ringtrace/shm-format.h>

/* Claim a slot: a free one, else one a consumer drained, else (overwrite mode, no consumer) the
 * finished ring kept longest; a new extension when every slot is taken. The slot is CLAIMED and
 * its previous ring removed. NULL when the directory cannot grow (counted in thread_overflows). */
struct rt_shm_thread_slot *rt__dir_claim(struct rt_shm_control *ctl);

/* Give a claimed or finished slot back (state FREE, release). */
void rt__dir_release(struct rt_shm_thread_slot *s);

/* Overwrite mode without a consumer: may one more finished ring be kept for a later consumer?
 * (At most RT__DIR_FINISHED_KEPT; the oldest are reused first.) */
bool rt__dir_keep_finished(void);
#define RT__DIR_FINISHED_KEPT 16

/* Call fn on every slot of the directory, extensions included (exit handler). */
void rt__dir_each(struct rt_shm_control *ctl, void (*fn)(struct rt_shm_thread_slot *s, void *ctx), void *ctx);

/* Remove the extension segments' names (exit handler; mappings stay valid). */
void rt__dir_unlink(void);

/* In a fork()ed child: unmap the parent's extensions without touching them. */
void rt__dir_forget(void);

/* Copy a thread name into a slot (relaxed word stores; see struct rt_shm_thread_slot). */
void rt__dir_set_name(struct rt_shm_thread_slot *s, const char *name);

/* Read it back (NUL-terminated, at most RT_SHM_THREAD_NAME_LEN - 1 characters). */
void rt__dir_get_name(const struct rt_shm_thread_slot *s, char out[RT_SHM_THREAD_NAME_LEN]);

#endif
