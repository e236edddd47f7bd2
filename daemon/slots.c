// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "rawtpd.h"
#include "slots.h"
#include "util.h"

/*
 * A slot in use, as one read saw it: copied out in slot order (the array is read once, front
 * to back), then sorted by key, so that the sums read it in order too.
 */
struct view {
	uint32_t tgid;
	uint32_t idx;
	uint64_t start_ns;
	struct counters c;
	uint64_t cgroup_id;
	uint32_t cgroup_gen;
	bool dead;
	bool free; /* read dead at the previous read too: freed by this one */
	bool ended;
	char comm[COMM_RAW_LEN];
};

/* What a process's freed slots (its exited threads) counted. */
struct retired {
	uint32_t tgid;
	bool ended;	/* one of them was its last thread */
	bool gone;	/* forgotten: dropped at the next read */
	uint8_t orphan; /* reads in a row with no slot of its own */
	uint64_t start_ns;
	struct counters c;
	char comm[COMM_RAW_LEN];
	uint64_t cgroup_id;
};

struct slots {
	int free_fd;
	char proc_root[64];
	struct rawtpd_slot *map; /* the BPF array, shared with the kernel */
	size_t map_len;
	uint32_t n;
	struct view *views, *tmp; /* tmp: the radix sort's other half */
	size_t views_cap, tmp_cap;
	struct sample_entry *out; /* lent to the caller until the next read */
	size_t out_cap;
	/* sorted by key; "next" is built by each read and then swapped in */
	struct retired *ret, *next;
	size_t n_ret, cap_ret, cap_next;
	uint32_t *to_free;
	size_t to_free_cap;
	uint64_t lost;
	/* latency: each slot's histogram as the last read saw it (mapped lazily: the pages of
	 * slots never used cost nothing), and the growth by cgroup, with its index by id */
	uint32_t (*seen)[RAWTPD_HIST_BUCKETS];
	size_t seen_len;
	uint64_t *seen_delay; /* each slot's run_delay growth as the last read saw it */
	size_t seen_delay_len;
	struct rawtpd_hist *hist; /* the BPF side's histograms, one per slot (mmap'ed) */
	size_t hist_len;
	struct sample_hist *hists;
	size_t n_hists, hists_cap;
	uint32_t *hist_index; /* open addressing over hists, 0: empty, else index + 1 */
	size_t index_cap;     /* a power of two */
};

/*
 * Is process (tgid, start_ns) still there? Its /proc/<tgid>/stat, with a start time (field 22,
 * clock ticks since boot, on CLOCK_BOOTTIME) within two ticks of start_ns (CLOCK_MONOTONIC, as
 * the kernel's task->start_time): a pid taken again by a later process is not it. Yes when
 * it cannot be told (an unreadable /proc): never ended by mistake.
 */
static bool process_alive(const char *proc_root, uint32_t tgid, uint64_t start_ns)
{
	char path[96], buf[1024], *p;
	long hz = sysconf(_SC_CLK_TCK);
	struct timespec mono, boot;
	unsigned long long ticks;
	ssize_t l;
	int fd;

	snprintf(path, sizeof(path), "%s/%u/stat", proc_root, tgid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno != ENOENT;
	l = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (l <= 0)
		return true;
	buf[l] = 0;
	p = strrchr(buf, ')'); /* the name may hold anything but ends at the last ')' */
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &ticks) != 1 || hz <= 0 ||
	    clock_gettime(CLOCK_MONOTONIC, &mono) < 0 || clock_gettime(CLOCK_BOOTTIME, &boot) < 0)
		return true;
	{
		int64_t offset = ((int64_t)boot.tv_sec - mono.tv_sec) * 1000000000LL +
				 (boot.tv_nsec - mono.tv_nsec);
		double want = ((double)start_ns + (double)offset) * (double)hz / 1e9;

		return (double)ticks > want - 2 && (double)ticks < want + 2;
	}
}

