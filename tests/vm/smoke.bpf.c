// SPDX-License-Identifier: GPL-2.0-only
/*
 * VM smoke test: one tiny program per sched_switch hook of SPEC.md, each counting the switches
 * it sees into its own slot. CO-RE against minimal local struct definitions (no vmlinux.h), so
 * the object is built from libbpf's headers alone and relocated against each guest kernel's BTF.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "smoke.h"

struct task_struct {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

/* The classic tracepoint's record; only next_pid is read. */
struct trace_event_raw_sched_switch {
	int next_pid;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SMOKE_NR);
	__type(key, __u32);
	__type(value, struct smoke_slot);
} hits SEC(".maps");

static __always_inline int hit(__u32 mode, int pid)
{
	struct smoke_slot *s = bpf_map_lookup_elem(&hits, &mode);

	if (!s)
		return 0;
	__sync_fetch_and_add(&s->events, 1);
	if (pid > 0)
		s->last_pid = pid;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(smoke_tp_btf, unsigned long preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	return hit(SMOKE_TP_BTF, next->pid);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(smoke_raw_tp, unsigned long preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	return hit(SMOKE_RAW_TP, BPF_CORE_READ(next, pid));
}

SEC("tp/sched/sched_switch")
int smoke_tracepoint(struct trace_event_raw_sched_switch *ctx)
{
	return hit(SMOKE_TRACEPOINT, BPF_CORE_READ(ctx, next_pid));
}

/* Attached by the loader to whatever name finish_task_switch has in /proc/kallsyms. */
SEC("kprobe")
int BPF_KPROBE(smoke_kprobe)
{
	struct task_struct *cur = (struct task_struct *)bpf_get_current_task();

	return hit(SMOKE_KPROBE, BPF_CORE_READ(cur, pid));
}

char LICENSE[] SEC("license") = "GPL";
