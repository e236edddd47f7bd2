// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "groups.h"
#include "util.h"

/* A group as the table keeps it: found by its key labels, its own copy of every label. */
struct entry {
	struct cgroup_labels cg; /* one allocation at cg.cgroup */
	struct counters c;
	struct counters delta; /* growth in the last update */
	uint64_t hist[GROUPS_HIST_BUCKETS];
	uint64_t hist_count, hist_sum;
	uint64_t exited;
	uint64_t last_grew; /* the update it last grew in */
	uint32_t view_idx;  /* groups_view()'s scratch */
};

/* A cgroup id met before and its group (open addressing; id 0 is never kept). */
struct memo {
	uint64_t id;
	struct entry *e;
};

struct pair {
	struct entry *victim, *by;
	uint64_t count;
};

/* A pair as the BPF side last showed it, and for how many updates it has not grown. */
struct last_pair {
	uint64_t victim, by, count;
	uint32_t idle;
};

/* Updates without growth after which a pair leaves the BPF map (made again when it grows). */
#define PAIRS_IDLE 60

struct groups {
	enum group_by by;
	struct entry **e; /* sorted by key labels */
	size_t n, cap;
	struct memo *memo;
	size_t memo_n, memo_cap; /* memo_cap: a power of two, or 0 */
	struct last_pair *last;	 /* the BPF side's counts at the previous update, sorted */
	size_t n_last;
	struct pair *pairs; /* admitted pairs, sorted by (victim, by) */
	size_t n_pairs, pairs_cap;
	uint64_t other, preemptions;
	uint64_t updates;
	bool latency;
};

static const struct cgroup_labels unknown_labels = {.cgroup = (char *)GROUPS_UNKNOWN,
						    .unit = GROUPS_UNKNOWN,
						    .user_unit = "",
						    .container_id = "",
						    .pod_uid = ""};
static const struct cgroup_labels other_labels = {.cgroup = (char *)GROUPS_OTHER,
						  .unit = GROUPS_OTHER,
						  .user_unit = "",
						  .container_id = "",
						  .pod_uid = ""};

/* The order of groups: by unit and user unit, or by path. */
static int labels_cmp(enum group_by by, const struct cgroup_labels *a,
		      const struct cgroup_labels *b)
{
	if (by == GROUP_BY_CGROUP)
		return strcmp(a->cgroup, b->cgroup);
	return strcmp(a->unit, b->unit) ?: strcmp(a->user_unit, b->user_unit);
}

int groups_new(enum group_by by, struct groups **ret)
{
	struct groups *g;

	if (by != GROUP_BY_UNIT && by != GROUP_BY_CGROUP)
		return -EINVAL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->by = by;
	*ret = g;
	return 0;
}

static void entry_free(struct entry *e)
{
	if (e)
		free(e->cg.cgroup);
	free(e);
}

struct groups *groups_free(struct groups *g)
{
	if (!g)
		return NULL;
	for (size_t i = 0; i < g->n; i++)
		entry_free(g->e[i]);
	free(g->e);
	free(g->memo);
	free(g->last);
	free(g->pairs);
	free(g);
	return NULL;
}

/* Copy l's labels into one allocation; grouped by unit, the path is left out. */
static int labels_copy(enum group_by by, const struct cgroup_labels *l, struct cgroup_labels *ret)
{
	const char *path = by == GROUP_BY_CGROUP ? l->cgroup : "";
	/* by unit, a container id or pod uid is the unit's only where the unit is the container
	 * (docker-ID.scope, cri-containerd-ID.scope); outside any unit it would be one of many */
	bool own = by == GROUP_BY_CGROUP || l->unit[0];
	const char *src[5] = {path, l->unit, l->user_unit, own ? l->container_id : "",
			      own ? l->pod_uid : ""};
	size_t len[5], total = 0;
	char *p;

	for (int i = 0; i < 5; i++)
		total += (len[i] = strlen(src[i])) + 1;
	p = malloc(total);
	if (!p)
		return -ENOMEM;
	ret->cgroup = p;
	for (int i = 0; i < 5; i++) {
		memcpy(p, src[i], len[i] + 1);
		if (i == 1)
			ret->unit = p;
		else if (i == 2)
			ret->user_unit = p;
		else if (i == 3)
			ret->container_id = p;
		else if (i == 4)
			ret->pod_uid = p;
		p += len[i] + 1;
	}
	return 0;
}

