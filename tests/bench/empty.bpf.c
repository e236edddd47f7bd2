// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The floor of the per-event benchmark: programs that do nothing, one per sched_switch hook.
 * What bpf_stats reports for them is the cost of entering and leaving a BPF program on that
 * hook (plus the stats' own two clock reads), which every real program pays too.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sched_switch")
int empty_tp_btf(void *ctx)
{
	return 0;
}

SEC("raw_tp/sched_switch")
int empty_raw_tp(void *ctx)
{
	return 0;
}

SEC("tracepoint/sched/sched_switch")
int empty_tp(void *ctx)
{
	return 0;
}
