// SPDX-License-Identifier: GPL-2.0-only
/*
 * The renderers on a snapshot built by hand, hostile process names included: every format
 * against its golden file in $TEST_DATA/golden (UPDATE_GOLDEN=true rewrites them), gzip round
 * trips, the JSON queries, and the outside checkers when present: `promtool check metrics` on
 * the text format, Python's prometheus_client parsers on both formats, whose decoded comm labels
 * must equal the JSON's comm strings.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "cgroup.h"
#include "escape.h"
#include "render-json.h"
#include "render-prom.h"
#include "test.h"

struct proc_def {
	uint32_t pid;
	const char *raw_comm; /* bytes as a process could set them */
	uint64_t voluntary, involuntary, runtime_ns;
};

static const struct proc_def proc_defs[] = {
	{1, "systemd", 500, 20, 1500000000},
	{42, "a\"b\\c\nd", 10, 300, 530000000},
	{100, "\xff\xfe bad", 0, 0, 0},
	{101, "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", 77, 77, 999999999},
	{200, "\xf0\x9f\x98\x80\x65moji\xc0\xaf", 1000, 1, 123456789012},
	{300, "", 3, 4, 1},
	{301, "tab\there", 5, 2, 1000000000},
	{4242, "nginx", 120, 7, 530000000},
	{4243, "nginx", 120, 7, 530000000},
	{4194304, "kworker/u8:1", 2, 2, UINT64_MAX},
};
#define N_PROCS (sizeof(proc_defs) / sizeof(proc_defs[0]))

/* group_by = comm: what snapshot.c would make of the above plus exited processes */
static const struct proc_def groups[] = {
	{0, "\xf0\x9f\x98\x80\x65moji\xc0\xaf", 1000, 1, 123456789012},
	{0, "\xff\xfe bad", 0, 0, 0},
	{0, "a\"b\\c\nd", 10, 300, 530000000},
	{0, "nginx", 250, 14, 1060000001},
	{0, "systemd", 500, 20, 1500000000},
};
#define N_GROUPS (sizeof(groups) / sizeof(groups[0]))

static const char *test_data(void)
{
	const char *d = getenv("TEST_DATA");

	return d ? d : "tests/data";
}

static void fill_info(struct snapshot_info *in)
{
	*in = (struct snapshot_info){
		.version = "0.1.0",
		.libbpf_version = "1.1.0",
		.kernel_release = "6.1.0-test-amd64",
		.attach_mode = "tp_btf",
		.data_path = "thread",
		.data_path_reason =
			"a slot of figures per thread, written only by the thread, read in place",
		.interval_s = 1.0,
		.start_time = 1764000000.25,
		.map_capacity = 32768,
		.map_entries = 12,
		.map_update_failures = 3,
		.map_memory = {{"counts", 5767168}, {"oncpu", 4096}, {"re\"na\\mes\n", 331776}},
		.n_map_memory = 3,
		.processes_seen = 40,
		.bpf_stats_enabled = true,
		.prog_run_cnt = 123456789,
		.prog_run_time_ns = 14000000123,
		.series_dropped = 2,
		.aggregation_duration_s = 0.000731,
		.aggregations = 123,
		.aggregation_failures = 1,
		.self_cpu_seconds = 0.53,
		.self_rss_bytes = 7340032,
		.self_vsize_bytes = 25165824,
		.self_open_fds = 9,
		.self_max_fds = 524288,
		.self_start_time = 1763999999.87,
	};
}

static void fill_proc(struct snapshot_proc *p, const struct proc_def *d)
{
	*p = (struct snapshot_proc){.pid = d->pid};
	escape_comm(d->raw_comm, strlen(d->raw_comm), p->comm, sizeof(p->comm));
	p->c = (struct counters){d->voluntary, d->involuntary, d->runtime_ns, d->runtime_ns / 4};
	p->switches_per_second = (double)(d->voluntary + d->involuntary) / 100;
	p->cpu_utilization = d->runtime_ns == UINT64_MAX ? 1.0 : (double)d->runtime_ns / 1e11;
	p->run_queue_wait_share = p->cpu_utilization / 4;
}

static void fill_series(struct snapshot_series *e, const struct proc_def *d)
{
	*e = (struct snapshot_series){.pid = d->pid};
	escape_comm(d->raw_comm, strlen(d->raw_comm), e->comm, sizeof(e->comm));
	e->c = (struct counters){d->voluntary, d->involuntary, d->runtime_ns, d->runtime_ns / 4};
}

/* The hand-made snapshot; arrays are static, nothing to free. */
static struct snapshot *make_snapshot(enum group_by g)
{
	static struct snapshot_proc sp[N_PROCS];
	static struct snapshot_series ss[N_PROCS > N_GROUPS ? N_PROCS : N_GROUPS];
	static struct snapshot s;
	const struct proc_def *defs = g == GROUP_BY_COMM ? groups : proc_defs;
	size_t nd = g == GROUP_BY_COMM ? N_GROUPS : N_PROCS;

