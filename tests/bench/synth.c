// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench-synth N [ROUNDS]: the daemon's user-space work per interval at N processes, without a
 * kernel. Builds a synthetic map sample of N processes (distinct tgids, names of realistic
 * lengths, every process live, counters growing each round), then per round times what
 * service.c does once per interval: aggregate_update() (the merge), snapshot_new() (series and
 * the text exposition), and separately each renderer on the resulting snapshot and the first
 * gzip body of each format (what the first gzip scrape of a snapshot pays: for OpenMetrics that
 * includes rendering it, which is also made on demand). Prints one JSON object with the medians
 * over ROUNDS (default 10; the first round, which grows the buffers, is left out), times and
 * minor page faults (getrusage ru_minflt): of aggregate_update(), of snapshot_new(), and of
 * the whole round (every renderer and gzip body too, and dropping the previous snapshot).
 * A buffer the heap hands back to the kernel and maps again shows as faults every round.
 * Snapshots take their buffers from a pool, as the daemon's do (snapshot.h); each renderer
 * alone renders into a buffer of its own kept from round to round, as the pool would give it.
 * pool_held_kib: what the pool keeps between two intervals besides the latest snapshot.
 *
 * Not measured here: the BPF map read (a batch lookup, kernel time) and the /proc listing;
 * the benchmark gets those from the real daemon. N beyond pid_max (100k) is how the benchmark
 * shows where the user-space side goes when a machine has that many processes.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "aggregate.h"
#include "config.h"
#include "render-json.h"
#include "render-prom.h"
#include "snapshot.h"

#define MAX_ROUNDS 100

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), dbl_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Names like a real process table: short daemons, kworkers, long truncated names. */
static void synth_comm(uint32_t i, char comm[COMM_RAW_LEN])
{
	static const char *const base[] = {"bash",  "kworker/1:2",    "systemd-journal",
					   "nginx", "postgres",	      "python3",
					   "sshd",  "containerd-shim"};

	snprintf(comm, COMM_RAW_LEN, "%s", base[i % (sizeof(base) / sizeof(base[0]))]);
}

static void blob_drop(struct blob *b)
{
	free(b->data);
	*b = (struct blob){};
}

