/* SPDX-License-Identifier: MIT */
/* Fuzz target: the fuzzer's bytes as a raw capture (.rtrace), converted by the real engine
 * (rtc_engine_convert: reader, decode, merge, rebuild, Chrome JSON and statistics) into a file. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ringtrace/ringtrace.h>

#include "chrome-check.h"
#include "engine.h"
#include "rawfile.h"

#define CHECK(cond)                                                                                    \
	do {                                                                                           \
		if (!(cond)) {                                                                         \
			fprintf(stderr, "fuzz-capture: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                       \
		}                                                                                      \
	} while (0)

static char dir[64], in_path[128], json_path[128];
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "%s/rt-fuzz-capture.XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(in_path, sizeof(in_path), "%s/in.rtrace", dir);
	snprintf(json_path, sizeof(json_path), "%s/out.json", dir);
	devnull = fopen("/dev/null", "w");
	CHECK(devnull != NULL);
	return 0;
}

__attribute__((destructor)) static void cleanup(void)
{
	if (!dir[0])
		return;
	unlink(in_path);
	unlink(json_path);
	rmdir(dir);
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CHECK(fd >= 0);
	CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
	close(fd);
}

/* The whole output file, NULL when there is none. */
static char *read_file(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		CHECK(errno == ENOENT);
		return NULL;
	}
	CHECK(fstat(fd, &st) == 0);
	buf = malloc((size_t)st.st_size + 1);
	CHECK(buf != NULL);
	CHECK(read(fd, buf, (size_t)st.st_size) == st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rtc_engine_options o = { 0 };
	struct rtc_engine *e;
	uint64_t origin, start;
	char *json, why[256];
	size_t len = 0;
	int err, header;

	write_file(in_path, data, size);
	o.json_path = json_path;
	o.log = devnull;
	o.quiet = true;
	e = rtc_engine_create(&o);
	CHECK(e != NULL);
	err = rtc_engine_convert(e, in_path);
	header = rtc_raw_read_header(in_path, &origin, &start);
	/* Errors are about the input: a capture that is not one, or one that is malformed. */
	CHECK(err == 0 || err == -RT_EBADMAGIC || err == -RT_EABI || err == -RT_ECORRUPT);
	CHECK(header == 0 || err == header);
	rtc_engine_report(e, devnull);
	rtc_engine_destroy(e);
	json = read_file(json_path, &len);
	/* A capture with a valid header is converted, up to its first malformed message. */
	CHECK((json != NULL) == (header == 0));
	if (json) {
		if (chrome_check(json, len, why, sizeof(why)) != 0) {
			fprintf(stderr, "fuzz-capture: the Chrome JSON is not valid: %s\n", why);
			abort();
		}
		free(json);
		unlink(json_path);
	}
	return 0;
}
