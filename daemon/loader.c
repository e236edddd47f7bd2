// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "log.h"
#include "util.h"
#include "rawtpd.skel.h"

struct loader {
	struct rawtpd_bpf *skel;
	struct bpf_link *link;
	struct bpf_link *rename_link; /* NULL where the mode has no rename hook */
	struct bpf_program *prog;     /* the sched_switch program */
	enum attach_mode mode;
	enum data_path path;
	char path_why[512];
};

/* libbpf speaks through our logger, at debug: users see its dumps only when they ask. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[1024];
	size_t n;

	if (log_get_max_level() < LOG_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = 0;
	log_debug("libbpf: %s", buf);
	return 0;
}

void loader_log_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}

static struct bpf_program *mode_program(struct rawtpd_bpf *skel, enum attach_mode m,
					enum data_path path)
{
	if (path == DATA_PATH_THREAD)
		switch (m) {
		case ATTACH_TP_BTF:
			return skel->progs.rawtpd_thread_tp_btf;
		case ATTACH_RAW_TP:
			return skel->progs.rawtpd_thread_raw_tp;
		case ATTACH_TRACEPOINT:
			return skel->progs.rawtpd_thread_tracepoint;
		default:
			return NULL;
		}
	switch (m) {
	case ATTACH_TP_BTF:
		return skel->progs.rawtpd_tp_btf;
	case ATTACH_RAW_TP:
		return skel->progs.rawtpd_raw_tp;
	case ATTACH_TRACEPOINT:
		return skel->progs.rawtpd_tracepoint;
	case ATTACH_KPROBE:
		return skel->progs.rawtpd_kprobe;
	default:
		return NULL;
	}
}

/* The rename hook of the same family, or NULL where this kernel does not offer it. */
static struct bpf_program *mode_rename_program(struct rawtpd_bpf *skel, enum attach_mode m,
					       const struct kernel_facts *f)
{
	switch (m) {
	case ATTACH_TP_BTF:
		return skel->progs.rawtpd_rename_tp_btf;
	case ATTACH_RAW_TP:
		return skel->progs.rawtpd_rename_raw_tp;
	case ATTACH_TRACEPOINT:
		return f->task_rename_event ? skel->progs.rawtpd_rename_tracepoint : NULL;
	case ATTACH_KPROBE:
		return f->rename_target[0] ? skel->progs.rawtpd_rename_kprobe : NULL;
	default:
		return NULL;
	}
}

static struct bpf_link *attach_program(struct bpf_program *p, enum attach_mode m,
				       const char *symbol)
{
	if (m == ATTACH_KPROBE)
		return bpf_program__attach_kprobe(p, false, symbol);
	return bpf_program__attach(p);
}

/* The process path's per-thread figures (tid_runtime): threads outnumber processes. */
static uint32_t tid_map_size(uint32_t max_processes)
{
	if (max_processes > UINT32_MAX / 2)
		return UINT32_MAX;
	return 2 * max_processes > 16384 ? 2 * max_processes : 16384;
}

/*
 * Set an opened object up for mode m: which programs load, what the BPF side is told of the
 * kernel, and the map sizes. *ret_want is the sched_switch program, *ret_rename the rename hook
 * (NULL where this kernel has none for the mode).
 */
static int prepare_mode(struct rawtpd_bpf *skel, enum attach_mode m, enum data_path path,
			const struct kernel_facts *f, uint32_t max_processes, bool latency,
			struct bpf_program **ret_want, struct bpf_program **ret_rename)
{
	struct bpf_program *p, *want, *rename;
	bool thread = path == DATA_PATH_THREAD;
	int r;

	want = mode_program(skel, m, path);
	if (!want)
		return -EINVAL;
	rename = mode_rename_program(skel, m, f);
	bpf_object__for_each_program(p, skel->obj)
		bpf_program__set_autoload(p, p == want || p == rename);
	/* each path's maps only: the thread path's need kernels the other runs without */
	bpf_map__set_autocreate(skel->maps.threads, thread);
	bpf_map__set_autocreate(skel->maps.slots, thread);
	bpf_map__set_autocreate(skel->maps.free_slots, thread);
	bpf_map__set_autocreate(skel->maps.preempts, thread);
	bpf_map__set_autocreate(skel->maps.hists, thread);
	bpf_map__set_autocreate(skel->maps.preempted, thread);
	bpf_map__set_autocreate(skel->maps.slot_cache, thread);
	bpf_map__set_autocreate(skel->maps.oncpu, !thread);
	bpf_map__set_autocreate(skel->maps.tid_runtime, !thread);
	/* unknown: assume a current kernel (a wrong guess fails the load, not the counts) */
	skel->rodata->prev_state_arg = f->sched_switch_prev_state != 0;
	skel->rodata->new_after_ns = now_nsec(CLOCK_MONOTONIC);
	skel->rodata->count_latency = latency && thread;

