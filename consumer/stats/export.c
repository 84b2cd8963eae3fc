/* SPDX-License-Identifier: MIT */
/* Writers of span statistics as Go benchmark result lines (for benchstat) and as Google Benchmark JSON
 * (for its compare.py), with the names each format needs. */
#include "export.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "json.h"

/* A growable string; after a failed allocation it stays marked and writes stop. */
struct sb {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_put(struct sb *b, const void *s, size_t n)
{
	if (b->oom)
		return;
	if (b->cap - b->len < n + 1) {
		size_t cap = (b->cap ? b->cap * 2 : 64) + n;
		char *p = realloc(b->p, cap);

		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void sb_puts(struct sb *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static uint32_t decode_utf8(const unsigned char *s, size_t l)
{
	static const unsigned char lead_mask[5] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	uint32_t cp = s[0] & lead_mask[l];

	for (size_t i = 1; i < l; i++)
		cp = (cp << 6) | (s[i] & 0x3f);
	return cp;
}

/* Go's unicode.IsSpace beyond ASCII. */
static bool unicode_space(uint32_t cp)
{
	return cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 ||
	       cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/* One part of a Go benchmark name: no white space, no '/', valid UTF-8, never empty. */
static void go_part(struct sb *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	if (n == 0) {
		sb_put(b, "_", 1);
		return;
	}
	for (size_t i = 0; i < n;) {
		size_t l;

		if (p[i] < 0x80) {
			char c = (p[i] <= 0x20 || p[i] == 0x7f || p[i] == '/') ? '_' : (char)p[i];

			sb_put(b, &c, 1);
			i++;
		} else if ((l = rtc_utf8_len(p + i, n - i)) == 0) {
			sb_put(b, "?", 1);
			i++;
		} else {
			if (unicode_space(decode_utf8(p + i, l)))
				sb_put(b, "_", 1);
			else
				sb_put(b, p + i, l);
			i += l;
		}
	}
}

/* benchfmt reads a final "-<digits>" as GOMAXPROCS: make it '_' so the name stays whole. */
static void go_no_procs_suffix(struct sb *b)
{
	size_t i = b->len;

	if (b->oom)
		return;
	while (i > 0 && b->p[i - 1] >= '0' && b->p[i - 1] <= '9')
		i--;
	if (i < b->len && i > 0 && b->p[i - 1] == '-')
		b->p[i - 1] = '_';
}

static void go_name(struct sb *b, const struct rtc_export_row *r)
{
	char pid[24];

	sb_puts(b, "BenchmarkSpan/");
	go_part(b, r->name, r->name_len);
	if (r->process) {
		sb_puts(b, "/proc=");
		go_part(b, r->process, strlen(r->process));
	} else if (r->pid) {
		snprintf(pid, sizeof(pid), "/pid=%u", r->pid);
		sb_puts(b, pid);
	}
	go_no_procs_suffix(b);
}

size_t rtc_export_go_name(const struct rtc_export_row *row, char *buf, size_t cap)
{
	struct sb b = { 0 };
	size_t len;

	go_name(&b, row);
	len = b.len;
	if (cap) {
		size_t n = len < cap - 1 ? len : cap - 1;

		if (b.p)
			memcpy(buf, b.p, n);
		buf[n] = 0;
	}
	free(b.p);
	return len;
}

/* Valid UTF-8 (invalid bytes as U+FFFD): what a JSON reader will see. */
static void utf8_clean(struct sb *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t l = rtc_utf8_len(p + i, n - i);

		if (l == 0) {
			sb_puts(b, "\xef\xbf\xbd");
			i++;
		} else {
			sb_put(b, p + i, l);
			i += l;
		}
	}
}

static void gb_name(struct sb *b, const struct rtc_export_row *r)
{
	char pid[24];

	sb_puts(b, "Span/");
	utf8_clean(b, r->name, r->name_len);
	if (r->process) {
		sb_puts(b, "/proc:");
		utf8_clean(b, r->process, strlen(r->process));
	} else if (r->pid) {
		snprintf(pid, sizeof(pid), "/pid:%u", r->pid);
		sb_puts(b, pid);
	}
}

struct named {
	char *name;
	size_t row;
};

static int by_name_then_row(const void *x, const void *y)
{
	const struct named *a = x, *b = y;
	int c = strcmp(a->name, b->name);

	return c ? c : (a->row > b->row) - (a->row < b->row);
}

static int by_row(const void *x, const void *y)
{
	const struct named *a = x, *b = y;

	return (a->row > b->row) - (a->row < b->row);
}

static void free_names(struct named *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].name);
	free(v);
}

/* The rows' names in row order, repeated ones suffixed "#01", "#02", ... NULL on ENOMEM. */
static struct named *unique_names(const struct rtc_export_row *rows, size_t n, bool go)
{
	struct named *v = calloc(n ? n : 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		struct sb b = { 0 };

		if (go)
			go_name(&b, &rows[i]);
		else
			gb_name(&b, &rows[i]);
		if (b.oom || !b.p) {
			free(b.p);
			free_names(v, n);
			return NULL;
		}
		v[i] = (struct named){ b.p, i };
	}
	qsort(v, n, sizeof(*v), by_name_then_row);
	for (size_t i = 1, dup = 0; i < n; i++) {
		char suffix[16];
		struct sb b = { 0 };

		if (strcmp(v[i].name, v[i - 1 - dup].name) != 0) {
			dup = 0;
			continue;
		}
		dup++;
		snprintf(suffix, sizeof(suffix), "#%02zu", dup);
		sb_puts(&b, v[i].name);
		sb_puts(&b, suffix);
		if (b.oom) {
			free(b.p);
			free_names(v, n);
			return NULL;
		}
		free(v[i].name);
		v[i].name = b.p;
	}
	qsort(v, n, sizeof(*v), by_row);
	return v;
}

/* A configuration value or comment: one line. */
static void put_line_value(FILE *f, const char *s)
{
	for (; *s; s++)
		putc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
}

static const char *go_arch(const char *machine)
{
	static const struct {
		const char *uname, *go;
	} map[] = { { "x86_64", "amd64" }, { "aarch64", "arm64" }, { "i686", "386" }, { "i386", "386" },
		    { "armv7l", "arm" }, { "riscv64", "riscv64" }, { "ppc64le", "ppc64le" }, { "s390x", "s390x" } };

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(machine, map[i].uname) == 0)
			return map[i].go;
	return machine;
}

struct ctx_values {
	char date[40], host[256];
	unsigned cpus;
};

static void fill_context(const struct rtc_export_context *ctx, struct ctx_values *v)
{
	time_t now = time(NULL);
	struct tm tm;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (ctx && ctx->date)
		snprintf(v->date, sizeof(v->date), "%s", ctx->date);
	else if (localtime_r(&now, &tm))
		strftime(v->date, sizeof(v->date), "%Y-%m-%dT%H:%M:%S%z", &tm);
	else
		v->date[0] = 0;
	if (ctx && ctx->host)
		snprintf(v->host, sizeof(v->host), "%s", ctx->host);
	else if (gethostname(v->host, sizeof(v->host)) != 0)
		v->host[0] = 0;
	v->host[sizeof(v->host) - 1] = 0;
	v->cpus = ctx && ctx->num_cpus ? ctx->num_cpus : n > 0 ? (unsigned)n : 1;
}

int rtc_export_gobench(FILE *f, const struct rtc_export_context *ctx, const struct rtc_export_row *rows, size_t n)
{
	struct named *names = unique_names(rows, n, true);
	struct ctx_values cv;
	struct utsname u;

	if (!names)
		return -ENOMEM;
	fill_context(ctx, &cv);
	fputs("# ringtrace span statistics in the Go benchmark format (one result line per span name)\n", f);
	if (ctx && ctx->tool) {
		fputs("# tool: ", f);
		put_line_value(f, ctx->tool);
		putc('\n', f);
	}
	fputs("# date: ", f);
	put_line_value(f, cv.date);
	fputs("\n# host: ", f);
	put_line_value(f, cv.host);
	putc('\n', f);
	if (ctx && ctx->executable) {
		fputs("# executable: ", f);
		put_line_value(f, ctx->executable);
		putc('\n', f);
	}
	if (uname(&u) == 0) {
		fputs("goos: linux\ngoarch: ", f);
		put_line_value(f, go_arch(u.machine));
		putc('\n', f);
	}
	if (ctx && ctx->cpu) {
		fputs("cpu: ", f);
		put_line_value(f, ctx->cpu);
		putc('\n', f);
	}
	for (size_t i = 0; i < n; i++) {
		const struct rtc_export_row *r = &rows[i];

		if (r->count == 0) {
			fprintf(f, "# %s: no complete spans\n", names[i].name);
			continue;
		}
		fprintf(f, "%s\t%llu\t%.1f ns/op\t%.1f self-ns/op\t%llu min-ns\t%llu p50-ns\t%llu p90-ns\t%llu p99-ns"
			   "\t%llu p99.9-ns\t%llu max-ns",
			names[i].name, (unsigned long long)r->count, r->mean_ns, (double)r->self_ns / (double)r->count,
			(unsigned long long)r->min_ns, (unsigned long long)r->p50_ns, (unsigned long long)r->p90_ns,
			(unsigned long long)r->p99_ns, (unsigned long long)r->p999_ns, (unsigned long long)r->max_ns);
		if (r->has_cpu)
			fprintf(f, "\t%.1f on-cpu-ns/op\t%.1f off-cpu-ns/op", r->on_cpu_ns, r->off_cpu_ns);
		putc('\n', f);
	}
	free_names(names, n);
	return ferror(f) ? -EIO : 0;
}

static void gb_key_u64(FILE *f, const char *key, uint64_t v)
{
	fprintf(f, ",\"%s\":", key);
	rtc_json_put_u64(f, v);
}

static void gb_key_double(FILE *f, const char *key, double v)
{
	fprintf(f, ",\"%s\":", key);
	rtc_json_put_double(f, v);
}

static void gb_run(FILE *f, const char *name, size_t family, const char *aggregate, uint64_t iterations,
		   double real, double cpu)
{
	size_t nlen = strlen(name);

	fputs("    {\"name\":\"", f);
	rtc_json_put_str_body(f, name, nlen, 0);
	if (aggregate)
		fprintf(f, "_%s", aggregate);
	putc('"', f);
	fputs(",\"family_index\":", f);
	rtc_json_put_u64(f, family);
	fputs(",\"per_family_instance_index\":0,\"run_name\":", f);
	rtc_json_put_str(f, name, nlen, 0);
	fprintf(f, ",\"run_type\":\"%s\"", aggregate ? "aggregate" : "iteration");
	if (aggregate)
		fprintf(f, ",\"aggregate_name\":\"%s\",\"aggregate_unit\":\"time\"", aggregate);
	fputs(",\"repetitions\":1,\"repetition_index\":0,\"threads\":1", f);
	gb_key_u64(f, "iterations", iterations);
	gb_key_double(f, "real_time", real);
	gb_key_double(f, "cpu_time", cpu);
	fputs(",\"time_unit\":\"ns\"", f);
}

int rtc_export_gbench_json(FILE *f, const struct rtc_export_context *ctx, const struct rtc_export_row *rows,
			   size_t n)
{
	struct named *names = unique_names(rows, n, false);
	struct ctx_values cv;
	bool first = true;
	double load[3];

	if (!names)
		return -ENOMEM;
	fill_context(ctx, &cv);
	fputs("{\n  \"context\": {\n    \"date\": ", f);
	rtc_json_put_str(f, cv.date, strlen(cv.date), 0);
	fputs(",\n    \"host_name\": ", f);
	rtc_json_put_str(f, cv.host, strlen(cv.host), 0);
	fputs(",\n    \"executable\": ", f);
	rtc_json_put_str(f, ctx && ctx->executable ? ctx->executable : "", ctx && ctx->executable ?
			 strlen(ctx->executable) : 0, 0);
	fprintf(f, ",\n    \"num_cpus\": %u,\n    \"mhz_per_cpu\": 0,\n    \"cpu_scaling_enabled\": false,\n"
		   "    \"caches\": [],\n    \"load_avg\": [", cv.cpus);
	if (getloadavg(load, 3) == 3) {
		for (int i = 0; i < 3; i++) {
			if (i)
				putc(',', f);
			rtc_json_put_double(f, load[i]);
		}
	}
	fputs("],\n    \"library_build_type\": \"release\",\n    \"library_version\": ", f);
	rtc_json_put_str(f, ctx && ctx->tool ? ctx->tool : "ringtrace", ctx && ctx->tool ? strlen(ctx->tool) : 9, 0);
	fputs(",\n    \"ringtrace_source\": \"span statistics: one iteration run and its aggregates per span "
	      "name\"\n  },\n  \"benchmarks\": [\n", f);
	for (size_t i = 0, family = 0; i < n; i++) {
		const struct rtc_export_row *r = &rows[i];
		double cpu = r->has_cpu ? r->on_cpu_ns : r->mean_ns;
		static const char *agg[] = { "mean", "median", "stddev", "p90", "p99", "p999" };
		double aggv[6] = { r->mean_ns, (double)r->p50_ns, r->stddev_ns, (double)r->p90_ns, (double)r->p99_ns,
				   (double)r->p999_ns };

		if (r->count == 0)
			continue;
		if (!first)
			fputs(",\n", f);
		first = false;
		gb_run(f, names[i].name, family, NULL, r->count, r->mean_ns, cpu);
		gb_key_u64(f, "min", r->min_ns);
		gb_key_u64(f, "p50", r->p50_ns);
		gb_key_u64(f, "p90", r->p90_ns);
		gb_key_u64(f, "p99", r->p99_ns);
		gb_key_u64(f, "p999", r->p999_ns);
		gb_key_u64(f, "max", r->max_ns);
		gb_key_double(f, "self", (double)r->self_ns / (double)r->count);
		gb_key_u64(f, "total", r->total_ns);
		if (r->has_cpu) {
			gb_key_double(f, "on_cpu", r->on_cpu_ns);
			gb_key_double(f, "off_cpu", r->off_cpu_ns);
		}
		putc('}', f);
		for (size_t k = 0; k < sizeof(agg) / sizeof(agg[0]); k++) {
			fputs(",\n", f);
			gb_run(f, names[i].name, family, agg[k], r->count, aggv[k], aggv[k]);
			putc('}', f);
		}
		family++;
	}
	fputs("\n  ]\n}\n", f);
	free_names(names, n);
	return ferror(f) ? -EIO : 0;
}
