// SPDX-License-Identifier: GPL-2.0-only
/* Configuration: defaults, the INI file with file:line errors, the flags, and their merge. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "rawtpd-config.h"
#include "util.h"
#include "test.h"

#define ARGV(...) ((char *[]){"rawtpd", __VA_ARGS__, NULL})
#define ARGC(a)	  ((int)(sizeof(a) / sizeof((a)[0])) - 1)

static const char *data_dir;

static char *data_path(const char *name)
{
	char *p;

	if (asprintf(&p, "%s/config/%s", data_dir, name) < 0)
		abort();
	return p;
}

static bool streq_null(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool config_equal(const struct config *a, const struct config *b)
{
	if (a->interval_usec != b->interval_usec || a->log_level != b->log_level ||
	    a->attach != b->attach || a->max_processes != b->max_processes ||
	    a->n_listen != b->n_listen || a->group_by != b->group_by ||
	    a->max_series != b->max_series || a->has_include_re != b->has_include_re ||
	    a->has_exclude_re != b->has_exclude_re)
		return false;
	for (unsigned i = 0; i < a->n_listen; i++)
		if (strcmp(a->listen[i], b->listen[i]) != 0)
			return false;
	return streq_null(a->tls_cert, b->tls_cert) && streq_null(a->tls_key, b->tls_key) &&
	       streq_null(a->basic_auth_user, b->basic_auth_user) &&
	       streq_null(a->basic_auth_password_hash, b->basic_auth_password_hash) &&
	       streq_null(a->include_comm, b->include_comm) &&
	       streq_null(a->exclude_comm, b->exclude_comm) && streq_null(a->btf, b->btf);
}

/* Write contents to a temporary file; returns its malloc'd path. */
static char *write_temp(const char *contents)
{
	char *path = strdup("/tmp/test-config-XXXXXX");
	int fd;

	if (!path || (fd = mkstemp(path)) < 0)
		abort();
	if (write(fd, contents, strlen(contents)) != (ssize_t)strlen(contents))
		abort();
	close(fd);
	return path;
}

/* Load a file that must fail, and check the whole message: "PATH:" + expect. */
static void check_load_error(const char *path, const char *expect)
{
	_cleanup_free_ char *err = NULL, *want = NULL;
	struct config c;
	int r;

	memset(&c, 0xaa, sizeof(c));
	r = config_load(path, NULL, &c, &err);
	CHECK(r == -EINVAL);
	if (asprintf(&want, "%s:%s", path, expect) < 0)
		abort();
	CHECK_STREQ(err, want);
	/* *ret untouched on failure */
	CHECK(c.n_listen == 0xaaaaaaaau && c.max_processes == 0xaaaaaaaau);
}

static void test_defaults(void)
{
	struct config c, d;
	_cleanup_free_ char *err = NULL;
	char port[16];

	config_init(&c);
	snprintf(port, sizeof(port), ":%d", RAWTPD_DEFAULT_PORT);
	CHECK_EQ_U64(c.interval_usec, 1000000);
	CHECK(c.log_level == LOG_INFO);
	CHECK(c.attach == ATTACH_AUTO);
	CHECK_EQ_U64(c.max_processes, 32768);
	CHECK_EQ_U64(c.n_listen, 1);
	CHECK_STREQ(c.listen[0], port);
	CHECK(!c.tls_cert && !c.tls_key && !c.basic_auth_user && !c.basic_auth_password_hash);
	CHECK(c.group_by == GROUP_BY_PID);
	CHECK_EQ_U64(c.max_series, 0);
	CHECK(!c.include_comm && !c.exclude_comm && !c.has_include_re && !c.has_exclude_re);

	/* Nothing at the default path is not an error: the built-in defaults serve. */
	if (access(RAWTPD_DEFAULT_CONFIG, F_OK) < 0 && errno == ENOENT) {
		CHECK(config_load(NULL, NULL, &d, &err) == 0);
		CHECK(!err);
		CHECK(config_equal(&c, &d));
		config_done(&d);
	} else {
		fprintf(stderr, "%s exists, not testing its absence\n", RAWTPD_DEFAULT_CONFIG);
	}
	config_done(&c);
	config_done(NULL);

	CHECK_STREQ(attach_mode_to_string(ATTACH_TP_BTF), "tp_btf");
	CHECK_STREQ(attach_mode_to_string(ATTACH_KPROBE), "kprobe");
	CHECK(attach_mode_from_string("tracepoint") == ATTACH_TRACEPOINT);
	CHECK(attach_mode_from_string("raw_tp") == ATTACH_RAW_TP);
	CHECK(attach_mode_from_string("RAW_TP") == -EINVAL);
	CHECK(attach_mode_from_string(NULL) == -EINVAL);
	CHECK_STREQ(group_by_to_string(GROUP_BY_COMM), "comm");
	CHECK(group_by_from_string("pid") == GROUP_BY_PID);
	CHECK(group_by_from_string("tgid") == -EINVAL);
}

