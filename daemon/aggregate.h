/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Aggregation: the next state is a pure function of the previous state and one raw sample of
 * the BPF map. It is also the one place that decides a process's name (aggregate_set_comm(),
 * aggregate_read_names()). No I/O of its own (what it reads from /proc comes through a callback),
 * so every rule (exits folded into totals, pid reuse, monotonic counters, names) is unit-tested
 * without a kernel.
 */
#ifndef RAWTPD_AGGREGATE_H
#define RAWTPD_AGGREGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "counters.h"

#define COMM_RAW_LEN  16 /* the kernel's TASK_COMM_LEN */
#define COMM_TEXT_MAX 64 /* 15 bytes, each at worst "\xNN", plus NUL */

/* One process as the map showed it: counters summed over CPUs. */
struct sample_entry {
	uint32_t tgid;
	uint64_t start_ns;
	struct counters c;
	char comm[COMM_RAW_LEN]; /* raw bytes, NUL-terminated; may be empty */
	bool exited;		 /* exits_reported: the process has no thread left */
	uint64_t cgroup_id;	 /* where it last ran (cgroup v2 id), 0 if unknown */
};

/* A process that changed its name (the BPF side saw prctl, a /proc comm write or exec). */
struct sample_rename {
	uint32_t tgid;
	uint64_t start_ns;
	char comm[COMM_RAW_LEN]; /* raw bytes, NUL-terminated */
};

struct sample {
	struct sample_entry *entries; /* any order; aggregate sorts its own copy */
	size_t n_entries;
	/* tgids that still exist, listed *after* the map was read; sorted ascending */
	const uint32_t *live;
	size_t n_live;
	const struct sample_rename *renames; /* applied after the entries, in order */
	size_t n_renames;
	bool renames_lost; /* too many renames at once: some may be missing, names need a re-read */
	uint64_t mono_ns;  /* CLOCK_MONOTONIC when the map was read */
	uint64_t map_update_failures; /* the BPF side's running count */
	/*
	 * The thread data path: live is not used, an entry's exited says when its process ended.
	 * A process missing from such a sample without having ended (its entry is only deleted
	 * once folded, so that takes a read that went wrong) is kept as it was for up to
	 * AGG_MISSING_MAX samples before it counts as exited.
	 */
	bool exits_reported;
	uint64_t map_entries; /* what the map's capacity bounds, in use (processes, or threads) */
	bool sorted; /* entries are sorted by key, no key twice: aggregate need not sort a copy */
	bool entries_lent; /* entries belong to the collector (until its next read): not freed */
};

#define AGG_MISSING_MAX 2

struct proc {
	uint32_t tgid;
	uint64_t start_ns;
	char comm[COMM_TEXT_MAX]; /* valid UTF-8 (see escape.h) */
	bool comm_from_proc;	  /* comm came from /proc (else from the BPF side) */
	struct counters c;
	struct counters delta; /* growth during the last interval */
	/* what it counted under earlier names: that stays with those names (group_by = comm),
	 * so a rename never makes a name's counters go down */
	struct counters named_base;
	uint8_t missing;    /* samples in a row without it (exits_reported only) */
	uint64_t cgroup_id; /* where it last ran (cgroup v2 id), 0 if unknown */
};

struct comm_group {
	char comm[COMM_TEXT_MAX];
	struct counters c; /* counts of exited processes of this name */
	uint64_t exited;
};

/* What one exit (or a late switch of one) added, as the last update folded it. */
struct agg_fold {
	char comm[COMM_TEXT_MAX];
	struct counters c;    /* to its name's group: what it counted under this name */
	bool exit;	      /* a process exited (not a late switch of one already counted) */
	uint64_t cgroup_id;   /* where it last ran */
	struct counters grew; /* what it grew by since the previous update */
};

struct agg_key {
	uint32_t tgid;
	uint64_t start_ns;
};

/* The order of process keys everywhere: by tgid, then start time. */
static inline int agg_key_cmp(uint32_t at, uint64_t as, uint32_t bt, uint64_t bs)
{
	if (at != bt)
		return at < bt ? -1 : 1;
	if (as != bs)
		return as < bs ? -1 : 1;
	return 0;
}

