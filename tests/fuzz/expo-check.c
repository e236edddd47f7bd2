// SPDX-License-Identifier: GPL-2.0-only
/*
 * Prometheus text 0.0.4 / OpenMetrics 1.0.0 checker: see expo-check.h. Deliberately separate
 * code from daemon/escape.c and the renderers, so a shared mistake cannot hide.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expo-check.h"

bool expo_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		size_t len;

		if (s[i] < 0x80) {
			i++;
			continue;
		} else if ((s[i] & 0xe0) == 0xc0) {
			len = 2;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			len = 3;
			cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			len = 4;
			cp = s[i] & 0x07;
		} else {
			return false;
		}
		if (i + len > n)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

static bool name_start(char c, bool colon)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

static bool name_char(char c, bool colon)
{
	return name_start(c, colon) || (c >= '0' && c <= '9');
}

/* A metric name (colons allowed) or label name at *p; copied to out. */
static bool scan_name(const char **p, const char *end, bool colon, char *out, size_t size)
{
	const char *s = *p;
	size_t n = 0;

	if (s >= end || !name_start(*s, colon))
		return false;
	while (s < end && name_char(*s, colon)) {
		if (n + 1 >= size)
			return false;
		out[n++] = *s++;
	}
	out[n] = 0;
	*p = s;
	return true;
}

/* Go's strconv.ParseFloat as Prometheus uses it, minus hex and underscores. */
static bool parse_value(const char *s, size_t n, double *ret)
{
	char buf[64];
	const char *p = s, *end = s + n;
	bool digits = false;

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = 0;
	if (!strcmp(buf, "NaN") || !strcmp(buf, "+Inf") || !strcmp(buf, "-Inf") ||
	    !strcmp(buf, "Inf")) {
		*ret = buf[0] == 'N' ? NAN : buf[0] == '-' ? -INFINITY : INFINITY;
		return true;
	}
	if (p < end && (*p == '+' || *p == '-'))
		p++;
	while (p < end && *p >= '0' && *p <= '9')
		p++, digits = true;
	if (p < end && *p == '.')
		for (p++; p < end && *p >= '0' && *p <= '9'; p++)
			digits = true;
	if (!digits)
		return false;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return false;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p != end)
		return false;
	*ret = strtod(buf, NULL);
	return true;
}

struct family {
	char name[128];
	char type[16];
	bool help, typed, had_samples;
};

struct state {
	bool om;
	struct family *fam; /* every family seen, in order */
	size_t n_fam;
	struct family *cur;
	char **series; /* "name{labels}" of every sample, to find duplicates */
	size_t n_series, cap_series;
};

static struct family *family_find(struct state *st, const char *name)
{
	for (size_t i = 0; i < st->n_fam; i++)
		if (!strcmp(st->fam[i].name, name))
			return &st->fam[i];
	return NULL;
}

/* The family a HELP or TYPE line names; a new one must not have been seen before. */
static const char *family_for_meta(struct state *st, const char *name, struct family **ret)
{
	struct family *f = family_find(st, name), *n;

	if (f) {
		if (f != st->cur)
			return "HELP or TYPE for a family seen earlier (families must be "
			       "contiguous)";
		*ret = f;
		return NULL;
	}
	n = realloc(st->fam, (st->n_fam + 1) * sizeof(*n));
	if (!n)
		return "out of memory";
	st->fam = n;
	f = &n[st->n_fam++];
	memset(f, 0, sizeof(*f));
	strcpy(f->name, name);
	st->cur = f;
	*ret = f;
	return NULL;
}

/* The family name a sample belongs to, by the format's suffix rules. */
static bool sample_in_family(const struct state *st, const struct family *f, const char *name)
{
	size_t fl = strlen(f->name), nl = strlen(name);

	if (!st->om || !f->typed)
		return !strcmp(name, f->name);
	if (!strcmp(f->type, "counter"))
		return nl > fl && !strncmp(name, f->name, fl) &&
		       (!strcmp(name + fl, "_total") || !strcmp(name + fl, "_created"));
	if (!strcmp(f->type, "info"))
		return nl > fl && !strncmp(name, f->name, fl) && !strcmp(name + fl, "_info");
	return !strcmp(name, f->name);
}

