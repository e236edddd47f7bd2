// SPDX-License-Identifier: GPL-2.0-only
/*
 * The settings: built-in defaults, then the INI file (config-file.c), then the command-line
 * flags (config-argv.c).
 *
 * One table, config_items[] below, says what each setting is: its [section] and key in the
 * file, its long (and short) option, the parser that checks a value and stores it, and its lines
 * in --help. The file's keys, getopt_long()'s options and the help text all come from it, the
 * way systemd's ConfigTableItem drives its unit files. The parsers are here with it.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "config-table.h"
#include "log.h"
#include "rawtpd-config.h"
#include "util.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)

/* The default listen entry is not allocated, so config_init() cannot fail. */
#define DEFAULT_LISTEN ":" STRINGIFY(RAWTPD_DEFAULT_PORT)
static const char default_listen[] = DEFAULT_LISTEN;

/* What the messages and --help say of the limits in config.h. */
#define INTERVAL_RANGE "100ms..1h" /* CONFIG_INTERVAL_MIN_USEC..CONFIG_INTERVAL_MAX_USEC */
#define MAX_PROCESSES_RANGE \
	STRINGIFY(CONFIG_MAX_PROCESSES_MIN) ".." STRINGIFY(CONFIG_MAX_PROCESSES_MAX)
#define MAX_PROCESSES_DEFAULT STRINGIFY(CONFIG_MAX_PROCESSES_DEFAULT)

/* The names a key takes, for parse_name(). */
struct config_names {
	int (*from_string)(const char *s); /* the value, or -EINVAL */
	const char *what, *list;	   /* "an attach mode", "auto, tp_btf, ..." */
};

/* The range of a number, for parse_u32(). */
struct config_range {
	uint32_t min, max;
	const char *note; /* after the range in the error message */
};

/* The fields that hold a compiled regex besides its text (at item->offset), for parse_regex(). */
struct config_regex {
	size_t re, has; /* offsets of the regex_t and of its bool */
};

void config_init(struct config *c)
{
	*c = (struct config){
		.interval_usec = CONFIG_INTERVAL_DEFAULT_USEC,
		.log_level = LOG_INFO,
		.attach = ATTACH_AUTO,
		.max_processes = CONFIG_MAX_PROCESSES_DEFAULT,
		.listen = {(char *)default_listen},
		.n_listen = 1,
		.group_by = GROUP_BY_PID,
		.max_preemption_pairs = 100,
	};
}

static void listen_clear(struct config *c)
{
	for (unsigned i = 0; i < c->n_listen; i++)
		if (c->listen[i] != default_listen)
			free(c->listen[i]);
	c->n_listen = 0;
}

void config_done(struct config *c)
{
	if (!c)
		return;
	listen_clear(c);
	free(c->btf);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->basic_auth_user);
	free(c->basic_auth_password_hash);
	free(c->include_comm);
	free(c->exclude_comm);
	if (c->has_include_re)
		regfree(&c->include_re);
	if (c->has_exclude_re)
		regfree(&c->exclude_re);
	config_init(c);
}

void options_done(struct options *o)
{
	if (!o)
		return;
	config_done(&o->flags);
	*o = (struct options){};
	config_init(&o->flags);
}

int config_check_pairs(const struct config *c, const char **ret_set, const char **ret_unset)
{
	const struct {
		bool a, b; /* set or not */
		const char *a_key, *b_key;
	} pairs[] = {
		{c->tls_cert, c->tls_key, "tls_cert", "tls_key"},
		{c->basic_auth_user, c->basic_auth_password_hash, "basic_auth_user",
		 "basic_auth_password_hash"},
	};

	for (size_t i = 0; i < ELEMENTSOF(pairs); i++) {
		if (pairs[i].a == pairs[i].b)
			continue;
		if (ret_set)
			*ret_set = pairs[i].a ? pairs[i].a_key : pairs[i].b_key;
		if (ret_unset)
			*ret_unset = pairs[i].a ? pairs[i].b_key : pairs[i].a_key;
		return -EINVAL;
	}
	return 0;
}

/* Sets *ret to a malloc'd explanation; -EINVAL, or -ENOMEM when even that fails. */
static int __attribute__((format(printf, 2, 3))) why(char **ret, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (r < 0) {
		*ret = NULL;
		return -ENOMEM;
	}
	return -EINVAL;
}

/* The value checks. */

