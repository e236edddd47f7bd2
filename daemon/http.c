// SPDX-License-Identifier: GPL-2.0-only
/*
 * The HTTP server. One libmicrohttpd daemon per listening socket, each with a small fixed pool
 * of threads, answering from the latest snapshot: pre-rendered bytes are sent without a copy,
 * the response holding a reference to the snapshot they belong to.
 */
#include <crypt.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>

#include "escape.h"
#include "http-listen.h"
#include "http-parse.h"
#include "http.h"
#include "log.h"
#include "rawtpd-config.h"
#include "render-json.h"
#include "render-prom.h"
#include "snapshot.h"
#include "util.h"

#define HTTP_THREADS 2
/*
 * Idle connections from many addresses must not fill every slot before a scrape arrives: a
 * connection beyond the limit waits in the listen backlog until one times out (10 s, a whole
 * Prometheus scrape timeout). 2048 held connections cost 2048 fds and at most 64 MiB of
 * request buffers (HTTP_MEMORY_LIMIT each); raise_fd_limit() makes room for the fds.
 */
#define HTTP_CONNECTION_LIMIT 2048
#define HTTP_PER_IP_LIMIT     64
#define HTTP_TIMEOUT_S	      10
#define HTTP_MEMORY_LIMIT     (32 * 1024)
#define HTTP_REALM	      "rawtpd"

#define CT_TEXT "text/plain; charset=utf-8"
#define CT_JSON "application/json"
#define CT_HTML "text/html; charset=utf-8"

struct http_server {
	struct MHD_Daemon **daemons;
	uint16_t *ports;
	size_t n;
	char *auth_user, *auth_hash; /* NULL: no authentication */
	struct http_tls tls;	     /* .cert NULL: plain HTTP */
	double interval_s;	     /* for /-/healthy until a snapshot says otherwise */
	struct snapshot_store *store;
};

static void snapshot_unref_voidp(void *p)
{
	snapshot_unref(p);
}

static void snapshot_putp(struct snapshot **s)
{
	snapshot_unref(*s);
}

/*
 * Responses.
 */

/* Queue r (consumed) and log the outcome at debug. */
static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r,
			     const char *method, const char *url, const char *what)
{
	enum MHD_Result ret;

	if (!r)
		return MHD_NO; /* out of memory: MHD closes the connection */
	if (status == MHD_HTTP_UNAUTHORIZED)
		ret = MHD_queue_basic_auth_fail_response(c, HTTP_REALM, r);
	else
		ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	if (log_get_max_level() >= LOG_DEBUG) {
		char u[128];
		size_t i;

		/* the path is the client's: keep control bytes out of the log */
		for (i = 0; url[i] && i < sizeof(u) - 1; i++)
			u[i] = (unsigned char)url[i] < 0x20 || url[i] == 0x7f ? '?' : url[i];
		u[i] = 0;
		log_debug("http: %.16s %s -> %u%s%s", method, u, status, what ? " " : "",
			  what ?: "");
	}
	return ret;
}

/* r with the header added; NULL (r destroyed) when r is NULL or the header cannot be added. */
static struct MHD_Response *with_header(struct MHD_Response *r, const char *name, const char *value)
{
	if (r && MHD_add_response_header(r, name, value) != MHD_YES)
		r = (MHD_destroy_response(r), NULL);
	return r;
}

static struct MHD_Response *with_type(struct MHD_Response *r, const char *content_type)
{
	return with_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
}

/* A response for a static string. */
static struct MHD_Response *static_response(const char *body, const char *content_type)
{
	return with_type(
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT),
		content_type);
}

/*
 * A response sending b, which belongs to s; the response holds a reference to s. NULL when b is
 * (a body that could not be made: out of memory). That reference is what keeps b's buffer from
 * going back to the snapshot pool (snapshot.h) and into a later snapshot while libmicrohttpd
 * still sends it: it is dropped only when the response is freed.
 */
static struct MHD_Response *blob_response(struct snapshot *s, const struct blob *b,
					  const char *content_type)
{
	struct MHD_Response *r;

	if (!b)
		return NULL;
	r = MHD_create_response_from_buffer_with_free_callback_cls(
		b->len, b->data, snapshot_unref_voidp, snapshot_ref(s));
	if (!r)
		snapshot_unref(s);
	return with_type(r, content_type);
}

