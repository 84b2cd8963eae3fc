/* SPDX-License-Identifier: MIT */
/* Producer API semantics and misuse, checked through what an attached consumer decodes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <ringtrace/ringtrace.h>

#include "clock.h"
#include "harness.h"
#include "process.h"
#include "thread.h"

#define h harness_group

/* Run fn on a fresh thread so each test's records are alone on their thread. */
struct run {
	void (*fn)(void *);
	void *arg;
	uint64_t thread_number;
};

static void *run_main(void *p)
{
	struct run *r = p;

	rt_thread_register(NULL);
	r->thread_number = harness_self_thread();
	r->fn(r->arg);
	return NULL;
}

/* fn on a thread that the library has not seen yet: its first call is fn's. */
static void *run_unregistered(void *p)
{
	struct run *r = p;

	r->fn(r->arg);
	r->thread_number = harness_self_thread();
	return NULL;
}

static uint64_t run_in_thread(void (*fn)(void *), void *arg)
{
	struct run r = { fn, arg, 0 };
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, run_main, &r), 0);
	pthread_join(t, NULL);
	harness_drain(&h);
	return r.thread_number;
}

/* The records of one thread, excluding bookkeeping (thread start/exit, stack snapshots). */
static size_t thread_records(uint64_t tn, struct rec_copy **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < h.n && n < max; i++) {
		struct rec_copy *r = &h.recs[i];

		if (r->thread_number != tn || r->kind == RT_REC_THREAD_START || r->kind == RT_REC_THREAD_EXIT ||
		    r->kind == RT_REC_STACK)
			continue;
		out[n++] = r;
	}
	return n;
}

static const char *name_of(uint64_t id)
{
	return rtc_producer_name(&h.p, (uint32_t)id);
}

static void nested_spans(void *arg)
{
	(void)arg;
	RT_SPAN("outer");
	rt_span_begin("inner");
	rt_span_end();
}

/* The thread's records are exactly: begin outer, begin inner, end, end, in time order. */
static void assert_two_nested(uint64_t tn, const char *outer, const char *inner)
{
	struct rec_copy *r[16];
	size_t n = thread_records(tn, r, 16);

	assert_int_equal(n, 4);
	assert_int_equal(r[0]->kind, RT_REC_SPAN_BEGIN);
	assert_string_equal(name_of(r[0]->a), outer);
	assert_int_equal(r[1]->kind, RT_REC_SPAN_BEGIN);
	assert_string_equal(name_of(r[1]->a), inner);
	assert_int_equal(r[2]->kind, RT_REC_SPAN_END);
	assert_int_equal(r[3]->kind, RT_REC_SPAN_END);
	for (size_t i = 1; i < n; i++)
		assert_true(r[i]->ts >= r[i - 1]->ts);
	assert_int_equal(h.corrupt, 0);
}

static void test_nested_spans(void **state)
{
	(void)state;
	assert_two_nested(run_in_thread(nested_spans, NULL), "outer", "inner");
}

/* Open spans are tracked while nothing records unless RINGTRACE_TRACK_SPANS=0 (the api-untracked
 * run of this suite). */
static bool idle_tracking(void)
{
	return rt__proc.cfg.idle_active == RT_SHM_ACTIVE_TRACK;
}

/* What earlier headers declared: the fast-path state without stack_depth, under its old name (the
 * library keeps it as an alias of rt__fast_v2's storage). */
struct old_fast {
	uint32_t depth;
	uint32_t pad;
	uint64_t tracked;
};
extern __thread struct old_fast rt__fast_v1 __attribute__((tls_model("initial-exec")));

/* A call site compiled with an earlier header: it claims the depth and calls rt__span_begin_id(),
 * which reads the depth and the active word again (the library keeps that entry point). */
