/* SPDX-License-Identifier: MIT */
/* Shared-memory wire format between libringtrace (producer) and the consumer: segment layouts,
 * record kinds and the commit protocol's fields. Not public API; docs/format.md is its specification. */
#ifndef RINGTRACE_SHM_FORMAT_H
#define RINGTRACE_SHM_FORMAT_H

#include <stdatomic.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>

#include <ringtrace/records.h>

/* Cross-process counters must be lock-free: a lock inside shared memory would not be shared. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

#define RT_SHM_CACHELINE 64
#define RT_SHM_ALIGNED __attribute__((aligned(RT_SHM_CACHELINE)))

/* "CTL\0\0\0\0\1", "RTRING\0\1" and "RTDIR\0\0\1" read as little-endian u64. */
#define RT_SHM_CONTROL_MAGIC 0x01000000004c5443ULL
#define RT_SHM_RING_MAGIC 0x0100474e49525452ULL
#define RT_SHM_DIR_MAGIC 0x0100005249445452ULL

/* A consumer accepts a segment whose abi_major equals its own and whose abi_oldest <= its minor.
 * 1.2 sets abi_oldest to 2: a 1.1 reader would miss threads in directory extensions and convert
 * coarse (idle) begin times as raw clock values. */
#define RT_SHM_ABI_MAJOR 1
#define RT_SHM_ABI_MINOR 2
#define RT_SHM_ABI_OLDEST 2

/*
 * Segment names under /dev/shm (shm_open names start with '/'), docs/format.md section 1:
 *   control            /<prefix>.<uid>.<pid>            or, if that name is taken by another
 *                      /<prefix>.<uid>.<pid>.x<salt>    user, a random fallback
 *   thread ring        /<prefix>.<uid>.<pid>.t<n>       (.x<salt> appended on the same condition;
 *                                                        the salt is in the thread's slot)
 *   directory ext. k   /<prefix>.<uid>.<pid>.d<k>.x<salt> (salt in the control segment, always)
 *   session marker     /<prefix>.<uid>.session          (`record -a`: record new processes early)
 * uid is the producer's effective uid (the owner of its files), salt 16 lowercase hex digits.
 * The prefix comes from RINGTRACE_SHM_PREFIX ([A-Za-z0-9_-], 1 to RT_SHM_PREFIX_MAX characters;
 * anything else falls back to the default): it separates independent tracing setups of one user.
 */
#define RT_SHM_PREFIX "ringtrace" /* the default prefix */
#define RT_SHM_PREFIX_VAR "RINGTRACE_SHM_PREFIX"
#define RT_SHM_PREFIX_MAX 48
#define RT_SHM_CONTROL_NAME_FMT "/%s.%u.%u"                               /* prefix, uid, pid */
#define RT_SHM_CONTROL_SALTED_FMT "/%s.%u.%u.x%016" PRIx64                /* ..., salt */
#define RT_SHM_RING_NAME_FMT "/%s.%u.%u.t%" PRIu64                        /* ..., thread number */
#define RT_SHM_RING_SALTED_FMT "/%s.%u.%u.t%" PRIu64 ".x%016" PRIx64      /* ..., salt */
#define RT_SHM_DIR_NAME_FMT "/%s.%u.%u.d%u.x%016" PRIx64                  /* ..., extension, salt */
#define RT_SHM_MARKER_NAME_FMT "/%s.%u.session"                           /* prefix, uid */
#define RT_SHM_NAME_MAX 128 /* buffer size that holds any of the names above */

/* Recording sessions (docs/format.md section 5.1): RINGTRACE_SESSION=<consumer pid>:<token hex>,
 * set by a launching consumer and inherited by every descendant; the marker file holds the same
 * text for `record -a`. */
#define RT_SHM_SESSION_VAR "RINGTRACE_SESSION"
#define RT_SHM_MARKER_MAX 64 /* bytes of a marker file */

/*
 * Limits on every count and size a segment may claim (docs/format.md section 2.5). A producer never
 * creates more; a consumer refuses a segment that claims more (RT_ELIMIT), so its memory and time
 * stay proportional to what the producer could legitimately have written.
 */
