// SPDX-License-Identifier: GPL-2.0-only
/*
 * What a client controls in a request before any snapshot is touched: the Accept and
 * Accept-Encoding headers (http_negotiate_format(), http_accepts_gzip()) and the
 * /api/v1/processes and /api/v1/groups queries (http_query_add(), http_groups_query_add()). The input is split at its first NUL: the part
 * before is the header value (MHD hands headers over NUL-terminated), the part after is a query
 * string "k=v&k=v" as MHD would decode it. Properties: the parsers stay inside the input, a
 * refused parameter leaves the query as it was and says why, an accepted one is in range.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"
#include "fuzz.h"
#include "http-parse.h"

/* Percent-decoding as MHD does it, so %00 reaches http_query_add() as a NUL byte. */
static size_t unescape(char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned v;
		char hex[3];

		if (s[i] == '+') {
			s[o++] = ' ';
			continue;
		}
		if (s[i] == '%' && i + 2 < n) {
			hex[0] = s[i + 1];
			hex[1] = s[i + 2];
			hex[2] = 0;
			if (sscanf(hex, "%2x", &v) == 1 &&
			    strspn(hex, "0123456789abcdefABCDEF") == 2) {
				s[o++] = (char)v;
				i += 2;
				continue;
			}
		}
		s[o++] = s[i];
	}
	return o;
}

static void check_query(const char *q, size_t n)
{
	struct http_query hq, before;
	struct http_groups_query gq, gbefore;
	char *copy = malloc(n + 1);
	char *p, *end;

	FUZZ_CHECK(copy, "out of memory");
	memcpy(copy, q, n);
	copy[n] = 0;
	http_query_init(&hq);
	http_groups_query_init(&gq);
	for (p = copy, end = copy + n; p <= end;) {
		char *amp = memchr(p, '&', (size_t)(end - p));
		char *stop = amp ? amp : end;
		char *eq = memchr(p, '=', (size_t)(stop - p));
		const char *reason = NULL, *value = NULL;
		size_t key_len, value_len = 0;
		int r;

		*stop = 0;
		key_len = unescape(p, (size_t)((eq ? eq : stop) - p));
		if (eq) {
			value = eq + 1;
			value_len = unescape(eq + 1, (size_t)(stop - eq - 1));
		}
		before = hq;
		r = http_query_add(&hq, p, key_len, value, value_len, &reason);
		if (r < 0) {
			FUZZ_CHECK(r == -EINVAL && reason && *reason, "refused without a reason");
			FUZZ_CHECK(memcmp(&hq, &before, sizeof(hq)) == 0,
				   "refusal changed the query");
		} else {
			FUZZ_CHECK(r == 0 && hq.seen != before.seen, "accepted but not recorded");
			FUZZ_CHECK(hq.q.top <= HTTP_TOP_MAX, "top %zu", hq.q.top);
			FUZZ_CHECK(hq.q.pid <= HTTP_PID_MAX, "pid %u", hq.q.pid);
			FUZZ_CHECK(hq.q.sort <= JSON_SORT_WAIT, "sort %d", hq.q.sort);
			if (hq.q.comm && hq.q.comm == value) {
				char text[COMM_TEXT_MAX * 4];

				/* valid UTF-8 without NUL: escape_comm() leaves it alone */
				FUZZ_CHECK(value_len < COMM_TEXT_MAX &&
						   !memchr(value, 0, value_len) &&
						   escape_comm(value, value_len, text,
							       sizeof(text)) == value_len,
					   "comm of %zu bytes accepted", value_len);
			}
		}
		/* the same argument to /api/v1/groups's parser */
		gbefore = gq;
		r = http_groups_query_add(&gq, p, key_len, value, value_len, &reason);
		if (r < 0) {
			FUZZ_CHECK(r == -EINVAL && reason && *reason,
				   "groups: refused without a reason");
			FUZZ_CHECK(memcmp(&gq, &gbefore, sizeof(gq)) == 0,
				   "groups: refusal changed the query");
		} else {
			FUZZ_CHECK(r == 0 && gq.seen != gbefore.seen,
				   "groups: accepted, not recorded");
			FUZZ_CHECK(gq.q.top <= HTTP_TOP_MAX, "groups: top %zu", gq.q.top);
			FUZZ_CHECK(gq.q.by == GROUP_BY_UNIT || gq.q.by == GROUP_BY_CGROUP,
				   "groups: by %d", gq.q.by);
			FUZZ_CHECK(gq.q.sort == JSON_SORT_WAIT || gq.q.sort == JSON_SORT_CPU ||
					   gq.q.sort == JSON_SORT_SWITCHES,
				   "groups: sort %d", gq.q.sort);
		}
		if (!amp)
			break;
		p = amp + 1;
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t hlen = nul ? (size_t)(nul - data) : size;
	char *header = malloc(hlen + 1);
	enum http_format f;

	FUZZ_CHECK(header, "out of memory");
	memcpy(header, data, hlen);
	header[hlen] = 0;
	f = http_negotiate_format(header);
	FUZZ_CHECK(f == HTTP_FORMAT_TEXT || f == HTTP_FORMAT_OPENMETRICS, "format %d", f);
	FUZZ_CHECK(http_negotiate_format(header) == f, "not deterministic");
	(void)http_accepts_gzip(header);
	/* an empty header and no header mean the same */
	if (!*header) {
		FUZZ_CHECK(f == HTTP_FORMAT_TEXT, "empty Accept chose OpenMetrics");
		FUZZ_CHECK(!http_accepts_gzip(header), "empty Accept-Encoding allowed gzip");
	}
	free(header);

	if (nul)
		check_query((const char *)nul + 1, size - hlen - 1);
	return 0;
}