#define OLD_SITE_SPAN_BEGIN(name)                                                                     \
	do {                                                                                      \
		rt__fast_v1.depth = rt__fast_v1.depth + 1;                                         \
		__atomic_signal_fence(__ATOMIC_SEQ_CST);                                            \
		if (rt__on())                                                                       \
			rt__span_begin_id(rt_name_intern(name));                                    \
	} while (0)

/* Its end: a tracked span's end always calls the library. */
static void old_site_span_end(void)
{
	uint32_t d = rt__fast_v1.depth;
	uint64_t bit = 1ull << (d - 1);

	if (!(rt__fast_v1.tracked & bit)) {
		rt__fast_v1.depth = d - 1;
		return;
	}
	rt__fast_v1.tracked &= ~bit;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	rt__fast_v1.depth = d - 1;
	rt__span_end_tracked();
}

static void old_call_sites(void *arg)
{
	(void)arg;
	assert_ptr_equal((void *)&rt__fast_v1, (void *)&rt__fast_v2);
	rt_span_begin("new-site");
	OLD_SITE_SPAN_BEGIN("old-site");
	assert_int_equal(rt__fast_v2.depth, 2);
	assert_int_equal(rt__fast_v2.tracked, 3);
	old_site_span_end();
	rt_span_end();
	assert_int_equal(rt__fast_v1.tracked, 0);
	assert_int_equal(rt__fast_v1.depth, 0);
}

/* Old call sites while only tracking: their ends always reach the library, which pops. */
static void old_call_sites_tracking(void *arg)
{
	uint32_t *sd = &rt__thread_current->ring->stack_depth;

	(void)arg;
	rtc_producer_detach(&h.p);
	OLD_SITE_SPAN_BEGIN("old-outer");
	rt_span_begin("new-inner");
	assert_int_equal(*sd, idle_tracking() ? 2 : 0);
	rt_span_end();
	assert_int_equal(*sd, idle_tracking() ? 1 : 0);
	old_site_span_end();
	assert_int_equal(*sd, 0);
	assert_int_equal(rt__fast_v1.tracked, 0);
	assert_int_equal(rtc_producer_attach(&h.p), 0);
}

static void test_old_call_sites(void **state)
{
	(void)state;
	assert_two_nested(run_in_thread(old_call_sites, NULL), "new-site", "old-site");
	run_in_thread(old_call_sites_tracking, NULL);
}

static void spans_across_detach(void *arg)
{
	uint64_t *coarse = arg; /* [1]: CLOCK_MONOTONIC just after the idle begin */

	rtc_producer_detach(&h.p);
	rt_span_begin("while-off"); /* tracked with a coarse begin time, or only counted */
	coarse[1] = rt__mono_ns();
	assert_int_equal(rt__fast_v2.depth, 1);
	assert_int_equal(rt__fast_v2.tracked & 1, idle_tracking());
	assert_int_equal(rtc_producer_attach(&h.p), 0);
	rt_span_begin("while-on");
	assert_int_equal((rt__fast_v2.tracked >> 1) & 1, 1);
	rt_span_end();
	rt_span_end(); /* ends "while-off": recorded if tracked, and no misuse either way */
	assert_int_equal(rt__fast_v2.depth, 0);
	assert_int_equal(rt__fast_v2.tracked, 0);
}

