// SPDX-License-Identifier: GPL-2.0-only
/*
 * snapshot: the series /metrics shows. group_by comm across exits (a name's counters never go
 * down), include/exclude filters, the max_series cap keeping the busiest by CPU and counting
 * what it cut, totals that include everything, exited processes leaving the per-pid series
 * at the next snapshot, and renames (fork + exec) that take nothing from the old name; the
 * pool that hands a dropped snapshot's buffers to the next. The state is built with
 * aggregate_update(), as the daemon does.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "aggregate.h"
#include "config.h"
#include "snapshot.h"
#include "test.h"
#include "util.h"

#define E(pid, start, v, iv, ns, name)                                                      \
	{                                                                                   \
		.tgid = (pid), .start_ns = (start), .c = {(v), (iv), (ns), 0}, .comm = name \
	}

/* One aggregation: the map shows e[], the listed tgids are alive. */
static void step(struct agg_state *st, struct sample_entry *e, size_t n, const uint32_t *live,
		 size_t n_live)
{
	struct sample smp = {.entries = e,
			     .n_entries = n,
			     .live = live,
			     .n_live = n_live,
			     .mono_ns = st->mono_ns + NSEC_PER_SEC};
	struct agg_key *dead = NULL;
	size_t nd = 0;

	CHECK(aggregate_update(st, &smp, &dead, &nd) == 0);
	free(dead);
}

static void set_re(regex_t *re, bool *has, const char *src)
{
	CHECK(regcomp(re, src, REG_EXTENDED | REG_NOSUB) == 0);
	*has = true;
}

static struct config metrics_config(enum group_by g, uint32_t max_series, const char *include,
				    const char *exclude)
{
	struct config c;

	config_init(&c);
	c.group_by = g;
	c.max_series = max_series;
	if (include)
		set_re(&c.include_re, &c.has_include_re, include);
	if (exclude)
		set_re(&c.exclude_re, &c.has_exclude_re, exclude);
	return c;
}

static struct snapshot *snap(const struct agg_state *st, const struct config *c)
{
	struct snapshot_info info = {.version = "test", .attach_mode = "tp_btf", .interval_s = 1.0};
	struct snapshot *s = NULL;

	CHECK(snapshot_new(st, &info, c, st->mono_ns, 1764000000.0 + (double)st->updates, &s) == 0);
	return s;
}

static const struct snapshot_series *series_of(const struct snapshot *s, uint32_t pid,
					       const char *comm)
{
	for (size_t i = 0; s && i < s->n_series; i++)
		if (s->series[i].pid == pid && (!comm || strcmp(s->series[i].comm, comm) == 0))
			return &s->series[i];
	return NULL;
}

static bool series_sorted(const struct snapshot *s)
{
	for (size_t i = 1; i < s->n_series; i++) {
		const struct snapshot_series *a = &s->series[i - 1], *b = &s->series[i];

		if (a->pid > b->pid || (a->pid == b->pid && strcmp(a->comm, b->comm) >= 0))
			return false;
	}
	return true;
}

static bool counters_ge(const struct counters *a, const struct counters *b)
{
	return a->voluntary >= b->voluntary && a->involuntary >= b->involuntary &&
	       a->runtime_ns >= b->runtime_ns;
}

static bool has_text(const struct blob *b, const char *s)
{
	return b && b->data && memmem(b->data, b->len, s, strlen(s)) != NULL;
}

