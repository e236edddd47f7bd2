// SPDX-License-Identifier: GPL-2.0-only
/*
 * rawtpd-vm-smoke OBJ [MODE...]: for each attach mode (tp_btf raw_tp tracepoint kprobe, or
 * those named), load only that program of smoke.bpf.o, attach it, cause some context switches,
 * and print what it saw. Exit 0 when every named mode (all four when none is named) loaded,
 * attached and counted switches; 1 otherwise; 2 on bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <linux/types.h>
#include <bpf/libbpf.h>

#include "smoke.h"

static const char *const mode_names[SMOKE_NR] = {
	[SMOKE_TP_BTF] = "tp_btf",
	[SMOKE_RAW_TP] = "raw_tp",
	[SMOKE_TRACEPOINT] = "tracepoint",
	[SMOKE_KPROBE] = "kprobe",
};

static const char *const prog_names[SMOKE_NR] = {
	[SMOKE_TP_BTF] = "smoke_tp_btf",
	[SMOKE_RAW_TP] = "smoke_raw_tp",
	[SMOKE_TRACEPOINT] = "smoke_tracepoint",
	[SMOKE_KPROBE] = "smoke_kprobe",
};

static int verbose;

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* The name finish_task_switch has in this kernel: exact, else the first "finish_task_switch.*". */
static int find_kprobe_target(char *buf, size_t len)
{
	char line[512], sym[256], type;
	unsigned long long addr;
	int found = 0;
	FILE *f = fopen("/proc/kallsyms", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &addr, &type, sym) != 3)
			continue;
		if (type != 't' && type != 'T')
			continue;
		if (strcmp(sym, "finish_task_switch") == 0) {
			snprintf(buf, len, "%s", sym);
			found = 1;
			break;
		}
		if (!found && strncmp(sym, "finish_task_switch.", 19) == 0) {
			snprintf(buf, len, "%s", sym);
			found = 1;
		}
	}
	fclose(f);
	return found ? 0 : -ENOENT;
}

static void make_switches(void)
{
	struct timespec ts = {.tv_nsec = 1000000};

	for (int i = 0; i < 100; i++)
		nanosleep(&ts, NULL);
}

static int try_mode(const char *path, enum smoke_mode mode)
{
	struct bpf_object *obj = NULL;
	struct bpf_program *prog, *p;
	struct bpf_link *link = NULL;
	struct smoke_slot slot = {0};
	char target[256] = "";
	__u32 key = mode;
	int r;

	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		r = -errno;
		printf("%-10s FAIL open %s: %s\n", mode_names[mode], path, strerror(-r));
		return r;
	}
	bpf_object__for_each_program(p, obj) bpf_program__set_autoload(p, false);
	prog = bpf_object__find_program_by_name(obj, prog_names[mode]);
	if (!prog) {
		r = -ENOENT;
		printf("%-10s FAIL no program %s\n", mode_names[mode], prog_names[mode]);
		goto out;
	}
	bpf_program__set_autoload(prog, true);
	r = bpf_object__load(obj);
	if (r) {
		printf("%-10s FAIL load: %s\n", mode_names[mode], strerror(-r));
		goto out;
	}
	if (mode == SMOKE_KPROBE) {
		r = find_kprobe_target(target, sizeof(target));
		if (r) {
			printf("%-10s FAIL no finish_task_switch in /proc/kallsyms\n",
			       mode_names[mode]);
			goto out;
		}
		link = bpf_program__attach_kprobe(prog, false, target);
	} else {
		link = bpf_program__attach(prog);
	}
	if (!link) {
		r = -errno;
		printf("%-10s FAIL attach%s%s: %s\n", mode_names[mode], *target ? " " : "", target,
		       strerror(-r));
		goto out;
	}
	make_switches();
	r = bpf_map__lookup_elem(bpf_object__find_map_by_name(obj, "hits"), &key, sizeof(key),
				 &slot, sizeof(slot), 0);
	if (r) {
		printf("%-10s FAIL map lookup: %s\n", mode_names[mode], strerror(-r));
		goto out;
	}
	if (slot.events == 0 || slot.last_pid <= 0) {
		r = -ENODATA;
		printf("%-10s FAIL attached%s%s but saw %llu events, last pid %d\n",
		       mode_names[mode], *target ? " to " : "", target,
		       (unsigned long long)slot.events, slot.last_pid);
		goto out;
	}
	printf("%-10s ok   %llu events, last pid %d%s%s\n", mode_names[mode],
	       (unsigned long long)slot.events, slot.last_pid, *target ? ", target " : "", target);
	r = 0;
out:
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return r;
}

int main(int argc, char **argv)
{
	struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
	int want[SMOKE_NR] = {0}, failed = 0, named = 0;

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		verbose = 1;
		argv++;
		argc--;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: %s [-v] SMOKE.BPF.O [tp_btf|raw_tp|tracepoint|kprobe]...\n",
			argv[0]);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		int m;

		for (m = 0; m < SMOKE_NR; m++)
			if (strcmp(argv[i], mode_names[m]) == 0)
				break;
		if (m == SMOKE_NR) {
			fprintf(stderr, "%s: unknown mode %s\n", argv[0], argv[i]);
			return 2;
		}
		want[m] = 1;
		named = 1;
	}
	libbpf_set_print(print_libbpf);
	/* Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK. */
	setrlimit(RLIMIT_MEMLOCK, &unlimited);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int m = 0; m < SMOKE_NR; m++)
		if ((!named || want[m]) && try_mode(argv[1], m))
			failed = 1;
	return failed;
}
