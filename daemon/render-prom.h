/* SPDX-License-Identifier: GPL-2.0-only */
/* Prometheus text 0.0.4 and OpenMetrics 1.0.0 exposition of a snapshot. */
#ifndef RAWTPD_RENDER_PROM_H
#define RAWTPD_RENDER_PROM_H

#include <stdbool.h>

#include "snapshot.h"

#define RENDER_PROM_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"
#define RENDER_OPENMETRICS_CONTENT_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* Render s (everything but its blobs is read) into *ret (malloc'd). 0 or -ENOMEM. */
int render_prom(const struct snapshot *s, struct blob *ret);
int render_openmetrics(const struct snapshot *s, struct blob *ret);
/* gzip in into *ret. 0 or a negative errno. */
int render_gzip(const struct blob *in, struct blob *ret);

/*
 * The same into a buffer to reuse: buf holds one (buf->data, buf->size bytes) or is {}. Its
 * bytes are written over and it grows as needed; on success buf has the body (data, len) and
 * the buffer's size, on failure the buffer is freed and *buf is {}. om: OpenMetrics.
 */
int render_exposition_into(const struct snapshot *s, bool om, struct blob *buf);
int render_gzip_into(const struct blob *in, struct blob *buf);

#endif
