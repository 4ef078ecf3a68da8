/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The workloads. Each runs in short rounds (the caller alternates the
 * backends between rounds) and adds what it measured to an accumulator;
 * its report function turns the accumulator into figures.
 */
#ifndef BENCH_WORK_H
#define BENCH_WORK_H

#include "bench/conn.h"
#include "bench/report.h"

#define WORK_SERIES 4
#define WORK_MAX 16		/* workloads */

/* What one workload measured on one backend, over all its rounds. */
struct work_acc {
	struct series lat[WORK_SERIES];	/* latencies, per kind */
	struct series rate[WORK_SERIES];	/* per-round rates, per kind: the
						 * median over rounds is reported */
	uint64_t count[WORK_SERIES];	/* commands, frames, moves */
	uint64_t time_ns[WORK_SERIES];	/* the time they took */
	uint64_t cpu_ns[WORK_SERIES];	/* backend CPU meanwhile */
	uint64_t self_ns[WORK_SERIES];	/* the benchmark's own CPU meanwhile */
	uint64_t bytes[WORK_SERIES];	/* UPDATE pixel bytes received */
	uint64_t updates[WORK_SERIES];	/* UPDATE messages */
	uint64_t items;			/* rectangles (desktop); set up (virgl) */
	uint64_t full_checks, sample_checks;	/* pixel checks that passed */
	long hwm_kb;			/* peak RSS over the rounds */
	bool ran;
};

struct work_cfg {
	unsigned dur_ms;	/* per measurement in a round */
	uint32_t seed;		/* desktop rectangles */
	bool quick;
};

struct workload {
	const char *name;
	bool per_round;		/* false: measured once (idle) */
	bool optional;		/* only when named (virgl) */
	unsigned dur_mult;	/* its measurements last this many times the
				 * round's duration (frames are long) */
	/* One round on c. 0 or -errno, c->why set. */
	int (*round)(struct bconn *c, const struct work_cfg *cfg,
		     struct work_acc *a);
	void (*report)(struct work_acc *a, struct report *r, unsigned be);
};

extern const struct workload workloads[];
extern const unsigned n_workloads;

/* idle is measured on all backends at once: they rest side by side. */
int work_idle(struct bconn *const *c, unsigned n, unsigned ms,
	      struct work_acc *a);

void work_acc_free(struct work_acc *a);

#endif /* BENCH_WORK_H */
