/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Figures, ratios, floors, targets, JSON and the baseline comparison
 * (see report.h).
 *
 * Security model: the baseline file is the user's own, but it is parsed
 * as untrusted text all the same: a bounded recursive-descent parser that
 * keeps only numbers, with a depth limit and bounded key paths.
 */
#include "bench/report.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- samples ---- */

int
series_add(struct series *s, double v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		double *n = realloc(s->v, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->v = n;
		s->cap = cap;
	}
	s->v[s->n++] = v;
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double
series_pct(struct series *s, double p)
{
	size_t i;

	if (!s->n)
		return 0;
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	/* nearest rank: the smallest sample with at least p% at or below */
	{
		double rank = p / 100.0 * (double)s->n;

		i = (size_t)rank;
		if ((double)i < rank)
			i++;
	}
	return s->v[i ? i - 1 : 0];
}

double
series_max(const struct series *s)
{
	double m = 0;

	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] > m)
			m = s->v[i];
	return m;
}

void
series_free(struct series *s)
{
	free(s->v);
	*s = (struct series){ 0 };
}

/* ---- figures ---- */

static struct rep_fig *
find(struct report *r, const char *workload, const char *name)
{
	for (unsigned i = 0; i < r->nfig; i++)
		if (strcmp(r->fig[i].workload, workload) == 0 &&
		    strcmp(r->fig[i].name, name) == 0)
			return &r->fig[i];
	return NULL;
}

void
rep_set(struct report *r, unsigned be, const char *workload, const char *name,
	const char *unit, enum rep_better better, bool gate,
	enum rep_floor floor, double v)
{
	struct rep_fig *f = find(r, workload, name);

	if (!f) {
		if (r->nfig == REP_MAX_FIGS)
			return;
		f = &r->fig[r->nfig++];
		memset(f, 0, sizeof(*f));
		snprintf(f->workload, sizeof(f->workload), "%s", workload);
		snprintf(f->name, sizeof(f->name), "%s", name);
		f->unit = unit;
		f->better = better;
		f->gate = gate;
		f->floor = floor;
	}
	if (be < 2 && isfinite(v)) {
		f->v[be] = v;
		f->have[be] = true;
	}
}

void
rep_slack(struct report *r, const char *workload, const char *name,
	  double slack)
{
	struct rep_fig *f = find(r, workload, name);

	if (f)
		f->slack = slack;
}

double
rep_xfloor(const struct report *r, const struct rep_fig *f, unsigned be)
{
	double v = f->v[be];

	if (!r->have_floor || !f->have[be])
		return NAN;
	switch (f->floor) {
	case REP_FLOOR_RTT:
		return r->floor.rtt_us > 0 ? v / r->floor.rtt_us : NAN;
	case REP_FLOOR_FRAME_MS:
		return r->floor.frame_ms > 0 ? v / r->floor.frame_ms : NAN;
	case REP_FLOOR_WAKE_CPU:
		return r->floor.wake_cpu_us > 0 ? v / r->floor.wake_cpu_us : NAN;
	case REP_FLOOR_UPDATE_CPU:
		return r->floor.update_cpu_us > 0 ? v / r->floor.update_cpu_us : NAN;
	case REP_FLOOR_FRAME_RATE:
		return r->floor.frame_ms > 0 && v > 0 ?
		       (1000.0 / v) / r->floor.frame_ms : NAN;
	default:
		return NAN;
	}
}

static bool
have_ratio(const struct report *r, const struct rep_fig *f)
{
	return r->nbe == 2 && f->have[0] && f->have[1] && f->v[1] != 0;
}

static double
ratio(const struct rep_fig *f)
{
	return f->v[0] / f->v[1];
}