struct agg_state {
	struct proc *procs; /* sorted by (tgid, start_ns) */
	size_t n_procs, procs_cap;
	/* the array the next update merges into, then swapped with procs: at 100k processes
	 * (25 MB) a fresh one every interval was faulted in again page by page */
	struct proc *spare;
	size_t spare_cap;
	struct counters exited; /* everything ever folded out of exited processes */
	uint64_t processes_exited;
	struct comm_group *groups;   /* exited processes by name, sorted by comm */
	size_t n_groups, groups_cap; /* groups_cap: allocated */
	struct agg_fold *folds;	     /* what the last update folded, in the order of the merge */
	size_t n_folds;
	struct agg_key *recent_dead; /* keys folded by the previous update, sorted */
	size_t n_recent_dead;
	uint64_t mono_ns;  /* of the sample behind this state; 0 before the first */
	double interval_s; /* time between the last two samples */
	uint64_t map_update_failures;
	uint64_t updates;  /* number of samples applied */
	bool renames_lost; /* the last sample lost renames: every name is to be read again */
	bool map_full;	   /* in a map-full episode (aggregate_map_episode()) */
	uint64_t map_failures_seen; /* map_update_failures at the last aggregate_map_episode() */
	uint64_t map_entries;	    /* of the last sample */
};

/* Sort entries by key in place, as a sample with sorted set must be. */
void aggregate_sort_entries(struct sample_entry *e, size_t n);

void aggregate_init(struct agg_state *s);
void aggregate_done(struct agg_state *s);

/*
 * Apply one sample. A process whose tgid is not in sample->live, or whose tgid now belongs to
 * a process with a later start time, has exited: its counts move into the totals and its comm
 * group, processes_exited grows by one, and its key is returned in *ret_dead (malloc'd, caller
 * frees) so the caller can delete it from the BPF map. A key that comes back after being
 * folded (a last switch recorded after deletion) adds its counts without counting a second
 * exit. Returns 0 or -ENOMEM (the state is then unchanged).
 */
int aggregate_update(struct agg_state *s, const struct sample *sample, struct agg_key **ret_dead,
		     size_t *ret_n_dead);

/*
 * Replace a live process's comm with the raw bytes from /proc/<pid>/comm or a rename, and mark
 * it as read (raw == NULL: only mark it, keeping the name the BPF side saw). What the process
 * counted under its old name is left in that name's group.
 */
void aggregate_set_comm(struct agg_state *s, uint32_t tgid, uint64_t start_ns, const char *raw,
			size_t len);

/* Where names come from besides the BPF side. */
struct agg_names {
	bool renames_tracked; /* the BPF side reports renames (sample.renames) */
	/* the raw bytes of /proc/<tgid>/comm without the newline: 0, or -errno */
	int (*read_comm)(void *userdata, uint32_t tgid, char buf[COMM_RAW_LEN], size_t *ret_len);
	void *userdata;
};

/*
 * Settle the names after an update. Without a rename hook, each process's name is read once,
 * from /proc (the BPF side saw it at the first switch, possibly before exec). With one, names
 * are read again only after a sample that lost renames (more at once than its map holds), each
 * once. A name that cannot be read stays as the BPF side saw it.
 */
void aggregate_read_names(struct agg_state *s, const struct agg_names *n);

enum agg_map_event {
	AGG_MAP_QUIET, /* nothing new */
	AGG_MAP_FULL,  /* new processes began to find no room in the map */
	AGG_MAP_ROOM,  /* the map has room again */
};

/*
 * A full BPF map, in episodes, so that it is reported once each: AGG_MAP_FULL when updates fail
 * for the first time since the map last had room, AGG_MAP_ROOM once it holds fewer than capacity
 * processes again. An interval without failures does not end an episode: a sleeping process
 * that found no room tries again only when it runs, so the map may still be full. Call once
 * after each update.
 */
enum agg_map_event aggregate_map_episode(struct agg_state *s, uint32_t capacity);

/* Sum over live processes plus everything exited: what rawtpd_*_total report. */
struct counters aggregate_totals(const struct agg_state *s);

#endif
