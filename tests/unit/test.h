/* SPDX-License-Identifier: GPL-2.0-only */
/* The smallest test harness that says what failed: CHECK() records, TEST_DONE() reports. */
#ifndef RAWTPD_TEST_H
#define RAWTPD_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failed, test_checks;

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		test_checks++;                                                               \
		if (!(cond)) {                                                               \
			test_failed++;                                                       \
			fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__, \
				__func__, #cond);                                            \
		}                                                                            \
	} while (0)

#define CHECK_EQ_U64(a, b)                                                                        \
	do {                                                                                      \
		unsigned long long _a = (unsigned long long)(a);                                  \
		unsigned long long _b = (unsigned long long)(b);                                  \
		test_checks++;                                                                    \
		if (_a != _b) {                                                                   \
			test_failed++;                                                            \
			fprintf(stderr, "%s:%d: %s: %s == %llu, expected %s == %llu\n", __FILE__, \
				__LINE__, __func__, #a, _a, #b, _b);                              \
		}                                                                                 \
	} while (0)

#define CHECK_STREQ(a, b)                                                                    \
	do {                                                                                 \
		const char *_a = (a), *_b = (b);                                             \
		test_checks++;                                                               \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                                     \
			test_failed++;                                                       \
			fprintf(stderr, "%s:%d: %s: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
				__func__, _a ? _a : "(null)", _b ? _b : "(null)");           \
		}                                                                            \
	} while (0)

/* Report and exit: 0 when every check passed. */
#define TEST_DONE()                                                         \
	do {                                                                \
		printf("%d checks, %d failed\n", test_checks, test_failed); \
		return test_failed ? EXIT_FAILURE : EXIT_SUCCESS;           \
	} while (0)

#endif
