// SPDX-License-Identifier: GPL-2.0-only
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "series.h"
#include "util.h"

static bool comm_selected(const struct config *cfg, const char *comm)
{
	if (cfg->has_include_re && regexec(&cfg->include_re, comm, 0, NULL, 0) != 0)
		return false;
	if (cfg->has_exclude_re && regexec(&cfg->exclude_re, comm, 0, NULL, 0) == 0)
		return false;
	return true;
}

static int series_key(const void *a, const void *b);

static int series_cpu_desc(const void *a, const void *b)
{
	const struct snapshot_series *x = a, *y = b;

	if (x->c.runtime_ns != y->c.runtime_ns)
		return x->c.runtime_ns > y->c.runtime_ns ? -1 : 1;
	return series_key(a, b);
}

static int series_key(const void *a, const void *b)
{
	const struct snapshot_series *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	/* groups are in the view's order (by their labels) */
	return strcmp(x->comm, y->comm) ?: (x->group > y->group) - (x->group < y->group);
}

/* One series per name: s sorted by comm, then runs of the same name summed. Returns the count. */
static size_t group_by_comm(struct snapshot_series *s, size_t n)
{
	size_t k = 0;

	qsort(s, n, sizeof(*s), series_key);
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && strcmp(s[k - 1].comm, s[i].comm) == 0) {
			counters_add(&s[k - 1].c, &s[i].c);
		} else {
			s[k++] = s[i];
		}
	}
	return k;
}

/*
 * Live processes and the groups of exited ones, summed by name (O(n log n)), then filtered.
 * Returns how many series there are; *ret_total: how many before the filter.
 */
static size_t by_comm(const struct agg_state *st, const struct config *cfg,
		      struct snapshot_series *s, size_t *ret_total)
{
	size_t n = 0, k = 0;

	for (size_t i = 0; i < st->n_procs; i++, n++) {
		const struct proc *p = &st->procs[i];

		/* what it counted under earlier names is in those names' groups */
		s[n] = (struct snapshot_series){.c = counters_delta(&p->c, &p->named_base)};
		memcpy(s[n].comm, p->comm, sizeof(s[n].comm));
	}
	for (size_t i = 0; i < st->n_groups; i++, n++) {
		s[n] = (struct snapshot_series){.c = st->groups[i].c};
		memcpy(s[n].comm, st->groups[i].comm, sizeof(s[n].comm));
	}
	n = group_by_comm(s, n);
	*ret_total = n;
	for (size_t i = 0; i < n; i++)
		if (comm_selected(cfg, s[i].comm))
			s[k++] = s[i];
	return k;
}

/* One series per live process whose name passes the filter. */
static size_t by_pid(const struct agg_state *st, const struct config *cfg,
		     struct snapshot_series *s)
{
	size_t n = 0;

	for (size_t i = 0; i < st->n_procs; i++) {
		const struct proc *p = &st->procs[i];

		if (!comm_selected(cfg, p->comm))
			continue;
		s[n] = (struct snapshot_series){
			.pid = p->tgid, .c = p->c, .cgroup_id = p->cgroup_id};
		memcpy(s[n].comm, p->comm, sizeof(p->comm));
		n++;
	}
	return n;
}

size_t series_max(const struct agg_state *st, const struct groups_view *v)
{
	return st->n_procs + st->n_groups + (v ? v->n_groups : 0) + 1;
}

/* One series per group (unit or cgroup), exited processes included. */
static size_t by_group(const struct groups_view *v, struct snapshot_series *s)
{
	size_t n = 0;

	for (size_t i = 0; v && i < v->n_groups; i++, n++)
		s[n] = (struct snapshot_series){
			.c = v->groups[i].c, .cg = &v->groups[i].cg, .group = &v->groups[i]};
	return n;
}

size_t series_build(const struct agg_state *st, const struct groups_view *v,
		    const struct config *cfg, struct snapshot_series *s, uint64_t *ret_dropped)
{
	size_t n, total = st->n_procs;

	if (cfg->group_by == GROUP_BY_COMM) {
		n = by_comm(st, cfg, s, &total);
	} else if (cfg->group_by == GROUP_BY_UNIT || cfg->group_by == GROUP_BY_CGROUP) {
		n = total = by_group(v, s);
	} else {
		n = by_pid(st, cfg, s);
	}

	if (cfg->max_series && n > cfg->max_series) {
		qsort(s, n, sizeof(*s), series_cpu_desc);
		n = cfg->max_series;
		qsort(s, n, sizeof(*s), series_key);
	}
	*ret_dropped = total - n;
	return n;
}
