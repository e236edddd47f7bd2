/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The small value parsers the config file, the flags and the HTTP queries share: unsigned
 * decimals, durations, listen addresses, and the names of the attach modes and groupings.
 * Pure functions: no allocation, no logging, nothing but their arguments.
 */
#ifndef RAWTPD_PARSE_H
#define RAWTPD_PARSE_H

#include <stddef.h>
#include <stdint.h>

enum attach_mode {
	ATTACH_AUTO,
	ATTACH_TP_BTF,
	ATTACH_RAW_TP,
	ATTACH_TRACEPOINT,
	ATTACH_KPROBE,
	_ATTACH_MODE_MAX,
};

/* Where the BPF side keeps the counts (daemon/DESIGN.md, "Data paths"). */
enum data_path {
	DATA_PATH_AUTO,	   /* thread where the kernel and the attach mode allow it */
	DATA_PATH_THREAD,  /* task local storage per thread, one shared hash of processes */
	DATA_PATH_PROCESS, /* per-CPU hash per process, exits found in /proc */
	_DATA_PATH_MAX,
};

enum group_by {
	GROUP_BY_PID,
	GROUP_BY_COMM,
	GROUP_BY_UNIT,
	GROUP_BY_CGROUP,
};

/* Names used in the config file, flags, logs and metrics ("auto", "tp_btf", ...). */
const char *attach_mode_to_string(enum attach_mode m);
/* The index of the len bytes at s in names[0..n) (NULL entries match nothing), or -EINVAL. */
int parse_name_index(const char *const *names, size_t n, const char *s, size_t len);

int attach_mode_from_string(const char *s); /* the mode, or -EINVAL */
const char *data_path_to_string(enum data_path p);
int data_path_from_string(const char *s); /* the data path, or -EINVAL */
const char *group_by_to_string(enum group_by g);
int group_by_from_string(const char *s); /* the grouping, or -EINVAL */

/*
 * The n bytes at s as an unsigned decimal number no larger than max: digits only (leading zeros
 * are fine), no sign, no blanks, no base prefix. 0, or -EINVAL (*ret untouched).
 */
int parse_unsigned(const char *s, size_t n, uint64_t max, uint64_t *ret);

/* "1s", "500ms", "15s", "2m", "1h", "250us"; a bare number is seconds. 0 or -EINVAL. */
int parse_duration(const char *s, uint64_t *ret_usec);

/*
 * Parse a listen address: "HOST:PORT", "[IPV6]:PORT" or ":PORT" (every address, IPv6 and IPv4).
 * Numeric hosts and "localhost" (127.0.0.1) only (no DNS at start-up). 0, or -EINVAL with
 * *ret_why set to a static phrase saying what is wrong ("missing ':PORT'"). Each of ret,
 * ret_len and ret_why may be NULL.
 */
struct sockaddr_storage;
int parse_listen(const char *s, struct sockaddr_storage *ret, unsigned *ret_len,
		 const char **ret_why);

#endif
