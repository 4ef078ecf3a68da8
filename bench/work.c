/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The workloads (see work.h and docs/benchmarks.md for what each one
 * measures, from where to where).
 *
 * Common rules:
 *  - a latency runs from just before the kick (the eventfd write) to the
 *    moment bc_wait() saw the used entry, or the display message complete;
 *  - what the guest does before the kick (drawing pixels into guest
 *    memory) and the pixel checks after a frame are not timed;
 *  - CPU is the backend's on-CPU time over the measurement, every thread;
 *  - every response is checked (OK_NODATA), every frame's pixels are
 *    sampled and some are compared whole with guest memory (with the
 *    clear colour, for a frame virglrenderer drew).
 */
#include "bench/work.h"

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/virtio_gpu.h>

#include "tests/virgl_enc.h"

#define MS(x) ((uint64_t)(x) * 1000000ull)
#define WAIT_MS 10000

enum { K_FLUSH, K_XFER, K_NOSCAN, K_FLUSH_UPDATE };
static const char *const kind_name[] = {
	"flush", "xfer", "noscan", "flush_update",
};

static uint64_t
max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* A rate is taken per round and reported as the median over rounds: a
 * round that a noisy neighbour hit does not drag the figure. */
static void
round_rate(struct work_acc *a, unsigned k, double count, uint64_t ns)
{
	if (ns)
		series_add(&a->rate[k], count / ((double)ns / 1e9));
}

static int
proc(struct bconn *c, struct bc_proc *p)
{
	int pid = bc_pid(c);

	int ret;

	*p = (struct bc_proc){ 0 };
	ret = pid > 0 ? bc_proc_sample(pid, p) : -ESRCH;
	p->self_ns = bc_self_cpu_ns();
	return ret;
}

static bool
intersects(struct bc_rect a, struct bc_rect b)
{
	return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h &&
	       b.y < a.y + a.h;
}

static int
why(struct bconn *c, int err, const char *what)
{
	if (!c->why[0] || err != -ETIMEDOUT)
		snprintf(c->why + strlen(c->why), sizeof(c->why) - strlen(c->why),
			 "%s%s: %s: %s", c->why[0] ? "; " : "", c->name, what,
			 strerror(-err));
	return err;
}

static int
check_responses(struct bconn *c)
{
	if (!c->bad_resp)
		return 0;
	snprintf(c->why, sizeof(c->why),
		 "%s: %llu commands failed, the last 0x%x answered 0x%x", c->name,
		 (unsigned long long)c->bad_resp, c->bad_cmd, c->bad_type);
	return -EPROTO;
}

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* 64x64 tiles over a 256x256 area: the small commands' rectangles. */
static struct bc_rect
tile(uint64_t n)
{
	return (struct bc_rect){ 256 + (uint32_t)(n % 4) * 64,
				 256 + (uint32_t)(n / 4 % 4) * 64, 64, 64 };
}

static uint64_t
fb_offset(struct bc_rect r)
{
	return (uint64_t)r.y * BC_FB_STRIDE + (uint64_t)r.x * 4;
}

/* The display is 1920x1080, as set up. */
static int
check_size(struct bconn *c, const char *what)
{
	if (c->d.width == BC_FB_W && c->d.height == BC_FB_H)
		return 0;
	snprintf(c->why, sizeof(c->why), "%s: %s: the display is %ux%u",
		 c->name, what, c->d.width, c->d.height);
	return -EPROTO;
}

/* The display against guest memory, every pixel: after a frame has
 * been transferred and flushed whole, they must agree. */
static int
check_full(struct bconn *c, const char *what)
{
	int ret = check_size(c, what);

	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < BC_FB_PAGES; i++) {
		const uint32_t *src = (const uint32_t *)(c->fb_pages +
							 (size_t)c->perm[i] * BC_PAGE);
		const uint32_t *dst = c->d.fb + (size_t)i * (BC_PAGE / 4);

		for (unsigned j = 0; j < BC_PAGE / 4; j++) {
			size_t p = (size_t)i * (BC_PAGE / 4) + j;

			if ((src[j] ^ dst[j]) & 0xffffff) {
				snprintf(c->why, sizeof(c->why),
					 "%s: %s: pixel (%zu,%zu) is %06x, guest "
					 "memory has %06x", c->name, what,
					 p % BC_FB_W, p / BC_FB_W, dst[j] & 0xffffff,
					 src[j] & 0xffffff);
				return -EPROTO;
			}
		}
	}
	return 0;
}

/* Every pixel of r on the display is what guest memory holds. */
static bool
rect_matches(const struct bconn *c, struct bc_rect r)
{
	for (uint32_t y = r.y; y < r.y + r.h; y++)
		for (uint32_t x = r.x; x < r.x + r.w; x++) {
			size_t p = (size_t)y * BC_FB_W + x;
			size_t i = p / (BC_PAGE / 4), j = p % (BC_PAGE / 4);
			const uint32_t *src = (const uint32_t *)(c->fb_pages +
								 (size_t)c->perm[i] * BC_PAGE);

			if ((src[j] ^ c->d.fb[p]) & 0xffffff)
				return false;
		}
	return true;
}

/* What pixel (x, y) of frame `key` is (low 24 bits). */
typedef uint32_t pixel_fn(uint32_t x, uint32_t y, uint32_t key);

/* n pixels of frame `key` at positions drawn from salt, plus the four
 * corners. */
static bool
sample_ok(struct bconn *c, pixel_fn *want, uint32_t key, unsigned n,
	  uint64_t salt, uint32_t *bad_x, uint32_t *bad_y)
{
	static const uint32_t cx[4] = { 0, BC_FB_W - 1, 0, BC_FB_W - 1 };
	static const uint32_t cy[4] = { 0, 0, BC_FB_H - 1, BC_FB_H - 1 };

	for (unsigned i = 0; i < n + 4; i++) {
		uint64_t h = mix64(salt * 0x9e3779b97f4a7c15ull + i);
		uint32_t x = i < 4 ? cx[i] : (uint32_t)(h % BC_FB_W);
		uint32_t y = i < 4 ? cy[i] : (uint32_t)((h >> 32) % BC_FB_H);

		if (bc_pixel(c, x, y) != want(x, y, key)) {
			*bad_x = x;
			*bad_y = y;
			return false;
		}
	}
	return true;
}

/* ---- latency: one small command in flight ---- */

struct one_arg {
	uint64_t seq, upd;
	bool need_update;
	struct bc_rect r;
};

static bool
one_done(struct bconn *c, void *p)
{
	struct one_arg *a = p;

	if (c->completed[0] <= a->seq)
		return false;
	return !a->need_update ||
	       (c->d.updates > a->upd && intersects(c->d.last_update, a->r));
}

