/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A snapshot is everything one aggregation produced: the process table, the totals, the
 * daemon's own figures and the bodies served from them. It is immutable once published (its
 * bodies are made at most once each, see snapshot_body()) and reference-counted: a scrape takes
 * a reference to the latest one and sends its bytes, never touching the BPF maps and never
 * waiting for aggregation.
 */
#ifndef RAWTPD_SNAPSHOT_H
#define RAWTPD_SNAPSHOT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregate.h"
#include "config.h"
#include "groups.h"
#include "series.h"

struct blob {
	char *data;
	size_t len;
	size_t size; /* bytes allocated at data; 0: unknown (such a buffer is never reused) */
};

struct snapshot_pool;

/*
 * What a snapshot serves. The text exposition is rendered with the snapshot, so that a plain
 * scrape never waits for rendering; every other body is made by the first request that wants
 * it (most intervals nobody asks for most of them, and together they cost more CPU than the
 * aggregation).
 */
enum body {
	BODY_PROM,	     /* text format 0.0.4 */
	BODY_OPENMETRICS,    /* OpenMetrics 1.0.0 */
	BODY_PROM_GZ,	     /* gzip of BODY_PROM */
	BODY_OPENMETRICS_GZ, /* gzip of BODY_OPENMETRICS */
	BODY_JSON,	     /* /api/v1/processes without query */
	BODY_STATUS,	     /* /api/v1/status */
	BODY_MAX,
};

/* One live process. */
struct snapshot_proc {
	uint32_t pid;
	char comm[COMM_TEXT_MAX]; /* valid UTF-8 */
	struct counters c;
	double switches_per_second; /* over the last interval */
	double cpu_utilization;	    /* CPU seconds per second over the last interval */
	/* seconds its threads waited for a CPU, per second, over the last interval: the share
	 * of the interval spent runnable but not running (above 1 with several threads) */
	double run_queue_wait_share;
	const struct cgroup_labels
		*cg; /* where it runs: in the snapshot's table, NULL if unknown */
};

/* Kernel memory of one of the daemon's BPF maps: memlock in its fdinfo. */
#define SNAPSHOT_MAPS_MAX 12
struct snapshot_map_memory {
	char name[16];	/* the map's name (BPF_OBJ_NAME_LEN): "counts", "renames", ... */
	uint64_t bytes; /* used from Linux 6.4 on; before, what max_entries would take */
};

/* The daemon's own figures at the time of the snapshot. */
struct snapshot_info {
	const char *version;
	const char *libbpf_version;
	char kernel_release[65];
	const char *attach_mode;
	const char *data_path;	      /* "thread", "process" */
	const char *data_path_reason; /* why */
	double interval_s;
	double start_time; /* daemon start, seconds since the epoch */
	uint64_t map_capacity;
	uint64_t map_entries;
	uint64_t map_update_failures;
	struct snapshot_map_memory map_memory[SNAPSHOT_MAPS_MAX]; /* sorted by name */
	size_t n_map_memory;
	uint64_t processes_seen; /* live now + exited */
	bool bpf_stats_enabled;	 /* kernel.bpf_stats_enabled: run count/time are meaningful */
	uint64_t prog_run_cnt;
	uint64_t prog_run_time_ns;
	uint64_t series_dropped; /* series cut by max_series or the comm filters */
	double aggregation_duration_s;
	double collect_duration_s; /* of this snapshot's cycle: reading the maps and folding */
	uint64_t aggregations;	   /* completed aggregations */
	uint64_t aggregation_failures;
	/* the daemon process itself (process_* family) */
	double self_cpu_seconds;
	/* the daemon's cgroup cache, to label processes with (NULL: no labels); not owned */
	struct cgroup_cache *cgroups;
	uint64_t preemptions_lost; /* preemptions the BPF side found no room to pair */
	/* the groups by unit and by cgroup (NULL: none); the snapshot takes a reference */
	struct groups_view *groups[2];
	/* where the snapshot's large buffers come from and go back to (NULL: malloc and free
	 * every time); the snapshot takes a reference */
	struct snapshot_pool *pool;
	uint64_t self_rss_bytes, self_vsize_bytes;
	uint64_t self_open_fds, self_max_fds;
	double self_start_time;
};

struct snapshot {
	int n_ref;
	uint64_t mono_ns; /* CLOCK_MONOTONIC of the aggregation */
	double timestamp; /* seconds since the epoch of the aggregation */
	double rate_s;	  /* the interval the rates are over (the last two samples) */
	enum group_by group_by;
	struct snapshot_info info;