/* HELP text: 0.0.4 escapes \\ and \n; OpenMetrics \" too. */
static const char *check_help(const char *p, const char *end, bool om)
{
	for (; p < end; p++) {
		if (*p == '\\') {
			if (p + 1 >= end || (p[1] != '\\' && p[1] != 'n' && !(om && p[1] == '"')))
				return "bad escape in HELP text";
			p++;
		}
	}
	return NULL;
}

static const char *meta_line(struct state *st, const char *p, const char *end)
{
	char name[128], type[16];
	struct family *f;
	const char *why;
	bool help;
	size_t n;

	if (end - p >= 7 && !memcmp(p, "# HELP ", 7))
		help = true;
	else if (end - p >= 7 && !memcmp(p, "# TYPE ", 7))
		help = false;
	else
		return "a comment line other than HELP, TYPE (or OpenMetrics' # EOF)";
	p += 7;
	if (!scan_name(&p, end, true, name, sizeof(name)))
		return "bad metric name in HELP or TYPE";
	if (p >= end || *p != ' ')
		return "HELP or TYPE name not followed by one space";
	p++;
	why = family_for_meta(st, name, &f);
	if (why)
		return why;
	if (f->had_samples)
		return "HELP or TYPE after the family's samples";
	if (help) {
		if (f->help)
			return "second HELP for a family";
		f->help = true;
		return check_help(p, end, st->om);
	}
	if (f->typed)
		return "second TYPE for a family";
	n = (size_t)(end - p);
	if (n == 0 || n >= sizeof(type))
		return "bad TYPE";
	memcpy(type, p, n);
	type[n] = 0;
	if (st->om ? strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "info") &&
			     strcmp(type, "stateset") && strcmp(type, "unknown") &&
			     strcmp(type, "histogram") && strcmp(type, "gaugehistogram") &&
			     strcmp(type, "summary")
		   : strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "untyped") &&
			     strcmp(type, "histogram") && strcmp(type, "summary"))
		return "unknown TYPE";
	if (st->om && !strcmp(type, "counter") && strlen(name) >= 6 &&
	    !strcmp(name + strlen(name) - 6, "_total"))
		return "OpenMetrics counter family named with _total";
	strcpy(f->type, type);
	f->typed = true;
	return NULL;
}

static const char *remember_series(struct state *st, const char *key, size_t n)
{
	char *s;

	for (size_t i = 0; i < st->n_series; i++)
		if (strlen(st->series[i]) == n && !memcmp(st->series[i], key, n))
			return "duplicate series (same name and labels)";
	if (st->n_series == st->cap_series) {
		size_t cap = st->cap_series ? 2 * st->cap_series : 64;
		char **v = realloc(st->series, cap * sizeof(*v));

		if (!v)
			return "out of memory";
		st->series = v;
		st->cap_series = cap;
	}
	s = strndup(key, n);
	if (!s)
		return "out of memory";
	st->series[st->n_series++] = s;
	return NULL;
}