static void test_full_file(void)
{
	_cleanup_free_ char *path = data_path("full.conf"), *err = NULL;
	struct config c;

	CHECK(config_load(path, NULL, &c, &err) == 0);
	CHECK(!err);
	CHECK_EQ_U64(c.interval_usec, 250000);
	CHECK(c.log_level == LOG_DEBUG);
	CHECK(c.attach == ATTACH_RAW_TP);
	CHECK_EQ_U64(c.max_processes, 65536);
	CHECK_STREQ(c.btf, "/var/lib/rawtpd/btf/5.4.0-216-generic.btf");
	CHECK_EQ_U64(c.n_listen, 3);
	CHECK_STREQ(c.listen[0], "127.0.0.1:9000");
	CHECK_STREQ(c.listen[1], "[::1]:9001");
	CHECK_STREQ(c.listen[2], ":9002");
	CHECK_STREQ(c.tls_cert, "/etc/rawtpd/tls#1.crt");
	CHECK_STREQ(c.tls_key, "/etc/rawtpd/tls.key");
	CHECK_STREQ(c.basic_auth_user, "prometheus");
	CHECK_STREQ(c.basic_auth_password_hash,
		    "$2b$10$QYBSlAlc/ZrsvGgtqfXXneavxz49SlAT9oOsGh2ON9allw3uhy3Gy");
	CHECK(c.group_by == GROUP_BY_COMM);
	CHECK_EQ_U64(c.max_series, 500);
	CHECK_STREQ(c.include_comm, "^(nginx|postgres)$");
	CHECK_STREQ(c.exclude_comm, "^kworker/");
	CHECK(c.has_include_re && c.has_exclude_re);
	CHECK(regexec(&c.include_re, "nginx", 0, NULL, 0) == 0);
	CHECK(regexec(&c.include_re, "nginx2", 0, NULL, 0) != 0);
	CHECK(regexec(&c.exclude_re, "kworker/0:1", 0, NULL, 0) == 0);
	config_done(&c);
	/* config_done() leaves the defaults behind */
	{
		struct config d;

		config_init(&d);
		CHECK(config_equal(&c, &d));
	}
}

static void test_good_files(void)
{
	static const struct {
		const char *file;
		uint64_t interval_usec;
		int log_level;
		enum group_by group_by;
		uint32_t max_series;
	} t[] = {
		{"bom-crlf.conf", 120000000, LOG_INFO, GROUP_BY_COMM, 0},
		{"empty-sections.conf", 1000000, LOG_INFO, GROUP_BY_PID, 0},
		{"empty.conf", 1000000, LOG_INFO, GROUP_BY_PID, 0},
		{"indented.conf", 5000000, LOG_NOTICE, GROUP_BY_PID, 0},
	};

	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		_cleanup_free_ char *path = data_path(t[i].file), *err = NULL;
		struct config c;
		int r;

		r = config_load(path, NULL, &c, &err);
		CHECK(r == 0);
		if (r < 0) {
			fprintf(stderr, "  %s: %s\n", t[i].file, err);
			continue;
		}
		CHECK_EQ_U64(c.interval_usec, t[i].interval_usec);
		CHECK(c.log_level == t[i].log_level);
		CHECK(c.group_by == t[i].group_by);
		CHECK_EQ_U64(c.max_series, t[i].max_series);
		config_done(&c);
	}
}

static void test_bad_files(void)
{
	static const struct {
		const char *file, *error;
	} t[] = {
		{"unknown-key.conf",
		 "4: unknown key 'frequency' in [daemon] (keys: interval, log_level)"},
		{"unknown-section.conf",
		 "4: unknown section [deamon] (sections: [daemon], [bpf], [http], [metrics])"},
		{"duplicate.conf", "7: duplicate key 'interval' in [daemon] (first set on line 2)"},
		{"syntax.conf", "3: expected '[section]' or 'key = value'"},
		{"syntax-section.conf", "1: expected '[section]' or 'key = value'"},
		{"outside-section.conf",
		 "1: 'interval' is outside any section (it belongs in [daemon])"},
		{"wrong-section.conf", "2: unknown key 'listen' in [daemon] (keys: interval, "
				       "log_level; 'listen' belongs in "
				       "[http])"},
		{"tls-half.conf", "3: tls_key is set but tls_cert is not (set both, or neither)"},
		{"auth-half.conf",
		 "2: basic_auth_user is set but basic_auth_password_hash is not (set both, or "
		 "neither)"},
		{"section-trailing.conf", "1: unexpected text after [daemon]"},
		{"long-line.conf", "3: line is longer than 198 characters"},
		{"nul.conf", "3: line contains a NUL byte"},
	};

	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		_cleanup_free_ char *path = data_path(t[i].file);

		check_load_error(path, t[i].error);
	}
}

/* What regerror() says about pattern. */
static char *regex_error(const char *pattern)
{
	char buf[256];
	regex_t re;
	int e = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB);

	if (e == 0)
		abort();
	regerror(e, &re, buf, sizeof(buf));
	return strdup(buf);
}