static int
small_cmd(struct bconn *c, unsigned kind, uint64_t n)
{
	struct bc_rect t = tile(n);

	switch (kind) {
	case K_FLUSH:
		return bc_flush(c, BC_RES_FB, t);
	case K_XFER:
		return bc_transfer(c, BC_RES_FB, t, fb_offset(t));
	default:
		return bc_flush(c, BC_RES_SMALL, (struct bc_rect){ 0, 0, 64, 64 });
	}
}

static int
latency_round(struct bconn *c, const struct work_cfg *cfg, struct work_acc *a)
{
	for (unsigned k = K_FLUSH; k <= K_NOSCAN; k++) {
		struct bc_proc p0, p1;
		uint64_t n = 0, t_stop;

		proc(c, &p0);
		t_stop = bc_now_ns() + MS(cfg->dur_ms);
		do {
			/* A flush of the scanout is done when its UPDATE is in
			 * too: the next command waits for both. */
			struct one_arg arg = {
				c->completed[0], c->d.updates, k == K_FLUSH, tile(n),
			};
			uint64_t t0;
			int ret = small_cmd(c, k, n);

			if (ret < 0)
				return why(c, ret, "placing a command");
			t0 = bc_now_ns();
			ret = bc_kick(c, 0);
			if (ret == 0)
				ret = bc_wait(c, one_done, &arg, WAIT_MS);
			if (ret < 0)
				return why(c, ret, kind_name[k]);
			series_add(&a->lat[k], (double)(c->t_used[0] - t0) / 1e3);
			if (k == K_FLUSH)
				series_add(&a->lat[K_FLUSH_UPDATE],
					   (double)(c->d.t_update - t0) / 1e3);
			n++;
		} while (bc_now_ns() < t_stop);
		proc(c, &p1);
		a->count[k] += n;
		a->cpu_ns[k] += p1.cpu_ns - p0.cpu_ns;
		a->self_ns[k] += p1.self_ns - p0.self_ns;
	}
	return check_responses(c);
}

static void
pcts(struct report *r, unsigned be, const char *w, const char *kind,
     struct series *s, const char *unit, enum rep_floor floor)
{
	static const struct {
		const char *sfx;
		double p;
		bool gate;
	} q[] = {
		{ "p50", 50, true }, { "p99", 99, false },
		{ "p999", 99.9, false }, { "max", 100, false },
	};
	char name[32];

	if (!s->n)
		return;
	for (unsigned i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "%s_%s", kind, q[i].sfx);
		/* Only p50 is gated: on a shared machine one descheduling
		 * moves p99 and beyond by milliseconds. */
		rep_set(r, be, w, name, unit, REP_LOWER, q[i].gate,
			q[i].p <= 99 ? floor : REP_FLOOR_NONE,
			q[i].p >= 100 ? series_max(s) : series_pct(s, q[i].p));
	}
}

static void
rss(struct work_acc *a, struct report *r, unsigned be, const char *w)
{
	if (a->hwm_kb > 0)
		rep_set(r, be, w, "rss_peak", "KiB", REP_LOWER, true,
			REP_FLOOR_NONE, (double)a->hwm_kb);
}

static void
latency_report(struct work_acc *a, struct report *r, unsigned be)
{
	char name[32];

	for (unsigned k = K_FLUSH; k <= K_FLUSH_UPDATE; k++)
		pcts(r, be, "latency", kind_name[k], &a->lat[k], "us",
		     REP_FLOOR_RTT);
	for (unsigned k = K_FLUSH; k <= K_NOSCAN; k++) {
		if (!a->count[k])
			continue;
		snprintf(name, sizeof(name), "%s_cpu", kind_name[k]);
		/* A flush of the scanout also sends its UPDATE. */
		rep_set(r, be, "latency", name, "us/cmd", REP_LOWER, true,
			k == K_FLUSH ? REP_FLOOR_UPDATE_CPU : REP_FLOOR_WAKE_CPU,
			(double)a->cpu_ns[k] / (double)a->count[k] / 1e3);
		snprintf(name, sizeof(name), "%s_n", kind_name[k]);
		rep_set(r, be, "latency", name, "cmds", REP_INFO, false,
			REP_FLOOR_NONE, (double)a->count[k]);
		snprintf(name, sizeof(name), "%s_frontend_cpu", kind_name[k]);
		rep_set(r, be, "latency", name, "us/cmd", REP_INFO, false,
			REP_FLOOR_NONE, (double)a->self_ns[k] / (double)a->count[k] / 1e3);
	}
	rss(a, r, be, "latency");
}

/* ---- throughput: the same commands, the ring kept full ---- */

struct more_arg {
	uint64_t seq;
};

static bool
more_done(struct bconn *c, void *p)
{
	return c->completed[0] > ((struct more_arg *)p)->seq;
}

/* Place with cmd(); when the ring is full, kick and take what came back. */
static int
place(struct bconn *c, int (*cmd)(struct bconn *, unsigned, uint64_t),
      unsigned kind, uint64_t n)
{
	for (;;) {
		struct more_arg m = { c->completed[0] };
		int ret = cmd(c, kind, n);

		if (ret != -ENOSPC)
			return ret;
		ret = bc_kick(c, 0);
		if (ret == 0)
			ret = bc_wait(c, more_done, &m, WAIT_MS);
		if (ret < 0)
			return ret;
	}
}

/* The end of a flush run is its last UPDATE: a flush of a tile that no
 * other flush touches, nor any bounding box of theirs. */
static const struct bc_rect marker = { 512, 512, 64, 64 };

struct drain_arg {
	bool marker;
	uint64_t upd;
};

static bool
drain_done(struct bconn *c, void *p)
{
	struct drain_arg *a = p;

	if (bc_inflight(c, 0))
		return false;
	return !a->marker ||
	       (c->d.updates > a->upd && intersects(c->d.last_update, marker));
}

static int
marker_cmd(struct bconn *c, unsigned kind, uint64_t n)
{
	(void)kind;
	(void)n;
	return bc_flush(c, BC_RES_FB, marker);
}

