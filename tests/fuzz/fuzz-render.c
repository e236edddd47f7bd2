// SPDX-License-Identifier: GPL-2.0-only
/*
 * The output side fed with random process tables: the input is decoded into a few rounds of
 * raw samples (pids that collide and get reused, names of random bytes, renames, processes
 * leaving), each folded by aggregate_update() and published through snapshot_new(), which
 * renders every output. Properties:
 *   - text 0.0.4 and OpenMetrics pass a strict checker (expo-check.c), with every name shown
 *     exactly as the snapshot holds it, and the per-process figures the snapshot's;
 *   - the gzip bodies inflate to the plain ones;
 *   - the JSON documents parse with jansson (which refuses invalid UTF-8), with the same names
 *     as the exposition, and a query's answer is filtered, sorted and cut as asked;
 *   - totals and the exited count never go down from one round to the next.
 */
#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <string.h>
#include <zlib.h>

#include "aggregate.h"
#include "escape.h"
#include "expo-check.h"
#include "fuzz.h"
#include "log.h"
#include "render-json.h"
#include "snapshot.h"

#define MAX_ROUNDS  4
#define MAX_ENTRIES 48
#define N_TGIDS	    32

struct expect {
	const struct snapshot *s;
	size_t n_cpu, n_switches, n_wait; /* per-series samples seen */
};

/* Every per-series sample must carry the series' own labels and figures, in order. */
static bool sample_cb(const struct expo_sample *e, void *userdata)
{
	struct expect *x = userdata;
	const struct snapshot *s = x->s;
	bool by_comm = s->group_by == GROUP_BY_COMM;
	const struct snapshot_series *ser;
	const char *comm = NULL, *pid = NULL, *type = NULL;
	bool cpu = false, wait = false;
	size_t idx;

	for (size_t i = 0; i < e->n_labels; i++) {
		if (!strcmp(e->label_name[i], "comm"))
			comm = e->label_value[i];
		else if (!strcmp(e->label_name[i], "pid"))
			pid = e->label_value[i];
		else if (!strcmp(e->label_name[i], "type"))
			type = e->label_value[i];
	}
	if (!strcmp(e->name, "rawtpd_process_cpu_seconds_total")) {
		idx = x->n_cpu++;
		cpu = true;
	} else if (!strcmp(e->name, "rawtpd_process_run_queue_wait_seconds_total")) {
		idx = x->n_wait++;
		wait = true;
	} else if (!strcmp(e->name, "rawtpd_process_context_switches_total")) {
		idx = x->n_switches++ / 2;
		FUZZ_CHECK(type && !strcmp(type, (x->n_switches & 1) ? "voluntary" : "involuntary"),
			   "switch sample %zu has type %s", x->n_switches, type ?: "(none)");
	} else {
		return true;
	}
	FUZZ_CHECK(idx < s->n_series, "more per-series samples than the %zu series", s->n_series);
	ser = &s->series[idx];
	FUZZ_CHECK(comm && !strcmp(comm, ser->comm), "comm label \"%s\" for \"%s\"", comm ?: "",
		   ser->comm);
	FUZZ_CHECK(by_comm ? !pid
			   : pid && strtoul(pid, NULL, 10) == ser->pid &&
				     strspn(pid, "0123456789") == strlen(pid),
		   "pid label %s for pid %u", pid ?: "(none)", ser->pid);
	if (cpu || wait) {
		uint64_t ns = cpu ? ser->c.runtime_ns : ser->c.run_delay_ns;

		FUZZ_CHECK(e->value == (double)ns / 1e9 || fabs(e->value - (double)ns / 1e9) < 1e-9,
			   "%s %.9f for %llu ns", cpu ? "cpu" : "wait", e->value,
			   (unsigned long long)ns);
	} else {
		uint64_t want = (x->n_switches & 1) ? ser->c.voluntary : ser->c.involuntary;

		FUZZ_CHECK(e->value == (double)want, "switches %.0f, want %llu", e->value,
			   (unsigned long long)want);
	}
	return true;
}

