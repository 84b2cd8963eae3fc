/* SPDX-License-Identifier: MIT */
/* `ringtrace clean`: remove the shared-memory segments this user's traced processes left when they
 * died, unless a live consumer will still drain them; say exactly what was removed and what kept. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "segments.h"

struct clean_out {
	bool dry_run, quiet;
	unsigned kept;
};

static void one(void *ctx, const struct rtc_clean_entry *e)
{
	struct clean_out *o = ctx;
	char size[32], name[RT_SHM_PROCESS_NAME_LEN + 8];

	if (e->marker) {
		if (!o->quiet)
			printf("%s the session marker of record -a %d, which is gone\n",
			       o->dry_run ? "would remove" : "removed", (int)e->pid);
		return;
	}
	cli_size_text(e->bytes, size, sizeof(size));
	snprintf(name, sizeof(name), " (%s)", e->process_name);
	if (e->kept_for) {
		o->kept++;
		if (!o->quiet)
			printf("kept pid %d%s: %u segment%s, %s: %s %d will drain them\n", (int)e->pid,
			       e->process_name[0] ? name : "", e->segments, e->segments == 1 ? "" : "s", size,
			       e->session ? "its recording session's consumer" : "the attached consumer", (int)e->kept_for);
		return;
	}
	if (o->quiet)
		return;
	printf("%s pid %d%s: ", o->dry_run ? "would remove" : "removed", (int)e->pid, e->process_name[0] ? name : "");
	if (e->removed != e->segments)
		printf("%u of ", e->removed); /* the others went meanwhile (reclaimed by a starting producer) */
	printf("%u segment%s, %s\n", e->segments, e->segments == 1 ? "" : "s", size);
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct clean_out o = { 0 };
	unsigned processes, segments;
	int c, err;

	while ((c = cli_getopt(argc, argv, ":nqh", longopts)) != -1) {
		switch (c) {
		case 'n':
			o.dry_run = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'h':
			return cli_help(&cli_cmd_clean);
		default:
			return cli_option_error(&cli_cmd_clean, c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(&cli_cmd_clean, "unexpected argument '%s'", argv[optind]);
	err = rtc_segments_clean_each(o.dry_run, one, &o, &processes, &segments);
	if (err < 0) {
		cli_error(&cli_cmd_clean, "cannot read /dev/shm: %s", strerror(-err));
		return CLI_FAILED;
	}
	printf("%s %u process%s, %u segment%s (prefix %s)", o.dry_run ? "would remove" : "removed", processes,
	       processes == 1 ? "" : "es", segments, segments == 1 ? "" : "s", rtc_shm_prefix());
	if (o.kept)
		printf("; kept %u dead process%s that a live consumer will drain", o.kept, o.kept == 1 ? "" : "es");
	putchar('\n');
	return CLI_OK;
}

const struct cli_command cli_cmd_clean = {
	.name = "clean",
	.summary = "remove the segments left by traced processes that died",
	.usage = "usage: ringtrace clean [-n] [-q]\n"
		 "\n"
		 "Remove the shared-memory segments (/dev/shm/PREFIX.UID.PID*, PREFIX from\n"
		 "RINGTRACE_SHM_PREFIX, default ringtrace) of this user's traced processes that no longer\n"
		 "exist: control segment, rings and thread directory extensions, flight recorders' too. A\n"
		 "process that exits normally removes its own; one killed by a signal, or ending with\n"
		 "_exit(), leaves them (the next traced process of the user that starts removes most).\n"
		 "Never touched: segments of live processes, of dead ones that a live consumer is attached\n"
		 "to or whose recording session's consumer is alive (it will drain them), and files of other\n"
		 "users. Prints one line per dead process (removed or kept, with its segments and memory),\n"
		 "then the totals.\n"
		 "\n"
		 "Options:\n"
		 "  -n, --dry-run  say what would be removed, remove nothing\n"
		 "  -q, --quiet    only the totals\n"
		 "  -h, --help     show this help\n",
	.run = run,
};