/* Four significant digits without exponents. */
static const char *
num(char *buf, size_t cap, double v)
{
	double a = v < 0 ? -v : v;

	if (!isfinite(v))
		snprintf(buf, cap, "null");
	else if (a >= 10000 || v == 0)
		snprintf(buf, cap, "%.0f", v);
	else if (a >= 1000)
		snprintf(buf, cap, "%.1f", v);
	else if (a >= 100)
		snprintf(buf, cap, "%.2f", v);
	else if (a >= 1)
		snprintf(buf, cap, "%.3f", v);
	else
		snprintf(buf, cap, "%.4g", v);
	return buf;
}

/* ---- targets (the issue's, as ratios against QEMU's backend) ---- */

enum tkind { T_RATIO_MAX, T_RATIO_MIN, T_XFLOOR_MAX, T_VALUE_MAX };

static const struct target {
	const char *workload, *name;
	enum tkind kind;
	double bound;
} targets[] = {
	{ "latency", "flush_p50", T_RATIO_MAX, 0.5 },
	{ "latency", "xfer_p50", T_RATIO_MAX, 0.5 },
	{ "latency", "noscan_p50", T_RATIO_MAX, 0.5 },
	{ "latency", "flush_p50", T_XFLOOR_MAX, 1.5 },
	{ "latency", "xfer_p50", T_XFLOOR_MAX, 1.5 },
	{ "latency", "noscan_p50", T_XFLOOR_MAX, 1.5 },
	{ "latency", "flush_cpu", T_RATIO_MAX, 0.3 },
	{ "latency", "xfer_cpu", T_RATIO_MAX, 0.3 },
	{ "latency", "noscan_cpu", T_RATIO_MAX, 0.3 },
	{ "throughput", "flush_cpu", T_RATIO_MAX, 0.3 },
	{ "throughput", "xfer_cpu", T_RATIO_MAX, 0.3 },
	{ "throughput", "noscan_cpu", T_RATIO_MAX, 0.3 },
	{ "throughput", "flush_rate", T_RATIO_MIN, 3 },
	{ "throughput", "xfer_rate", T_RATIO_MIN, 3 },
	{ "throughput", "noscan_rate", T_RATIO_MIN, 3 },
	{ "frame", "fps", T_RATIO_MIN, 2 },
	{ "frame", "cpu", T_RATIO_MAX, 0.5 },
	{ "desktop", "fps", T_RATIO_MIN, 2 },
	{ "idle", "wakeups", T_VALUE_MAX, 0 },
};

static const char *const tkind_name[] = {
	[T_RATIO_MAX] = "ratio", [T_RATIO_MIN] = "ratio",
	[T_XFLOOR_MAX] = "xfloor", [T_VALUE_MAX] = "value",
};

/* The target's figure; false when this run cannot say. */
static bool
target_eval(struct report *r, const struct target *t, double *value,
	    bool *pass)
{
	struct rep_fig *f = find(r, t->workload, t->name);

	if (!f || !f->have[0])
		return false;
	switch (t->kind) {
	case T_RATIO_MAX:
	case T_RATIO_MIN:
		if (!have_ratio(r, f))
			return false;
		*value = ratio(f);
		*pass = t->kind == T_RATIO_MAX ? *value <= t->bound :
						 *value >= t->bound;
		return true;
	case T_XFLOOR_MAX:
		*value = rep_xfloor(r, f, 0);
		if (!isfinite(*value))
			return false;
		*pass = *value <= t->bound;
		return true;
	default:
		*value = f->v[0];
		*pass = *value <= t->bound;
		return true;
	}
}

/* ---- output ---- */

static void
json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static const char *const better_name[] = {
	[REP_LOWER] = "lower", [REP_HIGHER] = "higher", [REP_INFO] = "info",
};

