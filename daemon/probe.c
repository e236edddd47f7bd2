// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>

#include "kernel.h"
#include "collector.h"
#include "log.h"
#include "probe.h"
#include "rawtpd-config.h"
#include "util.h"

/* Batch lookups (Linux 5.6) on a tiny hash map: 1, 0, or -errno when no map can be made. */
static int probe_batch_ops(void)
{
	__u32 key = 1, val = 2, keys[4], vals[4], count = 4, out_batch;
	_cleanup_close_ int fd = -1;
	int r;

	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "rawtpd_probe", sizeof(key), sizeof(val), 4, NULL);
	if (fd < 0)
		return -errno;
	if (bpf_map_update_elem(fd, &key, &val, BPF_ANY) < 0)
		return -errno;
	r = bpf_map_lookup_batch(fd, NULL, &out_batch, keys, vals, &count, NULL);
	if (r < 0 && errno != ENOENT)
		return errno == EINVAL || errno == ENOTSUP ? 0 : -errno;
	return count == 1 && keys[0] == key && vals[0] == val;
}

static int probe_map_type(enum bpf_map_type t)
{
	return libbpf_probe_bpf_map_type(t, NULL);
}

static json_t *json_tristate(int v)
{
	return v < 0 ? json_null() : json_boolean(v);
}

/* Without CAP_BPF or CAP_SYS_ADMIN no map can be made: what the kernel supports is unknown. */
static bool unprivileged(const struct kernel_facts *f)
{
	return f->caps.known && !f->caps.sys_admin && !f->caps.bpf;
}

/* 1, 0, or -EACCES when tracefs could not be looked into and there is no kprobe PMU. */
static int kprobes(const struct kernel_facts *f)
{
	if (f->kprobe_pmu)
		return 1;
	if (f->tracefs_denied)
		return -EACCES;
	return f->kprobe_events;
}

static json_t *build_report(const struct kernel_facts *f)
{
	int results[_ATTACH_MODE_MAX];
	json_t *root, *modes, *caps;
	enum attach_mode chosen;

	root = json_object();
	json_object_set_new(root, "version", json_string(RAWTPD_VERSION));
	json_object_set_new(root, "libbpf_version", json_string(libbpf_version_string()));
	json_object_set_new(root, "kernel_release", json_string(f->release));
	json_object_set_new(root, "btf", json_boolean(f->btf_path[0]));
	json_object_set_new(root, "btf_path",
			    f->btf_path[0] ? json_string(f->btf_path) : json_null());
	json_object_set_new(root, "sched_switch_prev_state_arg",
			    json_tristate(f->sched_switch_prev_state));
	json_object_set_new(root, "tracefs", f->tracefs[0] ? json_string(f->tracefs) : json_null());
	json_object_set_new(root, "kprobes", json_tristate(kprobes(f)));
	json_object_set_new(root, "kprobe_target",
			    f->kprobe_target[0] ? json_string(f->kprobe_target) : json_null());
	caps = json_object();
	json_object_set_new(caps, "CAP_BPF",
			    f->caps.known ? json_boolean(f->caps.bpf) : json_null());
	json_object_set_new(caps, "CAP_PERFMON",
			    f->caps.known ? json_boolean(f->caps.perfmon) : json_null());
	json_object_set_new(caps, "CAP_SYS_ADMIN",
			    f->caps.known ? json_boolean(f->caps.sys_admin) : json_null());
	json_object_set_new(root, "capabilities", caps);
	json_object_set_new(root, "bpf_stats_enabled", json_tristate(f->bpf_stats_enabled));
	json_object_set_new(root, "batch_map_ops",
			    json_tristate(unprivileged(f) ? -EPERM : probe_batch_ops()));
	json_object_set_new(
		root, "ring_buffer",
		json_tristate(unprivileged(f) ? -EPERM : probe_map_type(BPF_MAP_TYPE_RINGBUF)));
	json_object_set_new(
		root, "percpu_hash",
		json_tristate(unprivileged(f) ? -EPERM : probe_map_type(BPF_MAP_TYPE_PERCPU_HASH)));

	modes = json_array();
	for (size_t i = 0; i < ELEMENTSOF(results); i++)
		results[i] = -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(kernel_auto_order); i++) {
		enum attach_mode m = kernel_auto_order[i];
		_cleanup_free_ char *err = NULL;
		char hook[KERNEL_SYMBOL_MAX + 16];
		bool renames = false;
		json_t *o = json_object();

		results[m] = collector_try_mode(m, f, &renames, &err);
		json_object_set_new(o, "mode", json_string(attach_mode_to_string(m)));
		json_object_set_new(o, "hook", json_string(kernel_hook(m, f, hook, sizeof(hook))));
		json_object_set_new(o, "works", json_boolean(results[m] == 0));
		json_object_set_new(o, "renames", json_boolean(results[m] == 0 && renames));
		json_object_set_new(o, "reason",
				    results[m] == 0 ? json_null()
						    : json_string(err ?: strerror(-results[m])));
		json_array_append_new(modes, o);
	}
	json_object_set_new(root, "attach_modes", modes);
	chosen = kernel_auto_pick(results);
	json_object_set_new(root, "auto_choice",
			    chosen == ATTACH_AUTO ? json_null()
						  : json_string(attach_mode_to_string(chosen)));
	return root;
}

