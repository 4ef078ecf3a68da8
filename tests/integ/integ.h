/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the integration test suites share: the frontend they drive (F,
 * one per test process), the hang-up check that ends a test, and the
 * assertions that say what the daemon did.
 */
#ifndef TESTS_INTEG_INTEG_H
#define TESTS_INTEG_INTEG_H

#include <string.h>

#include <criterion/criterion.h>

#include "tests/frontend.h"

#define PF(bit) (1ull << (bit))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

extern struct vuf F;

/* Suite hooks: a fresh F; at the end, a daemon still running is hung up
 * on and must exit 0 by itself (under --enable-sanitize that is when
 * LeakSanitizer reports). */
void integ_setup(void);
void integ_teardown(void);

/* A response type (or a negative errno) by name, for messages. */
const char *resp_name(int t);

/* A missing binary would otherwise read as a hang-up. */
void check_binary(void);
/* A GET_FEATURES round trip: everything sent before was handled. */
void barrier(void);
/* The daemon is still running and answers. */
void expect_alive(void);

#define OK(expr)                                                          \
	do {                                                              \
		int r_ = (expr);                                          \
		cr_assert(r_ >= 0, "%s failed: %s (%d)\ndaemon stderr:\n%s", \
			  #expr, strerror(-r_), r_, F.err);               \
	} while (0)

/* A command answered with this response type. */
#define RESP(want, expr)                                                  \
	do {                                                              \
		int r_ = (expr);                                          \
		cr_assert(r_ == (int)(want),                              \
			  "%s: expected %s, got %s\ndaemon stderr:\n%s",  \
			  #expr, resp_name((int)(want)), resp_name(r_), F.err); \
	} while (0)

#define NODATA(expr) RESP(VIRTIO_GPU_RESP_OK_NODATA, expr)

#endif /* TESTS_INTEG_INTEG_H */
