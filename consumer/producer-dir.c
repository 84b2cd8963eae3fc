/* SPDX-License-Identifier: MIT */
/* A producer's thread directory (control segment slots and extension segments) and task table,
 * read with per-slot seqlock validation under the SIGBUS guard (docs/format.md 2.2 and 2.4). */
#include "producer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#include "safe-copy.h"
#include "segments.h"

/* Slots copied per guarded call: callbacks then run outside the guard. */
#define BATCH 128
#define RETRIES 4

static struct rt_shm_thread_slot *slot_ptr(struct rtc_producer *p, uint32_t i)
{
	if (i < p->threads_capacity)
		return (struct rt_shm_thread_slot *)((char *)p->ctl + p->threads_offset) + i;
	i -= p->threads_capacity;
	if (!p->dir_ext_capacity || i / p->dir_ext_capacity >= p->ext_mapped)
		return NULL;
	return &p->ext[i / p->dir_ext_capacity].slots[i % p->dir_ext_capacity];
}

/* ---- extensions ---- */

struct ext_call {
	struct rtc_producer *p;
	uint32_t count;
	uint64_t salt;
	uint32_t k;
	struct rt_shm_dir_ext head;
	uint64_t magic;
};

static void ext_count_call(void *arg)
{
	struct ext_call *a = arg;

	/* Acquire pairs with the producer's release after the extension's salt is stored. */
	a->count = atomic_load_explicit(&a->p->ctl->dir_ext_count, memory_order_acquire);
	if (a->k < a->count && a->k < a->p->dir_ext_max)
		a->salt = ((const uint64_t *)((const char *)a->p->ctl + a->p->dir_ext_offset))[a->k];
}

static void ext_head_call(void *arg)
{
	struct ext_call *a = arg;

	/* Acquire pairs with the release of the extension's magic after its header. */
	a->magic = atomic_load_explicit((_Atomic uint64_t *)&a->p->ext[a->k].hdr->magic, memory_order_acquire);
	memcpy(&a->head, a->p->ext[a->k].hdr, sizeof(a->head));
}

