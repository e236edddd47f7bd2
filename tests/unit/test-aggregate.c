// SPDX-License-Identifier: GPL-2.0-only
/* aggregate: exits folded into totals, pid reuse, monotonic counters, comm groups. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "test.h"
#include "util.h"

#define E(pid, start, v, iv, ns, name)                                                      \
	{                                                                                   \
		.tgid = (pid), .start_ns = (start), .c = {(v), (iv), (ns), 0}, .comm = name \
	}

static int apply(struct agg_state *s, struct sample_entry *e, size_t n, const uint32_t *live,
		 size_t n_live, uint64_t mono, struct agg_key **dead, size_t *n_dead)
{
	struct sample smp = {
		.entries = e, .n_entries = n, .live = live, .n_live = n_live, .mono_ns = mono};
	return aggregate_update(s, &smp, dead, n_dead);
}

static const struct proc *find(const struct agg_state *s, uint32_t pid)
{
	for (size_t i = 0; i < s->n_procs; i++)
		if (s->procs[i].tgid == pid)
			return &s->procs[i];
	return NULL;
}

static void test_live_and_delta(void)
{
	struct agg_state s;
	struct sample_entry a[] = {E(10, 1, 5, 1, 1000, "bash"), E(20, 2, 1, 0, 50, "sleep")};
	struct sample_entry b[] = {E(20, 2, 4, 0, 80, "sleep"), E(10, 1, 9, 3, 5000, "bash")};
	uint32_t live[] = {1, 10, 20};
	struct agg_key *dead = NULL;
	size_t nd = 99;

	aggregate_init(&s);
	CHECK(apply(&s, a, 2, live, 3, NSEC_PER_SEC, &dead, &nd) == 0);
	CHECK_EQ_U64(nd, 0);
	CHECK_EQ_U64(s.n_procs, 2);
	CHECK(apply(&s, b, 2, live, 3, 3 * NSEC_PER_SEC, &dead, &nd) == 0);
	const struct proc *p = find(&s, 10);
	CHECK(p != NULL);
	CHECK_EQ_U64(p->c.voluntary, 9);
	CHECK_EQ_U64(p->c.involuntary, 3);
	CHECK_EQ_U64(p->delta.voluntary, 4);
	CHECK_EQ_U64(p->delta.runtime_ns, 4000);
	CHECK_STREQ(p->comm, "bash");
	CHECK(s.interval_s > 1.99 && s.interval_s < 2.01);
	struct counters t = aggregate_totals(&s);
	CHECK_EQ_U64(t.voluntary, 13);
	CHECK_EQ_U64(t.runtime_ns, 5080);
	aggregate_done(&s);
}

static void test_exit_folds(void)
{
	struct agg_state s;
	struct sample_entry a[] = {E(10, 1, 5, 1, 1000, "bash"), E(30, 3, 2, 2, 70, "short")};
	/* 30 exited after counting more; 40 lived and died between two reads */
	struct sample_entry b[] = {E(10, 1, 6, 1, 1100, "bash"), E(30, 3, 3, 2, 90, "short"),
				   E(40, 4, 7, 0, 10, "blip")};
	uint32_t live_a[] = {10, 30}, live_b[] = {10};
	struct agg_key *dead = NULL;
	size_t nd = 0;

	aggregate_init(&s);
	CHECK(apply(&s, a, 2, live_a, 2, 1, &dead, &nd) == 0);
	struct counters before = aggregate_totals(&s);
	CHECK(apply(&s, b, 3, live_b, 1, 2, &dead, &nd) == 0);
	CHECK_EQ_U64(nd, 2);
	CHECK_EQ_U64(s.n_procs, 1);
	CHECK_EQ_U64(s.processes_exited, 2);
	struct counters t = aggregate_totals(&s);
	CHECK_EQ_U64(t.voluntary, 6 + 3 + 7);
	CHECK_EQ_U64(t.involuntary, 1 + 2);
	CHECK_EQ_U64(t.runtime_ns, 1100 + 90 + 10);
	CHECK(t.voluntary >= before.voluntary && t.runtime_ns >= before.runtime_ns);
	CHECK_EQ_U64(s.n_groups, 2);
	CHECK_STREQ(s.groups[0].comm, "blip");
	CHECK_EQ_U64(s.groups[1].c.voluntary, 3);
	CHECK_EQ_U64(s.groups[1].exited, 1);
	free(dead);

	/* The entry of 30 comes back for one last switch after deletion: counted, not a
	 * second exit. */
	struct sample_entry c[] = {E(10, 1, 6, 1, 1100, "bash"), E(30, 3, 1, 0, 5, "short")};
	CHECK(apply(&s, c, 2, live_b, 1, 3, &dead, &nd) == 0);
	CHECK_EQ_U64(nd, 1);
	CHECK_EQ_U64(s.processes_exited, 2);
	CHECK_EQ_U64(aggregate_totals(&s).voluntary, 17);
	free(dead);
	aggregate_done(&s);
}

