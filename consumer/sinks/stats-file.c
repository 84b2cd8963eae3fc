/* SPDX-License-Identifier: MIT */
/* Statistics file sink: at close, the model's JSON (formatted in memory) to the output file, then put in
 * place; abandoned when the recording failed. */
#include "stats-file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "outfile.h"

struct stats_file {
	struct rtc_outfile *out;
	const struct rtc_stats *stats;
	struct rtc_stats_json_options opt;
};

static int write_json(struct stats_file *sf)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int err;

	if (!f)
		return -errno;
	err = rtc_stats_write_json(sf->stats, &sf->opt, f);
	if (fclose(f) && !err)
		err = -ENOMEM;
	if (!err)
		err = rtc_outfile_write(sf->out, buf, len);
	free(buf);
	return err;
}

static int on_close(void *ctx, bool ok)
{
	struct stats_file *sf = ctx;
	int err = 0;

	if (ok)
		err = write_json(sf);
	if (ok && !err)
		err = rtc_outfile_commit(sf->out);
	else
		rtc_outfile_abort(sf->out);
	free(sf);
	return err;
}

static const struct rtc_sink_ops stats_file_ops = {
	.version = RTC_SINK_VERSION,
	.close = on_close,
};

int rtc_stats_file_sink_open(const char *path, const struct rtc_stats *s, const struct rtc_stats_json_options *opt,
			     struct rtc_sink *out)
{
	struct stats_file *sf = calloc(1, sizeof(*sf));
	int err;

	if (!sf)
		return -ENOMEM;
	err = rtc_outfile_open(&sf->out, path, 0);
	if (err < 0) {
		free(sf);
		return err;
	}
	sf->stats = s;
	if (opt)
		sf->opt = *opt;
	out->ops = &stats_file_ops;
	out->ctx = sf;
	out->name = path; /* the caller's string, as the other file sinks */
	return 0;
}