#define RT_SHM_CONTROL_SIZE_MAX (64u << 20)  /* bytes of a control segment */
#define RT_SHM_NAMES_MAX 65536u              /* names_capacity */
#define RT_SHM_ARENA_MAX (16u << 20)         /* arena_size */
#define RT_SHM_HASH_SLOTS_MAX (1u << 18)     /* hash_slots */
#define RT_SHM_THREADS_MAX 4096u             /* threads_capacity, and dir_ext_capacity */
#define RT_SHM_DIR_EXT_MAX 64u               /* dir_ext_max: directory extension segments */
#define RT_SHM_TASKS_MAX 65536u              /* tasks_capacity */
#define RT_SHM_SUBBUF_SIZE_MIN 4096u
#define RT_SHM_SUBBUF_SIZE_MAX (16u << 20)
#define RT_SHM_SUBBUF_COUNT_MAX 4096u
#define RT_SHM_RING_SIZE_MAX (1u << 30)      /* subbuf_size * subbuf_count */
#define RT_SHM_CALIB_MAX 64                  /* calib_capacity */

#define RT_SHM_NAME_MAX_LEN 255 /* longer names are truncated and flagged */
#define RT_SHM_PROCESS_NAME_LEN 64
#define RT_SHM_THREAD_NAME_LEN 32
#define RT_SHM_STACK_MAX 64 /* deeper spans are counted, not tracked */

enum rt_shm_mode {
	RT_SHM_MODE_DISCARD = 1,   /* full ring: drop the newest records, count them */
	RT_SHM_MODE_OVERWRITE = 2, /* full ring: overwrite the oldest sub-buffer, count it */
};

enum rt_shm_clock {
	RT_SHM_CLOCK_TSC = 1,       /* raw rdtsc ticks; convert with the calibration points */
	RT_SHM_CLOCK_MONOTONIC = 2, /* CLOCK_MONOTONIC nanoseconds */
};

/* Values of the control segment's `active` word, read inline by every span/log call site. */
enum rt_shm_active {
	RT_SHM_ACTIVE_OFF = 0,   /* nothing records: call sites only test this word */
	RT_SHM_ACTIVE_ON = 1,    /* a consumer records, or overwrite mode */
	RT_SHM_ACTIVE_TRACK = 2, /* track open spans with their begin times, write no records */
};

/* Thread directory slot states; transitions are CAS'ed, see docs/format.md "Thread directory". */
enum rt_shm_thread_state {
	RT_SHM_THREAD_FREE = 0,
	RT_SHM_THREAD_CLAIMED = 1,  /* being initialised by its thread */
	RT_SHM_THREAD_ACTIVE = 2,   /* ring is live */
	RT_SHM_THREAD_FINISHED = 3, /* thread exited; ring holds data to drain */
	RT_SHM_THREAD_DRAINED = 4,  /* a consumer drained it; the producer may unlink and reuse */
};

struct rt_shm_calib_point {
	_Atomic uint64_t seq; /* odd while written, even when stable (seqlock) */
	uint64_t tsc;
	uint64_t mono_ns;
	uint64_t real_ns;
};

/* One thread directory slot. The state word is also the slot's sequence: the producer moves it
 * away from ACTIVE/FINISHED/DRAINED (CAS to CLAIMED) before it changes any other field, so a reader
 * that sees the same state and thread number before and after copying has a consistent copy. */
struct rt_shm_thread_slot {
	_Atomic uint32_t state;        /* enum rt_shm_thread_state */
	_Atomic uint32_t tid;          /* kernel thread id */
	_Atomic uint64_t thread_number; /* process-unique, never reused; names the ring segment */
	union {
		char c[RT_SHM_THREAD_NAME_LEN]; /* NUL-padded */
		_Atomic uint64_t w[RT_SHM_THREAD_NAME_LEN / 8]; /* accessed as words: relaxed atomics */
	} name;
	_Atomic uint64_t ring_salt;    /* ABI 1.2: 0, or the ring has the fallback name .x<salt> */
	uint64_t reserved;
} RT_SHM_ALIGNED;

/* Recording sessions the producer belongs to (control segment `session_flags`, ABI 1.2). */
enum rt_shm_session_flags {
	RT_SHM_SESSION_FROM_START = 1u << 0, /* records were written from the segment's creation */
	RT_SHM_SESSION_LAUNCHED = 1u << 1,   /* RINGTRACE_RECORD_FROM_START=1: launched by a consumer */
	RT_SHM_SESSION_ENV = 1u << 2,        /* session from RINGTRACE_SESSION (inherited) */
	RT_SHM_SESSION_MARKER = 1u << 3,     /* session from the user's marker (`record -a`) */
};

