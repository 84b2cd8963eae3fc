/* SPDX-License-Identifier: MIT */
/* SIGBUS-guarded memcpy from shared memory: a per-thread jump buffer armed only during the copy. */
#include "safe-copy.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

/* volatile: stored before a memcpy() the compiler knows cannot read it, and read in the signal
 * handler; without it the store can be dropped as dead and the copy goes unguarded. */
static __thread sigjmp_buf *volatile armed;
static struct sigaction previous;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_err;

static void on_sigbus(int sig, siginfo_t *info, void *uctx)
{
	if (armed) {
		/* The jump does not restore the signal mask (that would be a syscall per guarded call):
		 * unblock SIGBUS here, on the rare fault path, so the next fault is caught too. */
		sigset_t bus;

		sigemptyset(&bus);
		sigaddset(&bus, SIGBUS);
		pthread_sigmask(SIG_UNBLOCK, &bus, NULL);
		siglongjmp(*armed, 1);
	}
	/* Not ours: behave as if we were never installed. */
	if (previous.sa_flags & SA_SIGINFO && previous.sa_sigaction) {
		previous.sa_sigaction(sig, info, uctx);
		return;
	}
	signal(SIGBUS, previous.sa_handler == SIG_IGN ? SIG_IGN : SIG_DFL);
	raise(SIGBUS);
}

static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;

static int install_locked(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, &previous) < 0 ? -errno : 0;
}

static void install(void)
{
	pthread_mutex_lock(&install_lock);
	init_err = install_locked();
	pthread_mutex_unlock(&install_lock);
}

/* The guards' fast check: installed once. */
static int ensure(void)
{
	pthread_once(&once, install);
	return init_err;
}

int rtc_safe_copy_init(void)
{
	struct sigaction cur;
	int err = ensure();

	if (err < 0)
		return err;
	/* Someone (the program, a test framework) may have replaced our handler since: put it back,
	 * keeping theirs as the one we chain to for faults that are not ours. */
	pthread_mutex_lock(&install_lock);
	if (sigaction(SIGBUS, NULL, &cur) == 0 && (!(cur.sa_flags & SA_SIGINFO) || cur.sa_sigaction != on_sigbus))
		err = install_locked();
	pthread_mutex_unlock(&install_lock);
	return err;
}

int rtc_safe_copy(void *dst, const void *src, size_t n)
{
	sigjmp_buf jb;
	sigjmp_buf *volatile outer = armed;
	/* volatile: read after a longjmp. */
	volatile int faulted = 0;

	/* No caller can forget the handler: a guard without it would not guard. */
	if (ensure() < 0) {
		memcpy(dst, src, n);
		return 0;
	}
	/* savemask 0: saving the mask is a syscall per copy, and SA_NODEFER means the handler
	 * never leaves SIGBUS blocked behind it. */
	if (sigsetjmp(jb, 0) == 0) {
		armed = &jb;
		atomic_signal_fence(memory_order_seq_cst);
		memcpy(dst, src, n);
		atomic_signal_fence(memory_order_seq_cst);
	} else {
		faulted = 1;
	}
	armed = outer;
	return faulted ? -EFAULT : 0;
}

int rtc_safe_call(void (*fn)(void *arg), void *arg)
{
	sigjmp_buf jb;
	sigjmp_buf *volatile outer = armed;
	volatile int faulted = 0;

	if (ensure() < 0) {
		fn(arg);
		return 0;
	}
	if (sigsetjmp(jb, 0) == 0) {
		armed = &jb;
		atomic_signal_fence(memory_order_seq_cst);
		fn(arg);
		atomic_signal_fence(memory_order_seq_cst);
	} else {
		faulted = 1;
	}
	armed = outer;
	return faulted ? -EFAULT : 0;
}

struct load {
	const uint64_t *p;
	uint64_t v;
};

static void load_acquire(void *arg)
{
	struct load *l = arg;

	l->v = __atomic_load_n(l->p, __ATOMIC_ACQUIRE);
}

int rtc_safe_load_acquire(const uint64_t *p, uint64_t *out)
{
	struct load l = { p, 0 };
	int err = rtc_safe_call(load_acquire, &l);

	*out = l.v;
	return err;
}
