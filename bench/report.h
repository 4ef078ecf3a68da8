/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Figures and how they are printed: machine-readable lines
 * ("workload backend figure value unit"), or one JSON document, ratios
 * between two backends, multiples of the machine's floor, the issue's
 * targets, and the comparison with a saved JSON (--baseline).
 */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REP_MAX_FIGS 160

/* A growable list of samples. */
struct series {
	double *v;
	size_t n, cap;
};

int series_add(struct series *s, double v);
/* The p-th percentile (nearest rank), 0 when empty. Sorts s. */
double series_pct(struct series *s, double p);
double series_max(const struct series *s);
void series_free(struct series *s);

enum rep_better {
	REP_LOWER,		/* latency, CPU, memory, wake-ups */
	REP_HIGHER,		/* rates */
	REP_INFO,		/* context only: no direction, no ratio check */
};

/* Which machine floor a figure is compared with. */
enum rep_floor {
	REP_FLOOR_NONE,
	REP_FLOOR_RTT,		/* a time in us: x eventfd round trip p50 */
	REP_FLOOR_FRAME_MS,	/* a time in ms: x (memcpy + unix socket) of a frame */
	REP_FLOOR_FRAME_RATE,	/* frames/s: its period x the same */
	REP_FLOOR_WAKE_CPU,	/* CPU us: x the ping-pong responder's CPU */
	REP_FLOOR_UPDATE_CPU,	/* CPU us: x the same, sending a 64x64 UPDATE */
};

struct rep_fig {
	char workload[16];
	char name[32];
	const char *unit;
	enum rep_better better;
	bool gate;		/* compared with --baseline */
	enum rep_floor floor;
	double slack;		/* absolute change always tolerated (wake-ups) */
	bool have[2];
	double v[2];		/* per backend */
};

struct rep_floor_vals {
	double rtt_us;		/* eventfd ping-pong between two processes, p50 */
	double memcpy_ms;	/* 8 MiB memcpy, p50 */
	double unix_ms;		/* 8 MiB through a unix stream socket, p50 */
	double frame_ms;	/* (memcpy + unix) scaled to one 1920x1080 frame */
	double splice_ms;	/* 8 MiB spliced through a unix socket, p50 */
	double frame_splice_ms;	/* (memcpy + splice) for one frame */
	double wake_cpu_us;	/* the ping-pong responder's CPU per round trip */
	double update_cpu_us;	/* the same, when it also sends a 64x64 UPDATE */
};

struct report {
	unsigned nbe;
	const char *name[2];
	const char *cmd[2];
	bool quick;
	unsigned rounds, ring;
	struct rep_floor_vals floor;
	bool have_floor;
	unsigned nfig;
	struct rep_fig fig[REP_MAX_FIGS];
};

/* Record figure workload/name of backend be (0 or 1). */
void rep_set(struct report *r, unsigned be, const char *workload,
	     const char *name, const char *unit, enum rep_better better,
	     bool gate, enum rep_floor floor, double v);
/* Tolerate an absolute change of slack on top of the percentage. */
void rep_slack(struct report *r, const char *workload, const char *name,
	       double slack);

/* The figure's value as a multiple of its floor (NAN without one). */
double rep_xfloor(const struct report *r, const struct rep_fig *f,
		  unsigned be);

/* Print lines (or, json, one document) to stdout. Returns the number of
 * targets that fail. */
unsigned rep_print(struct report *r, bool json);

/*
 * Compare with a JSON document written by --json. Each gated figure of
 * the first backend is compared (its ratio when both documents carry
 * ratios); a change for the worse of more than threshold percent is a
 * regression. Prints one line per compared figure on stderr. Returns
 * the number of regressions, or -errno when the file cannot be read.
 */
int rep_baseline(const struct report *r, const char *path, double threshold);

#endif /* BENCH_REPORT_H */
