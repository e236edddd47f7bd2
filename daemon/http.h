/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The HTTP side (libmicrohttpd, its own threads). It only ever hands out bytes of the latest
 * published snapshot (snapshot_get_latest()).
 */
#ifndef RAWTPD_HTTP_H
#define RAWTPD_HTTP_H

#include <stddef.h>

#include "config.h"

struct http_server;

/*
 * Start serving. With n_fds > 0 the given listening sockets (socket activation) are used and
 * c->listen is ignored; otherwise every c->listen address is bound. Returns 0, or a negative
 * errno after logging nothing: *ret_error gets a malloc'd message naming the address and the
 * cause ("address 0.0.0.0:10291 is already in use").
 */
int http_start(const struct config *c, const int *fds, size_t n_fds, struct http_server **ret,
	       char **ret_error);
/* Stop serving and free. Accepts NULL, returns NULL. */
struct http_server *http_stop(struct http_server *h);

#endif