static void test_spans_across_detach(void **state)
{
	struct rec_copy *r[16];
	uint64_t coarse[2];
	uint64_t tn = run_in_thread(spans_across_detach, coarse);
	size_t n = thread_records(tn, r, 16);

	(void)state;
	assert_int_equal(n, idle_tracking() ? 3 : 2);
	assert_int_equal(r[0]->kind, RT_REC_SPAN_BEGIN);
	assert_string_equal(name_of(r[0]->a), "while-on");
	assert_int_equal(r[1]->kind, RT_REC_SPAN_END);
	if (idle_tracking()) {
		/* The STACK written at the first record after attach shows it, coarse-stamped. */
		long i = -1;

		assert_int_equal(r[2]->kind, RT_REC_SPAN_END);
		for (size_t k = 0; k < h.n; k++)
			if (h.recs[k].thread_number == tn && h.recs[k].kind == RT_REC_STACK)
				i = (long)k;
		assert_true(i >= 0);
		assert_int_equal(h.recs[i].stack_len, 1);
		assert_string_equal(name_of(h.recs[i].stack[0].name_id), "while-off");
		assert_int_equal(h.recs[i].stack[0].flags, RT_SHM_STACK_COARSE);
		/* CLOCK_MONOTONIC ns, never after the true begin. Normally at most coarse_res_ns before
		 * it, but more when the helper thread is starved of CPU or the kernel's tick is late
		 * (the coarse clock then lags further): on a loaded machine it was seen 4.2 ms before
		 * the process's start with a 4 ms resolution. Only a gross error is caught below. */
		assert_true(rt__proc.ctl->coarse_res_ns > 0);
		assert_in_range(h.recs[i].stack[0].begin_ts,
				rt__proc.ctl->start_mono_ns - rt__proc.ctl->coarse_res_ns - 1000000000u, coarse[1]);
	}
}

/* While only tracking, the call site pops the shared open-span stack itself
 * (rt__fast_v2.stack_depth, ringtrace.h). A span begun with rt_span_begin_cpu() while recording
 * sends its end to the library even when recording stopped in between: the library ends its CPU
 * sampling, and the thread's ends are inline again after. */
static void inline_ends(void *arg)
{
	uint32_t *sd = rt__fast_v2.stack_depth;

	(void)arg;
	assert_non_null(sd); /* registered (run_main()), spans sample no CPU counters */
	assert_ptr_equal(sd, &rt__thread_current->ring->stack_depth);
	rtc_producer_detach(&h.p);
	rt_span_begin("idle-outer");
	rt_span_begin("idle-inner");
	assert_int_equal(*sd, idle_tracking() ? 2 : 0);
	rt_span_end();
	assert_int_equal(*sd, idle_tracking() ? 1 : 0);
	/* Only the call site pops now: the library, seeing the thread inside a record, would not. */
	rt__thread_current->busy = 1;
	rt_span_end();
	rt__thread_current->busy = 0;
	assert_int_equal(*sd, 0);
	assert_int_equal(rtc_producer_attach(&h.p), 0);
	rt_span_begin_cpu("cpu-span");
	assert_int_equal(*sd, 1);
	assert_null(rt__fast_v2.stack_depth); /* its end must reach the library */
	rtc_producer_detach(&h.p);
	rt_span_end();
	assert_int_equal(*sd, 0);
	assert_ptr_equal(rt__fast_v2.stack_depth, sd);
	assert_int_equal(rt__thread_current->cpu, 0);
	assert_int_equal(rtc_producer_attach(&h.p), 0);
}

/* A destructor of a thread-specific key created after the library's runs after the library's own
 * (keys are destroyed in creation order): by then the thread's ring is gone. */
static pthread_key_t late_key;
static int late_pointer_cleared = -1;

static void late_destructor(void *arg)
{
	(void)arg;
	late_pointer_cleared = rt__fast_v2.stack_depth == NULL;
	rt_span_end(); /* the span left open: an end that must not reach the unmapped ring */
	rt_span_begin("after-exit");
	rt_span_end();
}

static void *exiting_thread(void *arg)
{
	(void)arg;
	rt_span_begin("left-open");
	assert_non_null(rt__fast_v2.stack_depth);
	pthread_setspecific(late_key, &late_key);
	return NULL;
}

