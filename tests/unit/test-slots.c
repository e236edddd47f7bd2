// SPDX-License-Identifier: GPL-2.0-only
/*
 * slots.c on maps made here: an mmap'able array of struct rawtpd_slot and the free-slot queue,
 * filled from user space as the thread path's BPF program fills them. A process is the sum of
 * its threads' slots minus their bases; a dead thread's slot is kept one read (its last
 * figures may be on their way), then freed (zeroed, its index back in the queue) with what it
 * counted kept for its process; a process is exited once its last thread's slot is freed and
 * one of them said it was the last; its kept counts go when aggregation forgets it. Needs root
 * (or CAP_BPF) to make maps: skipped (77) without.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "rawtpd.h"
#include "slots.h"
#include "test.h"

#define EXIT_SKIP 77
#define N_SLOTS	  8

static int slots_fd, free_fd;
static char proc_root[] = "/tmp/rawtpd-test-slots.XXXXXX";
static struct rawtpd_slot *map;

static void make_maps(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);

	slots_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "test_slots", sizeof(__u32),
				  sizeof(struct rawtpd_slot), N_SLOTS, &opts);
	free_fd = bpf_map_create(BPF_MAP_TYPE_QUEUE, "test_free", 0, sizeof(__u32), N_SLOTS, NULL);
	if (slots_fd < 0 || free_fd < 0) {
		if (errno == EPERM) {
			fprintf(stderr, "skip: making BPF maps needs root or CAP_BPF\n");
			exit(EXIT_SKIP);
		}
		fprintf(stderr, "bpf_map_create: %m\n");
		exit(EXIT_FAILURE);
	}
	map = mmap(NULL, N_SLOTS * sizeof(*map), PROT_READ | PROT_WRITE, MAP_SHARED, slots_fd, 0);
	if (map == MAP_FAILED) {
		fprintf(stderr, "mmap: %m\n");
		exit(EXIT_FAILURE);
	}
}

/* Take slot idx for thread tid of process (tgid, start), with its base and figures now. */
static void take(uint32_t idx, uint32_t tgid, uint64_t start, uint32_t tid, uint64_t base,
		 uint64_t now, const char *comm)
{
	struct rawtpd_slot *e = &map[idx];

	*e = (struct rawtpd_slot){
		.voluntary = now,
		.involuntary = now / 2,
		.runtime_ns = now * 1000,
		.run_delay_ns = now * 10,
		.cgroup_id = 4242,
		.cgroup_gen = 1,
		.tgid = tgid,
		.leader_start_ns = start,
		.base_voluntary = base,
		.base_involuntary = base / 2,
		.base_runtime_ns = base * 1000,
		.base_run_delay_ns = base * 10,
	};
	snprintf(e->comm, sizeof(e->comm), "%s", comm);
	__atomic_store_n(&e->tid, tid, __ATOMIC_RELEASE);
}

static void run(struct rawtpd_slot *e, uint64_t now)
{
	e->voluntary = now;
	e->involuntary = now / 2;
	e->runtime_ns = now * 1000;
	e->run_delay_ns = now * 10;
}

struct got {
	struct sample_entry *e;
	size_t n;
	uint64_t threads;
};

static struct got read_all(struct slots *s)
{
	struct got g = {};

	CHECK(slots_read(s, &g.e, &g.n, &g.threads) == 0);
	for (size_t i = 1; i < g.n; i++)
		CHECK(g.e[i - 1].tgid < g.e[i].tgid ||
		      (g.e[i - 1].tgid == g.e[i].tgid && g.e[i - 1].start_ns < g.e[i].start_ns));
	return g;
}

static const struct sample_entry *find(const struct got *g, uint32_t tgid, uint64_t start)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->e[i].tgid == tgid && g->e[i].start_ns == start)
			return &g->e[i];
	return NULL;
}

/* The figures take() and run() give for a thread that went from base to now. */
static void check_counts(const struct sample_entry *e, uint64_t done)
{
	CHECK(e != NULL);
	if (!e)
		return;
	CHECK_EQ_U64(e->c.voluntary, done);
	CHECK_EQ_U64(e->c.runtime_ns, done * 1000);
	CHECK_EQ_U64(e->c.run_delay_ns, done * 10);
}

static size_t queued(void)
{
	size_t n = 0;
	__u32 v = UINT32_MAX; /* what the kernel writes there, valgrind cannot see */

	while (bpf_map_lookup_and_delete_elem(free_fd, NULL, &v) == 0) {
		CHECK(v < N_SLOTS);
		CHECK_EQ_U64(map[v].tid, 0);
		CHECK_EQ_U64(map[v].voluntary, 0);
		n++;
	}
	return n;
}

/* A fixture /proc/<tgid>/stat for a process that started at start_ns (CLOCK_MONOTONIC). */
static void fixture_stat(uint32_t tgid, uint64_t start_ns)
{
	struct timespec mono, boot;
	char path[128];
	double ticks;
	FILE *f;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	ticks = ((double)start_ns + (double)(boot.tv_sec - mono.tv_sec) * 1e9 +
		 (double)(boot.tv_nsec - mono.tv_nsec)) *
		(double)sysconf(_SC_CLK_TCK) / 1e9;
	snprintf(path, sizeof(path), "%s/%u", proc_root, tgid);
	CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/%u/stat", proc_root, tgid);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	/* a name with ") " in it, as a hostile process may have */
	fprintf(f, "%u (a) b) S 1 1 1 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 %.0f 1000 1\n", tgid,
		ticks);
	fclose(f);
}

