// SPDX-License-Identifier: GPL-2.0-only
/*
 * JSON views of a snapshot. render_json_processes() also runs for each /api/v1/processes
 * request with a query, on the HTTP threads: it only reads the snapshot and sorts a private
 * array of pointers into it.
 *
 * The process list is written by hand: with jansson, 10k processes took 44 ms of CPU here (an
 * object, a hash table and a few small allocations per value, then printf for every real), by
 * hand 1.2 ms, with exact figures. CPU seconds are printed from the nanosecond counts ("0.53",
 * never "0.53000000000000003"), rates rounded to nine decimals, both always with a decimal
 * point, as jansson writes reals. The small status document is built with jansson.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "render-buf.h"
#include "render-json.h"
#include "util.h"

/*
 * s as a JSON string. escape_comm() first, so it is valid UTF-8 whatever s holds (a no-op on
 * names already escaped), then RFC 8259's quoting.
 */
static void put_text(struct render_buf *b, const char *text, size_t n);

static void put_string(struct render_buf *b, const char *s, size_t max)
{
	char text[256];
	size_t n = escape_comm(s, max, text, max < sizeof(text) ? max : sizeof(text));

	put_text(b, text, n);
}

/* n bytes of valid UTF-8 as a JSON string, with RFC 8259's quoting. */
static void put_text(struct render_buf *b, const char *text, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *p;

	if (!render_buf_reserve(b, 2 + 6 * n))
		return;
	p = b->data + b->len;
	*p++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = text[i];

		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = c;
		} else if (c >= 0x20) {
			*p++ = c;
		} else if (c == '\n') {
			*p++ = '\\';
			*p++ = 'n';
		} else if (c == '\t') {
			*p++ = '\\';
			*p++ = 't';
		} else if (c == '\r') {
			*p++ = '\\';
			*p++ = 'r';
		} else {
			memcpy(p, "\\u00", 4);
			p[4] = hex[c >> 4];
			p[5] = hex[c & 0xf];
			p += 6;
		}
	}
	*p++ = '"';
	b->len = p - b->data;
}

/* A real in the shortest form that reads back as d, with a decimal point; null if not finite. */
static void put_real(struct render_buf *b, double d)
{
	char buf[40];
	int n;

	if (!isfinite(d)) {
		render_buf_put_lit(b, "null");
		return;
	}
	n = render_format_double(buf, sizeof(buf) - 2, d);
	if (!strpbrk(buf, ".e")) {
		memcpy(buf + n, ".0", 2);
		n += 2;
	}
	render_buf_put(b, buf, n);
}

/* A rate, rounded to nine decimals: a billionth of a CPU, or of a switch per second. */
static void put_rate(struct render_buf *b, double d)
{
	if (d >= 0 && d < 9e9)
		render_buf_put_ns_seconds(b, (uint64_t)(d * 1e9 + 0.5), true);
	else
		put_real(b, d);
}

static void put_switches(struct render_buf *b, const struct counters *c)
{
	render_buf_put_lit(b, "{\"voluntary\":");
	render_buf_put_u64(b, c->voluntary);
	render_buf_put_lit(b, ",\"involuntary\":");
	render_buf_put_u64(b, c->involuntary);
	render_buf_put_lit(b, "}");
}

/* A label as a JSON string, or null when empty or unknown. */
static void put_label(struct render_buf *b, const char *key, const char *v)
{
	render_buf_put_str(b, key);
	if (v && v[0]) /* escaped already (cgroup.h), and of any length */
		put_text(b, v, strlen(v));
	else
		render_buf_put_lit(b, "null");
}

/* Where the process runs: "cgroup", "unit", "user_unit", "container_id", "pod_uid". */
static void put_cgroup(struct render_buf *b, const struct cgroup_labels *cg)
{
	put_label(b, ",\"cgroup\":", cg ? cg->cgroup : NULL);
	put_label(b, ",\"unit\":", cg ? cg->unit : NULL);
	put_label(b, ",\"user_unit\":", cg ? cg->user_unit : NULL);
	put_label(b, ",\"container_id\":", cg ? cg->container_id : NULL);
	put_label(b, ",\"pod_uid\":", cg ? cg->pod_uid : NULL);
}

