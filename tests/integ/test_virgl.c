/* virgl 3D in the real vugpu binary (--virgl --surfaceless): capsets, contexts, real command streams that clear a render target, read-back, fences, the display, hostile 3D commands. */
/*
 * Every test starts its own daemon on --fd with --virgl --surfaceless
 * (Mesa's software rasteriser on EGL surfaceless where there is no GPU),
 * replays QEMU 10's start-up with the guest taking VIRTIO_GPU_F_VIRGL,
 * and then plays the guest driver (tests/frontend.c) and QEMU's display.
 * The command streams are written by tests/virgl_enc.c: create a surface
 * on a resource, bind it as the framebuffer's colour buffer, clear it.
 * Nothing sleeps: every wait is for an event (a used entry, which for a
 * fenced command comes only once virglrenderer signals the fence through
 * its poll fd; a display message), bounded by the frontend's timeout and
 * the suite's .timeout.
 *
 * Without virglrenderer in the daemon (configure --disable-virgl), or
 * where EGL cannot start at all, the tests are skipped, not failed.
 *
 * VUGPU_BIN overrides the daemon; VUF_TRACE=1 prints every message,
 * VUF_ECHO=1 copies the daemon's stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>
#include <linux/virtio_ring.h>

#include "tests/frontend.h"
#include "tests/integ/integ.h"
#include "tests/virgl_enc.h"

#define SUITE_TIMEOUT 60.0
#define REGION (16u << 20)
#define CTRL_NUM 256		/* QEMU's control queue with virgl */
#define HDR_SIZE sizeof(struct virtio_gpu_ctrl_hdr)

/* Display messages (docs/interop/vhost-user-gpu.rst). */
enum {
	DPY_SET_PROTOCOL_FEATURES = 2,
	DPY_SCANOUT = 7,
	DPY_UPDATE = 8,
};

/* The daemon's caps (render/virgl.h). */
#define MAX_SUBMIT (16u << 20)

/* The test's resources: 64x48 B8G8R8X8 render targets, 4 bytes a pixel. */
#define W 64
#define H 48
#define STRIDE (W * 4)
#define RES_BYTES (STRIDE * H)
#define CANARY 4096		/* bytes after a backing that must stay as
				 * they are */
#define CANARY_BYTE 0xa5

TestSuite(virgl, .init = integ_setup, .fini = integ_teardown, .timeout = SUITE_TIMEOUT);

/* ---- assertions that say what the daemon did ---- */

static bool
is_error(int t)
{
	return t >= VIRTIO_GPU_RESP_ERR_UNSPEC &&
	       t <= VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
}

/* A command answered with one of the VIRTIO_GPU_RESP_ERR_* codes. */
#define ERROR(expr)                                                       \
	do {                                                              \
		int r_ = (expr);                                          \
		cr_assert(is_error(r_), "%s: expected an error, got %s\n" \
			  "daemon stderr:\n%s", #expr, resp_name(r_), F.err); \
	} while (0)

/* ---- start-up ---- */

/* This daemon has virglrenderer, or the test is skipped. */
static void
require_virgl(void)
{
	static const char *const args[] = { "--print-capabilities", NULL };
	const char *bin = vuf_daemon_path();
	char out[256], err[256];
	int st;

	check_binary();
	st = vuf_run(args, out, sizeof(out), err, sizeof(err), VUF_TIMEOUT_MS);
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "%s --print-capabilities: status %d: %s", bin, st, err);
	if (!strstr(out, "\"virgl\""))
		cr_skip_test("%s was built without virglrenderer", bin);
}

/*
 * Start the daemon with --virgl --surfaceless and replay QEMU 10's
 * start-up; the guest takes VIRGL (and EDID, RESOURCE_UUID, EVENT_IDX,
 * INDIRECT_DESC). The display handshake is over when this returns.
 */
static void
start(void)
{
	static const char *const args[] = { "--virgl", "--surfaceless", NULL };
	uint64_t want = PF(VIRTIO_GPU_F_VIRGL) | PF(VIRTIO_RING_F_EVENT_IDX) |
			PF(VIRTIO_RING_F_INDIRECT_DESC);
	int r;

	require_virgl();
	r = vuf_spawn_fd(&F, args);
	cr_assert(r == 0, "cannot start %s: %s", vuf_daemon_path(), strerror(-r));
	OK(vuf_gpu_memory(&F, REGION, REGION, CTRL_NUM));
	r = vuf_qemu_init(&F, VUF_QEMU_10_0);
	if (r < 0 && !vuf_alive(&F)) {
		vuf_drain_stderr(&F);
		if (strstr(F.err, "virglrenderer could not start"))
			cr_skip_test("no EGL here: %s", F.err);
	}
	OK(r);
	OK(vuf_qemu_get_config(&F, VUF_QEMU_10_0));
	OK(vuf_qemu_start(&F, VUF_QEMU_10_0));
	cr_assert(F.features & PF(VIRTIO_GPU_F_VIRGL),
		  "--virgl, but VIRGL is not offered (0x%llx)",
		  (unsigned long long)F.features);
	cr_assert_eq(F.acked_features & want, want,
		     "the guest could not take 0x%llx (offered 0x%llx)",
		     (unsigned long long)want, (unsigned long long)F.features);
	OK(vuf_display_wait_count(&F, DPY_SET_PROTOCOL_FEATURES, 1, -1));
}

/* ---- guest memory ---- */

/* len bytes of guest memory, zeroed, followed by CANARY bytes of
 * CANARY_BYTE: our pointer, the gpa in *gpa. */
static uint8_t *
guest_alloc(uint64_t len, uint64_t *gpa)
{
	uint8_t *p = vuf_arena_alloc(&F, &F.arena, len + CANARY, 4096, gpa);

	cr_assert(p, "guest memory arena is full");
	memset(p, 0, len);
	memset(p + len, CANARY_BYTE, CANARY);
	return p;
}

static void
expect_canary(const uint8_t *p, uint64_t len, const char *what)
{
	for (unsigned i = 0; i < CANARY; i++)
		cr_assert_eq(p[len + i], CANARY_BYTE,
			     "%s: byte %u past the buffer was written (0x%02x)",
			     what, i, p[len + i]);
}

/* ---- commands ---- */

static int
cmd_type(const void *req, size_t len)
{
	return vuf_gpu_cmd_type(&F, req, len, NULL, 0);
}

static int
capset_info(uint32_t index, struct virtio_gpu_resp_capset_info *info)
{
	struct virtio_gpu_get_capset_info c = {
		.hdr.type = VIRTIO_GPU_CMD_GET_CAPSET_INFO,
		.capset_index = index,
	};
	int r;

	memset(info, 0, sizeof(*info));
	r = vuf_gpu_cmd(&F, &c, sizeof(c), NULL, 0, info, sizeof(*info));
	OK(r);
	return (int)info->hdr.type;
}

/*
 * GET_CAPSET with a response buffer of exactly room bytes in guest memory
 * (followed by a canary): the response type; *resp points at the buffer,
 * *used gets the used length.
 */
static int
capset_get(uint32_t id, uint32_t version, uint32_t room, uint8_t **resp,
	   uint32_t *used)
{
	struct virtio_gpu_get_capset c = {
		.hdr.type = VIRTIO_GPU_CMD_GET_CAPSET,
		.capset_id = id,
		.capset_version = version,
	};
	struct vuf_buf out, in;
	uint64_t req_gpa, resp_gpa;
	uint8_t *req = guest_alloc(sizeof(c), &req_gpa);
	unsigned head;
	int h;

	memcpy(req, &c, sizeof(c));
	*resp = guest_alloc(room, &resp_gpa);
	out = (struct vuf_buf){ req_gpa, sizeof(c) };
	in = (struct vuf_buf){ resp_gpa, room };
	h = vuf_vq_add(&F, 0, &out, 1, &in, 1);
	OK(h);
	OK(vuf_vq_kick(&F, 0));
	OK(vuf_vq_wait_used(&F, 0, &head, used, -1));
	cr_assert_eq(head, (unsigned)h);
	expect_canary(*resp, room, "GET_CAPSET");
	if (*used < HDR_SIZE)
		return -EPROTO;
	return (int)((struct virtio_gpu_ctrl_hdr *)*resp)->type;
}

static int
ctx_create_named(uint32_t id, const char *name, uint32_t nlen)
{
	struct virtio_gpu_ctx_create c = {
		.hdr.type = VIRTIO_GPU_CMD_CTX_CREATE,
		.hdr.ctx_id = id,
		.nlen = nlen,
	};

	memcpy(c.debug_name, name, strnlen(name, sizeof(c.debug_name)));
	return cmd_type(&c, sizeof(c));
}

static int
ctx_create(uint32_t id)
{
	return ctx_create_named(id, "vugpu-test", 10);
}

static int
ctx_destroy(uint32_t id)
{
	struct virtio_gpu_ctx_destroy c = {
		.hdr.type = VIRTIO_GPU_CMD_CTX_DESTROY,
		.hdr.ctx_id = id,
	};

	return cmd_type(&c, sizeof(c));
}

