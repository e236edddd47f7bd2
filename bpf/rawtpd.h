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
	/* group leader's comm when this CPU created the entry; zero on the other CPUs */
	char comm[RAWTPD_COMM_LEN];
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

/* tracepoint mode, per thread: its se.sum_exec_runtime and nvcsw at its last switch-out. */
struct rawtpd_tid {
	__u64 sum_exec_runtime;
	__u64 nvcsw;
};

/*
 * Thread data path (see daemon/DESIGN.md, "Data paths"): each thread's task local storage, set
 * once, when rawtpd first sees the thread leave a CPU. What the thread counted since rawtpd
 * attached is the kernel's own figure now (nvcsw, nivcsw, se.sum_exec_runtime) less this base;
 * the base is zero for a thread born after attaching.
 */
struct rawtpd_thread {
	__u64 base_voluntary;
	__u64 base_involuntary;
	__u64 base_runtime_ns;
	__u32 folded; /* its last switch has been added to its process's "exits" entry */
	__u32 pad;
};

/* Thread data path: what a process's exited threads counted, and whether its last one is gone. */
struct rawtpd_exit {
	__u64 voluntary;
	__u64 involuntary;
	__u64 runtime_ns;
	char comm[RAWTPD_COMM_LEN]; /* the group leader's */
	__u32 ended;		    /* the process has no thread left: it exited */
	__u32 pad;
};

/* Thread data path: one live thread, as the task iterator writes it (ended is 0). */
struct rawtpd_thread_rec {
	struct rawtpd_key key;
	struct rawtpd_exit v;
};

/* Indexes of the per-CPU "stats" array. */
enum rawtpd_stat {
	RAWTPD_STAT_MAP_FULL = 0, /* an entry could not be created: the map is at capacity */
	RAWTPD_STAT_MAX,
};

#endif
