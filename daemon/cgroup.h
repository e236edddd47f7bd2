/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Where processes run: cgroup (v2) ids, as the BPF side notes them, to paths on the unified
 * hierarchy, and paths to the labels operators group by (the systemd unit, a container id, a
 * Kubernetes pod uid). The path rules are pure functions (unit-tested on every form); the
 * cache finds paths by walking the hierarchy when it meets an id it does not know, at most
 * once per call to cgroup_cache_refresh(), and holds only the cgroups that exist.
 */
#ifndef RAWTPD_CGROUP_H
#define RAWTPD_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Raw paths longer than this are cut (and end in "..."). */
#define CGROUP_PATH_MAX	   4096
#define CGROUP_ID_HEX	   64 /* a container id: 64 lowercase hex digits */
#define CGROUP_POD_UID_LEN 36 /* 8-4-4-4-12 hex digits */

/*
 * A cgroup's labels, escaped as process names are (escape.h: valid UTF-8, other bytes as
 * \xNN), so they go into either output as they are. All five point into one allocation that
 * starts at cgroup: free(cgroup) frees them. "" where the path says nothing.
 */
struct cgroup_labels {
	char *cgroup;		  /* the path on the unified hierarchy, "/..." */
	const char *unit;	  /* the systemd unit, "" outside one */
	const char *user_unit;	  /* the unit inside user@UID.service, else "" */
	const char *container_id; /* 64 hex digits, or "" */
	const char *pod_uid;	  /* 8-4-4-4-12, or "" */
};

/*
 * The labels of a raw cgroup path (len bytes at path, relative to the hierarchy's root,
 * starting with '/'; any byte but '/' may be in a name). The unit follows systemd's rule
 * (cg_path_get_unit()): the first component that is not a slice, if it is a unit name; inside
 * user@UID.service the next such component is the user unit. A container id is taken from
 * docker-ID.scope, cri-containerd-ID.scope, crio-ID.scope and libpod-ID.scope, and from the
 * cgroupfs driver's plain ID component under docker/, kubepods or libpod_parent; ID must be 64
 * lowercase hex digits. The pod uid comes from kubepods...-pod<UID>.slice (systemd driver,
 * '_' for '-') or pod<UID> (cgroupfs driver). 0, or -ENOMEM.
 */
int cgroup_path_labels(const char *path, size_t len, struct cgroup_labels *ret);

struct cgroup_cache;

/*
 * A cache over the unified hierarchy mounted at root ("": find it in /proc/self/mountinfo, a
 * cgroup2 mount: /sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts). 0, -ENOMEM, or
 * -ENOENT when there is no cgroup2 mount (then every lookup answers NULL).
 */
int cgroup_cache_new(const char *root, struct cgroup_cache **ret);
struct cgroup_cache *cgroup_cache_free(struct cgroup_cache *c);

/* The mount the cache reads, "" without one. */
const char *cgroup_cache_root(const struct cgroup_cache *c);

/*
 * What one walk found, immutable and reference-counted: a snapshot keeps the table its labels
 * point into, whatever walks come after. cgroup_table_unref() may run on any thread.
 */
struct cgroup_table;
struct cgroup_table *cgroup_cache_table(struct cgroup_cache *c); /* a new reference, or NULL */
void cgroup_table_unref(struct cgroup_table *t);		 /* accepts NULL */

/*
 * Labels of cgroup id in the cache's current table, or NULL when it is not known (not yet
 * seen, or gone). A miss asks for a walk at the next cgroup_cache_refresh(). The labels are
 * valid while a reference to the current table is held (cgroup_cache_table()).
 */
const struct cgroup_labels *cgroup_cache_get(struct cgroup_cache *c, uint64_t id);

/*
 * If a lookup missed since the last walk, walk the hierarchy again and keep exactly the
 * cgroups that exist (at most CGROUP_CACHE_MAX of them). Returns how many it holds, or
 * -errno when the walk failed (the previous contents stay).
 */
#define CGROUP_CACHE_MAX 65536
int cgroup_cache_refresh(struct cgroup_cache *c);

#endif
