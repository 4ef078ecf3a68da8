/* The 2D virtio-gpu device of the real vugpu binary, driven through split virtqueues in guest memory and through the display socket. */
/*
 * Every test starts its own daemon on --fd, replays QEMU 10's start-up
 * (the guest takes EDID, RESOURCE_UUID, EVENT_IDX and INDIRECT_DESC), and
 * then plays the guest driver (tests/frontend.c: descriptors, avail ring,
 * kicks, used ring, call eventfd) and QEMU's display (it records SCANOUT,
 * UPDATE and the cursor into per-scanout surfaces, the way QEMU's console
 * would show them). Nothing sleeps: every wait is for an event (a used
 * entry, the call or err eventfd, a display message) bounded by the
 * frontend's timeout and the suite's .timeout.
 *
 * Guest memory (vuf_gpu_memory): two adjacent 16 MiB regions, so that a
 * buffer may span them, rings in the first MiB, buffers above.
 *
 * VUGPU_BIN overrides the daemon; VUF_TRACE=1 prints every message,
 * VUF_ECHO=1 copies the daemon's stderr.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>
#include <linux/virtio_ring.h>

#include "tests/frontend.h"
#include "tests/integ/integ.h"

#define SUITE_TIMEOUT 30.0
#define REGION (16u << 20)
#define CTRL_NUM 64		/* QEMU's control queue without virgl */

/* Display messages (docs/interop/vhost-user-gpu.rst). */
enum {
	DPY_GET_PROTOCOL_FEATURES = 1,
	DPY_SET_PROTOCOL_FEATURES = 2,
	DPY_GET_DISPLAY_INFO = 3,
	DPY_CURSOR_POS = 4,
	DPY_CURSOR_POS_HIDE = 5,
	DPY_CURSOR_UPDATE = 6,
	DPY_SCANOUT = 7,
	DPY_UPDATE = 8,
	DPY_GET_EDID = 11,
};
#define DPY_PF_EDID 0
#define DPY_PF_DMABUF2 1

/* A gpa no region holds. */
#define BAD_GPA 0x7000000000000ull

static struct vuf_arena arena1;	/* region 1, above the first MiB */

/* Test buffers, freed by the teardown if an assertion skipped their
 * owner's free (so that LeakSanitizer only reports real leaks). */
static void *owned[64];

static void *
own(void *p)
{
	cr_assert(p, "out of memory");
	for (unsigned i = 0; i < 64; i++)
		if (!owned[i]) {
			owned[i] = p;
			return p;
		}
	cr_assert_fail("too many test buffers");
	return p;
}

static void
own_free(void *p)
{
	for (unsigned i = 0; p && i < 64; i++)
		if (owned[i] == p)
			owned[i] = NULL;
	free(p);
}

/* The common teardown (integ.h), and this suite's own buffers. */
static void
teardown(void)
{
	arena1.size = 0;
	for (unsigned i = 0; i < 64; i++) {
		free(owned[i]);
		owned[i] = NULL;
	}
	integ_teardown();
}

TestSuite(gpu2d, .init = integ_setup, .fini = teardown, .timeout = SUITE_TIMEOUT);

struct opts {
	const char *const *args;	/* daemon arguments */
	bool no_display;		/* no GPU_SET_SOCKET */
	bool no_display_edid;		/* the display does not offer EDID */
	uint64_t decline;		/* features the guest does not take */
	size_t region;			/* bytes in each region, REGION if 0 */
};

static size_t region_size = REGION;

static void
start_opts(const struct opts *o)
{
	uint64_t want = PF(VIRTIO_GPU_F_EDID) | PF(VIRTIO_GPU_F_RESOURCE_UUID) |
			PF(VIRTIO_RING_F_EVENT_IDX) |
			PF(VIRTIO_RING_F_INDIRECT_DESC);
	int r;

	check_binary();
	r = vuf_spawn_fd(&F, o->args);
	cr_assert(r == 0, "cannot start %s: %s", vuf_daemon_path(), strerror(-r));
	F.no_display = o->no_display;
	F.decline_features = o->decline;
	region_size = o->region ? o->region : REGION;
	OK(vuf_gpu_memory(&F, region_size, region_size, CTRL_NUM));
	OK(vuf_qemu_init(&F, VUF_QEMU_10_0));
	if (o->no_display_edid)
		F.display_protocol_features &= ~PF(DPY_PF_EDID);
	OK(vuf_qemu_get_config(&F, VUF_QEMU_10_0));
	OK(vuf_qemu_start(&F, VUF_QEMU_10_0));
	want &= ~o->decline;
	cr_assert_eq(F.acked_features & want, want,
		     "the guest could not take 0x%llx (offered 0x%llx)",
		     (unsigned long long)want, (unsigned long long)F.features);
	if (!o->no_display) {
		/* The display handshake is the daemon's first business. */
		OK(vuf_display_wait_count(&F, DPY_SET_PROTOCOL_FEATURES, 1, -1));
		cr_assert_eq(F.display.features,
			     F.display_protocol_features &
			     (PF(DPY_PF_EDID) | PF(DPY_PF_DMABUF2)));
	}
}

static void
start(void)
{
	static const struct opts o;

	start_opts(&o);
}

static void
start_args(const char *const *args)
{
	struct opts o = { .args = args };

	start_opts(&o);
}

/* ---- guest memory ---- */


static void *
alloc0(uint64_t len, uint64_t *gpa)
{
	void *p = vuf_arena_alloc(&F, &F.arena, len, 4096, gpa);

	cr_assert(p, "guest memory arena 0 is full");
	memset(p, 0, len);
	return p;
}

static void *
alloc1(uint64_t len, uint64_t *gpa)
{
	void *p;

	if (arena1.size == 0)
		vuf_arena_init(&arena1, region_size + (1u << 20),
			       region_size - (1u << 20));
	p = vuf_arena_alloc(&F, &arena1, len, 4096, gpa);
	cr_assert(p, "guest memory arena 1 is full");
	memset(p, 0, len);
	return p;
}

/* Write into guest memory at gpa, page by page (it may span regions). */
static void
guest_write(uint64_t gpa, const void *src, size_t len)
{
	const uint8_t *s = src;

	while (len) {
		size_t n = 4096 - (gpa & 4095);
		void *p;

		if (n > len)
			n = len;
		p = vuf_gpa(&F, gpa, n);
		cr_assert(p, "gpa 0x%llx is not guest memory", (unsigned long long)gpa);
		memcpy(p, s, n);
		s += n;
		gpa += n;
		len -= n;
	}
}

/* ---- images: resources with their backing, and what they look like ---- */

static const uint32_t formats[] = {
	VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
	VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM, VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM,
	VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM,
	VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM, VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM,
};

/*
 * What a pixel of format fmt (4 bytes in guest memory order) looks like
 * as a8r8g8b8; X formats give alpha 0xff. The names list bytes in memory
 * order, as QEMU's virtio_gpu_get_pixman_format() maps them (B8G8R8X8 is
 * PIXMAN_x8r8g8b8 on little-endian, R8G8B8A8 is PIXMAN_a8b8g8r8, ...).
 */
static uint32_t
to_argb(uint32_t fmt, const uint8_t *p)
{
	uint32_t a = 0xff, r = 0, g = 0, b = 0;

	switch (fmt) {
	case VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM: b = p[0]; g = p[1]; r = p[2]; a = p[3]; break;
	case VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM: b = p[0]; g = p[1]; r = p[2]; break;
	case VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM: a = p[0]; r = p[1]; g = p[2]; b = p[3]; break;
	case VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM: r = p[1]; g = p[2]; b = p[3]; break;
	case VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM: r = p[0]; g = p[1]; b = p[2]; a = p[3]; break;
	case VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM: b = p[1]; g = p[2]; r = p[3]; break;
	case VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM: a = p[0]; b = p[1]; g = p[2]; r = p[3]; break;
	case VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM: r = p[0]; g = p[1]; b = p[2]; break;
	default: cr_assert_fail("format %u", fmt);
	}
	return a << 24 | r << 16 | g << 8 | b;
}

/* The display carries x8r8g8b8: only RGB is compared. */
#define RGB(v) ((v) & 0x00ffffffu)

/* A pseudo-random pixel: every pixel and every seed differ. */
static uint32_t
pattern(uint32_t x, uint32_t y, uint32_t seed)
{
	uint32_t v = x * 0x9e3779b1u ^ y * 0x85ebca77u ^ (seed + 1) * 0xc2b2ae3du;

	v ^= v >> 15;
	v *= 0x2c1b3c6du;
	return v ^ (v >> 12);
}

struct image {
	uint32_t id, format, w, h;
	size_t size;			/* w * h * 4 */
	/* Contiguous backing, or per-page placement (ents) for scattered. */
	uint64_t gpa;
	struct virtio_gpu_mem_entry *ents;	/* owned when set */
	unsigned nents;
	uint8_t *shadow;		/* owned: what the guest wrote */
};

static void
image_free(struct image *im)
{
	own_free(im->ents);
	own_free(im->shadow);
	memset(im, 0, sizeof(*im));
}

/* CREATE_2D, a contiguous backing in region `region`, ATTACH_BACKING. */
static void
image_new(struct image *im, uint32_t id, uint32_t fmt, uint32_t w, uint32_t h,
	  unsigned region)
{
	struct virtio_gpu_mem_entry e;

	memset(im, 0, sizeof(*im));
	im->id = id;
	im->format = fmt;
	im->w = w;
	im->h = h;
	im->size = (size_t)w * h * 4;
	im->shadow = own(calloc(1, im->size));
	if (region == 0)
		alloc0(im->size, &im->gpa);
	else
		alloc1(im->size, &im->gpa);
	NODATA(vuf_gpu_create_2d(&F, id, fmt, w, h));
	e = (struct virtio_gpu_mem_entry){ .addr = im->gpa, .length = (uint32_t)im->size };
	NODATA(vuf_gpu_attach_backing(&F, id, &e, 1));
}

/* Guest memory of byte offset off of the image's backing. */
static uint64_t
image_gpa(const struct image *im, size_t off)
{
	if (!im->ents)
		return im->gpa + off;
	for (unsigned i = 0; i < im->nents; i++) {
		if (off < im->ents[i].length)
			return im->ents[i].addr + off;
		off -= im->ents[i].length;
	}
	cr_assert_fail("offset past the backing");
	return 0;
}

/* Fill the rectangle of the guest's copy with pattern(seed), in memory. */
static void
image_fill_rect(struct image *im, struct vuf_rect r, uint32_t seed)
{
	for (uint32_t y = r.y; y < r.y + r.height; y++) {
		for (uint32_t x = r.x; x < r.x + r.width; x++) {
			uint32_t v = pattern(x, y, seed);
			size_t off = ((size_t)y * im->w + x) * 4;

			memcpy(im->shadow + off, &v, 4);
		}
		/* one row, possibly across entries: page by page */
		for (size_t off = ((size_t)y * im->w + r.x) * 4,
		     end = ((size_t)y * im->w + r.x + r.width) * 4; off < end;) {
			size_t n = 4096 - (image_gpa(im, off) & 4095);

			if (n > end - off)
				n = end - off;
			guest_write(image_gpa(im, off), im->shadow + off, n);
			off += n;
		}
	}
}

static struct vuf_rect
full(const struct image *im)
{
	return (struct vuf_rect){ 0, 0, im->w, im->h };
}

static void
image_fill(struct image *im, uint32_t seed)
{
	image_fill_rect(im, full(im), seed);
}

/* What the display should show: a w x h surface. */
struct want {
	unsigned scanout;
	uint32_t w, h;
	uint32_t *px;		/* owned */
};

static void
want_init(struct want *wa, unsigned scanout, uint32_t w, uint32_t h)
{
	wa->scanout = scanout;
	wa->w = w;
	wa->h = h;
	wa->px = own(calloc((size_t)w * h, 4));
}

/* The surface shows rectangle src of the host copy `host` of im at (0, 0). */
static void
want_from(struct want *wa, const struct image *im, const uint8_t *host,
	  uint32_t sx, uint32_t sy)
{
	for (uint32_t y = 0; y < wa->h; y++)
		for (uint32_t x = 0; x < wa->w; x++)
			wa->px[(size_t)y * wa->w + x] = to_argb(im->format,
				host + (((size_t)sy + y) * im->w + sx + x) * 4);
}

static bool
fb_equal(struct vuf *f, void *arg)
{
	const struct want *wa = arg;
	const struct vuf_scanout *s = &f->display.scanout[wa->scanout];

	if (s->width != wa->w || s->height != wa->h)
		return false;
	for (size_t i = 0; i < (size_t)wa->w * wa->h; i++)
		if (RGB(s->fb[i] ^ wa->px[i]))
			return false;
	return true;
}

/* Wait until the display shows exactly wa; say where it does not. */
static void
expect_fb(const struct want *wa)
{
	const struct vuf_scanout *s = &F.display.scanout[wa->scanout];
	int r = vuf_display_wait(&F, fb_equal, (void *)wa, -1);

	if (r == 0)
		return;
	cr_assert(s->width == wa->w && s->height == wa->h,
		  "scanout %u: the display has %ux%u, want %ux%u (%s)",
		  wa->scanout, s->width, s->height, wa->w, wa->h, strerror(-r));
	for (uint32_t y = 0; y < wa->h; y++)
		for (uint32_t x = 0; x < wa->w; x++) {
			uint32_t got = s->fb[(size_t)y * wa->w + x];
			uint32_t exp = wa->px[(size_t)y * wa->w + x];

			cr_assert(RGB(got ^ exp) == 0,
				  "scanout %u pixel (%u,%u): display 0x%06x, "
				  "guest 0x%06x (%u UPDATEs, last %u,%u %ux%u)",
				  wa->scanout, x, y, RGB(got), RGB(exp),
				  s->updates, s->last_update.x, s->last_update.y,
				  s->last_update.width, s->last_update.height);
		}
}

/*
 * Let every UPDATE owed for scanout s go out: flush a 1x1 rectangle of
 * resource id at (x, y), which shows at (sx, sy), the scanout's bottom-
 * right pixel, until an UPDATE of exactly that pixel arrives. Damage is
 * one bounding rectangle per scanout, so a 1x1 UPDATE means nothing else
 * was owed. The corner matters: tall damage goes out in bands, top
 * first, so what is still owed always reaches the bottom row, and a
 * pixel there does not pull it back up (one at the top would, again and
 * again).
 */
static void
settle(unsigned s, uint32_t id, uint32_t x, uint32_t y, uint32_t sx,
       uint32_t sy)
{
	const struct vuf_scanout *so = &F.display.scanout[s];

	for (unsigned tries = 0; tries < 16; tries++) {
		unsigned n = so->updates;

		NODATA(vuf_gpu_flush(&F, id, (struct vuf_rect){ x, y, 1, 1 }));
		while (so->updates == n)
			OK(vuf_display_wait_count(&F, DPY_UPDATE,
						  F.display.count[DPY_UPDATE] + 1, -1));
		if (so->last_update.x == sx && so->last_update.y == sy &&
		    so->last_update.width == 1 && so->last_update.height == 1)
			return;
	}
	cr_assert_fail("scanout %u: the display never settled", s);
}

/* Put im on scanout s (whole) and wait until the display shows it. */
static void
show(unsigned s, const struct image *im)
{
	struct want wa;

	NODATA(vuf_gpu_set_scanout(&F, s, im->id, full(im)));
	NODATA(vuf_gpu_flush(&F, im->id, full(im)));
	want_init(&wa, s, im->w, im->h);
	want_from(&wa, im, im->shadow, 0, 0);
	expect_fb(&wa);
	own_free(wa.px);
}

/* ---- GET_DISPLAY_INFO ---- */

static void
get_display_info(struct virtio_gpu_resp_display_info *info)
{
	struct virtio_gpu_ctrl_hdr c = { .type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO };
	int r = vuf_gpu_cmd(&F, &c, sizeof(c), NULL, 0, info, sizeof(*info));

	OK(r);
	cr_assert_eq(r, (int)sizeof(*info), "GET_DISPLAY_INFO wrote %d bytes", r);
	RESP(VIRTIO_GPU_RESP_OK_DISPLAY_INFO, (int)info->hdr.type);
}

