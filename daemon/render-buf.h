/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The renderers' output buffer: text formatted by hand into one allocation (new, or reused
 * from an earlier snapshot) that grows by doubling. A failed allocation is remembered and makes every later append a no-op, so a
 * renderer checks once, in render_buf_finish(). Only render-prom.c and render-json.c use it.
 */
#ifndef RAWTPD_RENDER_BUF_H
#define RAWTPD_RENDER_BUF_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

struct render_buf {
	char *data;
	size_t len, size;
	bool oom;
};

/*
 * A buffer to render into, reused from an earlier body (snapshot.c's pool): its bytes are
 * written over, and it grows as an empty one would. {} for none.
 */
static inline struct render_buf render_buf_reuse(const struct blob *buf)
{
	return (struct render_buf){.data = buf->data, .size = buf->data ? buf->size : 0};
}

/*
 * Room for more bytes at data + len; false (for good) when there is none. The first
 * allocation is what is asked for (a renderer asks for its estimate of the whole text), a
 * later one doubles.
 */
static inline bool render_buf_reserve(struct render_buf *b, size_t more)
{
	size_t size;
	char *p;

	if (b->oom)
		return false;
	if (b->size - b->len >= more)
		return true;
	if (more > SIZE_MAX - b->len) {
		b->oom = true;
		return false;
	}
	size = b->size ? b->size : (more > 4096 ? more : 4096);
	while (size - b->len < more) {
		if (size > SIZE_MAX / 2) {
			b->oom = true;
			return false;
		}
		size *= 2;
	}
	p = realloc(b->data, size);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->data = p;
	b->size = size;
	return true;
}

static inline void render_buf_put(struct render_buf *b, const char *s, size_t n)
{
	if (!render_buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

#define render_buf_put_lit(b, lit) render_buf_put(b, "" lit, sizeof(lit) - 1)

static inline void render_buf_put_str(struct render_buf *b, const char *s)
{
	render_buf_put(b, s, strlen(s));
}

static inline void render_buf_put_u64(struct render_buf *b, uint64_t v)
{
	char buf[20], *p = buf + sizeof(buf);

	do {
		*--p = '0' + v % 10;
		v /= 10;
	} while (v);
	render_buf_put(b, p, buf + sizeof(buf) - p);
}

/*
 * ns as seconds, exactly: the integer part, then up to nine decimals with trailing zeros
 * trimmed ("1.5", "0.000000001"). A whole number gets ".0" when real is set (JSON reals keep a
 * decimal point), none otherwise.
 */
static inline void render_buf_put_ns_seconds(struct render_buf *b, uint64_t ns, bool real)
{
	uint64_t frac = ns % 1000000000;
	char buf[10];
	int n = 9;

	render_buf_put_u64(b, ns / 1000000000);
	if (!frac) {
		if (real)
			render_buf_put_lit(b, ".0");
		return;
	}
	for (; frac % 10 == 0; n--)
		frac /= 10;
	buf[0] = '.';
	for (int i = n; i > 0; i--, frac /= 10)
		buf[i] = '0' + frac % 10;
	render_buf_put(b, buf, n + 1);
}

/*
 * A finite d in the shortest of %.15g, %.16g and %.17g that reads back as d. Returns the
 * length written to buf (at least 32 bytes).
 */
static inline int render_format_double(char *buf, size_t size, double d)
{
	int n = 0;

	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return n;
}

/*
 * Hand the text out as a blob (with the size of its buffer), or free it and return -ENOMEM if
 * an append failed. The buffer is not shrunk to fit: a snapshot's bodies go back to
 * snapshot.c's pool and serve the next snapshot, whose text is about as long.
 */
static inline int render_buf_finish(struct render_buf *b, struct blob *ret)
{
	if (b->oom || !b->data) {
		free(b->data);
		*b = (struct render_buf){};
		*ret = (struct blob){};
		return -ENOMEM;
	}
	*ret = (struct blob){.data = b->data, .len = b->len, .size = b->size};
	*b = (struct render_buf){};
	return 0;
}

#endif
