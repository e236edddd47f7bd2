// SPDX-License-Identifier: GPL-2.0-only
/* kernel.c: facts from fixtures, prechecks, messages, the auto choice; no kernel needed. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "kernel.h"
#include "rawtpd-config.h"
#include "test.h"

#define CHECK_CONTAINS(s, sub)                                                                   \
	do {                                                                                     \
		const char *_s = (s);                                                            \
		test_checks++;                                                                   \
		if (!_s || !strstr(_s, (sub))) {                                                 \
			test_failed++;                                                           \
			fprintf(stderr, "%s:%d: %s: \"%s\" does not contain \"%s\"\n", __FILE__, \
				__LINE__, __func__, _s ? _s : "(null)", (sub));                  \
		}                                                                                \
	} while (0)

/* A kernel where everything is there. */
static struct kernel_facts good_facts(void)
{
	struct kernel_facts f = {
		.btf_sysfs = true,
		.tracefs_dir = true,
		.sched_switch_event = true,
		.task_rename_event = true,
		.kprobe_pmu = true,
		.kprobe_events = true,
		.kallsyms = true,
		.caps = {.known = true, .bpf = true, .perfmon = true, .sys_admin = true},
	};

	strcpy(f.release, "6.1.0-28-amd64");
	strcpy(f.btf_path, "/sys/kernel/btf/vmlinux");
	strcpy(f.tracefs, "/sys/kernel/tracing");
	strcpy(f.kprobe_target, "finish_task_switch.isra.0");
	strcpy(f.rename_target, "__set_task_comm");
	return f;
}

/* precheck m on f: returns the error, *msg the message (caller frees). */
static int precheck(enum attach_mode m, const struct kernel_facts *f, char **msg)
{
	*msg = NULL;
	return kernel_precheck(m, f, msg);
}

static void test_auto_pick(void)
{
	int r[_ATTACH_MODE_MAX] = {-EINVAL, -ENOENT, -ENOENT, -ENOENT, -ENOENT};

	CHECK(kernel_auto_pick(r) == ATTACH_AUTO);
	r[ATTACH_KPROBE] = 0;
	CHECK(kernel_auto_pick(r) == ATTACH_KPROBE);
	r[ATTACH_TRACEPOINT] = 0;
	CHECK(kernel_auto_pick(r) == ATTACH_TRACEPOINT);
	r[ATTACH_RAW_TP] = 0;
	CHECK(kernel_auto_pick(r) == ATTACH_RAW_TP);
	r[ATTACH_TP_BTF] = 0;
	CHECK(kernel_auto_pick(r) == ATTACH_TP_BTF);
	/* the order is tp_btf, raw_tp, tracepoint, kprobe */
	CHECK(kernel_auto_order[0] == ATTACH_TP_BTF && kernel_auto_order[1] == ATTACH_RAW_TP &&
	      kernel_auto_order[2] == ATTACH_TRACEPOINT && kernel_auto_order[3] == ATTACH_KPROBE);
}

static void test_precheck_good(void)
{
	struct kernel_facts f = good_facts();

	for (size_t i = 0; i < 4; i++) {
		char *msg;

		CHECK(precheck(kernel_auto_order[i], &f, &msg) == 0);
		CHECK(msg == NULL);
	}
}

static void test_precheck_no_btf(void)
{
	struct kernel_facts f = good_facts();

	f.btf_path[0] = 0;
	f.btf_sysfs = false;
	for (size_t i = 0; i < 4; i++) {
		char *msg;

		CHECK(precheck(kernel_auto_order[i], &f, &msg) == -ENOENT);
		CHECK_CONTAINS(msg, "the kernel has no BTF");
		CHECK_CONTAINS(msg, "CONFIG_DEBUG_INFO_BTF");
		/* the three ways to get a BTF file, and where to put it */
		CHECK_CONTAINS(msg, "--btf");
		CHECK_CONTAINS(msg, "btfhub-archive");
		CHECK_CONTAINS(msg, "pahole --btf_encode_detached");
		CHECK_CONTAINS(msg, "bpftool gen min_core_btf");
		CHECK_CONTAINS(msg, RAWTPD_BPF_OBJECT);
		CHECK_CONTAINS(msg, RAWTPD_BTF_DIR "/");
		free(msg);
	}
}

