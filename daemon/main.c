// SPDX-License-Identifier: GPL-2.0-only
/* rawtpd: per-process scheduler counters from sched_switch, served to Prometheus. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <bpf/libbpf.h>

#include "config.h"
#include "log.h"
#include "probe.h"
#include "rawtpd-config.h"
#include "service.h"
#include "util.h"

/*
 * Every interval builds a snapshot (about 10 MB of buffers at 10k processes) and frees the one
 * before. glibc by default gives the top of its heap back to the kernel as soon as more than
 * twice its largest freed mapping lies free there, so the next snapshot faulted the same pages
 * in again: 700-1400 page faults a second at 10k processes on the benchmark machine (a VM,
 * where a fault costs tens of microseconds), half the daemon's CPU. Keep the heap instead
 * (never trimmed below 64 MiB of free top), and map only chunks above 4 MiB: the snapshot
 * buffers stay at or below that up to about 13k processes, while the kernel BTF that libbpf
 * reads once at start-up (over 4 MiB) stays a mapping and is given back when freed, rather
 * than left in the heap. Measured with tests/bench (see its README).
 * One arena: the HTTP threads that compress or render a body on demand would otherwise each get
 * an arena of their own, and keep its high-water mark resident (two arenas held 670 KiB at
 * 1k processes, the compressors' state and the bodies); in the main heap that memory is reused.
 */
static void malloc_keep_heap(void)
{
	mallopt(M_MMAP_THRESHOLD, (4 << 20) + 4096);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_ARENA_MAX, 1);
}

int main(int argc, char **argv)
{
	struct options o = {};
	int r, status;

	r = config_parse_argv(argc, argv, &o);
	if (r < 0)
		return 2;

	if (o.help) {
		config_print_help(argv[0]);
		status = 0;
	} else if (o.version) {
		printf("rawtpd %s (libbpf %s)\n", RAWTPD_VERSION, libbpf_version_string());
		status = 0;
	} else if (o.check_config) {
		_cleanup_free_ char *err = NULL;
		struct config c;

		r = config_load(o.config_path, &o, &c, &err);
		if (r < 0) {
			fprintf(stderr, "%s\n", err ?: "invalid configuration");
			status = 2;
		} else {
			printf("%s: OK\n", o.config_path ?: RAWTPD_DEFAULT_CONFIG);
			config_done(&c);
			status = 0;
		}
	} else if (o.probe) {
		status = probe_run(o.json, o.set & OPT_SET_LOG_LEVEL ? o.flags.log_level : -1);
	} else {
		malloc_keep_heap();
		status = service_run(&o);
	}
	options_done(&o);
	return status;
}
