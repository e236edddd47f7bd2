// SPDX-License-Identifier: GPL-2.0-only
/* cgroup.c: path to labels for every runtime form and hostile names; the cache on a fake tree. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "test.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define POD   "1234abcd-5678-90ab-cdef-1234567890ab"
#define POD_  "1234abcd_5678_90ab_cdef_1234567890ab"

struct want {
	const char *path, *cgroup, *unit, *user_unit, *container_id, *pod_uid;
};

static const struct want cases[] = {
	{"/system.slice/nginx.service", "/system.slice/nginx.service", "nginx.service", "", "", ""},
	{"/system.slice/nginx.service/worker", NULL, "nginx.service", "", "", ""},
	{"/init.scope", NULL, "init.scope", "", "", ""},
	{"/", "/", "", "", "", ""},
	{"", "/", "", "", "", ""},
	{"/user.slice/user-1000.slice/user@1000.service/app.slice/app-firefox.scope", NULL,
	 "user@1000.service", "app-firefox.scope", "", ""},
	{"/user.slice/user-1000.slice/user@1000.service/init.scope", NULL, "user@1000.service",
	 "init.scope", "", ""},
	{"/user.slice/user-1000.slice/session-3.scope", NULL, "session-3.scope", "", "", ""},
	/* systemd cgroup driver */
	{"/system.slice/docker-" HEX64 ".scope", NULL, "docker-" HEX64 ".scope", "", HEX64, ""},
	{"/machine.slice/libpod-" HEX64 ".scope/container", NULL, "libpod-" HEX64 ".scope", "",
	 HEX64, ""},
	{"/system.slice/crio-" HEX64 ".scope", NULL, "crio-" HEX64 ".scope", "", HEX64, ""},
	{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" POD_
	 ".slice/cri-containerd-" HEX64 ".scope",
	 NULL, "cri-containerd-" HEX64 ".scope", "", HEX64, POD},
	{"/kubepods.slice/kubepods-pod" POD_ ".slice", NULL, "", "", "", POD},
	/* cgroupfs driver */
	{"/kubepods/burstable/pod" POD "/" HEX64, NULL, "", "", HEX64, POD},
	{"/kubepods/pod" POD "/" HEX64, NULL, "", "", HEX64, POD},
	{"/docker/" HEX64, NULL, "", "", HEX64, ""},
	/* not ids: too short, upper case, not hex, a plain hex name under anything else */
	{"/system.slice/docker-0123abcd.scope", NULL, "docker-0123abcd.scope", "", "", ""},
	{"/system.slice/"
	 "docker-0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef.scope",
	 NULL, NULL, "", "", ""},
	{"/system.slice/"
	 "docker-g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope",
	 NULL, NULL, "", "", ""},
	{"/mine/" HEX64, NULL, "", "", "", ""},
	{"/kubepods/podNOTAUID/x", NULL, "", "", "", ""},
	/* hand-made and hostile names: not units, escaped as process names are */
	{"/hand/made", NULL, "", "", "", ""},
	{"/rawtpd-test/a\"b\\c\nd", "/rawtpd-test/a\"b\\c\nd", "", "", "", ""},
	{"/rawtpd-test/bad\xff\xfe", "/rawtpd-test/bad\\xff\\xfe", "", "", "", ""},
	{"/system.slice/we\"ird\xc0.service", "/system.slice/we\"ird\\xc0.service",
	 "we\"ird\\xc0.service", "", "", ""},
	{"//system.slice//x.service", NULL, "x.service", "", "", ""},
	{"/.service", NULL, "", "", "", ""},
};

static void test_paths(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct want *w = &cases[i];
		struct cgroup_labels l;

		CHECK(cgroup_path_labels(w->path, strlen(w->path), &l) == 0);
		if (w->cgroup)
			CHECK_STREQ(l.cgroup, w->cgroup);
		else
			CHECK_STREQ(l.cgroup, w->path);
		if (w->unit)
			CHECK_STREQ(l.unit, w->unit);
		CHECK_STREQ(l.user_unit, w->user_unit);
		CHECK_STREQ(l.container_id, w->container_id);
		CHECK_STREQ(l.pod_uid, w->pod_uid);
		free(l.cgroup);
	}
}

static void test_long_path(void)
{
	size_t n = CGROUP_PATH_MAX + 100;
	char *p = malloc(n + 1);
	struct cgroup_labels l;

	for (size_t i = 0; i < n; i++)
		p[i] = i % 10 == 0 ? '/' : 'a';
	p[n] = 0;
	CHECK(cgroup_path_labels(p, n, &l) == 0);
	CHECK_EQ_U64(strlen(l.cgroup), CGROUP_PATH_MAX + 3);
	CHECK(strcmp(l.cgroup + CGROUP_PATH_MAX, "...") == 0);
	free(l.cgroup);
	free(p);
}

/* The cache on a directory tree made by hand: ids are inode numbers. */
static uint64_t ino(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static void test_cache(void)
{
	char root[] = "/tmp/rawtpd-test-cgroup.XXXXXX", p[256];
	struct cgroup_cache *c = NULL;
	const struct cgroup_labels *l;
	uint64_t id_svc, id_gone;

	if (!mkdtemp(root)) {
		CHECK(!"mkdtemp");
		return;
	}
	snprintf(p, sizeof(p), "%s/system.slice", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/system.slice/a.service", root);
	mkdir(p, 0755);
	id_svc = ino(p);
	snprintf(p, sizeof(p), "%s/system.slice/b.service", root);
	mkdir(p, 0755);
	id_gone = ino(p);

	CHECK(cgroup_cache_new(root, &c) == 0);
	CHECK(cgroup_cache_get(c, id_svc) == NULL); /* not walked yet: a miss asks for a walk */
	CHECK(cgroup_cache_refresh(c) == 4);
	l = cgroup_cache_get(c, id_svc);
	CHECK(l && !strcmp(l->cgroup, "/system.slice/a.service") && !strcmp(l->unit, "a.service"));
	l = cgroup_cache_get(c, ino(root));
	CHECK(l && !strcmp(l->cgroup, "/") && !strcmp(l->unit, ""));

	/* a cgroup that goes away is dropped at the next walk; asking for it again walks once */
	rmdir(p);
	CHECK(cgroup_cache_get(c, 999999999) == NULL);
	CHECK(cgroup_cache_refresh(c) == 3);
	CHECK(cgroup_cache_get(c, id_gone) == NULL || ino(p) == id_gone);
	CHECK(cgroup_cache_refresh(c) == 3);
	/* an id the last walk did not find either does not make another walk */
	CHECK(cgroup_cache_get(c, 999999999) == NULL);
	CHECK(cgroup_cache_refresh(c) == 3);
	c = cgroup_cache_free(c);

	snprintf(p, sizeof(p), "%s/system.slice/a.service", root);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/system.slice", root);
	rmdir(p);
	rmdir(root);
}

int main(void)
{
	test_paths();
	test_long_path();
	test_cache();
	TEST_DONE();
}
