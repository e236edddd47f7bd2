// SPDX-License-Identifier: GPL-2.0-only
/*
 * Configuration: built-in defaults, then the INI file, then the command-line flags.
 *
 * The file goes through libinih's ini_parse_stream() with our own line reader rather than
 * ini_parse_file(): Debian's libinih is built without INI_HANDLER_LINENO, so the reader counts
 * physical lines and the handler knows the line it is looking at. The reader also strips
 * leading blanks (so an indented key is never taken for a continuation of the previous value),
 * checks [section] headers (an empty unknown section is still an error) and refuses lines
 * longer than inih's fixed buffer instead of letting inih silently cut them in two.
 */
#include <ctype.h>
#include <getopt.h>
#include <ini.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "log.h"
#include "rawtpd-config.h"
#include "util.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)

/* The default listen entry is not allocated, so config_init() cannot fail. */
static const char default_listen[] = ":" STRINGIFY(RAWTPD_DEFAULT_PORT);

enum key {
	KEY_INTERVAL,
	KEY_LOG_LEVEL,
	KEY_ATTACH,
	KEY_MAX_PROCESSES,
	KEY_LISTEN,
	KEY_TLS_CERT,
	KEY_TLS_KEY,
	KEY_BASIC_AUTH_USER,
	KEY_BASIC_AUTH_PASSWORD_HASH,
	KEY_GROUP_BY,
	KEY_MAX_SERIES,
	KEY_INCLUDE_COMM,
	KEY_EXCLUDE_COMM,
	_KEY_MAX,
};

static const char *const sections[] = {"daemon", "bpf", "http", "metrics"};