/* "key = value" on line 3 of a file must fail with "PATH:3: " + error. */
static void check_bad_value(const char *section, const char *key, const char *value,
			    const char *error)
{
	_cleanup_free_ char *text = NULL, *path = NULL, *want = NULL;

	if (asprintf(&text, "# line 1\n[%s]\n%s = %s\n", section, key, value) < 0 ||
	    asprintf(&want, "3: %s", error) < 0)
		abort();
	path = write_temp(text);
	check_load_error(path, want);
	unlink(path);
}

/* Every key's bad values, each on line 3 of a file. */
static void test_bad_values(void)
{
	static const struct {
		const char *section, *key, *value, *error;
	} t[] = {
		{"daemon", "interval", "5x",
		 "interval: '5x' is not a duration (e.g. 1s, 500ms, 2m)"},
		{"daemon", "interval", "-1s",
		 "interval: '-1s' is not a duration (e.g. 1s, 500ms, 2m)"},
		{"daemon", "interval", "1.5s",
		 "interval: '1.5s' is not a duration (e.g. 1s, 500ms, 2m)"},
		{"daemon", "interval", "99ms", "interval: '99ms' is out of range (100ms..1h)"},
		{"daemon", "interval", "61m", "interval: '61m' is out of range (100ms..1h)"},
		{"daemon", "interval", "0", "interval: '0' is out of range (100ms..1h)"},
		{"daemon", "interval", "99999999999999999999s",
		 "interval: '99999999999999999999s' is not a duration (e.g. 1s, 500ms, 2m)"},
		{"daemon", "interval", "",
		 "interval: empty value (comment the line out for the default)"},
		{"daemon", "log_level", "loud",
		 "log_level: 'loud' is not a log level (debug, info, notice, warning, err)"},
		{"bpf", "attach", "fentry",
		 "attach: 'fentry' is not an attach mode (auto, tp_btf, raw_tp, tracepoint, "
		 "kprobe)"},
		{"bpf", "max_processes", "63",
		 "max_processes: '63' is not a number in 64..4194304"},
		{"bpf", "max_processes", "4194305",
		 "max_processes: '4194305' is not a number in 64..4194304"},
		{"bpf", "max_processes", "1e3",
		 "max_processes: '1e3' is not a number in 64..4194304"},
		{"bpf", "max_processes", "-100",
		 "max_processes: '-100' is not a number in 64..4194304"},
		{"http", "listen", "example.com:80",
		 "listen: 'example.com:80' is not a listen address: the host must be a numeric "
		 "address "
		 "or localhost (names are not resolved) (HOST:PORT, [IPV6]:PORT or :PORT)"},
		{"http", "listen", ":9000 127.0.0.1",
		 "listen: '127.0.0.1' is not a listen address: missing ':PORT' (HOST:PORT, "
		 "[IPV6]:PORT or :PORT)"},
		{"http", "listen", ":0",
		 "listen: ':0' is not a listen address: the port must be 1..65535 (HOST:PORT, "
		 "[IPV6]:PORT or :PORT)"},
		{"http", "listen", "::1:80",
		 "listen: '::1:80' is not a listen address: an IPv6 address goes in brackets, as "
		 "in "
		 "[::1]:PORT (HOST:PORT, [IPV6]:PORT or :PORT)"},
		{"http", "listen", ":9000 localhost:9001 127.0.0.1:9001",
		 "listen: '127.0.0.1:9001' is listed twice"},
		{"http", "listen", ":1 :2 :3 :4 :5 :6 :7 :8 :9 :10 :11 :12 :13 :14 :15 :16 :17",
		 "listen: more than 16 addresses"},
		{"http", "basic_auth_user", "a:b",
		 "basic_auth_user: 'a:b' contains ':', which a Basic auth user name cannot"},
		{"http", "basic_auth_password_hash", "hunter2",
		 "basic_auth_password_hash: not a crypt(3) hash ($2b$, $2y$ or $2a$ bcrypt, $6$ "
		 "sha512crypt, $5$ sha256crypt or $y$ yescrypt; e.g. from 'htpasswd -nBC 10 "
		 "USER')"},
		{"http", "basic_auth_password_hash", "$2b$10$tooshort",
		 "basic_auth_password_hash: not a crypt(3) hash ($2b$, $2y$ or $2a$ bcrypt, $6$ "
		 "sha512crypt, $5$ sha256crypt or $y$ yescrypt; e.g. from 'htpasswd -nBC 10 "
		 "USER')"},
		{"http", "basic_auth_password_hash", "$1$salt$md5hashhashhash",
		 "basic_auth_password_hash: not a crypt(3) hash ($2b$, $2y$ or $2a$ bcrypt, $6$ "
		 "sha512crypt, $5$ sha256crypt or $y$ yescrypt; e.g. from 'htpasswd -nBC 10 "
		 "USER')"},
		{"metrics", "group_by", "tgid",
		 "group_by: 'tgid' is not a grouping (pid, comm, unit, cgroup)"},
		{"metrics", "max_series", "lots",
		 "max_series: 'lots' is not a number in 0..4294967295 (0: unlimited)"},
		{"metrics", "max_series", "4294967296",
		 "max_series: '4294967296' is not a number in 0..4294967295 (0: unlimited)"},
	};

	for (size_t i = 0; i < ELEMENTSOF(t); i++)
		check_bad_value(t[i].section, t[i].key, t[i].value, t[i].error);

	/* The explanation of a bad regex is the C library's own. */
	{
		_cleanup_free_ char *e1 = NULL, *e2 = NULL, *r1 = regex_error("(nginx"),
				    *r2 = regex_error("a{2,1}");

		if (asprintf(&e1, "include_comm: '(nginx' is not a regular expression: %s", r1) <
			    0 ||
		    asprintf(&e2, "exclude_comm: 'a{2,1}' is not a regular expression: %s", r2) < 0)
			abort();
		check_bad_value("metrics", "include_comm", "(nginx", e1);
		check_bad_value("metrics", "exclude_comm", "a{2,1}", e2);
	}
}

