// SPDX-License-Identifier: GPL-2.0-only
/*
 * Reading the config file, with FILE:LINE for whatever is wrong in it.
 *
 * libinih splits the file into sections and "key = value" pairs (ini_parse_stream(), calling
 * handler()). It reads through reader(), which hands it one physical line at a time and does
 * what Debian's libinih cannot be told to do at run time:
 *  - count lines: it is built without INI_HANDLER_LINENO, so the handler would not know the
 *    line of a key, which "first set on line N" and the tls/auth pair checks name;
 *  - refuse NUL bytes (fgets() would end the line there, silently) and lines longer than its
 *    200-byte buffer (it would cut them in two and parse the rest as a line of its own);
 *  - strip leading blanks: it takes an indented line after a key for a continuation of that
 *    key's value (INI_ALLOW_MULTILINE), and an indented key is a key here;
 *  - cut comments at a '#' after a blank (inline comments start with ';' only in inih);
 *  - check [section] headers: inih tells the handler nothing of a header, so an empty unknown
 *    section, or text after the ']', would pass unseen.
 * inih itself skips a UTF-8 byte order mark, but the checks above must look past it too.
 */
#include <ctype.h>
#include <ini.h>
#include <stdarg.h>
#include <string.h>

#include "config-table.h"
#include "util.h"

/* The file's sections, in the order the error messages list them. */
static const char *const sections[] = {"daemon", "bpf", "http", "metrics"};

struct parse_ctx {
	const char *path;
	FILE *f;
	struct config *c;
	char *buf;
	size_t bufsz;
	unsigned line;			     /* the physical line inih has last */
	unsigned key_line[CONFIG_ITEMS_MAX]; /* where each key was set; 0: not set */
	int r;				     /* the first error of the reader or handler */
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
	return parse_name_index(sections, ELEMENTSOF(sections), s, strlen(s)) >= 0;
}

/* The next physical line, NUL-terminated, or NULL at the end, on a read error or a NUL byte. */
static char *read_line(struct parse_ctx *p)
{
	ssize_t n;

	errno = 0;
	n = getline(&p->buf, &p->bufsz, p->f);
	if (n < 0) {
		if (ferror(p->f))
			p->read_errno = errno ?: EIO;
		return NULL;
	}
	p->line++;
	if (strlen(p->buf) != (size_t)n) {
		fail(p, -EINVAL, "line contains a NUL byte");
		return NULL;
	}
	return p->buf;
}

/* What of line s inih gets: no byte order mark, blanks or '#' comment around it. */
static char *strip_line(char *s, bool first)
{
	char *e;

	if (first && strncmp(s, "\xef\xbb\xbf", 3) == 0)
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
	return s;
}

/* A "[name]" header must name a known section and have nothing but a ';' comment after it. */
static int check_section(struct parse_ctx *p, char *s)
{
	char *close = strchr(s, ']');
	const char *after;

	if (*s != '[' || !close)
		return 0; /* without ']' inih reports the syntax error */
	after = close + 1 + strspn(close + 1, " \t");
	*close = 0;
	if (!section_known(s + 1)) {
		char list[64] = "";

		for (size_t i = 0; i < ELEMENTSOF(sections); i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s[%s]",
				 i ? ", " : "", sections[i]);
		fail(p, -EINVAL, "unknown section [%s] (sections: %s)", s + 1, list);
		return -EINVAL;
	}
	if (*after && *after != ';') {
		fail(p, -EINVAL, "unexpected text after [%s]", s + 1);
		return -EINVAL;
	}
	*close = ']';
	return 0;
}

/* inih's fgets(): the next line, as strip_line() leaves it, checked; NULL to stop. */
static char *reader(char *str, int num, void *stream)
{
	struct parse_ctx *p = stream;
	char *s;
	size_t n;

	if (p->r)
		return NULL; /* stop at the first error */
	s = read_line(p);
	if (!s)
		return NULL;
	s = strip_line(s, p->line == 1);
	n = strlen(s);
	/* What inih's fixed buffer holds: the line, '\n' and '\0'. */
	if (n + 2 > (size_t)num) {
		fail(p, -EINVAL, "line is longer than %d characters", num - 2);
		return NULL;
	}
	if (check_section(p, s) < 0)
		return NULL;
	memcpy(str, s, n);
	str[n] = '\n';
	str[n + 1] = 0;
	return str;
}

static int unknown_key(struct parse_ctx *p, const char *section, const char *name)
{
	const struct config_item *other = config_item_by_key(NULL, name);
	char list[256] = "";

	if (!*section && other)
		return fail(p, -EINVAL, "'%s' is outside any section (it belongs in [%s])", name,
			    other->section);
	if (!*section)
		return fail(p, -EINVAL, "'%s' is outside any section", name);
	for (size_t k = 0; k < config_n_items; k++)
		if (config_items[k].key && strcmp(section, config_items[k].section) == 0)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 *list ? ", " : "", config_items[k].key);
	if (other)
		return fail(p, -EINVAL, "unknown key '%s' in [%s] (keys: %s; '%s' belongs in [%s])",
			    name, section, list, name, other->section);
	return fail(p, -EINVAL, "unknown key '%s' in [%s] (keys: %s)", name, section, list);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *p = user;
	const struct config_item *i = *section ? config_item_by_key(section, name) : NULL;
	_cleanup_free_ char *why_s = NULL;
	unsigned *line;
	int r;

	if (p->r)
		return 0;
	if (!i)
		return unknown_key(p, section, name);
	line = &p->key_line[i - config_items];
	if (*line)
		return fail(p, -EINVAL, "duplicate key '%s' in [%s] (first set on line %u)", name,
			    section, *line);
	*line = p->line;
	if (!*value)
		return fail(p, -EINVAL, "%s: empty value (comment the line out for the default)",
			    name);
	r = config_item_parse(i, p->c, value, false, &why_s);
	if (r < 0)
		return fail(p, r, "%s: %s", name, why_s);
	return 1;
}

/* tls_cert and tls_key, basic_auth_user and basic_auth_password_hash: both, or neither. */
static int check_pairs(struct parse_ctx *p)
{
	const char *set, *unset;

	if (config_check_pairs(p->c, &set, &unset) == 0)
		return 0;
	p->line = p->key_line[config_item_by_key(NULL, set) - config_items];
	fail(p, -EINVAL, "%s is set but %s is not (set both, or neither)", set, unset);
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
	return check_pairs(p);
}

int config_file_parse(FILE *f, const char *path, struct config *c, char **ret_error)
{
	struct parse_ctx p = {.path = path, .f = f, .c = c};
	int r = parse_file(&p);

	*ret_error = p.error;
	return r;
}
