// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rawtpd: per-process scheduler counters from sched_switch.
 *
 * One program per attach mode (tp_btf, raw_tp, tracepoint, kprobe; user space loads only the
 * chosen one). Each finds the switch's CPU time and voluntary/involuntary from the kernel's own
 * figures (se.sum_exec_runtime, nvcsw) and ends in count_switch(), the one place where counting
 * happens. The maps are per-CPU: the hot path takes no lock and no atomic. User space sums the
 * CPUs, folds processes that exited and deletes their entries.
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
/*
 * tracepoint mode: threads that started after this (CLOCK_MONOTONIC ns, set just before load)
 * are new, so everything in their se.sum_exec_runtime was run since rawtpd attached.
 */
const volatile __u64 new_after_ns = 0;
/*
 * Thread data path: count each thread's run-queue latency histogram and the preemptions between
 * cgroups ([metrics] group_by unit or cgroup at start).
 */
const volatile bool count_latency = false;
/*
 * Bumped by user space after every read: the hot path notes a process's cgroup (v2) id once
 * per interval (per CPU on the process path, per thread on the thread path), not at every
 * switch.
 */
__u64 cgroup_gen = 1;

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

/*
 * Process path, each thread's figures when it last left a CPU: sched_info.run_delay in every
 * mode (tid_delay()); in the tracepoint mode also se.sum_exec_runtime and nvcsw, which are
 * also what they are when the thread next comes in (they only change while it runs, and
 * __schedule() bumps nvcsw or nivcsw before the tracepoint fires). Entries go when their
 * thread's last switch reports it exited; LRU, so a missed one cannot fill the map. Not made
 * on the thread path.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct rawtpd_tid);
} tid_runtime SEC(".maps");

/*
 * Thread data path (Linux 6.5+: local storage allocates with bpf_mem_alloc, safe under the
 * runqueue lock). Not created on the process path. Each thread's task local storage says which
 * slot of "slots" holds its figures, and is freed by the kernel with the thread; "slots" is
 * an array user space mmaps and reads in place; "free_slots" holds the indexes not in use
 * (user space fills it at start and puts back every slot it frees). Both are sized from
 * [bpf] max_processes before load: that many threads are counted at once.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct rawtpd_thread);
} threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct rawtpd_slot);
} slots SEC(".maps");

/* each CPU's memo of its last threads' slots (rawtpd.h); made on the thread path */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rawtpd_slot_cache);
} slot_cache SEC(".maps");

/*
 * Counting latency: each slot's thread's run-queue latency histogram, at the slot's index;
 * sized like "slots" then, else one entry (the code that uses it is not loaded).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct rawtpd_hist);
} hists SEC(".maps");

/* a stack: the lowest indexes are taken again first, so the slots in use stay at the front */
struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 32768);
	__type(value, __u32);
} free_slots SEC(".maps");

/*
 * Thread data path: preemptions by pair of cgroups (struct rawtpd_pair), counted with atomic
 * adds: only involuntary switches between two cgroups come here. User space deletes the pairs
 * of cgroups that are gone. Made on the thread path (empty unless count_latency).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, struct rawtpd_pair);
	__type(value, __u64);
} preempts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RAWTPD_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

#define MAX_RT_PRIO	100  /* prio of the first fair (SCHED_NORMAL) level */
#define TASK_DEAD_STATE 0x80 /* TASK_DEAD: do_task_dead() before the last __schedule() */

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

/* t's cgroup on the unified (v2) hierarchy: its kernfs node id, the directory's inode number. */
static __always_inline __u64 task_cgroup_id(struct task_struct *t, const bool direct)
{
	if (direct)
		return t->cgroups->dfl_cgrp->kn->id;
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
}

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1;
}

/*
 * Count one switch-out of prev (not the idle task), which ran ran_ns since it came in and had
 * waited delay_ns for a CPU before, as the kernel counted it (involuntary: it bumped nivcsw).
 * The one place where counting happens on the process path: every hook ends here.
 */
