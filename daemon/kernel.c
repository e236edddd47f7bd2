// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <bpf/btf.h>

#include "kernel.h"
#include "rawtpd-config.h"
#include "util.h"

const enum attach_mode kernel_auto_order[4] = {ATTACH_TP_BTF, ATTACH_RAW_TP, ATTACH_TRACEPOINT,
					       ATTACH_KPROBE};

#define KPROBE_FUNC "finish_task_switch"
#define RENAME_FUNC "__set_task_comm"
#define KPROBE_PMU  "/sys/bus/event_source/devices/kprobe"

/* Where libbpf 1.x looks for the kernel's BTF, in its order (btf__load_vmlinux_btf()). */
static const char *const btf_locations[] = {
	"/sys/kernel/btf/vmlinux",
	"/boot/vmlinux-%1$s",
	"/lib/modules/%1$s/vmlinux-%1$s",
	"/lib/modules/%1$s/build/vmlinux",
	"/usr/lib/modules/%1$s/kernel/vmlinux",
	"/usr/lib/debug/boot/vmlinux-%1$s",
	"/usr/lib/debug/boot/vmlinux-%1$s.debug",
	"/usr/lib/debug/lib/modules/%1$s/vmlinux",
};

/* libbpf 1.x uses the debugfs path when it exists, else the tracefs one. */
static const char *const tracefs_locations[] = {
	"/sys/kernel/debug/tracing",
	"/sys/kernel/tracing",
};

static bool exists(const char *root, const char *path)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", root, path);
	/* not access(): for a non-root uid it ignores capabilities (CAP_DAC_READ_SEARCH) */
	return stat(p, &st) == 0;
}

/* 1 if path is a directory, 0 if not, -EACCES if that cannot be told. */
static int is_dir(const char *root, const char *path)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", root, path);
	if (stat(p, &st) < 0)
		return errno == EACCES ? -EACCES : 0;
	return S_ISDIR(st.st_mode);
}

/*
 * How good a name is as the symbol of base: 0 is base itself, 1 a whole-function clone
 * (".isra.0", ".constprop.0", ".llvm.NNN"), 2 a piece (".part.0"); -1 not base, or not a
 * function entry (".cold").
 */
static int symbol_rank(const char *name, const char *base)
{
	size_t n = strlen(base);

	if (strncmp(name, base, n) != 0)
		return -1;
	if (name[n] == 0)
		return 0;
	if (name[n] != '.')
		return -1;
	if (strstr(name + n, ".cold"))
		return -1;
	if (strstr(name + n, ".part"))
		return 2;
	return 1;
}

/* One pass over kallsyms for several functions: out[i] gets the best symbol of bases[i]. */
static int scan_symbols(FILE *f, const char *const *bases, size_t n, char (*out)[KERNEL_SYMBOL_MAX])
{
	int best[4] = {-1, -1, -1, -1};
	char line[512];

	if (n > ELEMENTSOF(best))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		out[i][0] = 0;
	while (fgets(line, sizeof(line), f)) {
		char type, name[KERNEL_SYMBOL_MAX], rest[8];
		int k = sscanf(line, "%*s %c %127s %7s", &type, name, rest);

		/* text symbols of the kernel proper (module symbols carry "[module]") */
		if (k != 2 || (type != 't' && type != 'T'))
			continue;
		for (size_t i = 0; i < n; i++) {
			int r = symbol_rank(name, bases[i]);

			if (r < 0 || (best[i] >= 0 && r >= best[i]))
				continue;
			best[i] = r;
			snprintf(out[i], KERNEL_SYMBOL_MAX, "%s", name);
		}
	}
	return 0;
}

int kernel_find_symbol(FILE *kallsyms, const char *base, char *ret, size_t size)
{
	char out[1][KERNEL_SYMBOL_MAX];
	int r;

	r = scan_symbols(kallsyms, &base, 1, out);
	if (r < 0)
		return r;
	if (!out[0][0])
		return -ENOENT;
	snprintf(ret, size, "%s", out[0]);
	return 0;
}

/* The number in <root>/proc/sys/kernel/<name>: 0, or -errno. */
static int read_sysctl(const char *root, const char *name, int *ret)
{
	_cleanup_fclose_ FILE *f = NULL;
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/proc/sys/kernel/%s", root, name);
	f = fopen(p, "re");
	if (!f)
		return -errno;
	if (fscanf(f, "%d", ret) != 1)
		return -EIO;
	return 0;
}

