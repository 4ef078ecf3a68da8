/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virglrenderer glue.
 *
 * Security model: the guest controls every 3D command: context ids,
 * resource parameters, boxes, offsets, strides and the command streams
 * virglrenderer decodes. We check what virglrenderer cannot know (that a
 * context or resource exists as far as the guest is concerned, that a
 * submit's size lies inside its chain and under a cap), and what it gets
 * wrong (levels and transfer sizes, see transfer_ok), and copy each
 * command stream once into our own buffer, so that virglrenderer never
 * parses memory the guest can change underneath it. Capset requests are
 * checked for id, version and the response buffer's size before anything
 * is written (the bugs behind CVE-2021-3545/3546 in QEMU's backend).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "proto/gpu_cmd.h"
#include "proto/vring.h"
#include "render/gpu.h"
#include "render/virgl.h"

#ifndef VUGPU_NO_VIRGL

#define VIRGL_RENDERER_UNSTABLE_APIS
#include <virgl/virglrenderer.h>

/*
 * virglrenderer's public header leaves struct virgl_box opaque; it is six
 * u32 (x, y, z, w, h, d), the layout of the virtio box, which is what its
 * users hand it.
 */
static_assert(sizeof(struct virtio_gpu_box) == 24, "virtio box");
#define VBOX(b) ((struct virgl_box *)(b))

/* virglrenderer is one per process: so is its glue. */
static struct {
	bool active;
	struct gpu *gpu;
	char node[256];			/* render node for GBM, "" if none */
	uint32_t ctx[VIRGL_MAX_CONTEXTS];
	unsigned nctx;
	uint8_t *submit;		/* the copied command stream */
	size_t submit_cap;
	uint32_t capset_ver[VIRGL_NUM_CAPSETS], capset_size[VIRGL_NUM_CAPSETS];
} vs;

bool
virgl_available(void)
{
	return true;
}

static void
cb_write_fence(void *cookie, uint32_t fence)
{
	gpu_virgl_fence_done(cookie, fence, 0, 0, false);
}

static void
cb_write_context_fence(void *cookie, uint32_t ctx_id, uint32_t ring_idx,
		       uint64_t fence_id)
{
	gpu_virgl_fence_done(cookie, fence_id, ctx_id, ring_idx, true);
}

static int
cb_get_drm_fd(void *cookie)
{
	int fd;

	/* Asked even in surfaceless mode: no node, no fd. */
	if (!vs.node[0])
		return -1;
	fd = open(vs.node, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		log_error("virgl: cannot open %s: %s", vs.node, strerror(errno));
	return fd;
}

static struct virgl_renderer_callbacks callbacks = {
	.version = 4,
	.write_fence = cb_write_fence,
	.get_drm_fd = cb_get_drm_fd,
	.write_context_fence = cb_write_context_fence,
};

static bool
first_render_node(char *out, size_t cap)
{
	for (int i = 128; i < 192; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/dev/dri/renderD%d", i);
		if (access(path, R_OK | W_OK) == 0) {
			snprintf(out, cap, "%s", path);
			return true;
		}
	}
	return false;
}

int
virgl_start(struct gpu *g, const char *render_node, bool surfaceless,
	    const char **why)
{
	int flags = VIRGL_RENDERER_USE_EGL | VIRGL_RENDERER_THREAD_SYNC;
	int ret;

	memset(&vs, 0, sizeof(vs));
	vs.gpu = g;
	if (!surfaceless) {
		if (render_node) {
			if (strlen(render_node) >= sizeof(vs.node)) {
				*why = "render node path too long";
				return -ENAMETOOLONG;
			}
			strcpy(vs.node, render_node);
			if (access(vs.node, R_OK | W_OK) < 0) {
				*why = "cannot open the render node";
				return -errno;
			}
		} else if (!first_render_node(vs.node, sizeof(vs.node))) {
			surfaceless = true;
		}
	}
	if (surfaceless) {
		flags |= VIRGL_RENDERER_USE_SURFACELESS;
		log_info("virgl: rendering on EGL surfaceless (%s)",
			 vs.node[0] ? "--surfaceless" :
			 "no render node: Mesa's software driver where there is no GPU");
		vs.node[0] = 0;
	} else {
		log_info("virgl: rendering on %s (GBM + EGL)", vs.node);
	}
	/* The cookie must not be NULL: virglrenderer refuses one. */
	ret = virgl_renderer_init(g, flags, &callbacks);
	if (ret) {
		*why = "virglrenderer could not start (EGL/GL too old or missing?)";
		return -EIO;
	}
	/* Fences complete on virglrenderer's sync thread and are announced
	 * on this fd; we never poll, so without it they would never be
	 * seen. */
	if (virgl_renderer_get_poll_fd() < 0) {
		virgl_renderer_cleanup(g);
		*why = "virglrenderer offers no fence fd (built without thread sync?)";
		return -ENOTSUP;
	}
	for (unsigned i = 0; i < VIRGL_NUM_CAPSETS; i++)
		virgl_renderer_get_cap_set(i + 1, &vs.capset_ver[i],
					   &vs.capset_size[i]);
	if (!vs.capset_size[0]) {
		virgl_renderer_cleanup(g);
		*why = "virglrenderer offers no capsets";
		return -EIO;
	}
	vs.active = true;
	return 0;
}

void
virgl_stop(struct gpu *g)
{
	if (!vs.active)
		return;
	/*
	 * Only called as the process exits. virglrenderer's cleanup would
	 * unload Mesa's driver, which leaves an allocation behind that
	 * LeakSanitizer can then neither reach nor name; the kernel takes
	 * the renderer down with the process instead. Contexts go first, so
	 * that the GPU work the guest left is dropped in order.
	 */
	virgl_reset(g);
	free(vs.submit);
	vs.submit = NULL;
	vs.active = false;
}

int
virgl_poll_fd(void)
{
	return vs.active ? virgl_renderer_get_poll_fd() : -1;
}

void
virgl_poll(struct gpu *g)
{
	if (vs.active)
		virgl_renderer_poll();
}

unsigned
virgl_num_capsets(void)
{
	/* VIRGL2 only where virglrenderer has it (VIRGL always). */
	return vs.capset_size[1] ? 2 : 1;
}

uint32_t
virgl_capset_info(uint32_t index, uint32_t *id, uint32_t *max_ver,
		  uint32_t *max_size)
{
	if (index >= virgl_num_capsets() || !vs.capset_size[index])
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	*id = index + 1;	/* VIRTIO_GPU_CAPSET_VIRGL, _VIRGL2 */
	*max_ver = vs.capset_ver[index];
	*max_size = vs.capset_size[index];
	return VIRTIO_GPU_RESP_OK_CAPSET_INFO;
}

uint32_t
virgl_capset(uint32_t id, uint32_t version, void *caps, uint32_t max_size)
{
	if (id < 1 || id > VIRGL_NUM_CAPSETS || !vs.capset_size[id - 1])
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (version > vs.capset_ver[id - 1] ||
	    max_size < vs.capset_size[id - 1])
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	memset(caps, 0, max_size);
	virgl_renderer_fill_caps(id, version, caps);
	return VIRTIO_GPU_RESP_OK_CAPSET;
}

static int
ctx_find(uint32_t id)
{
	for (unsigned i = 0; i < vs.nctx; i++)
		if (vs.ctx[i] == id)
			return (int)i;
	return -1;
}

uint32_t
virgl_ctx_create(struct gpu *g, const struct virtio_gpu_ctx_create *c,
		 bool context_init)
{
	uint32_t id = c->hdr.ctx_id;
	char name[sizeof(c->debug_name) + 1];
	uint32_t nlen = c->nlen;
	int ret;

	if (id == 0 || ctx_find(id) >= 0)
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	if (nlen > sizeof(c->debug_name))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (vs.nctx >= VIRGL_MAX_CONTEXTS)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	memcpy(name, c->debug_name, nlen);
	name[nlen] = 0;
	if (context_init && (c->context_init & VIRTIO_GPU_CONTEXT_INIT_CAPSET_ID_MASK))
		ret = virgl_renderer_context_create_with_flags(id, c->context_init,
							       nlen, name);
	else
		ret = virgl_renderer_context_create(id, nlen, name);
	if (ret) {
		log_limited(LOG_LVL_WARN, "virgl: context %u: create failed (%d)",
			    id, ret);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	vs.ctx[vs.nctx++] = id;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

uint32_t
virgl_ctx_destroy(struct gpu *g, uint32_t ctx_id)
{
	int i = ctx_find(ctx_id);

	if (i < 0)
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	virgl_renderer_context_destroy(ctx_id);
	vs.ctx[i] = vs.ctx[--vs.nctx];
	return VIRTIO_GPU_RESP_OK_NODATA;
}

uint32_t
virgl_ctx_resource(struct gpu *g, uint32_t ctx_id, struct gpu_resource *r,
		   bool attach)
{
	if (ctx_find(ctx_id) < 0)
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	if (!r || !r->virgl)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (attach)
		virgl_renderer_ctx_attach_resource((int)ctx_id, (int)r->id);
	else
		virgl_renderer_ctx_detach_resource((int)ctx_id, (int)r->id);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

/*
 * virglrenderer 0.10.4 trusts two things it must not: a mip level (kept
 * in an int and compared only with last_level, so 2^31 and up index
 * outside its arrays) and the size of a transfer (computed in 32 bits,
 * so a large stride wraps and an upload reads far past the guest's
 * buffer). Every transfer is checked here first, in 64 bits.
 */
#define MAX_TEXEL_BYTES 16	/* the widest format: 4 x 32-bit */

static bool
transfer_ok(const struct gpu_resource *r, uint32_t level, uint32_t stride,
	    uint32_t layer_stride, const struct virtio_gpu_box *b,
	    uint64_t offset, bool uses_backing)
{
	uint64_t layers = r->depth > r->array_size ? r->depth : r->array_size;
	uint64_t rows, planes, span;

	if (level > r->last_level)
		return false;
	if ((uint64_t)b->x + b->w > r->width ||
	    (uint64_t)b->y + b->h > (r->height ? r->height : 1) ||
	    (uint64_t)b->z + b->d > (layers ? layers : 1))
		return false;
	if (b->w == 0 || b->h == 0 || b->d == 0)
		return true;
	/* Strides of 0 mean "packed": bound them by the widest texel. */
	rows = (uint64_t)(stride ? stride : (uint64_t)r->width * MAX_TEXEL_BYTES) *
	       (b->h - 1);
	planes = (uint64_t)(layer_stride ? layer_stride :
			    (uint64_t)r->width * MAX_TEXEL_BYTES * r->height) *
		 (b->d - 1);
	span = rows + planes + (uint64_t)b->w * MAX_TEXEL_BYTES;
	/* Small enough that virglrenderer's 32-bit sums cannot wrap. */
	if (span > UINT32_MAX)
		return false;
	/* The first byte of the last row must lie in the backing; the
	 * exact end is virglrenderer's to check, now without wrapping. */
	if (uses_backing &&
	    (!r->has_backing || offset > r->backing.len ||
	     rows + planes > r->backing.len - offset))
		return false;
	return true;
}

/* The fields of stream commands that name a resource and its level. */
enum {
	CCMD_BLIT = 16,
	CCMD_RESOURCE_INLINE_WRITE = 9,
	CCMD_RESOURCE_COPY_REGION = 17,
	CCMD_TRANSFER3D = 43,
	CCMD_COPY_TRANSFER3D = 45,
	CCMD_CLEAR_TEXTURE = 47,
};

static bool
level_ok(struct gpu *g, uint32_t res, uint32_t level)
{
	const struct gpu_resource *r = gpu_resource_find(g, res);

	/* An unknown handle is virglrenderer's to refuse; a level no
	 * texture can have is ours. */
	return r ? level <= r->last_level : level < 32;
}

/* A command in the stream: p[0] is its header, p[1..len] its payload. */
static bool
stream_cmd_ok(struct gpu *g, const uint32_t *p, uint32_t len)
{
	uint32_t cmd = p[0] & 0xff;

	switch (cmd) {
	case CCMD_RESOURCE_INLINE_WRITE:
	case CCMD_TRANSFER3D:
	case CCMD_COPY_TRANSFER3D: {
		const struct gpu_resource *r;
		struct virtio_gpu_box b;

		if (len < 11)
			return true;	/* too short: virglrenderer refuses it */
		r = gpu_resource_find(g, p[1]);
		if (!r)
			return level_ok(g, p[1], p[2]);
		b = (struct virtio_gpu_box){ p[6], p[7], p[8], p[9], p[10], p[11] };
		/* TRANSFER3D moves data to or from the attached backing at
		 * an offset; the others carry or take their data elsewhere. */
		return transfer_ok(r, p[2], p[4], p[5], &b,
				   cmd == CCMD_TRANSFER3D && len >= 12 ? p[12] : 0,
				   cmd == CCMD_TRANSFER3D);
	}
	case CCMD_CLEAR_TEXTURE:
		return len < 2 || level_ok(g, p[1], p[2]);
	case CCMD_RESOURCE_COPY_REGION:
		return len < 7 || (level_ok(g, p[1], p[2]) && level_ok(g, p[6], p[7]));
	case CCMD_BLIT:
		return len < 14 || (level_ok(g, p[4], p[5]) && level_ok(g, p[13], p[14]));
	}
	return true;
}

/* Walk the copied stream once; every command stays inside it. */
static bool
stream_ok(struct gpu *g, const uint32_t *buf, uint32_t ndw)
{
	for (uint32_t i = 0; i < ndw;) {
		uint32_t len = buf[i] >> 16;

		if (len >= ndw - i)
			return true;	/* virglrenderer stops at it too */
		if (!stream_cmd_ok(g, buf + i, len))
			return false;
		i += len + 1;
	}
	return true;
}

uint32_t
virgl_submit(struct gpu *g, const struct vring_chain *ch, size_t offset,
	     uint32_t size, uint32_t ctx_id)
{
	int ret;

	if (ctx_find(ctx_id) < 0)
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	/* Bounded by what the chain really carries, and by a cap. */
	if (size % 4 || size > VIRGL_MAX_SUBMIT || offset > ch->out_len ||
	    size > ch->out_len - offset)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (size == 0)
		return VIRTIO_GPU_RESP_OK_NODATA;
	if (size > vs.submit_cap) {
		uint8_t *n = realloc(vs.submit, size);

		if (!n)
			return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
		vs.submit = n;
		vs.submit_cap = size;
	}
	/* One copy: virglrenderer parses our buffer, not guest memory, and
	 * what we checked is what it parses. */
	iov_to_buf(ch->iov, ch->nout, offset, vs.submit, size);
	if (!stream_ok(g, (const uint32_t *)vs.submit, size / 4)) {
		log_limited(LOG_LVL_WARN, "virgl: context %u: command stream with "
			    "an out-of-range level or transfer refused", ctx_id);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	ret = virgl_renderer_submit_cmd(vs.submit, (int)ctx_id, (int)(size / 4));
	if (ret) {
		log_limited(LOG_LVL_WARN, "virgl: context %u: command stream "
			    "refused (%d)", ctx_id, ret);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	return VIRTIO_GPU_RESP_OK_NODATA;
}

uint32_t
virgl_transfer_3d(struct gpu *g, struct gpu_resource *r,
		  const struct virtio_gpu_transfer_host_3d *t, bool to_host)
{
	struct virtio_gpu_box box = t->box;
	int ret;

	if (!r || !r->virgl)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (t->hdr.ctx_id && ctx_find(t->hdr.ctx_id) < 0)
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	if (!transfer_ok(r, t->level, t->stride, t->layer_stride, &t->box,
			 t->offset, true))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (to_host)
		ret = virgl_renderer_transfer_write_iov(r->id, t->hdr.ctx_id,
							(int)t->level, t->stride,
							t->layer_stride, VBOX(&box),
							t->offset, NULL, 0);
	else
		ret = virgl_renderer_transfer_read_iov(r->id, t->hdr.ctx_id,
						       t->level, t->stride,
						       t->layer_stride, VBOX(&box),
						       t->offset, NULL, 0);
	if (ret) {
		log_limited(LOG_LVL_WARN, "virgl: resource %u: transfer refused (%d)",
			    r->id, ret);
		return ret == EINVAL || ret == -EINVAL ?
		       VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER :
		       VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	return VIRTIO_GPU_RESP_OK_NODATA;
}

int
virgl_resource_create(uint32_t id, uint32_t target, uint32_t format,
		      uint32_t bind, uint32_t width, uint32_t height,
		      uint32_t depth, uint32_t array_size, uint32_t last_level,
		      uint32_t nr_samples, uint32_t flags)
{
	struct virgl_renderer_resource_create_args args = {
		.handle = id, .target = target, .format = format, .bind = bind,
		.width = width, .height = height, .depth = depth,
		.array_size = array_size, .last_level = last_level,
		.nr_samples = nr_samples, .flags = flags,
	};

	return virgl_renderer_resource_create(&args, NULL, 0) ? -EINVAL : 0;
}

void
virgl_resource_unref(uint32_t id)
{
	virgl_resource_detach(id);
	virgl_renderer_resource_unref(id);
}

int
virgl_resource_attach(uint32_t id, struct iovec *iov, unsigned n)
{
	/* virglrenderer keeps the array itself: it must outlive the
	 * attachment (gpu.c frees it only after virgl_resource_detach). */
	return virgl_renderer_resource_attach_iov((int)id, iov, (int)n) ? -EINVAL : 0;
}

void
virgl_resource_detach(uint32_t id)
{
	struct iovec *iov = NULL;
	int n = 0;

	virgl_renderer_resource_detach_iov((int)id, &iov, &n);
}

int
virgl_transfer_2d(uint32_t id, const struct virtio_gpu_rect *r, uint64_t offset)
{
	struct virtio_gpu_box box = {
		.x = r->x, .y = r->y, .z = 0, .w = r->width, .h = r->height, .d = 1,
	};

	return virgl_renderer_transfer_write_iov(id, 0, 0, 0, 0, VBOX(&box), offset,
						 NULL, 0) ? -EINVAL : 0;
}

int
virgl_read_rect(uint32_t id, uint32_t res_height,
		const struct virtio_gpu_rect *r, uint8_t *data, uint64_t stride)
{
	struct virtio_gpu_box box = {
		.x = r->x, .y = r->y, .z = 0, .w = r->width, .h = r->height, .d = 1,
	};
	uint64_t off = (uint64_t)r->y * stride + (uint64_t)r->x * 4;
	struct iovec iov = { data, (size_t)(stride * res_height) };

	/* The data comes back in the layout the guest sees in its own
	 * transfers, rows top first. */
	return virgl_renderer_transfer_read_iov(id, 0, 0, (uint32_t)stride, 0,
						VBOX(&box), off, &iov, 1) ? -EIO : 0;
}

int
virgl_cursor_image(uint32_t id, uint32_t *dst)
{
	uint32_t w = 0, h = 0;
	void *data = virgl_renderer_get_cursor_data(id, &w, &h);

	if (!data)
		return -ENOENT;
	if (w != 64 || h != 64) {
		free(data);
		return -EINVAL;
	}
	memcpy(dst, data, 64 * 64 * 4);
	free(data);
	return 0;
}

int
virgl_fence_create(uint64_t fence_id, uint32_t ctx_id, uint32_t ring_idx,
		   bool per_context)
{
	if (per_context)
		return virgl_renderer_context_create_fence(
			ctx_id, VIRGL_RENDERER_FENCE_FLAG_MERGEABLE, ring_idx,
			fence_id) ? -EINVAL : 0;
	/* The global timeline takes 32-bit ids, like QEMU's device. */
	return virgl_renderer_create_fence((int)(uint32_t)fence_id, 0) ? -EINVAL : 0;
}

void
virgl_reset(struct gpu *g)
{
	if (!vs.active)
		return;
	while (vs.nctx)
		virgl_renderer_context_destroy(vs.ctx[--vs.nctx]);
}

#else /* VUGPU_NO_VIRGL */

bool virgl_available(void) { return false; }
unsigned virgl_num_capsets(void) { return 0; }
int virgl_start(struct gpu *g, const char *n, bool s, const char **why)
{
	*why = "this vugpu was built without virglrenderer (--disable-virgl)";
	return -ENOTSUP;
}
void virgl_stop(struct gpu *g) { }
int virgl_poll_fd(void) { return -1; }
void virgl_poll(struct gpu *g) { }
uint32_t virgl_capset_info(uint32_t i, uint32_t *id, uint32_t *v, uint32_t *s)
{ return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER; }
uint32_t virgl_capset(uint32_t id, uint32_t v, void *c, uint32_t s)
{ return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER; }
uint32_t virgl_ctx_create(struct gpu *g, const struct virtio_gpu_ctx_create *c, bool i)
{ return VIRTIO_GPU_RESP_ERR_UNSPEC; }
uint32_t virgl_ctx_destroy(struct gpu *g, uint32_t c) { return VIRTIO_GPU_RESP_ERR_UNSPEC; }
uint32_t virgl_ctx_resource(struct gpu *g, uint32_t c, struct gpu_resource *r, bool a)
{ return VIRTIO_GPU_RESP_ERR_UNSPEC; }
uint32_t virgl_submit(struct gpu *g, const struct vring_chain *ch, size_t o,
		      uint32_t s, uint32_t c) { return VIRTIO_GPU_RESP_ERR_UNSPEC; }
uint32_t virgl_transfer_3d(struct gpu *g, struct gpu_resource *r,
			   const struct virtio_gpu_transfer_host_3d *t, bool h)
{ return VIRTIO_GPU_RESP_ERR_UNSPEC; }
int virgl_resource_create(uint32_t id, uint32_t t, uint32_t f, uint32_t b,
			  uint32_t w, uint32_t h, uint32_t d, uint32_t a,
			  uint32_t l, uint32_t n, uint32_t fl) { return -ENOTSUP; }
void virgl_resource_unref(uint32_t id) { }
int virgl_resource_attach(uint32_t id, struct iovec *iov, unsigned n) { return -ENOTSUP; }
void virgl_resource_detach(uint32_t id) { }
int virgl_transfer_2d(uint32_t id, const struct virtio_gpu_rect *r, uint64_t o)
{ return -ENOTSUP; }
int virgl_read_rect(uint32_t id, uint32_t h, const struct virtio_gpu_rect *r,
		    uint8_t *d, uint64_t s) { return -ENOTSUP; }
int virgl_cursor_image(uint32_t id, uint32_t *dst) { return -ENOTSUP; }
int virgl_fence_create(uint64_t f, uint32_t c, uint32_t r, bool p) { return -ENOTSUP; }
void virgl_reset(struct gpu *g) { }

#endif /* VUGPU_NO_VIRGL */
