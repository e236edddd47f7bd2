// SPDX-License-Identifier: GPL-2.0-only
/*
 * collector.c on maps it does not own: real BPF maps made here with bpf_map_create(), filled
 * from user space as the BPF program would fill them, then read through collector_new() and
 * collector_read(): the sum over CPUs, batch reads chunk by chunk and key by key, the renames,
 * the map-full counter, deletion, the live list and names from a fixture /proc, and each map's
 * memlock. Needs root (or CAP_BPF) to make maps: skipped (77) without, after the one part that
 * needs none (memlock from fdinfo fixtures).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "collector.h"
#include "rawtpd.h"
#include "test.h"
#include "util.h"

#define EXIT_SKIP 77

static int ncpus;
static char proc_root[] = "/tmp/rawtpd-test-collector.XXXXXX";

struct test_maps {
	int counts, renames, stats;
};

static void test_maps_done(struct test_maps *m)
{
	closep(&m->counts);
	closep(&m->renames);
	closep(&m->stats);
}

/* The daemon's three maps, as rawtpd.bpf.c declares them, with the sizes given; or exit. */
static void make_maps(uint32_t capacity, uint32_t renames_size, struct test_maps *ret)
{
	struct test_maps m = {-1, -1, -1};

	m.counts =
		bpf_map_create(BPF_MAP_TYPE_PERCPU_HASH, "test_counts", sizeof(struct rawtpd_key),
			       sizeof(struct rawtpd_value), capacity, NULL);
	m.renames = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "test_renames", sizeof(struct rawtpd_key),
				   sizeof(struct rawtpd_comm), renames_size, NULL);
	m.stats = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "test_stats", sizeof(__u32),
				 sizeof(__u64), RAWTPD_STAT_MAX, NULL);
	if (m.counts < 0 || m.renames < 0 || m.stats < 0) {
		fprintf(stderr, "bpf_map_create: %m\n");
		exit(EXIT_FAILURE);
	}
	*ret = m;
}

static struct collector *new_collector(const struct test_maps *m, uint32_t chunk, bool key_by_key)
{
	struct collector_maps cm = {
		.counts = m->counts,
		.slots = -1,
		.renames = m->renames,
		.stats = m->stats,
		.read_chunk = chunk,
		.key_by_key = key_by_key,
	};
	struct collector *c = NULL;
	int r;

	r = collector_new(&cm, proc_root, &c);
	if (r < 0) {
		fprintf(stderr, "collector_new: %s\n", strerror(-r));
		exit(EXIT_FAILURE);
	}
	return c;
}

/* Each CPU's share of process tgid: distinct on every CPU, the name on the last one only. */
static void cpu_value(uint32_t tgid, int cpu, struct rawtpd_value *v)
{
	*v = (struct rawtpd_value){
		.voluntary = tgid + (uint64_t)cpu,
		.involuntary = 2 * (uint64_t)cpu + 1,
		.runtime_ns = 1000 * (uint64_t)tgid + (uint64_t)cpu,
	};
	if (cpu == ncpus - 1)
		snprintf(v->comm, sizeof(v->comm), "proc-%u", tgid);
}

static int put(int fd, uint32_t tgid, uint64_t start_ns)
{
	struct rawtpd_key k = {.tgid = tgid, .start_ns = start_ns};
	struct rawtpd_value v[ncpus];

	for (int cpu = 0; cpu < ncpus; cpu++)
		cpu_value(tgid, cpu, &v[cpu]);
	return bpf_map_update_elem(fd, &k, v, BPF_NOEXIST) < 0 ? -errno : 0;
}

/* What the collector should make of put(tgid). */
static void check_entry(const struct sample_entry *e, uint32_t tgid)
{
	struct counters want = {};
	char comm[COMM_RAW_LEN];

	for (int cpu = 0; cpu < ncpus; cpu++) {
		struct rawtpd_value v;

		cpu_value(tgid, cpu, &v);
		want.voluntary += v.voluntary;
		want.involuntary += v.involuntary;
		want.runtime_ns += v.runtime_ns;
	}
	snprintf(comm, sizeof(comm), "proc-%u", tgid);
	CHECK_EQ_U64(e->c.voluntary, want.voluntary);
	CHECK_EQ_U64(e->c.involuntary, want.involuntary);
	CHECK_EQ_U64(e->c.runtime_ns, want.runtime_ns);
	CHECK_STREQ(e->comm, comm);
}

static const struct sample_entry *find(const struct sample *s, uint32_t tgid, uint64_t start_ns)
{
	for (size_t i = 0; i < s->n_entries; i++)
		if (s->entries[i].tgid == tgid && s->entries[i].start_ns == start_ns)
			return &s->entries[i];
	return NULL;
}