static int
ctx_resource(uint32_t type, uint32_t ctx, uint32_t res)
{
	struct virtio_gpu_ctx_resource c = {
		.hdr.type = type,
		.hdr.ctx_id = ctx,
		.resource_id = res,
	};

	return cmd_type(&c, sizeof(c));
}

static int
ctx_attach(uint32_t ctx, uint32_t res)
{
	return ctx_resource(VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE, ctx, res);
}

static int
create_3d_flags(uint32_t id, uint32_t format, uint32_t bind, uint32_t w,
		uint32_t h, uint32_t flags)
{
	struct virtio_gpu_resource_create_3d c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_3D,
		.resource_id = id,
		.target = VENC_TARGET_TEXTURE_2D,
		.format = format,
		.bind = bind,
		.width = w,
		.height = h,
		.depth = 1,
		.array_size = 1,
		.flags = flags,
	};

	return cmd_type(&c, sizeof(c));
}

static int
create_3d(uint32_t id, uint32_t format, uint32_t bind, uint32_t w, uint32_t h)
{
	return create_3d_flags(id, format, bind, w, h, 0);
}

/* SUBMIT_3D of len bytes of stream, saying it is size bytes long. */
static int
submit_sized(uint32_t ctx, const void *stream, size_t len, uint32_t size)
{
	struct virtio_gpu_cmd_submit c = {
		.hdr.type = VIRTIO_GPU_CMD_SUBMIT_3D,
		.hdr.ctx_id = ctx,
		.size = size,
	};

	return vuf_gpu_cmd_type(&F, &c, sizeof(c), stream, len);
}

static int
submit(uint32_t ctx, const struct venc *e)
{
	cr_assert(!venc_failed(e), "the stream did not fit");
	return submit_sized(ctx, e->buf, venc_bytes(e), (uint32_t)venc_bytes(e));
}

static struct virtio_gpu_transfer_host_3d
transfer_req(uint32_t type, uint32_t ctx, uint32_t res, struct virtio_gpu_box box,
	     uint64_t offset, uint32_t stride)
{
	return (struct virtio_gpu_transfer_host_3d){
		.hdr.type = type,
		.hdr.ctx_id = ctx,
		.box = box,
		.offset = offset,
		.resource_id = res,
		.stride = stride,
	};
}

static int
transfer_3d(uint32_t type, uint32_t ctx, uint32_t res, struct virtio_gpu_box box,
	    uint64_t offset, uint32_t stride)
{
	struct virtio_gpu_transfer_host_3d t =
		transfer_req(type, ctx, res, box, offset, stride);

	return cmd_type(&t, sizeof(t));
}

static const struct virtio_gpu_box whole = { 0, 0, 0, W, H, 1 };

static int
read_back(uint32_t ctx, uint32_t res)
{
	return transfer_3d(VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D, ctx, res, whole,
			   0, STRIDE);
}

static int
set_scanout(uint32_t scanout, uint32_t res)
{
	return vuf_gpu_set_scanout(&F, scanout, res, (struct vuf_rect){ 0, 0, W, H });
}

static int
flush(uint32_t res)
{
	return vuf_gpu_flush(&F, res, (struct vuf_rect){ 0, 0, W, H });
}

/* ---- a render target: resource, backing, context, surface ---- */

struct target {
	uint32_t ctx, id, surface;
	uint64_t gpa;
	uint8_t *mem;		/* the backing, RES_BYTES + canary */
};

/* CREATE_3D (W x H, format), a backing, attached to ctx (created here
 * when new_ctx), and surface `id` on it in that context. */
static void
target_new_fmt(struct target *t, uint32_t ctx, bool new_ctx, uint32_t id,
	       uint32_t format)
{
	struct virtio_gpu_mem_entry e;
	uint32_t buf[16];
	struct venc enc;

	t->ctx = ctx;
	t->id = id;
	t->surface = id;
	t->mem = guest_alloc(RES_BYTES, &t->gpa);
	if (new_ctx)
		NODATA(ctx_create(ctx));
	NODATA(create_3d(id, format,
			 VENC_BIND_RENDER_TARGET | VENC_BIND_SAMPLER_VIEW, W, H));
	e = (struct virtio_gpu_mem_entry){ .addr = t->gpa, .length = RES_BYTES };
	NODATA(vuf_gpu_attach_backing(&F, id, &e, 1));
	NODATA(ctx_attach(ctx, id));
	venc_init(&enc, buf, ARRAY_SIZE(buf));
	venc_create_surface(&enc, t->surface, id, format, 0, 0, 0);
	NODATA(submit(ctx, &enc));
}

static void
target_new(struct target *t, uint32_t ctx, bool new_ctx, uint32_t id)
{
	target_new_fmt(t, ctx, new_ctx, id, VENC_FORMAT_B8G8R8X8_UNORM);
}

/* Colours as 0xaarrggbb; each channel k goes out as k / 255, which every
 * UNORM8 render target stores as exactly k. */
static void
rgba_of(uint32_t argb, float rgba[4])
{
	rgba[0] = (float)(argb >> 16 & 0xff) / 255.0f;
	rgba[1] = (float)(argb >> 8 & 0xff) / 255.0f;
	rgba[2] = (float)(argb & 0xff) / 255.0f;
	rgba[3] = (float)(argb >> 24) / 255.0f;
}

/* The stream that binds t's surface and clears it to argb. */
static void
clear_stream(struct venc *e, const struct target *t, uint32_t argb)
{
	float rgba[4];

	rgba_of(argb, rgba);
	venc_set_framebuffer(e, t->surface, 0);
	venc_clear_color(e, rgba);
}

static int
clear(const struct target *t, uint32_t argb)
{
	uint32_t buf[32];
	struct venc e;

	venc_init(&e, buf, ARRAY_SIZE(buf));
	clear_stream(&e, t, argb);
	return submit(t->ctx, &e);
}

#define RGB(v) ((v) & 0x00ffffffu)

/* The backing holds argb everywhere (B8G8R8X8: the X byte is free;
 * with alpha, a too). */
static void
expect_backing(const struct target *t, uint32_t argb, bool alpha)
{
	uint32_t mask = alpha ? 0xffffffffu : 0x00ffffffu;

	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x++) {
			uint32_t v;

			memcpy(&v, t->mem + (size_t)y * STRIDE + x * 4, 4);
			cr_assert_eq(v & mask, argb & mask,
				     "resource %u pixel (%u,%u): 0x%08x, want 0x%08x",
				     t->id, x, y, v, argb);
		}
	expect_canary(t->mem, RES_BYTES, "TRANSFER_FROM_HOST_3D");
}

/* ---- the display ---- */

struct uniform {
	unsigned scanout;
	uint32_t w, h, rgb;
};

static bool
fb_uniform(struct vuf *f, void *arg)
{
	const struct uniform *u = arg;
	const struct vuf_scanout *s = &f->display.scanout[u->scanout];

	if (s->width != u->w || s->height != u->h)
		return false;
	for (size_t i = 0; i < (size_t)u->w * u->h; i++)
		if (RGB(s->fb[i]) != u->rgb)
			return false;
	return true;
}

/* Wait until scanout s shows W x H of one colour; say where it does not. */
static void
expect_display(unsigned s, uint32_t argb)
{
	struct uniform u = { s, W, H, RGB(argb) };
	const struct vuf_scanout *so = &F.display.scanout[s];
	int r = vuf_display_wait(&F, fb_uniform, &u, -1);

	if (r == 0)
		return;
	cr_assert(so->width == W && so->height == H,
		  "scanout %u: the display has %ux%u, want %ux%u (%s)", s,
		  so->width, so->height, W, H, strerror(-r));
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x++)
			cr_assert_eq(RGB(so->fb[(size_t)y * W + x]), RGB(argb),
				     "scanout %u pixel (%u,%u): display 0x%06x, "
				     "want 0x%06x (%u UPDATEs)", s, x, y,
				     RGB(so->fb[(size_t)y * W + x]), RGB(argb),
				     so->updates);
}

/* ================= capsets ================= */

Test(virgl, config_counts_two_capsets)
{
	struct virtio_gpu_config cfg;

	start();
	cr_assert_eq(vuf_get_config(&F, 0, sizeof(cfg), &cfg), (int)sizeof(cfg));
	cr_assert_eq(cfg.num_capsets, 2, "num_capsets %u", cfg.num_capsets);
}

Test(virgl, capset_info)
{
	struct virtio_gpu_resp_capset_info info;

	start();
	for (uint32_t i = 0; i < 2; i++) {
		RESP(VIRTIO_GPU_RESP_OK_CAPSET_INFO, capset_info(i, &info));
		cr_assert_eq(info.capset_id, i + 1, "index %u: capset id %u", i,
			     info.capset_id);
		cr_assert(info.capset_max_version > 0, "capset %u: version 0",
			  info.capset_id);
		cr_assert(info.capset_max_size >= 4 &&
			  info.capset_max_size <= 65536,
			  "capset %u: size %u", info.capset_id,
			  info.capset_max_size);
	}
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, capset_info(2, &info));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, capset_info(0xffffffffu, &info));
}

/* The whole capset fits exactly; one byte less is refused and nothing
 * is written past the guest's buffer. */