static int
throughput_round(struct bconn *c, const struct work_cfg *cfg,
		 struct work_acc *a)
{
	for (unsigned k = K_FLUSH; k <= K_NOSCAN; k++) {
		uint64_t upd0 = c->d.updates, bytes0 = c->d.update_bytes;
		uint64_t n = 0, t0, t1, t_stop;
		struct drain_arg d = { k == K_FLUSH, 0 };
		struct bc_proc p0, p1;
		int ret;

		proc(c, &p0);
		t0 = bc_now_ns();
		t_stop = t0 + MS(cfg->dur_ms);
		while (bc_now_ns() < t_stop) {
			struct more_arg m;

			while ((ret = small_cmd(c, k, n)) >= 0)
				n++;
			if (ret != -ENOSPC)
				return why(c, ret, "placing a command");
			m.seq = c->completed[0];
			ret = bc_kick(c, 0);
			if (ret == 0)
				ret = bc_wait(c, more_done, &m, WAIT_MS);
			if (ret < 0)
				return why(c, ret, kind_name[k]);
		}
		if (d.marker) {
			ret = place(c, marker_cmd, k, n);
			if (ret < 0)
				return why(c, ret, "the last flush");
			n++;
			d.upd = c->d.updates;
		}
		ret = bc_kick(c, 0);
		if (ret == 0)
			ret = bc_wait(c, drain_done, &d, WAIT_MS);
		if (ret < 0)
			return why(c, ret, kind_name[k]);
		t1 = d.marker ? max64(c->t_used[0], c->d.t_update) : c->t_used[0];
		proc(c, &p1);
		a->count[k] += n;
		a->time_ns[k] += t1 - t0;
		round_rate(a, k, (double)n, t1 - t0);
		a->cpu_ns[k] += p1.cpu_ns - p0.cpu_ns;
		a->self_ns[k] += p1.self_ns - p0.self_ns;
		a->updates[k] += c->d.updates - upd0;
		a->bytes[k] += c->d.update_bytes - bytes0;
	}
	return check_responses(c);
}

static void
throughput_report(struct work_acc *a, struct report *r, unsigned be)
{
	char name[32];

	for (unsigned k = K_FLUSH; k <= K_NOSCAN; k++) {
		if (!a->count[k] || !a->time_ns[k])
			continue;
		snprintf(name, sizeof(name), "%s_rate", kind_name[k]);
		rep_set(r, be, "throughput", name, "cmd/s", REP_HIGHER, true,
			REP_FLOOR_NONE, series_pct(&a->rate[k], 50));
		snprintf(name, sizeof(name), "%s_cpu", kind_name[k]);
		rep_set(r, be, "throughput", name, "us/cmd", REP_LOWER, true,
			REP_FLOOR_NONE,
			(double)a->cpu_ns[k] / (double)a->count[k] / 1e3);
		snprintf(name, sizeof(name), "%s_n", kind_name[k]);
		rep_set(r, be, "throughput", name, "cmds", REP_INFO, false,
			REP_FLOOR_NONE, (double)a->count[k]);
		/* The frontend's share: if it nears the backend's, the run
		 * measured the benchmark. */
		snprintf(name, sizeof(name), "%s_frontend_cpu", kind_name[k]);
		rep_set(r, be, "throughput", name, "us/cmd", REP_INFO, false,
			REP_FLOOR_NONE,
			(double)a->self_ns[k] / (double)a->count[k] / 1e3);
	}
	if (a->count[K_FLUSH]) {
		/* How the backend batched the display: context, no
		 * direction (fewer, bigger UPDATEs are a design choice). */
		rep_set(r, be, "throughput", "flush_updates_per_kcmd", "msgs",
			REP_INFO, false, REP_FLOOR_NONE,
			(double)a->updates[K_FLUSH] * 1000.0 / (double)a->count[K_FLUSH]);
		rep_set(r, be, "throughput", "flush_display_rate", "MB/s",
			REP_INFO, false, REP_FLOOR_NONE,
			(double)a->bytes[K_FLUSH] / ((double)a->time_ns[K_FLUSH] / 1e9) / 1e6);
	}
	rss(a, r, be, "throughput");
}

/* ---- frames, one in flight: the 2D frame and the virgl frame ---- */

/* How a kind of frame is made and checked. */
struct frame_ops {
	const char *what;	/* in messages */
	pixel_fn *want;		/* what the display must show */
	unsigned ncmds;		/* used entries a frame waits for */
	/* What the guest does before the frame starts (not timed), or NULL. */
	void (*draw)(struct bconn *c, uint32_t key);
	/* Place and kick the frame's commands. */
	int (*place)(struct bconn *c, uint32_t key);
	/* Every pixel of the display, every full_every-th frame; NULL:
	 * against want. */
	int (*check)(struct bconn *c, const char *what);
	unsigned full_every;
};

struct frame_arg {
	pixel_fn *want;
	uint32_t key;
	uint64_t seq_target;	/* every command answered */
	uint64_t bytes_target;	/* a whole frame of UPDATE pixels since */
	uint64_t checked;	/* UPDATEs looked at */
	bool ok;
	uint64_t t_match;	/* when the UPDATE that showed it was in */
};

static bool
frame_done(struct bconn *c, void *p)
{
	struct frame_arg *a = p;
	uint32_t x, y;

	/* Looked at whenever an UPDATE completes: the frame is on the
	 * display when a frame's worth of pixels came since the kick and a
	 * sample of it shows; an older UPDATE still on its way cannot pass
	 * for it. */
	if (!a->ok && c->d.updates != a->checked) {
		a->checked = c->d.updates;
		if (c->d.update_bytes >= a->bytes_target &&
		    sample_ok(c, a->want, a->key, 60, a->key, &x, &y)) {
			a->ok = true;
			a->t_match = c->d.t_update;
		}
	}
	return a->ok && c->completed[0] >= a->seq_target;
}

static uint32_t
frame_key(uint64_t n)
{
	/* distinct for consecutive frames, never the first frame's key */
	return (uint32_t)(((n + 2) * 0x5bd1e995u) & 0xffffff);
}

static int
wrong_pixel(struct bconn *c, const struct frame_ops *ops, uint64_t fno,
	    uint32_t key, uint32_t x, uint32_t y)
{
	snprintf(c->why, sizeof(c->why),
		 "%s: %s %llu: pixel (%u,%u) is %06x, not %06x", c->name,
		 ops->what, (unsigned long long)fno, x, y, bc_pixel(c, x, y),
		 ops->want(x, y, key));
	return -EPROTO;
}

/* Every pixel of the display against frame `key`. */
static int
check_all(struct bconn *c, const struct frame_ops *ops, uint64_t fno,
	  uint32_t key)
{
	int ret = check_size(c, ops->what);

	if (ret < 0)
		return ret;
	for (uint32_t y = 0; y < BC_FB_H; y++)
		for (uint32_t x = 0; x < BC_FB_W; x++)
			if (bc_pixel(c, x, y) != ops->want(x, y, key))
				return wrong_pixel(c, ops, fno, key, x, y);
	return 0;
}

/* Kick the command just placed (placed: its head or -errno), then place
 * and kick a flush of all of res: a guest's Mesa submits, and the
 * compositor's flush comes in a call of its own. */