static void put_process(struct render_buf *b, const struct snapshot_proc *p)
{
	render_buf_put_lit(b, "{\"pid\":");
	render_buf_put_u64(b, p->pid);
	render_buf_put_lit(b, ",\"comm\":");
	put_string(b, p->comm, sizeof(p->comm));
	put_cgroup(b, p->cg);
	render_buf_put_lit(b, ",\"context_switches\":");
	put_switches(b, &p->c);
	render_buf_put_lit(b, ",\"cpu_seconds\":");
	render_buf_put_ns_seconds(b, p->c.runtime_ns, true);
	render_buf_put_lit(b, ",\"run_queue_wait_seconds\":");
	render_buf_put_ns_seconds(b, p->c.run_delay_ns, true);
	render_buf_put_lit(b, ",\"rates\":{\"context_switches_per_second\":");
	put_rate(b, p->switches_per_second);
	render_buf_put_lit(b, ",\"cpu_utilization\":");
	put_rate(b, p->cpu_utilization);
	render_buf_put_lit(b, ",\"run_queue_wait_share\":");
	put_rate(b, p->run_queue_wait_share);
	render_buf_put_lit(b, "}}");
}

static uint64_t sort_key(const struct snapshot_proc *p, enum json_sort sort)
{
	switch (sort) {
	case JSON_SORT_CPU:
		return p->c.runtime_ns;
	case JSON_SORT_SWITCHES:
		return p->c.voluntary + p->c.involuntary;
	case JSON_SORT_VOLUNTARY:
		return p->c.voluntary;
	case JSON_SORT_INVOLUNTARY:
		return p->c.involuntary;
	case JSON_SORT_WAIT:
		return p->c.run_delay_ns;
	default:
		return 0;
	}
}