	/* the thread path reads no per-process per-CPU hash: one entry keeps the fds uniform */
	r = bpf_map__set_max_entries(skel->maps.counts, thread ? 1 : max_processes);
	if (r >= 0)
		r = bpf_map__set_max_entries(skel->maps.slots, max_processes);
	if (r >= 0)
		r = bpf_map__set_max_entries(skel->maps.free_slots, max_processes);
	/* one entry each when not counting latency: no code that reads them is loaded then */
	if (r >= 0)
		r = bpf_map__set_max_entries(skel->maps.hists,
					     latency && thread ? max_processes : 1);
	if (r >= 0 && !(latency && thread))
		r = bpf_map__set_max_entries(skel->maps.preempts, 1);
	/*
	 * Where the kernel can allocate map memory from any context (bpf_mem_alloc, Linux 6.1),
	 * create entries as processes appear instead of preallocating max_processes of them on
	 * every CPU. Older kernels would allocate with the runqueue lock held: there the map stays
	 * preallocated.
	 */
	if (r >= 0 && f->map_mem_alloc > 0)
		r = bpf_map__set_map_flags(skel->maps.counts,
					   bpf_map__map_flags(skel->maps.counts) |
						   BPF_F_NO_PREALLOC);
	if (r >= 0)
		r = bpf_map__set_max_entries(skel->maps.tid_runtime, tid_map_size(max_processes));
	if (r < 0)
		return r;
	*ret_want = want;
	*ret_rename = rename;
	return 0;
}

/* Thread path: every slot is free before the program runs; a stack, slot 0 on top. */
static int fill_free_slots(struct rawtpd_bpf *skel, uint32_t n)
{
	int fd = bpf_map__fd(skel->maps.free_slots);

	for (uint32_t i = n; i-- > 0;)
		if (bpf_map_update_elem(fd, NULL, &i, BPF_ANY) < 0)
			return -errno;
	return 0;
}

/*
 * Open the object. CO-RE relocations come from the kernel's own BTF, or from the file the
 * facts found when it is not the kernel's (--btf, [bpf] btf, the search path).
 */
static struct rawtpd_bpf *open_object(const struct kernel_facts *f)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);

	if (f->btf_source != KERNEL_BTF_KERNEL && f->btf_path[0])
		opts.btf_custom_path = f->btf_path;
	return rawtpd_bpf__open_opts(&opts);
}

static int attach_path(enum attach_mode m, enum data_path path, const struct kernel_facts *f,
		       uint32_t max_processes, bool latency, struct loader **ret, char **ret_error)
{
	struct rawtpd_bpf *skel = NULL;
	struct bpf_program *want, *rename;
	enum kernel_step step = KERNEL_STEP_OPEN;
	struct loader *l;
	int r;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	skel = open_object(f);
	r = skel ? prepare_mode(skel, m, path, f, max_processes, latency, &want, &rename) : -errno;
	if (r < 0)
		goto fail;

	step = KERNEL_STEP_LOAD;
	r = rawtpd_bpf__load(skel);
	if (r < 0)
		goto fail;

	if (path == DATA_PATH_THREAD) {
		r = fill_free_slots(skel, max_processes);
		if (r < 0)
			goto fail;
	}

	step = KERNEL_STEP_ATTACH;
	l->link = attach_program(want, m, kernel_kprobe_target(f));
	if (!l->link) {
		r = -errno;
		goto fail;
	}
	l->skel = skel;
	l->prog = want;
	l->mode = m;
	l->path = path;
	if (rename) {
		/* Optional: without it, names are read from /proc once per process. */
		l->rename_link = attach_program(rename, m, f->rename_target);
		if (!l->rename_link)
			log_debug("Not following process renames (%s: %s); names come from /proc",
				  bpf_program__name(rename), strerror(errno));
	}
	*ret = l;
	return 0;

fail:
	rawtpd_bpf__destroy(skel);
	free(l);
	if (ret_error)
		*ret_error = kernel_failure_message(m, f, step, r);
	return r;
}

