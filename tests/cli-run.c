/* SPDX-License-Identifier: MIT */
/* Helpers of the `ringtrace` command tests (test-cli.c, test-cli-output.c): run the tool with its
 * output in files of a scratch directory, read them back, validate JSON with check-chrome.py. */
#include "cli-run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "producer.h"

const char *tool, *producer, *checker;
char dir[64];

void path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

char *slurp(const char *p, size_t *len)
{
	FILE *f = fopen(p, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	buf[n] = 0;
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

int entries(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *e;
	int n = 0;

	while (dp && (e = readdir(dp)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	if (dp)
		closedir(dp);
	return n;
}

/* Start argv with stdout and stderr into files of the test directory (NULL: /dev/null) and, when
 * fsize > 0, files limited to fsize bytes. */
pid_t start(const char *const argv[], const char *out, const char *err, long fsize)
{
	pid_t pid = fork();

	if (pid == 0) {
		char p[300];
		int fd;

		path(p, sizeof(p), out ? out : "");
		fd = open(out ? p : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		path(p, sizeof(p), err ? err : "");
		fd = open(err ? p : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 2);
		if (fsize > 0) {
			/* Only the soft limit: a program it launches may raise it again. */
			struct rlimit rl = { (rlim_t)fsize, RLIM_INFINITY };

			signal(SIGXFSZ, SIG_IGN); /* the write fails with EFBIG instead */
			setrlimit(RLIMIT_FSIZE, &rl);
		}
		execv(argv[0], (char *const *)argv);
		_exit(125);
	}
	return pid;
}

int finish(pid_t pid, int timeout_ms)
{
	int status;

	for (int i = 0; i < timeout_ms; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

int run(const char *const argv[], const char *out, const char *err)
{
	return finish(start(argv, out, err, 0), 60000);
}

/* The file's text in the test directory (malloc'd, "" if missing). */
char *text(const char *name)
{
	char p[300], *t;

	path(p, sizeof(p), name);
	t = slurp(p, NULL);
	return t ? t : strdup("");
}

void assert_contains(const char *name, const char *want)
{
	char msg[2048], *t = text(name);
	bool found = strstr(t, want) != NULL;

	snprintf(msg, sizeof(msg), "%s", t); /* fail_msg() does not return: free first */
	free(t);
	if (!found)
		fail_msg("%s does not contain \"%s\"; it has: %s", name, want, msg);
}

void assert_status(int got, int want, const char *err)
{
	char msg[2048], *t;

	if (got == want)
		return;
	t = text(err ? err : "");
	snprintf(msg, sizeof(msg), "%s", t); /* fail_msg() does not return: free first */
	free(t);
	fail_msg("exit status %d, expected %d; %s: %s", got, want, err ? err : "(stderr not kept)", msg);
}

bool taken_by_another_consumer(const char *err)
{
	char *t = text(err);
	/* Refused; or taken, drained and gone before our first poll, so that nothing was recorded.
	 * A real failure fails every attempt. */
	bool taken = strstr(t, "another consumer is attached") || strstr(t, "nothing was recorded");

	free(t);
	if (taken) {
		printf("(another consumer on this machine took the producer first: once more)\n");
		sleep(1);
	}
	return taken;
}

void assert_empty(const char *name)
{
	char msg[2048], *t = text(name);

	snprintf(msg, sizeof(msg), "%s", t); /* fail_msg() does not return: free first */
	free(t);
	if (*msg)
		fail_msg("%s is not empty: %s", name, msg);
}

/* Spans in a Chrome JSON file (otherData.spans) after tests/check-chrome.py validated it; -1 if
 * the file breaks a rule. */
long checked_spans(const char *json)
{
	char cmd[700], out[1 << 14];
	const char *p;
	size_t n;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "python3 %s %s", checker, json);
	f = popen(cmd, "r");
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	if (pclose(f) != 0 || !(p = strstr(out, "\"spans\": ")))
		return -1;
	return atol(p + 9);
}

pid_t dead_pid(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

void unlink_if(void *ctx, pid_t pid, const char *shm_name, bool control)
{
	(void)control;
	if (pid == *(pid_t *)ctx)
		shm_unlink(shm_name);
}

int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/rt-cli-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* RT_TOOL, RT_PRODUCER and RT_CHECKER, which meson test sets. */
int cli_run_init(void)
{
	tool = getenv("RT_TOOL");
	producer = getenv("RT_PRODUCER");
	checker = getenv("RT_CHECKER");
	if (!tool || !producer || !checker) {
		fprintf(stderr, "RT_TOOL, RT_PRODUCER and RT_CHECKER must be set (meson test does)\n");
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	return 0;
}
