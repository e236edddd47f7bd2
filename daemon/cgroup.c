// SPDX-License-Identifier: GPL-2.0-only
/* cgroup ids to paths, and paths to labels: see cgroup.h. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cgroup.h"
#include "escape.h"
#include "util.h"

/* --- path to labels ------------------------------------------------------------------- */

struct span {
	const char *p;
	size_t n;
};

static bool ends_with(struct span s, const char *suffix)
{
	size_t k = strlen(suffix);

	return s.n >= k && memcmp(s.p + s.n - k, suffix, k) == 0;
}

static bool starts_with(struct span s, const char *prefix)
{
	size_t k = strlen(prefix);

	return s.n >= k && memcmp(s.p, prefix, k) == 0;
}

static bool is_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return n > 0;
}

/* systemd's unit types, as the last part of a unit name */
static bool is_unit_name(struct span s)
{
	static const char *const types[] = {".service", ".scope",  ".socket", ".mount",
					    ".swap",	".target", ".device", ".automount",
					    ".path",	".timer"};
	const char *dot = NULL;

	for (size_t i = 0; i < s.n; i++)
		if (s.p[i] == '.')
			dot = s.p + i;
	if (!dot || dot == s.p)
		return false;
	for (size_t i = 0; i < ELEMENTSOF(types); i++)
		if ((size_t)(s.p + s.n - dot) == strlen(types[i]) &&
		    memcmp(dot, types[i], strlen(types[i])) == 0)
			return true;
	return false;
}

/* ID of PREFIX<ID>.scope, when ID is 64 hex digits. */
static bool scope_id(struct span s, const char *prefix, struct span *ret)
{
	size_t k = strlen(prefix);

	if (!starts_with(s, prefix) || !ends_with(s, ".scope") || s.n != k + CGROUP_ID_HEX + 6)
		return false;
	if (!is_hex(s.p + k, CGROUP_ID_HEX))
		return false;
	*ret = (struct span){s.p + k, CGROUP_ID_HEX};
	return true;
}

/* A pod uid: 8-4-4-4-12 hex, with sep between the groups ('-', or '_' in a slice name). */
static bool pod_uid(const char *p, size_t n, char sep, char ret[CGROUP_POD_UID_LEN + 1])
{
	static const size_t groups[] = {8, 4, 4, 4, 12};
	size_t at = 0;

	if (n != CGROUP_POD_UID_LEN)
		return false;
	for (size_t g = 0; g < ELEMENTSOF(groups); g++) {
		if (g > 0) {
			if (p[at] != sep)
				return false;
			ret[at] = '-';
			at++;
		}
		if (!is_hex(p + at, groups[g]))
			return false;
		memcpy(ret + at, p + at, groups[g]);
		at += groups[g];
	}
	ret[at] = 0;
	return true;
}

/* The pod uid a component names: kubepods[-QOS]-pod<UID>.slice, or pod<UID> (cgroupfs). */
static bool component_pod(struct span s, char ret[CGROUP_POD_UID_LEN + 1])
{
	const char *pod;

	if (starts_with(s, "kubepods") && ends_with(s, ".slice")) {
		pod = memmem(s.p, s.n, "-pod", 4);
		return pod && pod_uid(pod + 4, (size_t)(s.p + s.n - 6 - (pod + 4)), '_', ret);
	}
	return starts_with(s, "pod") && pod_uid(s.p + 3, s.n - 3, '-', ret);
}

/* Escape raw into the block at *at (room checked by the caller), advance *at; the text. */
static const char *put(char **at, const char *raw, size_t n)
{
	char *out = *at;
	/* escape_comm stops at a NUL: cgroup names cannot hold one */
	size_t l = escape_comm(raw, n, out, 4 * n + 1);

	*at += l + 1;
	return out;
}

