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

static int entry_cmp(const void *a, const void *b)
{
	const struct sample_entry *x = a, *y = b;

	return agg_key_cmp(x->tgid, x->start_ns, y->tgid, y->start_ns);
}

static int proc_cmp(const void *a, const void *b)
{
	const struct proc *x = a, *y = b;

	return agg_key_cmp(x->tgid, x->start_ns, y->tgid, y->start_ns);
}

static int dead_key_cmp(const void *a, const void *b)
{
	const struct agg_key *x = a, *y = b;

	return agg_key_cmp(x->tgid, x->start_ns, y->tgid, y->start_ns);
}

static int group_cmp(const void *a, const void *b)
{
	return strcmp(((const struct comm_group *)a)->comm, ((const struct comm_group *)b)->comm);
}

void aggregate_sort_entries(struct sample_entry *e, size_t n)
{
	if (n) /* e may be NULL then */
		qsort(e, n, sizeof(*e), entry_cmp);
}

void aggregate_init(struct agg_state *s)
{
	*s = (struct agg_state){};
}

void aggregate_done(struct agg_state *s)
{
	free(s->procs);
	free(s->spare);
	free(s->groups);
	free(s->recent_dead);
	free(s->folds);
	aggregate_init(s);
}

static struct comm_group *group_find(const struct agg_state *s, const char *comm)
{
	struct comm_group key = {};

	snprintf(key.comm, sizeof(key.comm), "%s", comm);
	return s->n_groups ? bsearch(&key, s->groups, s->n_groups, sizeof(key), group_cmp) : NULL;
}

/*
 * Add an exited process's counts to its name's group, kept sorted by comm. Fails (-ENOMEM) only
 * when a new group needs more room than groups_reserve() made.
 */
static int group_add(struct agg_state *s, const char *comm, const struct counters *c, bool exit)
{
	struct comm_group *g = group_find(s, comm);

	if (!g && s->n_groups >= AGG_MAX_GROUPS) {
		comm = AGG_OTHER_GROUP;
		g = group_find(s, comm);
	}
	if (!g) {
		size_t i;

		if (s->n_groups == s->groups_cap) {
			g = realloc(s->groups, (s->n_groups + 1) * sizeof(*g));
			if (!g)
				return -ENOMEM;
			s->groups = g;
			s->groups_cap = s->n_groups + 1;
		}
		for (i = s->n_groups; i > 0 && strcmp(s->groups[i - 1].comm, comm) > 0; i--)
			s->groups[i] = s->groups[i - 1];
		g = &s->groups[i];
		*g = (struct comm_group){};
		snprintf(g->comm, sizeof(g->comm), "%s", comm);
		s->n_groups++;
	}
	counters_add(&g->c, c);
	if (exit)
		g->exited++;
	return 0;
}

/*
 * Room in s->groups for every group the folds and the renames can add (one each at most: the
 * name, or "[other]"), so that adding them cannot fail.
 */
static int groups_reserve(struct agg_state *s, const struct agg_fold *f, size_t n, size_t n_renames)
{
	size_t need = s->n_groups + n_renames;
	struct comm_group *g;

	for (size_t i = 0; i < n; i++)
		if (!group_find(s, f[i].comm))
			need++;
	if (need <= s->groups_cap)
		return 0;
	g = realloc(s->groups, need * sizeof(*g));
	if (!g)
		return -ENOMEM;
	s->groups = g;
	s->groups_cap = need;
	return 0;
}

/*
 * Names. The BPF side notes a process's name at its first switch and, where the attach mode has
 * a rename hook, every rename after it (sample->renames); /proc is read where that is not
 * enough. Everything that decides the name a process shows is in this section.
 */

/* A process seen for the first time takes the name the BPF side saw. */
static void name_new(struct proc *p, const struct sample_entry *e)
{
	escape_comm(e->comm, sizeof(e->comm), p->comm, sizeof(p->comm));
}

