/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * EDID 1.4 base block: a generator for displays the frontend describes
 * only by size, and a reader for the preferred mode.
 *
 * Security model: edid_generate's size and name come from the display
 * frontend; the size is checked against what a detailed timing can hold
 * before any arithmetic, the refresh is clamped, and the name is read up
 * to its NUL or 13 bytes, whichever comes first, and scrubbed to printable
 * ASCII. edid_preferred_mode reads a block the frontend supplied: nothing
 * is read before len is checked, and only the 128-byte base block is read.
 *
 * Layout and field meanings follow VESA E-EDID 1.4 (base block) and the
 * timing follows VESA CVT 1.2 reduced blanking (version 1).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "proto/edid.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))

/* Byte offsets in the base block. */
enum {
	OFF_MFG_ID = 8,		/* 3 letters, 5 bits each, big-endian */
	OFF_PRODUCT = 10,	/* little-endian */
	OFF_SERIAL = 12,	/* little-endian */
	OFF_WEEK = 16,
	OFF_YEAR = 17,		/* years since 1990 */
	OFF_VERSION = 18,
	OFF_REVISION = 19,
	OFF_INPUT = 20,
	OFF_WIDTH_CM = 21,
	OFF_HEIGHT_CM = 22,
	OFF_GAMMA = 23,		/* gamma * 100 - 100 */
	OFF_FEATURES = 24,
	OFF_CHROMA = 25,	/* 10 bytes */
	OFF_ESTABLISHED = 35,	/* 3 bytes */
	OFF_STANDARD = 38,	/* 8 x 2 bytes */
	OFF_DESCRIPTORS = 54,	/* 4 x 18 bytes */
	OFF_EXTENSIONS = 126,
	OFF_CHECKSUM = 127,
};

#define DESC_SIZE 18
#define N_DESC 4
#define N_STANDARD 8
#define DESC_TEXT_LEN 13

/* Display descriptor tags (the descriptor's byte 3). */
#define TAG_SERIAL 0xff
#define TAG_RANGE_LIMITS 0xfd
#define TAG_NAME 0xfc
#define TAG_DUMMY 0x10

static const uint8_t edid_header[8] = {
	0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
};

#define VENDOR "VGP"
#define PRODUCT_CODE 0x0001
#define MODEL_YEAR 2024

/* Digital input, 8 bits per colour, interface not defined (we are virtual). */
#define INPUT_DIGITAL_8BPC 0xa0
/*
 * RGB 4:4:4 only, sRGB is the default colour space, and the preferred
 * timing is the native mode. Not continuous-frequency: the guest should
 * pick a listed mode, so the range limits say "limits only".
 */
#define FEATURES 0x06
#define GAMMA_2_2 120
#define RANGE_LIMITS_ONLY 0x01

/*
 * Detailed timing flags: digital separate sync, hsync positive, vsync
 * negative, which is the polarity that marks a CVT-RB timing.
 */
#define DTD_FLAGS 0x1a

/* sRGB primaries and D65 white point (x, y), in units of 1/10000. */
static const uint16_t srgb_chroma[4][2] = {
	{ 6400, 3300 },		/* red */
	{ 3000, 6000 },		/* green */
	{ 1500, 600 },		/* blue */
	{ 3127, 3290 },		/* white */
};

/* CVT 1.2 reduced blanking, version 1. */
#define RB_H_BLANK 160
#define RB_H_FPORCH 48
#define RB_H_SYNC 32
#define RB_V_FPORCH 3
#define RB_MIN_V_BPORCH 6
#define RB_MIN_V_BLANK_US 460
#define RB_CLOCK_STEP_HZ 250000
#define RB_DEFAULT_V_SYNC 10

/* The descriptor's pixel clock is 16 bits of 10 kHz. */
#define MAX_CLOCK_10KHZ 0xffff
#define MIN_CLOCK_HZ 10000000
/* Blanking intervals are 12 bits in a detailed timing. */
#define MAX_BLANK 4095
/* Range limits hold line rates up to 255 kHz without the 1.4 offsets. */
#define MAX_HFREQ_KHZ 255

struct timing {
	uint32_t hactive, htotal;
	uint32_t vactive, vtotal, vsync;
	uint32_t clock;		/* 10 kHz units */
};

