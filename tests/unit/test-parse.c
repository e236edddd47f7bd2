// SPDX-License-Identifier: GPL-2.0-only
/*
 * The shared value parsers on their own: parse_unsigned() over a byte range (as HTTP queries
 * hand it one) and parse_listen()'s reasons. test-config.c covers durations and listen
 * addresses through the config file and the flags.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "parse.h"
#include "util.h"
#include "test.h"

static void test_unsigned(void)
{
	static const struct {
		const char *s;
		size_t n; /* 0: strlen(s) */
		uint64_t max;
		int r;
		uint64_t v;
	} t[] = {
		{"0", 0, 0, 0, 0},
		{"1", 0, 0, -EINVAL, 0},
		{"7", 0, 7, 0, 7},
		{"8", 0, 7, -EINVAL, 0},
		{"4294967295", 0, UINT32_MAX, 0, UINT32_MAX},
		{"4294967296", 0, UINT32_MAX, -EINVAL, 0},
		{"18446744073709551615", 0, UINT64_MAX, 0, UINT64_MAX},
		{"18446744073709551616", 0, UINT64_MAX, -EINVAL, 0},
		{"99999999999999999999", 0, UINT64_MAX, -EINVAL, 0},
		{"000000000000000000000042", 0, 100, 0, 42},
		{"42&top=5", 2, 100, 0, 42}, /* only the n bytes count */
		{"4x", 1, 100, 0, 4},
		{"", 0, 100, -EINVAL, 0},
		{"-1", 0, 100, -EINVAL, 0},
		{"+1", 0, 100, -EINVAL, 0},
		{" 1", 0, 100, -EINVAL, 0},
		{"1 ", 0, 100, -EINVAL, 0},
		{"0x10", 0, 100, -EINVAL, 0},
		{"1e3", 0, 10000, -EINVAL, 0},
	};

	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		uint64_t v = 4242;
		int r = parse_unsigned(t[i].s, t[i].n ?: strlen(t[i].s), t[i].max, &v);

		CHECK(r == t[i].r);
		CHECK_EQ_U64(v, r == 0 ? t[i].v : 4242);
		if (r != t[i].r)
			fprintf(stderr, "  parse_unsigned(\"%s\") = %d\n", t[i].s, r);
	}
	CHECK(parse_unsigned(NULL, 1, 1, NULL) == -EINVAL);
	CHECK(parse_unsigned("1", 0, 1, NULL) == -EINVAL);
}

static void test_listen_why(void)
{
	static const struct {
		const char *s, *why;
	} t[] = {
		{"127.0.0.1:80", NULL},
		{"[::1]:80", NULL},
		{"[::1", "missing ']'"},
		{"[x]:80", "not an IPv6 address"},
		{"[::1]80", "missing ':PORT'"},
		{"127.0.0.1", "missing ':PORT'"},
		{"::1:80", "an IPv6 address goes in brackets, as in [::1]:PORT"},
		{"example.com:80",
		 "the host must be a numeric address or localhost (names are not resolved)"},
		{"127.0.0.1:", "missing port"},
		{":0", "the port must be 1..65535"},
		{":65536", "the port must be 1..65535"},
	};

	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		const char *why = "unset";

		CHECK(parse_listen(t[i].s, NULL, NULL, &why) == (t[i].why ? -EINVAL : 0));
		if (t[i].why)
			CHECK_STREQ(why, t[i].why);
		else
			CHECK(!why);
	}
}

static void test_names(void)
{
	for (int m = 0; m < _ATTACH_MODE_MAX; m++)
		CHECK(attach_mode_from_string(attach_mode_to_string(m)) == m);
	CHECK_STREQ(attach_mode_to_string(_ATTACH_MODE_MAX), "?");
	CHECK(group_by_from_string(group_by_to_string(GROUP_BY_COMM)) == GROUP_BY_COMM);
	CHECK_STREQ(group_by_to_string(-1), "?");
}

int main(void)
{
	test_unsigned();
	test_listen_why();
	test_names();
	TEST_DONE();
}