static const struct key_info {
	const char *section, *name;
	const char *flag; /* the long option that sets it too, or NULL */
	uint32_t set;	  /* its OPT_SET_* bit */
} keys[_KEY_MAX] = {
	[KEY_INTERVAL] = {"daemon", "interval", "interval", OPT_SET_INTERVAL},
	[KEY_LOG_LEVEL] = {"daemon", "log_level", "log-level", OPT_SET_LOG_LEVEL},
	[KEY_ATTACH] = {"bpf", "attach", "attach", OPT_SET_ATTACH},
	[KEY_MAX_PROCESSES] = {"bpf", "max_processes", "max-processes", OPT_SET_MAX_PROCESSES},
	[KEY_LISTEN] = {"http", "listen", "listen", OPT_SET_LISTEN},
	[KEY_TLS_CERT] = {"http", "tls_cert", NULL, 0},
	[KEY_TLS_KEY] = {"http", "tls_key", NULL, 0},
	[KEY_BASIC_AUTH_USER] = {"http", "basic_auth_user", NULL, 0},
	[KEY_BASIC_AUTH_PASSWORD_HASH] = {"http", "basic_auth_password_hash", NULL, 0},
	[KEY_GROUP_BY] = {"metrics", "group_by", "group-by", OPT_SET_GROUP_BY},
	[KEY_MAX_SERIES] = {"metrics", "max_series", "max-series", OPT_SET_MAX_SERIES},
	[KEY_INCLUDE_COMM] = {"metrics", "include_comm", "include-comm", OPT_SET_INCLUDE_COMM},
	[KEY_EXCLUDE_COMM] = {"metrics", "exclude_comm", "exclude-comm", OPT_SET_EXCLUDE_COMM},
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

/* Sets *why to a malloc'd explanation; -EINVAL, or -ENOMEM when even that fails. */
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

static int set_string(char **field, const char *value)
{
	char *s = strdup(value);

	if (!s)
		return -ENOMEM;
	free(*field);
	*field = s;
	return 0;
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
	regex_t n;
	char *s;
	int e;

	if (regex_refusal(value))
		return why(ret_why, "'%s': %s", value, regex_refusal(value));
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

/* Parse value for key into c. 0, or -EINVAL with *ret_why saying what is wrong, or -ENOMEM. */
static int config_set(struct config *c, enum key k, const char *value, bool append, char **ret_why)
{
	uint64_t n, usec;
	int r;

	*ret_why = NULL;
	if (!*value)
		return why(ret_why, "empty value");

	switch (k) {
	case KEY_INTERVAL:
		if (parse_duration(value, &usec) < 0)
			return why(ret_why, "'%s' is not a duration (e.g. 1s, 500ms, 2m)", value);
		if (usec < CONFIG_INTERVAL_MIN_USEC || usec > CONFIG_INTERVAL_MAX_USEC)
			return why(ret_why, "'%s' is out of range (100ms..1h)", value);
		c->interval_usec = usec;
		return 0;
	case KEY_LOG_LEVEL:
		r = log_level_from_string(value);
		if (r < 0)
			return why(ret_why,
				   "'%s' is not a log level (debug, info, notice, warning, err)",
				   value);
		c->log_level = r;
		return 0;
	case KEY_ATTACH:
		r = attach_mode_from_string(value);
		if (r < 0)
			return why(ret_why,
				   "'%s' is not an attach mode (auto, tp_btf, raw_tp, tracepoint, "
				   "kprobe)",
				   value);
		c->attach = r;
		return 0;
	case KEY_MAX_PROCESSES:
		if (parse_unsigned(value, strlen(value), UINT32_MAX, &n) < 0 ||
		    n < CONFIG_MAX_PROCESSES_MIN || n > CONFIG_MAX_PROCESSES_MAX)
			return why(ret_why, "'%s' is not a number in %u..%u", value,
				   CONFIG_MAX_PROCESSES_MIN, CONFIG_MAX_PROCESSES_MAX);
		c->max_processes = (uint32_t)n;
		return 0;
	case KEY_LISTEN:
		return set_listen(c, value, append, ret_why);
	case KEY_TLS_CERT:
		return set_string(&c->tls_cert, value);
	case KEY_TLS_KEY:
		return set_string(&c->tls_key, value);
	case KEY_BASIC_AUTH_USER:
		if (strchr(value, ':'))
			return why(ret_why,
				   "'%s' contains ':', which a Basic auth user name cannot", value);
		return set_string(&c->basic_auth_user, value);
	case KEY_BASIC_AUTH_PASSWORD_HASH:
		if (!password_hash_valid(value))
			return why(ret_why,
				   "not a crypt(3) hash ($2b$, $2y$ or $2a$ bcrypt, $6$ "
				   "sha512crypt, $5$ sha256crypt or $y$ yescrypt; e.g. from "
				   "'htpasswd -nBC 10 USER')");
		return set_string(&c->basic_auth_password_hash, value);
	case KEY_GROUP_BY:
		r = group_by_from_string(value);
		if (r < 0)
			return why(ret_why, "'%s' is not a grouping (pid, comm)", value);
		c->group_by = r;
		return 0;
	case KEY_MAX_SERIES:
		if (parse_unsigned(value, strlen(value), UINT32_MAX, &n) < 0)
			return why(ret_why, "'%s' is not a number in 0..%u (0: unlimited)", value,
				   UINT32_MAX);
		c->max_series = (uint32_t)n;
		return 0;
	case KEY_INCLUDE_COMM:
		return set_regex(&c->include_comm, &c->include_re, &c->has_include_re, value,
				 ret_why);
	case KEY_EXCLUDE_COMM:
		return set_regex(&c->exclude_comm, &c->exclude_re, &c->has_exclude_re, value,
				 ret_why);
	default:
		return -EINVAL;
	}
}

/* Parsing the file. */

struct parse_ctx {
	const char *path;
	FILE *f;
	struct config *c;
	char *buf;
	size_t bufsz;
	unsigned line;		     /* physical line the reader handed to inih last */
	unsigned key_line[_KEY_MAX]; /* where each key was set; 0: not set */
	int r;			     /* first error found by the reader or the handler */
	unsigned error_line;
	char *error;
	int read_errno;
};

static int __attribute__((format(printf, 3, 4)))
fail(struct parse_ctx *p, int r, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;

	if (p->r)
		return 0;
	p->r = r;
	p->error_line = p->line;
	if (r == -ENOMEM)
		return 0;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg || asprintf(&p->error, "%s:%u: %s", p->path, p->line, msg) < 0) {
		p->error = NULL;
		p->r = -ENOMEM;
	}
	return 0; /* what an inih handler returns for an error */
}

static bool section_known(const char *s)
{
	for (size_t i = 0; i < ELEMENTSOF(sections); i++)
		if (strcmp(s, sections[i]) == 0)
			return true;
	return false;
}

static char *reader(char *str, int num, void *stream)
{
	struct parse_ctx *p = stream;
	char *s, *e;
	ssize_t n;

	if (p->r)
		return NULL; /* stop at the first error */
	errno = 0;
	n = getline(&p->buf, &p->bufsz, p->f);
	if (n < 0) {
		if (ferror(p->f))
			p->read_errno = errno ?: EIO;
		return NULL;
	}
	p->line++;
	s = p->buf;
	if (strlen(s) != (size_t)n) {
		fail(p, -EINVAL, "line contains a NUL byte");
		return NULL;
	}
	if (p->line == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3; /* UTF-8 byte order mark */
	s += strspn(s, " \t\v\f\r");
	e = s + strlen(s);
	if (*s != '#' && *s != ';') /* '#' after a blank starts a comment, as ';' does in inih */
		for (char *h = s + 1; h < e; h++)
			if (*h == '#' && isblank((unsigned char)h[-1])) {
				e = h;
				break;
			}
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	*e = 0;
	/* What inih's fixed buffer holds: the line, '\n' and '\0'. */
	if (e - s + 2 > num) {
		fail(p, -EINVAL, "line is longer than %d characters", num - 2);
		return NULL;
	}

	if (*s == '[') {
		char *close = strchr(s, ']');

		if (close) { /* without ']' inih reports the syntax error */
			const char *after = close + 1 + strspn(close + 1, " \t");

			*close = 0;
			if (!section_known(s + 1)) {
				fail(p, -EINVAL,
				     "unknown section [%s] (sections: [daemon], [bpf], [http], "
				     "[metrics])",
				     s + 1);
				return NULL;
			}
			if (*after && *after != ';') {
				fail(p, -EINVAL, "unexpected text after [%s]", s + 1);
				return NULL;
			}
			*close = ']';
		}
	}
	memcpy(str, s, (size_t)(e - s));
	str[e - s] = '\n';
	str[e - s + 1] = 0;
	return str;
}

static int key_lookup(const char *section, const char *name)
{
	for (int k = 0; k < _KEY_MAX; k++)
		if ((!section || strcmp(section, keys[k].section) == 0) &&
		    strcmp(name, keys[k].name) == 0)
			return k;
	return -1;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *p = user;
	_cleanup_free_ char *why_s = NULL;
	char list[256] = "";
	int k, other, r;

	if (p->r)
		return 0;
	other = key_lookup(NULL, name);
	if (!*section) {
		if (other >= 0)
			return fail(p, -EINVAL, "'%s' is outside any section (it belongs in [%s])",
				    name, keys[other].section);
		return fail(p, -EINVAL, "'%s' is outside any section", name);
	}
	k = key_lookup(section, name);
	if (k < 0) {
		for (int i = 0; i < _KEY_MAX; i++)
			if (strcmp(section, keys[i].section) == 0)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 *list ? ", " : "", keys[i].name);
		if (other >= 0)
			return fail(p, -EINVAL,
				    "unknown key '%s' in [%s] (keys: %s; '%s' belongs in [%s])",
				    name, section, list, name, keys[other].section);
		return fail(p, -EINVAL, "unknown key '%s' in [%s] (keys: %s)", name, section, list);
	}
	if (p->key_line[k])
		return fail(p, -EINVAL, "duplicate key '%s' in [%s] (first set on line %u)", name,
			    section, p->key_line[k]);
	p->key_line[k] = p->line;
	if (!*value)
		return fail(p, -EINVAL, "%s: empty value (comment the line out for the default)",
			    name);
	r = config_set(p->c, k, value, false, &why_s);
	if (r < 0)
		return fail(p, r, "%s: %s", name, why_s);
	return 1;
}

/* Both of a pair, or neither. */
static int check_pair(struct parse_ctx *p, enum key a, enum key b)
{
	if (!p->key_line[a] == !p->key_line[b])
		return 0;
	if (!p->key_line[a]) {
		enum key t = a;

		a = b;
		b = t;
	}
	p->line = p->key_line[a];
	fail(p, -EINVAL, "%s is set but %s is not (set both, or neither)", keys[a].name,
	     keys[b].name);
	return p->r;
}

static int parse_file(struct parse_ctx *p)
{
	int n;

	n = ini_parse_stream(reader, p, handler, p);
	free(p->buf);
	p->buf = NULL;
	if (p->read_errno) {
		free(p->error);
		p->error = NULL;
		p->r = -p->read_errno;
		if (asprintf(&p->error, "%s: %s", p->path, strerror(p->read_errno)) < 0)
			p->error = NULL;
		return p->r;
	}
	if (n == -2)
		return -ENOMEM;
	if (n > 0 && (!p->r || (unsigned)n < p->error_line)) {
		/* A line inih could not parse, before any error of ours. */
		free(p->error);
		p->error = NULL;
		p->line = (unsigned)n;
		p->r = 0;
		fail(p, -EINVAL, "expected '[section]' or 'key = value'");
		return p->r;
	}
	if (p->r)
		return p->r;
	if (check_pair(p, KEY_TLS_CERT, KEY_TLS_KEY) < 0)
		return p->r;
	return check_pair(p, KEY_BASIC_AUTH_USER, KEY_BASIC_AUTH_PASSWORD_HASH);
}

static int apply_flags(struct config *c, const struct options *o, char **ret_error)
{
	const struct config *f = &o->flags;
	int r = 0;

	if (o->set & OPT_SET_INTERVAL)
		c->interval_usec = f->interval_usec;
	if (o->set & OPT_SET_LOG_LEVEL)
		c->log_level = f->log_level;
	if (o->set & OPT_SET_ATTACH)
		c->attach = f->attach;
	if (o->set & OPT_SET_MAX_PROCESSES)
		c->max_processes = f->max_processes;
	if (o->set & OPT_SET_GROUP_BY)
		c->group_by = f->group_by;
	if (o->set & OPT_SET_MAX_SERIES)
		c->max_series = f->max_series;

	/* Strings were checked when the flags were parsed; copied (regexes compiled) again here. */
	for (enum key k = 0; k < _KEY_MAX && r == 0; k++) {
		_cleanup_free_ char *why_s = NULL;

		if (!(o->set & keys[k].set))
			continue;
		if (k == KEY_LISTEN)
			for (unsigned i = 0; i < f->n_listen && r == 0; i++)
				r = config_set(c, k, f->listen[i], i > 0, &why_s);
		else if (k == KEY_INCLUDE_COMM && f->include_comm)
			r = config_set(c, k, f->include_comm, false, &why_s);
		else if (k == KEY_EXCLUDE_COMM && f->exclude_comm)
			r = config_set(c, k, f->exclude_comm, false, &why_s);
		if (r == -EINVAL && asprintf(ret_error, "--%s: %s", keys[k].flag, why_s) < 0)
			*ret_error = NULL;
	}
	return r;
}

int config_load(const char *path, const struct options *o, struct config *ret, char **ret_error)
{
	struct config c;
	struct parse_ctx p = {.path = path ?: RAWTPD_DEFAULT_CONFIG, .c = &c};
	_cleanup_fclose_ FILE *f = NULL;
	int r = 0;

	config_init(&c);
	f = fopen(p.path, "re");
	if (!f) {
		r = -errno;
		if (r == -ENOENT && !path)
			r = 0; /* no file at the default path: the built-in defaults serve */
		else if (asprintf(&p.error, "%s: %s", p.path, strerror(-r)) < 0)
			p.error = NULL;
	} else {
		p.f = f;
		r = parse_file(&p);
	}
	if (r == 0 && o)
		r = apply_flags(&c, o, &p.error);
	if (r < 0) {
		config_done(&c);
		if (ret_error)
			*ret_error = p.error;
		else
			free(p.error);
		return r;
	}
	*ret = c;
	return 0;
}

/* The command line. */

enum {
	ARG_KEY = 0x100, /* ARG_KEY + KEY_*: a flag that sets a config key */
	ARG_PROBE = 0x200,
	ARG_JSON,
	ARG_CHECK_CONFIG,
};

static const struct option long_options[] = {
	{"config", required_argument, NULL, 'c'},
	{"listen", required_argument, NULL, 'l'},
	{"attach", required_argument, NULL, 'a'},
	{"interval", required_argument, NULL, 'i'},
	{"log-level", required_argument, NULL, ARG_KEY + KEY_LOG_LEVEL},
	{"max-processes", required_argument, NULL, ARG_KEY + KEY_MAX_PROCESSES},
	{"group-by", required_argument, NULL, ARG_KEY + KEY_GROUP_BY},
	{"max-series", required_argument, NULL, ARG_KEY + KEY_MAX_SERIES},
	{"include-comm", required_argument, NULL, ARG_KEY + KEY_INCLUDE_COMM},
	{"exclude-comm", required_argument, NULL, ARG_KEY + KEY_EXCLUDE_COMM},
	{"probe", no_argument, NULL, ARG_PROBE},
	{"json", no_argument, NULL, ARG_JSON},
	{"check-config", no_argument, NULL, ARG_CHECK_CONFIG},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{}};

static const char *long_name(int val)
{
	for (const struct option *l = long_options; l->name; l++)
		if (l->val == val)
			return l->name;
	return NULL;
}

static int __attribute__((format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("rawtpd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'rawtpd --help'.\n", stderr);
	return -EINVAL;
}

int config_parse_argv(int argc, char **argv, struct options *ret)
{
	struct options o = {};
	int c, r = 0;

	config_init(&o.flags);
	optind = 0; /* glibc: start over, so this can be called more than once */
	while (r == 0 && (c = getopt_long(argc, argv, ":c:l:a:i:hV", long_options, NULL)) != -1) {
		_cleanup_free_ char *why_s = NULL;
		enum key k;

		switch (c) {
		case 'c':
			if (!*optarg)
				r = usage_error("--config: empty value");
			o.config_path = optarg;
			continue;
		case 'l':
			k = KEY_LISTEN;
			break;
		case 'a':
			k = KEY_ATTACH;
			break;
		case 'i':
			k = KEY_INTERVAL;
			break;
		case ARG_PROBE:
			o.probe = true;
			continue;
		case ARG_JSON:
			o.json = true;
			continue;
		case ARG_CHECK_CONFIG:
			o.check_config = true;
			continue;
		case 'h':
			o.help = true;
			continue;
		case 'V':
			o.version = true;
			continue;
		case ':':
			r = usage_error("--%s needs a value", long_name(optopt) ?: "?");
			continue;
		case '?':
			if (optopt && long_name(optopt))
				r = usage_error("--%s takes no value", long_name(optopt));
			else if (optopt)
				r = usage_error("unknown option '-%c'", optopt);
			else
				r = usage_error("unknown or ambiguous option '%s'",
						argv[optind - 1]);
			continue;
		default:
			if (c < ARG_KEY || c >= ARG_KEY + _KEY_MAX) {
				r = -EINVAL;
				continue;
			}
			k = (enum key)(c - ARG_KEY);
			break;
		}
		r = config_set(&o.flags, k, optarg, o.set & keys[k].set, &why_s);
		if (r == -ENOMEM)
			fputs("rawtpd: out of memory\n", stderr);
		else if (r < 0)
			r = usage_error("--%s: %s", keys[k].flag, why_s);
		o.set |= keys[k].set;
	}
	if (r == 0 && optind < argc)
		r = usage_error("unexpected argument '%s'", argv[optind]);
	if (r < 0) {
		options_done(&o);
		return r;
	}
	*ret = o;
	return 0;
}

void config_print_help(const char *argv0)
{
	const char *name = argv0 && strrchr(argv0, '/') ? strrchr(argv0, '/') + 1 : argv0;

	printf("Usage: %s [OPTION]...\n"
	       "Count context switches and CPU time per process from the scheduler's\n"
	       "sched_switch hook; serve them over HTTP as Prometheus metrics and JSON.\n"
	       "\n"
	       "  -c, --config PATH         config file (default %s)\n"
	       "                            a missing default file is not an error\n"
	       "  -l, --listen ADDR         HOST:PORT, [IPV6]:PORT or :PORT (all addresses);\n"
	       "                            repeatable, replaces the file's list (default %s)\n"
	       "  -a, --attach MODE         auto, tp_btf, raw_tp, tracepoint or kprobe\n"
	       "                            (default %s)\n"
	       "  -i, --interval DURATION   aggregation period, 100ms..1h (default 1s)\n"
	       "      --log-level LEVEL     debug, info, notice, warning or err (default %s)\n"
	       "      --max-processes N     BPF map capacity, %u..%u (default %u)\n"
	       "      --group-by KEY        pid or comm (default %s)\n"
	       "      --max-series N        most processes or names shown, 0: all (default 0)\n"
	       "      --include-comm REGEX  only processes whose name matches this POSIX\n"
	       "                            extended regex (default: every process)\n"
	       "      --exclude-comm REGEX  leave out processes whose name matches\n"
	       "                            (default: none)\n"
	       "      --probe               print what this kernel supports, then exit\n"
	       "      --json                with --probe: print JSON\n"
	       "      --check-config        check the config file and flags, exit 0 or 2\n"
	       "  -h, --help                print this help, then exit\n"
	       "  -V, --version             print the version, then exit\n"
	       "\n"
	       "Flags override the config file; SIGHUP re-reads it. Exit status: 0 after\n"
	       "a clean stop, 1 on failure, 2 for bad usage or configuration.\n",
	       name && *name ? name : "rawtpd", RAWTPD_DEFAULT_CONFIG, default_listen,
	       attach_mode_to_string(ATTACH_AUTO), log_level_to_string(LOG_INFO),
	       CONFIG_MAX_PROCESSES_MIN, CONFIG_MAX_PROCESSES_MAX, CONFIG_MAX_PROCESSES_DEFAULT,
	       group_by_to_string(GROUP_BY_PID));
}
