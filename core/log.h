/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging. Messages go to stderr when it leads somewhere (a terminal, a
 * pipe, a file) and to syslog (so the journal) when it is /dev/null or
 * closed, which is how libvirt starts backends.
 */
#ifndef CORE_LOG_H
#define CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LVL_ERROR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

enum log_target {
	LOG_TARGET_AUTO,
	LOG_TARGET_STDERR,
	LOG_TARGET_SYSLOG,
};

/* Parse "error", "warn", "info", "debug"; -1 if unknown. */
int log_level_parse(const char *s);

void log_init(enum log_level level, enum log_target target);
void log_finish(void);
bool log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * For messages the guest or the frontend can trigger at will: at most
 * `burst` per site and then one a second, with a count of what was
 * dropped. No timer: the clock is read when a message is logged.
 */
struct log_ratelimit {
	uint64_t window_start_ns;
	unsigned printed;
	unsigned suppressed;
};

bool log_ratelimit_ok(struct log_ratelimit *rl, unsigned *suppressed);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                  \
	do {                                            \
		if (log_enabled(LOG_LVL_DEBUG))         \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__); \
	} while (0)

/* Rate-limited, one limiter per call site. */
#define log_limited(level, fmt, ...)                                        \
	do {                                                                \
		static struct log_ratelimit rl_;                            \
		unsigned dropped_;                                          \
		if (log_enabled(level) && log_ratelimit_ok(&rl_, &dropped_)) { \
			if (dropped_)                                       \
				log_msg(level, "(%u similar messages suppressed)", \
					dropped_);                          \
			log_msg(level, fmt, ##__VA_ARGS__);                 \
		}                                                           \
	} while (0)

#endif /* CORE_LOG_H */
