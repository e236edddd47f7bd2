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
/* The /api/v1/status document. */
int render_json_status(const struct snapshot *s, struct blob *ret);

#endif