/* Three "worker" processes exit one by one; the "worker" series only ever grows. */
static void test_comm_across_exits(void)
{
	struct config c = metrics_config(GROUP_BY_COMM, 0, NULL, NULL);
	struct agg_state st;
	struct counters last = {};
	struct snapshot *s;
	const struct snapshot_series *w;

	struct sample_entry a[] = {E(10, 1, 5, 1, 1000, "worker"), E(11, 2, 7, 2, 2000, "worker"),
				   E(12, 3, 1, 0, 300, "worker"), E(20, 4, 50, 5, 9000, "db")};
	uint32_t live_a[] = {10, 11, 12, 20};
	/* 11 exits, after counting a little more */
	struct sample_entry b[] = {E(10, 1, 6, 1, 1100, "worker"), E(11, 2, 9, 2, 2500, "worker"),
				   E(12, 3, 1, 0, 300, "worker"), E(20, 4, 51, 5, 9100, "db")};
	uint32_t live_b[] = {10, 12, 20};
	/* 10 and 12 exit too; a process that lived and died between two reads adds to it */
	struct sample_entry d[] = {E(10, 1, 6, 1, 1200, "worker"), E(12, 3, 2, 0, 350, "worker"),
				   E(20, 4, 52, 5, 9200, "db"), E(13, 5, 4, 4, 40, "worker")};
	uint32_t live_d[] = {20};
	/* every "worker" gone: nothing of its name left in the map */
	struct sample_entry f[] = {E(20, 4, 53, 5, 9300, "db")};
	/* a new worker: its counts add to the group's */
	struct sample_entry g[] = {E(20, 4, 53, 5, 9300, "db"), E(14, 6, 1, 1, 10, "worker")};
	uint32_t live_g[] = {14, 20};

	aggregate_init(&st);
	step(&st, a, 4, live_a, 4);
	s = snap(&st, &c);
	CHECK(s && s->group_by == GROUP_BY_COMM);
	CHECK_EQ_U64(s->n_series, 2);
	w = series_of(s, 0, "worker");
	CHECK(w != NULL);
	if (w) {
		CHECK_EQ_U64(w->c.voluntary, 13);
		CHECK_EQ_U64(w->c.involuntary, 3);
		CHECK_EQ_U64(w->c.runtime_ns, 3300);
		last = w->c;
	}
	CHECK(has_text(snapshot_body(s, BODY_PROM),
		       "rawtpd_process_cpu_seconds_total{comm=\"worker\"} 0.0000033\n"));
	CHECK(!has_text(snapshot_body(s, BODY_PROM), "pid=\""));
	snapshot_unref(s);

	struct {
		struct sample_entry *e;
		size_t n;
		const uint32_t *live;
		size_t n_live;
		uint64_t want_vol, want_ns;
	} steps[] = {
		{b, 4, live_b, 3, 6 + 9 + 1, 1100 + 2500 + 300},
		{d, 4, live_d, 1, 6 + 9 + 2 + 4, 1200 + 2500 + 350 + 40},
		{f, 1, live_d, 1, 21, 4090},
		{g, 2, live_g, 2, 22, 4100},
	};
	for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
		step(&st, steps[i].e, steps[i].n, steps[i].live, steps[i].n_live);
		s = snap(&st, &c);
		w = series_of(s, 0, "worker");
		CHECK(w != NULL);
		if (!w) {
			snapshot_unref(s);
			continue;
		}
		CHECK(counters_ge(&w->c, &last));
		CHECK_EQ_U64(w->c.voluntary, steps[i].want_vol);
		CHECK_EQ_U64(w->c.runtime_ns, steps[i].want_ns);
		last = w->c;
		/* the per-process view still lists only live processes */
		CHECK_EQ_U64(s->n_procs, steps[i].n_live);
		CHECK(series_sorted(s));
		snapshot_unref(s);
	}
	CHECK_EQ_U64(st.processes_exited, 4);

	/* the same state by pid: only the live processes, no "worker" of the past */
	c.group_by = GROUP_BY_PID;
	s = snap(&st, &c);
	CHECK_EQ_U64(s->n_series, 2);
	CHECK(series_of(s, 14, "worker") && series_of(s, 20, "db"));
	CHECK(!series_of(s, 10, NULL) && !series_of(s, 11, NULL) && !series_of(s, 13, NULL));
	/* totals keep everything */
	CHECK_EQ_U64(s->totals.voluntary, 22 + 53);
	CHECK_EQ_U64(s->processes_exited, 4);
	CHECK_EQ_U64(s->info.series_dropped, 0);
	snapshot_unref(s);

	aggregate_done(&st);
	config_done(&c);
}

