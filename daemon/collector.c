// SPDX-License-Identifier: GPL-2.0-only
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "collector.h"
#include "counters.h"
#include "kernel.h"
#include "loader.h"
#include "log.h"
#include "rawtpd.h"
#include "slots.h"
#include "util.h"

/*
 * valgrind does not know what BPF_MAP_LOOKUP_BATCH writes, nor that a per-CPU lookup writes a
 * value for every CPU, and would take those bytes for uninitialised; tell it (a no-op outside
 * valgrind, absent without its header).
 */
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define MARK_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define MARK_DEFINED(p, n) ((void)(p), (void)(n))
#endif

struct collector {
	/* What collector_open() loaded and attached; NULL on maps from collector_new(). */
	struct loader *loader;
	int prog_fd; /* the loader's sched_switch program, -1 without one */
	enum attach_mode mode;
	enum data_path path;
	const char *path_why;

	/* What is read, and where: everything below works on map fds alone. */
	struct collector_maps maps;
	uint32_t capacity;     /* of maps.counts */
	uint32_t renames_size; /* of maps.renames */
	int ncpus;	       /* possible CPUs: the per-CPU values of an entry */
	bool batch_ok;	       /* BPF_MAP_LOOKUP_BATCH works on this kernel */
	char proc_root[64];
	char fdinfo_root[64];
	/* the maps whose memory is reported, sorted by name */
	struct {
		char name[16];
		int fd;
	} mem[SNAPSHOT_MAPS_MAX];
	size_t n_mem;
	/*
	 * Read buffers, reused every interval: chunk keys and their values on every CPU. The map
	 * is read chunk by chunk and each entry summed over the CPUs at once, so memory follows
	 * the processes there are (one sample_entry each), not the map's capacity times the CPUs.
	 */
	uint32_t chunk;
	struct rawtpd_key *keys;
	struct rawtpd_value *values;
	/* thread path: its slots, read in place; the slots lost so far, as last logged */
	struct slots *slots;
	uint64_t slots_lost_logged;
	/* counting latency: the pairs map, and its entries as the last read saw them */
	int preempts;
	struct sample_pair *pairs;
	size_t n_pairs, pairs_cap;
};

/* Size of the per-CPU values of one read chunk: 6553 entries on 1 CPU, 51 on 128 (floor 64). */
#define READ_CHUNK_BYTES (256u << 10)
#define READ_CHUNK_MIN	 64u

/* The entries read so far, summed over CPUs; grows by doubling. */
struct entries {
	struct sample_entry *e;
	size_t n, cap;
	bool lent; /* e is the thread path's reader's own (slots_read()) */
};

/* A collector with nothing to read yet. 0, -ENOMEM, or -errno when the CPUs cannot be counted. */
static int collector_alloc(const char *proc_root, const char *fdinfo_root, struct collector **ret)
{
	struct collector *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	snprintf(c->proc_root, sizeof(c->proc_root), "%s", proc_root ?: "/proc");
	snprintf(c->fdinfo_root, sizeof(c->fdinfo_root), "%s", fdinfo_root ?: "/proc/self/fdinfo");
	c->prog_fd = -1;
	c->preempts = -1;
	c->path = DATA_PATH_PROCESS;
	c->path_why = "";
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus <= 0) {
		r = c->ncpus ?: -EINVAL;
		free(c);
		return r;
	}
	*ret = c;
	return 0;
}

/* The max_entries of a map, checking its key and value sizes against what the collector reads. */
static int map_size(int fd, uint32_t key_size, uint32_t value_size, uint32_t *ret)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
		return -errno;
	if (info.key_size != key_size || info.value_size != value_size || info.max_entries == 0)
		return -EINVAL;
	*ret = info.max_entries;
	return 0;
}