Test(virgl, capset_exact_room_and_one_byte_short)
{
	struct virtio_gpu_resp_capset_info info;

	start();
	for (uint32_t i = 0; i < 2; i++) {
		uint32_t room, used, ver;
		uint8_t *resp;
		const uint8_t *caps;
		bool any = false;

		RESP(VIRTIO_GPU_RESP_OK_CAPSET_INFO, capset_info(i, &info));
		room = (uint32_t)HDR_SIZE + info.capset_max_size;
		RESP(VIRTIO_GPU_RESP_OK_CAPSET,
		     capset_get(info.capset_id, info.capset_max_version, room,
				&resp, &used));
		cr_assert_eq(used, room, "capset %u: used length %u, want %u",
			     info.capset_id, used, room);
		caps = resp + HDR_SIZE;
		for (uint32_t b = 0; b < info.capset_max_size; b++)
			any |= caps[b] != 0;
		cr_assert(any, "capset %u is all zeroes", info.capset_id);
		/* struct virgl_caps_v1/v2 start with max_version */
		memcpy(&ver, caps, 4);
		cr_assert(ver >= 1 && ver <= 16, "capset %u: max_version %u",
			  info.capset_id, ver);

		/* Version 1 of each, too. */
		RESP(VIRTIO_GPU_RESP_OK_CAPSET,
		     capset_get(info.capset_id, 1, room, &resp, &used));

		RESP(VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
		     capset_get(info.capset_id, info.capset_max_version, room - 1,
				&resp, &used));
		cr_assert_eq(used, HDR_SIZE, "used length %u for an error", used);
		/* Nothing but the header: the caps area stayed untouched. */
		for (uint32_t b = HDR_SIZE; b < room - 1; b++)
			cr_assert_eq(resp[b], 0, "byte %u of a refused capset", b);
	}
	expect_alive();
}

Test(virgl, capset_refused)
{
	static const struct { const char *name; uint32_t id, version; } cases[] = {
		{ "id 0", 0, 1 },
		{ "id 3", 3, 1 },
		{ "id ~0", 0xffffffffu, 1 },
		{ "VIRGL version max + 1", 1, 2 },
		{ "VIRGL version ~0", 1, 0xffffffffu },
	};
	struct virtio_gpu_resp_capset_info info;

	start();
	RESP(VIRTIO_GPU_RESP_OK_CAPSET_INFO, capset_info(0, &info));
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		uint32_t version = cases[i].version, used;
		uint8_t *resp;
		int t;

		/* whatever the daemon says the max is */
		if (cases[i].id == 1 && version == 2)
			version = info.capset_max_version + 1;
		t = capset_get(cases[i].id, version, 4096, &resp, &used);
		cr_assert_eq(t, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
			     "%s: %s", cases[i].name, resp_name(t));
	}
	expect_alive();
}

/* ================= contexts ================= */

Test(virgl, contexts)
{
	char name[65];

	start();
	NODATA(ctx_create(1));
	NODATA(ctx_create(2));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID, ctx_create(0));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID, ctx_create(1));
	memset(name, 'n', sizeof(name));
	/* 64 bytes of name, no NUL: fine; 65 is more than the field. */
	NODATA(ctx_create_named(3, name, 64));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, ctx_create_named(4, name, 65));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
	     ctx_create_named(4, name, 0xffffffffu));
	NODATA(ctx_create_named(4, "", 0));

	NODATA(ctx_destroy(2));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID, ctx_destroy(2));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID, ctx_destroy(0));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID, ctx_destroy(77));
	/* A destroyed id can be used again. */
	NODATA(ctx_create(2));
	NODATA(ctx_destroy(2));
	expect_alive();
}

Test(virgl, ctx_attach_resource)
{
	start();
	NODATA(ctx_create(1));
	NODATA(create_3d(5, VENC_FORMAT_B8G8R8X8_UNORM,
			 VENC_BIND_RENDER_TARGET | VENC_BIND_SAMPLER_VIEW, W, H));
	NODATA(ctx_attach(1, 5));
	/* Unknown context, unknown resource: refused, either way round. */
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID, ctx_attach(9, 5));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID, ctx_attach(0, 5));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, ctx_attach(1, 6));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, ctx_attach(1, 0));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID,
	     ctx_resource(VIRTIO_GPU_CMD_CTX_DETACH_RESOURCE, 9, 5));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID,
	     ctx_resource(VIRTIO_GPU_CMD_CTX_DETACH_RESOURCE, 1, 6));
	NODATA(ctx_resource(VIRTIO_GPU_CMD_CTX_DETACH_RESOURCE, 1, 5));
	NODATA(ctx_attach(1, 5));
	/* The resource goes while attached; the context goes with its
	 * resources attached. */
	NODATA(vuf_gpu_unref(&F, 5));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, ctx_attach(1, 5));
	NODATA(create_3d(6, VENC_FORMAT_B8G8R8X8_UNORM,
			 VENC_BIND_RENDER_TARGET, W, H));
	NODATA(ctx_attach(1, 6));
	NODATA(ctx_destroy(1));
	NODATA(vuf_gpu_unref(&F, 6));
	expect_alive();
}

/*
 * QEMU stops and starts the rings on a guest reset but sends no reset of
 * its own (see vuf_qemu_stop): contexts, like resources, carry on.
 */
Test(virgl, contexts_survive_stop_and_start)
{
	struct target t;

	start();
	target_new(&t, 1, true, 1);
	NODATA(clear(&t, 0xff102030));
	OK(vuf_qemu_stop(&F, VUF_QEMU_10_0));
	OK(vuf_qemu_start(&F, VUF_QEMU_10_0));
	NODATA(clear(&t, 0xff203040));
	NODATA(read_back(1, 1));
	expect_backing(&t, 0xff203040, false);
}

/* RESET_DEVICE: contexts and resources are gone, their ids free. */
Test(virgl, reset_device_forgets_contexts)
{
	struct target t;

	start();
	target_new(&t, 1, true, 1);
	NODATA(clear(&t, 0xff102030));
	OK(vuf_qemu_stop(&F, VUF_QEMU_10_0));
	OK(vuf_request(&F, VU_RESET_DEVICE, F.reply_ack ? VU_FLAG_NEED_REPLY : 0,
		       NULL, 0, NULL, 0));
	OK(vuf_qemu_start(&F, VUF_QEMU_10_0));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID, ctx_destroy(1));
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, vuf_gpu_unref(&F, 1));
	/* The same ids again, and they work. */
	target_new(&t, 1, true, 1);
	NODATA(clear(&t, 0xff405060));
	NODATA(read_back(1, 1));
	expect_backing(&t, 0xff405060, false);
}

/* ================= RESOURCE_CREATE_3D ================= */

Test(virgl, create_3d_refused)
{
	static const struct {
		const char *name;
		uint32_t id, target, format, bind, w, h, depth, array;
		uint32_t want;	/* 0: any error */
	} cases[] = {
		{ "id 0", 0, 2, 2, 2, 8, 8, 1, 1,
		  VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID },
		{ "id in use", 1, 2, 2, 2, 8, 8, 1, 1,
		  VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID },
		{ "width 0", 2, 2, 2, 2, 0, 8, 1, 1, 0 },
		{ "depth 0", 2, 2, 2, 2, 8, 8, 0, 1, 0 },
		{ "array_size 0", 2, 2, 2, 2, 8, 8, 1, 0, 0 },
		{ "format 0", 2, 2, 0, 2, 8, 8, 1, 1, 0 },
		{ "format ~0", 2, 2, 0xffffffffu, 2, 8, 8, 1, 1, 0 },
		{ "target 99", 2, 99, 2, 2, 8, 8, 1, 1, 0 },
		{ "2^32 texels", 2, 2, 2, 2, 0x10000, 0x10000, 1, 1,
		  VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY },
		{ "depth ~0", 2, 2, 2, 2, 8, 8, 0xffffffffu, 1, 0 },
		{ "array ~0", 2, 2, 2, 2, 8, 8, 1, 0xffffffffu, 0 },
	};

	start();
	NODATA(create_3d(1, VENC_FORMAT_B8G8R8X8_UNORM, VENC_BIND_RENDER_TARGET, 8, 8));
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		struct virtio_gpu_resource_create_3d c = {
			.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_3D,
			.resource_id = cases[i].id,
			.target = cases[i].target,
			.format = cases[i].format,
			.bind = cases[i].bind,
			.width = cases[i].w,
			.height = cases[i].h,
			.depth = cases[i].depth,
			.array_size = cases[i].array,
		};
		int t = cmd_type(&c, sizeof(c));

		if (cases[i].want)
			cr_assert_eq(t, (int)cases[i].want, "%s: %s, want %s",
				     cases[i].name, resp_name(t),
				     resp_name((int)cases[i].want));
		else
			cr_assert(is_error(t), "%s: %s", cases[i].name,
				  resp_name(t));
	}
	/* Nothing of the refused ones is left: id 2 is free. */
	NODATA(create_3d(2, VENC_FORMAT_B8G8R8X8_UNORM, VENC_BIND_RENDER_TARGET, 8, 8));
	expect_alive();
}

