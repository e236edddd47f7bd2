// SPDX-License-Identifier: GPL-2.0-only
/* rawtpd: per-process scheduler counters from sched_switch, served to Prometheus. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <bpf/libbpf.h>

#include "config.h"
#include "kernel.h"
#include "log.h"
#include "probe.h"
#include "rawtpd-config.h"
#include "service.h"
#include "util.h"

/*
 * Every interval frees one snapshot's buffers and builds the next: keep the heap rather than
 * hand it back and fault it in again, and keep it in one arena for every thread.
 */
static void malloc_keep_heap(void)
{
	mallopt(M_MMAP_THRESHOLD, (4 << 20) + 4096); /* the BTF libbpf reads is a mapping */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_ARENA_MAX, 1);
}

/*
 * --probe reports the BTF rawtpd would use: --btf's, else [bpf] btf's; and estimates the map
 * memory at the max_processes it would use. A config that does not load is no reason not to
 * probe: then only the flags count.
 */
static int probe_with_btf(const struct options *o)
{
	struct kernel_btf_given btf;
	struct config c;
	int status;

	if (config_load(o->config_path, o, &c, NULL) < 0) {
		config_init(&c);
		if (o->set & OPT_SET_MAX_PROCESSES)
			c.max_processes = o->flags.max_processes;
	}
	btf = (struct kernel_btf_given){c.btf,
					o->set & OPT_SET_BTF ? KERNEL_BTF_FLAG : KERNEL_BTF_CONFIG};
	if (!c.btf && o->set & OPT_SET_BTF)
		btf.path = o->flags.btf;
	status = probe_run(o->json, o->set & OPT_SET_LOG_LEVEL ? o->flags.log_level : -1,
			   c.max_processes, &btf);
	config_done(&c);
	return status;
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
		status = probe_with_btf(&o);
	} else {
		malloc_keep_heap();
		status = service_run(&o);
	}
	options_done(&o);
	return status;
}
