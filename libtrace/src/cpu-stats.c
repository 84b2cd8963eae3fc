/* SPDX-License-Identifier: MIT */
/* Sampling a thread's CPU counters for span records: perf context-switch records read from a ring in the
 * process (no system call per sample), getrusage(RUSAGE_THREAD), or the thread CPU clock. */
#include "cpu-stats.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <ringtrace/records.h>

#define PERF_DATA_PAGES 4 /* 16 KiB: 1024 switch records, 512 switches between two samples */

enum mode { MODE_UNSET, MODE_OFF, MODE_AUTO, MODE_PERF, MODE_RUSAGE, MODE_CLOCK };
enum source { SRC_UNTRIED, SRC_PERF, SRC_RUSAGE, SRC_CLOCK, SRC_NONE };

struct cpu_thread {
	enum source src;
	int fd;
	struct perf_event_mmap_page *page; /* control page, then the data pages */
	size_t map_len;
	const uint8_t *data;
	uint64_t data_size, tail;
	uint64_t off_ns, vol, invol; /* cumulative, from the records read so far */
	uint64_t out_ts;             /* time of the last switch-out not yet matched by a switch-in */
	bool out_pending;
	uint64_t gen;                /* records were lost this many times */
	uint64_t marked;             /* rt_span_begin_cpu() spans by open-span stack index */
};

/* Written once at the first thread registration (relaxed: a plain value, no data hangs off it). */
static _Atomic int mode_cached = MODE_UNSET;
static __thread struct cpu_thread self __attribute__((tls_model("initial-exec")));

static enum mode read_mode(void)
{
	const char *v = getenv("RINGTRACE_CPU_STATS");

	if (!v || !*v || !strcmp(v, "0"))
		return MODE_OFF;
	if (!strcmp(v, "perf"))
		return MODE_PERF;
	if (!strcmp(v, "rusage"))
		return MODE_RUSAGE;
	if (!strcmp(v, "clock"))
		return MODE_CLOCK;
	return MODE_AUTO; /* "1", "auto", anything else that asks for it */
}

static enum mode mode(void)
{
	int m = atomic_load_explicit(&mode_cached, memory_order_relaxed);

	if (m == MODE_UNSET) {
		m = read_mode();
		atomic_store_explicit(&mode_cached, m, memory_order_relaxed);
	}
	return (enum mode)m;
}

/* ---- perf context-switch records ---- */

static void perf_close(struct cpu_thread *c)
{
	if (c->src != SRC_PERF)
		return;
	munmap(c->page, c->map_len);
	close(c->fd);
	c->page = NULL;
}

static bool perf_open(struct cpu_thread *c)
{
	struct perf_event_attr a;
	long page = sysconf(_SC_PAGESIZE);
	void *m;
	int fd;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_SOFTWARE;
	a.size = sizeof(a);
	a.config = PERF_COUNT_SW_DUMMY;
	a.context_switch = 1;
	a.sample_id_all = 1;
	a.sample_type = PERF_SAMPLE_TIME; /* every record ends with its time stamp */
	a.use_clockid = 1;
	a.clockid = CLOCK_MONOTONIC;
	a.exclude_kernel = 1; /* allowed at perf_event_paranoid 2 */
	a.exclude_hv = 1;
	a.watermark = 1;
	a.wakeup_watermark = 1u << 30; /* nobody polls: never wake anyone */
	fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return false;
	if (page <= 0)
		page = 4096;
	c->map_len = (size_t)page * (1 + PERF_DATA_PAGES);
	/* Writable: the kernel then honours data_tail and never overwrites what was not read. */
	m = mmap(NULL, c->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		close(fd);
		return false;
	}
	c->fd = fd;
	c->page = m;
	c->data = (const uint8_t *)m + (c->page->data_offset ? c->page->data_offset : (uint64_t)page);
	c->data_size = c->page->data_size ? c->page->data_size : (uint64_t)page * PERF_DATA_PAGES;
	c->tail = 0;
	return true;
}

/* n bytes of the ring at position pos (which may wrap). */
static void ring_copy(const struct cpu_thread *c, uint64_t pos, void *dst, size_t n)
{
	uint64_t at = pos & (c->data_size - 1);
	size_t first = c->data_size - at < n ? (size_t)(c->data_size - at) : n;

	memcpy(dst, c->data + at, first);
	memcpy((uint8_t *)dst + first, c->data, n - first);
}

