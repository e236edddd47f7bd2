/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The HTTP side (libmicrohttpd, its own threads). It only ever hands out bytes of the latest
 * snapshot in the store it was started with.
 */
#ifndef RAWTPD_HTTP_H
#define RAWTPD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct http_server;
struct snapshot_store;

/*
 * Start serving. With n_fds > 0 the given listening sockets (socket activation) are used and
 * c->listen is ignored; otherwise every c->listen address is bound. Returns 0, or a negative
 * errno after logging nothing: *ret_error gets a malloc'd message naming the address and the
 * cause ("cannot listen on 0.0.0.0:10291: Address already in use (is another rawtpd running?
 * ...)"), or the TLS file and what is wrong with it.
 * The fds stay the caller's: the server works on duplicates of them. Nothing in *c is used
 * after the call returns; the store must outlive the server.
 */
int http_start(const struct config *c, struct snapshot_store *store, const int *fds, size_t n_fds,
	       struct http_server **ret, char **ret_error);
/* Stop serving and free. Accepts NULL, returns NULL. */
struct http_server *http_stop(struct http_server *h);

/* The local port of the i-th listening socket (c->listen or fds order), or -ENOENT. */
int http_local_port(const struct http_server *h, size_t i);

/*
 * Whether a snapshot taken at mono_ns (CLOCK_MONOTONIC) is recent enough for /-/healthy:
 * no older than three intervals at now_ns. Pure, for the unit tests.
 */
bool http_snapshot_fresh(uint64_t mono_ns, double interval_s, uint64_t now_ns);

#endif
