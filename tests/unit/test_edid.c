/* Unit tests for the EDID 1.4 generator and the preferred-mode reader. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "proto/edid.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define DTD_OFF 54
#define DESC_SIZE 18

static const uint8_t header[8] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };

struct mode {
	uint32_t w, h, refresh;
};

static const struct mode modes[] = {
	{ 640, 480, 60 },
	{ 800, 600, 0 },
	{ 1024, 768, 60 },
	{ 1280, 800, 60 },
	{ 1280, 1024, 75 },
	{ 1920, 1080, 60 },
	{ 1920, 1200, 144 },
	{ 2560, 1440, 60 },
	{ 3840, 2160, 60 },
	{ 4095, 4095, 60 },	/* clock would be 1075 MHz at 60 Hz */
	{ 4095, 4095, 1 },
	{ 1, 1, 60 },
	{ 1, 1, 240 },
	{ 1, 4095, 60 },	/* line rate would be 262 kHz at 60 Hz */
	{ 4095, 1, 60 },
	{ 1366, 768, 60 },
	{ 1023, 767, 60 },
	{ 333, 777, 30 },
	{ 64, 64, 1000 },	/* refresh clamped */
};

/* What a detailed timing says, decoded here independently of edid.c. */
struct dtd {
	uint32_t clock;		/* 10 kHz */
	uint32_t hactive, hblank, hfp, hsync;
	uint32_t vactive, vblank, vfp, vsync;
	uint32_t wmm, hmm;
	uint8_t flags;
};

static void
decode_dtd(const uint8_t *d, struct dtd *t)
{
	t->clock = d[0] | d[1] << 8;
	t->hactive = d[2] | (d[4] >> 4) << 8;
	t->hblank = d[3] | (d[4] & 0xf) << 8;
	t->vactive = d[5] | (d[7] >> 4) << 8;
	t->vblank = d[6] | (d[7] & 0xf) << 8;
	t->hfp = d[8] | (d[11] >> 6) << 8;
	t->hsync = d[9] | ((d[11] >> 4) & 3) << 8;
	t->vfp = (d[10] >> 4) | ((d[11] >> 2) & 3) << 4;
	t->vsync = (d[10] & 0xf) | (d[11] & 3) << 4;
	t->wmm = d[12] | (d[14] >> 4) << 8;
	t->hmm = d[13] | (d[14] & 0xf) << 8;
	t->flags = d[17];
}

static uint8_t
sum(const uint8_t *b)
{
	uint8_t s = 0;

	for (int i = 0; i < EDID_BLOCK_SIZE; i++)
		s += b[i];
	return s;
}

/* The display descriptor with this tag, or NULL. */
static const uint8_t *
find_descriptor(const uint8_t *b, uint8_t tag)
{
	for (int i = 0; i < 4; i++) {
		const uint8_t *d = b + DTD_OFF + i * DESC_SIZE;

		if (d[0] == 0 && d[1] == 0 && d[2] == 0 && d[3] == tag)
			return d;
	}
	return NULL;
}

static void
gen(uint8_t *b, uint32_t w, uint32_t h, uint32_t refresh, const char *name,
    uint32_t serial)
{
	cr_assert_eq(edid_generate(b, EDID_BLOCK_SIZE, w, h, refresh, name,
				   serial), EDID_BLOCK_SIZE, "%ux%u@%u", w, h,
		     refresh);
}

Test(edid, header_version_checksum)
{
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		uint8_t b[EDID_BLOCK_SIZE];

		gen(b, modes[i].w, modes[i].h, modes[i].refresh, NULL, i);
		cr_expect_arr_eq(b, header, sizeof(header), "%ux%u",
				 modes[i].w, modes[i].h);
		cr_expect_eq(b[18], 1);
		cr_expect_eq(b[19], 4);
		cr_expect_eq(b[126], 0, "no extensions");
		cr_expect_eq(sum(b), 0, "%ux%u checksum", modes[i].w,
			     modes[i].h);
		cr_expect(b[20] & 0x80, "digital input");
		cr_expect(b[21] != 0 && b[22] != 0, "physical size set");
	}
}

