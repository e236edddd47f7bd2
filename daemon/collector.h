/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The collector reads the BPF side into raw samples: it has the loader attach a mode (auto: the
 * first that works), then each interval reads the per-process map, the renames and the
 * map-full count, lists the live processes in /proc, deletes the entries of processes that
 * aggregation found exited, and reports the program's own statistics. It reaches the maps
 * through their fds only, so it reads maps it did not load as well (test-collector).
 */
#ifndef RAWTPD_COLLECTOR_H
#define RAWTPD_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregate.h"
#include "config.h"
#include "groups.h"
#include "kernel.h"
#include "snapshot.h"

struct collector;

struct collector_options {
	enum attach_mode mode;	     /* ATTACH_AUTO tries each mode in order */
	enum data_path data_path;    /* DATA_PATH_AUTO: thread where the mode and kernel allow */
	uint32_t max_processes;	     /* capacity of the per-process map */
	const char *proc_root;	     /* "/proc" unless testing */
	struct kernel_btf_given btf; /* --btf or [bpf] btf, if given */
	const char *fdinfo_root;     /* "/proc/self/fdinfo" unless testing */
	bool latency; /* count run-queue latency histograms and preemptions (thread path) */
};

/*
 * Load the BPF object and attach it. On failure returns a negative errno and *ret_error gets
 * a malloc'd message naming the mode, the hook, the kernel's error and what to do.
 */
int collector_open(const struct collector_options *o, struct collector **ret, char **ret_error);

/* The maps a collector reads, by fd, and how to read them. */
struct collector_maps {
	int counts;	     /* per-CPU hash, struct rawtpd_key -> struct rawtpd_value */
	int slots;	     /* thread path: mmap'able array of struct rawtpd_slot; else -1 */
	int free_slots;	     /* thread path: queue of the free slots' __u32 indexes; else -1 */
	int renames;	     /* hash, struct rawtpd_key -> struct rawtpd_comm; -1: none kept */
	int stats;	     /* per-CPU array of RAWTPD_STAT_MAX __u64; -1: none kept */
	uint32_t read_chunk; /* entries per batch read; 0: as many as 256 KiB of values hold */
	bool key_by_key;     /* never batch reads (as on kernels before 5.6, which have none) */
};

/*
 * A collector on maps someone else made and keeps (a test, a tool): it reads and deletes
 * entries as on the daemon's own maps, and never closes the fds. There is no program:
 * collector_prog_stats() returns -ENOENT and collector_attach_mode() says "auto".
 * 0, -EINVAL when a map's key or value size is not rawtpd's, or another -errno.
 */
int collector_new(const struct collector_maps *m, const char *proc_root, struct collector **ret);

/* Detach and free. Accepts NULL, returns NULL. */
struct collector *collector_close(struct collector *c);

/* The mode that was attached ("tp_btf", ...). */
const char *collector_attach_mode(const struct collector *c);
/* The data path ("thread", "process") and why it was taken (static text). */
const char *collector_data_path(const struct collector *c);
const char *collector_data_path_reason(const struct collector *c);
uint32_t collector_capacity(const struct collector *c);

/*
 * Read every map entry (summed over CPUs), then the list of processes that still exist.
 * ret->entries, ret->renames and ret->live are malloc'd; release with collector_sample_done().
 */
int collector_read(struct collector *c, struct sample *ret);
void collector_sample_done(struct sample *s);

/*
 * Counting latency (the thread path, collector_options.latency): the last read's histogram
 * growth by cgroup and every pair of cgroups the BPF side holds, sorted; lent until the next
 * read. Returns whether latency is counted at all (else nothing is returned).
 */
bool collector_latency(const struct collector *c, const struct sample_hist **ret_hists,
		       size_t *ret_n_hists, const struct sample_pair **ret_pairs,
		       size_t *ret_n_pairs);

/* Preemptions the BPF side could count in no pair (its pairs map was full), so far. */
uint64_t collector_pairs_lost(const struct collector *c);

/* Delete pairs of cgroups that are gone from the BPF side. Returns how many failed. */
int collector_delete_pairs(struct collector *c, const struct sample_pair *p, size_t n);

/* Does the attached mode report renames (sample.renames)? If not, names come from /proc. */
bool collector_tracks_renames(const struct collector *c);

/* Delete the entries of exited processes. Returns how many could not be deleted (>= 0). */
int collector_delete(struct collector *c, const struct agg_key *keys, size_t n);

/* Raw bytes of /proc/<pid>/comm without the newline. 0, or -errno (-ENOENT: gone). */
int collector_read_comm(const struct collector *c, uint32_t pid, char buf[COMM_RAW_LEN],
			size_t *ret_len);

/*
 * The kernel's own accounting of each map's memory (memlock in <fdinfo_root>/<fd>), sorted by
 * map name: the daemon's maps are every map bpf/rawtpd.bpf.c declares; those of
 * collector_new() are "counts", "renames" and "stats". A map whose figure cannot be read is
 * left out. Writes at most SNAPSHOT_MAPS_MAX entries and returns how many.
 */
size_t collector_map_memory(const struct collector *c, struct snapshot_map_memory *ret);

/* memlock of the BPF object behind fd, from <fdinfo_root>/<fd>: 0, -ENOENT without it, -errno. */
int collector_fdinfo_memlock(const char *fdinfo_root, int fd, uint64_t *ret);

/* Run count and run time of the attached programs (meaningful with kernel.bpf_stats_enabled). */
int collector_prog_stats(const struct collector *c, uint64_t *ret_cnt, uint64_t *ret_ns,
			 bool *ret_stats_enabled);

#endif
