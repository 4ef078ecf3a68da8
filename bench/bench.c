/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vugpu-bench: plays the frontend's part against a vhost-user-gpu backend
 * and measures it, optionally side by side with a second backend.
 *
 * Workloads so far:
 *   handshake  the whole QEMU 10 start-up sequence, per run
 *   control    one vhost-user request/reply round trip (GET_FEATURES)
 *
 * Output: one line per figure, "workload backend figure value unit";
 * with --json, one JSON document instead.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/frontend.h"

#define MAX_SAMPLES 100000

struct backend {
	const char *name;	/* "vugpu", "vs" */
	const char *cmd;	/* NULL: the vugpu next to us */
	double handshake_us[64];
	double *rtt_ns;
	unsigned nrtt, nhs;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(double *v, unsigned n, double p)
{
	size_t i;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	i = (size_t)(p / 100.0 * (n - 1) + 0.5);
	return v[i];
}

/* Start the backend (its binary and arguments split on spaces). */
static int
spawn(struct vuf *f, const struct backend *b)
{
	static char buf[1024];
	const char *args[VUF_MAX_ARGS];
	unsigned n = 0;
	char *save = NULL, *tok;

	if (!b->cmd)
		return vuf_spawn_fd(f, NULL);
	snprintf(buf, sizeof(buf), "%s", b->cmd);
	for (tok = strtok_r(buf, " ", &save); tok && n < VUF_MAX_ARGS - 1;
	     tok = strtok_r(NULL, " ", &save))
		args[n++] = tok;
	args[n] = NULL;
	if (n == 0)
		return -EINVAL;
	setenv("VUGPU_BIN", args[0], 1);
	return vuf_spawn_fd(f, args + 1);
}

static int
round_once(struct backend *b, unsigned rtts)
{
	struct vuf f;
	uint64_t t0;
	int ret;

	vuf_init(&f);
	ret = spawn(&f, b);
	if (ret < 0)
		goto out;
	t0 = now_ns();
	ret = vuf_qemu_handshake(&f, VUF_QEMU_10_0);
	if (ret < 0)
		goto out;
	if (b->nhs < 64)
		b->handshake_us[b->nhs++] = (double)(now_ns() - t0) / 1e3;
	for (unsigned i = 0; i < rtts && b->nrtt < MAX_SAMPLES; i++) {
		uint64_t v, t = now_ns();

		ret = vuf_get_u64(&f, VU_GET_FEATURES, &v);
		if (ret < 0)
			goto out;
		b->rtt_ns[b->nrtt++] = (double)(now_ns() - t);
	}
	vuf_hangup(&f);
	vuf_wait_exit(&f, VUF_TIMEOUT_MS);
out:
	vuf_finish(&f);
	return ret;
}

static void
report(struct backend *b, bool json, bool last)
{
	double hs = pct(b->handshake_us, b->nhs, 50);
	double p50 = pct(b->rtt_ns, b->nrtt, 50) / 1e3;
	double p99 = pct(b->rtt_ns, b->nrtt, 99) / 1e3;

	if (json) {
		printf("    \"%s\": {\"handshake_us_p50\": %.1f, "
		       "\"control_rtt_us_p50\": %.2f, \"control_rtt_us_p99\": %.2f, "
		       "\"samples\": %u}%s\n", b->name, hs, p50, p99, b->nrtt,
		       last ? "" : ",");
		return;
	}
	printf("handshake %s p50 %.1f us\n", b->name, hs);
	printf("control %s rtt_p50 %.2f us\n", b->name, p50);
	printf("control %s rtt_p99 %.2f us\n", b->name, p99);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "vs", required_argument, NULL, 'v' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct backend be[2] = {
		{ .name = "backend" }, { .name = "vs" },
	};
	unsigned nbe = 1, rounds = 10, rtts = 2000;
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "b:v:r:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			be[0].cmd = optarg;
			break;
		case 'v':
			be[1].cmd = optarg;
			nbe = 2;
			break;
		case 'r':
			rounds = (unsigned)strtoul(optarg, NULL, 10);
			if (!rounds || rounds > 64)
				rounds = 10;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			printf("Usage: vugpu-bench [--backend 'CMD ARGS'] "
			       "[--vs 'CMD ARGS'] [--rounds N] [--json]\n"
			       "CMD must take --fd N (as QEMU's backends do).\n");
			return 0;
		default:
			return 2;
		}
	}
	if (!be[0].cmd)
		be[0].name = "vugpu";
	for (unsigned i = 0; i < nbe; i++) {
		be[i].rtt_ns = calloc(MAX_SAMPLES, sizeof(double));
		if (!be[i].rtt_ns)
			return 1;
	}
	/* Alternate rounds so that both see the same machine. */
	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned i = 0; i < nbe; i++) {
			int ret = round_once(&be[i], rtts);

			if (ret < 0) {
				fprintf(stderr, "vugpu-bench: %s: %s\n",
					be[i].cmd ? be[i].cmd : "vugpu",
					strerror(-ret));
				return 1;
			}
		}
	}
	if (json)
		printf("{\n  \"backends\": {\n");
	for (unsigned i = 0; i < nbe; i++)
		report(&be[i], json, i + 1 == nbe);
	if (json) {
		printf("  }\n}\n");
	} else if (nbe == 2) {
		printf("control ratio rtt_p50 %.2f\n",
		       pct(be[0].rtt_ns, be[0].nrtt, 50) /
		       pct(be[1].rtt_ns, be[1].nrtt, 50));
	}
	for (unsigned i = 0; i < nbe; i++)
		free(be[i].rtt_ns);
	return 0;
}
