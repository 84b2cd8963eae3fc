/* SPDX-License-Identifier: MIT */
/* Validated access to a producer's control segment (see docs/format.md "Control segment"). */
#include "producer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#include "safe-copy.h"

static bool range_ok(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static int validate(struct rtc_producer *p, const struct rt_shm_control *h, size_t size)
{
	if (h->magic != RT_SHM_CONTROL_MAGIC)
		return -RT_EBADMAGIC;
	if (h->abi_major != RT_SHM_ABI_MAJOR || h->abi_oldest > RT_SHM_ABI_MINOR)
		return -RT_EABI;
	if (h->header_size < sizeof(*h) || h->segment_size > size || h->header_size > h->segment_size)
		return -RT_ECORRUPT;
	size = h->segment_size;
	if (!range_ok(h->names_offset, (uint64_t)h->names_capacity * 4, size) ||
	    !range_ok(h->arena_offset, h->arena_size, size) || h->arena_size > (1u << 30) ||
	    !range_ok(h->threads_offset, (uint64_t)h->threads_capacity * sizeof(struct rt_shm_thread_slot), size) ||
	    !range_ok(h->calib_offset, (uint64_t)h->calib_capacity * sizeof(struct rt_shm_calib_point), size) ||
	    h->names_offset % 4 || h->threads_offset % 8 || h->calib_offset % 8 || h->calib_capacity == 0)
		return -RT_ECORRUPT;
	if ((h->mode != RT_SHM_MODE_DISCARD && h->mode != RT_SHM_MODE_OVERWRITE) ||
	    (h->clock != RT_SHM_CLOCK_TSC && h->clock != RT_SHM_CLOCK_MONOTONIC) || h->idle_active > RT_SHM_ACTIVE_TRACK)
		return -RT_ECORRUPT;
	p->mode = h->mode;
	p->clock = h->clock;
	p->idle_active = h->idle_active;
	p->ring_size = h->ring_size;
	p->subbuf_size = h->subbuf_size;
	p->subbuf_count = h->subbuf_count;
	p->names_capacity = h->names_capacity;
	p->names_offset = h->names_offset;
	p->arena_offset = h->arena_offset;
	p->arena_size = h->arena_size;
	p->threads_offset = h->threads_offset;
	p->threads_capacity = h->threads_capacity;
	p->calib_offset = h->calib_offset;
	p->calib_capacity = h->calib_capacity;
	p->parent_pid = h->parent_pid;
	p->start_real_ns = h->start_real_ns;
	p->start_mono_ns = h->start_mono_ns;
	memcpy(p->process_name, h->process_name, RT_SHM_PROCESS_NAME_LEN);
	p->process_name[RT_SHM_PROCESS_NAME_LEN] = 0;
	for (char *c = p->process_name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\')
			*c = '?';
	return 0;
}

int rtc_producer_open_name(struct rtc_producer *p, const char *shm_name)
{
	struct rt_shm_control head;
	struct stat st;
	void *map;
	int fd, err;
	unsigned uid = 0, pid = 0;

	memset(p, 0, sizeof(*p));
	if (sscanf(shm_name, "/" RT_SHM_PREFIX ".%u.%u", &uid, &pid) != 2)
		return -EINVAL;
	snprintf(p->shm_name, sizeof(p->shm_name), "%s", shm_name);
	p->pid = (pid_t)pid;
	p->uid = (uid_t)uid;
	err = rtc_safe_copy_init();
	if (err < 0)
		return err;
	fd = shm_open(shm_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto error_close;
	}
	/* Only our own user's producers, unless we are root. */
	if (st.st_uid != geteuid() && geteuid() != 0) {
		err = -EACCES;
		goto error_close;
	}
	if ((size_t)st.st_size < sizeof(head)) {
		err = st.st_size == 0 ? -RT_EBADMAGIC : -RT_ECORRUPT;
		goto error_close;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		err = -errno;
		goto error_close;
	}
	close(fd);
	p->ctl = map;
	p->map_size = (size_t)st.st_size;
	/* Acquire on the magic pairs with the producer's release after initialising the header;
	 * then take a private copy. Both reads survive a truncation (SIGBUS). */
	{
		uint64_t magic;

		if (rtc_safe_load_acquire(&p->ctl->magic, &magic) < 0 || magic != RT_SHM_CONTROL_MAGIC) {
			err = -RT_EBADMAGIC;
			goto error_unmap;
		}
	}
	if (rtc_safe_copy(&head, p->ctl, sizeof(head)) < 0) {
		err = -RT_ECORRUPT;
		goto error_unmap;
	}
	err = validate(p, &head, p->map_size);
	if (err < 0)
		goto error_unmap;
	if (head.pid != pid || head.uid != uid) {
		err = -RT_ECORRUPT;
		goto error_unmap;
	}
	p->names = calloc(p->names_capacity ? p->names_capacity : 1, sizeof(char *));
	if (!p->names) {
		err = -ENOMEM;
		goto error_unmap;
	}
	return 0;

error_unmap:
	munmap(map, (size_t)st.st_size);
	p->ctl = NULL;
	return err;
error_close:
	close(fd);
	return err;
}

int rtc_producer_open(struct rtc_producer *p, pid_t pid, uid_t uid)
{
	char name[96];

	snprintf(name, sizeof(name), RT_SHM_CONTROL_FMT, (unsigned)uid, (unsigned)pid);
	return rtc_producer_open_name(p, name);
}

void rtc_producer_close(struct rtc_producer *p)
{
	if (atomic_load_explicit(&p->session, memory_order_relaxed))
		rtc_producer_detach(p);
	if (p->names) {
		for (uint32_t i = 0; i < p->names_capacity; i++)
			free(p->names[i]);
		free(p->names);
	}
	if (p->ctl)
		munmap(p->ctl, p->map_size);
	memset(p, 0, sizeof(*p));
}

static bool pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

int rtc_producer_attach(struct rtc_producer *p)
{
	struct rt_shm_control *c = p->ctl;
	uint32_t token, cur;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	token = ((uint32_t)getpid() << 8) ^ (uint32_t)ts.tv_nsec;
	if (token == 0)
		token = 1;
	cur = 0;
	/* acq_rel: we read the previous consumer's state if we take over, and our consumer_pid and
	 * heartbeat writes below are ordered after winning. */
	if (!atomic_compare_exchange_strong_explicit(&c->session, &cur, token, memory_order_acq_rel,
						    memory_order_acquire)) {
		uint32_t holder = atomic_load_explicit(&c->consumer_pid, memory_order_relaxed);

		if (holder != 0 && pid_alive((pid_t)holder))
			return -RT_EBUSY_CONSUMER;
		/* The holder died without detaching: take its lease over. */
		if (!atomic_compare_exchange_strong_explicit(&c->session, &cur, token, memory_order_acq_rel,
							    memory_order_acquire))
			return -RT_EBUSY_CONSUMER;
	}
	atomic_store_explicit(&c->consumer_pid, (uint32_t)getpid(), memory_order_relaxed);
	atomic_fetch_add_explicit(&c->heartbeat, 1, memory_order_relaxed);
	/* Relaxed: producers only test the word; they snapshot their stacks when they next see
	 * the new session. */
	atomic_store_explicit(&c->active, RT_SHM_ACTIVE_ON, memory_order_relaxed);
	atomic_store_explicit(&p->session, token, memory_order_relaxed);
	return 0;
}

void rtc_producer_heartbeat(struct rtc_producer *p)
{
	if (atomic_load_explicit(&p->session, memory_order_relaxed))
		atomic_fetch_add_explicit(&p->ctl->heartbeat, 1, memory_order_relaxed);
}

void rtc_producer_detach(struct rtc_producer *p)
{
	uint32_t token = atomic_exchange_explicit(&p->session, 0, memory_order_relaxed);

	if (!token)
		return;
	/* Only if the lease is still ours (the producer may have expired it). */
	if (atomic_compare_exchange_strong_explicit(&p->ctl->session, &token, 0, memory_order_acq_rel,
						   memory_order_relaxed)) {
		atomic_store_explicit(&p->ctl->active, p->idle_active, memory_order_relaxed);
		atomic_store_explicit(&p->ctl->consumer_pid, 0, memory_order_relaxed);
	}
}

bool rtc_producer_exited(const struct rtc_producer *p)
{
	/* Acquire pairs with the producer's release of `exited` after finishing its rings. */
	return atomic_load_explicit(&p->ctl->exited, memory_order_acquire) != 0 || !pid_alive(p->pid);
}

static struct rt_shm_thread_slot *slots(struct rtc_producer *p)
{
	return (struct rt_shm_thread_slot *)((char *)p->ctl + p->threads_offset);
}

size_t rtc_producer_threads(struct rtc_producer *p, struct rtc_thread_info *out, size_t max)
{
	size_t n = 0;

	for (uint32_t i = 0; i < p->threads_capacity && n < max; i++) {
		struct rt_shm_thread_slot *s = &slots(p)[i];
		/* Acquire pairs with the producer's release when the slot became ACTIVE. */
		uint32_t st = atomic_load_explicit(&s->state, memory_order_acquire);
		struct rtc_thread_info *t = &out[n];

		if (st == RT_SHM_THREAD_FREE || st == RT_SHM_THREAD_CLAIMED || st > RT_SHM_THREAD_DRAINED)
			continue;
		t->slot = i;
		t->state = st;
		t->tid = s->tid;
		t->thread_number = atomic_load_explicit(&s->thread_number, memory_order_relaxed);
		if (rtc_safe_copy(t->name, s->name, RT_SHM_THREAD_NAME_LEN) < 0)
			break;
		t->name[RT_SHM_THREAD_NAME_LEN] = 0;
		for (char *c = t->name; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == '"' || *c == '\\')
				*c = '?';
		n++;
	}
	return n;
}

void rtc_producer_thread_drained(struct rtc_producer *p, uint32_t slot, uint64_t thread_number, bool dead)
{
	struct rt_shm_thread_slot *s;
	uint32_t expect = RT_SHM_THREAD_FINISHED;

	if (slot >= p->threads_capacity)
		return;
	s = &slots(p)[slot];
	if (atomic_load_explicit(&s->thread_number, memory_order_relaxed) != thread_number ||
	    (!dead && atomic_load_explicit(&s->state, memory_order_acquire) != RT_SHM_THREAD_FINISHED))
		return;
	/* The thread is gone and we have read everything: free the ring's memory now rather than
	 * when the producer next needs a slot. */
	{
		char name[128];

		rtc_producer_ring_name(p, thread_number, name, sizeof(name));
		shm_unlink(name);
	}
	/* Release: our reads of the ring are done before the producer may reuse the slot. */
	atomic_compare_exchange_strong_explicit(&s->state, &expect, RT_SHM_THREAD_DRAINED, memory_order_release,
						memory_order_relaxed);
}

const char *rtc_producer_name(struct rtc_producer *p, uint32_t id)
{
	static const char unknown[] = "<unknown>";
	const uint32_t *offsets;
	uint8_t hdr[RT_NAME_HDR_SIZE];
	uint32_t off, len;
	char *s;

	if (id >= p->names_capacity)
		return unknown;
	if (p->names[id])
		return p->names[id];
	offsets = (const uint32_t *)((const char *)p->ctl + p->names_offset);
	/* Acquire pairs with the producer's release after writing the entry bytes. */
	off = __atomic_load_n(&offsets[id], __ATOMIC_ACQUIRE);
	if (off == 0 || off >= p->arena_size || p->arena_size - off < RT_NAME_HDR_SIZE)
		return unknown; /* not (yet) published, or garbage */
	if (rtc_safe_copy(hdr, (const char *)p->ctl + p->arena_offset + off, sizeof(hdr)) < 0)
		return unknown;
	len = hdr[0] | ((uint32_t)hdr[1] << 8);
	if (len > RT_SHM_NAME_MAX_LEN || p->arena_size - off - RT_NAME_HDR_SIZE < len)
		return unknown;
	s = malloc(len + 1);
	if (!s)
		return unknown;
	if (rtc_safe_copy(s, (const char *)p->ctl + p->arena_offset + off + RT_NAME_HDR_SIZE, len) < 0) {
		free(s);
		return unknown;
	}
	s[len] = 0;
	p->names[id] = s;
	return s;
}

static int cmp_calib(const void *a, const void *b)
{
	const struct rt_shm_calib_point *x = a, *y = b;

	return x->tsc < y->tsc ? -1 : x->tsc > y->tsc;
}

size_t rtc_producer_calibration(struct rtc_producer *p, struct rt_shm_calib_point *out, size_t max)
{
	struct rt_shm_calib_point *pts = (struct rt_shm_calib_point *)((char *)p->ctl + p->calib_offset);
	size_t n = 0;

	for (uint32_t i = 0; i < p->calib_capacity && n < max; i++) {
		/* Seqlock read: acquire the sequence, copy, fence, check it did not move. */
		uint64_t s1 = atomic_load_explicit(&pts[i].seq, memory_order_acquire), s2;
		struct rt_shm_calib_point c;

		if (s1 == 0 || (s1 & 1))
			continue;
		c.tsc = pts[i].tsc;
		c.mono_ns = pts[i].mono_ns;
		c.real_ns = pts[i].real_ns;
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&pts[i].seq, memory_order_relaxed);
		if (s1 != s2 || c.mono_ns == 0)
			continue;
		out[n++] = c;
	}
	qsort(out, n, sizeof(*out), cmp_calib);
	return n;
}

int rtc_producer_scan(void (*fn)(void *ctx, pid_t pid, const char *shm_name, bool control), void *ctx)
{
	DIR *dir = opendir("/dev/shm");
	struct dirent *de;
	char prefix[64];
	size_t plen;

	if (!dir)
		return -errno;
	plen = (size_t)snprintf(prefix, sizeof(prefix), RT_SHM_PREFIX ".%u.", (unsigned)getuid());
	while ((de = readdir(dir)) != NULL) {
		char name[300], rest[8];
		unsigned pid;
		int n;

		if (strncmp(de->d_name, prefix, plen) != 0)
			continue;
		n = sscanf(de->d_name + plen, "%u%7s", &pid, rest);
		if (n < 1 || (n == 2 && rest[0] != '.'))
			continue;
		snprintf(name, sizeof(name), "/%s", de->d_name);
		fn(ctx, (pid_t)pid, name, n == 1);
	}
	closedir(dir);
	return 0;
}

void rtc_producer_ring_name(const struct rtc_producer *p, uint64_t thread_number, char *buf, size_t len)
{
	snprintf(buf, len, RT_SHM_RING_FMT, (unsigned)p->uid, (unsigned)p->pid, thread_number);
}