/* Looks like crypt(3) output of a scheme libxcrypt verifies; the value itself is never echoed. */
static bool password_hash_valid(const char *h)
{
	static const char *const prefixes[] = {"$2b$", "$2y$", "$2a$", "$6$", "$5$", "$y$"};
	static const char alphabet[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "abcdefghijklmnopqrstuvwxyz$=,";

	for (size_t i = 0; i < ELEMENTSOF(prefixes); i++) {
		size_t n = strlen(prefixes[i]);
		const char *rest = h + n, *last;

		if (strncmp(h, prefixes[i], n) != 0)
			continue;
		if (rest[strspn(rest, alphabet)])
			return false;
		last = strrchr(rest, '$');
		if (!last || last == rest || !last[1])
			return false; /* wants parameters or salt, then a hash */
		if (h[1] == '2')      /* bcrypt: $2b$NN$ and 53 characters of salt and hash */
			return strlen(h) == 60 && rest[2] == '$';
		return true;
	}
	return false;
}

#define REGEX_MAX_NODES 1000

/*
 * What is wrong with an ERE that glibc's regcomp() would take seconds or gigabytes over, or
 * NULL. regcomp() copies what a repetition repeats ("x{1000}" is a thousand copies, "x+" two),
 * so nested repetitions multiply, and its epsilon closures grow much faster than the copies
 * where repeated parts can match the empty string: "P+++...+" of 100 characters took more
 * than 10 s and 1.4 GiB, "(a*+){999}" 14 s, "((a*)+){400}" 1.3 s (found by fuzzing). Stacked
 * repetition operators are undefined in POSIX EREs anyway; the bound on the copies keeps
 * nesting cheap (a process name has at most 15 bytes: no useful pattern comes near it).
 */
static const char *regex_refusal(const char *p)
{
	double outer[32], total = 0, last = 0;
	bool repeated = false; /* the previous token was a repetition */
	int depth = 0;

	for (; *p; p++) {
		bool repeat = false;

		switch (*p) {
		case '(':
			if (depth == (int)ELEMENTSOF(outer))
				return "groups nested too deep";
			outer[depth++] = total;
			total = last = 0;
			break;
		case ')':
			last = total + 1;
			total = (depth > 0 ? outer[--depth] : 0) + last;
			break;
		case '*':
		case '+':
		case '?':
			total += last;
			last *= 2;
			repeat = true;
			break;
		case '{': {
			char *end;
			unsigned long m = strtoul(p + 1, &end, 10), n = m;

			if (*end == ',')
				n = isdigit((unsigned char)end[1]) ? strtoul(end + 1, &end, 10)
								   : (end++, m + 1);
			if (*end != '}' || !isdigit((unsigned char)p[1])) {
				total += last = 1; /* not an interval: regcomp() decides */
				break;
			}
			total += last * (double)((n > m ? n : m) + 1);
			last *= (double)((n > m ? n : m) + 1);
			p = end;
			repeat = true;
			break;
		}
		case '[': /* one node, however long: "[]a]", "[^]a]", "[[:alpha:]]" */
			p += p[1] == '^';
			p += p[1] == ']';
			while (p[1] && p[1] != ']') {
				const char *close;

				p++;
				if (p[0] == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=') &&
				    (close = strstr(p + 2, (char[]){p[1], ']', 0})))
					p = close + 1;
			}
			if (p[1])
				p++;
			total += last = 1;
			break;
		case '\\':
			p += p[1] != 0;
			total += last = 1;
			break;
		default:
			total += last = 1;
		}
		if (repeat && repeated)
			return "stacked repetition operators (as in 'a+*' or 'a{2}+') are "
			       "undefined in "
			       "POSIX regular expressions: use a group, '(a+)*'";
		repeated = repeat;
		if (total > REGEX_MAX_NODES)
			return "too large once its repetitions are expanded (more than 1000 nodes)";
	}
	return NULL;
}

static int set_regex(char **text, regex_t *re, bool *has, const char *value, char **ret_why)
{
	const char *refusal = regex_refusal(value);
	regex_t n;
	char *s;
	int e;

	if (refusal)
		return why(ret_why, "'%s': %s", value, refusal);
	e = regcomp(&n, value, REG_EXTENDED | REG_NOSUB);
	if (e) {
		char buf[256];

		if (e == REG_ESPACE)
			return -ENOMEM;
		regerror(e, &n, buf, sizeof(buf));
		return why(ret_why, "'%s' is not a regular expression: %s", value, buf);
	}
	s = strdup(value);
	if (!s) {
		regfree(&n);
		return -ENOMEM;
	}
	free(*text);
	if (*has)
		regfree(re);
	*text = s;
	*re = n;
	*has = true;
	return 0;
}

/* Set c->listen to the blank-separated addresses in value, or add them when append is true. */
static int set_listen(struct config *c, const char *value, bool append, char **ret_why)
{
	char *list[CONFIG_MAX_LISTEN];
	struct sockaddr_storage sa[CONFIG_MAX_LISTEN];
	unsigned n = 0, first = append ? c->n_listen : 0;
	const char *p = value, *why_s;
	int r = 0;

	if (append)
		for (unsigned i = 0; i < c->n_listen; i++)
			(void)parse_listen(c->listen[i], &sa[i], NULL, NULL);
	for (;;) {
		size_t len;

		p += strspn(p, " \t");
		len = strcspn(p, " \t");
		if (!len)
			break;
		if (first + n >= CONFIG_MAX_LISTEN) {
			r = why(ret_why, "more than %d addresses", CONFIG_MAX_LISTEN);
			break;
		}
		list[n] = strndup(p, len);
		if (!list[n]) {
			r = -ENOMEM;
			break;
		}
		p += len;
		n++;
		if (parse_listen(list[n - 1], &sa[first + n - 1], NULL, &why_s) < 0) {
			r = why(ret_why,
				"'%s' is not a listen address: %s (HOST:PORT, [IPV6]:PORT or "
				":PORT)",
				list[n - 1], why_s);
			break;
		}
		for (unsigned i = 0; i < first + n - 1; i++)
			if (memcmp(&sa[i], &sa[first + n - 1], sizeof(sa[i])) == 0) {
				r = why(ret_why, "'%s' is listed twice", list[n - 1]);
				break;
			}
		if (r < 0)
			break;
	}
	if (r == 0 && n == 0)
		r = why(ret_why, "empty value");
	if (r < 0) {
		while (n > 0)
			free(list[--n]);
		return r;
	}
	if (!append)
		listen_clear(c);
	memcpy(c->listen + c->n_listen, list, n * sizeof(list[0]));
	c->n_listen += n;
	return 0;
}

/* The parsers of the table. */

static int parse_string(const struct config_item *i, void *base, const char *value, bool append,
			char **ret_why)
{
	char **f = config_item_field(i, base), *s = strdup(value);

	if (!s)
		return -ENOMEM;
	free(*f);
	*f = s;
	return 0;
}

/* The value stays in argv: struct options owns no strings but its flags' config. */
static int parse_argument(const struct config_item *i, void *base, const char *value, bool append,
			  char **ret_why)
{
	*(const char **)config_item_field(i, base) = value;
	return 0;
}

static int parse_interval(const struct config_item *i, void *base, const char *value, bool append,
			  char **ret_why)
{
	uint64_t usec;

	if (parse_duration(value, &usec) < 0)
		return why(ret_why, "'%s' is not a duration (e.g. 1s, 500ms, 2m)", value);
	if (usec < CONFIG_INTERVAL_MIN_USEC || usec > CONFIG_INTERVAL_MAX_USEC)
		return why(ret_why, "'%s' is out of range (" INTERVAL_RANGE ")", value);
	*(uint64_t *)config_item_field(i, base) = usec;
	return 0;
}

/* Into an int or an enum (both int-sized, checked below). */
static int parse_name(const struct config_item *i, void *base, const char *value, bool append,
		      char **ret_why)
{
	const struct config_names *n = i->info;
	int r = n->from_string(value);

	if (r < 0)
		return why(ret_why, "'%s' is not %s (%s)", value, n->what, n->list);
	*(int *)config_item_field(i, base) = r;
	return 0;
}

static int parse_u32(const struct config_item *i, void *base, const char *value, bool append,
		     char **ret_why)
{
	const struct config_range *range = i->info;
	uint64_t n;

	if (parse_unsigned(value, strlen(value), range->max, &n) < 0 || n < range->min)
		return why(ret_why, "'%s' is not a number in %u..%u%s", value, range->min,
			   range->max, range->note);
	*(uint32_t *)config_item_field(i, base) = (uint32_t)n;
	return 0;
}

static int parse_listen_list(const struct config_item *i, void *base, const char *value,
			     bool append, char **ret_why)
{
	return set_listen(base, value, append, ret_why);
}

static int parse_auth_user(const struct config_item *i, void *base, const char *value, bool append,
			   char **ret_why)
{
	if (strchr(value, ':'))
		return why(ret_why, "'%s' contains ':', which a Basic auth user name cannot",
			   value);
	return parse_string(i, base, value, append, ret_why);
}

static int parse_password_hash(const struct config_item *i, void *base, const char *value,
			       bool append, char **ret_why)
{
	if (!password_hash_valid(value))
		return why(ret_why, "not a crypt(3) hash ($2b$, $2y$ or $2a$ bcrypt, $6$ "
				    "sha512crypt, $5$ sha256crypt or $y$ yescrypt; e.g. from "
				    "'htpasswd -nBC 10 USER')");
	return parse_string(i, base, value, append, ret_why);
}

static int parse_regex(const struct config_item *i, void *base, const char *value, bool append,
		       char **ret_why)
{
	const struct config_regex *f = i->info;

	return set_regex(config_item_field(i, base), (regex_t *)((char *)base + f->re),
			 (bool *)((char *)base + f->has), value, ret_why);
}

_Static_assert(sizeof(enum attach_mode) == sizeof(int) && sizeof(enum group_by) == sizeof(int) &&
		       sizeof(enum data_path) == sizeof(int),
	       "parse_name() stores enums as int");

#define KEY(s, k, name) .section = s, .key = k, .offset = offsetof(struct config, name)
#define OPTION(name)	.offset = offsetof(struct options, name)

/*
 * Every setting, in the order --help lists the flags; within a section, in the order the
 * messages list the keys.
 */
const struct config_item config_items[] = {
	{OPTION(config_path), .flag = "config", .short_flag = 'c', .arg = "PATH",
	 .parse = parse_argument,
	 .help = "config file (default " RAWTPD_DEFAULT_CONFIG ")\n"
		 "a missing default file is not an error"},
	{KEY("http", "listen", listen), .flag = "listen", .short_flag = 'l', .arg = "ADDR",
	 .parse = parse_listen_list, .set = OPT_SET_LISTEN, .many = true,
	 .help = "HOST:PORT, [IPV6]:PORT or :PORT (all addresses);\n"
		 "repeatable, replaces the file's list (default " DEFAULT_LISTEN ")"},
	{KEY("bpf", "attach", attach), .flag = "attach", .short_flag = 'a', .arg = "MODE",
	 .parse = parse_name, .set = OPT_SET_ATTACH,
	 .info = &(const struct config_names){attach_mode_from_string, "an attach mode",
					      "auto, tp_btf, raw_tp, tracepoint, kprobe"},
	 .help = "auto, tp_btf, raw_tp, tracepoint or kprobe\n"
		 "(default auto)"},
	{KEY("bpf", "data_path", data_path), .flag = "data-path", .arg = "PATH",
	 .parse = parse_name, .set = OPT_SET_DATA_PATH,
	 .info = &(const struct config_names){data_path_from_string, "a data path",
					      "auto, thread, process"},
	 .help = "auto, thread or process: where the BPF side keeps\n"
		 "the counts (default auto: thread where it can)"},
	{KEY("daemon", "interval", interval_usec), .flag = "interval", .short_flag = 'i',
	 .arg = "DURATION", .parse = parse_interval, .set = OPT_SET_INTERVAL,
	 .help = "aggregation period, " INTERVAL_RANGE " (default 1s)"},
	{KEY("daemon", "log_level", log_level), .flag = "log-level", .arg = "LEVEL",
	 .parse = parse_name, .set = OPT_SET_LOG_LEVEL,
	 .info = &(const struct config_names){log_level_from_string, "a log level",
					      "debug, info, notice, warning, err"},
	 .help = "debug, info, notice, warning or err (default info)"},
	{KEY("bpf", "max_processes", max_processes), .flag = "max-processes", .arg = "N",
	 .parse = parse_u32, .set = OPT_SET_MAX_PROCESSES,
	 .info = &(const struct config_range){CONFIG_MAX_PROCESSES_MIN, CONFIG_MAX_PROCESSES_MAX,
					      ""},
	 .help = "BPF map capacity, " MAX_PROCESSES_RANGE " (default " MAX_PROCESSES_DEFAULT ")"},
	{KEY("bpf", "btf", btf), .flag = "btf", .arg = "PATH", .parse = parse_string,
	 .set = OPT_SET_BTF,
	 .help = "BTF file for kernels without /sys/kernel/btf/vmlinux\n"
		 "(default: the kernel's, then " RAWTPD_BTF_DIR "/RELEASE.btf)"},
	{KEY("http", "tls_cert", tls_cert), .parse = parse_string},
	{KEY("http", "tls_key", tls_key), .parse = parse_string},
	{KEY("http", "basic_auth_user", basic_auth_user), .parse = parse_auth_user},
	{KEY("http", "basic_auth_password_hash", basic_auth_password_hash),
	 .parse = parse_password_hash},
	{KEY("metrics", "group_by", group_by), .flag = "group-by", .arg = "KEY",
	 .parse = parse_name, .set = OPT_SET_GROUP_BY,
	 .info = &(const struct config_names){group_by_from_string, "a grouping",
					      "pid, comm, unit, cgroup"},
	 .help = "pid, comm, unit or cgroup (default pid)"},
	{KEY("metrics", "max_preemption_pairs", max_preemption_pairs),
	 .flag = "max-preemption-pairs", .arg = "N", .parse = parse_u32,
	 .set = OPT_SET_MAX_PREEMPTION_PAIRS, .info = &(const struct config_range){0, 16384, ""},
	 .help = "most pairs of groups shown in rawtpd_preemptions_total,\n"
		 "the rest as [other] (default 100)"},
	{KEY("metrics", "max_series", max_series), .flag = "max-series", .arg = "N",
	 .parse = parse_u32, .set = OPT_SET_MAX_SERIES,
	 .info = &(const struct config_range){0, UINT32_MAX, " (0: unlimited)"},
	 .help = "most processes or names shown, 0: all (default 0)"},
	{KEY("metrics", "include_comm", include_comm), .flag = "include-comm", .arg = "REGEX",
	 .parse = parse_regex, .set = OPT_SET_INCLUDE_COMM,
	 .info = &(const struct config_regex){offsetof(struct config, include_re),
					      offsetof(struct config, has_include_re)},
	 .help = "only processes whose name matches this POSIX\n"
		 "extended regex (default: every process)"},
	{KEY("metrics", "exclude_comm", exclude_comm), .flag = "exclude-comm", .arg = "REGEX",
	 .parse = parse_regex, .set = OPT_SET_EXCLUDE_COMM,
	 .info = &(const struct config_regex){offsetof(struct config, exclude_re),
					      offsetof(struct config, has_exclude_re)},
	 .help = "leave out processes whose name matches\n"
		 "(default: none)"},
	{OPTION(probe), .flag = "probe", .help = "print what this kernel supports, then exit"},
	{OPTION(json), .flag = "json", .help = "with --probe: print JSON"},
	{OPTION(check_config), .flag = "check-config",
	 .help = "check the config file and flags, exit 0 or 2"},
	{OPTION(help), .flag = "help", .short_flag = 'h', .help = "print this help, then exit"},
	{OPTION(version), .flag = "version", .short_flag = 'V',
	 .help = "print the version, then exit"},
};

const size_t config_n_items = ELEMENTSOF(config_items);

_Static_assert(ELEMENTSOF(config_items) <= CONFIG_ITEMS_MAX, "config-file.c counts every item");
/* The flags that set keys keep their text in struct options: the last of each, every --listen. */
_Static_assert(ELEMENTSOF(config_items) + CONFIG_MAX_LISTEN <= OPTIONS_GIVEN_MAX,
	       "OPTIONS_GIVEN_MAX holds every flag's value");

const struct config_item *config_item_by_key(const char *section, const char *key)
{
	for (size_t k = 0; k < ELEMENTSOF(config_items); k++) {
		const struct config_item *i = &config_items[k];

		if (i->key && (!section || strcmp(section, i->section) == 0) &&
		    strcmp(key, i->key) == 0)
			return i;
	}
	return NULL;
}

int config_item_parse(const struct config_item *i, void *base, const char *value, bool append,
		      char **ret_why)
{
	*ret_why = NULL;
	if (!*value)
		return why(ret_why, "empty value");
	return i->parse(i, base, value, append, ret_why);
}

int config_load(const char *path, const struct options *o, struct config *ret, char **ret_error)
{
	const char *p = path ?: RAWTPD_DEFAULT_CONFIG;
	_cleanup_fclose_ FILE *f = NULL;
	char *error = NULL;
	struct config c;
	int r = 0;

	config_init(&c);
	f = fopen(p, "re");
	if (f) {
		r = config_file_parse(f, p, &c, &error);
	} else if (errno != ENOENT || path) {
		r = -errno;
		if (asprintf(&error, "%s: %s", p, strerror(-r)) < 0)
			error = NULL;
	} /* else no file at the default path: the built-in defaults serve */
	if (r == 0 && o)
		r = config_apply_flags(&c, o, &error);
	if (r < 0) {
		config_done(&c);
		if (ret_error)
			*ret_error = error;
		else
			free(error);
		return r;
	}
	*ret = c;
	return 0;
}