Test(gpu2d, display_info_from_display)
{
	struct virtio_gpu_resp_display_info info;

	vuf_display_set_mode(&F, 0, 1024, 768, true);
	vuf_display_set_mode(&F, 1, 800, 600, true);
	vuf_display_set_mode(&F, 2, 640, 480, false);
	start();
	get_display_info(&info);
	cr_assert_eq(F.display.count[DPY_GET_DISPLAY_INFO], 1,
		     "the daemon asked the display %u times",
		     F.display.count[DPY_GET_DISPLAY_INFO]);
	cr_assert(info.pmodes[0].enabled);
	cr_assert_eq(info.pmodes[0].r.width, 1024);
	cr_assert_eq(info.pmodes[0].r.height, 768);
	cr_assert(info.pmodes[1].enabled);
	cr_assert_eq(info.pmodes[1].r.width, 800);
	cr_assert_eq(info.pmodes[1].r.height, 600);
	cr_assert(!info.pmodes[2].enabled);
	for (unsigned i = 3; i < VIRTIO_GPU_MAX_SCANOUTS; i++)
		cr_assert(!info.pmodes[i].enabled, "scanout %u enabled", i);

	/* The display changes its mind: asked again, the new answer. */
	vuf_display_set_mode(&F, 0, 1920, 1080, true);
	get_display_info(&info);
	cr_assert_eq(info.pmodes[0].r.width, 1920);
	cr_assert_eq(info.pmodes[0].r.height, 1080);
}

Test(gpu2d, display_info_without_display)
{
	struct opts o = { .no_display = true };
	struct virtio_gpu_resp_display_info info;

	start_opts(&o);
	get_display_info(&info);
	cr_assert(info.pmodes[0].enabled);
	cr_assert_eq(info.pmodes[0].r.width, 1280);
	cr_assert_eq(info.pmodes[0].r.height, 800);
	for (unsigned i = 1; i < VIRTIO_GPU_MAX_SCANOUTS; i++)
		cr_assert(!info.pmodes[i].enabled, "scanout %u enabled", i);
}

/* After the display went away, the last thing it said is the answer. */
Test(gpu2d, display_info_after_display_closed)
{
	struct virtio_gpu_resp_display_info info;

	vuf_display_set_mode(&F, 0, 1024, 768, true);
	start();
	get_display_info(&info);
	close(F.display_fd);
	F.display_fd = -1;
	get_display_info(&info);
	cr_assert(info.pmodes[0].enabled);
	cr_assert_eq(info.pmodes[0].r.width, 1024);
	cr_assert_eq(info.pmodes[0].r.height, 768);
	expect_alive();
}

/* ---- GET_EDID ---- */

static int
get_edid(uint32_t scanout, struct virtio_gpu_resp_edid *e)
{
	struct virtio_gpu_cmd_get_edid c = {
		.hdr.type = VIRTIO_GPU_CMD_GET_EDID,
		.scanout = scanout,
	};
	int r;

	memset(e, 0, sizeof(*e));
	r = vuf_gpu_cmd(&F, &c, sizeof(c), NULL, 0, e, sizeof(*e));
	OK(r);
	return (int)e->hdr.type;
}

/* A generated EDID: base block header, checksums, preferred mode. */
static void
expect_local_edid(const struct virtio_gpu_resp_edid *e, uint32_t w, uint32_t h)
{
	static const uint8_t head[8] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
	const uint8_t *d = e->edid;
	unsigned blocks;

	cr_assert(e->size >= 128 && e->size <= sizeof(e->edid) && e->size % 128 == 0,
		  "EDID size %u", e->size);
	cr_assert(memcmp(d, head, sizeof(head)) == 0, "EDID header");
	blocks = 1u + d[126];
	cr_assert_eq(e->size, blocks * 128, "size %u for %u blocks", e->size, blocks);
	for (unsigned b = 0; b < blocks; b++) {
		uint8_t sum = 0;

		for (unsigned i = 0; i < 128; i++)
			sum += d[b * 128 + i];
		cr_assert_eq(sum, 0, "EDID block %u checksum", b);
	}
	cr_assert_eq(d[18], 1, "EDID version %u.%u", d[18], d[19]);
	/* The first detailed timing descriptor is the preferred mode. */
	cr_assert(d[54] | d[55], "no detailed timing in the first slot");
	cr_assert_eq((uint32_t)(d[56] | (d[58] & 0xf0) << 4), w, "preferred width");
	cr_assert_eq((uint32_t)(d[59] | (d[61] & 0xf0) << 4), h, "preferred height");
}

Test(gpu2d, edid_forwarded_to_display)
{
	struct virtio_gpu_resp_display_info info;
	struct virtio_gpu_resp_edid e;
	uint8_t edid[256];

	for (unsigned i = 0; i < sizeof(edid); i++)
		edid[i] = (uint8_t)(i * 7 + 3);
	memcpy(edid, "\0\xff\xff\xff\xff\xff\xff\0", 8);
	OK(vuf_display_set_edid(&F, edid, sizeof(edid)));
	vuf_display_set_mode(&F, 0, 1024, 768, true);
	start();
	cr_assert(F.display.features & PF(DPY_PF_EDID), "EDID not agreed");
	/* As Linux does: display info first, then the EDIDs. */
	get_display_info(&info);
	RESP(VIRTIO_GPU_RESP_OK_EDID, get_edid(0, &e));
	cr_assert_eq(F.display.count[DPY_GET_EDID], 1, "not asked");
	cr_assert_eq(e.size, sizeof(edid));
	cr_assert(memcmp(e.edid, edid, sizeof(edid)) == 0,
		  "the guest did not get the display's EDID");
}

/* EDID agreed, but the display has not said what it has: generated. */
Test(gpu2d, edid_local_before_display_info)
{
	struct virtio_gpu_resp_edid e;

	start();
	RESP(VIRTIO_GPU_RESP_OK_EDID, get_edid(0, &e));
	cr_assert_eq(F.display.count[DPY_GET_EDID], 0);
	expect_local_edid(&e, 1280, 800);
}

/* The display does not offer EDID: generated for the display's size. */
Test(gpu2d, edid_local_when_not_agreed)
{
	struct opts o = { .no_display_edid = true };
	struct virtio_gpu_resp_display_info info;
	struct virtio_gpu_resp_edid e;

	vuf_display_set_mode(&F, 0, 1024, 768, true);
	start_opts(&o);
	cr_assert(!(F.display.features & PF(DPY_PF_EDID)));
	get_display_info(&info);
	RESP(VIRTIO_GPU_RESP_OK_EDID, get_edid(0, &e));
	cr_assert_eq(F.display.count[DPY_GET_EDID], 0,
		     "GET_EDID sent though EDID was not agreed");
	expect_local_edid(&e, 1024, 768);
}

/* A scanout the display does not have is never asked about (QEMU would
 * not answer); the daemon answers with its default. */
Test(gpu2d, edid_scanout_the_display_lacks)
{
	struct virtio_gpu_resp_display_info info;
	struct virtio_gpu_resp_edid e;

	start();
	get_display_info(&info);
	RESP(VIRTIO_GPU_RESP_OK_EDID, get_edid(3, &e));
	cr_assert_eq(F.display.count[DPY_GET_EDID], 0);
	expect_local_edid(&e, 1280, 800);
}

Test(gpu2d, edid_without_display)
{
	struct opts o = { .no_display = true };
	struct virtio_gpu_resp_edid e;

	start_opts(&o);
	RESP(VIRTIO_GPU_RESP_OK_EDID, get_edid(0, &e));
	expect_local_edid(&e, 1280, 800);
}

Test(gpu2d, edid_bad_scanout)
{
	struct virtio_gpu_resp_edid e;

	start();
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, get_edid(16, &e));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, get_edid(0xffffffffu, &e));
	cr_assert_eq(F.display.count[DPY_GET_EDID], 0);
}

Test(gpu2d, edid_feature_not_acked)
{
	struct opts o = { .decline = PF(VIRTIO_GPU_F_EDID) };
	struct virtio_gpu_resp_edid e;

	start_opts(&o);
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, get_edid(0, &e));
}

/* ---- RESOURCE_CREATE_2D and RESOURCE_UNREF ---- */

Test(gpu2d, create_all_formats)
{
	start();
	for (unsigned i = 0; i < ARRAY_SIZE(formats); i++)
		NODATA(vuf_gpu_create_2d(&F, 10 + i, formats[i], 64, 48));
	for (unsigned i = 0; i < ARRAY_SIZE(formats); i++)
		NODATA(vuf_gpu_unref(&F, 10 + i));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, vuf_gpu_unref(&F, 10));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, vuf_gpu_unref(&F, 0));
}

struct create_case {
	const char *name;
	uint32_t id, format, width, height;
	uint32_t want;
};

Test(gpu2d, create_refused)
{
	static const struct create_case cases[] = {
		{ "id 0", 0, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64,
		  VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID },
		{ "id in use", 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64,
		  VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID },
		{ "format 0", 2, 0, 64, 64, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "format 5", 2, 5, 64, 64, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "format 66", 2, 66, 64, 64, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "format ~0", 2, 0xffffffffu, 64, 64,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "width 0", 2, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 0, 64,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "height 0", 2, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 0,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "0x0", 2, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 0, 0,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		/* 4 * 0x10000 * 0x4000 is 2^32: 0 in 32-bit arithmetic */
		{ "2^32 bytes", 2, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 0x10000, 0x4000,
		  VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY },
		{ "16384x16384", 2, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 16384, 16384,
		  VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY },
		{ "just over 256M", 2, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8193, 8192,
		  VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY },
		/* 2^66 bytes: over any --max-hostmem as well */
		{ "~0 x ~0", 2, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 0xffffffffu,
		  0xffffffffu, VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY },
	};

	start();
	NODATA(vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64));
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct create_case *c = &cases[i];
		int r = vuf_gpu_create_2d(&F, c->id, c->format, c->width, c->height);

		cr_expect(r == (int)c->want, "%s: expected %s, got %s", c->name,
			  resp_name((int)c->want), resp_name(r));
		cr_assert(vuf_alive(&F), "%s: the daemon died\n%s", c->name, F.err);
	}
	/* Nothing of the refused ones was created. */
	NODATA(vuf_gpu_create_2d(&F, 2, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8));
	NODATA(vuf_gpu_create_2d(&F, 3, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 2048, 2048));
	expect_alive();
}

Test(gpu2d, create_over_max_hostmem)
{
	static const char *const args[] = { "--max-hostmem", "1M", NULL };

	start_args(args);
	RESP(VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY,
	     vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1024, 1024));
	/* Four 256 KiB resources fill 1 MiB exactly; a fifth does not fit. */
	for (uint32_t id = 1; id <= 4; id++)
		NODATA(vuf_gpu_create_2d(&F, id, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
					 256, 256));
	RESP(VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY,
	     vuf_gpu_create_2d(&F, 5, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 256, 256));
	RESP(VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY,
	     vuf_gpu_create_2d(&F, 5, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1, 1));
	NODATA(vuf_gpu_unref(&F, 2));
	NODATA(vuf_gpu_create_2d(&F, 5, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 256, 256));
	NODATA(vuf_gpu_unref(&F, 1));
	NODATA(vuf_gpu_unref(&F, 3));
	NODATA(vuf_gpu_create_2d(&F, 6, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 512, 256));
	expect_alive();
}

/* 16384 resources at most: created in batches, as a busy guest would. */
Test(gpu2d, create_resource_count_limit)
{
	unsigned next = 1;

	start();
	while (next <= 16384) {
		unsigned n = 0, head;
		uint32_t len;

		/* two descriptors a chain when direct: at most num / 2 */
		for (; n < CTRL_NUM / 2 && next <= 16384; n++, next++) {
			struct virtio_gpu_resource_create_2d c = {
				.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
				.resource_id = next,
				.format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
				.width = 1, .height = 1,
			};

			OK(vuf_gpu_submit(&F, 0, &c, sizeof(c), NULL, 0, 24));
		}
		OK(vuf_vq_kick(&F, 0));
		for (unsigned i = 0; i < n; i++) {
			struct virtio_gpu_ctrl_hdr *h;

			OK(vuf_vq_wait_used(&F, 0, &head, &len, -1));
			h = vuf_gpu_resp(&F, 0, head);
			cr_assert_eq(len, 24);
			RESP(VIRTIO_GPU_RESP_OK_NODATA, (int)h->type);
		}
	}
	RESP(VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY,
	     vuf_gpu_create_2d(&F, 20000, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1, 1));
	NODATA(vuf_gpu_unref(&F, 77));
	NODATA(vuf_gpu_create_2d(&F, 20000, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1, 1));
}

/* ---- ATTACH_BACKING / DETACH_BACKING ---- */

/*
 * A 256x128 image (32 pages) whose backing is scattered: single pages
 * taken alternately from regions 0 and 1, in falling order, plus one
 * 8 KiB entry across the boundary between the (adjacent) regions.
 */
static void
image_scattered(struct image *im, uint32_t id)
{
	unsigned pages = 256 * 128 * 4 / 4096, n = 0;
	uint64_t base0, base1;

	memset(im, 0, sizeof(*im));
	im->id = id;
	im->format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM;
	im->w = 256;
	im->h = 128;
	im->size = (size_t)im->w * im->h * 4;
	im->shadow = own(calloc(1, im->size));
	im->ents = own(calloc(pages, sizeof(*im->ents)));
	alloc0(pages * 4096, &base0);
	alloc1(pages * 4096, &base1);
	for (unsigned p = 0; p < pages;) {
		if (p == pages / 2) {
			im->ents[n++] = (struct virtio_gpu_mem_entry){
				.addr = REGION - 4096, .length = 8192,
			};
			p += 2;
			continue;
		}
		im->ents[n++] = (struct virtio_gpu_mem_entry){
			.addr = (p & 1 ? base1 : base0) + (pages - 1 - p) * 4096ull,
			.length = 4096,
		};
		p++;
	}
	im->nents = n;
	NODATA(vuf_gpu_create_2d(&F, id, im->format, im->w, im->h));
	NODATA(vuf_gpu_attach_backing(&F, id, im->ents, n));
}

Test(gpu2d, attach_scattered_over_two_regions)
{
	struct image im;
	struct vuf_rect sub = { 37, 11, 100, 50 };
	struct want wa;

	start();
	image_scattered(&im, 1);
	image_fill(&im, 1);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	show(0, &im);

	/* A sub-rectangle: rows come from several entries each. */
	image_fill_rect(&im, sub, 2);
	NODATA(vuf_gpu_transfer_2d(&F, 1, sub, (uint64_t)sub.y * im.w * 4 + sub.x * 4));
	NODATA(vuf_gpu_flush(&F, 1, sub));
	want_init(&wa, 0, im.w, im.h);
	want_from(&wa, &im, im.shadow, 0, 0);
	expect_fb(&wa);
	own_free(wa.px);
	image_free(&im);
}

struct attach_case {
	const char *name;
	uint32_t id;
	uint32_t nr_entries;
	unsigned nsent;			/* entries actually sent */
	struct virtio_gpu_mem_entry e[4];
	uint32_t want;
};

Test(gpu2d, attach_refused)
{
	const struct attach_case cases[] = {
		{ "no entries", 1, 0, 0, { { 0 } },
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "16385 entries", 1, 16385, 0, { { 0 } },
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "~0 entries", 1, 0xffffffffu, 0, { { 0 } },
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "outside guest memory", 1, 1, 1, { { BAD_GPA, 4096, 0 } },
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "past the end of memory", 1, 1, 1, { { 2ull * REGION - 4096, 8192, 0 } },
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "wraps 64 bits", 1, 1, 1, { { ~0ull - 4095, 8192, 0 } },
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "second entry outside", 1, 2, 2,
		  { { 2u << 20, 4096, 0 }, { BAD_GPA, 4096, 0 } },
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "zero-length entry", 1, 2, 2, { { 2u << 20, 4096, 0 }, { 3u << 20, 0, 0 } },
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "entries truncated", 1, 4, 3,
		  { { 2u << 20, 4096, 0 }, { 3u << 20, 4096, 0 }, { 4u << 20, 4096, 0 } },
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "no entries sent", 1, 1, 0, { { 0 } },
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "unknown resource", 77, 1, 1, { { 2u << 20, 4096, 0 } },
		  VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID },
		{ "resource 0", 0, 1, 1, { { 2u << 20, 4096, 0 } },
		  VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID },
	};
	struct virtio_gpu_mem_entry good = { .addr = 2u << 20, .length = 64 * 64 * 4 };

	start();
	NODATA(vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64));
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct attach_case *c = &cases[i];
		struct virtio_gpu_resource_attach_backing a = {
			.hdr.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
			.resource_id = c->id,
			.nr_entries = c->nr_entries,
		};
		int r = vuf_gpu_cmd_type(&F, &a, sizeof(a), c->nsent ? c->e : NULL,
					 c->nsent * sizeof(c->e[0]));

		cr_expect(r == (int)c->want, "%s: expected %s, got %s", c->name,
			  resp_name((int)c->want), resp_name(r));
		cr_assert(vuf_alive(&F), "%s: the daemon died\n%s", c->name, F.err);
	}
	/* None of them attached anything. */
	RESP(VIRTIO_GPU_RESP_ERR_UNSPEC, vuf_gpu_detach_backing(&F, 1));
	NODATA(vuf_gpu_attach_backing(&F, 1, &good, 1));
	RESP(VIRTIO_GPU_RESP_ERR_UNSPEC, vuf_gpu_attach_backing(&F, 1, &good, 1));
	NODATA(vuf_gpu_detach_backing(&F, 1));
	RESP(VIRTIO_GPU_RESP_ERR_UNSPEC, vuf_gpu_detach_backing(&F, 1));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, vuf_gpu_detach_backing(&F, 77));
	/* Attach again after a detach. */
	NODATA(vuf_gpu_attach_backing(&F, 1, &good, 1));
	NODATA(vuf_gpu_transfer_2d(&F, 1, (struct vuf_rect){ 0, 0, 64, 64 }, 0));
}

