/* SPDX-License-Identifier: MIT */
/* What a live subcommand traces (record, stats, top, serve): processes given with -p, every traced
 * process (-a), or a program it launches (-- CMD ARGS); attaching, launching and the "nothing was
 * recorded" verdict. */
#ifndef RT_CLI_TARGET_H
#define RT_CLI_TARGET_H

#include <stdbool.h>
#include <sys/types.h>

#include "cli.h"
#include "engine.h"

struct cli_target {
	pid_t *pids;
	size_t npids;
	bool all;
	char **cmd; /* NULL-terminated argv of the program to launch, or NULL */
};

/* -p PID: parsed strictly and added. 0, CLI_USAGE (reported) or CLI_FAILED (no memory, reported). */
int cli_target_add_pid(const struct cli_command *cmd, struct cli_target *t, const char *s);

/* Something to trace? Else reports "what to <verb>? ..." and returns CLI_USAGE. */
int cli_target_check(const struct cli_command *cmd, const struct cli_target *t, const char *verb);

/* Before creating the engine: CMD must be a program that can run (127 / 126, reported, if not). */
int cli_target_check_program(const struct cli_command *cmd, const struct cli_target *t);

/* Attach to each -p process (saying why for those that cannot be) and launch CMD. Returns 0, or
 * CLI_FAILED when only -p was given and none could be attached. Sets o->until_exit beforehand: the
 * caller's engine options decide (true unless -a). */
int cli_target_start(const struct cli_command *cmd, struct rtc_engine *e, const struct cli_target *t);

/* After the run: true (and says why) when no process was recorded at all. */
bool cli_target_recorded_nothing(const struct cli_command *cmd, const struct rtc_engine *e,
				 const struct cli_target *t);

/* The launched program's exit status: -1 while running or when none was launched. */
int cli_target_child_status(void);

void cli_target_free(struct cli_target *t);

#endif