static int
kick_flush(struct bconn *c, int placed, uint32_t res)
{
	const struct bc_rect full = { 0, 0, BC_FB_W, BC_FB_H };
	int ret;

	if (placed < 0)
		return placed;
	if ((ret = bc_kick(c, 0)) < 0 || (ret = bc_flush(c, res, full)) < 0)
		return ret;
	return bc_kick(c, 0);
}

/* Frames for the round's duration (three at least), counted as kind k. */
static int
frames(struct bconn *c, const struct work_cfg *cfg, struct work_acc *a,
       unsigned k, const struct frame_ops *ops)
{
	unsigned n = 0;
	uint64_t t_stop, ns0 = a->time_ns[k];
	struct bc_proc p0, p1;

	proc(c, &p0);
	t_stop = bc_now_ns() + MS(cfg->dur_ms);
	do {
		uint64_t fno = a->count[k];
		struct frame_arg arg = { .want = ops->want, .key = frame_key(fno) };
		uint64_t bytes0 = c->d.update_bytes, upd0 = c->d.updates, t0;
		uint32_t x, y;
		int ret;

		if (ops->draw)
			ops->draw(c, arg.key);
		arg.seq_target = c->completed[0] + ops->ncmds;
		arg.bytes_target = c->d.update_bytes + BC_FB_BYTES;
		arg.checked = c->d.updates;
		t0 = bc_now_ns();
		ret = ops->place(c, arg.key);
		if (ret < 0)
			return why(c, ret, "placing a frame");
		ret = bc_wait(c, frame_done, &arg, WAIT_MS);
		if (ret < 0) {
			if (ret == -ETIMEDOUT && c->d.updates > upd0 &&
			    !sample_ok(c, ops->want, arg.key, 60, arg.key, &x, &y))
				wrong_pixel(c, ops, fno, arg.key, x, y);
			return why(c, ret, ops->what);
		}
		a->time_ns[k] += max64(c->t_used[0], arg.t_match) - t0;
		a->bytes[k] += c->d.update_bytes - bytes0;
		a->updates[k] += c->d.updates - upd0;
		series_add(&a->lat[k], (double)(arg.t_match - t0) / 1e6);
		a->count[k]++;
		n++;
		/* Not timed: a larger sample of every frame, every pixel of
		 * some. */
		if (!sample_ok(c, ops->want, arg.key, 1024, fno * 7919, &x, &y))
			return wrong_pixel(c, ops, fno, arg.key, x, y);
		a->sample_checks++;
		if (fno % ops->full_every == 0) {
			ret = ops->check ? ops->check(c, ops->what) :
					   check_all(c, ops, fno, arg.key);
			if (ret < 0)
				return ret;
			a->full_checks++;
		}
	} while (bc_now_ns() < t_stop || n < 3);
	proc(c, &p1);
	a->cpu_ns[k] += p1.cpu_ns - p0.cpu_ns;
	a->self_ns[k] += p1.self_ns - p0.self_ns;
	round_rate(a, k, n, a->time_ns[k] - ns0);
	return 0;
}

/* ---- frame: 1920x1080, whole, one in flight ---- */

static int
frame_place(struct bconn *c, uint32_t key)
{
	const struct bc_rect full = { 0, 0, BC_FB_W, BC_FB_H };
	int ret;

	(void)key;
	/* As Linux's driver updates a plane (since 5.7): the transfer and
	 * the flush, then one notification. */
	if ((ret = bc_transfer(c, BC_RES_FB, full, 0)) < 0 ||
	    (ret = bc_flush(c, BC_RES_FB, full)) < 0)
		return ret;
	return bc_kick(c, 0);
}

/* The guest draws each frame whole into the shuffled pages, transfers
 * and flushes it; every eighth is compared whole with guest memory. */
static const struct frame_ops frame_2d = {
	.what = "frame",
	.want = bc_pattern,
	.ncmds = 2,
	.draw = bc_fb_draw_frame,
	.place = frame_place,
	.check = check_full,
	.full_every = 8,
};

static int
frame_round(struct bconn *c, const struct work_cfg *cfg, struct work_acc *a)
{
	uint64_t ns0 = a->time_ns[0], bytes0 = a->bytes[0];
	int ret = frames(c, cfg, a, 0, &frame_2d);

	if (ret < 0)
		return ret;
	round_rate(a, 1, (double)(a->bytes[0] - bytes0) / 1e6,
		   a->time_ns[0] - ns0);
	return check_responses(c);
}

static void
frame_report(struct work_acc *a, struct report *r, unsigned be)
{
	double s = (double)a->time_ns[0] / 1e9;

	if (!a->count[0] || s <= 0)
		return;
	rep_set(r, be, "frame", "fps", "frames/s", REP_HIGHER, true,
		REP_FLOOR_FRAME_RATE, series_pct(&a->rate[0], 50));
	rep_set(r, be, "frame", "display_rate", "MB/s", REP_HIGHER, true,
		REP_FLOOR_NONE, series_pct(&a->rate[1], 50));
	pcts(r, be, "frame", "latency", &a->lat[0], "ms", REP_FLOOR_FRAME_MS);
	rep_set(r, be, "frame", "cpu", "ms/frame", REP_LOWER, true,
		REP_FLOOR_NONE, (double)a->cpu_ns[0] / (double)a->count[0] / 1e6);
	rep_set(r, be, "frame", "updates_per_frame", "msgs", REP_INFO, false,
		REP_FLOOR_NONE, (double)a->updates[0] / (double)a->count[0]);
	rep_set(r, be, "frame", "n", "frames", REP_INFO, false, REP_FLOOR_NONE,
		(double)a->count[0]);
	rep_set(r, be, "frame", "frontend_cpu", "ms/frame", REP_INFO, false,
		REP_FLOOR_NONE, (double)a->self_ns[0] / (double)a->count[0] / 1e6);
	rep_set(r, be, "frame", "checked_whole", "frames", REP_INFO, false,
		REP_FLOOR_NONE, (double)a->full_checks);
	rss(a, r, be, "frame");
}

/* What frames of kind k came to: per second, latency, CPU per frame,
 * how many; the figures' names start with pfx. */
static void
frame_figures(struct work_acc *a, struct report *r, unsigned be,
	      const char *w, const char *pfx, unsigned k,
	      enum rep_floor rate_floor, enum rep_floor ms_floor)
{
	double n = (double)a->count[k];
	char name[32];