static struct MHD_Response *body_response(struct snapshot *s, enum body b, const char *content_type)
{
	return blob_response(s, snapshot_body(s, b), content_type);
}

/* A response owning a malloc'd body. */
static struct MHD_Response *owned_response(char *body, size_t len, const char *content_type)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer_with_free_callback(len, body, free);
	if (!r)
		free(body);
	return with_type(r, content_type);
}

static struct MHD_Response *landing_response(const struct snapshot *s)
{
	char *body;
	int n;

	n = asprintf(
		&body,
		"<!DOCTYPE html>\n"
		"<html><head><meta charset=\"utf-8\"><title>rawtpd</title></head><body>\n"
		"<h1>rawtpd</h1>\n"
		"<p>Per-process scheduler activity counted at sched_switch. Version %s, "
		"attach mode %s.</p>\n"
		"<ul>\n"
		"<li><a href=\"metrics\">/metrics</a> Prometheus text, or OpenMetrics</li>\n"
		"<li><a href=\"api/v1/processes\">/api/v1/processes</a> every process as "
		"JSON (top, sort, pid, comm)</li>\n"
		"<li><a href=\"api/v1/groups\">/api/v1/groups</a> systemd units (or "
		"cgroups: by=cgroup) as JSON: who waits for a CPU, who takes it</li>\n"
		"<li><a href=\"api/v1/status\">/api/v1/status</a> the daemon's own state</li>\n"
		"<li><a href=\"-/healthy\">/-/healthy</a>, <a href=\"-/ready\">/-/ready</a></li>\n"
		"</ul>\n</body></html>\n",
		RAWTPD_VERSION, s && s->info.attach_mode ? s->info.attach_mode : "(not yet known)");
	if (n < 0)
		return NULL;
	return owned_response(body, (size_t)n, CT_HTML);
}

static struct MHD_Response *error_json(const char *error, const char *parameter,
				       size_t parameter_len)
{
	json_t *o = json_object();
	_cleanup_free_ char *dumped = NULL;
	char text[COMM_TEXT_MAX];
	char *body;
	int n;

	if (!o)
		return NULL;
	json_object_set_new(o, "error", json_string(error));
	if (parameter) {
		/* escape_comm() makes any bytes valid UTF-8, the way process names are shown */
		escape_comm(parameter, parameter_len, text, sizeof(text));
		json_object_set_new(o, "parameter", json_string(text));
	}
	dumped = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!dumped || (n = asprintf(&body, "%s\n", dumped)) < 0)
		return NULL;
	return owned_response(body, (size_t)n, CT_JSON);
}

/*
 * Routes.
 */

/* A query string, argument by argument, into one endpoint's parser; stops at the first bad one. */
struct query_iter {
	int (*add)(void *q, const char *key, size_t key_len, const char *value, size_t value_len,
		   const char **ret_reason);
	void *q;
	const char *bad_key;
	size_t bad_key_len;
	const char *reason;
};

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				 size_t key_len, const char *value, size_t value_len)
{
	struct query_iter *it = cls;

	(void)kind;
	if (it->add(it->q, key, key_len, value, value_len, &it->reason) < 0) {
		it->bad_key = key;
		it->bad_key_len = key_len;
		return MHD_NO;
	}
	return MHD_YES;
}

static int processes_arg(void *q, const char *key, size_t key_len, const char *value,
			 size_t value_len, const char **ret_reason)
{
	return http_query_add(q, key, key_len, value, value_len, ret_reason);
}

static int groups_arg(void *q, const char *key, size_t key_len, const char *value, size_t value_len,
		      const char **ret_reason)
{
	return http_groups_query_add(q, key, key_len, value, value_len, ret_reason);
}

/* Read the query into it; NULL, or the 400 response that names the bad parameter. */
static struct MHD_Response *read_query(struct MHD_Connection *c, struct query_iter *it)
{
	MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, query_arg, it);
	return it->reason ? error_json(it->reason, it->bad_key, it->bad_key_len) : NULL;
}