static void test_good_values(void)
{
	static const char *const hashes[] = {
		"$2y$10$QYBSlAlc/ZrsvGgtqfXXneavxz49SlAT9oOsGh2ON9allw3uhy3Gy",
		"$6$Uc2taOHBBCuGdyHy$g01uuuwh4W01mjBYcBwaFDV."
		"59WLbt5io8RN87BOfj3gxXtxJLfXoHJklqIp2gn"
		"kT0oE2qU3wY0.Eb/yHkjdU/",
		"$6$rounds=10000$7nMN6OiRggvtVJix$7JA./WKq3d5X08sLlh22ujr/d2w.4pScHIzstto/"
		"4fsxnABYCe"
		"pIxWKUIMV0a9e2tx0BRQzwRENRLvCt5szkr/",
		"$5$E7KfxEpKqDXMn894$pgKF7BbR69uIE60j6BBdeKLJEWKILgF5M80TTkBBapD",
		"$y$j9T$$kqN0Js9nF7eERE.51024UC4tcxd3UwTViEvi9nw9G41",
	};

	for (size_t i = 0; i < ELEMENTSOF(hashes); i++) {
		_cleanup_free_ char *text = NULL, *path = NULL, *err = NULL;
		struct config c;
		int r;

		if (asprintf(&text, "[http]\nbasic_auth_user = u\nbasic_auth_password_hash = %s\n",
			     hashes[i]) < 0)
			abort();
		path = write_temp(text);
		r = config_load(path, NULL, &c, &err);
		CHECK(r == 0);
		if (r == 0) {
			CHECK_STREQ(c.basic_auth_password_hash, hashes[i]);
			config_done(&c);
		} else {
			fprintf(stderr, "  %s\n", err);
		}
		unlink(path);
	}
}

static void test_missing(void)
{
	_cleanup_free_ char *err = NULL, *want = NULL, *path = data_path("does-not-exist.conf");
	struct config c;

	memset(&c, 0xaa, sizeof(c));
	CHECK(config_load(path, NULL, &c, &err) == -ENOENT);
	if (asprintf(&want, "%s: No such file or directory", path) < 0)
		abort();
	CHECK_STREQ(err, want);
	CHECK(c.n_listen == 0xaaaaaaaau);

	/* A directory is not a config file. */
	free(err);
	err = NULL;
	CHECK(config_load(data_dir, NULL, &c, &err) == -EISDIR);
	CHECK(err && strstr(err, "Is a directory"));
	CHECK(config_load(data_dir, NULL, &c, NULL) == -EISDIR);
}

static void test_parse_duration(void)
{
	static const struct {
		const char *s;
		int r;
		uint64_t usec;
	} t[] = {
		{"1s", 0, 1000000},
		{"500ms", 0, 500000},
		{"15s", 0, 15000000},
		{"2m", 0, 120000000},
		{"1h", 0, 3600000000},
		{"250us", 0, 250},
		{"10", 0, 10000000},
		{"0", 0, 0},
		{"007s", 0, 7000000},
		{"18446744073709551615us", 0, UINT64_MAX},
		{.s = "18446744073709551616us", .r = -EINVAL},
		{.s = "18446744073709551615s", .r = -EINVAL},
		{.s = "5124095576030432h", .r = -EINVAL},
		{.s = "", .r = -EINVAL},
		{.s = "s", .r = -EINVAL},
		{.s = "-1s", .r = -EINVAL},
		{.s = "+1s", .r = -EINVAL},
		{.s = " 1s", .r = -EINVAL},
		{.s = "1s ", .r = -EINVAL},
		{.s = "1 s", .r = -EINVAL},
		{.s = "1.5s", .r = -EINVAL},
		{.s = "1sec", .r = -EINVAL},
		{.s = "1d", .r = -EINVAL},
		{.s = "1m30s", .r = -EINVAL},
		{.s = "5x", .r = -EINVAL},
		{.s = "0x10", .r = -EINVAL},
	};

	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		uint64_t usec = 4242;
		int r = parse_duration(t[i].s, &usec);

		CHECK(r == t[i].r);
		if (r != t[i].r)
			fprintf(stderr, "  parse_duration(\"%s\") = %d\n", t[i].s, r);
		CHECK_EQ_U64(usec, t[i].r == 0 ? t[i].usec : 4242);
	}
	CHECK(parse_duration(NULL, NULL) == -EINVAL);
}

