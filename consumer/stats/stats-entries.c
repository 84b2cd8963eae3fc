/* SPDX-License-Identifier: MIT */
/* The statistics model's tables: a hash table of pointers, and the find-or-create of processes, threads,
 * span names and task names within the model's limits. */
#include "stats-impl.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>


/* The tables are keyed by names and ids an untrusted capture or stream chooses: a random key, one
 * for the whole process (models are merged and read back), keeps them from being aimed at one slot
 * (80,000 task ids chosen for the fixed hash took 9 s to convert). */
uint64_t rtc__stats_key(void)
{
	static _Atomic uint64_t key;
	uint64_t k = atomic_load_explicit(&key, memory_order_relaxed), fresh;

	if (k)
		return k;
	fresh = rtc_hash_seed(); /* never 0 */
	/* The first key published wins. Relaxed: the key orders no other data. */
	if (!atomic_compare_exchange_strong_explicit(&key, &k, fresh, memory_order_relaxed, memory_order_relaxed))
		return k;
	return fresh;
}

uint64_t rtc__stats_hash(const void *p, size_t n, uint64_t seed)
{
	const char *b = p;
	uint64_t h = seed ^ rtc__stats_key() ^ (n * 0x9e3779b97f4a7c15ull);
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		h = (h ^ rtc__load64(b + i)) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
	}
	if (i < n) {
		uint64_t w = 0;

		if (n >= 8) {
			w = rtc__load64(b + n - 8); /* the tail, overlapping the last full word */
		} else {
			for (size_t k = 0; k < n; k++)
				w |= (uint64_t)(unsigned char)b[k] << (8 * k);
		}
		h = (h ^ w) * 0x94d049bb133111ebull;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

void *rtc__ptab_find(const struct ptab *t, uint64_t hash, bool (*eq)(const void *item, const void *key),
		     const void *key)
{
	size_t mask = t->cap - 1;

	if (!t->cap)
		return NULL;
	for (size_t i = hash & mask; t->item[i]; i = (i + 1) & mask)
		if (t->hash[i] == hash && eq(t->item[i], key))
			return t->item[i];
	return NULL;
}

static void place(struct ptab *t, uint64_t hash, void *item)
{
	size_t mask = t->cap - 1, i = hash & mask;

	while (t->item[i])
		i = (i + 1) & mask;
	t->hash[i] = hash;
	t->item[i] = item;
	t->n++;
}

int rtc__ptab_add(struct ptab *t, uint64_t hash, void *item)
{
	if ((t->n + 1) * 2 > t->cap) {
		struct ptab fresh = { 0 };

		fresh.cap = t->cap ? t->cap * 2 : 64;
		fresh.hash = malloc(fresh.cap * sizeof(*fresh.hash));
		fresh.item = calloc(fresh.cap, sizeof(*fresh.item));
		if (!fresh.hash || !fresh.item) {
			free(fresh.hash);
			free(fresh.item);
			return -ENOMEM;
		}
		for (size_t i = 0; i < t->cap; i++)
			if (t->item[i])
				place(&fresh, t->hash[i], t->item[i]);
		free(t->hash);
		free(t->item);
		*t = fresh;
	}
	place(t, hash, item);
	return 0;
}

void *rtc__ptab_remove(struct ptab *t, uint64_t hash, bool (*eq)(const void *item, const void *key),
		       const void *key)
{
	size_t mask = t->cap - 1, i;
	void *found;

	if (!t->cap)
		return NULL;
	for (i = hash & mask; t->item[i]; i = (i + 1) & mask)
		if (t->hash[i] == hash && eq(t->item[i], key))
			break;
	if (!t->item[i])
		return NULL;
	found = t->item[i];
	t->item[i] = NULL;
	t->n--;
	/* Backward shift: move up every following item whose home slot does not lie in (i, j]. */
	for (size_t j = (i + 1) & mask; t->item[j]; j = (j + 1) & mask) {
		size_t home = t->hash[j] & mask;

		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			t->hash[i] = t->hash[j];
			t->item[i] = t->item[j];
			t->item[j] = NULL;
			i = j;
		}
	}
	return found;
}

void rtc__ptab_free(struct ptab *t)
{
	free(t->hash);
	free(t->item);
	memset(t, 0, sizeof(*t));
}