/* A process that exits is gone from the per-pid series (and the JSON) at the next snapshot. */
static void test_exit_leaves_pid_series(void)
{
	struct config c = metrics_config(GROUP_BY_PID, 0, NULL, NULL);
	struct agg_state st;
	struct snapshot *s;
	struct sample_entry a[] = {E(30, 1, 3, 1, 100, "short"), E(31, 2, 5, 0, 200, "long")};
	uint32_t live_a[] = {30, 31}, live_b[] = {31};

	aggregate_init(&st);
	step(&st, a, 2, live_a, 2);
	s = snap(&st, &c);
	CHECK(series_of(s, 30, "short") != NULL);
	CHECK(has_text(snapshot_body(s, BODY_PROM), "pid=\"30\",comm=\"short\""));
	CHECK(has_text(snapshot_body(s, BODY_JSON), "\"pid\":30,"));
	snapshot_unref(s);

	step(&st, a, 2, live_b, 1);
	s = snap(&st, &c);
	CHECK(series_of(s, 30, NULL) == NULL);
	CHECK(series_of(s, 31, "long") != NULL);
	CHECK(!has_text(snapshot_body(s, BODY_PROM), "pid=\"30\""));
	CHECK(!has_text(snapshot_body(s, BODY_OPENMETRICS), "pid=\"30\""));
	CHECK(!has_text(snapshot_body(s, BODY_JSON), "\"pid\":30,"));
	CHECK_EQ_U64(s->totals.voluntary, 8);
	CHECK_EQ_U64(s->processes_exited, 1);
	CHECK(has_text(snapshot_body(s, BODY_PROM), "rawtpd_processes_exited_total 1\n"));
	CHECK(has_text(snapshot_body(s, BODY_PROM),
		       "rawtpd_context_switches_total{type=\"voluntary\"} 8\n"));
	snapshot_unref(s);

	/* a reused pid: a new series of its own, nothing inherited */
	struct sample_entry d[] = {E(30, 9, 1, 0, 7, "again"), E(31, 2, 5, 0, 200, "long")};
	uint32_t live_d[] = {30, 31};
	step(&st, d, 2, live_d, 2);
	s = snap(&st, &c);
	const struct snapshot_series *e = series_of(s, 30, NULL);
	CHECK(e && strcmp(e->comm, "again") == 0 && e->c.voluntary == 1 && e->c.runtime_ns == 7);
	snapshot_unref(s);

	aggregate_done(&st);
	config_done(&c);
}

/* A state with six live processes and one exited "sshd". */
static void filter_state(struct agg_state *st)
{
	struct sample_entry a[] = {
		E(1, 1, 100, 10, 5000, "systemd"),  E(2, 2, 20, 2, 300, "kworker/0:1"),
		E(3, 3, 30, 3, 400, "kworker/1:0"), E(4, 4, 40, 4, 7000, "nginx"),
		E(5, 5, 50, 5, 6000, "nginx"),	    E(6, 6, 60, 6, 100, "sshd"),
		E(7, 7, 70, 7, 800, "sshd"),
	};
	uint32_t live[] = {1, 2, 3, 4, 5, 6};

	aggregate_init(st);
	step(st, a, ELEMENTSOF(a), live, ELEMENTSOF(live));
}