static void test_pid_reuse(void)
{
	struct agg_state s;
	struct sample_entry a[] = {E(50, 100, 40, 4, 4000, "old")};
	/* pid 50 now belongs to a newer process: the old entry is dead even though 50 lives */
	struct sample_entry b[] = {E(50, 100, 41, 4, 4100, "old"), E(50, 900, 1, 0, 10, "new")};
	uint32_t live[] = {50};
	struct agg_key *dead = NULL;
	size_t nd = 0;

	aggregate_init(&s);
	CHECK(apply(&s, a, 1, live, 1, 1, &dead, &nd) == 0);
	CHECK(apply(&s, b, 2, live, 1, 2, &dead, &nd) == 0);
	CHECK_EQ_U64(nd, 1);
	CHECK_EQ_U64(dead[0].start_ns, 100);
	CHECK_EQ_U64(s.n_procs, 1);
	const struct proc *p = find(&s, 50);
	CHECK(p && p->start_ns == 900);
	CHECK(p && p->c.voluntary == 1); /* inherits nothing */
	CHECK_STREQ(p ? p->comm : NULL, "new");
	CHECK_EQ_U64(s.exited.voluntary, 41);
	free(dead);
	aggregate_done(&s);
}

static void test_monotonic_and_vanished(void)
{
	struct agg_state s;
	struct sample_entry a[] = {E(7, 1, 10, 10, 100, "x")};
	struct sample_entry b[] = {E(7, 1, 9, 10, 90, "x")}; /* must never go down */
	uint32_t live[] = {7};
	struct agg_key *dead = NULL;
	size_t nd = 0;

	aggregate_init(&s);
	CHECK(apply(&s, a, 1, live, 1, 1, &dead, &nd) == 0);
	CHECK(apply(&s, b, 1, live, 1, 2, &dead, &nd) == 0);
	CHECK_EQ_U64(find(&s, 7)->c.voluntary, 10);
	CHECK_EQ_U64(find(&s, 7)->c.runtime_ns, 100);
	/* gone from the map without being deleted: folded with what was last seen */
	CHECK(apply(&s, NULL, 0, live, 1, 3, &dead, &nd) == 0);
	CHECK_EQ_U64(s.n_procs, 0);
	CHECK_EQ_U64(s.processes_exited, 1);
	CHECK_EQ_U64(aggregate_totals(&s).voluntary, 10);
	aggregate_done(&s);
}

static void test_comm_escape_and_set(void)
{
	struct agg_state s;
	struct sample_entry a[] = {E(8, 1, 1, 0, 0, "a\xff\"b")};
	uint32_t live[] = {8};
	struct agg_key *dead = NULL;
	size_t nd = 0;

	aggregate_init(&s);
	CHECK(apply(&s, a, 1, live, 1, 1, &dead, &nd) == 0);
	CHECK_STREQ(s.procs[0].comm, "a\\xff\"b");
	CHECK(!s.procs[0].comm_from_proc);
	aggregate_set_comm(&s, 8, 1, "nginx", 5);
	CHECK_STREQ(s.procs[0].comm, "nginx");
	CHECK(s.procs[0].comm_from_proc);
	/* the name survives later samples */
	CHECK(apply(&s, a, 1, live, 1, 2, &dead, &nd) == 0);
	CHECK_STREQ(s.procs[0].comm, "nginx");
	aggregate_done(&s);
}