static void test_parse_listen(void)
{
	static const struct {
		const char *s;
		int r, family;
		const char *addr;
		unsigned port;
	} t[] = {
		{"127.0.0.1:9000", 0, AF_INET, "127.0.0.1", 9000},
		{"0.0.0.0:80", 0, AF_INET, "0.0.0.0", 80},
		{"localhost:10291", 0, AF_INET, "127.0.0.1", 10291},
		{"[::1]:80", 0, AF_INET6, "::1", 80},
		{"[fe80::1:2]:65535", 0, AF_INET6, "fe80::1:2", 65535},
		{"[::ffff:10.0.0.1]:1", 0, AF_INET6, "::ffff:10.0.0.1", 1},
		{":9000", 0, AF_INET6, "::", 9000},
		{"[::]:9000", 0, AF_INET6, "::", 9000},
		{.s = "127.0.0.1:0", .r = -EINVAL},
		{.s = "127.0.0.1:65536", .r = -EINVAL},
		{.s = "127.0.0.1:-1", .r = -EINVAL},
		{.s = "127.0.0.1:+80", .r = -EINVAL},
		{.s = "127.0.0.1:80x", .r = -EINVAL},
		{.s = "127.0.0.1", .r = -EINVAL},
		{.s = "127.0.0.1:", .r = -EINVAL},
		{.s = ":", .r = -EINVAL},
		{.s = "", .r = -EINVAL},
		{.s = "[::1]", .r = -EINVAL},
		{.s = "[::1]80", .r = -EINVAL},
		{.s = "[::1:80", .r = -EINVAL},
		{.s = "[]:80", .r = -EINVAL},
		{.s = "[127.0.0.1]:80", .r = -EINVAL},
		{.s = "::1:80", .r = -EINVAL},
		{.s = "example.com:80", .r = -EINVAL},
		{.s = "ip6-localhost:80", .r = -EINVAL},
		{.s = "10.0.0:80", .r = -EINVAL},
		{.s = "256.0.0.1:80", .r = -EINVAL},
		{.s = "*:80", .r = -EINVAL},
	};

	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		struct sockaddr_storage ss;
		unsigned len = 4242;
		char buf[INET6_ADDRSTRLEN];
		int r;

		memset(&ss, 0xaa, sizeof(ss));
		r = parse_listen(t[i].s, &ss, &len, NULL);
		CHECK(r == t[i].r);
		if (r != t[i].r)
			fprintf(stderr, "  parse_listen(\"%s\") = %d\n", t[i].s, r);
		if (r < 0) {
			CHECK(len == 4242 && ss.ss_family == 0xaaaa);
			continue;
		}
		CHECK(ss.ss_family == t[i].family);
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

			CHECK(len == sizeof(*sin));
			CHECK_STREQ(inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)),
				    t[i].addr);
			CHECK_EQ_U64(ntohs(sin->sin_port), t[i].port);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

			CHECK(len == sizeof(*sin6));
			CHECK_STREQ(inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf)),
				    t[i].addr);
			CHECK_EQ_U64(ntohs(sin6->sin6_port), t[i].port);
		}
	}
	CHECK(parse_listen(NULL, NULL, NULL, NULL) == -EINVAL);
	CHECK(parse_listen("[::1]:80", NULL, NULL, NULL) == 0);
}

/* Run config_parse_argv() with stderr captured; returns what it printed. */
static char *parse_argv_captured(int argc, char **argv, struct options *o, int *ret_r)
{
	FILE *t = tmpfile();
	int saved = dup(STDERR_FILENO);
	char *out = calloc(1, 4096);

	if (!t || saved < 0 || !out)
		abort();
	fflush(stderr);
	dup2(fileno(t), STDERR_FILENO);
	*ret_r = config_parse_argv(argc, argv, o);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(t);
	if (fread(out, 1, 4095, t) == 0 && ferror(t))
		abort();
	fclose(t);
	return out;
}

#define CHECK_ARGV_ERROR(expect, ...)                                                 \
	do {                                                                          \
		char **_argv = ARGV(__VA_ARGS__);                                     \
		struct options _o;                                                    \
		_cleanup_free_ char *_out = NULL;                                     \
		int _r;                                                               \
		memset(&_o, 0xaa, sizeof(_o));                                        \
		_out = parse_argv_captured(ARGC(ARGV(__VA_ARGS__)), _argv, &_o, &_r); \
		CHECK(_r == -EINVAL);                                                 \
		CHECK_STREQ(_out, "rawtpd: " expect "\nTry 'rawtpd --help'.\n");      \
		CHECK(_o.set == 0xaaaaaaaau);                                         \
	} while (0)