/* The largest array the device takes, through the bulk buffer. */
Test(gpu2d, attach_16384_entries)
{
	struct virtio_gpu_mem_entry *e = own(calloc(16384, sizeof(*e)));
	uint64_t gpa;

	start();
	alloc1(16384 * 64, &gpa);
	for (unsigned i = 0; i < 16384; i++)
		e[i] = (struct virtio_gpu_mem_entry){ .addr = gpa + i * 64ull, .length = 64 };
	NODATA(vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 512, 512));
	NODATA(vuf_gpu_attach_backing(&F, 1, e, 16384));
	NODATA(vuf_gpu_transfer_2d(&F, 1, (struct vuf_rect){ 0, 0, 512, 512 }, 0));
	NODATA(vuf_gpu_transfer_2d(&F, 1, (struct vuf_rect){ 3, 5, 100, 200 }, 4096 + 12));
	own_free(e);
}

/* ---- TRANSFER_TO_HOST_2D, SET_SCANOUT, RESOURCE_FLUSH on the display ---- */

Test(gpu2d, transfer_full_then_subrect)
{
	struct vuf_rect sub = { 10, 20, 50, 30 };
	struct image im;
	struct want wa;
	const struct vuf_scanout *s = &F.display.scanout[0];

	start();
	image_new(&im, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 320, 200, 0);
	image_fill(&im, 1);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	show(0, &im);
	cr_assert_eq(s->scanouts, 1);
	cr_assert_eq(s->clipped, 0);

	/* Only the damaged rectangle goes out after a small flush. */
	settle(0, 1, im.w - 1, im.h - 1, im.w - 1, im.h - 1);
	image_fill_rect(&im, sub, 2);
	NODATA(vuf_gpu_transfer_2d(&F, 1, sub, (uint64_t)sub.y * im.w * 4 + sub.x * 4));
	{
		unsigned n = s->updates, all = F.display.count[DPY_UPDATE];

		NODATA(vuf_gpu_flush(&F, 1, sub));
		OK(vuf_display_wait_count(&F, DPY_UPDATE, all + 1, -1));
		cr_assert_eq(s->updates, n + 1);
	}
	cr_assert(s->last_update.x == sub.x && s->last_update.y == sub.y &&
		  s->last_update.width == sub.width &&
		  s->last_update.height == sub.height,
		  "UPDATE covered %u,%u %ux%u for a flush of %u,%u %ux%u",
		  s->last_update.x, s->last_update.y, s->last_update.width,
		  s->last_update.height, sub.x, sub.y, sub.width, sub.height);
	want_init(&wa, 0, im.w, im.h);
	want_from(&wa, &im, im.shadow, 0, 0);
	expect_fb(&wa);
	own_free(wa.px);
	cr_assert_eq(s->scanouts, 1, "a flush resized the scanout");
	image_free(&im);
}

/*
 * The transfer reads row i of the rectangle at offset + i * stride of
 * the backing (QEMU's virtio_gpu_transfer_to_host_2d), whatever (x, y):
 * with offset 0, the backing's first rows land at (x, y).
 */
Test(gpu2d, transfer_offset_is_where_rows_start)
{
	struct vuf_rect r = { 10, 20, 40, 8 };
	struct image im;
	uint8_t *host;
	struct want wa;

	start();
	image_new(&im, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 128, 64, 0);
	image_fill(&im, 1);
	host = own(calloc(1, im.size));
	NODATA(vuf_gpu_transfer_2d(&F, 1, r, 0));
	for (uint32_t y = 0; y < r.height; y++)
		memcpy(host + (((size_t)r.y + y) * im.w + r.x) * 4,
		       im.shadow + (size_t)y * im.w * 4, (size_t)r.width * 4);
	NODATA(vuf_gpu_set_scanout(&F, 0, 1, full(&im)));
	NODATA(vuf_gpu_flush(&F, 1, full(&im)));
	want_init(&wa, 0, im.w, im.h);
	want_from(&wa, &im, host, 0, 0);
	expect_fb(&wa);
	own_free(wa.px);
	own_free(host);
	image_free(&im);
}

/* A scanout showing part of a resource: flushes are clipped to it and
 * the UPDATE is in scanout coordinates. */
Test(gpu2d, scanout_window_into_resource)
{
	struct vuf_rect win = { 16, 8, 200, 100 };
	struct vuf_rect dmg = { 20, 10, 5, 7 };
	const struct vuf_scanout *s = &F.display.scanout[0];
	struct image im;
	struct want wa;

	start();
	image_new(&im, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 320, 200, 0);
	image_fill(&im, 1);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	NODATA(vuf_gpu_set_scanout(&F, 0, 1, win));
	NODATA(vuf_gpu_flush(&F, 1, full(&im)));
	want_init(&wa, 0, win.width, win.height);
	want_from(&wa, &im, im.shadow, win.x, win.y);
	expect_fb(&wa);
	settle(0, 1, win.x + win.width - 1, win.y + win.height - 1,
	       win.width - 1, win.height - 1);

	image_fill_rect(&im, dmg, 3);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	{
		unsigned n = F.display.count[DPY_UPDATE];

		NODATA(vuf_gpu_flush(&F, 1, dmg));
		OK(vuf_display_wait_count(&F, DPY_UPDATE, n + 1, -1));
	}
	cr_assert(s->last_update.x == dmg.x - win.x &&
		  s->last_update.y == dmg.y - win.y &&
		  s->last_update.width == dmg.width &&
		  s->last_update.height == dmg.height,
		  "UPDATE %u,%u %ux%u", s->last_update.x, s->last_update.y,
		  s->last_update.width, s->last_update.height);
	want_from(&wa, &im, im.shadow, win.x, win.y);
	expect_fb(&wa);
	own_free(wa.px);
	image_free(&im);
}

/* Every format, converted to x8r8g8b8 on the way to the display. */
Test(gpu2d, formats_converted_for_display)
{
	struct image im[ARRAY_SIZE(formats)];

	start();
	for (unsigned i = 0; i < ARRAY_SIZE(formats); i++) {
		image_new(&im[i], 1 + i, formats[i], 64, 32, 0);
		image_fill(&im[i], 10 + i);
		NODATA(vuf_gpu_transfer_2d(&F, 1 + i, full(&im[i]), 0));
	}
	for (unsigned i = 0; i < ARRAY_SIZE(formats); i++) {
		struct want wa;

		NODATA(vuf_gpu_set_scanout(&F, 0, 1 + i, full(&im[i])));
		NODATA(vuf_gpu_flush(&F, 1 + i, full(&im[i])));
		want_init(&wa, 0, 64, 32);
		want_from(&wa, &im[i], im[i].shadow, 0, 0);
		expect_fb(&wa);
		own_free(wa.px);
		image_free(&im[i]);
	}
}

struct rect_case {
	const char *name;
	uint32_t id;
	struct vuf_rect r;
	uint64_t offset;
	uint32_t want;
};

Test(gpu2d, transfer_refused)
{
	const struct rect_case cases[] = {
		{ "x + width past the edge", 1, { 1, 0, 64, 64 }, 0,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "y + height past the edge", 1, { 0, 60, 64, 5 }, 0,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "x wraps 32 bits", 1, { 0xfffffff0u, 0, 0x20, 1 }, 0,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "y wraps 32 bits", 1, { 0, 0xffffffffu, 1, 2 }, 0,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "offset: last row past the backing", 1, { 0, 0, 64, 64 }, 4,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "offset past the backing", 1, { 0, 0, 1, 1 }, 64 * 64 * 4,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "offset 2^63", 1, { 0, 0, 1, 1 }, 1ull << 63,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "offset ~0", 1, { 0, 0, 1, 1 }, ~0ull,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "rows past a short backing", 2, { 0, 0, 64, 33 }, 0,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "no backing", 3, { 0, 0, 64, 64 }, 0, VIRTIO_GPU_RESP_ERR_UNSPEC },
		{ "unknown resource", 77, { 0, 0, 1, 1 }, 0,
		  VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID },
		{ "resource 0", 0, { 0, 0, 1, 1 }, 0,
		  VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID },
		/* and what is allowed at the edges */
		{ "empty rectangle", 1, { 64, 64, 0, 0 }, 0, VIRTIO_GPU_RESP_OK_NODATA },
		{ "last pixel", 1, { 63, 63, 1, 1 }, 64 * 64 * 4 - 4,
		  VIRTIO_GPU_RESP_OK_NODATA },
		{ "top half of a short backing", 2, { 0, 0, 64, 32 }, 0,
		  VIRTIO_GPU_RESP_OK_NODATA },
	};
	struct virtio_gpu_mem_entry half;
	struct image im;

	start();
	image_new(&im, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64, 0);
	image_free(&im);
	NODATA(vuf_gpu_create_2d(&F, 2, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64));
	uint64_t half_gpa;

	alloc0(64 * 32 * 4, &half_gpa);
	half = (struct virtio_gpu_mem_entry){ .addr = half_gpa, .length = 64 * 32 * 4 };
	NODATA(vuf_gpu_attach_backing(&F, 2, &half, 1));
	NODATA(vuf_gpu_create_2d(&F, 3, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64));
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct rect_case *c = &cases[i];
		int r = vuf_gpu_transfer_2d(&F, c->id, c->r, c->offset);

		cr_expect(r == (int)c->want, "%s: expected %s, got %s", c->name,
			  resp_name((int)c->want), resp_name(r));
		cr_assert(vuf_alive(&F), "%s: the daemon died\n%s", c->name, F.err);
	}
}

Test(gpu2d, flush_refused)
{
	const struct rect_case cases[] = {
		{ "unknown resource", 77, { 0, 0, 1, 1 }, 0,
		  VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID },
		{ "past the edge", 1, { 0, 0, 65, 64 }, 0,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "y wraps", 1, { 0, 0xffffff00u, 1, 0x200 }, 0,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "not on any scanout", 1, { 0, 0, 64, 64 }, 0,
		  VIRTIO_GPU_RESP_OK_NODATA },
	};

	start();
	NODATA(vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64));
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct rect_case *c = &cases[i];
		int r = vuf_gpu_flush(&F, c->id, c->r);

		cr_expect(r == (int)c->want, "%s: expected %s, got %s", c->name,
			  resp_name((int)c->want), resp_name(r));
	}
	cr_assert_eq(F.display.count[DPY_UPDATE], 0);
}

/* ---- SET_SCANOUT ---- */

struct scanout_case {
	const char *name;
	uint32_t scanout, id;
	struct vuf_rect r;
	uint32_t want;
};

Test(gpu2d, set_scanout_refused)
{
	const struct scanout_case cases[] = {
		{ "scanout 16", 16, 1, { 0, 0, 64, 64 },
		  VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID },
		{ "scanout ~0", 0xffffffffu, 1, { 0, 0, 64, 64 },
		  VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID },
		{ "scanout 16, resource 0", 16, 0, { 0, 0, 0, 0 },
		  VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID },
		{ "unknown resource", 0, 77, { 0, 0, 64, 64 },
		  VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID },
		{ "wider than the resource", 0, 1, { 0, 0, 65, 64 },
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "below the resource", 0, 1, { 0, 1, 64, 64 },
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "x wraps", 0, 1, { 0xfffffff0u, 0, 0x20, 8 },
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "width 0", 0, 1, { 0, 0, 0, 64 }, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "height 0", 0, 1, { 0, 0, 64, 0 }, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
	};

	start();
	NODATA(vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64));
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct scanout_case *c = &cases[i];
		int r = vuf_gpu_set_scanout(&F, c->scanout, c->id, c->r);

		cr_expect(r == (int)c->want, "%s: expected %s, got %s", c->name,
			  resp_name((int)c->want), resp_name(r));
	}
	/* Nothing was shown. */
	NODATA(vuf_gpu_flush(&F, 1, (struct vuf_rect){ 0, 0, 64, 64 }));
	expect_alive();
	cr_assert_eq(F.display.count[DPY_SCANOUT], 0);
	cr_assert_eq(F.display.count[DPY_UPDATE], 0);
}

static bool
scanout_off(struct vuf *f, void *arg)
{
	const struct vuf_scanout *s = &f->display.scanout[*(unsigned *)arg];

	return s->scanouts >= 2 && s->width == 0 && s->height == 0;
}

Test(gpu2d, set_scanout_resource_0_disables)
{
	struct image im;
	unsigned s0 = 0;

	start();
	image_new(&im, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64, 0);
	image_fill(&im, 1);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	show(0, &im);
	NODATA(vuf_gpu_set_scanout(&F, 0, 0, (struct vuf_rect){ 0, 0, 0, 0 }));
	OK(vuf_display_wait(&F, scanout_off, &s0, -1));
	/* Showing it again works. */
	show(0, &im);
	image_free(&im);
}

Test(gpu2d, second_scanout)
{
	struct image a, b;

	vuf_display_set_mode(&F, 1, 640, 480, true);
	start();
	image_new(&a, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 100, 60, 0);
	image_new(&b, 2, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 80, 50, 0);
	image_fill(&a, 1);
	image_fill(&b, 2);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&a), 0));
	NODATA(vuf_gpu_transfer_2d(&F, 2, full(&b), 0));
	show(0, &a);
	show(1, &b);
	cr_assert_eq(F.display.scanout[0].width, 100);
	cr_assert_eq(F.display.scanout[1].width, 80);
	/* One resource on two scanouts: a flush updates both. */
	{
		struct want w0, w1;

		NODATA(vuf_gpu_set_scanout(&F, 1, 1, full(&a)));
		image_fill(&a, 3);
		NODATA(vuf_gpu_transfer_2d(&F, 1, full(&a), 0));
		NODATA(vuf_gpu_flush(&F, 1, full(&a)));
		want_init(&w0, 0, a.w, a.h);
		want_from(&w0, &a, a.shadow, 0, 0);
		want_init(&w1, 1, a.w, a.h);
		want_from(&w1, &a, a.shadow, 0, 0);
		expect_fb(&w0);
		expect_fb(&w1);
		own_free(w0.px);
		own_free(w1.px);
	}
	image_free(&a);
	image_free(&b);
}

Test(gpu2d, unref_disables_scanout)
{
	struct image im;
	unsigned s1 = 1;

	start();
	image_new(&im, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64, 0);
	image_fill(&im, 1);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	show(1, &im);
	NODATA(vuf_gpu_unref(&F, 1));
	OK(vuf_display_wait(&F, scanout_off, &s1, -1));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID,
	     vuf_gpu_flush(&F, 1, full(&im)));
	/* The id can be used again. */
	NODATA(vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8));
	image_free(&im);
	expect_alive();
}

/* ---- RESOURCE_ASSIGN_UUID ---- */

static int
assign_uuid(uint32_t id, uint8_t uuid[16])
{
	struct virtio_gpu_resource_assign_uuid c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID,
		.resource_id = id,
	};
	struct virtio_gpu_resp_resource_uuid r;
	int len = vuf_gpu_cmd(&F, &c, sizeof(c), NULL, 0, &r, sizeof(r));

	OK(len);
	if (r.hdr.type == VIRTIO_GPU_RESP_OK_RESOURCE_UUID)
		cr_assert_eq(len, (int)sizeof(r), "OK_RESOURCE_UUID of %d bytes", len);
	memcpy(uuid, r.uuid, 16);
	return (int)r.hdr.type;
}

