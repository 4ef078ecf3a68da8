/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define RL_BURST 10
#define RL_WINDOW_NS 1000000000ull

static enum log_level cur_level = LOG_LVL_INFO;
static bool use_syslog;

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

int
log_level_parse(const char *s)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

/* stderr leads nowhere: closed, or the null device (1, 3). */
static bool
stderr_is_void(void)
{
	struct stat st;

	if (fstat(STDERR_FILENO, &st) < 0)
		return true;
	return S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 &&
	       minor(st.st_rdev) == 3;
}

void
log_init(enum log_level level, enum log_target target)
{
	cur_level = level;
	if (target == LOG_TARGET_AUTO)
		use_syslog = stderr_is_void();
	else
		use_syslog = target == LOG_TARGET_SYSLOG;
	if (use_syslog)
		openlog("vugpu", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_finish(void)
{
	if (use_syslog)
		closelog();
}

bool
log_enabled(enum log_level level)
{
	return level <= cur_level;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	static const int prio[] = {
		[LOG_LVL_ERROR] = LOG_ERR,
		[LOG_LVL_WARN] = LOG_WARNING,
		[LOG_LVL_INFO] = LOG_INFO,
		[LOG_LVL_DEBUG] = LOG_DEBUG,
	};
	char buf[1024];
	va_list ap;
	int saved = errno;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (use_syslog)
		syslog(prio[level], "%s", buf);
	else
		fprintf(stderr, "vugpu: %s: %s\n", level_names[level], buf);
	errno = saved;
}

bool
log_ratelimit_ok(struct log_ratelimit *rl, unsigned *suppressed)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	*suppressed = 0;
	if (now - rl->window_start_ns >= RL_WINDOW_NS) {
		*suppressed = rl->suppressed;
		rl->window_start_ns = now;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	if (rl->printed < RL_BURST) {
		rl->printed++;
		return true;
	}
	rl->suppressed++;
	return false;
}
