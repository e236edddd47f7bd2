// SPDX-License-Identifier: GPL-2.0-only
/*
 * Aggregation is a merge of two lists sorted by key (tgid, start time): the previous state and
 * the new sample. Everything a process ever counted is either in a live record or in the
 * exited totals, so totals only grow.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "escape.h"
#include "util.h"

#define AGG_MAX_GROUPS	16384 /* distinct names of exited processes kept apart */
#define AGG_OTHER_GROUP "[other]"

static int key_cmp(uint32_t at, uint64_t as, uint32_t bt, uint64_t bs)
{
	if (at != bt)
		return at < bt ? -1 : 1;
	if (as != bs)
		return as < bs ? -1 : 1;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct sample_entry *x = a, *y = b;

	return key_cmp(x->tgid, x->start_ns, y->tgid, y->start_ns);
}

static int proc_cmp(const void *a, const void *b)
{
	const struct proc *x = a, *y = b;

	return key_cmp(x->tgid, x->start_ns, y->tgid, y->start_ns);
}

static int agg_key_cmp(const void *a, const void *b)
{
	const struct agg_key *x = a, *y = b;

	return key_cmp(x->tgid, x->start_ns, y->tgid, y->start_ns);
}

static int group_cmp(const void *a, const void *b)
{
	return strcmp(((const struct comm_group *)a)->comm, ((const struct comm_group *)b)->comm);
}

void aggregate_init(struct agg_state *s)
{
	*s = (struct agg_state){};
}

void aggregate_done(struct agg_state *s)
{
	free(s->procs);
	free(s->groups);
	free(s->recent_dead);
	aggregate_init(s);
}

/* Add an exited process's counts to its name's group. groups is kept sorted by comm. */
static int group_add(struct agg_state *s, const char *comm, const struct counters *c, bool exit)
{
	struct comm_group key = {}, *g;

	snprintf(key.comm, sizeof(key.comm), "%s", comm);
	g = s->n_groups ? bsearch(&key, s->groups, s->n_groups, sizeof(*g), group_cmp) : NULL;
	if (!g && s->n_groups >= AGG_MAX_GROUPS) {
		snprintf(key.comm, sizeof(key.comm), "%s", AGG_OTHER_GROUP);
		g = bsearch(&key, s->groups, s->n_groups, sizeof(*g), group_cmp);
	}
	if (!g) {
		struct comm_group *n = realloc(s->groups, (s->n_groups + 1) * sizeof(*n));
		size_t i;

		if (!n)
			return -ENOMEM;
		s->groups = n;
		for (i = s->n_groups; i > 0 && strcmp(n[i - 1].comm, key.comm) > 0; i--)
			n[i] = n[i - 1];
		n[i] = key;
		s->n_groups++;
		g = &n[i];
	}
	counters_add(&g->c, c);
	if (exit)
		g->exited++;
	return 0;
}

static bool is_live(const struct sample *sample, uint32_t tgid)
{
	return sample->n_live &&
	       bsearch(&tgid, sample->live, sample->n_live, sizeof(uint32_t), u32_cmp) != NULL;
}

static bool recently_dead(const struct agg_state *s, uint32_t tgid, uint64_t start_ns)
{
	struct agg_key k = {tgid, start_ns};

	return s->n_recent_dead &&
	       bsearch(&k, s->recent_dead, s->n_recent_dead, sizeof(k), agg_key_cmp) != NULL;
}