/* Take the maps to read and size the read buffers after them. */
static int collector_set_maps(struct collector *c, const struct collector_maps *m)
{
	int r;

	r = map_size(m->counts, sizeof(struct rawtpd_key), sizeof(struct rawtpd_value),
		     &c->capacity);
	if (r >= 0 && m->renames >= 0)
		r = map_size(m->renames, sizeof(struct rawtpd_key), sizeof(struct rawtpd_comm),
			     &c->renames_size);
	if (r < 0)
		return r;
	c->maps = *m;
	c->batch_ok = !m->key_by_key;
	c->chunk = m->read_chunk;
	if (!c->chunk) {
		c->chunk = READ_CHUNK_BYTES / ((uint32_t)c->ncpus * sizeof(*c->values));
		if (c->chunk < READ_CHUNK_MIN)
			c->chunk = READ_CHUNK_MIN;
	}
	if (c->chunk > c->capacity)
		c->chunk = c->capacity;
	c->keys = calloc(c->chunk, sizeof(*c->keys));
	c->values = calloc((size_t)c->chunk * c->ncpus, sizeof(*c->values));
	if (!c->keys || !c->values)
		return -ENOMEM;
	if (m->slots >= 0) {
		r = slots_open(m->slots, m->free_slots, c->proc_root, &c->slots);
		if (r < 0)
			return r;
		c->path = DATA_PATH_THREAD;
		c->capacity = slots_capacity(c->slots);
	}
	return 0;
}

static int mem_cmp(const void *a, const void *b)
{
	return strcmp(a, b); /* each element starts with its name */
}

/* Note a map whose memory is reported; the list is sorted once complete. */
static void add_mem_map(struct collector *c, const char *name, int fd)
{
	if (fd < 0 || c->n_mem >= ELEMENTSOF(c->mem))
		return;
	snprintf(c->mem[c->n_mem].name, sizeof(c->mem[0].name), "%s", name);
	c->mem[c->n_mem++].fd = fd;
}

int collector_new(const struct collector_maps *m, const char *proc_root, struct collector **ret)
{
	struct collector *c;
	int r;

	r = collector_alloc(proc_root, NULL, &c);
	if (r < 0)
		return r;
	c->mode = ATTACH_AUTO;
	add_mem_map(c, "counts", m->counts);
	add_mem_map(c, "slots", m->slots);
	add_mem_map(c, "renames", m->renames);
	add_mem_map(c, "stats", m->stats);
	qsort(c->mem, c->n_mem, sizeof(c->mem[0]), mem_cmp);
	r = collector_set_maps(c, m);
	if (r < 0) {
		collector_close(c);
		return r;
	}
	*ret = c;
	return 0;
}

/* Attach mode m on the data path o asks for (auto: the thread path where m and f allow it). */
static int attach_one(struct collector *c, enum attach_mode m, const struct collector_options *o,
		      const struct kernel_facts *f, char **ret_error)
{
	int r = loader_attach(m, o->data_path, f, o->max_processes, o->latency, &c->loader,
			      ret_error);

	if (r == 0) /* the path itself follows from the maps (collector_set_maps()) */
		c->path_why = loader_data_path_reason(c->loader);
	return r;
}

/*
 * Attach o->mode, or for auto the first mode of kernel_auto_order that works, saying at info
 * why each one before it was passed over.
 */
static int attach_as_configured(struct collector *c, const struct collector_options *o,
				const struct kernel_facts *f, char **ret_error)
{
	_cleanup_free_ char *err = NULL;
	int r = -EINVAL;

	if (o->mode != ATTACH_AUTO) {
		r = attach_one(c, o->mode, o, f, &err);
	} else {
		for (size_t i = 0; i < ELEMENTSOF(kernel_auto_order); i++) {
			enum attach_mode m = kernel_auto_order[i];

			free(err);
			err = NULL;
			r = attach_one(c, m, o, f, &err);
			if (r == 0)
				break;
			log_info("Passing over attach mode %s: %s", attach_mode_to_string(m),
				 err ?: strerror(-r));
		}
	}
	if (r < 0 && ret_error) {
		if (o->mode == ATTACH_AUTO) {
			free(err);
			err = strdup("no attach mode works on this kernel (each reason is logged "
				     "above; rawtpd --probe shows them all)");
		}
		*ret_error = TAKE_PTR(err);
	}
	return r;
}

