// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What rawtpd's tp_btf hot path is made of: the same work as bpf/rawtpd.bpf.c, cut into
 * cumulative pieces, each its own program on tp_btf/sched_switch. The benchmark attaches one at
 * a time (beside the empty floor) and reads their cost from bpf_stats, so the difference
 * between two lines is what the piece added costs.
 *
 *   parts_stash   per-CPU stash: prev's CPU time from se.sum_exec_runtime, next's noted
 *   parts_key     + the process key: tgid and the group leader's start_time
 *   parts_tgid    stash + per-CPU hash keyed by tgid alone (4 bytes): lookup, count
 *   parts_full    stash + key + per-CPU hash keyed by (tgid, start_time): lookup, count
 *
 * and two other ways to keep the counts, for comparison (not what rawtpd does):
 *
 *   parts_shared  stash + key + one shared hash, counted with atomic adds
 *   parts_nostash key + per-CPU hash, CPU time from prev's own se.prev_sum_exec_runtime (set
 *                 when the fair class picks a task), no per-CPU stash, next not read
 *   parts_task    stash + task local storage of the group leader, counted with atomic adds
 *                 (no hash lookup at all; user space would need a task iterator to read it)
 *   parts_tstore  prev's own task local storage, its figures stored (no stash, no hash, no
 *                 atomics)
 *   parts_tidhash one shared hash keyed by thread (tid, start time): prev's kernel figures
 *                 stored into its own entry, no stash, no atomics (each entry has one writer)
 *   parts_tslot   prev's task local storage holds the index of its own slot in a shared
 *                 mmap'able array, where its figures are stored: the thread data path's floor
 *   parts_tslot_raw the same on raw_tp/sched_switch, prev from bpf_get_current_task_btf()
 *
 * Kept in step with bpf/rawtpd.bpf.c by hand; it is a measuring device, not a second counter.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct pkey {
	__u32 tgid;
	__u32 pad;
	__u64 start_ns;
};

struct pvalue {
	__u64 voluntary;
	__u64 involuntary;
	__u64 runtime_ns;
	char comm[16];
};

struct pstash {
	__u64 sum_exec_runtime;
	__u64 since_ns;
	__u32 pid;
	__u32 valid;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct pkey);
	__type(value, struct pvalue);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct pvalue);
} counts_tgid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pstash);
} oncpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, struct pkey);
	__type(value, struct pvalue);
} counts_shared SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pvalue);
} counts_task SEC(".maps");

struct tfig {
	__u64 nvcsw, nivcsw, sum_exec_runtime, run_delay;
	__u64 leader_start_ns;
	__u32 tgid, cgroup_gen;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tfig);
} tstore SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct pkey); /* tid, the thread's start_time */
	__type(value, struct tfig);
} tidhash SEC(".maps");

/* where parts_key leaves its key, so that computing it is not optimised away */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pkey);
} sink SEC(".maps");

static __always_inline __u64 stash(struct task_struct *prev, struct task_struct *next)
{
	struct pstash *oc;
	__u32 zero = 0;
	__u64 sum, ran = 0;

	oc = bpf_map_lookup_elem(&oncpu, &zero);
	if (!oc)
		return 0;
	sum = prev->se.sum_exec_runtime;
	if (oc->valid && oc->pid == prev->pid && sum >= oc->sum_exec_runtime)
		ran = sum - oc->sum_exec_runtime;
	oc->pid = next->pid;
	oc->sum_exec_runtime = next->se.sum_exec_runtime;
	oc->valid = 1;
	return ran;
}