static void test_inline_ends_while_tracking(void **state)
{
	struct rec_copy *r[16];
	uint64_t tn = run_in_thread(inline_ends, NULL);
	size_t n = thread_records(tn, r, 16);

	(void)state;
	/* Only the CPU span's begin was recorded (with its counters); its end came while detached. */
	assert_int_equal(n, 1);
	assert_int_equal(r[0]->kind, RT_REC_SPAN_BEGIN);
	assert_string_equal(name_of(r[0]->a), "cpu-span");
	assert_int_equal(h.corrupt, 0);
	/* At thread exit the pointer is cleared before the ring goes. */
	{
		pthread_t th;

		assert_int_equal(pthread_key_create(&late_key, late_destructor), 0);
		assert_int_equal(pthread_create(&th, NULL, exiting_thread, NULL), 0);
		pthread_join(th, NULL);
		assert_int_equal(late_pointer_cleared, 1);
		pthread_key_delete(late_key);
	}
	/* In a fork()ed child it is cleared too: the parent's ring is not the child's. */
	{
		pid_t pid;
		int status;

		rt_span_begin("across-fork");
		assert_non_null(rt__fast_v2.stack_depth);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(rt__fast_v2.stack_depth == NULL ? 0 : 1);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		rt_span_end();
		harness_drain(&h);
	}
}

static void tasks(void *arg)
{
	uint64_t *ids = arg;
	struct rt_task a = rt_task_begin("parent-task");
	struct rt_task b = rt_task_begin("child-task");

	ids[0] = a.id;
	ids[1] = b.id;
	assert_int_equal(rt_task_current().id, b.id);
	rt_task_end(b);
	assert_int_equal(rt_task_current().id, a.id);
	rt_task_end(b); /* twice */
	rt_task_end(a);
	assert_int_equal(rt_task_current().id, 0);
	rt_task_end((struct rt_task){ 0x3fffffffull }); /* never begun */
}

static void test_tasks(void **state)
{
	struct rec_copy *r[16];
	uint64_t ids[2];
	uint64_t tn = run_in_thread(tasks, ids);
	size_t n = thread_records(tn, r, 16);

	(void)state;
	assert_int_equal(n, 6);
	assert_int_equal(r[0]->kind, RT_REC_TASK_BEGIN);
	assert_int_equal(r[0]->a, ids[0]);
	assert_int_equal(r[0]->b, 0);
	assert_string_equal(name_of(r[0]->c), "parent-task");
	assert_int_equal(r[1]->kind, RT_REC_TASK_BEGIN);
	assert_int_equal(r[1]->a, ids[1]);
	assert_int_equal(r[1]->b, ids[0]);
	assert_int_equal(r[2]->kind, RT_REC_TASK_END);
	assert_int_equal(r[2]->a, ids[1]);
	assert_int_equal(r[2]->b, ids[0]); /* current task after */
	assert_int_equal(r[3]->kind, RT_REC_MISUSE);
	assert_int_equal(r[3]->a, RT_MISUSE_TASK_END_TWICE);
	assert_int_equal(r[3]->b, ids[1]);
	assert_int_equal(r[4]->kind, RT_REC_TASK_END);
	assert_int_equal(r[4]->b, 0);
	assert_int_equal(r[5]->kind, RT_REC_MISUSE);
	assert_int_equal(r[5]->a, RT_MISUSE_TASK_END_UNKNOWN);
}

static void *end_elsewhere(void *arg)
{
	rt_task_end(*(struct rt_task *)arg);
	return NULL;
}

static void task_ended_by_other_thread(void *arg)
{
	struct rt_task t = rt_task_begin("cross");
	struct rt_task child;
	pthread_t other;

	(void)arg;
	pthread_create(&other, NULL, end_elsewhere, &t);
	pthread_join(other, NULL);
	/* Still current here (it was ended elsewhere), but a new child skips the ended task. */
	assert_int_equal(rt_task_current().id, t.id);
	child = rt_task_begin("after");
	*(uint64_t *)arg = child.id;
	rt_task_end(child);
}

static void test_task_ended_by_other_thread(void **state)
{
	struct rec_copy *r[16];
	uint64_t child = 0;
	uint64_t tn = run_in_thread(task_ended_by_other_thread, &child);
	size_t n = thread_records(tn, r, 16);

	(void)state;
	assert_int_equal(n, 3);
	assert_int_equal(r[1]->kind, RT_REC_TASK_BEGIN);
	assert_int_equal(r[1]->a, child);
	assert_int_equal(r[1]->b, 0); /* nearest ancestor that has not ended: none */
}