/*
 * CVT picks the vsync width from the aspect ratio so a sink can recognise
 * the ratio from the timing. CVT derives the width from the height in
 * 8-pixel cells, so a width within a cell of the exact ratio counts
 * (1366x768 is 16:9).
 */
static const struct {
	uint32_t num, den, vsync;
} cvt_aspects[] = {
	{ 4, 3, 4 },
	{ 16, 9, 5 },
	{ 16, 10, 6 },
	{ 5, 4, 7 },
	{ 15, 9, 7 },
};

static uint32_t
cvt_vsync(uint32_t w, uint32_t h)
{
	for (size_t i = 0; i < ARRAY_SIZE(cvt_aspects); i++) {
		uint64_t a = (uint64_t)w * cvt_aspects[i].den;
		uint64_t b = (uint64_t)h * cvt_aspects[i].num;
		uint64_t diff = a > b ? a - b : b - a;

		if (diff < 8 * cvt_aspects[i].den)
			return cvt_aspects[i].vsync;
	}
	return RB_DEFAULT_V_SYNC;
}

/*
 * The CVT-RB v1 timing for w x h at refresh Hz (1..EDID_MAX_REFRESH).
 * The active width is kept as given rather than rounded down to a cell:
 * the guest must see exactly the scanout's size. Small modes get longer
 * back porches than CVT gives them (see below).
 */
static void
cvt_rb(struct timing *t, uint32_t w, uint32_t h, uint32_t refresh)
{
	uint32_t vsync = cvt_vsync(w, h);
	uint32_t min_vbi = RB_V_FPORCH + vsync + RB_MIN_V_BPORCH;
	uint64_t vbi, frame, hz;

	/*
	 * Lines the minimum vertical blanking time covers:
	 * floor(460 us / line period) + 1, where the estimated line period
	 * is (1 s / refresh - 460 us) / h. Multiplying through by refresh
	 * keeps it in integers; refresh <= 240 keeps the divisor positive.
	 */
	vbi = (uint64_t)RB_MIN_V_BLANK_US * h * refresh /
	      (1000000 - RB_MIN_V_BLANK_US * refresh) + 1;
	if (vbi < min_vbi)
		vbi = min_vbi;

	t->hactive = w;
	t->htotal = w + RB_H_BLANK;
	t->vactive = h;
	t->vtotal = h + (uint32_t)vbi;
	t->vsync = vsync;

	/*
	 * Sinks (and edid-decode) take a detailed timing under 10 MHz for
	 * garbage, and CVT gives one to anything smaller than about 400x300
	 * at 60 Hz. Stretch the back porches, horizontal first, until a
	 * frame at this refresh takes 10 MHz. A 4095-pixel horizontal blank
	 * gets there with under 2442 lines even at 1 Hz, so both blanks fit
	 * their 12 bits.
	 */
	frame = DIV_ROUND_UP(MIN_CLOCK_HZ, refresh);
	if ((uint64_t)t->htotal * t->vtotal < frame) {
		uint64_t ht = DIV_ROUND_UP(frame, t->vtotal);

		t->htotal = ht > w + MAX_BLANK ? w + MAX_BLANK : (uint32_t)ht;
		if ((uint64_t)t->htotal * t->vtotal < frame)
			t->vtotal = (uint32_t)DIV_ROUND_UP(frame, t->htotal);
	}

	/* CVT rounds the clock down to a 0.25 MHz step, 10 MHz being one. */
	hz = (uint64_t)refresh * t->htotal * t->vtotal;
	hz -= hz % RB_CLOCK_STEP_HZ;
	t->clock = hz / 10000 > UINT32_MAX ? UINT32_MAX : (uint32_t)(hz / 10000);
}

static bool
timing_fits(const struct timing *t)
{
	/* ceil(line rate in kHz) <= 255, i.e. clock * 10 kHz <= 255 kHz * htotal */
	return t->clock <= MAX_CLOCK_10KHZ &&
	       (uint64_t)t->clock * 10 <= (uint64_t)MAX_HFREQ_KHZ * t->htotal;
}

/*
 * Modes to list besides the preferred one, with their VESA DMT 60 Hz
 * pixel clock and line rate so the range limits can cover them.
 */
struct listed_mode {
	uint16_t w, h;
	uint32_t clock_khz;
	uint32_t hfreq_hz;
	uint16_t code;	/* established: bit in bytes 35-36; standard: aspect */
};

