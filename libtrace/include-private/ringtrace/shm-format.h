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

/* "RTCTL\0\0\1" and "RTRING\0\1" read as little-endian u64. */
#define RT_SHM_CONTROL_MAGIC 0x01000000004c5443ULL
#define RT_SHM_RING_MAGIC 0x0100474e49525452ULL

/* A consumer accepts a segment whose abi_major equals its own and whose abi_oldest <= its minor. */
#define RT_SHM_ABI_MAJOR 1
#define RT_SHM_ABI_MINOR 1
#define RT_SHM_ABI_OLDEST 0

/* Segment names under /dev/shm (shm_open names start with '/'). */
#define RT_SHM_PREFIX "ringtrace"
#define RT_SHM_CONTROL_FMT "/" RT_SHM_PREFIX ".%u.%u"         /* uid, pid */
#define RT_SHM_RING_FMT "/" RT_SHM_PREFIX ".%u.%u.t%" PRIu64 /* uid, pid, thread number */

#define RT_SHM_NAME_MAX_LEN 255 /* longer names are truncated and flagged */
#define RT_SHM_PROCESS_NAME_LEN 64
#define RT_SHM_THREAD_NAME_LEN 32
#define RT_SHM_STACK_MAX 64 /* deeper spans are counted, not tracked */
#define RT_SHM_CALIB_MAX 64

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

struct rt_shm_thread_slot {
	_Atomic uint32_t state;        /* enum rt_shm_thread_state */
	uint32_t tid;                  /* kernel thread id */
	_Atomic uint64_t thread_number; /* process-unique, never reused; names the ring segment */
	char name[RT_SHM_THREAD_NAME_LEN];
	uint64_t reserved[2];
} RT_SHM_ALIGNED;

/* The control segment: one per traced process, at RT_SHM_CONTROL_FMT. */
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
	uint32_t reserved2;

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

/* Per-thread ring segment at RT_SHM_RING_FMT. */
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
_Static_assert(sizeof(struct rt_shm_control) == 320, "control header size");
_Static_assert(offsetof(struct rt_shm_control, active) == 192, "active offset");
_Static_assert(offsetof(struct rt_shm_control, names_count) == 256, "names_count offset");
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