int slots_open(int slots_fd, int free_fd, const char *proc_root, struct slots **ret)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	long page = sysconf(_SC_PAGESIZE);
	struct slots *s;

	if (bpf_obj_get_info_by_fd(slots_fd, &info, &len) < 0)
		return -errno;
	if (info.type != BPF_MAP_TYPE_ARRAY || info.key_size != sizeof(__u32) ||
	    info.value_size != sizeof(struct rawtpd_slot) || !(info.map_flags & BPF_F_MMAPABLE) ||
	    info.max_entries == 0)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->free_fd = free_fd;
	snprintf(s->proc_root, sizeof(s->proc_root), "%s", proc_root ?: "/proc");
	s->n = info.max_entries;
	s->map_len = ((size_t)s->n * sizeof(struct rawtpd_slot) + page - 1) / page * page;
	s->map = mmap(NULL, s->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, slots_fd, 0);
	if (s->map == MAP_FAILED) {
		int r = -errno;

		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct slots *slots_close(struct slots *s)
{
	if (!s)
		return NULL;
	munmap(s->map, s->map_len);
	if (s->seen)
		munmap(s->seen, s->seen_len);
	if (s->seen_delay)
		munmap(s->seen_delay, s->seen_delay_len);
	if (s->hist)
		munmap(s->hist, s->hist_len);
	free(s->hists);
	free(s->hist_index);
	free(s->views);
	free(s->tmp);
	free(s->out);
	free(s->ret);
	free(s->next);
	free(s->to_free);
	free(s);
	return NULL;
}

uint32_t slots_capacity(const struct slots *s)
{
	return s->n;
}

uint64_t slots_lost(const struct slots *s)
{
	return s->lost;
}

static int view_cmp(const void *a, const void *b)
{
	const struct view *x = a, *y = b;

	return agg_key_cmp(x->tgid, x->start_ns, y->tgid, y->start_ns)
		       ?: (x->idx > y->idx) - (x->idx < y->idx);
}

/*
 * Sort the views by key: a stable radix sort on tgid, 11 bits a pass (pids stay below 2^22, so
 * two passes), then each run of one tgid (a reused pid, or threads of one process) by start
 * time. qsort() of references took 40 % of a read at 100k threads, and summing through them
 * (cache misses) as much again.
 */
static void sort_views(struct view *v, struct view *tmp, size_t n)
{
	uint32_t max = 0;

	for (size_t i = 0; i < n; i++)
		if (v[i].tgid > max)
			max = v[i].tgid;
	for (unsigned shift = 0; shift < 32 && (max >> shift); shift += 11) {
		size_t count[2048] = {0}, pos = 0;

		for (size_t i = 0; i < n; i++)
			count[(v[i].tgid >> shift) & 2047]++;
		for (size_t d = 0; d < 2048; d++) {
			size_t c = count[d];

			count[d] = pos;
			pos += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[count[(v[i].tgid >> shift) & 2047]++] = v[i];
		memcpy(v, tmp, n * sizeof(*v));
	}
	for (size_t i = 0, j; i < n; i = j) {
		bool sorted = true;

		for (j = i + 1; j < n && v[j].tgid == v[i].tgid; j++)
			if (v[j].start_ns < v[j - 1].start_ns)
				sorted = false;
		if (!sorted)
			qsort(v + i, j - i, sizeof(*v), view_cmp);
	}
}

/* Grow *p to hold n elements of size sz; 0 or -ENOMEM (*p untouched). */
static int reserve(void **p, size_t *cap, size_t n, size_t sz)
{
	size_t c = *cap ? *cap : 1024;
	void *t;

	if (n <= *cap)
		return 0;
	while (c < n)
		c *= 2;
	t = realloc(*p, c * sz);
	if (!t)
		return -ENOMEM;
	*p = t;
	*cap = c;
	return 0;
}

/* The kernel writes the slot while this reads it: each field once, as it is now. */
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))