/* Every map the loader made is reported, the renames map even without its hook (it exists). */
static void note_loader_maps(struct collector *c)
{
	struct loader_map maps[SNAPSHOT_MAPS_MAX];
	size_t n = loader_maps(c->loader, maps, ELEMENTSOF(maps));

	if (n > ELEMENTSOF(maps)) {
		log_warning("Reporting the memory of %zu BPF maps of %zu", ELEMENTSOF(maps), n);
		n = ELEMENTSOF(maps);
	}
	for (size_t i = 0; i < n; i++)
		add_mem_map(c, maps[i].name, maps[i].fd);
	qsort(c->mem, c->n_mem, sizeof(c->mem[0]), mem_cmp);
}

int collector_open(const struct collector_options *o, struct collector **ret, char **ret_error)
{
	struct collector_maps maps;
	struct kernel_facts facts;
	struct loader_fds fds;
	struct collector *c;
	int r;

	loader_log_libbpf();

	r = collector_alloc(o->proc_root, o->fdinfo_root, &c);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		if (ret_error &&
		    asprintf(ret_error, "cannot count the possible CPUs: %s", strerror(-r)) < 0)
			*ret_error = NULL;
		return r;
	}

	kernel_facts_read("", &o->btf, &facts);
	r = attach_as_configured(c, o, &facts, ret_error);
	if (r < 0) {
		free(c);
		return r;
	}

	loader_fds(c->loader, &fds);
	c->mode = loader_mode(c->loader);
	note_loader_maps(c);
	c->prog_fd = fds.prog;
	maps = (struct collector_maps){
		.counts = fds.counts,
		.slots = fds.slots,
		.free_slots = fds.free_slots,
		.renames = fds.renames,
		.stats = fds.stats,
	};
	r = collector_set_maps(c, &maps);
	if (r >= 0 && fds.preempts >= 0 && c->slots) {
		r = slots_count_latency(c->slots, fds.hists);
		c->preempts = fds.preempts;
	}
	if (r < 0) {
		collector_close(c);
		return r;
	}
	*ret = c;
	return 0;
}

struct collector *collector_close(struct collector *c)
{
	if (!c)
		return NULL;
	loader_detach(c->loader);
	free(c->keys);
	free(c->values);
	slots_close(c->slots);
	free(c->pairs);
	free(c);
	return NULL;
}

const char *collector_attach_mode(const struct collector *c)
{
	return attach_mode_to_string(c->mode);
}

const char *collector_data_path(const struct collector *c)
{
	return data_path_to_string(c->path);
}

const char *collector_data_path_reason(const struct collector *c)
{
	return c->path_why;
}

uint32_t collector_capacity(const struct collector *c)
{
	return c->capacity;
}

bool collector_tracks_renames(const struct collector *c)
{
	return c->maps.renames >= 0;
}

/*
 * A rename the BPF side could only note by pid (start_ns 0: the tracepoint mode, a task renamed
 * by another process) is the process of that tgid in the map, the newest if the pid was reused.
 */
static bool resolve_start(const struct entries *es, struct rawtpd_key *k)
{
	bool found = false;

	for (size_t i = 0; i < es->n; i++)
		if (es->e[i].tgid == k->tgid && (!found || es->e[i].start_ns > k->start_ns)) {
			k->start_ns = es->e[i].start_ns;
			found = true;
		}
	return found;
}

