// SPDX-License-Identifier: GPL-2.0-only
/*
 * groups: counters by unit and by cgroup from each update's growth (moves, exits, restarted
 * units), histograms, preemption pairs (deltas, same-group pairs, the cap, gone cgroups), and
 * memory bounded under cgroups that come and go.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "cgroup.h"
#include "groups.h"
#include "test.h"
#include "util.h"

/* A made-up hierarchy: cgroup id -> path; ids not listed are gone. */
struct fake_cgroup {
	uint64_t id;
	const char *path;
	struct cgroup_labels l;
	bool gone;
};

static struct fake_cgroup cgs[] = {
	{.id = 100, .path = "/system.slice/nginx.service"},
	{.id = 101, .path = "/system.slice/nginx.service"}, /* the same unit after a restart */
	{.id = 200, .path = "/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service"},
	{.id = 300,
	 .path = "/system.slice/"
		 "docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		 ".scope"},
	{.id = 400, .path = "/system.slice/bad\"name\n.service"},
	{.id = 1, .path = "/"},
};

static const struct cgroup_labels *resolve(void *userdata, uint64_t id)
{
	(void)userdata;
	for (size_t i = 0; i < ELEMENTSOF(cgs); i++)
		if (cgs[i].id == id && !cgs[i].gone)
			return &cgs[i].l;
	return NULL;
}

#define E(pid, v, ns, wait, cg, ended)                                                      \
	{                                                                                   \
		.tgid = (pid), .start_ns = (pid), .c = {(v), 0, (ns), (wait)}, .comm = "x", \
		.cgroup_id = (cg), .exited = (ended)                                        \
	}

/* One aggregation of entries (sorted by pid), then one groups update of each grouping. */
static void step(struct agg_state *st, struct groups *g[2], struct sample_entry *e, size_t n,
		 const struct sample_hist *h, size_t nh, const struct sample_pair *p, size_t np,
		 uint32_t max_pairs, size_t *ret_gone)
{
	struct sample smp = {.entries = e, .n_entries = n, .exits_reported = true, .sorted = true};
	struct groups_input in = {.st = st,
				  .hists = h,
				  .n_hists = nh,
				  .pairs = p,
				  .n_pairs = np,
				  .latency = true,
				  .max_pairs = max_pairs,
				  .resolve = resolve};
	struct agg_key *dead = NULL;
	size_t nd = 0;

	CHECK(aggregate_update(st, &smp, &dead, &nd) == 0);
	free(dead);
	for (int k = 0; k < 2; k++) {
		struct sample_pair *gone = NULL;
		size_t n_gone = 0;

		CHECK(groups_update(g[k], &in, &gone, &n_gone) == 0);
		if (ret_gone)
			ret_gone[k] = n_gone;
		free(gone);
	}
}

static const struct group *find(const struct groups_view *v, const char *key)
{
	for (size_t i = 0; i < v->n_groups; i++) {
		const struct group *x = &v->groups[i];

		if (strcmp(v->by == GROUP_BY_CGROUP ? x->cg.cgroup : x->cg.unit, key) == 0)
			return x;
	}
	return NULL;
}

static void setup(struct agg_state *st, struct groups *g[2])
{
	for (size_t i = 0; i < ELEMENTSOF(cgs); i++) {
		cgs[i].gone = false;
		if (!cgs[i].l.cgroup)
			CHECK(cgroup_path_labels(cgs[i].path, strlen(cgs[i].path), &cgs[i].l) == 0);
	}
	aggregate_init(st);
	CHECK(groups_new(GROUP_BY_UNIT, &g[0]) == 0);
	CHECK(groups_new(GROUP_BY_CGROUP, &g[1]) == 0);
	CHECK(groups_new(GROUP_BY_PID, &(struct groups *){NULL}) == -EINVAL);
}

static void teardown(struct agg_state *st, struct groups *g[2])
{
	groups_free(g[0]);
	groups_free(g[1]);
	aggregate_done(st);
}

/* Growth goes where it happened; moves, exits and restarts never take anything away. */
static void test_counters(void)
{
	struct agg_state st;
	struct groups *g[2];
	struct groups_view *v;
	const struct group *x;

	setup(&st, g);
	struct sample_entry a[] = {E(10, 5, 1000, 10, 100, false), E(20, 1, 500, 0, 200, false),
				   E(30, 2, 70, 7, 300, false)};
	step(&st, g, a, ELEMENTSOF(a), NULL, 0, NULL, 0, 10, NULL);
	/* 10 grows by 3 then moves to foo.service; 30 exits after growing by 1; 40 is new in
	 * the restarted nginx (another cgroup id) */
	struct sample_entry b[] = {E(10, 8, 1600, 10, 200, false), E(20, 1, 500, 0, 200, false),
				   E(30, 3, 90, 9, 300, true), E(40, 4, 40, 4, 101, false)};
	step(&st, g, b, ELEMENTSOF(b), NULL, 0, NULL, 0, 10, NULL);

	v = groups_view(g[0]);
	CHECK(v != NULL);
	x = find(v, "nginx.service");
	CHECK(x != NULL);
	/* pid 10's first 5 (its first sight) ran in nginx; its growth after the move went to
	 * foo, which is where it was when the map said so; 40's 4 in the restarted nginx */
	CHECK_EQ_U64(x ? x->c.voluntary : 0, 5 + 4);
	CHECK_EQ_U64(x ? x->c.runtime_ns : 0, 1000 + 40);
	x = find(v, "user@1000.service");
	CHECK(x != NULL);
	CHECK_STREQ(x ? x->cg.user_unit : NULL, "foo.service");
	CHECK_EQ_U64(x ? x->c.voluntary : 0, 1 + 3);
	x = find(v,
		 "docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope");
	CHECK(x != NULL);
	CHECK_EQ_U64(x ? x->c.voluntary : 0, 3);
	CHECK_EQ_U64(x ? x->c.run_delay_ns : 0, 9);
	CHECK_EQ_U64(x ? x->exited : 0, 1);
	CHECK_STREQ(x ? x->cg.container_id : NULL,
		    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	CHECK_STREQ(x ? x->cg.cgroup : NULL, ""); /* grouped by unit: no path */
	CHECK_EQ_U64(x ? x->delta.voluntary : 0, 1);
	groups_view_unref(v);

	/* by cgroup: the restarted unit's two ids share one path, so one group */
	v = groups_view(g[1]);
	x = find(v, "/system.slice/nginx.service");
	CHECK_EQ_U64(x ? x->c.voluntary : 0, 9);
	CHECK_STREQ(x ? x->cg.unit : NULL, "nginx.service");
	groups_view_unref(v);

	/* foo's cgroup goes (its last threads' growth still comes in): what it had stays */
	cgs[2].gone = true;
	struct sample_entry c[] = {E(10, 9, 1700, 10, 200, false), E(20, 1, 500, 0, 200, false),
				   E(40, 4, 40, 4, 101, false)};
	step(&st, g, c, ELEMENTSOF(c), NULL, 0, NULL, 0, 10, NULL);
	v = groups_view(g[0]);
	x = find(v, "user@1000.service"); /* an id once named keeps its name */
	CHECK_EQ_U64(x ? x->c.voluntary : 0, 5);
	CHECK(find(v, GROUPS_UNKNOWN) == NULL);
	groups_view_unref(v);
	teardown(&st, g);
}

/* Histograms add up by group; their count is the sum of the buckets. */
static void test_histograms(void)
{
	struct agg_state st;
	struct groups *g[2];
	struct sample_hist h[] = {{.cgroup_id = 100, .bucket = {[0] = 3, [5] = 2}},
				  {.cgroup_id = 101, .bucket = {[5] = 1, [23] = 1}},
				  {.cgroup_id = 999, .bucket = {[1] = 4}}};
	struct groups_view *v;
	const struct group *x;

	setup(&st, g);
	step(&st, g, NULL, 0, h, ELEMENTSOF(h), NULL, 0, 10, NULL);
	step(&st, g, NULL, 0, h, 1, NULL, 0, 10, NULL);
	v = groups_view(g[0]);
	CHECK(v->latency);
	x = find(v, "nginx.service");
	CHECK_EQ_U64(x ? x->hist[0] : 0, 6);
	CHECK_EQ_U64(x ? x->hist[5] : 0, 5);
	CHECK_EQ_U64(x ? x->hist[23] : 0, 1);
	CHECK_EQ_U64(x ? x->hist_count : 0, 12);
	x = find(v, GROUPS_UNKNOWN); /* id 999 is no cgroup known */
	CHECK_EQ_U64(x ? x->hist[1] : 0, 4);
	groups_view_unref(v);
	teardown(&st, g);
}

static uint64_t pair_count(const struct groups_view *v, const char *a, const char *b)
{
	for (size_t i = 0; i < v->n_pairs; i++)
		if (strcmp(v->groups[v->pairs[i].victim].cg.unit, a) == 0 &&
		    strcmp(v->groups[v->pairs[i].by].cg.unit, b) == 0)
			return v->pairs[i].count;
	return 0;
}

/* Pairs: the BPF side's running counts become growth; same-unit pairs do not count. */
static void test_pairs(void)
{
	struct agg_state st;
	struct groups *g[2];
	struct groups_view *v;
	size_t gone[2];

	setup(&st, g);
	struct sample_pair p1[] = {{100, 101, 50}, {100, 200, 7}, {200, 100, 3}, {300, 200, 1}};
	step(&st, g, NULL, 0, NULL, 0, p1, ELEMENTSOF(p1), 2, gone);
	CHECK_EQ_U64(gone[0], 0);
	v = groups_view(g[0]);
	/* 100 -> 101 is nginx by nginx: not a preemption between units */
	CHECK_EQ_U64(pair_count(v, "nginx.service", "nginx.service"), 0);
	CHECK_EQ_U64(pair_count(v, "nginx.service", "user@1000.service"), 7);
	CHECK_EQ_U64(pair_count(v, "user@1000.service", "nginx.service"), 3);
	CHECK_EQ_U64(v->n_pairs, 2); /* the cap: the largest two, the rest is [other] */
	CHECK_EQ_U64(v->other_preemptions, 1);
	CHECK_EQ_U64(v->preemptions, 11);
	CHECK(v->pairs[0].count >= v->pairs[1].count);
	groups_view_unref(v);
	v = groups_view(g[1]); /* by cgroup too: 100 and 101 have one path */
	CHECK_EQ_U64(v->preemptions, 11);
	groups_view_unref(v);

	/* grown by 10 and 2; 300 is gone: handed back for deletion, its growth still counted */
	cgs[3].gone = true;
	struct sample_pair p2[] = {{100, 101, 50}, {100, 200, 17}, {200, 100, 5}, {300, 200, 4}};
	step(&st, g, NULL, 0, NULL, 0, p2, ELEMENTSOF(p2), 2, gone);
	CHECK_EQ_U64(gone[0], 1);
	CHECK_EQ_U64(gone[1], 1);
	v = groups_view(g[0]);
	CHECK_EQ_U64(pair_count(v, "nginx.service", "user@1000.service"), 17);
	CHECK_EQ_U64(pair_count(v, "user@1000.service", "nginx.service"), 5);
	CHECK_EQ_U64(v->other_preemptions, 4); /* never lower than before */
	groups_view_unref(v);

	/* deleted, then made again by the BPF side: counted from zero, not as a drop */
	struct sample_pair p3[] = {{100, 200, 17}, {200, 100, 5}, {300, 200, 2}};
	cgs[3].gone = false;
	step(&st, g, NULL, 0, NULL, 0, p3, ELEMENTSOF(p3), 2, gone);
	v = groups_view(g[0]);
	CHECK_EQ_U64(v->other_preemptions, 6);
	CHECK_EQ_U64(pair_count(v, "nginx.service", "user@1000.service"), 17);
	groups_view_unref(v);
	teardown(&st, g);
}

static const struct cgroup_labels *resolve_many(void *userdata, uint64_t id)
{
	static struct cgroup_labels l;
	static char unit[64];

	(void)userdata;
	snprintf(unit, sizeof(unit), "run-r%llu.scope", (unsigned long long)id);
	l = (struct cgroup_labels){
		.cgroup = unit, .unit = unit, .user_unit = "", .container_id = "", .pod_uid = ""};
	return &l;
}

/* Units that come and go at a high rate: the table stays bounded, idle ones make room. */
static void test_churn_bounded(void)
{
	struct groups *g;
	struct agg_state st;
	struct groups_view *v;
	struct proc p = {.tgid = 1, .delta = {.voluntary = 1}};

	aggregate_init(&st);
	st.procs = &p;
	st.n_procs = 1;
	CHECK(groups_new(GROUP_BY_UNIT, &g) == 0);
	for (uint64_t i = 0; i < GROUPS_MAX + GROUPS_IDLE + 2000; i++) {
		struct groups_input in = {.st = &st, .resolve = resolve_many};
		struct sample_pair *gone;
		size_t n_gone;

		p.cgroup_id = 1000 + i;
		CHECK(groups_update(g, &in, &gone, &n_gone) == 0);
	}
	v = groups_view(g);
	CHECK(v->n_groups <= GROUPS_MAX + 1);
	CHECK(find(v, "run-r1000.scope") == NULL); /* idle longest: made room */
	CHECK(find(v, "run-r19683.scope") != NULL);
	groups_view_unref(v);
	groups_free(g);
}

/*
 * A full table of idle groups and a pair that grows between one of them and a new cgroup: the
 * new group makes room, the idle one in the pair stays (it is used in this update), and a pair
 * that stops growing brings back no group.
 */
static void test_evict_with_pairs(void)
{
	struct groups *g;
	struct agg_state st;
	struct groups_view *v;
	struct proc p = {.tgid = 1, .delta = {.voluntary = 1}};
	struct sample_pair pair = {.victim = 1000, .by = 900000, .count = 5};
	struct sample_pair *gone;
	size_t n_gone, n;

	aggregate_init(&st);
	st.procs = &p;
	st.n_procs = 1;
	CHECK(groups_new(GROUP_BY_UNIT, &g) == 0);
	for (uint64_t i = 0; i < GROUPS_MAX; i++) { /* full: one group per update */
		struct groups_input in = {.st = &st, .resolve = resolve_many};

		p.cgroup_id = 1000 + i;
		CHECK(groups_update(g, &in, &gone, &n_gone) == 0);
	}
	st.n_procs = 0;
	for (int i = 0; i < GROUPS_IDLE + 1; i++) { /* everything idle */
		struct groups_input in = {.st = &st, .resolve = resolve_many};

		CHECK(groups_update(g, &in, &gone, &n_gone) == 0);
	}
	struct groups_input in = {.st = &st,
				  .pairs = &pair,
				  .n_pairs = 1,
				  .latency = true,
				  .max_pairs = 10,
				  .resolve = resolve_many};

	CHECK(groups_update(g, &in, &gone, &n_gone) == 0);
	v = groups_view(g);
	CHECK_EQ_U64(v->n_pairs, 1);
	CHECK_EQ_U64(v->n_pairs ? v->pairs[0].count : 0, 5);
	CHECK_STREQ(v->n_pairs ? v->groups[v->pairs[0].victim].cg.unit : NULL, "run-r1000.scope");
	CHECK_STREQ(v->n_pairs ? v->groups[v->pairs[0].by].cg.unit : NULL, "run-r900000.scope");
	n = v->n_groups;
	CHECK(n == 2); /* the idle rest made room at once */
	groups_view_unref(v);
	/* no growth: nothing is looked up, nothing made again */
	CHECK(groups_update(g, &in, &gone, &n_gone) == 0);
	v = groups_view(g);
	CHECK_EQ_U64(v->n_groups, n);
	CHECK_EQ_U64(v->preemptions, 5);
	groups_view_unref(v);
	/* a pair that has not grown for PAIRS_IDLE (60) updates is handed back to be deleted */
	for (int i = 0; i < 70 && !n_gone; i++)
		CHECK(groups_update(g, &in, &gone, &n_gone) == 0);
	CHECK_EQ_U64(n_gone, 1);
	free(gone);
	groups_free(g);
}

int main(void)
{
	test_counters();
	test_histograms();
	test_pairs();
	test_churn_bounded();
	test_evict_with_pairs();
	TEST_DONE();
}
