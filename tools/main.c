/* SPDX-License-Identifier: MIT */
/* The `ringtrace` command: dispatch to a subcommand (tools/cmd-*.c), `--help`, `help CMD` and
 * `--version`. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringtrace/shm-format.h>
#include <ringtrace/version.h>

#include "cli.h"
#include "rawfile.h"

static const struct cli_command *const commands[] = {
	&cli_cmd_list, &cli_cmd_record, &cli_cmd_serve, &cli_cmd_convert, &cli_cmd_stats, &cli_cmd_top,
	&cli_cmd_diff, &cli_cmd_dump, &cli_cmd_clean, NULL,
};

static const struct cli_command *find(const char *name)
{
	for (size_t i = 0; commands[i]; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

static void overview(FILE *f)
{
	fputs("usage: ringtrace [--version] [--help] COMMAND [ARGS...]\n"
	      "\n"
	      "Record, convert and inspect traces of programs linked with libringtrace.\n"
	      "\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; commands[i]; i++)
		fprintf(f, "  %-9s %s\n", commands[i]->name, commands[i]->summary);
	fputs("  help      show a command's usage (ringtrace help COMMAND)\n"
	      "\n"
	      "'ringtrace COMMAND --help' shows a command's options; man ringtrace(1) has everything.\n",
	      f);
}

/* The library programs would load, asked itself: dlopen()ed with recording disabled (its
 * constructor would otherwise make this command a traced process). */
static void library_version(void)
{
	const char *(*version)(void);
	char path[4096] = "";
	void *lib;

	setenv("RINGTRACE_DISABLE", "1", 1);
	unsetenv("RINGTRACE_TRACE_FILE");
	lib = dlopen("libringtrace.so." RT_SOVERSION, RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		printf("libringtrace: none on the library search path (this command was built with %s)\n",
		       RT_VERSION_STRING);
		return;
	}
	*(void **)&version = dlsym(lib, "rt_library_version");
	if (dlinfo(lib, RTLD_DI_ORIGIN, path) != 0)
		path[0] = 0;
	printf("libringtrace %s (%s%slibringtrace.so.%s)\n", version ? version() : "(unknown)", path,
	       path[0] ? "/" : "", RT_SOVERSION);
}

static int version(void)
{
	printf("ringtrace %s\n", RT_VERSION_STRING);
	library_version();
	printf("shared-memory format ABI %d.%d (reads producers of ABI %d.x whose oldest compatible minor is <= %d)\n",
	       RT_SHM_ABI_MAJOR, RT_SHM_ABI_MINOR, RT_SHM_ABI_MAJOR, RT_SHM_ABI_MINOR);
	printf("raw capture format %d\n", RTC_RAW_VERSION);
	return CLI_OK;
}

static int help(int argc, char **argv)
{
	const struct cli_command *cmd;

	if (argc < 2) {
		overview(stdout);
		return CLI_OK;
	}
	if (argc > 2)
		return cli_usage_error(NULL, "help takes one command name");
	if (!strcmp(argv[1], "help")) {
		puts("usage: ringtrace help [COMMAND]\n\nShow a command's usage, or the list of commands.");
		return CLI_OK;
	}
	cmd = find(argv[1]);
	if (!cmd)
		return cli_usage_error(NULL, "'%s' is not a ringtrace command", argv[1]);
	return cli_help(cmd);
}

int main(int argc, char **argv)
{
	const struct cli_command *cmd;

	if (argc < 2) {
		overview(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return help(1, argv + 1);
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version"))
		return version();
	if (!strcmp(argv[1], "help"))
		return help(argc - 1, argv + 1);
	if (argv[1][0] == '-')
		return cli_usage_error(NULL, "unknown option '%s' (options go after the command)", argv[1]);
	cmd = find(argv[1]);
	if (!cmd)
		return cli_usage_error(NULL, "'%s' is not a ringtrace command", argv[1]);
	optind = 0; /* a fresh getopt scan of the subcommand's arguments */
	return cmd->run(argc - 1, argv + 1);
}