static void test_renames(void)
{
	struct agg_state s;
	struct sample_entry a[] = {E(8, 1, 1, 0, 0, "bash"), E(9, 2, 1, 0, 0, "x")};
	struct sample_rename rn[] = {
		{8, 1, "nginx"}, {8, 99, "stale"}, {77, 1, "gone"}, {9, 2, "q\"\xc3"}};
	uint32_t live[] = {8, 9};
	struct sample smp = {.entries = a,
			     .n_entries = 2,
			     .live = live,
			     .n_live = 2,
			     .renames = rn,
			     .n_renames = 4,
			     .mono_ns = 1};
	struct agg_key *dead = NULL;
	size_t nd = 0;

	aggregate_init(&s);
	CHECK(aggregate_update(&s, &smp, &dead, &nd) == 0);
	CHECK_EQ_U64(s.n_procs, 2);
	CHECK_STREQ(s.procs[0].comm, "nginx");
	CHECK_STREQ(s.procs[1].comm, "q\"\\xc3");
	/* what it counted before the rename stays with the old name */
	CHECK_EQ_U64(s.n_groups, 2);
	CHECK_STREQ(s.groups[0].comm, "bash");
	CHECK_EQ_U64(s.groups[0].c.voluntary, 1);
	CHECK_EQ_U64(s.groups[0].exited, 0);
	CHECK_EQ_U64(s.procs[0].named_base.voluntary, 1);
	/* it counts more under the new name, then exits: the new name gets only that */
	a[0].c.voluntary = 5;
	smp.n_renames = 0;
	smp.mono_ns = 2;
	CHECK(aggregate_update(&s, &smp, &dead, &nd) == 0);
	smp.n_live = 0;
	smp.mono_ns = 3;
	CHECK(aggregate_update(&s, &smp, &dead, &nd) == 0);
	free(dead);
	CHECK_EQ_U64(s.n_groups, 4);
	CHECK_STREQ(s.groups[0].comm, "bash");
	CHECK_EQ_U64(s.groups[0].c.voluntary, 1);
	CHECK_STREQ(s.groups[1].comm, "nginx");
	CHECK_EQ_U64(s.groups[1].c.voluntary, 4);
	CHECK_EQ_U64(s.groups[1].exited, 1);
	CHECK_EQ_U64(s.exited.voluntary, 5 + 1);
	aggregate_done(&s);
}

/* A /proc of two processes: 8 is "nginx", 9 is gone. Counts the reads. */
static int reads;

static int fake_read_comm(void *userdata, uint32_t tgid, char buf[COMM_RAW_LEN], size_t *ret_len)
{
	reads++;
	if (tgid != 8)
		return -ENOENT;
	memcpy(buf, "nginx", 6);
	*ret_len = 5;
	return 0;
}

static void test_read_names(void)
{
	struct agg_state s;
	struct sample_entry a[] = {E(8, 1, 1, 0, 0, "bash"), E(9, 2, 1, 0, 0, "x")};
	struct sample_rename rn[] = {{9, 2, "y"}};
	uint32_t live[] = {8, 9};
	struct sample smp = {.entries = a, .n_entries = 2, .live = live, .n_live = 2, .mono_ns = 1};
	struct agg_names untracked = {.read_comm = fake_read_comm};
	struct agg_names tracked = {.renames_tracked = true, .read_comm = fake_read_comm};
	struct agg_key *dead = NULL;
	size_t nd = 0;

	/* no rename hook: every name is read from /proc, once */
	aggregate_init(&s);
	CHECK(aggregate_update(&s, &smp, &dead, &nd) == 0);
	reads = 0;
	aggregate_read_names(&s, &untracked);
	CHECK_EQ_U64(reads, 2);
	CHECK_STREQ(s.procs[0].comm, "nginx");
	CHECK_STREQ(s.procs[1].comm, "x"); /* unreadable: the BPF side's name stays */
	CHECK(s.procs[0].comm_from_proc && s.procs[1].comm_from_proc);
	smp.mono_ns = 2;
	CHECK(aggregate_update(&s, &smp, &dead, &nd) == 0);
	aggregate_read_names(&s, &untracked);
	CHECK_EQ_U64(reads, 2);
	aggregate_done(&s);

	/* a rename hook: /proc is not read at all, until a sample lost renames */
	aggregate_init(&s);
	smp.mono_ns = 1;
	CHECK(aggregate_update(&s, &smp, &dead, &nd) == 0);
	reads = 0;
	aggregate_read_names(&s, &tracked);
	CHECK_EQ_U64(reads, 0);
	CHECK_STREQ(s.procs[0].comm, "bash");
	smp.mono_ns = 2;
	smp.renames = rn;
	smp.n_renames = 1;
	smp.renames_lost = true;
	CHECK(aggregate_update(&s, &smp, &dead, &nd) == 0);
	CHECK_STREQ(s.procs[1].comm, "y");
	aggregate_read_names(&s, &tracked);
	CHECK_EQ_U64(reads, 2); /* every name, the renamed one too */
	CHECK_STREQ(s.procs[0].comm, "nginx");
	CHECK_STREQ(s.procs[1].comm, "y");
	aggregate_read_names(&s, &tracked);
	CHECK_EQ_U64(reads, 2);
	smp.mono_ns = 3;
	smp.n_renames = 0;
	smp.renames_lost = false;
	CHECK(aggregate_update(&s, &smp, &dead, &nd) == 0);
	aggregate_read_names(&s, &tracked);
	CHECK_EQ_U64(reads, 2);
	aggregate_done(&s);
}

