/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Logging. Levels are syslog's. When stderr is connected to the journal (JOURNAL_STREAM), lines
 * go through sd-journal with structured fields; otherwise to stderr, "<N>"-prefixed when a
 * syslog-style reader is on the other side, human-readable on a terminal.
 *
 * Modules log at debug at most; the caller logs once, with the cause:
 *	return log_error_errno(r, "Failed to attach %s: %m", mode);
 * "%m" expands to strerror(-r) for the *_errno() forms.
 */
#ifndef RAWTPD_LOG_H
#define RAWTPD_LOG_H

#include <syslog.h>

/* sd-journal MESSAGE_ID values (generated with `systemd-id128 new`). */
#define RAWTPD_MESSAGE_STARTED	     "c8a6a6f2a0b84a4bb1e6a3b3a1e0d701"
#define RAWTPD_MESSAGE_ATTACHED	     "c8a6a6f2a0b84a4bb1e6a3b3a1e0d702"
#define RAWTPD_MESSAGE_MAP_FULL	     "c8a6a6f2a0b84a4bb1e6a3b3a1e0d703"
#define RAWTPD_MESSAGE_RELOAD_FAILED "c8a6a6f2a0b84a4bb1e6a3b3a1e0d704"

void log_set_max_level(int level);
int log_get_max_level(void);
/* Parse "debug", "info", "notice", "warning", "err" (and "error"); -EINVAL otherwise. */
int log_level_from_string(const char *s);
const char *log_level_to_string(int level);

/*
 * Write one message. error is 0 or an errno (either sign); the return value is -abs(error) so
 * callers can "return log_error_errno(r, ...)". message_id may be NULL.
 */
int log_internal(int level, int error, const char *message_id, const char *file, int line,
		 const char *func, const char *format, ...) __attribute__((format(printf, 7, 8)));

#define log_full_errno(level, error, ...) \
	log_internal(level, error, NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full(level, ...) log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...)	 log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)	 log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)	 log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)	 log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...)	  log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...)	  log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...)	  log_full_errno(LOG_ERR, e, __VA_ARGS__)

/* The same with a MESSAGE_ID for the journal. */
#define log_struct_errno(level, e, id, ...) \
	log_internal(level, e, id, __FILE__, __LINE__, __func__, __VA_ARGS__)

#endif
