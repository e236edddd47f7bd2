// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench-loader OBJECT PROGRAM: load one program of a BPF object, attach it where its section
 * says, print "<prog id>" on stdout and hold it attached until SIGTERM, SIGINT or EOF on stdin.
 * The benchmark uses it for the empty floor programs (empty.bpf.c).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

int main(int argc, char **argv)
{
	struct bpf_program *p, *want = NULL;
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	struct bpf_object *obj;
	struct bpf_link *link;
	struct pollfd pfd = {.fd = 0, .events = POLLIN};

	if (argc != 3) {
		fprintf(stderr, "usage: %s OBJECT PROGRAM\n", argv[0]);
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "bench-loader: cannot open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	bpf_object__for_each_program(p, obj)
	{
		bool match = strcmp(bpf_program__name(p), argv[2]) == 0;

		bpf_program__set_autoload(p, match);
		if (match)
			want = p;
	}
	if (!want) {
		fprintf(stderr, "bench-loader: no program %s in %s\n", argv[2], argv[1]);
		return 1;
	}
	if (bpf_object__load(obj) < 0) {
		fprintf(stderr, "bench-loader: cannot load %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	link = bpf_program__attach(want);
	if (!link) {
		fprintf(stderr, "bench-loader: cannot attach %s (%s): %s\n", argv[2],
			bpf_program__section_name(want), strerror(errno));
		return 1;
	}
	if (bpf_obj_get_info_by_fd(bpf_program__fd(want), &info, &len) < 0)
		return 1;
	printf("%u\n", info.id);
	fflush(stdout);

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop) {
		char buf[64];

		if (poll(&pfd, 1, -1) > 0 && read(0, buf, sizeof(buf)) <= 0)
			break;
	}
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
