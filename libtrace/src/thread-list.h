/* SPDX-License-Identifier: MIT */
/* The registry of live producer threads, for the process exit and fork handlers. Registration and
 * removal are rare (thread start and exit) and take a mutex; record paths never touch it. */
#ifndef RT_THREAD_LIST_H
#define RT_THREAD_LIST_H

struct rt__thread;

/* Create the thread-exit key; call once at library load. */
int rt__thread_list_init(void);

/* Add t and arm the exit destructor for the calling thread. */
void rt__thread_list_add(struct rt__thread *t);
void rt__thread_list_remove(struct rt__thread *t);

/* Remove and return any entry, NULL when empty (exit and fork handlers). */
struct rt__thread *rt__thread_list_pop(void);

/* Call fn on each registered thread with the list locked. */
void rt__thread_list_each(void (*fn)(struct rt__thread *t));

/* fork() protection: lock in prepare, unlock in parent, re-initialise in child. */
void rt__thread_list_lock(void);
void rt__thread_list_unlock(void);
void rt__thread_list_reset_child(void);

#endif