/* Take (read and delete) every rename noted since the last call; es is the map as just read. */
static int read_renames(struct collector *c, const struct entries *es, struct sample_rename **ret,
			size_t *ret_n)
{
	int fd = c->maps.renames;
	_cleanup_free_ struct rawtpd_key *keys = NULL;
	_cleanup_free_ struct sample_rename *out = NULL;
	size_t n = 0, cap = c->renames_size, k = 0;
	struct rawtpd_key cur;
	void *prev = NULL;

	*ret = NULL;
	*ret_n = 0;
	if (fd < 0)
		return 0;
	keys = calloc(cap, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	while (n < cap && bpf_map_get_next_key(fd, prev, &keys[n]) == 0) {
		cur = keys[n++];
		prev = &cur;
	}
	if (!n)
		return 0;
	out = calloc(n, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct rawtpd_comm v;

		/* lookup-and-delete is atomic for hash maps from Linux 5.14 on */
		if (bpf_map_lookup_and_delete_elem(fd, &keys[i], &v) < 0) {
			if (bpf_map_lookup_elem(fd, &keys[i], &v) < 0)
				continue;
			bpf_map_delete_elem(fd, &keys[i]);
		}
		if (keys[i].start_ns == 0 && !resolve_start(es, &keys[i]))
			continue;
		out[k].tgid = keys[i].tgid;
		out[k].start_ns = keys[i].start_ns;
		memcpy(out[k].comm, v.comm, sizeof(out[k].comm));
		out[k].comm[sizeof(out[k].comm) - 1] = 0;
		k++;
	}
	*ret = TAKE_PTR(out);
	*ret_n = k;
	/* An LRU map this full may have evicted renames: let the caller re-read the names. */
	return n >= cap * 3 / 4 ? 1 : 0;
}

/* Room in es for count more entries; grows by doubling. 0 or -ENOMEM. */
static int entries_reserve(struct entries *es, size_t count)
{
	size_t cap = es->cap ? es->cap : 1024;
	struct sample_entry *t;

	if (es->n + count <= es->cap)
		return 0;
	while (cap < es->n + count)
		cap *= 2;
	t = realloc(es->e, cap * sizeof(*t));
	if (!t)
		return -ENOMEM;
	es->e = t;
	es->cap = cap;
	return 0;
}

/* Process path: the first count entries of c->keys/c->values, each summed over the CPUs. */
static int add_entries(const struct collector *c, uint32_t count, struct entries *es)
{
	if (entries_reserve(es, count) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < count; i++) {
		const struct rawtpd_value *v = c->values + (size_t)i * c->ncpus;
		struct sample_entry *e = &es->e[es->n++];
		const struct rawtpd_value *fresh = NULL;

		*e = (struct sample_entry){.tgid = c->keys[i].tgid,
					   .start_ns = c->keys[i].start_ns};
		for (int cpu = 0; cpu < c->ncpus; cpu++) {
			/* the cgroup the freshest CPU noted: latest interval, then latest time */
			if (v[cpu].cgroup_gen &&
			    (!fresh || v[cpu].cgroup_gen > fresh->cgroup_gen ||
			     (v[cpu].cgroup_gen == fresh->cgroup_gen &&
			      (int32_t)(v[cpu].cgroup_ms - fresh->cgroup_ms) > 0)))
				fresh = &v[cpu];
			counters_add(&e->c,
				     &(struct counters){.voluntary = v[cpu].voluntary,
							.involuntary = v[cpu].involuntary,
							.runtime_ns = v[cpu].runtime_ns,
							.run_delay_ns = v[cpu].run_delay_ns});
			if (!e->comm[0] && v[cpu].comm[0])
				memcpy(e->comm, v[cpu].comm, sizeof(e->comm));
		}
		e->comm[sizeof(e->comm) - 1] = 0;
		if (fresh)
			e->cgroup_id = fresh->cgroup_id;
	}
	return 0;
}

_Static_assert(sizeof(struct rawtpd_slot) == 128, "a slot is two cache lines");
_Static_assert(sizeof(struct rawtpd_thread) == 8, "a thread's storage stays small");
_Static_assert(sizeof(struct rawtpd_slot_cache) == 3072, "a CPU's slot cache is 3 KiB");

/* Read the whole map into es, c->chunk entries per BPF_MAP_LOOKUP_BATCH; 0 or a negative errno. */
static int read_batch(struct collector *c, struct entries *es)
{
	__u64 batch = 0;
	bool first = true;
	int r;

	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	while (es->n < c->capacity) {
		__u32 count = c->chunk;

		r = bpf_map_lookup_batch(c->maps.counts, first ? NULL : &batch, &batch, c->keys,
					 c->values, &count, &opts);
		first = false;
		if (r < 0 && errno != ENOENT)
			return -errno;
		MARK_DEFINED(c->keys, count * sizeof(*c->keys));
		MARK_DEFINED(c->values, count * (size_t)c->ncpus * sizeof(*c->values));
		if (add_entries(c, count, es) < 0)
			return -ENOMEM;
		if (r < 0) /* ENOENT: that was the last batch */
			break;
	}
	return 0;
}

/* The same with one syscall per key: kernels before 5.6 have no batch operations. */
static int read_iter(struct collector *c, struct entries *es)
{
	int fd = c->maps.counts;
	struct rawtpd_key k, next;
	void *prev = NULL;

	/*
	 * Only ENOENT ends the walk. A walk cut short by another error must fail the read: a
	 * short map would fold every process it missed as exited, and count it again when it
	 * comes back at the next read.
	 */
	while (es->n < c->capacity) {
		if (bpf_map_get_next_key(fd, prev, &next) < 0) {
			if (errno == ENOENT)
				break;
			return -errno;
		}
		if (bpf_map_lookup_elem(fd, &next, c->values) == 0) {
			MARK_DEFINED(c->values, (size_t)c->ncpus * sizeof(*c->values));
			c->keys[0] = next;
			if (add_entries(c, 1, es) < 0)
				return -ENOMEM;
		} else if (errno != ENOENT) { /* ENOENT: deleted since get_next_key */
			return -errno;
		}
		k = next;
		prev = &k;
	}
	return 0;
}

static int read_live(const char *proc_root, uint32_t **ret, size_t *ret_n)
{
	_cleanup_free_ uint32_t *live = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	d = opendir(proc_root);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		unsigned long v;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		v = strtoul(de->d_name, &end, 10);
		if (*end || v > UINT32_MAX)
			continue;
		if (n == cap) {
			uint32_t *t = realloc(live, (cap = cap ? cap * 2 : 1024) * sizeof(*t));

			if (!t) {
				closedir(d);
				return -ENOMEM;
			}
			live = t;
		}
		live[n++] = (uint32_t)v;
	}
	closedir(d);
	/* readdir(/proc) lists tgids in ascending order, but do not rely on it */
	for (size_t i = 1; i < n; i++)
		if (live[i - 1] > live[i]) {
			qsort(live, n, sizeof(*live), u32_cmp);
			break;
		}
	*ret = TAKE_PTR(live);
	*ret_n = n;
	return 0;
}

