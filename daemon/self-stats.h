/* SPDX-License-Identifier: GPL-2.0-only */
/* The daemon's own figures (the process_* family), read from /proc like any other process's. */
#ifndef RAWTPD_SELF_STATS_H
#define RAWTPD_SELF_STATS_H

#include "snapshot.h"

/*
 * Fill the self_* fields of *info from proc_root ("/proc" but in tests): CPU time, RSS and
 * virtual size from self/stat, the start time from that and stat's btime (only while
 * info->self_start_time is 0: it never changes), the open descriptors from self/fd, and the
 * descriptor limit. A figure that cannot be read is left as it was.
 * Returns 0, or the negative errno of the first file that could not be read.
 */
int self_stats_read(const char *proc_root, struct snapshot_info *info);

#endif
