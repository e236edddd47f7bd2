/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The daemon's life: attach, serve, aggregate every interval, reload on SIGHUP, stop on
 * SIGTERM/SIGINT. One sd_event loop on the main thread; talks to systemd (sd_notify).
 */
#ifndef RAWTPD_SERVICE_H
#define RAWTPD_SERVICE_H

#include "config.h"

/* Run until stopped. Returns the process exit status (0 clean stop, 1 failure, 2 bad config). */
int service_run(const struct options *o);

#endif
