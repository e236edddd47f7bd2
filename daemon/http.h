/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The HTTP side (libmicrohttpd, its own threads). It only ever hands out bytes of the latest
 * published snapshot (snapshot_get_latest()).
 */
#ifndef RAWTPD_HTTP_H
#define RAWTPD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "render-json.h"

struct http_server;

/*
 * Start serving. With n_fds > 0 the given listening sockets (socket activation) are used and
 * c->listen is ignored; otherwise every c->listen address is bound. Returns 0, or a negative
 * errno after logging nothing: *ret_error gets a malloc'd message naming the address and the
 * cause ("cannot listen on 0.0.0.0:10291: Address already in use (is another rawtpd running?
 * ...)"), or the TLS file and what is wrong with it.
 * The fds stay the caller's: the server works on duplicates of them. Nothing in *c is used
 * after the call returns.
 */
int http_start(const struct config *c, const int *fds, size_t n_fds, struct http_server **ret,
	       char **ret_error);
/* Stop serving and free. Accepts NULL, returns NULL. */
struct http_server *http_stop(struct http_server *h);

/* The local port of the i-th listening socket (c->listen or fds order), or -ENOENT. */
int http_local_port(const struct http_server *h, size_t i);

/*
 * The pure parts, exported for the unit tests.
 */

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

/*
 * Whether a snapshot taken at mono_ns (CLOCK_MONOTONIC) is recent enough for /-/healthy:
 * no older than three intervals at now_ns.
 */
bool http_snapshot_fresh(uint64_t mono_ns, double interval_s, uint64_t now_ns);

#endif
