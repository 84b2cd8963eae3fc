/* SPDX-License-Identifier: MIT */
/* Helpers of the `ringtrace` command tests: run the tool with stdout and stderr in files of a
 * scratch directory, read them back, validate Chrome JSON with tests/check-chrome.py. */
#ifndef RT_TEST_CLI_RUN_H
#define RT_TEST_CLI_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SPANS "1000" /* per thread, 2 threads, each iteration a "work" and an "inner" span */
#define EXPECTED_SPANS 4000

extern const char *tool, *producer, *checker; /* RT_TOOL, RT_PRODUCER, RT_CHECKER */
extern char dir[64];                          /* the scratch directory */

/* RT_TOOL and the others from the environment; -1 if missing. */
int cli_run_init(void);

/* cmocka group setup and teardown: make and remove the scratch directory. */
int setup(void **state);
int teardown(void **state);

/* name in the scratch directory. */
void path(char *buf, size_t len, const char *name);

/* The whole file, NUL-terminated (malloc'd); NULL if unreadable. */
char *slurp(const char *p, size_t *len);

/* Entries of a directory, "." and ".." aside. */
int entries(const char *d);

/* Start argv with stdout and stderr into files of the scratch directory (NULL: /dev/null) and,
 * when fsize > 0, files limited to fsize bytes. */
pid_t start(const char *const argv[], const char *out, const char *err, long fsize);

/* Exit status, or -1 after timeout_ms (the child is then killed). */
int finish(pid_t pid, int timeout_ms);

/* start() and finish() within a minute. */
int run(const char *const argv[], const char *out, const char *err);

/* The text of a file of the scratch directory (malloc'd; "" if missing). */
char *text(const char *name);
void assert_contains(const char *name, const char *want);
void assert_empty(const char *name);

/* got == want, else fail showing the err file of the scratch directory. */
void assert_status(int got, int want, const char *err);

/* Did the err file say another consumer had the process, or that nothing was recorded (another
 * `record -a` on this shared machine took it)? Then waits a second: the caller runs again, a few
 * times at most, so that a real failure still fails. */
bool taken_by_another_consumer(const char *err);

/* Spans in a Chrome JSON file (otherData.spans) after check-chrome.py validated it; -1 if the
 * file breaks a rule. */
long checked_spans(const char *json);

/* A pid that does not exist now: a child that exited and was reaped. */
pid_t dead_pid(void);

/* rtc_producer_scan() callback removing the segments of pid *ctx. */
void unlink_if(void *ctx, pid_t pid, const char *shm_name, bool control);

#endif
