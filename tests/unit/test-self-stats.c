// SPDX-License-Identifier: GPL-2.0-only
/*
 * self-stats: the process_* figures from a /proc fixture (tests/data/proc): a name holding ") ",
 * ticks and pages turned into seconds and bytes, the start time from btime, the descriptors
 * (fd/3 stands for the one reading the directory); and a /proc that is not there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "self-stats.h"
#include "test.h"

static const char *test_data(void)
{
	const char *d = getenv("TEST_DATA");

	return d ? d : "tests/data";
}

static bool near(double a, double b)
{
	return a - b < 1e-6 && b - a < 1e-6;
}

static void test_fixture(void)
{
	double tck = (double)sysconf(_SC_CLK_TCK);
	struct snapshot_info info = {};
	char root[512];
	struct rlimit rl;

	snprintf(root, sizeof(root), "%s/proc", test_data());
	CHECK(self_stats_read(root, &info) == 0);
	CHECK(near(info.self_cpu_seconds, (250 + 120) / tck));
	CHECK_EQ_U64(info.self_vsize_bytes, 25165824);
	CHECK_EQ_U64(info.self_rss_bytes, 1792 * (uint64_t)sysconf(_SC_PAGESIZE));
	CHECK(near(info.self_start_time, 1763990000 + 98765 / tck));
	CHECK_EQ_U64(info.self_open_fds, 3);
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	CHECK_EQ_U64(info.self_max_fds, rl.rlim_cur);
}

static void test_missing(void)
{
	struct snapshot_info info = {.self_start_time = 7.0, .self_open_fds = 5};

	CHECK(self_stats_read("/nonexistent", &info) == -ENOENT);
	CHECK(info.self_start_time == 7.0);
	CHECK_EQ_U64(info.self_open_fds, 5);
	CHECK(info.self_max_fds > 0);
}

/* The real thing: this test process itself. */
static void test_self(void)
{
	struct snapshot_info info = {};

	CHECK(self_stats_read("/proc", &info) == 0);
	CHECK(info.self_rss_bytes > 0);
	CHECK(info.self_vsize_bytes >= info.self_rss_bytes);
	CHECK(info.self_open_fds >= 3);
	CHECK(info.self_start_time > 1e9);
}

int main(void)
{
	test_fixture();
	test_missing();
	test_self();
	TEST_DONE();
}