/* Position of the group with labels l in g->e, or where it would go (*ret_found false). */
static size_t entry_pos(const struct groups *g, const struct cgroup_labels *l, bool *ret_found)
{
	size_t lo = 0, hi = g->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = labels_cmp(g->by, &g->e[mid]->cg, l);

		if (c == 0) {
			*ret_found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret_found = false;
	return lo;
}

static void memo_clear(struct groups *g)
{
	if (g->memo_cap)
		memset(g->memo, 0, g->memo_cap * sizeof(*g->memo));
	g->memo_n = 0;
}

static struct memo *memo_slot(const struct groups *g, uint64_t id)
{
	size_t mask = g->memo_cap - 1, i = (size_t)(id * 0x9e3779b97f4a7c15ULL) & mask;

	while (g->memo[i].id && g->memo[i].id != id)
		i = (i + 1) & mask;
	return &g->memo[i];
}

/* Remember id's group; a full memo (more ids than 4 x GROUPS_MAX) starts again. */
static void memo_put(struct groups *g, uint64_t id, struct entry *e)
{
	if (!id)
		return;
	if (2 * (g->memo_n + 1) > g->memo_cap) {
		size_t cap = g->memo_cap ? 2 * g->memo_cap : 1024;
		struct memo *old = g->memo, *m;
		size_t old_cap = g->memo_cap;

		if (cap > 8 * GROUPS_MAX) {
			memo_clear(g);
		} else if ((m = calloc(cap, sizeof(*m)))) {
			g->memo = m;
			g->memo_cap = cap;
			g->memo_n = 0;
			for (size_t i = 0; i < old_cap; i++)
				if (old[i].id) {
					*memo_slot(g, old[i].id) = old[i];
					g->memo_n++;
				}
			free(old);
		} else if (!g->memo_cap) {
			return;
		}
	}
	struct memo *s = memo_slot(g, id);

	if (!s->id)
		g->memo_n++;
	*s = (struct memo){id, e};
}

/* Drop every pair of e (it is going). */
static void pairs_drop(struct groups *g, const struct entry *e)
{
	size_t w = 0;

	for (size_t i = 0; i < g->n_pairs; i++)
		if (g->pairs[i].victim != e && g->pairs[i].by != e)
			g->pairs[w++] = g->pairs[i];
	g->n_pairs = w;
}

/*
 * Make room by dropping every group that has not grown for GROUPS_IDLE updates, in one pass (a
 * burst of new cgroups pays for it once, not once each). A group used in this update is never
 * dropped: group_of() marks it. Returns whether any went.
 */
static bool evict_idle(struct groups *g)
{
	size_t w = 0, n = g->n;

	for (size_t i = 0; i < n; i++) {
		struct entry *e = g->e[i];

		if (g->updates - e->last_grew > GROUPS_IDLE) {
			pairs_drop(g, e);
			entry_free(e);
		} else {
			g->e[w++] = e;
		}
	}
	g->n = w;
	if (w == n)
		return false;
	memo_clear(g);
	return true;
}

/* The group of labels l, made if new; NULL without memory. */
static struct entry *entry_get(struct groups *g, const struct cgroup_labels *l)
{
	struct entry *e;
	bool found;
	size_t pos = entry_pos(g, l, &found);

	if (found)
		return g->e[pos];
	if (g->n >= GROUPS_MAX && !evict_idle(g)) {
		if (l != &other_labels)
			return entry_get(g, &other_labels);
	}
	pos = entry_pos(g, l, &found); /* eviction moved things */
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 64;
		struct entry **t = realloc(g->e, cap * sizeof(*t));

		if (!t)
			return NULL;
		g->e = t;
		g->cap = cap;
	}
	e = calloc(1, sizeof(*e));
	if (!e || labels_copy(g->by, l, &e->cg) < 0) {
		free(e);
		return NULL;
	}
	e->last_grew = g->updates;
	memmove(&g->e[pos + 1], &g->e[pos], (g->n - pos) * sizeof(*g->e));
	g->e[pos] = e;
	g->n++;
	return e;
}

/*
 * The group of cgroup id, for growth to be added to it; a cgroup that cannot be named is
 * "[unknown]" (not remembered).
 */
static struct entry *group_of(struct groups *g, const struct groups_input *in, uint64_t id)
{
	const struct cgroup_labels *l = NULL;
	struct entry *e;

	if (id && g->memo_cap) {
		struct memo *m = memo_slot(g, id);

		if (m->id) {
			m->e->last_grew = g->updates;
			return m->e;
		}
	}
	if (id && in->resolve)
		l = in->resolve(in->userdata, id);
	e = entry_get(g, l ?: &unknown_labels);
	if (e && l)
		memo_put(g, id, e);
	if (e) /* only growth comes here: it is used now, and not to be dropped this update */
		e->last_grew = g->updates;
	return e;
}

