/* SPDX-License-Identifier: MIT */
/* Shared by the integration tests that run real producers under the real `ringtrace` command
 * (test-record.c, test-follow.c): processes, files, the Chrome checker's verdicts. */
#ifndef RT_TEST_RECORD_HARNESS_H
#define RT_TEST_RECORD_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

extern const char *tool, *producer, *checker;
extern char dir[256]; /* the test run's temporary directory */

/* dir/name of the test's temporary directory. */
void path(char *buf, size_t len, const char *name);
/* fork/exec with extra environment entries; stdout/stderr to a file in the test dir. */
pid_t spawn(const char *const argv[], const char *const env[], const char *out_name);
/* Exit status, or -1 after timeout_ms (the child is then killed). */
int wait_exit(pid_t pid, int timeout_ms);
int wait_file(const char *p, int timeout_ms);
void touch(const char *p);
/* Run the checker; its JSON summary (malloc'd) or NULL if the file breaks a rule. */
char *check(const char *json);
/* Value of "key": N in the checker's output (first occurrence), -1 if absent. */
long jint(const char *doc, const char *key);
double jnum(const char *doc, const char *key);
/* A file's first 64 KiB, NUL-terminated (malloc'd). */
char *slurp(const char *p);
void remove_segments(pid_t pid);
/* Poll producer pid's control segment until a consumer is attached and has been running for a
 * while (its heartbeat, bumped at least every 100 ms, advanced 3 times): 0, or -1 after timeout_ms. */
int wait_consumer_running(pid_t pid, int timeout_ms);
/* Poll it until the producer has dropped `n` consumers for a stopped heartbeat: 0, or -1. */
int wait_lease_expiries(pid_t pid, unsigned n, int timeout_ms);
/* Segments under this test's prefix: what processes left behind. */
long segments_left(void);
/* `record -o NAME -- CMD...` and the checker's verdict on NAME, or NULL; output in NAME.out. */
char *launch_cmd(const char *name, const char *const *cmd, int timeout_ms);

/* `record -o NAME [extra] -- producer --threads 1 --spans SPANS` with env, and the checker's
 * verdict, or NULL; output in NAME.out. */
char *launch_and_check(const char *name, const char *spans, const char *const extra[], const char *const env[]);

/* cmocka group setup/teardown, and a per-test teardown that kills what a test left running. */
int harness_setup(void **state);
int harness_teardown(void **state);
int kill_children(void **state);
/* Reads RT_TOOL, RT_PRODUCER, RT_CHECKER; gives the run a segment namespace of its own unless
 * RINGTRACE_SHM_PREFIX is set; applies RT_TEST_FILTER and RT_TEST_SKIP. 0, or -1 (said why). */
int harness_init(const char *name);

#endif
