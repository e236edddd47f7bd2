// SPDX-License-Identifier: GPL-2.0-only
/*
 * What the HTTP server listens with: TCP sockets, bound to the configured addresses or passed
 * in by socket activation, and the TLS certificate and key read from their PEM files. Plain
 * sockets and files; libmicrohttpd is http.c's.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "http-listen.h"
#include "log.h"
#include "parse.h"
#include "util.h"

#define HTTP_PEM_MAX (1024 * 1024)

int http_fail(char **ret_error, int r, const char *fmt, ...)
{
	va_list ap;

	if (ret_error) {
		errno = -r;
		va_start(ap, fmt);
		if (vasprintf(ret_error, fmt, ap) < 0)
			*ret_error = NULL;
		va_end(ap);
	}
	return r;
}

/*
 * Sockets.
 */

static void format_address(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(s4->sin_port));
	}
}

static const char *bind_hint(int r)
{
	switch (-r) {
	case EADDRINUSE:
		return " (is another rawtpd running? choose another port with --listen)";
	case EACCES:
		return " (ports below 1024 need CAP_NET_BIND_SERVICE)";
	case EADDRNOTAVAIL:
		return " (no interface of this machine has that address)";
	default:
		return "";
	}
}

int http_listen_open(const char *spec, int *ret_fd, char **ret_error)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_storage ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	bool any = spec[0] == ':';
	unsigned len;
	int one = 1, v6only = !any;

	if (parse_listen(spec, &ss, &len, NULL) < 0)
		return http_fail(
			ret_error, -EINVAL,
			"invalid listen address \"%s\" (expected HOST:PORT, [IPV6]:PORT or :PORT)",
			spec);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 && any && errno == EAFNOSUPPORT) {
		/* ":PORT" on a machine without IPv6: every IPv4 address */
		struct sockaddr_in s4 = {
			.sin_family = AF_INET,
			.sin_port = s6->sin6_port,
			.sin_addr.s_addr = htonl(INADDR_ANY),
		};

		memcpy(&ss, &s4, sizeof(s4));
		len = sizeof(s4);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	}
	if (fd < 0)
		return http_fail(ret_error, -errno, "cannot listen on %s: %m", spec);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0))
		return http_fail(ret_error, -errno, "cannot listen on %s: %m", spec);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, SOMAXCONN) < 0) {
		int r = -errno;

		return http_fail(ret_error, r, "cannot listen on %s: %m%s", spec, bind_hint(r));
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int http_listen_adopt(int fd, int *ret_fd, char *ret_name, size_t name_size, char **ret_error)
{
	struct sockaddr_storage ss = {};
	socklen_t len = sizeof(ss);
	int listening = 0, type = 0, dup_fd;
	socklen_t l1 = sizeof(listening), l2 = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l1) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l2) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return http_fail(ret_error, -errno, "passed file descriptor %d is not a socket: %m",
				 fd);
	if (!listening || type != SOCK_STREAM ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		return http_fail(ret_error, -EINVAL,
				 "passed file descriptor %d is not a listening TCP socket (check "
				 "ListenStream= in rawtpd.socket)",
				 fd);
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dup_fd < 0)
		return http_fail(ret_error, -errno, "cannot duplicate file descriptor %d: %m", fd);
	format_address(&ss, ret_name, name_size);
	*ret_fd = dup_fd;
	return 0;
}

int http_listen_port(int fd, bool *ret_ipv6)
{
	struct sockaddr_storage ss = {};
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	*ret_ipv6 = ss.ss_family == AF_INET6;
	return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
					: ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/*
 * TLS.
 */

/* Read a PEM file into a NUL-terminated string. */
static int read_pem(const char *path, const char *what, bool secret, char **ret, size_t *ret_len,
		    char **ret_error)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t n = 0;
	int r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0)
		return http_fail(ret_error, -errno, "cannot read the TLS %s %s: %m", what, path);
	if (!S_ISREG(st.st_mode))
		return http_fail(ret_error, -EINVAL, "the TLS %s %s is not a regular file", what,
				 path);
	if (st.st_size > HTTP_PEM_MAX)
		return http_fail(ret_error, -EFBIG, "the TLS %s %s is too large for a PEM file",
				 what, path);
	if (secret && (st.st_mode & (S_IRGRP | S_IROTH)))
		log_warning("The TLS key %s can be read by %s (mode %04o); chmod 600 it", path,
			    st.st_mode & S_IROTH ? "every user" : "its group",
			    (unsigned)(st.st_mode & 07777));
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return http_fail(ret_error, -ENOMEM, "out of memory");
	while (n < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + n, (size_t)st.st_size - n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			r = k < 0 ? -errno : 0;
			break;
		}
		n += (size_t)k;
	}
	buf[n] = 0;
	if (r < 0 || n == 0 || memchr(buf, 0, n) || !strstr(buf, "-----BEGIN ")) {
		if (secret)
			explicit_bzero(buf, n);
		if (r < 0)
			return http_fail(ret_error, r, "cannot read the TLS %s %s: %m", what, path);
		return http_fail(ret_error, -EINVAL, "the TLS %s %s is not in PEM format", what,
				 path);
	}
	*ret = TAKE_PTR(buf);
	*ret_len = n;
	return 0;
}

int http_tls_load(const char *cert_path, const char *key_path, struct http_tls *ret,
		  char **ret_error)
{
	struct http_tls t = {};
	int r;

	r = read_pem(cert_path, "certificate", false, &t.cert, &(size_t){0}, ret_error);
	if (r < 0)
		return r;
	r = read_pem(key_path, "key", true, &t.key, &t.key_len, ret_error);
	if (r < 0) {
		free(t.cert);
		return r;
	}
	*ret = t;
	return 0;
}

void http_tls_done(struct http_tls *t)
{
	free(t->cert);
	if (t->key)
		explicit_bzero(t->key, t->key_len);
	free(t->key);
	*t = (struct http_tls){};
}