static bool counters_zero(const struct counters *c)
{
	return !c->voluntary && !c->involuntary && !c->runtime_ns && !c->run_delay_ns;
}

static int add_counters(struct groups *g, const struct groups_input *in, uint64_t id,
			const struct counters *c, bool exit)
{
	struct entry *e;

	if (counters_zero(c) && !exit)
		return 0;
	e = group_of(g, in, id);
	if (!e)
		return -ENOMEM;
	counters_add(&e->c, c);
	counters_add(&e->delta, c);
	e->exited += exit;
	e->last_grew = g->updates;
	return 0;
}

static int add_hist(struct groups *g, const struct groups_input *in, const struct sample_hist *h)
{
	struct entry *e = group_of(g, in, h->cgroup_id);

	if (!e)
		return -ENOMEM;
	for (int b = 0; b < GROUPS_HIST_BUCKETS; b++) {
		e->hist[b] += h->bucket[b];
		e->hist_count += h->bucket[b];
	}
	e->hist_sum += h->sum_ns;
	e->last_grew = g->updates;
	return 0;
}

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;

	if (x->victim != y->victim)
		return x->victim < y->victim ? -1 : 1;
	return (x->by > y->by) - (x->by < y->by);
}

/* One update's growth of a pair of groups, with where it came from. */
struct pair_delta {
	struct entry *victim, *by;
	uint64_t delta;
};

static int delta_desc(const void *a, const void *b)
{
	const struct pair_delta *x = a, *y = b;

	return (x->delta < y->delta) - (x->delta > y->delta);
}

/* Add d to its pair: admitted (largest growth first) while there is room, else "[other]". */
static void pair_add(struct groups *g, const struct pair_delta *d, uint32_t max_pairs)
{
	struct pair key = {d->victim, d->by, 0}, *p;

	g->preemptions += d->delta;
	p = g->n_pairs ? bsearch(&key, g->pairs, g->n_pairs, sizeof(key), pair_cmp) : NULL;
	if (p) {
		p->count += d->delta;
		return;
	}
	if (g->n_pairs >= max_pairs) {
		g->other += d->delta;
		return;
	}
	key.count = d->delta; /* pairs_reserve() made room */
	g->pairs[g->n_pairs++] = key;
	qsort(g->pairs, g->n_pairs, sizeof(*g->pairs), pair_cmp);
}

static int pairs_reserve(struct groups *g, size_t more)
{
	size_t cap = g->pairs_cap ? g->pairs_cap : 64;
	struct pair *t;

	while (cap < g->n_pairs + more)
		cap *= 2;
	if (cap == g->pairs_cap)
		return 0;
	t = realloc(g->pairs, cap * sizeof(*t));
	if (!t)
		return -ENOMEM;
	g->pairs = t;
	g->pairs_cap = cap;
	return 0;
}

/* Pair p as the previous update saw it, or NULL (j: where the search goes on from). */
static const struct last_pair *pair_before(const struct groups *g, const struct sample_pair *p,
					   size_t *j)
{
	while (*j < g->n_last &&
	       sample_pair_cmp(g->last[*j].victim, g->last[*j].by, p->victim, p->by) < 0)
		(*j)++;
	if (*j < g->n_last &&
	    sample_pair_cmp(g->last[*j].victim, g->last[*j].by, p->victim, p->by) == 0)
		return &g->last[*j];
	return NULL;
}

/*
 * The pairs' growth, placed in groups. A pair whose cgroups cannot both be named any more, or
 * that has not grown for PAIRS_IDLE updates, is handed back to be deleted from the map: every
 * pair listed is remembered with the count it showed, so a pair whose deletion failed is not
 * counted again, and one made again after it was deleted is counted from zero.
 */