static void test_filters(void)
{
	struct agg_state st;
	struct config c;
	struct snapshot *s;

	filter_state(&st);

	/* exclude */
	c = metrics_config(GROUP_BY_PID, 0, NULL, "^kworker/");
	s = snap(&st, &c);
	CHECK_EQ_U64(s->n_series, 4);
	CHECK(!series_of(s, 2, NULL) && !series_of(s, 3, NULL));
	CHECK_EQ_U64(s->info.series_dropped, 2);
	/* filtered processes stay in the totals and the JSON */
	CHECK_EQ_U64(s->totals.voluntary, 100 + 20 + 30 + 40 + 50 + 60 + 70);
	CHECK_EQ_U64(s->n_procs, 6);
	CHECK(has_text(snapshot_body(s, BODY_JSON), "\"comm\":\"kworker/0:1\""));
	CHECK(has_text(snapshot_body(s, BODY_PROM), "rawtpd_series_dropped 2\n"));
	CHECK(has_text(snapshot_body(s, BODY_STATUS), "\"series_dropped\":2"));
	snapshot_unref(s);
	config_done(&c);

	/* include */
	c = metrics_config(GROUP_BY_PID, 0, "^(nginx|sshd)$", NULL);
	s = snap(&st, &c);
	CHECK_EQ_U64(s->n_series, 3);
	CHECK(series_of(s, 4, "nginx") && series_of(s, 5, "nginx") && series_of(s, 6, "sshd"));
	CHECK_EQ_U64(s->info.series_dropped, 3);
	snapshot_unref(s);
	config_done(&c);

	/* both: include wins first, exclude then takes away */
	c = metrics_config(GROUP_BY_PID, 0, "n", "^sshd$");
	s = snap(&st, &c);
	CHECK_EQ_U64(s->n_series, 2);
	CHECK(series_of(s, 4, NULL) && series_of(s, 5, NULL));
	snapshot_unref(s);
	config_done(&c);

	/* by comm: groups of exited processes are filtered the same way */
	c = metrics_config(GROUP_BY_COMM, 0, NULL, "^kworker/|^systemd$");
	s = snap(&st, &c);
	CHECK_EQ_U64(s->n_series, 2);
	const struct snapshot_series *e = series_of(s, 0, "sshd");
	CHECK(e && e->c.voluntary == 130 && e->c.runtime_ns == 900); /* live 6 + exited 7 */
	e = series_of(s, 0, "nginx");
	CHECK(e && e->c.voluntary == 90);
	CHECK_EQ_U64(s->info.series_dropped, 3);
	CHECK_EQ_U64(s->totals.voluntary, 370);
	snapshot_unref(s);
	config_done(&c);

	/* a filter matching nothing: no series, totals intact, still valid output */
	c = metrics_config(GROUP_BY_PID, 0, "^nothing-is-called-this$", NULL);
	s = snap(&st, &c);
	CHECK_EQ_U64(s->n_series, 0);
	CHECK_EQ_U64(s->info.series_dropped, 6);
	CHECK(has_text(snapshot_body(s, BODY_PROM),
		       "# TYPE rawtpd_process_cpu_seconds_total counter\n"));
	CHECK(has_text(snapshot_body(s, BODY_OPENMETRICS), "# EOF\n"));
	CHECK_EQ_U64(s->totals.voluntary, 370);
	snapshot_unref(s);
	config_done(&c);

	aggregate_done(&st);
}

