/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A strict checker for Prometheus text format 0.0.4 and OpenMetrics 1.0.0 expositions, written
 * from the format documents rather than from the renderers, for the fuzz targets. It accepts
 * only what both Prometheus' parser and the format's rules accept, and a little less: no empty
 * lines, no comments other than HELP and TYPE (and OpenMetrics' final "# EOF").
 */
#ifndef RAWTPD_EXPO_CHECK_H
#define RAWTPD_EXPO_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#define EXPO_MAX_LABELS 8

struct expo_sample {
	char name[128];
	size_t n_labels;
	char label_name[EXPO_MAX_LABELS][64];
	char label_value[EXPO_MAX_LABELS][256]; /* unescaped */
	double value;
};

/* Called for every sample line, in order; return false to stop with an error. */
typedef bool (*expo_sample_cb)(const struct expo_sample *s, void *userdata);

/*
 * Check text[0..len). Returns NULL when it is a valid exposition, else a static description of
 * the first problem; *ret_line (may be NULL) gets its 1-based line number.
 */
const char *expo_check(const char *text, size_t len, bool openmetrics, expo_sample_cb cb,
		       void *userdata, size_t *ret_line);

/* Whether s[0..n) is valid UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
bool expo_utf8_valid(const char *s, size_t n);

#endif