int main(int argc, char **argv)
{
	double t_agg[MAX_ROUNDS], t_snap[MAX_ROUNDS], t_prom[MAX_ROUNDS], t_om[MAX_ROUNDS];
	double t_gz[MAX_ROUNDS], t_gz_om[MAX_ROUNDS], t_json[MAX_ROUNDS];
	double f_agg[MAX_ROUNDS], f_snap[MAX_ROUNDS], f_round[MAX_ROUNDS];
	size_t prom_bytes = 0, gz_bytes = 0, om_bytes = 0, json_bytes = 0;
	struct sample_entry *entries;
	struct snapshot_info info = {.version = "bench",
				     .libbpf_version = "bench",
				     .attach_mode = "synthetic",
				     .interval_s = 1.0};
	struct agg_state st;
	struct config cfg;
	struct snapshot_pool_stats ps;
	struct rusage ru;
	uint32_t *live;
	long n;
	int rounds = 10;

	if (argc < 2 || (n = strtol(argv[1], NULL, 10)) <= 0 || n > 4000000) {
		fprintf(stderr, "usage: %s N [ROUNDS]\n", argv[0]);
		return 2;
	}
	if (argc > 2)
		rounds = atoi(argv[2]);
	if (rounds < 2 || rounds > MAX_ROUNDS)
		rounds = 10;

	entries = calloc(n, sizeof(*entries));
	live = calloc(n, sizeof(*live));
	if (!entries || !live)
		return 1;
	for (long i = 0; i < n; i++) {
		/* tgids spread as on a real machine (gaps), ascending for the live list */
		live[i] = 100 + (uint32_t)i * 3;
		/* the map hands entries out in hash order: a fixed shuffle */
		long j = (i * 7919) % n;
		entries[j].tgid = live[i];
		entries[j].start_ns = 1000000ull * live[i];
		synth_comm(live[i], entries[j].comm);
	}
	/* (i * 7919) % n is a permutation only when 7919 and n share no factor */
	for (long i = 0; i < n; i++)
		if (!entries[i].tgid) {
			fprintf(stderr, "bench-synth: pick N not a multiple of 7919\n");
			return 2;
		}

	/* the daemon's heap policy (daemon/main.c): keep the heap, map only chunks over 4 MiB */
	mallopt(M_MMAP_THRESHOLD, (4 << 20) + 4096);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);

	config_init(&cfg);
	aggregate_init(&st);
	if (snapshot_pool_new(&info.pool) < 0)
		return 1;
	/* as in the daemon, a snapshot lives until the next one is published */
	struct snapshot *prev = NULL;
	struct blob b_prom = {}, b_om = {}, b_json = {};

	for (int r = 0; r <= rounds; r++) {
		struct sample sample = {.entries = entries,
					.n_entries = n,
					.live = live,
					.n_live = n,
					.mono_ns = (uint64_t)(r + 1) * 1000000000};
		struct agg_key *dead = NULL;
		struct snapshot *s = NULL;
		size_t n_dead = 0;
		double t0, t1, t2;
		long m0, m1, m2;

		for (long i = 0; i < n; i++) {
			entries[i].c.voluntary += 1 + i % 5;
			entries[i].c.involuntary += i % 3;
			entries[i].c.runtime_ns += 12345 * (1 + i % 7);
		}
		m0 = minflt();
		t0 = now_ms();
		if (aggregate_update(&st, &sample, &dead, &n_dead) < 0)
			return 1;
		free(dead);
		t1 = now_ms();
		m1 = minflt();
		info.map_entries = n;
		if (snapshot_new(&st, &info, &cfg, sample.mono_ns, 1.7e9 + r, &s) < 0)
			return 1;
		t2 = now_ms();
		m2 = minflt();
		snapshot_unref(prev);
		prev = s;
		if (r == 0)
			continue;
		t_agg[r - 1] = t1 - t0;
		t_snap[r - 1] = t2 - t1;
		f_agg[r - 1] = m1 - m0;
		f_snap[r - 1] = m2 - m1;

		/* each rendering alone, on the same snapshot */
		t0 = now_ms();
		if (render_exposition_into(s, false, &b_prom) < 0)
			return 1;
		t_prom[r - 1] = now_ms() - t0;
		prom_bytes = b_prom.len;
		{
			/* what the first gzip scrape of a snapshot pays (made once, then kept) */
			const struct blob *z;

			t0 = now_ms();
			z = snapshot_body(s, BODY_PROM_GZ);
			t_gz[r - 1] = now_ms() - t0;
			gz_bytes = z ? z->len : 0;
		}
		t0 = now_ms();
		if (render_exposition_into(s, true, &b_om) < 0)
			return 1;
		t_om[r - 1] = now_ms() - t0;
		om_bytes = b_om.len;
		t0 = now_ms();
		snapshot_body(s, BODY_OPENMETRICS_GZ);
		t_gz_om[r - 1] = now_ms() - t0;
		t0 = now_ms();
		if (render_json_processes_into(s, NULL, &b_json) < 0)
			return 1;
		t_json[r - 1] = now_ms() - t0;
		json_bytes = b_json.len;
		f_round[r - 1] = minflt() - m0;
	}
	/* what the pool keeps between two intervals, beside the latest snapshot */
	snapshot_pool_stats(info.pool, &ps);
	snapshot_unref(prev);
	info.pool = snapshot_pool_unref(info.pool);
	blob_drop(&b_prom);
	blob_drop(&b_om);
	blob_drop(&b_json);
	getrusage(RUSAGE_SELF, &ru);

	printf("{\"processes\": %ld, \"rounds\": %d, \"aggregate_ms\": %.3f, "
	       "\"snapshot_ms\": %.3f, \"render_prom_ms\": %.3f, \"render_openmetrics_ms\": %.3f, "
	       "\"gzip_prom_ms\": %.3f, \"gzip_openmetrics_ms\": %.3f, \"render_json_ms\": %.3f, "
	       "\"prom_bytes\": %zu, \"prom_gzip_bytes\": %zu, \"openmetrics_bytes\": %zu, "
	       "\"json_bytes\": %zu, \"max_rss_kib\": %ld, \"aggregate_minflt\": %.0f, "
	       "\"snapshot_minflt\": %.0f, \"round_minflt\": %.0f, \"pool_reused\": %llu, "
	       "\"pool_allocated\": %llu, \"pool_freed\": %llu, \"pool_held_kib\": %zu}\n",
	       n, rounds, median(t_agg, rounds), median(t_snap, rounds), median(t_prom, rounds),
	       median(t_om, rounds), median(t_gz, rounds), median(t_gz_om, rounds),
	       median(t_json, rounds), prom_bytes, gz_bytes, om_bytes, json_bytes, ru.ru_maxrss,
	       median(f_agg, rounds), median(f_snap, rounds), median(f_round, rounds),
	       (unsigned long long)ps.reused, (unsigned long long)ps.allocated,
	       (unsigned long long)ps.freed, ps.held_bytes >> 10);
	aggregate_done(&st);
	config_done(&cfg);
	free(entries);
	free(live);
	return 0;
}
