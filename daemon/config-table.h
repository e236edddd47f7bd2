/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The table of settings: what config.c (which holds it, with the parsers and config_load()),
 * config-file.c (the file's keys) and config-argv.c (the flags and --help) share. Private to
 * those three.
 */
#ifndef RAWTPD_CONFIG_TABLE_H
#define RAWTPD_CONFIG_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

struct config_item;

/*
 * Check value and store it in the setting's field, base + item->offset (base is the struct
 * config for a key, the struct options for a command-line option only). append: a flag given
 * again adds to what the earlier ones gave. 0, or -EINVAL with *ret_why a malloc'd phrase
 * saying what is wrong, or -ENOMEM.
 */
typedef int (*config_parser)(const struct config_item *item, void *base, const char *value,
			     bool append, char **ret_why);

struct config_item {
	const char *section, *key; /* in the file; NULL: a command-line option only */
	const char *flag;	   /* the long option; NULL: a file key only */
	char short_flag;	   /* the one-letter option, or 0 */
	const char *arg;	   /* what --help calls the flag's value; NULL: it takes none */
	config_parser parse;	   /* NULL: a flag with no value, setting a bool */
	size_t offset;		   /* of the field parse() sets */
	const void *info;	   /* what parse() needs besides the field: names, limits */
	uint32_t set;		   /* OPT_SET_* bit of a flag that sets a key */
	bool many;		   /* each time the flag is given adds to a list */
	const char *help;	   /* --help's text for the flag, '\n' between lines */
};

/* Every setting, in the order --help lists the flags. */
#define CONFIG_ITEMS_MAX 32
extern const struct config_item config_items[];
extern const size_t config_n_items;

/* Where the setting i keeps its value, base being what config_parser says. */
static inline void *config_item_field(const struct config_item *i, void *base)
{
	return (char *)base + i->offset;
}

/* The key in [section] (any section when NULL), or NULL. */
const struct config_item *config_item_by_key(const char *section, const char *key);

/* i->parse() on a value that is not empty ("empty value" otherwise). 0, -EINVAL or -ENOMEM. */
int config_item_parse(const struct config_item *i, void *base, const char *value, bool append,
		      char **ret_why);

/* config-file.c: read the file f (named path in messages) into c. See config_load(). */
int config_file_parse(FILE *f, const char *path, struct config *c, char **ret_error);

/* config-argv.c: the values of the flags in o, over what c has. See config_load(). */
int config_apply_flags(struct config *c, const struct options *o, char **ret_error);

#endif