static const struct listed_mode established_modes[] = {
	{ 640, 480, 25175, 31469, 0x2000 },	/* byte 35 bit 5 */
	{ 800, 600, 40000, 37879, 0x0100 },	/* byte 35 bit 0 */
	{ 1024, 768, 65000, 48363, 0x0008 },	/* byte 36 bit 3 */
};

/* Standard timing aspect ratio codes (EDID 1.3 and later). */
enum {
	STD_16_10 = 0,
	STD_4_3 = 1,
	STD_5_4 = 2,
	STD_16_9 = 3,
};

static const struct listed_mode standard_modes[N_STANDARD] = {
	{ 1280, 720, 74250, 45000, STD_16_9 },
	{ 1280, 800, 83500, 49702, STD_16_10 },
	{ 1280, 1024, 108000, 63981, STD_5_4 },
	{ 1440, 900, 106500, 55935, STD_16_10 },
	{ 1600, 900, 108000, 60000, STD_16_9 },	/* DMT has only RB */
	{ 1680, 1050, 146250, 65290, STD_16_10 },
	{ 1920, 1080, 148500, 67500, STD_16_9 },
	{ 1920, 1200, 193250, 74556, STD_16_10 },
};

/* What the range limits descriptor must cover. */
struct limits {
	uint32_t vmin, vmax;	/* Hz */
	uint32_t hmin, hmax;	/* kHz */
	uint32_t clock_khz;
};

static void
limits_add(struct limits *l, const struct listed_mode *m)
{
	uint32_t hmax = DIV_ROUND_UP(m->hfreq_hz, 1000);

	if (l->hmax < hmax)
		l->hmax = hmax;
	if (l->clock_khz < m->clock_khz)
		l->clock_khz = m->clock_khz;
}

static bool
mode_fits(const struct listed_mode *m, uint32_t w, uint32_t h)
{
	return m->w <= w && m->h <= h;
}

static void
put_le16(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
}

static void
put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, v);
	put_le16(p + 2, v >> 16);
}

/*
 * Never 0: a zero in only one of the base block's two sizes means an
 * aspect ratio instead, and a zero in the detailed timing means "not set".
 */
static uint32_t
mm_at_96dpi(uint32_t px)
{
	uint32_t mm = (px * 254 + 480) / 960;

	return mm ? mm : 1;
}

static uint8_t
cm_from_mm(uint32_t mm)
{
	uint32_t cm = (mm + 5) / 10;

	return cm ? cm : 1;
}

static void
put_chroma(uint8_t *p)
{
	uint16_t v[8];

	for (int i = 0; i < 4; i++) {
		v[2 * i] = (srgb_chroma[i][0] * 1024 + 5000) / 10000;
		v[2 * i + 1] = (srgb_chroma[i][1] * 1024 + 5000) / 10000;
	}
	/* Two bytes of the low 2 bits of each value, then the high 8 bits. */
	p[0] = (v[0] & 3) << 6 | (v[1] & 3) << 4 | (v[2] & 3) << 2 | (v[3] & 3);
	p[1] = (v[4] & 3) << 6 | (v[5] & 3) << 4 | (v[6] & 3) << 2 | (v[7] & 3);
	for (int i = 0; i < 8; i++)
		p[2 + i] = v[i] >> 2;
}

static void
put_dtd(uint8_t *d, const struct timing *t, uint32_t wmm, uint32_t hmm)
{
	uint32_t hblank = t->htotal - t->hactive;
	uint32_t vblank = t->vtotal - t->vactive;

	put_le16(d, t->clock);
	d[2] = t->hactive & 0xff;
	d[3] = hblank & 0xff;
	d[4] = (t->hactive >> 8) << 4 | hblank >> 8;
	d[5] = t->vactive & 0xff;
	d[6] = vblank & 0xff;
	d[7] = (t->vactive >> 8) << 4 | vblank >> 8;
	d[8] = RB_H_FPORCH & 0xff;
	d[9] = RB_H_SYNC & 0xff;
	d[10] = (RB_V_FPORCH & 0xf) << 4 | (t->vsync & 0xf);
	d[11] = (RB_H_FPORCH >> 8) << 6 | (RB_H_SYNC >> 8) << 4 |
		(RB_V_FPORCH >> 4) << 2 | t->vsync >> 4;
	d[12] = wmm & 0xff;
	d[13] = hmm & 0xff;
	d[14] = (wmm >> 8) << 4 | hmm >> 8;
	d[15] = 0;	/* no borders */
	d[16] = 0;
	d[17] = DTD_FLAGS;
}