int cgroup_path_labels(const char *path, size_t len, struct cgroup_labels *ret)
{
	struct span unit = {0}, user_unit = {0}, cid = {0}, parent = {0};
	char pod[CGROUP_POD_UID_LEN + 1] = "";
	bool cut = len > CGROUP_PATH_MAX, in_user = false, unit_done = false;
	size_t i = 0, size;
	char *block, *at;

	if (cut)
		len = CGROUP_PATH_MAX;
	while (i < len) {
		struct span c;

		while (i < len && path[i] == '/')
			i++;
		c.p = path + i;
		while (i < len && path[i] != '/')
			i++;
		c.n = (size_t)(path + i - c.p);
		if (!c.n)
			break;
		/* systemd's rule: slices are skipped; the first other component is the unit */
		if (!unit_done && !ends_with(c, ".slice")) {
			if (!in_user && is_unit_name(c)) {
				unit = c;
				if (starts_with(c, "user@") && ends_with(c, ".service"))
					in_user = true;
				else
					unit_done = true;
			} else if (in_user) {
				if (is_unit_name(c))
					user_unit = c;
				unit_done = true;
			} else {
				unit_done = true;
			}
		}
		/* container runtimes: the last id wins (a container inside a pod) */
		struct span id;

		if (scope_id(c, "docker-", &id) || scope_id(c, "cri-containerd-", &id) ||
		    scope_id(c, "crio-", &id) || scope_id(c, "libpod-", &id))
			cid = id;
		else if (c.n == CGROUP_ID_HEX && is_hex(c.p, c.n) && parent.n &&
			 (starts_with(parent, "docker") || starts_with(parent, "kubepods") ||
			  starts_with(parent, "pod") || starts_with(parent, "libpod_parent")))
			cid = c;
		component_pod(c, pod);
		parent = c;
	}

	size = 4 * (len + 3) + 1 + 4 * (unit.n + user_unit.n) + 2 + CGROUP_ID_HEX + 1 +
	       CGROUP_POD_UID_LEN + 1 + 8;
	block = malloc(size);
	if (!block)
		return -ENOMEM;
	at = block;
	if (len == 0 || path[0] != '/') {
		*at++ = '/';
	}
	{
		/* the path itself, then "..." when it was cut */
		size_t l = escape_comm(path, len, at, 4 * len + 1);

		at += l;
		if (cut) {
			memcpy(at, "...", 3);
			at += 3;
		}
		*at++ = 0;
	}
	ret->cgroup = block;
	ret->unit = put(&at, unit.p ? unit.p : "", unit.n);
	ret->user_unit = put(&at, user_unit.p ? user_unit.p : "", user_unit.n);
	ret->container_id = put(&at, cid.p ? cid.p : "", cid.n);
	ret->pod_uid = put(&at, pod, strlen(pod));
	return 0;
}

/* --- the cache ------------------------------------------------------------------------ */

#include <fts.h>

struct cgroup_entry {
	uint64_t id;
	struct cgroup_labels labels;
};

#define CGROUP_MISSES_MAX 4096

struct cgroup_table {
	int n_ref;
	struct cgroup_entry *e; /* sorted by id */
	size_t n;
};

struct cgroup_cache {
	char root[256];		  /* the cgroup2 mount, "" without one */
	struct cgroup_table *cur; /* NULL before the first walk */
	/* ids looked up and not found since the last walk; those the last walk did not find
	 * either do not ask for another (a cgroup that is gone stays gone) */
	uint64_t miss[CGROUP_MISSES_MAX], gone[CGROUP_MISSES_MAX];
	size_t n_miss, n_gone;
};

static int entry_cmp(const void *a, const void *b)
{
	const struct cgroup_entry *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void entries_free(struct cgroup_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].labels.cgroup);
	free(e);
}

/* The first cgroup2 mount in mountinfo (fields: ... mount-point ... - fstype ...). */
static int find_cgroup2(char *ret, size_t size)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - "), *mnt, *save = NULL;

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8) != 0)
			continue;
		strtok_r(line, " ", &save); /* mount id */
		strtok_r(NULL, " ", &save); /* parent */
		strtok_r(NULL, " ", &save); /* major:minor */
		strtok_r(NULL, " ", &save); /* root */
		mnt = strtok_r(NULL, " ", &save);
		if (mnt && strlen(mnt) < size && !strchr(mnt, '\\')) { /* no octal escapes */
			snprintf(ret, size, "%s", mnt);
			return 0;
		}
	}
	return -ENOENT;
}