/* Read the records written since the last call into the cumulative counters. */
static void perf_update(struct cpu_thread *c)
{
	/* Acquire: pairs with the kernel's barrier between writing a record and publishing data_head
	 * (perf_event_open(2), "data_head"): the records up to head are complete when read below. */
	uint64_t head = __atomic_load_n(&c->page->data_head, __ATOMIC_ACQUIRE);
	uint64_t pos = c->tail;

	if (head == pos)
		return; /* not switched out since the last sample: the common case */
	while (head - pos >= sizeof(struct perf_event_header)) {
		struct perf_event_header h;
		uint64_t ts;

		ring_copy(c, pos, &h, sizeof(h));
		if (h.size < sizeof(h) || h.size > head - pos)
			break; /* never written by a sane kernel: stop rather than loop */
		if (h.type == PERF_RECORD_SWITCH && h.size >= sizeof(h) + sizeof(ts)) {
			ring_copy(c, pos + h.size - sizeof(ts), &ts, sizeof(ts)); /* sample_id: the time */
			if (h.misc & PERF_RECORD_MISC_SWITCH_OUT) {
				c->out_ts = ts;
				c->out_pending = true;
				if (h.misc & PERF_RECORD_MISC_SWITCH_OUT_PREEMPT)
					c->invol++;
				else
					c->vol++;
			} else if (c->out_pending) {
				c->off_ns += ts > c->out_ts ? ts - c->out_ts : 0;
				c->out_pending = false;
			}
		} else if (h.type == PERF_RECORD_LOST) {
			/* Switches were not recorded: spans across this get no breakdown. */
			c->gen++;
			c->out_pending = false;
		}
		pos += h.size;
	}
	c->tail = pos;
	/* Release: our reads of the records are done before the kernel may write over them
	 * (perf_event_open(2), "data_tail"). */
	__atomic_store_n(&c->page->data_tail, pos, __ATOMIC_RELEASE);
}

/* ---- sampling ---- */

static enum source pick(struct cpu_thread *c)
{
	switch (mode()) {
	case MODE_RUSAGE:
		return SRC_RUSAGE;
	case MODE_CLOCK:
		return SRC_CLOCK;
	default:
		return perf_open(c) ? SRC_PERF : SRC_CLOCK;
	}
}

uint8_t rt__cpu_thread_default(void)
{
	if (mode() == MODE_OFF)
		return 0;
	/* Now rather than in the thread's first span, whose time it would be (milliseconds, seen). */
	if (self.src == SRC_UNTRIED)
		self.src = pick(&self);
	return 1;
}

bool rt__cpu_sample(struct rt__cpu_sample *s)
{
	struct cpu_thread *c = &self;
	struct rusage ru;
	struct timespec ts;

	if (c->src == SRC_UNTRIED)
		c->src = pick(c);
	switch (c->src) {
	case SRC_PERF:
		perf_update(c);
		s->src = c->gen << 2 | RT_CPU_SRC_OFF;
		s->ns = c->off_ns;
		s->vol = c->vol;
		s->invol = c->invol;
		return true;
	case SRC_RUSAGE:
		if (getrusage(RUSAGE_THREAD, &ru) != 0)
			return false;
		s->src = RT_CPU_SRC_ON;
		s->ns = ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
			((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
		s->vol = (uint64_t)ru.ru_nvcsw;
		s->invol = (uint64_t)ru.ru_nivcsw;
		return true;
	case SRC_CLOCK:
		if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
			return false;
		s->src = RT_CPU_SRC_ON;
		s->ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		s->vol = s->invol = 0;
		return true;
	default:
		return false;
	}
}

void rt__cpu_mark(uint32_t sd)
{
	if (sd < 64)
		self.marked |= 1ull << sd;
}

bool rt__cpu_take(uint32_t sd)
{
	bool was;

	if (sd >= 64)
		return false;
	was = (self.marked >> sd) & 1;
	self.marked &= (1ull << sd) - 1; /* it, and any deeper one a repair closed with it */
	return was;
}

bool rt__cpu_marked(void)
{
	return self.marked != 0;
}

void rt__cpu_forget(void)
{
	perf_close(&self);
	memset(&self, 0, sizeof(self));
}