Test(gpu2d, assign_uuid)
{
	uint8_t u1[16], u1b[16], u2[16];

	start();
	NODATA(vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8));
	NODATA(vuf_gpu_create_2d(&F, 2, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8));
	RESP(VIRTIO_GPU_RESP_OK_RESOURCE_UUID, assign_uuid(1, u1));
	RESP(VIRTIO_GPU_RESP_OK_RESOURCE_UUID, assign_uuid(1, u1b));
	RESP(VIRTIO_GPU_RESP_OK_RESOURCE_UUID, assign_uuid(2, u2));
	cr_assert(memcmp(u1, u1b, 16) == 0, "a resource's uuid changed");
	cr_assert(memcmp(u1, u2, 16) != 0, "two resources share a uuid");
	for (unsigned i = 0; i < 2; i++) {
		const uint8_t *u = i ? u2 : u1;

		cr_assert_eq(u[6] >> 4, 4, "uuid version %u", u[6] >> 4);
		cr_assert_eq(u[8] & 0xc0, 0x80, "uuid variant 0x%x", u[8]);
	}
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, assign_uuid(77, u2));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, assign_uuid(0, u2));
	/* A new resource under an old id gets a new uuid. */
	NODATA(vuf_gpu_unref(&F, 1));
	NODATA(vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8));
	RESP(VIRTIO_GPU_RESP_OK_RESOURCE_UUID, assign_uuid(1, u1b));
	cr_assert(memcmp(u1, u1b, 16) != 0, "uuid survived UNREF");
}

/* ---- commands the 2D device refuses, short and odd chains ---- */

struct raw_case {
	const char *name;
	uint32_t type;
	size_t len;		/* bytes of the request sent */
	uint32_t want;
};

Test(gpu2d, unsupported_and_truncated_commands)
{
	const struct raw_case cases[] = {
		{ "GET_CAPSET_INFO", VIRTIO_GPU_CMD_GET_CAPSET_INFO,
		  sizeof(struct virtio_gpu_get_capset_info),
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "GET_CAPSET", VIRTIO_GPU_CMD_GET_CAPSET,
		  sizeof(struct virtio_gpu_get_capset),
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "CTX_CREATE", VIRTIO_GPU_CMD_CTX_CREATE,
		  sizeof(struct virtio_gpu_ctx_create), VIRTIO_GPU_RESP_ERR_UNSPEC },
		{ "CTX_DESTROY", VIRTIO_GPU_CMD_CTX_DESTROY,
		  sizeof(struct virtio_gpu_ctx_destroy), VIRTIO_GPU_RESP_ERR_UNSPEC },
		{ "SUBMIT_3D", VIRTIO_GPU_CMD_SUBMIT_3D,
		  sizeof(struct virtio_gpu_cmd_submit), VIRTIO_GPU_RESP_ERR_UNSPEC },
		{ "RESOURCE_CREATE_3D", VIRTIO_GPU_CMD_RESOURCE_CREATE_3D,
		  sizeof(struct virtio_gpu_resource_create_3d),
		  VIRTIO_GPU_RESP_ERR_UNSPEC },
		{ "RESOURCE_CREATE_BLOB", VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB,
		  sizeof(struct virtio_gpu_resource_create_blob),
		  VIRTIO_GPU_RESP_ERR_UNSPEC },
		{ "UPDATE_CURSOR on the control queue", VIRTIO_GPU_CMD_UPDATE_CURSOR,
		  sizeof(struct virtio_gpu_update_cursor), VIRTIO_GPU_RESP_ERR_UNSPEC },
		{ "unknown type 0x999", 0x999, 64, VIRTIO_GPU_RESP_ERR_UNSPEC },
		{ "a response type", VIRTIO_GPU_RESP_OK_NODATA, 64,
		  VIRTIO_GPU_RESP_ERR_UNSPEC },
		{ "CREATE_2D, 39 of 40 bytes", VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
		  sizeof(struct virtio_gpu_resource_create_2d) - 1,
		  VIRTIO_GPU_RESP_ERR_UNSPEC },
		{ "TRANSFER_TO_HOST_2D, header only",
		  VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
		  sizeof(struct virtio_gpu_ctrl_hdr), VIRTIO_GPU_RESP_ERR_UNSPEC },
		{ "GET_EDID, 24 of 32 bytes", VIRTIO_GPU_CMD_GET_EDID,
		  sizeof(struct virtio_gpu_ctrl_hdr), VIRTIO_GPU_RESP_ERR_UNSPEC },
		{ "23 bytes: less than a header", VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
		  sizeof(struct virtio_gpu_ctrl_hdr) - 1, VIRTIO_GPU_RESP_ERR_UNSPEC },
		{ "4 bytes", VIRTIO_GPU_CMD_GET_DISPLAY_INFO, 4,
		  VIRTIO_GPU_RESP_ERR_UNSPEC },
	};

	start();
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct raw_case *c = &cases[i];
		uint8_t req[256] = { 0 };
		struct virtio_gpu_ctrl_hdr *h = (void *)req;
		struct virtio_gpu_resource_create_2d *c2d = (void *)req;
		int r;

		h->type = c->type;
		/* a CREATE_2D that would succeed, were it whole */
		c2d->resource_id = 5;
		c2d->format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM;
		c2d->width = 8;
		c2d->height = 8;
		r = vuf_gpu_cmd_type(&F, req, c->len, NULL, 0);
		cr_expect(r == (int)c->want, "%s: expected %s, got %s", c->name,
			  resp_name((int)c->want), resp_name(r));
		cr_assert(vuf_alive(&F), "%s: the daemon died\n%s", c->name, F.err);
	}
	/* The truncated CREATE_2D did not create resource 5. */
	NODATA(vuf_gpu_create_2d(&F, 5, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8));
}

Test(gpu2d, response_buffer_sizes)
{
	struct virtio_gpu_ctrl_hdr gdi = { .type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO };
	struct virtio_gpu_resource_create_2d c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
		.resource_id = 1,
		.format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
		.width = 8, .height = 8,
	};
	uint8_t resp[512];
	int len;

	start();
	/* No writable buffer at all: returned with length 0. */
	cr_assert_eq(vuf_gpu_cmd(&F, &c, sizeof(c), NULL, 0, NULL, 0), 0);
	/* Less than a header: nothing written. */
	c.resource_id = 2;
	cr_assert_eq(vuf_gpu_cmd(&F, &c, sizeof(c), NULL, 0, resp, 23), 0);
	/* A header's room for the 408-byte display info: ERR_UNSPEC. */
	memset(resp, 0, sizeof(resp));
	len = vuf_gpu_cmd(&F, &gdi, sizeof(gdi), NULL, 0, resp, 24);
	cr_assert_eq(len, 24);
	RESP(VIRTIO_GPU_RESP_ERR_UNSPEC, (int)((struct virtio_gpu_ctrl_hdr *)resp)->type);
	/* More room than needed: only the response's bytes count. */
	c.resource_id = 3;
	len = vuf_gpu_cmd(&F, &c, sizeof(c), NULL, 0, resp, sizeof(resp));
	cr_assert_eq(len, (int)sizeof(struct virtio_gpu_ctrl_hdr));
	RESP(VIRTIO_GPU_RESP_OK_NODATA, (int)((struct virtio_gpu_ctrl_hdr *)resp)->type);
	expect_alive();
}

/* ---- fences ---- */

Test(gpu2d, fence_echoed)
{
	struct virtio_gpu_resource_create_2d c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
		.resource_id = 1,
		.format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
		.width = 8, .height = 8,
	};
	struct virtio_gpu_ctrl_hdr gdi = { .type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO };
	struct virtio_gpu_resp_display_info info;
	struct virtio_gpu_ctrl_hdr r;

	start();
	cr_assert_eq(vuf_gpu_cmd_fenced(&F, &c, sizeof(c), NULL, 0,
					0x1122334455667788ull, 7, &r, sizeof(r)), 24);
	RESP(VIRTIO_GPU_RESP_OK_NODATA, (int)r.type);
	cr_assert(r.flags & VIRTIO_GPU_FLAG_FENCE, "flags 0x%x", r.flags);
	cr_assert_eq(r.fence_id, 0x1122334455667788ull);
	cr_assert_eq(r.ctx_id, 7);

	/* An error answer completes the fence too. */
	cr_assert_eq(vuf_gpu_cmd_fenced(&F, &c, sizeof(c), NULL, 0, 42, 0, &r,
					sizeof(r)), 24);
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, (int)r.type);
	cr_assert(r.flags & VIRTIO_GPU_FLAG_FENCE);
	cr_assert_eq(r.fence_id, 42);

	/* A command that waits on the display. */
	cr_assert_eq(vuf_gpu_cmd_fenced(&F, &gdi, sizeof(gdi), NULL, 0, 43, 3,
					&info, sizeof(info)), (int)sizeof(info));
	RESP(VIRTIO_GPU_RESP_OK_DISPLAY_INFO, (int)info.hdr.type);
	cr_assert(info.hdr.flags & VIRTIO_GPU_FLAG_FENCE);
	cr_assert_eq(info.hdr.fence_id, 43);
	cr_assert_eq(info.hdr.ctx_id, 3);

	/* With a ring index. */
	c.resource_id = 2;
	c.hdr.flags = VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX;
	c.hdr.fence_id = 44;
	c.hdr.ring_idx = 3;
	cr_assert_eq(vuf_gpu_cmd(&F, &c, sizeof(c), NULL, 0, &r, sizeof(r)), 24);
	cr_assert_eq(r.flags, VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX);
	cr_assert_eq(r.fence_id, 44);
	cr_assert_eq(r.ring_idx, 3);

	/* No fence asked: none echoed. */
	c.resource_id = 3;
	c.hdr.flags = 0;
	c.hdr.fence_id = 45;
	c.hdr.ctx_id = 9;
	cr_assert_eq(vuf_gpu_cmd(&F, &c, sizeof(c), NULL, 0, &r, sizeof(r)), 24);
	RESP(VIRTIO_GPU_RESP_OK_NODATA, (int)r.type);
	cr_assert_eq(r.flags, 0);
	cr_assert_eq(r.fence_id, 0);
	cr_assert_eq(r.ctx_id, 0);
}

/* ---- the cursor queue ---- */

static int
cursor(uint32_t type, uint32_t id, uint32_t x, uint32_t y, uint32_t hx,
       uint32_t hy)
{
	struct virtio_gpu_update_cursor c = {
		.hdr.type = type,
		.pos = { .scanout_id = 0, .x = x, .y = y },
		.resource_id = id,
		.hot_x = hx,
		.hot_y = hy,
	};

	return vuf_gpu_cursor(&F, &c);
}

static void
expect_cursor_image(const struct image *im)
{
	for (unsigned i = 0; i < VUF_CURSOR_SIZE * VUF_CURSOR_SIZE; i++) {
		uint32_t want = to_argb(im->format, im->shadow + (size_t)i * 4);

		cr_assert_eq(F.display.cursor.image[i], want,
			     "cursor pixel %u: 0x%08x, want 0x%08x (format %u)", i,
			     F.display.cursor.image[i], want, im->format);
	}
}

Test(gpu2d, cursor_queue)
{
	const struct vuf_cursor *cu = &F.display.cursor;
	struct image im, rgba, small;

	start();
	image_new(&im, 1, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64, 0);
	image_fill(&im, 1);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	image_new(&rgba, 2, VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, 64, 64, 0);
	image_fill(&rgba, 2);
	NODATA(vuf_gpu_transfer_2d(&F, 2, full(&rgba), 0));
	image_new(&small, 3, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 32, 32, 0);
	image_fill(&small, 3);
	NODATA(vuf_gpu_transfer_2d(&F, 3, full(&small), 0));

	/* A new image, with its position and hot spot. */
	cr_assert_eq(cursor(VIRTIO_GPU_CMD_UPDATE_CURSOR, 1, 100, 50, 5, 7), 0,
		     "a cursor chain came back with a length");
	OK(vuf_display_wait_count(&F, DPY_CURSOR_UPDATE, 1, -1));
	cr_assert(cu->x == 100 && cu->y == 50 && cu->hot_x == 5 && cu->hot_y == 7,
		  "cursor at %u,%u hot %u,%u", cu->x, cu->y, cu->hot_x, cu->hot_y);
	expect_cursor_image(&im);

	/* A move. */
	cr_assert_eq(cursor(VIRTIO_GPU_CMD_MOVE_CURSOR, 0, 200, 150, 0, 0), 0);
	OK(vuf_display_wait_count(&F, DPY_CURSOR_POS, 1, -1));
	cr_assert(cu->x == 200 && cu->y == 150 && cu->visible);

	/* Not 64x64: ignored; the next move shows it changed nothing. */
	cr_assert_eq(cursor(VIRTIO_GPU_CMD_UPDATE_CURSOR, 3, 1, 1, 0, 0), 0);
	cr_assert_eq(cursor(VIRTIO_GPU_CMD_UPDATE_CURSOR, 77, 1, 1, 0, 0), 0);
	cr_assert_eq(cursor(VIRTIO_GPU_CMD_MOVE_CURSOR, 0, 300, 200, 0, 0), 0);
	OK(vuf_display_wait_count(&F, DPY_CURSOR_POS, 2, -1));
	cr_assert(cu->x == 300 && cu->y == 200);
	cr_assert_eq(cu->updates, 1, "a non-64x64 cursor was sent");
	cr_assert_eq(F.display.count[DPY_CURSOR_POS_HIDE], 0);

	/* Another format, converted to a8r8g8b8 with its alpha. */
	cr_assert_eq(cursor(VIRTIO_GPU_CMD_UPDATE_CURSOR, 2, 10, 20, 1, 2), 0);
	OK(vuf_display_wait_count(&F, DPY_CURSOR_UPDATE, 2, -1));
	expect_cursor_image(&rgba);
	cr_assert(cu->x == 10 && cu->y == 20 && cu->hot_x == 1 && cu->hot_y == 2);

	/* Resource 0 hides it. */
	cr_assert_eq(cursor(VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 10, 20, 0, 0), 0);
	OK(vuf_display_wait_count(&F, DPY_CURSOR_POS_HIDE, 1, -1));
	cr_assert(!cu->visible);

	/* Junk on the cursor queue: returned with length 0, nothing sent. */
	{
		struct virtio_gpu_ctrl_hdr h = { .type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D };
		struct virtio_gpu_update_cursor oob = {
			.hdr.type = VIRTIO_GPU_CMD_MOVE_CURSOR,
			.pos = { .scanout_id = 16, .x = 1, .y = 1 },
		};
		uint8_t resp[64];

		cr_assert_eq(vuf_gpu_cursor(&F, &oob), 0);
		OK(vuf_gpu_submit(&F, 1, &h, sizeof(h), NULL, 0, sizeof(resp)));
		OK(vuf_vq_kick(&F, 1));
		{
			unsigned head;
			uint32_t len;

			OK(vuf_vq_wait_used(&F, 1, &head, &len, -1));
			cr_assert_eq(len, 0, "the cursor queue answered %u bytes", len);
		}
	}
	cr_assert_eq(cursor(VIRTIO_GPU_CMD_MOVE_CURSOR, 0, 5, 6, 0, 0), 0);
	OK(vuf_display_wait_count(&F, DPY_CURSOR_POS_HIDE, 2, -1));
	cr_assert(cu->x == 5 && cu->y == 6, "the scanout-16 move was not ignored");
	cr_assert_eq(F.display.count[DPY_CURSOR_POS], 2);
	image_free(&im);
	image_free(&rgba);
	image_free(&small);
	expect_alive();
}

/* ---- malformed descriptor chains ---- */

enum bad_kind {
	BAD_ADDR_FIRST,
	BAD_ADDR_AFTER_RESP,
	BAD_WRAP,
	BAD_LOOP,
	BAD_NEXT_RANGE_FIRST,
	BAD_NEXT_RANGE,
	BAD_HEAD_RANGE,
	BAD_NESTED_INDIRECT,
	BAD_INDIRECT_NEXT,
	BAD_WRITE_BEFORE_READ,
	BAD_INDIRECT_EMPTY,
	BAD_INDIRECT_TOO_BIG,
	BAD_INDIRECT_ODD,
	BAD_INDIRECT_OUTSIDE,
	BAD_INDIRECT_WRAP,
};

struct bad_chain {
	char name[48];
	enum bad_kind kind;
	bool answered;		/* an ERR_UNSPEC header fits the chain */
};

static struct bad_chain bad_chains[] = {
	{ "address outside memory, first", BAD_ADDR_FIRST, false },
	{ "address outside memory, after the response", BAD_ADDR_AFTER_RESP, true },
	{ "address + length wraps 64 bits", BAD_WRAP, true },
	{ "loop in next", BAD_LOOP, true },
	{ "next >= queue size, first", BAD_NEXT_RANGE_FIRST, false },
	{ "next >= queue size", BAD_NEXT_RANGE, true },
	{ "head >= queue size", BAD_HEAD_RANGE, false },
	{ "nested indirect table", BAD_NESTED_INDIRECT, true },
	{ "indirect descriptor with NEXT", BAD_INDIRECT_NEXT, false },
	{ "writable before readable", BAD_WRITE_BEFORE_READ, true },
	{ "zero-length indirect table", BAD_INDIRECT_EMPTY, false },
	{ "indirect table > queue size", BAD_INDIRECT_TOO_BIG, false },
	{ "indirect table length % 16", BAD_INDIRECT_ODD, false },
	{ "indirect table outside memory", BAD_INDIRECT_OUTSIDE, false },
	{ "indirect table wraps 64 bits", BAD_INDIRECT_WRAP, false },
};