/* ================= rendering and read-back ================= */

/* A real command stream: create a surface, bind it, clear it; the
 * read-back shows the colour in every pixel. */
Test(virgl, clear_and_read_back)
{
	struct target t, a;

	start();
	target_new(&t, 1, true, 1);
	NODATA(clear(&t, 0xff2040c0));
	NODATA(read_back(1, 1));
	expect_backing(&t, 0xff2040c0, false);
	/* Again, another colour, all in one stream with the framebuffer
	 * already bound. */
	NODATA(clear(&t, 0xff01fe7f));
	NODATA(read_back(1, 1));
	expect_backing(&t, 0xff01fe7f, false);
	/* A read-back without a context (ctx 0 in the header). */
	memset(t.mem, 0, RES_BYTES);
	NODATA(read_back(0, 1));
	expect_backing(&t, 0xff01fe7f, false);

	/* With alpha: B8G8R8A8 keeps it. */
	target_new_fmt(&a, 1, false, 2, VENC_FORMAT_B8G8R8A8_UNORM);
	NODATA(clear(&a, 0x80c0ffee));
	NODATA(read_back(1, 2));
	expect_backing(&a, 0x80c0ffee, true);
}

/* A sub-rectangle read back lands where offset and stride say. */
Test(virgl, read_back_sub_box)
{
	struct target t;
	struct virtio_gpu_box box = { 8, 4, 0, 16, 10, 1 };
	uint64_t off = (uint64_t)box.y * STRIDE + box.x * 4;

	start();
	target_new(&t, 1, true, 1);
	NODATA(clear(&t, 0xff123456));
	memset(t.mem, 0x5c, RES_BYTES);
	NODATA(transfer_3d(VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D, 1, 1, box, off,
			   STRIDE));
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x++) {
			bool in = x >= box.x && x < box.x + box.w &&
				  y >= box.y && y < box.y + box.h;
			uint32_t v;

			memcpy(&v, t.mem + (size_t)y * STRIDE + x * 4, 4);
			if (in)
				cr_assert_eq(RGB(v), 0x123456, "(%u,%u): 0x%08x", x, y, v);
			else
				cr_assert_eq(v, 0x5c5c5c5cu, "(%u,%u) outside the box "
					     "was written: 0x%08x", x, y, v);
		}
	expect_canary(t.mem, RES_BYTES, "sub-box read-back");
}

/* Two contexts, each with its own target and surface handle 1; one
 * context's stream does not touch the other's. */
Test(virgl, two_contexts)
{
	struct target a, b;

	start();
	target_new(&a, 1, true, 1);
	target_new(&b, 2, true, 2);
	NODATA(clear(&a, 0xff0000ff));
	NODATA(clear(&b, 0xffff0000));
	NODATA(read_back(1, 1));
	NODATA(read_back(2, 2));
	expect_backing(&a, 0xff0000ff, false);
	expect_backing(&b, 0xffff0000, false);
	/* Context 1 destroyed: context 2 goes on. */
	NODATA(ctx_destroy(1));
	NODATA(clear(&b, 0xff00ff00));
	NODATA(read_back(2, 2));
	expect_backing(&b, 0xff00ff00, false);
}

/* A second sub-context renders as well, and sub-context 0 is there
 * without being created. */
Test(virgl, sub_contexts)
{
	struct target t;
	uint32_t buf[64];
	struct venc e;
	float rgba[4];

	start();
	target_new(&t, 1, true, 1);
	venc_init(&e, buf, ARRAY_SIZE(buf));
	venc_create_sub_ctx(&e, 1);
	venc_set_sub_ctx(&e, 1);
	/* Objects belong to a sub-context: sub-context 1 needs its own
	 * surface. */
	rgba_of(0xff336699, rgba);
	venc_create_surface(&e, 2, t.id, VENC_FORMAT_B8G8R8X8_UNORM, 0, 0, 0);
	venc_set_framebuffer(&e, 2, 0);
	venc_clear_color(&e, rgba);
	venc_set_sub_ctx(&e, 0);
	venc_destroy_sub_ctx(&e, 1);
	NODATA(submit(1, &e));
	NODATA(read_back(1, 1));
	expect_backing(&t, 0xff336699, false);
}

/* ================= fences ================= */

/* A fenced command is answered once its fence signals, with the fence
 * echoed. */
Test(virgl, fenced_submit_and_transfer)
{
	struct virtio_gpu_cmd_submit c = { .hdr.type = VIRTIO_GPU_CMD_SUBMIT_3D };
	struct virtio_gpu_transfer_host_3d tr;
	struct virtio_gpu_ctrl_hdr r;
	uint32_t buf[16];
	struct target t;
	struct venc e;

	start();
	target_new(&t, 1, true, 1);
	venc_init(&e, buf, ARRAY_SIZE(buf));
	clear_stream(&e, &t, 0xff0a0b0c);
	c.size = (uint32_t)venc_bytes(&e);
	/* (vuf_gpu_cmd_fenced puts fence id and context in the header) */
	cr_assert_eq(vuf_gpu_cmd_fenced(&F, &c, sizeof(c), e.buf, venc_bytes(&e),
					1, 1, &r, sizeof(r)), (int)HDR_SIZE);
	NODATA((int)r.type);
	cr_assert(r.flags & VIRTIO_GPU_FLAG_FENCE, "flags 0x%x", r.flags);
	cr_assert_eq(r.fence_id, 1);
	cr_assert_eq(r.ctx_id, 1);

	tr = transfer_req(VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D, 1, 1, whole, 0,
			  STRIDE);
	cr_assert_eq(vuf_gpu_cmd_fenced(&F, &tr, sizeof(tr), NULL, 0, 2, 1, &r,
					sizeof(r)), (int)HDR_SIZE);
	NODATA((int)r.type);
	cr_assert(r.flags & VIRTIO_GPU_FLAG_FENCE);
	cr_assert_eq(r.fence_id, 2);
	expect_backing(&t, 0xff0a0b0c, false);

	/* A fenced error (no context 42) is answered at once, with its
	 * fence. */
	cr_assert_eq(vuf_gpu_cmd_fenced(&F, &c, sizeof(c), e.buf, venc_bytes(&e),
					3, 42, &r, sizeof(r)), (int)HDR_SIZE);
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID, (int)r.type);
	cr_assert_eq(r.fence_id, 3);
	/* Fence ids need not be dense. */
	cr_assert_eq(vuf_gpu_cmd_fenced(&F, &tr, sizeof(tr), NULL, 0, 1000, 1, &r,
					sizeof(r)), (int)HDR_SIZE);
	NODATA((int)r.type);
	cr_assert_eq(r.fence_id, 1000);
}

/* Place one command with its header's fence fields set. */
static int
place_fenced(const void *req, size_t len, const void *extra, size_t extra_len,
	     uint64_t fence)
{
	uint8_t copy[256];
	struct virtio_gpu_ctrl_hdr *h = (struct virtio_gpu_ctrl_hdr *)copy;

	cr_assert(len <= sizeof(copy));
	memcpy(copy, req, len);
	if (fence) {
		h->flags |= VIRTIO_GPU_FLAG_FENCE;
		h->fence_id = fence;
	}
	return vuf_gpu_submit(&F, 0, copy, len, extra, extra_len, HDR_SIZE);
}

/* Many fenced commands in one batch (one kick): each comes back once,
 * with its fence, in the order they were queued; the last colour wins. */
Test(virgl, fences_retire_in_order)
{
	enum { N = 24 };
	static const uint32_t colours[4] = {
		0xff112233, 0xff445566, 0xff778899, 0xffaabbcc,
	};
	struct virtio_gpu_cmd_submit c = {
		.hdr.type = VIRTIO_GPU_CMD_SUBMIT_3D,
		.hdr.ctx_id = 1,
	};
	struct virtio_gpu_transfer_host_3d tr;
	int heads[N + 1];
	struct target t;

	start();
	target_new(&t, 1, true, 1);
	for (unsigned i = 0; i < N; i++) {
		uint32_t buf[16];
		struct venc e;

		venc_init(&e, buf, ARRAY_SIZE(buf));
		clear_stream(&e, &t, colours[i % 4]);
		c.size = (uint32_t)venc_bytes(&e);
		heads[i] = place_fenced(&c, sizeof(c), e.buf, venc_bytes(&e), 100 + i);
		OK(heads[i]);
	}
	tr = transfer_req(VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D, 1, 1, whole, 0,
			  STRIDE);
	heads[N] = place_fenced(&tr, sizeof(tr), NULL, 0, 100 + N);
	OK(heads[N]);
	OK(vuf_vq_kick(&F, 0));
	for (unsigned i = 0; i <= N; i++) {
		const struct virtio_gpu_ctrl_hdr *r;
		unsigned head;
		uint32_t len;

		OK(vuf_vq_wait_used(&F, 0, &head, &len, -1));
		cr_assert_eq(head, (unsigned)heads[i],
			     "used entry %u is head %u, want %d (fence %u)", i,
			     head, heads[i], 100 + i);
		cr_assert_eq(len, HDR_SIZE);
		r = vuf_gpu_resp(&F, 0, head);
		NODATA((int)r->type);
		cr_assert(r->flags & VIRTIO_GPU_FLAG_FENCE);
		cr_assert_eq(r->fence_id, 100 + i);
		cr_assert_eq(r->ctx_id, 1);
	}
	expect_backing(&t, colours[(N - 1) % 4], false);
}

