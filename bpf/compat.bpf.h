/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * CO-RE shims: one per kernel change rawtpd has to see across. Each names the change.
 */
#ifndef RAWTPD_COMPAT_BPF_H
#define RAWTPD_COMPAT_BPF_H

#include <bpf/bpf_core_read.h>

/*
 * v5.14, commit 2f064a59a11f ("sched: Change task_struct::state"): task_struct::state
 * (volatile long) became task_struct::__state (unsigned int).
 */
struct task_struct___pre514 {
	volatile long state;
} __attribute__((preserve_access_index));

static __always_inline long compat_task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___pre514 *)t, state);
}

/* TASK_RUNNING is 0 on every kernel; anything else means the task was about to block. */
#define COMPAT_TASK_RUNNING 0

#endif
