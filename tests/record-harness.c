/* SPDX-License-Identifier: MIT */
/* The integration tests' shared harness (record-harness.h): spawning producers and the tool,
 * waiting, the Chrome checker, segments left behind. */
#include "record-harness.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "producer.h"
#include "segments.h"

const char *tool, *producer, *checker;
char dir[256];
static pid_t children[64]; /* killed at teardown: a failed assertion skips a test's own cleanup */
static size_t nchildren;

void path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

/* fork/exec with extra environment entries; stdout/stderr to files in the test dir. */
pid_t spawn(const char *const argv[], const char *const env[], const char *out_name)
{
	pid_t pid = fork();

	if (pid == 0) {
		char out[300];
		int fd;

		for (size_t i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		path(out, sizeof(out), out_name ? out_name : "child.out");
		fd = open(out, O_CREAT | O_WRONLY | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pid > 0 && nchildren < 64)
		children[nchildren++] = pid;
	return pid;
}

/* Exit status, or -1 after timeout_ms (the child is then killed). */
int wait_exit(pid_t pid, int timeout_ms)
{
	int status;

	for (int i = 0; i < timeout_ms; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

int wait_file(const char *p, int timeout_ms)
{
	for (int i = 0; i < timeout_ms; i++) {
		if (access(p, F_OK) == 0)
			return 0;
		usleep(1000);
	}
	return -1;
}

void touch(const char *p)
{
	int fd = open(p, O_CREAT | O_WRONLY, 0600);

	if (fd >= 0)
		close(fd);
}

/* Run the checker; returns its JSON summary (malloc'd) or NULL if the file breaks a rule. */
char *check(const char *json)
{
	char cmd[700], *out = malloc(1 << 20);
	size_t n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "python3 %s %s", checker, json);
	f = out ? popen(cmd, "r") : NULL;
	if (!f) {
		free(out);
		return NULL;
	}
	n = fread(out, 1, (1 << 20) - 1, f);
	out[n] = 0;
	if (pclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* Integer value of "key": N in the checker's output (first occurrence), -1 if absent. */
long jint(const char *doc, const char *key)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(doc, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

double jnum(const char *doc, const char *key)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(doc, pat);
	return p ? strtod(p + strlen(pat), NULL) : -1;
}

char *slurp(const char *p)
{
	FILE *f = fopen(p, "r");
	char *buf = calloc(1, 1 << 16);

	if (f && buf)
		buf[fread(buf, 1, (1 << 16) - 1, f)] = 0;
	if (f)
		fclose(f);
	return buf;
}

static void unlink_if(void *ctx, pid_t pid, const char *shm_name, bool control)
{
	(void)control;
	if (pid == *(pid_t *)ctx)
		shm_unlink(shm_name);
}

void remove_segments(pid_t pid)
{
	rtc_producer_scan(unlink_if, &pid);
}

int harness_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ringtrace-test.%d.XXXXXX", (int)getpid());
	return mkdtemp(dir) ? 0 : -1;
}

int kill_children(void **state)
{
	(void)state;
	for (size_t i = 0; i < nchildren; i++)
		if (kill(children[i], SIGKILL) == 0)
			waitpid(children[i], NULL, 0);
	nchildren = 0;
	return 0;
}

int harness_teardown(void **state)
{
	char cmd[300];

	(void)state;
	for (size_t i = 0; i < nchildren; i++)
		if (kill(children[i], SIGKILL) == 0)
			waitpid(children[i], NULL, 0);
	nchildren = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int count_one(void *ctx, const struct rtc_segment *s)
{
	if (s->kind != RTC_SEG_MARKER)
		++*(long *)ctx;
	return 0;
}

int wait_consumer_running(pid_t pid, int timeout_ms)
{
	struct rtc_producer p;
	uint64_t hb0 = 0;
	bool attached = false;
	int i, r = -1;

	for (i = 0; i < timeout_ms && rtc_producer_open_pid(&p, pid) != 0; i++)
		usleep(1000);
	if (i == timeout_ms)
		return -1;
	/* A test reading a live producer's segment: relaxed loads of the consumer-written words. */
	for (; i < timeout_ms; i++) {
		uint64_t hb = atomic_load_explicit(&p.ctl->heartbeat, memory_order_relaxed);

		if (!attached && atomic_load_explicit(&p.ctl->session, memory_order_relaxed) != 0) {
			attached = true;
			hb0 = hb;
		}
		if (attached && hb - hb0 >= 3) {
			r = 0;
			break;
		}
		usleep(1000);
	}
	rtc_producer_close(&p);
	return r;
}

int wait_lease_expiries(pid_t pid, unsigned n, int timeout_ms)
{
	struct rtc_producer p;
	int r = -1;

	if (rtc_producer_open_pid(&p, pid) != 0)
		return -1;
	for (int i = 0; i < timeout_ms; i++) {
		if (atomic_load_explicit(&p.ctl->lease_expiries, memory_order_relaxed) >= n) {
			r = 0;
			break;
		}
		usleep(1000);
	}
	rtc_producer_close(&p);
	return r;
}

long segments_left(void)
{
	long n = 0;

	assert_int_equal(rtc_segments_scan(false, count_one, &n), 0);
	return n;
}

/* `record -o NAME [extra] -- CMD...` with env, and the checker's verdict on NAME, or NULL. */
static char *record_and_check(const char *name, const char *const extra[], const char *const *cmd,
			      const char *const env[], int timeout_ms)
{
	const char *argv[48];
	char json[300], out_name[64];
	size_t n = 0;
	pid_t rec;

	path(json, sizeof(json), name);
	snprintf(out_name, sizeof(out_name), "%s.out", name);
	argv[n++] = tool;
	argv[n++] = "record";
	argv[n++] = "-o";
	argv[n++] = json;
	for (size_t i = 0; extra && extra[i] && n < 20; i++)
		argv[n++] = extra[i];
	argv[n++] = "--";
	for (size_t i = 0; cmd[i] && n < 47; i++)
		argv[n++] = cmd[i];
	argv[n] = NULL;
	rec = spawn(argv, env, out_name);
	if (wait_exit(rec, timeout_ms) != 0)
		return NULL;
	return check(json);
}

char *launch_cmd(const char *name, const char *const *cmd, int timeout_ms)
{
	return record_and_check(name, NULL, cmd, NULL, timeout_ms);
}

char *launch_and_check(const char *name, const char *spans, const char *const extra[], const char *const env[])
{
	const char *cmd[] = { producer, "--threads", "1", "--spans", spans, NULL };

	return record_and_check(name, extra, cmd, env, 120000);
}

int harness_init(const char *name)
{
	tool = getenv("RT_TOOL");
	producer = getenv("RT_PRODUCER");
	checker = getenv("RT_CHECKER");
	if (!tool || !producer || !checker) {
		fprintf(stderr, "%s: RT_TOOL, RT_PRODUCER and RT_CHECKER must be set (meson test does)\n", name);
		return -1;
	}
	/* A namespace of our own: other traced programs on the machine (other test runs too) are
	 * neither seen nor touched, and what our programs leave behind can be counted. */
	if (!getenv("RINGTRACE_SHM_PREFIX")) {
		char ns[64];

		snprintf(ns, sizeof(ns), "rtrec-%d", (int)getpid());
		setenv("RINGTRACE_SHM_PREFIX", ns, 1);
	}
	if (getenv("RT_TEST_SKIP"))
		cmocka_set_skip_filter(getenv("RT_TEST_SKIP"));
	if (getenv("RT_TEST_FILTER"))
		cmocka_set_test_filter(getenv("RT_TEST_FILTER"));
	return 0;
}
