// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <bpf/libbpf.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "aggregate.h"
#include "cgroup.h"
#include "collector.h"
#include "http.h"
#include "kernel.h"
#include "log.h"
#include "rawtpd-config.h"
#include "self-stats.h"
#include "service.h"
#include "snapshot.h"
#include "util.h"

struct service {
	const struct options *opts;
	struct config cfg;
	sd_event *event;
	sd_event_source *timer;
	struct collector *collector;
	struct http_server *http;
	struct snapshot_store *store; /* the latest snapshot, for the HTTP threads */
	struct snapshot_pool *pool;   /* dropped snapshots' buffers, for the next ones */
	struct agg_state agg;
	struct agg_names names;	    /* how aggregate reads names the BPF side cannot tell */
	struct snapshot_info facts; /* what every snapshot says that is fixed at start-up */
	uint64_t aggregations, aggregation_failures;
	double last_cycle_s;	      /* read + fold + render + publish, of the last aggregation */
	double collect_s;	      /* read + fold + names, of this aggregation */
	int listen_fds;		      /* from socket activation; 0 if none */
	struct cgroup_cache *cgroups; /* cgroup ids to paths and units; no labels without */
	struct groups *groups[2];     /* by unit, by cgroup (groups.h) */
	bool latency;		      /* the BPF side counts latency and preemptions */
	uint64_t pairs_lost_logged;   /* preemptions in no pair, as last logged */
};

/* What the snapshots say about the daemon and the kernel, known before attaching. */
static void start_facts(struct snapshot_info *f)
{
	struct utsname uts;

	*f = (struct snapshot_info){
		.version = RAWTPD_VERSION,
		.libbpf_version = libbpf_version_string(),
		.start_time = (double)now_nsec(CLOCK_REALTIME) / NSEC_PER_SEC,
	};
	if (uname(&uts) == 0)
		snprintf(f->kernel_release, sizeof(f->kernel_release), "%s", uts.release);
}

/* --- aggregation --------------------------------------------------------------------- */

static void notify_status(struct service *s, const struct snapshot *snap)
{
	sd_notifyf(false, "STATUS=attached (%s), %zu processes, %.1f ms per aggregation",
		   collector_attach_mode(s->collector), snap->n_procs,
		   snap->info.aggregation_duration_s * 1e3);
}

static int read_comm(void *userdata, uint32_t tgid, char buf[COMM_RAW_LEN], size_t *ret_len)
{
	return collector_read_comm(userdata, tgid, buf, ret_len);
}

/* Read the map and fold it into the state; the entries of exited processes leave the map. */
static int fold_sample(struct service *s)
{
	_cleanup_free_ struct agg_key *dead = NULL;
	struct sample sample = {};
	size_t n_dead = 0;
	int r;

	r = collector_read(s->collector, &sample);
	if (r < 0)
		return log_warning_errno(r, "Failed to read the BPF map: %m (serving the previous "
					    "snapshot)");
	r = aggregate_update(&s->agg, &sample, &dead, &n_dead);
	if (r >= 0 && sample.renames_lost)
		log_debug("More renames than the rename map holds: re-reading every name");
	collector_sample_done(&sample);
	if (r < 0)
		return log_warning_errno(r, "Failed to aggregate: %m");

	if (n_dead) {
		int failed = collector_delete(s->collector, dead, n_dead);

		if (failed > 0)
			log_warning("Failed to delete %d map entries of exited processes", failed);
	}
	return 0;
}

/* A full map: counted always, logged once per episode. */
static void log_map_episode(struct service *s)
{
	switch (aggregate_map_episode(&s->agg, collector_capacity(s->collector))) {
	case AGG_MAP_FULL:
		/* entries are counted after the read: what exited meanwhile has made a little
		 * room again, so within 1/32 of the capacity the map was full */
		if (s->agg.map_entries + collector_capacity(s->collector) / 32 + 1 <
		    collector_capacity(s->collector))
			/* not full: the kernel's BPF allocator refills its per-CPU caches from
			 * irq_work, and a burst of new processes can find them empty */
			log_struct_errno(LOG_WARNING, 0, RAWTPD_MESSAGE_MAP_FULL,
					 "New BPF map entries could not be allocated (%" PRIu64
					 " failed so far) with %" PRIu64
					 " of %u in use: a burst of "
					 "new processes emptied the kernel's BPF allocator caches; "
					 "they are counted from when they next run",
					 s->agg.map_update_failures, s->agg.map_entries,
					 collector_capacity(s->collector));
		else
			log_struct_errno(LOG_WARNING, 0, RAWTPD_MESSAGE_MAP_FULL,
					 "The BPF process map is full (%u entries): new processes "
					 "are not counted (%" PRIu64 " failed so far). Raise [bpf] "
					 "max_processes.",
					 collector_capacity(s->collector),
					 s->agg.map_update_failures);
		break;
	case AGG_MAP_ROOM:
		log_notice("The BPF process map has room again");
		break;
	case AGG_MAP_QUIET:
		break;
	}
}

