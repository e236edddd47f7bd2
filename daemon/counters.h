/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The counters kept per process (switches by kind, time on CPU) and their arithmetic, field by
 * field in this one place: a new counter is added here and everything that sums, subtracts or
 * compares counters follows.
 */
#ifndef RAWTPD_COUNTERS_H
#define RAWTPD_COUNTERS_H

#include <stdint.h>

struct counters {
	uint64_t voluntary;
	uint64_t involuntary;
	uint64_t runtime_ns;
	uint64_t run_delay_ns; /* runnable but waiting for a CPU (the kernel's sched_info) */
};

/* *to += *c */
static inline void counters_add(struct counters *to, const struct counters *c)
{
	to->voluntary += c->voluntary;
	to->involuntary += c->involuntary;
	to->runtime_ns += c->runtime_ns;
	to->run_delay_ns += c->run_delay_ns;
}

static inline uint64_t counters_u64_delta(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* How far a grew past b: a - b per field, never below zero. */
static inline struct counters counters_delta(const struct counters *a, const struct counters *b)
{
	return (struct counters){
		.voluntary = counters_u64_delta(a->voluntary, b->voluntary),
		.involuntary = counters_u64_delta(a->involuntary, b->involuntary),
		.runtime_ns = counters_u64_delta(a->runtime_ns, b->runtime_ns),
		.run_delay_ns = counters_u64_delta(a->run_delay_ns, b->run_delay_ns),
	};
}

static inline uint64_t counters_u64_max(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* The larger of a and b, per field. */
static inline struct counters counters_max(const struct counters *a, const struct counters *b)
{
	return (struct counters){
		.voluntary = counters_u64_max(a->voluntary, b->voluntary),
		.involuntary = counters_u64_max(a->involuntary, b->involuntary),
		.runtime_ns = counters_u64_max(a->runtime_ns, b->runtime_ns),
		.run_delay_ns = counters_u64_max(a->run_delay_ns, b->run_delay_ns),
	};
}

/* Context switches of both kinds. */
static inline uint64_t counters_switches(const struct counters *c)
{
	return c->voluntary + c->involuntary;
}

#endif
