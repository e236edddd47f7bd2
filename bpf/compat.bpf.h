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

/* The same with a plain load where the hook has a typed pointer (tp_btf). */
static __always_inline long compat_task_state_direct(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return t->__state;
	return BPF_CORE_READ((struct task_struct___pre514 *)t, state);
}

/* TASK_RUNNING is 0 on every kernel; anything else means the task was about to block. */
#define COMPAT_TASK_RUNNING 0

/*
 * The classic tracepoint sched:sched_switch does not pass the kernel's state but a report of
 * it: since v4.15, commit 3f5fe9fef5b2 ("sched/debug: Fix task state recording/printout"),
 * prev_state is 0 for TASK_RUNNING, one TASK_REPORT bit (1 << (index - 1)) for a task that
 * blocked, and TASK_REPORT_MAX (0x100) alone when prev was preempted. TASK_REPORT_MAX is a
 * #define, not in BTF, so there is no enum value to relocate; it has been 0x100 ever since
 * (TASK_REPORT 0x7f, TASK_REPORT_IDLE 0x80), and every blocked state sets a bit below it.
 * A state outside TASK_REPORT (TASK_FROZEN alone, v6.1+) is reported as 0, i.e. running.
 */
#define COMPAT_TASK_REPORT_MAX	0x100
#define COMPAT_TASK_REPORT_EXIT 0x30 /* EXIT_DEAD 0x10, EXIT_ZOMBIE 0x20: prev has exited */

static __always_inline bool compat_tp_preempted(long reported)
{
	return reported & COMPAT_TASK_REPORT_MAX;
}

static __always_inline bool compat_tp_blocked(long reported)
{
	return reported & (COMPAT_TASK_REPORT_MAX - 1);
}

/*
 * v6.12, commit 152e11f6df29 ("sched/fair: Implement delayed dequeue"): a task that blocks may
 * stay on the runqueue (on_rq set) with se.sched_delayed until its lag is spent.
 */
struct sched_entity___v612 {
	unsigned char sched_delayed;
} __attribute__((preserve_access_index));

static __always_inline bool compat_task_dequeue_delayed(struct task_struct *t)
{
	struct sched_entity___v612 *se = (void *)&t->se;

	if (!bpf_core_field_exists(se->sched_delayed))
		return false;
	return BPF_CORE_READ(se, sched_delayed);
}

/*
 * sched_info.run_delay (CONFIG_SCHED_INFO, which schedstats and delay accounting select):
 * time spent runnable on a runqueue, waiting for a CPU, added when the task next arrives on
 * one (sched_info_arrive(), in prepare_task_switch(): after sched_switch fires, before
 * finish_task_switch() runs). Without the field, no wait is counted.
 */
static __always_inline __u64 compat_run_delay(struct task_struct *t, const bool direct)
{
	if (!bpf_core_field_exists(t->sched_info))
		return 0;
	if (direct)
		return t->sched_info.run_delay;
	return BPF_CORE_READ(t, sched_info.run_delay);
}

#endif