static enum MHD_Result serve_processes(struct MHD_Connection *c, struct snapshot *s,
				       const char *method, const char *url)
{
	struct http_query hq;
	struct query_iter it = {.add = processes_arg, .q = &hq};
	struct MHD_Response *bad;
	struct blob b = {};

	if (MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, NULL, NULL) <= 0)
		return queue(c, MHD_HTTP_OK, body_response(s, BODY_JSON, CT_JSON), method, url,
			     NULL);

	http_query_init(&hq);
	bad = read_query(c, &it);
	if (bad)
		return queue(c, MHD_HTTP_BAD_REQUEST, bad, method, url, it.reason);
	if (render_json_processes(s, &hq.q, &b) < 0)
		return queue(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
			     error_json("out of memory", NULL, 0), method, url, NULL);
	return queue(c, MHD_HTTP_OK, owned_response(b.data, b.len, CT_JSON), method, url,
		     "(query)");
}

static enum MHD_Result serve_groups(struct MHD_Connection *c, struct snapshot *s,
				    const char *method, const char *url)
{
	struct http_groups_query hq;
	struct query_iter it = {.add = groups_arg, .q = &hq};
	struct MHD_Response *bad;
	struct blob b = {};
	int r;

	http_groups_query_init(&hq);
	bad = read_query(c, &it);
	if (bad)
		return queue(c, MHD_HTTP_BAD_REQUEST, bad, method, url, it.reason);
	r = render_json_groups(s, &hq.q, &b);
	if (r == -ENOENT)
		return queue(
			c, MHD_HTTP_NOT_FOUND,
			error_json("no groups: no cgroup2 (unified) hierarchy is mounted", NULL, 0),
			method, url, NULL);
	if (r < 0)
		return queue(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
			     error_json("out of memory", NULL, 0), method, url, NULL);
	return queue(c, MHD_HTTP_OK, owned_response(b.data, b.len, CT_JSON), method, url,
		     "(groups)");
}

static enum MHD_Result serve_metrics(struct MHD_Connection *c, struct snapshot *s,
				     const char *method, const char *url)
{
	const char *accept =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	const char *ae =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	bool om = http_negotiate_format(accept) == HTTP_FORMAT_OPENMETRICS;
	const struct blob *gz = http_accepts_gzip(ae)
					? snapshot_body(s, om ? BODY_OPENMETRICS_GZ : BODY_PROM_GZ)
					: NULL;
	const struct blob *plain = snapshot_body(s, om ? BODY_OPENMETRICS : BODY_PROM);
	bool use_gz = gz && gz->len > 0;
	struct MHD_Response *r;

	r = blob_response(s, use_gz ? gz : plain,
			  om ? RENDER_OPENMETRICS_CONTENT_TYPE : RENDER_PROM_CONTENT_TYPE);
	r = with_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding, Accept");
	if (use_gz)
		r = with_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	return queue(c, MHD_HTTP_OK, r, method, url,
		     om ? (use_gz ? "openmetrics gzip" : "openmetrics")
			: (use_gz ? "text gzip" : "text"));
}

bool http_snapshot_fresh(uint64_t mono_ns, double interval_s, uint64_t now_ns)
{
	if (now_ns <= mono_ns)
		return true;
	return (double)(now_ns - mono_ns) <= 3.0 * interval_s * (double)NSEC_PER_SEC;
}

static enum MHD_Result serve_healthy(const struct http_server *h, struct MHD_Connection *c,
				     const struct snapshot *s, const char *method, const char *url)
{
	uint64_t now = now_nsec(CLOCK_MONOTONIC);
	double interval = s && s->info.interval_s > 0 ? s->info.interval_s : h->interval_s;
	char *body;
	int n;

	if (!s)
		return queue(
			c, MHD_HTTP_SERVICE_UNAVAILABLE,
			static_response("Not healthy: no aggregation has completed yet\n", CT_TEXT),
			method, url, NULL);
	if (http_snapshot_fresh(s->mono_ns, interval, now))
		return queue(c, MHD_HTTP_OK, static_response("OK\n", CT_TEXT), method, url, NULL);
	n = asprintf(&body,
		     "Not healthy: the last aggregation was %.1f s ago, more than 3 intervals "
		     "(%.1f s)\n",
		     (double)(now - s->mono_ns) / (double)NSEC_PER_SEC, 3.0 * interval);
	return queue(c, MHD_HTTP_SERVICE_UNAVAILABLE,
		     n < 0 ? NULL : owned_response(body, (size_t)n, CT_TEXT), method, url, NULL);
}

