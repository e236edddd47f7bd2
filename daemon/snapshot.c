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

/* --- the buffer pool (snapshot.h) ----------------------------------------------------- */

/* A kind of buffer: each body by its enum body, then the two arrays. */
enum {
	POOL_PROCS = BODY_MAX,
	POOL_SERIES,
	POOL_KINDS,
};

#define POOL_DEPTH    2		 /* kept of a kind: being built, latest, one still in flight */
#define POOL_IDLE_MAX 2		 /* takes a kept buffer may sit out before it is freed */
#define POOL_SLACK    (64 << 10) /* over twice the high-water mark, a buffer is too large */
/* snapshots a kept buffer may wait for a taker: a body made only when scraped (gzip,
 * OpenMetrics, JSON) is asked for once per scrape interval, a minute at most, as a rule */
#define POOL_AGE_MAX 64

struct pool_buf {
	void *data;
	size_t size;
	unsigned idle; /* takes of its kind since it was given back */
	uint64_t gen;  /* the pool's generation when it was given back */
};

struct snapshot_pool {
	int n_ref;
	pthread_mutex_t lock;
	uint64_t gen; /* snapshots made */
	struct {
		struct pool_buf kept[POOL_DEPTH]; /* kept[n - 1]: the one given back last */
		size_t n;
		size_t high; /* the lengths given back: the largest, less 1/8 each time */
	} kind[POOL_KINDS];
	struct snapshot_pool_stats stats;
};

int snapshot_pool_new(struct snapshot_pool **ret)
{
	struct snapshot_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->n_ref = 1;
	pthread_mutex_init(&p->lock, NULL);
	*ret = p;
	return 0;
}

static struct snapshot_pool *pool_ref(struct snapshot_pool *p)
{
	if (p)
		__atomic_add_fetch(&p->n_ref, 1, __ATOMIC_RELAXED);
	return p;
}

struct snapshot_pool *snapshot_pool_unref(struct snapshot_pool *p)
{
	if (!p || __atomic_sub_fetch(&p->n_ref, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	for (int k = 0; k < POOL_KINDS; k++)
		for (size_t i = 0; i < p->kind[k].n; i++)
			free(p->kind[k].kept[i].data);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return NULL;
}

void snapshot_pool_stats(struct snapshot_pool *p, struct snapshot_pool_stats *ret)
{
	pthread_mutex_lock(&p->lock);
	*ret = p->stats;
	pthread_mutex_unlock(&p->lock);
}

/*
 * A buffer of the kind: the one given back last, else none ({}); at least want bytes when
 * want is not 0 (a new one, or the kept one grown), {} if that cannot be had. Without a pool,
 * a new one. The buffer's bytes are whatever they were.
 */
static struct blob pool_take(struct snapshot_pool *p, int kind, size_t want)
{
	struct blob b = {};
	void *stale = NULL;
	char *grown;

	if (p) {
		pthread_mutex_lock(&p->lock);
		if (p->kind[kind].n > 0) {
			struct pool_buf *t = &p->kind[kind].kept[--p->kind[kind].n];

			b = (struct blob){.data = t->data, .size = t->size};
			p->stats.held_bytes -= t->size;
			p->stats.reused++;
			/* the other one, if any, sat this snapshot out */
			t = &p->kind[kind].kept[0];
			if (p->kind[kind].n > 0 && ++t->idle >= POOL_IDLE_MAX) {
				stale = t->data;
				p->stats.held_bytes -= t->size;
				p->stats.freed++;
				p->kind[kind].n = 0;
			}
		} else {
			p->stats.allocated++;
		}
		pthread_mutex_unlock(&p->lock);
		free(stale); /* a munmap, maybe: not under the lock */
	}
	if (want && b.size < want) {
		grown = realloc(b.data, want);
		if (!grown) {
			free(b.data);
			return (struct blob){};
		}
		b = (struct blob){.data = grown, .size = want};
	}
	return b;
}

/*
 * A snapshot is being made: let go of the buffers no snapshot has taken for POOL_AGE_MAX
 * snapshots (the bodies nobody asks for any more).
 */
static void pool_tick(struct snapshot_pool *p)
{
	void *stale[POOL_KINDS * POOL_DEPTH];
	size_t n_stale = 0;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->gen++;
	for (int k = 0; k < POOL_KINDS; k++) {
		size_t n = 0;

		for (size_t i = 0; i < p->kind[k].n; i++) {
			struct pool_buf *t = &p->kind[k].kept[i];

			if (p->gen - t->gen > POOL_AGE_MAX) {
				stale[n_stale++] = t->data;
				p->stats.held_bytes -= t->size;
				p->stats.freed++;
			} else {
				p->kind[k].kept[n++] = *t;
			}
		}
		p->kind[k].n = n;
	}
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < n_stale; i++)
		free(stale[i]);
}

/*
 * Give back a buffer of size bytes, of which len served: kept if there is room and it is not
 * over twice what its kind has needed of late, else freed. size 0 (unknown) is freed.
 */
static void pool_give(struct snapshot_pool *p, int kind, void *data, size_t size, size_t len)
{
	void *drop = data;

	if (p && data && size) {
		pthread_mutex_lock(&p->lock);
		size_t *high = &p->kind[kind].high;

		*high = len > *high - *high / 8 ? len : *high - *high / 8;
		if (p->kind[kind].n < POOL_DEPTH && size / 2 <= *high + POOL_SLACK / 2) {
			p->kind[kind].kept[p->kind[kind].n++] =
				(struct pool_buf){.data = data, .size = size, .gen = p->gen};
			p->stats.held_bytes += size;
			drop = NULL;
		} else {
			p->stats.freed++;
		}
		pthread_mutex_unlock(&p->lock);
	}
	free(drop);
}

/* --- snapshots ------------------------------------------------------------------------ */

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
	pool_give(s->pool, POOL_PROCS, s->procs, s->procs_size, s->procs_need);
	pool_give(s->pool, POOL_SERIES, s->series, s->series_size, s->series_need);
	cgroup_table_unref(s->cgroups);
	groups_view_unref(s->groups[0]);
	groups_view_unref(s->groups[1]);
	for (int b = 0; b < BODY_MAX; b++) {
		/* the status document is small, and made without the pool: never kept */
		pool_give(s->pool, b, s->body[b].data, b == BODY_STATUS ? 0 : s->body[b].size,
			  s->body[b].len);
		pthread_mutex_destroy(&s->body_lock[b]);
	}
	snapshot_pool_unref(s->pool);
	free(s);
	return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct snapshot *, snapshot_unref)