int aggregate_update(struct agg_state *s, const struct sample *sample, struct agg_key **ret_dead,
		     size_t *ret_n_dead)
{
	_cleanup_free_ struct sample_entry *e = NULL;
	_cleanup_free_ struct proc *procs = NULL;
	_cleanup_free_ struct agg_key *dead = NULL;
	_cleanup_free_ struct comm_group *groups_backup = NULL;
	size_t ne = sample->n_entries, np = 0, nd = 0, i = 0, j = 0;
	struct counters exited = s->exited;
	uint64_t processes_exited = s->processes_exited;
	double dt;
	int r;

	/* Group changes are applied in place; keep a copy to restore on failure. */
	if (s->n_groups) {
		groups_backup = malloc(s->n_groups * sizeof(*s->groups));
		if (!groups_backup)
			return -ENOMEM;
		memcpy(groups_backup, s->groups, s->n_groups * sizeof(*s->groups));
	}
	size_t n_groups_backup = s->n_groups;

	e = malloc((ne ? ne : 1) * sizeof(*e));
	procs = malloc((ne + s->n_procs + 1) * sizeof(*procs));
	dead = malloc((ne + s->n_procs + 1) * sizeof(*dead));
	if (!e || !procs || !dead)
		return -ENOMEM;
	if (ne)
		memcpy(e, sample->entries, ne * sizeof(*e));
	qsort(e, ne, sizeof(*e), entry_cmp);

	dt = s->mono_ns && sample->mono_ns > s->mono_ns
		     ? (double)(sample->mono_ns - s->mono_ns) / NSEC_PER_SEC
		     : 0.0;

	while (i < s->n_procs || j < ne) {
		const struct proc *old = NULL;
		const struct sample_entry *cur = NULL;
		int c;

		if (i >= s->n_procs)
			c = 1;
		else if (j >= ne)
			c = -1;
		else
			c = key_cmp(s->procs[i].tgid, s->procs[i].start_ns, e[j].tgid,
				    e[j].start_ns);
		if (c <= 0)
			old = &s->procs[i++];
		if (c >= 0)
			cur = &e[j++];

		if (!cur) {
			/* Gone from the map without us deleting it: fold what we last saw. */
			struct counters named = counters_delta(&old->c, &old->named_base);

			counters_add(&exited, &old->c);
			processes_exited++;
			r = group_add(s, old->comm, &named, true);
			if (r < 0)
				goto fail;
			continue;
		}

		/* A later process holding the same tgid means this one has exited. */
		bool superseded = j < ne && e[j].tgid == cur->tgid;
		/* folded last time, and back for a last switch recorded after the deletion */
		bool again = !old && recently_dead(s, cur->tgid, cur->start_ns);
		bool alive = !superseded && !again && is_live(sample, cur->tgid);
		struct proc p;

		if (old) {
			p = *old;
		} else {
			p = (struct proc){.tgid = cur->tgid, .start_ns = cur->start_ns};
			escape_comm(cur->comm, sizeof(cur->comm), p.comm, sizeof(p.comm));
		}

		if (alive) {
			p.delta = old ? counters_delta(&cur->c, &old->c) : cur->c;
			counters_add(&p.c, &p.delta);
			procs[np++] = p;
			continue;
		}

		/* Exited: everything the map holds for it moves into the totals. */
		struct counters fold = cur->c;

		if (old) /* the live record already carried old->c; keep the larger of the two */
			fold = counters_max(&cur->c, &old->c);
		counters_add(&exited, &fold);
		if (!again)
			processes_exited++;
		struct counters named = counters_delta(&fold, &p.named_base);
		r = group_add(s, p.comm, &named, !again);
		if (r < 0)
			goto fail;
		dead[nd++] = (struct agg_key){cur->tgid, cur->start_ns};
	}

	free(s->procs);
	s->procs = TAKE_PTR(procs);
	s->n_procs = np;
	for (size_t k = 0; k < sample->n_renames; k++) {
		const struct sample_rename *rn = &sample->renames[k];

		aggregate_set_comm(s, rn->tgid, rn->start_ns, rn->comm, sizeof(rn->comm));
	}
	free(s->recent_dead);
	s->recent_dead = nd ? TAKE_PTR(dead) : NULL;
	s->n_recent_dead = nd;
	s->exited = exited;
	s->processes_exited = processes_exited;
	s->interval_s = dt;
	s->mono_ns = sample->mono_ns;
	if (sample->map_update_failures > s->map_update_failures)
		s->map_update_failures = sample->map_update_failures;
	s->updates++;

	if (ret_dead) {
		*ret_dead = NULL;
		if (nd) {
			*ret_dead = malloc(nd * sizeof(**ret_dead));
			if (!*ret_dead) {
				/* not deleted now: found again, and folded, as "recently dead" */
				*ret_n_dead = 0;
				return 0;
			}
			memcpy(*ret_dead, s->recent_dead, nd * sizeof(**ret_dead));
		}
		*ret_n_dead = nd;
	}
	return 0;

fail:
	memcpy(s->groups, groups_backup, n_groups_backup * sizeof(*s->groups));
	s->n_groups = n_groups_backup;
	return r;
}

void aggregate_set_comm(struct agg_state *s, uint32_t tgid, uint64_t start_ns, const char *raw,
			size_t len)
{
	struct proc key = {.tgid = tgid, .start_ns = start_ns}, *p;

	p = s->n_procs ? bsearch(&key, s->procs, s->n_procs, sizeof(*p), proc_cmp) : NULL;
	char comm[COMM_TEXT_MAX];

	if (!p)
		return;
	p->comm_from_proc = true;
	if (!raw)
		return;
	escape_comm(raw, len, comm, sizeof(comm));
	if (strcmp(comm, p->comm) == 0)
		return;
	/* Leave what was counted so far with the old name; on failure (no memory) it moves. */
	struct counters so_far = counters_delta(&p->c, &p->named_base);

	if (group_add(s, p->comm, &so_far, false) == 0)
		p->named_base = p->c;
	memcpy(p->comm, comm, sizeof(comm));
}

struct counters aggregate_totals(const struct agg_state *s)
{
	struct counters t = s->exited;

	for (size_t i = 0; i < s->n_procs; i++)
		counters_add(&t, &s->procs[i].c);
	return t;
}
