// SPDX-License-Identifier: GPL-2.0-only
/*
 * The HTTP module: Accept and Accept-Encoding negotiation and query parsing from tables of real
 * headers, then a server on loopback answering plain-socket requests from a hand-made snapshot:
 * status codes, headers, HEAD, keep-alive, basic authentication, TLS (through curl) and the
 * start-up errors.
 */
#include <arpa/inet.h>
#include <crypt.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http-parse.h"
#include "http.h"
#include "log.h"
#include "snapshot.h"
#include "test.h"
#include "util.h"

/* What Prometheus and the usual clients send. */
#define PROM2                                                                      \
	"application/openmetrics-text;version=1.0.0,application/openmetrics-text;" \
	"version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
#define PROM3                                                                        \
	"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"     \
	"application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;" \
	"escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
#define PROM3_PROTO                                                                \
	"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;" \
	"encoding=delimited;q=0.6," PROM3
#define CHROME                                                                         \
	"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp," \
	"image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
#define FIREFOX "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

static void test_negotiate(void)
{
	static const struct {
		const char *accept;
		enum http_format want;
	} cases[] = {
		{NULL, HTTP_FORMAT_TEXT},
		{"", HTTP_FORMAT_TEXT},
		{PROM2, HTTP_FORMAT_OPENMETRICS},
		{PROM3, HTTP_FORMAT_OPENMETRICS},
		{PROM3_PROTO, HTTP_FORMAT_OPENMETRICS},
		{"application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.5,"
		 "text/plain;version=0.0.4;q=0.2",
		 HTTP_FORMAT_OPENMETRICS},
		/* Prometheus with scrape_protocols: [PrometheusText0.0.4] */
		{"text/plain;version=0.0.4;q=0.5,*/*;q=0.1", HTTP_FORMAT_TEXT},
		{"*/*", HTTP_FORMAT_TEXT}, /* curl */
		{CHROME, HTTP_FORMAT_TEXT},
		{FIREFOX, HTTP_FORMAT_TEXT},
		{"application/openmetrics-text", HTTP_FORMAT_OPENMETRICS},
		{"Application/OpenMetrics-Text; Version=\"1.0.0\"", HTTP_FORMAT_OPENMETRICS},
		{"application/openmetrics-text; version=0.0.1; charset=utf-8",
		 HTTP_FORMAT_OPENMETRICS},
		{"application/*", HTTP_FORMAT_OPENMETRICS},
		{"application/*;q=0.5, text/*;q=0.6", HTTP_FORMAT_TEXT},
		/* q=0 means "not this one" */
		{"application/openmetrics-text;q=0, */*", HTTP_FORMAT_TEXT},
		{"application/openmetrics-text;q=0", HTTP_FORMAT_TEXT},
		{"text/plain;q=0, */*", HTTP_FORMAT_OPENMETRICS},
		{"text/plain;q=0, application/openmetrics-text;q=0.001", HTTP_FORMAT_OPENMETRICS},
		/* the most specific range decides */
		{"*/*;q=0.9, application/openmetrics-text;q=0.1", HTTP_FORMAT_TEXT},
		{"*/*;q=0.1, application/openmetrics-text", HTTP_FORMAT_OPENMETRICS},
		/* equal: text */
		{"application/openmetrics-text, text/plain", HTTP_FORMAT_TEXT},
		{"application/openmetrics-text;q=0.5, text/plain;q=0.5", HTTP_FORMAT_TEXT},
		/* a version we do not make does not match */
		{"application/openmetrics-text;version=2.0.0", HTTP_FORMAT_TEXT},
		{"application/openmetrics-text;version=2.0.0, */*;q=0.1", HTTP_FORMAT_TEXT},
		{"text/plain;version=9.9.9, application/openmetrics-text;q=0.1",
		 HTTP_FORMAT_OPENMETRICS},
		/* bad q-values drop their range */
		{"application/openmetrics-text;q=2", HTTP_FORMAT_TEXT},
		{"application/openmetrics-text;q=abc", HTTP_FORMAT_TEXT},
		{"application/openmetrics-text;q=0.0001", HTTP_FORMAT_TEXT},
		{"application/openmetrics-text;q=1.000", HTTP_FORMAT_OPENMETRICS},
		{"application/openmetrics-text ; q = 0.9 , text/plain ; q=0.8",
		 HTTP_FORMAT_OPENMETRICS},
		/* garbage */
		{",,,", HTTP_FORMAT_TEXT},
		{";;;=;=", HTTP_FORMAT_TEXT},
		{"application/openmetrics-text;version=\"1.0.0", HTTP_FORMAT_OPENMETRICS},
		{"application", HTTP_FORMAT_TEXT},
		{"*/openmetrics-text", HTTP_FORMAT_TEXT},
		{"application/openmetrics-text=x;q=1", HTTP_FORMAT_OPENMETRICS},
		{"\x01\xff/\xfe", HTTP_FORMAT_TEXT},
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		enum http_format got = http_negotiate_format(cases[i].accept);

		CHECK(got == cases[i].want);
		if (got != cases[i].want)
			fprintf(stderr, "  Accept: %s\n", cases[i].accept ?: "(none)");
	}
}

