/* SPDX-License-Identifier: GPL-2.0-only */
/* --probe: what this kernel supports and which attach mode auto would choose. */
#ifndef RAWTPD_PROBE_H
#define RAWTPD_PROBE_H

#include <stdbool.h>

/* Print the report (text, or JSON with json) to stdout. Returns the process exit status. */
int probe_run(bool json);

#endif