static void test_precheck_btf_file_only(void)
{
	struct kernel_facts f = good_facts();
	char *msg;

	f.btf_sysfs = false;
	strcpy(f.btf_path, "/boot/vmlinux-6.1.0-28-amd64");
	CHECK(precheck(ATTACH_TP_BTF, &f, &msg) == -ENOENT);
	CHECK_CONTAINS(msg, "tp_btf: BTF raw tracepoint sched_switch: ");
	CHECK_CONTAINS(msg, "/sys/kernel/btf/vmlinux is missing");
	CHECK_CONTAINS(msg, "use --attach raw_tp or auto");
	free(msg);
	CHECK(precheck(ATTACH_RAW_TP, &f, &msg) == 0);
}

static void test_precheck_tracefs(void)
{
	struct kernel_facts f = good_facts();
	char *msg;

	/* the mount point is there, nothing mounted on it */
	f.tracefs[0] = 0;
	f.sched_switch_event = f.kprobe_events = f.task_rename_event = false;
	CHECK(precheck(ATTACH_TRACEPOINT, &f, &msg) == -ENOENT);
	CHECK_STREQ(msg, "tracepoint: tracepoint sched:sched_switch: tracefs is not mounted at "
			 "/sys/kernel/tracing [error ENOENT: No such file or directory]; mount -t "
			 "tracefs tracefs /sys/kernel/tracing, or use --attach auto");
	free(msg);
	/* kprobes need no tracefs when the kprobe PMU is there */
	CHECK(precheck(ATTACH_KPROBE, &f, &msg) == 0);

	/* no tracefs at all */
	f.tracefs_dir = false;
	CHECK(precheck(ATTACH_TRACEPOINT, &f, &msg) == -ENOENT);
	CHECK_CONTAINS(msg, "the kernel has no tracefs");
	CHECK_CONTAINS(msg, "use --attach raw_tp, kprobe or auto");
	free(msg);

	/* mounted, but no such event */
	f = good_facts();
	f.sched_switch_event = false;
	CHECK(precheck(ATTACH_TRACEPOINT, &f, &msg) == -ENOENT);
	CHECK_CONTAINS(msg, "/sys/kernel/tracing/events/sched/sched_switch is missing");
	free(msg);
}

static void test_precheck_kprobe(void)
{
	struct kernel_facts f = good_facts();
	char *msg;

	/* this machine: no kprobes at all, tracefs not mounted */
	f.kprobe_pmu = f.kprobe_events = false;
	f.tracefs[0] = 0;
	CHECK(precheck(ATTACH_KPROBE, &f, &msg) == -ENOENT);
	CHECK_STREQ(msg, "kprobe: kprobe on finish_task_switch.isra.0: the kernel has no kprobes "
			 "(CONFIG_KPROBES): no kprobe PMU at /sys/bus/event_source/devices/kprobe "
			 "[error ENOENT: No such file or directory]; use --attach raw_tp or auto");
	free(msg);
	/* with tracefs mounted, kprobe_events is looked at too */
	strcpy(f.tracefs, "/sys/kernel/tracing");
	CHECK(precheck(ATTACH_KPROBE, &f, &msg) == -ENOENT);
	CHECK_CONTAINS(msg, "and no /sys/kernel/tracing/kprobe_events");
	free(msg);
	/* legacy kprobes through tracefs are enough */
	f.kprobe_events = true;
	CHECK(precheck(ATTACH_KPROBE, &f, &msg) == 0);

	/* the symbol was inlined */
	f = good_facts();
	f.kprobe_target[0] = 0;
	CHECK(precheck(ATTACH_KPROBE, &f, &msg) == -ENOENT);
	CHECK_CONTAINS(msg, "kprobe: kprobe on finish_task_switch: no finish_task_switch");
	CHECK_CONTAINS(msg, "/proc/kallsyms");
	free(msg);
	/* kallsyms unreadable: let the kernel resolve the plain name */
	f.kallsyms = false;
	CHECK(precheck(ATTACH_KPROBE, &f, &msg) == 0);
}

