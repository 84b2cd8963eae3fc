/* SPDX-License-Identifier: MIT */
/* Attaching to the processes a live subcommand was given, or launching its program (recorded from its
 * first record), and telling the user plainly when nothing could be recorded. */
#include "target.h"
#include "segments.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ringtrace/shm-format.h>

static volatile sig_atomic_t child_status = -1;
static pid_t child_pid;

static void on_child(int sig)
{
	int status;
	int saved = errno;

	(void)sig;
	if (child_pid > 0 && waitpid(child_pid, &status, WNOHANG) == child_pid)
		child_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	errno = saved;
}

static pid_t launch(const struct cli_command *cmd, struct rtc_engine *e, char **argv)
{
	struct sigaction sa;
	char session[64];
	pid_t pid;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_child;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	if (rtc_engine_session_env(e, session, sizeof(session)) < 0)
		session[0] = 0;
	pid = fork();
	if (pid == 0) {
		/* Our session: it and everything it starts record from their first record, keep their
		 * segments for us if they end first, and carry the token we attach them by. */
		if (session[0])
			setenv(RT_SHM_SESSION_VAR, session, 1);
		else
			setenv("RINGTRACE_RECORD_FROM_START", "1", 1);
		execvp(argv[0], argv);
		fprintf(stderr, "ringtrace %s: cannot run %s: %s\n", cmd->name, argv[0], strerror(errno));
		_exit(127);
	}
	child_pid = pid;
	return pid;
}

int cli_target_add_pid(const struct cli_command *cmd, struct cli_target *t, const char *s)
{
	pid_t pid, *n;

	if (cli_opt_pid(cmd, "-p", s, &pid))
		return CLI_USAGE;
	n = realloc(t->pids, (t->npids + 1) * sizeof(*n));
	if (!n) {
		cli_error(cmd, "out of memory");
		return CLI_FAILED;
	}
	t->pids = n;
	t->pids[t->npids++] = pid;
	return 0;
}

int cli_target_check(const struct cli_command *cmd, const struct cli_target *t, const char *verb)
{
	if (!t->npids && !t->all && !t->cmd)
		return cli_usage_error(cmd, "what to %s? (-p PID, -a, or -- CMD ARGS...)", verb);
	return 0;
}

int cli_target_check_program(const struct cli_command *cmd, const struct cli_target *t)
{
	return t->cmd ? cli_check_program(cmd, t->cmd[0]) : 0;
}

/* Attach to each -p process; says why for those that cannot be. Returns how many attached. */
static size_t attach_pids(const struct cli_command *cmd, struct rtc_engine *e, const struct cli_target *t)
{
	size_t attached = 0;

	for (size_t i = 0; i < t->npids; i++) {
		pid_t pid = t->pids[i];
		char name[64];

		if (!cli_pid_exists(pid)) {
			cli_error(cmd, "pid %d: no such process", (int)pid);
			continue;
		}
		if (!cli_traced(pid)) {
			cli_error(cmd,
				  "pid %d (%s): not a traced process: no ringtrace segment under the prefix \"%s\" "
				  "(not linked with libringtrace, RINGTRACE_DISABLE set, or another RINGTRACE_SHM_PREFIX)",
				  (int)pid, cli_process_name(pid, name, sizeof(name)), rtc_shm_prefix());
			continue;
		}
		/* The engine says why it refused (another consumer, ABI, corrupt segment). */
		if (rtc_engine_attach(e, pid) == 0)
			attached++;
	}
	return attached;
}

int cli_target_start(const struct cli_command *cmd, struct rtc_engine *e, const struct cli_target *t)
{
	if (!attach_pids(cmd, e, t) && t->npids && !t->all && !t->cmd)
		return CLI_FAILED;
	if (t->cmd)
		rtc_engine_expect(e, launch(cmd, e, t->cmd));
	return 0;
}

bool cli_target_recorded_nothing(const struct cli_command *cmd, const struct rtc_engine *e,
				 const struct cli_target *t)
{
	struct rtc_engine_summary s;

	rtc_engine_summary(e, &s);
	if (s.s.processes)
		return false;
	if (t->cmd)
		cli_error(cmd,
			  "nothing was recorded: %s never became a traced process that could be attached (not linked "
			  "with libringtrace? RINGTRACE_DISABLE set? or refused, as said above)",
			  t->cmd[0]);
	else if (t->all)
		cli_error(cmd, "no traced process of uid %u appeared while recording: nothing was recorded",
			  (unsigned)getuid());
	else
		cli_error(cmd, "nothing was recorded");
	return true;
}

int cli_target_child_status(void)
{
	return (int)child_status;
}

void cli_target_free(struct cli_target *t)
{
	free(t->pids);
	t->pids = NULL;
	t->npids = 0;
}