/*
 * kernel.perf_event_paranoid, INT_MIN when it cannot be read. Above 2 (Debian's 3) the kernel
 * refuses perf_event_open(), through which the tracepoint and kprobe modes attach, to anyone
 * without CAP_SYS_ADMIN, whatever CAP_PERFMON says.
 */
static int read_paranoid(const char *root)
{
	int v;

	return read_sysctl(root, "perf_event_paranoid", &v) < 0 ? INT_MIN : v;
}

int kernel_bpf_stats_enabled(const char *root)
{
	int v, r;

	r = read_sysctl(root ?: "", "bpf_stats_enabled", &v);
	return r < 0 ? r : v != 0;
}

static void read_release(const char *root, char *buf, size_t size)
{
	char p[PATH_MAX];
	struct utsname u;
	FILE *f;

	buf[0] = 0;
	if (root[0]) {
		snprintf(p, sizeof(p), "%s/proc/sys/kernel/osrelease", root);
		f = fopen(p, "re");
		if (f) {
			if (fgets(buf, (int)size, f))
				buf[strcspn(buf, "\n")] = 0;
			fclose(f);
		}
		return;
	}
	if (uname(&u) == 0)
		snprintf(buf, size, "%s", u.release);
}

void kernel_caps_read(struct kernel_caps *ret)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {};
	uint64_t eff;

	*ret = (struct kernel_caps){};
	if (syscall(SYS_capget, &h, d) < 0)
		return;
	eff = (uint64_t)d[1].effective << 32 | d[0].effective;
	ret->known = true;
	ret->sys_admin = eff & (UINT64_C(1) << CAP_SYS_ADMIN);
	ret->perfmon = eff & (UINT64_C(1) << 38); /* CAP_PERFMON, Linux 5.8 */
	ret->bpf = eff & (UINT64_C(1) << 39);	  /* CAP_BPF, Linux 5.8 */
}

/* The kernel will refuse to load or attach: the capabilities are known and not enough. */
static bool caps_missing(const struct kernel_caps *c)
{
	return c->known && !c->sys_admin && !(c->bpf && c->perfmon);
}

int kernel_caps_check(const struct kernel_caps *c, char **ret_message)
{
	*ret_message = NULL;
	if (!caps_missing(c))
		return 0;
	if (asprintf(
		    ret_message,
		    "Missing capabilit%s %s%s%s: rawtpd needs CAP_BPF and CAP_PERFMON (Linux 5.8+) "
		    "or CAP_SYS_ADMIN to load and attach its BPF program. Run it as root or grant "
		    "them (AmbientCapabilities= in the unit).",
		    c->bpf || c->perfmon ? "y" : "ies", c->bpf ? "" : "CAP_BPF",
		    !c->bpf && !c->perfmon ? " and " : "", c->perfmon ? "" : "CAP_PERFMON") < 0)
		*ret_message = NULL;
	return -EPERM;
}

static const char *const btf_source_names[_KERNEL_BTF_SOURCE_MAX] = {
	[KERNEL_BTF_NONE] = "none",	     [KERNEL_BTF_KERNEL] = "kernel",
	[KERNEL_BTF_FLAG] = "flag",	     [KERNEL_BTF_CONFIG] = "config",
	[KERNEL_BTF_SEARCH] = "search path",
};

const char *kernel_btf_source_to_string(enum kernel_btf_source s)
{
	return s >= 0 && s < _KERNEL_BTF_SOURCE_MAX ? btf_source_names[s] : "?";
}

const char *kernel_btf_dir(void)
{
	const char *e = getenv("RAWTPD_BTF_DIR");

	return e && e[0] ? e : RAWTPD_BTF_DIR;
}

static void set_btf(struct kernel_facts *f, const char *path, enum kernel_btf_source source)
{
	snprintf(f->btf_path, sizeof(f->btf_path), "%s", path);
	f->btf_source = source;
}

/*
 * Where the BTF for CO-RE is: the file the user named, the kernel's own, RELEASE.btf in
 * kernel_btf_dir(), then the first place libbpf would find it.
 */
