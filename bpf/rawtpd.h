/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Structures shared by the BPF program and user space. Fixed-size types only: the same bytes
 * are read by the kernel side (vmlinux.h types) and by the daemon (linux/types.h).
 */
#ifndef RAWTPD_H
#define RAWTPD_H

#define RAWTPD_COMM_LEN 16

/*
 * A process is its tgid plus the start time of its group leader (CLOCK_MONOTONIC ns, the
 * kernel's task->start_time). A pid the kernel hands out again gets a different start time,
 * hence a different key: a new process never inherits the counts of an old one.
 */
struct rawtpd_key {
	__u32 tgid;
	__u32 pad;
	__u64 start_ns;
};

/* One CPU's share of a process's counters (the map is per-CPU: no atomics on the hot path). */
struct rawtpd_value {
	__u64 voluntary;
	__u64 involuntary;
	__u64 runtime_ns;
	__u64 run_delay_ns; /* time runnable, waiting for a CPU (sched_info.run_delay's growth) */
	/* group leader's comm when this CPU created the entry; zero on the other CPUs */
	char comm[RAWTPD_COMM_LEN];
	/* the cgroup (v2) a thread of it ran in when this CPU last noted it: in interval
	 * cgroup_gen, at cgroup_ms (CLOCK_MONOTONIC >> 20, wrapping); the freshest CPU's, by
	 * (gen, ms), is the process's */
	__u64 cgroup_id;
	__u32 cgroup_gen;
	__u32 cgroup_ms;
};

/* A process's new name (task_rename: prctl(PR_SET_NAME), /proc/<pid>/comm writes, exec). */
struct rawtpd_comm {
	char comm[RAWTPD_COMM_LEN];
};

/*
 * Per-CPU stash: the thread switched in on this CPU, and its se.sum_exec_runtime and nvcsw
 * then (neither changes while it is off a CPU, so they are also its values at its previous
 * switch-out).
 */
struct rawtpd_oncpu {
	__u64 sum_exec_runtime;
	__u64 nvcsw;
	__u32 pid;
	__u32 valid;
};

/*
 * Process path, per thread: its sched_info.run_delay at its last switch-out; in the tracepoint
 * mode also its se.sum_exec_runtime and nvcsw then.
 */
struct rawtpd_tid {
	__u64 sum_exec_runtime;
	__u64 nvcsw;
	__u64 run_delay;
};

/*
 * Thread data path (see daemon/DESIGN.md, "Data paths"): each thread's task local storage. It
 * only says where the thread's figures are (its slot in the "slots" array); made when rawtpd
 * first sees the thread leave a CPU.
 */
struct rawtpd_thread {
	__u32 slot; /* index of its struct rawtpd_slot */
	__u32 pad;
};

/*
 * Thread data path: each CPU's memo of the slots of the threads that left it last, a direct-
 * mapped cache by tid (the "slot_cache" per-CPU array, one entry). A thread found there needs
 * no task storage lookup: the helper call that was most of the hot path's cost. A way names a
 * thread by three things, since a slot goes back to the free queue once its thread is dead,
 * and a dead thread never switches again, so what a stale way names must never be matched by
 * a live one:
 * - its start_time tells a new task_struct at a freed one's address;
 * - but a thread that execs takes its leader's tid and start_time (de_thread()): its address
 *   tells it from the leader it replaces;
 * - and a later thread of the same process that execs takes them again, possibly at the
 *   first one's address, freed meanwhile: self_exec_id (which each exec bumps, and a new
 *   thread inherits) tells it from that one.
 */
#define RAWTPD_SLOT_CACHE 128 /* a power of two */

struct rawtpd_cached_slot {
	__u64 task;	/* the thread's struct task_struct address; 0: empty */
	__u64 start_ns; /* its start_time */
	__u32 exec_id;	/* its self_exec_id, low half */
	__u32 slot;
};

struct rawtpd_slot_cache {
	struct rawtpd_cached_slot e[RAWTPD_SLOT_CACHE];
};

/*
 * A thread's cgroup is noted at its first switches (a new process is moved into its unit
 * before it execs: systemd does so in the child), then once an interval.
 */
#define RAWTPD_EARLY_SWITCHES 64

/*
 * Thread data path: the run-queue latency histogram of a thread (struct rawtpd_hist), its waits
 * for a CPU by length:
 * bucket k (0 to RAWTPD_HIST_BUCKETS - 2) counts the waits shorter than 2^(RAWTPD_HIST_SHIFT + k)
 * ns (and not shorter than the bucket before's bound), the last one every longer wait. 2^10 ns
 * (1.024 us) to 2^32 ns (4.29 s), as runqlat's log2 buckets of microseconds.
 */
#define RAWTPD_HIST_BUCKETS 24
#define RAWTPD_HIST_SHIFT   10

/*
 * Thread data path: one thread's figures, in a slot of the "slots" array (mmap'ed by user
 * space). Its only writer is the thread itself, at its switches: no atomics. The figures are
 * the kernel's own (nvcsw, nivcsw, se.sum_exec_runtime, sched_info.run_delay) at its last
 * switch-out; what it did while rawtpd watched is each minus its base (zero for a thread born
 * after attaching). A slot is in use while tid is not 0 (written last, when the slot is
 * taken); the thread's last switch sets dead, and user space frees the slot (zeroes it and
 * puts its index back in "free_slots") once it has read it dead twice. 128 bytes: what every
 * switch writes is the first cache line.
 */
struct rawtpd_slot {
	__u64 voluntary;
	__u64 involuntary;
	__u64 runtime_ns;
	__u64 run_delay_ns;
	__u64 cgroup_id;  /* the cgroup (v2) it last ran in, noted once an interval */
	__u32 cgroup_gen; /* the interval it was noted in */
	__u8 dead;	  /* its last switch is in: the thread exited */
	__u8 ended;	  /* ... and it was its process's last thread (signal->live 0) */
	__u8 seen_dead;	  /* user space: read dead once already */
	__u8 early;	  /* its first switches seen, up to RAWTPD_EARLY_SWITCHES */
	__u32 tid;
	__u32 tgid;
	__u64 leader_start_ns; /* with tgid, its process's key */
	__u64 base_voluntary;
	__u64 base_involuntary;
	__u64 base_runtime_ns;
	__u64 base_run_delay_ns;
	char comm[RAWTPD_COMM_LEN]; /* its group leader's when the slot was taken */
	__u64 pad1[2];
};

/*
 * Thread data path, counting latency: the waits for a CPU of the thread in the slot of the same
 * index, since the slot was taken, by length (the "hists" array, beside "slots"). u32 counts,
 * which user space reads as growth since its last read (wrapping). Only the thread writes it.
 */
struct rawtpd_hist {
	__u32 bucket[RAWTPD_HIST_BUCKETS];
};

/*
 * Thread data path: preemptions between cgroups. A thread of cgroup "victim" (v2 id) was
 * switched out involuntarily and a thread of cgroup "by" took its CPU; the value counts that.
 */
struct rawtpd_pair {
	__u64 victim;
	__u64 by;
};

/* Indexes of the per-CPU "stats" array. */
enum rawtpd_stat {
	RAWTPD_STAT_MAP_FULL = 0,   /* an entry could not be created: the map is at capacity */
	RAWTPD_STAT_SLOTS_LOST = 1, /* thread path: a slot taken back could not be queued again */
	RAWTPD_STAT_PAIRS_FULL = 2, /* thread path: a preemption whose pair found no room */
	RAWTPD_STAT_MAX,
};

#endif