/* An unfenced command queued behind a fenced one is answered without
 * waiting for the fence: the fence can only signal through the poll fd,
 * after the queue has been processed, so it comes back first. */
Test(virgl, unfenced_not_held_back)
{
	struct virtio_gpu_get_capset_info ci = {
		.hdr.type = VIRTIO_GPU_CMD_GET_CAPSET_INFO,
	};
	struct virtio_gpu_cmd_submit c = {
		.hdr.type = VIRTIO_GPU_CMD_SUBMIT_3D,
		.hdr.ctx_id = 1,
	};
	const struct virtio_gpu_ctrl_hdr *r;
	uint32_t buf[16], len;
	struct target t;
	struct venc e;
	unsigned head;
	int fenced, plain;

	start();
	target_new(&t, 1, true, 1);
	venc_init(&e, buf, ARRAY_SIZE(buf));
	clear_stream(&e, &t, 0xff999999);
	c.size = (uint32_t)venc_bytes(&e);
	fenced = place_fenced(&c, sizeof(c), e.buf, venc_bytes(&e), 7);
	OK(fenced);
	plain = vuf_gpu_submit(&F, 0, &ci, sizeof(ci), NULL, 0,
			       sizeof(struct virtio_gpu_resp_capset_info));
	OK(plain);
	OK(vuf_vq_kick(&F, 0));
	OK(vuf_vq_wait_used(&F, 0, &head, &len, -1));
	cr_assert_eq(head, (unsigned)plain,
		     "the unfenced command (head %d) came back after the fenced "
		     "one (head %u)", plain, head);
	r = vuf_gpu_resp(&F, 0, head);
	RESP(VIRTIO_GPU_RESP_OK_CAPSET_INFO, (int)r->type);
	cr_assert_eq(r->flags, 0);
	OK(vuf_vq_wait_used(&F, 0, &head, &len, -1));
	cr_assert_eq(head, (unsigned)fenced);
	r = vuf_gpu_resp(&F, 0, head);
	NODATA((int)r->type);
	cr_assert_eq(r->fence_id, 7);
}

/* Fenced commands still waiting when the queue stops come back then
 * (their descriptors are not lost), and the device starts again. */
Test(virgl, fences_pending_at_stop)
{
	struct virtio_gpu_cmd_submit c = {
		.hdr.type = VIRTIO_GPU_CMD_SUBMIT_3D,
		.hdr.ctx_id = 1,
	};
	uint32_t buf[16];
	struct target t;
	struct venc e;

	start();
	target_new(&t, 1, true, 1);
	venc_init(&e, buf, ARRAY_SIZE(buf));
	clear_stream(&e, &t, 0xff424242);
	c.size = (uint32_t)venc_bytes(&e);
	for (unsigned i = 0; i < 8; i++)
		OK(place_fenced(&c, sizeof(c), e.buf, venc_bytes(&e), 1 + i));
	OK(vuf_vq_kick(&F, 0));
	OK(vuf_qemu_stop(&F, VUF_QEMU_10_0));
	/* Whatever the fences did, all eight are used now. */
	cr_assert_eq(F.vq[0].base, F.vq[0].drv.avail_idx);
	OK(vuf_vq_wait_pending(&F, 0, 8, -1));
	for (unsigned i = 0; i < 8; i++) {
		unsigned head;
		uint32_t len;

		OK(vuf_vq_get_used(&F, 0, &head, &len));
	}
	OK(vuf_qemu_start(&F, VUF_QEMU_10_0));
	NODATA(clear(&t, 0xff434343));
	NODATA(read_back(1, 1));
	expect_backing(&t, 0xff434343, false);
}

/* ================= the display ================= */

/* SET_SCANOUT of a rendered resource and RESOURCE_FLUSH: the display
 * gets SCANOUT and an UPDATE with the clear colour; the next frame
 * replaces it. */
Test(virgl, scanout_shows_rendered_frames)
{
	const struct vuf_scanout *so = &F.display.scanout[0];
	static const uint32_t frames[] = { 0xff2080f0, 0xff00ff00, 0xfff00010 };
	struct target t;

	start();
	target_new(&t, 1, true, 1);
	NODATA(clear(&t, frames[0]));
	NODATA(set_scanout(0, 1));
	NODATA(flush(1));
	OK(vuf_display_wait_count(&F, DPY_SCANOUT, 1, -1));
	expect_display(0, frames[0]);
	cr_assert(so->width == W && so->height == H);
	for (unsigned i = 1; i < ARRAY_SIZE(frames); i++) {
		unsigned updates = so->updates;

		NODATA(clear(&t, frames[i]));
		NODATA(flush(1));
		expect_display(0, frames[i]);
		cr_assert(so->updates > updates);
	}
	/* The scanout goes dark with the resource. */
	NODATA(vuf_gpu_unref(&F, 1));
	OK(vuf_display_wait_count(&F, DPY_SCANOUT, 2, -1));
	cr_assert(so->width == 0 && so->height == 0);
}

/* SET_SCANOUT alone (no flush yet) already shows what is in the
 * resource, as QEMU's virgl device does. */
Test(virgl, scanout_shows_content_before_flush)
{
	struct target t;

	start();
	target_new(&t, 1, true, 1);
	NODATA(clear(&t, 0xff5080a0));
	NODATA(set_scanout(0, 1));
	OK(vuf_display_wait_count(&F, DPY_UPDATE, 1, -1));
	expect_display(0, 0xff5080a0);
}

/* A pseudo-random pixel: every pixel and every seed differ. */
static uint32_t
pattern(uint32_t x, uint32_t y, uint32_t seed)
{
	uint32_t v = x * 0x9e3779b1u ^ y * 0x85ebca77u ^ (seed + 1) * 0xc2b2ae3du;

	v ^= v >> 15;
	v *= 0x2c1b3c6du;
	return v ^ (v >> 12);
}

struct want {
	uint32_t px[W * H];	/* x8r8g8b8 */
};

static bool
fb_equal(struct vuf *f, void *arg)
{
	const struct want *wa = arg;
	const struct vuf_scanout *s = &f->display.scanout[0];

	if (s->width != W || s->height != H)
		return false;
	for (size_t i = 0; i < (size_t)W * H; i++)
		if (RGB(s->fb[i] ^ wa->px[i]))
			return false;
	return true;
}

static void
expect_fb(const struct want *wa)
{
	const struct vuf_scanout *s = &F.display.scanout[0];

	if (vuf_display_wait(&F, fb_equal, (void *)wa, -1) == 0)
		return;
	cr_assert(s->width == W && s->height == H, "the display has %ux%u",
		  s->width, s->height);
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x++)
			cr_assert_eq(RGB(s->fb[y * W + x]), RGB(wa->px[y * W + x]),
				     "pixel (%u,%u): display 0x%06x, guest 0x%06x",
				     x, y, RGB(s->fb[y * W + x]),
				     RGB(wa->px[y * W + x]));
}

/* A pattern into guest memory (the backing at mem) and into wa. */
static void
fill_pattern(uint8_t *mem, struct want *wa, uint32_t seed)
{
	for (uint32_t i = 0; i < W * H; i++) {
		wa->px[i] = pattern(i % W, i / W, seed);
		memcpy(mem + (size_t)i * 4, &wa->px[i], 4);
	}
}

static void
expect_pattern(const uint8_t *mem, const struct want *wa, const char *what)
{
	for (uint32_t i = 0; i < W * H; i++) {
		uint32_t v;

		memcpy(&v, mem + (size_t)i * 4, 4);
		cr_assert_eq(RGB(v), RGB(wa->px[i]), "%s (%u,%u): 0x%06x, want "
			     "0x%06x", what, i % W, i / W, RGB(v), RGB(wa->px[i]));
	}
	expect_canary(mem, RES_BYTES, what);
}

/* What a 2D guest does on a virgl device: CREATE_2D, TRANSFER_TO_HOST_2D
 * of a pattern, SET_SCANOUT, FLUSH. The display shows the pattern
 * exactly, top row first; a sub-rectangle transfer (offset where its
 * rows start, resource stride) lands where it belongs. */