static const char *sample_line(struct state *st, const char *p, const char *end, expo_sample_cb cb,
			       void *userdata)
{
	struct expo_sample *s = calloc(1, sizeof(*s));
	const char *start = p, *why = NULL, *key_end;
	struct family *f;
	char *dup;
	double v;

	if (!s)
		return "out of memory";
	if (!scan_name(&p, end, true, s->name, sizeof(s->name))) {
		why = "bad metric name";
		goto out;
	}
	if (p < end && *p == '{') {
		p++;
		while (p < end && *p != '}') {
			size_t k = s->n_labels, o = 0;

			if (k == EXPO_MAX_LABELS) {
				why = "too many labels";
				goto out;
			}
			if (!scan_name(&p, end, false, s->label_name[k],
				       sizeof(s->label_name[k]))) {
				why = "bad label name";
				goto out;
			}
			if (!strncmp(s->label_name[k], "__", 2)) {
				why = "reserved label name";
				goto out;
			}
			for (size_t i = 0; i < k; i++)
				if (!strcmp(s->label_name[i], s->label_name[k])) {
					why = "label given twice";
					goto out;
				}
			if (end - p < 2 || p[0] != '=' || p[1] != '"') {
				why = "label name not followed by =\"";
				goto out;
			}
			for (p += 2; p < end && *p != '"'; p++) {
				char c = *p;

				if (c == '\\') {
					if (p + 1 >= end) {
						why = "backslash at the end of a line";
						goto out;
					}
					c = *++p;
					if (c == 'n')
						c = '\n';
					else if (c != '\\' && c != '"') {
						why = "bad escape in a label value (only \\\\ \\\" "
						      "\\n)";
						goto out;
					}
				}
				if (o + 1 >= sizeof(s->label_value[k])) {
					why = "label value too long for the checker";
					goto out;
				}
				s->label_value[k][o++] = c;
			}
			if (p >= end) {
				why = "unterminated label value";
				goto out;
			}
			s->label_value[k][o] = 0;
			p++;
			s->n_labels++;
			if (p < end && *p == ',') {
				p++;
				if (st->om && p < end && *p == '}') {
					why = "trailing comma in the label set (OpenMetrics)";
					goto out;
				}
			} else if (p < end && *p != '}') {
				why = "labels not separated by ','";
				goto out;
			}
		}
		if (p >= end) {
			why = "unterminated label set";
			goto out;
		}
		p++;
	}
	key_end = p;
	if (p >= end || *p != ' ') {
		why = "sample name/labels not followed by one space";
		goto out;
	}
	p++;
	{
		const char *sp = memchr(p, ' ', (size_t)(end - p));

		if (!parse_value(p, (size_t)((sp ? sp : end) - p), &v)) {
			why = "bad sample value";
			goto out;
		}
		if (sp) {
			double ts;

			if (!parse_value(sp + 1, (size_t)(end - sp - 1), &ts) || isnan(ts)) {
				why = "bad timestamp";
				goto out;
			}
		}
	}
	s->value = v;

	/* which family: the current one, or (text format) an untyped one of its own */
	f = st->cur && sample_in_family(st, st->cur, s->name) ? st->cur : NULL;
	if (!f) {
		if (st->om) {
			why = "OpenMetrics sample outside the family its TYPE announced";
			goto out;
		}
		if (family_find(st, s->name)) {
			why = "sample of a family seen earlier (families must be contiguous)";
			goto out;
		}
		why = family_for_meta(st, s->name, &f);
		if (why)
			goto out;
	}
	f->had_samples = true;
	if (!strcmp(f->type, "counter") && (isnan(v) || v < 0)) {
		why = "negative or NaN counter";
		goto out;
	}
	dup = strndup(start, (size_t)(key_end - start));
	if (!dup) {
		why = "out of memory";
		goto out;
	}
	/* the key with labels in a canonical order would be stricter; ours are written fixed */
	why = remember_series(st, dup, strlen(dup));
	free(dup);
	if (!why && cb && !cb(s, userdata))
		why = "rejected by the caller's check";
out:
	free(s);
	return why;
}

const char *expo_check(const char *text, size_t len, bool openmetrics, expo_sample_cb cb,
		       void *userdata, size_t *ret_line)
{
	struct state st = {.om = openmetrics};
	const char *p = text, *end = text + len, *why = NULL;
	size_t line = 0;
	bool eof = false;

	if (!expo_utf8_valid(text, len)) {
		why = "not valid UTF-8";
		goto out;
	}
	if (memchr(text, 0, len)) {
		why = "NUL byte";
		goto out;
	}
	if (len == 0 || text[len - 1] != '\n') {
		why = "does not end with a newline";
		goto out;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		line++;
		if (eof) {
			why = "text after # EOF";
			break;
		}
		if (nl == p) {
			why = "empty line";
			break;
		}
		/* a CR is text like any other inside label values and HELP (the formats escape
		 * only backslash, double quote and line feed); elsewhere the grammar refuses it */
		if (openmetrics && nl - p == 5 && !memcmp(p, "# EOF", 5))
			eof = true;
		else if (*p == '#')
			why = meta_line(&st, p, nl);
		else
			why = sample_line(&st, p, nl, cb, userdata);
		if (why)
			break;
		p = nl + 1;
	}
	if (!why && openmetrics && !eof)
		why = "OpenMetrics exposition without # EOF";
out:
	if (ret_line)
		*ret_line = line;
	for (size_t i = 0; i < st.n_series; i++)
		free(st.series[i]);
	free(st.series);
	free(st.fam);
	return why;
}