static void test_argv(void)
{
	char **argv =
		ARGV("--config", "/x.conf", "-l", ":1", "--listen=[::1]:2", "-a", "kprobe", "-i",
		     "2m", "--log-level", "debug", "--max-processes", "1024", "--group-by", "comm",
		     "--max-series", "7", "--include-comm", "^a", "--exclude-comm", "b$",
		     "--include-comm", "^c", "--probe", "--json", "--check-config", "-V", "-h");
	struct options o;
	_cleanup_free_ char *out = NULL;
	int r;

	out = parse_argv_captured(
		ARGC(ARGV("--config", "/x.conf", "-l", ":1", "--listen=[::1]:2", "-a", "kprobe",
			  "-i", "2m", "--log-level", "debug", "--max-processes", "1024",
			  "--group-by", "comm", "--max-series", "7", "--include-comm", "^a",
			  "--exclude-comm", "b$", "--include-comm", "^c", "--probe", "--json",
			  "--check-config", "-V", "-h")),
		argv, &o, &r);
	CHECK(r == 0);
	CHECK_STREQ(out, "");
	CHECK_STREQ(o.config_path, "/x.conf");
	CHECK(o.probe && o.json && o.check_config && o.version && o.help);
	CHECK(o.set == (OPT_SET_INTERVAL | OPT_SET_LOG_LEVEL | OPT_SET_ATTACH |
			OPT_SET_MAX_PROCESSES | OPT_SET_LISTEN | OPT_SET_GROUP_BY |
			OPT_SET_MAX_SERIES | OPT_SET_INCLUDE_COMM | OPT_SET_EXCLUDE_COMM));
	CHECK_EQ_U64(o.flags.n_listen, 2);
	CHECK_STREQ(o.flags.listen[0], ":1");
	CHECK_STREQ(o.flags.listen[1], "[::1]:2");
	CHECK(o.flags.attach == ATTACH_KPROBE);
	CHECK_EQ_U64(o.flags.interval_usec, 120000000);
	CHECK(o.flags.log_level == LOG_DEBUG);
	CHECK_EQ_U64(o.flags.max_processes, 1024);
	CHECK(o.flags.group_by == GROUP_BY_COMM);
	CHECK_EQ_U64(o.flags.max_series, 7);
	CHECK_STREQ(o.flags.include_comm, "^c");
	CHECK_STREQ(o.flags.exclude_comm, "b$");
	options_done(&o);
	options_done(&o); /* twice is fine */

	/* Nothing given: nothing set. Parsing again starts over. */
	{
		char **a = ARGV("--probe");
		struct options p;

		CHECK(config_parse_argv(1, a, &p) == 0);
		CHECK(p.set == 0 && !p.probe && !p.config_path);
		options_done(&p);
		CHECK(config_parse_argv(2, a, &p) == 0);
		CHECK(p.set == 0 && p.probe);
		options_done(&p);
	}

	CHECK_ARGV_ERROR("--interval: '5x' is not a duration (e.g. 1s, 500ms, 2m)", "--interval",
			 "5x");
	CHECK_ARGV_ERROR("--interval: '50ms' is out of range (100ms..1h)", "-i", "50ms");
	CHECK_ARGV_ERROR("--interval needs a value", "--interval");
	CHECK_ARGV_ERROR("--interval needs a value", "-i");
	CHECK_ARGV_ERROR("--config needs a value", "-c");
	CHECK_ARGV_ERROR("--config: empty value", "--config=");
	CHECK_ARGV_ERROR("--attach: 'fentry' is not an attach mode (auto, tp_btf, raw_tp, "
			 "tracepoint, kprobe)",
			 "-a", "fentry");
	CHECK_ARGV_ERROR("--log-level: 'loud' is not a log level (debug, info, notice, warning, "
			 "err)",
			 "--log-level", "loud");
	CHECK_ARGV_ERROR("--max-processes: '10' is not a number in 64..4194304", "--max-processes",
			 "10");
	CHECK_ARGV_ERROR("--group-by: 'tgid' is not a grouping (pid, comm, unit, cgroup)",
			 "--group-by", "tgid");
	CHECK_ARGV_ERROR("--max-series: '-1' is not a number in 0..4294967295 (0: unlimited)",
			 "--max-series", "-1");
	CHECK_ARGV_ERROR("--listen: 'host:80' is not a listen address: the host must be a numeric "
			 "address or localhost (names are not resolved) (HOST:PORT, [IPV6]:PORT "
			 "or :PORT)",
			 "--listen", "host:80");
	CHECK_ARGV_ERROR("--listen: ':80' is listed twice", "-l", ":80", "-l", ":81", "-l", ":80");
	CHECK_ARGV_ERROR("--listen: empty value", "--listen", "");
	{
		_cleanup_free_ char *want = NULL, *got = NULL, *e = regex_error("(");
		char **a = ARGV("--include-comm", "(");
		struct options p;
		int rr;

		if (asprintf(&want,
			     "rawtpd: --include-comm: '(' is not a regular expression: %s\n"
			     "Try 'rawtpd --help'.\n",
			     e) < 0)
			abort();
		got = parse_argv_captured(3, a, &p, &rr);
		CHECK(rr == -EINVAL);
		CHECK_STREQ(got, want);
	}
	CHECK_ARGV_ERROR("unknown or ambiguous option '--frobnicate'", "--frobnicate");
	CHECK_ARGV_ERROR("unknown or ambiguous option '--max'", "--max", "5");
	CHECK_ARGV_ERROR("unknown option '-x'", "-x");
	CHECK_ARGV_ERROR("--probe takes no value", "--probe=yes");
	CHECK_ARGV_ERROR("unexpected argument 'extra'", "--probe", "extra");
	CHECK_ARGV_ERROR("unexpected argument 'extra'", "extra", "--probe");

	/* 17 addresses over several flags */
	CHECK_ARGV_ERROR("--listen: more than 16 addresses", "-l", ":1", "-l", ":2", "-l", ":3",
			 "-l", ":4", "-l", ":5", "-l", ":6", "-l", ":7", "-l", ":8", "-l", ":9",
			 "-l", ":10", "-l", ":11", "-l", ":12", "-l", ":13", "-l", ":14", "-l",
			 ":15", "-l", ":16", "-l", ":17");
}