ParameterizedTestParameters(gpu2d, malformed_chain)
{
	return cr_make_param_array(struct bad_chain, bad_chains,
				   ARRAY_SIZE(bad_chains));
}

/* Write chain descriptor i (of an array in guest memory or the ring). */
static void
put(struct vring_desc *t, uint64_t addr, uint32_t len, uint16_t flags,
    uint16_t next)
{
	t->addr = htole64(addr);
	t->len = htole32(len);
	t->flags = htole16(flags);
	t->next = htole16(next);
}

ParameterizedTest(struct bad_chain *bc, gpu2d, malformed_chain)
{
	const uint16_t N = VRING_DESC_F_NEXT, W = VRING_DESC_F_WRITE,
		       I = VRING_DESC_F_INDIRECT;
	struct virtio_gpu_resource_create_2d req = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
		.resource_id = 9,
		.format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
		.width = 8, .height = 8,
	};
	struct vring_desc *ring, *t1, *t2;
	uint64_t slot, t1_gpa, t2_gpa, rq, rs;
	uint16_t id[3];
	uint8_t *host;
	unsigned head, want_head;
	uint32_t len;

	start();
	OK(vuf_vq_alloc_desc(&F, 0, 3, id));
	host = vuf_vq_slot(&F, 0, id[0], &slot);
	cr_assert(host);
	rq = slot + VUF_SLOT_REQ;
	rs = slot + VUF_SLOT_RESP;
	memcpy(host + VUF_SLOT_REQ, &req, sizeof(req));
	memset(host + VUF_SLOT_RESP, 0xee, 64);
	t1 = (void *)(host + VUF_SLOT_IND);
	t1_gpa = slot + VUF_SLOT_IND;
	t2 = alloc0(4096, &t2_gpa);
	ring = F.vq[0].desc;
	want_head = id[0];

	switch (bc->kind) {
	case BAD_ADDR_FIRST:
		put(&ring[id[0]], BAD_GPA, sizeof(req), N, id[1]);
		put(&ring[id[1]], rs, 24, W, 0);
		break;
	case BAD_ADDR_AFTER_RESP:
		put(&ring[id[0]], rq, sizeof(req), N, id[1]);
		put(&ring[id[1]], rs, 24, W | N, id[2]);
		put(&ring[id[2]], BAD_GPA, 64, W, 0);
		break;
	case BAD_WRAP:
		put(&ring[id[0]], rq, sizeof(req), N, id[1]);
		put(&ring[id[1]], rs, 24, W | N, id[2]);
		put(&ring[id[2]], ~0ull - 0xfff, 0x2000, W, 0);
		break;
	case BAD_LOOP:
		put(&ring[id[0]], rq, sizeof(req), N, id[1]);
		put(&ring[id[1]], rs, 24, W | N, id[1]);
		break;
	case BAD_NEXT_RANGE_FIRST:
		put(&ring[id[0]], rq, sizeof(req), N, 0xffff);
		break;
	case BAD_NEXT_RANGE:
		put(&ring[id[0]], rq, sizeof(req), N, id[1]);
		put(&ring[id[1]], rs, 24, W | N, CTRL_NUM);
		break;
	case BAD_HEAD_RANGE:
		want_head = CTRL_NUM + 3;
		break;
	case BAD_NESTED_INDIRECT:
		put(&t1[0], rq, sizeof(req), N, 1);
		put(&t1[1], rs, 24, W | N, 2);
		put(&t1[2], t2_gpa, 16, I, 0);
		put(&t2[0], rq, sizeof(req), 0, 0);
		put(&ring[id[0]], t1_gpa, 3 * 16, I, 0);
		break;
	case BAD_INDIRECT_NEXT:
		put(&t1[0], rq, sizeof(req), N, 1);
		put(&t1[1], rs, 24, W, 0);
		put(&ring[id[0]], t1_gpa, 2 * 16, I | N, id[1]);
		put(&ring[id[1]], rs, 24, W, 0);
		break;
	case BAD_WRITE_BEFORE_READ:
		put(&ring[id[0]], rq, sizeof(req), N, id[1]);
		put(&ring[id[1]], rs, 24, W | N, id[2]);
		put(&ring[id[2]], rq, 8, 0, 0);
		break;
	case BAD_INDIRECT_EMPTY:
		put(&ring[id[0]], t1_gpa, 0, I, 0);
		break;
	case BAD_INDIRECT_TOO_BIG:
		/* a table of num + 1 good descriptors */
		for (unsigned i = 0; i <= CTRL_NUM; i++)
			put(&t2[i], rq, 8, N, (uint16_t)(i + 1));
		put(&t2[CTRL_NUM], rs, 24, W, 0);
		put(&ring[id[0]], t2_gpa, (CTRL_NUM + 1) * 16, I, 0);
		break;
	case BAD_INDIRECT_ODD:
		put(&t1[0], rq, sizeof(req), N, 1);
		put(&t1[1], rs, 24, W, 0);
		put(&ring[id[0]], t1_gpa, 24, I, 0);
		break;
	case BAD_INDIRECT_OUTSIDE:
		put(&ring[id[0]], BAD_GPA, 32, I, 0);
		break;
	case BAD_INDIRECT_WRAP:
		put(&ring[id[0]], ~0ull - 15, 32, I, 0);
		break;
	}
	vuf_vq_add_raw(&F, 0, (uint16_t)want_head);
	OK(vuf_vq_kick(&F, 0));
	OK(vuf_vq_wait_used(&F, 0, &head, &len, -1));
	cr_assert_eq(head, want_head, "%s: used entry for head %u, not %u",
		     bc->name, head, want_head);
	if (bc->answered) {
		const struct virtio_gpu_ctrl_hdr *h = (void *)(host + VUF_SLOT_RESP);

		cr_assert_eq(len, 24, "%s: used length %u", bc->name, len);
		RESP(VIRTIO_GPU_RESP_ERR_UNSPEC, (int)h->type);
	} else {
		cr_assert_eq(len, 0, "%s: used length %u", bc->name, len);
		cr_assert_eq(host[VUF_SLOT_RESP], 0xee, "%s: written to", bc->name);
	}
	vuf_vq_free_desc(&F, 0, id, 3);
	expect_alive();
	/* The queue goes on, and the malformed request was not executed. */
	NODATA(vuf_gpu_create_2d(&F, 9, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID,
	     vuf_gpu_create_2d(&F, 9, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8));
}

/* avail->idx more than num ahead: the queue stops, the process does not. */
Test(gpu2d, corrupt_ring_stops_queue)
{
	struct virtio_gpu_resource_create_2d c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
		.resource_id = 2,
		.format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
		.width = 8, .height = 8,
	};
	uint16_t used;
	unsigned head;
	uint32_t len;

	start();
	NODATA(vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8));
	used = vuf_vq_used_idx(&F, 0);
	vuf_vq_set_avail_idx(&F, 0, F.vq[0].drv.avail_idx + CTRL_NUM + 1);
	OK(vuf_vq_notify(&F, 0));
	OK(vuf_wait_fd(&F, F.vq[0].err_fd, -1));
	expect_alive();
	cr_assert_eq(vuf_vq_used_idx(&F, 0), used, "used entries after the corruption");

	/* A good chain and a sane idx now: the queue stays stopped. */
	OK(vuf_gpu_submit(&F, 0, &c, sizeof(c), NULL, 0, 24));
	OK(vuf_vq_kick(&F, 0));
	OK(vuf_vq_notify(&F, 0));
	barrier();
	cr_assert_eq(vuf_vq_wait_used(&F, 0, &head, &len, 100), -ETIMEDOUT,
		     "a stopped queue answered");
	cr_assert_eq(vuf_vq_used_idx(&F, 0), used);
	expect_alive();
	/* Only that queue stopped: the cursor queue still runs. */
	cr_assert_eq(cursor(VIRTIO_GPU_CMD_MOVE_CURSOR, 0, 1, 2, 0, 0), 0);
}

/* ---- notification suppression ---- */

/* Wait until the call eventfd has been signalled more than `than` times
 * in all (a wait for used entries may have counted it already). */
static void
wait_calls(unsigned q, uint64_t than)
{
	while (vuf_vq_calls(&F, q) <= than)
		OK(vuf_wait_fd(&F, F.vq[q].call_fd, -1));
}

static int
submit_create(uint32_t id)
{
	struct virtio_gpu_resource_create_2d c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
		.resource_id = id,
		.format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
		.width = 4, .height = 4,
	};

	return vuf_gpu_submit(&F, 0, &c, sizeof(c), NULL, 0,
			      sizeof(struct virtio_gpu_ctrl_hdr));
}

static void
take_created(int want_head)
{
	const struct virtio_gpu_ctrl_hdr *h;
	unsigned head;
	uint32_t len;

	OK(vuf_vq_get_used(&F, 0, &head, &len));
	cr_assert_eq(head, (unsigned)want_head, "out of order: head %u, want %d",
		     head, want_head);
	cr_assert_eq(len, 24);
	h = vuf_gpu_resp(&F, 0, head);
	RESP(VIRTIO_GPU_RESP_OK_NODATA, (int)h->type);
}

Test(gpu2d, event_idx_used_event)
{
	enum { N = 8 };
	int heads[N];
	uint16_t start_used;
	uint64_t calls;

	start();
	start_used = F.vq[0].drv.last_used;
	/* Call me when the N-th entry from now is used, not before. */
	vuf_vq_set_used_event(&F, 0, (uint16_t)(start_used + N - 1));
	calls = vuf_vq_calls(&F, 0);
	for (unsigned i = 0; i < N - 1; i++) {
		heads[i] = submit_create(100 + i);
		OK(heads[i]);
		OK(vuf_vq_kick(&F, 0));
		OK(vuf_vq_wait_pending(&F, 0, i + 1, -1));
	}
	cr_assert_eq(vuf_vq_calls(&F, 0), calls,
		     "notified before used_event was reached");
	heads[N - 1] = submit_create(100 + N - 1);
	OK(heads[N - 1]);
	OK(vuf_vq_kick(&F, 0));
	wait_calls(0, calls);
	cr_assert_eq(vuf_vq_calls(&F, 0), calls + 1);
	for (unsigned i = 0; i < N; i++)
		take_created(heads[i]);
	vuf_vq_auto_used_event(&F, 0);
	NODATA(vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8));
	cr_assert_eq(vuf_vq_calls(&F, 0), calls + 2);
}

/* N chains kicked together: N used entries, in order, one notification. */
static void
batch(bool indirect)
{
	enum { N = 16 };
	int heads[N];
	uint64_t calls, kicks;

	start();
	F.vq[0].drv.indirect = indirect;
	calls = vuf_vq_calls(&F, 0);
	kicks = F.vq[0].drv.kicks;
	for (unsigned i = 0; i < N; i++) {
		heads[i] = submit_create(200 + i);
		OK(heads[i]);
	}
	cr_assert_eq(vuf_vq_kick(&F, 0), 1, "the device did not want the kick");
	OK(vuf_vq_wait_pending(&F, 0, N, -1));
	wait_calls(0, calls);
	for (unsigned i = 0; i < N; i++)
		take_created(heads[i]);
	barrier();
	cr_assert_eq(F.vq[0].drv.kicks, kicks + 1);
	cr_assert_leq(vuf_vq_calls(&F, 0), calls + 1,
		      "%llu notifications for one batch",
		      (unsigned long long)(vuf_vq_calls(&F, 0) - calls));
	cr_assert_eq(F.vq[0].drv.inflight, 0);
}

Test(gpu2d, batch_direct)
{
	batch(false);
}

Test(gpu2d, batch_indirect)
{
	batch(true);
}

/*
 * A stream of commands, up to 16 in flight, each kicked only if the device
 * asks for it (as a driver does): the device must look at the avail ring
 * again after it re-enables kicks, or a chain added in between strands.
 */
static void
stream(unsigned total)
{
	enum { WINDOW = 16 };
	struct virtio_gpu_resource_flush c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH,
		.r = { 0, 0, 1, 1 },
		.resource_id = 1,
	};
	unsigned sent = 0, done = 0;
	uint64_t kicks = F.vq[0].drv.kicks, skipped = F.vq[0].drv.kicks_suppressed;

	NODATA(vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8));
	while (done < total) {
		const struct virtio_gpu_ctrl_hdr *h;
		unsigned head;
		uint32_t len;

		while (sent < total && sent - done < WINDOW) {
			OK(vuf_gpu_submit(&F, 0, &c, sizeof(c), NULL, 0, sizeof(*h)));
			OK(vuf_vq_kick(&F, 0));
			sent++;
		}
		OK(vuf_vq_wait_used(&F, 0, &head, &len, -1));
		h = vuf_gpu_resp(&F, 0, head);
		cr_assert_eq(len, sizeof(*h));
		RESP(VIRTIO_GPU_RESP_OK_NODATA, (int)h->type);
		done++;
	}
	cr_log_info("%u commands: %llu kicks, %llu skipped, %llu calls", total,
		    (unsigned long long)(F.vq[0].drv.kicks - kicks),
		    (unsigned long long)(F.vq[0].drv.kicks_suppressed - skipped),
		    (unsigned long long)vuf_vq_calls(&F, 0));
}

Test(gpu2d, stream_with_kick_suppression)
{
	start();
	stream(20000);
}

Test(gpu2d, stream_without_event_idx)
{
	struct opts o = { .decline = PF(VIRTIO_RING_F_EVENT_IDX) };

	start_opts(&o);
	stream(20000);
}

/* Without EVENT_IDX and INDIRECT_DESC: the flag-based suppression. */
Test(gpu2d, without_event_idx_and_indirect)
{
	struct opts o = {
		.decline = PF(VIRTIO_RING_F_EVENT_IDX) | PF(VIRTIO_RING_F_INDIRECT_DESC),
	};
	struct image im;
	int heads[8];

	start_opts(&o);
	cr_assert(!F.vq[0].drv.indirect);
	image_new(&im, 1, VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM, 96, 40, 0);
	image_fill(&im, 5);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	show(0, &im);
	for (unsigned i = 0; i < 8; i++)
		OK(heads[i] = submit_create(300 + i));
	OK(vuf_vq_kick(&F, 0));
	OK(vuf_vq_wait_pending(&F, 0, 8, -1));
	for (unsigned i = 0; i < 8; i++)
		take_created(heads[i]);
	/* The device re-enabled notifications before it went idle. */
	cr_assert_eq(F.vq[0].used->flags & VRING_USED_F_NO_NOTIFY, 0);
	image_free(&im);
}

/* ---- the display socket under load ---- */

Test(gpu2d, display_back_pressure)
{
	struct image im;
	struct want wa;
	long rss0, rss1, frame_kb = 1024 * 768 * 4 / 1024;
	uint64_t features;

	vuf_display_set_mode(&F, 0, 1024, 768, true);
	start();
	image_new(&im, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1024, 768, 0);
	image_fill(&im, 1);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	show(0, &im);
	rss0 = vuf_daemon_rss_kb(&F);
	cr_assert(rss0 > 0);

	/* The display stops reading; the guest goes on flushing. */
	vuf_display_pause(&F, true);
	for (unsigned i = 0; i < 200; i++) {
		if (i % 10 == 0)
			NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
		NODATA(vuf_gpu_flush(&F, 1, full(&im)));
	}
	OK(vuf_get_u64(&F, VU_GET_FEATURES, &features));
	rss1 = vuf_daemon_rss_kb(&F);
	cr_log_info("VmRSS %ld KiB before, %ld KiB after 200 stuck flushes",
		    rss0, rss1);
	cr_assert(rss1 - rss0 < 2 * frame_kb,
		  "VmRSS grew from %ld to %ld KiB while the display was stuck",
		  rss0, rss1);

	/* The last frame differs; it is the one the display must end on. */
	image_fill(&im, 2);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	NODATA(vuf_gpu_flush(&F, 1, full(&im)));
	vuf_display_pause(&F, false);
	want_init(&wa, 0, im.w, im.h);
	want_from(&wa, &im, im.shadow, 0, 0);
	expect_fb(&wa);
	own_free(wa.px);
	cr_assert_eq(F.display.malformed, 0);
	image_free(&im);
}