static int add_pairs(struct groups *g, const struct groups_input *in, struct sample_pair *gone,
		     size_t *n_gone)
{
	_cleanup_free_ struct pair_delta *d = malloc((in->n_pairs + 1) * sizeof(*d));
	_cleanup_free_ struct last_pair *keep = malloc((in->n_pairs + 1) * sizeof(*keep));
	size_t nd = 0, j = 0;

	if (!d || !keep)
		return -ENOMEM;
	for (size_t i = 0; i < in->n_pairs; i++) {
		const struct sample_pair *p = &in->pairs[i];
		const struct last_pair *was = pair_before(g, p, &j);
		uint64_t delta = was && was->count <= p->count ? p->count - was->count : p->count;
		bool known = in->resolve && in->resolve(in->userdata, p->victim) &&
			     in->resolve(in->userdata, p->by);
		struct entry *v, *b;

		keep[i] = (struct last_pair){p->victim, p->by, p->count,
					     delta ? 0 : (was ? was->idle : 0) + 1};
		if (!known || keep[i].idle > PAIRS_IDLE)
			gone[(*n_gone)++] = *p;
		if (!delta)
			continue;
		/* both marked used in this update: neither can be dropped before the pair is in */
		v = group_of(g, in, p->victim);
		b = group_of(g, in, p->by);
		if (!v || !b)
			return -ENOMEM;
		if (v != b)
			d[nd++] = (struct pair_delta){v, b, delta};
	}
	if (pairs_reserve(g, nd) < 0)
		return -ENOMEM;
	qsort(d, nd, sizeof(*d), delta_desc);
	for (size_t i = 0; i < nd; i++)
		pair_add(g, &d[i], in->max_pairs);
	free(g->last);
	g->last = TAKE_PTR(keep);
	g->n_last = in->n_pairs;
	return 0;
}

int groups_update(struct groups *g, const struct groups_input *in, struct sample_pair **ret_gone,
		  size_t *ret_n_gone)
{
	const struct agg_state *st = in->st;
	_cleanup_free_ struct sample_pair *gone = NULL;
	size_t n_gone = 0;
	int r = 0;

	*ret_gone = NULL;
	*ret_n_gone = 0;
	g->updates++;
	g->latency = in->latency;
	for (size_t i = 0; i < g->n; i++)
		g->e[i]->delta = (struct counters){};
	for (size_t i = 0; r >= 0 && i < st->n_procs; i++)
		r = add_counters(g, in, st->procs[i].cgroup_id, &st->procs[i].delta, false);
	for (size_t i = 0; r >= 0 && i < st->n_folds; i++)
		r = add_counters(g, in, st->folds[i].cgroup_id, &st->folds[i].grew,
				 st->folds[i].exit);
	for (size_t i = 0; r >= 0 && i < in->n_hists; i++)
		r = add_hist(g, in, &in->hists[i]);
	if (r >= 0 && in->n_pairs) {
		gone = malloc(in->n_pairs * sizeof(*gone));
		r = gone ? add_pairs(g, in, gone, &n_gone) : -ENOMEM;
	}
	if (r < 0)
		return r;
	if (n_gone) {
		*ret_gone = TAKE_PTR(gone);
		*ret_n_gone = n_gone;
	}
	return 0;
}

struct groups_view *groups_view_ref(struct groups_view *v)
{
	if (v)
		__atomic_add_fetch(&v->n_ref, 1, __ATOMIC_RELAXED);
	return v;
}

void groups_view_unref(struct groups_view *v)
{
	if (!v || __atomic_sub_fetch(&v->n_ref, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < v->n_groups; i++)
		free(v->groups[i].cg.cgroup);
	free(v->groups);
	free(v->pairs);
	free(v);
}

static int pair_count_desc(const void *a, const void *b)
{
	const struct group_pair *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return (x->victim > y->victim) - (x->victim < y->victim)
		       ?: (x->by > y->by) - (x->by < y->by);
}

struct groups_view *groups_view(struct groups *g)
{
	struct groups_view *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->n_ref = 1;
	v->by = g->by;
	v->latency = g->latency;
	v->groups = calloc(g->n + 1, sizeof(*v->groups));
	v->pairs = calloc(g->n_pairs + 1, sizeof(*v->pairs));
	if (!v->groups || !v->pairs)
		goto fail;
	for (size_t i = 0; i < g->n; i++, v->n_groups++) {
		const struct entry *e = g->e[i];
		struct group *o = &v->groups[i];

		if (labels_copy(GROUP_BY_CGROUP, &e->cg, &o->cg) < 0)
			goto fail;
		o->c = e->c;
		o->delta = e->delta;
		memcpy(o->hist, e->hist, sizeof(o->hist));
		o->hist_count = e->hist_count;
		o->hist_sum = e->hist_sum;
		o->exited = e->exited;
		g->e[i]->view_idx = (uint32_t)i;
	}
	for (size_t i = 0; i < g->n_pairs; i++)
		v->pairs[i] = (struct group_pair){.victim = g->pairs[i].victim->view_idx,
						  .by = g->pairs[i].by->view_idx,
						  .count = g->pairs[i].count};
	v->n_pairs = g->n_pairs;
	qsort(v->pairs, v->n_pairs, sizeof(*v->pairs), pair_count_desc);
	v->other_preemptions = g->other;
	v->preemptions = g->preemptions;
	return v;
fail:
	groups_view_unref(v);
	return NULL;
}
