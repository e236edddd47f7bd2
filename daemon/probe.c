// SPDX-License-Identifier: GPL-2.0-only
/*
 * --probe: what this kernel offers, each attach mode loaded and attached for real, and which
 * one auto would take. Everything is gathered once into a struct probe_report; the text and the
 * JSON printers each read that struct and nothing else.
 *
 * JSON in rawtpd: jansson builds the small documents (this report, /api/v1/status, the HTTP
 * errors); the streaming writer in render-json.c is only for the large per-process bodies,
 * where jansson's tree per value costs too much.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>

#include "kernel.h"
#include "loader.h"
#include "log.h"
#include "probe.h"
#include "rawtpd.h"
#include "rawtpd-config.h"
#include "util.h"

/* One attach mode, tried. */
struct probe_mode {
	enum attach_mode mode;
	char hook[KERNEL_SYMBOL_MAX + 16];
	int result;	     /* 0: it works, else the -errno it met */
	bool renames;	     /* its rename hook attached too */
	char *error;	     /* why it does not work (malloc'd); NULL: strerror(-result) says it */
	enum data_path path; /* where it keeps the counts (data_path = auto) */
	char path_why[512];
};

/*
 * What the counts map (a per-CPU hash of struct rawtpd_key -> struct rawtpd_value) will cost in
 * kernel memory on this host, as the kernel itself accounts it (htab_map_mem_usage(), Linux
 * 6.4): each entry is an element (48 bytes of struct htab_elem, the key, a pointer to its
 * per-CPU values) and the value on every possible CPU; made on demand it also carries 24 bytes
 * of allocator lists. Both ways there are 16 bytes a bucket, max_processes rounded up to a
 * power of two.
 */
#define HTAB_HEADER_BYTES    48u
#define HTAB_ELEM_BYTES	     (HTAB_HEADER_BYTES + sizeof(struct rawtpd_key) + sizeof(void *))
#define HTAB_ON_DEMAND_EXTRA 24u
#define HTAB_BUCKET_BYTES    16u
#define COUNTS_VALUE_BYTES   ((sizeof(struct rawtpd_value) + 7) / 8 * 8)
struct probe_memory {
	int possible_cpus;	/* -errno when they cannot be counted */
	uint32_t max_processes; /* the configured capacity */
	bool on_demand;		/* this kernel gets BPF_F_NO_PREALLOC (bpf_mem_alloc, 6.1+) */
	uint64_t buckets;	/* bytes, either way */
	uint64_t per_process_on_demand;
	uint64_t on_demand_full; /* made on demand, with max_processes entries */
	uint64_t preallocated;	 /* preallocated: from the start, whatever runs */
};

/*
 * What the thread data path will cost, which does not depend on the CPUs. Made at load: the
 * slots array (struct rawtpd_slot for each of max_processes threads) and the queue of free
 * slot indexes. Made with each thread: its storage element (the value, struct rawtpd_thread,
 * after the element's header) and its task's storage header (shared with any other task
 * storage map on that task), each from bpf_mem_alloc, which gives an object its size plus an
 * 8-byte list node, rounded up to a kmalloc size class. The defaults are Linux 6.18's, for a
 * BTF that does not say.
 */
#define LLIST_NODE_BYTES	  8u
#define LOCAL_STORAGE_DATA_OFFSET 72u
#define LOCAL_STORAGE_BYTES	  176u
#define THREAD_VALUE_BYTES	  sizeof(struct rawtpd_thread)
#define SLOT_BYTES		  (sizeof(struct rawtpd_slot) + sizeof(__u32))
struct probe_thread_memory {
	uint64_t per_thread;   /* made with each thread */
	uint64_t per_cpu;      /* each possible CPU's slot cache */
	int possible_cpus;     /* -errno when they cannot be counted */
	uint64_t preallocated; /* the slots, the free queue and the slot caches, from the start */
	uint64_t full;	       /* max_processes threads */
};

/* Each yes/no below is 1, 0, or negative when it cannot be told. */
struct probe_report {
	struct kernel_facts kernel;
	int kprobes;
	int batch_map_ops;
	int ring_buffer;
	int percpu_hash;
	struct probe_memory memory;
	struct probe_thread_memory thread_memory;
	struct probe_mode modes[ELEMENTSOF(kernel_auto_order)]; /* in the order auto tries them */
	enum attach_mode auto_choice;				/* ATTACH_AUTO: none works */
};

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