static void entries_done(struct entries *es)
{
	if (!es->lent)
		free(es->e);
	*es = (struct entries){};
}

/* The whole map into es: in batches where the kernel has them, else key by key; the thread
 * path's slots in place. */
static int read_map(struct collector *c, struct entries *es, uint64_t *ret_in_use)
{
	int r;

	if (c->slots) {
		es->lent = true;
		return slots_read(c->slots, &es->e, &es->n, ret_in_use);
	}

	if (c->batch_ok) {
		r = read_batch(c, es);
		if (r != -EINVAL && r != -ENOTSUP && r != -EOPNOTSUPP)
			return r;
		log_debug("Batch map reads are not supported here (%s), reading key by key",
			  strerror(-r));
		c->batch_ok = false;
		entries_done(es);
	}
	return read_iter(c, es);
}

/* One of the BPF side's counts (enum rawtpd_stat), over all CPUs. */
static uint64_t read_stat(const struct collector *c, __u32 idx)
{
	__u64 vals[c->ncpus];
	uint64_t sum = 0;

	if (c->maps.stats >= 0 && bpf_map_lookup_elem(c->maps.stats, &idx, vals) == 0) {
		MARK_DEFINED(vals, sizeof(vals));
		for (int cpu = 0; cpu < c->ncpus; cpu++)
			sum += vals[cpu];
	}
	return sum;
}

/* The entries the BPF side could not create (the map was full). */
static uint64_t read_map_full(const struct collector *c)
{
	return read_stat(c, RAWTPD_STAT_MAP_FULL);
}