static void test_gzip(void)
{
	static const struct {
		const char *ae;
		bool want;
	} cases[] = {
		/* clang-format off */
		{NULL, false},
		{"", false},
		{"gzip", true},
		{"gzip, deflate, br", true}, /* browsers */
		{"deflate, gzip", true},
		{"GZIP", true},
		{"x-gzip", true},
		{"*", true},
		{"gzip;q=0", false},
		{"gzip;q=0.0", false},
		{"gzip;q=0.001", true},
		{"gzip; q=0, *", false}, /* the specific entry wins */
		{"*;q=0", false},
		{"*;q=0, gzip", true},
		{"identity", false},
		{"identity, *;q=0", false},
		{"deflate, br", false},
		{"gzipx", false},
		{"gzip;q=x", false},
		{"br;q=1.0, gzip;q=0.8, *;q=0.1", true},
		{",;,=", false},
		/* clang-format on */
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		bool got = http_accepts_gzip(cases[i].ae);

		CHECK(got == cases[i].want);
		if (got != cases[i].want)
			fprintf(stderr, "  Accept-Encoding: %s\n", cases[i].ae ?: "(none)");
	}
}

/*
 * Split "a=1&b&c=" the way MHD hands arguments over (no percent-decoding here), in buf, which
 * must outlive hq (q.comm points into it).
 */
static int parse(const char *query, char *buf, size_t size, struct http_query *hq,
		 const char **ret_reason, char *bad, size_t bad_size)
{
	char *save = NULL;

	snprintf(buf, size, "%s", query);
	http_query_init(hq);
	for (char *arg = strtok_r(buf, "&", &save); arg; arg = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(arg, '=');
		int r;

		if (eq)
			*eq = 0;
		r = http_query_add(hq, arg, strlen(arg), eq ? eq + 1 : NULL,
				   eq ? strlen(eq + 1) : 0, ret_reason);
		if (r < 0) {
			snprintf(bad, bad_size, "%s", arg);
			return r;
		}
	}
	return 0;
}