/* Map extension k, validated. 0, or -errno (p->why says why). */
static int map_ext(struct rtc_producer *p, uint32_t k, uint64_t salt)
{
	size_t want = sizeof(struct rt_shm_dir_ext) + (size_t)p->dir_ext_capacity * sizeof(struct rt_shm_thread_slot);
	struct ext_call a = { .p = p, .k = k };
	char name[RT_SHM_NAME_MAX];
	struct stat st;
	void *map;
	int fd, err = 0;

	snprintf(name, sizeof(name), RT_SHM_DIR_NAME_FMT, rtc_shm_prefix(), (unsigned)p->uid, (unsigned)p->pid, k, salt);
	fd = shm_open(name, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_uid != p->uid || (uint64_t)st.st_size < want ||
	    (uint64_t)st.st_size > want + 4096) {
		snprintf(p->why, sizeof(p->why), "%s: wrong owner or size", name);
		close(fd);
		return -RT_ECORRUPT;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -errno;
	p->ext[k].hdr = map;
	p->ext[k].map_size = (size_t)st.st_size;
	if (rtc_safe_call(ext_head_call, &a) < 0 || a.magic != RT_SHM_DIR_MAGIC)
		err = -RT_EBADMAGIC;
	else if (a.head.abi_major != RT_SHM_ABI_MAJOR || a.head.header_size < sizeof(a.head) ||
		 a.head.pid != (uint32_t)p->pid || a.head.index != k || a.head.capacity != p->dir_ext_capacity ||
		 a.head.salt != salt || a.head.slots_offset % _Alignof(struct rt_shm_thread_slot) ||
		 a.head.slots_offset < sizeof(a.head) ||
		 (uint64_t)a.head.slots_offset + (uint64_t)a.head.capacity * sizeof(struct rt_shm_thread_slot) > p->ext[k].map_size)
		err = -RT_ECORRUPT;
	if (err < 0) {
		snprintf(p->why, sizeof(p->why), "%s: invalid directory extension", name);
		munmap(map, p->ext[k].map_size);
		memset(&p->ext[k], 0, sizeof(p->ext[k]));
		return err;
	}
	p->ext[k].slots = (struct rt_shm_thread_slot *)((char *)map + a.head.slots_offset);
	return 0;
}

/* Map the extensions announced since we last looked (in order: a gap stops us). */
static int map_exts(struct rtc_producer *p)
{
	while (p->ext_mapped < p->dir_ext_max) {
		struct ext_call a = { .p = p, .k = p->ext_mapped };
		int err;

		if (p->header_size < sizeof(struct rt_shm_control))
			return 0;
		if (rtc_safe_call(ext_count_call, &a) < 0)
			return -EFAULT;
		if (a.k >= a.count)
			return 0;
		err = map_ext(p, a.k, a.salt);
		if (err < 0)
			return err;
		p->ext_mapped++;
	}
	return 0;
}

/* ---- threads ---- */

struct slot_copy {
	uint32_t index, state, tid;
	uint64_t thread_number, salt;
	uint64_t name[RT_SHM_THREAD_NAME_LEN / 8];
};

struct slots_call {
	struct rtc_producer *p;
	uint32_t from, to, n;
	struct slot_copy out[BATCH];
};

/* Seqlock read of one slot: the state and thread number, unchanged across the copy (acquire fence
 * between), make it consistent; pairs with the producer's release fence after claiming. */
static bool read_slot(struct rt_shm_thread_slot *s, struct slot_copy *c)
{
	for (int tries = 0; tries < RETRIES; tries++) {
		/* Acquire pairs with the producer's release when the slot became ACTIVE/FINISHED. */
		uint32_t st = atomic_load_explicit(&s->state, memory_order_acquire);
		uint64_t tn = atomic_load_explicit(&s->thread_number, memory_order_relaxed);

		if (st != RT_SHM_THREAD_ACTIVE && st != RT_SHM_THREAD_FINISHED)
			return false; /* free, being set up, or drained: nothing to read */
		c->state = st;
		c->thread_number = tn;
		c->tid = atomic_load_explicit(&s->tid, memory_order_relaxed);
		c->salt = atomic_load_explicit(&s->ring_salt, memory_order_relaxed);
		for (size_t w = 0; w < RT_SHM_THREAD_NAME_LEN / 8; w++)
			c->name[w] = atomic_load_explicit(&s->name.w[w], memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&s->state, memory_order_relaxed) == st &&
		    atomic_load_explicit(&s->thread_number, memory_order_relaxed) == tn)
			return true;
	}
	return false; /* changing under us: it will be seen on the next enumeration */
}

static void slots_call(void *arg)
{
	struct slots_call *a = arg;

	for (; a->from < a->to && a->n < BATCH; a->from++) {
		struct rt_shm_thread_slot *s = slot_ptr(a->p, a->from);

		if (s && read_slot(s, &a->out[a->n])) {
			a->out[a->n].index = a->from;
			a->n++;
		}
	}
}

static void remember_salt(struct rtc_producer *p, uint64_t thread_number, uint64_t salt)
{
	for (uint32_t i = 0; i < p->nsalted; i++)
		if (p->salted[i].thread_number == thread_number)
			return;
	p->salted[p->nsalted % 16].thread_number = thread_number;
	p->salted[p->nsalted % 16].salt = salt;
	if (p->nsalted < 16)
		p->nsalted++;
}