/*
 * Authentication and dispatch.
 */

/* Constant-time comparison (the time depends on the lengths only). */
static bool secret_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < lb; i++)
		d |= (unsigned char)b[i] ^ (unsigned char)(i < la ? a[i] : 0);
	return d == 0;
}

static bool authorized(const struct http_server *h, struct MHD_Connection *c)
{
	char *password = NULL, *user;
	struct crypt_data *cd;
	bool ok = false;

	user = MHD_basic_auth_get_username_password(c, &password);
	if (user && password && (cd = calloc(1, sizeof(*cd)))) {
		/* hash even for a wrong user, so the time says nothing about the name */
		const char *hash = crypt_r(password, h->auth_hash, cd);

		/* '&', not '&&': both comparisons run whatever the first one says */
		ok = (int)secret_equal(user, h->auth_user) &
		     (int)(hash && hash[0] != '*' && secret_equal(hash, h->auth_hash));
		explicit_bzero(cd, sizeof(*cd));
		free(cd);
	}
	if (password) {
		explicit_bzero(password, strlen(password));
		MHD_free(password);
	}
	if (user)
		MHD_free(user);
	return ok;
}

enum route { R_NONE, R_ROOT, R_METRICS, R_PROCESSES, R_GROUPS, R_STATUS, R_HEALTHY, R_READY };

static enum route route_of(const char *url)
{
	static const struct {
		const char *path;
		enum route route;
	} routes[] = {
		{"/", R_ROOT},
		{"/metrics", R_METRICS},
		{"/api/v1/processes", R_PROCESSES},
		{"/api/v1/groups", R_GROUPS},
		{"/api/v1/status", R_STATUS},
		{"/-/healthy", R_HEALTHY},
		{"/-/ready", R_READY},
	};

	for (size_t i = 0; i < ELEMENTSOF(routes); i++)
		if (strcmp(url, routes[i].path) == 0)
			return routes[i].route;
	return R_NONE;
}

/* 405, for a method other than GET and HEAD. */
static enum MHD_Result refuse_method(struct MHD_Connection *c, const char *method, const char *url)
{
	struct MHD_Response *r = with_header(static_response("Method Not Allowed\n", CT_TEXT),
					     MHD_HTTP_HEADER_ALLOW, "GET, HEAD");

	return queue(c, MHD_HTTP_METHOD_NOT_ALLOWED, r, method, url, NULL);
}

/* 503 for the data routes before the first snapshot: text for /metrics, JSON for the API. */
static enum MHD_Result serve_no_data(struct MHD_Connection *c, enum route route, const char *method,
				     const char *url)
{
	if (route == R_METRICS)
		return queue(c, MHD_HTTP_SERVICE_UNAVAILABLE,
			     static_response("No data yet: the first aggregation has not "
					     "completed; try again in a moment\n",
					     CT_TEXT),
			     method, url, NULL);
	return queue(c, MHD_HTTP_SERVICE_UNAVAILABLE,
		     error_json("no data yet: the first aggregation has not completed", NULL, 0),
		     method, url, NULL);
}

