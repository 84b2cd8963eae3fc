/* SPDX-License-Identifier: MIT */
/* Mutex-protected list of registered threads plus the pthread key whose destructor finishes a
 * thread's ring at exit. */
#include "thread-list.h"

#include <pthread.h>
#include <stdlib.h>

#include "thread.h"

struct node {
	struct node *next;
	struct rt__thread *t;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct node *head;
static pthread_key_t exit_key;

int rt__thread_list_init(void)
{
	return -pthread_key_create(&exit_key, rt__thread_exit);
}

void rt__thread_list_add(struct rt__thread *t)
{
	struct node *n = malloc(sizeof(*n));

	pthread_setspecific(exit_key, t);
	if (!n)
		return; /* only the exit handler's bookkeeping is lost */
	n->t = t;
	pthread_mutex_lock(&lock);
	n->next = head;
	head = n;
	pthread_mutex_unlock(&lock);
}

void rt__thread_list_remove(struct rt__thread *t)
{
	struct node **pp, *n = NULL;

	pthread_mutex_lock(&lock);
	for (pp = &head; *pp; pp = &(*pp)->next) {
		if ((*pp)->t == t) {
			n = *pp;
			*pp = n->next;
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	free(n);
}

struct rt__thread *rt__thread_list_pop(void)
{
	struct node *n;
	struct rt__thread *t = NULL;

	pthread_mutex_lock(&lock);
	n = head;
	if (n) {
		head = n->next;
		t = n->t;
	}
	pthread_mutex_unlock(&lock);
	free(n);
	return t;
}

void rt__thread_list_each(void (*fn)(struct rt__thread *t))
{
	pthread_mutex_lock(&lock);
	for (struct node *n = head; n; n = n->next)
		fn(n->t);
	pthread_mutex_unlock(&lock);
}

void rt__thread_list_lock(void)
{
	pthread_mutex_lock(&lock);
}

void rt__thread_list_unlock(void)
{
	pthread_mutex_unlock(&lock);
}

void rt__thread_list_reset_child(void)
{
	pthread_mutex_init(&lock, NULL);
}