Test(virgl, commands_2d_on_virgl_resources)
{
	static struct want wa;
	struct virtio_gpu_mem_entry ent;
	struct vuf_rect sub = { 5, 7, 20, 9 };
	uint64_t gpa;
	uint8_t *mem;

	start();
	mem = guest_alloc(RES_BYTES, &gpa);
	NODATA(vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, W, H));
	ent = (struct virtio_gpu_mem_entry){ .addr = gpa, .length = RES_BYTES };
	NODATA(vuf_gpu_attach_backing(&F, 1, &ent, 1));
	fill_pattern(mem, &wa, 1);
	NODATA(vuf_gpu_transfer_2d(&F, 1, (struct vuf_rect){ 0, 0, W, H }, 0));
	NODATA(set_scanout(0, 1));
	NODATA(flush(1));
	expect_fb(&wa);

	for (uint32_t y = sub.y; y < sub.y + sub.height; y++)
		for (uint32_t x = sub.x; x < sub.x + sub.width; x++) {
			wa.px[y * W + x] = pattern(x, y, 2);
			memcpy(mem + ((size_t)y * W + x) * 4, &wa.px[y * W + x], 4);
		}
	NODATA(vuf_gpu_transfer_2d(&F, 1, sub, (uint64_t)sub.y * STRIDE + sub.x * 4));
	NODATA(vuf_gpu_flush(&F, 1, sub));
	expect_fb(&wa);

	/* Read back through the 3D path into a fresh backing: the same
	 * pixels, in the same orientation. */
	NODATA(vuf_gpu_detach_backing(&F, 1));
	mem = guest_alloc(RES_BYTES, &gpa);
	ent.addr = gpa;
	NODATA(vuf_gpu_attach_backing(&F, 1, &ent, 1));
	NODATA(read_back(0, 1));
	expect_pattern(mem, &wa, "read back");
}

/* A resource made with CREATE_2D is a render target too: a context can
 * clear it and the display shows that. */
Test(virgl, render_into_2d_resource)
{
	uint32_t buf[32];
	struct venc e;
	float rgba[4];

	start();
	NODATA(ctx_create(1));
	NODATA(vuf_gpu_create_2d(&F, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, W, H));
	NODATA(ctx_attach(1, 1));
	venc_init(&e, buf, ARRAY_SIZE(buf));
	rgba_of(0xff7a5b3c, rgba);
	venc_create_surface(&e, 9, 1, VENC_FORMAT_B8G8R8X8_UNORM, 0, 0, 0);
	venc_set_framebuffer(&e, 9, 0);
	venc_clear_color(&e, rgba);
	NODATA(submit(1, &e));
	NODATA(set_scanout(0, 1));
	NODATA(flush(1));
	expect_display(0, 0xff7a5b3c);
}

/*
 * TRANSFER_TO_HOST_3D of a pattern and back, on a resource made as a
 * guest's Mesa makes scanout buffers (Y_0_TOP) and on one made without:
 * the round trip gives the pattern back, and the Y_0_TOP one shows on
 * the display exactly, top row first.
 */
Test(virgl, transfer_3d_pattern_round_trip)
{
	static struct want wa;
	struct virtio_gpu_mem_entry ent;

	start();
	for (uint32_t flags = 0; flags < 2; flags++) {
		uint32_t id = 1 + flags;
		uint64_t gpa;
		uint8_t *mem = guest_alloc(RES_BYTES, &gpa);

		NODATA(create_3d_flags(id, VENC_FORMAT_B8G8R8X8_UNORM,
				       VENC_BIND_RENDER_TARGET | VENC_BIND_SAMPLER_VIEW,
				       W, H, flags ? VIRTIO_GPU_RESOURCE_FLAG_Y_0_TOP : 0));
		ent = (struct virtio_gpu_mem_entry){ .addr = gpa, .length = RES_BYTES };
		NODATA(vuf_gpu_attach_backing(&F, id, &ent, 1));
		fill_pattern(mem, &wa, 10 + flags);
		NODATA(transfer_3d(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, 0, id, whole, 0,
				   STRIDE));
		memset(mem, 0, RES_BYTES);
		NODATA(read_back(0, id));
		expect_pattern(mem, &wa, flags ? "Y_0_TOP round trip" : "round trip");
	}
	NODATA(set_scanout(0, 2));
	NODATA(flush(2));
	expect_fb(&wa);
}

/* A flush of part of a virgl scanout reads back that part only: the
 * rest of the display keeps the previous frame. */
Test(virgl, partial_flush_of_a_virgl_scanout)
{
	const struct vuf_rect part = { 8, 4, 16, 10 };
	static struct want wa;
	struct target t;

	start();
	target_new(&t, 1, true, 1);
	NODATA(clear(&t, 0xffff0000));
	NODATA(set_scanout(0, 1));
	NODATA(flush(1));
	expect_display(0, 0xffff0000);
	NODATA(clear(&t, 0xff00ff00));
	NODATA(vuf_gpu_flush(&F, 1, part));
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < W; x++)
			wa.px[y * W + x] = x >= part.x && x < part.x + part.width &&
					   y >= part.y && y < part.y + part.height ?
					   0x00ff00 : 0xff0000;
	expect_fb(&wa);
}

/* ================= hostile SUBMIT_3D ================= */

Test(virgl, submit_refused)
{
	static const struct {
		const char *name;
		uint32_t ctx;
		uint32_t sent;		/* stream bytes in the chain */
		uint32_t size;		/* what the command says */
		uint32_t want;
	} cases[] = {
		{ "size not a multiple of 4", 1, 48, 46,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "size 1", 1, 48, 1, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "size past the chain", 1, 48, 52,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "size with nothing sent", 1, 0, 4,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "size 16 MiB, 48 bytes sent", 1, 48, MAX_SUBMIT,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "size over 16 MiB", 1, 48, MAX_SUBMIT + 4,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "size 4 GiB - 4", 1, 48, 0xfffffffcu,
		  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER },
		{ "unknown context", 9, 48, 48,
		  VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID },
		{ "context 0", 0, 48, 48, VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID },
		{ "size 0", 1, 0, 0, VIRTIO_GPU_RESP_OK_NODATA },
		{ "size 0, bytes sent", 1, 48, 0, VIRTIO_GPU_RESP_OK_NODATA },
	};
	uint32_t buf[16] = { 0 };	/* NOPs */
	struct virtio_gpu_cmd_submit c = { .hdr.type = VIRTIO_GPU_CMD_SUBMIT_3D };
	struct target t;

	start();
	target_new(&t, 1, true, 1);
	for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
		int r = submit_sized(cases[i].ctx, buf, cases[i].sent, cases[i].size);

		cr_assert_eq(r, (int)cases[i].want, "%s: %s, want %s\nstderr:\n%s",
			     cases[i].name, resp_name(r),
			     resp_name((int)cases[i].want), F.err);
	}
	/* Shorter than its struct: refused before anything is read. */
	RESP(VIRTIO_GPU_RESP_ERR_UNSPEC, cmd_type(&c, sizeof(c) - 4));
	/* The context still renders. */
	NODATA(clear(&t, 0xff303030));
	NODATA(read_back(1, 1));
	expect_backing(&t, 0xff303030, false);
}

/* A stream larger than one descriptor's slot, that the daemon copies
 * whole (NOPs, then the clear). */
Test(virgl, submit_large_stream)
{
	static uint32_t buf[60000];
	struct target t;
	struct venc e;

	start();
	target_new(&t, 1, true, 1);
	venc_init(&e, buf, ARRAY_SIZE(buf));
	while (e.len < ARRAY_SIZE(buf) - 32)
		venc_cmd(&e, VENC_CCMD_NOP, 0, NULL, 0);
	clear_stream(&e, &t, 0xff0f1e2d);
	NODATA(submit(1, &e));
	NODATA(read_back(1, 1));
	expect_backing(&t, 0xff0f1e2d, false);
}

static uint64_t rng_state;

