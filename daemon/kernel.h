/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What this kernel offers and why a mode would fail: the facts the system gives each attach
 * mode (read from /sys and /proc, or from a test's fixture), whether a mode can work given those
 * facts, the message a failure gets, and which mode auto picks. Nothing here loads a program:
 * the collector attaches and --probe reports, both from these facts; test-kernel checks them on
 * hand-made ones.
 */
#ifndef RAWTPD_KERNEL_H
#define RAWTPD_KERNEL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

#define KERNEL_PATH_MAX	  128
#define KERNEL_SYMBOL_MAX 128

/* auto tries the modes in this order. */
extern const enum attach_mode kernel_auto_order[4];

/* The process's effective capabilities, as far as loading and attaching go. */
struct kernel_caps {
	bool known; /* capget() answered */
	bool bpf, perfmon, sys_admin;
};

/* The capabilities this process has now. */
void kernel_caps_read(struct kernel_caps *ret);

/*
 * Whether c suffices to load and attach (CAP_SYS_ADMIN, or CAP_BPF and CAP_PERFMON; unknown
 * capabilities do: the kernel will decide): 0 with *ret_message NULL, or -EPERM with
 * *ret_message (malloc'd, NULL on ENOMEM) naming the capabilities missing and what to do.
 */
int kernel_caps_check(const struct kernel_caps *c, char **ret_message);

/* Where the BTF for CO-RE came from. */
enum kernel_btf_source {
	KERNEL_BTF_NONE,   /* nowhere: no mode can load */
	KERNEL_BTF_KERNEL, /* /sys/kernel/btf/vmlinux, the kernel's own */
	KERNEL_BTF_FLAG,   /* --btf */
	KERNEL_BTF_CONFIG, /* [bpf] btf */
	KERNEL_BTF_SEARCH, /* RAWTPD_BTF_DIR/RELEASE.btf, or one of libbpf's places */
	_KERNEL_BTF_SOURCE_MAX,
};

/* "none", "kernel", "flag", "config", "search path". */
const char *kernel_btf_source_to_string(enum kernel_btf_source s);

/* The BTF file the user named: --btf (KERNEL_BTF_FLAG) or [bpf] btf (KERNEL_BTF_CONFIG). */
struct kernel_btf_given {
	const char *path; /* NULL or "": none; then the kernel's own, or the search */
	enum kernel_btf_source source;
};

/*
 * The directory searched for RELEASE.btf when the kernel has no /sys/kernel/btf/vmlinux:
 * $RAWTPD_BTF_DIR (tests), else RAWTPD_BTF_DIR (meson's btf_dir, /var/lib/rawtpd/btf).
 */
const char *kernel_btf_dir(void);

struct kernel_facts {
	char release[65];		   /* uname -r */
	char btf_path[PATH_MAX];	   /* the BTF for CO-RE, "" if none was found */
	enum kernel_btf_source btf_source; /* where btf_path came from */
	int btf_error;			   /* -errno: btf_path is not a BTF libbpf can parse */
	bool btf_sysfs;		       /* /sys/kernel/btf/vmlinux (the kernel's own, for tp_btf) */
	bool tracefs_dir;	       /* /sys/kernel/tracing exists (CONFIG_TRACING) */
	char tracefs[KERNEL_PATH_MAX]; /* where tracefs is mounted (has events/), "" if not */
	bool tracefs_denied;	       /* not root: tracefs cannot be looked into, the three
					   below are assumed and the kernel will decide */
	bool sched_switch_event;       /* <tracefs>/events/sched/sched_switch/id */
	bool task_rename_event;	       /* <tracefs>/events/task/task_rename/id */
	bool kprobe_pmu;	       /* /sys/bus/event_source/devices/kprobe (perf kprobes) */
	bool kprobe_events;	       /* <tracefs>/kprobe_events (legacy kprobes) */
	bool kallsyms;		       /* /proc/kallsyms could be read */
	int perf_event_paranoid;       /* kernel.perf_event_paranoid, INT_MIN if unknown */
	int bpf_stats_enabled;	       /* kernel.bpf_stats_enabled: 1, 0, -errno if unknown */
	char kprobe_target[KERNEL_SYMBOL_MAX]; /* finish_task_switch[.suffix], "" if not found */
	char rename_target[KERNEL_SYMBOL_MAX]; /* __set_task_comm[.suffix], "" if not found */
	/*
	 * from the BTF: 1 yes, 0 no, -ENOENT when there is no BTF to tell; from the release
	 * when a file that is not the kernel's own (a minimized one) lacks the type
	 */
	int sched_switch_prev_state; /* sched_switch passes prev_state (Linux 5.18+) */
	int map_mem_alloc;	     /* BPF maps allocate from any context (bpf_mem_alloc, 6.1+) */
	/* task local storage allocates with bpf_mem_alloc (struct bpf_local_storage_map has
	 * selem_ma, Linux 6.5+), so the thread data path may create it under the rq lock */
	int local_storage_mem_alloc;
	/* from the BTF, 0 when it does not say: where a local storage element's value starts
	 * (offsetof(struct bpf_local_storage_elem, sdata.data)), and a task's storage header
	 * (sizeof(struct bpf_local_storage)) */
	unsigned local_storage_data_offset, local_storage_bytes;
	struct kernel_caps caps;
};

/*
 * Read the facts. root prefixes every path ("" for this system; a fixture directory in tests);
 * capabilities and the release come from the running process and uname() when root is "".
 * This parses the kernel's BTF (megabytes, freed before it returns): read the facts once and
 * hand them on. btf (may be NULL) is the file the user named, which wins over the others.
 * libbpf's messages go wherever libbpf_set_print() has sent them.
 * Returns 0, or -errno if nothing could be read at all.
 */
int kernel_facts_read(const char *root, const struct kernel_btf_given *btf,
		      struct kernel_facts *ret);

/*
 * Whether kernel.bpf_stats_enabled is on (the programs' run count and time are kept), read
 * now under root ("" or NULL for this system): 1, 0, or -errno when it cannot be told.
 */
int kernel_bpf_stats_enabled(const char *root);

/*
 * Find the symbol the kernel gave to function base in a /proc/kallsyms listing: base itself, or
 * base with a compiler suffix (".isra.0", ".constprop.0", ...; a ".part" piece only if nothing
 * else). Writes it to ret. 0, or -ENOENT.
 */
int kernel_find_symbol(FILE *kallsyms, const char *base, char *ret, size_t size);

/* "raw tracepoint sched_switch", "kprobe on finish_task_switch.isra.0", ... */
const char *kernel_hook(enum attach_mode m, const struct kernel_facts *f, char *buf, size_t size);

/* The symbol the kprobe mode probes: finish_task_switch's name in this kernel, else that name. */
const char *kernel_kprobe_target(const struct kernel_facts *f);

/*
 * Whether the facts already show mode m cannot work: 0 if nothing stands in its way, else the
 * negative errno the attempt would meet, with *ret_message (malloc'd) naming the mode, the hook,
 * the cause and what to do.
 */
int kernel_precheck(enum attach_mode m, const struct kernel_facts *f, char **ret_message);

/*
 * Whether the thread data path can run with mode m (not ATTACH_AUTO): 0, or -EOPNOTSUPP with
 * *ret_why (static) saying what is missing. It needs a mode whose hook has prev as the current
 * task (not the kprobe), the kernel's own BTF (typed task pointers) and task local storage that
 * allocates from any context.
 */
int kernel_thread_path_check(enum attach_mode m, const struct kernel_facts *f,
			     const char **ret_why);

/*
 * The data path to use with mode m given the wish (auto: thread where it can run): *ret gets
 * it and *ret_why (static) why. -EOPNOTSUPP when thread was asked for and cannot run.
 */
int kernel_data_path_pick(enum data_path want, enum attach_mode m, const struct kernel_facts *f,
			  enum data_path *ret, const char **ret_why);

enum kernel_step {
	KERNEL_STEP_OPEN,
	KERNEL_STEP_LOAD,
	KERNEL_STEP_ATTACH,
};

/* The message for a failure the kernel reported (err < 0) at step. malloc'd, NULL on ENOMEM. */
char *kernel_failure_message(enum attach_mode m, const struct kernel_facts *f,
			     enum kernel_step step, int err);

/*
 * The mode auto takes, given each mode's result (0: works, else -errno) indexed by mode:
 * the first working one of kernel_auto_order, ATTACH_AUTO if none works.
 */
enum attach_mode kernel_auto_pick(const int result[_ATTACH_MODE_MAX]);

#endif