/* One sample of n live processes, with the BPF side's running count of failed updates. */
static void map_step(struct agg_state *s, size_t n, uint64_t failures)
{
	struct sample_entry e[4];
	uint32_t live[4];
	struct sample smp = {.entries = e,
			     .n_entries = n,
			     .live = live,
			     .n_live = n,
			     .mono_ns = s->mono_ns + 1,
			     .map_update_failures = failures,
			     .map_entries = n};
	struct agg_key *dead = NULL;
	size_t nd = 0;

	for (size_t i = 0; i < n; i++) {
		e[i] = (struct sample_entry)E(10 + (uint32_t)i, 1, 1, 0, 0, "p");
		live[i] = 10 + (uint32_t)i;
	}
	CHECK(aggregate_update(s, &smp, &dead, &nd) == 0);
	free(dead);
}

static void test_map_episode(void)
{
	struct agg_state s;

	aggregate_init(&s);
	map_step(&s, 4, 0);
	CHECK(aggregate_map_episode(&s, 4) == AGG_MAP_QUIET);
	map_step(&s, 4, 3); /* full: reported once */
	CHECK(aggregate_map_episode(&s, 4) == AGG_MAP_FULL);
	map_step(&s, 4, 5);
	CHECK(aggregate_map_episode(&s, 4) == AGG_MAP_QUIET);
	map_step(&s, 4, 5); /* no new failure, but still full: the episode goes on */
	CHECK(aggregate_map_episode(&s, 4) == AGG_MAP_QUIET);
	map_step(&s, 3, 5); /* room again */
	CHECK(aggregate_map_episode(&s, 4) == AGG_MAP_ROOM);
	map_step(&s, 3, 5);
	CHECK(aggregate_map_episode(&s, 4) == AGG_MAP_QUIET);
	map_step(&s, 4, 6); /* a new episode */
	CHECK(aggregate_map_episode(&s, 4) == AGG_MAP_FULL);
	CHECK_EQ_U64(s.map_update_failures, 6);
	aggregate_done(&s);
}

static void test_churn_bounded(void)
{
	struct agg_state s;
	struct sample_entry e[100];
	uint32_t live[1] = {1};
	struct agg_key *dead = NULL;
	size_t nd = 0;
	uint64_t total = 0;

	aggregate_init(&s);
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 100; i++)
			e[i] = (struct sample_entry)E(1000 + i, (uint64_t)round * 1000 + i, 1, 1, 5,
						      "worker");
		CHECK(apply(&s, e, 100, live, 1, (uint64_t)round + 1, &dead, &nd) == 0);
		free(dead);
		dead = NULL;
		total += 100;
		CHECK_EQ_U64(s.n_procs, 0);
	}
	CHECK_EQ_U64(s.processes_exited, total);
	CHECK_EQ_U64(s.n_groups, 1);
	CHECK_EQ_U64(aggregate_totals(&s).voluntary, total);
	CHECK_EQ_U64(s.n_recent_dead, 100);
	aggregate_done(&s);
}

/* The thread data path: exits come with the entries, no /proc list; missing is not exited. */
static int apply_thread(struct agg_state *s, struct sample_entry *e, size_t n, uint64_t mono,
			struct agg_key **dead, size_t *n_dead)
{
	struct sample smp = {.entries = e,
			     .n_entries = n,
			     .mono_ns = mono,
			     .exits_reported = true,
			     .sorted = true};
	return aggregate_update(s, &smp, dead, n_dead);
}