/* Load and attach mode m, then detach it again: 0 if it works here, else -errno. */
static int try_mode(enum attach_mode m, const struct kernel_facts *f, struct probe_mode *pm)
{
	struct loader_fds fds;
	struct loader *l;
	int r;

	r = loader_attach(m, DATA_PATH_AUTO, f, 64, false, &l, &pm->error);
	if (r < 0)
		return r;
	loader_fds(l, &fds);
	pm->renames = fds.renames >= 0;
	pm->path = loader_data_path(l);
	snprintf(pm->path_why, sizeof(pm->path_why), "%s", loader_data_path_reason(l));
	loader_detach(l);
	return 0;
}

/* Load and attach each mode, as auto would try them. */
static void try_modes(struct probe_report *rep)
{
	int results[_ATTACH_MODE_MAX];

	for (size_t i = 0; i < ELEMENTSOF(results); i++)
		results[i] = -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(rep->modes); i++) {
		struct probe_mode *pm = &rep->modes[i];
		char hook[sizeof(pm->hook)];

		pm->mode = kernel_auto_order[i];
		snprintf(pm->hook, sizeof(pm->hook), "%s",
			 kernel_hook(pm->mode, &rep->kernel, hook, sizeof(hook)));
		pm->result = try_mode(pm->mode, &rep->kernel, pm);
		results[pm->mode] = pm->result;
	}
	rep->auto_choice = kernel_auto_pick(results);
}

static void estimate_memory(const struct kernel_facts *f, uint32_t max_processes,
			    struct probe_memory *ret)
{
	struct probe_memory m = {
		.possible_cpus = libbpf_num_possible_cpus(),
		.max_processes = max_processes,
		.on_demand = f->map_mem_alloc > 0, /* as loader.c decides */
	};
	uint64_t buckets = 1, values;

	if (m.possible_cpus > 0) {
		while (buckets < max_processes)
			buckets *= 2;
		values = (uint64_t)COUNTS_VALUE_BYTES * (uint64_t)m.possible_cpus;
		m.buckets = buckets * HTAB_BUCKET_BYTES;
		m.per_process_on_demand = HTAB_ELEM_BYTES + HTAB_ON_DEMAND_EXTRA + values;
		m.on_demand_full = m.buckets + max_processes * m.per_process_on_demand;
		m.preallocated = m.buckets + max_processes * (HTAB_ELEM_BYTES + values);
	}
	*ret = m;
}

/* The kmalloc size class n falls in: 8 .. 96, 128, 192, then powers of two. */
static uint64_t size_class(uint64_t n)
{
	uint64_t c = 8;

	if (n > 64 && n <= 96)
		return 96;
	if (n > 128 && n <= 192)
		return 192;
	while (c < n)
		c *= 2;
	return c;
}

static void estimate_thread_memory(const struct kernel_facts *f, uint32_t max_processes,
				   struct probe_thread_memory *ret)
{
	uint64_t off = f->local_storage_data_offset ?: LOCAL_STORAGE_DATA_OFFSET;
	uint64_t hdr = f->local_storage_bytes ?: LOCAL_STORAGE_BYTES;

	ret->per_thread = size_class(off + THREAD_VALUE_BYTES + LLIST_NODE_BYTES) +
			  size_class(hdr + LLIST_NODE_BYTES);
	ret->per_cpu = sizeof(struct rawtpd_slot_cache);
	ret->possible_cpus = libbpf_num_possible_cpus();
	ret->preallocated = (uint64_t)max_processes * SLOT_BYTES;
	if (ret->possible_cpus > 0)
		ret->preallocated += ret->per_cpu * (uint64_t)ret->possible_cpus;
	ret->full = ret->preallocated + (uint64_t)max_processes * ret->per_thread;
}

static int probe_report_make(uint32_t max_processes, const struct kernel_btf_given *btf,
			     struct probe_report *ret)
{
	struct probe_report rep = {};
	bool unpriv;
	int r;

	r = kernel_facts_read("", btf, &rep.kernel);
	if (r < 0)
		return r;
	unpriv = unprivileged(&rep.kernel);
	rep.kprobes = kprobes(&rep.kernel);
	rep.batch_map_ops = unpriv ? -EPERM : probe_batch_ops();
	rep.ring_buffer = unpriv ? -EPERM : libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL);
	rep.percpu_hash =
		unpriv ? -EPERM : libbpf_probe_bpf_map_type(BPF_MAP_TYPE_PERCPU_HASH, NULL);
	estimate_memory(&rep.kernel, max_processes, &rep.memory);
	estimate_thread_memory(&rep.kernel, max_processes, &rep.thread_memory);
	try_modes(&rep);
	*ret = rep;
	return 0;
}