/* Descending by the sort key, then by pid ascending (all keys 0 for JSON_SORT_PID). */
static int proc_cmp(const void *a, const void *b, void *userdata)
{
	const struct snapshot_proc *x = *(const struct snapshot_proc *const *)a;
	const struct snapshot_proc *y = *(const struct snapshot_proc *const *)b;
	enum json_sort sort = *(const enum json_sort *)userdata;
	uint64_t kx = sort_key(x, sort), ky = sort_key(y, sort);

	if (kx != ky)
		return kx > ky ? -1 : 1;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

static bool matches(const struct snapshot_proc *p, const struct json_query *q)
{
	return (q->pid == 0 || p->pid == q->pid) && (!q->comm || strstr(p->comm, q->comm));
}

/* The bytes put_label() writes for v beyond a null's (escaping aside). */
static size_t label_len(const char *v)
{
	return v && v[0] ? strlen(v) : 0;
}

int render_json_processes_into(const struct snapshot *s, const struct json_query *q,
			       struct blob *buf)
{
	static const struct json_query all = {.sort = JSON_SORT_PID};
	_cleanup_free_ const struct snapshot_proc **v = NULL;
	struct render_buf b = render_buf_reuse(buf);
	size_t n = 0, size = 512;

	if (!q)
		q = &all;

	if (s->n_procs > 0) {
		v = malloc(s->n_procs * sizeof(*v));
		if (!v) {
			free(buf->data);
			*buf = (struct blob){};
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < s->n_procs; i++)
		if (matches(&s->procs[i], q))
			v[n++] = &s->procs[i];
	if (n > 1)
		qsort_r(v, n, sizeof(*v), proc_cmp, (void *)&q->sort);
	if (q->top > 0 && n > q->top)
		n = q->top;

	/* a little more than it takes (about 320 bytes a process with no cgroup labels) */
	for (size_t i = 0; i < n; i++) {
		const struct cgroup_labels *cg = v[i]->cg;

		size += 360 + strlen(v[i]->comm);
		if (cg)
			size += label_len(cg->cgroup) + label_len(cg->unit) +
				label_len(cg->user_unit) + label_len(cg->container_id) +
				label_len(cg->pod_uid);
	}
	render_buf_reserve(&b, size);

	render_buf_put_lit(&b, "{\"timestamp\":");
	put_real(&b, s->timestamp);
	render_buf_put_lit(&b, ",\"interval_seconds\":");
	put_real(&b, s->info.interval_s);
	render_buf_put_lit(&b, ",\"attach_mode\":");
	if (s->info.attach_mode)
		put_string(&b, s->info.attach_mode, SIZE_MAX);
	else
		render_buf_put_lit(&b, "null");
	render_buf_put_lit(&b, ",\"processes\":[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			render_buf_put_lit(&b, ",");
		put_process(&b, v[i]);
	}
	render_buf_put_lit(&b, "],\"totals\":{\"context_switches\":");
	put_switches(&b, &s->totals);
	render_buf_put_lit(&b, ",\"cpu_seconds\":");
	render_buf_put_ns_seconds(&b, s->totals.runtime_ns, true);
	render_buf_put_lit(&b, ",\"run_queue_wait_seconds\":");
	render_buf_put_ns_seconds(&b, s->totals.run_delay_ns, true);
	render_buf_put_lit(&b, ",\"processes_exited\":");
	render_buf_put_u64(&b, s->processes_exited);
	/* a final newline, so that curl leaves the prompt alone */
	render_buf_put_lit(&b, "}}\n");

	return render_buf_finish(&b, buf);
}

int render_json_processes(const struct snapshot *s, const struct json_query *q, struct blob *ret)
{
	*ret = (struct blob){};
	return render_json_processes_into(s, q, ret);
}

/*
 * The status document, with jansson. Reals are dumped with 15 significant digits: enough for
 * every figure here, and free of the noise 17 would show (0.53000000000000003).
 */
#define STATUS_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* json_decrefp() comes with jansson (2.9 and later, with GCC or clang) */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* Reference-stealing setter; a NULL value (a failed constructor) is a failure too. */
static bool set(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new_nocheck(o, key, v) == 0;
}

/* A string that is valid UTF-8 whatever s holds: escape_comm() (a no-op on escaped names). */
static json_t *text(const char *s, size_t max)
{
	char buf[256];
	size_t n;

	if (!s)
		return json_null();
	n = escape_comm(s, max, buf, max < sizeof(buf) ? max : sizeof(buf));
	return json_stringn_nocheck(buf, n);
}

/* json_real() refuses what JSON cannot spell */
static json_t *real(double d)
{
	return isfinite(d) ? json_real(d) : json_null();
}

static json_t *ns_seconds(uint64_t ns)
{
	return json_real((double)ns / 1e9);
}

/* {"counts": bytes, ...}: each map's memlock, by its name (escaped like a process name). */
static json_t *map_memory(const struct snapshot_info *in)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < in->n_map_memory; i++) {
		const struct snapshot_map_memory *m = &in->map_memory[i];
		char name[4 * sizeof(m->name)];

		escape_comm(m->name, sizeof(m->name), name, sizeof(name));
		if (json_object_set_new(o, name, json_integer((json_int_t)m->bytes)) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static int dump_cb(const char *buffer, size_t size, void *userdata)
{
	struct render_buf *b = userdata;

	render_buf_put(b, buffer, size);
	return b->oom ? -1 : 0;
}

int render_json_status(const struct snapshot *s, struct blob *ret)
{
	const struct snapshot_info *in = &s->info;
	_cleanup_json_ json_t *root = json_object();
	/* to the microsecond: the difference of two epoch times carries noise below that */
	double uptime = round((s->timestamp - in->start_time) * 1e6) / 1e6;
	struct render_buf b = {};
	double fill = in->map_capacity ? (double)in->map_entries / (double)in->map_capacity : 0;

	if (!root || !set(root, "version", text(in->version, SIZE_MAX)) ||
	    !set(root, "libbpf_version", text(in->libbpf_version, SIZE_MAX)) ||
	    !set(root, "kernel_release", text(in->kernel_release, sizeof(in->kernel_release))) ||
	    !set(root, "attach_mode", text(in->attach_mode, SIZE_MAX)) ||
	    !set(root, "data_path", text(in->data_path, SIZE_MAX)) ||
	    !set(root, "data_path_reason", text(in->data_path_reason, SIZE_MAX)) ||
	    !set(root, "counting_latency", json_boolean(s->groups[0] && s->groups[0]->latency)) ||
	    !set(root, "preemptions_lost", json_integer((json_int_t)in->preemptions_lost)) ||
	    !set(root, "interval_seconds", real(in->interval_s)) ||
	    !set(root, "start_time", real(in->start_time)) ||
	    !set(root, "uptime_seconds", real(uptime > 0 ? uptime : 0)) ||
	    !set(root, "map_capacity", json_integer(in->map_capacity)) ||
	    !set(root, "map_entries", json_integer(in->map_entries)) ||
	    !set(root, "map_fill_ratio", real(fill)) ||
	    !set(root, "map_update_failures", json_integer(in->map_update_failures)) ||
	    !set(root, "bpf_map_memory_bytes", map_memory(in)) ||
	    !set(root, "processes_live", json_integer(s->n_procs)) ||
	    !set(root, "processes_seen", json_integer(in->processes_seen)) ||
	    !set(root, "processes_exited", json_integer(s->processes_exited)) ||
	    !set(root, "series", json_integer(s->n_series)) ||
	    !set(root, "series_dropped", json_integer(in->series_dropped)) ||
	    !set(root, "last_aggregation_timestamp", real(s->timestamp)) ||
	    !set(root, "last_aggregation_duration_seconds", real(in->aggregation_duration_s)) ||
	    !set(root, "last_collect_duration_seconds", real(in->collect_duration_s)) ||
	    !set(root, "aggregations", json_integer(in->aggregations)) ||
	    !set(root, "aggregation_failures", json_integer(in->aggregation_failures)) ||
	    !set(root, "bpf_stats_enabled", json_boolean(in->bpf_stats_enabled)) ||
	    !set(root, "bpf_program_runs", json_integer(in->prog_run_cnt)) ||
	    !set(root, "bpf_program_run_seconds", ns_seconds(in->prog_run_time_ns)))
		return -ENOMEM;

	if (json_dump_callback(root, dump_cb, &b, STATUS_DUMP_FLAGS) < 0)
		b.oom = true;
	render_buf_put_lit(&b, "\n");
	return render_buf_finish(&b, ret);
}

double render_hist_quantile(const uint64_t hist[GROUPS_HIST_BUCKETS], uint64_t count, double q)
{
	double rank = q * (double)count, cum = 0;

	if (!count)
		return NAN;
	for (int k = 0; k < GROUPS_HIST_BUCKETS; k++) {
		double lo = k ? (double)(1ull << (9 + k)) : 0, hi = (double)(1ull << (10 + k));

		if (!hist[k] || cum + (double)hist[k] < rank) {
			cum += (double)hist[k];
			continue;
		}
		if (k == GROUPS_HIST_FINITE) /* +Inf: the highest finite bound, as Prometheus */
			return (double)(1ull << (9 + k)) / 1e9;
		return (lo + (hi - lo) * (rank - cum) / (double)hist[k]) / 1e9;
	}
	return (double)(1ull << (9 + GROUPS_HIST_FINITE)) / 1e9;
}

static json_t *label_or_null(const char *v)
{
	return v && v[0] ? json_string(v) : json_null();
}

static json_t *group_labels(const struct cgroup_labels *cg, enum group_by by)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (by == GROUP_BY_CGROUP)
		json_object_set_new(o, "cgroup", label_or_null(cg->cgroup));
	json_object_set_new(o, "unit", label_or_null(cg->unit));
	json_object_set_new(o, "user_unit", label_or_null(cg->user_unit));
	json_object_set_new(o, "container_id", label_or_null(cg->container_id));
	json_object_set_new(o, "pod_uid", label_or_null(cg->pod_uid));
	return o;
}

/* The groups that preempted group i most (and those i preempted), the largest first. */
static json_t *group_preemptors(const struct groups_view *v, size_t i, bool by_them)
{
	json_t *a = json_array();

	for (size_t k = 0; a && k < v->n_pairs && json_array_size(a) < 5; k++) {
		const struct group_pair *p = &v->pairs[k];
		uint32_t me = by_them ? p->victim : p->by, other = by_them ? p->by : p->victim;
		json_t *o;

		if (me != i)
			continue;
		o = group_labels(&v->groups[other].cg, v->by);
		if (o)
			json_object_set_new(o, "preemptions", json_integer((json_int_t)p->count));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *group_json(const struct snapshot *s, const struct groups_view *v, size_t i)
{
	const struct group *g = &v->groups[i];
	json_t *o = group_labels(&g->cg, v->by), *sw, *r, *lat;
	double dt = s->rate_s;

	if (!o)
		return NULL;
	sw = json_pack("{sI sI}", "voluntary", (json_int_t)g->c.voluntary, "involuntary",
		       (json_int_t)g->c.involuntary);
	json_object_set_new(o, "context_switches", sw);
	json_object_set_new(o, "cpu_seconds", json_real((double)g->c.runtime_ns / 1e9));
	json_object_set_new(o, "run_queue_wait_seconds",
			    json_real((double)g->c.run_delay_ns / 1e9));
	json_object_set_new(o, "processes_exited", json_integer((json_int_t)g->exited));
	r = json_pack("{sf sf sf}", "context_switches_per_second",
		      dt > 0 ? (double)counters_switches(&g->delta) / dt : 0.0, "cpu_utilization",
		      dt > 0 ? (double)g->delta.runtime_ns / 1e9 / dt : 0.0, "run_queue_wait_share",
		      dt > 0 ? (double)g->delta.run_delay_ns / 1e9 / dt : 0.0);
	json_object_set_new(o, "rates", r);
	if (v->latency) {
		double p50 = render_hist_quantile(g->hist, g->hist_count, 0.5);
		double p99 = render_hist_quantile(g->hist, g->hist_count, 0.99);

		lat = json_pack("{sI so so}", "count", (json_int_t)g->hist_count, "p50_seconds",
				isfinite(p50) ? json_real(p50) : json_null(), "p99_seconds",
				isfinite(p99) ? json_real(p99) : json_null());
		json_object_set_new(o, "run_queue_latency", lat);
		json_object_set_new(o, "preempted_by", group_preemptors(v, i, true));
		json_object_set_new(o, "preempts", group_preemptors(v, i, false));
	}
	return o;
}

static uint64_t group_key(const struct group *g, enum json_sort sort)
{
	return sort == JSON_SORT_CPU	    ? g->delta.runtime_ns
	       : sort == JSON_SORT_SWITCHES ? counters_switches(&g->delta)
					    : g->delta.run_delay_ns;
}

/* By the last interval's figure, descending, then by the total, then by label order. */
static int group_cmp(const void *a, const void *b, void *userdata)
{
	const struct group *x = *(const struct group *const *)a;
	const struct group *y = *(const struct group *const *)b;
	enum json_sort sort = *(const enum json_sort *)userdata;
	uint64_t kx = group_key(x, sort), ky = group_key(y, sort);

	if (kx != ky)
		return kx > ky ? -1 : 1;
	kx = sort == JSON_SORT_CPU ? x->c.runtime_ns : x->c.run_delay_ns;
	ky = sort == JSON_SORT_CPU ? y->c.runtime_ns : y->c.run_delay_ns;
	if (kx != ky)
		return kx > ky ? -1 : 1;
	return (x > y) - (x < y);
}

int render_json_groups(const struct snapshot *s, const struct json_groups_query *q,
		       struct blob *ret)
{
	const struct groups_view *v = s->groups[q->by == GROUP_BY_CGROUP];
	_cleanup_free_ const struct group **order = NULL;
	json_t *doc, *arr;
	size_t n;
	char *text, *with_nl;

	*ret = (struct blob){};
	if (!v)
		return -ENOENT;
	order = malloc((v->n_groups + 1) * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < v->n_groups; i++)
		order[i] = &v->groups[i];
	qsort_r(order, v->n_groups, sizeof(*order), group_cmp, (void *)&q->sort);
	n = q->top && q->top < v->n_groups ? q->top : v->n_groups;
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, group_json(s, v, (size_t)(order[i] - v->groups)));
	doc = json_pack("{sf sf ss sb so sI sI}", "timestamp", s->timestamp, "interval_seconds",
			s->info.interval_s, "by", q->by == GROUP_BY_CGROUP ? "cgroup" : "unit",
			"latency", v->latency, "groups", arr ?: json_array(), "preemptions",
			(json_int_t)v->preemptions, "preemptions_other",
			(json_int_t)v->other_preemptions);
	if (!doc)
		return -ENOMEM;
	text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(doc);
	if (!text)
		return -ENOMEM;
	n = strlen(text);
	/* a final newline, as the other documents have */
	with_nl = realloc(text, n + 2);
	if (!with_nl) {
		free(text);
		return -ENOMEM;
	}
	memcpy(with_nl + n, "\n", 2);
	*ret = (struct blob){.data = with_nl, .len = n + 1};
	return 0;
}