/* Build the snapshot of the state and make it the latest; t0: when this cycle began. */
static int publish(struct service *s, uint64_t t0)
{
	struct snapshot_info info = s->facts;
	struct snapshot *snap = NULL;
	int r;

	info.interval_s = (double)s->cfg.interval_usec / USEC_PER_SEC;
	collector_prog_stats(s->collector, &info.prog_run_cnt, &info.prog_run_time_ns,
			     &info.bpf_stats_enabled);
	info.n_map_memory = collector_map_memory(s->collector, info.map_memory);
	info.aggregations = s->aggregations + 1;
	info.collect_duration_s = s->collect_s;
	info.cgroups = s->cgroups;
	info.preemptions_lost = s->pairs_lost_logged;
	for (int k = 0; k < 2; k++)
		info.groups[k] = s->groups[k] ? groups_view(s->groups[k]) : NULL;
	info.pool = s->pool;
	info.aggregation_failures = s->aggregation_failures;
	self_stats_read("/proc", &info);
	/* The whole of the previous cycle, rendering included (this one's is not over yet);
	 * for the first snapshot, the part done so far. */
	info.aggregation_duration_s =
		s->last_cycle_s > 0 ? s->last_cycle_s
				    : (double)(now_nsec(CLOCK_MONOTONIC) - t0) / NSEC_PER_SEC;

	r = snapshot_new(&s->agg, &info, &s->cfg, t0,
			 (double)now_nsec(CLOCK_REALTIME) / NSEC_PER_SEC, &snap);
	groups_view_unref(info.groups[0]); /* the snapshot holds its own references */
	groups_view_unref(info.groups[1]);
	if (r < 0)
		return log_warning_errno(r, "Failed to build a snapshot: %m");
	snapshot_store_publish(s->store, snap);
	s->last_cycle_s = (double)(now_nsec(CLOCK_MONOTONIC) - t0) / NSEC_PER_SEC;
	s->aggregations++;
	notify_status(s, snap);
	snapshot_unref(snap);
	return 0;
}

/*
 * Know every process's cgroup before the snapshot is made: a cgroup not seen before makes one
 * walk of the hierarchy (cgroup.h), so that its processes are labelled at once.
 */
static void label_cgroups(struct service *s)
{
	int r;

	if (!s->cgroups)
		return;
	const struct sample_hist *h;
	const struct sample_pair *p;
	size_t nh, np;

	for (size_t i = 0; i < s->agg.n_procs; i++)
		(void)cgroup_cache_get(s->cgroups, s->agg.procs[i].cgroup_id);
	for (size_t i = 0; i < s->agg.n_folds; i++)
		(void)cgroup_cache_get(s->cgroups, s->agg.folds[i].cgroup_id);
	if (collector_latency(s->collector, &h, &nh, &p, &np)) {
		for (size_t i = 0; i < nh; i++)
			(void)cgroup_cache_get(s->cgroups, h[i].cgroup_id);
		for (size_t i = 0; i < np; i++) {
			(void)cgroup_cache_get(s->cgroups, p[i].victim);
			(void)cgroup_cache_get(s->cgroups, p[i].by);
		}
	}
	r = cgroup_cache_refresh(s->cgroups);
	if (r < 0 && r != -ENOENT)
		log_debug("Reading the cgroup hierarchy at %s failed: %s",
			  cgroup_cache_root(s->cgroups), strerror(-r));
}

static const struct cgroup_labels *resolve_cgroup(void *userdata, uint64_t id)
{
	return userdata ? cgroup_cache_get(userdata, id) : NULL;
}

/*
 * Add this update's growth to the groups by unit and by cgroup; the pairs of cgroups that are
 * gone leave the BPF map.
 */
