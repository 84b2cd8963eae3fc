/* SPDX-License-Identifier: MIT */
/* RINGTRACE_* environment variables and the recording session (environment or marker file). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ringtrace/shm-format.h>

#include "shm.h"

#define DEFAULT_RING_SIZE (1u << 20)
#define DEFAULT_SUBBUFS 16u
#define MIN_SUBBUF_SIZE (8u << 10)
#define DEFAULT_TASK_SLOTS 4096u
#define DEFAULT_KEEP_DEAD 8u
#define DEFAULT_KEEP_DEAD_BYTES (256ull << 20)
#define DEFAULT_LEASE_MS 1000u
#define MIN_LEASE_MS 200u
#define MAX_LEASE_MS 600000u
/* A launched program or session member waits this long at exit for its consumer to attach. */
#define DEFAULT_EXIT_WAIT_MS 2000u
#define MAX_EXIT_WAIT_MS 600000u

uint64_t rt__parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end == 'B')
		end++;
	return *end ? 0 : v;
}

static uint32_t floor_pow2(uint64_t v)
{
	uint32_t p = 1;

	while ((uint64_t)p * 2 <= v && p < (1u << 30))
		p *= 2;
	return p;
}

static bool env_is(const char *name, const char *value)
{
	const char *s = getenv(name);

	return s && strcmp(s, value) == 0;
}

/* Milliseconds from an environment variable, clamped to [min, max] before any narrowing
 * ("4294967296" is the maximum, not 0); unset, empty or not a number: the default. */
static uint64_t env_ms(const char *s, uint64_t def, uint64_t min, uint64_t max)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return def;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s)
		return def;
	if (errno == ERANGE || v > max)
		return max;
	return v < min ? min : v;
}

void rt__config_from_env(struct rt__config *cfg)
{
	uint64_t size = rt__parse_size(getenv("RINGTRACE_BUFFER_SIZE"));
	uint64_t subbufs = rt__parse_size(getenv("RINGTRACE_SUBBUFS"));
	uint64_t tasks = rt__parse_size(getenv("RINGTRACE_TASK_SLOTS"));
	const char *keep = getenv("RINGTRACE_KEEP_DEAD");
	const char *keep_size = getenv("RINGTRACE_KEEP_DEAD_SIZE");
	const char *lease = getenv("RINGTRACE_LEASE_MS");
	const char *exit_wait = getenv("RINGTRACE_EXIT_WAIT_MS");

	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = env_is("RINGTRACE_MODE", "overwrite") ? RT_SHM_MODE_OVERWRITE : RT_SHM_MODE_DISCARD;
	cfg->sb_count = subbufs >= 2 ? floor_pow2(subbufs) : DEFAULT_SUBBUFS;
	if (cfg->sb_count > RT_SHM_SUBBUF_COUNT_MAX)
		cfg->sb_count = RT_SHM_SUBBUF_COUNT_MAX;
	/* Sizes round down to powers of two so positions map to offsets with a mask; then within the
	 * format's limits, which consumers enforce. */
	cfg->ring_size = size ? floor_pow2(size) : DEFAULT_RING_SIZE;
	if (cfg->ring_size > RT_SHM_RING_SIZE_MAX)
		cfg->ring_size = RT_SHM_RING_SIZE_MAX;
	if (cfg->ring_size < cfg->sb_count * MIN_SUBBUF_SIZE)
		cfg->ring_size = cfg->sb_count * MIN_SUBBUF_SIZE;
	if (cfg->ring_size / cfg->sb_count > RT_SHM_SUBBUF_SIZE_MAX)
		cfg->sb_count = cfg->ring_size / RT_SHM_SUBBUF_SIZE_MAX;
	/* Open spans are tracked by default, so a consumer that attaches late sees what the threads
	 * are in: with the coarse clock (a few ns per span); `1` uses the process clock, `0` turns
	 * tracking off. */
	if (cfg->mode == RT_SHM_MODE_OVERWRITE)
		cfg->idle_active = RT_SHM_ACTIVE_ON;
	else if (env_is("RINGTRACE_TRACK_SPANS", "0"))
		cfg->idle_active = RT_SHM_ACTIVE_OFF;
	else
		cfg->idle_active = RT_SHM_ACTIVE_TRACK;
	cfg->track_tsc = env_is("RINGTRACE_TRACK_SPANS", "1");
	cfg->task_slots = tasks ? floor_pow2(tasks) : DEFAULT_TASK_SLOTS;
	if (cfg->task_slots < RT_SHM_TASK_PROBES)
		cfg->task_slots = RT_SHM_TASK_PROBES;
	if (cfg->task_slots > RT_SHM_TASKS_MAX)
		cfg->task_slots = RT_SHM_TASKS_MAX;
	cfg->keep_dead = keep && *keep ? (uint32_t)strtoul(keep, NULL, 10) : DEFAULT_KEEP_DEAD;
	cfg->keep_dead_bytes = keep_size && *keep_size ? rt__parse_size(keep_size) : DEFAULT_KEEP_DEAD_BYTES;
	cfg->lease_ms = (uint32_t)env_ms(lease, DEFAULT_LEASE_MS, MIN_LEASE_MS, MAX_LEASE_MS);
	cfg->exit_wait_ms = (uint32_t)env_ms(exit_wait, DEFAULT_EXIT_WAIT_MS, 0, MAX_EXIT_WAIT_MS);
	cfg->disabled = env_is("RINGTRACE_DISABLE", "1");
	cfg->from_start = env_is("RINGTRACE_RECORD_FROM_START", "1");
}

