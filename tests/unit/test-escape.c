// SPDX-License-Identifier: GPL-2.0-only
/*
 * escape_comm() and escape_label_value(): a table of hostile process names, truncation at
 * character boundaries, and every short byte sequence against a reference decoder written the
 * other way round (decode the code point, then check its range), with jansson's strict UTF-8
 * check as a third opinion.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "escape.h"
#include "test.h"

struct comm_case {
	const char *in;
	size_t len; /* 0: strlen(in) */
	const char *out;
};

static const struct comm_case comm_cases[] = {
	{"nginx", 0, "nginx"},
	{"", 0, ""},
	/* quoting is the format's business, not escape_comm's */
	{"a\"b", 0, "a\"b"},
	{"back\\slash", 0, "back\\slash"},
	{"new\nline", 0, "new\nline"},
	{"tab\there", 0, "tab\there"},
	{"\\x41", 0, "\\x41"},
	/* valid multibyte passes through */
	{"caf\xc3\xa9", 0, "caf\xc3\xa9"},
	{"\xe6\x97\xa5\xe6\x9c\xac", 0, "\xe6\x97\xa5\xe6\x9c\xac"},
	{"\xf0\x9f\x98\x80!", 0, "\xf0\x9f\x98\x80!"},
	{"\xc2\x80", 0, "\xc2\x80"},		     /* U+0080, the smallest 2-byte */
	{"\xed\x9f\xbf", 0, "\xed\x9f\xbf"},	     /* U+D7FF, below the surrogates */
	{"\xee\x80\x80", 0, "\xee\x80\x80"},	     /* U+E000, above them */
	{"\xef\xbf\xbf", 0, "\xef\xbf\xbf"},	     /* U+FFFF */
	{"\xf0\x90\x80\x80", 0, "\xf0\x90\x80\x80"}, /* U+10000, the smallest 4-byte */
	{"\xf4\x8f\xbf\xbf", 0, "\xf4\x8f\xbf\xbf"}, /* U+10FFFF, the largest */
	/* not UTF-8 */
	{"\xff", 0, "\\xff"},
	{"a\xfe\x62", 0, "a\\xfeb"},			 /* 0x62 is b */
	{"\x80", 0, "\\x80"},				 /* lone continuation */
	{"\xc0\xaf", 0, "\\xc0\\xaf"},			 /* overlong '/' */
	{"\xc1\xbf", 0, "\\xc1\\xbf"},			 /* overlong */
	{"\xe0\x80\xaf", 0, "\\xe0\\x80\\xaf"},		 /* overlong, 3 bytes */
	{"\xf0\x80\x80\xaf", 0, "\\xf0\\x80\\x80\\xaf"}, /* overlong, 4 bytes */
	{"\xe2\x82", 0, "\\xe2\\x82"},			 /* truncated */
	{"\xe2\x82z", 0, "\\xe2\\x82z"},		 /* truncated, then ASCII */
	{"\xf0\x9f\x98", 0, "\\xf0\\x9f\\x98"},		 /* truncated 4-byte */
	{"\xed\xa0\x80", 0, "\\xed\\xa0\\x80"},		 /* U+D800 */
	{"\xed\xbf\xbf", 0, "\\xed\\xbf\\xbf"},		 /* U+DFFF */
	{"\xf4\x90\x80\x80", 0, "\\xf4\\x90\\x80\\x80"}, /* U+110000 */
	{"\xf5\x80\x80\x80", 0, "\\xf5\\x80\\x80\\x80"}, /* no such lead */
	{"\xc3\xa9\xa9", 0, "\xc3\xa9\\xa9"},		 /* one continuation too many */
	{"\xc3\xc3\xa9", 0, "\\xc3\xc3\xa9"},		 /* a lead cut short by another */
	/* stops at NUL or len */
	{"ab\0cd", 5, "ab"},
	{"abcdef", 3, "abc"},
	{"\xc3\xa9", 1, "\\xc3"},
	/* the kernel's worst: 15 bytes, none UTF-8, still fits COMM_TEXT_MAX */
	{"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 0,
	 "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff"},
};

static void test_table(void)
{
	for (size_t i = 0; i < sizeof(comm_cases) / sizeof(comm_cases[0]); i++) {
		const struct comm_case *c = &comm_cases[i];
		size_t len = c->len ? c->len : strlen(c->in);
		char out[64], again[64];
		size_t n = escape_comm(c->in, len, out, sizeof(out));

		CHECK_STREQ(out, c->out);
		CHECK_EQ_U64(n, strlen(c->out));
		/* escaping is idempotent: renderers may re-apply it as a guard */
		escape_comm(out, n, again, sizeof(again));
		CHECK_STREQ(again, out);
	}
}

