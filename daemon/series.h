/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Grouping and filtering: the series /metrics shows, one per process (group_by = pid) or one
 * per name (group_by = comm, exited processes included), filtered by include_comm and
 * exclude_comm, cut to the busiest max_series. A new grouping (unit, cgroup) is added here.
 */
#ifndef RAWTPD_SERIES_H
#define RAWTPD_SERIES_H

#include <stddef.h>
#include <stdint.h>

#include "aggregate.h"
#include "cgroup.h"
#include "config.h"
#include "groups.h"

/*
 * One metric series set: a process (group_by = pid), a name (group_by = comm), or a group
 * (group_by = unit or cgroup: v, the groups of that grouping, which the snapshot holds).
 */
struct snapshot_series {
	uint32_t pid; /* 0 when grouped by comm */
	char comm[COMM_TEXT_MAX];
	struct counters c;
	uint64_t cgroup_id;		/* the process's (group_by = pid), else 0 */
	const struct cgroup_labels *cg; /* its labels (snapshot_new()), NULL if unknown */
	const struct group *group;	/* group_by = unit or cgroup: the group, else NULL */
};

/* The room series_build() needs for st (and v): at most this many series. */
size_t series_max(const struct agg_state *st, const struct groups_view *v);

/*
 * The series of st under cfg's [metrics] rules, sorted by pid and then comm, written into s
 * (room for series_max(st), whatever it held: every field of a series is written). Returns how
 * many; *ret_dropped says how many the filters and max_series left out.
 */
size_t series_build(const struct agg_state *st, const struct groups_view *v,
		    const struct config *cfg, struct snapshot_series *s, uint64_t *ret_dropped);

#endif