/*
 * Thread path: slots that could not go back into the free queue (its lock refused a push, on
 * the BPF side or here) are capacity lost until the next start. Never expected; never silent.
 */
static void check_slots_lost(struct collector *c)
{
	uint64_t lost = read_stat(c, RAWTPD_STAT_SLOTS_LOST) + slots_lost(c->slots);

	if (lost > c->slots_lost_logged) {
		log_warning("%" PRIu64 " thread slots could not be put back in the free queue: "
			    "%" PRIu64 " threads can be counted at once until rawtpd restarts",
			    lost, c->capacity > lost ? c->capacity - lost : 0);
		c->slots_lost_logged = lost;
	}
}

static int sample_pair_order(const void *a, const void *b)
{
	const struct sample_pair *x = a, *y = b;

	return sample_pair_cmp(x->victim, x->by, y->victim, y->by);
}

/* Every pair of cgroups in the preemptions map (a few hundred: one syscall pair each). */
static int read_pairs(struct collector *c)
{
	struct rawtpd_pair key, next;
	void *prev = NULL;

	c->n_pairs = 0;
	while (bpf_map_get_next_key(c->preempts, prev, &next) == 0) {
		__u64 count;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(c->preempts, &key, &count) < 0)
			continue; /* deleted meanwhile */
		if (c->n_pairs == c->pairs_cap) {
			size_t cap = c->pairs_cap ? 2 * c->pairs_cap : 256;
			struct sample_pair *t = realloc(c->pairs, cap * sizeof(*t));

			if (!t)
				return -ENOMEM;
			c->pairs = t;
			c->pairs_cap = cap;
		}
		c->pairs[c->n_pairs++] =
			(struct sample_pair){.victim = key.victim, .by = key.by, .count = count};
	}
	if (c->n_pairs)
		qsort(c->pairs, c->n_pairs, sizeof(*c->pairs), sample_pair_order);
	return 0;
}

bool collector_latency(const struct collector *c, const struct sample_hist **ret_hists,
		       size_t *ret_n_hists, const struct sample_pair **ret_pairs,
		       size_t *ret_n_pairs)
{
	*ret_hists = NULL;
	*ret_n_hists = 0;
	*ret_pairs = c->pairs;
	*ret_n_pairs = c->n_pairs;
	if (c->preempts < 0 || !c->slots)
		return false;
	slots_hists(c->slots, ret_hists, ret_n_hists);
	return true;
}

uint64_t collector_pairs_lost(const struct collector *c)
{
	return c->preempts >= 0 ? read_stat(c, RAWTPD_STAT_PAIRS_FULL) : 0;
}

int collector_delete_pairs(struct collector *c, const struct sample_pair *p, size_t n)
{
	int failed = 0;

	for (size_t i = 0; c->preempts >= 0 && i < n; i++) {
		struct rawtpd_pair key = {.victim = p[i].victim, .by = p[i].by};

		if (bpf_map_delete_elem(c->preempts, &key) < 0 && errno != ENOENT)
			failed++;
	}
	return failed;
}

int collector_read(struct collector *c, struct sample *ret)
{
	_cleanup_(entries_done) struct entries es = {};
	_cleanup_free_ struct sample_rename *renames = NULL;
	size_t n_renames = 0, n_live = 0;
	uint32_t *live = NULL;
	uint64_t mono, failures, map_entries;
	bool renames_lost;
	int r;

	r = read_map(c, &es, &map_entries);
	if (r >= 0 && c->preempts >= 0)
		r = read_pairs(c);
	if (r < 0)
		return r;
	loader_next_interval(c->loader);
	mono = now_nsec(CLOCK_MONOTONIC);
	failures = read_map_full(c);
	if (!c->slots) /* the thread path's bound is on threads: the slots in use */
		map_entries = es.n;
	else
		check_slots_lost(c);

	r = read_renames(c, &es, &renames, &n_renames);
	if (r < 0)
		return r;
	renames_lost = r > 0;

	/* After the map: a process in the sample that is missing here has exited. The thread
	 * path needs no list: its entries say when a process ended. */
	if (c->path != DATA_PATH_THREAD) {
		r = read_live(c->proc_root, &live, &n_live);
		if (r < 0)
			return r;
	}

	*ret = (struct sample){
		.n_entries = es.n,
		.entries = TAKE_PTR(es.e),
		.live = live,
		.n_live = n_live,
		.renames = TAKE_PTR(renames),
		.n_renames = n_renames,
		.renames_lost = renames_lost,
		.mono_ns = mono,
		.map_update_failures = failures,
		.map_entries = map_entries,
		.exits_reported = c->path == DATA_PATH_THREAD,
		.sorted = c->path == DATA_PATH_THREAD,
		.entries_lent = c->slots != NULL,
	};
	return 0;
}