int cgroup_cache_new(const char *root, struct cgroup_cache **ret)
{
	struct cgroup_cache *c = calloc(1, sizeof(*c));
	int r = 0;

	if (!c)
		return -ENOMEM;
	if (root && root[0])
		snprintf(c->root, sizeof(c->root), "%s", root);
	else
		r = find_cgroup2(c->root, sizeof(c->root));
	if (r < 0)
		c->root[0] = 0;
	*ret = c;
	return r < 0 ? -ENOENT : 0;
}

void cgroup_table_unref(struct cgroup_table *t)
{
	if (t && __atomic_sub_fetch(&t->n_ref, 1, __ATOMIC_ACQ_REL) == 0) {
		entries_free(t->e, t->n);
		free(t);
	}
}

struct cgroup_table *cgroup_cache_table(struct cgroup_cache *c)
{
	if (!c || !c->cur)
		return NULL;
	__atomic_add_fetch(&c->cur->n_ref, 1, __ATOMIC_RELAXED);
	return c->cur;
}

struct cgroup_cache *cgroup_cache_free(struct cgroup_cache *c)
{
	if (c) {
		cgroup_table_unref(c->cur);
		free(c);
	}
	return NULL;
}

const char *cgroup_cache_root(const struct cgroup_cache *c)
{
	return c->root;
}

static bool in_list(const uint64_t *l, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (l[i] == id)
			return true;
	return false;
}

const struct cgroup_labels *cgroup_cache_get(struct cgroup_cache *c, uint64_t id)
{
	struct cgroup_entry key = {.id = id}, *e;

	if (!c->root[0] || !id)
		return NULL;
	e = c->cur && c->cur->n ? bsearch(&key, c->cur->e, c->cur->n, sizeof(key), entry_cmp)
				: NULL;
	if (e)
		return &e->labels;
	if (c->n_miss < CGROUP_MISSES_MAX && !in_list(c->gone, c->n_gone, id) &&
	    !in_list(c->miss, c->n_miss, id))
		c->miss[c->n_miss++] = id;
	return NULL;
}

int cgroup_cache_refresh(struct cgroup_cache *c)
{
	char *const paths[] = {c->root, NULL};
	struct cgroup_entry *e = NULL;
	struct cgroup_table *t;
	size_t n = 0, cap = 0, root_len = strlen(c->root);
	bool complete = true; /* every directory was read */
	FTSENT *ent;
	FTS *fts;
	int r = 0;

	if (!c->root[0])
		return -ENOENT;
	if (!c->n_miss)
		return c->cur ? (int)c->cur->n : 0;
	fts = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR | FTS_XDEV, NULL);
	if (!fts)
		return -errno;
	while ((ent = fts_read(fts))) {
		if (ent->fts_info == FTS_DNR || ent->fts_info == FTS_ERR)
			complete = false;
		if (ent->fts_info != FTS_D)
			continue;
		if (n == cap) {
			struct cgroup_entry *grown;

			if (cap >= CGROUP_CACHE_MAX) {
				complete = false;
				break;
			}
			cap = cap ? 2 * cap : 256;
			grown = realloc(e, cap * sizeof(*grown));
			if (!grown) {
				r = -ENOMEM;
				break;
			}
			e = grown;
		}
		e[n].id = (uint64_t)ent->fts_statp->st_ino;
		/* the path below the mount, "/" for its root */
		if (cgroup_path_labels(ent->fts_path + root_len, ent->fts_pathlen - root_len,
				       &e[n].labels) < 0) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	fts_close(fts);
	t = r < 0 ? NULL : malloc(sizeof(*t));
	if (!t) {
		entries_free(e, n);
		return r < 0 ? r : -ENOMEM;
	}
	qsort(e, n, sizeof(*e), entry_cmp);
	*t = (struct cgroup_table){.n_ref = 1, .e = e, .n = n};
	cgroup_table_unref(c->cur);
	c->cur = t;
	/* what was missed and is still not there is gone, if the walk saw everything */
	c->n_gone = 0;
	for (size_t i = 0; complete && i < c->n_miss; i++) {
		struct cgroup_entry key = {.id = c->miss[i]};

		if (!n || !bsearch(&key, e, n, sizeof(key), entry_cmp))
			c->gone[c->n_gone++] = c->miss[i];
	}
	c->n_miss = 0;
	return (int)n;
}