static __always_inline int count_switch(struct task_struct *prev, __u64 ran_ns, __u64 delay_ns,
					bool involuntary, const bool direct)
{
	struct rawtpd_value *v, init = {};
	struct rawtpd_key key = {};

	key.tgid = TASK_FIELD(direct, prev, tgid);
	key.start_ns = leader_start_ns(prev, direct);

	v = bpf_map_lookup_elem(&counts, &key);
	if (!v) {
		if (involuntary)
			init.involuntary = 1;
		else
			init.voluntary = 1;
		init.runtime_ns = ran_ns;
		init.run_delay_ns = delay_ns;
		init.cgroup_id = task_cgroup_id(prev, direct);
		init.cgroup_gen = (__u32)cgroup_gen;
		init.cgroup_ms = (__u32)(bpf_ktime_get_ns() >> 20);
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
	v->runtime_ns += ran_ns;
	v->run_delay_ns += delay_ns;
	if (v->cgroup_gen != (__u32)cgroup_gen ||
	    v->voluntary + v->involuntary < RAWTPD_EARLY_SWITCHES) {
		v->cgroup_id = task_cgroup_id(prev, direct);
		v->cgroup_gen = (__u32)cgroup_gen;
		v->cgroup_ms = (__u32)(bpf_ktime_get_ns() >> 20);
	}
	return 0;
}

enum hook {
	HOOK_TP_BTF, /* BTF-typed arguments: plain loads */
	HOOK_RAW_TP,
	HOOK_KPROBE,	 /* finish_task_switch(prev): no preempt flag, no prev_state */
	HOOK_TRACEPOINT, /* thread data path: the classic tracepoint, ctx[0] its reported state */
};

/*
 * Involuntary, by the kernel's rule, from what the hook sees. Only needed when the stash
 * cannot say (the first switch on a CPU after attaching, or one whose switch-in was not seen).
 * The raw tracepoints have preempt and prev_state (or prev's state, re-read, before v5.18);
 * the kprobe has neither: a preempted or yielding task is still queued (on_rq), a blocked one
 * was dequeued (or, from v6.12, left queued with se.sched_delayed). Both misread a task that
 * tried to block with a signal pending (left queued with TASK_RUNNING, counted voluntary).
 */
static __always_inline bool guess_involuntary(struct task_struct *prev, unsigned long long *ctx,
					      bool preempt, const int hook)
{
	long state;

	if (hook == HOOK_KPROBE)
		return BPF_CORE_READ(prev, on_rq) && !compat_task_dequeue_delayed(prev);
	if (prev_state_arg)
		state = (long)ctx[3];
	else
		state = compat_task_state(prev);
	return preempt || state == COMPAT_TASK_RUNNING;
}

/*
 * prev's wait: its sched_info.run_delay grew since its previous switch-out (tid_runtime keeps
 * the figure) by every wait since. Not from switch-in to switch-out, as the per-CPU stash
 * does for CPU time: a wait that ends in a migration is added when the thread leaves the
 * other runqueue, before it is switched in here. A thread first seen now counts all its
 * waits if it was born after attaching, else none before this slice.
 */
static __always_inline __u64 tid_delay(struct task_struct *prev, __u32 prev_pid, const bool direct)
{
	__u64 rd = compat_run_delay(prev, direct), delay = 0;
	struct rawtpd_tid *last = bpf_map_lookup_elem(&tid_runtime, &prev_pid);
	bool dead;

	/* no wait since: a thread that got a CPU at once. If it is dead, its entry is the least
	 * recently used from now on, and the LRU takes it before any live thread's */
	if (last && rd == last->run_delay)
		return 0;
	/* __state is state before 5.14: the process path runs there */
	dead = (direct ? compat_task_state_direct(prev) : compat_task_state(prev)) &
	       TASK_DEAD_STATE;
	if (last) {
		if (rd >= last->run_delay)
			delay = rd - last->run_delay;
		if (dead)
			bpf_map_delete_elem(&tid_runtime, &prev_pid);
		else
			last->run_delay = rd;
	} else {
		struct rawtpd_tid now = {.run_delay = rd};

		/* born after attaching and at its first switch: all it ever waited. Not after an
		 * eviction from the LRU, nor for a thread that took its leader's tid in exec */
		if (TASK_FIELD(direct, prev, start_time) >= new_after_ns &&
		    TASK_FIELD(direct, prev, nvcsw) + TASK_FIELD(direct, prev, nivcsw) <= 1)
			delay = rd;
		if (!dead)
			bpf_map_update_elem(&tid_runtime, &prev_pid, &now, BPF_NOEXIST);
	}
	return delay;
}

/*
 * Account one context switch seen by a hook that has both tasks: prev leaves the CPU, next
 * takes it. The figures are the kernel's own, taken from what they were when prev came in on
 * this CPU (the per-CPU stash): CPU time is the growth of se.sum_exec_runtime, brought up to
 * date before the switch; __schedule() has already bumped prev's nvcsw or its nivcsw, so
 * an unchanged nvcsw is an involuntary switch, exactly as /proc counts it. The wait is the
 * growth of sched_info.run_delay since prev's previous switch-out (tid_delay()).
 */
static __always_inline int account_switch(struct task_struct *prev, struct task_struct *next,
					  unsigned long long *ctx, bool preempt, const int hook)
{
	const bool direct = hook == HOOK_TP_BTF;
	struct rawtpd_oncpu *oc;
	__u32 zero = 0, prev_pid;
	__u64 prev_sum, prev_nvcsw, ran = 0, delay = 0;
	bool involuntary = false;

	oc = bpf_map_lookup_elem(&oncpu, &zero);
	if (!oc)
		return 0;

	prev_pid = TASK_FIELD(direct, prev, pid);
	prev_sum = TASK_FIELD(direct, prev, se.sum_exec_runtime);
	prev_nvcsw = TASK_FIELD(direct, prev, nvcsw);
	if (oc->valid && oc->pid == prev_pid) {
		if (prev_sum >= oc->sum_exec_runtime)
			ran = prev_sum - oc->sum_exec_runtime;
		involuntary = prev_nvcsw == oc->nvcsw;
	} else if (prev_pid) {
		/*
		 * prev came in unseen: the first switch after attaching, or a kernel that does
		 * not trace every switch (some sandboxes hide their own threads). For a fair
		 * task the kernel noted its sum when it was picked (set_next_entity()).
		 */
		if (TASK_FIELD(direct, prev, prio) >= MAX_RT_PRIO) {
			__u64 start = TASK_FIELD(direct, prev, se.prev_sum_exec_runtime);

			if (prev_sum >= start)
				ran = prev_sum - start;
		}
		involuntary = guess_involuntary(prev, ctx, preempt, hook);
	}
	oc->pid = TASK_FIELD(direct, next, pid);
	oc->sum_exec_runtime = TASK_FIELD(direct, next, se.sum_exec_runtime);
	oc->nvcsw = TASK_FIELD(direct, next, nvcsw);
	oc->valid = 1;

	if (prev_pid == 0) /* the idle task is not a process */
		return 0;
	delay = tid_delay(prev, prev_pid, direct);
	return count_switch(prev, ran, delay, involuntary, direct);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(rawtpd_tp_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return account_switch(prev, next, ctx, preempt, HOOK_TP_BTF);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(rawtpd_raw_tp, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return account_switch(prev, next, ctx, preempt, HOOK_RAW_TP);
}

/*
 * Classic tracepoint: the record has thread ids and a reported prev_state, no task pointers.
 * current is still prev; next is known only by its tid, so prev's figures at its switch-in are
 * taken from what they were at its previous switch-out (tid_runtime).
 */
static __always_inline bool tp_guess_involuntary(struct task_struct *prev, long reported)
{
	/*
	 * From v5.18 the report is made from the state __schedule() decided on. Before, it
	 * re-reads prev's state, as the other hooks do: read that directly, it is more exact
	 * than the report (which shows TASK_WAKING as running).
	 */
	if (prev_state_arg)
		return !compat_tp_blocked(reported);
	return compat_tp_preempted(reported) || compat_task_state(prev) == COMPAT_TASK_RUNNING;
}

SEC("tracepoint/sched/sched_switch")
int rawtpd_tracepoint(struct trace_event_raw_sched_switch *ctx)
{
	struct task_struct *prev = (struct task_struct *)bpf_get_current_task();
	struct rawtpd_tid now, *last;
	long reported = ctx->prev_state;
	bool exited = reported & COMPAT_TASK_REPORT_EXIT;
	__u32 prev_pid = ctx->prev_pid;
	bool involuntary;
	__u64 ran = 0, delay = 0;

	if (prev_pid == 0)
		return 0;
	now.sum_exec_runtime = BPF_CORE_READ(prev, se.sum_exec_runtime);
	now.nvcsw = BPF_CORE_READ(prev, nvcsw);
	now.run_delay = compat_run_delay(prev, false);
	last = bpf_map_lookup_elem(&tid_runtime, &prev_pid);
	if (last) {
		if (now.sum_exec_runtime >= last->sum_exec_runtime)
			ran = now.sum_exec_runtime - last->sum_exec_runtime;
		if (now.run_delay >= last->run_delay)
			delay = now.run_delay - last->run_delay;
		involuntary = now.nvcsw == last->nvcsw;
		if (exited)
			bpf_map_delete_elem(&tid_runtime, &prev_pid);
		else
			*last = now;
	} else {
		if (BPF_CORE_READ(prev, start_time) >= new_after_ns) {
			/* born after we attached, with nvcsw 0 (copy_mm()): this is its first
			 * switch, and all it ever ran */
			ran = now.sum_exec_runtime;
			delay = now.run_delay;
			involuntary = now.nvcsw == 0;
		} else {
			/* ran before we attached: its first slice since is not known */
			involuntary = tp_guess_involuntary(prev, reported);
		}
		if (!exited)
			bpf_map_update_elem(&tid_runtime, &prev_pid, &now, BPF_NOEXIST);
	}
	return count_switch(prev, ran, delay, involuntary, false);
}

/* kprobe on finish_task_switch(prev): the switch is done, current is next. */
SEC("kprobe")
int BPF_KPROBE(rawtpd_kprobe, struct task_struct *prev)
{
	struct task_struct *next = (struct task_struct *)bpf_get_current_task();

	return account_switch(prev, next, NULL, false, HOOK_KPROBE);
}

/*
 * The thread data path. Each thread has a slot of its own in "slots", taken at its first
 * switch-out since attaching, where every switch-out stores its kernel figures: one writer
 * per slot, so plain stores. User space sums a process's threads, and keeps what its exited
 * threads counted once it frees their slots. A dead thread's last switch marks its slot dead,
 * and ended when it was the process's last thread (signal->live is 0). All three hooks have
 * prev as a typed pointer (the raw and classic tracepoints fire with prev still current).
 */

/* t's figures now, its run_delay being rd */
static __always_inline void slot_figures(struct rawtpd_slot *e, struct task_struct *t, __u64 rd)
{
	e->voluntary = t->nvcsw;
	e->involuntary = t->nivcsw;
	e->runtime_ns = t->se.sum_exec_runtime;
	e->run_delay_ns = rd;
}

/* The histogram bucket of a wait of ns nanoseconds (rawtpd.h): floor(log2(ns)) - 9, bounded. */
static __always_inline __u32 hist_bucket(__u64 ns)
{
	__u32 b = 0;

	ns >>= RAWTPD_HIST_SHIFT - 1;
	if (ns >> 32) {
		b += 32;
		ns >>= 32;
	}
	if (ns >> 16) {
		b += 16;
		ns >>= 16;
	}
	if (ns >> 8) {
		b += 8;
		ns >>= 8;
	}
	if (ns >> 4) {
		b += 4;
		ns >>= 4;
	}
	if (ns >> 2) {
		b += 2;
		ns >>= 2;
	}
	if (ns >> 1)
		b += 1;
	return b < RAWTPD_HIST_BUCKETS ? b : RAWTPD_HIST_BUCKETS - 1;
}

/* One wait of ns nanoseconds in the histogram of slot idx's thread. */
static __always_inline void hist_add(__u32 idx, __u64 ns)
{
	struct rawtpd_hist *h = bpf_map_lookup_elem(&hists, &idx);
	__u32 k = hist_bucket(ns);

	if (h && k < RAWTPD_HIST_BUCKETS) /* k: for the verifier */
		h->bucket[k]++;
}

/*
 * Counting latency, per CPU: the thread last switched out here involuntarily, by its cgroup (and
 * css_set), until the next switch here says who took the CPU from it.
 */
struct rawtpd_preempted {
	__u64 css; /* its css_set; 0: the last switch here was no preemption */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rawtpd_preempted);
} preempted SEC(".maps");

/* One preemption of a thread of cgroup victim by one of cgroup by. */
static __always_inline void count_pair(__u64 victim, __u64 by)
{
	struct rawtpd_pair pair = {.victim = victim, .by = by};
	__u64 one = 1, *v;

	v = bpf_map_lookup_elem(&preempts, &pair);
	if (!v) {
		if (bpf_map_update_elem(&preempts, &pair, &one, BPF_NOEXIST) == 0)
			return;
		v = bpf_map_lookup_elem(&preempts, &pair); /* made by another CPU meanwhile */
		if (!v) {
			stat_inc(RAWTPD_STAT_PAIRS_FULL);
			return;
		}
	}
	__sync_fetch_and_add(v, 1);
}

/*
 * Preemptions, from prev alone (every hook has it as a typed pointer): if the switch before on
 * this CPU preempted a thread, prev is the thread that took its CPU; a pair of cgroups is
 * counted when their css_sets differ and so do the cgroups. Then, if prev is preempted now
 * (involuntary: the kernel bumped its nivcsw), it waits for the next switch here.
 */
static __always_inline void note_preemption(struct task_struct *prev, bool involuntary)
{
	__u32 zero = 0;
	struct rawtpd_preempted *st = bpf_map_lookup_elem(&preempted, &zero);
	__u64 css;

	if (!st)
		return;
	css = (__u64)prev->cgroups;
	if (st->css && st->css != css && prev->pid) {
		/* rare (another css_set took the CPU): only then the victim's cgroup, through
		 * its css_set, which a task that ran since may have left: read with care */
		struct css_set *was = (struct css_set *)st->css;
		__u64 victim = BPF_CORE_READ(was, dfl_cgrp, kn, id);
		__u64 by = task_cgroup_id(prev, true);

		if (victim && by != victim)
			count_pair(victim, by);
	}
	/* the common case costs a load and a store */
	st->css = involuntary && prev->pid ? css : 0;
}

/*
 * t's base when first seen leaving a CPU, its switch now being (in)voluntary: what it counted
 * before rawtpd watched. A thread born after attaching has none: all it ever did counts.
 */
static __always_inline void slot_base(struct rawtpd_slot *e, struct task_struct *t,
				      bool involuntary)
{
	__u64 sum = t->se.sum_exec_runtime, start = t->se.prev_sum_exec_runtime;

	if (t->start_time >= new_after_ns)
		return;
	/* this switch counts, and so does the slice it ends for a fair task (as in
	 * account_switch() for a switch-in that was not seen) */
	e->base_voluntary = t->nvcsw - (!involuntary && t->nvcsw);
	e->base_involuntary = t->nivcsw - (involuntary && t->nivcsw);
	e->base_runtime_ns = sum;
	if (t->prio >= MAX_RT_PRIO && start <= sum)
		e->base_runtime_ns = start;
	/* the wait before this slice is already in it, and cannot be told apart */
	e->base_run_delay_ns = compat_run_delay(t, true);
}

static __always_inline void slot_dead(struct rawtpd_slot *e, struct task_struct *t)
{
	e->ended = t->signal->live.counter == 0;
	e->dead = 1;
}

/* Is way c of this CPU's slot cache t's? (rawtpd.h has why the three tell every thread apart) */
static __always_inline bool cached_is(const struct rawtpd_cached_slot *c, struct task_struct *t)
{
	return c->task == (__u64)t && c->start_ns == t->start_time &&
	       c->exec_id == (__u32)t->self_exec_id;
}

static __always_inline void cache_slot(struct rawtpd_cached_slot *c, struct task_struct *t,
				       __u32 idx)
{
	if (!c)
		return;
	c->task = (__u64)t;
	c->start_ns = t->start_time;
	c->exec_id = (__u32)t->self_exec_id;
	c->slot = idx;
}

/*
 * Take a free slot for t, first seen leaving a CPU (dead: at its last switch), and fill it.
 * When none is free, or t's storage cannot be made (bpf_mem_alloc ran dry in a burst of new
 * threads), the slot goes back and t is tried again at its next switch: counted as map-full.
 * c: t's way in this CPU's slot cache (NULL: none), where the slot taken is noted.
 */
static __always_inline void slot_take(struct task_struct *t, bool involuntary, bool dead,
				      struct rawtpd_cached_slot *c)
{
	struct rawtpd_thread init = {}, *b = NULL;
	struct rawtpd_slot *e;
	__u32 idx;

	if (bpf_map_pop_elem(&free_slots, &idx) < 0)
		goto full;
	e = bpf_map_lookup_elem(&slots, &idx);
	if (!e)
		goto back;
	if (!dead) {
		init.slot = idx;
		b = bpf_task_storage_get(&threads, t, &init, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!b)
			goto back;
		cache_slot(c, t, idx);
	}
	e->early = 1;
	slot_base(e, t, involuntary);
	slot_figures(e, t, compat_run_delay(t, true));
	/* born after attaching: its first wait counts, as it does in run_delay */
	if (count_latency && t->start_time >= new_after_ns)
		hist_add(idx, e->run_delay_ns);
	e->cgroup_id = task_cgroup_id(t, true);
	e->cgroup_gen = (__u32)cgroup_gen;
	e->tgid = t->tgid;
	e->leader_start_ns = t->group_leader->start_time;
	bpf_probe_read_kernel(e->comm, sizeof(e->comm), t->group_leader->comm);
	if (dead)
		slot_dead(e, t);
	/* in use from here: the exchange (BPF_XCHG, fully ordered on every JIT; a plain atomic add
	 * is not on arm64) orders the stores above before it; user space reads tid first, acquire */
	__atomic_exchange_n(&e->tid, t->pid, __ATOMIC_SEQ_CST);
	return;
back:
	/* the queue has room for it (it came from there), but its lock may refuse (6.15+) */
	if (bpf_map_push_elem(&free_slots, &idx, 0) < 0)
		stat_inc(RAWTPD_STAT_SLOTS_LOST);
full:
	stat_inc(RAWTPD_STAT_MAP_FULL);
}

/*
 * prev leaves the CPU; involuntary is only asked for when prev is seen for the first time. The
 * wait before the slice that ends is the growth of prev's run_delay since its last switch-out
 * (one switch-in between the two). prev's slot is found in this CPU's slot cache, else
 * through its task storage (and cached).
 */
static __always_inline int thread_switch(struct task_struct *prev, unsigned long long *ctx,
					 bool preempt, const int hook)
{
	bool dead = prev->__state & TASK_DEAD_STATE;
	struct rawtpd_cached_slot *c = NULL;
	struct rawtpd_slot_cache *sc;
	struct rawtpd_slot *e;
	__u32 zero = 0, idx;
	__u64 rd;

	if (prev->pid == 0) {
		if (count_latency) /* the idle task took a CPU: no one was preempted for it */
			note_preemption(prev, false);
		return 0;
	}
	sc = bpf_map_lookup_elem(&slot_cache, &zero);
	if (sc)
		c = &sc->e[prev->pid & (RAWTPD_SLOT_CACHE - 1)];
	if (c && cached_is(c, prev)) {
		idx = c->slot;
	} else {
		struct rawtpd_thread *b = bpf_task_storage_get(&threads, prev, 0, 0);

		if (!b) {
			bool involuntary;

			if (hook == HOOK_TRACEPOINT)
				involuntary = tp_guess_involuntary(prev, ctx[0]);
			else
				involuntary = guess_involuntary(prev, ctx, preempt, hook);
			if (count_latency)
				note_preemption(prev, involuntary);
			slot_take(prev, involuntary, dead, c);
			return 0;
		}
		idx = b->slot;
		cache_slot(c, prev, idx);
	}
	e = bpf_map_lookup_elem(&slots, &idx);
	if (!e)
		return 0;
	rd = compat_run_delay(prev, true);
	if (count_latency) {
		note_preemption(prev, prev->nivcsw != e->involuntary);
		hist_add(idx, rd - e->run_delay_ns);
	}
	slot_figures(e, prev, rd);
	if (e->cgroup_gen != (__u32)cgroup_gen || e->early < RAWTPD_EARLY_SWITCHES) {
		e->cgroup_id = task_cgroup_id(prev, true);
		e->cgroup_gen = (__u32)cgroup_gen;
		if (e->early < RAWTPD_EARLY_SWITCHES)
			e->early++;
	}
	if (dead)
		slot_dead(e, prev);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(rawtpd_thread_tp_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return thread_switch(prev, ctx, preempt, HOOK_TP_BTF);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(rawtpd_thread_raw_tp, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return thread_switch(bpf_get_current_task_btf(), ctx, preempt, HOOK_RAW_TP);
}

SEC("tracepoint/sched/sched_switch")
int rawtpd_thread_tracepoint(struct trace_event_raw_sched_switch *ctx)
{
	unsigned long long state = ctx->prev_state;

	return thread_switch(bpf_get_current_task_btf(), &state, false, HOOK_TRACEPOINT);
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

/*
 * kprobe on __set_task_comm(tsk, buf, exec): every rename, with the renamed task.
 */
SEC("kprobe")
int BPF_KPROBE(rawtpd_rename_kprobe, struct task_struct *task, const char *comm)
{
	return account_rename(task, comm, false);
}

/*
 * Classic tracepoint task:task_rename: the renamed task only by its pid. prctl(PR_SET_NAME) and
 * exec rename current; a /proc/<pid>/comm write renames a task of the writer's own thread
 * group. If the renamed pid is current's tgid, it is current's group leader, whose key is
 * known. Any other pid (a kernel thread named by its creator) is noted with start_ns 0 and
 * resolved by user space against the processes it has.
 */
SEC("tracepoint/task/task_rename")
int rawtpd_rename_tracepoint(struct trace_event_raw_task_rename *ctx)
{
	struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct rawtpd_key key = {};
	struct rawtpd_comm c = {};

	key.tgid = ctx->pid;
	if (key.tgid == tgid)
		key.start_ns = BPF_CORE_READ(cur, group_leader, start_time);
	bpf_probe_read_kernel_str(c.comm, sizeof(c.comm), ctx->newcomm);
	bpf_map_update_elem(&renames, &key, &c, BPF_ANY);
	return 0;
}