/* Count the daemon's fds once it has closed what it is done with. */
static void
expect_fds(int want)
{
	int n = -1;

	for (unsigned i = 0; i < 100; i++) {
		barrier();
		n = vuf_count_fds(&F);
		if (n == want)
			return;
	}
	cr_assert_eq(n, want, "the daemon has %d fds, had %d", n, want);
}

/* Whether the UPDATE numbered `at` on the scanout showed what was wanted. */
struct update_probe {
	const struct want *wa;
	unsigned at;
	int seen;		/* 0: not yet; 1: it matched; -1: it did not */
};

static void
probe_update(struct vuf *f, unsigned s, void *arg)
{
	struct update_probe *p = arg;

	if (s == p->wa->scanout && f->display.scanout[s].updates == p->at)
		p->seen = fb_equal(f, (void *)p->wa) ? 1 : -1;
}

/* Whether this kernel splices into unix sockets (core/display.c). */
static bool
kernel_splices(void)
{
	struct utsname u;
	unsigned major = 0, minor = 0;

	return uname(&u) == 0 && sscanf(u.release, "%u.%u", &major, &minor) == 2 &&
	       (major > 6 || (major == 6 && minor >= 5));
}

/*
 * A large UPDATE reaches the display socket by reference (its pages are
 * spliced). One still unread there when its resource goes must show that
 * resource's pixels, never the memory of resources made after it. The
 * frame (300 KiB) fits the socket with the kernel's default buffers, so
 * the resource's last reference goes while its pixels wait there; a
 * resource of its size made and freed first lets malloc, were it used,
 * hand the same memory out again.
 */
Test(gpu2d, update_in_socket_outlives_its_resource)
{
	struct image a, b, c;
	struct want wa, wb;
	struct update_probe probe = { .wa = &wa };

	vuf_display_set_mode(&F, 0, 320, 240, true);
	start();
	NODATA(vuf_gpu_create_2d(&F, 9, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 320, 240));
	NODATA(vuf_gpu_unref(&F, 9));
	image_new(&a, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 320, 240, 0);
	image_fill(&a, 1);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&a), 0));
	show(0, &a);
	image_fill(&a, 2);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&a), 0));
	want_init(&wa, 0, a.w, a.h);
	want_from(&wa, &a, a.shadow, 0, 0);

	/* a's frame waits in the socket; then a goes, b takes the scanout
	 * and c comes: both may land where a's pixels were. */
	vuf_display_pause(&F, true);
	NODATA(vuf_gpu_flush(&F, 1, full(&a)));
	image_new(&b, 2, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 320, 240, 0);
	image_fill(&b, 3);
	NODATA(vuf_gpu_transfer_2d(&F, 2, full(&b), 0));
	NODATA(vuf_gpu_set_scanout(&F, 0, 2, full(&b)));
	NODATA(vuf_gpu_unref(&F, 1));
	image_new(&c, 3, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 320, 240, 0);
	image_fill(&c, 4);
	NODATA(vuf_gpu_transfer_2d(&F, 3, full(&c), 0));

	probe.at = F.display.scanout[0].updates + 1;
	F.display.on_update = probe_update;
	F.display.on_update_arg = &probe;
	vuf_display_pause(&F, false);
	want_init(&wb, 0, b.w, b.h);
	want_from(&wb, &b, b.shadow, 0, 0);
	expect_fb(&wb);
	F.display.on_update = NULL;
	cr_assert_eq(probe.seen, 1, "the UPDATE sent before the unref %s",
		     probe.seen ? "showed other pixels" : "never came");
	expect_alive();
	own_free(wa.px);
	own_free(wb.px);
	image_free(&a);
	image_free(&b);
	image_free(&c);
}

/* A new GPU_SET_SOCKET while an UPDATE is stuck on the old socket. */
Test(gpu2d, set_socket_again_while_writing)
{
	struct image im;
	struct want wa;
	int fds;

	vuf_display_set_mode(&F, 0, 1024, 768, true);
	start();
	image_new(&im, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1024, 768, 0);
	image_fill(&im, 1);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	show(0, &im);
	fds = vuf_count_fds(&F);
	cr_assert(fds > 0);
	want_init(&wa, 0, im.w, im.h);

	for (unsigned round = 0; round < 4; round++) {
		unsigned scanouts = F.display.count[DPY_SCANOUT];
		unsigned updates = F.display.count[DPY_UPDATE];
		int old = -1;

		/* 3 MiB frames into a socket nobody reads. */
		vuf_display_pause(&F, true);
		for (unsigned i = 0; i < 3; i++)
			NODATA(vuf_gpu_flush(&F, 1, full(&im)));
		image_fill(&im, 10 + round);
		NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
		if (round % 2 == 0) {
			/* the old end stays open and unread */
			OK(vuf_gpu_replace_socket(&F, VU_FLAG_NEED_REPLY, &old));
		} else {
			/* as QEMU does: the old end is closed first */
			OK(vuf_gpu_set_socket(&F, VU_FLAG_NEED_REPLY));
		}
		vuf_display_pause(&F, false);
		want_from(&wa, &im, im.shadow, 0, 0);
		expect_fb(&wa);
		cr_assert_gt(F.display.count[DPY_SCANOUT], scanouts,
			     "no SCANOUT on the new socket");
		cr_assert_gt(F.display.count[DPY_UPDATE], updates);
		if (old >= 0)
			close(old);
		expect_alive();
		expect_fds(fds);
	}
	own_free(wa.px);
	/* The new display is a full one: commands still reach it. */
	{
		struct virtio_gpu_resp_display_info info;

		get_display_info(&info);
		cr_assert_eq(info.pmodes[0].r.width, 1024);
	}
	image_free(&im);
}

/* Commands before there is any display; then the display arrives and
 * is shown what the guest set up. */
Test(gpu2d, display_arrives_later)
{
	struct opts o = { .no_display = true };
	struct image im;
	struct want wa;

	start_opts(&o);
	image_new(&im, 1, VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM, 160, 90, 0);
	image_fill(&im, 1);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	NODATA(vuf_gpu_set_scanout(&F, 0, 1, full(&im)));
	NODATA(vuf_gpu_flush(&F, 1, full(&im)));
	cr_assert_eq(cursor(VIRTIO_GPU_CMD_MOVE_CURSOR, 0, 3, 4, 0, 0), 0);
	OK(vuf_gpu_set_socket(&F, VU_FLAG_NEED_REPLY));
	want_init(&wa, 0, im.w, im.h);
	want_from(&wa, &im, im.shadow, 0, 0);
	expect_fb(&wa);
	own_free(wa.px);
	image_free(&im);
}

/* ---- guest memory that goes away ---- */

/* The region that holds the rings goes: both queues stop and say so on
 * their err eventfds; the daemon stays up. */
Test(gpu2d, ring_region_removed)
{
	start();
	NODATA(vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8));
	OK(vuf_mem_rem_reg(&F, 0, VU_FLAG_NEED_REPLY, false));
	OK(vuf_wait_fd(&F, F.vq[0].err_fd, -1));
	OK(vuf_wait_fd(&F, F.vq[1].err_fd, -1));
	expect_alive();
}

/*
 * REM_MEM_REG of the region holding a backing: the backing cannot be
 * translated again, so it is detached (TRANSFER answers ERR_UNSPEC and
 * DETACH finds nothing) and the guest may attach a new one. A backing
 * elsewhere is untouched; a backing whose region moved in the host (same
 * guest addresses, SET_MEM_TABLE with another offset) is re-translated
 * and reads the new place.
 */
Test(gpu2d, memory_region_removed)
{
	struct image in1, in0;
	struct want wa;

	start();
	image_new(&in1, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64, 1);
	image_new(&in0, 2, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64, 0);
	image_fill(&in1, 1);
	image_fill(&in0, 2);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&in1), 0));
	NODATA(vuf_gpu_transfer_2d(&F, 2, full(&in0), 0));
	show(0, &in1);

	OK(vuf_mem_rem_reg(&F, 1, VU_FLAG_NEED_REPLY, false));
	expect_alive();
	RESP(VIRTIO_GPU_RESP_ERR_UNSPEC, vuf_gpu_transfer_2d(&F, 1, full(&in1), 0));
	RESP(VIRTIO_GPU_RESP_ERR_UNSPEC, vuf_gpu_detach_backing(&F, 1));
	NODATA(vuf_gpu_transfer_2d(&F, 2, full(&in0), 0));
	/* Still on screen from the host copy. */
	NODATA(vuf_gpu_flush(&F, 1, full(&in1)));

	OK(vuf_mem_add_reg(&F, 1, VU_FLAG_NEED_REPLY));
	{
		struct virtio_gpu_mem_entry e = { .addr = in1.gpa,
						  .length = (uint32_t)in1.size };

		NODATA(vuf_gpu_attach_backing(&F, 1, &e, 1));
	}
	image_fill(&in1, 3);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&in1), 0));
	NODATA(vuf_gpu_flush(&F, 1, full(&in1)));
	want_init(&wa, 0, 64, 64);
	want_from(&wa, &in1, in1.shadow, 0, 0);
	expect_fb(&wa);

	/* Region 1 moves to the spare third of the memfd. */
	F.mem.r[1].offset = 2 * REGION;
	OK(vuf_mem_set_table(&F, VU_FLAG_NEED_REPLY));
	image_fill(&in1, 4);	/* written at the new place */
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&in1), 0));
	NODATA(vuf_gpu_flush(&F, 1, full(&in1)));
	want_from(&wa, &in1, in1.shadow, 0, 0);
	expect_fb(&wa);
	own_free(wa.px);
	image_free(&in1);
	image_free(&in0);
	expect_alive();
}

/* ---- chains laid out otherwise ---- */

/* Requests and responses cut over several descriptors, zero-length
 * descriptors, and a request the driver put in a writable buffer. */
Test(gpu2d, requests_and_responses_over_several_descriptors)
{
	struct virtio_gpu_resource_create_2d c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
		.resource_id = 1,
		.format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
		.width = 8, .height = 8,
	};
	struct virtio_gpu_ctrl_hdr gdi = { .type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO };
	struct virtio_gpu_resp_display_info info;
	uint64_t rq, rs;
	uint8_t *q, *r;
	unsigned head;
	uint32_t len;

	vuf_display_set_mode(&F, 0, 1024, 768, true);
	start();
	for (unsigned indirect = 0; indirect < 2; indirect++) {
		F.vq[0].drv.indirect = indirect;
		q = alloc0(4096, &rq);
		r = alloc0(4096, &rs);

		/* CREATE_2D in three pieces (10, 0 and 30 bytes), the
		 * response in two (5 and 19). */
		memcpy(q, &c, sizeof(c));
		{
			struct vuf_buf out[3] = {
				{ rq, 10 }, { rq + 10, 0 }, { rq + 10, 30 },
			};
			struct vuf_buf in[2] = { { rs, 5 }, { rs + 100, 19 } };

			OK(vuf_vq_add(&F, 0, out, 3, in, 2));
		}
		OK(vuf_vq_kick(&F, 0));
		OK(vuf_vq_wait_used(&F, 0, &head, &len, -1));
		cr_assert_eq(len, 24);
		memcpy(&info.hdr, r, 5);
		memcpy((uint8_t *)&info.hdr + 5, r + 100, 19);
		RESP(VIRTIO_GPU_RESP_OK_NODATA, (int)info.hdr.type);

		/* GET_DISPLAY_INFO answered into 100 + 308 bytes. */
		memcpy(q, &gdi, sizeof(gdi));
		{
			struct vuf_buf out[1] = { { rq, sizeof(gdi) } };
			struct vuf_buf in[2] = { { rs, 100 }, { rs + 1024, 308 } };

			OK(vuf_vq_add(&F, 0, out, 1, in, 2));
		}
		OK(vuf_vq_kick(&F, 0));
		OK(vuf_vq_wait_used(&F, 0, &head, &len, -1));
		cr_assert_eq(len, sizeof(info));
		memcpy(&info, r, 100);
		memcpy((uint8_t *)&info + 100, r + 1024, 308);
		RESP(VIRTIO_GPU_RESP_OK_DISPLAY_INFO, (int)info.hdr.type);
		cr_assert_eq(info.pmodes[0].r.width, 1024);
		cr_assert_eq(info.pmodes[0].r.height, 768);

		/* Only a writable buffer: no request at all. */
		{
			struct vuf_buf in[1] = { { rs, 24 } };

			memcpy(r, &c, sizeof(c));
			OK(vuf_vq_add(&F, 0, NULL, 0, in, 1));
		}
		OK(vuf_vq_kick(&F, 0));
		OK(vuf_vq_wait_used(&F, 0, &head, &len, -1));
		cr_assert_eq(len, 24);
		RESP(VIRTIO_GPU_RESP_ERR_UNSPEC, (int)((struct virtio_gpu_ctrl_hdr *)r)->type);
		c.resource_id++;
	}
	/* Resources 1 and 2 exist: each CREATE_2D ran once. */
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID,
	     vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID,
	     vuf_gpu_create_2d(&F, 2, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8));
}

/* ---- more of the display ---- */

/* Damage taller than 16 MiB of pixels goes out in bands, top first. */
Test(gpu2d, update_in_bands)
{
	struct opts o = { .region = 64u << 20 };
	const struct vuf_scanout *s = &F.display.scanout[0];
	struct image im;

	vuf_display_set_mode(&F, 0, 4096, 2304, true);
	start_opts(&o);
	image_new(&im, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 4096, 2304, 1);
	image_fill(&im, 1);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	show(0, &im);
	/* Nothing owed any more; then one full flush: three bands. */
	settle(0, 1, im.w - 1, im.h - 1, im.w - 1, im.h - 1);
	{
		unsigned n = s->updates, all = F.display.count[DPY_UPDATE];

		image_fill(&im, 2);
		NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
		NODATA(vuf_gpu_flush(&F, 1, full(&im)));
		OK(vuf_display_wait_count(&F, DPY_UPDATE, all + 3, -1));
		cr_assert_eq(s->updates, n + 3);
	}
	cr_assert(s->last_update.x == 0 && s->last_update.y == 2048 &&
		  s->last_update.width == 4096 && s->last_update.height == 256,
		  "last band %u,%u %ux%u", s->last_update.x, s->last_update.y,
		  s->last_update.width, s->last_update.height);
	{
		struct want wa;

		want_init(&wa, 0, im.w, im.h);
		want_from(&wa, &im, im.shadow, 0, 0);
		expect_fb(&wa);
		own_free(wa.px);
	}
	cr_assert_eq(F.display.malformed, 0);
	image_free(&im);
}

/* The same resource shown through a smaller window: a new SCANOUT. */
Test(gpu2d, scanout_resized)
{
	const struct vuf_scanout *s = &F.display.scanout[0];
	struct image im;
	struct want wa;

	start();
	image_new(&im, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 128, 96, 0);
	image_fill(&im, 1);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	show(0, &im);
	NODATA(vuf_gpu_set_scanout(&F, 0, 1, (struct vuf_rect){ 32, 16, 64, 48 }));
	NODATA(vuf_gpu_flush(&F, 1, full(&im)));
	want_init(&wa, 0, 64, 48);
	want_from(&wa, &im, im.shadow, 32, 16);
	expect_fb(&wa);
	cr_assert_eq(s->scanouts, 2);
	own_free(wa.px);
	image_free(&im);
}

/* The resource goes while its pixels are still on the wire. */
Test(gpu2d, unref_while_update_in_flight)
{
	struct image im;
	unsigned s0 = 0;

	vuf_display_set_mode(&F, 0, 1024, 768, true);
	start();
	image_new(&im, 1, VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, 1024, 768, 0);
	image_fill(&im, 1);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	vuf_display_pause(&F, true);
	NODATA(vuf_gpu_set_scanout(&F, 0, 1, full(&im)));
	NODATA(vuf_gpu_flush(&F, 1, full(&im)));
	NODATA(vuf_gpu_unref(&F, 1));
	NODATA(vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1024, 768));
	NODATA(vuf_gpu_unref(&F, 1));
	vuf_display_pause(&F, false);
	OK(vuf_display_wait(&F, scanout_off, &s0, -1));
	cr_assert_eq(F.display.malformed, 0);
	image_free(&im);
	expect_alive();
}

/* The guest driver goes away and comes back (QEMU: stop, then start
 * with a new display socket); resources and rings carry on. */