static uint32_t
rng(void)
{
	/* xorshift64*: deterministic per seed */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

/* After garbage, the context either renders again or is refused as
 * broken; a fresh context always renders. */
static void
after_garbage(struct target *t, uint32_t fresh_ctx, uint32_t fresh_res)
{
	struct target n;
	int r;

	expect_alive();
	r = clear(t, 0xff6b6b6b);
	if (r == VIRTIO_GPU_RESP_OK_NODATA) {
		memset(t->mem, 0, RES_BYTES);
		NODATA(read_back(t->ctx, t->id));
		/* virglrenderer may have let the garbage change state we
		 * rely on (another framebuffer): then only liveness counts. */
	} else {
		ERROR(r);
	}
	target_new(&n, fresh_ctx, true, fresh_res);
	NODATA(clear(&n, 0xff5a5a5a));
	NODATA(read_back(fresh_ctx, fresh_res));
	expect_backing(&n, 0xff5a5a5a, false);
}

/* Random dwords: refused or accepted, never a crash. */
Test(virgl, submit_garbage_random_dwords)
{
	static uint32_t buf[1024];
	struct target t;

	start();
	target_new(&t, 1, true, 1);
	for (unsigned seed = 1; seed <= 64; seed++) {
		uint32_t n = 1 + seed * 13 % ARRAY_SIZE(buf);
		int r;

		rng_state = 0x9e3779b97f4a7c15ull * seed;
		for (uint32_t i = 0; i < n; i++)
			buf[i] = rng();
		r = submit_sized(1, buf, n * 4, n * 4);
		cr_assert(r == VIRTIO_GPU_RESP_OK_NODATA || is_error(r),
			  "seed %u: %s\nstderr:\n%s", seed, resp_name(r), F.err);
		cr_assert(vuf_alive(&F), "seed %u killed the daemon\nstderr:\n%s",
			  seed, F.err);
	}
	after_garbage(&t, 2, 2);
}

/*
 * Garbage that gets further: headers of real commands (ids 0..63, any
 * object type below 16) with lengths that fit, and payloads of small
 * numbers, so that handles, formats and counts hit real objects.
 */
Test(virgl, submit_garbage_plausible_headers)
{
	static uint32_t buf[512];
	struct target t;

	start();
	target_new(&t, 1, true, 1);
	for (unsigned seed = 1; seed <= 64; seed++) {
		struct venc e;
		int r;

		rng_state = 0xd1b54a32d192ed03ull * seed;
		venc_init(&e, buf, ARRAY_SIZE(buf));
		while (e.len < ARRAY_SIZE(buf) - 1) {
			uint32_t room = (uint32_t)(ARRAY_SIZE(buf) - e.len - 1);
			uint32_t p[32], n = rng() % 32;

			if (n > room)
				n = room;
			for (uint32_t i = 0; i < n; i++)
				p[i] = rng() % 4 ? rng() % 8 : rng();
			venc_cmd(&e, rng() % 64, rng() % 16, p, n);
		}
		r = submit(1, &e);
		cr_assert(r == VIRTIO_GPU_RESP_OK_NODATA || is_error(r),
			  "seed %u: %s", seed, resp_name(r));
		cr_assert(vuf_alive(&F), "seed %u killed the daemon\nstderr:\n%s",
			  seed, F.err);
	}
	after_garbage(&t, 2, 2);
}

/* A header whose length runs past the end of the stream. */
Test(virgl, submit_lying_lengths)
{
	static const uint32_t streams[][4] = {
		{ VENC_CMD(VENC_CCMD_CLEAR, 0, 8), 4, 0, 0 },
		{ VENC_CMD(VENC_CCMD_CREATE_OBJECT, VENC_OBJ_SURFACE, 0xffff), 1, 1, 2 },
		{ VENC_CMD(VENC_CCMD_SET_FRAMEBUFFER_STATE, 0, 0xffff), 8, 0, 1 },
		{ VENC_CMD(VENC_CCMD_SET_FRAMEBUFFER_STATE, 0, 3), 0xffffffffu, 0, 1 },
		{ VENC_CMD(VENC_CCMD_CREATE_OBJECT, VENC_OBJ_SURFACE, 1), 5, 0, 0 },
		{ VENC_CMD(255, 255, 0), 0, 0, 0 },
	};
	struct target t;

	start();
	target_new(&t, 1, true, 1);
	for (unsigned i = 0; i < ARRAY_SIZE(streams); i++) {
		int r = submit_sized(1, streams[i], sizeof(streams[i]),
				     sizeof(streams[i]));

		cr_assert(r == VIRTIO_GPU_RESP_OK_NODATA || is_error(r),
			  "stream %u: %s", i, resp_name(r));
		cr_assert(vuf_alive(&F), "stream %u killed the daemon\nstderr:\n%s",
			  i, F.err);
	}
	after_garbage(&t, 2, 2);
}

/* ================= hostile TRANSFER_*_3D ================= */

/*
 * virglrenderer marks a context "in error" when it refuses a transfer made
 * through it, and from then on refuses to switch back to it: the context
 * is reported broken (as a guest's Mesa would see it). Context 0, which
 * the daemon itself uses for scanout read-backs and 2D transfers, is
 * exempt. So each hostile case is tried through context 0 and through
 * context 1, and what must survive is checked through context 0.
 */
struct transfer_case {
	const char *name;
	uint32_t res;
	struct virtio_gpu_box box;
	uint64_t offset;
	uint32_t stride, level;
	uint32_t want;		/* 0: any error */
};

static const uint32_t transfer_types[] = {
	VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D,
	VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D,
};

/* Every case refused through either context, through either direction;
 * the daemon alive, nothing written past the backing, and resource 1
 * (cleared to 0xff777777) intact as read through context 0. */
static void
transfer_cases_refused(const struct target *t, const struct transfer_case *cases,
		       unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		for (unsigned d = 0; d < ARRAY_SIZE(transfer_types); d++)
			for (uint32_t ctx = 0; ctx < 2; ctx++) {
				const struct transfer_case *c = &cases[i];
				struct virtio_gpu_transfer_host_3d tr =
					transfer_req(transfer_types[d], ctx, c->res,
						     c->box, c->offset, c->stride);
				const char *dir = d ? "from" : "to";
				int r;

				tr.level = c->level;
				r = cmd_type(&tr, sizeof(tr));
				cr_assert(vuf_alive(&F), "%s %s (ctx %u) killed the "
					  "daemon (status 0x%x)\nstderr:\n%s", dir,
					  c->name, ctx, F.status, F.err);
				if (c->want)
					cr_assert_eq(r, (int)c->want,
						     "%s %s (ctx %u): %s, want %s", dir,
						     c->name, ctx, resp_name(r),
						     resp_name((int)c->want));
				else
					cr_assert(is_error(r), "%s %s (ctx %u): %s",
						  dir, c->name, ctx, resp_name(r));
				expect_canary(t->mem, RES_BYTES, c->name);
				r = read_back(0, 1);
				cr_assert_eq(r, VIRTIO_GPU_RESP_OK_NODATA,
					     "after %s %s (ctx %u), a good read-back "
					     "gets %s", dir, c->name, ctx, resp_name(r));
				expect_backing(t, 0xff777777, false);
			}
}

/* Resource 1 (W x H, cleared) with its backing, resource 2 without one,
 * both attached to context 1. */
static void
transfer_setup(struct target *t)
{
	start();
	target_new(t, 1, true, 1);
	NODATA(create_3d(2, VENC_FORMAT_B8G8R8X8_UNORM, VENC_BIND_RENDER_TARGET, W, H));
	NODATA(ctx_attach(1, 2));
	NODATA(clear(t, 0xff777777));
}

Test(virgl, transfer_3d_refused)
{
	static const struct transfer_case cases[] = {
		{ "box past the right edge", 1, { 60, 0, 0, 8, 1, 1 }, 0, STRIDE, 0, 0 },
		{ "box past the bottom", 1, { 0, 40, 0, 1, 16, 1 }, 0, STRIDE, 0, 0 },
		{ "box x wraps", 1, { 0xfffffff0u, 0, 0, 0x20, 1, 1 }, 0, STRIDE, 0, 0 },
		{ "box y wraps", 1, { 0, 0xfffffff0u, 0, 1, 0x20, 1 }, 0, STRIDE, 0, 0 },
		{ "box z past the depth", 1, { 0, 0, 1, 1, 1, 1 }, 0, STRIDE, 0, 0 },
		{ "box depth 2", 1, { 0, 0, 0, W, H, 2 }, 0, STRIDE, 0, 0 },
		{ "huge box", 1, { 0, 0, 0, 0xffffffffu, 0xffffffffu, 0xffffffffu },
		  0, STRIDE, 0, 0 },
		{ "width -5", 1, { 0, 0, 0, 0xfffffffbu, 1, 1 }, 0, STRIDE, 0, 0 },
		{ "height -5", 1, { 0, 0, 0, 1, 0xfffffffbu, 1 }, 0, STRIDE, 0, 0 },
		{ "width 2^31", 1, { 0, 0, 0, 0x80000000u, 1, 1 }, 0, STRIDE, 0, 0 },
		{ "height 2^31", 1, { 0, 0, 0, 1, 0x80000000u, 1 }, 0, STRIDE, 0, 0 },
		{ "x 4, width -4", 1, { 4, 0, 0, 0xfffffffcu, 1, 1 }, 0, STRIDE, 0, 0 },
		{ "y 4, height -4", 1, { 0, 4, 0, 1, 0xfffffffcu, 1 }, 0, STRIDE, 0, 0 },
		{ "z -1, depth 2", 1, { 0, 0, 0xffffffffu, 1, 1, 2 }, 0, STRIDE, 0, 0 },
		{ "level 1 of 1", 1, { 0, 0, 0, 1, 1, 1 }, 0, STRIDE, 1, 0 },
		{ "level 32", 1, { 0, 0, 0, 1, 1, 1 }, 0, STRIDE, 32, 0 },
		{ "offset at the end of the backing", 1, { 0, 0, 0, 1, 1, 1 },
		  RES_BYTES, STRIDE, 0, 0 },
		{ "last pixel past the backing", 1, { 0, 0, 0, W, H, 1 },
		  4, STRIDE, 0, 0 },
		{ "offset 2^63", 1, { 0, 0, 0, 1, 1, 1 }, 1ull << 63, STRIDE, 0, 0 },
		{ "offset ~0", 1, { 0, 0, 0, 1, 1, 1 }, ~0ull, STRIDE, 0, 0 },
		{ "stride 2^31 (no wrap)", 1, { 0, 0, 0, 1, 2, 1 }, 0,
		  0x80000000u, 0, 0 },
		{ "stride 2^32 / 3 (no wrap)", 1, { 0, 0, 0, 1, 3, 1 }, 0,
		  0x55555556u, 0, 0 },
		{ "stride past the backing", 1, { 0, 0, 0, 1, 2, 1 }, 0,
		  RES_BYTES, 0, 0 },
		{ "stride below a row", 1, { 0, 0, 0, W, 2, 1 }, 0, STRIDE - 4, 0, 0 },
		{ "unknown resource", 7, { 0, 0, 0, 1, 1, 1 }, 0, STRIDE, 0,
		  VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID },
		{ "resource 0", 0, { 0, 0, 0, 1, 1, 1 }, 0, STRIDE, 0,
		  VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID },
		{ "resource without a backing", 2, { 0, 0, 0, 1, 1, 1 }, 0,
		  STRIDE, 0, 0 },
	};
	struct virtio_gpu_transfer_host_3d tr;
	struct target t;

	transfer_setup(&t);
	transfer_cases_refused(&t, cases, ARRAY_SIZE(cases));
	/* An unknown context, either direction. */
	tr = transfer_req(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, 9, 1, whole, 0, STRIDE);
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID, cmd_type(&tr, sizeof(tr)));
	tr.hdr.type = VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D;
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID, cmd_type(&tr, sizeof(tr)));
	/* A fresh context renders into the same resource. */
	{
		struct target t3 = t;
		uint32_t buf[16];
		struct venc e;

		t3.ctx = 3;
		NODATA(ctx_create(3));
		NODATA(ctx_attach(3, 1));
		venc_init(&e, buf, ARRAY_SIZE(buf));
		venc_create_surface(&e, t3.surface, 1, VENC_FORMAT_B8G8R8X8_UNORM,
				    0, 0, 0);
		NODATA(submit(3, &e));
		NODATA(clear(&t3, 0xff787878));
		NODATA(read_back(3, 1));
		expect_backing(&t3, 0xff787878, false);
	}
}

