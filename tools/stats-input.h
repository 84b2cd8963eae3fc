/* SPDX-License-Identifier: MIT */
/* The inputs `ringtrace stats` and `ringtrace diff` read: raw captures (replayed), Chrome trace JSON we
 * wrote (plain or .gz) and statistics JSON files, told apart by their content. */
#ifndef RT_CLI_STATS_INPUT_H
#define RT_CLI_STATS_INPUT_H

#include <stdio.h>

#include "cli.h"
#include "stats/stats.h"

enum stats_input_kind {
	STATS_INPUT_NONE,    /* unreadable or unknown */
	STATS_INPUT_CAPTURE, /* raw capture (record --raw) */
	STATS_INPUT_CHROME,  /* Chrome trace-event JSON */
	STATS_INPUT_STATS,   /* statistics JSON (stats --json, record --stats-file) */
};

/* Reads path ("-": standard input, JSON only) and adds its statistics to dst (rtc_stats_merge). Errors
 * are reported as "ringtrace CMD: PATH: ...". \return 0; CLI_FAILED when nothing could be read, or when
 * only part could (a truncated capture or trace: what was read is in dst, *partial set). */
int stats_input_load(const struct cli_command *cmd, const char *path, struct rtc_stats *dst, bool *partial);

/* What path holds (for messages and tests). */
enum stats_input_kind stats_input_kind(const char *path);

/* Write a whole output (a statistics JSON, a table) produced by fn to path through sinks/outfile.h
 * (atomically replaced, "-" = standard output). \return 0 or CLI_FAILED (reported). */
int stats_output(const struct cli_command *cmd, const char *path, int (*fn)(void *ctx, FILE *f), void *ctx);

#endif
