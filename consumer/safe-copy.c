/* SPDX-License-Identifier: MIT */
/* SIGBUS-guarded memcpy from shared memory: a per-thread jump buffer armed only during the copy. */
#include "safe-copy.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

static __thread sigjmp_buf *armed;
static struct sigaction previous;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_err;

static void on_sigbus(int sig, siginfo_t *info, void *uctx)
{
	if (armed)
		siglongjmp(*armed, 1);
	/* Not ours: behave as if we were never installed. */
	if (previous.sa_flags & SA_SIGINFO && previous.sa_sigaction) {
		previous.sa_sigaction(sig, info, uctx);
		return;
	}
	signal(SIGBUS, previous.sa_handler == SIG_IGN ? SIG_IGN : SIG_DFL);
	raise(SIGBUS);
}

static void install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &previous) < 0)
		init_err = -errno;
}

int rtc_safe_copy_init(void)
{
	pthread_once(&once, install);
	return init_err;
}

int rtc_safe_copy(void *dst, const void *src, size_t n)
{
	sigjmp_buf jb;
	sigjmp_buf *outer = armed;
	/* volatile: read after a longjmp. */
	volatile int faulted = 0;

	/* savemask 0: saving the mask is a syscall per copy, and SA_NODEFER means the handler
	 * never leaves SIGBUS blocked behind it. */
	if (sigsetjmp(jb, 0) == 0) {
		armed = &jb;
		memcpy(dst, src, n);
	} else {
		faulted = 1;
	}
	armed = outer;
	return faulted ? -EFAULT : 0;
}

int rtc_safe_call(void (*fn)(void *arg), void *arg)
{
	sigjmp_buf jb;
	sigjmp_buf *outer = armed;
	volatile int faulted = 0;

	if (sigsetjmp(jb, 0) == 0) {
		armed = &jb;
		fn(arg);
	} else {
		faulted = 1;
	}
	armed = outer;
	return faulted ? -EFAULT : 0;
}
