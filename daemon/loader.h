/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * rawtpd's BPF object in one attach mode: the generated skeleton opened, set up for the mode
 * (which programs load, what the BPF side is told of the kernel, the map sizes), loaded and
 * attached. The only module that includes the skeleton; the collector reads the maps through
 * the fds it hands out, and kernel.c says why a mode fails.
 */
#ifndef RAWTPD_LOADER_H
#define RAWTPD_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "kernel.h"

struct loader;

/* Route libbpf's own output to the logger, at debug: call it before anything speaks libbpf. */
void loader_log_libbpf(void);

/*
 * Load and attach mode m (not ATTACH_AUTO) on data path path (DATA_PATH_AUTO: the thread path
 * where kernel_data_path_pick() says it can run, the process path if it then fails) as the facts
 * say this kernel offers it, with room for max_processes in the per-process map (the thread
 * path: for max_processes threads, and as many processes). Its rename hook is attached where the kernel has
 * one, and missing it is no failure. On failure returns a negative errno and *ret_error (when
 * ret_error is not NULL) gets a malloc'd message naming the mode, the hook, the kernel's error
 * and what to do.
 */
int loader_attach(enum attach_mode m, enum data_path path, const struct kernel_facts *f,
		  uint32_t max_processes, bool latency, struct loader **ret, char **ret_error);

/* Detach and free. Accepts NULL, returns NULL. */
struct loader *loader_detach(struct loader *l);

/* What is attached, by fd: valid until loader_detach(). */
struct loader_fds {
	int counts;	/* per-CPU hash of the processes' counters (process path) */
	int slots;	/* thread path: the threads' figures, an mmap'able array; else -1 */
	int free_slots; /* thread path: queue of the slots not in use; else -1 */
	int renames;	/* hash of the renames noted since the last read; -1: no rename hook */
	int stats;	/* per-CPU array of RAWTPD_STAT_* */
	int preempts;	/* thread path counting latency: the pairs of cgroups; else -1 */
	int hists;	/* ... and the threads' latency histograms (mmap'able array); else -1 */
	int prog;	/* the sched_switch program */
};
void loader_fds(const struct loader *l, struct loader_fds *ret);

/* One map of the BPF object: its name in bpf/rawtpd.bpf.c and its fd (until loader_detach()). */
struct loader_map {
	const char *name;
	int fd;
};

/*
 * Every map the object declares (libbpf's own .rodata and .bss left out), at most max of them,
 * in the object's order. Returns how many there are (more than max when ret was too short).
 */
size_t loader_maps(const struct loader *l, struct loader_map *ret, size_t max);

enum attach_mode loader_mode(const struct loader *l);
enum data_path loader_data_path(const struct loader *l);

/* A new interval begins: the BPF side notes each process's cgroup again, once. */
void loader_next_interval(struct loader *l);
/* Why that data path: the rule that chose it, or why the thread path could not load. */
const char *loader_data_path_reason(const struct loader *l);

#endif