static void test_empty(void)
{
	struct test_maps m;
	struct collector *c;
	struct sample s;

	make_maps(128, 64, &m);
	c = new_collector(&m, 0, false);
	CHECK(collector_capacity(c) == 128);
	CHECK(collector_tracks_renames(c));
	CHECK(collector_read(c, &s) == 0);
	CHECK(s.n_entries == 0);
	CHECK(s.n_renames == 0 && !s.renames_lost);
	CHECK(s.map_update_failures == 0);
	CHECK(s.mono_ns > 0);
	/* the live list comes from the fixture, sorted, without what is not a pid */
	CHECK(s.n_live == 3);
	CHECK(s.n_live == 3 && s.live[0] == 1 && s.live[1] == 7 && s.live[2] == 42);
	collector_sample_done(&s);
	CHECK(s.entries == NULL && s.n_entries == 0);
	collector_close(c);
	test_maps_done(&m);
}

/* Three processes (one pid twice, reused), each summed over every CPU; the map-full count too. */
static void test_sums(bool key_by_key)
{
	struct test_maps m;
	struct collector *c;
	struct sample s;
	__u32 idx = RAWTPD_STAT_MAP_FULL;
	__u64 full[ncpus];
	uint64_t want_full = 0;

	make_maps(128, 64, &m);
	CHECK(put(m.counts, 7, 1000) == 0);
	CHECK(put(m.counts, 42, 2000) == 0);
	CHECK(put(m.counts, 42, 3000) == 0);
	for (int cpu = 0; cpu < ncpus; cpu++)
		want_full += full[cpu] = (__u64)cpu + 3;
	CHECK(bpf_map_update_elem(m.stats, &idx, full, BPF_ANY) == 0);

	c = new_collector(&m, 0, key_by_key);
	CHECK(collector_read(c, &s) == 0);
	CHECK(s.n_entries == 3);
	for (size_t i = 0; i < s.n_entries; i++)
		check_entry(&s.entries[i], s.entries[i].tgid);
	CHECK(find(&s, 7, 1000) && find(&s, 42, 2000) && find(&s, 42, 3000));
	CHECK_EQ_U64(s.map_update_failures, want_full);
	collector_sample_done(&s);

	/* reading does not take: the same again */
	CHECK(collector_read(c, &s) == 0);
	CHECK(s.n_entries == 3);
	collector_sample_done(&s);
	collector_close(c);
	test_maps_done(&m);
}

/* n processes in a map of capacity entries, read chunk entries at a time (0: the default). */
static void check_many(uint32_t capacity, uint32_t n, uint32_t chunk, bool key_by_key)
{
	_cleanup_free_ uint8_t *seen = calloc(n + 1, 1);
	struct test_maps m;
	struct collector *c;
	struct sample s;
	size_t dup = 0, missing = 0;

	make_maps(capacity, 64, &m);
	for (uint32_t tgid = 1; tgid <= n; tgid++)
		if (put(m.counts, tgid, tgid) < 0) {
			CHECK(!"put");
			break;
		}
	c = new_collector(&m, chunk, key_by_key);
	CHECK(collector_read(c, &s) == 0);
	CHECK_EQ_U64(s.n_entries, n);
	for (size_t i = 0; i < s.n_entries; i++) {
		uint32_t t = s.entries[i].tgid;

		if (t >= 1 && t <= n && !seen[t]++)
			check_entry(&s.entries[i], t);
		else
			dup++;
	}
	for (uint32_t t = 1; t <= n; t++)
		missing += !seen[t];
	CHECK(dup == 0);
	CHECK(missing == 0);
	collector_sample_done(&s);
	collector_close(c);
	test_maps_done(&m);
}

static void test_chunks(void)
{
	/* the default chunk: 256 KiB of per-CPU values, at least 64 entries */
	uint32_t chunk = (256u << 10) / ((uint32_t)ncpus * sizeof(struct rawtpd_value));

	if (chunk < 64)
		chunk = 64;
	/* many small chunks and a partial last one; exactly full chunks; a full map */
	check_many(1024, 1000, 16, false);
	check_many(1024, 64, 16, false);
	check_many(256, 256, 32, false);
	/* more than one default chunk */
	check_many(4 * chunk, 2 * chunk + 7, 0, false);
	/* a chunk larger than the map is cut to its size */
	check_many(100, 100, 4096, false);
	/* key by key: the same */
	check_many(1024, 1000, 0, true);
}

