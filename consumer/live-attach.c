/* SPDX-License-Identifier: MIT */
/* Finding and attaching producers (docs/consumer.md "Live recording"): -p, -a, programs we launch
 * and everything they start (our recording session's token), what a producer tells at attach time
 * (names, open tasks, counters) and taking back a lease the producer dropped. */
#include "live-private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#include "error.h"
#include "safe-copy.h"

/* A control segment not ours to attach is looked at again after this long. */
#define SKIP_NS 1000000000ull
/* /dev/shm is read whole this often; in between, inotify tells what was created. */
#define RESCAN_NS 1000000000ull
/* The producer's counters of what it could not trace are looked at this often. */
#define COUNTS_INTERVAL_NS 200000000ull

struct lproc *rtc_live_new_proc(struct rtc_live *l, pid_t pid)
{
	struct lproc *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (l->nprocs == l->procs_cap) {
		size_t cap = l->procs_cap ? l->procs_cap * 2 : 8;
		struct lproc **n = realloc(l->procs, cap * sizeof(*n));

		if (!n) {
			free(p);
			return NULL;
		}
		l->procs = n;
		l->procs_cap = cap;
	}
	p->index = UINT32_MAX;
	p->pid = pid;
	l->procs[l->nprocs++] = p;
	return p;
}

/* The process of pid we know now; retired ones are history (the pid may be a new process). */
static struct lproc *registered(struct rtc_live *l, pid_t pid)
{
	for (size_t i = l->nprocs; i-- > 0;)
		if (l->procs[i]->pid == pid && !l->procs[i]->retired)
			return l->procs[i];
	return NULL;
}

/* The same by control segment: one pid may have two (an image before and after an exec). */
static struct lproc *registered_segment(struct rtc_live *l, const char *name)
{
	for (size_t i = l->nprocs; i-- > 0;)
		if (!l->procs[i]->retired && strcmp(l->procs[i]->segment, name) == 0)
			return l->procs[i];
	return NULL;
}

static void say_refused(struct rtc_live *l, pid_t pid, int err, const char *why)
{
	if (err == -ENOENT)
		rtc_live_say(l, "pid %d: not a traced process (no ringtrace segment)", (int)pid);
	else if (why && *why)
		rtc_live_say(l, "pid %d: %s (%s)", (int)pid, rtc_strerror(err), why);
	else
		rtc_live_say(l, "pid %d: %s", (int)pid, rtc_strerror(err));
}

void rtc_live_send_names(struct rtc_live *l, struct lproc *p)
{
	uint32_t count = rtc_producer_names_count(&p->p);

	for (; p->names_sent < count; p->names_sent++) {
		const char *s = rtc_producer_name(&p->p, p->names_sent);

		if (strcmp(s, "<unknown>") == 0 && p->names_sent >= 2)
			break; /* not published yet: next time */
		l->out->name(l->out_ctx, p->index, p->names_sent, s, strlen(s));
	}
}

struct open_tasks {
	struct rtc_stream_task *v;
	size_t n, cap;
};

static int keep_task(void *ctx, const struct rtc_task_info *t)
{
	struct open_tasks *o = ctx;

	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 64;
		struct rtc_stream_task *v = realloc(o->v, cap * sizeof(*v));

		if (!v)
			return 1;
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n++] = (struct rtc_stream_task){ .id = t->id, .parent = t->parent, .name_id = t->name_id,
						 .flags = t->coarse ? RT_SHM_STACK_COARSE : 0, .begin = t->begin_ts };
	return 0;
}

/* The tasks open now, after the names they use: a task's name is published before the task is
 * in the table, so reading the table first and the names after gives every name a task needs. */
static void send_open_tasks(struct rtc_live *l, struct lproc *p)
{
	struct open_tasks o = { 0 };

	rtc_producer_each_task(&p->p, keep_task, &o);
	rtc_live_send_names(l, p);
	for (size_t i = 0; i < o.n; i++) {
		o.v[i].proc = p->index;
		l->out->task(l->out_ctx, &o.v[i]);
	}
	free(o.v);
}