static void test_failure_messages(void)
{
	struct kernel_facts f = good_facts();
	char *msg;

	f.caps.sys_admin = f.caps.bpf = false;
	msg = kernel_failure_message(ATTACH_RAW_TP, &f, KERNEL_STEP_LOAD, -EPERM);
	CHECK_CONTAINS(msg, "raw_tp: raw tracepoint sched_switch: loading the program is not "
			    "permitted: rawtpd lacks CAP_BPF and CAP_PERFMON");
	CHECK_CONTAINS(msg, "[error EPERM: Operation not permitted]");
	CHECK_CONTAINS(msg, "run it as root");
	free(msg);

	f = good_facts();
	msg = kernel_failure_message(ATTACH_TP_BTF, &f, KERNEL_STEP_ATTACH, -EPERM);
	CHECK_CONTAINS(msg, "lockdown");
	free(msg);

	/* Debian's perf_event_paranoid=3: CAP_PERFMON is not enough for perf_event_open() */
	f = good_facts();
	f.caps.sys_admin = false; /* CAP_BPF and CAP_PERFMON, as the unit grants */
	f.perf_event_paranoid = 3;
	msg = kernel_failure_message(ATTACH_TRACEPOINT, &f, KERNEL_STEP_ATTACH, -EACCES);
	CHECK_CONTAINS(msg, "kernel.perf_event_paranoid=3 refuses without CAP_SYS_ADMIN");
	CHECK_CONTAINS(msg, "set kernel.perf_event_paranoid to 2");
	free(msg);
	msg = kernel_failure_message(ATTACH_KPROBE, &f, KERNEL_STEP_ATTACH, -EPERM);
	CHECK_CONTAINS(msg, "perf_event_open()");
	free(msg);
	/* the raw tracepoints do not go through perf_event_open(); root is not held back */
	msg = kernel_failure_message(ATTACH_RAW_TP, &f, KERNEL_STEP_ATTACH, -EPERM);
	CHECK(!strstr(msg, "perf_event_paranoid"));
	free(msg);
	f.caps.sys_admin = true;
	msg = kernel_failure_message(ATTACH_TRACEPOINT, &f, KERNEL_STEP_ATTACH, -EACCES);
	CHECK(!strstr(msg, "perf_event_paranoid"));
	free(msg);

	msg = kernel_failure_message(ATTACH_TP_BTF, &f, KERNEL_STEP_LOAD, -EINVAL);
	CHECK_CONTAINS(msg, "verifier rejected");
	CHECK_CONTAINS(msg, "--log-level debug");
	free(msg);

	msg = kernel_failure_message(ATTACH_RAW_TP, &f, KERNEL_STEP_LOAD, -ENOMEM);
	CHECK_CONTAINS(msg, "max_processes");
	free(msg);

	f.tracefs[0] = 0;
	msg = kernel_failure_message(ATTACH_TRACEPOINT, &f, KERNEL_STEP_ATTACH, -ENOENT);
	CHECK_CONTAINS(msg, "tracefs is not mounted at /sys/kernel/tracing");
	free(msg);

	f = good_facts();
	msg = kernel_failure_message(ATTACH_KPROBE, &f, KERNEL_STEP_ATTACH, -EINVAL);
	CHECK_CONTAINS(msg, "kprobe: kprobe on finish_task_switch.isra.0: the kernel cannot probe "
			    "finish_task_switch.isra.0");
	free(msg);
	f.kprobe_pmu = f.kprobe_events = false;
	msg = kernel_failure_message(ATTACH_KPROBE, &f, KERNEL_STEP_ATTACH, -ENOENT);
	CHECK_CONTAINS(msg, "the kernel has no kprobes (CONFIG_KPROBES)");
	CHECK_CONTAINS(msg, "use --attach raw_tp or auto");
	free(msg);

	/* every message names the mode and the hook first, whatever the error */
	for (size_t i = 0; i < 4; i++)
		for (int step = KERNEL_STEP_OPEN; step <= KERNEL_STEP_ATTACH; step++) {
			enum attach_mode m = kernel_auto_order[i];
			char want[256], hook[160];

			snprintf(want, sizeof(want), "%s: %s: ", attach_mode_to_string(m),
				 kernel_hook(m, &f, hook, sizeof(hook)));
			msg = kernel_failure_message(m, &f, step, -EBADF);
			CHECK(msg && strncmp(msg, want, strlen(want)) == 0);
			CHECK_CONTAINS(msg, "[error EBADF: Bad file descriptor]; ");
			free(msg);
		}
}

