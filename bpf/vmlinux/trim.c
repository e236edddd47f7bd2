// SPDX-License-Identifier: GPL-2.0-only
/*
 * vmlinux-trim BTF NAME...: print, as C, the kernel types rawtpd's BPF programs use and what
 * they need (the types they embed; a pointer's target only as a forward declaration, unless it
 * is named too), with the same guard and preserve_access_index wrapper as
 * `bpftool btf dump format c`. NAME is struct:NAME, union:NAME, enum:NAME, typedef:NAME, or
 * member:NAME for the (often anonymous) enum that holds constant NAME. See gen-vmlinux.sh.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <bpf/btf.h>

static void print(void *ctx, const char *fmt, va_list args)
{
	(void)ctx;
	vfprintf(stdout, fmt, args);
}

/* The enum holding constant name, or -1. */
static int enum_with(const struct btf *btf, const char *name)
{
	for (unsigned id = 1; id < btf__type_cnt(btf); id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		const struct btf_enum *e;

		if (!btf_is_enum(t))
			continue;
		e = btf_enum(t);
		for (unsigned i = 0; i < btf_vlen(t); i++, e++)
			if (strcmp(btf__name_by_offset(btf, e->name_off), name) == 0)
				return (int)id;
	}
	return -1;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *prefix;
		int kind;
	} kinds[] = {{"struct:", BTF_KIND_STRUCT},
		     {"union:", BTF_KIND_UNION},
		     {"enum:", BTF_KIND_ENUM},
		     {"typedef:", BTF_KIND_TYPEDEF}};
	struct btf *btf;
	struct btf_dump *d;

	if (argc < 3) {
		fprintf(stderr, "usage: vmlinux-trim BTF struct:NAME|enum:NAME|member:NAME...\n");
		return 2;
	}
	btf = btf__parse(argv[1], NULL);
	if (!btf) {
		perror(argv[1]);
		return 1;
	}
	d = btf_dump__new(btf, print, NULL, NULL);
	if (!d)
		return 1;
	printf("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n"
	       "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n"
	       "#pragma clang attribute push (__attribute__((preserve_access_index)), "
	       "apply_to = record)\n#endif\n\n");
	for (int i = 2; i < argc; i++) {
		int id = -1;

		if (strncmp(argv[i], "member:", 7) == 0)
			id = enum_with(btf, argv[i] + 7);
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			size_t n = strlen(kinds[k].prefix);

			if (strncmp(argv[i], kinds[k].prefix, n) == 0)
				id = btf__find_by_name_kind(btf, argv[i] + n, kinds[k].kind);
		}
		if (id <= 0) {
			fprintf(stderr, "vmlinux-trim: %s is not in %s\n", argv[i], argv[1]);
			return 1;
		}
		if (btf_dump__dump_type(d, (__u32)id) < 0)
			return 1;
	}
	printf("\n#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n"
	       "#endif /* __VMLINUX_H__ */\n");
	btf_dump__free(d);
	btf__free(btf);
	return 0;
}