static void misuse_spans(void *arg)
{
	char big[10 * 1024];
	char dyn[32];

	(void)arg;
	rt_span_end(); /* nothing open */
	rt_span_begin(NULL);
	rt_span_end();
	rt_span_begin("");
	rt_span_end();
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	rt_span_begin(big);
	rt_span_end();
	snprintf(dyn, sizeof(dyn), "dyn-%d", 42);
	rt_span_begin(dyn);
	rt_span_end();
}

static void end_first(void *arg)
{
	(void)arg;
	rt_span_end(); /* the thread's very first call */
}

/* An end before the thread's first record is misuse, counted like any other. */
static void test_misuse_end_before_first_record(void **state)
{
	struct run run = { end_first, NULL, 0 };
	struct rec_copy *r[8];
	pthread_t t;
	size_t n;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, run_unregistered, &run), 0);
	pthread_join(t, NULL);
	harness_drain(&h);
	n = thread_records(run.thread_number, r, 8);
	assert_int_equal(n, 1);
	assert_int_equal(r[0]->kind, RT_REC_MISUSE);
	assert_int_equal(r[0]->a, RT_MISUSE_SPAN_END_EMPTY);
}

static void test_misuse_spans_and_names(void **state)
{
	struct rec_copy *r[32];
	uint64_t tn = run_in_thread(misuse_spans, NULL);
	size_t n = thread_records(tn, r, 32);
	size_t i = 0;

	(void)state;
	assert_int_equal(r[i]->kind, RT_REC_MISUSE);
	assert_int_equal(r[i++]->a, RT_MISUSE_SPAN_END_EMPTY);
	assert_int_equal(r[i]->kind, RT_REC_MISUSE);
	assert_int_equal(r[i++]->a, RT_MISUSE_NULL_NAME);
	assert_int_equal(r[i]->kind, RT_REC_SPAN_BEGIN);
	assert_string_equal(name_of(r[i++]->a), "<null>");
	assert_int_equal(r[i++]->kind, RT_REC_SPAN_END);
	assert_int_equal(r[i]->kind, RT_REC_SPAN_BEGIN);
	assert_string_equal(name_of(r[i++]->a), "");
	assert_int_equal(r[i++]->kind, RT_REC_SPAN_END);
	assert_int_equal(r[i]->kind, RT_REC_MISUSE);
	assert_int_equal(r[i++]->a, RT_MISUSE_NAME_TRUNCATED);
	assert_int_equal(r[i]->kind, RT_REC_SPAN_BEGIN);
	assert_int_equal(strlen(name_of(r[i]->a)), 255);
	assert_int_equal(name_of(r[i++]->a)[254], 'x');
	assert_int_equal(r[i++]->kind, RT_REC_SPAN_END);
	assert_int_equal(r[i]->kind, RT_REC_SPAN_BEGIN);
	assert_string_equal(name_of(r[i++]->a), "dyn-42");
	assert_int_equal(r[i++]->kind, RT_REC_SPAN_END);
	assert_int_equal(n, i);
	assert_int_equal(rt_name_intern("dyn-42"), rt_name_intern("dyn-42"));
}

static void scope_repair(void *arg)
{
	(void)arg;
	{
		RT_SPAN("scoped");
		rt_span_begin("left-open");
	}
	assert_int_equal(rt__fast_v2.depth, 0);
	{
		RT_SPAN("ended-early");
		rt_span_end();
	}
	assert_int_equal(rt__fast_v2.depth, 0);
}