static void test_caps_check(void)
{
	struct kernel_caps c = {.known = true, .bpf = true, .perfmon = true};
	char *msg = (char *)"untouched";

	/* CAP_BPF and CAP_PERFMON, as the unit grants, or CAP_SYS_ADMIN alone */
	CHECK(kernel_caps_check(&c, &msg) == 0);
	CHECK(msg == NULL);
	c = (struct kernel_caps){.known = true, .sys_admin = true};
	CHECK(kernel_caps_check(&c, &msg) == 0);
	/* capget() did not answer: the kernel decides */
	c = (struct kernel_caps){};
	CHECK(kernel_caps_check(&c, &msg) == 0);

	c = (struct kernel_caps){.known = true};
	CHECK(kernel_caps_check(&c, &msg) == -EPERM);
	CHECK_STREQ(msg,
		    "Missing capabilities CAP_BPF and CAP_PERFMON: rawtpd needs CAP_BPF and "
		    "CAP_PERFMON (Linux 5.8+) or CAP_SYS_ADMIN to load and attach its BPF "
		    "program. Run it as root or grant them (AmbientCapabilities= in the unit).");
	free(msg);
	c.bpf = true;
	CHECK(kernel_caps_check(&c, &msg) == -EPERM);
	CHECK_CONTAINS(msg, "Missing capability CAP_PERFMON: ");
	free(msg);
	c = (struct kernel_caps){.known = true, .perfmon = true};
	CHECK(kernel_caps_check(&c, &msg) == -EPERM);
	CHECK_CONTAINS(msg, "Missing capability CAP_BPF: ");
	free(msg);

	/* capget() answers for this process */
	kernel_caps_read(&c);
	CHECK(c.known);
}

static void test_find_symbol(void)
{
	static const char listing[] = "ffffffff81000000 T _text\n"
				      "ffffffff810a0000 t finish_task_switch.cold\n"
				      "ffffffff810b0000 t finish_task_switch.part.0\n"
				      "ffffffff810c0000 t finish_task_switch.isra.0\n"
				      "ffffffff810d0000 d finish_task_switch_data\n"
				      "ffffffff810e0000 t finish_task_switch_ext\n"
				      "ffffffffc0000000 t finish_task_switch [some_module]\n"
				      "ffffffff816e2770 T __set_task_comm\n";
	char sym[KERNEL_SYMBOL_MAX];
	FILE *f;

	f = fmemopen((void *)listing, sizeof(listing) - 1, "r");
	CHECK(kernel_find_symbol(f, "finish_task_switch", sym, sizeof(sym)) == 0);
	CHECK_STREQ(sym, "finish_task_switch.isra.0");
	fclose(f);

	f = fmemopen((void *)listing, sizeof(listing) - 1, "r");
	CHECK(kernel_find_symbol(f, "__set_task_comm", sym, sizeof(sym)) == 0);
	CHECK_STREQ(sym, "__set_task_comm");
	fclose(f);

	f = fmemopen((void *)listing, sizeof(listing) - 1, "r");
	CHECK(kernel_find_symbol(f, "schedule_tail", sym, sizeof(sym)) == -ENOENT);
	fclose(f);

	/* the plain name beats a clone; a piece is taken only when there is nothing else */
	static const char plain[] = "0 t finish_task_switch.isra.0\n0 t finish_task_switch\n";
	f = fmemopen((void *)plain, sizeof(plain) - 1, "r");
	CHECK(kernel_find_symbol(f, "finish_task_switch", sym, sizeof(sym)) == 0);
	CHECK_STREQ(sym, "finish_task_switch");
	fclose(f);
	static const char part[] = "0 t finish_task_switch.cold\n0 t finish_task_switch.part.0\n";
	f = fmemopen((void *)part, sizeof(part) - 1, "r");
	CHECK(kernel_find_symbol(f, "finish_task_switch", sym, sizeof(sym)) == 0);
	CHECK_STREQ(sym, "finish_task_switch.part.0");
	fclose(f);
}