static void test_max_series(void)
{
	struct agg_state st;
	struct config c;
	struct snapshot *s;

	filter_state(&st);

	/* the three busiest by CPU: nginx 4 (7000), nginx 5 (6000), systemd 1 (5000) */
	c = metrics_config(GROUP_BY_PID, 3, NULL, NULL);
	s = snap(&st, &c);
	CHECK_EQ_U64(s->n_series, 3);
	CHECK(series_of(s, 1, "systemd") && series_of(s, 4, "nginx") && series_of(s, 5, "nginx"));
	CHECK(series_sorted(s));
	CHECK_EQ_U64(s->info.series_dropped, 3);
	CHECK(has_text(snapshot_body(s, BODY_PROM), "rawtpd_series_dropped 3\n"));
	CHECK_EQ_U64(s->totals.runtime_ns, 5000 + 300 + 400 + 7000 + 6000 + 100 + 800);
	CHECK_EQ_U64(s->n_procs, 6);
	snapshot_unref(s);
	config_done(&c);

	/* cap and filter together: both counted as dropped */
	c = metrics_config(GROUP_BY_PID, 1, NULL, "^nginx$");
	s = snap(&st, &c);
	CHECK_EQ_U64(s->n_series, 1);
	CHECK(series_of(s, 1, "systemd") != NULL);
	CHECK_EQ_U64(s->info.series_dropped, 5);
	snapshot_unref(s);
	config_done(&c);

	/* a cap at or above the count cuts nothing */
	c = metrics_config(GROUP_BY_PID, 6, NULL, NULL);
	s = snap(&st, &c);
	CHECK_EQ_U64(s->n_series, 6);
	CHECK_EQ_U64(s->info.series_dropped, 0);
	snapshot_unref(s);
	config_done(&c);

	/* by comm, groups ranked by their summed CPU: nginx 13000, systemd 5000, sshd 900 */
	c = metrics_config(GROUP_BY_COMM, 2, NULL, NULL);
	s = snap(&st, &c);
	CHECK_EQ_U64(s->n_series, 2);
	CHECK(series_of(s, 0, "nginx") && series_of(s, 0, "systemd"));
	CHECK(series_sorted(s));
	CHECK_EQ_U64(s->info.series_dropped, 3);
	snapshot_unref(s);
	config_done(&c);

	aggregate_done(&st);

	/* ties on CPU: the lower pid is kept, so the choice is stable from one scrape to the next */
	struct sample_entry t[] = {E(9, 1, 1, 0, 500, "b"), E(8, 2, 1, 0, 500, "a"),
				   E(7, 3, 1, 0, 100, "c")};
	uint32_t live[] = {7, 8, 9};
	aggregate_init(&st);
	step(&st, t, 3, live, 3);
	c = metrics_config(GROUP_BY_PID, 1, NULL, NULL);
	s = snap(&st, &c);
	CHECK(s->n_series == 1 && s->series[0].pid == 8);
	snapshot_unref(s);
	config_done(&c);
	aggregate_done(&st);
}

/* Many distinct names grouped by comm, in no order, with a cap: complete and sorted. */
static const char *many_name(char *buf, size_t j)
{
	/* 7919 is prime: j -> name is a shuffle of 0..4999 */
	snprintf(buf, COMM_RAW_LEN, "w%05zu", (j * 7919) % 5000);
	return buf;
}

static void test_many_names(void)
{
	const size_t n = 10000;
	struct sample_entry *e = calloc(n, sizeof(*e));
	uint32_t *live = calloc(n, sizeof(*live));
	struct config c = metrics_config(GROUP_BY_COMM, 100, NULL, NULL);
	struct agg_state st;
	struct snapshot *s;
	char name[COMM_RAW_LEN];

	CHECK(e && live);
	if (!e || !live)
		goto out;
	for (size_t i = 0; i < n; i++) {
		/* two processes per name; the later j, the busier the name */
		e[i] = (struct sample_entry)E(100 + i, i + 1, 1, 1, 1000 + i, "");
		memcpy(e[i].comm, many_name(name, i / 2), sizeof(e[i].comm));
		live[i] = 100 + i;
	}
	aggregate_init(&st);
	step(&st, e, n, live, n);
	s = snap(&st, &c);
	CHECK_EQ_U64(s->n_series, 100);
	CHECK_EQ_U64(s->info.series_dropped, n / 2 - 100);
	CHECK(series_sorted(s));
	CHECK(series_of(s, 0, many_name(name, 4900)) != NULL);
	CHECK(series_of(s, 0, many_name(name, 4899)) == NULL);
	const struct snapshot_series *w = series_of(s, 0, many_name(name, 4999));
	CHECK(w && w->c.voluntary == 2 && w->c.runtime_ns == 2 * 1000 + 9998 + 9999);
	snapshot_unref(s);

	/* uncapped: every name once, each the sum of its two processes */
	c.max_series = 0;
	s = snap(&st, &c);
	CHECK_EQ_U64(s->n_series, n / 2);
	CHECK(series_sorted(s));
	uint64_t vol = 0;
	for (size_t i = 0; i < s->n_series; i++)
		vol += s->series[i].c.voluntary;
	CHECK_EQ_U64(vol, n);
	snapshot_unref(s);
	aggregate_done(&st);
out:
	config_done(&c);
	free(e);
	free(live);
}