static void test_scope_repair(void **state)
{
	struct rec_copy *r[16];
	uint64_t tn = run_in_thread(scope_repair, NULL);
	size_t n = thread_records(tn, r, 16);

	(void)state;
	assert_int_equal(n, 8);
	assert_int_equal(r[0]->kind, RT_REC_SPAN_BEGIN);
	assert_int_equal(r[1]->kind, RT_REC_SPAN_BEGIN);
	assert_int_equal(r[2]->kind, RT_REC_MISUSE);
	assert_int_equal(r[2]->a, RT_MISUSE_SPAN_END_ORDER);
	assert_int_equal(r[3]->kind, RT_REC_SPAN_END_SEQ);
	assert_int_equal(r[4]->kind, RT_REC_SPAN_END_SEQ);
	assert_true(r[3]->a > r[4]->a); /* inner first */
	assert_int_equal(r[5]->kind, RT_REC_SPAN_BEGIN);
	assert_int_equal(r[6]->kind, RT_REC_SPAN_END);
	assert_int_equal(r[7]->kind, RT_REC_MISUSE);
	assert_int_equal(r[7]->a, RT_MISUSE_SPAN_END_MISSING);
}

static void logs(void *arg)
{
	char big[3000];

	(void)arg;
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	rt_log("net", "x=%d s=%s", 5, "ok");
	rt_log("net", "%s", big);
	(rt_log)("fn", "via the function %d", 7);
}

static void test_logs(void **state)
{
	struct rec_copy *r[8];
	uint64_t tn = run_in_thread(logs, NULL);
	size_t n = thread_records(tn, r, 8);

	(void)state;
	assert_int_equal(n, 3);
	assert_int_equal(r[0]->kind, RT_REC_LOG);
	assert_string_equal(name_of(r[0]->a), "net");
	assert_string_equal(r[0]->str, "x=5 s=ok");
	assert_int_equal(r[0]->b, 0);
	assert_int_equal(r[1]->str_len, 1024);
	assert_int_equal(r[1]->b, RT_LOG_TRUNCATED);
	assert_string_equal(name_of(r[2]->a), "fn");
	assert_string_equal(r[2]->str, "via the function 7");
}

static void id_stack(void *arg)
{
	char *out = arg, expect[128], small[4];
	struct rt_task a = rt_task_begin("a");
	struct rt_task b = rt_task_begin("b");
	uint64_t tn = harness_self_thread();
	int n;

	rt_span_begin("s1");
	rt_span_begin("s2");
	n = rt_id_stack(out, 128);
	snprintf(expect, sizeof(expect), "%llu$%llu.%llu-1.%llu-2", (unsigned long long)a.id, (unsigned long long)b.id,
		 (unsigned long long)tn, (unsigned long long)tn);
	assert_string_equal(out, expect);
	assert_int_equal(n, (int)strlen(expect));
	assert_int_equal(rt_id_stack(small, sizeof(small)), (int)strlen(expect));
	assert_int_equal(strlen(small), 3);
	assert_int_equal(rt_id_stack(NULL, 0), (int)strlen(expect));
	assert_int_equal(rt_id_stack(NULL, 5), -EINVAL);
	rt_span_end();
	rt_span_end();
	rt_task_end(b);
	rt_task_end(a);
	rt_id_stack(out, 128);
	assert_string_equal(out, "0");
}

static void test_id_stack(void **state)
{
	char out[128];

	(void)state;
	run_in_thread(id_stack, out);
}

struct adopt_state {
	struct rt_context ctx;
	uint64_t task;
	uint64_t seen_task;
	uint64_t prev_task;
};

static void *adopter(void *arg)
{
	struct adopt_state *s = arg;
	struct rt_context prev;

	rt_thread_register("adopter");
	prev = rt_context_adopt(s->ctx);
	s->seen_task = rt_task_current().id;
	rt_context_adopt(prev);
	s->prev_task = rt_task_current().id;
	return NULL;
}

static void *inheritor(void *arg)
{
	*(uint64_t *)arg = rt_task_current().id;
	return NULL;
}