static uint64_t since(uint64_t now, uint64_t base)
{
	return now > base ? now - base : 0;
}

/* What the thread in slot e counted while rawtpd watched. */
static struct counters slot_counters(const struct rawtpd_slot *e)
{
	return (struct counters){
		.voluntary = since(READ_ONCE(e->voluntary), e->base_voluntary),
		.involuntary = since(READ_ONCE(e->involuntary), e->base_involuntary),
		.runtime_ns = since(READ_ONCE(e->runtime_ns), e->base_runtime_ns),
		.run_delay_ns = since(READ_ONCE(e->run_delay_ns), e->base_run_delay_ns),
	};
}

int slots_count_latency(struct slots *s, int hists_fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	long page = sysconf(_SC_PAGESIZE);
	void *m;

	if (s->seen)
		return 0;
	if (bpf_obj_get_info_by_fd(hists_fd, &info, &len) < 0)
		return -errno;
	if (info.type != BPF_MAP_TYPE_ARRAY || info.value_size != sizeof(struct rawtpd_hist) ||
	    !(info.map_flags & BPF_F_MMAPABLE) || info.max_entries < s->n)
		return -EINVAL;
	s->hist_len = ((size_t)s->n * sizeof(struct rawtpd_hist) + page - 1) / page * page;
	m = mmap(NULL, s->hist_len, PROT_READ | PROT_WRITE, MAP_SHARED, hists_fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	s->seen_len = (size_t)s->n * sizeof(*s->seen);
	s->seen_delay_len = (size_t)s->n * sizeof(*s->seen_delay);
	s->seen = mmap(NULL, s->seen_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	s->seen_delay = mmap(NULL, s->seen_delay_len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s->seen == MAP_FAILED || s->seen_delay == MAP_FAILED) {
		int r = -errno;

		munmap(m, s->hist_len);
		if (s->seen != MAP_FAILED)
			munmap(s->seen, s->seen_len);
		if (s->seen_delay != MAP_FAILED)
			munmap(s->seen_delay, s->seen_delay_len);
		s->seen = NULL;
		s->seen_delay = NULL;
		return r;
	}
	s->hist = m;
	return 0;
}

void slots_hists(const struct slots *s, const struct sample_hist **ret, size_t *ret_n)
{
	*ret = s->hists;
	*ret_n = s->n_hists;
}

/* The growth entry of cgroup id in this read's hists; NULL without memory. */
static struct sample_hist *hist_entry(struct slots *s, uint64_t id)
{
	size_t mask, i;

	if (2 * (s->n_hists + 1) > s->index_cap) {
		size_t cap = s->index_cap ? 2 * s->index_cap : 256;
		uint32_t *t = calloc(cap, sizeof(*t));

		if (!t)
			return NULL;
		free(s->hist_index);
		s->hist_index = t;
		s->index_cap = cap;
		for (size_t k = 0; k < s->n_hists; k++) {
			for (i = (size_t)(s->hists[k].cgroup_id * 0x9e3779b97f4a7c15ULL) &
				 (cap - 1);
			     t[i]; i = (i + 1) & (cap - 1))
				;
			t[i] = (uint32_t)k + 1;
		}
	}
	mask = s->index_cap - 1;
	for (i = (size_t)(id * 0x9e3779b97f4a7c15ULL) & mask; s->hist_index[i]; i = (i + 1) & mask)
		if (s->hists[s->hist_index[i] - 1].cgroup_id == id)
			return &s->hists[s->hist_index[i] - 1];
	if (reserve((void **)&s->hists, &s->hists_cap, s->n_hists + 1, sizeof(*s->hists)) < 0)
		return NULL;
	s->hist_index[i] = (uint32_t)++s->n_hists;
	s->hists[s->n_hists - 1] = (struct sample_hist){.cgroup_id = id};
	return &s->hists[s->n_hists - 1];
}

/*
 * Slot k's histogram growth since the last read, and its run_delay's (delay: since its base),
 * added to its cgroup's.
 */
static int read_hist(struct slots *s, uint32_t k, uint64_t cgroup_id, uint64_t delay)
{
	const struct rawtpd_hist *e = &s->hist[k];
	uint32_t now[RAWTPD_HIST_BUCKETS], grew = 0;
	struct sample_hist *h;

	for (int b = 0; b < RAWTPD_HIST_BUCKETS; b++) {
		now[b] = READ_ONCE(e->bucket[b]);
		grew |= now[b] - s->seen[k][b];
	}
	if (!grew && delay == s->seen_delay[k])
		return 0;
	h = hist_entry(s, cgroup_id);
	if (!h)
		return -ENOMEM;
	for (int b = 0; b < RAWTPD_HIST_BUCKETS; b++) {
		h->bucket[b] += now[b] - s->seen[k][b]; /* u32: right across a wrap */
		s->seen[k][b] = now[b];
	}
	if (delay > s->seen_delay[k])
		h->sum_ns += delay - s->seen_delay[k];
	s->seen_delay[k] = delay;
	return 0;
}

int slots_read(struct slots *s, struct sample_entry **ret, size_t *ret_n, uint64_t *ret_threads)
{
	size_t nv = 0, n = 0, n_next = 0, n_free = 0, i = 0, j = 0;

	s->n_hists = 0;
	if (s->index_cap)
		memset(s->hist_index, 0, s->index_cap * sizeof(*s->hist_index));

	/* the slots in use, front to back; tid is written last when a slot is taken */
	for (uint32_t k = 0; k < s->n; k++) {
		struct rawtpd_slot *e = &s->map[k];
		struct view *v;
		bool dead;

		if (!__atomic_load_n(&e->tid, __ATOMIC_ACQUIRE))
			continue;
		if (reserve((void **)&s->views, &s->views_cap, nv + 1, sizeof(*s->views)) < 0)
			return -ENOMEM;
		v = &s->views[nv];
		*v = (struct view){.tgid = e->tgid,
				   .start_ns = e->leader_start_ns,
				   .c = slot_counters(e),
				   .cgroup_id = READ_ONCE(e->cgroup_id),
				   .cgroup_gen = READ_ONCE(e->cgroup_gen),
				   .idx = k};
		memcpy(v->comm, e->comm, sizeof(v->comm));
		v->comm[sizeof(v->comm) - 1] = 0;
		dead = READ_ONCE(e->dead);
		/* read dead once: its last figures may still be on their way, free it next time */
		v->dead = dead;
		v->free = dead && e->seen_dead;
		v->ended = dead && e->ended;
		nv++;
		if (s->seen && read_hist(s, k, v->cgroup_id, v->c.run_delay_ns) < 0)
			return -ENOMEM;
	}
	/* at most one process per slot and one per kept entry: no allocation after these */
	if (reserve((void **)&s->tmp, &s->tmp_cap, nv, sizeof(*s->tmp)) < 0 ||
	    reserve((void **)&s->out, &s->out_cap, nv + s->n_ret + 1, sizeof(*s->out)) < 0 ||
	    reserve((void **)&s->next, &s->cap_next, nv + s->n_ret, sizeof(*s->next)) < 0 ||
	    reserve((void **)&s->to_free, &s->to_free_cap, nv, sizeof(*s->to_free)) < 0)
		return -ENOMEM;
	sort_views(s->views, s->tmp, nv);

	while (i < nv || j < s->n_ret) {
		const struct retired *old = NULL;
		struct sample_entry *e = &s->out[n++];
		struct retired r;
		uint32_t tgid, best_gen = 0;
		uint64_t start;
		size_t live = 0;
		bool kept, any = false;

		if (j < s->n_ret &&
		    (i == nv || agg_key_cmp(s->ret[j].tgid, s->ret[j].start_ns, s->views[i].tgid,
					    s->views[i].start_ns) <= 0))
			old = &s->ret[j++];
		tgid = old ? old->tgid : s->views[i].tgid;
		start = old ? old->start_ns : s->views[i].start_ns;
		*e = (struct sample_entry){.tgid = tgid, .start_ns = start};
		if (old) {
			r = *old;
			e->c = old->c;
			memcpy(e->comm, old->comm, sizeof(e->comm));
			e->cgroup_id = old->cgroup_id;
		} else {
			r = (struct retired){.tgid = tgid, .start_ns = start};
		}
		kept = old != NULL;
		for (; i < nv && s->views[i].tgid == tgid && s->views[i].start_ns == start; i++) {
			const struct view *v = &s->views[i];

			any = true;
			counters_add(&e->c, &v->c);
			if (!e->comm[0])
				memcpy(e->comm, v->comm, sizeof(e->comm));
			if (v->cgroup_gen >= best_gen) {
				best_gen = v->cgroup_gen;
				e->cgroup_id = v->cgroup_id;
			}
			if (!v->free) {
				live++;
				continue;
			}
			counters_add(&r.c, &v->c);
			r.ended |= v->ended;
			if (!r.comm[0])
				memcpy(r.comm, e->comm, sizeof(r.comm));
			r.cgroup_id = e->cgroup_id;
			kept = true;
			s->to_free[n_free++] = v->idx;
		}
		/*
		 * Kept counts and no slot: its last thread exits unseen when it found no free slot
		 * at its last switch (the map was full). After two such reads, /proc says whether
		 * the process is still there.
		 */
		if (kept && !r.ended && !any) {
			if (r.orphan < 2)
				r.orphan++;
			else if (!process_alive(s->proc_root, tgid, start))
				r.ended = true;
		} else {
			r.orphan = 0;
		}
		e->exited = r.ended && live == 0;
		if (kept)
			s->next[n_next++] = r;
	}

	/* from here on the read is done: mark what it read dead, free what it read dead before */
	for (size_t k = 0; k < nv; k++)
		if (s->views[k].dead && !s->views[k].free)
			s->map[s->views[k].idx].seen_dead = 1;
	/* zeroed before it goes back: the BPF side takes it from the queue only after that */
	for (size_t k = 0; k < n_free; k++) {
		memset(&s->map[s->to_free[k]], 0, sizeof(s->map[0]));
		if (s->seen) {
			memset(&s->hist[s->to_free[k]], 0, sizeof(s->hist[0]));
			memset(s->seen[s->to_free[k]], 0, sizeof(s->seen[0]));
			s->seen_delay[s->to_free[k]] = 0;
		}
		if (bpf_map_update_elem(s->free_fd, NULL, &s->to_free[k], BPF_ANY) < 0)
			s->lost++;
	}
	{
		struct retired *t = s->ret;
		size_t cap = s->cap_ret;

		s->ret = s->next;
		s->cap_ret = s->cap_next;
		s->next = t;
		s->cap_next = cap;
		s->n_ret = n_next;
	}

	*ret = s->out;
	*ret_n = n;
	*ret_threads = nv - n_free;
	return 0;
}

static int retired_key_cmp(const void *key, const void *elem)
{
	const struct agg_key *k = key;
	const struct retired *r = elem;

	return agg_key_cmp(k->tgid, k->start_ns, r->tgid, r->start_ns);
}

void slots_forget(struct slots *s, const struct agg_key *keys, size_t n)
{
	size_t w = 0;
	bool any = false;

	for (size_t k = 0; k < n; k++) {
		struct retired *r =
			bsearch(&keys[k], s->ret, s->n_ret, sizeof(*s->ret), retired_key_cmp);

		if (r) {
			r->gone = true;
			any = true;
		}
	}
	if (!any)
		return;
	for (size_t k = 0; k < s->n_ret; k++)
		if (!s->ret[k].gone)
			s->ret[w++] = s->ret[k];
	s->n_ret = w;
}