	s = (struct snapshot){
		.n_ref = 1, .mono_ns = 123000000000, .timestamp = 1764000123.456, .group_by = g};
	fill_info(&s.info);
	static struct cgroup_labels init_scope, hostile;
	static const char hostile_path[] = "/system.slice/we\"ird\\\xc0\n.service";

	if (!init_scope.cgroup) { /* kept for the test's life */
		CHECK(cgroup_path_labels("/init.scope", 11, &init_scope) == 0);
		CHECK(cgroup_path_labels(hostile_path, sizeof(hostile_path) - 1, &hostile) == 0);
	}
	for (size_t i = 0; i < N_PROCS; i++)
		fill_proc(&sp[i], &proc_defs[i]);
	for (size_t i = 0; i < nd; i++)
		fill_series(&ss[i], &defs[i]);
	/* two processes with a unit: pid 1, and pid 42 in a unit with a hostile name */
	sp[0].cg = &init_scope;
	sp[1].cg = &hostile;
	if (g == GROUP_BY_PID) {
		ss[0].cg = &init_scope;
		ss[1].cg = &hostile;
	}
	s.procs = sp;
	s.n_procs = N_PROCS;
	s.series = ss;
	s.n_series = nd;
	s.totals = (struct counters){10000, 2000, 987654321987, 123456789012};
	s.processes_exited = 30;
	return &s;
}