static void send_counts(struct rtc_live *l, struct lproc *p, uint64_t now)
{
	struct rtc_producer_counts c;
	struct rtc_stream_counts msg;

	/* A few times a second (each change is an event in the trace), and always at the end. */
	if (now && now - p->counts_ns < COUNTS_INTERVAL_NS)
		return;
	p->counts_ns = now;
	if (rtc_producer_counts(&p->p, &c) < 0)
		return;
	if (c.thread_overflows == p->counts_sent.thread_overflows && c.ring_failures == p->counts_sent.ring_failures &&
	    c.name_overflows == p->counts_sent.name_overflows && c.task_overflows == p->counts_sent.task_overflows)
		return;
	p->counts_sent = c;
	msg = (struct rtc_stream_counts){ .proc = p->index, .threads_untraced = c.thread_overflows + c.ring_failures,
					  .names_overflowed = c.name_overflows, .tasks_untracked = c.task_overflows };
	l->out->counts(l->out_ctx, &msg);
}

/* Take the lease of the producer opened in p->p and announce the process. */
static int take(struct rtc_live *l, struct lproc *p)
{
	struct rt_shm_calib_point pts[RT_SHM_CALIB_MAX];
	struct rtc_stream_process msg;
	size_t n;
	int err = rtc_producer_attach(&p->p);

	if (err < 0) {
		rtc_producer_close(&p->p);
		return err;
	}
	p->pid = p->p.pid;
	snprintf(p->segment, sizeof(p->segment), "%s", p->p.shm_name);
	p->attached = true;
	p->gone = false;
	p->refused = false;
	if (p->index == UINT32_MAX)
		p->index = l->next_index++;
	p->names_sent = 0;
	memset(&p->counts_sent, 0, sizeof(p->counts_sent));
	/* Everything a session's member wrote is in its rings: it began recording at its start. */
	p->from_start |= l->session.token && p->p.session_token == l->session.token &&
			 (p->p.session_flags & RT_SHM_SESSION_FROM_START);
	rtc_clockmap_fini(&p->clock); /* attached again: its clock starts afresh */
	rtc_clockmap_init(&p->clock, p->p.clock);
	n = rtc_producer_calibration(&p->p, pts, RT_SHM_CALIB_MAX);
	rtc_clockmap_add(&p->clock, pts, n);
	p->attach_ns = p->from_start && p->p.start_mono_ns ? p->p.start_mono_ns : rtc_live_mono_ns();
	p->lease_ok_ns = rtc_live_mono_ns();
	snprintf(p->name, sizeof(p->name), "%s", p->p.process_name);
	if (!l->origin_ns || (p->p.start_mono_ns && p->p.start_mono_ns < l->origin_ns))
		l->origin_ns = p->p.start_mono_ns ? p->p.start_mono_ns : p->attach_ns;
	l->tsc |= p->p.clock == RT_SHM_CLOCK_TSC;
	/* Visible to the helper thread (heartbeats) from now on. */
	RCU_PUBLISHED(p);
	cds_lfht_add(l->registry, (unsigned long)p->pid, &p->node);
	msg = (struct rtc_stream_process){ .index = p->index, .pid = (uint32_t)p->pid, .clock = p->p.clock,
					   .mode = p->p.mode, .parent_pid = p->p.parent_pid, .name = p->name,
					   .start_real_ns = p->p.start_real_ns, .start_mono_ns = p->p.start_mono_ns,
					   .coarse_resolution_ns = p->p.coarse_res_ns };
	l->out->process(l->out_ctx, &msg);
	for (size_t i = 0; i < n; i++)
		l->out->calib(l->out_ctx, p->index, &pts[i]);
	/* The stream's reader maps timestamps with exactly the points we map them with. */
	if (rtc_clockmap_sample(&p->clock, &pts[0]))
		l->out->calib(l->out_ctx, p->index, &pts[0]);
	p->sampled_ns = rtc_live_mono_ns();
	/* A process recorded from its start has every task's begin in its rings. */
	if (p->from_start)
		rtc_live_send_names(l, p);
	else
		send_open_tasks(l, p);
	send_counts(l, p, 0);
	p->counts_ns = rtc_live_mono_ns();
	return 0;
}

int rtc_live_attach_proc(struct rtc_live *l, struct lproc *p, const char *shm_name, bool quiet)
{
	int err = shm_name ? rtc_producer_open_name(&p->p, shm_name) : rtc_producer_open_pid(&p->p, p->pid);

	if (err == 0)
		err = take(l, p);
	if (err < 0) {
		if (!quiet)
			say_refused(l, p->pid, err, p->p.why);
		p->gone = true;
		p->refused = true;
		p->retry_ns = rtc_live_mono_ns() + SKIP_NS;
	}
	return err;
}