static void update_groups(struct service *s)
{
	struct groups_input in = {
		.st = &s->agg,
		.max_pairs = s->cfg.max_preemption_pairs,
		.resolve = resolve_cgroup,
		.userdata = s->cgroups,
	};

	uint64_t lost;
	bool deleted = false;

	in.latency =
		collector_latency(s->collector, &in.hists, &in.n_hists, &in.pairs, &in.n_pairs);
	for (int k = 0; k < 2; k++) {
		_cleanup_free_ struct sample_pair *gone = NULL;
		size_t n_gone = 0;

		if (!s->groups[k])
			continue;
		if (groups_update(s->groups[k], &in, &gone, &n_gone) < 0) {
			log_warning("Failed to count the groups: %s", strerror(ENOMEM));
			continue;
		}
		if (!deleted) /* both find the same pairs to delete */
			(void)collector_delete_pairs(s->collector, gone, n_gone);
		deleted = true;
	}
	lost = collector_pairs_lost(s->collector);
	if (lost > s->pairs_lost_logged) {
		if (!s->pairs_lost_logged)
			log_warning("The BPF map of preemption pairs is full: %" PRIu64
				    " preemptions so far are in no pair (they stay in the "
				    "switch counters); pairs that stop growing make room",
				    lost);
		s->pairs_lost_logged = lost;
	}
}

/* One cycle: read the map, fold, settle names, publish a new snapshot. */
static int aggregate_once(struct service *s)
{
	uint64_t t0 = now_nsec(CLOCK_MONOTONIC);
	int r;

	r = fold_sample(s);
	if (r < 0)
		return r;
	aggregate_read_names(&s->agg, &s->names);
	log_map_episode(s);
	label_cgroups(s);
	update_groups(s);
	s->collect_s = (double)(now_nsec(CLOCK_MONOTONIC) - t0) / NSEC_PER_SEC;
	return publish(s, t0);
}

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct service *s = userdata;

	if (aggregate_once(s) < 0)
		s->aggregation_failures++;
	/* The next tick is one interval after this one was due: no drift, no bursts. */
	uint64_t now;
	sd_event_now(s->event, CLOCK_MONOTONIC, &now);
	uint64_t next = usec + s->cfg.interval_usec;
	if (next <= now)
		next = now + s->cfg.interval_usec;
	sd_event_source_set_time(es, next);
	return sd_event_source_set_enabled(es, SD_EVENT_ON);
}

/* --- reload -------------------------------------------------------------------------- */

/* The HTTP side of a configuration: what a reload must restart the server for. */
static bool listen_equal(const struct config *a, const struct config *b)
{
	if (a->n_listen != b->n_listen)
		return false;
	for (unsigned i = 0; i < a->n_listen; i++)
		if (!streq_ptr(a->listen[i], b->listen[i]))
			return false;
	return streq_ptr(a->tls_cert, b->tls_cert) && streq_ptr(a->tls_key, b->tls_key) &&
	       streq_ptr(a->basic_auth_user, b->basic_auth_user) &&
	       streq_ptr(a->basic_auth_password_hash, b->basic_auth_password_hash);
}

static int start_http(struct service *s, const struct config *c, struct http_server **ret)
{
	_cleanup_free_ char *err = NULL;
	int fds[64];
	size_t n = 0;
	int r;

	for (int i = 0; i < s->listen_fds && n < ELEMENTSOF(fds); i++)
		fds[n++] = SD_LISTEN_FDS_START + i;
	r = http_start(c, s->store, fds, n, ret, &err);
	if (r < 0)
		return log_error_errno(r, "Failed to start the HTTP server: %s",
				       err ?: strerror(-r));
	return 0;
}

static void reload(struct service *s)
{
	_cleanup_free_ char *err = NULL;
	struct config next;
	int r;

	sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
		   now_nsec(CLOCK_MONOTONIC) / NSEC_PER_USEC);
	r = config_load(s->opts->config_path, s->opts, &next, &err);
	if (r < 0) {
		log_struct_errno(LOG_ERR, r, RAWTPD_MESSAGE_RELOAD_FAILED,
				 "Reload failed, keeping the running configuration: %s",
				 err ?: strerror(-r));
		goto done;
	}

	if (next.attach != s->cfg.attach || next.max_processes != s->cfg.max_processes ||
	    next.data_path != s->cfg.data_path || !streq_ptr(next.btf, s->cfg.btf))
		log_notice("[bpf] attach, data_path, max_processes and btf take effect at the next "
			   "restart");

	if (s->listen_fds == 0 && !listen_equal(&next, &s->cfg)) {
		struct http_server *h = NULL;

		/* Stop first: the new set may reuse a port of the old one. */
		s->http = http_stop(s->http);
		if (start_http(s, &next, &h) < 0) {
			log_error("Keeping the previous listen addresses");
			if (start_http(s, &s->cfg, &s->http) < 0)
				log_error("The HTTP server could not be restarted either; nothing "
					  "is being served until the next successful reload");
			config_done(&next);
			goto done;
		}
		s->http = h;
	}

	log_set_max_level(next.log_level);
	if (next.interval_usec != s->cfg.interval_usec) {
		uint64_t now;

		sd_event_now(s->event, CLOCK_MONOTONIC, &now);
		sd_event_source_set_time(s->timer, now + next.interval_usec);
	}
	config_done(&s->cfg);
	s->cfg = next;
	log_info("Configuration reloaded (interval %.3fs, group_by %s)",
		 (double)s->cfg.interval_usec / USEC_PER_SEC, group_by_to_string(s->cfg.group_by));
	if ((s->cfg.group_by == GROUP_BY_UNIT || s->cfg.group_by == GROUP_BY_CGROUP) && !s->latency)
		log_notice("group_by %s: run-queue latency histograms and preemptions are counted "
			   "only when rawtpd starts with group_by unit or cgroup (on the thread "
			   "data path); restart rawtpd to have them",
			   group_by_to_string(s->cfg.group_by));