static void test_exits_reported(void)
{
	struct agg_state s;
	struct sample_entry a[] = {E(10, 1, 5, 1, 1000, "a"), E(20, 2, 1, 0, 50, "b")};
	struct sample_entry b[] = {E(10, 1, 7, 2, 1500, "a")}; /* b's thread between exit and
								   last switch: in neither list */
	struct sample_entry c[] = {E(10, 1, 1, 0, 10, "a"), E(20, 2, 3, 1, 90, "b"),
				   E(30, 3, 1, 0, 5, "c")};
	struct sample_entry d[] = {E(30, 3, 2, 0, 7, "c")};
	struct agg_key *dead = NULL;
	size_t nd = 0;
	struct counters t;

	aggregate_init(&s);
	CHECK(apply_thread(&s, a, 2, 1, &dead, &nd) == 0);
	CHECK_EQ_U64(s.n_procs, 2);
	CHECK_EQ_U64(nd, 0);
	free(dead);

	/* a ended (its exits entry says so); b is missing, which alone is no exit */
	b[0].exited = true;
	CHECK(apply_thread(&s, b, 1, 2, &dead, &nd) == 0);
	CHECK_EQ_U64(s.processes_exited, 1);
	CHECK_EQ_U64(nd, 1);
	CHECK_EQ_U64(dead[0].tgid, 10);
	free(dead);
	CHECK(find(&s, 10) == NULL);
	CHECK(find(&s, 20) != NULL && find(&s, 20)->missing == 1);
	t = aggregate_totals(&s);
	CHECK_EQ_U64(t.voluntary, 7 + 1);
	CHECK_EQ_U64(t.runtime_ns, 1500 + 50);

	/* a's last thread came back after the deletion (a late switch); b ended, with more */
	c[0].exited = true;
	c[1].exited = true;
	CHECK(apply_thread(&s, c, 3, 3, &dead, &nd) == 0);
	CHECK_EQ_U64(s.processes_exited, 2); /* b; a is not counted twice */
	free(dead);
	t = aggregate_totals(&s);
	CHECK_EQ_U64(t.voluntary, 7 + 1 + 3 + 1);
	CHECK_EQ_U64(t.involuntary, 2 + 1 + 0);
	CHECK_EQ_U64(t.runtime_ns, 1500 + 10 + 90 + 5);
	CHECK_EQ_U64(s.n_procs, 1);

	/* c goes missing for good: kept AGG_MISSING_MAX samples, then folded as vanished */
	CHECK(apply_thread(&s, d, 1, 4, &dead, &nd) == 0);
	free(dead);
	for (uint64_t k = 0; k < AGG_MISSING_MAX; k++) {
		CHECK(apply_thread(&s, NULL, 0, 5 + k, &dead, &nd) == 0);
		free(dead);
		CHECK_EQ_U64(s.n_procs, 1);
		CHECK_EQ_U64(s.processes_exited, 2);
	}
	CHECK(apply_thread(&s, NULL, 0, 9, &dead, &nd) == 0);
	free(dead);
	CHECK_EQ_U64(s.n_procs, 0);
	CHECK_EQ_U64(s.processes_exited, 3);
	t = aggregate_totals(&s);
	CHECK_EQ_U64(t.voluntary, 7 + 1 + 3 + 2);
	CHECK_EQ_U64(t.runtime_ns, 1500 + 10 + 90 + 7);
	aggregate_done(&s);
}

/*
 * The thread path with a pid reused while the old process's last slot is still read (it ends
 * one read later): the old one is not taken as exited at the reuse, so its counts, which its
 * entry still holds when it ends, are folded once.
 */
static void test_exits_reported_reuse(void)
{
	struct agg_state s;
	struct sample_entry a[] = {E(50, 1, 110, 0, 1000, "old")};
	struct sample_entry b[] = {E(50, 1, 110, 0, 1000, "old"), E(50, 9, 2, 0, 20, "new")};
	struct sample_entry c[] = {E(50, 1, 110, 0, 1000, "old"), E(50, 9, 3, 0, 30, "new")};
	struct agg_key *dead = NULL;
	size_t nd = 0;
	struct counters t;

	aggregate_init(&s);
	CHECK(apply_thread(&s, a, 1, 1, &dead, &nd) == 0);
	free(dead);
	CHECK(apply_thread(&s, b, 2, 2, &dead, &nd) == 0);
	free(dead);
	CHECK_EQ_U64(s.processes_exited, 0);
	CHECK_EQ_U64(s.n_procs, 2);
	c[0].exited = true;
	CHECK(apply_thread(&s, c, 2, 3, &dead, &nd) == 0);
	CHECK_EQ_U64(nd, 1);
	free(dead);
	CHECK_EQ_U64(s.processes_exited, 1);
	t = aggregate_totals(&s);
	CHECK_EQ_U64(t.voluntary, 110 + 3);
	CHECK_EQ_U64(t.runtime_ns, 1000 + 30);
	aggregate_done(&s);
}

int main(void)
{
	test_exits_reported();
	test_exits_reported_reuse();
	test_live_and_delta();
	test_exit_folds();
	test_pid_reuse();
	test_monotonic_and_vanished();
	test_comm_escape_and_set();
	test_renames();
	test_read_names();
	test_map_episode();
	test_churn_bounded();
	TEST_DONE();
}