/*
 * A process whose last thread found no free slot at its last switch: its kept counts have no
 * slot. After two such reads /proc is asked: gone (or its pid taken by a later process) is
 * exited, there is still live.
 */
static void test_orphans(struct slots *s)
{
	uint64_t start = 5000000000ull;
	const struct sample_entry *e;
	struct got g;

	fixture_stat(401, start);     /* still running, its last threads without a slot yet */
	fixture_stat(402, start + 1); /* the pid taken again, a second later */
	take(1, 400, start, 400, 0, 4, "gone");
	take(2, 401, start, 401, 0, 5, "there");
	take(4, 402, start + 1000000000ull, 402, 0, 6, "reused");
	for (uint32_t k = 1; k <= 4; k++)
		if (k != 3)
			map[k].dead = 1; /* not ended: the last threads are not seen */
	for (int r = 0; r < 4; r++) {
		g = read_all(s);
		for (uint32_t t = 400; t <= 402; t++)
			CHECK(find(&g, t, t == 402 ? start + 1000000000ull : start) &&
			      !find(&g, t, t == 402 ? start + 1000000000ull : start)->exited);
	}
	g = read_all(s);
	e = find(&g, 400, start);
	check_counts(e, 4);
	CHECK(e && e->exited);
	e = find(&g, 401, start);
	CHECK(e && !e->exited);
	e = find(&g, 402, start + 1000000000ull);
	CHECK(e && e->exited);
	CHECK_EQ_U64(queued(), 3);
}

int main(void)
{
	struct slots *s = NULL;
	struct got g;
	const struct sample_entry *e;

	if (!mkdtemp(proc_root)) {
		fprintf(stderr, "mkdtemp: %m\n");
		return EXIT_FAILURE;
	}
	make_maps();
	CHECK(slots_open(free_fd, free_fd, proc_root, &s) == -EINVAL); /* not the slots array */
	CHECK(slots_open(slots_fd, free_fd, proc_root, &s) == 0);
	CHECK_EQ_U64(slots_capacity(s), N_SLOTS);

	/* process 100 with two threads, one seen before attaching (base 10); process 200 whose
	 * only thread's first switch was its last */
	take(0, 100, 1, 100, 0, 5, "leader");
	take(3, 100, 1, 101, 10, 14, "leader");
	take(5, 200, 7, 200, 0, 3, "short");
	map[5].dead = 1;
	map[5].ended = 1;

	g = read_all(s);
	CHECK_EQ_U64(g.n, 2);
	CHECK_EQ_U64(g.threads, 3);
	check_counts(find(&g, 100, 1), 5 + 4);
	e = find(&g, 100, 1);
	CHECK(e && !e->exited && strcmp(e->comm, "leader") == 0 && e->cgroup_id == 4242);
	e = find(&g, 200, 7);
	check_counts(e, 3);
	CHECK(e && !e->exited); /* read dead once: kept until the next read */
	CHECK_EQ_U64(queued(), 0);

	/* the next read frees it: process 200 has exited, with what it counted */
	run(&map[0], 8);
	g = read_all(s);
	CHECK_EQ_U64(g.threads, 2);
	check_counts(find(&g, 100, 1), 8 + 4);
	e = find(&g, 200, 7);
	check_counts(e, 3);
	CHECK(e && e->exited && strcmp(e->comm, "short") == 0);
	CHECK_EQ_U64(queued(), 1);

	/* until aggregation forgets it, it is reported again, as exited */
	g = read_all(s);
	e = find(&g, 200, 7);
	CHECK(e && e->exited);
	slots_forget(s, &(struct agg_key){.tgid = 200, .start_ns = 7}, 1);
	g = read_all(s);
	CHECK(find(&g, 200, 7) == NULL);

	/* thread 101 exits (not the last): its counts stay with process 100, which goes on */
	run(&map[3], 20);
	map[3].dead = 1;
	g = read_all(s);
	check_counts(find(&g, 100, 1), 8 + 10);
	g = read_all(s);
	check_counts(find(&g, 100, 1), 8 + 10);
	CHECK(!find(&g, 100, 1)->exited);
	CHECK_EQ_U64(g.threads, 1);
	CHECK_EQ_U64(queued(), 1);

	/* a new thread takes a freed slot: it adds, nothing is inherited */
	take(3, 100, 1, 102, 0, 2, "leader");
	run(&map[0], 9);
	g = read_all(s);
	check_counts(find(&g, 100, 1), 9 + 10 + 2);

	/* the same pid again with another start time is another process */
	take(6, 100, 99, 100, 0, 1, "reused");
	g = read_all(s);
	check_counts(find(&g, 100, 1), 9 + 10 + 2);
	check_counts(find(&g, 100, 99), 1);

	/* the last threads of process 100 exit: exited once both slots are freed */
	map[0].dead = 1;
	map[3].dead = 1;
	map[3].ended = 1;
	g = read_all(s);
	CHECK(!find(&g, 100, 1)->exited);
	g = read_all(s);
	e = find(&g, 100, 1);
	check_counts(e, 9 + 10 + 2);
	CHECK(e && e->exited);
	CHECK(!find(&g, 100, 99)->exited);
	CHECK_EQ_U64(g.threads, 1);
	CHECK_EQ_U64(queued(), 2);
	CHECK_EQ_U64(slots_lost(s), 0);

	slots_forget(s, (struct agg_key[]){{100, 1}}, 1);
	test_orphans(s);

	slots_close(s);
	{
		char cmd[96];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", proc_root);
		CHECK(system(cmd) == 0);
	}
	TEST_DONE();
}