/* One task of the shared task table (ABI 1.2). The `id` word is the slot's sequence: task ids are
 * unique, so a reader that sees the same word before and after copying the other fields has a
 * consistent copy. A task lives in one of RT_SHM_TASK_PROBES slots from index id % capacity. */
struct rt_shm_task_slot {
	_Atomic uint64_t id;       /* 0 empty; RT_SHM_TASK_BUSY being filled; the task id, with
	                            * RT_SHM_TASK_ENDED once it ended (the slot may then be reused) */
	_Atomic uint64_t parent;   /* parent task id, 0 none */
	_Atomic uint64_t begin_ts; /* the process clock, or idle-clock CLOCK_MONOTONIC ns (TASK_COARSE) */
	_Atomic uint32_t name_id;
	_Atomic uint32_t flags;    /* enum rt_shm_task_flags */
};

#define RT_SHM_TASK_BUSY UINT64_MAX
#define RT_SHM_TASK_ENDED (1ull << 63)
#define RT_SHM_TASK_PROBES 8

enum rt_shm_task_flags {
	RT_SHM_TASK_COARSE = 1u << 0, /* begin_ts is CLOCK_MONOTONIC ns of the idle clock, as for
	                               * RT_SHM_STACK_COARSE (at most coarse_res_ns early) */
};

/* A thread directory extension segment (ABI 1.2), RT_SHM_DIR_NAME_FMT: `capacity` more slots. */
struct rt_shm_dir_ext {
	uint64_t magic; /* RT_SHM_DIR_MAGIC, stored last with release */
	uint16_t abi_major;
	uint16_t abi_minor;
	uint32_t header_size;  /* sizeof(struct rt_shm_dir_ext) */
	uint64_t segment_size;
	uint32_t pid;
	uint32_t index;        /* extension number k */
	uint32_t slots_offset; /* struct rt_shm_thread_slot[capacity] */
	uint32_t capacity;     /* equals the control segment's dir_ext_capacity */
	uint64_t salt;         /* equals dir_ext_salt[k] and the name's salt */
	uint64_t reserved[2];
} RT_SHM_ALIGNED;

/* The control segment: one per traced process, at RT_SHM_CONTROL_NAME_FMT. */
struct rt_shm_control {
	/* Immutable after creation (written before the segment is renamed into place). */
	uint64_t magic;
	uint16_t abi_major;
	uint16_t abi_minor;
	uint16_t abi_oldest;
	uint16_t reserved0;
	uint32_t header_size; /* sizeof(struct rt_shm_control) */
	uint32_t flags;
	uint64_t segment_size;
	uint32_t pid;
	uint32_t uid;
	uint32_t parent_pid; /* set in a fork()ed child: the process it was forked from */
	uint32_t clock;      /* enum rt_shm_clock */
	uint32_t mode;       /* enum rt_shm_mode */
	uint32_t idle_active; /* what `active` returns to when no consumer is attached */
	uint32_t ring_size;   /* bytes of record data per thread ring */
	uint32_t subbuf_size;
	uint32_t subbuf_count;
	uint32_t names_capacity; /* number of name ids */
	uint32_t names_offset;   /* u32 name_offsets[names_capacity] */
	uint32_t arena_offset;   /* name bytes */
	uint32_t arena_size;
	uint32_t hash_offset; /* u32 hash_slots[hash_slots] (producer-private use) */
	uint32_t hash_slots;
	uint32_t threads_offset; /* struct rt_shm_thread_slot[threads_capacity] */
	uint32_t threads_capacity;
	uint32_t calib_offset; /* struct rt_shm_calib_point[RT_SHM_CALIB_MAX] */
	uint32_t calib_capacity;
	uint32_t coarse_res_ns; /* ABI 1.2: resolution of RT_SHM_STACK_COARSE begin times (0: unknown) */
	uint64_t start_real_ns;
	uint64_t start_mono_ns;
	char process_name[RT_SHM_PROCESS_NAME_LEN];

	/* Written by consumers, read by every producer thread. */
	_Atomic uint32_t active RT_SHM_ALIGNED; /* enum rt_shm_active */
	_Atomic uint32_t session;              /* nonzero: id of the attached consumer */
	_Atomic uint64_t heartbeat;            /* bumped by the consumer at least every 100 ms */
	_Atomic uint32_t consumer_pid;
	_Atomic uint32_t attaches;             /* ABI 1.2: consumer attaches so far (0 in older ones) */