static void
put_descriptor_header(uint8_t *d, uint8_t tag)
{
	memset(d, 0, 5);
	d[3] = tag;
}

/* Text is ended by a line feed and padded with spaces when shorter than 13. */
static void
put_text(uint8_t *d, uint8_t tag, const char *s, size_t len)
{
	put_descriptor_header(d, tag);
	memset(d + 5, ' ', DESC_TEXT_LEN);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];

		d[5 + i] = c >= 0x20 && c <= 0x7e ? c : '?';
	}
	if (len < DESC_TEXT_LEN)
		d[5 + len] = '\n';
}

static void
put_range_limits(uint8_t *d, const struct limits *l)
{
	put_descriptor_header(d, TAG_RANGE_LIMITS);
	d[4] = 0;	/* no +255 offsets: every rate fits a byte */
	d[5] = l->vmin;
	d[6] = l->vmax;
	d[7] = l->hmin;
	d[8] = l->hmax;
	d[9] = DIV_ROUND_UP(l->clock_khz, 10000);	/* 10 MHz units */
	d[10] = RANGE_LIMITS_ONLY;
	d[11] = '\n';
	memset(d + 12, ' ', DESC_SIZE - 12);
}

static void
put_serial(uint8_t *d, uint32_t serial)
{
	char digits[10];
	size_t n = 0;

	if (!serial) {
		put_descriptor_header(d, TAG_DUMMY);
		memset(d + 5, 0, DESC_SIZE - 5);
		return;
	}
	for (uint32_t v = serial; v; v /= 10)
		digits[n++] = '0' + v % 10;
	for (size_t i = 0; i < n / 2; i++) {
		char c = digits[i];

		digits[i] = digits[n - 1 - i];
		digits[n - 1 - i] = c;
	}
	put_text(d, TAG_SERIAL, digits, n);
}

static uint8_t
checksum(const uint8_t *b)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < EDID_BLOCK_SIZE - 1; i++)
		sum += b[i];
	return (uint8_t)(0x100 - sum);
}

