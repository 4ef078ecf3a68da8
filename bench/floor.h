/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The machine's floor, measured in the same run as the backends: what a
 * wake-up round trip between two processes (also with a lone flush's
 * UPDATE sent on the way), an 8 MiB memcpy and 8 MiB through a unix
 * socket cost here and now. Figures are also given as
 * multiples of it, which says more than microseconds on a shared machine.
 */
#ifndef BENCH_FLOOR_H
#define BENCH_FLOOR_H

#include "bench/report.h"

struct floor_acc {
	struct series rtt_us;	/* eventfd ping-pong round trips */
	uint64_t wake_ns, wakes;	/* the responder's CPU, its round trips */
	uint64_t upd_ns, upds;		/* the same, sending a lone flush's UPDATE */
	struct series memcpy_ms;
	struct series unix_ms;
	struct series splice_ms;	/* the same trip, spliced */
};

/* One round: rtts round trips, reps copies and socket transfers. */
int floor_round(struct floor_acc *a, unsigned rtts, unsigned reps);
/* p50s into r->floor. */
void floor_report(struct floor_acc *a, struct report *r);
void floor_free(struct floor_acc *a);

#endif /* BENCH_FLOOR_H */