	struct snapshot_proc *procs; /* every live process, sorted by pid */
	size_t n_procs;
	struct snapshot_series *series; /* what /metrics shows per process/name */
	size_t n_series;
	struct counters totals; /* live + exited, filtered or not */
	uint64_t processes_exited;
	struct cgroup_table *cgroups; /* the labels procs and series point into; may be NULL */
	/* by unit ([0]) and by cgroup ([1]), for /api/v1/groups and group_by; may be NULL */
	struct groups_view *groups[2];
	struct snapshot_pool *pool;	/* where procs, series and bodies go back to; may be NULL */
	size_t procs_size, series_size; /* bytes allocated at procs and series (0: unknown) */
	size_t procs_need, series_need; /* bytes of them this snapshot asked for */

	/*
	 * The bodies, each made once and shared by every request until the next snapshot. Read
	 * them only through snapshot_body(). A body set before the snapshot is first read counts
	 * as made (the unit tests set them).
	 */
	struct blob body[BODY_MAX];
	int body_state[BODY_MAX]; /* 0 not made yet, 1 made, 2 failed */
	/* held while a body is made: a request for another body never waits on it (all zeros, as
	 * in a snapshot the tests make by hand, is an initialised mutex too) */
	pthread_mutex_t body_lock[BODY_MAX];
};

/*
 * Build a snapshot from the aggregation state, the daemon's figures and the [metrics] part of
 * the configuration, and render the text exposition (the other bodies wait for snapshot_body()).
 * The figures the state holds (processes_seen, map_entries, map_update_failures) are taken from
 * it, not from *info. Returns 0 or a negative errno; *ret gets a snapshot holding one reference.
 */
int snapshot_new(const struct agg_state *st, const struct snapshot_info *info,
		 const struct config *cfg, uint64_t mono_ns, double timestamp,
		 struct snapshot **ret);

struct snapshot *snapshot_ref(struct snapshot *s);
/* Drop a reference; frees on the last one. Accepts NULL, returns NULL. */
struct snapshot *snapshot_unref(struct snapshot *s);

/*
 * One of s's bodies, made on the first call for this snapshot and kept with it: every later
 * call, from any thread, gets the same bytes without waiting; a call made while another makes
 * that body waits for it. NULL if it could not be made (out of memory; for a gzip body, send
 * the plain one). Thread-safe.
 */
const struct blob *snapshot_body(struct snapshot *s, enum body b);

/*
 * The buffers of dropped snapshots, for the next ones: the process table, the series and each
 * body (every one sized by the process count), by kind. Without it, a buffer over malloc's
 * mmap threshold (4 MiB, main.c: about 13k processes for the text exposition) is mapped
 * afresh for every snapshot and every page of it faulted in again, every interval.
 *
 * A snapshot takes a buffer of a kind when it makes it, and gives it back when its last
 * reference goes (an HTTP response sending a body holds one). The pool keeps up to two of a
 * kind: the next snapshot is built while the latest is still served, and the one before may
 * still be in flight to a slow scraper. The second one kept is freed when two takes of its
 * kind pass it by, any kept buffer when no snapshot has taken it for 64 snapshots (a body
 * nobody asks for any more), and one given back over twice the size its kind needs of late
 * (a high-water mark of the lengths used, decaying by 1/8 a snapshot): after the host
 * shrinks, the memory goes back to malloc within about six intervals. Thread-safe.
 */
struct snapshot_pool_stats {
	uint64_t reused;    /* buffers handed out again */
	uint64_t allocated; /* buffers made anew, the pool had none of that kind */
	uint64_t freed;	    /* buffers the pool let go: too large, unused or no room */
	size_t held_bytes;  /* kept now, waiting for the next snapshot */
};

int snapshot_pool_new(struct snapshot_pool **ret);
/* Drop the caller's reference: the pool goes once every snapshot of it is gone. NULL ok. */
struct snapshot_pool *snapshot_pool_unref(struct snapshot_pool *p);
void snapshot_pool_stats(struct snapshot_pool *p, struct snapshot_pool_stats *ret);

/*
 * The latest snapshot, where the aggregation publishes it and the HTTP threads take it from.
 * Every call but _free() is thread-safe.
 */
struct snapshot_store;

int snapshot_store_new(struct snapshot_store **ret);
/* Drop the latest snapshot and free. Accepts NULL, returns NULL. */
struct snapshot_store *snapshot_store_free(struct snapshot_store *st);
/* Make s the latest snapshot (the store takes a reference of its own; NULL: none). */
void snapshot_store_publish(struct snapshot_store *st, struct snapshot *s);
/* A new reference to the latest snapshot, or NULL before the first. */
struct snapshot *snapshot_store_get(struct snapshot_store *st);

#endif
