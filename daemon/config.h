/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Configuration: built-in defaults, then the INI file (libinih), then command-line flags.
 * On SIGHUP the file is read again into a fresh struct config and the same flags re-applied;
 * a file that does not parse leaves the running configuration untouched.
 */
#ifndef RAWTPD_CONFIG_H
#define RAWTPD_CONFIG_H

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>

#include "parse.h"

#define CONFIG_MAX_LISTEN 16

/* Limits and defaults of the values below (config_print_help() and the checks use these). */
#define CONFIG_INTERVAL_DEFAULT_USEC UINT64_C(1000000)
#define CONFIG_INTERVAL_MIN_USEC     UINT64_C(100000)
#define CONFIG_INTERVAL_MAX_USEC     UINT64_C(3600000000)
#define CONFIG_MAX_PROCESSES_DEFAULT 32768 /* plain numbers: --help has them as text too */
#define CONFIG_MAX_PROCESSES_MIN     64
#define CONFIG_MAX_PROCESSES_MAX     4194304

struct config {
	/* [daemon] */
	uint64_t interval_usec; /* default 1 s; 100 ms .. 1 h */
	int log_level;		/* syslog level; default LOG_INFO */
	/* [bpf] */
	enum attach_mode attach;  /* default auto */
	enum data_path data_path; /* default auto */
	uint32_t max_processes;	  /* BPF map capacity; default 32768; 64 .. 4194304 */
	char *btf; /* BTF file for CO-RE; NULL (default): the kernel's, then a search */
	/* [http] */
	char *listen[CONFIG_MAX_LISTEN]; /* default one entry ":<RAWTPD_DEFAULT_PORT>" */
	unsigned n_listen;
	char *tls_cert, *tls_key;
	char *basic_auth_user, *basic_auth_password_hash;
	/* [metrics] */
	enum group_by group_by;		   /* default pid */
	uint32_t max_series;		   /* 0: unlimited (default) */
	uint32_t max_preemption_pairs;	   /* default 100 */
	char *include_comm, *exclude_comm; /* POSIX ERE source text, NULL if unset */
	regex_t include_re, exclude_re;	   /* compiled when the text above is set */
	bool has_include_re, has_exclude_re;
};

#define OPTIONS_GIVEN_MAX 48 /* of options.given[]: config.c checks it is enough */

/* What was given on the command line; each value only counts when its flag was given. */
struct options {
	const char *config_path; /* --config; NULL: RAWTPD_DEFAULT_CONFIG, missing is fine */
	bool check_config, probe, json, version, help;
	struct config flags; /* values from flags */
	uint32_t set;	     /* OPT_SET_* bits of the flags that were given */
	/* What config_load() applies over the file: the last value of each flag, every --listen. */
	struct {
		unsigned item;	   /* the setting: its index in config_items[] */
		const char *value; /* in argv */
	} given[OPTIONS_GIVEN_MAX];
	unsigned n_given;
};

enum {
	OPT_SET_INTERVAL = 1u << 0,
	OPT_SET_LOG_LEVEL = 1u << 1,
	OPT_SET_ATTACH = 1u << 2,
	OPT_SET_MAX_PROCESSES = 1u << 3,
	OPT_SET_LISTEN = 1u << 4,
	OPT_SET_GROUP_BY = 1u << 5,
	OPT_SET_MAX_SERIES = 1u << 6,
	OPT_SET_INCLUDE_COMM = 1u << 7,
	OPT_SET_EXCLUDE_COMM = 1u << 8,
	OPT_SET_BTF = 1u << 9,
	OPT_SET_DATA_PATH = 1u << 10,
	OPT_SET_MAX_PREEMPTION_PAIRS = 1u << 11,
};

/* Fill *c with the built-in defaults. */
void config_init(struct config *c);
/* Release what *c owns (strings, compiled regexes); *c is left as after config_init(). */
void config_done(struct config *c);

/*
 * Parse argv. Returns 0, or -EINVAL after printing one line saying which argument is wrong
 * and how to get --help. Strings in *ret point into argv or are owned by ret->flags.
 */
int config_parse_argv(int argc, char **argv, struct options *ret);
void options_done(struct options *o);
void config_print_help(const char *argv0);

/*
 * Build a configuration: defaults, then the file at path (NULL: the default path, where a
 * missing file is not an error), then the flags in *o (may be NULL). On failure returns a
 * negative errno and sets *ret_error to a malloc'd "FILE:LINE: what is wrong" message;
 * *ret is untouched. (ret_error may be NULL; *ret_error is NULL after -ENOMEM.) Call it again
 * with the same arguments to reload: *ret is a fresh config, the old one stays valid.
 */
int config_load(const char *path, const struct options *o, struct config *ret, char **ret_error);

/*
 * The settings that go in pairs, both or neither: tls_cert and tls_key, basic_auth_user and
 * basic_auth_password_hash. 0, or -EINVAL with *ret_set and *ret_unset naming the keys of the
 * first pair that has only one (either may be NULL). config_load() never returns such a config.
 */
int config_check_pairs(const struct config *c, const char **ret_set, const char **ret_unset);

#endif