int
edid_generate(uint8_t *out, size_t cap, uint32_t width, uint32_t height,
	      uint32_t refresh_hz, const char *name, uint32_t serial)
{
	uint32_t wmm, hmm;
	struct limits lim;
	struct timing t;
	uint32_t refresh, est = 0;
	uint64_t frame_px;
	size_t name_len, n_std = 0;
	uint8_t *p;

	if (!out || width == 0 || height == 0 || width > EDID_MAX_DIM ||
	    height > EDID_MAX_DIM)
		return -EINVAL;
	if (cap < EDID_BLOCK_SIZE)
		return -ENOSPC;

	wmm = mm_at_96dpi(width);
	hmm = mm_at_96dpi(height);
	refresh = refresh_hz ? refresh_hz : 60;
	if (refresh > EDID_MAX_REFRESH)
		refresh = EDID_MAX_REFRESH;
	/*
	 * Lower the refresh until the clock and line rate fit. At 1 Hz every
	 * size up to 4095x4095 does (under 19 MHz and 5 kHz), so this ends.
	 */
	for (;;) {
		cvt_rb(&t, width, height, refresh);
		if (timing_fits(&t) || refresh == 1)
			break;
		refresh--;
	}

	memset(out, 0, EDID_BLOCK_SIZE);
	memcpy(out, edid_header, sizeof(edid_header));
	out[OFF_MFG_ID] = (VENDOR[0] - '@') << 2 | (VENDOR[1] - '@') >> 3;
	out[OFF_MFG_ID + 1] = ((VENDOR[1] - '@') & 7) << 5 | (VENDOR[2] - '@');
	put_le16(out + OFF_PRODUCT, PRODUCT_CODE);
	put_le32(out + OFF_SERIAL, serial);
	out[OFF_WEEK] = 0xff;	/* the year is a model year */
	out[OFF_YEAR] = MODEL_YEAR - 1990;
	out[OFF_VERSION] = 1;
	out[OFF_REVISION] = 4;
	out[OFF_INPUT] = INPUT_DIGITAL_8BPC;
	out[OFF_WIDTH_CM] = cm_from_mm(wmm);
	out[OFF_HEIGHT_CM] = cm_from_mm(hmm);
	out[OFF_GAMMA] = GAMMA_2_2;
	out[OFF_FEATURES] = FEATURES;
	put_chroma(out + OFF_CHROMA);

	/* The preferred mode's actual rates, rounded outwards. */
	frame_px = (uint64_t)t.htotal * t.vtotal;
	lim.vmin = (uint32_t)((uint64_t)t.clock * 10000 / frame_px);
	lim.vmax = (uint32_t)DIV_ROUND_UP((uint64_t)t.clock * 10000, frame_px);
	lim.hmin = (uint32_t)((uint64_t)t.clock * 10 / t.htotal);
	lim.hmax = (uint32_t)DIV_ROUND_UP((uint64_t)t.clock * 10, t.htotal);
	lim.clock_khz = t.clock * 10;
	/* Then widened to a usual monitor's 50-75 Hz, 30 kHz and up. */
	if (lim.vmin > 50)
		lim.vmin = 50;
	if (lim.vmin == 0)
		lim.vmin = 1;
	if (lim.vmax < 75)
		lim.vmax = 75;
	if (lim.hmin > 30)
		lim.hmin = 30;
	if (lim.hmin == 0)
		lim.hmin = 1;

	for (size_t i = 0; i < ARRAY_SIZE(established_modes); i++) {
		const struct listed_mode *m = &established_modes[i];

		if (!mode_fits(m, width, height))
			continue;
		est |= m->code;
		limits_add(&lim, m);
	}
	out[OFF_ESTABLISHED] = est >> 8;
	out[OFF_ESTABLISHED + 1] = est & 0xff;
	out[OFF_ESTABLISHED + 2] = 0;

	p = out + OFF_STANDARD;
	for (size_t i = 0; i < ARRAY_SIZE(standard_modes); i++) {
		const struct listed_mode *m = &standard_modes[i];

		if (!mode_fits(m, width, height))
			continue;
		/* width / 8 - 31; aspect in bits 7-6, refresh - 60 (0) below. */
		p[2 * n_std] = m->w / 8 - 31;
		p[2 * n_std + 1] = m->code << 6;
		n_std++;
		limits_add(&lim, m);
	}
	for (; n_std < N_STANDARD; n_std++) {
		p[2 * n_std] = 0x01;	/* unused */
		p[2 * n_std + 1] = 0x01;
	}

	p = out + OFF_DESCRIPTORS;
	put_dtd(p, &t, wmm, hmm);
	put_range_limits(p + DESC_SIZE, &lim);
	if (!name || !*name)
		name = "vugpu";
	name_len = strnlen(name, DESC_TEXT_LEN);
	put_text(p + 2 * DESC_SIZE, TAG_NAME, name, name_len);
	put_serial(p + 3 * DESC_SIZE, serial);

	out[OFF_EXTENSIONS] = 0;
	out[OFF_CHECKSUM] = checksum(out);
	return EDID_BLOCK_SIZE;
}

int
edid_preferred_mode(const uint8_t *edid, size_t len, uint32_t *width,
		    uint32_t *height)
{
	uint8_t sum = 0;

	if (!edid || len < EDID_BLOCK_SIZE)
		return -EINVAL;
	if (memcmp(edid, edid_header, sizeof(edid_header)) != 0)
		return -EINVAL;
	for (size_t i = 0; i < EDID_BLOCK_SIZE; i++)
		sum += edid[i];
	if (sum != 0)
		return -EINVAL;

	for (int i = 0; i < N_DESC; i++) {
		const uint8_t *d = edid + OFF_DESCRIPTORS + i * DESC_SIZE;
		uint32_t w, h;

		/* A zero pixel clock marks a display descriptor. */
		if (d[0] == 0 && d[1] == 0)
			continue;
		w = d[2] | (uint32_t)(d[4] >> 4) << 8;
		h = d[5] | (uint32_t)(d[7] >> 4) << 8;
		if (w == 0 || h == 0)
			return -EINVAL;
		*width = w;
		*height = h;
		return 0;
	}
	return -EINVAL;
}
