/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Groups by where processes run: one systemd unit, or one cgroup path. What a group counted is
 * the sum of what its processes grew by while they ran in it, interval by interval, so a
 * process moved to another unit leaves what it did before with the old one, a process that
 * exits leaves its counts with its group, and a group's counters never go down. Groups are
 * kept by their labels (a restarted service gets a new cgroup id, and keeps its series).
 *
 * With them, on the thread data path: each group's run-queue latency histogram (every
 * switch-in's wait for a CPU, from the threads' own histograms in their slots) and the
 * preemptions between groups (from the BPF side's pairs of cgroup ids).
 *
 * Pure: cgroup ids become labels through a callback (the cgroup cache in the daemon), so every
 * rule is unit-tested without a kernel.
 */
#ifndef RAWTPD_GROUPS_H
#define RAWTPD_GROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "aggregate.h"
#include "cgroup.h"
#include "config.h"
#include "rawtpd.h"

/* Latency histogram buckets: bucket k < GROUPS_HIST_FINITE counts waits under 2^(10+k) ns. */
#define GROUPS_HIST_BUCKETS RAWTPD_HIST_BUCKETS
#define GROUPS_HIST_FINITE  (GROUPS_HIST_BUCKETS - 1)

/* Groups kept at most; past that, idle groups make room, or new ones go to "[other]". */
#define GROUPS_MAX 16384
/* Updates without growth after which a group may make room for a new one. */
#define GROUPS_IDLE 300

/* The label of what could not be placed: a cgroup gone before it could be named. */
#define GROUPS_UNKNOWN "[unknown]"
#define GROUPS_OTHER   "[other]"

/* One group, as a view shows it. Labels are escaped (cgroup.h), "" where there is none. */
struct group {
	struct cgroup_labels cg; /* cgroup is "" when grouped by unit */
	struct counters c;
	struct counters delta;		    /* growth in the last update */
	uint64_t hist[GROUPS_HIST_BUCKETS]; /* waits by length (see above), cumulative */
	uint64_t hist_count;		    /* their sum */
	uint64_t hist_sum;		    /* the waits' total, ns: the growth of run_delay */
	uint64_t exited;		    /* processes that exited in it */
};

/* Preemptions of group victim's threads by group by's (indexes into the view's groups). */
struct group_pair {
	uint32_t victim;
	uint32_t by;
	uint64_t count;
};

/*
 * What the groups were at one update: immutable and reference-counted (a snapshot holds one),
 * groups sorted by their key labels, pairs by count (largest first).
 */
struct groups_view {
	int n_ref;
	enum group_by by; /* GROUP_BY_UNIT or GROUP_BY_CGROUP */
	bool latency;	  /* histograms and preemptions are counted (the thread data path) */
	struct group *groups;
	size_t n_groups;
	struct group_pair *pairs;
	size_t n_pairs;
	uint64_t other_preemptions; /* of pairs past max_preemption_pairs */
	uint64_t preemptions;	    /* every preemption between two groups */
};

struct groups_view *groups_view_ref(struct groups_view *v);
void groups_view_unref(struct groups_view *v); /* any thread; accepts NULL */

/* A thread's histogram growth since the last read, by the cgroup it ran in (the collector). */
struct sample_hist {
	uint64_t cgroup_id;
	uint32_t bucket[GROUPS_HIST_BUCKETS];
	uint64_t sum_ns; /* the threads' run_delay growth, the same waits' total */
};

/* The BPF side's running count of preemptions of cgroup victim's threads by by's. */
struct sample_pair {
	uint64_t victim, by;
	uint64_t count;
};

/* The order pairs are kept in (groups_input.pairs): by victim, then by. <0, 0 or >0. */
static inline int sample_pair_cmp(uint64_t victim_a, uint64_t by_a, uint64_t victim_b,
				  uint64_t by_b)
{
	if (victim_a != victim_b)
		return victim_a < victim_b ? -1 : 1;
	return (by_a > by_b) - (by_a < by_b);
}

/* The labels of a cgroup id, NULL when it is not known (gone, or no cgroup2 mount). */
typedef const struct cgroup_labels *(*groups_resolve_fn)(void *userdata, uint64_t cgroup_id);

struct groups;

/* by: GROUP_BY_UNIT or GROUP_BY_CGROUP. 0 or -ENOMEM / -EINVAL. */
int groups_new(enum group_by by, struct groups **ret);
struct groups *groups_free(struct groups *g);

struct groups_input {
	const struct agg_state *st; /* after its update: live processes' deltas, its exits */
	const struct sample_hist *hists;
	size_t n_hists;
	const struct sample_pair *pairs; /* every pair the BPF side holds, sorted */
	size_t n_pairs;
	bool latency;	    /* hists and pairs are counted at all */
	uint32_t max_pairs; /* [metrics] max_preemption_pairs */
	groups_resolve_fn resolve;
	void *userdata;
};

/*
 * Add one update's growth. Pairs whose cgroups are gone are returned in *ret_gone (malloc'd,
 * caller frees; their last counts are in), for the caller to delete from the BPF map. 0, or
 * -ENOMEM (then nothing was added).
 */
int groups_update(struct groups *g, const struct groups_input *in, struct sample_pair **ret_gone,
		  size_t *ret_n_gone);

/* The groups now, as a new view (one reference); NULL without memory. */
struct groups_view *groups_view(struct groups *g);

#endif
