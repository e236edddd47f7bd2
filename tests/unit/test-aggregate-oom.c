// SPDX-License-Identifier: GPL-2.0-only
/*
 * aggregate_update() out of memory: with each of its allocations failed in turn, it returns
 * -ENOMEM and leaves the state exactly as it was, or succeeds as if nothing had failed (all but
 * the copy of the dead keys, which may come back empty). Linked with --wrap=malloc,realloc.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "test.h"
#include "util.h"

void *__real_malloc(size_t size);
void *__real_realloc(void *p, size_t size);

static long fail_in = -1; /* allocations to let through before one fails; -1: none fails */
static long allocations;

static bool fail_now(void)
{
	allocations++;
	if (fail_in < 0)
		return false;
	return fail_in-- == 0;
}

void *__wrap_malloc(size_t size)
{
	return fail_now() ? NULL : __real_malloc(size);
}

void *__wrap_realloc(void *p, size_t size)
{
	return fail_now() ? NULL : __real_realloc(p, size);
}

#define E(pid, start, v, name)                                                          \
	{                                                                               \
		.tgid = (pid), .start_ns = (start), .c = {(v), 1, 100 * (v), 10 * (v)}, \
		.comm = name                                                            \
	}

struct copy {
	struct agg_state s;
	struct proc *procs;
	struct comm_group *groups;
	struct agg_key *recent_dead;
};

static void *dup_array(const void *p, size_t n, size_t size)
{
	void *d = __real_malloc(n * size + 1);

	if (n)
		memcpy(d, p, n * size);
	return d;
}

static void copy_state(const struct agg_state *s, struct copy *c)
{
	c->s = *s;
	c->procs = dup_array(s->procs, s->n_procs, sizeof(*s->procs));
	c->groups = dup_array(s->groups, s->n_groups, sizeof(*s->groups));
	c->recent_dead = dup_array(s->recent_dead, s->n_recent_dead, sizeof(*s->recent_dead));
}

static bool same_counters(const struct counters *a, const struct counters *b)
{
	return a->voluntary == b->voluntary && a->involuntary == b->involuntary &&
	       a->runtime_ns == b->runtime_ns;
}

/* Field by field: struct proc has padding. */
static bool same_procs(const struct proc *a, const struct proc *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].tgid != b[i].tgid || a[i].start_ns != b[i].start_ns ||
		    strcmp(a[i].comm, b[i].comm) != 0 ||
		    a[i].comm_from_proc != b[i].comm_from_proc ||
		    !same_counters(&a[i].c, &b[i].c) || !same_counters(&a[i].delta, &b[i].delta) ||
		    !same_counters(&a[i].named_base, &b[i].named_base))
			return false;
	return true;
}

static bool same_groups(const struct comm_group *a, const struct comm_group *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i].comm, b[i].comm) != 0 || !same_counters(&a[i].c, &b[i].c) ||
		    a[i].exited != b[i].exited)
			return false;
	return true;
}

/* Field by field: struct agg_key has padding that memcmp() would read. */
static bool same_keys(const struct agg_key *a, const struct agg_key *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].tgid != b[i].tgid || a[i].start_ns != b[i].start_ns)
			return false;
	return true;
}

static bool same_state(const struct agg_state *s, const struct copy *c)
{
	return s->n_procs == c->s.n_procs && s->n_groups == c->s.n_groups &&
	       s->n_recent_dead == c->s.n_recent_dead && s->procs == c->s.procs &&
	       s->recent_dead == c->s.recent_dead && same_procs(s->procs, c->procs, s->n_procs) &&
	       same_groups(s->groups, c->groups, s->n_groups) &&
	       same_keys(s->recent_dead, c->recent_dead, s->n_recent_dead) &&
	       same_counters(&s->exited, &c->s.exited) &&
	       s->processes_exited == c->s.processes_exited && s->mono_ns == c->s.mono_ns &&
	       s->interval_s == c->s.interval_s && s->updates == c->s.updates &&
	       s->map_update_failures == c->s.map_update_failures;
}

static void copy_done(struct copy *c)
{
	free(c->procs);
	free(c->groups);
	free(c->recent_dead);
}

/* A state with live processes, groups and recently dead keys. */
static void prepare(struct agg_state *s)
{
	struct sample_entry a[] = {E(10, 1, 5, "bash"), E(20, 2, 1, "sleep"), E(30, 3, 2, "cc"),
				   E(40, 4, 3, "ld")};
	uint32_t live_a[] = {10, 20, 30, 40}, live_b[] = {10, 20, 30};
	struct sample smp = {.entries = a, .n_entries = 4, .live = live_a, .n_live = 4};
	struct agg_key *dead = NULL;
	size_t nd = 0;

	aggregate_init(s);
	smp.mono_ns = 1;
	CHECK(aggregate_update(s, &smp, &dead, &nd) == 0);
	smp.live = live_b;
	smp.n_live = 3;
	smp.mono_ns = 2;
	CHECK(aggregate_update(s, &smp, &dead, &nd) == 0); /* 40 exits: group "ld" */
	CHECK_EQ_U64(nd, 1);
	free(dead);
}

static void test_each_allocation_fails(void)
{
	/* 30 exits (a group that exists), 20 is replaced by a newer process of its tgid (a new
	 * group), 50 lives and dies between two reads, 10 is renamed */
	struct sample_entry b[] = {E(10, 1, 9, "bash"), E(20, 2, 4, "sleep"), E(20, 9, 1, "sleep2"),
				   E(30, 3, 6, "cc"), E(50, 5, 1, "blip")};
	struct sample_rename rn[] = {{10, 1, "nginx"}};
	uint32_t live[] = {10, 20};
	struct sample smp = {.entries = b,
			     .n_entries = 5,
			     .live = live,
			     .n_live = 2,
			     .renames = rn,
			     .n_renames = 1,
			     .mono_ns = 3,
			     .map_update_failures = 7};
	struct agg_state ref;
	struct agg_key *dead = NULL;
	size_t nd = 0, ref_nd = 0;
	long k, needed;
	bool done = false;

	/* The same update without failures: what every successful attempt must give. */
	prepare(&ref);
	allocations = 0;
	CHECK(aggregate_update(&ref, &smp, &dead, &ref_nd) == 0);
	free(dead);
	needed = allocations;
	CHECK(needed > 2);
	CHECK_EQ_U64(ref_nd, 3);

	for (k = 0; !done && k <= needed; k++) {
		struct agg_state s;
		struct copy before;
		int r;

		prepare(&s);
		copy_state(&s, &before);
		dead = NULL;
		nd = 99;
		fail_in = k;
		r = aggregate_update(&s, &smp, &dead, &nd);
		done = fail_in >= 0; /* nothing failed: every allocation was let through */
		fail_in = -1;
		if (r < 0) {
			CHECK(r == -ENOMEM);
			CHECK(same_state(&s, &before));
			CHECK_EQ_U64(nd, 99);
		} else {
			CHECK_EQ_U64(s.n_procs, ref.n_procs);
			CHECK_EQ_U64(s.n_groups, ref.n_groups);
			CHECK_EQ_U64(s.processes_exited, ref.processes_exited);
			CHECK(same_procs(s.procs, ref.procs, s.n_procs));
			CHECK(same_groups(s.groups, ref.groups, s.n_groups));
			CHECK(nd == ref_nd || (nd == 0 && !dead));
			free(dead);
		}
		copy_done(&before);
		aggregate_done(&s);
	}
	CHECK(done);
	aggregate_done(&ref);
}

int main(void)
{
	test_each_allocation_fails();
	TEST_DONE();
}