static void test_renames(void)
{
	struct rawtpd_key k1 = {.tgid = 7, .start_ns = 1000}, k0 = {.tgid = 42},
			  gone = {.tgid = 99};
	struct rawtpd_comm n1 = {"renamed"}, n0 = {"by-pid"}, ng = {"nobody"};
	struct test_maps m;
	struct collector *c;
	struct sample s;
	struct rawtpd_key next;

	make_maps(128, 8, &m);
	CHECK(put(m.counts, 7, 1000) == 0);
	CHECK(put(m.counts, 42, 2000) == 0);
	CHECK(put(m.counts, 42, 3000) == 0);
	CHECK(bpf_map_update_elem(m.renames, &k1, &n1, BPF_ANY) == 0);
	/* noted by pid only (start_ns 0): the newest process of that tgid; none: dropped */
	CHECK(bpf_map_update_elem(m.renames, &k0, &n0, BPF_ANY) == 0);
	CHECK(bpf_map_update_elem(m.renames, &gone, &ng, BPF_ANY) == 0);

	c = new_collector(&m, 0, false);
	CHECK(collector_read(c, &s) == 0);
	CHECK(s.n_renames == 2);
	CHECK(!s.renames_lost);
	for (size_t i = 0; i < s.n_renames; i++) {
		const struct sample_rename *r = &s.renames[i];

		if (r->tgid == 7) {
			CHECK(r->start_ns == 1000);
			CHECK_STREQ(r->comm, "renamed");
		} else {
			CHECK(r->tgid == 42);
			CHECK(r->start_ns == 3000);
			CHECK_STREQ(r->comm, "by-pid");
		}
	}
	collector_sample_done(&s);
	/* taken: read and deleted */
	CHECK(bpf_map_get_next_key(m.renames, NULL, &next) < 0 && errno == ENOENT);
	CHECK(collector_read(c, &s) == 0);
	CHECK(s.n_renames == 0);
	collector_sample_done(&s);

	/* the map three-quarters full: some may have been evicted, names want a re-read */
	for (uint32_t t = 1; t <= 6; t++) {
		struct rawtpd_key k = {.tgid = 7, .start_ns = t};

		CHECK(bpf_map_update_elem(m.renames, &k, &n1, BPF_ANY) == 0);
	}
	CHECK(collector_read(c, &s) == 0);
	CHECK(s.n_renames == 6);
	CHECK(s.renames_lost);
	collector_sample_done(&s);
	collector_close(c);

	/* no rename map: nothing followed, nothing read from it */
	struct collector_maps cm = {.counts = m.counts, .slots = -1, .renames = -1, .stats = -1};

	CHECK(bpf_map_update_elem(m.renames, &k1, &n1, BPF_ANY) == 0);
	CHECK(collector_new(&cm, proc_root, &c) == 0);
	CHECK(!collector_tracks_renames(c));
	CHECK(collector_read(c, &s) == 0);
	CHECK(s.n_entries == 3 && s.n_renames == 0 && s.map_update_failures == 0);
	collector_sample_done(&s);
	collector_close(c);
	test_maps_done(&m);
}

static void test_delete(void)
{
	struct agg_key dead[] = {{7, 1000}, {42, 2000}, {5, 5}};
	struct test_maps m;
	struct collector *c;
	struct sample s;

	make_maps(128, 64, &m);
	CHECK(put(m.counts, 7, 1000) == 0);
	CHECK(put(m.counts, 42, 2000) == 0);
	CHECK(put(m.counts, 42, 3000) == 0);
	c = new_collector(&m, 0, false);
	/* an entry already gone is no failure */
	CHECK(collector_delete(c, dead, ELEMENTSOF(dead)) == 0);
	CHECK(collector_read(c, &s) == 0);
	CHECK(s.n_entries == 1 && find(&s, 42, 3000));
	collector_sample_done(&s);
	collector_close(c);
	test_maps_done(&m);
}

static void test_not_rawtpd(void)
{
	struct collector_maps cm = {.slots = -1, .renames = -1, .stats = -1};
	struct collector *c = NULL;
	uint64_t cnt, ns;
	bool on;

	/* a value of the wrong size is refused */
	cm.counts = bpf_map_create(BPF_MAP_TYPE_PERCPU_HASH, "test_wrong",
				   sizeof(struct rawtpd_key), sizeof(__u64), 16, NULL);
	CHECK(cm.counts >= 0);
	CHECK(collector_new(&cm, proc_root, &c) == -EINVAL);
	CHECK(c == NULL);
	close(cm.counts);
	/* not a map at all */
	cm.counts = -1;
	CHECK(collector_new(&cm, proc_root, &c) < 0);

	/* no program behind maps made here */
	struct test_maps m;

	make_maps(16, 64, &m);
	c = new_collector(&m, 0, false);
	CHECK(collector_prog_stats(c, &cnt, &ns, &on) == -ENOENT);
	CHECK_STREQ(collector_attach_mode(c), "auto");
	collector_close(c);
	test_maps_done(&m);
}

