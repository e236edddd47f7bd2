// SPDX-License-Identifier: GPL-2.0-only
/*
 * The config file parser: config_load() on the input as a file (a memfd, so no temporary file
 * is left behind), twice, as a reload does. Properties: a file that loads gives values inside
 * their documented limits, the same ones both times; a file that does not gives one
 * "FILE:LINE: why" message whose line exists in the file.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "log.h"

static void check_loaded(const struct config *c)
{
	FUZZ_CHECK(c->interval_usec >= CONFIG_INTERVAL_MIN_USEC &&
			   c->interval_usec <= CONFIG_INTERVAL_MAX_USEC,
		   "interval %llu us", (unsigned long long)c->interval_usec);
	FUZZ_CHECK(c->max_processes >= CONFIG_MAX_PROCESSES_MIN &&
			   c->max_processes <= CONFIG_MAX_PROCESSES_MAX,
		   "max_processes %u", c->max_processes);
	FUZZ_CHECK(c->n_listen >= 1 && c->n_listen <= CONFIG_MAX_LISTEN, "%u listen addresses",
		   c->n_listen);
	for (unsigned i = 0; i < c->n_listen; i++)
		FUZZ_CHECK(c->listen[i] && parse_listen(c->listen[i], NULL, NULL, NULL) == 0,
			   "listen \"%s\" accepted but does not parse", c->listen[i]);
	FUZZ_CHECK(!c->tls_cert == !c->tls_key, "only one of tls_cert and tls_key");
	FUZZ_CHECK(!c->basic_auth_user == !c->basic_auth_password_hash,
		   "only one of the basic auth pair");
	FUZZ_CHECK(c->has_include_re == !!c->include_comm, "include_comm compiled state");
	FUZZ_CHECK(c->has_exclude_re == !!c->exclude_comm, "exclude_comm compiled state");
	FUZZ_CHECK(c->attach < _ATTACH_MODE_MAX, "attach %d", c->attach);
	FUZZ_CHECK(c->group_by == GROUP_BY_PID || c->group_by == GROUP_BY_COMM, "group_by %d",
		   c->group_by);
}

static bool same_config(const struct config *a, const struct config *b)
{
#define STREQ(x, y) ((!(x) && !(y)) || ((x) && (y) && strcmp(x, y) == 0))
	if (a->interval_usec != b->interval_usec || a->log_level != b->log_level ||
	    a->attach != b->attach || a->max_processes != b->max_processes ||
	    a->n_listen != b->n_listen || a->group_by != b->group_by ||
	    a->max_series != b->max_series || !STREQ(a->tls_cert, b->tls_cert) ||
	    !STREQ(a->tls_key, b->tls_key) || !STREQ(a->basic_auth_user, b->basic_auth_user) ||
	    !STREQ(a->basic_auth_password_hash, b->basic_auth_password_hash) ||
	    !STREQ(a->include_comm, b->include_comm) || !STREQ(a->exclude_comm, b->exclude_comm))
		return false;
	for (unsigned i = 0; i < a->n_listen; i++)
		if (!STREQ(a->listen[i], b->listen[i]))
			return false;
	return true;
#undef STREQ
}

/* "PATH:LINE: why" with 1 <= LINE <= lines, or "PATH: strerror" for a read error. */
static void check_error(const char *path, const char *error, size_t lines)
{
	size_t n = strlen(path);
	unsigned long line;
	char *end;

	FUZZ_CHECK(strncmp(error, path, n) == 0 && error[n] == ':', "error \"%s\"", error);
	if (error[n + 1] == ' ')
		return;
	line = strtoul(error + n + 1, &end, 10);
	FUZZ_CHECK(*end == ':' && line >= 1 && line <= lines, "error \"%s\" in a %zu-line file",
		   error, lines);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	char path[64];
	struct config c1, c2;
	char *e1 = NULL, *e2 = NULL;
	size_t lines = 1;
	int r1, r2;

	log_set_max_level(LOG_EMERG); /* config.c logs nothing above debug anyway */
	if (fd < 0) {
		fd = memfd_create("rawtpd-fuzz.conf", MFD_CLOEXEC);
		FUZZ_CHECK(fd >= 0, "memfd_create: %s", strerror(errno));
	}
	FUZZ_CHECK(ftruncate(fd, 0) == 0 && pwrite(fd, data, size, 0) == (ssize_t)size,
		   "cannot write the memfd");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';

	r1 = config_load(path, NULL, &c1, &e1);
	r2 = config_load(path, NULL, &c2, &e2);
	FUZZ_CHECK(r1 == r2, "two loads of one file: %d then %d", r1, r2);
	if (r1 == 0) {
		check_loaded(&c1);
		FUZZ_CHECK(same_config(&c1, &c2), "two loads of one file differ");
		config_done(&c1);
		config_done(&c2);
	} else {
		FUZZ_CHECK(r1 < 0, "config_load returned %d", r1);
		if (r1 != -ENOMEM) {
			FUZZ_CHECK(e1 && e2 && strcmp(e1, e2) == 0, "errors \"%s\" and \"%s\"",
				   e1 ?: "(null)", e2 ?: "(null)");
			check_error(path, e1, lines);
		}
	}
	free(e1);
	free(e2);

	/* The same bytes, as one value of each of the small parsers a flag goes through. */
	if (size < 256) {
		char s[256];
		uint64_t usec;
		struct sockaddr_storage ss;
		unsigned len;

		memcpy(s, data, size);
		s[size] = 0;
		if (parse_duration(s, &usec) == 0)
			FUZZ_CHECK(s[0] >= '0' && s[0] <= '9', "duration \"%s\"", s);
		if (parse_listen(s, &ss, &len, NULL) == 0)
			FUZZ_CHECK((ss.ss_family == AF_INET || ss.ss_family == AF_INET6) &&
					   len <= sizeof(ss),
				   "listen \"%s\"", s);
		attach_mode_from_string(s);
		group_by_from_string(s);
	}
	return 0;
}