static const char *yes_no(json_t *v)
{
	return json_is_null(v) ? "unknown" : json_is_true(v) ? "yes" : "no";
}

static void print_text(json_t *root, const struct kernel_facts *f)
{
	json_t *caps = json_object_get(root, "capabilities"), *m;
	int stats = f->bpf_stats_enabled;
	const char *chosen = json_string_value(json_object_get(root, "auto_choice"));
	size_t i;

	printf("rawtpd %s (libbpf %s) on Linux %s\n", RAWTPD_VERSION, libbpf_version_string(),
	       f->release);
	printf("kernel BTF:        %s\n", f->btf_path[0] ? f->btf_path : "none");
	switch (f->sched_switch_prev_state) {
	case 1:
		printf("sched_switch args: preempt, prev, next, prev_state (5.18+)\n");
		break;
	case 0:
		printf("sched_switch args: preempt, prev, next (no prev_state: before 5.18)\n");
		break;
	default:
		printf("sched_switch args: unknown (no BTF)\n");
		break;
	}
	if (f->tracefs[0])
		printf("tracefs:           %s\n", f->tracefs);
	else
		printf("tracefs:           %s\n", f->tracefs_dir ? "not mounted (mount -t tracefs "
								   "tracefs /sys/kernel/tracing)"
								 : "none (CONFIG_TRACING)");
	printf("kprobes:           %s%s%s\n", yes_no(json_object_get(root, "kprobes")),
	       f->kprobe_target[0] ? ", target " : "", f->kprobe_target);
	printf("capabilities:      CAP_BPF %s, CAP_PERFMON %s, CAP_SYS_ADMIN %s\n",
	       yes_no(json_object_get(caps, "CAP_BPF")),
	       yes_no(json_object_get(caps, "CAP_PERFMON")),
	       yes_no(json_object_get(caps, "CAP_SYS_ADMIN")));
	printf("BPF stats:         %s\n",
	       stats < 0 ? "unknown"
	       : stats	 ? "enabled"
			 : "disabled (sysctl kernel.bpf_stats_enabled=1 turns them on)");
	printf("batch map ops:     %s\n", yes_no(json_object_get(root, "batch_map_ops")));
	printf("ring buffer:       %s\n", yes_no(json_object_get(root, "ring_buffer")));
	printf("per-CPU hash maps: %s\n", yes_no(json_object_get(root, "percpu_hash")));
	printf("attach modes (in the order auto tries them):\n");
	json_array_foreach(json_object_get(root, "attach_modes"), i, m)
	{
		const char *reason = json_string_value(json_object_get(m, "reason"));

		if (!reason)
			printf("  %-11s works (%s)%s\n",
			       json_string_value(json_object_get(m, "mode")),
			       json_string_value(json_object_get(m, "hook")),
			       json_is_true(json_object_get(m, "renames"))
				       ? ""
				       : "; names read from /proc");
		else
			printf("  %-11s no: %s\n", json_string_value(json_object_get(m, "mode")),
			       reason);
	}
	printf("auto would choose: %s\n", chosen ?: "nothing (no mode works here)");
}

int probe_run(bool json, int log_level)
{
	struct kernel_facts f;
	json_t *root;
	int r;

	/* libbpf's own chatter only with --log-level debug */
	log_set_max_level(log_level >= 0 ? log_level : LOG_WARNING);
	collector_log_libbpf();
	r = kernel_facts_read("", &f);
	if (r < 0) {
		fprintf(stderr, "Cannot read what this kernel offers: %s\n", strerror(-r));
		return 1;
	}
	root = build_report(&f);
	if (!root) {
		fprintf(stderr, "Out of memory\n");
		return 1;
	}
	if (json) {
		r = json_dumpf(root, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		print_text(root, &f);
	}
	json_decref(root);
	if (fflush(stdout) != 0 || r < 0)
		return 1;
	return 0;
}