static void test_flags_override(void)
{
	_cleanup_free_ char *path = data_path("full.conf"), *err = NULL;
	char **argv = ARGV("--config", path, "--interval", "5s", "--listen", ":1", "-l", "[::]:2",
			   "--group-by", "pid", "--include-comm", "^a", "--max-processes", "128",
			   "--btf", "/tmp/min.btf");
	struct options o;
	struct config c;

	CHECK(config_parse_argv(ARGC(ARGV("--config", path, "--interval", "5s", "--listen", ":1",
					  "-l", "[::]:2", "--group-by", "pid", "--include-comm",
					  "^a", "--max-processes", "128", "--btf", "/tmp/min.btf")),
				argv, &o) == 0);
	CHECK(config_load(o.config_path, &o, &c, &err) == 0);
	CHECK(!err);
	CHECK_EQ_U64(c.interval_usec, 5000000); /* flag */
	CHECK(c.log_level == LOG_DEBUG);	/* file */
	CHECK(c.attach == ATTACH_RAW_TP);	/* file */
	CHECK_EQ_U64(c.max_processes, 128);	/* flag */
	CHECK_STREQ(c.btf, "/tmp/min.btf");	/* flag */
	CHECK_EQ_U64(c.n_listen, 2);		/* flags replace the file's list */
	CHECK_STREQ(c.listen[0], ":1");
	CHECK_STREQ(c.listen[1], "[::]:2");
	CHECK(c.group_by == GROUP_BY_PID); /* flag back to the default */
	CHECK_EQ_U64(c.max_series, 500);   /* file */
	CHECK_STREQ(c.include_comm, "^a"); /* flag */
	CHECK(regexec(&c.include_re, "abc", 0, NULL, 0) == 0);
	CHECK(regexec(&c.include_re, "nginx", 0, NULL, 0) != 0);
	CHECK_STREQ(c.exclude_comm, "^kworker/"); /* file */
	CHECK_STREQ(c.tls_cert, "/etc/rawtpd/tls#1.crt");

	/* Reload: the same options again give the same configuration; both stay valid. */
	{
		struct config d;

		CHECK(config_load(o.config_path, &o, &d, &err) == 0);
		CHECK(config_equal(&c, &d));
		CHECK(regexec(&d.include_re, "abc", 0, NULL, 0) == 0);
		config_done(&d);
		CHECK(regexec(&c.include_re, "abc", 0, NULL, 0) == 0);
	}
	/* A failing reload leaves the running configuration alone. */
	{
		_cleanup_free_ char *bad = data_path("duplicate.conf");
		struct config d = c;

		CHECK(config_load(bad, &o, &c, &err) == -EINVAL);
		CHECK(err && strstr(err, "duplicate key"));
		CHECK(config_equal(&d, &c));
		CHECK(d.listen[0] == c.listen[0] && d.include_comm == c.include_comm &&
		      d.tls_cert == c.tls_cert);
	}
	config_done(&c);
	options_done(&o);

	/* Flags over the built-in defaults (an empty file). */
	{
		_cleanup_free_ char *empty = data_path("empty.conf");
		char **a = ARGV("-l", "localhost:8080", "--exclude-comm", "^x");
		struct options p;

		CHECK(config_parse_argv(5, a, &p) == 0);
		CHECK(config_load(empty, &p, &c, NULL) == 0);
		CHECK_EQ_U64(c.n_listen, 1);
		CHECK_STREQ(c.listen[0], "localhost:8080");
		CHECK_STREQ(c.exclude_comm, "^x");
		CHECK(!c.include_comm && !c.has_include_re && c.has_exclude_re);
		config_done(&c);
		options_done(&p);
	}
}