/*
 * The mip level goes to virglrenderer 0.10.4 as an int, which only checks
 * level > last_level: a level of 2^31 or more is negative there, passes,
 * and TRANSFER_TO_HOST_3D then stores to mipmap_offsets[level], outside
 * the resource: SIGSEGV at 0x80000000; at 0xffffffff the word just before
 * the array is overwritten, and the resource's later transfers fail. The
 * daemon must refuse levels the resource does not have.
 */
Test(virgl, transfer_3d_level_out_of_range)
{
	static const struct transfer_case cases[] = {
		{ "level 31", 1, { 0, 0, 0, 1, 1, 1 }, 0, STRIDE, 31, 0 },
		{ "level 2^31 - 1", 1, { 0, 0, 0, 1, 1, 1 }, 0, STRIDE, 0x7fffffffu, 0 },
		{ "level ~0 (-1)", 1, { 0, 0, 0, 1, 1, 1 }, 0, STRIDE, 0xffffffffu, 0 },
		{ "level -2", 1, { 0, 0, 0, 1, 1, 1 }, 0, STRIDE, 0xfffffffeu, 0 },
		{ "level -31", 1, { 0, 0, 0, 32, 24, 1 }, 0, STRIDE, 0xffffffe1u, 0 },
		{ "level 2^31", 1, { 0, 0, 0, 1, 1, 1 }, 0, STRIDE, 0x80000000u, 0 },
	};
	struct target t;

	transfer_setup(&t);
	transfer_cases_refused(&t, cases, ARRAY_SIZE(cases));
}

/*
 * virglrenderer 0.10.4 checks a TRANSFER_TO_HOST_3D's extent against the
 * backing in 32 bits: stride * (rows - 1) that wraps past 2^32 looks
 * small, passes, and the upload then reads rows gigabytes past the guest's
 * buffer, outside guest memory: SIGSEGV, or host memory in the texture
 * that the guest can read back. The daemon knows the backing's length and
 * must check offset + stride * (h - 1) + row bytes (and layer_stride *
 * (d - 1)) in 64 bits itself, as it does for TRANSFER_TO_HOST_2D.
 */
Test(virgl, transfer_3d_stride_wraps_32_bits)
{
	static const struct transfer_case cases[] = {
		{ "2 rows, stride ~0", 1, { 0, 0, 0, 1, 2, 1 }, 0, 0xffffffffu, 0, 0 },
		{ "2 rows, stride 2^32 - 4", 1, { 0, 0, 0, 1, 2, 1 }, 0,
		  0xfffffffcu, 0, 0 },
		{ "3 rows, stride 2^31", 1, { 0, 0, 0, 1, 3, 1 }, 0, 0x80000000u, 0, 0 },
		{ "17 rows, stride 2^28", 1, { 0, 0, 0, 1, 17, 1 }, 0, 1u << 28, 0, 0 },
		{ "48 rows, stride 2^32 / 47", 1, { 0, 0, 0, 1, 48, 1 }, 0,
		  91382284u, 0, 0 },
	};
	struct target t;

	transfer_setup(&t);
	transfer_cases_refused(&t, cases, ARRAY_SIZE(cases));
}

/* A context the resource is not attached to cannot transfer it. */
Test(virgl, transfer_3d_unattached_context)
{
	struct target t;
	int r;

	start();
	target_new(&t, 1, true, 1);
	NODATA(ctx_create(2));
	NODATA(clear(&t, 0xff818181));
	r = read_back(2, 1);
	cr_assert(is_error(r), "read-back through a context without the "
		  "resource: %s", resp_name(r));
	expect_alive();
}

/* 3D commands before any context, on a 2D-only device (no --virgl). */
Test(virgl, without_virgl_3d_is_refused)
{
	struct virtio_gpu_resp_capset_info info;
	struct virtio_gpu_config cfg;
	uint32_t buf[4] = { 0 };
	int r;

	require_virgl();
	r = vuf_spawn_fd(&F, NULL);
	cr_assert(r == 0, "cannot start %s: %s", vuf_daemon_path(), strerror(-r));
	OK(vuf_gpu_memory(&F, REGION, REGION, CTRL_NUM));
	OK(vuf_qemu_handshake(&F, VUF_QEMU_10_0));
	cr_assert(!(F.features & PF(VIRTIO_GPU_F_VIRGL)));
	cr_assert_eq(vuf_get_config(&F, 0, sizeof(cfg), &cfg), (int)sizeof(cfg));
	cr_assert_eq(cfg.num_capsets, 0);
	RESP(VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER, capset_info(0, &info));
	ERROR(ctx_create(1));
	ERROR(create_3d(1, VENC_FORMAT_B8G8R8X8_UNORM, VENC_BIND_RENDER_TARGET, W, H));
	ERROR(submit_sized(1, buf, sizeof(buf), sizeof(buf)));
	ERROR(transfer_3d(VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D, 0, 1, whole, 0,
			  STRIDE));
	expect_alive();
}

/*
 * The same level and size bugs of virglrenderer 0.10.4, reached through a
 * command stream instead of a TRANSFER_*_3D command: RESOURCE_INLINE_WRITE
 * or TRANSFER3D with a level of 2^31 (an int gone negative, indexing outside
 * the resource), and a TRANSFER3D whose stride wraps virglrenderer's 32-bit
 * size check. The daemon walks each copied stream and refuses these.
 */
Test(virgl, stream_levels_and_strides_refused)
{
	struct target t;
	const uint32_t id = 1;
	/* header, res, level, usage, stride, layer stride, x, y, z, w, h, d,
	 * then (TRANSFER3D) data offset and direction */
	const uint32_t bad[][14] = {
		{ VENC_CMD(9, 0, 12), id, 0x80000000u, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0 },
		{ VENC_CMD(9, 0, 12), id, 0xffffffffu, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0 },
		{ VENC_CMD(43, 0, 13), id, 0x80000000u, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1 },
		{ VENC_CMD(43, 0, 13), id, 0, 0, 0x80000000u, 0, 0, 0, 0, 1, 3, 1, 0, 1 },
		{ VENC_CMD(43, 0, 13), id, 0, 0, 0x10000000u, 0, 0, 0, 0, 1, 17, 1, 0, 1 },
		{ VENC_CMD(45, 0, 13), id, 0x80000000u, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0 },
		{ VENC_CMD(47, 0, 12), id, 0x80000000u, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0 },
	};

	start();
	target_new(&t, 1, true, id);
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		uint32_t ndw = (bad[i][0] >> 16) + 1;
		int r = submit_sized(1, bad[i], ndw * 4, ndw * 4);

		cr_assert_eq(r, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
			     "stream %u: %s", i, resp_name(r));
		cr_assert(vuf_alive(&F), "stream %u killed the daemon\nstderr:\n%s",
			  i, F.err);
	}
	/* The context was never handed those streams: it still renders. */
	NODATA(clear(&t, 0xff336699));
	NODATA(read_back(t.ctx, t.id));
	expect_backing(&t, 0xff336699, false);
}

/* The context limit: 1024 live contexts, then ERR_OUT_OF_MEMORY until one
 * goes. */
Test(virgl, context_limit)
{
	start();
	for (uint32_t id = 1; id <= 1024; id++)
		NODATA(ctx_create(id));
	RESP(VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY, ctx_create(1025));
	NODATA(ctx_destroy(512));
	NODATA(ctx_create(1025));
	RESP(VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY, ctx_create(1026));
	expect_alive();
}