	snprintf(name, sizeof(name), "%sfps", pfx);
	rep_set(r, be, w, name, "frames/s", REP_HIGHER, true, rate_floor,
		series_pct(&a->rate[k], 50));
	snprintf(name, sizeof(name), "%slatency", pfx);
	pcts(r, be, w, name, &a->lat[k], "ms", ms_floor);
	snprintf(name, sizeof(name), "%scpu", pfx);
	rep_set(r, be, w, name, "ms/frame", REP_LOWER, true, REP_FLOOR_NONE,
		(double)a->cpu_ns[k] / n / 1e6);
	snprintf(name, sizeof(name), "%sn", pfx);
	rep_set(r, be, w, name, "frames", REP_INFO, false, REP_FLOOR_NONE, n);
	snprintf(name, sizeof(name), "%sfrontend_cpu", pfx);
	rep_set(r, be, w, name, "ms/frame", REP_INFO, false, REP_FLOOR_NONE,
		(double)a->self_ns[k] / n / 1e6);
}

/* ---- desktop: many small damage rectangles and a cursor move ---- */

#define DESK_RECTS 48
#define DESK_POINTS 5

struct drect {
	struct bc_rect r;
	uint32_t color;
};

struct desk_arg {
	const struct drect *rect;
	uint32_t px[DESK_RECTS * (DESK_POINTS + 1)];
	uint32_t py[DESK_RECTS * (DESK_POINTS + 1)];
	uint32_t want[DESK_RECTS * (DESK_POINTS + 1)];
	unsigned npts;
	uint32_t cx, cy;
	uint64_t cursor0, checked;
	bool tried, ok;
	uint64_t t_match;
};

/* Frame f's rectangles: fixed by the seed and f alone, so every backend
 * draws the same sequence. Text cells 70%, widgets 25%, panes 5%. */
static void
desk_gen(uint32_t seed, uint64_t f, struct drect *out)
{
	uint64_t s = mix64(((uint64_t)seed << 32) ^ f);

	for (unsigned i = 0; i < DESK_RECTS; i++) {
		uint32_t w, h, kind;

		s = mix64(s + 0x9e3779b97f4a7c15ull);
		kind = (uint32_t)(s % 100);
		if (kind < 70) {
			w = 8;
			h = 16;
		} else if (kind < 95) {
			w = 80 + (uint32_t)(s >> 8) % 41;
			h = 24 + (uint32_t)(s >> 16) % 13;
		} else {
			w = 500 + (uint32_t)(s >> 8) % 201;
			h = 300 + (uint32_t)(s >> 16) % 201;
		}
		s = mix64(s);
		out[i].r = (struct bc_rect){
			(uint32_t)(s % (BC_FB_W - w + 1)),
			(uint32_t)((s >> 32) % (BC_FB_H - h + 1)), w, h,
		};
		out[i].color = 0xff000000u | ((uint32_t)(s >> 20) & 0xffffff);
	}
}

/* The last rectangle of the frame covering (x, y), from `from` on; -1. */
static int
last_cover(const struct drect *rect, unsigned from, uint32_t x, uint32_t y)
{
	struct bc_rect pt = { x, y, 1, 1 };

	for (unsigned j = DESK_RECTS; j-- > from;)
		if (intersects(rect[j].r, pt))
			return (int)j;
	return -1;
}

/*
 * A point of rectangle i that no later rectangle covers, if there is one.
 * The uncovered part's leftmost column starts at the rectangle's left edge
 * or at a later rectangle's right edge, and its top point in that column
 * at the top edge or at a later rectangle's bottom edge: those crossings
 * are the only candidates.
 */
static bool
own_point(const struct drect *rect, unsigned i, uint32_t *px, uint32_t *py)
{
	const struct bc_rect *a = &rect[i].r;
	uint32_t xs[DESK_RECTS + 1], ys[DESK_RECTS + 1];
	unsigned nx = 0, ny = 0;

	xs[nx++] = a->x;
	ys[ny++] = a->y;
	for (unsigned j = i + 1; j < DESK_RECTS; j++) {
		uint32_t x2 = rect[j].r.x + rect[j].r.w, y2 = rect[j].r.y + rect[j].r.h;

		if (x2 > a->x && x2 < a->x + a->w)
			xs[nx++] = x2;
		if (y2 > a->y && y2 < a->y + a->h)
			ys[ny++] = y2;
	}
	for (unsigned u = 0; u < nx; u++)
		for (unsigned v = 0; v < ny; v++)
			if (last_cover(rect, i, xs[u], ys[v]) == (int)i) {
				*px = xs[u];
				*py = ys[v];
				return true;
			}
	return false;
}

/*
 * Where to look and what must be there: corners and centre of every
 * rectangle, showing the last rectangle of the frame that covers each,
 * and for every rectangle that still shows somewhere, one point where it
 * does. A backend may deliver damage in any order: the frame is on the
 * display only when every rectangle that is visible shows, which these
 * points prove (an UPDATE is looked at only once it is complete).
 */
static void
desk_points(struct desk_arg *a)
{
	a->npts = 0;
	for (unsigned i = 0; i < DESK_RECTS; i++) {
		const struct bc_rect *r = &a->rect[i].r;
		const uint32_t xs[DESK_POINTS] = {
			r->x, r->x + r->w - 1, r->x, r->x + r->w - 1, r->x + r->w / 2,
		};
		const uint32_t ys[DESK_POINTS] = {
			r->y, r->y, r->y + r->h - 1, r->y + r->h - 1, r->y + r->h / 2,
		};
		bool own = false;
		uint32_t x, y;

		for (unsigned k = 0; k < DESK_POINTS; k++) {
			int j = last_cover(a->rect, 0, xs[k], ys[k]);

			own |= j == (int)i;
			a->px[a->npts] = xs[k];
			a->py[a->npts] = ys[k];
			a->want[a->npts++] = a->rect[j].color & 0xffffff;
		}
		if (!own && own_point(a->rect, i, &x, &y)) {
			a->px[a->npts] = x;
			a->py[a->npts] = y;
			a->want[a->npts++] = a->rect[i].color & 0xffffff;
		}
	}
}

static bool
desk_done(struct bconn *c, void *p)
{
	struct desk_arg *a = p;

	if (bc_inflight(c, 0) || bc_inflight(c, 1))
		return false;
	if (c->d.cursor_msgs <= a->cursor0 || c->d.cursor_x != a->cx ||
	    c->d.cursor_y != a->cy)
		return false;
	if (!a->ok && (!a->tried || c->d.updates != a->checked)) {
		a->tried = true;
		a->checked = c->d.updates;
		a->ok = true;
		for (unsigned i = 0; i < a->npts && a->ok; i++)
			a->ok = bc_pixel(c, a->px[i], a->py[i]) == a->want[i];
		/*
		 * The samples can match early: a large UPDATE still being
		 * written can carry a later rectangle's pixels before that
		 * rectangle's own UPDATE comes. The frame is shown when every
		 * pixel of every rectangle is (checked only once the cheap
		 * samples agree).
		 */
		for (unsigned i = 0; i < DESK_RECTS && a->ok; i++)
			a->ok = rect_matches(c, a->rect[i].r);
		if (a->ok)
			a->t_match = c->d.t_update;
	}
	return a->ok;
}