static enum MHD_Result dispatch(const struct http_server *h, struct MHD_Connection *c,
				const char *url, const char *method)
{
	_cleanup_(snapshot_putp) struct snapshot *s = NULL;
	enum route route = route_of(url);

	if (h->auth_user && route != R_HEALTHY && !authorized(h, c))
		return queue(c, MHD_HTTP_UNAUTHORIZED, static_response("Unauthorized\n", CT_TEXT),
			     method, url, NULL);
	if (route == R_NONE)
		return queue(c, MHD_HTTP_NOT_FOUND, static_response("Not Found\n", CT_TEXT), method,
			     url, NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return refuse_method(c, method, url);

	s = snapshot_store_get(h->store);
	switch (route) {
	case R_ROOT:
		return queue(c, MHD_HTTP_OK, landing_response(s), method, url, NULL);
	case R_HEALTHY:
		return serve_healthy(h, c, s, method, url);
	case R_READY:
		return queue(c, s ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
			     static_response(s ? "OK\n"
					       : "Not ready: no aggregation has completed "
						 "yet\n",
					     CT_TEXT),
			     method, url, NULL);
	default:
		break;
	}
	if (!s)
		return serve_no_data(c, route, method, url);
	if (route == R_METRICS)
		return serve_metrics(c, s, method, url);
	if (route == R_PROCESSES)
		return serve_processes(c, s, method, url);
	if (route == R_GROUPS)
		return serve_groups(c, s, method, url);
	return queue(c, MHD_HTTP_OK, body_response(s, BODY_STATUS, CT_JSON), method, url, NULL);
}

static bool has_body(struct MHD_Connection *c)
{
	const char *cl =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return (cl && strspn(cl, "0") != strlen(cl)) ||
	       MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_cls)
{
	static int seen;

	if (!*req_cls) {
		*req_cls = &seen;
		/*
		 * Answering now, before the request is complete, makes MHD close the connection
		 * afterwards; so only do that when there is a body to refuse.
		 */
		if (!has_body(c))
			return MHD_YES;
	} else if (*upload_data_size) {
		*upload_data_size = 0; /* a body nobody announced: drop it */
		return MHD_YES;
	}
	return dispatch(cls, c, url, method);
}

/*
 * Start-up.
 */

/* MHD's messages go to debug; the first since mhd_first_message[0] = 0 is kept for errors. */
static __thread char mhd_first_message[256];

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[256];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '.'))
		buf[--n] = 0;
	if (!mhd_first_message[0])
		memcpy(mhd_first_message, buf, n + 1);
	log_debug("libmicrohttpd: %s", buf);
}

/* Hand the listening socket fd (always consumed) to a new MHD daemon. */
static int start_daemon(struct http_server *h, int fd, const char *name, char **ret_error)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	struct MHD_OptionItem opts[] = {
		{MHD_OPTION_LISTEN_SOCKET, fd, NULL},
		{MHD_OPTION_THREAD_POOL_SIZE, HTTP_THREADS, NULL},
		{MHD_OPTION_CONNECTION_LIMIT, HTTP_CONNECTION_LIMIT, NULL},
		{MHD_OPTION_PER_IP_CONNECTION_LIMIT, HTTP_PER_IP_LIMIT, NULL},
		{MHD_OPTION_CONNECTION_TIMEOUT, HTTP_TIMEOUT_S, NULL},
		{MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_MEMORY_LIMIT, NULL},
		{MHD_OPTION_END, 0, NULL}, /* room for the TLS options */
		{MHD_OPTION_END, 0, NULL},
		{MHD_OPTION_END, 0, NULL},
	};
	struct MHD_Daemon *d;
	bool ipv6;
	int port;

	port = http_listen_port(fd, &ipv6);
	if (port < 0) {
		close(fd);
		return http_fail(ret_error, port, "cannot listen on %s: %m", name);
	}
	if (ipv6)
		flags |= MHD_USE_IPv6;
	if (h->tls.cert) {
		flags |= MHD_USE_TLS;
		opts[6] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls.cert};
		opts[7] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls.key};
	}

	/*
	 * From here on the socket is MHD's: it closes it when it fails after taking it (short of
	 * running out of memory early on) and in MHD_stop_daemon().
	 */
	mhd_first_message[0] = 0;
	d = MHD_start_daemon(flags, 0, NULL, NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
			     NULL, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!d) {
		if (h->tls.cert)
			return http_fail(
				ret_error, -EINVAL,
				"cannot serve HTTPS on %s: %s (check tls_cert and tls_key: a PEM "
				"certificate and its unencrypted private key)",
				name,
				mhd_first_message[0] ? mhd_first_message : "libmicrohttpd failed");
		return http_fail(ret_error, -EIO, "cannot serve on %s: %s", name,
				 mhd_first_message[0] ? mhd_first_message : "libmicrohttpd failed");
	}
	h->daemons[h->n] = d;
	h->ports[h->n] = (uint16_t)port;
	h->n++;
	return 0;
}