static void write_file(const char *root, const char *path, const char *text)
{
	char p[512], *slash;
	FILE *f;

	snprintf(p, sizeof(p), "%s%s", root, path);
	for (slash = strchr(p + strlen(root) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = 0;
		mkdir(p, 0755);
		*slash = '/';
	}
	if (!text) {
		mkdir(p, 0755);
		return;
	}
	f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* A fresh fixture tree in root (a mkdtemp() template) for a kernel of that release. */
static bool fixture_new(char *root, const char *release)
{
	if (!mkdtemp(root)) {
		CHECK(!"mkdtemp");
		return false;
	}
	write_file(root, "/proc/sys/kernel/osrelease", release);
	return true;
}

static void fixture_remove(const char *root)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	CHECK(system(cmd) == 0);
}

static void test_facts_fixture(void)
{
	char root[] = "/tmp/rawtpd-test-kernel.XXXXXX";
	struct kernel_facts f;

	if (!fixture_new(root, "5.10.0-33-amd64\n"))
		return;
	write_file(root, "/proc/kallsyms",
		   "0 T schedule\n0 t finish_task_switch\n"
		   "0 T __set_task_comm\n");
	write_file(root, "/boot/vmlinux-5.10.0-33-amd64", "");
	write_file(root, "/sys/kernel/tracing", NULL);
	write_file(root, "/sys/bus/event_source/devices/kprobe/type", "6\n");

	CHECK(kernel_facts_read(root, NULL, &f) == 0);
	CHECK_STREQ(f.release, "5.10.0-33-amd64");
	CHECK_STREQ(f.btf_path, "/boot/vmlinux-5.10.0-33-amd64");
	CHECK(!f.btf_sysfs);
	CHECK(f.tracefs_dir);
	CHECK_STREQ(f.tracefs, "");
	CHECK(!f.sched_switch_event);
	CHECK(f.kprobe_pmu);
	CHECK(!f.kprobe_events);
	CHECK(f.kallsyms);
	CHECK_STREQ(f.kprobe_target, "finish_task_switch");
	CHECK_STREQ(f.rename_target, "__set_task_comm");
	CHECK(!f.caps.known);
	/* an empty file is no BTF: nothing to tell */
	CHECK(f.sched_switch_prev_state == -ENOENT);
	CHECK(f.map_mem_alloc == -ENOENT);
	CHECK(f.perf_event_paranoid == INT_MIN);
	CHECK(f.bpf_stats_enabled == -ENOENT);
	write_file(root, "/proc/sys/kernel/perf_event_paranoid", "3\n");
	write_file(root, "/proc/sys/kernel/bpf_stats_enabled", "1\n");
	CHECK(kernel_facts_read(root, NULL, &f) == 0);
	CHECK(f.perf_event_paranoid == 3);
	CHECK(f.bpf_stats_enabled == 1);
	write_file(root, "/proc/sys/kernel/bpf_stats_enabled", "0\n");
	CHECK(kernel_bpf_stats_enabled(root) == 0);
	write_file(root, "/proc/sys/kernel/bpf_stats_enabled", "");
	CHECK(kernel_bpf_stats_enabled(root) == -EIO);

	/* mount tracefs and expose BTF */
	write_file(root, "/sys/kernel/tracing/events/sched/sched_switch/id", "316\n");
	write_file(root, "/sys/kernel/tracing/kprobe_events", "");
	write_file(root, "/sys/kernel/btf/vmlinux", "");
	CHECK(kernel_facts_read(root, NULL, &f) == 0);
	CHECK_STREQ(f.btf_path, "/sys/kernel/btf/vmlinux");
	CHECK(f.btf_sysfs);
	CHECK_STREQ(f.tracefs, "/sys/kernel/tracing");
	CHECK(f.sched_switch_event);
	CHECK(!f.task_rename_event);
	CHECK(f.kprobe_events);

	fixture_remove(root);
}

/*
 * A BTF blob with what kernel.c looks for: sched_switch's tracepoint typedef taking nargs
 * arguments (5 from Linux 5.18, with prev_state; 4 before) and, with mem_alloc, struct
 * bpf_mem_alloc (Linux 6.1). Written raw, as /sys/kernel/btf/vmlinux is.
 */
static int write_btf(const char *root, const char *path, int nargs, bool mem_alloc)
{
	struct btf *b = btf__new_empty();
	const void *data;
	char p[512];
	__u32 size;
	FILE *f;
	int id, proto, r = 0;

	if (!b)
		return -ENOMEM;
	id = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
	proto = btf__add_func_proto(b, 0);
	for (int i = 0; i < nargs; i++)
		btf__add_func_param(b, "", id);
	id = btf__add_ptr(b, proto);
	if (nargs >= 0) /* < 0: minimized, as bpftool gen min_core_btf leaves it */
		btf__add_typedef(b, "btf_trace_sched_switch", id);
	if (mem_alloc)
		btf__add_struct(b, "bpf_mem_alloc", 8);
	data = btf__raw_data(b, &size);
	snprintf(p, sizeof(p), "%s%s", root, path);
	f = fopen(p, "w");
	if (!f) {
		r = -errno;
	} else {
		if (fwrite(data, 1, size, f) != size)
			r = -EIO;
		if (fclose(f) != 0)
			r = -EIO;
	}
	btf__free(b);
	return r;
}

static void test_facts_btf(void)
{
	char root[] = "/tmp/rawtpd-test-kernel.XXXXXX";
	struct kernel_facts f;

	if (!fixture_new(root, "6.1.0-28-amd64\n"))
		return;
	/* no BTF anywhere */
	CHECK(kernel_facts_read(root, NULL, &f) == 0);
	CHECK_STREQ(f.btf_path, "");
	CHECK(f.sched_switch_prev_state == -ENOENT && f.map_mem_alloc == -ENOENT);

	/* Linux 6.1: prev_state last, bpf_mem_alloc */
	write_file(root, "/sys/kernel/btf/vmlinux", "");
	CHECK(write_btf(root, "/sys/kernel/btf/vmlinux", 5, true) == 0);
	CHECK(kernel_facts_read(root, NULL, &f) == 0);
	CHECK(f.btf_sysfs);
	CHECK(f.sched_switch_prev_state == 1);
	CHECK(f.map_mem_alloc == 1);

	/* Linux 5.10: neither */
	CHECK(write_btf(root, "/sys/kernel/btf/vmlinux", 4, false) == 0);
	CHECK(kernel_facts_read(root, NULL, &f) == 0);
	CHECK(f.sched_switch_prev_state == 0);
	CHECK(f.map_mem_alloc == 0);
	CHECK(f.btf_source == KERNEL_BTF_KERNEL);

	fixture_remove(root);
}

/* No /sys/kernel/btf/vmlinux: a file named by --btf, or found in the search directory. */
static void test_facts_custom_btf(void)
{
	char root[] = "/tmp/rawtpd-test-kernel.XXXXXX";
	char path[PATH_MAX];
	struct kernel_facts f;

	if (!fixture_new(root, "5.4.0-216-generic\n"))
		return;
	snprintf(path, sizeof(path), "%s/5.4.0-216-generic.btf", kernel_btf_dir());
	write_file(root, path, "");
	/* minimized: neither type is in it, the release (5.4) tells */
	CHECK(write_btf(root, path, -1, true) == 0);
	CHECK(kernel_facts_read(root, NULL, &f) == 0);
	CHECK_STREQ(f.btf_path, path);
	CHECK(f.btf_source == KERNEL_BTF_SEARCH && !f.btf_sysfs && !f.btf_error);
	CHECK(f.sched_switch_prev_state == 0);
	CHECK(f.map_mem_alloc == 1);
	CHECK_STREQ(kernel_btf_source_to_string(f.btf_source), "search path");

	/* --btf wins over the search; a full file's own types tell */
	write_file(root, "/tmp/full.btf", "");
	CHECK(write_btf(root, "/tmp/full.btf", 5, false) == 0);
	CHECK(kernel_facts_read(root, &(struct kernel_btf_given){"/tmp/full.btf", KERNEL_BTF_FLAG},
				&f) == 0);
	CHECK_STREQ(f.btf_path, "/tmp/full.btf");
	CHECK(f.btf_source == KERNEL_BTF_FLAG);
	CHECK(f.sched_switch_prev_state == 1);
	CHECK(f.map_mem_alloc == 0);
	{
		char *msg = NULL;

		/* tp_btf still needs the kernel's own; raw_tp works from the file */
		CHECK(precheck(ATTACH_TP_BTF, &f, &msg) == -ENOENT);
		CHECK_CONTAINS(msg, "tp_btf needs the kernel's own BTF");
		CHECK_CONTAINS(msg, "from the flag");
		free(msg);
		CHECK(precheck(ATTACH_RAW_TP, &f, &msg) == 0);
	}

	/* a [bpf] btf file that is not there */
	CHECK(kernel_facts_read(root,
				&(struct kernel_btf_given){"/tmp/missing.btf", KERNEL_BTF_CONFIG},
				&f) == 0);
	CHECK(f.btf_source == KERNEL_BTF_CONFIG && f.btf_error == -ENOENT);
	{
		char *msg = NULL;

		CHECK(precheck(ATTACH_RAW_TP, &f, &msg) == -ENOENT);
		CHECK_CONTAINS(msg, "the BTF file /tmp/missing.btf ([bpf] btf) cannot be read");
		free(msg);
	}
	fixture_remove(root);
}

/* The data path each mode gets, from the facts alone. */
static void test_data_path(void)
{
	struct kernel_facts f = good_facts();
	enum data_path p;
	const char *why;

	f.btf_source = KERNEL_BTF_KERNEL;
	f.local_storage_mem_alloc = 1;
	for (enum attach_mode m = ATTACH_TP_BTF; m <= ATTACH_TRACEPOINT; m++) {
		CHECK(kernel_thread_path_check(m, &f, &why) == 0);
		CHECK(kernel_data_path_pick(DATA_PATH_AUTO, m, &f, &p, &why) == 0);
		CHECK(p == DATA_PATH_THREAD);
		CHECK(kernel_data_path_pick(DATA_PATH_PROCESS, m, &f, &p, &why) == 0);
		CHECK(p == DATA_PATH_PROCESS);
	}
	/* the kprobe: prev is not current */
	CHECK(kernel_thread_path_check(ATTACH_KPROBE, &f, &why) == -EOPNOTSUPP);
	CHECK_CONTAINS(why, "finish_task_switch");
	CHECK(kernel_data_path_pick(DATA_PATH_AUTO, ATTACH_KPROBE, &f, &p, &why) == 0);
	CHECK(p == DATA_PATH_PROCESS);
	CHECK(kernel_data_path_pick(DATA_PATH_THREAD, ATTACH_KPROBE, &f, &p, &why) == -EOPNOTSUPP);

	/* before 6.5: storage would be allocated under the runqueue lock */
	f.local_storage_mem_alloc = 0;
	CHECK(kernel_data_path_pick(DATA_PATH_AUTO, ATTACH_TP_BTF, &f, &p, &why) == 0);
	CHECK(p == DATA_PATH_PROCESS);
	CHECK_CONTAINS(why, "6.5");
	CHECK(kernel_data_path_pick(DATA_PATH_THREAD, ATTACH_RAW_TP, &f, &p, &why) == -EOPNOTSUPP);

	/* a BTF file, not the kernel's own: no typed task pointers */
	f.local_storage_mem_alloc = 1;
	f.btf_source = KERNEL_BTF_FLAG;
	f.btf_sysfs = false;
	CHECK(kernel_thread_path_check(ATTACH_RAW_TP, &f, &why) == -EOPNOTSUPP);
	CHECK_CONTAINS(why, "/sys/kernel/btf/vmlinux");
	CHECK(data_path_from_string("thread") == DATA_PATH_THREAD);
	CHECK(data_path_from_string("process") == DATA_PATH_PROCESS);
	CHECK(data_path_from_string("auto") == DATA_PATH_AUTO);
	CHECK(data_path_from_string("Thread") == -EINVAL);
	CHECK_STREQ(data_path_to_string(DATA_PATH_THREAD), "thread");
}

int main(void)
{
	test_data_path();
	/* the fixtures' unparsable BTF files would have libbpf warn on stderr */
	libbpf_set_print(NULL);
	test_auto_pick();
	test_precheck_good();
	test_precheck_no_btf();
	test_precheck_btf_file_only();
	test_precheck_tracefs();
	test_precheck_kprobe();
	test_failure_messages();
	test_caps_check();
	test_find_symbol();
	test_facts_fixture();
	test_facts_btf();
	test_facts_custom_btf();
	TEST_DONE();
}
