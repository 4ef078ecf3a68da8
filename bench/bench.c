/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vugpu-bench: plays QEMU's part (the vhost-user frontend and its
 * display) against a vhost-user-gpu backend and measures it, optionally
 * side by side with a second backend, against the machine's own floor.
 *
 * Workloads (docs/benchmarks.md says what each measures, from where to
 * where): idle, latency, throughput, frame, desktop, cursor, and, with
 * --virgl, virgl.
 *
 * Schedule: every backend is started and set up once. idle is measured
 * first, on all of them at once. Then, round after round, the machine's
 * floor is measured and every workload runs a short round on each
 * backend in turn, the order alternating between rounds, so that both
 * see the same machine state.
 *
 * Output: one line per figure, "workload backend figure value unit",
 * with "_xfloor" lines (the figure as a multiple of the machine's floor),
 * "ratio" lines (backend / vs) and "target" lines; with --json, one JSON
 * document instead. --baseline compares with a saved document and exits
 * 3 when a figure regressed. Exit 1: a backend failed (or showed wrong
 * pixels); 2: usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/conn.h"
#include "bench/floor.h"
#include "bench/report.h"
#include "bench/work.h"

struct opts {
	const char *cmd[2];
	const char *name[2];
	unsigned nbe;
	unsigned rounds;
	unsigned dur_ms;
	unsigned idle_ms;
	unsigned ring;
	uint32_t seed;
	bool quick, json, virgl;
	const char *baseline;
	double threshold;
	bool want[16];
	bool named;
};

static bool progress;

/* The live progress line, on a terminal only. */
static void __attribute__((format(printf, 1, 2)))
say(const char *fmt, ...)
{
	va_list ap;

	if (!progress)
		return;
	fputs("\r\033[K", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

/* A message that must not share the line with the progress line. */
static void __attribute__((format(printf, 1, 2)))
complain(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%svugpu-bench: ", progress ? "\r\033[K" : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
usage(FILE *to)
{
	fprintf(to,
		"Usage: vugpu-bench [OPTION]... [WORKLOAD]...\n"
		"Measure a vhost-user-gpu backend, playing QEMU's part.\n\n"
		"Workloads: idle latency throughput frame desktop cursor (default:\n"
		"all of them), virgl (with --virgl).\n\n"
		"  -b, --backend 'CMD ARGS'  the backend (default: the vugpu next to\n"
		"                            this program); it must take --fd N\n"
		"  -v, --vs 'CMD ARGS'       a second backend, run side by side\n"
		"      --name NAME           the backend's name in the output\n"
		"      --vs-name NAME        the second backend's\n"
		"  -q, --quick               the quick suite: 2 short rounds (the\n"
		"                            default without --vs; `ninja bench`)\n"
		"  -f, --full                the full suite: 5 rounds (the default\n"
		"                            with --vs)\n"
		"  -r, --rounds N            rounds per workload (full: 5, quick: 2)\n"
		"  -d, --duration MS         one measurement in a round (full: 300,\n"
		"                            quick: 100; frame and desktop twice that)\n"
		"      --idle MS             how long idle watches (full: 3000,\n"
		"                            quick: 1000)\n"
		"      --ring N              control queue size (64: QEMU's for 2D)\n"
		"      --seed N              the desktop's rectangles (1)\n"
		"  -j, --json                one JSON document instead of lines\n"
		"      --baseline FILE       compare with a saved --json document:\n"
		"                            exit 3 when a figure regressed\n"
		"      --threshold PCT       what regressed means (20)\n"
		"      --virgl               start the backends with --virgl and add\n"
		"                            the virgl workload\n"
		"  -h, --help\n\n"
		"Output: \"workload backend figure value unit\" lines; _xfloor: the\n"
		"figure as a multiple of the machine's floor; \"ratio\": backend / vs;\n"
		"\"target\": the project's goals. docs/benchmarks.md has the method.\n"
		"Exit status: 0; 1 a backend failed or showed wrong pixels; 2 usage;\n"
		"3 a figure regressed past the threshold (--baseline).\n");
}

static int
workload_index(const char *name)
{
	for (unsigned i = 0; i < n_workloads; i++)
		if (strcmp(workloads[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int
parse(struct opts *o, int argc, char **argv)
{
	enum { O_NAME = 256, O_VS_NAME, O_IDLE, O_RING, O_SEED, O_BASELINE,
	       O_THRESHOLD, O_VIRGL };
	static const struct option longopts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "vs", required_argument, NULL, 'v' },
		{ "name", required_argument, NULL, O_NAME },
		{ "vs-name", required_argument, NULL, O_VS_NAME },
		{ "quick", no_argument, NULL, 'q' },
		{ "full", no_argument, NULL, 'f' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "idle", required_argument, NULL, O_IDLE },
		{ "ring", required_argument, NULL, O_RING },
		{ "seed", required_argument, NULL, O_SEED },
		{ "json", no_argument, NULL, 'j' },
		{ "baseline", required_argument, NULL, O_BASELINE },
		{ "threshold", required_argument, NULL, O_THRESHOLD },
		{ "virgl", no_argument, NULL, O_VIRGL },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long rounds = 0, dur = 0, idle = 0;
	bool idle_set = false;
	int quick = -1;
	char *end;
	int c;

	*o = (struct opts){ .nbe = 1, .ring = 64, .seed = 1, .threshold = 20 };
	while ((c = getopt_long(argc, argv, "b:v:qfr:d:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o->cmd[0] = optarg;
			break;
		case 'v':
			o->cmd[1] = optarg;
			o->nbe = 2;
			break;
		case O_NAME:
		case O_VS_NAME:
			/* a name is one field of the output lines */
			if (!*optarg || strpbrk(optarg, " \t\n\"\\"))
				goto bad;
			o->name[c == O_VS_NAME] = optarg;
			break;
		case 'q':
			quick = 1;
			break;
		case 'f':
			quick = 0;
			break;
		case 'r':
			rounds = strtoul(optarg, &end, 10);
			if (*end || !rounds || rounds > 1000)
				goto bad;
			break;
		case 'd':
			dur = strtoul(optarg, &end, 10);
			if (*end || !dur || dur > 600000)
				goto bad;
			break;
		case O_IDLE:
			idle = strtoul(optarg, &end, 10);
			if (*end || idle > 600000)
				goto bad;
			idle_set = true;
			break;
		case O_RING:
			o->ring = (unsigned)strtoul(optarg, &end, 10);
			if (*end || o->ring < 4 || o->ring > BC_RING_MAX ||
			    (o->ring & (o->ring - 1)))
				goto bad;
			break;
		case O_SEED:
			o->seed = (uint32_t)strtoul(optarg, &end, 0);
			if (*end)
				goto bad;
			break;
		case 'j':
			o->json = true;
			break;
		case O_BASELINE:
			o->baseline = optarg;
			break;
		case O_THRESHOLD:
			o->threshold = strtod(optarg, &end);
			if (*end || o->threshold < 0)
				goto bad;
			break;
		case O_VIRGL:
			o->virgl = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	/* Alone, the quick suite (what `ninja bench` runs, a few seconds);
	 * side by side, the full one: a comparison wants more rounds. */
	o->quick = quick < 0 ? o->nbe == 1 : quick == 1;
	o->rounds = rounds ? (unsigned)rounds : o->quick ? 2 : 5;
	o->dur_ms = dur ? (unsigned)dur : o->quick ? 100 : 300;
	o->idle_ms = idle_set ? (unsigned)idle : o->quick ? 1000 : 3000;
	for (; optind < argc; optind++) {
		int i = workload_index(argv[optind]);

		if (i < 0) {
			fprintf(stderr, "vugpu-bench: no workload \"%s\"\n",
				argv[optind]);
			return -EINVAL;
		}
		o->want[i] = true;
		o->named = true;
	}
	if (!o->named)
		for (unsigned i = 0; i < n_workloads; i++)
			o->want[i] = !workloads[i].optional ||
				     (o->virgl && strcmp(workloads[i].name, "virgl") == 0);
	return 0;
bad:
	for (const struct option *lo = longopts; lo->name; lo++)
		if (lo->val == c)
			fprintf(stderr, "vugpu-bench: bad value for --%s: %s\n",
				lo->name, optarg);
	return -EINVAL;
}

/* The name a backend goes by in the output: given, or its binary's. */
static const char *
default_name(const char *cmd, char *buf, size_t cap)
{
	const char *s, *e;

	if (!cmd)
		return "vugpu";
	while (*cmd == ' ')
		cmd++;
	e = strchr(cmd, ' ');
	if (!e)
		e = cmd + strlen(cmd);
	for (s = e; s > cmd && s[-1] != '/'; s--)
		;
	snprintf(buf, cap, "%.*s", (int)(e - s), s);
	return buf;
}

int
main(int argc, char **argv)
{
	static const char *const virgl_args[] = { "--virgl", NULL };
	static struct work_acc acc[WORK_MAX][2];
	static struct report rep;
	struct floor_acc fl = { 0 };
	struct bconn *be[2] = { NULL, NULL };
	char namebuf[2][64];
	struct opts o;
	int status = 0, ret;

	if (parse(&o, argc, argv) < 0)
		return 2;
	progress = isatty(STDERR_FILENO);
	for (unsigned i = 0; i < o.nbe; i++) {
		if (!o.name[i])
			o.name[i] = default_name(o.cmd[i], namebuf[i], sizeof(namebuf[i]));
		if (i == 1 && strcmp(o.name[0], o.name[1]) == 0) {
			snprintf(namebuf[1], sizeof(namebuf[1]), "%s-vs", o.name[1]);
			o.name[1] = namebuf[1];
		}
		be[i] = calloc(1, sizeof(*be[i]));
		if (!be[i])
			return 1;
		bc_init(be[i], o.name[i], o.cmd[i], o.ring);
		if (o.virgl)
			be[i]->extra = virgl_args;
	}
	for (unsigned i = 0; i < o.nbe; i++) {
		say("starting %s", o.name[i]);
		ret = bc_start(be[i], 1);
		if (ret < 0) {
			complain("%s", be[i]->why);
			status = 1;
			goto out;
		}
	}

	if (o.want[workload_index("idle")]) {
		unsigned w = (unsigned)workload_index("idle");

		say("idle: %u ms", o.idle_ms);
		ret = work_idle(be, o.nbe, o.idle_ms, acc[w]);
		if (ret < 0) {
			complain("idle: %s", strerror(-ret));
			status = 1;
			goto out;
		}
	}

	for (unsigned r = 0; r < o.rounds; r++) {
		for (unsigned w = 0; w < n_workloads; w++) {
			const struct workload *wl = &workloads[w];
			struct work_cfg cfg = {
				.dur_ms = o.dur_ms * wl->dur_mult,
				.seed = o.seed,
				.quick = o.quick,
			};

			if (!o.want[w] || !wl->per_round)
				continue;
			/* The floor is sampled all along the run, next to
			 * every workload's round, as the backends are. */
			say("[%u/%u] floor", r + 1, o.rounds);
			ret = floor_round(&fl, o.quick ? 200 : 400, 1);
			if (ret < 0) {
				complain("floor: %s", strerror(-ret));
				status = 1;
				goto out;
			}
			for (unsigned j = 0; j < o.nbe; j++) {
				unsigned i = r % 2 == 0 ? j : o.nbe - 1 - j;
				struct bconn *c = be[i];
				long kb;

				if (acc[w][i].ran && !acc[w][i].count[0] &&
				    wl->optional)
					continue;	/* refused once: skipped */
				say("[%u/%u] %s %s", r + 1, o.rounds, wl->name, c->name);
				c->why[0] = '\0';
				ret = bc_settle(c, 20);
				if (ret == 0) {
					bc_proc_reset_hwm(bc_pid(c));
					ret = wl->round(c, &cfg, &acc[w][i]);
				}
				acc[w][i].ran = true;
				if (ret == -ENOTSUP && wl->optional) {
					complain("%s skipped: %s", wl->name, c->why);
					continue;
				}
				if (ret < 0) {
					complain("%s: %s", wl->name,
						 c->why[0] ? c->why : strerror(-ret));
					status = 1;
					goto out;
				}
				kb = bc_proc_hwm_kb(bc_pid(c));
				if (kb > acc[w][i].hwm_kb)
					acc[w][i].hwm_kb = kb;
			}
		}
	}
	if (progress)
		fprintf(stderr, "\r\033[K");

	rep.nbe = o.nbe;
	rep.quick = o.quick;
	rep.rounds = o.rounds;
	rep.ring = o.ring;
	for (unsigned i = 0; i < o.nbe; i++) {
		rep.name[i] = o.name[i];
		rep.cmd[i] = o.cmd[i] ? o.cmd[i] : "vugpu";
	}
	floor_report(&fl, &rep);
	for (unsigned w = 0; w < n_workloads; w++)
		for (unsigned i = 0; i < o.nbe; i++)
			if (o.want[w] && acc[w][i].ran)
				workloads[w].report(&acc[w][i], &rep, i);
	rep_print(&rep, o.json);
	fflush(stdout);
	if (o.baseline) {
		ret = rep_baseline(&rep, o.baseline, o.threshold);
		if (ret < 0) {
			complain("%s: %s", o.baseline, strerror(-ret));
			status = 1;
		} else if (ret > 0) {
			complain("%d figure%s regressed past %g%%", ret,
				 ret == 1 ? "" : "s", o.threshold);
			status = 3;
		}
	}
out:
	if (progress)
		fprintf(stderr, "\r\033[K");
	for (unsigned i = 0; i < o.nbe; i++) {
		if (!be[i])
			continue;
		bc_stop(be[i]);
		free(be[i]);
	}
	for (unsigned w = 0; w < n_workloads; w++)
		for (unsigned i = 0; i < 2; i++)
			work_acc_free(&acc[w][i]);
	floor_free(&fl);
	return status;
}