static int
desk_cmd(struct bconn *c, unsigned which, uint64_t n)
{
	const struct drect *d = (const struct drect *)(uintptr_t)n;

	return which ? bc_flush(c, BC_RES_FB, d->r) :
		       bc_transfer(c, BC_RES_FB, d->r, fb_offset(d->r));
}

static int
desktop_round(struct bconn *c, const struct work_cfg *cfg, struct work_acc *a)
{
	struct drect rect[DESK_RECTS];
	struct desk_arg *arg = malloc(sizeof(*arg));
	unsigned frames = 0;
	uint64_t t_stop, ns0 = a->time_ns[0];
	struct bc_proc p0, p1;
	int ret = 0;

	if (!arg)
		return why(c, -ENOMEM, "desktop");
	proc(c, &p0);
	t_stop = bc_now_ns() + MS(cfg->dur_ms);
	do {
		uint64_t fno = a->count[0];
		uint64_t bytes0 = c->d.update_bytes, upd0 = c->d.updates, t0, t1;

		desk_gen(cfg->seed, fno, rect);
		for (unsigned i = 0; i < DESK_RECTS; i++)
			bc_fb_fill(c, rect[i].r, rect[i].color);
		memset(arg, 0, sizeof(*arg));
		arg->rect = rect;
		desk_points(arg);
		arg->cx = 16 + (uint32_t)(fno * 37 % (BC_FB_W - 64));
		arg->cy = 16 + (uint32_t)(fno * 53 % (BC_FB_H - 64));
		arg->cursor0 = c->d.cursor_msgs;
		t0 = bc_now_ns();
		for (unsigned i = 0; i < DESK_RECTS && ret >= 0; i++) {
			uint64_t n = (uint64_t)(uintptr_t)&rect[i];

			ret = place(c, desk_cmd, 0, n);
			if (ret >= 0)
				ret = place(c, desk_cmd, 1, n);
			if (ret >= 0)
				ret = bc_kick(c, 0);
		}
		if (ret >= 0)
			ret = bc_cursor_cmd(c, VIRTIO_GPU_CMD_MOVE_CURSOR, arg->cx,
					    arg->cy);
		if (ret >= 0)
			ret = bc_kick(c, 1);
		if (ret >= 0)
			ret = bc_wait(c, desk_done, arg, WAIT_MS);
		if (ret < 0) {
			ret = why(c, ret, "desktop frame");
			break;
		}
		t1 = max64(max64(c->t_used[0], c->t_used[1]),
			   max64(arg->t_match, c->d.t_cursor));
		a->time_ns[0] += t1 - t0;
		a->bytes[0] += c->d.update_bytes - bytes0;
		a->updates[0] += c->d.updates - upd0;
		a->items += DESK_RECTS;
		series_add(&a->lat[0], (double)(t1 - t0) / 1e6);
		a->count[0]++;
		frames++;
		a->sample_checks++;
		if (fno % 16 == 0) {
			ret = check_full(c, "desktop");
			if (ret < 0)
				break;
			a->full_checks++;
		}
	} while (bc_now_ns() < t_stop || frames < 3);
	free(arg);
	if (ret < 0)
		return ret;
	proc(c, &p1);
	a->cpu_ns[0] += p1.cpu_ns - p0.cpu_ns;
	a->self_ns[0] += p1.self_ns - p0.self_ns;
	round_rate(a, 0, frames, a->time_ns[0] - ns0);
	ret = check_full(c, "desktop, end of round");
	if (ret == 0)
		a->full_checks++;
	return ret < 0 ? ret : check_responses(c);
}

static void
desktop_report(struct work_acc *a, struct report *r, unsigned be)
{
	double s = (double)a->time_ns[0] / 1e9;

	if (!a->count[0] || s <= 0)
		return;
	frame_figures(a, r, be, "desktop", "", 0, REP_FLOOR_NONE, REP_FLOOR_NONE);
	rep_set(r, be, "desktop", "rects_per_frame", "rects", REP_INFO, false,
		REP_FLOOR_NONE, (double)a->items / (double)a->count[0]);
	rep_set(r, be, "desktop", "updates_per_frame", "msgs", REP_INFO, false,
		REP_FLOOR_NONE, (double)a->updates[0] / (double)a->count[0]);
	rep_set(r, be, "desktop", "display_bytes_per_frame", "KiB", REP_INFO,
		false, REP_FLOOR_NONE,
		(double)a->bytes[0] / (double)a->count[0] / 1024.0);
	rss(a, r, be, "desktop");
}

/* ---- cursor: moves, now and then a new image ---- */

struct cursor_arg {
	uint64_t seq, msgs;
	uint32_t x, y;
};

static bool
cursor_done(struct bconn *c, void *p)
{
	struct cursor_arg *a = p;

	return c->completed[1] > a->seq && c->d.cursor_msgs > a->msgs &&
	       c->d.cursor_x == a->x && c->d.cursor_y == a->y;
}

static int
cursor_round(struct bconn *c, const struct work_cfg *cfg, struct work_acc *a)
{
	struct bc_proc p0, p1;
	uint64_t t_stop, ns0 = a->time_ns[0], n0 = a->count[0];

	proc(c, &p0);
	t_stop = bc_now_ns() + MS(cfg->dur_ms);
	do {
		uint64_t n = a->count[0];
		struct cursor_arg arg = {
			c->completed[1], c->d.cursor_msgs,
			1 + (uint32_t)(n * 7 % 1800), 1 + (uint32_t)(n * 13 % 1000),
		};
		uint32_t type = n % 32 == 31 ? VIRTIO_GPU_CMD_UPDATE_CURSOR :
					       VIRTIO_GPU_CMD_MOVE_CURSOR;
		uint64_t t0;
		int ret = bc_cursor_cmd(c, type, arg.x, arg.y);

		if (ret < 0)
			return why(c, ret, "placing a cursor command");
		t0 = bc_now_ns();
		ret = bc_kick(c, 1);
		if (ret == 0)
			ret = bc_wait(c, cursor_done, &arg, WAIT_MS);
		if (ret < 0)
			return why(c, ret, "cursor");
		series_add(&a->lat[0], (double)(c->d.t_cursor - t0) / 1e3);
		series_add(&a->lat[1], (double)(c->t_used[1] - t0) / 1e3);
		a->time_ns[0] += max64(c->d.t_cursor, c->t_used[1]) - t0;
		a->count[0]++;
	} while (bc_now_ns() < t_stop);
	proc(c, &p1);
	a->cpu_ns[0] += p1.cpu_ns - p0.cpu_ns;
	a->self_ns[0] += p1.self_ns - p0.self_ns;
	round_rate(a, 0, (double)(a->count[0] - n0), a->time_ns[0] - ns0);
	return 0;
}

