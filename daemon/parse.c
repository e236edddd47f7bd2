// SPDX-License-Identifier: GPL-2.0-only
/* Value parsers shared by the config file, the flags and HTTP: see parse.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "parse.h"
#include "util.h"

static const char *const attach_names[_ATTACH_MODE_MAX] = {
	[ATTACH_AUTO] = "auto",	    [ATTACH_TP_BTF] = "tp_btf",
	[ATTACH_RAW_TP] = "raw_tp", [ATTACH_TRACEPOINT] = "tracepoint",
	[ATTACH_KPROBE] = "kprobe",
};

static const char *const data_path_names[_DATA_PATH_MAX] = {
	[DATA_PATH_AUTO] = "auto",
	[DATA_PATH_THREAD] = "thread",
	[DATA_PATH_PROCESS] = "process",
};

static const char *const group_by_names[] = {
	[GROUP_BY_PID] = "pid",
	[GROUP_BY_COMM] = "comm",
	[GROUP_BY_UNIT] = "unit",
	[GROUP_BY_CGROUP] = "cgroup",
};

const char *attach_mode_to_string(enum attach_mode m)
{
	return (unsigned)m < _ATTACH_MODE_MAX ? attach_names[m] : "?";
}

int parse_name_index(const char *const *names, size_t n, const char *s, size_t len)
{
	for (size_t i = 0; s && i < n; i++)
		if (names[i] && strlen(names[i]) == len && memcmp(s, names[i], len) == 0)
			return (int)i;
	return -EINVAL;
}

int attach_mode_from_string(const char *s)
{
	return parse_name_index(attach_names, _ATTACH_MODE_MAX, s, s ? strlen(s) : 0);
}

const char *data_path_to_string(enum data_path p)
{
	return (unsigned)p < _DATA_PATH_MAX ? data_path_names[p] : "?";
}

int data_path_from_string(const char *s)
{
	return parse_name_index(data_path_names, _DATA_PATH_MAX, s, s ? strlen(s) : 0);
}

const char *group_by_to_string(enum group_by g)
{
	return (unsigned)g < ELEMENTSOF(group_by_names) ? group_by_names[g] : "?";
}

int group_by_from_string(const char *s)
{
	return parse_name_index(group_by_names, ELEMENTSOF(group_by_names), s, s ? strlen(s) : 0);
}

int parse_unsigned(const char *s, size_t n, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (!s || n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > max / 10)
			return -EINVAL;
		v *= 10;
		if (d > max - v)
			return -EINVAL;
		v += d;
	}
	*ret = v;
	return 0;
}

int parse_duration(const char *s, uint64_t *ret_usec)
{
	static const struct {
		const char *suffix;
		uint64_t usec;
	} units[] = {
		{"", USEC_PER_SEC}, {"s", USEC_PER_SEC},      {"ms", USEC_PER_MSEC},
		{"us", 1},	    {"m", 60 * USEC_PER_SEC}, {"h", 3600 * USEC_PER_SEC},
	};
	uint64_t n;
	size_t digits;

	if (!s)
		return -EINVAL;
	digits = strspn(s, "0123456789");
	if (parse_unsigned(s, digits, UINT64_MAX, &n) < 0)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(units); i++) {
		if (strcmp(s + digits, units[i].suffix) != 0)
			continue;
		if (n > UINT64_MAX / units[i].usec)
			return -EINVAL;
		*ret_usec = n * units[i].usec;
		return 0;
	}
	return -EINVAL;
}

/* NULL when host (n bytes at s, not in brackets) is a host we listen on; ss gets its address. */
static const char *parse_host(const char *s, size_t n, struct sockaddr_storage *ss)
{
	static const char bad_host[] =
		"the host must be a numeric address or localhost (names are not resolved)";
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN];

	if (memchr(s, ':', n))
		return "an IPv6 address goes in brackets, as in [::1]:PORT";
	if (n >= sizeof(host))
		return bad_host;
	memcpy(host, s, n);
	host[n] = 0;
	if (n == 0) {
		ss->ss_family = AF_INET6; /* every address, IPv4 too (dual-stack) */
		sin6->sin6_addr = in6addr_any;
	} else if (strcmp(host, "localhost") == 0) {
		ss->ss_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		ss->ss_family = AF_INET;
	} else {
		return bad_host;
	}
	return NULL;
}

/* NULL when s is "[IPV6]:..."; ss gets the address and *ret_port what follows the ':'. */
static const char *parse_bracketed(const char *s, struct sockaddr_storage *ss,
				   const char **ret_port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	const char *close = strchr(s, ']');
	char host[INET6_ADDRSTRLEN];
	size_t n;

	if (!close)
		return "missing ']'";
	n = (size_t)(close - s - 1);
	if (n >= sizeof(host))
		return "not an IPv6 address";
	memcpy(host, s + 1, n);
	host[n] = 0;
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
		return "not an IPv6 address";
	if (close[1] != ':')
		return "missing ':PORT'";
	ss->ss_family = AF_INET6;
	*ret_port = close + 2;
	return NULL;
}

static const char *listen_why(const char *s, struct sockaddr_storage *ss)
{
	const char *port, *colon, *why;
	uint64_t p;

	if (!s)
		return "missing ':PORT'";
	if (s[0] == '[') {
		why = parse_bracketed(s, ss, &port);
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return "missing ':PORT'";
		why = parse_host(s, (size_t)(colon - s), ss);
		port = colon + 1;
	}
	if (why)
		return why;
	if (!*port)
		return "missing port";
	if (parse_unsigned(port, strlen(port), 65535, &p) < 0 || p == 0)
		return "the port must be 1..65535";
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)p);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)p);
	return NULL;
}

int parse_listen(const char *s, struct sockaddr_storage *ret, unsigned *ret_len,
		 const char **ret_why)
{
	struct sockaddr_storage ss = {};
	const char *why = listen_why(s, &ss);

	if (ret_why)
		*ret_why = why;
	if (why)
		return -EINVAL;
	if (ret)
		*ret = ss;
	if (ret_len)
		*ret_len = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
						   : sizeof(struct sockaddr_in6);
	return 0;
}