Test(gpu2d, stop_and_start_again)
{
	struct image im;

	start();
	image_new(&im, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 200, 100, 0);
	image_fill(&im, 1);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	show(0, &im);
	{
		struct image cur;

		image_new(&cur, 2, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64, 0);
		image_fill(&cur, 9);
		NODATA(vuf_gpu_transfer_2d(&F, 2, full(&cur), 0));
		cr_assert_eq(cursor(VIRTIO_GPU_CMD_UPDATE_CURSOR, 2, 7, 8, 1, 1), 0);
		OK(vuf_display_wait_count(&F, DPY_CURSOR_UPDATE, 1, -1));
		image_free(&cur);
	}
	for (unsigned round = 0; round < 3; round++) {
		unsigned sets = F.display.count[DPY_SET_PROTOCOL_FEATURES];
		unsigned cursors = F.display.cursor.updates;

		OK(vuf_qemu_stop(&F, VUF_QEMU_10_0));
		cr_assert_eq(F.vq[0].base, F.vq[0].drv.avail_idx,
			     "GET_VRING_BASE %u, %u chains added", F.vq[0].base,
			     F.vq[0].drv.avail_idx);
		OK(vuf_qemu_start(&F, VUF_QEMU_10_0));
		OK(vuf_display_wait_count(&F, DPY_SET_PROTOCOL_FEATURES, sets + 1, -1));
		/* the new display is shown the visible cursor again */
		OK(vuf_display_wait_count(&F, DPY_CURSOR_UPDATE, cursors + 1, -1));
		cr_assert(F.display.cursor.x == 7 && F.display.cursor.y == 8);
		image_fill(&im, 2 + round);
		NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
		show(0, &im);
	}
	image_free(&im);
}

/* Wait until the daemon has written something to the paused display. */
static void
display_readable(void)
{
	OK(vuf_wait_fd(&F, F.display_fd, -1));
}

static int
submit_gdi(void)
{
	struct virtio_gpu_ctrl_hdr gdi = { .type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO };

	return vuf_gpu_submit(&F, 0, &gdi, sizeof(gdi), NULL, 0,
			      sizeof(struct virtio_gpu_resp_display_info));
}

static void
take_display_info(int want_head, uint32_t w, uint32_t h)
{
	const struct virtio_gpu_resp_display_info *info;
	unsigned head;
	uint32_t len;

	OK(vuf_vq_wait_used(&F, 0, &head, &len, -1));
	cr_assert_eq(head, (unsigned)want_head);
	cr_assert_eq(len, sizeof(*info));
	info = vuf_gpu_resp(&F, 0, head);
	RESP(VIRTIO_GPU_RESP_OK_DISPLAY_INFO, (int)info->hdr.type);
	cr_assert(info->pmodes[0].enabled);
	cr_assert(info->pmodes[0].r.width == w && info->pmodes[0].r.height == h,
		  "scanout 0 is %ux%u, want %ux%u", info->pmodes[0].r.width,
		  info->pmodes[0].r.height, w, h);
}

/* GET_DISPLAY_INFO waits on the display; the display goes away. */
Test(gpu2d, display_info_display_leaves)
{
	int head, next;

	start();
	vuf_display_pause(&F, true);
	OK(head = submit_gdi());
	OK(vuf_vq_kick(&F, 0));
	OK(next = submit_create(5));	/* queued behind it */
	OK(vuf_vq_kick(&F, 0));
	display_readable();
	close(F.display_fd);
	F.display_fd = -1;
	vuf_display_pause(&F, false);
	take_display_info(head, 1280, 800);
	OK(vuf_vq_wait_pending(&F, 0, 1, -1));
	take_created(next);
	expect_alive();
}

/* ... a new GPU_SET_SOCKET replaces it meanwhile. */
Test(gpu2d, display_info_socket_replaced)
{
	int head;

	vuf_display_set_mode(&F, 0, 800, 600, true);
	start();
	vuf_display_pause(&F, true);
	OK(head = submit_gdi());
	OK(vuf_vq_kick(&F, 0));
	display_readable();
	OK(vuf_gpu_set_socket(&F, VU_FLAG_NEED_REPLY));
	vuf_display_pause(&F, false);
	take_display_info(head, 1280, 800);
	/* The new display is asked next time. */
	OK(head = submit_gdi());
	OK(vuf_vq_kick(&F, 0));
	take_display_info(head, 800, 600);
}

/* ... the queue is stopped meanwhile: answered while the ring is there. */
Test(gpu2d, display_info_queue_stopped)
{
	int head;

	start();
	vuf_display_pause(&F, true);
	OK(head = submit_gdi());
	OK(vuf_vq_kick(&F, 0));
	display_readable();
	OK(vuf_set_vring_state(&F, VU_SET_VRING_ENABLE, VU_FLAG_NEED_REPLY, 0, 0));
	OK(vuf_vq_wait_pending(&F, 0, 1, -1));
	take_display_info(head, 1280, 800);
	OK(vuf_set_vring_state(&F, VU_SET_VRING_ENABLE, VU_FLAG_NEED_REPLY, 0, 1));
	vuf_display_pause(&F, false);
	NODATA(vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8));
	expect_alive();
}

/* Replies that are not the awaited one are ignored; the right one counts. */
Test(gpu2d, display_wrong_replies)
{
	struct virtio_gpu_resp_display_info info = {
		.hdr.type = VIRTIO_GPU_RESP_OK_DISPLAY_INFO,
	};
	const uint32_t R = 1u << 2;	/* VHOST_USER_GPU_MSG_FLAG_REPLY */
	uint8_t junk[1056] = { 0 };
	int head;

	info.pmodes[0].enabled = 1;
	info.pmodes[0].r.width = 640;
	info.pmodes[0].r.height = 400;
	start();
	vuf_display_pause(&F, true);
	OK(head = submit_gdi());
	OK(vuf_vq_kick(&F, 0));
	display_readable();
	/* too short, too long, without REPLY, to another request, unasked */
	OK(vuf_display_send(&F, DPY_GET_DISPLAY_INFO, R, &info, sizeof(info) - 8));
	OK(vuf_display_send(&F, DPY_GET_DISPLAY_INFO, R, junk, sizeof(info) + 8));
	OK(vuf_display_send(&F, DPY_GET_DISPLAY_INFO, 0, &info, sizeof(info)));
	OK(vuf_display_send(&F, DPY_GET_EDID, R, junk, sizeof(junk)));
	OK(vuf_display_send(&F, DPY_GET_PROTOCOL_FEATURES, R, junk, 8));
	OK(vuf_display_send(&F, DPY_UPDATE, 0, junk, 20));
	/* and then the real answer */
	OK(vuf_display_send(&F, DPY_GET_DISPLAY_INFO, R, &info, sizeof(info)));
	take_display_info(head, 640, 400);
	vuf_display_pause(&F, false);
	expect_alive();
	/* The display still works: it is asked again. */
	vuf_display_set_mode(&F, 0, 1024, 768, true);
	OK(head = submit_gdi());
	OK(vuf_vq_kick(&F, 0));
	take_display_info(head, 1024, 768);
}

/* A header announcing more than any reply: the display is dropped and
 * the waiting command is answered from what the daemon knew. */
Test(gpu2d, display_oversized_reply)
{
	static uint8_t junk[5000];
	struct virtio_gpu_resp_display_info info;
	int head;

	vuf_display_set_mode(&F, 0, 1024, 768, true);
	start();
	get_display_info(&info);
	vuf_display_pause(&F, true);
	OK(head = submit_gdi());
	OK(vuf_vq_kick(&F, 0));
	display_readable();
	/* The daemon may close the socket before it has all of it. */
	(void)vuf_display_send(&F, DPY_GET_DISPLAY_INFO, 1u << 2, junk,
			       sizeof(junk));
	take_display_info(head, 1024, 768);
	expect_alive();
	/* Without a display, the last answer stands. */
	get_display_info(&info);
	cr_assert_eq(info.pmodes[0].r.width, 1024);
}

Test(gpu2d, edid_empty_from_display)
{
	struct virtio_gpu_resp_display_info info;
	struct virtio_gpu_resp_edid e;

	OK(vuf_display_set_edid(&F, NULL, 0));
	vuf_display_set_mode(&F, 0, 1600, 900, true);
	start();
	get_display_info(&info);
	RESP(VIRTIO_GPU_RESP_OK_EDID, get_edid(0, &e));
	cr_assert_eq(F.display.count[DPY_GET_EDID], 1);
	expect_local_edid(&e, 1600, 900);
}

/*
 * The guest hides the cursor while a new cursor image is still owed to
 * the display (the display is busy with a frame): the display must end up
 * with the cursor hidden.
 */
Test(gpu2d, cursor_hidden_while_image_owed)
{
	const struct vuf_cursor *cu = &F.display.cursor;
	struct image fb, a, b;

	vuf_display_set_mode(&F, 0, 1024, 768, true);
	start();
	image_new(&fb, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1024, 768, 0);
	image_fill(&fb, 1);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&fb), 0));
	show(0, &fb);
	image_new(&a, 2, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64, 0);
	image_new(&b, 3, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64, 0);
	image_fill(&a, 2);
	image_fill(&b, 3);
	NODATA(vuf_gpu_transfer_2d(&F, 2, full(&a), 0));
	NODATA(vuf_gpu_transfer_2d(&F, 3, full(&b), 0));
	cr_assert_eq(cursor(VIRTIO_GPU_CMD_UPDATE_CURSOR, 2, 10, 10, 0, 0), 0);
	OK(vuf_display_wait_count(&F, DPY_CURSOR_UPDATE, 1, -1));
	cr_assert(cu->visible);

	/* A 3 MiB frame stuck on the socket, then a new image and a hide. */
	vuf_display_pause(&F, true);
	NODATA(vuf_gpu_flush(&F, 1, full(&fb)));
	cr_assert_eq(cursor(VIRTIO_GPU_CMD_UPDATE_CURSOR, 3, 20, 20, 0, 0), 0);
	cr_assert_eq(cursor(VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 20, 20, 0, 0), 0);
	vuf_display_pause(&F, false);
	/* Cursor messages go before UPDATEs: once a later frame is in,
	 * whatever the cursor was owed has been sent. */
	settle(0, 1, fb.w - 1, fb.h - 1, fb.w - 1, fb.h - 1);
	cr_assert(!cu->visible,
		  "the display still shows the cursor the guest hid "
		  "(%u CURSOR_UPDATE, %u CURSOR_POS, %u CURSOR_POS_HIDE)",
		  cu->updates, cu->moves, cu->hides);
	image_free(&fb);
	image_free(&a);
	image_free(&b);
}

/*
 * A GET_DISPLAY_INFO that waits on the display is answered locally
 * because its queue stopped, or because the memory table changed (QEMU
 * sends SET_MEM_TABLE or ADD/REM_MEM_REG at run time); the display's late
 * reply to it must not complete a different command (a GET_EDID) that
 * waits on the display afterwards.
 */
static void
late_reply(bool mem_change)
{
	struct virtio_gpu_resp_display_info info;
	struct virtio_gpu_cmd_get_edid ge = {
		.hdr.type = VIRTIO_GPU_CMD_GET_EDID,
		.scanout = 0,
	};
	const struct virtio_gpu_resp_edid *e;
	uint8_t edid[128] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x42 };
	unsigned head;
	uint32_t len;
	int gdi, h;

	OK(vuf_display_set_edid(&F, edid, sizeof(edid)));
	start();
	get_display_info(&info);	/* the display's modes are known */
	vuf_display_pause(&F, true);
	OK(gdi = submit_gdi());
	OK(vuf_vq_kick(&F, 0));
	display_readable();
	if (mem_change) {
		OK(vuf_mem_set_table(&F, VU_FLAG_NEED_REPLY));
	} else {
		OK(vuf_set_vring_state(&F, VU_SET_VRING_ENABLE,
				       VU_FLAG_NEED_REPLY, 0, 0));
	}
	OK(vuf_vq_wait_pending(&F, 0, 1, -1));
	take_display_info(gdi, 1280, 800);
	if (!mem_change)
		OK(vuf_set_vring_state(&F, VU_SET_VRING_ENABLE,
				       VU_FLAG_NEED_REPLY, 0, 1));

	OK(h = vuf_gpu_submit(&F, 0, &ge, sizeof(ge), NULL, 0,
			      sizeof(struct virtio_gpu_resp_edid)));
	OK(vuf_vq_kick(&F, 0));
	vuf_display_pause(&F, false);	/* the late reply goes out now */
	OK(vuf_vq_wait_used(&F, 0, &head, &len, -1));
	cr_assert_eq(head, (unsigned)h);
	e = vuf_gpu_resp(&F, 0, head);
	RESP(VIRTIO_GPU_RESP_OK_EDID, (int)e->hdr.type);
	cr_assert(F.display.count[DPY_GET_EDID] == 1 && e->edid[8] == 0x42,
		  "GET_EDID was answered without asking the display "
		  "(%u GET_EDID sent; EDID byte 8 is 0x%02x, the display's is 0x42)",
		  F.display.count[DPY_GET_EDID], e->edid[8]);
}

Test(gpu2d, late_display_reply_after_queue_stop)
{
	late_reply(false);
}

Test(gpu2d, late_display_reply_after_memory_change)
{
	late_reply(true);
}

/* ---- fault injection: the frontend misbehaves while work is in flight ---- */

TestSuite(faults, .init = integ_setup, .fini = teardown, .timeout = SUITE_TIMEOUT);

/* The lowest fd number the daemon has free (what its next open gets). */
static int
lowest_free_fd(void)
{
	bool used[1024] = { false };
	char path[64];
	struct dirent *de;
	DIR *d;
	int fd = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)F.pid);
	d = opendir(path);
	cr_assert(d, "%s: %s", path, strerror(errno));
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && atoi(de->d_name) < 1024)
			used[atoi(de->d_name)] = true;
	closedir(d);
	while (fd < 1024 && used[fd])
		fd++;
	return fd;
}

/* No fd left for the pipe that large UPDATEs are spliced through: the
 * pixels are copied into the socket instead, frame after frame. */
Test(faults, no_fd_for_the_splice_pipe)
{
	struct rlimit rl;
	struct image im;

	vuf_display_set_mode(&F, 0, 1024, 768, true);
	start();
	barrier();
	cr_assert(prlimit(F.pid, RLIMIT_NOFILE, NULL, &rl) == 0);
	rl.rlim_cur = (rlim_t)lowest_free_fd();
	cr_assert(prlimit(F.pid, RLIMIT_NOFILE, &rl, NULL) == 0, "prlimit: %s",
		  strerror(errno));
	image_new(&im, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1024, 768, 0);
	for (unsigned i = 0; i < 3; i++) {
		image_fill(&im, 20 + i);
		NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
		show(0, &im);
	}
	if (kernel_splices())
		cr_expect(strstr(F.err, "copying instead of splicing"),
			  "the daemon did not say it copies:\n%s", F.err);
	expect_alive();
	image_free(&im);
}

/* The frontend goes away while a 3 MiB UPDATE is stuck half-written:
 * the daemon exits 0 (and, under the sanitizers, frees everything). */
Test(faults, hangup_mid_frame)
{
	struct image im;
	int st;

	vuf_display_set_mode(&F, 0, 1024, 768, true);
	start();
	image_new(&im, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1024, 768, 0);
	image_fill(&im, 3);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	show(0, &im);
	vuf_display_pause(&F, true);
	NODATA(vuf_gpu_flush(&F, 1, full(&im)));
	NODATA(vuf_gpu_flush(&F, 1, full(&im)));
	vuf_hangup(&F);
	st = vuf_wait_exit(&F, VUF_TIMEOUT_MS);
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "wait status %d\nstderr:\n%s", st, F.err);
	image_free(&im);
}

/* The display peer closes while an UPDATE is being written: the device
 * carries on without a display and answers GET_DISPLAY_INFO itself. */
Test(faults, display_closed_mid_update)
{
	struct virtio_gpu_resp_display_info info;
	struct image im;
	int fds;

	vuf_display_set_mode(&F, 0, 1024, 768, true);
	start();
	/* After a control round trip: the last SET_VRING_CALL (no reply
	 * asked) may still be between its fd's arrival and its handler.
	 * Counted before the first large UPDATE, which opens the pipe that
	 * pixels are spliced through: it goes with the socket. */
	barrier();
	fds = vuf_count_fds(&F);
	image_new(&im, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1024, 768, 0);
	image_fill(&im, 4);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	show(0, &im);
	vuf_display_pause(&F, true);
	NODATA(vuf_gpu_flush(&F, 1, full(&im)));
	close(F.display_fd);
	F.display_fd = -1;
	for (unsigned i = 0; i < 20; i++)
		NODATA(vuf_gpu_flush(&F, 1, full(&im)));
	get_display_info(&info);
	cr_expect_eq(info.pmodes[0].enabled, 1);
	expect_alive();
	/* The daemon closed its end of the dead display socket, and the
	 * pipe. */
	expect_fds(fds - 1);
	image_free(&im);
}

