// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "render-json.h"
#include "render-prom.h"
#include "series.h"
#include "snapshot.h"
#include "util.h"

struct snapshot_store {
	pthread_mutex_t lock;
	struct snapshot *latest;
};

enum {
	BODY_NONE = 0,
	BODY_DONE = 1,
	BODY_FAILED = 2,
};

static void blob_free(struct blob *b)
{
	free(b->data);
	*b = (struct blob){};
}

struct snapshot *snapshot_ref(struct snapshot *s)
{
	if (s)
		__atomic_add_fetch(&s->n_ref, 1, __ATOMIC_RELAXED);
	return s;
}

struct snapshot *snapshot_unref(struct snapshot *s)
{
	if (!s || __atomic_sub_fetch(&s->n_ref, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	free(s->procs);
	free(s->series);
	cgroup_table_unref(s->cgroups);
	for (int b = 0; b < BODY_MAX; b++) {
		blob_free(&s->body[b]);
		pthread_mutex_destroy(&s->body_lock[b]);
	}
	free(s);
	return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct snapshot *, snapshot_unref)

static int make_body(struct snapshot *s, enum body b, struct blob *ret)
{
	const struct blob *plain;

	switch (b) {
	case BODY_PROM:
		return render_prom(s, ret);
	case BODY_OPENMETRICS:
		return render_openmetrics(s, ret);
	case BODY_PROM_GZ:
	case BODY_OPENMETRICS_GZ:
		plain = snapshot_body(s, b == BODY_PROM_GZ ? BODY_PROM : BODY_OPENMETRICS);
		return plain ? render_gzip(plain, ret) : -ENOMEM;
	case BODY_JSON:
		return render_json_processes(s, NULL, ret);
	case BODY_STATUS:
		return render_json_status(s, ret);
	case BODY_MAX:
		break;
	}
	return -EINVAL;
}

/* Made on demand, at most once per snapshot: a scraper wants one format, not all six. */
const struct blob *snapshot_body(struct snapshot *s, enum body b)
{
	int *state = &s->body_state[b];
	int st = __atomic_load_n(state, __ATOMIC_ACQUIRE);

	if (st == BODY_NONE) {
		pthread_mutex_lock(&s->body_lock[b]);
		st = __atomic_load_n(state, __ATOMIC_ACQUIRE);
		if (st == BODY_NONE) {
			if (s->body[b].data || make_body(s, b, &s->body[b]) >= 0)
				st = BODY_DONE;
			else
				st = BODY_FAILED;
			__atomic_store_n(state, st, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&s->body_lock[b]);
	}
	return st == BODY_DONE ? &s->body[b] : NULL;
}

int snapshot_store_new(struct snapshot_store **ret)
{
	struct snapshot_store *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	pthread_mutex_init(&st->lock, NULL);
	*ret = st;
	return 0;
}

struct snapshot_store *snapshot_store_free(struct snapshot_store *st)
{
	if (!st)
		return NULL;
	snapshot_unref(st->latest);
	pthread_mutex_destroy(&st->lock);
	free(st);
	return NULL;
}

void snapshot_store_publish(struct snapshot_store *st, struct snapshot *s)
{
	struct snapshot *old;

	snapshot_ref(s);
	pthread_mutex_lock(&st->lock);
	old = st->latest;
	st->latest = s;
	pthread_mutex_unlock(&st->lock);
	snapshot_unref(old);
}

struct snapshot *snapshot_store_get(struct snapshot_store *st)
{
	struct snapshot *s;

	pthread_mutex_lock(&st->lock);
	s = snapshot_ref(st->latest);
	pthread_mutex_unlock(&st->lock);
	return s;
}

int snapshot_new(const struct agg_state *st, const struct snapshot_info *info,
		 const struct config *cfg, uint64_t mono_ns, double timestamp,
		 struct snapshot **ret)
{
	_cleanup_(snapshot_unrefp) struct snapshot *s = NULL;
	double dt = st->interval_s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->n_ref = 1;
	for (int b = 0; b < BODY_MAX; b++)
		pthread_mutex_init(&s->body_lock[b], NULL);
	s->mono_ns = mono_ns;
	s->timestamp = timestamp;
	s->group_by = cfg->group_by;
	s->info = *info;
	s->info.processes_seen = st->n_procs + st->processes_exited;
	s->info.map_entries = st->map_entries;
	s->info.map_update_failures = st->map_update_failures;
	s->totals = aggregate_totals(st);
	s->processes_exited = st->processes_exited;

	/* labels point into the cache's current table: the snapshot keeps a reference to it */
	s->cgroups = cgroup_cache_table(info->cgroups);
	s->procs = calloc(st->n_procs + 1, sizeof(*s->procs));
	if (!s->procs)
		return -ENOMEM;
	for (size_t i = 0; i < st->n_procs; i++) {
		const struct proc *p = &st->procs[i];
		struct snapshot_proc *q = &s->procs[i];

		q->pid = p->tgid;
		memcpy(q->comm, p->comm, sizeof(q->comm));
		q->c = p->c;
		if (info->cgroups)
			q->cg = cgroup_cache_get(info->cgroups, p->cgroup_id);
		if (dt > 0) {
			q->switches_per_second = (double)counters_switches(&p->delta) / dt;
			q->cpu_utilization = (double)p->delta.runtime_ns / NSEC_PER_SEC / dt;
			q->run_queue_wait_share = (double)p->delta.run_delay_ns / NSEC_PER_SEC / dt;
		}
	}
	s->n_procs = st->n_procs;

	r = series_build(st, cfg, &s->series, &s->n_series, &s->info.series_dropped);
	if (r < 0)
		return r;
	if (info->cgroups) {
		for (size_t i = 0; i < s->n_series; i++)
			if (s->series[i].cgroup_id)
				s->series[i].cg =
					cgroup_cache_get(info->cgroups, s->series[i].cgroup_id);
	}
	s->info.cgroups = NULL;

	if (!snapshot_body(s, BODY_PROM))
		return -ENOMEM;

	*ret = TAKE_PTR(s);
	return 0;
}
