/* SPDX-License-Identifier: GPL-2.0-only */
/* --probe: what this kernel supports and which attach mode auto would choose. */
#ifndef RAWTPD_PROBE_H
#define RAWTPD_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "kernel.h"

/*
 * Print the report, with an estimate of the counts map's kernel memory at max_processes (text,
 * or JSON with json) to stdout: 0 even when no mode works, 1 only when no report could be made.
 * log_level < 0 keeps libbpf quiet (LOG_DEBUG shows its output). btf (may be NULL) is the
 * file the user named.
 */
int probe_run(bool json, int log_level, uint32_t max_processes, const struct kernel_btf_given *btf);

#endif
