// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <jansson.h>

#include "collector.h"
#include "log.h"
#include "probe.h"
#include "util.h"

static const enum attach_mode order[] = { ATTACH_TP_BTF, ATTACH_RAW_TP, ATTACH_TRACEPOINT,
					  ATTACH_KPROBE };

static int read_sysctl_bool(const char *path)
{
	char v = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (read(fd, &v, 1) != 1)
		v = 0;
	close(fd);
	return v == '1';
}

int probe_run(bool json)
{
	struct utsname u;
	json_t *root, *modes;
	const char *chosen = NULL;
	bool btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	int stats = read_sysctl_bool("/proc/sys/kernel/bpf_stats_enabled");

	/* libbpf's own chatter is for --log-level debug only */
	log_set_max_level(LOG_WARNING);
	uname(&u);
	root = json_object();
	modes = json_array();
	json_object_set_new(root, "kernel_release", json_string(u.release));
	json_object_set_new(root, "btf", json_boolean(btf));
	json_object_set_new(root, "btf_path", btf ? json_string("/sys/kernel/btf/vmlinux") :
						    json_null());
	json_object_set_new(root, "bpf_stats_enabled", stats < 0 ? json_null() :
								  json_boolean(stats));

	for (size_t i = 0; i < ELEMENTSOF(order); i++) {
		_cleanup_free_ char *err = NULL;
		int r = collector_try_mode(order[i], &err);
		json_t *m = json_object();

		json_object_set_new(m, "mode", json_string(attach_mode_to_string(order[i])));
		json_object_set_new(m, "works", json_boolean(r == 0));
		json_object_set_new(m, "reason", r == 0 ? json_null() :
							  json_string(err ?: strerror(-r)));
		json_array_append_new(modes, m);
		if (r == 0 && !chosen)
			chosen = attach_mode_to_string(order[i]);
	}
	json_object_set_new(root, "attach_modes", modes);
	json_object_set_new(root, "auto_choice", chosen ? json_string(chosen) : json_null());

	if (json) {
		json_dumpf(root, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		size_t i;
		json_t *m;

		printf("kernel:            %s\n", u.release);
		printf("BTF:               %s\n", btf ? "yes (/sys/kernel/btf/vmlinux)" : "no");
		printf("BPF stats:         %s\n", stats < 0 ? "unknown" : stats ? "enabled" :
					   "disabled (sysctl kernel.bpf_stats_enabled=1)");
		json_array_foreach(modes, i, m) {
			const char *reason = json_string_value(json_object_get(m, "reason"));

			printf("attach %-11s %s%s\n",
			       json_string_value(json_object_get(m, "mode")),
			       reason ? "no: " : "works", reason ?: "");
		}
		printf("auto would choose: %s\n", chosen ?: "nothing (no mode works)");
	}
	json_decref(root);
	return 0;
}