static void probe_report_done(struct probe_report *rep)
{
	for (size_t i = 0; i < ELEMENTSOF(rep->modes); i++)
		free(rep->modes[i].error);
}

/* --- text ---------------------------------------------------------------------------- */

static const char *yes_no(int v)
{
	return v < 0 ? "unknown" : v ? "yes" : "no";
}

static const char *cap_yes_no(const struct kernel_caps *c, bool has)
{
	return yes_no(c->known ? has : -1);
}

static const char *sched_switch_text(int prev_state)
{
	if (prev_state < 0)
		return "unknown (no BTF)";
	return prev_state ? "preempt, prev, next, prev_state (5.18+)"
			  : "preempt, prev, next (no prev_state: before 5.18)";
}

static const char *tracefs_text(const struct kernel_facts *f)
{
	if (f->tracefs[0])
		return f->tracefs;
	return f->tracefs_dir ? "not mounted (mount -t tracefs tracefs /sys/kernel/tracing)"
			      : "none (CONFIG_TRACING)";
}

static const char *stats_text(int enabled)
{
	if (enabled < 0)
		return "unknown";
	return enabled ? "enabled" : "disabled (sysctl kernel.bpf_stats_enabled=1 turns them on)";
}

static void print_kernel(const struct probe_report *rep, FILE *out)
{
	const struct kernel_facts *f = &rep->kernel;

	fprintf(out, "rawtpd %s (libbpf %s) on Linux %s\n", RAWTPD_VERSION, libbpf_version_string(),
		f->release);
	fprintf(out, "kernel BTF:        %s\n", f->btf_path[0] ? f->btf_path : "none");
	fprintf(out, "BTF source:        %s\n", kernel_btf_source_to_string(f->btf_source));
	fprintf(out, "sched_switch args: %s\n", sched_switch_text(f->sched_switch_prev_state));
	fprintf(out, "tracefs:           %s\n", tracefs_text(f));
	fprintf(out, "kprobes:           %s%s%s\n", yes_no(rep->kprobes),
		f->kprobe_target[0] ? ", target " : "", f->kprobe_target);
	fprintf(out, "capabilities:      CAP_BPF %s, CAP_PERFMON %s, CAP_SYS_ADMIN %s\n",
		cap_yes_no(&f->caps, f->caps.bpf), cap_yes_no(&f->caps, f->caps.perfmon),
		cap_yes_no(&f->caps, f->caps.sys_admin));
	fprintf(out, "BPF stats:         %s\n", stats_text(f->bpf_stats_enabled));
	fprintf(out, "batch map ops:     %s\n", yes_no(rep->batch_map_ops));
	fprintf(out, "ring buffer:       %s\n", yes_no(rep->ring_buffer));
	fprintf(out, "per-CPU hash maps: %s\n", yes_no(rep->percpu_hash));
}

/* 1536 -> "1.5 KiB" */
static const char *bytes_text(uint64_t v, char buf[32])
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double d = (double)v;
	size_t u = 0;

	while (d >= 1024 && u + 1 < ELEMENTSOF(units)) {
		d /= 1024;
		u++;
	}
	snprintf(buf, 32, u ? "%.1f %s" : "%.0f %s", d, units[u]);
	return buf;
}

static void print_memory(const struct probe_memory *m, FILE *out)
{
	char a[32], b[32], c[32];

	if (m->possible_cpus <= 0) {
		fprintf(out, "counts map memory: unknown (cannot count the possible CPUs: %s)\n",
			strerror(-m->possible_cpus));
		return;
	}
	fprintf(out, "counts map memory: %d possible CPUs, max_processes %u, %s on this kernel\n",
		m->possible_cpus, m->max_processes,
		m->on_demand ? "made on demand (BPF_F_NO_PREALLOC)" : "preallocated");
	fprintf(out, "  on demand:       %" PRIu64 " B a process + %s, %s when full\n",
		m->per_process_on_demand, bytes_text(m->buckets, a),
		bytes_text(m->on_demand_full, b));
	fprintf(out, "  preallocated:    %s from the start\n", bytes_text(m->preallocated, c));
}

