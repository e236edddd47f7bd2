/* SPDX-License-Identifier: GPL-2.0-only */
/* JSON views of a snapshot (jansson). */
#ifndef RAWTPD_RENDER_JSON_H
#define RAWTPD_RENDER_JSON_H

#include "snapshot.h"

enum json_sort {
	JSON_SORT_PID,
	JSON_SORT_CPU,
	JSON_SORT_SWITCHES,
	JSON_SORT_VOLUNTARY,
	JSON_SORT_INVOLUNTARY,
	JSON_SORT_WAIT, /* run-queue wait */
};

struct json_query {
	size_t top;	     /* 0: all */
	enum json_sort sort; /* default pid ascending; the others descending */
	uint32_t pid;	     /* 0: any */
	const char *comm;    /* substring of the (escaped) comm, NULL: any */
};

/* The /api/v1/processes document for the query (NULL: every process). 0 or -ENOMEM. */
int render_json_processes(const struct snapshot *s, const struct json_query *q, struct blob *ret);
/* The same into a buffer to reuse, as render_exposition_into() (render-prom.h). */
int render_json_processes_into(const struct snapshot *s, const struct json_query *q,
			       struct blob *buf);
/* What /api/v1/groups is asked: by unit or cgroup, the order, how many. */
struct json_groups_query {
	enum group_by by;    /* GROUP_BY_UNIT (default) or GROUP_BY_CGROUP */
	enum json_sort sort; /* JSON_SORT_WAIT (default), _CPU or _SWITCHES; descending */
	size_t top;	     /* 0: all */
};

/*
 * The /api/v1/groups document: each group's counters, rates, latency quantile estimates (where
 * latency is counted) and its top preemptors. 0, -ENOMEM, or -ENOENT when the snapshot has no
 * groups of that kind (no cgroup2 hierarchy).
 */
int render_json_groups(const struct snapshot *s, const struct json_groups_query *q,
		       struct blob *ret);

/*
 * The q-quantile (0..1) of a latency histogram, in seconds, interpolated linearly inside its
 * bucket as Prometheus' histogram_quantile() does; NAN for an empty one.
 */
double render_hist_quantile(const uint64_t hist[GROUPS_HIST_BUCKETS], uint64_t count, double q);

/* The /api/v1/status document. */
int render_json_status(const struct snapshot *s, struct blob *ret);

#endif
