// SPDX-License-Identifier: GPL-2.0-only
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "self-stats.h"
#include "util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir)

static FILE *open_at(const char *proc_root, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", proc_root, name);
	return fopen(path, "re");
}

/* CPU time, sizes and the start time (in clock ticks after boot) from self/stat. */
static int read_stat(const char *proc_root, struct snapshot_info *info,
		     unsigned long long *ret_start)
{
	_cleanup_fclose_ FILE *f = open_at(proc_root, "self/stat");
	unsigned long long utime = 0, stime = 0, vsize = 0;
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	long long rss = 0;
	char buf[1024], *p;
	int n = 0;

	if (!f)
		return -errno;
	/* after the name, which may hold anything, ")": state(3) ... utime(14) stime(15) ...
	 * starttime(22) vsize(23) rss(24) */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		n = sscanf(p + 2,
			   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
			   "%*d %*d %llu %llu %lld",
			   &utime, &stime, ret_start, &vsize, &rss);
	info->self_cpu_seconds = (double)(utime + stime) / (double)tck;
	info->self_vsize_bytes = vsize;
	info->self_rss_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
	return n == 5 ? 0 : -EINVAL;
}

/* Boot time (stat's btime) plus the start time in ticks after boot. */
static int read_start_time(const char *proc_root, unsigned long long start,
			   struct snapshot_info *info)
{
	_cleanup_fclose_ FILE *f = open_at(proc_root, "stat");
	unsigned long long btime = 0;
	char buf[1024];

	if (!f)
		return -errno;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "btime %llu", &btime) == 1)
			break;
	info->self_start_time = (double)btime + (double)start / (double)sysconf(_SC_CLK_TCK);
	return 0;
}

static int count_fds(const char *proc_root, struct snapshot_info *info)
{
	_cleanup_(closedirp) DIR *d = NULL;
	char path[256];
	struct dirent *de;
	uint64_t n = 0;

	snprintf(path, sizeof(path), "%s/self/fd", proc_root);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	info->self_open_fds = n > 0 ? n - 1 : 0; /* not the one reading the directory */
	return 0;
}

int self_stats_read(const char *proc_root, struct snapshot_info *info)
{
	unsigned long long start = 0;
	struct rlimit rl;
	int r, ret = 0;

	r = read_stat(proc_root, info, &start);
	if (r < 0)
		ret = r;
	/* the start time never changes: /proc/stat is read only while info has none */
	r = info->self_start_time > 0 ? 0 : read_start_time(proc_root, start, info);
	if (r < 0 && ret == 0)
		ret = r;
	r = count_fds(proc_root, info);
	if (r < 0 && ret == 0)
		ret = r;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		info->self_max_fds = rl.rlim_cur;
	return ret;
}