static void print_thread_memory(const struct probe_thread_memory *m, FILE *out)
{
	char a[32], b[32];

	fprintf(out, "thread data path memory (a thread's does not depend on the CPUs):\n");
	if (m->possible_cpus <= 0) {
		fprintf(out,
			"  %s from the start: a %zu B slot for each of max_processes threads, and "
			"a "
			"%" PRIu64
			" B slot cache\n  for each possible CPU (cannot count them: %s); + "
			"%" PRIu64 " B a thread running; %s when full\n",
			bytes_text(m->preallocated, a), sizeof(struct rawtpd_slot), m->per_cpu,
			strerror(-m->possible_cpus), m->per_thread, bytes_text(m->full, b));
		goto latency;
	}
	fprintf(out,
		"  %s from the start: a %zu B slot for each of max_processes threads, and a "
		"%" PRIu64 " B slot cache\n  for each of %d possible CPUs; + %" PRIu64
		" B a thread running; %s when full\n",
		bytes_text(m->preallocated, a), sizeof(struct rawtpd_slot), m->per_cpu,
		m->possible_cpus, m->per_thread, bytes_text(m->full, b));
latency:
	fprintf(out, "  counting latency (group_by unit or cgroup at start): + %zu B a slot\n",
		sizeof(struct rawtpd_hist));
}

static void print_text(const struct probe_report *rep, FILE *out)
{
	print_kernel(rep, out);
	print_memory(&rep->memory, out);
	print_thread_memory(&rep->thread_memory, out);
	fprintf(out, "attach modes (in the order auto tries them):\n");
	for (size_t i = 0; i < ELEMENTSOF(rep->modes); i++) {
		const struct probe_mode *pm = &rep->modes[i];
		const char *name = attach_mode_to_string(pm->mode);

		if (pm->result == 0)
			fprintf(out, "  %-11s works (%s)%s; data path %s: %s\n", name, pm->hook,
				pm->renames ? "" : "; names read from /proc",
				data_path_to_string(pm->path), pm->path_why);
		else
			fprintf(out, "  %-11s no: %s\n", name, pm->error ?: strerror(-pm->result));
	}
	fprintf(out, "auto would choose: %s\n",
		rep->auto_choice == ATTACH_AUTO ? "nothing (no mode works here)"
						: attach_mode_to_string(rep->auto_choice));
}

/* --- JSON ---------------------------------------------------------------------------- */

static json_t *json_tristate(int v)
{
	return v < 0 ? json_null() : json_boolean(v);
}

/* s, or null when it is empty. */
static json_t *json_string_or_null(const char *s)
{
	return s && s[0] ? json_string(s) : json_null();
}

static json_t *json_caps(const struct kernel_caps *c)
{
	json_t *o = json_object();

	json_object_set_new(o, "CAP_BPF", json_tristate(c->known ? c->bpf : -1));
	json_object_set_new(o, "CAP_PERFMON", json_tristate(c->known ? c->perfmon : -1));
	json_object_set_new(o, "CAP_SYS_ADMIN", json_tristate(c->known ? c->sys_admin : -1));
	return o;
}