	/* Written by producer threads. */
	_Atomic uint32_t names_count RT_SHM_ALIGNED; /* ids [0, names_count) are allocated */
	_Atomic uint32_t arena_used;
	_Atomic uint64_t name_overflows;   /* names refused: table or arena full */
	_Atomic uint64_t thread_overflows; /* threads with no directory slot: not traced */
	_Atomic uint64_t next_thread_number;
	_Atomic uint64_t next_task_id;
	_Atomic uint64_t calib_count; /* points written so far; slot = index % calib_capacity */
	_Atomic uint64_t lease_expiries; /* consumers dropped because their heartbeat stopped */
	_Atomic uint32_t exited;         /* the process ran its exit handler */
	uint32_t reserved3;

	/* ABI 1.2 (header_size >= 448); immutable after creation. */
	uint32_t tasks_offset;     /* struct rt_shm_task_slot[tasks_capacity] */
	uint32_t tasks_capacity;   /* power of two; 0: no task table */
	uint32_t dir_ext_offset;   /* u64 dir_ext_salt[dir_ext_max] */
	uint32_t dir_ext_max;      /* directory extensions the producer may create */
	uint32_t dir_ext_capacity; /* slots per extension */
	uint32_t session_pid;      /* the recording consumer named by the session, 0 none */
	uint64_t session_token;    /* recording session token, 0 none */
	uint32_t session_flags;    /* enum rt_shm_session_flags */
	uint32_t reserved4;
	uint64_t name_salt;        /* nonzero: the segment has the fallback name .x<name_salt> */
	uint64_t reserved5[2];

	/* ABI 1.2, written by producer threads. */
	_Atomic uint32_t dir_ext_count RT_SHM_ALIGNED; /* extensions [0, count) are published */
	_Atomic uint32_t arena_claimed;  /* arena bytes backed by memory; the rest may be a hole */
	_Atomic uint64_t ring_failures;  /* threads with a slot but no ring (segment not created) */
	_Atomic uint64_t task_overflows; /* tasks with no table slot: their begin is not in the table */
	_Atomic uint64_t reclaimed;      /* dead processes whose segments this process removed */
	uint64_t reserved6[4];
};

/* One per sub-buffer, in the ring segment after struct rt_shm_ring. */
struct rt_shm_subbuf {
	_Atomic uint64_t seq;  /* virtual sub-buffer index held by this slot; written first on reuse */
	_Atomic uint64_t used; /* bytes of records, set when the sub-buffer is closed; RT_SHM_SUBBUF_OPEN before */
	uint64_t rec_seq0;     /* records committed to this ring before this sub-buffer */
	uint64_t base_ts;      /* timestamp the first record's delta is relative to */
	uint64_t records;      /* records in it, set when closed */
	uint64_t reserved[3];
};

#define RT_SHM_SUBBUF_OPEN UINT64_MAX

struct rt_shm_stack_entry {
	uint64_t begin_ts; /* 0: begin time unknown */
	uint64_t span_seq; /* per-thread span number, 1-based */
	uint64_t task_id;  /* the thread's task when the span began */
	uint32_t name_id;
	uint32_t flags;    /* enum rt_shm_stack_flags */
};

enum rt_shm_stack_flags {
	/* begin_ts is CLOCK_MONOTONIC_COARSE nanoseconds (taken while nothing recorded), not the
	 * process's clock: the consumer must not convert it. ABI 1.2. */
	RT_SHM_STACK_COARSE = 1u << 0,
};

/* Per-thread ring segment at RT_SHM_RING_NAME_FMT. */
struct rt_shm_ring {
	uint64_t magic;
	uint16_t abi_major;
	uint16_t abi_minor;
	uint32_t header_size; /* sizeof(struct rt_shm_ring) */
	uint64_t segment_size;
	uint32_t subbuf_size;  /* power of two */
	uint32_t subbuf_count; /* power of two, >= 2 */
	uint32_t subbuf_offset; /* struct rt_shm_subbuf[subbuf_count] */
	uint32_t data_offset;   /* subbuf_count * subbuf_size bytes */
	uint32_t mode;
	uint32_t clock;
	uint32_t pid;
	uint32_t tid;
	uint64_t thread_number;
	uint64_t created_ts;

