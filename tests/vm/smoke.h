/* SPDX-License-Identifier: GPL-2.0-only */
/* Shared by smoke.bpf.c and smoke.c: one map slot per attach mode. */
#ifndef RAWTPD_VM_SMOKE_H
#define RAWTPD_VM_SMOKE_H

enum smoke_mode {
	SMOKE_TP_BTF,
	SMOKE_RAW_TP,
	SMOKE_TRACEPOINT,
	SMOKE_KPROBE,
	SMOKE_NR,
};

struct smoke_slot {
	__u64 events;
	__s32 last_pid;
	__u32 pad;
};

#endif