static void
cursor_report(struct work_acc *a, struct report *r, unsigned be)
{
	if (!a->count[0] || !a->time_ns[0])
		return;
	rep_set(r, be, "cursor", "rate", "moves/s", REP_HIGHER, true,
		REP_FLOOR_NONE, series_pct(&a->rate[0], 50));
	pcts(r, be, "cursor", "latency", &a->lat[0], "us", REP_FLOOR_RTT);
	pcts(r, be, "cursor", "used", &a->lat[1], "us", REP_FLOOR_RTT);
	rep_set(r, be, "cursor", "n", "moves", REP_INFO, false, REP_FLOOR_NONE,
		(double)a->count[0]);
	rep_set(r, be, "cursor", "cpu", "us/move", REP_LOWER, true,
		REP_FLOOR_WAKE_CPU, (double)a->cpu_ns[0] / (double)a->count[0] / 1e3);
	rss(a, r, be, "cursor");
}

/* ---- idle ---- */

int
work_idle(struct bconn *const *c, unsigned n, unsigned ms, struct work_acc *a)
{
	struct bc_proc p0[2], p1[2];
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	uint64_t t0, t1;
	int ret;

	for (unsigned i = 0; i < n && i < 2; i++) {
		ret = bc_settle(c[i], 20);
		if (ret < 0)
			return ret;
	}
	for (unsigned i = 0; i < n && i < 2; i++)
		proc(c[i], &p0[i]);
	/* Nothing reads, writes or kicks meanwhile: whatever the backends
	 * do now is their own doing. */
	t0 = bc_now_ns();
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	t1 = bc_now_ns();
	for (unsigned i = 0; i < n && i < 2; i++) {
		long kb;

		if (proc(c[i], &p1[i]) < 0)
			return why(c[i], -ESRCH, "idle: the backend is gone");
		a[i].count[0] += p1[i].ctx - p0[i].ctx;
		a[i].cpu_ns[0] += p1[i].cpu_ns - p0[i].cpu_ns;
		a[i].time_ns[0] += t1 - t0;
		kb = bc_proc_hwm_kb(bc_pid(c[i]));
		if (kb > a[i].hwm_kb)
			a[i].hwm_kb = kb;
		a[i].ran = true;
	}
	return 0;
}

static void
idle_report(struct work_acc *a, struct report *r, unsigned be)
{
	double s = (double)a->time_ns[0] / 1e9;

	if (s <= 0)
		return;
	rep_set(r, be, "idle", "wakeups", "1/s", REP_LOWER, true, REP_FLOOR_NONE,
		(double)a->count[0] / s);
	/* "zero" is the target: half a wake-up per second of noise in the
	 * baseline comparison, nothing for the target itself */
	rep_slack(r, "idle", "wakeups", 0.5);
	rep_set(r, be, "idle", "cpu", "us/s", REP_LOWER, true, REP_FLOOR_NONE,
		(double)a->cpu_ns[0] / 1e3 / s);
	rep_slack(r, "idle", "cpu", 50);
	if (a->hwm_kb > 0)
		rep_set(r, be, "idle", "rss_peak", "KiB", REP_LOWER, true,
			REP_FLOOR_NONE, (double)a->hwm_kb);
}

/* ---- virgl: fence round trips and rendered frames on a context ---- */

#define V_CTX 1
#define V_SURFACE 1		/* the render target's surface in V_CTX */
#define V_STREAM 32		/* dwords: room for any stream sent here */

enum { V_FENCE, V_FRAME };

/* SUBMIT_3D of e's stream (NULL: an empty one) on V_CTX, with the next
 * fence of the guest's timeline when fenced. Placed, not kicked. */
static int
submit_3d(struct bconn *c, const struct venc *e, bool fenced)
{
	size_t len = e ? venc_bytes(e) : 0;
	struct virtio_gpu_cmd_submit s = {
		.hdr.type = htole32(VIRTIO_GPU_CMD_SUBMIT_3D),
		.hdr.flags = htole32(fenced ? VIRTIO_GPU_FLAG_FENCE : 0),
		.hdr.fence_id = htole64(fenced ? c->fence_seq + 1 : 0),
		.hdr.ctx_id = htole32(V_CTX),
		.size = htole32((uint32_t)len),
	};
	int ret;

	if (e && venc_failed(e))
		return -E2BIG;
	ret = bc_submit_extra(c, &s, sizeof(s), e ? e->buf : NULL, len,
			      VIRTIO_GPU_RESP_OK_NODATA);
	if (ret >= 0 && fenced)
		c->fence_seq++;
	return ret;
}

/*
 * Once per backend: the context, and in it a 1920x1080 render target
 * made as a guest's Mesa makes a scanout buffer, with a surface on it.
 * No backing: a guest's would sit unused, the frames never go through
 * guest memory.
 */
static int
virgl_setup(struct bconn *c)
{
	struct virtio_gpu_ctx_create cc = {
		.hdr.type = htole32(VIRTIO_GPU_CMD_CTX_CREATE),
		.hdr.ctx_id = htole32(V_CTX),
		.nlen = htole32(5),
		.debug_name = "bench",
	};
	struct virtio_gpu_resource_create_3d rc = {
		.hdr.type = htole32(VIRTIO_GPU_CMD_RESOURCE_CREATE_3D),
		.resource_id = htole32(BC_RES_3D),
		.target = htole32(VENC_TARGET_TEXTURE_2D),
		.format = htole32(VENC_FORMAT_B8G8R8X8_UNORM),
		.bind = htole32(VENC_BIND_RENDER_TARGET | VENC_BIND_SAMPLER_VIEW |
				VENC_BIND_SCANOUT),
		.width = htole32(BC_FB_W),
		.height = htole32(BC_FB_H),
		.depth = htole32(1),
		.array_size = htole32(1),
		.flags = htole32(VIRTIO_GPU_RESOURCE_FLAG_Y_0_TOP),
	};
	struct virtio_gpu_ctx_resource ca = {
		.hdr.type = htole32(VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE),
		.hdr.ctx_id = htole32(V_CTX),
		.resource_id = htole32(BC_RES_3D),
	};
	uint32_t buf[V_STREAM];
	struct venc e;
	int ret;

	if ((ret = bc_cmd(c, &cc, sizeof(cc), VIRTIO_GPU_RESP_OK_NODATA)) < 0)
		return why(c, ret, "CTX_CREATE");
	if ((ret = bc_cmd(c, &rc, sizeof(rc), VIRTIO_GPU_RESP_OK_NODATA)) < 0)
		return why(c, ret, "RESOURCE_CREATE_3D");
	if ((ret = bc_cmd(c, &ca, sizeof(ca), VIRTIO_GPU_RESP_OK_NODATA)) < 0)
		return why(c, ret, "CTX_ATTACH_RESOURCE");
	venc_init(&e, buf, V_STREAM);
	venc_create_surface(&e, V_SURFACE, BC_RES_3D, VENC_FORMAT_B8G8R8X8_UNORM,
			    0, 0, 0);
	ret = submit_3d(c, &e, false);
	if (ret >= 0)
		ret = bc_kick(c, 0);
	if (ret >= 0)
		ret = bc_wait(c, NULL, NULL, WAIT_MS);
	if (ret < 0)
		return why(c, ret, "creating a surface");
	return check_responses(c);
}

