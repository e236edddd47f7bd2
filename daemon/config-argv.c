// SPDX-License-Identifier: GPL-2.0-only
/*
 * The command line: getopt_long() over the options in the table of settings, the flags' values
 * kept for config_load() to apply over the file, and --help.
 */
#include <getopt.h>
#include <stdarg.h>
#include <string.h>

#include "config-table.h"
#include "util.h"

/* Flags win over the file: their values, parsed again into c in the order they were given. */
int config_apply_flags(struct config *c, const struct options *o, char **ret_error)
{
	uint32_t done = 0;

	for (unsigned g = 0; g < o->n_given; g++) {
		const struct config_item *i = &config_items[o->given[g].item];
		_cleanup_free_ char *why_s = NULL;
		int r;

		r = config_item_parse(i, c, o->given[g].value, done & i->set, &why_s);
		done |= i->set;
		if (r == -EINVAL && asprintf(ret_error, "--%s: %s", i->flag, why_s) < 0)
			*ret_error = NULL;
		if (r < 0)
			return r;
	}
	return 0;
}

/* getopt_long()'s value for config_items[k] without a short option: ARG_ITEM + k */
#define ARG_ITEM 0x100

static int item_val(const struct config_item *i)
{
	return i->short_flag ?: ARG_ITEM + (int)(i - config_items);
}

static const struct config_item *item_by_val(int val)
{
	for (size_t k = 0; k < config_n_items; k++)
		if (config_items[k].flag && item_val(&config_items[k]) == val)
			return &config_items[k];
	return NULL;
}

/* getopt_long()'s options and short option string, from the table. */
static void getopt_table(struct option *ret_long, char *ret_short)
{
	*ret_short++ = ':'; /* report a missing value as ':', print nothing */
	for (size_t k = 0; k < config_n_items; k++) {
		const struct config_item *i = &config_items[k];

		if (!i->flag)
			continue;
		*ret_long++ = (struct option){i->flag, i->arg ? required_argument : no_argument,
					      NULL, item_val(i)};
		if (i->short_flag) {
			*ret_short++ = i->short_flag;
			if (i->arg)
				*ret_short++ = ':';
		}
	}
	*ret_long = (struct option){};
	*ret_short = 0;
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

/* What getopt_long() returned ':' or '?' for. */
static int bad_option(int c, char **argv)
{
	const struct config_item *i = item_by_val(optopt);

	if (c == ':')
		return usage_error("--%s needs a value", i ? i->flag : "?");
	if (optopt && i)
		return usage_error("--%s takes no value", i->flag);
	if (optopt)
		return usage_error("unknown option '-%c'", optopt);
	return usage_error("unknown or ambiguous option '%s'", argv[optind - 1]);
}

/* Keep the text of a flag that sets a key for config_load(): the last of each, all of a list. */
static void remember(struct options *o, const struct config_item *i, const char *value)
{
	unsigned k = (unsigned)(i - config_items), g = 0;

	if (!i->many)
		while (g < o->n_given && o->given[g].item != k)
			g++;
	if (i->many || g == o->n_given)
		g = o->n_given++;
	o->given[g].item = k;
	o->given[g].value = value;
}

static int set_flag(struct options *o, const struct config_item *i, const char *value)
{
	_cleanup_free_ char *why_s = NULL;
	int r;

	if (!i->parse) {
		*(bool *)config_item_field(i, o) = true;
		return 0;
	}
	r = config_item_parse(i, i->key ? (void *)&o->flags : (void *)o, value, o->set & i->set,
			      &why_s);
	if (r == -ENOMEM) {
		fputs("rawtpd: out of memory\n", stderr);
		return r;
	}
	if (r < 0)
		return usage_error("--%s: %s", i->flag, why_s);
	if (i->key)
		remember(o, i, value);
	o->set |= i->set;
	return 0;
}

int config_parse_argv(int argc, char **argv, struct options *ret)
{
	struct option long_options[CONFIG_ITEMS_MAX + 1];
	char short_options[2 * CONFIG_ITEMS_MAX + 2];
	struct options o = {};
	int c, r = 0;

	getopt_table(long_options, short_options);
	config_init(&o.flags);
	optind = 0; /* glibc: start over, so this can be called more than once */
	while (r == 0 && (c = getopt_long(argc, argv, short_options, long_options, NULL)) != -1) {
		const struct config_item *i = item_by_val(c);

		if (c == ':' || c == '?')
			r = bad_option(c, argv);
		else
			r = i ? set_flag(&o, i, optarg) : -EINVAL;
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

/* "  -c, --config PATH         config file ...", the help's further lines under the first (a
 * flag too long for its column has all its help under it). */
static void print_flag_help(const struct config_item *i)
{
	char left[32];

	snprintf(left, sizeof(left), "--%s%s%s", i->flag, i->arg ? " " : "", i->arg ?: "");
	if (i->short_flag)
		printf("  -%c, %-22s", i->short_flag, left);
	else
		printf("      %-22s", left);
	if (strlen(left) > 21) /* no room for the gap: the help starts under the column */
		printf("\n%28s", "");
	for (const char *l = i->help;;) {
		size_t n = strcspn(l, "\n");

		printf("%.*s\n", (int)n, l);
		if (!l[n])
			break;
		l += n + 1;
		printf("%28s", "");
	}
}

void config_print_help(const char *argv0)
{
	const char *name = argv0 && strrchr(argv0, '/') ? strrchr(argv0, '/') + 1 : argv0;

	printf("Usage: %s [OPTION]...\n"
	       "Count context switches and CPU time per process from the scheduler's\n"
	       "sched_switch hook; serve them over HTTP as Prometheus metrics and JSON.\n"
	       "\n",
	       name && *name ? name : "rawtpd");
	for (size_t k = 0; k < config_n_items; k++)
		if (config_items[k].help)
			print_flag_help(&config_items[k]);
	fputs("\n"
	      "Flags override the config file; SIGHUP re-reads it. Exit status: 0 after\n"
	      "a clean stop, 1 on failure, 2 for bad usage or configuration.\n",
	      stdout);
}