static void contexts(void *arg)
{
	struct adopt_state *s = arg;
	struct rt_task t = rt_task_begin("job");
	pthread_t th;
	uint64_t inherited = 0;

	rt_span_begin("submit");
	s->ctx = rt_context_current();
	s->task = t.id;
	pthread_create(&th, NULL, adopter, s);
	pthread_join(th, NULL);
	assert_int_equal(rt_thread_create(&th, NULL, inheritor, &inherited), 0);
	pthread_join(th, NULL);
	assert_int_equal(inherited, t.id);
	rt_span_end();
	rt_task_end(t);
}

static void test_contexts(void **state)
{
	struct adopt_state s;
	uint64_t tn;
	size_t adopts = 0, inherits = 0;

	(void)state;
	memset(&s, 0, sizeof(s));
	tn = run_in_thread(contexts, &s);
	assert_int_equal(s.seen_task, s.task);
	assert_int_equal(s.prev_task, 0);
	assert_int_equal(s.ctx.thread_number, tn);
	assert_int_equal(s.ctx.span_seq, 1);
	for (size_t i = 0; i < h.n; i++) {
		struct rec_copy *r = &h.recs[i];

		if (r->kind != RT_REC_ADOPT || r->b != tn)
			continue;
		assert_int_equal(r->a, s.task);
		assert_int_equal(r->c, 1);
		if (r->d == RT_ADOPT_INHERIT)
			inherits++;
		else if (r->d == RT_ADOPT_CONTEXT)
			adopts++;
	}
	assert_int_equal(adopts, 1);
	assert_int_equal(inherits, 1);
}

static void test_version(void **state)
{
	(void)state;
	assert_int_equal(rt_check_library_version(RT_VERSION_MAJOR, RT_VERSION_MINOR, RT_VERSION_MICRO), 0);
	assert_int_equal(rt_check_library_version(RT_VERSION_MAJOR + 1, 0, 0), -RT_EABI);
	assert_int_equal(rt_check_library_version(RT_VERSION_MAJOR, RT_VERSION_MINOR + 1, 0), -RT_EABI);
	assert_true(RT_CHECK_VERSION(0, 0, 1));
	assert_string_equal(rt_library_version(), RT_VERSION_STRING);
	assert_string_equal(rt_strerror(-RT_EBADMAGIC), "not a ringtrace segment (bad magic)");
	assert_non_null(strstr(rt_strerror(-ENOENT), "No such file"));
}

static void test_clock_source(void **state)
{
	const char *forced = getenv("RINGTRACE_CLOCK");

	(void)state;
	/* RINGTRACE_CLOCK=monotonic forces the fallback; otherwise the TSC when it is invariant. */
	if (forced && strcmp(forced, "monotonic") == 0)
		assert_int_equal(h.p.clock, RT_SHM_CLOCK_MONOTONIC);
	else
		assert_int_equal(h.p.clock, rt__clock_tsc_invariant() ? RT_SHM_CLOCK_TSC : RT_SHM_CLOCK_MONOTONIC);
}

static void test_second_consumer_refused(void **state)
{
	struct rtc_producer other;

	(void)state;
	assert_int_equal(rtc_producer_open(&other, getpid(), getuid()), 0);
	assert_int_equal(rtc_producer_attach(&other), -RT_EBUSY_CONSUMER);
	rtc_producer_close(&other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nested_spans),
		cmocka_unit_test(test_old_call_sites),
		cmocka_unit_test(test_spans_across_detach),
		cmocka_unit_test(test_inline_ends_while_tracking),
		cmocka_unit_test(test_tasks),
		cmocka_unit_test(test_task_ended_by_other_thread),
		cmocka_unit_test(test_misuse_spans_and_names),
		cmocka_unit_test(test_misuse_end_before_first_record),
		cmocka_unit_test(test_scope_repair),
		cmocka_unit_test(test_logs),
		cmocka_unit_test(test_id_stack),
		cmocka_unit_test(test_contexts),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_second_consumer_refused),
		cmocka_unit_test(test_clock_source),
	};

	return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