static void test_query(void)
{
	static const struct {
		const char *query;
		const char *bad; /* NULL: valid */
		const char *why; /* a word of the reason */
		size_t top;
		enum json_sort sort;
		uint32_t pid;
		const char *comm;
	} cases[] = {
#define BAD(q, b, w) {.query = q, .bad = b, .why = w}
		{"top=10", NULL, NULL, 10, JSON_SORT_PID, 0, NULL},
		{"top=1&sort=cpu", NULL, NULL, 1, JSON_SORT_CPU, 0, NULL},
		{"top=1000000", NULL, NULL, 1000000, JSON_SORT_PID, 0, NULL},
		{"sort=switches", NULL, NULL, 0, JSON_SORT_SWITCHES, 0, NULL},
		{"sort=voluntary", NULL, NULL, 0, JSON_SORT_VOLUNTARY, 0, NULL},
		{"sort=involuntary", NULL, NULL, 0, JSON_SORT_INVOLUNTARY, 0, NULL},
		{"sort=wait", NULL, NULL, 0, JSON_SORT_WAIT, 0, NULL},
		{"sort=pid", NULL, NULL, 0, JSON_SORT_PID, 0, NULL},
		{"pid=1", NULL, NULL, 0, JSON_SORT_PID, 1, NULL},
		{"pid=4194304", NULL, NULL, 0, JSON_SORT_PID, 4194304, NULL},
		{"comm=nginx", NULL, NULL, 0, JSON_SORT_PID, 0, "nginx"},
		{"comm=caf\xc3\xa9", NULL, NULL, 0, JSON_SORT_PID, 0, "caf\xc3\xa9"},
		{"comm=\\xff", NULL, NULL, 0, JSON_SORT_PID, 0, "\\xff"},
		{"comm=a b", NULL, NULL, 0, JSON_SORT_PID, 0, "a b"},
		{"pid=42&comm=x&sort=involuntary&top=3", NULL, NULL, 3, JSON_SORT_INVOLUNTARY, 42,
		 "x"},
		/* errors */
		BAD("top=0", "top", "1 to 1000000"),
		BAD("top=1000001", "top", "1 to 1000000"),
		BAD("top=-1", "top", "whole number"),
		BAD("top=+1", "top", "whole number"),
		BAD("top=1x", "top", "whole number"),
		BAD("top= 1", "top", "whole number"),
		BAD("top=99999999999999999999", "top", "whole number"),
		BAD("top=1.5", "top", "whole number"),
		BAD("top=", "top", "needs a value"),
		BAD("top", "top", "needs a value"),
		BAD("sort=CPU", "sort", "one of"),
		BAD("sort=memory", "sort", "one of"),
		BAD("sort=", "sort", "needs a value"),
		BAD("pid=0", "pid", "process id"),
		BAD("pid=4194305", "pid", "process id"),
		BAD("pid=abc", "pid", "process id"),
		BAD("comm=", "comm", "needs a value"),
		BAD("comm=\xff", "comm", "UTF-8"),
		BAD("comm=\xc3", "comm", "UTF-8"),
		BAD("comm=\xed\xa0\x80", "comm", "UTF-8"),
		BAD("comm=0123456789012345678901234567890123456789012345678901234567890123", "comm",
		    "longer"),
		BAD("limit=5", "limit", "unknown"),
		BAD("TOP=5", "TOP", "unknown"),
		BAD("top=5&foo", "foo", "unknown"),
		BAD("=5", "", "unknown"),
		BAD("top=1&top=1", "top", "more than once"),
		BAD("sort=cpu&top=2&sort=pid", "sort", "more than once"),
		BAD("top=0&foo=1", "top", "1 to 1000000"), /* the first problem is reported */
#undef BAD
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct http_query hq;
		const char *reason = NULL;
		char bad[128] = "", buf[256];
		int r = parse(cases[i].query, buf, sizeof(buf), &hq, &reason, bad, sizeof(bad));

		if (!cases[i].bad) {
			CHECK(r == 0);
			CHECK_EQ_U64(hq.q.top, cases[i].top);
			CHECK(hq.q.sort == cases[i].sort);
			CHECK_EQ_U64(hq.q.pid, cases[i].pid);
			if (cases[i].comm)
				CHECK_STREQ(hq.q.comm, cases[i].comm);
			else
				CHECK(!hq.q.comm);
		} else {
			CHECK(r == -EINVAL);
			CHECK_STREQ(bad, cases[i].bad);
			CHECK(reason && strstr(reason, cases[i].why));
		}
		if ((r == 0) != !cases[i].bad)
			fprintf(stderr, "  query: %s (%s)\n", cases[i].query, reason ?: "ok");
	}

	/* an embedded NUL (from %00) is refused; the state is left as it was */
	{
		struct http_query hq;
		const char *reason = NULL;

		http_query_init(&hq);
		CHECK(http_query_add(&hq, "top", 3, "5", 1, &reason) == 0);
		CHECK(http_query_add(&hq, "comm", 4, "a\0b", 3, &reason) == -EINVAL);
		CHECK(reason && strstr(reason, "NUL"));
		CHECK(hq.seen == 1u && hq.q.top == 5 && !hq.q.comm);
		CHECK(http_query_add(&hq, "pid", 3, "0", 1, &reason) == -EINVAL);
		CHECK(hq.q.pid == 0 && hq.seen == 1u);
	}
}

static void test_fresh(void)
{
	const uint64_t s = NSEC_PER_SEC;

	CHECK(http_snapshot_fresh(100 * s, 1.0, 100 * s));
	CHECK(http_snapshot_fresh(100 * s, 1.0, 103 * s));
	CHECK(!http_snapshot_fresh(100 * s, 1.0, 103 * s + 1));
	CHECK(http_snapshot_fresh(100 * s, 15.0, 144 * s));
	CHECK(!http_snapshot_fresh(100 * s, 15.0, 146 * s));
	CHECK(http_snapshot_fresh(100 * s, 0.5, 101 * s));
	CHECK(!http_snapshot_fresh(100 * s, 0.5, 102 * s));
	CHECK(http_snapshot_fresh(100 * s, 1.0, 50 * s)); /* not in the past: fresh */
	CHECK(!http_snapshot_fresh(100 * s, 0.0, 101 * s));
}

/*
 * The server, over plain sockets.
 */

struct reply {
	int status;
	char head[4096];
	char body[8192];
	size_t body_len;
	bool closed; /* the server closed the connection after the reply */
};