/* A fork that execs: counted under the parent's name, then renamed. No name goes down. */
static void test_rename_keeps_groups(void)
{
	struct config c = metrics_config(GROUP_BY_COMM, 0, NULL, NULL);
	struct agg_state st;
	struct snapshot *s;
	struct sample_entry a[] = {E(10, 1, 100, 0, 1000, "bash"), E(11, 2, 5, 0, 50, "bash")};
	struct sample_entry b[] = {E(10, 1, 100, 0, 1000, "bash"), E(11, 2, 7, 0, 80, "bash")};
	struct sample_rename rn[] = {{11, 2, "sleep"}};
	uint32_t live[] = {10, 11}, live_c[] = {10};
	struct sample smp = {.entries = b,
			     .n_entries = 2,
			     .live = live,
			     .n_live = 2,
			     .renames = rn,
			     .n_renames = 1};
	struct agg_key *dead = NULL;
	size_t nd = 0;

	aggregate_init(&st);
	step(&st, a, 2, live, 2);
	s = snap(&st, &c);
	CHECK(series_of(s, 0, "bash") && series_of(s, 0, "bash")->c.voluntary == 105);
	snapshot_unref(s);

	smp.mono_ns = st.mono_ns + NSEC_PER_SEC;
	CHECK(aggregate_update(&st, &smp, &dead, &nd) == 0);
	s = snap(&st, &c);
	const struct snapshot_series *bash = series_of(s, 0, "bash"),
				     *sl = series_of(s, 0, "sleep");
	/* the two switches of this interval happened before the rename was seen: under bash */
	CHECK(bash && bash->c.voluntary == 107 && bash->c.runtime_ns == 1080);
	CHECK(sl && sl->c.voluntary == 0);
	snapshot_unref(s);

	struct sample_entry d[] = {E(10, 1, 100, 0, 1000, "bash"), E(11, 2, 9, 1, 90, "bash")};
	step(&st, d, 2, live, 2);
	s = snap(&st, &c);
	bash = series_of(s, 0, "bash");
	sl = series_of(s, 0, "sleep");
	CHECK(bash && bash->c.voluntary == 107);
	CHECK(sl && sl->c.voluntary == 2 && sl->c.involuntary == 1 && sl->c.runtime_ns == 10);
	snapshot_unref(s);

	/* by pid, the process shows all it counted, under its new name */
	c.group_by = GROUP_BY_PID;
	s = snap(&st, &c);
	const struct snapshot_series *e = series_of(s, 11, NULL);
	CHECK(e && strcmp(e->comm, "sleep") == 0 && e->c.voluntary == 9 && e->c.runtime_ns == 90);
	snapshot_unref(s);
	c.group_by = GROUP_BY_COMM;

	/* it exits: sleep keeps its part, bash its own, totals everything */
	step(&st, d, 2, live_c, 1);
	s = snap(&st, &c);
	bash = series_of(s, 0, "bash");
	sl = series_of(s, 0, "sleep");
	CHECK(bash && bash->c.voluntary == 107);
	CHECK(sl && sl->c.voluntary == 2 && sl->c.runtime_ns == 10);
	CHECK_EQ_U64(s->totals.voluntary, 109);
	CHECK_EQ_U64(s->totals.runtime_ns, 1090);
	snapshot_unref(s);
	free(dead);
	aggregate_done(&st);
	config_done(&c);
}