static void test_read_comm(void)
{
	struct test_maps m;
	struct collector *c;
	char comm[COMM_RAW_LEN];
	size_t len;

	make_maps(16, 64, &m);
	c = new_collector(&m, 0, false);
	CHECK(collector_read_comm(c, 42, comm, &len) == 0);
	CHECK_STREQ(comm, "worker");
	CHECK(len == 6);
	/* 15 bytes, as the kernel keeps them, and no newline */
	CHECK(collector_read_comm(c, 7, comm, &len) == 0);
	CHECK_STREQ(comm, "fifteen-bytes-x");
	CHECK(collector_read_comm(c, 1, comm, &len) == -ENOENT);
	collector_close(c);
	test_maps_done(&m);
}

/*
 * memlock from fdinfo fixtures: 3 as Debian's 6.1 shows a preallocated counts map (what
 * max_entries takes), 4 as 6.18 shows one made on demand (what it uses), 5 without the line
 * (kernels before 4.10), 6 garbled; there is no 7. No BPF needed.
 */
static void test_fdinfo_fixture(void)
{
	const char *d = getenv("TEST_DATA");
	char root[256];
	uint64_t v = 0;

	snprintf(root, sizeof(root), "%s/fdinfo", d ? d : "tests/data");
	CHECK(collector_fdinfo_memlock(root, 3, &v) == 0);
	CHECK_EQ_U64(v, 3145728);
	CHECK(collector_fdinfo_memlock(root, 4, &v) == 0);
	CHECK_EQ_U64(v, 537544);
	CHECK(collector_fdinfo_memlock(root, 5, &v) == -ENOENT);
	CHECK(collector_fdinfo_memlock(root, 6, &v) == -EINVAL);
	CHECK(collector_fdinfo_memlock(root, 7, &v) == -ENOENT);
	CHECK_EQ_U64(v, 537544);
}

/* The maps' own figures, as the kernel reports them for this process's fds. */
static void test_map_memory(void)
{
	struct snapshot_map_memory mm[SNAPSHOT_MAPS_MAX];
	static const char *const names[] = {"counts", "renames", "stats"};
	struct test_maps m;
	struct collector *c;
	size_t n;

	make_maps(1024, 64, &m);
	c = new_collector(&m, 0, false);
	n = collector_map_memory(c, mm);
	CHECK_EQ_U64(n, 3);
	for (size_t i = 0; i < n && i < ELEMENTSOF(names); i++) {
		int fd = i == 0 ? m.counts : i == 1 ? m.renames : m.stats;
		uint64_t v = 0;

		CHECK_STREQ(mm[i].name, names[i]);
		CHECK(mm[i].bytes > 0);
		CHECK(collector_fdinfo_memlock("/proc/self/fdinfo", fd, &v) == 0);
		CHECK_EQ_U64(mm[i].bytes, v);
	}
	collector_close(c);
	test_maps_done(&m);
}

static void write_file(const char *path, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", proc_root, path);
	f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* A /proc with pids 1, 7 and 42 (and entries that are not pids), two of them with a comm. */
static int make_proc(void)
{
	static const char *const dirs[] = {"42", "1", "7", "0", "self", "sys", "7x"};
	char p[256];

	if (!mkdtemp(proc_root))
		return -errno;
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		snprintf(p, sizeof(p), "%s/%s", proc_root, dirs[i]);
		if (mkdir(p, 0755) < 0)
			return -errno;
	}
	write_file("42/comm", "worker\n");
	write_file("7/comm", "fifteen-bytes-x\n");
	return 0;
}

int main(void)
{
	char cmd[128];
	int fd;

	libbpf_set_print(NULL);
	test_fdinfo_fixture();
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0) {
		fprintf(stderr, "cannot count the possible CPUs: %s\n", strerror(-ncpus));
		return EXIT_FAILURE;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_HASH, "test_probe", sizeof(struct rawtpd_key),
			    sizeof(struct rawtpd_value), 1, NULL);
	if (fd < 0) {
		printf("SKIP: cannot make a BPF map (%s): needs root or CAP_BPF\n",
		       strerror(errno));
		return test_failed ? EXIT_FAILURE : EXIT_SKIP;
	}
	close(fd);
	if (make_proc() < 0) {
		fprintf(stderr, "cannot make the /proc fixture: %m\n");
		return EXIT_FAILURE;
	}

	test_empty();
	test_sums(false);
	test_sums(true);
	test_chunks();
	test_renames();
	test_delete();
	test_not_rawtpd();
	test_read_comm();
	test_map_memory();

	snprintf(cmd, sizeof(cmd), "rm -rf %s", proc_root);
	CHECK(system(cmd) == 0);
	TEST_DONE();
}