int rtc__stats_setstr(char **dst, const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (!p)
		return -ENOMEM;
	if (n)
		memcpy(p, s, n);
	p[n] = 0;
	free(*dst);
	*dst = p;
	return 0;
}

struct rtc_hist *rtc__stats_hist_new(struct rtc_hist **h)
{
	*h = rtc_hist_create();
	return *h;
}

/* ---- entries ---- */

struct name_key {
	uint32_t pid;
	const char *name;
	size_t len;
};

/* The same bytes: short names compared as two (overlapping) words, longer ones with memcmp. */
static bool same_name(const char *a, const char *b, size_t n)
{
	if (n >= 8 && n <= 16)
		return rtc__load64(a) == rtc__load64(b) && rtc__load64(a + n - 8) == rtc__load64(b + n - 8);
	return memcmp(a, b, n) == 0;
}

static bool span_eq(const void *item, const void *key)
{
	const struct span_entry *e = item;
	const struct name_key *k = key;

	return e->pid == k->pid && e->name_len == k->len && same_name(e->name, k->name, k->len);
}

static bool task_eq(const void *item, const void *key)
{
	const struct task_entry *e = item;
	const struct name_key *k = key;

	return e->pid == k->pid && e->name_len == k->len && memcmp(e->name, k->name, k->len) == 0;
}

static bool thread_eq(const void *item, const void *key)
{
	const struct thread_entry *e = item;
	const uint32_t *k = key;

	return e->pid == k[0] && e->tid == k[1];
}

static bool process_eq(const void *item, const void *key)
{
	return ((const struct process_entry *)item)->pid == *(const uint32_t *)key;
}

static bool live_grow(struct live_table *t)
{
	size_t cap = t->cap ? 2 * t->cap : 256;
	struct live_table n = { calloc(cap, sizeof(*n.slot)), cap, 0 };

	if (!n.slot)
		return false;
	for (size_t i = 0; i < t->cap; i++) {
		struct live_task *l = &t->slot[i];
		size_t k;

		if (!l->task)
			continue;
		for (k = rtc__live_home(&n, l->pid, l->id); n.slot[k].task; k = (k + 1) & (cap - 1))
			;
		n.slot[k] = *l;
		n.n++;
	}
	free(t->slot);
	*t = n;
	return true;
}

struct live_task *rtc__live_add(struct live_table *t, uint32_t pid, uint64_t id)
{
	size_t i;

	if ((t->n + 1) * 2 > t->cap && !live_grow(t))
		return NULL;
	for (i = rtc__live_home(t, pid, id); t->slot[i].task; i = (i + 1) & (t->cap - 1))
		if (t->slot[i].id == id && t->slot[i].pid == pid)
			return &t->slot[i]; /* there already: task set */
	t->slot[i].id = id;
	t->slot[i].pid = pid;
	t->n++;
	return &t->slot[i]; /* task NULL: the caller sets it */
}

