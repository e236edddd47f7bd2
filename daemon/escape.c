// SPDX-License-Identifier: GPL-2.0-only
/*
 * Process names to text. A name is whatever bytes a process wrote to its comm; the outputs need
 * valid UTF-8. Valid sequences pass through, any other byte becomes "\xNN". The result is
 * ASCII plus valid UTF-8, so escaping it again changes nothing: a renderer may re-apply
 * escape_comm() to text it is handed as a guard, at no cost to names already escaped.
 */
#include <string.h>

#include "escape.h"

/*
 * Length of the valid UTF-8 sequence at s[0..n), or 0 when s[0] does not start one. Strict,
 * as RFC 3629 table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF.
 */
static size_t utf8_sequence_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c < 0xc2) /* a continuation byte, or the lead of an overlong 2-byte form */
		return 0;
	if (c < 0xe0) {
		len = 2;
	} else if (c < 0xf0) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* U+D800..U+DFFF */
	} else if (c < 0xf5) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		return 0;
	}

	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

size_t escape_comm(const char *in, size_t len, char *out, size_t out_size)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)in;
	size_t n = strnlen(in, len), i = 0, o = 0;

	if (out_size == 0)
		return 0;

	while (i < n) {
		size_t k;

		/* a run of ASCII, as most names are, in one copy */
		for (k = 0; i + k < n && s[i + k] < 0x80; k++)
			;
		if (k > 0) {
			if (o + k >= out_size)
				k = out_size - 1 - o;
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
			if (o + 1 >= out_size)
				break;
			continue;
		}
		k = utf8_sequence_len(s + i, n - i);

		if (k > 0) {
			if (o + k >= out_size)
				break;
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
		} else {
			if (o + 4 >= out_size)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[s[i] >> 4];
			out[o++] = hex[s[i] & 0xf];
			i++;
		}
	}
	out[o] = '\0';
	return o;
}

size_t escape_label_value(const char *s, char *out)
{
	char *o = out;

	for (; *s; s++) {
		switch (*s) {
		case '\\':
			*o++ = '\\';
			*o++ = '\\';
			break;
		case '"':
			*o++ = '\\';
			*o++ = '"';
			break;
		case '\n':
			*o++ = '\\';
			*o++ = 'n';
			break;
		default:
			*o++ = *s;
		}
	}
	return o - out;
}