/* Into a buffer of the pool's: a body is about as long as the last one of its kind. */
static int make_body(struct snapshot *s, enum body b, struct blob *ret)
{
	const struct blob *plain = NULL;

	if (b == BODY_STATUS) /* a few hundred bytes */
		return render_json_status(s, ret);
	if (b >= BODY_MAX)
		return -EINVAL;
	if (b == BODY_PROM_GZ || b == BODY_OPENMETRICS_GZ) {
		plain = snapshot_body(s, b == BODY_PROM_GZ ? BODY_PROM : BODY_OPENMETRICS);
		if (!plain)
			return -ENOMEM;
	}
	*ret = pool_take(s->pool, b, 0);
	switch (b) {
	case BODY_PROM:
	case BODY_OPENMETRICS:
		return render_exposition_into(s, b == BODY_OPENMETRICS, ret);
	case BODY_PROM_GZ:
	case BODY_OPENMETRICS_GZ:
		return render_gzip_into(plain, ret);
	default: /* BODY_JSON */
		return render_json_processes_into(s, NULL, ret);
	}
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
	struct blob buf;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->n_ref = 1;
	for (int b = 0; b < BODY_MAX; b++)
		pthread_mutex_init(&s->body_lock[b], NULL);
	s->mono_ns = mono_ns;
	s->timestamp = timestamp;
	s->rate_s = dt;
	s->group_by = cfg->group_by;
	s->info = *info;
	s->info.processes_seen = st->n_procs + st->processes_exited;
	s->info.map_entries = st->map_entries;
	s->info.map_update_failures = st->map_update_failures;
	s->totals = aggregate_totals(st);
	s->processes_exited = st->processes_exited;

	/* labels point into the cache's current table: the snapshot keeps a reference to it */
	s->cgroups = cgroup_cache_table(info->cgroups);
	for (int k = 0; k < 2; k++)
		s->groups[k] = groups_view_ref(info->groups[k]);
	s->info.groups[0] = s->info.groups[1] = NULL;
	s->pool = pool_ref(info->pool);
	s->info.pool = NULL;
	pool_tick(s->pool);

	/* every field of every entry is written: the buffers may be a dropped snapshot's */
	s->procs_need = (st->n_procs + 1) * sizeof(*s->procs);
	buf = pool_take(s->pool, POOL_PROCS, s->procs_need);
	s->procs = (struct snapshot_proc *)buf.data;
	s->procs_size = buf.size;
	if (!s->procs)
		return -ENOMEM;
	for (size_t i = 0; i < st->n_procs; i++) {
		const struct proc *p = &st->procs[i];
		struct snapshot_proc *q = &s->procs[i];

		*q = (struct snapshot_proc){
			.pid = p->tgid,
			.c = p->c,
			.cg = info->cgroups ? cgroup_cache_get(info->cgroups, p->cgroup_id) : NULL,
		};
		memcpy(q->comm, p->comm, sizeof(q->comm));
		if (dt > 0) {
			q->switches_per_second = (double)counters_switches(&p->delta) / dt;
			q->cpu_utilization = (double)p->delta.runtime_ns / NSEC_PER_SEC / dt;
			q->run_queue_wait_share = (double)p->delta.run_delay_ns / NSEC_PER_SEC / dt;
		}
	}
	s->n_procs = st->n_procs;

	const struct groups_view *v = cfg->group_by == GROUP_BY_UNIT	 ? s->groups[0]
				      : cfg->group_by == GROUP_BY_CGROUP ? s->groups[1]
									 : NULL;

	s->series_need = series_max(st, v) * sizeof(*s->series);
	buf = pool_take(s->pool, POOL_SERIES, s->series_need);
	s->series = (struct snapshot_series *)buf.data;
	s->series_size = buf.size;
	if (!s->series)
		return -ENOMEM;
	s->n_series = series_build(st, v, cfg, s->series, &s->info.series_dropped);
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
