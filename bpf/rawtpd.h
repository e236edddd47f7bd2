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
 * Thread data path (see daemon/DESIGN.md, "Data paths"): each thread's task local storage, its
 * kernel figures (nvcsw, nivcsw, se.sum_exec_runtime) as they were when last added to its
 * process; made when rawtpd first sees the thread leave a CPU, with the thread's base then
 * (zero for a thread born after attaching).
 */
struct rawtpd_thread {
	__u64 voluntary;
	__u64 involuntary;
	__u64 runtime_ns;
	__u64 run_delay_ns;
	__u64 leader_start_ns; /* its process's key: the group leader's start time, kept here
				  so the hot path need not follow group_leader */
	__u32 cgroup_gen;      /* the interval in which it last noted its cgroup in its process */
	__u16 early;	       /* its first switches seen, up to RAWTPD_EARLY_SWITCHES */
	__u8 gone;	       /* its last switch (it is dead) has been added */
	__u8 pad;
};

/*
 * A process's cgroup is noted at each of its threads' first switches (a new process is moved
 * into its unit before it execs: systemd does so in the child), then once an interval.
 */
#define RAWTPD_EARLY_SWITCHES 64

/*
 * Thread data path: one process, shared by all CPUs (atomic adds), in the "procs" hash. 56
 * bytes, so that an element (with the kernel's header, the key and bpf_mem_alloc's list node)
 * stays in the 128-byte kmalloc class: the name is its 15 bytes without the NUL.
 */
struct rawtpd_proc {
	__u64 voluntary;
	__u64 involuntary;
	__u64 runtime_ns;
	__u64 run_delay_ns;
	char comm[RAWTPD_COMM_LEN - 1]; /* the group leader's when the entry was made, unended */
	__u8 ended;			/* its last thread is gone: the process exited */
	__u64 cgroup_id; /* the cgroup (v2) its threads last ran in, noted once an interval */
};

/* Indexes of the per-CPU "stats" array. */
enum rawtpd_stat {
	RAWTPD_STAT_MAP_FULL = 0, /* an entry could not be created: the map is at capacity */
	RAWTPD_STAT_MAX,
};

#endif