static void to_info(struct rtc_producer *p, const struct slot_copy *c, struct rtc_thread_info *t)
{
	t->slot = c->index;
	t->state = c->state;
	t->tid = c->tid;
	t->thread_number = c->thread_number;
	t->ring_salt = c->salt;
	memcpy(t->name, c->name, RT_SHM_THREAD_NAME_LEN);
	t->name[RT_SHM_THREAD_NAME_LEN] = 0;
	for (char *ch = t->name; *ch; ch++)
		if ((unsigned char)*ch < 0x20 || *ch == '"' || *ch == '\\')
			*ch = '?';
	if (c->salt) {
		snprintf(t->ring_name, sizeof(t->ring_name), RT_SHM_RING_SALTED_FMT, rtc_shm_prefix(), (unsigned)p->uid,
			 (unsigned)p->pid, c->thread_number, c->salt);
		remember_salt(p, c->thread_number, c->salt);
	} else {
		snprintf(t->ring_name, sizeof(t->ring_name), RT_SHM_RING_NAME_FMT, rtc_shm_prefix(), (unsigned)p->uid,
			 (unsigned)p->pid, c->thread_number);
	}
}

int rtc_producer_each_thread(struct rtc_producer *p, int (*fn)(void *ctx, const struct rtc_thread_info *t), void *ctx)
{
	struct slots_call *a = malloc(sizeof(*a));
	struct rtc_thread_info info;
	int reported = 0, err;

	if (!a)
		return -ENOMEM;
	/* A failed extension stays unmapped (its slots unread, p->why says why); a fault is fatal. */
	err = map_exts(p);
	if (err == -EFAULT) {
		free(a);
		return -EFAULT;
	}
	a->p = p;
	a->from = 0;
	a->to = p->threads_capacity + p->ext_mapped * p->dir_ext_capacity;
	while (a->from < a->to) {
		a->n = 0;
		err = rtc_safe_call(slots_call, a);
		for (uint32_t i = 0; i < a->n; i++) {
			to_info(p, &a->out[i], &info);
			reported++;
			if (fn(ctx, &info)) {
				free(a);
				return reported;
			}
		}
		if (err < 0) {
			free(a);
			return -EFAULT;
		}
	}
	free(a);
	return reported;
}

struct fill {
	struct rtc_thread_info *out;
	size_t n, max;
};

static int fill_one(void *ctx, const struct rtc_thread_info *t)
{
	struct fill *f = ctx;

	f->out[f->n++] = *t;
	return f->n >= f->max;
}

size_t rtc_producer_threads(struct rtc_producer *p, struct rtc_thread_info *out, size_t max)
{
	struct fill f = { out, 0, max };

	if (max)
		rtc_producer_each_thread(p, fill_one, &f);
	return f.n;
}

struct drained_call {
	struct rtc_producer *p;
	struct rt_shm_thread_slot *s;
	uint64_t thread_number, salt;
	bool dead;
	int err;
};

static void drained_check(void *arg)
{
	struct drained_call *a = arg;

	if (atomic_load_explicit(&a->s->thread_number, memory_order_relaxed) != a->thread_number)
		a->err = -ESTALE;
	/* Acquire pairs with the producer's release of FINISHED after its last commit. */
	else if (!a->dead && atomic_load_explicit(&a->s->state, memory_order_acquire) != RT_SHM_THREAD_FINISHED)
		a->err = -EAGAIN;
	a->salt = atomic_load_explicit(&a->s->ring_salt, memory_order_relaxed);
}

static void drained_mark(void *arg)
{
	struct drained_call *a = arg;
	uint32_t expect = RT_SHM_THREAD_FINISHED;

	/* Release: our reads of the ring are done before the producer may reuse the slot (its claim
	 * CAS acquires). A dead process's slot may still say ACTIVE: nobody will reuse it. */
	atomic_compare_exchange_strong_explicit(&a->s->state, &expect, RT_SHM_THREAD_DRAINED, memory_order_release,
						memory_order_relaxed);
}