static void find_btf(const char *root, const struct kernel_btf_given *given, struct kernel_facts *f)
{
	char path[PATH_MAX];

	f->btf_sysfs = exists(root, btf_locations[0]);
	if (given && given->path && given->path[0]) {
		set_btf(f, given->path, given->source);
		return;
	}
	if (f->btf_sysfs) {
		set_btf(f, btf_locations[0], KERNEL_BTF_KERNEL);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s.btf", kernel_btf_dir(), f->release);
	for (size_t i = 1; !exists(root, path); i++) {
		if (i == ELEMENTSOF(btf_locations))
			return;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(path, sizeof(path), btf_locations[i], f->release);
#pragma GCC diagnostic pop
	}
	set_btf(f, path, KERNEL_BTF_SEARCH);
}

/* Whether release (uname -r) is at least major.minor; false when it does not say. */
static bool release_at_least(const char *release, unsigned major, unsigned minor)
{
	unsigned a, b;

	if (sscanf(release, "%u.%u", &a, &b) != 2)
		return false;
	return a > major || (a == major && b >= minor);
}

/* The offset of struct sname's member mname in bytes: -ENOENT without the struct, -ESRCH
 * without the member. */
static int btf_member_offset(const struct btf *btf, const char *sname, const char *mname)
{
	const struct btf_type *t;
	const struct btf_member *m;
	int id;

	id = btf__find_by_name_kind(btf, sname, BTF_KIND_STRUCT);
	if (id <= 0)
		return -ENOENT;
	t = btf__type_by_id(btf, id);
	m = btf_members(t);
	for (unsigned i = 0; i < btf_vlen(t); i++, m++) {
		const char *n = btf__name_by_offset(btf, m->name_off);

		if (n && strcmp(n, mname) == 0)
			return (int)(btf_member_bit_offset(t, i) / 8);
	}
	return -ESRCH;
}

/* Whether struct sname in btf has a member mname: 1, 0, or -ENOENT without the struct. */
static int btf_has_member(const struct btf *btf, const char *sname, const char *mname)
{
	int r = btf_member_offset(btf, sname, mname);

	return r >= 0 ? 1 : r == -ESRCH ? 0 : r;
}

/* Where task local storage puts a value, and its per-task header, for --probe's estimate. */
static void btf_local_storage_sizes(const struct btf *btf, struct kernel_facts *f)
{
	int sdata = btf_member_offset(btf, "bpf_local_storage_elem", "sdata");
	int data = btf_member_offset(btf, "bpf_local_storage_data", "data");
	int id = btf__find_by_name_kind(btf, "bpf_local_storage", BTF_KIND_STRUCT);
	long long size = id > 0 ? btf__resolve_size(btf, id) : -1;

	if (sdata >= 0 && data >= 0)
		f->local_storage_data_offset = (unsigned)(sdata + data);
	if (size > 0)
		f->local_storage_bytes = (unsigned)size;
}

/* Whether sched_switch's tracepoint passes prev_state: 1, 0, or -ENOENT if btf lacks it. */
static int btf_prev_state(const struct btf *btf)
{
	const struct btf_type *t;
	int id;

	id = btf__find_by_name_kind(btf, "btf_trace_sched_switch", BTF_KIND_TYPEDEF);
	if (id <= 0)
		return -ENOENT;
	t = btf__type_by_id(btf, id);
	t = btf__type_by_id(btf, t->type); /* pointer */
	if (!t || !btf_is_ptr(t))
		return 0;
	/* func proto: (void *, preempt, prev, next[, state]) */
	t = btf__type_by_id(btf, t->type);
	return t && btf_is_func_proto(t) && btf_vlen(t) >= 5;
}

/*
 * What the BTF says: whether sched_switch passes prev_state, whether maps allocate from any
 * context. A file that is not the kernel's own may be minimized to what rawtpd's CO-RE
 * relocations use (bpftool gen min_core_btf): where it lacks the types, the release tells.
 */
static void read_btf(const char *root, struct kernel_facts *f)
{
	bool full = f->btf_source == KERNEL_BTF_KERNEL;
	char p[PATH_MAX];
	struct btf *btf;

	f->sched_switch_prev_state = f->map_mem_alloc = f->local_storage_mem_alloc = -ENOENT;
	if (!f->btf_path[0])
		return;
	snprintf(p, sizeof(p), "%s%s", root, f->btf_path);
	btf = btf__parse(p, NULL);
	if (!btf) {
		f->btf_error = -errno;
		return;
	}
	f->sched_switch_prev_state = btf_prev_state(btf);
	if (f->sched_switch_prev_state == -ENOENT)
		f->sched_switch_prev_state = full ? 0 : release_at_least(f->release, 5, 18);
	f->map_mem_alloc = btf__find_by_name_kind(btf, "bpf_mem_alloc", BTF_KIND_STRUCT) > 0;
	if (!f->map_mem_alloc && !full)
		f->map_mem_alloc = release_at_least(f->release, 6, 1);
	f->local_storage_mem_alloc = btf_has_member(btf, "bpf_local_storage_map", "selem_ma");
	btf_local_storage_sizes(btf, f);
	btf__free(btf);
}

/* Where tracefs is mounted and which of its events and files are there. */
static void find_tracefs(const char *root, struct kernel_facts *f)
{
	char p[PATH_MAX];

	f->tracefs_dir = is_dir(root, "/sys/kernel/tracing") != 0;
	for (size_t i = 0; i < ELEMENTSOF(tracefs_locations); i++) {
		int r;

		snprintf(p, sizeof(p), "%s/events", tracefs_locations[i]);
		r = is_dir(root, p);
		if (r == 0)
			continue;
		/* tracefs is 0700: not root, the kernel will have its say */
		f->tracefs_denied = r < 0;
		snprintf(f->tracefs, sizeof(f->tracefs), "%s", tracefs_locations[i]);
		break;
	}
	if (f->tracefs_denied) {
		f->sched_switch_event = f->task_rename_event = f->kprobe_events = true;
	} else if (f->tracefs[0]) {
		snprintf(p, sizeof(p), "%s/events/sched/sched_switch/id", f->tracefs);
		f->sched_switch_event = exists(root, p);
		snprintf(p, sizeof(p), "%s/events/task/task_rename/id", f->tracefs);
		f->task_rename_event = exists(root, p);
		snprintf(p, sizeof(p), "%s/kprobe_events", f->tracefs);
		f->kprobe_events = exists(root, p);
	}
}

/* The symbols the kprobe mode and its rename hook attach to, from /proc/kallsyms. */
static void find_symbols(const char *root, struct kernel_facts *f)
{
	static const char *const funcs[] = {KPROBE_FUNC, RENAME_FUNC};
	char syms[2][KERNEL_SYMBOL_MAX], p[PATH_MAX];
	_cleanup_fclose_ FILE *ks = NULL;

	snprintf(p, sizeof(p), "%s/proc/kallsyms", root);
	ks = fopen(p, "re");
	if (!ks)
		return;
	f->kallsyms = scan_symbols(ks, funcs, ELEMENTSOF(funcs), syms) == 0;
	snprintf(f->kprobe_target, sizeof(f->kprobe_target), "%s", syms[0]);
	snprintf(f->rename_target, sizeof(f->rename_target), "%s", syms[1]);
}

int kernel_facts_read(const char *root, const struct kernel_btf_given *btf,
		      struct kernel_facts *ret)
{
	struct kernel_facts f = {};

	root = root ?: "";
	read_release(root, f.release, sizeof(f.release));
	find_btf(root, btf, &f);
	read_btf(root, &f);
	find_tracefs(root, &f);
	f.kprobe_pmu = exists(root, KPROBE_PMU "/type");
	f.perf_event_paranoid = read_paranoid(root);
	f.bpf_stats_enabled = kernel_bpf_stats_enabled(root);
	find_symbols(root, &f);
	if (!root[0])
		kernel_caps_read(&f.caps);
	*ret = f;
	return 0;
}

const char *kernel_kprobe_target(const struct kernel_facts *f)
{
	return f && f->kprobe_target[0] ? f->kprobe_target : KPROBE_FUNC;
}

const char *kernel_hook(enum attach_mode m, const struct kernel_facts *f, char *buf, size_t size)
{
	switch (m) {
	case ATTACH_TP_BTF:
		return "BTF raw tracepoint sched_switch";
	case ATTACH_RAW_TP:
		return "raw tracepoint sched_switch";
	case ATTACH_TRACEPOINT:
		return "tracepoint sched:sched_switch";
	case ATTACH_KPROBE:
		snprintf(buf, size, "kprobe on %s", kernel_kprobe_target(f));
		return buf;
	default:
		return "?";
	}
}

static const char *default_advice(enum attach_mode m)
{
	switch (m) {
	case ATTACH_TP_BTF:
		return "use --attach raw_tp or auto";
	case ATTACH_RAW_TP:
		return "use --attach tracepoint, kprobe or auto";
	case ATTACH_TRACEPOINT:
		return "use --attach raw_tp, kprobe or auto";
	default:
		return "use --attach raw_tp or auto";
	}
}

/* "<mode>: <hook>: <reason> [error ENAME: text]; <advice>" */
static char *format_message(enum attach_mode m, const struct kernel_facts *f, int err,
			    const char *advice, const char *reason_fmt, ...)
	__attribute__((format(printf, 5, 6)));

static char *format_message(enum attach_mode m, const struct kernel_facts *f, int err,
			    const char *advice, const char *reason_fmt, ...)
{
	_cleanup_free_ char *reason = NULL;
	const char *name = strerrorname_np(-err);
	char hook[KERNEL_SYMBOL_MAX + 16], *msg;
	va_list ap;
	int r;

	va_start(ap, reason_fmt);
	r = vasprintf(&reason, reason_fmt, ap);
	va_end(ap);
	if (r < 0)
		return NULL;
	if (asprintf(&msg, "%s: %s: %s [error %s: %s]; %s", attach_mode_to_string(m),
		     kernel_hook(m, f, hook, sizeof(hook)), reason, name ?: "?", strerror(-err),
		     advice ?: default_advice(m)) < 0)
		return NULL;
	return msg;
}

#define MOUNT_TRACEFS	  "mount -t tracefs tracefs /sys/kernel/tracing"
#define TRACEFS_UNMOUNTED "tracefs is not mounted at /sys/kernel/tracing"

/* No BTF anywhere: the three ways to get a file for this release, and where to put it. */
static char *no_btf_message(enum attach_mode m, const struct kernel_facts *f, int err)
{
	_cleanup_free_ char *advice = NULL;
	const char *dir = kernel_btf_dir(), *rel = f->release;

	if (asprintf(
		    &advice,
		    "get a BTF file for %1$s and give it to --btf or [bpf] btf, or put it at "
		    "%2$s/%1$s.btf: (1) BTFHub's archive has one per release "
		    "(https://github.com/aquasecurity/btfhub-archive, "
		    "DISTRO/VERSION/ARCH/%1$s.btf.tar.xz); (2) or make it from the distribution's "
		    "debug vmlinux (the -dbgsym or -debuginfo package): "
		    "pahole --btf_encode_detached %1$s.btf vmlinux-%1$s; (3) then shrink it to "
		    "what "
		    "rawtpd uses: bpftool gen min_core_btf %1$s.btf "
		    "%2$s/%1$s.btf " RAWTPD_BPF_OBJECT
		    "; or boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian's, Ubuntu's and "
		    "Fedora's are)",
		    rel, dir) < 0)
		return NULL;
	return format_message(m, f, err, advice,
			      "the kernel has no BTF (no /sys/kernel/btf/vmlinux: "
			      "CONFIG_DEBUG_INFO_BTF; no %s/%s.btf, no vmlinux under /boot or "
			      "/usr/lib/debug either), and rawtpd's CO-RE program needs it "
			      "in every mode",
			      dir, rel);
}

int kernel_precheck(enum attach_mode m, const struct kernel_facts *f, char **ret_message)
{
	char *msg = NULL;
	int r = -ENOENT;

	if (!f->btf_path[0])
		msg = no_btf_message(m, f, r);
	else if (f->btf_error && f->btf_source != KERNEL_BTF_SEARCH)
		msg = format_message(m, f, f->btf_error,
				     "give --btf (or [bpf] btf) a BTF file for this kernel, "
				     "raw or in an ELF file",
				     "the BTF file %s (%s) cannot be read", f->btf_path,
				     f->btf_source == KERNEL_BTF_FLAG ? "--btf" : "[bpf] btf");
	else if (m == ATTACH_TP_BTF && !f->btf_sysfs)
		msg = format_message(
			m, f, r, NULL,
			"tp_btf needs the kernel's own BTF, and the kernel does not expose it "
			"(/sys/kernel/btf/vmlinux is missing: CONFIG_DEBUG_INFO_BTF; %s, from the "
			"%s, serves the other modes' CO-RE only)",
			f->btf_path, kernel_btf_source_to_string(f->btf_source));
	else if (m == ATTACH_TRACEPOINT && !f->tracefs[0] && f->tracefs_dir)
		msg = format_message(m, f, r, MOUNT_TRACEFS ", or use --attach auto",
				     TRACEFS_UNMOUNTED);
	else if (m == ATTACH_TRACEPOINT && !f->tracefs[0])
		msg = format_message(m, f, r, NULL,
				     "the kernel has no tracefs (/sys/kernel/tracing is missing: "
				     "CONFIG_TRACING)");
	else if (m == ATTACH_TRACEPOINT && !f->sched_switch_event)
		msg = format_message(m, f, r, NULL,
				     "%s/events/sched/sched_switch is missing (CONFIG_TRACEPOINTS)",
				     f->tracefs);
	else if (m == ATTACH_KPROBE && !f->kprobe_pmu && !f->kprobe_events)
		msg = format_message(
			m, f, r, NULL,
			"the kernel has no kprobes (CONFIG_KPROBES): no kprobe PMU at " KPROBE_PMU
			"%s%s%s",
			f->tracefs[0] ? " and no " : "", f->tracefs,
			f->tracefs[0] ? "/kprobe_events" : "");
	else if (m == ATTACH_KPROBE && f->kallsyms && !f->kprobe_target[0])
		msg = format_message(m, f, r, NULL,
				     "no " KPROBE_FUNC " (nor a " KPROBE_FUNC ".* clone) in "
				     "/proc/kallsyms: the compiler inlined it into its callers");
	else
		r = 0;
	if (r < 0 && !msg)
		return -ENOMEM;
	*ret_message = msg;
	return r;
}

/* Permission refused: by perf_event_paranoid, for want of capabilities, or by a policy. */
static char *denied_message(enum attach_mode m, const struct kernel_facts *f, enum kernel_step step,
			    int err)
{
	const char *what = step == KERNEL_STEP_LOAD ? "loading the program" : "attaching";

	if (step == KERNEL_STEP_ATTACH && (m == ATTACH_TRACEPOINT || m == ATTACH_KPROBE) &&
	    f->caps.known && !f->caps.sys_admin && f->perf_event_paranoid > 2)
		return format_message(m, f, err,
				      "set kernel.perf_event_paranoid to 2 (sysctl), grant "
				      "CAP_SYS_ADMIN, or use a raw tracepoint mode "
				      "(--attach auto)",
				      "attaching goes through perf_event_open(), which "
				      "kernel.perf_event_paranoid=%d refuses without "
				      "CAP_SYS_ADMIN (CAP_PERFMON is not enough above 2)",
				      f->perf_event_paranoid);
	if (caps_missing(&f->caps))
		return format_message(m, f, err,
				      "run it as root, or grant CAP_BPF and CAP_PERFMON "
				      "(AmbientCapabilities= in a unit)",
				      "%s is not permitted: rawtpd lacks CAP_BPF and "
				      "CAP_PERFMON (or CAP_SYS_ADMIN)",
				      what);
	return format_message(m, f, err,
			      "look for the denial in the kernel log (dmesg) or the LSM's "
			      "audit log",
			      "%s was refused although rawtpd has the capabilities: kernel "
			      "lockdown, an LSM (SELinux, AppArmor, BPF LSM) or a seccomp "
			      "filter",
			      what);
}

/* The kernel would not load the program: the maps, the BTF, the program type, the verifier. */
static char *load_message(enum attach_mode m, const struct kernel_facts *f, int err)
{
	switch (err) {
	case -ENOMEM:
	case -E2BIG:
		return format_message(m, f, err, "lower [bpf] max_processes",
				      "the BPF maps could not be created (out of memory, or "
				      "max_processes too large)");
	case -ESRCH:
	case -ENOENT:
		return format_message(m, f, err, NULL,
				      "a kernel type or field the program needs is not in "
				      "the kernel's BTF (libbpf's report is shown with "
				      "--log-level debug)");
	case -EOPNOTSUPP: /* == -ENOTSUP */
		return format_message(m, f, err, NULL,
				      "the kernel does not support this kind of BPF program "
				      "(tp_btf needs Linux 5.5, raw_tp 4.17)");
	default:
		return format_message(m, f, err,
				      "run with --log-level debug to see the verifier's log, "
				      "or use --attach auto",
				      "the kernel's verifier rejected the program");
	}
}

/* The kernel would not attach the loaded program to the mode's hook. */
static char *attach_message(enum attach_mode m, const struct kernel_facts *f, int err)
{
	switch (m) {
	case ATTACH_TRACEPOINT:
		if (err == -ENOENT && !f->tracefs[0] && f->tracefs_dir)
			return format_message(m, f, err, MOUNT_TRACEFS ", or use --attach auto",
					      TRACEFS_UNMOUNTED);
		if (err == -ENOENT)
			return format_message(m, f, err, NULL,
					      "the kernel has no tracepoint sched:sched_switch");
		break;
	case ATTACH_KPROBE:
		if (err == -ENOENT && !f->kprobe_pmu && !f->kprobe_events)
			return format_message(m, f, err, NULL,
					      "the kernel has no kprobes (CONFIG_KPROBES)");
		if (err == -ENOENT || err == -EINVAL)
			return format_message(m, f, err, NULL,
					      "the kernel cannot probe %s (no such symbol, or it "
					      "is on the kprobe blacklist)",
					      kernel_kprobe_target(f));
		break;
	default:
		if (err == -ENOENT || err == -EINVAL || err == -EOPNOTSUPP)
			return format_message(m, f, err, NULL,
					      "the kernel has no such raw tracepoint, or does not "
					      "support attaching to it (tp_btf needs Linux 5.5, "
					      "raw_tp 4.17)");
		break;
	}
	return format_message(m, f, err, NULL, "the kernel refused to attach the program");
}

char *kernel_failure_message(enum attach_mode m, const struct kernel_facts *f,
			     enum kernel_step step, int err)
{
	if (err == -EPERM || (err == -EACCES && step != KERNEL_STEP_LOAD))
		return denied_message(m, f, step, err);
	if (step == KERNEL_STEP_OPEN)
		return format_message(m, f, err, "this is a bug in rawtpd: please report it",
				      "the embedded BPF object could not be opened");
	if (step == KERNEL_STEP_LOAD)
		return load_message(m, f, err);
	return attach_message(m, f, err);
}

enum attach_mode kernel_auto_pick(const int result[_ATTACH_MODE_MAX])
{
	for (size_t i = 0; i < ELEMENTSOF(kernel_auto_order); i++)
		if (result[kernel_auto_order[i]] == 0)
			return kernel_auto_order[i];
	return ATTACH_AUTO;
}

int kernel_thread_path_check(enum attach_mode m, const struct kernel_facts *f, const char **ret_why)
{
	const char *why = NULL;

	if (m == ATTACH_KPROBE)
		why = "the kprobe on finish_task_switch runs after the switch, with prev no longer "
		      "the current task";
	else if (!f->btf_sysfs || f->btf_source != KERNEL_BTF_KERNEL)
		why = "it needs the kernel's own BTF (/sys/kernel/btf/vmlinux) for typed task "
		      "pointers";
	else if (f->local_storage_mem_alloc <= 0)
		why = "task local storage here allocates with the runqueue lock held (before "
		      "Linux 6.5: struct bpf_local_storage_map has no selem_ma)";
	if (why) {
		*ret_why = why;
		return -EOPNOTSUPP;
	}
	*ret_why = "a slot of figures per thread, written only by the thread, read in place";
	return 0;
}

int kernel_data_path_pick(enum data_path want, enum attach_mode m, const struct kernel_facts *f,
			  enum data_path *ret, const char **ret_why)
{
	int r;

	if (want == DATA_PATH_PROCESS) {
		*ret = DATA_PATH_PROCESS;
		*ret_why = "[bpf] data_path = process";
		return 0;
	}
	r = kernel_thread_path_check(m, f, ret_why);
	if (r < 0 && want == DATA_PATH_THREAD)
		return r;
	*ret = r < 0 ? DATA_PATH_PROCESS : DATA_PATH_THREAD;
	return 0;
}
