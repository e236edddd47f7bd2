/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What an HTTP request asks for, from its headers and query string: pure functions, no server
 * (the unit tests and fuzz-http call them directly).
 */
#ifndef RAWTPD_HTTP_PARSE_H
#define RAWTPD_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "render-json.h"

enum http_format {
	HTTP_FORMAT_TEXT,	 /* Prometheus text 0.0.4 */
	HTTP_FORMAT_OPENMETRICS, /* OpenMetrics 1.0.0 */
};

/*
 * The /metrics format an Accept header asks for. Each format takes the q-value of the most
 * specific media range that matches it (a version parameter we cannot produce does not match);
 * OpenMetrics is chosen only when its q-value is strictly higher than text's. NULL, garbage and
 * ties give text.
 */
enum http_format http_negotiate_format(const char *accept);

/* Whether an Accept-Encoding header allows gzip (gzip, x-gzip or *, q > 0). NULL: no. */
bool http_accepts_gzip(const char *accept_encoding);

#define HTTP_TOP_MAX 1000000u
#define HTTP_PID_MAX 4194304u /* the kernel's PID_MAX_LIMIT */

/* /api/v1/processes query parameters, applied one at a time. */
struct http_query {
	struct json_query q;
	unsigned seen; /* one bit per parameter given so far */
};

void http_query_init(struct http_query *hq);

/*
 * Apply one percent-decoded query argument; value is NULL when the argument had no '='. The
 * lengths are what was decoded (an embedded NUL is an error). q.comm points into value.
 * Returns 0, or -EINVAL with *ret_reason set to a static sentence saying what is wrong with
 * the parameter (unknown, given twice, bad value); *hq is then unchanged.
 */
int http_query_add(struct http_query *hq, const char *key, size_t key_len, const char *value,
		   size_t value_len, const char **ret_reason);

/* /api/v1/groups query parameters: by (unit, cgroup), sort (wait, cpu, switches), top. */
struct http_groups_query {
	struct json_groups_query q;
	unsigned seen;
};

void http_groups_query_init(struct http_groups_query *hq);
/* As http_query_add(), for /api/v1/groups. */
int http_groups_query_add(struct http_groups_query *hq, const char *key, size_t key_len,
			  const char *value, size_t value_len, const char **ret_reason);

#endif
