/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The thread data path's reader. The BPF side keeps one slot per thread (struct rawtpd_slot in
 * the mmap'ed "slots" array); this reads them in place, sums each process's threads, keeps what
 * its exited threads counted once their slots are freed, and frees the slots of threads that
 * exited (zeroed, their indexes put back in "free_slots"). See daemon/DESIGN.md, "Data paths".
 */
#ifndef RAWTPD_SLOTS_H
#define RAWTPD_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#include "aggregate.h"
#include "groups.h"

struct slots;

/*
 * Map the slots array (fd slots_fd, an mmap'able BPF_MAP_TYPE_ARRAY of struct rawtpd_slot) and
 * take free_fd (the queue of free slot indexes) to put freed slots back. The fds stay the
 * caller's. proc_root ("/proc" when NULL) is where a process whose last thread exited without
 * a slot is looked for. 0, -EINVAL when the maps are not rawtpd's, or another -errno.
 */
int slots_open(int slots_fd, int free_fd, const char *proc_root, struct slots **ret);
struct slots *slots_close(struct slots *s);

/* How many threads can have a slot at once. */
uint32_t slots_capacity(const struct slots *s);

/*
 * One read: every process with a thread in a slot, or with exited threads whose counts are
 * kept, sorted by key with no key twice; exited set once the process's last thread is gone.
 * The slots of threads read dead at the previous read are freed. *ret is lent: valid until
 * the next read or slots_close(). *ret_threads is how many slots are in use after the read.
 * 0 or -ENOMEM (then nothing was changed).
 */
int slots_read(struct slots *s, struct sample_entry **ret, size_t *ret_n, uint64_t *ret_threads);

/*
 * Read the threads' run-queue latency histograms too, from hists_fd (the BPF side's mmap'able
 * array of struct rawtpd_hist, one per slot; the fd stays the caller's): from then on each read
 * also gives their growth by cgroup (slots_hists()). 0, -EINVAL when the map is not that, or
 * another -errno.
 */
int slots_count_latency(struct slots *s, int hists_fd);

/*
 * The last read's histogram growth, one entry per cgroup id (any order); lent until the next
 * read. None unless slots_count_latency() was called.
 */
void slots_hists(const struct slots *s, const struct sample_hist **ret, size_t *ret_n);

/* Forget the kept counts of processes that aggregation folded (they exited). */
void slots_forget(struct slots *s, const struct agg_key *keys, size_t n);

/* Slots that could not be put back in the queue since the start (should stay 0). */
uint64_t slots_lost(const struct slots *s);

#endif