/* Two stores are two latest snapshots; a store holds a reference of its own. */
static void test_store(void)
{
	struct config c = metrics_config(GROUP_BY_PID, 0, NULL, NULL);
	struct snapshot_store *a = NULL, *b = NULL;
	struct sample_entry e[] = {E(10, 1, 5, 1, 1000, "bash")};
	uint32_t live[] = {10};
	struct agg_state st;
	struct snapshot *s1, *s2, *got;

	aggregate_init(&st);
	step(&st, e, 1, live, 1);
	s1 = snap(&st, &c);
	s2 = snap(&st, &c);
	CHECK(snapshot_store_new(&a) == 0 && snapshot_store_new(&b) == 0);
	CHECK(snapshot_store_get(a) == NULL);
	snapshot_store_publish(a, s1);
	CHECK(snapshot_store_get(b) == NULL);
	snapshot_store_publish(b, s2);
	got = snapshot_store_get(a);
	CHECK(got == s1);
	CHECK_EQ_U64(s1->n_ref, 3); /* ours, the store's, got */
	snapshot_unref(got);
	snapshot_store_publish(a, s2); /* a lets go of s1 */
	CHECK_EQ_U64(s1->n_ref, 1);
	CHECK_EQ_U64(s2->n_ref, 3);
	snapshot_unref(s1);
	a = snapshot_store_free(a);
	b = snapshot_store_free(b);
	CHECK(!a && !b);
	CHECK_EQ_U64(s2->n_ref, 1);
	/* the body of a published snapshot is the same bytes for every caller */
	CHECK(snapshot_body(s2, BODY_JSON) == snapshot_body(s2, BODY_JSON));
	snapshot_unref(s2);
	aggregate_done(&st);
	config_done(&c);
}

/* n processes (pids 100, 103, ...; names of a few lengths), counters grown by round. */
static void many_step(struct agg_state *st, size_t n, uint64_t round)
{
	static const char *const names[] = {"bash", "kworker/1:2", "systemd-journal", "nginx"};
	struct sample_entry *e = calloc(n, sizeof(*e));
	uint32_t *live = calloc(n, sizeof(*live));

	CHECK(e && live);
	for (size_t i = 0; e && live && i < n; i++) {
		live[i] = 100 + 3 * (uint32_t)i;
		e[i] = (struct sample_entry){
			.tgid = live[i],
			.start_ns = 1000ull * live[i],
			.c = {round * (1 + i % 5), round * (i % 3), 12345 * round * (1 + i % 7),
			      round * (i % 11)},
		};
		snprintf(e[i].comm, sizeof(e[i].comm), "%s", names[i % 4]);
	}
	if (e && live)
		step(st, e, n, live, n);
	free(e);
	free(live);
}

static struct snapshot *pool_snap(const struct agg_state *st, const struct config *c,
				  struct snapshot_pool *pool)
{
	struct snapshot_info info = {
		.version = "test", .attach_mode = "tp_btf", .interval_s = 1.0, .pool = pool};
	struct snapshot *s = NULL;

	CHECK(snapshot_new(st, &info, c, st->mono_ns, 1764000000.0 + (double)st->updates, &s) == 0);
	return s;
}