done:
	sd_notify(false, "READY=1");
}

static int on_signal(sd_event_source *es, const struct signalfd_siginfo *si, void *userdata)
{
	struct service *s = userdata;

	if (si->ssi_signo == SIGHUP) {
		reload(s);
		return 0;
	}
	log_info("Received %s, stopping", strsignal((int)si->ssi_signo));
	sd_notify(false, "STOPPING=1");
	return sd_event_exit(s->event, 0);
}

/* --- start-up ------------------------------------------------------------------------ */

/* Load and attach the BPF side; what the snapshots and the names need of it follows. */
static int attach(struct service *s)
{
	struct collector_options co = {
		.mode = s->cfg.attach,
		.data_path = s->cfg.data_path,
		.max_processes = s->cfg.max_processes,
		.latency = s->cfg.group_by == GROUP_BY_UNIT || s->cfg.group_by == GROUP_BY_CGROUP,
		.btf = {s->cfg.btf,
			s->opts->set & OPT_SET_BTF ? KERNEL_BTF_FLAG : KERNEL_BTF_CONFIG},
	};
	_cleanup_free_ char *err = NULL;
	struct kernel_caps caps;
	int r;

	/* Say which capability is missing before the kernel says only "Operation not permitted". */
	kernel_caps_read(&caps);
	r = kernel_caps_check(&caps, &err);
	if (r < 0) {
		log_error("%s", err ?: strerror(-r));
		return r;
	}
	r = collector_open(&co, &s->collector, &err);
	if (r < 0) {
		log_error("%s", err ?: strerror(-r));
		return r;
	}
	s->facts.attach_mode = collector_attach_mode(s->collector);
	s->facts.data_path = collector_data_path(s->collector);
	s->facts.data_path_reason = collector_data_path_reason(s->collector);
	s->facts.map_capacity = collector_capacity(s->collector);
	s->names = (struct agg_names){
		.renames_tracked = collector_tracks_renames(s->collector),
		.read_comm = read_comm,
		.userdata = s->collector,
	};
	log_struct_errno(
		LOG_NOTICE, 0, RAWTPD_MESSAGE_ATTACHED,
		"Attached in mode %s on the %s data path (%s); counting up to %u processes "
		"every %.3fs",
		collector_attach_mode(s->collector), collector_data_path(s->collector),
		collector_data_path_reason(s->collector), collector_capacity(s->collector),
		(double)s->cfg.interval_usec / USEC_PER_SEC);
	if (cgroup_cache_new(NULL, &s->cgroups) < 0) {
		log_notice("No cgroup2 (unified) hierarchy is mounted: processes carry no unit or "
			   "cgroup labels");
		s->cgroups = cgroup_cache_free(s->cgroups);
	} else {
		log_info("Labelling processes from the cgroup2 hierarchy at %s",
			 cgroup_cache_root(s->cgroups));
	}
	if (s->cgroups && (groups_new(GROUP_BY_UNIT, &s->groups[0]) < 0 ||
			   groups_new(GROUP_BY_CGROUP, &s->groups[1]) < 0)) {
		log_error("Out of memory");
		return -ENOMEM;
	}
	if (!s->cgroups && co.latency)
		log_notice("group_by %s needs the cgroup2 (unified) hierarchy: there are no groups "
			   "to show",
			   group_by_to_string(s->cfg.group_by));
	{
		const struct sample_hist *h;
		const struct sample_pair *p;
		size_t nh, np;

		s->latency = collector_latency(s->collector, &h, &nh, &p, &np);
		if (s->latency)
			log_info("Counting run-queue latency histograms and preemptions by group");
		else if (co.latency)
			log_notice("Run-queue latency histograms and preemptions need the thread "
				   "data path (Linux 6.5+); grouping counters only");
	}
	/*
	 * Loading parsed the kernel's BTF and the BPF object: megabytes, freed now, that the
	 * kept heap (main.c) would otherwise hold resident for the daemon's whole life.
	 */
	malloc_trim(0);
	return 0;
}