/* The machine's floor, as both outputs name and print it. */
static const struct {
	const char *name, *unit;
	size_t off;		/* in struct rep_floor_vals */
} floor_figs[] = {
	{ "eventfd_rtt_p50", "us", offsetof(struct rep_floor_vals, rtt_us) },
	{ "memcpy_8m", "ms", offsetof(struct rep_floor_vals, memcpy_ms) },
	{ "unix_8m", "ms", offsetof(struct rep_floor_vals, unix_ms) },
	{ "frame", "ms", offsetof(struct rep_floor_vals, frame_ms) },
	{ "unix_8m_spliced", "ms", offsetof(struct rep_floor_vals, splice_ms) },
	{ "frame_spliced", "ms", offsetof(struct rep_floor_vals, frame_splice_ms) },
	{ "wake_cpu", "us", offsetof(struct rep_floor_vals, wake_cpu_us) },
	{ "wake_update_cpu", "us", offsetof(struct rep_floor_vals, update_cpu_us) },
};

static double
floor_val(const struct report *r, unsigned i)
{
	return *(const double *)((const char *)&r->floor + floor_figs[i].off);
}

static unsigned
print_json(struct report *r)
{
	char b[64];
	unsigned failed = 0;
	bool first = true;

	printf("{\n  \"vugpu_bench\": 1,\n  \"quick\": %s,\n  \"rounds\": %u,\n"
	       "  \"ring\": %u,\n  \"backends\": [",
	       r->quick ? "true" : "false", r->rounds, r->ring);
	for (unsigned i = 0; i < r->nbe; i++) {
		printf("%s\n    {\"role\": \"%s\", \"name\": ", i ? "," : "",
		       i ? "vs" : "backend");
		json_str(r->name[i]);
		printf(", \"cmd\": ");
		json_str(r->cmd[i]);
		printf("}");
	}
	printf("\n  ],\n");
	if (r->have_floor) {
		printf("  \"floor\": {");
		for (unsigned i = 0; i < ARRAY_SIZE(floor_figs); i++)
			printf("%s\n    \"%s\": {\"value\": %s, \"unit\": \"%s\"}",
			       i ? "," : "", floor_figs[i].name,
			       num(b, sizeof(b), floor_val(r, i)), floor_figs[i].unit);
		printf("\n  },\n");
	}
	printf("  \"figures\": {");
	for (unsigned i = 0; i < r->nfig; i++) {
		struct rep_fig *f = &r->fig[i];

		printf("%s\n    \"%s %s\": {\"unit\": \"%s\", \"better\": \"%s\", "
		       "\"gate\": %s", i ? "," : "", f->workload, f->name, f->unit,
		       better_name[f->better], f->gate ? "true" : "false");
		for (unsigned be = 0; be < r->nbe; be++) {
			const char *role = be ? "vs" : "backend";
			double x = rep_xfloor(r, f, be);

			if (!f->have[be])
				continue;
			printf(", \"%s\": %s", role, num(b, sizeof(b), f->v[be]));
			if (isfinite(x))
				printf(", \"%s_xfloor\": %s", role, num(b, sizeof(b), x));
		}
		if (have_ratio(r, f))
			printf(", \"ratio\": %s", num(b, sizeof(b), ratio(f)));
		printf("}");
	}
	printf("\n  },\n  \"targets\": [");
	for (unsigned i = 0; i < ARRAY_SIZE(targets); i++) {
		const struct target *t = &targets[i];
		double v;
		bool pass;

		if (!target_eval(r, t, &v, &pass))
			continue;
		failed += !pass;
		printf("%s\n    {\"figure\": \"%s %s\", \"kind\": \"%s\", "
		       "\"value\": %s, \"bound\": %g, \"%s\": true, \"pass\": %s}",
		       first ? "" : ",", t->workload, t->name, tkind_name[t->kind],
		       num(b, sizeof(b), v), t->bound,
		       t->kind == T_RATIO_MIN ? "at_least" : "at_most",
		       pass ? "true" : "false");
		first = false;
	}
	printf("\n  ]\n}\n");
	return failed;
}

