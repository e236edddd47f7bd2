// SPDX-License-Identifier: GPL-2.0-only
/*
 * Runs one fuzz target's LLVMFuzzerTestOneInput() over every file in the directories (or the
 * files) given, without libFuzzer: the corpus is replayed as an ordinary test by any compiler,
 * under the sanitizers and valgrind when the build has them. A failing property aborts.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (n == cap) {
			uint8_t *b = realloc(buf, cap = cap ? 2 * cap : 4096);

			if (!b) {
				fclose(f);
				free(buf);
				return -1;
			}
			buf = b;
		}
		size_t k = fread(buf + n, 1, cap - n, f);

		if (k == 0)
			break;
		n += k;
	}
	fclose(f);
	/* exactly n bytes, as libFuzzer passes them: a sanitizer sees any read past the end */
	uint8_t *exact = malloc(n ? n : 1);

	if (!exact) {
		free(buf);
		return -1;
	}
	memcpy(exact, buf, n);
	free(buf);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	size_t total = 0;
	int failed = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		struct dirent *de;
		char **names = NULL;
		size_t n = 0;
		DIR *d;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			failed |= run_file(argv[i]) < 0;
			total++;
			continue;
		}
		d = opendir(argv[i]);
		if (!d) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		while ((de = readdir(d))) {
			char **v;

			if (de->d_name[0] == '.')
				continue;
			v = realloc(names, (n + 1) * sizeof(*v));
			if (!v || !(v[n] = malloc(strlen(argv[i]) + strlen(de->d_name) + 2)))
				return 1;
			names = v;
			sprintf(names[n++], "%s/%s", argv[i], de->d_name);
		}
		closedir(d);
		qsort(names, n, sizeof(*names), cmp); /* the same order every run */
		for (size_t k = 0; k < n; k++) {
			failed |= run_file(names[k]) < 0;
			total++;
			free(names[k]);
		}
		free(names);
	}
	printf("%zu inputs replayed%s\n", total, failed ? ", some could not be read" : "");
	if (total == 0) {
		fprintf(stderr, "no inputs: is the corpus directory empty?\n");
		return 1;
	}
	return failed;
}