/* The event loop: signals and the watchdog (the aggregation timer comes with serving). */
static int setup_loop(struct service *s)
{
	int r;

	r = sd_event_default(&s->event);
	if (r < 0)
		return log_error_errno(r, "Failed to create the event loop: %m");
	if ((r = sd_event_add_signal(s->event, NULL, SIGTERM, on_signal, s)) < 0 ||
	    (r = sd_event_add_signal(s->event, NULL, SIGINT, on_signal, s)) < 0 ||
	    (r = sd_event_add_signal(s->event, NULL, SIGHUP, on_signal, s)) < 0)
		return log_error_errno(r, "Failed to watch signals: %m");
	/* Pings the watchdog from the loop itself: a stuck aggregation stops the pings. */
	r = sd_event_set_watchdog(s->event, true);
	if (r < 0)
		log_warning_errno(r, "Failed to enable the watchdog: %m");
	return 0;
}

/* The first snapshot, the aggregation timer, then the HTTP server. */
static int start_serving(struct service *s)
{
	uint64_t now;
	int r;

	r = snapshot_store_new(&s->store);
	if (r < 0)
		return log_error_errno(r, "Failed to allocate the snapshot store: %m");
	r = snapshot_pool_new(&s->pool);
	if (r < 0)
		return log_error_errno(r, "Failed to allocate the snapshot buffer pool: %m");
	/* The first snapshot right away, so READY=1 means "scrapable". */
	if (aggregate_once(s) < 0)
		s->aggregation_failures++;
	sd_event_now(s->event, CLOCK_MONOTONIC, &now);
	r = sd_event_add_time(s->event, &s->timer, CLOCK_MONOTONIC, now + s->cfg.interval_usec,
			      s->cfg.interval_usec / 20, on_timer, s);
	if (r < 0)
		return log_error_errno(r, "Failed to arm the aggregation timer: %m");
	/* Serve only now: a connection that socket-activated us gets the first snapshot, not a
	 * 503, and the unit is active by the time anything is answered. */
	r = start_http(s, &s->cfg, &s->http);
	if (r < 0)
		return r;
	if (s->listen_fds)
		log_info("Serving HTTP on %d socket(s) passed by systemd", s->listen_fds);
	else
		for (unsigned i = 0; i < s->cfg.n_listen; i++)
			log_info("Serving HTTP on %s", s->cfg.listen[i]);
	return 0;
}

static void service_done(struct service *s)
{
	s->http = http_stop(s->http);
	s->collector = collector_close(s->collector);
	s->timer = sd_event_source_unref(s->timer);
	s->event = sd_event_unref(s->event);
	s->store = snapshot_store_free(s->store);
	s->pool = snapshot_pool_unref(s->pool); /* freed with the last snapshot that uses it */
	s->cgroups = cgroup_cache_free(s->cgroups);
	s->groups[0] = groups_free(s->groups[0]);
	s->groups[1] = groups_free(s->groups[1]);
	aggregate_done(&s->agg);
	config_done(&s->cfg);
}

int service_run(const struct options *o)
{
	_cleanup_free_ char *err = NULL;
	struct service s = {.opts = o};
	sigset_t mask;
	int r, status = 1;

	aggregate_init(&s.agg);
	r = config_load(o->config_path, o, &s.cfg, &err);
	if (r < 0) {
		log_error("%s", err ?: "invalid configuration");
		return 2;
	}
	log_set_max_level(s.cfg.log_level);
	start_facts(&s.facts);
	self_stats_read("/proc", &s.facts); /* the start time, once; the rest every snapshot */
	log_struct_errno(LOG_INFO, 0, RAWTPD_MESSAGE_STARTED, "rawtpd %s starting on Linux %s",
			 RAWTPD_VERSION, s.facts.kernel_release);

	/* Signals are handled by the loop; block them before any thread starts. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (attach(&s) < 0)
		goto out;
	r = sd_listen_fds(true);
	if (r < 0) {
		log_error_errno(r, "Failed to receive sockets from systemd: %m");
		goto out;
	}
	s.listen_fds = r;
	if (setup_loop(&s) < 0 || start_serving(&s) < 0)
		goto out;
	sd_notify(false, "READY=1");

	r = sd_event_loop(s.event);
	if (r < 0) {
		log_error_errno(r, "Event loop failed: %m");
		goto out;
	}
	status = 0;
	log_info("Stopped");
out:
	service_done(&s);
	return status;
}