unsigned
rep_print(struct report *r, bool json)
{
	char b[64];
	unsigned failed = 0;

	if (json)
		return print_json(r);
	if (r->have_floor)
		for (unsigned i = 0; i < ARRAY_SIZE(floor_figs); i++)
			printf("floor machine %s %s %s\n", floor_figs[i].name,
			       num(b, sizeof(b), floor_val(r, i)), floor_figs[i].unit);
	for (unsigned i = 0; i < r->nfig; i++) {
		struct rep_fig *f = &r->fig[i];

		for (unsigned be = 0; be < r->nbe; be++) {
			double x = rep_xfloor(r, f, be);

			if (!f->have[be])
				continue;
			printf("%s %s %s %s %s\n", f->workload, r->name[be],
			       f->name, num(b, sizeof(b), f->v[be]), f->unit);
			if (isfinite(x))
				printf("%s %s %s_xfloor %s x\n", f->workload,
				       r->name[be], f->name, num(b, sizeof(b), x));
		}
		if (have_ratio(r, f))
			printf("%s ratio %s %s x\n", f->workload, f->name,
			       num(b, sizeof(b), ratio(f)));
	}
	for (unsigned i = 0; i < ARRAY_SIZE(targets); i++) {
		const struct target *t = &targets[i];
		double v;
		bool pass;

		if (!target_eval(r, t, &v, &pass))
			continue;
		failed += !pass;
		printf("target %s/%s %s %s %s%g %s\n", t->workload, t->name,
		       tkind_name[t->kind], num(b, sizeof(b), v),
		       t->kind == T_RATIO_MIN ? ">=" : "<=", t->bound,
		       pass ? "pass" : "fail");
	}
	return failed;
}

/* ---- the baseline: a small JSON reader that keeps numbers by path ---- */

#define JSON_DEPTH 16
#define JSON_PATH 160

struct jnum {
	char path[JSON_PATH];
	double v;
};

struct jparse {
	const char *p, *end;
	char path[JSON_PATH];
	struct jnum *nums;
	size_t n, cap;
	int err;
};

static void
skip_ws(struct jparse *j)
{
	while (j->p < j->end && isspace((unsigned char)*j->p))
		j->p++;
}

/* A string into out (truncated, escapes kept as the escaped char). */
static int
jstring(struct jparse *j, char *out, size_t cap)
{
	size_t n = 0;

	if (j->p >= j->end || *j->p != '"')
		return -EINVAL;
	j->p++;
	while (j->p < j->end && *j->p != '"') {
		char ch = *j->p++;

		if (ch == '\\' && j->p < j->end) {
			ch = *j->p++;
			if (ch == 'u') {
				j->p += j->end - j->p >= 4 ? 4 : j->end - j->p;
				ch = '?';
			}
		}
		if (out && n + 1 < cap)
			out[n++] = ch;
	}
	if (j->p >= j->end)
		return -EINVAL;
	j->p++;
	if (out)
		out[n] = '\0';
	return 0;
}

static int jvalue(struct jparse *j, int depth);

static int
jnumber(struct jparse *j)
{
	char *endp;
	double v = strtod(j->p, &endp);

	if (endp == j->p || endp > j->end)
		return -EINVAL;
	j->p = endp;
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 256;
		struct jnum *n = realloc(j->nums, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		j->nums = n;
		j->cap = cap;
	}
	snprintf(j->nums[j->n].path, JSON_PATH, "%s", j->path);
	j->nums[j->n++].v = v;
	return 0;
}

/* Descend into member/element `key` for the value that follows. */
static int
jchild(struct jparse *j, const char *key, int depth)
{
	size_t len = strlen(j->path);
	int ret;

	snprintf(j->path + len, JSON_PATH - len, "%s%s", len ? "/" : "", key);
	ret = jvalue(j, depth + 1);
	j->path[len] = '\0';
	return ret;
}