void rtc__live_remove(struct live_table *t, struct live_task *l)
{
	size_t mask = t->cap - 1, i = (size_t)(l - t->slot), j = i;

	t->slot[i].task = NULL;
	t->n--;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!t->slot[j].task)
			return;
		home = rtc__live_home(t, t->slot[j].pid, t->slot[j].id);
		/* Move j into the hole at i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			t->slot[i] = t->slot[j];
			t->slot[j].task = NULL;
			i = j;
		}
	}
}

bool rtc__stats_open_eq(const void *item, const void *key)
{
	const struct open_span *o = item;
	const struct live_key *k = key;

	return o->pid == k->pid && o->tid == k->tid && o->span_seq == k->id;
}

uint64_t rtc__stats_id_hash(uint32_t a, uint32_t b, uint64_t c)
{
	uint64_t key = rtc__stats_key();

	return rtc_hash_u64(key, c ^ rtc_hash_u64(key, (uint64_t)a << 32 | b));
}

const struct process_entry *rtc__stats_process_find(const struct rtc_stats *s, uint32_t pid)
{
	return rtc__ptab_find(&s->processes, rtc__stats_id_hash(pid, 0, 0), process_eq, &pid);
}

struct process_entry *rtc__stats_process(struct rtc_stats *s, uint32_t pid)
{
	uint64_t h = rtc__stats_id_hash(pid, 0, 0);
	struct process_entry *p = rtc__ptab_find(&s->processes, h, process_eq, &pid);

	if (p)
		return p;
	if (s->processes.n >= s->opt.max_threads)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	p->loss.pid = pid;
	if (rtc__ptab_add(&s->processes, h, p)) {
		free(p);
		return NULL;
	}
	return p;
}

struct thread_entry *rtc__stats_thread_slow(struct rtc_stats *s, uint32_t pid, uint32_t tid,
					    struct thread_entry **slot)
{
	uint32_t key[2] = { pid, tid };
	struct thread_entry *t;
	uint64_t h = rtc__stats_id_hash(pid, tid, 1);
	t = rtc__ptab_find(&s->threads, h, thread_eq, key);
	if (!t) {
		struct process_entry *p;

		if (s->nthreads >= s->opt.max_threads || !(p = rtc__stats_process(s, pid)))
			return NULL;
		t = calloc(1, sizeof(*t));
		if (!t)
			return NULL;
		t->pid = pid;
		t->tid = tid;
		t->proc = p;
		t->first_ns = UINT64_MAX;
		if (rtc__ptab_add(&s->threads, h, t)) {
			free(t);
			return NULL;
		}
		s->nthreads++;
	}
	*slot = t;
	return t;
}

static struct span_entry *new_span(struct rtc_stats *s, uint32_t pid, const char *name, size_t len, uint64_t h)
{
	struct span_entry *e = calloc(1, sizeof(*e));

	if (!e || rtc__stats_setstr(&e->name, name, len)) {
		free(e);
		return NULL;
	}
	e->hash = h;
	e->name_len = (uint32_t)len;
	e->pid = pid;
	if (rtc__ptab_add(&s->spans, h, e)) {
		free(e->name);
		free(e);
		return NULL;
	}
	s->nspans++;
	return e;
}

struct span_entry *rtc__stats_span_slow(struct rtc_stats *s, uint32_t pid, const char *name, size_t len,
					struct span_slot *slot, uint64_t head, uint64_t tail)
{
	struct name_key k = { pid, name, len };
	struct span_entry *e;
	uint64_t h;

	if (len > UINT32_MAX)
		return NULL;
	h = rtc__stats_hash(name, len, pid);
	e = rtc__ptab_find(&s->spans, h, span_eq, &k);
	if (!e && s->nspans < s->opt.max_spans) {
		e = new_span(s, pid, name, len, h);
	} else if (!e) {
		/* Past the limit: the process's catch-all entry (one per process, outside the limit). */
		struct process_entry *p = rtc__stats_process(s, pid);

		s->info.other_span_names++;
		if (!p)
			return NULL;
		if (!p->other) {
			size_t n = strlen(RTC_STATS_OTHER_NAMES);
			struct name_key ko = { pid, RTC_STATS_OTHER_NAMES, n };
			uint64_t ho = rtc__stats_hash(ko.name, n, pid);

			p->other = rtc__ptab_find(&s->spans, ho, span_eq, &ko);
			if (!p->other)
				p->other = new_span(s, pid, ko.name, n, ho);
			if (p->other)
				p->other->other = true;
		}
		return p->other; /* not cached: every such span is counted above */
	}
	if (e)
		*slot = (struct span_slot){ head, tail, (uint32_t)len, pid, e };
	return e;
}

struct task_entry *rtc__stats_task(struct rtc_stats *s, uint32_t pid, const char *name, size_t len)
{
	struct name_key k = { pid, name, len };
	uint64_t h = rtc__stats_hash(name, len, pid ^ 0x7a5c);
	struct task_entry *e = rtc__ptab_find(&s->tasks, h, task_eq, &k);

	if (e || s->ntasks >= s->opt.max_tasks || len > UINT32_MAX)
		return e;
	e = calloc(1, sizeof(*e));
	if (!e || rtc__stats_setstr(&e->name, name, len)) {
		free(e);
		return NULL;
	}
	e->hash = h;
	e->name_len = (uint32_t)len;
	e->pid = pid;
	if (rtc__ptab_add(&s->tasks, h, e)) {
		free(e->name);
		free(e);
		return NULL;
	}
	s->ntasks++;
	return e;
}

