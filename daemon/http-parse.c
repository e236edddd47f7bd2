// SPDX-License-Identifier: GPL-2.0-only
/*
 * What a request asks for, read without a server: the /metrics format from Accept, gzip from
 * Accept-Encoding, and the /api/v1/processes query. Pure functions over strings, so the unit
 * tests and fuzz-http call them directly.
 */
#include <string.h>
#include <strings.h>

#include "escape.h"
#include "http-parse.h"
#include "parse.h"
#include "util.h"

/*
 * Header parsing: lists of "token ; name=value ; q=0.5" elements, separated by commas.
 */

struct element {
	const char *token; /* "text/plain", "*", "gzip" */
	size_t token_len;
	const char *version; /* NULL: no version parameter */
	size_t version_len;
	int q; /* thousandths; -1 for an unparsable q */
};

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool token_is(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* RFC 9110 qvalue: "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ]. */
static int parse_qvalue(const char *s, size_t n)
{
	int q, scale = 100;

	if (n == 0 || (s[0] != '0' && s[0] != '1') || n > 5 || (n > 1 && s[1] != '.'))
		return -1;
	q = (s[0] - '0') * 1000;
	for (size_t i = 2; i < n; i++, scale /= 10) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		q += (s[i] - '0') * scale;
	}
	return q > 1000 ? -1 : q;
}

/* Read a token or quoted string up to ';' or ','; returns where it ends, *ret its trimmed span. */
static const char *scan_value(const char *p, const char **ret, size_t *ret_len)
{
	const char *start, *end;

	while (is_ows(*p))
		p++;
	start = p;
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++)
			if (*p == '\\' && p[1])
				p++;
		end = p;
		if (*p == '"')
			p++;
		*ret = start + 1;
		*ret_len = (size_t)(end - start - 1);
		while (*p && *p != ';' && *p != ',')
			p++; /* junk after the closing quote */
	} else {
		while (*p && *p != ';' && *p != ',' && *p != '=')
			p++;
		end = p;
		while (end > start && is_ows(end[-1]))
			end--;
		*ret = start;
		*ret_len = (size_t)(end - start);
	}
	return p;
}

/* Parse the element at p; returns the start of the next one, or NULL at the end of the list. */
static const char *next_element(const char *p, struct element *e)
{
	while (is_ows(*p) || *p == ',')
		p++;
	if (!*p)
		return NULL;
	*e = (struct element){.q = 1000};
	p = scan_value(p, &e->token, &e->token_len);
	while (*p == ';' || *p == '=') {
		const char *name, *value = "";
		size_t name_len, value_len = 0;

		if (*p == '=') { /* "token=..." where a token belongs: skip the value */
			p = scan_value(p + 1, &name, &name_len);
			continue;
		}
		p = scan_value(p + 1, &name, &name_len);
		if (*p == '=')
			p = scan_value(p + 1, &value, &value_len);
		if (token_is(name, name_len, "q"))
			e->q = parse_qvalue(value, value_len);
		else if (token_is(name, name_len, "version")) {
			e->version = value;
			e->version_len = value_len;
		}
	}
	return p;
}

/* How specifically a media range names a format: -1 not at all, 0 "* / *", 1 "type/ *", 2, 3. */
static int media_match(const struct element *e, const char *type, const char *subtype,
		       const char *const *versions)
{
	const char *slash = memchr(e->token, '/', e->token_len);
	size_t tlen, slen;
	const char *sub;

	if (!slash)
		return -1;
	tlen = (size_t)(slash - e->token);
	sub = slash + 1;
	slen = e->token_len - tlen - 1;
	if (token_is(e->token, tlen, "*"))
		return token_is(sub, slen, "*") ? 0 : -1;
	if (!token_is(e->token, tlen, type))
		return -1;
	if (token_is(sub, slen, "*"))
		return 1;
	if (!token_is(sub, slen, subtype))
		return -1;
	if (!e->version)
		return 2;
	for (; *versions; versions++)
		if (token_is(e->version, e->version_len, *versions))
			return 3;
	return -1; /* a version we do not produce */
}

struct preference {
	int specificity, q;
};

/* Keep the q of the most specific match, the highest q among equally specific ones. */
static void prefer(struct preference *p, int specificity, int q)
{
	if (specificity >= 0 && q >= 0 &&
	    (specificity > p->specificity || (specificity == p->specificity && q > p->q)))
		*p = (struct preference){specificity, q};
}

enum http_format http_negotiate_format(const char *accept)
{
	static const char *const text_versions[] = {"0.0.4", "1.0.0", NULL};
	static const char *const om_versions[] = {"1.0.0", "0.0.1", NULL};
	struct preference text = {-1, 0}, om = {-1, 0}; /* no match: q = 0 */
	struct element e;

	for (const char *p = accept; p && (p = next_element(p, &e));) {
		prefer(&text, media_match(&e, "text", "plain", text_versions), e.q);
		prefer(&om, media_match(&e, "application", "openmetrics-text", om_versions), e.q);
	}
	return om.q > text.q ? HTTP_FORMAT_OPENMETRICS : HTTP_FORMAT_TEXT;
}

bool http_accepts_gzip(const char *accept_encoding)
{
	struct preference gz = {-1, 0};
	struct element e;

	for (const char *p = accept_encoding; p && (p = next_element(p, &e));) {
		if (token_is(e.token, e.token_len, "gzip") ||
		    token_is(e.token, e.token_len, "x-gzip"))
			prefer(&gz, 1, e.q);
		else if (token_is(e.token, e.token_len, "*"))
			prefer(&gz, 0, e.q);
	}
	return gz.q > 0;
}

/*
 * Query parameters.
 */

enum { QP_TOP, QP_SORT, QP_PID, QP_COMM, _QP_MAX };