struct loader *loader_detach(struct loader *l)
{
	if (!l)
		return NULL;
	bpf_link__destroy(l->rename_link);
	bpf_link__destroy(l->link);
	rawtpd_bpf__destroy(l->skel);
	free(l);
	return NULL;
}

void loader_fds(const struct loader *l, struct loader_fds *ret)
{
	*ret = (struct loader_fds){
		.counts = bpf_map__fd(l->skel->maps.counts),
		.slots = l->path == DATA_PATH_THREAD ? bpf_map__fd(l->skel->maps.slots) : -1,
		.free_slots =
			l->path == DATA_PATH_THREAD ? bpf_map__fd(l->skel->maps.free_slots) : -1,
		.renames = l->rename_link ? bpf_map__fd(l->skel->maps.renames) : -1,
		.stats = bpf_map__fd(l->skel->maps.stats),
		.hists = l->path == DATA_PATH_THREAD && l->skel->rodata->count_latency
				 ? bpf_map__fd(l->skel->maps.hists)
				 : -1,
		.preempts = l->path == DATA_PATH_THREAD && l->skel->rodata->count_latency
				    ? bpf_map__fd(l->skel->maps.preempts)
				    : -1,
		.prog = bpf_program__fd(l->prog),
	};
}

size_t loader_maps(const struct loader *l, struct loader_map *ret, size_t max)
{
	struct bpf_map *m;
	size_t n = 0;

	bpf_object__for_each_map(m, l->skel->obj)
	{
		if (bpf_map__is_internal(m) || bpf_map__fd(m) < 0) /* internal, or not created */
			continue;
		if (n < max)
			ret[n] =
				(struct loader_map){.name = bpf_map__name(m), .fd = bpf_map__fd(m)};
		n++;
	}
	return n;
}

enum attach_mode loader_mode(const struct loader *l)
{
	return l->mode;
}

int loader_attach(enum attach_mode m, enum data_path want, const struct kernel_facts *f,
		  uint32_t max_processes, bool latency, struct loader **ret, char **ret_error)
{
	_cleanup_free_ char *err = NULL;
	enum data_path path;
	const char *why;
	int r;

	r = kernel_precheck(m, f, ret_error);
	if (r < 0)
		return r;
	r = kernel_data_path_pick(want, m, f, &path, &why);
	if (r < 0) {
		if (ret_error &&
		    asprintf(ret_error, "data path thread cannot run in attach mode %s: %s",
			     attach_mode_to_string(m), why) < 0)
			*ret_error = NULL;
		return r;
	}
	r = attach_path(m, path, f, max_processes, latency, ret, &err);
	if (r < 0 && want == DATA_PATH_AUTO && path == DATA_PATH_THREAD) {
		log_info("The thread data path did not load in mode %s (%s); taking the process "
			 "path",
			 attach_mode_to_string(m), err ?: strerror(-r));
		r = attach_path(m, DATA_PATH_PROCESS, f, max_processes, false, ret, ret_error);
		if (r == 0)
			snprintf((*ret)->path_why, sizeof((*ret)->path_why),
				 "the thread path did not load: %s", err ?: strerror(-r));
		return r;
	}
	if (r < 0) {
		if (ret_error)
			*ret_error = TAKE_PTR(err);
		return r;
	}
	if (want == DATA_PATH_AUTO && path == DATA_PATH_PROCESS)
		snprintf((*ret)->path_why, sizeof((*ret)->path_why),
			 "the thread path cannot run: %s", why);
	else
		snprintf((*ret)->path_why, sizeof((*ret)->path_why), "%s", why);
	return 0;
}

const char *loader_data_path_reason(const struct loader *l)
{
	return l->path_why;
}

enum data_path loader_data_path(const struct loader *l)
{
	return l->path;
}

void loader_next_interval(struct loader *l)
{
	if (l && l->skel->data)
		__atomic_add_fetch(&l->skel->data->cgroup_gen, 1, __ATOMIC_RELAXED);
}