static int
fence_round_trips(struct bconn *c, const struct work_cfg *cfg,
		  struct work_acc *a)
{
	struct bc_proc p0, p1;
	uint64_t t_stop;

	proc(c, &p0);
	t_stop = bc_now_ns() + MS(cfg->dur_ms);
	do {
		/* An empty command stream with a fence: the used entry comes
		 * back when the renderer has retired the fence. */
		struct one_arg arg = { c->completed[0], 0, false, { 0 } };
		uint64_t t0;
		int ret = submit_3d(c, NULL, true);

		if (ret < 0)
			return why(c, ret, "placing SUBMIT_3D");
		t0 = bc_now_ns();
		ret = bc_kick(c, 0);
		if (ret == 0)
			ret = bc_wait(c, one_done, &arg, WAIT_MS);
		if (ret < 0)
			return why(c, ret, "fence");
		series_add(&a->lat[V_FENCE], (double)(c->t_used[0] - t0) / 1e3);
		a->count[V_FENCE]++;
	} while (bc_now_ns() < t_stop);
	proc(c, &p1);
	a->cpu_ns[V_FENCE] += p1.cpu_ns - p0.cpu_ns;
	a->self_ns[V_FENCE] += p1.self_ns - p0.self_ns;
	return check_responses(c);
}

/* A cleared frame: one colour, the key's. */
static uint32_t
solid(uint32_t x, uint32_t y, uint32_t key)
{
	(void)x;
	(void)y;
	return key & 0xffffff;
}

/* A compositor's frame: clear the render target to the frame's colour,
 * fenced, then flush it whole. */
static int
virgl_place(struct bconn *c, uint32_t key)
{
	/* UNORM8 stores k / 255 as exactly k. */
	const float rgba[4] = {
		(float)(key >> 16 & 0xff) / 255.0f,
		(float)(key >> 8 & 0xff) / 255.0f,
		(float)(key & 0xff) / 255.0f,
		1.0f,
	};
	uint32_t buf[V_STREAM];
	struct venc e;

	venc_init(&e, buf, V_STREAM);
	venc_set_framebuffer(&e, V_SURFACE, 0);
	venc_clear_color(&e, rgba);
	return kick_flush(c, submit_3d(c, &e, true), BC_RES_3D);
}

/* The renderer draws, the guest nothing; every eighth frame is compared
 * whole with the colour. */
static const struct frame_ops frame_3d = {
	.what = "virgl frame",
	.want = solid,
	.ncmds = 2,
	.place = virgl_place,
	.full_every = 8,
};

static int
virgl_frames(struct bconn *c, const struct work_cfg *cfg, struct work_acc *a)
{
	int ret = bc_set_scanout(c, BC_RES_3D);

	/* What SET_SCANOUT sent is in before the first frame starts. */
	if (ret == 0)
		ret = bc_settle(c, 20);
	if (ret < 0)
		return why(c, ret, "SET_SCANOUT of the render target");
	ret = frames(c, cfg, a, V_FRAME, &frame_3d);
	if (ret < 0)
		return ret;
	/* The other workloads find their framebuffer scanned out again. */
	ret = bc_set_scanout(c, BC_RES_FB);
	if (ret < 0)
		return why(c, ret, "SET_SCANOUT of the framebuffer");
	return check_responses(c);
}

static int
virgl_round(struct bconn *c, const struct work_cfg *cfg, struct work_acc *a)
{
	int ret;

	if (!(c->f.acked_features & (1ull << VIRTIO_GPU_F_VIRGL))) {
		snprintf(c->why, sizeof(c->why),
			 "%s: no VIRTIO_GPU_F_VIRGL (is it started with --virgl?)",
			 c->name);
		return -ENOTSUP;
	}
	if (!a->items) {
		ret = virgl_setup(c);
		if (ret < 0)
			return ret;
		a->items = 1;
	}
	ret = fence_round_trips(c, cfg, a);
	return ret < 0 ? ret : virgl_frames(c, cfg, a);
}

static void
virgl_report(struct work_acc *a, struct report *r, unsigned be)
{
	if (!a->count[V_FENCE])
		return;
	pcts(r, be, "virgl", "fence", &a->lat[V_FENCE], "us", REP_FLOOR_RTT);
	rep_set(r, be, "virgl", "fence_cpu", "us/cmd", REP_LOWER, true,
		REP_FLOOR_NONE,
		(double)a->cpu_ns[V_FENCE] / (double)a->count[V_FENCE] / 1e3);
	if (a->count[V_FRAME] && a->time_ns[V_FRAME]) {
		frame_figures(a, r, be, "virgl", "frame_", V_FRAME,
			      REP_FLOOR_FRAME_RATE, REP_FLOOR_FRAME_MS);
		rep_set(r, be, "virgl", "frame_checked_whole", "frames", REP_INFO,
			false, REP_FLOOR_NONE, (double)a->full_checks);
	}
	rss(a, r, be, "virgl");
}

const struct workload workloads[] = {
	{ "idle", false, false, 1, NULL, idle_report },
	{ "latency", true, false, 1, latency_round, latency_report },
	{ "throughput", true, false, 1, throughput_round, throughput_report },
	{ "frame", true, false, 2, frame_round, frame_report },
	{ "desktop", true, false, 2, desktop_round, desktop_report },
	{ "cursor", true, false, 1, cursor_round, cursor_report },
	{ "virgl", true, true, 1, virgl_round, virgl_report },
};
const unsigned n_workloads = sizeof(workloads) / sizeof(workloads[0]);
static_assert(sizeof(workloads) / sizeof(workloads[0]) <= WORK_MAX,
	      "WORK_MAX too small");

void
work_acc_free(struct work_acc *a)
{
	for (unsigned i = 0; i < WORK_SERIES; i++) {
		series_free(&a->lat[i]);
		series_free(&a->rate[i]);
	}
}
