/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the HTTP server listens with: its TCP sockets and its TLS certificate and key. No
 * libmicrohttpd here; http.c hands these to it.
 */
#ifndef RAWTPD_HTTP_LISTEN_H
#define RAWTPD_HTTP_LISTEN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

/* Room for a listener's name: an address as configured, or "[IPV6]:PORT". */
#define HTTP_LISTEN_NAME_MAX (INET6_ADDRSTRLEN + 32)

/*
 * The HTTP side's way of failing with a message: sets *ret_error (when ret_error is not NULL) to
 * the malloc'd formatted message, "%m" meaning -r (NULL when out of memory), and returns r.
 */
int http_fail(char **ret_error, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * A new listening TCP socket (non-blocking, close-on-exec) bound to spec, an address as
 * parse_listen() takes it; ":PORT" is dual-stack, or every IPv4 address on a machine
 * without IPv6. Returns 0, or a negative errno with *ret_error naming spec, the cause and,
 * for the usual bind() failures, what to do about it.
 */
int http_listen_open(const char *spec, int *ret_fd, char **ret_error);

/*
 * A close-on-exec duplicate of fd, a socket passed by socket activation, once it is checked to
 * be a listening TCP socket; ret_name gets its local address, "HOST:PORT" or "[IPV6]:PORT". fd
 * stays the caller's. Returns 0, or a negative errno with *ret_error saying what fd is instead.
 */
int http_listen_adopt(int fd, int *ret_fd, char *ret_name, size_t name_size, char **ret_error);

/* The local port of the socket fd, and whether it is IPv6; or a negative errno. */
int http_listen_port(int fd, bool *ret_ipv6);

/* The TLS certificate and private key, PEM, NUL-terminated. */
struct http_tls {
	char *cert, *key;
	size_t key_len;
};

/*
 * Read the certificate and key files: regular files in PEM format, at most 1 MiB. Warns when
 * the key can be read by others. Returns 0, or a negative errno with *ret_error naming the file
 * and what is wrong with it; *ret is untouched then.
 */
int http_tls_load(const char *cert_path, const char *key_path, struct http_tls *ret,
		  char **ret_error);

/* Free both, wiping the key first. */
void http_tls_done(struct http_tls *t);

#endif
