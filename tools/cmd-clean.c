/* SPDX-License-Identifier: MIT */
/* `ringtrace clean`: remove the shared-memory segments of traced processes that are gone. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "cli.h"
#include "producer.h"

static void clean_one(void *ctx, pid_t pid, const char *shm_name, bool control)
{
	(void)control;
	if (kill(pid, 0) == 0 || errno == EPERM)
		return; /* alive */
	if (shm_unlink(shm_name) == 0)
		(*(int *)ctx)++;
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	int c, removed = 0, err;

	while ((c = cli_getopt(argc, argv, ":h", longopts)) != -1) {
		if (c == 'h')
			return cli_help(&cli_cmd_clean);
		return cli_option_error(&cli_cmd_clean, c, argv);
	}
	if (optind < argc)
		return cli_usage_error(&cli_cmd_clean, "unexpected argument '%s'", argv[optind]);
	err = rtc_producer_scan(clean_one, &removed);
	if (err < 0) {
		cli_error(&cli_cmd_clean, "cannot read /dev/shm: %s", strerror(-err));
		return CLI_FAILED;
	}
	printf("removed %d segment(s) of dead processes\n", removed);
	return CLI_OK;
}

const struct cli_command cli_cmd_clean = {
	.name = "clean",
	.summary = "remove the segments left by traced processes that died",
	.usage = "usage: ringtrace clean\n"
		 "\n"
		 "Remove the shared-memory segments (/dev/shm/ringtrace.UID.PID*) of this user's traced\n"
		 "processes that no longer exist. A process that exits normally removes its own; one killed\n"
		 "by a signal leaves them behind. Segments of live processes are never touched.\n"
		 "\n"
		 "Options:\n"
		 "  -h, --help   show this help\n",
	.run = run,
};