static void check_exposition(const struct snapshot *s, const struct blob *b, bool om)
{
	struct expect x = {.s = s};
	const char *why;
	size_t line;

	why = expo_check(b->data, b->len, om, sample_cb, &x, &line);
	FUZZ_CHECK(!why, "%s line %zu: %s\n%.*s", om ? "OpenMetrics" : "text", line, why,
		   (int)(b->len > 4000 ? 4000 : b->len), b->data);
	FUZZ_CHECK(x.n_cpu == s->n_series && x.n_switches == 2 * s->n_series &&
			   x.n_wait == s->n_series,
		   "%zu cpu, %zu switch and %zu wait samples for %zu series", x.n_cpu, x.n_switches,
		   x.n_wait, s->n_series);
}

static void check_gzip(const struct blob *gz, const struct blob *plain)
{
	z_stream z = {};
	char *out = malloc(plain->len + 1);
	int r;

	FUZZ_CHECK(gz, "no gzip body");
	FUZZ_CHECK(out && inflateInit2(&z, 15 + 16) == Z_OK, "inflateInit2");
	z.next_in = (Bytef *)gz->data;
	z.avail_in = (uInt)gz->len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)plain->len + 1;
	r = inflate(&z, Z_FINISH);
	FUZZ_CHECK(r == Z_STREAM_END && z.total_out == plain->len &&
			   memcmp(out, plain->data, plain->len) == 0 && z.avail_in == 0,
		   "gzip body does not inflate to the plain one (%d)", r);
	inflateEnd(&z);
	free(out);
}

static json_t *parse_json(const struct blob *b)
{
	json_error_t err;
	json_t *j = json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES, &err);

	FUZZ_CHECK(j, "JSON does not parse: %s at %d:%d\n%.*s", err.text, err.line, err.column,
		   (int)(b->len > 4000 ? 4000 : b->len), b->data);
	FUZZ_CHECK(b->len > 0 && b->data[b->len - 1] == '\n', "JSON without a final newline");
	return j;
}

static const struct snapshot_proc *proc_by_pid(const struct snapshot *s, uint32_t pid)
{
	for (size_t i = 0; i < s->n_procs; i++)
		if (s->procs[i].pid == pid)
			return &s->procs[i];
	return NULL;
}

static uint64_t sort_value(const struct snapshot_proc *p, enum json_sort sort)
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

/* A processes document: every entry a process of s, named as s names it, as q asks. */
static void check_processes(const struct snapshot *s, const struct blob *b,
			    const struct json_query *q)
{
	json_t *j = parse_json(b), *procs = json_object_get(j, "processes"), *v;
	const struct snapshot_proc *prev = NULL;
	size_t i, matching = 0;

	FUZZ_CHECK(json_is_array(procs), "no processes array");
	for (size_t k = 0; k < s->n_procs; k++)
		matching += (!q->pid || s->procs[k].pid == q->pid) &&
			    (!q->comm || strstr(s->procs[k].comm, q->comm));
	FUZZ_CHECK(json_array_size(procs) == (q->top && matching > q->top ? q->top : matching),
		   "%zu processes listed, %zu match, top %zu", json_array_size(procs), matching,
		   q->top);
	json_array_foreach(procs, i, v)
	{
		json_int_t pid = json_integer_value(json_object_get(v, "pid"));
		const char *comm = json_string_value(json_object_get(v, "comm"));
		const struct snapshot_proc *p = proc_by_pid(s, (uint32_t)pid);

		FUZZ_CHECK(p, "pid %lld is not in the snapshot", (long long)pid);
		FUZZ_CHECK(comm && !strcmp(comm, p->comm), "comm \"%s\" for \"%s\"", comm ?: "",
			   p->comm);
		FUZZ_CHECK(strlen(comm) == json_string_length(json_object_get(v, "comm")),
			   "NUL inside a comm");
		FUZZ_CHECK((uint64_t)json_integer_value(json_object_get(
				   json_object_get(v, "context_switches"), "voluntary")) ==
				   p->c.voluntary,
			   "voluntary of pid %u", p->pid);
		FUZZ_CHECK((!q->pid || p->pid == q->pid) && (!q->comm || strstr(p->comm, q->comm)),
			   "pid %u does not match the query", p->pid);
		if (prev) {
			uint64_t a = sort_value(prev, q->sort), c = sort_value(p, q->sort);

			FUZZ_CHECK(a > c || (a == c && prev->pid < p->pid),
				   "order: pid %u (%llu) before pid %u (%llu)", prev->pid,
				   (unsigned long long)a, p->pid, (unsigned long long)c);
		}
		prev = p;
	}
	json_decref(j);
}