int rt__session_parse(const char *s, pid_t *pid, uint64_t *token)
{
	char *end;
	unsigned long p;
	unsigned long long t;

	errno = 0;
	p = strtoul(s, &end, 10);
	if (errno || end == s || *end != ':' || p == 0 || p > INT32_MAX)
		return -EINVAL;
	s = end + 1;
	t = strtoull(s, &end, 16);
	if (errno || end == s || (*end && *end != '\n') || t == 0)
		return -EINVAL;
	*pid = (pid_t)p;
	*token = t;
	return 0;
}

/* Start time of a process in clock ticks since boot (/proc/<pid>/stat field 22), 0 if unknown. */
static uint64_t start_ticks(pid_t pid)
{
	char path[64], buf[1024];
	const char *p;
	unsigned long long v = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* The name (field 2) may hold spaces and parentheses: count from the last ')'. */
	p = strrchr(buf, ')');
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (p)
		v = strtoull(p + 1, NULL, 10);
	return v;
}

/* Alive, and not a later process that reused the pid: the consumer of a session we belong to
 * started before us (it launched us or an ancestor, or ran `record -a` when we started). */
static bool consumer_alive(pid_t pid)
{
	uint64_t start, self;

	if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
		return false;
	/* Not cached: a fork()ed child has a start time of its own. Rare calls (start-up, the exit
	 * wait, once a second while recording early). */
	self = start_ticks(getpid());
	start = start_ticks(pid);
	return !start || !self || start <= self;
}

/* The marker of `record -a`: a small file of ours, mode 0600, naming a live consumer. */
static int read_marker(uid_t uid, pid_t *pid, uint64_t *token)
{
	char name[RT_SHM_NAME_BUF], buf[RT_SHM_MARKER_MAX + 1];
	struct stat st;
	ssize_t n;
	int fd, err = -EINVAL;

	snprintf(name, sizeof(name), RT_SHM_MARKER_NAME_FMT, rt__shm_prefix(), (unsigned)uid);
	fd = shm_open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* Anyone else's file, or one others could have written, is not a marker. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 077) &&
	    st.st_size > 0 && st.st_size <= RT_SHM_MARKER_MAX) {
		n = pread(fd, buf, RT_SHM_MARKER_MAX, 0);
		if (n > 0) {
			buf[n] = 0;
			err = rt__session_parse(buf, pid, token);
		}
	}
	close(fd);
	return err;
}

void rt__session_find(struct rt__config *cfg, uid_t uid)
{
	const char *env = getenv(RT_SHM_SESSION_VAR);
	pid_t pid;
	uint64_t token;

	cfg->session_pid = 0;
	cfg->session_token = 0;
	cfg->session_flags = 0;
	/* A session whose consumer is gone is ignored: nothing would attach, and waiting for it at
	 * exit would only delay the program. */
	if (env && rt__session_parse(env, &pid, &token) == 0 && consumer_alive(pid)) {
		cfg->session_flags = RT_SHM_SESSION_ENV;
	} else if (read_marker(uid, &pid, &token) == 0 && consumer_alive(pid)) {
		cfg->session_flags = RT_SHM_SESSION_MARKER;
	} else {
		return;
	}
	cfg->session_pid = pid;
	cfg->session_token = token;
}

bool rt__session_alive(const struct rt__config *cfg)
{
	return consumer_alive(cfg->session_pid);
}