int rtc_live_attach(struct rtc_live *l, pid_t pid)
{
	struct lproc *p = registered(l, pid);

	if (p)
		return p->refused ? -EBUSY : 0;
	p = rtc_live_new_proc(l, pid);
	if (!p)
		return -ENOMEM;
	return rtc_live_attach_proc(l, p, NULL, false);
}

void rtc_live_expect(struct rtc_live *l, pid_t pid)
{
	pid_t *n = realloc(l->expected, (l->nexpected + 1) * sizeof(*n));

	if (!n)
		return;
	l->expected = n;
	l->expected[l->nexpected++] = pid;
}

int rtc_live_session_env(const struct rtc_live *l, char *buf, size_t len)
{
	if (!l->session.token)
		return -ENOENT;
	rtc_session_env(&l->session, buf, len);
	return 0;
}

/* ---- finding processes ---- */

static bool skipped(struct rtc_live *l, const char *name, uint64_t now)
{
	struct lnames *s = &l->skip;

	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, name) == 0) {
			if (now < s->v[i].until)
				return true;
			s->v[i] = s->v[--s->n];
			return false;
		}
	return false;
}

static void remember(struct lnames *s, const char *name, uint64_t until)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, name) == 0)
			return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct lname *n = realloc(s->v, cap * sizeof(*n));

		if (!n)
			return;
		s->v = n;
		s->cap = cap;
	}
	snprintf(s->v[s->n].name, sizeof(s->v[s->n].name), "%s", name);
	s->v[s->n++].until = until;
}

static void skip(struct rtc_live *l, const char *name, uint64_t now)
{
	remember(&l->skip, name, now + SKIP_NS);
}

/* Another live consumer's recording session (a program it launched, or started under its
 * `record -a`): not ours to take. */
static bool foreign_session(struct rtc_live *l, const struct rtc_producer *p)
{
	if (!p->session_token || p->session_token == l->session.token || !p->session_pid ||
	    p->session_pid == (uint32_t)getpid())
		return false;
	return kill((pid_t)p->session_pid, 0) == 0 || errno == EPERM;
}

static int found(void *ctx, const struct rtc_segment *s)
{
	struct rtc_live *l = ctx;
	uint64_t now = rtc_live_mono_ns();
	struct rtc_producer cand;
	struct lproc *p;
	bool member;
	int err;

	if (s->kind != RTC_SEG_CONTROL || s->owner != s->name_uid || s->pid == l->o.self)
		return 0;
	p = registered_segment(l, s->name);
	if ((p && (p->attached || !p->refused || now < p->retry_ns)) || skipped(l, s->name, now))
		return 0;
	err = rtc_producer_open_name(&cand, s->name);
	if (err < 0) {
		/* Not complete yet (a process starting): look again at the next poll. */
		if (err == -RT_EBADMAGIC)
			remember(&l->pending, s->name, 0);
		else
			skip(l, s->name, now);
		return 0;
	}
	member = l->session.token && cand.session_token == l->session.token;
	/* Ours whatever its state (a session keeps a dead member's segments for us). Else, with -a:
	 * any live process but one of another consumer's session. */
	if (!member && !(l->o.all && !rtc_producer_exited(&cand) && !foreign_session(l, &cand))) {
		rtc_producer_close(&cand);
		skip(l, s->name, now);
		return 0;
	}
	if (!p)
		p = rtc_live_new_proc(l, s->pid);
	if (!p) {
		rtc_producer_close(&cand);
		return 1;
	}
	p->p = cand; /* the handle moves: cand is not used again */
	if (take(l, p) < 0) {
		p->refused = true;
		p->gone = true;
		p->retry_ns = now + SKIP_NS;
	}
	return 0;
}

/* Watch /dev/shm for new names. Without inotify every poll reads the whole directory. */
void rtc_live_watch(struct rtc_live *l)
{
	l->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (l->inotify_fd >= 0 && inotify_add_watch(l->inotify_fd, "/dev/shm", IN_CREATE | IN_MOVED_TO) < 0) {
		close(l->inotify_fd);
		l->inotify_fd = -1;
	}
}