/* p's name from raw (len bytes; NULL: keep the one it has), read from /proc from now on. */
static void proc_set_comm(struct agg_state *s, struct proc *p, const char *raw, size_t len)
{
	char comm[COMM_TEXT_MAX];

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

void aggregate_set_comm(struct agg_state *s, uint32_t tgid, uint64_t start_ns, const char *raw,
			size_t len)
{
	struct proc key = {.tgid = tgid, .start_ns = start_ns}, *p;

	p = s->n_procs ? bsearch(&key, s->procs, s->n_procs, sizeof(*p), proc_cmp) : NULL;
	if (p)
		proc_set_comm(s, p, raw, len);
}

/* The renames the BPF side saw, in order; after too many at once, every name is read again. */
static void apply_renames(struct agg_state *s, const struct sample *sample)
{
	for (size_t k = 0; k < sample->n_renames; k++) {
		const struct sample_rename *rn = &sample->renames[k];

		aggregate_set_comm(s, rn->tgid, rn->start_ns, rn->comm, sizeof(rn->comm));
	}
	s->renames_lost = sample->renames_lost;
	for (size_t i = 0; s->renames_lost && i < s->n_procs; i++)
		s->procs[i].comm_from_proc = false;
}

void aggregate_read_names(struct agg_state *s, const struct agg_names *n)
{
	if (n->renames_tracked && !s->renames_lost)
		return;
	for (size_t i = 0; i < s->n_procs; i++) {
		struct proc *p = &s->procs[i];
		char comm[COMM_RAW_LEN];
		size_t len;

		if (p->comm_from_proc)
			continue;
		if (n->read_comm(n->userdata, p->tgid, comm, &len) == 0)
			proc_set_comm(s, p, comm, len);
		else /* gone, or unreadable: keep the name the BPF side saw */
			proc_set_comm(s, p, NULL, 0);
	}
	s->renames_lost = false;
}

/* The merge of the state and a sample, in two steps: merge_sample() and merge_commit(). */

static bool is_live(const struct sample *sample, uint32_t tgid)
{
	return sample->n_live &&
	       bsearch(&tgid, sample->live, sample->n_live, sizeof(uint32_t), u32_cmp) != NULL;
}

static bool recently_dead(const struct agg_state *s, uint32_t tgid, uint64_t start_ns)
{
	struct agg_key k = {tgid, start_ns};

	return s->n_recent_dead &&
	       bsearch(&k, s->recent_dead, s->n_recent_dead, sizeof(k), dead_key_cmp) != NULL;
}

/*
 * What an update makes of the state, built beside it: every allocation is made before the state
 * changes at all, so a failure leaves it exactly as it was.
 */
struct merge {
	struct proc *procs; /* the live processes, sorted by key */
	size_t n_procs;
	struct agg_key *dead; /* exited, to be deleted from the map; sorted */
	size_t n_dead;
	struct agg_fold *folds; /* in the order of the merge */
	size_t n_folds, folds_cap;
	struct counters exited;
	uint64_t processes_exited;
};

static void merge_done(struct merge *m)
{
	free(m->dead); /* procs is the state's spare array */
	free(m->folds);
}

static int fold_add(struct merge *m, const char *comm, struct counters c, bool exit,
		    uint64_t cgroup_id, struct counters grew)
{
	if (m->n_folds == m->folds_cap) {
		size_t cap = m->folds_cap ? 2 * m->folds_cap : 64;
		struct agg_fold *f = realloc(m->folds, cap * sizeof(*f));

		if (!f)
			return -ENOMEM;
		m->folds = f;
		m->folds_cap = cap;
	}
	m->folds[m->n_folds] =
		(struct agg_fold){.c = c, .exit = exit, .cgroup_id = cgroup_id, .grew = grew};
	snprintf(m->folds[m->n_folds].comm, sizeof(m->folds[m->n_folds].comm), "%s", comm);
	m->n_folds++;
	return 0;
}

/* A process gone from the map without being deleted: fold what was last seen of it. */
static int merge_vanished(const struct sample *sample, struct merge *m, const struct proc *old)
{
	if (sample->exits_reported && old->missing < AGG_MISSING_MAX) {
		struct proc p = *old;

		p.missing++;
		p.delta = (struct counters){};
		m->procs[m->n_procs++] = p;
		return 0;
	}
	counters_add(&m->exited, &old->c);
	m->processes_exited++;
	return fold_add(m, old->comm, counters_delta(&old->c, &old->named_base), true,
			old->cgroup_id, (struct counters){});
}

/*
 * A process the map shows (cur), known before (old) or new; next is the entry after cur in the
 * sorted sample. It lives on, or it has exited and everything the map holds for it is folded.
 */
static int merge_entry(const struct agg_state *s, const struct sample *sample, struct merge *m,
		       const struct proc *old, const struct sample_entry *cur,
		       const struct sample_entry *next)
{
	/* A later process holding the same tgid means this one has exited; where entries say
	 * when they ended (exits_reported), an entry still holds its threads' counts until then:
	 * folding it at the reuse would count them again when it ends */
	bool superseded = !sample->exits_reported && next && next->tgid == cur->tgid;
	/* folded last time, and back for a last switch recorded after the deletion */
	bool again = !old && recently_dead(s, cur->tgid, cur->start_ns);
	bool alive = !superseded && !again &&
		     (sample->exits_reported ? !cur->exited : is_live(sample, cur->tgid));
	struct counters fold;
	struct proc p;
	int r;

	if (old) {
		p = *old;
	} else {
		p = (struct proc){.tgid = cur->tgid, .start_ns = cur->start_ns};
		name_new(&p, cur);
	}

	p.missing = 0;
	if (cur->cgroup_id)
		p.cgroup_id = cur->cgroup_id;
	if (alive) {
		p.delta = old ? counters_delta(&cur->c, &old->c) : cur->c;
		counters_add(&p.c, &p.delta);
		m->procs[m->n_procs++] = p;
		return 0;
	}

	/* The live record already carried old->c: keep the larger of the two. */
	fold = old ? counters_max(&cur->c, &old->c) : cur->c;
	counters_add(&m->exited, &fold);
	if (!again)
		m->processes_exited++;
	r = fold_add(m, p.comm, counters_delta(&fold, &p.named_base), !again, p.cgroup_id,
		     old ? counters_delta(&fold, &old->c) : cur->c);
	if (r < 0)
		return r;
	m->dead[m->n_dead++] = (struct agg_key){cur->tgid, cur->start_ns};
	return 0;
}

/* The sample's entries, sorted by key, in *ret (malloc'd). */
static int sorted_entries(const struct sample *sample, struct sample_entry **ret)
{
	size_t n = sample->n_entries;
	struct sample_entry *e = malloc((n ? n : 1) * sizeof(*e));

	if (!e)
		return -ENOMEM;
	if (n)
		memcpy(e, sample->entries, n * sizeof(*e));
	aggregate_sort_entries(e, n);
	*ret = e;
	return 0;
}

/*
 * Room in the spare array for need processes. It is kept from update to update (grown, or
 * shrunk once it is four times what is needed), so the pages stay faulted in.
 */
static int spare_reserve(struct agg_state *s, size_t need)
{
	struct proc *t;

	if (s->spare_cap >= need && (s->spare_cap <= 4 * need || s->spare_cap <= 1024))
		return 0;
	t = realloc(s->spare, need * sizeof(*t));
	if (!t)
		return s->spare_cap >= need ? 0 : -ENOMEM; /* not shrunk: no harm */
	s->spare = t;
	s->spare_cap = need;
	return 0;
}

/* Merge the state's processes with the sample's entries, both sorted by key, into m. */
static int merge_sample(struct agg_state *s, const struct sample *sample, struct merge *m)
{
	_cleanup_free_ struct sample_entry *owned = NULL;
	const struct sample_entry *e;
	size_t ne = sample->n_entries, i = 0, j = 0;
	int r;

	if (sample->sorted) {
		e = sample->entries;
	} else {
		r = sorted_entries(sample, &owned);
		if (r < 0)
			return r;
		e = owned;
	}
	r = spare_reserve(s, ne + s->n_procs + 1);
	if (r < 0)
		return r;
	m->procs = s->spare;
	m->dead = malloc((ne + s->n_procs + 1) * sizeof(*m->dead));
	if (!m->dead)
		return -ENOMEM;
	m->exited = s->exited;
	m->processes_exited = s->processes_exited;

	while (i < s->n_procs || j < ne) {
		const struct proc *old = NULL;
		const struct sample_entry *cur = NULL;
		int c;

		if (i >= s->n_procs)
			c = 1;
		else if (j >= ne)
			c = -1;
		else
			c = agg_key_cmp(s->procs[i].tgid, s->procs[i].start_ns, e[j].tgid,
					e[j].start_ns);
		if (c <= 0)
			old = &s->procs[i++];
		if (c >= 0)
			cur = &e[j++];

		if (cur)
			r = merge_entry(s, sample, m, old, cur, j < ne ? &e[j] : NULL);
		else
			r = merge_vanished(sample, m, old);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Make m the state. Cannot fail: groups_reserve() made room for every new group. */
static void merge_commit(struct agg_state *s, const struct sample *sample, struct merge *m)
{
	struct proc *old = s->procs;
	size_t old_cap = s->procs_cap;

	s->procs = TAKE_PTR(m->procs);
	s->procs_cap = s->spare_cap;
	s->n_procs = m->n_procs;
	s->spare = old;
	s->spare_cap = old_cap;
	for (size_t k = 0; k < m->n_folds; k++)
		(void)group_add(s, m->folds[k].comm, &m->folds[k].c, m->folds[k].exit);
	free(s->folds);
	s->folds = TAKE_PTR(m->folds);
	s->n_folds = m->n_folds;
	apply_renames(s, sample);
	free(s->recent_dead);
	s->recent_dead = m->n_dead ? TAKE_PTR(m->dead) : NULL;
	s->n_recent_dead = m->n_dead;
	s->exited = m->exited;
	s->processes_exited = m->processes_exited;
	s->interval_s = s->mono_ns && sample->mono_ns > s->mono_ns
				? (double)(sample->mono_ns - s->mono_ns) / NSEC_PER_SEC
				: 0.0;
	s->mono_ns = sample->mono_ns;
	s->map_entries = sample->map_entries;
	if (sample->map_update_failures > s->map_update_failures)
		s->map_update_failures = sample->map_update_failures;
	s->updates++;
}

/*
 * A copy of the keys this merge folded, for the caller to delete from the map; made before the
 * merge is committed, so that no memory for it means no update at all. (Committed without it,
 * nothing would be deleted, and the next update would fold the entries again as "recently
 * dead": counted twice.)
 */
static int copy_dead(const struct merge *m, struct agg_key **ret)
{
	*ret = NULL;
	if (!m->n_dead)
		return 0;
	*ret = malloc(m->n_dead * sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	memcpy(*ret, m->dead, m->n_dead * sizeof(**ret));
	return 0;
}

int aggregate_update(struct agg_state *s, const struct sample *sample, struct agg_key **ret_dead,
		     size_t *ret_n_dead)
{
	_cleanup_(merge_done) struct merge m = {};
	struct agg_key *dead = NULL;
	int r;

	r = merge_sample(s, sample, &m);
	if (r >= 0)
		r = groups_reserve(s, m.folds, m.n_folds, sample->n_renames);
	if (r >= 0 && ret_dead)
		r = copy_dead(&m, &dead);
	if (r < 0)
		return r;
	if (ret_dead) {
		*ret_dead = dead;
		*ret_n_dead = m.n_dead;
	}
	merge_commit(s, sample, &m);
	return 0;
}

enum agg_map_event aggregate_map_episode(struct agg_state *s, uint32_t capacity)
{
	enum agg_map_event e = AGG_MAP_QUIET;

	if (s->map_update_failures > s->map_failures_seen) {
		if (!s->map_full)
			e = AGG_MAP_FULL;
		s->map_full = true;
	} else if (s->map_full && s->map_entries < capacity) {
		e = AGG_MAP_ROOM;
		s->map_full = false;
	}
	s->map_failures_seen = s->map_update_failures;
	return e;
}

struct counters aggregate_totals(const struct agg_state *s)
{
	struct counters t = s->exited;

	for (size_t i = 0; i < s->n_procs; i++)
		counters_add(&t, &s->procs[i].c);
	return t;
}