void collector_sample_done(struct sample *s)
{
	if (!s->entries_lent)
		free(s->entries);
	free((void *)s->live);
	free((void *)s->renames);
	*s = (struct sample){};
}

int collector_delete(struct collector *c, const struct agg_key *keys, size_t n)
{
	int fd = c->maps.counts, failed = 0;

	if (c->slots) {
		slots_forget(c->slots, keys, n);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct rawtpd_key k = {.tgid = keys[i].tgid, .start_ns = keys[i].start_ns};

		if (bpf_map_delete_elem(fd, &k) < 0 && errno != ENOENT)
			failed++;
	}
	return failed;
}

int collector_read_comm(const struct collector *c, uint32_t pid, char buf[COMM_RAW_LEN],
			size_t *ret_len)
{
	char path[96];
	_cleanup_close_ int fd = -1;
	ssize_t l;

	snprintf(path, sizeof(path), "%s/%u/comm", c->proc_root, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	l = read(fd, buf, COMM_RAW_LEN);
	if (l < 0)
		return -errno;
	if (l > 0 && buf[l - 1] == '\n')
		l--;
	if (l >= COMM_RAW_LEN)
		l = COMM_RAW_LEN - 1;
	buf[l] = 0;
	*ret_len = (size_t)l;
	return 0;
}

int collector_fdinfo_memlock(const char *fdinfo_root, int fd, uint64_t *ret)
{
	char path[96], buf[1024];
	_cleanup_close_ int f = -1;
	const char *p;
	ssize_t l;

	snprintf(path, sizeof(path), "%s/%d", fdinfo_root, fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -errno;
	l = read(f, buf, sizeof(buf) - 1);
	if (l < 0)
		return -errno;
	buf[l] = 0;
	/* "memlock:\t<bytes>\n", a line of its own (Linux 4.10 on) */
	for (p = buf; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, "memlock:", 8) == 0) {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(p + 8, &end, 10);
			if (errno || end == p + 8 || (*end != '\n' && *end))
				return -EINVAL;
			*ret = v;
			return 0;
		}
	return -ENOENT;
}

size_t collector_map_memory(const struct collector *c, struct snapshot_map_memory *ret)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n_mem; i++) {
		uint64_t bytes;

		if (collector_fdinfo_memlock(c->fdinfo_root, c->mem[i].fd, &bytes) < 0)
			continue;
		memcpy(ret[n].name, c->mem[i].name, sizeof(ret[n].name));
		ret[n++].bytes = bytes;
	}
	return n;
}

int collector_prog_stats(const struct collector *c, uint64_t *ret_cnt, uint64_t *ret_ns,
			 bool *ret_stats_enabled)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int r;

	if (c->prog_fd < 0)
		return -ENOENT;
	r = bpf_obj_get_info_by_fd(c->prog_fd, &info, &len);
	if (r < 0)
		return -errno;
	*ret_cnt = info.run_cnt;
	*ret_ns = info.run_time_ns;
	/* BPF_ENABLE_STATS (another tool's fd) also turns them on without the sysctl */
	*ret_stats_enabled = kernel_bpf_stats_enabled("") > 0 || info.run_cnt > 0;
	return 0;
}
