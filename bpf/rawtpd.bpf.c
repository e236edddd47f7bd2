// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rawtpd: per-process scheduler counters from sched_switch.
 *
 * Every hook (tp_btf, raw_tp, ...) decodes its own arguments and calls account_switch(), the
 * one place where counting happens. The maps are per-CPU: the hot path takes no lock and no
 * atomic. User space sums the CPUs, folds processes that exited and deletes their entries.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "rawtpd.h"
#include "compat.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Set by user space before load (the verifier then prunes the dead branches).
 * prev_state_arg: sched_switch passes prev_state as its 4th argument (v5.18, commit
 * fa2c3254d7cf "sched/tracing: Don't re-read p->state when emitting sched_switch event").
 */
const volatile bool prev_state_arg = true;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 32768); /* resized from [bpf] max_processes before load */
	__type(key, struct rawtpd_key);
	__type(value, struct rawtpd_value);
} counts SEC(".maps");

/* Names changed since the last read; LRU so a rename storm can never fail an update. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct rawtpd_key);
	__type(value, struct rawtpd_comm);
} renames SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rawtpd_oncpu);
} oncpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RAWTPD_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/*
 * Field access: "direct" hooks (tp_btf) get BTF-typed task pointers and read them with plain
 * loads; the others go through BPF_CORE_READ (bpf_probe_read_kernel). "direct" is a compile-
 * time constant at every call site, so each program keeps only one of the two branches.
 */
#define TASK_FIELD(direct, t, field) ((direct) ? (t)->field : BPF_CORE_READ(t, field))

static __always_inline __u64 leader_start_ns(struct task_struct *t, const bool direct)
{
	if (direct)
		return t->group_leader->start_time;
	return BPF_CORE_READ(t, group_leader, start_time);
}

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1;
}

/*
 * Account one context switch: prev leaves the CPU, next takes it. involuntary follows the
 * kernel's nvcsw/nivcsw rule (preempted, or still TASK_RUNNING when it left).
 */
static __always_inline int account_switch(struct task_struct *prev, struct task_struct *next,
					  bool involuntary, const bool direct)
{
	struct rawtpd_value *v, init = {};
	struct rawtpd_key key = {};
	struct rawtpd_oncpu *oc;
	__u32 zero = 0, prev_pid;
	__u64 prev_sum, ran = 0;

	oc = bpf_map_lookup_elem(&oncpu, &zero);
	if (!oc)
		return 0;

	/* CPU time: the kernel's own se.sum_exec_runtime, brought up to date before the
	 * tracepoint fires, minus what it was when prev was switched in on this CPU. */
	prev_pid = TASK_FIELD(direct, prev, pid);
	prev_sum = TASK_FIELD(direct, prev, se.sum_exec_runtime);
	if (oc->valid && oc->pid == prev_pid && prev_sum >= oc->sum_exec_runtime)
		ran = prev_sum - oc->sum_exec_runtime;
	oc->pid = TASK_FIELD(direct, next, pid);
	oc->sum_exec_runtime = TASK_FIELD(direct, next, se.sum_exec_runtime);
	oc->valid = 1;

	if (prev_pid == 0) /* the idle task is not a process */
		return 0;

	key.tgid = TASK_FIELD(direct, prev, tgid);
	key.start_ns = leader_start_ns(prev, direct);

	v = bpf_map_lookup_elem(&counts, &key);
	if (!v) {
		if (involuntary)
			init.involuntary = 1;
		else
			init.voluntary = 1;
		init.runtime_ns = ran;
		if (direct)
			bpf_probe_read_kernel_str(init.comm, sizeof(init.comm),
						  prev->group_leader->comm);
		else
			BPF_CORE_READ_STR_INTO(&init.comm, prev, group_leader, comm);
		if (bpf_map_update_elem(&counts, &key, &init, BPF_NOEXIST) == 0)
			return 0;
		/* Lost a race with another CPU creating it, or the map is full. */
		v = bpf_map_lookup_elem(&counts, &key);
		if (!v) {
			stat_inc(RAWTPD_STAT_MAP_FULL);
			return 0;
		}
	}
	if (involuntary)
		v->involuntary++;
	else
		v->voluntary++;
	v->runtime_ns += ran;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(rawtpd_tp_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	long state;

	if (prev_state_arg)
		state = (long)ctx[3];
	else
		state = compat_task_state(prev);
	return account_switch(prev, next, preempt || state == COMPAT_TASK_RUNNING, true);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(rawtpd_raw_tp, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	long state;

	if (prev_state_arg)
		state = (long)ctx[3];
	else
		state = compat_task_state(prev);
	return account_switch(prev, next, preempt || state == COMPAT_TASK_RUNNING, false);
}

/*
 * A process changed its name. Only the group leader's name is the process's name; the new name
 * is noted so user space can relabel the process (the entry itself keeps the name its first
 * switch saw).
 */
static __always_inline int account_rename(struct task_struct *t, const char *comm,
					  const bool direct)
{
	struct rawtpd_key key = {};
	struct rawtpd_comm c = {};

	key.tgid = TASK_FIELD(direct, t, tgid);
	if (TASK_FIELD(direct, t, pid) != key.tgid)
		return 0;
	key.start_ns = TASK_FIELD(direct, t, start_time);
	bpf_probe_read_kernel_str(c.comm, sizeof(c.comm), comm);
	bpf_map_update_elem(&renames, &key, &c, BPF_ANY);
	return 0;
}

SEC("tp_btf/task_rename")
int BPF_PROG(rawtpd_rename_tp_btf, struct task_struct *task, const char *comm)
{
	return account_rename(task, comm, true);
}

SEC("raw_tp/task_rename")
int BPF_PROG(rawtpd_rename_raw_tp, struct task_struct *task, const char *comm)
{
	return account_rename(task, comm, false);
}