/* The user and password hash for basic authentication, when a user is set. */
static int load_auth(struct http_server *h, const struct config *c, char **ret_error)
{
	if (!c->basic_auth_user)
		return 0;
	h->auth_user = strdup(c->basic_auth_user);
	h->auth_hash = strdup(c->basic_auth_password_hash);
	if (!h->auth_user || !h->auth_hash)
		return http_fail(ret_error, -ENOMEM, "out of memory");
	return 0;
}

/* The TLS certificate and key, when they are set. */
static int load_tls(struct http_server *h, const struct config *c, char **ret_error)
{
	if (!c->tls_cert)
		return 0;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return http_fail(ret_error, -EOPNOTSUPP,
				 "tls_cert is set but this libmicrohttpd was built without TLS");
	return http_tls_load(c->tls_cert, c->tls_key, &h->tls, ret_error);
}

/*
 * Each connection is a file descriptor: raise the soft RLIMIT_NOFILE (1024 under systemd and
 * most shells) as far as the connection limits of n listeners need, never past the hard limit.
 */
static void raise_fd_limit(size_t n)
{
	rlim_t want = (rlim_t)n * HTTP_CONNECTION_LIMIT + 256;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_debug("Cannot raise RLIMIT_NOFILE to %llu: %s", (unsigned long long)rl.rlim_cur,
			  strerror(errno));
}

int http_start(const struct config *c, struct snapshot_store *store, const int *fds, size_t n_fds,
	       struct http_server **ret, char **ret_error)
{
	struct http_server *h;
	size_t n = n_fds > 0 ? n_fds : c->n_listen;
	const char *set = NULL, *unset = NULL;
	char *error = NULL;
	int r;

	if (n == 0)
		return http_fail(ret_error, -EINVAL, "no address to listen on");
	h = calloc(1, sizeof(*h));
	if (!h)
		return http_fail(ret_error, -ENOMEM, "out of memory");
	h->store = store;
	h->daemons = calloc(n, sizeof(*h->daemons));
	h->ports = calloc(n, sizeof(*h->ports));
	if (!h->daemons || !h->ports) {
		r = http_fail(&error, -ENOMEM, "out of memory");
		goto fail;
	}
	h->interval_s = (double)c->interval_usec / (double)USEC_PER_SEC;
	/* config_load() refuses half a pair; a config made any other way is checked here too. */
	r = config_check_pairs(c, &set, &unset);
	if (r < 0) {
		r = http_fail(&error, r, "%s is set but %s is not", set, unset);
		goto fail;
	}
	r = load_auth(h, c, &error);
	if (r < 0)
		goto fail;
	r = load_tls(h, c, &error);
	if (r < 0)
		goto fail;
	raise_fd_limit(n);

	for (size_t i = 0; i < n; i++) {
		char name[HTTP_LISTEN_NAME_MAX];
		int fd = -1;

		if (n_fds > 0) {
			r = http_listen_adopt(fds[i], &fd, name, sizeof(name), &error);
		} else {
			r = http_listen_open(c->listen[i], &fd, &error);
			snprintf(name, sizeof(name), "%s", c->listen[i]);
		}
		if (r < 0)
			goto fail;
		r = start_daemon(h, fd, name, &error);
		if (r < 0)
			goto fail;
	}
	*ret = h;
	return 0;
fail:
	http_stop(h);
	if (ret_error)
		*ret_error = error;
	else
		free(error);
	return r;
}

struct http_server *http_stop(struct http_server *h)
{
	if (!h)
		return NULL;
	for (size_t i = 0; i < h->n; i++)
		MHD_stop_daemon(h->daemons[i]);
	free(h->daemons);
	free(h->ports);
	free(h->auth_user);
	if (h->auth_hash)
		explicit_bzero(h->auth_hash, strlen(h->auth_hash));
	free(h->auth_hash);
	http_tls_done(&h->tls);
	free(h);
	return NULL;
}

int http_local_port(const struct http_server *h, size_t i)
{
	if (!h || i >= h->n)
		return -ENOENT;
	return h->ports[i];
}