static __always_inline void count(void *map, void *key, __u64 ran, bool involuntary)
{
	struct pvalue *v, init = {};

	v = bpf_map_lookup_elem(map, key);
	if (!v) {
		init.voluntary = !involuntary;
		init.involuntary = involuntary;
		init.runtime_ns = ran;
		bpf_map_update_elem(map, key, &init, BPF_NOEXIST);
		return;
	}
	if (involuntary)
		v->involuntary++;
	else
		v->voluntary++;
	v->runtime_ns += ran;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(parts_stash, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	stash(prev, next);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(parts_key, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct pkey *k;
	__u32 zero = 0;

	stash(prev, next);
	if (!prev->pid)
		return 0;
	k = bpf_map_lookup_elem(&sink, &zero);
	if (k) {
		k->tgid = prev->tgid;
		k->start_ns = prev->group_leader->start_time;
	}
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(parts_tgid, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u64 ran = stash(prev, next);
	__u32 tgid;

	if (!prev->pid)
		return 0;
	tgid = prev->tgid;
	count(&counts_tgid, &tgid, ran, preempt || prev_state == 0);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(parts_full, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u64 ran = stash(prev, next);
	struct pkey k = {};

	if (!prev->pid)
		return 0;
	k.tgid = prev->tgid;
	k.start_ns = prev->group_leader->start_time;
	count(&counts, &k, ran, preempt || prev_state == 0);
	return 0;
}

static __always_inline void count_atomic(struct pvalue *v, __u64 ran, bool involuntary)
{
	if (involuntary)
		__sync_fetch_and_add(&v->involuntary, 1);
	else
		__sync_fetch_and_add(&v->voluntary, 1);
	__sync_fetch_and_add(&v->runtime_ns, ran);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(parts_shared, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u64 ran = stash(prev, next);
	struct pvalue *v, init = {};
	struct pkey k = {};

	if (!prev->pid)
		return 0;
	k.tgid = prev->tgid;
	k.start_ns = prev->group_leader->start_time;
	v = bpf_map_lookup_elem(&counts_shared, &k);
	if (!v) {
		bpf_map_update_elem(&counts_shared, &k, &init, BPF_NOEXIST);
		return 0;
	}
	count_atomic(v, ran, preempt || prev_state == 0);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(parts_task, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u64 ran = stash(prev, next);
	struct pvalue *v;

	if (!prev->pid)
		return 0;
	v = bpf_task_storage_get(&counts_task, prev->group_leader, NULL,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (v)
		count_atomic(v, ran, preempt || prev_state == 0);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(parts_nostash, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u64 sum, start;
	struct pkey k = {};

	if (!prev->pid)
		return 0;
	sum = prev->se.sum_exec_runtime;
	start = prev->se.prev_sum_exec_runtime;
	k.tgid = prev->tgid;
	k.start_ns = prev->group_leader->start_time;
	count(&counts, &k, sum >= start ? sum - start : 0, preempt || prev_state == 0);
	return 0;
}

static __always_inline void tfig_store(struct tfig *f, struct task_struct *t)
{
	f->nvcsw = t->nvcsw;
	f->nivcsw = t->nivcsw;
	f->sum_exec_runtime = t->se.sum_exec_runtime;
	f->run_delay = t->sched_info.run_delay;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(parts_tstore, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct tfig *f;

	if (!prev->pid)
		return 0;
	f = bpf_task_storage_get(&tstore, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (f)
		tfig_store(f, prev);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(parts_tidhash, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct pkey k = {};
	struct tfig *f;

	if (!prev->pid)
		return 0;
	k.tgid = prev->pid;
	k.start_ns = prev->start_time;
	f = bpf_map_lookup_elem(&tidhash, &k);
	if (!f) {
		struct tfig init = {.tgid = prev->tgid,
				    .leader_start_ns = prev->group_leader->start_time};

		tfig_store(&init, prev);
		bpf_map_update_elem(&tidhash, &k, &init, BPF_NOEXIST);
		return 0;
	}
	tfig_store(f, prev);
	return 0;
}

/* alt: prev's task storage (its slot) + its own entry in a shared array: figures stored, no
 * atomics (one writer per entry) */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u32);
} tslotidx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct tfig);
} tslots SEC(".maps");

__u32 next_slot;

static __always_inline int tslot(struct task_struct *prev)
{
	struct tfig *e;
	__u32 *s;

	if (!prev->pid)
		return 0;
	s = bpf_task_storage_get(&tslotidx, prev, 0, 0);
	if (!s) {
		__u32 slot = next_slot++ & 65535;

		bpf_task_storage_get(&tslotidx, prev, &slot, BPF_LOCAL_STORAGE_GET_F_CREATE);
		return 0;
	}
	e = bpf_map_lookup_elem(&tslots, s);
	if (!e)
		return 0;
	tfig_store(e, prev);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(parts_tslot, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return tslot(prev);
}

/* the same on the raw tracepoint, whose untyped arguments leave prev to
 * bpf_get_current_task_btf() (current is still prev): what that one helper call costs */
SEC("raw_tp/sched_switch")
int BPF_PROG(parts_tslot_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return tslot(bpf_get_current_task_btf());
}
