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
