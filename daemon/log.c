// SPDX-License-Identifier: GPL-2.0-only
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"
#include "util.h"

static int max_level = LOG_INFO;
static int target = -1; /* -1: not decided yet; 0 console; 1 journal */

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",	  [LOG_CRIT] = "crit",
	[LOG_ERR] = "err",     [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

void log_set_max_level(int level)
{
	max_level = level;
}

int log_get_max_level(void)
{
	return max_level;
}

int log_level_from_string(const char *s)
{
	if (!s)
		return -EINVAL;
	if (strcasecmp(s, "error") == 0)
		return LOG_ERR;
	if (strcasecmp(s, "warn") == 0)
		return LOG_WARNING;
	for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

const char *log_level_to_string(int level)
{
	if (level < 0 || (size_t)level >= ELEMENTSOF(level_names))
		return "?";
	return level_names[level];
}

/* stderr is the journal when JOURNAL_STREAM names its device and inode (systemd.exec(5)). */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int log_internal(int level, int error, const char *message_id, const char *file, int line,
		 const char *func, const char *format, ...)
{
	char buf[2048];
	int saved_errno = errno;
	va_list ap;

	if (error < 0)
		error = -error;
	if (level > max_level)
		return -error;

	/* "%m" in the format means the error passed in, not whatever errno happens to be. */
	errno = error;
	va_start(ap, format);
	vsnprintf(buf, sizeof(buf), format, ap);
	va_end(ap);

	if (target < 0)
		target = stderr_is_journal() ? 1 : 0;

	if (target == 1) {
		char prio[32], cline[32], errf[32], mid[64];
		struct iovec iov[9];
		size_t n = 0;
		_cleanup_free_ char *msg = NULL, *cfile = NULL, *cfunc = NULL;

		if (asprintf(&msg, "MESSAGE=%s", buf) < 0 ||
		    asprintf(&cfile, "CODE_FILE=%s", file) < 0 ||
		    asprintf(&cfunc, "CODE_FUNC=%s", func) < 0)
			goto console;
		snprintf(prio, sizeof(prio), "PRIORITY=%d", level);
		snprintf(cline, sizeof(cline), "CODE_LINE=%d", line);
		iov[n++] = (struct iovec){msg, strlen(msg)};
		iov[n++] = (struct iovec){prio, strlen(prio)};
		iov[n++] = (struct iovec){(char *)"SYSLOG_IDENTIFIER=rawtpd", 24};
		iov[n++] = (struct iovec){cfile, strlen(cfile)};
		iov[n++] = (struct iovec){cline, strlen(cline)};
		iov[n++] = (struct iovec){cfunc, strlen(cfunc)};
		if (error > 0) {
			snprintf(errf, sizeof(errf), "ERRNO=%d", error);
			iov[n++] = (struct iovec){errf, strlen(errf)};
		}
		if (message_id) {
			snprintf(mid, sizeof(mid), "MESSAGE_ID=%s", message_id);
			iov[n++] = (struct iovec){mid, strlen(mid)};
		}
		if (sd_journal_sendv(iov, (int)n) >= 0)
			goto out;
	}
console:
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "rawtpd: %s%s\n",
			level <= LOG_ERR       ? "error: "
			: level == LOG_WARNING ? "warning: "
					       : "",
			buf);
	else
		fprintf(stderr, "<%d>%s\n", level, buf);
out:
	errno = saved_errno;
	return -error;
}