Test(edid, preferred_mode_round_trips)
{
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		uint8_t b[EDID_BLOCK_SIZE];
		uint32_t w = 0, h = 0;

		gen(b, modes[i].w, modes[i].h, modes[i].refresh, "rt", 7);
		cr_expect_eq(edid_preferred_mode(b, sizeof(b), &w, &h), 0);
		cr_expect_eq(w, modes[i].w);
		cr_expect_eq(h, modes[i].h);
	}
}

/*
 * The detailed timing is CVT-RB shaped, its clock fits and is at least
 * 10 MHz, its refresh is at most what was asked for, and the range limits
 * cover it.
 */
Test(edid, timing_fits_and_is_covered)
{
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		const struct mode *m = &modes[i];
		uint32_t want = m->refresh ? m->refresh : 60;
		uint8_t b[EDID_BLOCK_SIZE];
		const uint8_t *r;
		struct dtd t;
		uint64_t hz, ht, vt;
		double refresh, hfreq_khz;

		if (want > EDID_MAX_REFRESH)
			want = EDID_MAX_REFRESH;
		gen(b, m->w, m->h, m->refresh, NULL, 0);
		decode_dtd(b + DTD_OFF, &t);
		cr_assert_neq(t.clock, 0);
		cr_expect_geq(t.clock, 1000, "%ux%u: >= 10 MHz", m->w, m->h);
		cr_expect_eq(t.hfp, 48);
		cr_expect_eq(t.hsync, 32);
		cr_expect_geq(t.hblank, 160);
		cr_expect_eq(t.vfp, 3);
		cr_expect_geq(t.vblank, t.vfp + t.vsync + 6);
		cr_expect_eq(t.flags, 0x1a, "separate sync, +h -v");
		cr_expect(t.wmm != 0 && t.hmm != 0);

		hz = (uint64_t)t.clock * 10000;
		ht = t.hactive + t.hblank;
		vt = t.vactive + t.vblank;
		refresh = (double)hz / (double)(ht * vt);
		hfreq_khz = (double)hz / (double)ht / 1000.0;
		cr_expect_leq(refresh, want + 0.001, "%ux%u: %f Hz", m->w,
			      m->h, refresh);
		cr_expect_gt(refresh, 0.99);
		/* Modes that fit keep the rate asked for (clock step aside). */
		if (m->w <= 3840 && m->h <= 2160 && m->w > 1)
			cr_expect_gt(refresh, want * 0.99, "%ux%u: %f Hz",
				     m->w, m->h, refresh);

		r = find_descriptor(b, 0xfd);
		cr_assert_not_null(r, "range limits");
		cr_expect_eq(r[4], 0, "no offsets");
		cr_expect_leq(r[5] - 0.001, refresh);
		cr_expect_geq(r[6], refresh);
		cr_expect_leq(r[7], hfreq_khz);
		cr_expect_geq(r[8], hfreq_khz);
		cr_expect_geq(r[9] * 1000u, t.clock, "max clock 10 MHz units");
		cr_expect_eq(r[10], 0x01, "range limits only");
	}
}

