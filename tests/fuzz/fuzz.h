/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared by the libFuzzer targets and their replay driver. Each target defines
 * LLVMFuzzerTestOneInput(); a property that does not hold is reported with FUZZ_CHECK() and
 * aborts, which libFuzzer records as a crash and the replay driver as a failed test.
 */
#ifndef RAWTPD_FUZZ_H
#define RAWTPD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...)                                                               \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: property failed: %s: ", __FILE__, __LINE__, \
				#cond);                                                     \
			fprintf(stderr, __VA_ARGS__);                                       \
			fputc('\n', stderr);                                                \
			abort();                                                            \
		}                                                                           \
	} while (0)

/* Consume fuzzer bytes as the parameters of a test case; zeros once the input runs out. */
struct fuzz_input {
	const uint8_t *p;
	size_t left;
};

static inline uint8_t fuzz_u8(struct fuzz_input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static inline uint32_t fuzz_u32(struct fuzz_input *in, unsigned bytes)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v = v << 8 | fuzz_u8(in);
	return v;
}

/* Up to n bytes (fewer at the end of the input); returns how many were copied. */
static inline size_t fuzz_bytes(struct fuzz_input *in, void *out, size_t n)
{
	uint8_t *o = out;
	size_t k = n < in->left ? n : in->left;

	for (size_t i = 0; i < k; i++)
		o[i] = in->p[i];
	in->p += k;
	in->left -= k;
	return k;
}

#endif