static int
jvalue(struct jparse *j, int depth)
{
	int ret;

	if (depth > JSON_DEPTH)
		return -E2BIG;
	skip_ws(j);
	if (j->p >= j->end)
		return -EINVAL;
	if (*j->p == '{' || *j->p == '[') {
		bool obj = *j->p == '{';
		char close = obj ? '}' : ']';
		unsigned idx = 0;

		j->p++;
		skip_ws(j);
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return 0;
		}
		for (;;) {
			char key[64];

			skip_ws(j);
			if (obj) {
				if ((ret = jstring(j, key, sizeof(key))) < 0)
					return ret;
				skip_ws(j);
				if (j->p >= j->end || *j->p++ != ':')
					return -EINVAL;
			} else {
				snprintf(key, sizeof(key), "%u", idx++);
			}
			if ((ret = jchild(j, key, depth)) < 0)
				return ret;
			skip_ws(j);
			if (j->p < j->end && *j->p == ',') {
				j->p++;
				continue;
			}
			if (j->p < j->end && *j->p == close) {
				j->p++;
				return 0;
			}
			return -EINVAL;
		}
	}
	if (*j->p == '"')
		return jstring(j, NULL, 0);
	if (*j->p == '-' || isdigit((unsigned char)*j->p))
		return jnumber(j);
	for (const char *const *w = (const char *const[]){ "true", "false", "null", NULL };
	     *w; w++) {
		size_t n = strlen(*w);

		if ((size_t)(j->end - j->p) >= n && memcmp(j->p, *w, n) == 0) {
			j->p += n;
			return 0;
		}
	}
	return -EINVAL;
}

static bool
jget(const struct jparse *j, const char *path, double *v)
{
	for (size_t i = 0; i < j->n; i++)
		if (strcmp(j->nums[i].path, path) == 0) {
			*v = j->nums[i].v;
			return true;
		}
	return false;
}

int
rep_baseline(const struct report *r, const char *path, double threshold)
{
	struct jparse j = { 0 };
	char *text = NULL;
	size_t len = 0, cap = 0;
	int regressions = 0, ret;
	FILE *fp = fopen(path, "re");

	if (!fp)
		return -errno;
	for (;;) {
		size_t n;

		if (len + 4096 > cap) {
			char *t = realloc(text, cap + 65536);

			if (!t) {
				fclose(fp);
				free(text);
				return -ENOMEM;
			}
			text = t;
			cap += 65536;
		}
		n = fread(text + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	fclose(fp);
	j.p = text;
	j.end = text + len;
	ret = jvalue(&j, 0);
	if (ret < 0) {
		fprintf(stderr, "vugpu-bench: %s: not a vugpu-bench JSON document\n",
			path);
		regressions = ret;
		goto out;
	}
	for (unsigned i = 0; i < r->nfig; i++) {
		const struct rep_fig *f = &r->fig[i];
		char key[JSON_PATH];
		double base, cur, worse;
		const char *what = "backend";
		char b1[32], b2[32];

		if (!f->gate || f->better == REP_INFO || !f->have[0])
			continue;
		cur = f->v[0];
		snprintf(key, sizeof(key), "figures/%s %s/ratio", f->workload, f->name);
		if (have_ratio(r, f) && jget(&j, key, &base)) {
			/* Both runs were side by side: ratios do not move with
			 * the machine's load, absolute figures do. */
			cur = ratio(f);
			what = "ratio";
		} else {
			snprintf(key, sizeof(key), "figures/%s %s/backend",
				 f->workload, f->name);
			if (!jget(&j, key, &base))
				continue;
		}
		if (f->better == REP_LOWER)
			worse = cur - base;
		else
			worse = base - cur;
		worse -= f->slack;
		worse = base != 0 ? worse / (base < 0 ? -base : base) * 100 : (worse > 0 ? INFINITY : 0);
		fprintf(stderr, "baseline %s/%s %s %s -> %s (%s by %.1f%%) %s\n",
			f->workload, f->name, what, num(b1, sizeof(b1), base),
			num(b2, sizeof(b2), cur), worse > 0 ? "worse" : "better",
			isfinite(worse) ? (worse < 0 ? -worse : worse) : 999.0,
			worse > threshold ? "REGRESSION" : "ok");
		regressions += worse > threshold;
	}
out:
	free(j.nums);
	free(text);
	return regressions;
}