static void test_truncation(void)
{
	const char *jp = "\xe6\x97\xa5\xe6\x9c\xac"; /* two 3-byte characters */
	char out[16];

	memset(out, 'X', sizeof(out));
	CHECK_EQ_U64(escape_comm("abc", 3, out, 0), 0);
	CHECK(out[0] == 'X'); /* nothing written */
	CHECK_EQ_U64(escape_comm("abc", 3, out, 1), 0);
	CHECK_STREQ(out, "");
	CHECK_EQ_U64(escape_comm("abc", 3, out, 3), 2);
	CHECK_STREQ(out, "ab");

	/* a character goes in whole or not at all */
	for (size_t size = 1; size <= 8; size++) {
		size_t n;

		memset(out, 'X', sizeof(out));
		n = escape_comm(jp, strlen(jp), out, size);

		CHECK_EQ_U64(n, size > 6 ? 6 : size > 3 ? 3 : 0);
		CHECK(memcmp(out, jp, n) == 0 && out[n] == '\0');
		CHECK(out[size] == 'X'); /* nothing past out_size */
	}
	/* so does an escape */
	CHECK_EQ_U64(escape_comm("a\xff", 2, out, 5), 1);
	CHECK_STREQ(out, "a");
	CHECK_EQ_U64(escape_comm("a\xff", 2, out, 6), 5);
	CHECK_STREQ(out, "a\\xff");
	CHECK_EQ_U64(escape_comm("\xf0\x9f\x98\x80", 4, out, 4), 0);
	CHECK_STREQ(out, "");
	CHECK_EQ_U64(escape_comm("\xf0\x9f\x98\x80", 4, out, 5), 4);
}

/* Reference: length of the valid UTF-8 sequence at s[0..n), 0 if none, by code point. */
static size_t ref_sequence_len(const unsigned char *s, size_t n)
{
	static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static bool check_against_reference(const unsigned char *in, size_t len)
{
	char expect[64], out[64];
	size_t n = 0, o;
	json_t *j;
	bool ok;

	for (size_t i = 0; i < len && in[i];) {
		size_t k = ref_sequence_len(in + i, len - i);

		if (k) {
			memcpy(expect + n, in + i, k);
			n += k;
			i += k;
		} else {
			n += sprintf(expect + n, "\\x%02x", in[i++]);
		}
	}
	expect[n] = '\0';

	o = escape_comm((const char *)in, len, out, sizeof(out));
	j = json_stringn(out, o); /* NULL unless strictly valid UTF-8 */
	ok = o == n && strcmp(out, expect) == 0 && j;
	json_decref(j);
	if (!ok)
		fprintf(stderr,
			"escape_comm(%02x %02x %02x %02x / %zu) = \"%s\", expected \"%s\"\n", in[0],
			len > 1 ? in[1] : 0, len > 2 ? in[2] : 0, len > 3 ? in[3] : 0, len, out,
			expect);
	return ok;
}

static void test_exhaustive(void)
{
	/* the boundaries of every rule, around which 3- and 4-byte sequences are tried */
	static const unsigned char edge[] = {0x00, 0x01, 0x41, 0x7f, 0x80, 0x81, 0x8f, 0x90,
					     0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0,
					     0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3,
					     0xf4, 0xf5, 0xf7, 0xf8, 0xfe, 0xff};
	static const unsigned char lead4[] = {0x41, 0xc2, 0xe0, 0xed, 0xf0, 0xf1, 0xf4, 0xf5};
	const size_t ne = sizeof(edge);
	unsigned bad = 0;
	unsigned char b[4];

	for (unsigned v = 0; v < 0x10000; v++) {
		b[0] = v >> 8;
		b[1] = v & 0xff;
		bad += !check_against_reference(b, 2);
	}
	for (size_t i = 0; i < ne; i++)
		for (size_t j = 0; j < ne; j++)
			for (size_t k = 0; k < ne; k++) {
				b[0] = edge[i], b[1] = edge[j], b[2] = edge[k];
				bad += !check_against_reference(b, 3);
				for (size_t l = 0; l < sizeof(lead4); l++) {
					unsigned char c[4] = {lead4[l], edge[i], edge[j], edge[k]};

					bad += !check_against_reference(c, 4);
				}
			}
	CHECK_EQ_U64(bad, 0);
}

static void test_label_value(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"", ""},
		{"nginx", "nginx"},
		{"a\"b\\c\nd", "a\\\"b\\\\c\\nd"},
		{"tab\there", "tab\there"},
		{"\\xff", "\\\\xff"}, /* what escape_comm makes of 0xff */
		{"\"\"\\\n", "\\\"\\\"\\\\\\n"},
		{"caf\xc3\xa9", "caf\xc3\xa9"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];
		size_t n;

		memset(out, 'X', sizeof(out));
		n = escape_label_value(cases[i].in, out);
		CHECK_EQ_U64(n, strlen(cases[i].out));
		CHECK(n <= 2 * strlen(cases[i].in));
		CHECK(memcmp(out, cases[i].out, n) == 0);
		CHECK(out[n] == 'X'); /* no NUL, nothing past what it returned */
	}
}

int main(void)
{
	test_table();
	test_truncation();
	test_exhaustive();
	test_label_value();
	TEST_DONE();
}