static void test_shipped_conf(void)
{
	_cleanup_free_ char *path = NULL, *err = NULL;
	struct config c, d;
	int r;

	if (asprintf(&path, "%s/../../conf/rawtpd.conf", data_dir) < 0)
		abort();
	r = config_load(path, NULL, &c, &err);
	CHECK(r == 0);
	if (r < 0) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	config_init(&d);
	CHECK(config_equal(&c, &d));
	config_done(&c);

	/* Every key is in it, commented out with its default. */
	{
		_cleanup_fclose_ FILE *f = fopen(path, "re");
		static const char *const lines[] = {
			"[daemon]\n",	    "#interval = 1s\n",	   "#log_level = info\n",
			"[bpf]\n",	    "#attach = auto\n",	   "#max_processes = 32768\n",
			"[http]\n",	    "#listen = :10291\n",  "#tls_cert = ",
			"#tls_key = ",	    "#basic_auth_user = ", "#basic_auth_password_hash = ",
			"[metrics]\n",	    "#group_by = pid\n",   "#max_series = 0\n",
			"#include_comm = ", "#exclude_comm = ",	   "#btf = ",
		};
		bool found[ELEMENTSOF(lines)] = {};
		char buf[256];

		CHECK(f);
		while (f && fgets(buf, sizeof(buf), f))
			for (size_t i = 0; i < ELEMENTSOF(lines); i++)
				if (strncmp(buf, lines[i], strlen(lines[i])) == 0)
					found[i] = true;
		for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
			CHECK(found[i]);
			if (!found[i])
				fprintf(stderr, "  missing: %s\n", lines[i]);
		}
	}
}

static void test_help(void)
{
	static const char *const flags[] = {
		"--config PATH",
		"--listen ADDR",
		"--attach MODE",
		"--interval DURATION",
		"--log-level LEVEL",
		"--max-processes N",
		"--btf PATH",
		"--group-by",
		"--max-series N",
		"--include-comm REGEX",
		"--exclude-comm REGEX",
		"--probe",
		"--json",
		"--check-config",
		"--help",
		"--version",
		RAWTPD_DEFAULT_CONFIG,
		"(default 1s)",
		"(default 32768)",
		"(default auto)",
		"(default info)",
		"(default pid)",
	};
	FILE *t = tmpfile();
	int saved = dup(STDOUT_FILENO);
	char out[4096] = "";

	if (!t || saved < 0)
		abort();
	fflush(stdout);
	dup2(fileno(t), STDOUT_FILENO);
	config_print_help("/usr/sbin/rawtpd");
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	rewind(t);
	if (fread(out, 1, sizeof(out) - 1, t) == 0)
		abort();
	fclose(t);
	CHECK(strncmp(out, "Usage: rawtpd [OPTION]...\n", 26) == 0);
	for (size_t i = 0; i < ELEMENTSOF(flags); i++) {
		CHECK(strstr(out, flags[i]));
		if (!strstr(out, flags[i]))
			fprintf(stderr, "  help lacks %s\n", flags[i]);
	}
	/* No line wider than 100 columns. */
	for (char *l = out, *e; (e = strchr(l, '\n')); l = e + 1)
		CHECK(e - l <= 100);
}

/* The pair rule on a struct config, as http.c may check it. */
static void test_check_pairs(void)
{
	struct config c;
	const char *set = NULL, *unset = NULL;

	config_init(&c);
	CHECK(config_check_pairs(&c, &set, &unset) == 0);
	c.tls_key = "k";
	CHECK(config_check_pairs(&c, &set, &unset) == -EINVAL);
	CHECK_STREQ(set, "tls_key");
	CHECK_STREQ(unset, "tls_cert");
	c.tls_cert = "c";
	c.basic_auth_user = "u";
	CHECK(config_check_pairs(&c, &set, NULL) == -EINVAL);
	CHECK_STREQ(set, "basic_auth_user");
	c.basic_auth_password_hash = "h";
	CHECK(config_check_pairs(&c, NULL, NULL) == 0);
}

int main(void)
{
	data_dir = getenv("TEST_DATA");
	if (!data_dir) {
		fprintf(stderr, "TEST_DATA is not set\n");
		return 77;
	}
	test_defaults();
	test_full_file();
	test_good_files();
	test_bad_files();
	test_bad_values();
	test_good_values();
	test_missing();
	test_parse_duration();
	test_parse_listen();
	test_argv();
	test_flags_override();
	test_shipped_conf();
	test_help();
	test_check_pairs();
	TEST_DONE();
}