static const char *const query_names[_QP_MAX] = {"top", "sort", "pid", "comm"};

static const char *const sort_names[] = {
	[JSON_SORT_PID] = "pid",
	[JSON_SORT_CPU] = "cpu",
	[JSON_SORT_SWITCHES] = "switches",
	[JSON_SORT_VOLUNTARY] = "voluntary",
	[JSON_SORT_INVOLUNTARY] = "involuntary",
	[JSON_SORT_WAIT] = "wait",
};

void http_query_init(struct http_query *hq)
{
	*hq = (struct http_query){.q.sort = JSON_SORT_PID};
}

/* A decimal number min..max, digits only. */
static bool parse_number(const char *s, size_t n, uint32_t min, uint32_t max, uint32_t *ret)
{
	uint64_t v;

	/* At most 10 digits, leading zeros included: a query value is no place for padding. */
	if (n > 10 || parse_unsigned(s, n, max, &v) < 0 || v < min)
		return false;
	*ret = (uint32_t)v;
	return true;
}

/* Valid UTF-8, by the same rule the outputs use (escape_comm() would leave it alone). */
static bool utf8_valid(const char *s, size_t n)
{
	char out[COMM_TEXT_MAX * 4];

	return n < COMM_TEXT_MAX && escape_comm(s, n, out, sizeof(out)) == n &&
	       memcmp(out, s, n) == 0;
}

static int bad(const char **ret_reason, const char *why)
{
	*ret_reason = why;
	return -EINVAL;
}

int http_query_add(struct http_query *hq, const char *key, size_t key_len, const char *value,
		   size_t value_len, const char **ret_reason)
{
	struct json_query q = hq->q;
	uint32_t n;
	int i;

	i = parse_name_index(query_names, _QP_MAX, key, key_len);
	if (i < 0)
		return bad(ret_reason,
			   "unknown parameter; the known ones are top, sort, pid and comm");
	if (hq->seen & (1u << i))
		return bad(ret_reason, "given more than once");
	if (!value || value_len == 0)
		return bad(ret_reason, "needs a value");
	if (memchr(value, 0, value_len))
		return bad(ret_reason, "contains a NUL byte");

	switch (i) {
	case QP_TOP:
		if (!parse_number(value, value_len, 1, HTTP_TOP_MAX, &n))
			return bad(ret_reason, "must be a whole number from 1 to 1000000");
		q.top = n;
		break;
	case QP_SORT:
		i = parse_name_index(sort_names, ELEMENTSOF(sort_names), value, value_len);
		if (i < 0)
			return bad(
				ret_reason,
				"must be one of cpu, switches, voluntary, involuntary, wait, pid");
		q.sort = (enum json_sort)i;
		break;
	case QP_PID:
		if (!parse_number(value, value_len, 1, HTTP_PID_MAX, &n))
			return bad(ret_reason, "must be a process id from 1 to 4194304");
		q.pid = n;
		break;
	case QP_COMM:
		if (value_len >= COMM_TEXT_MAX)
			return bad(ret_reason, "longer than any process name can be (63 bytes)");
		if (!utf8_valid(value, value_len))
			return bad(
				ret_reason,
				"must be UTF-8; other bytes are written \\xNN, as in the output");
		q.comm = value;
		break;
	}
	hq->q = q;
	hq->seen |= 1u << i;
	return 0;
}

enum { GQ_BY, GQ_SORT, GQ_TOP, _GQ_MAX };

static const char *const groups_query_names[_GQ_MAX] = {
	[GQ_BY] = "by",
	[GQ_SORT] = "sort",
	[GQ_TOP] = "top",
};

/* What by= and sort= may say (the other groupings and orders are not groups'). */
static const char *const groups_by_names[] = {
	[GROUP_BY_UNIT] = "unit",
	[GROUP_BY_CGROUP] = "cgroup",
};
static const char *const groups_sort_names[] = {
	[JSON_SORT_CPU] = "cpu",
	[JSON_SORT_SWITCHES] = "switches",
	[JSON_SORT_WAIT] = "wait",
};

void http_groups_query_init(struct http_groups_query *hq)
{
	*hq = (struct http_groups_query){.q = {.by = GROUP_BY_UNIT, .sort = JSON_SORT_WAIT}};
}

int http_groups_query_add(struct http_groups_query *hq, const char *key, size_t key_len,
			  const char *value, size_t value_len, const char **ret_reason)
{
	struct json_groups_query q = hq->q;
	uint32_t n;
	int i, i2;

	i = parse_name_index(groups_query_names, _GQ_MAX, key, key_len);
	if (i < 0)
		return bad(ret_reason, "unknown parameter; the known ones are by, sort and top");
	if (hq->seen & (1u << i))
		return bad(ret_reason, "given more than once");
	if (!value || value_len == 0)
		return bad(ret_reason, "needs a value");
	switch (i) {
	case GQ_BY:
		i2 = parse_name_index(groups_by_names, ELEMENTSOF(groups_by_names), value,
				      value_len);
		if (i2 < 0)
			return bad(ret_reason, "must be unit or cgroup");
		q.by = (enum group_by)i2;
		break;
	case GQ_SORT:
		i2 = parse_name_index(groups_sort_names, ELEMENTSOF(groups_sort_names), value,
				      value_len);
		if (i2 < 0)
			return bad(ret_reason, "must be one of wait, cpu, switches");
		q.sort = (enum json_sort)i2;
		break;
	case GQ_TOP:
		if (!parse_number(value, value_len, 1, HTTP_TOP_MAX, &n))
			return bad(ret_reason, "must be a whole number from 1 to 1000000");
		q.top = n;
		break;
	}
	hq->q = q;
	hq->seen |= 1u << i;
	return 0;
}
