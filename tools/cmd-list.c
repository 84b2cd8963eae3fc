/* SPDX-License-Identifier: MIT */
/* `ringtrace list`: this user's traced processes, with their threads, buffer, ring
 * fill, records, loss, whether a consumer is attached and whether the process is alive. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "producer.h"
#include "ring-reader.h"
#include "safe-copy.h"

#define MAX_THREADS 1024

static const char *mode_name(uint32_t m)
{
	return m == RT_SHM_MODE_OVERWRITE ? "overwrite" : "discard";
}

/* One process's row; reads shared memory, so it runs under the SIGBUS guard. */
static void list_row(void *arg)
{
	struct rtc_producer *pp = arg;
	struct rtc_thread_info th[MAX_THREADS];
	uint64_t records = 0, lost = 0, fill = 0;
	size_t n;

	n = rtc_producer_threads(pp, th, MAX_THREADS);
	for (size_t i = 0; i < n; i++) {
		struct rtc_ring_reader r;
		char rn[128];

		rtc_producer_ring_name(pp, th[i].thread_number, rn, sizeof(rn));
		if (rtc_ring_reader_open(&r, rn, (uint32_t)pp->pid) < 0)
			continue;
		records += atomic_load_explicit(&r.hdr->records, memory_order_relaxed);
		{
			/* Unread share of the fullest ring. */
			uint64_t cp = atomic_load_explicit(&r.hdr->commit_pos, memory_order_relaxed);
			uint64_t rp = atomic_load_explicit(&r.hdr->read_pos, memory_order_relaxed);
			uint64_t unread = cp > rp ? cp - rp : 0;
			uint64_t pct = (unread > r.data_size ? r.data_size : unread) * 100 / r.data_size;

			if (pct > fill)
				fill = pct;
		}
		lost += atomic_load_explicit(&r.hdr->dropped, memory_order_relaxed) +
			atomic_load_explicit(&r.hdr->overwritten_records, memory_order_relaxed) +
			atomic_load_explicit(&r.hdr->nested_dropped, memory_order_relaxed);
		rtc_ring_reader_close(&r);
	}
	printf("%-8d %-16s %-9s %7zu %8uK %4" PRIu64 "%% %12" PRIu64 " %10" PRIu64 " %-9s %s\n", (int)pp->pid,
	       pp->process_name, mode_name(pp->mode), n, pp->ring_size >> 10, fill, records, lost,
	       atomic_load_explicit(&pp->ctl->session, memory_order_relaxed) ? "attached" : "-",
	       rtc_producer_exited(pp) ? "dead" : "live");
}

static void list_one(void *ctx, pid_t pid, const char *shm_name, bool control)
{
	int *shown = ctx;
	struct rtc_producer p;
	int err;

	if (!control)
		return;
	(*shown)++;
	err = rtc_producer_open_name(&p, shm_name);
	if (err < 0) {
		printf("%-8d %-16s refused: %s\n", (int)pid, "?", rtc_strerror(err));
		return;
	}
	if (rtc_safe_call(list_row, &p) < 0)
		printf("%-8d %-16s segment truncated while reading it\n", (int)pid, p.process_name);
	rtc_producer_close(&p);
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
	int c, shown = 0, err;

	while ((c = cli_getopt(argc, argv, ":h", longopts)) != -1) {
		if (c == 'h')
			return cli_help(&cli_cmd_list);
		return cli_option_error(&cli_cmd_list, c, argv);
	}
	if (optind < argc)
		return cli_usage_error(&cli_cmd_list, "unexpected argument '%s'", argv[optind]);
	printf("%-8s %-16s %-9s %7s %9s %5s %12s %10s %-9s %s\n", "PID", "NAME", "MODE", "THREADS", "BUFFER", "FILL",
	       "RECORDS", "LOST", "CONSUMER", "STATE");
	err = rtc_producer_scan(list_one, &shown);
	if (err < 0) {
		cli_error(&cli_cmd_list, "cannot read /dev/shm: %s", strerror(-err));
		return CLI_FAILED;
	}
	if (!shown)
		printf("(no traced processes of uid %u)\n", (unsigned)getuid());
	return CLI_OK;
}

const struct cli_command cli_cmd_list = {
	.name = "list",
	.summary = "traced processes: threads, buffer, fill, records, loss, consumer, alive",
	.usage = "usage: ringtrace list\n"
		 "\n"
		 "List the traced processes of this user (their shared-memory segments in /dev/shm): pid,\n"
		 "name, recording mode, threads, ring size per thread, fill of the fullest ring, records\n"
		 "written, records lost, whether a consumer is attached, and whether the process is alive\n"
		 "(\"dead\": it exited or was killed and left segments; 'ringtrace clean' removes them).\n"
		 "\n"
		 "Options:\n"
		 "  -h, --help   show this help\n",
	.run = run,
};