static char *read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *data = NULL;
	size_t size = 0, len = 0, n;

	if (!f)
		return NULL;
	do {
		if (len == size) {
			char *p = realloc(data, size = size ? 2 * size : 65536);

			if (!p) {
				free(data);
				fclose(f);
				return NULL;
			}
			data = p;
		}
		n = fread(data + len, 1, size - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	*ret_len = len;
	return data;
}

/* Compare with the golden file, or rewrite it when UPDATE_GOLDEN=true. */
static void check_golden(const char *name, const struct blob *b)
{
	const char *update = getenv("UPDATE_GOLDEN");
	char path[4096];
	size_t len = 0, line = 1;
	char *want;

	snprintf(path, sizeof(path), "%s/golden/%s", test_data(), name);
	if (update && strcmp(update, "true") == 0) {
		FILE *f = fopen(path, "we");

		CHECK(f && fwrite(b->data, 1, b->len, f) == b->len);
		CHECK(f && fclose(f) == 0);
		printf("rewrote %s\n", path);
		return;
	}

	want = read_file(path, &len);
	CHECK(want);
	if (!want) {
		fprintf(stderr, "%s: %m (UPDATE_GOLDEN=true creates it)\n", path);
		return;
	}
	for (size_t i = 0; i < len && i < b->len && want[i] == b->data[i]; i++)
		line += want[i] == '\n';
	CHECK(len == b->len && memcmp(want, b->data, len) == 0);
	if (len != b->len || memcmp(want, b->data, len) != 0)
		fprintf(stderr, "%s: differs from line %zu on\n", path, line);
	free(want);
}

static bool contains(const struct blob *b, const char *s)
{
	return memmem(b->data, b->len, s, strlen(s)) != NULL;
}

static bool find_in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4096];

	for (const char *p = path; p && *p;) {
		size_t n = strcspn(p, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, prog);
		if (access(buf, X_OK) == 0)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

/* Write the exposition to a file and run cmd on it; its exit status, or -1 if it did not run. */
static int run_on(const char *cmd_fmt, const struct blob *b, char **ret_out)
{
	char path[] = "/tmp/rawtpd-test-render-XXXXXX", cmd[8192];
	int fd = mkstemp(path), status;
	size_t len = 0;
	FILE *p;

	if (fd < 0 || write(fd, b->data, b->len) != (ssize_t)b->len) {
		if (fd >= 0)
			close(fd), unlink(path);
		return -1;
	}
	close(fd);
	snprintf(cmd, sizeof(cmd), cmd_fmt, path);
	p = popen(cmd, "re");
	if (!p) {
		unlink(path);
		return -1;
	}
	if (ret_out) {
		char *out = malloc(1 << 20);

		while (out && len < (1 << 20) - 1) {
			size_t n = fread(out + len, 1, (1 << 20) - 1 - len, p);

			if (n == 0)
				break;
			len += n;
		}
		if (out)
			out[len] = '\0';
		*ret_out = out;
	}
	status = pclose(p);
	unlink(path);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void check_promtool(const struct blob *b)
{
	int r;

	if (!find_in_path("promtool")) {
		printf("SKIP promtool check: promtool not in PATH\n");
		return;
	}
	r = run_on("promtool check metrics < %s", b, NULL);
	CHECK_EQ_U64(r, 0);
}

/*
 * promtool on a large body, in pieces of at most PROMTOOL_PIECE series of a family, each piece
 * with its family's "# HELP" and "# TYPE" lines. promtool 2.53 (Debian 13) lints a family in
 * time quadratic in its series: 10k series took 4 minutes, against 0.2 s with 2.42 (Debian 12).
 * Every line is still parsed and linted, duplicates within a piece are still found, and the
 * caller's series are distinct by construction (one pid each, counted).
 */
#define PROMTOOL_PIECE 500

static void append(struct blob *b, const char *p, size_t len)
{
	memcpy(b->data + b->len, p, len);
	b->len += len;
}

static void check_promtool_pieces(const struct blob *b)
{
	const char *end = b->data + b->len, *help = NULL, *type = NULL;
	size_t help_len = 0, type_len = 0, n = 0, pieces = 0;
	/* a piece is its family's header lines and lines of the body that follow them */
	struct blob piece = {.data = malloc(2 * b->len + 1), .len = 0};

	CHECK(piece.data != NULL);
	if (!piece.data || !find_in_path("promtool")) {
		check_promtool(b); /* says SKIP */
		free(piece.data);
		return;
	}
	for (const char *p = b->data; p < end;) {
		const char *nl = memchr(p, '\n', end - p);
		size_t len = (nl ? nl + 1 : end) - p;

		if (len > 7 && memcmp(p, "# HELP ", 7) == 0) {
			help = p, help_len = len, type = NULL, n = 0;
		} else if (len > 7 && memcmp(p, "# TYPE ", 7) == 0) {
			type = p, type_len = len;
		} else if (p[0] != '#' && ++n > PROMTOOL_PIECE) {
			check_promtool(&piece);
			pieces++;
			piece.len = 0;
			if (help)
				append(&piece, help, help_len);
			if (type)
				append(&piece, type, type_len);
			n = 1;
		}
		append(&piece, p, len);
		p += len;
	}
	check_promtool(&piece);
	printf("promtool: %zu pieces of at most %d series a family\n", pieces + 1, PROMTOOL_PIECE);
	free(piece.data);
}

/*
 * Parse with prometheus_client (Debian's python3-prometheus-client, importable from
 * /usr/bin/python3) and print {pid or comm: decoded comm} of rawtpd_process_cpu_seconds.
 */
#define PY_DECODE                                                                           \
	"/usr/bin/python3 -c '\n"                                                           \
	"import json, sys\n"                                                                \
	"try:\n"                                                                            \
	"    if sys.argv[1] == \"om\":\n"                                                   \
	"        from prometheus_client.openmetrics.parser import "                         \
	"text_string_to_metric_families\n"                                                  \
	"    else:\n"                                                                       \
	"        from prometheus_client.parser import text_string_to_metric_families\n"     \
	"except ImportError:\n"                                                             \
	"    sys.exit(77)\n"                                                                \
	"text = open(sys.argv[2], encoding=\"utf-8\", errors=\"strict\").read()\n"          \
	"out = {}\n"                                                                        \
	"for f in text_string_to_metric_families(text):\n"                                  \
	"    for s in f.samples:\n"                                                         \
	"        if s.name == \"rawtpd_process_cpu_seconds_total\":\n"                      \
	"            out[s.labels.get(\"pid\", s.labels[\"comm\"])] = s.labels[\"comm\"]\n" \
	"print(json.dumps(out))\n"                                                          \
	"' %s %%s"

/* Both text formats, decoded by Python, name every process as the JSON does. */
static void check_python(const char *format, const struct blob *b, const struct snapshot *s)
{
	char cmd[2048], *out = NULL;
	json_t *decoded, *doc;
	struct blob j;
	size_t i;
	json_t *p;
	int r;

	if (access("/usr/bin/python3", X_OK) != 0) {
		printf("SKIP %s parse: no /usr/bin/python3\n", format);
		return;
	}
	snprintf(cmd, sizeof(cmd), PY_DECODE, format);
	r = run_on(cmd, b, &out);
	if (r == 77) {
		printf("SKIP %s parse: python3-prometheus-client missing\n", format);
		free(out);
		return;
	}
	CHECK_EQ_U64(r, 0);
	decoded = out ? json_loads(out, 0, NULL) : NULL;
	free(out);
	CHECK(decoded);
	CHECK_EQ_U64(json_object_size(decoded), s->n_series);
	if (s->group_by == GROUP_BY_PID) {
		CHECK(render_json_processes(s, NULL, &j) == 0);
		doc = json_loadb(j.data, j.len, 0, NULL);
		free(j.data);
		json_array_foreach(json_object_get(doc, "processes"), i, p)
		{
			char pid[16];

			snprintf(pid, sizeof(pid), "%u",
				 (unsigned)json_integer_value(json_object_get(p, "pid")));
			CHECK(json_equal(json_object_get(decoded, pid),
					 json_object_get(p, "comm")));
		}
		json_decref(doc);
	}
	json_decref(decoded);
}

/*
 * Parse with prometheus_client and print {unit: [histogram type, +Inf bucket, count]} of
 * rawtpd_run_queue_latency_seconds: the parser takes the family as a histogram.
 */
#define PY_HIST                                                                         \
	"/usr/bin/python3 -c '\n"                                                       \
	"import json, sys\n"                                                            \
	"try:\n"                                                                        \
	"    if sys.argv[1] == \"om\":\n"                                               \
	"        from prometheus_client.openmetrics.parser import "                     \
	"text_string_to_metric_families\n"                                              \
	"    else:\n"                                                                   \
	"        from prometheus_client.parser import text_string_to_metric_families\n" \
	"except ImportError:\n"                                                         \
	"    sys.exit(77)\n"                                                            \
	"text = open(sys.argv[2], encoding=\"utf-8\", errors=\"strict\").read()\n"      \
	"out = {}\n"                                                                    \
	"for f in text_string_to_metric_families(text):\n"                              \
	"    if f.name != \"rawtpd_run_queue_latency_seconds\":\n"                      \
	"        continue\n"                                                            \
	"    for s in f.samples:\n"                                                     \
	"        o = out.setdefault(s.labels[\"unit\"], [f.type, 0, 0])\n"              \
	"        if s.name.endswith(\"_bucket\") and s.labels[\"le\"] == \"+Inf\":\n"   \
	"            o[1] = s.value\n"                                                  \
	"        if s.name.endswith(\"_count\"):\n"                                     \
	"            o[2] = s.value\n"                                                  \
	"print(json.dumps(out))\n"                                                      \
	"' %s %%s"

/* Both formats' histograms, as Python's parser reads them: 8 waits of the hostile unit. */
static void check_python_hist(const char *format, const struct blob *b)
{
	char cmd[2048], *out = NULL;
	json_t *decoded, *h;
	int r;

	if (access("/usr/bin/python3", X_OK) != 0)
		return;
	snprintf(cmd, sizeof(cmd), PY_HIST, format);
	r = run_on(cmd, b, &out);
	if (r == 77) {
		printf("SKIP %s histogram parse: python3-prometheus-client missing\n", format);
		free(out);
		return;
	}
	CHECK_EQ_U64(r, 0);
	decoded = out ? json_loads(out, 0, NULL) : NULL;
	free(out);
	CHECK(decoded && json_object_size(decoded) == 2);
	h = json_object_get(decoded, "we\"ird\\\\xc0\n.service");
	CHECK_STREQ(json_string_value(json_array_get(h, 0)), "histogram");
	CHECK(json_number_value(json_array_get(h, 1)) == 8);
	CHECK(json_number_value(json_array_get(h, 2)) == 8);
	json_decref(decoded);
}

static void test_prom(enum group_by g)
{
	const struct snapshot *s = make_snapshot(g);
	const char *mode = g == GROUP_BY_COMM ? "comm" : "pid";
	struct blob prom, om;
	char name[64];

	CHECK(render_prom(s, &prom) == 0);
	CHECK(render_openmetrics(s, &om) == 0);
	snprintf(name, sizeof(name), "metrics-%s.prom", mode);
	check_golden(name, &prom);
	snprintf(name, sizeof(name), "metrics-%s.om", mode);
	check_golden(name, &om);

	CHECK(om.len > 6 && memcmp(om.data + om.len - 6, "# EOF\n", 6) == 0);
	CHECK(!contains(&prom, "# EOF"));
	CHECK(contains(&prom, "# TYPE rawtpd_process_cpu_seconds_total counter\n"));
	CHECK(contains(&om, "# TYPE rawtpd_process_cpu_seconds counter\n"));
	CHECK(contains(&prom, "# TYPE rawtpd_build_info gauge\n"));
	CHECK(contains(&om, "# TYPE rawtpd_build info\n"));
	CHECK(contains(&om, "\nrawtpd_build_info{version=\"0.1.0\",libbpf_version=\"1.1.0\"} 1\n"));
	CHECK(contains(&prom, "\nrawtpd_cpu_seconds_total 987.654321987\n"));
	CHECK(contains(&prom, "\nrawtpd_bpf_program_run_seconds_total 14.000000123\n"));
	CHECK(contains(&prom, "\nprocess_cpu_seconds_total 0.53\n"));
	CHECK(contains(&prom, "\nrawtpd_last_aggregation_timestamp_seconds 1764000123.456\n"));
	if (g == GROUP_BY_PID) {
		/* the unit's label: quote, backslash and newline escaped, the bad byte \xc0 */
		CHECK(contains(&prom,
			       "{pid=\"42\",comm=\"a\\\"b\\\\c\\nd\",unit=\"we\\\"ird\\\\\\\\xc0\\n"
			       ".service\",type=\"involuntary\"} 300\n"));
		CHECK(contains(&prom,
			       "{pid=\"42\",comm=\"a\\\"b\\\\c\\nd\",unit=\"we\\\"ird\\\\\\\\xc0\\n"
			       ".service\"} 0.53\n"));
		CHECK(contains(&prom, "{pid=\"1\",comm=\"systemd\",unit=\"init.scope\"} 1.5\n"));
		CHECK(contains(&prom, "{pid=\"100\",comm=\"\\\\xff\\\\xfe bad\"} 0\n"));
		CHECK(contains(&prom, "{pid=\"300\",comm=\"\"} 0.000000001\n"));
		CHECK(contains(&prom, "{pid=\"301\",comm=\"tab\there\"} 1\n"));
		CHECK(contains(&prom,
			       "{pid=\"4194304\",comm=\"kworker/u8:1\"} 18446744073.709551615\n"));
	} else {
		CHECK(contains(&prom,
			       "\nrawtpd_process_cpu_seconds_total{comm=\"nginx\"} 1.060000001\n"));
		CHECK(!contains(&prom, "pid=\""));
	}

	check_promtool(&prom);
	check_python("prom", &prom, s);
	check_python("om", &om, s);
	free(prom.data);
	free(om.data);
}

static void check_gunzip(const struct blob *plain)
{
	struct blob gz;
	z_stream z = {};
	char *out = malloc(plain->len + 1);

	CHECK(render_gzip(plain, &gz) == 0);
	CHECK(gz.len >= 18 && (unsigned char)gz.data[0] == 0x1f &&
	      (unsigned char)gz.data[1] == 0x8b);
	CHECK(out && inflateInit2(&z, 15 + 16) == Z_OK);
	z.next_in = (Bytef *)gz.data;
	z.avail_in = gz.len;
	z.next_out = (Bytef *)out;
	z.avail_out = plain->len + 1; /* one more: a longer output would show */
	CHECK(inflate(&z, Z_FINISH) == Z_STREAM_END);
	CHECK_EQ_U64(z.total_out, plain->len);
	CHECK(z.avail_in == 0);
	CHECK(memcmp(out, plain->data, plain->len) == 0);
	inflateEnd(&z);
	free(out);
	free(gz.data);
}

static void test_gzip(void)
{
	struct blob prom, empty = {.data = (char *)"", .len = 0};

	CHECK(render_prom(make_snapshot(GROUP_BY_PID), &prom) == 0);
	check_gunzip(&prom);
	check_gunzip(&empty);
	free(prom.data);
}

/* Render a query, parse it back, and return the document (the caller decrefs). */
static json_t *query(const struct snapshot *s, const struct json_query *q)
{
	struct blob b;
	json_error_t err;
	json_t *doc;

	if (render_json_processes(s, q, &b) < 0)
		return NULL;
	CHECK(b.len > 0 && b.data[b.len - 1] == '\n');
	doc = json_loadb(b.data, b.len, 0, &err);
	if (!doc)
		fprintf(stderr, "JSON does not parse: %s at %d\n", err.text, err.line);
	free(b.data);
	return doc;
}

/* The query returns exactly these pids, in this order. */
static void check_pids(const struct snapshot *s, const struct json_query q, const uint32_t *want,
		       size_t n_want)
{
	json_t *doc = query(s, &q), *procs = json_object_get(doc, "processes"), *p;
	size_t i;

	CHECK(json_is_array(procs));
	CHECK_EQ_U64(json_array_size(procs), n_want);
	json_array_foreach(procs, i, p)
	{
		if (i < n_want)
			CHECK_EQ_U64(json_integer_value(json_object_get(p, "pid")), want[i]);
	}
	json_decref(doc);
}

#define PIDS(...) \
	(const uint32_t[]){__VA_ARGS__}, sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t)

static void test_json_queries(void)
{
	const struct snapshot *s = make_snapshot(GROUP_BY_PID);

	check_pids(s, (struct json_query){},
		   PIDS(1, 42, 100, 101, 200, 300, 301, 4242, 4243, 4194304));
	check_pids(s, (struct json_query){.sort = JSON_SORT_CPU},
		   PIDS(4194304, 200, 1, 301, 101, 42, 4242, 4243, 300, 100));
	check_pids(s, (struct json_query){.sort = JSON_SORT_SWITCHES},
		   PIDS(200, 1, 42, 101, 4242, 4243, 300, 301, 4194304, 100));
	check_pids(s, (struct json_query){.sort = JSON_SORT_VOLUNTARY},
		   PIDS(200, 1, 4242, 4243, 101, 42, 301, 300, 4194304, 100));
	check_pids(s, (struct json_query){.sort = JSON_SORT_INVOLUNTARY},
		   PIDS(42, 101, 1, 4242, 4243, 300, 301, 4194304, 200, 100));
	check_pids(s, (struct json_query){.top = 3, .sort = JSON_SORT_CPU}, PIDS(4194304, 200, 1));
	check_pids(s, (struct json_query){.top = 2}, PIDS(1, 42));
	check_pids(s, (struct json_query){.top = 100},
		   PIDS(1, 42, 100, 101, 200, 300, 301, 4242, 4243, 4194304));
	check_pids(s, (struct json_query){.pid = 4242}, PIDS(4242));
	check_pids(s, (struct json_query){.comm = "nginx"}, PIDS(4242, 4243));
	/* the substring is matched on the escaped name */
	check_pids(s, (struct json_query){.comm = "\\xfe"}, PIDS(100));
	check_pids(s, (struct json_query){.comm = "\xe6\x97\xa5"}, PIDS(101));
	check_pids(s, (struct json_query){.comm = ""},
		   PIDS(1, 42, 100, 101, 200, 300, 301, 4242, 4243, 4194304));
	check_pids(s, (struct json_query){.comm = "nginx", .sort = JSON_SORT_INVOLUNTARY, .top = 1},
		   PIDS(4242));
	/* "x" is in nginx, and in the escapes of 100 and 200 */
	check_pids(s, (struct json_query){.comm = "x", .sort = JSON_SORT_CPU, .top = 3},
		   PIDS(200, 4242, 4243));
	check_pids(s, (struct json_query){.pid = 4243, .comm = "nginx"}, PIDS(4243));

	/* empty results */
	check_pids(s, (struct json_query){.pid = 99999}, NULL, 0);
	check_pids(s, (struct json_query){.pid = 4243, .comm = "systemd"}, NULL, 0);
	check_pids(s, (struct json_query){.comm = "no such process"}, NULL, 0);
}

static void test_json_document(void)
{
	struct snapshot *s = make_snapshot(GROUP_BY_PID);
	struct json_query q = {.pid = 42};
	json_t *doc, *p, *t;
	struct blob b, status, combined;

	CHECK(render_json_processes(s, NULL, &b) == 0);
	check_golden("processes.json", &b);
	CHECK(contains(&b, "\"cpu_seconds\":0.53,")); /* no 0.53000000000000003 */
	CHECK(contains(&b, "\"comm\":\"\\\\xff\\\\xfe bad\""));
	free(b.data);
	q = (struct json_query){.sort = JSON_SORT_SWITCHES, .top = 3, .comm = "a"};
	CHECK(render_json_processes(s, &q, &combined) == 0);
	check_golden("processes-query.json", &combined);
	free(combined.data);
	CHECK(render_json_status(s, &status) == 0);
	check_golden("status.json", &status);

	q = (struct json_query){.pid = 42};
	doc = query(s, &q);
	CHECK(json_is_real(json_object_get(doc, "timestamp")));
	CHECK(json_real_value(json_object_get(doc, "timestamp")) == 1764000123.456);
	CHECK(json_is_real(json_object_get(doc, "interval_seconds")));
	CHECK_STREQ(json_string_value(json_object_get(doc, "attach_mode")), "tp_btf");
	p = json_array_get(json_object_get(doc, "processes"), 0);
	CHECK_EQ_U64(json_integer_value(json_object_get(p, "pid")), 42);
	CHECK_STREQ(json_string_value(json_object_get(p, "comm")), "a\"b\\c\nd");
	t = json_object_get(p, "context_switches");
	CHECK_EQ_U64(json_integer_value(json_object_get(t, "voluntary")), 10);
	CHECK_EQ_U64(json_integer_value(json_object_get(t, "involuntary")), 300);
	CHECK(json_real_value(json_object_get(p, "cpu_seconds")) == 0.53);
	t = json_object_get(p, "rates");
	CHECK(json_is_real(json_object_get(t, "context_switches_per_second")));
	CHECK(json_is_real(json_object_get(t, "cpu_utilization")));
	t = json_object_get(doc, "totals");
	CHECK_EQ_U64(json_integer_value(
			     json_object_get(json_object_get(t, "context_switches"), "voluntary")),
		     10000);
	CHECK_EQ_U64(json_integer_value(json_object_get(json_object_get(t, "context_switches"),
							"involuntary")),
		     2000);
	CHECK(json_real_value(json_object_get(t, "cpu_seconds")) == 987.654321987);
	CHECK_EQ_U64(json_integer_value(json_object_get(t, "processes_exited")), 30);
	json_decref(doc);

	doc = json_loadb(status.data, status.len, 0, NULL);
	CHECK(doc);
	CHECK_STREQ(json_string_value(json_object_get(doc, "version")), "0.1.0");
	CHECK_STREQ(json_string_value(json_object_get(doc, "kernel_release")), "6.1.0-test-amd64");
	CHECK_STREQ(json_string_value(json_object_get(doc, "attach_mode")), "tp_btf");
	CHECK(fabs(json_real_value(json_object_get(doc, "uptime_seconds")) - 123.206) < 1e-6);
	CHECK_EQ_U64(json_integer_value(json_object_get(doc, "map_capacity")), 32768);
	CHECK_EQ_U64(json_integer_value(json_object_get(doc, "map_entries")), 12);
	CHECK(json_real_value(json_object_get(doc, "map_fill_ratio")) == 12.0 / 32768);
	CHECK_EQ_U64(json_integer_value(json_object_get(doc, "map_update_failures")), 3);
	t = json_object_get(doc, "bpf_map_memory_bytes");
	CHECK_EQ_U64(json_object_size(t), 3);
	CHECK_EQ_U64(json_integer_value(json_object_get(t, "counts")), 5767168);
	CHECK_EQ_U64(json_integer_value(json_object_get(t, "re\"na\\mes\n")), 331776);
	CHECK_EQ_U64(json_integer_value(json_object_get(doc, "processes_seen")), 40);
	CHECK_EQ_U64(json_integer_value(json_object_get(doc, "processes_exited")), 30);
	CHECK_EQ_U64(json_integer_value(json_object_get(doc, "aggregations")), 123);
	CHECK_EQ_U64(json_integer_value(json_object_get(doc, "aggregation_failures")), 1);
	CHECK(json_is_true(json_object_get(doc, "bpf_stats_enabled")));
	CHECK_EQ_U64(json_integer_value(json_object_get(doc, "bpf_program_runs")), 123456789);
	CHECK(json_real_value(json_object_get(doc, "bpf_program_run_seconds")) == 14.000000123);
	CHECK_EQ_U64(json_integer_value(json_object_get(doc, "series_dropped")), 2);
	CHECK(json_is_real(json_object_get(doc, "last_aggregation_timestamp")));
	CHECK(json_is_real(json_object_get(doc, "last_aggregation_duration_seconds")));
	json_decref(doc);
	free(status.data);

	/* nothing to show: still a whole document */
	s->n_procs = 0;
	s->n_series = 0;
	doc = query(s, NULL);
	CHECK(json_is_array(json_object_get(doc, "processes")));
	CHECK_EQ_U64(json_array_size(json_object_get(doc, "processes")), 0);
	CHECK(json_is_object(json_object_get(doc, "totals")));
	json_decref(doc);
	CHECK(render_prom(s, &b) == 0);
	check_promtool(&b);
	free(b.data);
}

/* 10k processes, a few hostile, everything rendered; no timing here. */
static void test_many(void)
{
	const size_t n = 10000;
	struct snapshot_proc *sp = calloc(n, sizeof(*sp));
	struct snapshot_series *ss = calloc(n, sizeof(*ss));
	struct snapshot s = {.n_ref = 1, .timestamp = 1764000123.456};
	struct json_query q = {.top = 10, .sort = JSON_SORT_CPU};
	struct blob prom, om, json, top, gz;
	size_t lines = 0;
	json_t *doc;

	CHECK(sp && ss);
	if (!sp || !ss)
		goto out;
	fill_info(&s.info);
	for (size_t i = 0; i < n; i++) {
		char raw[16];

		snprintf(raw, sizeof(raw), i % 7 ? "worker-%zu" : "w\"\xff\n%zu", i);
		sp[i] = (struct snapshot_proc){.pid = 1000 + i,
					       .c = {i * 3, i, i * 1234567, i * 1000}};
		escape_comm(raw, sizeof(raw), sp[i].comm, sizeof(sp[i].comm));
		ss[i] = (struct snapshot_series){.pid = sp[i].pid, .c = sp[i].c};
		memcpy(ss[i].comm, sp[i].comm, sizeof(ss[i].comm));
	}
	s.procs = sp;
	s.n_procs = s.n_series = n;
	s.series = ss;

	CHECK(render_prom(&s, &prom) == 0);
	CHECK(render_openmetrics(&s, &om) == 0);
	CHECK(render_json_processes(&s, NULL, &json) == 0);
	CHECK(render_json_processes(&s, &q, &top) == 0);
	CHECK(render_gzip(&prom, &gz) == 0);
	for (const char *p = prom.data;
	     (p = memmem(p, prom.data + prom.len - p, "\nrawtpd_process_", 16)); p++)
		lines++;
	CHECK_EQ_U64(lines, 4 * n); /* two switch series, CPU, wait */
	check_gunzip(&prom);
	check_promtool_pieces(&prom);
	doc = json_loadb(json.data, json.len, 0, NULL);
	CHECK_EQ_U64(json_array_size(json_object_get(doc, "processes")), n);
	json_decref(doc);
	doc = json_loadb(top.data, top.len, 0, NULL);
	CHECK_EQ_U64(json_integer_value(json_object_get(
			     json_array_get(json_object_get(doc, "processes"), 0), "pid")),
		     1000 + n - 1);
	json_decref(doc);
	free(prom.data);
	free(om.data);
	free(json.data);
	free(top.data);
	free(gz.data);
out:
	free(sp);
	free(ss);
}

/* group_by = unit: the group families, the latency histogram and the preemption pairs. */
static void test_groups(void)
{
	static struct group gs[2];
	static struct group_pair pairs[] = {{.victim = 1, .by = 0, .count = 7}};
	static struct groups_view v = {.n_ref = 1, .by = GROUP_BY_UNIT, .latency = true};
	static struct snapshot_series ss[2];
	struct snapshot *s = make_snapshot(GROUP_BY_UNIT);
	static const char hostile_path[] = "/system.slice/we\"ird\\\xc0\n.service";
	struct blob prom, om, js;
	json_t *doc;

	CHECK(cgroup_path_labels("/system.slice/web.service", 25, &gs[0].cg) == 0);
	CHECK(cgroup_path_labels(hostile_path, sizeof(hostile_path) - 1, &gs[1].cg) == 0);
	gs[0].cg.cgroup[0] = 0; /* grouped by unit: no path */
	gs[1].cg.cgroup[0] = 0;
	gs[0].c = (struct counters){10, 2, 3000000000, 500000000};
	gs[1].c = (struct counters){4, 9, 1000000000, 2000000000};
	gs[1].delta = (struct counters){1, 1, 100000000, 500000000};
	gs[1].hist[0] = 2;  /* under 1.024 us */
	gs[1].hist[12] = 5; /* 2.097 ms to 4.194 ms */
	gs[1].hist[23] = 1; /* over 4.29 s */
	gs[1].hist_count = 8;
	gs[1].hist_sum = 1500000000; /* the waits' total, from the same slots as the buckets */
	v.groups = gs;
	v.n_groups = 2;
	v.pairs = pairs;
	v.n_pairs = 1;
	v.other_preemptions = 3;
	v.preemptions = 10;
	for (int i = 0; i < 2; i++)
		ss[i] = (struct snapshot_series){.c = gs[i].c, .cg = &gs[i].cg, .group = &gs[i]};
	s->series = ss;
	s->n_series = 2;
	s->groups[0] = &v;
	s->rate_s = 1.0;

	CHECK(render_prom(s, &prom) == 0);
	CHECK(render_openmetrics(s, &om) == 0);
	check_golden("metrics-unit.prom", &prom);
	check_golden("metrics-unit.om", &om);
	CHECK(contains(&prom, "\nrawtpd_process_cpu_seconds_total{unit=\"web.service\"} 3\n"));
	CHECK(contains(&prom, "\nrawtpd_process_context_switches_total{unit=\"we\\\"ird\\\\\\\\xc0"
			      "\\n.service\",type=\"involuntary\"} 9\n"));
	CHECK(contains(&prom, "# TYPE rawtpd_run_queue_latency_seconds histogram\n"));
	CHECK(contains(&om, "# TYPE rawtpd_run_queue_latency_seconds histogram\n"));
	/* cumulative: 2 below the first bound, 7 by 4.194304 ms, all 8 only at +Inf */
	CHECK(contains(&prom, "{unit=\"web.service\",le=\"1.024e-06\"} 0\n"));
	CHECK(contains(&prom, "\\n.service\",le=\"1.024e-06\"} 2\n"));
	CHECK(contains(&prom, "\\n.service\",le=\"0.004194304\"} 7\n"));
	CHECK(contains(&prom, "\\n.service\",le=\"4.294967296\"} 7\n"));
	CHECK(contains(&prom, "\\n.service\",le=\"+Inf\"} 8\n"));
	CHECK(contains(&prom, "rawtpd_run_queue_latency_seconds_sum{unit=\"web.service\"} 0\n"));
	CHECK(contains(&prom, "\\n.service\"} 1.5\n"));
	CHECK(contains(&prom, "rawtpd_run_queue_latency_seconds_count{unit=\"web.service\"} 0\n"));
	CHECK(contains(&prom, "\\n.service\",by_unit=\"web.service\"} 7\n"));
	CHECK(contains(&prom,
		       "rawtpd_preemptions_total{unit=\"[other]\",by_unit=\"[other]\"} 3\n"));
	CHECK(contains(&om, "# TYPE rawtpd_preemptions counter\n"));
	CHECK(!contains(&prom, "pid=\""));
	check_promtool(&prom);
	check_python_hist("prom", &prom);
	check_python_hist("om", &om);

	/* the median of 8: rank 4 falls in bucket 12, 2 in, 5 there: 2^21 + 2^21 * 2/5 ns */
	CHECK(fabs(render_hist_quantile(gs[1].hist, 8, 0.5) - (2097152 + 2097152 * 0.4) / 1e9) <
	      1e-12);
	CHECK(fabs(render_hist_quantile(gs[1].hist, 8, 1.0) - 4.294967296) < 1e-9);
	CHECK(isnan(render_hist_quantile(gs[0].hist, 0, 0.5)));
	CHECK(render_json_groups(
		      s, &(struct json_groups_query){.by = GROUP_BY_UNIT, .sort = JSON_SORT_WAIT},
		      &js) == 0);
	doc = json_loadb(js.data, js.len, 0, NULL);
	CHECK(doc != NULL);
	if (doc) {
		json_t *g0 = json_array_get(json_object_get(doc, "groups"), 0);
		json_t *lat = json_object_get(g0, "run_queue_latency");

		/* the one that waited most in the last interval first, its name escaped */
		CHECK_STREQ(json_string_value(json_object_get(g0, "unit")),
			    "we\"ird\\\\xc0\n.service");
		CHECK_EQ_U64(json_integer_value(json_object_get(lat, "count")), 8);
		CHECK(json_real_value(json_object_get(lat, "p99_seconds")) >=
		      json_real_value(json_object_get(lat, "p50_seconds")));
		CHECK_STREQ(
			json_string_value(json_object_get(
				json_array_get(json_object_get(g0, "preempted_by"), 0), "unit")),
			"web.service");
		CHECK(json_is_null(json_object_get(
			json_array_get(json_object_get(doc, "groups"), 1), "user_unit")));
		CHECK_EQ_U64(json_integer_value(json_object_get(doc, "preemptions_other")), 3);
		json_decref(doc);
	}
	free(js.data);
	/* no groups by cgroup in this snapshot (as without a cgroup2 hierarchy) */
	CHECK(render_json_groups(s, &(struct json_groups_query){.by = GROUP_BY_CGROUP}, &js) ==
	      -ENOENT);
	s->groups[0] = NULL;
	free(gs[0].cg.cgroup);
	free(gs[1].cg.cgroup);
	free(prom.data);
	free(om.data);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_prom(GROUP_BY_PID);
	test_prom(GROUP_BY_COMM);
	test_groups();
	test_gzip();
	test_json_queries();
	test_json_document();
	test_many();
	TEST_DONE();
}