static json_t *json_modes(const struct probe_report *rep)
{
	json_t *a = json_array();

	for (size_t i = 0; i < ELEMENTSOF(rep->modes); i++) {
		const struct probe_mode *pm = &rep->modes[i];
		json_t *o = json_object();

		json_object_set_new(o, "mode", json_string(attach_mode_to_string(pm->mode)));
		json_object_set_new(o, "hook", json_string(pm->hook));
		json_object_set_new(o, "works", json_boolean(pm->result == 0));
		json_object_set_new(o, "renames", json_boolean(pm->result == 0 && pm->renames));
		json_object_set_new(o, "data_path",
				    pm->result == 0 ? json_string(data_path_to_string(pm->path))
						    : json_null());
		json_object_set_new(o, "data_path_reason",
				    pm->result == 0 ? json_string(pm->path_why) : json_null());
		json_object_set_new(o, "reason",
				    pm->result == 0
					    ? json_null()
					    : json_string(pm->error ?: strerror(-pm->result)));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *json_memory(const struct probe_memory *m)
{
	json_t *o = json_object();

	if (m->possible_cpus <= 0) {
		json_decref(o);
		return json_null();
	}
	json_object_set_new(o, "possible_cpus", json_integer(m->possible_cpus));
	json_object_set_new(o, "max_processes", json_integer(m->max_processes));
	json_object_set_new(o, "allocation",
			    json_string(m->on_demand ? "on_demand" : "preallocated"));
	json_object_set_new(o, "bucket_bytes", json_integer((json_int_t)m->buckets));
	json_object_set_new(o, "per_process_bytes_on_demand",
			    json_integer((json_int_t)m->per_process_on_demand));
	json_object_set_new(o, "on_demand_full_bytes", json_integer((json_int_t)m->on_demand_full));
	json_object_set_new(o, "preallocated_bytes", json_integer((json_int_t)m->preallocated));
	return o;
}

static json_t *json_thread_memory(const struct probe_thread_memory *m)
{
	json_t *o = json_object();

	json_object_set_new(o, "per_thread_bytes", json_integer((json_int_t)m->per_thread));
	json_object_set_new(o, "slot_bytes", json_integer((json_int_t)SLOT_BYTES));
	json_object_set_new(o, "per_cpu_bytes", json_integer((json_int_t)m->per_cpu));
	json_object_set_new(o, "possible_cpus",
			    m->possible_cpus > 0 ? json_integer(m->possible_cpus) : json_null());
	/* the "hists" array, made only when counting latency: one per slot, from the start */
	json_object_set_new(o, "latency_slot_bytes",
			    json_integer((json_int_t)sizeof(struct rawtpd_hist)));
	json_object_set_new(o, "preallocated_bytes", json_integer((json_int_t)m->preallocated));
	json_object_set_new(o, "full_bytes", json_integer((json_int_t)m->full));
	return o;
}

static json_t *json_report(const struct probe_report *rep)
{
	const struct kernel_facts *f = &rep->kernel;
	json_t *root = json_object();

	json_object_set_new(root, "version", json_string(RAWTPD_VERSION));
	json_object_set_new(root, "libbpf_version", json_string(libbpf_version_string()));
	json_object_set_new(root, "kernel_release", json_string(f->release));
	json_object_set_new(root, "btf", json_boolean(f->btf_path[0]));
	json_object_set_new(root, "btf_path", json_string_or_null(f->btf_path));
	json_object_set_new(root, "btf_source",
			    json_string(kernel_btf_source_to_string(f->btf_source)));
	json_object_set_new(root, "sched_switch_prev_state_arg",
			    json_tristate(f->sched_switch_prev_state));
	json_object_set_new(root, "tracefs", json_string_or_null(f->tracefs));
	json_object_set_new(root, "kprobes", json_tristate(rep->kprobes));
	json_object_set_new(root, "kprobe_target", json_string_or_null(f->kprobe_target));
	json_object_set_new(root, "capabilities", json_caps(&f->caps));
	json_object_set_new(root, "bpf_stats_enabled", json_tristate(f->bpf_stats_enabled));
	json_object_set_new(root, "batch_map_ops", json_tristate(rep->batch_map_ops));
	json_object_set_new(root, "ring_buffer", json_tristate(rep->ring_buffer));
	json_object_set_new(root, "percpu_hash", json_tristate(rep->percpu_hash));
	json_object_set_new(root, "counts_map_memory", json_memory(&rep->memory));
	json_object_set_new(root, "thread_path_memory", json_thread_memory(&rep->thread_memory));
	json_object_set_new(root, "attach_modes", json_modes(rep));
	json_object_set_new(root, "auto_choice",
			    rep->auto_choice == ATTACH_AUTO
				    ? json_null()
				    : json_string(attach_mode_to_string(rep->auto_choice)));
	return root;
}

static int print_json(const struct probe_report *rep, FILE *out)
{
	json_t *root = json_report(rep);
	int r;

	if (!root)
		return -ENOMEM;
	r = json_dumpf(root, out, JSON_INDENT(2));
	json_decref(root);
	fputc('\n', out);
	return r < 0 ? -EIO : 0;
}

int probe_run(bool json, int log_level, uint32_t max_processes, const struct kernel_btf_given *btf)
{
	struct probe_report rep;
	int r = 0;

	/* libbpf's own chatter only with --log-level debug */
	log_set_max_level(log_level >= 0 ? log_level : LOG_WARNING);
	loader_log_libbpf();
	r = probe_report_make(max_processes, btf, &rep);
	if (r < 0) {
		fprintf(stderr, "Cannot read what this kernel offers: %s\n", strerror(-r));
		return 1;
	}
	if (json)
		r = print_json(&rep, stdout);
	else
		print_text(&rep, stdout);
	probe_report_done(&rep);
	if (r == -ENOMEM)
		fprintf(stderr, "Out of memory\n");
	if (fflush(stdout) != 0 || r < 0)
		return 1;
	return 0;
}