static int connect_to(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct timeval tv = {.tv_sec = 30}; /* crypt(3) under valgrind on a busy machine is slow */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static const char *header(const struct reply *r, const char *name, char *buf, size_t size)
{
	size_t n = strlen(name);

	for (const char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2, *end = strstr(line, "\r\n");

		if (end && strncasecmp(line, name, n) == 0 && line[n] == ':') {
			line += n + 1;
			while (*line == ' ')
				line++;
			snprintf(buf, size, "%.*s", (int)(end - line), line);
			return buf;
		}
	}
	return NULL;
}

/* Send one request on fd and read one reply (the body by Content-Length; none for HEAD). */
static int roundtrip(int fd, const char *req, struct reply *r)
{
	char buf[sizeof(r->head) + sizeof(r->body)], cl[32];
	size_t n = 0, head_len = 0, want = SIZE_MAX;
	bool head = strncmp(req, "HEAD ", 5) == 0;

	memset(r, 0, sizeof(*r));
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		return -EIO;
	for (;;) {
		ssize_t k;

		if (head_len && n >= want)
			break;
		k = read(fd, buf + n, sizeof(buf) - n - 1);
		if (k <= 0) {
			r->closed = k == 0;
			break;
		}
		n += (size_t)k;
		buf[n] = 0;
		if (!head_len) {
			char *end = strstr(buf, "\r\n\r\n");

			if (!end)
				continue;
			head_len = (size_t)(end - buf) + 4;
			snprintf(r->head, sizeof(r->head), "%.*s", (int)head_len, buf);
			if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
				return -EPROTO;
			want = head ? head_len
				    : head_len + (header(r, "Content-Length", cl, sizeof(cl))
							  ? strtoull(cl, NULL, 10)
							  : SIZE_MAX);
		}
	}
	if (!head_len)
		return -EPROTO;
	r->body_len = n - head_len;
	memcpy(r->body, buf + head_len, r->body_len);
	r->body[r->body_len] = 0;
	if (!r->closed) { /* closed right after the reply? */
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (poll(&p, 1, 50) == 1 && read(fd, buf, 1) == 0)
			r->closed = true;
	}
	return 0;
}

static int get(int port, const char *method, const char *path, const char *extra, struct reply *r)
{
	char req[2048];
	int fd = connect_to(port), ret;

	if (fd < 0)
		return fd;
	snprintf(req, sizeof(req),
		 "%s %s HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n", method, path,
		 extra ?: "");
	ret = roundtrip(fd, req, r);
	close(fd);
	return ret;
}

#define HDR_IS(r, name, value)                                           \
	do {                                                             \
		char hdr_[256];                                          \
		CHECK_STREQ(header(r, name, hdr_, sizeof(hdr_)), value); \
	} while (0)

static struct snapshot_store *store; /* what every server of these tests serves from */

static struct snapshot *make_snapshot(uint64_t mono_ns, double interval_s)
{
	struct snapshot *s = calloc(1, sizeof(*s));

	s->n_ref = 1;
	s->mono_ns = mono_ns;
	s->timestamp = 1764000000.5;
	s->info.version = "0.1.0";
	s->info.attach_mode = "tp_btf";
	s->info.interval_s = interval_s;
	s->n_procs = 2;
	s->procs = calloc(2, sizeof(*s->procs));
	s->procs[0] = (struct snapshot_proc){.pid = 1, .comm = "init", .c = {5, 1, 1000, 10}};
	s->procs[1] = (struct snapshot_proc){.pid = 42, .comm = "nginx", .c = {9, 9, 9000, 90}};
#define BLOB(b, text) (s->body[b] = (struct blob){.data = strdup(text), .len = strlen(text)})
	BLOB(BODY_PROM, "rawtpd_up 1\n");
	BLOB(BODY_OPENMETRICS, "rawtpd_up 1\n# EOF\n");
	BLOB(BODY_PROM_GZ, "GZ-TEXT");
	BLOB(BODY_OPENMETRICS_GZ, "GZ-OPENMETRICS");
	BLOB(BODY_JSON, "{\"processes\":\"prerendered\"}\n");
	BLOB(BODY_STATUS, "{\"status\":true}\n");
#undef BLOB
	return s;
}

static void test_before_first_snapshot(int port)
{
	struct reply r;

	CHECK(get(port, "GET", "/metrics", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 503);
	HDR_IS(&r, "Content-Type", "text/plain; charset=utf-8");
	CHECK(get(port, "GET", "/api/v1/processes", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 503);
	HDR_IS(&r, "Content-Type", "application/json");
	CHECK(strstr(r.body, "\"error\""));
	CHECK(get(port, "GET", "/api/v1/status", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 503);
	CHECK(get(port, "GET", "/-/healthy", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 503);
	CHECK(get(port, "GET", "/-/ready", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 503);
	CHECK(get(port, "GET", "/", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 200);
	CHECK(strstr(r.body, "not yet known"));
}

static void test_routes(int port)
{
	struct reply r;
	char b[64];

	CHECK(get(port, "GET", "/", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 200);
	HDR_IS(&r, "Content-Type", "text/html; charset=utf-8");
	CHECK(strstr(r.body, "rawtpd") && strstr(r.body, "tp_btf") &&
	      strstr(r.body, "href=\"metrics\""));

	/* /metrics: format, encoding, Vary */
	CHECK(get(port, "GET", "/metrics", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 200);
	HDR_IS(&r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	HDR_IS(&r, "Vary", "Accept-Encoding, Accept");
	CHECK(!header(&r, "Content-Encoding", b, sizeof(b)));
	CHECK_STREQ(r.body, "rawtpd_up 1\n");
	CHECK(get(port, "GET", "/metrics", "Accept: " PROM2 "\r\n", &r) == 0);
	HDR_IS(&r, "Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8");
	CHECK_STREQ(r.body, "rawtpd_up 1\n# EOF\n");
	CHECK(get(port, "GET", "/metrics", "Accept: " PROM3 "\r\nAccept-Encoding: gzip\r\n", &r) ==
	      0);
	HDR_IS(&r, "Content-Encoding", "gzip");
	HDR_IS(&r, "Vary", "Accept-Encoding, Accept");
	CHECK_STREQ(r.body, "GZ-OPENMETRICS");
	CHECK(get(port, "GET", "/metrics", "Accept: " CHROME "\r\nAccept-Encoding: gzip, br\r\n",
		  &r) == 0);
	HDR_IS(&r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	CHECK_STREQ(r.body, "GZ-TEXT");
	CHECK(get(port, "GET", "/metrics", "Accept-Encoding: gzip;q=0\r\n", &r) == 0);
	CHECK_STREQ(r.body, "rawtpd_up 1\n");
	CHECK(get(port, "GET", "/metrics?debug=1", NULL, &r) == 0); /* scrape params: ignored */
	CHECK_EQ_U64(r.status, 200);

	/* HEAD: same headers, no body */
	CHECK(get(port, "HEAD", "/metrics", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 200);
	HDR_IS(&r, "Content-Length", "12");
	HDR_IS(&r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	CHECK_EQ_U64(r.body_len, 0);
	CHECK(get(port, "HEAD", "/api/v1/status", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 200);
	CHECK_EQ_U64(r.body_len, 0);

	/* JSON */
	CHECK(get(port, "GET", "/api/v1/processes", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 200);
	HDR_IS(&r, "Content-Type", "application/json");
	CHECK_STREQ(r.body, "{\"processes\":\"prerendered\"}\n");
	CHECK(get(port, "GET", "/api/v1/processes?", NULL, &r) == 0);
	CHECK_STREQ(r.body, "{\"processes\":\"prerendered\"}\n");
	CHECK(get(port, "GET", "/api/v1/processes?sort=cpu&top=1", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 200);
	HDR_IS(&r, "Content-Type", "application/json");
	CHECK(strstr(r.body, "\"nginx\"") && !strstr(r.body, "\"init\""));
	CHECK(get(port, "GET", "/api/v1/processes?comm=in%69t", NULL, &r) == 0);
	CHECK(strstr(r.body, "\"init\"") && !strstr(r.body, "\"nginx\""));
	CHECK(get(port, "GET", "/api/v1/processes?top=0", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 400);
	HDR_IS(&r, "Content-Type", "application/json");
	CHECK(strstr(r.body, "\"parameter\":\"top\"") && strstr(r.body, "1 to 1000000"));
	CHECK(get(port, "GET", "/api/v1/processes?top=1&top=2", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 400);
	CHECK(strstr(r.body, "more than once"));
	CHECK(get(port, "GET", "/api/v1/processes?x%22%5C%FF=1", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 400);
	CHECK(strstr(r.body, "\"parameter\":\"x\\\"\\\\\\\\xff\""));
	CHECK(get(port, "GET", "/api/v1/processes?comm=a%00b", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 400);
	CHECK(strstr(r.body, "NUL"));
	CHECK(get(port, "GET", "/api/v1/status", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 200);
	CHECK_STREQ(r.body, "{\"status\":true}\n");

	/* health */
	CHECK(get(port, "GET", "/-/healthy", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 200);
	CHECK_STREQ(r.body, "OK\n");
	CHECK(get(port, "GET", "/-/ready", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 200);

	/* 404, 405 */
	CHECK(get(port, "GET", "/nope", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 404);
	HDR_IS(&r, "Content-Type", "text/plain; charset=utf-8");
	CHECK(get(port, "GET", "/metrics/", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 404);
	CHECK(get(port, "POST", "/metrics", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 405);
	HDR_IS(&r, "Allow", "GET, HEAD");
	HDR_IS(&r, "Content-Type", "text/plain; charset=utf-8");
	CHECK(get(port, "DELETE", "/-/healthy", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 405);
	/* a body is refused without being read, and the connection closed */
	CHECK(get(port, "PUT", "/api/v1/status", "Content-Length: 1000000\r\n", &r) == 0);
	CHECK_EQ_U64(r.status, 405);
	CHECK(r.closed);
}

static void test_keepalive(int port)
{
	struct reply r;
	int fd = connect_to(port);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	for (int i = 0; i < 3; i++) {
		CHECK(roundtrip(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r) == 0);
		CHECK_EQ_U64(r.status, 200);
		CHECK(!r.closed);
	}
	CHECK(roundtrip(fd, "HEAD /-/ready HTTP/1.1\r\nHost: x\r\n\r\n", &r) == 0);
	CHECK_EQ_U64(r.status, 200);
	CHECK(!r.closed);
	close(fd);
}

static void test_stale(int port)
{
	struct snapshot *s = make_snapshot(now_nsec(CLOCK_MONOTONIC) - 10 * NSEC_PER_SEC, 1.0);
	struct reply r;

	snapshot_store_publish(store, s);
	snapshot_unref(s);
	CHECK(get(port, "GET", "/-/healthy", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 503);
	CHECK(strstr(r.body, "3 intervals"));
	CHECK(get(port, "GET", "/-/ready", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 200);
	CHECK(get(port, "GET", "/metrics", NULL, &r) == 0); /* stale data is still served */
	CHECK_EQ_U64(r.status, 200);

	s = make_snapshot(now_nsec(CLOCK_MONOTONIC), 1.0);
	snapshot_store_publish(store, s);
	snapshot_unref(s);
	CHECK(get(port, "GET", "/-/healthy", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 200);
}

static bool verbose;

/* Show what the user would read (with TEST_DEBUG set), then free it. */
static void drop_error(char **err)
{
	if (verbose)
		printf("  error: %s\n", *err ?: "(none)");
	free(*err);
	*err = NULL;
}

/* A free loopback port: bind to 0, read it back, close. */
static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int listening_socket(int *ret_port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	*ret_port = ntohs(sa.sin_port);
	return fd;
}

static void test_auth(void)
{
	struct config c = {.interval_usec = USEC_PER_SEC};
	struct http_server *h = NULL;
	struct crypt_data cd = {};
	char listen_spec[32], auth[128];
	char *err = NULL;
	struct reply r;
	int port = free_port();
	const char *hash = crypt_r("s3cret", "$6$rawtpdtestsalt$", &cd);

	CHECK(hash && hash[0] == '$');
	/* a snapshot that stays fresh however slow the hashing below is (valgrind) */
	struct snapshot *s = make_snapshot(now_nsec(CLOCK_MONOTONIC), 3600.0);
	snapshot_store_publish(store, s);
	snapshot_unref(s);
	snprintf(listen_spec, sizeof(listen_spec), "127.0.0.1:%d", port);
	c.listen[0] = listen_spec;
	c.n_listen = 1;
	c.basic_auth_user = (char *)"prom";
	c.basic_auth_password_hash = (char *)hash;
	CHECK(http_start(&c, store, NULL, 0, &h, &err) == 0);
	CHECK(!err);
	CHECK(http_local_port(h, 0) == port);
	CHECK(http_local_port(h, 1) == -ENOENT);

	CHECK(get(port, "GET", "/metrics", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 401);
	HDR_IS(&r, "WWW-Authenticate", "Basic realm=\"rawtpd\"");
	HDR_IS(&r, "Content-Type", "text/plain; charset=utf-8");
	/* prom:s3cret, prom:wrong, other:s3cret, garbage */
	CHECK(get(port, "GET", "/metrics", "Authorization: Basic cHJvbTpzM2NyZXQ=\r\n", &r) == 0);
	CHECK_EQ_U64(r.status, 200);
	CHECK(get(port, "GET", "/metrics", "Authorization: Basic cHJvbTp3cm9uZw==\r\n", &r) == 0);
	CHECK_EQ_U64(r.status, 401);
	CHECK(get(port, "GET", "/metrics", "Authorization: Basic b3RoZXI6czNjcmV0\r\n", &r) == 0);
	CHECK_EQ_U64(r.status, 401);
	CHECK(get(port, "GET", "/metrics", "Authorization: Basic !!!\r\n", &r) == 0);
	CHECK_EQ_U64(r.status, 401);
	CHECK(get(port, "GET", "/nope", NULL, &r) == 0); /* no hint of what exists */
	CHECK_EQ_U64(r.status, 401);
	CHECK(get(port, "GET", "/-/healthy", NULL, &r) == 0);
	CHECK_EQ_U64(r.status, 200);
	snprintf(auth, sizeof(auth), "Authorization: Basic cHJvbTpzM2NyZXQ=\r\n");
	CHECK(get(port, "GET", "/api/v1/status", auth, &r) == 0);
	CHECK_EQ_U64(r.status, 200);

	/* the same address twice: the second start fails and says why */
	{
		struct http_server *h2 = NULL;

		CHECK(http_start(&c, store, NULL, 0, &h2, &err) == -EADDRINUSE);
		CHECK(!h2);
		CHECK(err && strstr(err, listen_spec) && strstr(err, "Address already in use") &&
		      strstr(err, "--listen"));
		drop_error(&err);
	}
	h = http_stop(h);
	CHECK(!h);
}

/* Whether a connection to [::1] or 127.0.0.1 on port is accepted. */
static bool reachable(int family, int port)
{
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6,
				  .sin6_port = htons((uint16_t)port),
				  .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	struct sockaddr_in s4 = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = family == AF_INET6 ? connect(fd, (struct sockaddr *)&s6, sizeof(s6)) == 0
				: connect(fd, (struct sockaddr *)&s4, sizeof(s4)) == 0;
	close(fd);
	return ok;
}

/* ":PORT" is every address, IPv4 and IPv6; "[::1]:PORT" is IPv6 only. */
static void test_dual_stack(void)
{
	struct config c = {.interval_usec = USEC_PER_SEC};
	struct http_server *h = NULL;
	char spec[2][32], *err = NULL;
	int port = free_port(), port2 = free_port();

	if (access("/proc/net/if_inet6", F_OK) != 0) {
		printf("dual-stack test skipped: no IPv6\n");
		return;
	}
	snprintf(spec[0], sizeof(spec[0]), ":%d", port);
	snprintf(spec[1], sizeof(spec[1]), "[::1]:%d", port2);
	c.listen[0] = spec[0];
	c.listen[1] = spec[1];
	c.n_listen = 2;
	CHECK(http_start(&c, store, NULL, 0, &h, &err) == 0);
	if (err)
		drop_error(&err);
	CHECK(http_local_port(h, 0) == port && http_local_port(h, 1) == port2);
	CHECK(reachable(AF_INET, port));
	CHECK(reachable(AF_INET6, port));
	CHECK(reachable(AF_INET6, port2));
	CHECK(!reachable(AF_INET, port2));
	h = http_stop(h);
	CHECK(!reachable(AF_INET, port));
}

static void test_start_errors(void)
{
	struct config c = {.interval_usec = USEC_PER_SEC};
	struct http_server *h = NULL;
	char *err = NULL;
	int port, fd;

	CHECK(http_start(&c, store, NULL, 0, &h, &err) == -EINVAL);
	CHECK(!h && err);
	drop_error(&err);

	c.listen[0] = (char *)"nonsense";
	c.n_listen = 1;
	CHECK(http_start(&c, store, NULL, 0, &h, &err) == -EINVAL);
	CHECK(!h && err && strstr(err, "nonsense"));
	drop_error(&err);

	/* not a listening socket */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(http_start(&c, store, &fd, 1, &h, &err) == -EINVAL);
	CHECK(!h && err && strstr(err, "not a listening"));
	drop_error(&err);
	close(fd);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK(http_start(&c, store, &fd, 1, &h, &err) == -ENOTSOCK);
	drop_error(&err);
	close(fd);

	/* TLS files that are missing or not PEM */
	c.listen[0] = (char *)"127.0.0.1:1";
	c.tls_cert = (char *)"/nonexistent/cert.pem";
	c.tls_key = (char *)"/nonexistent/key.pem";
	CHECK(http_start(&c, store, NULL, 0, &h, &err) == -ENOENT);
	CHECK(!h && err && strstr(err, "/nonexistent/cert.pem") && strstr(err, "No such file"));
	drop_error(&err);
	c.tls_cert = (char *)"/dev/null";
	CHECK(http_start(&c, store, NULL, 0, &h, &err) == -EINVAL);
	CHECK(!h && err && strstr(err, "/dev/null"));
	drop_error(&err);
	c.tls_key = NULL;
	CHECK(http_start(&c, store, NULL, 0, &h, &err) == -EINVAL);
	drop_error(&err);

	/* socket activation: the caller's fd stays open and usable after http_stop() */
	c = (struct config){.interval_usec = USEC_PER_SEC};
	fd = listening_socket(&port);
	CHECK(fd >= 0);
	CHECK(http_start(&c, store, &fd, 1, &h, &err) == 0);
	CHECK(http_local_port(h, 0) == port);
	h = http_stop(h);
	CHECK(fcntl(fd, F_GETFD) >= 0);
	close(fd);
}

/* Run a shell command, return its first line of output. */
static int sh(const char *cmd, char *out, size_t size)
{
	FILE *f = popen(cmd, "r");
	int r;

	if (!f)
		return -errno;
	if (!fgets(out, (int)size, f))
		out[0] = 0;
	out[strcspn(out, "\n")] = 0;
	r = pclose(f);
	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static void test_tls(void)
{
	char dir[] = "/tmp/rawtpd-test-http-XXXXXX", cmd[1024], out[256], cert[128], key[128];
	struct config c = {.interval_usec = USEC_PER_SEC};
	struct http_server *h = NULL;
	char listen_spec[32], *err = NULL, *log_text;
	int port = free_port(), saved, logfd;
	FILE *logf;

	if (!mkdtemp(dir))
		return;
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		 "-subj /CN=localhost -days 1 -keyout %s -out %s >/dev/null 2>&1 && chmod 644 %s",
		 key, cert, key);
	if (sh(cmd, out, sizeof(out)) != 0 || sh("command -v curl", out, sizeof(out)) != 0) {
		printf("TLS test skipped: no openssl or curl\n");
		goto out;
	}

	snprintf(listen_spec, sizeof(listen_spec), "127.0.0.1:%d", port);
	c.listen[0] = listen_spec;
	c.n_listen = 1;
	c.tls_cert = cert;
	c.tls_key = key;

	/* the key is readable by everyone: one warning naming the mode, on stderr */
	logf = tmpfile();
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	logfd = fileno(logf);
	dup2(logfd, STDERR_FILENO);
	CHECK(http_start(&c, store, NULL, 0, &h, &err) == 0);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	log_text = calloc(1, 4096);
	rewind(logf);
	CHECK(fread(log_text, 1, 4095, logf) > 0);
	fclose(logf);
	CHECK(strstr(log_text, key) && strstr(log_text, "0644"));
	free(log_text);
	if (err)
		fprintf(stderr, "  %s\n", err);

	snprintf(cmd, sizeof(cmd),
		 "curl -sk -o /dev/null -w '%%{http_code} %%{content_type}' "
		 "https://127.0.0.1:%d/metrics",
		 port);
	CHECK(sh(cmd, out, sizeof(out)) == 0);
	CHECK_STREQ(out, "200 text/plain; version=0.0.4; charset=utf-8");
	snprintf(cmd, sizeof(cmd), "curl -s -o /dev/null http://127.0.0.1:%d/metrics", port);
	CHECK(sh(cmd, out, sizeof(out)) != 0); /* plain HTTP on the TLS port fails */
	h = http_stop(h);

	/* a certificate with somebody else's key: an error from http_start */
	snprintf(cmd, sizeof(cmd),
		 "openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:prime256v1 -out "
		 "%s/other.pem "
		 ">/dev/null 2>&1 && chmod 600 %s/other.pem",
		 dir, dir);
	if (sh(cmd, out, sizeof(out)) == 0) {
		char other[128];

		snprintf(other, sizeof(other), "%s/other.pem", dir);
		c.tls_key = other;
		CHECK(http_start(&c, store, NULL, 0, &h, &err) == -EINVAL);
		CHECK(!h && err && strstr(err, "tls_cert"));
		drop_error(&err);
	}
	chmod(cert, 0600);
	c.tls_key = cert; /* a certificate where the key belongs */
	CHECK(http_start(&c, store, NULL, 0, &h, &err) == -EINVAL);
	CHECK(!h && err);
	drop_error(&err);
out:
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	sh(cmd, out, sizeof(out));
}

int main(void)
{
	struct config c = {.interval_usec = USEC_PER_SEC};
	struct http_server *h = NULL;
	struct snapshot *s;
	char *err = NULL;
	int port, fd;

	CHECK(snapshot_store_new(&store) == 0);
	verbose = getenv("TEST_DEBUG");
	if (verbose)
		log_set_max_level(LOG_DEBUG);

	test_negotiate();
	test_gzip();
	test_query();
	test_fresh();

	/* one server for the routes, on a socket of our own (as with socket activation) */
	fd = listening_socket(&port);
	CHECK(fd >= 0);
	CHECK(http_start(&c, store, &fd, 1, &h, &err) == 0);
	if (err)
		fprintf(stderr, "http_start: %s\n", err);
	if (h) {
		test_before_first_snapshot(port);
		s = make_snapshot(now_nsec(CLOCK_MONOTONIC), 1.0);
		snapshot_store_publish(store, s);
		snapshot_unref(s);
		test_routes(port);
		test_keepalive(port);
		test_stale(port);
	}
	h = http_stop(h);
	close(fd);

	test_auth();
	test_dual_stack();
	test_start_errors();
	test_tls();

	store = snapshot_store_free(store);
	TEST_DONE();
}