Test(edid, reference_timings)
{
	/* Published CVT-RB clocks, in 10 kHz. */
	static const struct {
		uint32_t w, h, clock, vblank;
	} ref[] = {
		{ 1920, 1080, 13850, 31 },
		{ 2560, 1440, 24150, 41 },
		{ 2560, 1600, 26850, 46 },
		{ 3840, 2160, 53325, 62 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(ref); i++) {
		uint8_t b[EDID_BLOCK_SIZE];
		struct dtd t;

		gen(b, ref[i].w, ref[i].h, 60, NULL, 0);
		decode_dtd(b + DTD_OFF, &t);
		cr_expect_eq(t.clock, ref[i].clock, "%ux%u", ref[i].w,
			     ref[i].h);
		cr_expect_eq(t.hblank, 160);
		cr_expect_eq(t.vblank, ref[i].vblank, "%ux%u", ref[i].w,
			     ref[i].h);
	}
}

/* CVT picks the vsync width from the aspect ratio. */
Test(edid, vsync_from_aspect)
{
	static const struct {
		uint32_t w, h, vsync;
	} ref[] = {
		{ 1024, 768, 4 },
		{ 1023, 767, 4 },
		{ 1920, 1080, 5 },
		{ 1366, 768, 5 },
		{ 2560, 1600, 6 },
		{ 1280, 1024, 7 },
		{ 1000, 1000, 10 },
		{ 4095, 1, 10 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(ref); i++) {
		uint8_t b[EDID_BLOCK_SIZE];
		struct dtd t;

		gen(b, ref[i].w, ref[i].h, 60, NULL, 0);
		decode_dtd(b + DTD_OFF, &t);
		cr_expect_eq(t.vsync, ref[i].vsync, "%ux%u", ref[i].w,
			     ref[i].h);
	}
}

/*
 * The range limits also cover the standard timings listed, whose DMT
 * timings can be faster than the CVT-RB preferred mode.
 */
Test(edid, limits_cover_listed_modes)
{
	static const struct {
		uint32_t w, h;
		uint8_t hmax_khz, clock_10mhz;
	} ref[] = {
		{ 1280, 1024, 64, 11 },		/* DMT 63.981 kHz, 108 MHz */
		{ 1680, 1050, 66, 15 },		/* DMT 65.290 kHz, 146.25 MHz */
		{ 1920, 1200, 75, 20 },		/* DMT 74.556 kHz, 193.25 MHz */
	};

	for (size_t i = 0; i < ARRAY_SIZE(ref); i++) {
		uint8_t b[EDID_BLOCK_SIZE];
		const uint8_t *r;

		gen(b, ref[i].w, ref[i].h, 60, NULL, 0);
		r = find_descriptor(b, 0xfd);
		cr_assert_not_null(r);
		cr_expect_geq(r[8], ref[i].hmax_khz, "%ux%u", ref[i].w,
			      ref[i].h);
		cr_expect_geq(r[9], ref[i].clock_10mhz, "%ux%u", ref[i].w,
			      ref[i].h);
	}
}

Test(edid, refresh_default_and_clamp)
{
	uint8_t a[EDID_BLOCK_SIZE], b[EDID_BLOCK_SIZE];

	gen(a, 1920, 1080, 0, NULL, 1);
	gen(b, 1920, 1080, 60, NULL, 1);
	cr_expect_arr_eq(a, b, sizeof(a), "0 means 60 Hz");
	gen(a, 800, 600, EDID_MAX_REFRESH + 1, NULL, 1);
	gen(b, 800, 600, EDID_MAX_REFRESH, NULL, 1);
	cr_expect_arr_eq(a, b, sizeof(a), "clamped");
	gen(a, 800, 600, UINT32_MAX, NULL, 1);
	cr_expect_arr_eq(a, b, sizeof(a), "clamped");
}

struct bad_size {
	uint32_t w, h;
};

Test(edid, invalid_sizes)
{
	static const struct bad_size bad[] = {
		{ 0, 0 },
		{ 0, 480 },
		{ 640, 0 },
		{ 4096, 480 },
		{ 640, 4096 },
		{ 4096, 4096 },
		{ 65536, 1 },
		{ UINT32_MAX, UINT32_MAX },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		uint8_t b[EDID_BLOCK_SIZE];

		memset(b, 0xa5, sizeof(b));
		cr_expect_eq(edid_generate(b, sizeof(b), bad[i].w, bad[i].h, 60,
					   NULL, 0), -EINVAL, "%ux%u",
			     bad[i].w, bad[i].h);
		cr_expect_eq(b[0], 0xa5, "untouched");
	}
	cr_expect_eq(edid_generate(NULL, EDID_BLOCK_SIZE, 640, 480, 60, NULL,
				   0), -EINVAL);
}

Test(edid, short_buffer)
{
	static const size_t caps[] = { 0, 1, 64, EDID_BLOCK_SIZE - 1 };
	uint8_t b[2 * EDID_BLOCK_SIZE];

	for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
		memset(b, 0xa5, sizeof(b));
		cr_expect_eq(edid_generate(b, caps[i], 640, 480, 60, NULL, 0),
			     -ENOSPC, "cap %zu", caps[i]);
		cr_expect_eq(b[0], 0xa5, "untouched");
	}
	memset(b, 0xa5, sizeof(b));
	cr_expect_eq(edid_generate(b, sizeof(b), 640, 480, 60, NULL, 0),
		     EDID_BLOCK_SIZE);
	cr_expect_eq(b[EDID_BLOCK_SIZE], 0xa5, "nothing past the block");
}

struct name_case {
	const char *in;
	const char *shown;	/* exactly 13 bytes */
};

Test(edid, monitor_name)
{
	static const struct name_case names[] = {
		{ NULL, "vugpu\n       " },
		{ "", "vugpu\n       " },
		{ "Virtual-1", "Virtual-1\n   " },
		{ "twelve chars", "twelve chars\n" },
		{ "exactly13char", "exactly13char" },
		{ "a much longer monitor name", "a much longer" },
		{ "tab\there\n", "tab?here?\n   " },
		{ "\xc3\xa9t\xc3\xa9", "??t??\n       " },
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		uint8_t b[EDID_BLOCK_SIZE];
		const uint8_t *d;

		gen(b, 1024, 768, 60, names[i].in, 0);
		d = find_descriptor(b, 0xfc);
		cr_assert_not_null(d);
		cr_expect_arr_eq(d + 5, names[i].shown, 13, "case %zu", i);
		cr_expect_eq(sum(b), 0);
	}
}

Test(edid, vendor_and_serial)
{
	uint8_t b[EDID_BLOCK_SIZE];
	const uint8_t *d;
	uint16_t id;

	gen(b, 1024, 768, 60, NULL, 0xdeadbeef);
	id = b[8] << 8 | b[9];
	cr_expect_eq(id >> 15, 0);
	cr_expect_eq('@' + ((id >> 10) & 31), 'V');
	cr_expect_eq('@' + ((id >> 5) & 31), 'G');
	cr_expect_eq('@' + (id & 31), 'P');
	cr_expect_eq(b[12] | b[13] << 8 | b[14] << 16 | (uint32_t)b[15] << 24,
		     0xdeadbeef);
	d = find_descriptor(b, 0xff);
	cr_assert_not_null(d);
	cr_expect_arr_eq(d + 5, "3735928559\n  ", 13);

	/* Serial 0 means none: no serial string either. */
	gen(b, 1024, 768, 60, NULL, 0);
	cr_expect_null(find_descriptor(b, 0xff));
	cr_expect_eq(b[12] | b[13] | b[14] | b[15], 0);
}

struct listed_case {
	uint32_t w, h;
	uint8_t established[3];
	uint8_t n_standard;
};

Test(edid, listed_modes_fit)
{
	static const struct listed_case cases[] = {
		{ 1, 1, { 0, 0, 0 }, 0 },
		{ 640, 480, { 0x20, 0, 0 }, 0 },
		{ 1023, 767, { 0x21, 0, 0 }, 0 },
		{ 1024, 768, { 0x21, 0x08, 0 }, 0 },
		{ 1280, 1024, { 0x21, 0x08, 0 }, 3 },
		{ 1366, 768, { 0x21, 0x08, 0 }, 1 },
		{ 1920, 1080, { 0x21, 0x08, 0 }, 7 },
		{ 3840, 2160, { 0x21, 0x08, 0 }, 8 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct listed_case *c = &cases[i];
		uint8_t b[EDID_BLOCK_SIZE];
		unsigned n = 0;

		gen(b, c->w, c->h, 60, NULL, 0);
		cr_expect_arr_eq(b + 35, c->established, 3, "%ux%u", c->w,
				 c->h);
		for (int s = 0; s < 8; s++) {
			const uint8_t *st = b + 38 + 2 * s;
			uint32_t sw, sh;

			if (st[0] == 1 && st[1] == 1)
				continue;
			n++;
			sw = (st[0] + 31) * 8;
			switch (st[1] >> 6) {
			case 0: sh = sw * 10 / 16; break;
			case 1: sh = sw * 3 / 4; break;
			case 2: sh = sw * 4 / 5; break;
			default: sh = sw * 9 / 16; break;
			}
			cr_expect_leq(sw, c->w);
			cr_expect_leq(sh, c->h);
			cr_expect_eq(st[1] & 0x3f, 0, "60 Hz");
		}
		cr_expect_eq(n, c->n_standard, "%ux%u", c->w, c->h);
	}
}

Test(edid, preferred_mode_rejects_bad_blocks)
{
	uint8_t good[EDID_BLOCK_SIZE], b[EDID_BLOCK_SIZE];
	uint32_t w = 0xdead, h = 0xbeef;

	gen(good, 1280, 800, 60, NULL, 0);

	/* Wrong header, checksum fixed up so only the header is wrong. */
	memcpy(b, good, sizeof(b));
	b[1] = 0;
	b[127] += 0xff;
	cr_expect_eq(sum(b), 0);
	cr_expect_eq(edid_preferred_mode(b, sizeof(b), &w, &h), -EINVAL);

	/* Wrong checksum. */
	memcpy(b, good, sizeof(b));
	b[127] ^= 1;
	cr_expect_eq(edid_preferred_mode(b, sizeof(b), &w, &h), -EINVAL);
	memcpy(b, good, sizeof(b));
	b[DTD_OFF + 2] ^= 0x40;
	cr_expect_eq(edid_preferred_mode(b, sizeof(b), &w, &h), -EINVAL);

	/* Too short, or nothing at all. */
	cr_expect_eq(edid_preferred_mode(good, EDID_BLOCK_SIZE - 1, &w, &h),
		     -EINVAL);
	cr_expect_eq(edid_preferred_mode(good, 0, &w, &h), -EINVAL);
	cr_expect_eq(edid_preferred_mode(NULL, EDID_BLOCK_SIZE, &w, &h),
		     -EINVAL);
	cr_expect_eq(w, 0xdead, "untouched on error");
	cr_expect_eq(h, 0xbeef);

	/* No detailed timing: the first slot turned into a dummy descriptor. */
	memcpy(b, good, sizeof(b));
	memset(b + DTD_OFF, 0, DESC_SIZE);
	b[DTD_OFF + 3] = 0x10;
	b[127] = 0;
	b[127] = (uint8_t)(0x100 - sum(b));
	cr_expect_eq(edid_preferred_mode(b, sizeof(b), &w, &h), -EINVAL);

	/* A detailed timing with no active area. */
	memcpy(b, good, sizeof(b));
	b[DTD_OFF + 2] = 0;
	b[DTD_OFF + 4] &= 0x0f;
	b[127] = 0;
	b[127] = (uint8_t)(0x100 - sum(b));
	cr_expect_eq(edid_preferred_mode(b, sizeof(b), &w, &h), -EINVAL);
}

Test(edid, preferred_mode_skips_display_descriptors)
{
	uint8_t b[EDID_BLOCK_SIZE], big[2 * EDID_BLOCK_SIZE];
	uint8_t dtd[DESC_SIZE];
	uint32_t w = 0, h = 0;

	/* Move the detailed timing to the last slot. */
	gen(b, 1366, 768, 60, "moved", 0);
	memcpy(dtd, b + DTD_OFF, DESC_SIZE);
	memmove(b + DTD_OFF, b + DTD_OFF + DESC_SIZE, 3 * DESC_SIZE);
	memcpy(b + DTD_OFF + 3 * DESC_SIZE, dtd, DESC_SIZE);
	cr_expect_eq(sum(b), 0, "a permutation keeps the checksum");
	cr_expect_eq(edid_preferred_mode(b, sizeof(b), &w, &h), 0);
	cr_expect_eq(w, 1366);
	cr_expect_eq(h, 768);

	/* Bytes past the base block (an extension) are not looked at. */
	memset(big, 0x5a, sizeof(big));
	gen(big, 1023, 767, 60, NULL, 0);
	cr_expect_eq(edid_preferred_mode(big, sizeof(big), &w, &h), 0);
	cr_expect_eq(w, 1023);
	cr_expect_eq(h, 767);
}