static void check_status(const struct snapshot *s, const struct blob *b)
{
	json_t *j = parse_json(b);
	const char *kr = json_string_value(json_object_get(j, "kernel_release"));
	char want[sizeof(s->info.kernel_release) * 4];

	escape_comm(s->info.kernel_release, sizeof(s->info.kernel_release), want, sizeof(want));
	/* the text form of a release (ASCII from uname) is cut to the field's size if it must be */
	FUZZ_CHECK(kr && !strncmp(kr, want, strlen(kr)) &&
			   strlen(kr) + 4 >=
				   strlen(want) -
					   (strlen(want) > sizeof(s->info.kernel_release) - 1
						    ? strlen(want) -
							      (sizeof(s->info.kernel_release) - 1)
						    : 0),
		   "kernel_release \"%s\", want \"%s\"", kr ?: "", want);
	FUZZ_CHECK((size_t)json_integer_value(json_object_get(j, "processes_live")) == s->n_procs,
		   "processes_live");
	json_decref(j);
}

static void read_comm(struct fuzz_input *in, char comm[COMM_RAW_LEN])
{
	memset(comm, 0, COMM_RAW_LEN);
	fuzz_bytes(in, comm, fuzz_u8(in) % COMM_RAW_LEN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	struct agg_state st;
	struct config cfg;
	struct snapshot_info info = {.version = "0.1.0",
				     .libbpf_version = "v1.1",
				     .attach_mode = "tp_btf",
				     .interval_s = 1.0,
				     .map_capacity = 64};
	struct counters prev_totals = {};
	uint64_t prev_exited = 0;
	uint8_t flags = fuzz_u8(&in);
	unsigned rounds = 1 + fuzz_u8(&in) % MAX_ROUNDS;
	int r;

	log_set_max_level(LOG_EMERG);
	aggregate_init(&st);
	config_init(&cfg);
	cfg.group_by = flags & 1 ? GROUP_BY_COMM : GROUP_BY_PID;
	if (flags & 2)
		cfg.max_series = 1 + fuzz_u8(&in) % 16;
	if (flags & 4) {
		cfg.include_comm = strdup("^[a-m\\\\]");
		cfg.has_include_re =
			regcomp(&cfg.include_re, cfg.include_comm, REG_EXTENDED | REG_NOSUB) == 0;
	}
	if (flags & 8) {
		cfg.exclude_comm = strdup("x|\"");
		cfg.has_exclude_re =
			regcomp(&cfg.exclude_re, cfg.exclude_comm, REG_EXTENDED | REG_NOSUB) == 0;
	}
	fuzz_bytes(&in, info.kernel_release, sizeof(info.kernel_release) - 1);

	for (unsigned round = 0; round < rounds; round++) {
		struct sample_entry entries[MAX_ENTRIES];
		struct sample_rename renames[4];
		uint32_t live[N_TGIDS];
		uint32_t live_bits = fuzz_u32(&in, 4);
		struct sample smp = {.entries = entries, .live = live, .renames = renames};
		struct agg_key *dead = NULL;
		struct snapshot *s = NULL;
		struct counters t;
		size_t n_dead = 0;

		smp.n_entries = fuzz_u8(&in) % MAX_ENTRIES;
		for (size_t i = 0; i < smp.n_entries; i++) {
			struct sample_entry *e = &entries[i];

			*e = (struct sample_entry){0}; /* fields the input does not set stay zero */
			/* few tgids and start times: collisions, reuse and supersession happen */
			e->tgid = 1 + fuzz_u8(&in) % N_TGIDS;
			e->start_ns = fuzz_u8(&in) % 4;
			e->c.voluntary = fuzz_u32(&in, 2) + (uint64_t)round * 65536;
			e->c.involuntary = fuzz_u8(&in);
			e->c.runtime_ns = (uint64_t)fuzz_u32(&in, 3) * 1000 * (round + 1);
			/* derived, so that the corpus reads as before */
			e->c.run_delay_ns = e->c.runtime_ns / 3 + e->c.involuntary * 1000;
			read_comm(&in, e->comm);
		}
		for (uint32_t t32 = 0; t32 < N_TGIDS; t32++)
			if (live_bits & (1u << t32))
				live[smp.n_live++] = t32 + 1;
		smp.n_renames = fuzz_u8(&in) % 5;
		for (size_t i = 0; i < smp.n_renames; i++) {
			renames[i].tgid = 1 + fuzz_u8(&in) % N_TGIDS;
			renames[i].start_ns = fuzz_u8(&in) % 4;
			read_comm(&in, renames[i].comm);
		}
		smp.mono_ns = (uint64_t)(round + 1) * 1000000000;
		smp.map_update_failures = fuzz_u8(&in);

		r = aggregate_update(&st, &smp, &dead, &n_dead);
		FUZZ_CHECK(r == 0, "aggregate_update: %d", r);
		free(dead);
		for (size_t i = 0; i < st.n_procs; i++) {
			FUZZ_CHECK(expo_utf8_valid(st.procs[i].comm, strlen(st.procs[i].comm)),
				   "process name not UTF-8 after aggregation");
			FUZZ_CHECK(i == 0 || st.procs[i - 1].tgid < st.procs[i].tgid,
				   "two live processes with tgid %u", st.procs[i].tgid);
		}

		info.aggregations = round + 1;
		r = snapshot_new(&st, &info, &cfg, smp.mono_ns, 1764000000.0 + round, &s);
		FUZZ_CHECK(r == 0, "snapshot_new: %d", r);

		t = s->totals;
		FUZZ_CHECK(t.voluntary >= prev_totals.voluntary &&
				   t.involuntary >= prev_totals.involuntary &&
				   t.runtime_ns >= prev_totals.runtime_ns &&
				   t.run_delay_ns >= prev_totals.run_delay_ns &&
				   s->processes_exited >= prev_exited,
			   "a total went down in round %u", round);
		prev_totals = t;
		prev_exited = s->processes_exited;

		const struct blob *prom = snapshot_body(s, BODY_PROM);
		const struct blob *om = snapshot_body(s, BODY_OPENMETRICS);
		const struct blob *json = snapshot_body(s, BODY_JSON);
		const struct blob *status = snapshot_body(s, BODY_STATUS);

		FUZZ_CHECK(prom && om && json && status, "a body could not be made in round %u",
			   round);
		check_exposition(s, prom, false);
		check_exposition(s, om, true);
		if (round == rounds - 1) { /* inflating is slow: once per input is enough */
			check_gzip(snapshot_body(s, BODY_PROM_GZ), prom);
			check_gzip(snapshot_body(s, BODY_OPENMETRICS_GZ), om);
		}
		check_processes(s, json, &(struct json_query){.sort = JSON_SORT_PID});
		check_status(s, status);

		/* one query, as /api/v1/processes?top=&sort=&pid=&comm= would make */
		{
			struct json_query q = {.top = fuzz_u8(&in) % 8, .sort = fuzz_u8(&in) % 5};
			char comm[COMM_TEXT_MAX];
			uint8_t which = fuzz_u8(&in);
			struct blob b = {};

			if (which & 1)
				q.pid = 1 + fuzz_u8(&in) % N_TGIDS;
			if ((which & 2) && s->n_procs) {
				const char *c = s->procs[fuzz_u8(&in) % s->n_procs].comm;
				size_t off = strlen(c) ? fuzz_u8(&in) % (strlen(c) + 1) : 0;

				snprintf(comm, sizeof(comm), "%s", c + off);
				comm[fuzz_u8(&in) % sizeof(comm)] = 0;
				q.comm = comm;
			}
			r = render_json_processes(s, &q, &b);
			FUZZ_CHECK(r == 0, "render_json_processes: %d", r);
			check_processes(s, &b, &q);
			free(b.data);
		}
		snapshot_unref(s);
	}
	aggregate_done(&st);
	config_done(&cfg);
	return 0;
}