/* The frontend closes its copies of the kick and call eventfds and sets
 * new ones: the daemon's own copies kept it working meanwhile, the old
 * ones are closed when replaced, and the fd count ends where it began. */
Test(faults, kick_and_call_fds_closed_and_replaced)
{
	struct image im;
	int fds, kick, call;

	start();
	image_new(&im, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64, 0);
	/* After a control round trip: the last SET_VRING_CALL (no reply
	 * asked) may still be between its fd's arrival and its handler. */
	barrier();
	fds = vuf_count_fds(&F);
	/* Our copies go; the daemon's stay valid. */
	close(F.vq[0].kick_fd);
	close(F.vq[0].call_fd);
	kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	cr_assert(kick >= 0 && call >= 0);
	F.vq[0].kick_fd = kick;
	F.vq[0].call_fd = call;
	OK(vuf_set_vring_fd(&F, VU_SET_VRING_CALL, VU_FLAG_NEED_REPLY, 0, call));
	OK(vuf_set_vring_fd(&F, VU_SET_VRING_KICK, VU_FLAG_NEED_REPLY, 0, kick));
	/* The queue runs on the new pair. */
	for (unsigned i = 0; i < 50; i++)
		NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	expect_fds(fds);
	image_free(&im);
}

/* A flood of kicks with nothing in the ring: each is read and finds no
 * work; the daemon stays responsive and a real command then works. */
Test(faults, kick_flood_with_empty_ring)
{
	struct image im;
	uint64_t one = 1;
	int fds;

	start();
	image_new(&im, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64, 0);
	/* After a control round trip: the last SET_VRING_CALL (no reply
	 * asked) may still be between its fd's arrival and its handler. */
	barrier();
	fds = vuf_count_fds(&F);
	for (unsigned i = 0; i < 100000; i++) {
		cr_assert_eq(write(F.vq[0].kick_fd, &one, sizeof(one)), 8);
		if (i % 4096 == 0)
			cr_assert_eq(write(F.vq[1].kick_fd, &one, sizeof(one)), 8);
	}
	expect_alive();
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	NODATA(vuf_gpu_flush(&F, 1, full(&im)));
	expect_fds(fds);
	image_free(&im);
}

/*
 * A guest reboot: QEMU stops the queues and starts them again with no
 * other message, as for a pause, but the driver has reset its rings (base
 * and used index 0). The device must then forget what the guest had: the
 * rebooted guest creates resource 1 again and must not find the old one.
 * (A pause keeps everything: see stop_and_start_again.)
 */
Test(gpu2d, guest_reset_forgets_resources)
{
	struct image im, again;
	unsigned scanouts;

	start();
	image_new(&im, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 200, 100, 0);
	image_fill(&im, 1);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	show(0, &im);
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID,
	     vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8));

	OK(vuf_qemu_stop(&F, VUF_QEMU_10_0));
	for (unsigned q = 0; q < 2; q++)
		OK(vuf_vq_layout(&F, q, F.vq[q].num, F.vq[q].desc_gpa));
	scanouts = F.display.scanout[0].scanouts;
	OK(vuf_qemu_start(&F, VUF_QEMU_10_0));

	/* The old scanout went dark, and id 1 is free again. */
	OK(vuf_display_wait_count(&F, DPY_SCANOUT, 1, -1));
	image_new(&again, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 320, 200, 0);
	image_fill(&again, 2);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&again), 0));
	show(0, &again);
	cr_expect_gt(F.display.scanout[0].scanouts, scanouts);
	cr_expect_eq(F.display.scanout[0].width, 320);
	image_free(&again);
	image_free(&im);
}

/* The scanout size limit: 16384 pixels either side. */
Test(gpu2d, scanout_size_limit)
{
	start();
	NODATA(vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 16385, 1));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
	     vuf_gpu_set_scanout(&F, 0, 1, (struct vuf_rect){ 0, 0, 16385, 1 }));
	NODATA(vuf_gpu_set_scanout(&F, 0, 1, (struct vuf_rect){ 1, 0, 16384, 1 }));
	expect_alive();
}

/* ---- a transfer copied as its flush's UPDATE goes out ---- */

/*
 * Linux's driver updates a plane with a whole-row TRANSFER_TO_HOST_2D and
 * a RESOURCE_FLUSH, then one notification. vugpu may then copy the rows
 * just before each piece of the UPDATE is spliced into the display
 * socket, but answers both commands only once every row is in: pixels the
 * guest writes after the answers must never reach the display. These
 * place commands and kick once, take every answer (all OK_NODATA, in the
 * order placed), then scribble over the whole backing.
 */
enum { ONE_KICK_MAX = 4 };
#define NO_ANSWER 0xffffffffu	/* want: returned with nothing written */

struct one_kick {
	unsigned n;
	int head[ONE_KICK_MAX];
	uint32_t want[ONE_KICK_MAX];	/* answer type; 0: OK_NODATA */
};

/* Place command c (len bytes) with resp bytes for its answer. */
static void
place_cmd(struct one_kick *k, const void *c, size_t len, size_t resp,
	  uint32_t want)
{
	k->want[k->n] = want;
	OK(k->head[k->n++] = vuf_gpu_submit(&F, 0, c, len, NULL, 0, resp));
}

static struct virtio_gpu_transfer_to_host_2d
transfer_cmd(const struct image *im, struct vuf_rect r)
{
	return (struct virtio_gpu_transfer_to_host_2d){
		.hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
		.r = { r.x, r.y, r.width, r.height },
		.offset = ((uint64_t)r.y * im->w + r.x) * 4,
		.resource_id = im->id,
	};
}

static struct virtio_gpu_resource_flush
flush_cmd(const struct image *im, struct vuf_rect r)
{
	return (struct virtio_gpu_resource_flush){
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH,
		.r = { r.x, r.y, r.width, r.height },
		.resource_id = im->id,
	};
}

static void
place_transfer(struct one_kick *k, const struct image *im, struct vuf_rect r)
{
	struct virtio_gpu_transfer_to_host_2d c = transfer_cmd(im, r);

	place_cmd(k, &c, sizeof(c), 24, 0);
}

static void
place_flush(struct one_kick *k, const struct image *im, struct vuf_rect r)
{
	struct virtio_gpu_resource_flush c = flush_cmd(im, r);

	place_cmd(k, &c, sizeof(c), 24, 0);
}

/* Kick once and take every answer, then the guest draws seed `scribble`
 * all over im's backing. With `spliced` (the daemon splices frames) and
 * the display paused, the rows must already be in the socket. */
static void
kick_answers_scribble(const struct one_kick *k, struct image *im,
		      uint32_t scribble, bool spliced)
{
	OK(vuf_vq_kick(&F, 0));
	for (unsigned i = 0; i < k->n; i++) {
		const struct virtio_gpu_ctrl_hdr *h;
		unsigned head;
		uint32_t len;

		OK(vuf_vq_wait_used(&F, 0, &head, &len, -1));
		cr_assert_eq(head, (unsigned)k->head[i],
			     "answer %u: head %u, want %d (out of order)", i,
			     head, k->head[i]);
		if (k->want[i] == NO_ANSWER) {
			cr_assert_eq(len, 0, "answer %u: %u bytes written", i, len);
			continue;
		}
		cr_assert_eq(len, 24);
		h = vuf_gpu_resp(&F, 0, head);
		RESP(k->want[i] ? (int)k->want[i] : VIRTIO_GPU_RESP_OK_NODATA,
		     (int)h->type);
	}
	if (F.display.paused && spliced) {
		/* The rows went out (or the socket filled) before the answers:
		 * with nobody reading, the socket holds more than the header.
		 * (Copied, they are all copied before the head is written.) */
		int queued = 0;

		cr_assert_eq(ioctl(F.display_fd, FIONREAD, &queued), 0);
		cr_assert_geq(queued, 256 << 10, "%d bytes in the display socket "
			      "when the answers came", queued);
	}
	image_fill(im, scribble);
}

/* im (w x h) on scanout 0, showing seed 1, the display idle; then seed
 * 2 drawn in guest memory, and wa made to show it. */
static void
frame_setup(struct image *im, struct want *wa, uint32_t w, uint32_t h)
{
	image_new(im, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, w, h, 0);
	image_fill(im, 1);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(im), 0));
	show(0, im);
	/* nothing owed or on its way: the display is idle */
	settle(0, 1, w - 1, h - 1, w - 1, h - 1);
	image_fill(im, 2);
	want_init(wa, 0, w, h);
	want_from(wa, im, im->shadow, 0, 0);
}

/* The frontend reading all along, or not at all until the answers are
 * in: the frame fits the socket buffer, or with the frontend paused the
 * socket fills and the rest is copied at once (the guest never waits for
 * the frontend). */
static void
answered_after_the_copy(bool spliced)
{
	static const struct { uint32_t w, h; bool paused; } cases[] = {
		{ 1024, 768, false },
		{ 1024, 768, true },
		{ 3840, 2160, true },	/* more than any socket buffer */
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct one_kick k = { 0 };
		struct image im;
		struct want wa;

		frame_setup(&im, &wa, cases[i].w, cases[i].h);
		vuf_display_pause(&F, cases[i].paused);
		place_transfer(&k, &im, full(&im));
		place_flush(&k, &im, full(&im));
		kick_answers_scribble(&k, &im, 3, spliced);
		vuf_display_pause(&F, false);
		expect_fb(&wa);
		NODATA(vuf_gpu_set_scanout(&F, 0, 0, (struct vuf_rect){ 0 }));
		NODATA(vuf_gpu_unref(&F, 1));
		own_free(wa.px);
		image_free(&im);
	}
	expect_alive();
}

Test(gpu2d, transfer_and_flush_answered_after_the_copy)
{
	struct opts o = { .region = 48u << 20 };

	start_opts(&o);
	answered_after_the_copy(kernel_splices());
}

/* The same when the display copies instead of splicing (no fd for its
 * pipe; before Linux 6.5 it always does): the rows are all copied as the
 * UPDATE is written, its head included, so neither answer waits for the
 * frontend to read, even a frame larger than the socket can hold. */
Test(faults, transfer_answered_without_splicing)
{
	struct opts o = { .region = 48u << 20 };
	struct rlimit rl;

	start_opts(&o);
	barrier();
	cr_assert(prlimit(F.pid, RLIMIT_NOFILE, NULL, &rl) == 0);
	rl.rlim_cur = (rlim_t)lowest_free_fd();
	cr_assert(prlimit(F.pid, RLIMIT_NOFILE, &rl, NULL) == 0, "prlimit: %s",
		  strerror(errno));
	answered_after_the_copy(false);
}

/* A transfer with no flush behind it in the same walk is carried out
 * before its answer; one with another command between it and its flush,
 * before that command. */
Test(gpu2d, transfer_copied_before_the_next_command)
{
	struct image im;
	struct want wa;

	start();
	frame_setup(&im, &wa, 1024, 768);
	for (unsigned between = 0; between < 2; between++) {
		struct one_kick k = { 0 };

		/* the display idle, so that the transfer may be deferred */
		settle(0, 1, 1023, 767, 1023, 767);
		image_fill(&im, 2);
		place_transfer(&k, &im, full(&im));
		if (between) {
			k.want[k.n] = 0;
			OK(k.head[k.n++] = submit_create(7));
		}
		kick_answers_scribble(&k, &im, 3, kernel_splices());
		NODATA(vuf_gpu_flush(&F, 1, full(&im)));
		expect_fb(&wa);
	}
	NODATA(vuf_gpu_unref(&F, 7));
	expect_alive();
	own_free(wa.px);
	image_free(&im);
}

/* The flush shows only the top rows: the UPDATE copies those as it goes,
 * the rest is copied before the answers; a later flush of the bottom
 * shows what was transferred, not what was drawn after. */
Test(gpu2d, transfer_wider_than_its_flush)
{
	struct one_kick k = { 0 };
	struct image im;
	struct want wa;

	start();
	frame_setup(&im, &wa, 1024, 768);
	place_transfer(&k, &im, full(&im));
	place_flush(&k, &im, (struct vuf_rect){ 0, 0, 1024, 256 });
	kick_answers_scribble(&k, &im, 3, kernel_splices());
	NODATA(vuf_gpu_flush(&F, 1, (struct vuf_rect){ 0, 256, 1024, 512 }));
	expect_fb(&wa);
	expect_alive();
	own_free(wa.px);
	image_free(&im);
}

/* ---- damage owed while the display is busy ---- */

/*
 * Twenty small rectangles flushed while a large UPDATE waits in a full
 * socket: each stays owed as its own rectangle (not merged into their
 * bounding box) and, once the frontend reads again, they go out as
 * separate UPDATEs written together, each with its own head.
 */
Test(gpu2d, scattered_damage_while_display_busy)
{
	struct opts o = { .region = 48u << 20 };
	struct one_kick k = { 0 };
	struct image im;
	struct want wa;
	unsigned before;

	start_opts(&o);
	/* one band, more than any socket buffer */
	frame_setup(&im, &wa, 2560, 1600);
	vuf_display_pause(&F, true);
	NODATA(vuf_gpu_transfer_2d(&F, 1, full(&im), 0));
	NODATA(vuf_gpu_flush(&F, 1, full(&im)));	/* stuck in the socket */
	for (unsigned i = 0; i < 20; i++) {
		struct vuf_rect r = { 100 + i * 120, 50 + i * 75, 40 + i, 16 + i % 5 };

		image_fill_rect(&im, r, 10 + i);
		place_transfer(&k, &im, r);
		place_flush(&k, &im, r);
		if (k.n == ONE_KICK_MAX) {
			OK(vuf_vq_kick(&F, 0));
			for (unsigned j = 0; j < k.n; j++) {
				unsigned head;
				uint32_t len;

				OK(vuf_vq_wait_used(&F, 0, &head, &len, -1));
			}
			k.n = 0;
		}
	}
	before = F.display.count[DPY_UPDATE];
	vuf_display_pause(&F, false);
	/* The large one (its pixels read as they are by then), then one
	 * per rectangle: fewer would time out. */
	cr_assert_eq(vuf_display_wait_count(&F, DPY_UPDATE, before + 1 + 20, -1), 0,
		     "%u UPDATEs came, the last %u,%u %ux%u",
		     F.display.count[DPY_UPDATE] - before,
		     F.display.scanout[0].last_update.x,
		     F.display.scanout[0].last_update.y,
		     F.display.scanout[0].last_update.width,
		     F.display.scanout[0].last_update.height);
	want_from(&wa, &im, im.shadow, 0, 0);
	expect_fb(&wa);
	cr_assert_eq(F.display.count[DPY_UPDATE] - before, 1 + 20,
		     "%u UPDATEs: rectangles were split",
		     F.display.count[DPY_UPDATE] - before);
	expect_alive();
	own_free(wa.px);
	image_free(&im);
}

/*
 * A transfer that could wait for its flush's UPDATE, with hostile
 * neighbours in the same kick: an answer buffer too short for a header
 * (the transfer's, or the flush's), a flush of a rectangle outside the
 * resource, of a resource that does not exist, a command shorter than a
 * header. Each is answered as it would be alone, in the order placed,
 * and the display ends up with the transferred pixels, not those the
 * guest wrote after the answers.
 */
Test(gpu2d, transfer_with_flush_hostile)
{
	struct image im;
	struct want wa;
	const struct vuf_rect all = { 0, 0, 1024, 768 };

	start();
	frame_setup(&im, &wa, 1024, 768);
	for (unsigned c = 0; c < 5; c++) {
		struct virtio_gpu_transfer_to_host_2d t = transfer_cmd(&im, all);
		struct virtio_gpu_resource_flush fl = flush_cmd(&im, all);
		struct one_kick k = { 0 };
		uint32_t want = 0;
		size_t resp = 24, len = sizeof(fl);

		settle(0, 1, 1023, 767, 1023, 767);
		image_fill(&im, 2);
		place_cmd(&k, &t, sizeof(t), c == 0 ? 8 : 24, c == 0 ? NO_ANSWER : 0);
		switch (c) {
		case 1:
			resp = 8;
			want = NO_ANSWER;
			break;
		case 2:
			fl.r.width = 1025;
			want = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
			break;
		case 3:
			fl.resource_id = 99;
			want = VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
			break;
		case 4:
			len = 16;
			want = VIRTIO_GPU_RESP_ERR_UNSPEC;
			break;
		}
		place_cmd(&k, &fl, len, resp, want);
		kick_answers_scribble(&k, &im, 3, false);
		NODATA(vuf_gpu_flush(&F, 1, all));
		expect_fb(&wa);
	}
	expect_alive();
	own_free(wa.px);
	image_free(&im);
}