int rtc_producer_thread_drained(struct rtc_producer *p, uint32_t slot, uint64_t thread_number, bool dead)
{
	struct drained_call a = { p, slot_ptr(p, slot), thread_number, 0, dead, 0 };
	char name[RT_SHM_NAME_MAX];

	if (!a.s)
		return -ESTALE;
	if (rtc_safe_call(drained_check, &a) < 0)
		return -EFAULT;
	if (a.err < 0)
		return a.err;
	/* The thread is gone and we have read everything: free the ring's memory now rather than
	 * when the producer next needs a slot. */
	if (a.salt)
		snprintf(name, sizeof(name), RT_SHM_RING_SALTED_FMT, rtc_shm_prefix(), (unsigned)p->uid, (unsigned)p->pid,
			 thread_number, a.salt);
	else
		snprintf(name, sizeof(name), RT_SHM_RING_NAME_FMT, rtc_shm_prefix(), (unsigned)p->uid, (unsigned)p->pid,
			 thread_number);
	shm_unlink(name);
	return rtc_safe_call(drained_mark, &a) < 0 ? -EFAULT : 0;
}

/* ---- tasks ---- */

struct tasks_call {
	struct rtc_producer *p;
	uint32_t from, n;
	struct rtc_task_info out[BATCH];
};

static void tasks_call(void *arg)
{
	struct tasks_call *a = arg;
	struct rt_shm_task_slot *tab = (struct rt_shm_task_slot *)((char *)a->p->ctl + a->p->tasks_offset);

	for (; a->from < a->p->tasks_capacity && a->n < BATCH; a->from++) {
		struct rt_shm_task_slot *s = &tab[a->from];
		struct rtc_task_info *t = &a->out[a->n];

		for (int tries = 0; tries < RETRIES; tries++) {
			/* Seqlock on the unique id word: acquire pairs with the producer's release when it
			 * published the task; the fence and re-read with its release fence after BUSY. */
			uint64_t w = atomic_load_explicit(&s->id, memory_order_acquire);

			if (w == 0 || w == RT_SHM_TASK_BUSY || (w & RT_SHM_TASK_ENDED))
				break;
			t->id = w;
			t->parent = atomic_load_explicit(&s->parent, memory_order_relaxed);
			t->begin_ts = atomic_load_explicit(&s->begin_ts, memory_order_relaxed);
			t->name_id = atomic_load_explicit(&s->name_id, memory_order_relaxed);
			t->coarse = atomic_load_explicit(&s->flags, memory_order_relaxed) & RT_SHM_TASK_COARSE;
			atomic_thread_fence(memory_order_acquire);
			if (atomic_load_explicit(&s->id, memory_order_relaxed) == w) {
				a->n++;
				break;
			}
		}
	}
}

int rtc_producer_each_task(struct rtc_producer *p, int (*fn)(void *ctx, const struct rtc_task_info *t), void *ctx)
{
	struct tasks_call *a;
	int reported = 0, err = 0;

	if (!p->tasks_capacity)
		return 0;
	a = malloc(sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->p = p;
	a->from = 0;
	while (a->from < p->tasks_capacity && err == 0) {
		a->n = 0;
		err = rtc_safe_call(tasks_call, a);
		for (uint32_t i = 0; i < a->n; i++) {
			reported++;
			if (fn(ctx, &a->out[i])) {
				free(a);
				return reported;
			}
		}
	}
	free(a);
	return err < 0 ? -EFAULT : reported;
}

/* ---- a dead process's segments ---- */

int rtc_producer_remove(struct rtc_producer *p)
{
	char name[RT_SHM_NAME_MAX];

	if (!rtc_producer_exited(p))
		return -EBUSY;
	/* Its directory extensions, by the salts its table announced (ours to read until unmapped). */
	for (uint32_t k = 0; k < p->dir_ext_max; k++) {
		struct ext_call a = { .p = p, .k = k };

		if (p->header_size < sizeof(struct rt_shm_control) || rtc_safe_call(ext_count_call, &a) < 0 ||
		    k >= a.count)
			break;
		snprintf(name, sizeof(name), RT_SHM_DIR_NAME_FMT, rtc_shm_prefix(), (unsigned)p->uid, (unsigned)p->pid, k,
			 a.salt);
		shm_unlink(name);
	}
	return shm_unlink(p->shm_name) < 0 ? -errno : 0;
}