/* found() for a name reported by inotify or waiting to be complete. */
static void found_name(struct rtc_live *l, const char *name)
{
	char path[RT_SHM_NAME_MAX + 16];
	struct rtc_segment s;
	struct stat st;

	if (rtc_segment_parse(name, &s) < 0 || s.kind != RTC_SEG_CONTROL || s.name_uid != geteuid())
		return;
	snprintf(path, sizeof(path), "/dev/shm%s", s.name);
	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	s.owner = st.st_uid;
	s.size = (uint64_t)st.st_size;
	s.blocks = (uint64_t)st.st_blocks * 512;
	found(l, &s);
}

/* Control segments created since the last call, each to found(). False when the whole directory
 * must be read instead (no inotify, or its queue overflowed). */
static bool created(struct rtc_live *l)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool complete = true;
	ssize_t n;

	if (l->inotify_fd < 0)
		return false;
	while ((n = read(l->inotify_fd, buf, sizeof(buf))) > 0) {
		for (char *at = buf; at < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)at;

			at += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW)
				complete = false;
			if (ev->len)
				found_name(l, ev->name);
		}
	}
	return complete;
}

void rtc_live_find(struct rtc_live *l)
{
	/* Launched programs first: a root that has exited by now made its descendants' segments
	 * before the scan below. */
	for (size_t i = 0; i < l->nexpected;) {
		if (kill(l->expected[i], 0) != 0 && errno == ESRCH) {
			l->expected[i] = l->expected[--l->nexpected];
			continue;
		}
		i++;
	}
	if (!l->o.all && !l->session.token)
		return;
	/* New names as inotify reports them; the whole directory at first, after an overflow, when
	 * a segment was not complete yet, and once a second whatever happens. */
	{
		uint64_t now = rtc_live_mono_ns();

		size_t waiting = l->pending.n;

		/* Those not complete at the last look (found() puts them back if still not). */
		for (size_t i = 0; i < waiting && l->pending.n; i++) {
			char name[RT_SHM_NAME_MAX];

			snprintf(name, sizeof(name), "%s", l->pending.v[0].name);
			l->pending.v[0] = l->pending.v[--l->pending.n];
			found_name(l, name);
		}
		if (!created(l) || now >= l->rescan_ns) {
			l->rescan_ns = now + RESCAN_NS;
			rtc_segments_scan(false, found, l);
		}
	}
}

/* ---- while attached ---- */

void rtc_live_final_counts(struct rtc_live *l, struct lproc *p)
{
	send_counts(l, p, 0);
}

int rtc_live_proc_state(struct rtc_live *l, struct lproc *p, uint64_t now)
{
	send_counts(l, p, now);
	if (rtc_producer_lease_held(&p->p)) {
		p->lease_ok_ns = now;
		return 0;
	}
	if (rtc_producer_exited(&p->p))
		return 0;
	/* The producer dropped us (our heartbeats stopped for its lease time: this process was
	 * stopped or starved) and stopped recording: take the lease back and mark what is missing
	 * (a flight recorder kept recording: nothing is). */
	atomic_store_explicit(&p->p.session, 0, memory_order_relaxed);
	if (rtc_producer_attach(&p->p) < 0) {
		rtc_live_say(l, "pid %d: another consumer took this process over while we were stopped; its records so far "
				"are kept", (int)p->pid);
		return -EBUSY;
	}
	rtc_live_say(l, "pid %d: the producer dropped our lease (we were stopped for %.1f s); recording resumes",
		     (int)p->pid, (double)(now - p->lease_ok_ns) / 1e9);
	/* Meanwhile it tracked spans without recording them: a thread that records nothing now has
	 * its shared stack read again (live.c, send_stack()). */
	for (uint32_t ti = 0; ti < l->nthreads; ti++) {
		struct lthread *t = &l->threads[ti];

		if (t->proc == p->index && t->open) {
			t->stack_done = t->quiet = false;
			t->retaken = true;
		}
	}
	if (p->p.idle_active != RT_SHM_ACTIVE_ON) {
		struct rtc_stream_gap g = { .proc = p->index, .from_ns = p->lease_ok_ns, .to_ns = now };

		l->out->gap(l->out_ctx, &g);
	}
	p->lease_ok_ns = now;
	return 0;
}

uint64_t rtc_live_origin(const struct rtc_live *l)
{
	return l->origin_ns;
}