static bool same_bytes(const struct blob *a, const struct blob *b)
{
	return a && b && a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/*
 * A dropped snapshot's buffers serve the next one (snapshot.h): the process table, the series,
 * the text exposition and a gzip body come back as the same allocations, with the bytes a
 * snapshot made without the pool has. While a snapshot is still held (by the store, by an HTTP
 * response) the next one gets buffers of its own. Once the host has shrunk, the large buffers
 * are let go: those still taken within a few snapshots, the others (a body nobody asks for
 * any more) after 64.
 */
static void test_pool(void)
{
	struct config c = metrics_config(GROUP_BY_PID, 0, NULL, NULL);
	const size_t n = 20000; /* every buffer far over 128 KiB: mmap'd by a default malloc */
	struct snapshot_pool *pool = NULL;
	struct snapshot_pool_stats ps;
	struct snapshot *s1, *s2, *s3, *plain, *prev;
	const struct blob *gz1, *gz3;
	void *prom1, *procs1, *series1, *gz1_data;
	struct agg_state st;
	long faults;

	CHECK(snapshot_pool_new(&pool) == 0);
	aggregate_init(&st);
	many_step(&st, n, 1);
	s1 = pool_snap(&st, &c, pool);
	gz1 = snapshot_body(s1, BODY_PROM_GZ);
	CHECK(s1->n_procs == n && s1->n_series == n && gz1);
	prom1 = s1->body[BODY_PROM].data;
	procs1 = s1->procs;
	series1 = s1->series;
	gz1_data = gz1 ? gz1->data : NULL;
	CHECK(s1->body[BODY_PROM].size >= s1->body[BODY_PROM].len);

	/* made while s1 is still served: nothing to reuse yet */
	many_step(&st, n, 2);
	s2 = pool_snap(&st, &c, pool);
	CHECK(s2->procs != procs1 && s2->series != series1 && s2->body[BODY_PROM].data != prom1);
	snapshot_pool_stats(pool, &ps);
	CHECK_EQ_U64(ps.reused, 0);
	CHECK_EQ_U64(ps.allocated, 7); /* procs, series, text and its gzip; procs, series, text */
	CHECK_EQ_U64(ps.held_bytes, 0);

	/* s1 dropped: its four buffers wait in the pool, and s3 gets them */
	snapshot_unref(s1);
	snapshot_pool_stats(pool, &ps);
	CHECK(ps.held_bytes > 0);
	many_step(&st, n, 3);
	faults = minor_faults();
	s3 = pool_snap(&st, &c, pool);
	gz3 = snapshot_body(s3, BODY_PROM_GZ);
	faults = minor_faults() - faults;
	CHECK(s3->procs == procs1);
	CHECK(s3->series == series1);
	CHECK(s3->body[BODY_PROM].data == prom1);
	CHECK(gz3 && gz3->data == gz1_data);
	snapshot_pool_stats(pool, &ps);
	CHECK_EQ_U64(ps.reused, 4);
	CHECK_EQ_U64(ps.allocated, 7);
	CHECK_EQ_U64(ps.held_bytes, 0);
	printf("test_pool: %zu processes, %ld minor faults for a snapshot and its gzip body made "
	       "in "
	       "reused buffers\n",
	       n, faults);

	/* the same bytes as without the pool */
	plain = snap(&st, &c);
	CHECK(plain->n_procs == s3->n_procs && plain->n_series == s3->n_series);
	CHECK(same_bytes(snapshot_body(s3, BODY_PROM), snapshot_body(plain, BODY_PROM)));
	CHECK(same_bytes(gz3, snapshot_body(plain, BODY_PROM_GZ)));
	CHECK(same_bytes(snapshot_body(s3, BODY_JSON), snapshot_body(plain, BODY_JSON)));
	CHECK(same_bytes(snapshot_body(s3, BODY_OPENMETRICS),
			 snapshot_body(plain, BODY_OPENMETRICS)));
	snapshot_unref(plain);
	snapshot_unref(s2);

	/* the host shrinks to 500 processes: a snapshot at a time, as the daemon publishes */
	prev = s3;
	for (uint64_t r = 4; r < 80; r++) { /* 64 snapshots, then the unused bodies go too */
		struct snapshot *s;

		many_step(&st, 500, r);
		s = pool_snap(&st, &c, pool);
		CHECK(s->n_procs == 500);
		CHECK(snapshot_body(s, BODY_PROM_GZ));
		if (r == 14) { /* ten snapshots on: what every snapshot takes is small again */
			CHECK(s->procs_size < (1 << 20));
			CHECK(s->series_size < (1 << 20));
			CHECK(s->body[BODY_PROM].size < (1 << 20));
		}
		snapshot_unref(prev);
		prev = s;
	}
	snapshot_pool_stats(pool, &ps);
	CHECK(ps.freed > 0);
	CHECK(ps.held_bytes < (1 << 20)); /* the 20k buffers were over 5 MiB */
	printf("test_pool: after shrinking to 500 processes, %zu bytes kept\n", ps.held_bytes);
	snapshot_unref(prev);

	/* the pool lives until the last snapshot made from it goes */
	s1 = pool_snap(&st, &c, pool);
	pool = snapshot_pool_unref(pool);
	CHECK(!pool);
	CHECK(snapshot_body(s1, BODY_PROM));
	snapshot_unref(s1);
	aggregate_done(&st);
	config_done(&c);
}

int main(void)
{
	test_comm_across_exits();
	test_exit_leaves_pid_series();
	test_filters();
	test_max_series();
	test_many_names();
	test_rename_keeps_groups();
	test_store();
	test_pool();
	TEST_DONE();
}