	/* Producer thread, hot. */
	_Atomic uint64_t commit_pos RT_SHM_ALIGNED; /* virtual position up to which records are committed */
	_Atomic uint32_t state;                    /* enum rt_shm_thread_state, mirrored from the slot */
	uint32_t reserved0;
	/* ABI 1.1: drops no LOSS record reports (the ring stayed full until the thread finished);
	 * stored before state becomes finished, final from then on. */
	_Atomic uint64_t unreported_dropped;

	/* Producer thread, counters (relaxed; statistics). */
	_Atomic uint64_t records RT_SHM_ALIGNED; /* committed records */
	_Atomic uint64_t bytes; /* record bytes in closed sub-buffers */
	_Atomic uint64_t dropped;             /* discard mode: records refused because the ring was full */
	_Atomic uint64_t overwritten_records; /* overwrite mode: records in recycled, not fully read sub-buffers */
	_Atomic uint64_t overwritten_subbufs;
	_Atomic uint64_t nested_dropped; /* records refused because a signal handler interrupted a record */
	_Atomic uint64_t misuse;         /* API misuse events (also recorded in-stream) */
	_Atomic uint64_t stack_overflows;

	/* Consumer. */
	_Atomic uint64_t read_pos RT_SHM_ALIGNED; /* virtual position the consumer has finished with */
	_Atomic uint32_t reader_session; /* reserved (0) */
	uint32_t reserved1;

	/* Open-span stack of the thread, seqlock-protected. */
	_Atomic uint32_t stack_gen RT_SHM_ALIGNED; /* odd while the producer changes the stack */
	uint32_t stack_depth;                     /* may exceed RT_SHM_STACK_MAX; entries beyond are not kept */
	uint64_t stack_task;                      /* the thread's current task */
	uint64_t stack_span_seq;                  /* last span number handed out */
	struct rt_shm_stack_entry stack[RT_SHM_STACK_MAX];
};

/* The layout is a wire format (docs/format.md gives these offsets): changing one is an ABI break. */
_Static_assert(sizeof(struct rt_shm_control) == 448, "control header size");
#define RT_SHM_CONTROL_HEADER_V10 320 /* header_size of 1.0 and 1.1 producers */
_Static_assert(offsetof(struct rt_shm_control, active) == 192, "active offset");
_Static_assert(offsetof(struct rt_shm_control, names_count) == 256, "names_count offset");
_Static_assert(offsetof(struct rt_shm_control, tasks_offset) == 320, "1.2 fields offset");
_Static_assert(offsetof(struct rt_shm_control, session_token) == 344, "session_token offset");
_Static_assert(offsetof(struct rt_shm_control, name_salt) == 360, "name_salt offset");
_Static_assert(offsetof(struct rt_shm_control, dir_ext_count) == 384, "dir_ext_count offset");
_Static_assert(offsetof(struct rt_shm_control, reclaimed) == 408, "reclaimed offset");
_Static_assert(offsetof(struct rt_shm_thread_slot, ring_salt) == 48, "ring_salt offset");
_Static_assert(sizeof(struct rt_shm_task_slot) == 32, "task slot size");
_Static_assert(sizeof(struct rt_shm_dir_ext) == 64, "directory extension header size");
_Static_assert(sizeof(struct rt_shm_thread_slot) == 64, "thread slot size");
_Static_assert(sizeof(struct rt_shm_calib_point) == 32, "calibration point size");
_Static_assert(sizeof(struct rt_shm_ring) == 2432, "ring header size");
_Static_assert(offsetof(struct rt_shm_ring, commit_pos) == 128, "commit_pos offset");
_Static_assert(offsetof(struct rt_shm_ring, unreported_dropped) == 144, "unreported_dropped offset");
_Static_assert(offsetof(struct rt_shm_ring, read_pos) == 256, "read_pos offset");
_Static_assert(offsetof(struct rt_shm_ring, stack) == 344, "stack offset");
_Static_assert(sizeof(struct rt_shm_subbuf) == 64, "sub-buffer header size");
_Static_assert(sizeof(struct rt_shm_stack_entry) == 32, "stack entry size");

/* Name table entry in the arena: u16 length, u8 flags, then the bytes, no terminator. */
#define RT_NAME_FLAG_TRUNCATED 1u
#define RT_NAME_HDR_SIZE 3u

/* Reserved name ids. */
#define RT_NAME_ID_NULL 0u     /* "<null>": a NULL name was passed */
#define RT_NAME_ID_OVERFLOW 1u /* "<overflow>": the name table was full */

#endif
