/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-gpu device model (virtio 1.2+, "GPU Device").
 *
 * Security model: the guest writes the control and cursor queues. It
 * controls every byte of every command (types, ids, sizes, rectangles,
 * offsets, backing addresses) and can change guest memory while we read
 * it. Each command is copied out of guest memory once and only the copy
 * is checked and used; sizes are computed in 64 bits (proto/gpu_cmd.c);
 * every allocation the guest asks for is capped (resource count,
 * --max-hostmem, backing entries); an error is answered with the spec's
 * VIRTIO_GPU_RESP_ERR_* code in one place (respond()). The frontend
 * writes the config space and the display replies, which are checked in
 * proto/display.c. Nothing here may abort the daemon.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/log.h"
#include "proto/edid.h"
#include "render/gpu.h"
#include "render/virgl.h"

static_assert(sizeof(struct virtio_gpu_config) == 16, "virtio-gpu config");

#define CTRL_HDR_SIZE sizeof(struct virtio_gpu_ctrl_hdr)

static void sink_pump(struct gpu *g);
static void ctrl_process(struct gpu *g);

/* ---------- resources ---------- */

static unsigned
res_bucket(uint32_t id)
{
	return (id * 2654435761u) >> 22;	/* 10 bits: 1024 buckets */
}

static struct gpu_resource *
res_find(struct gpu *g, uint32_t id)
{
	struct gpu_resource *r;

	for (r = g->table[res_bucket(id)]; r; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

struct gpu_resource *
gpu_resource_find(struct gpu *g, uint32_t id)
{
	return res_find(g, id);
}

static void
backing_free(struct gpu_resource *r)
{
	/* virglrenderer holds the iovec array itself: take it back first. */
	if (r->virgl && r->has_backing)
		virgl_resource_detach(r->id);
	free(r->backing.ents);
	free(r->backing.iov);
	free(r->backing.ends);
	memset(&r->backing, 0, sizeof(r->backing));
	r->has_backing = false;
}

static struct gpu_resource *
res_ref(struct gpu_resource *r)
{
	r->refs++;
	return r;
}

/*
 * Pixels live in mappings of their own: large UPDATEs reach the display
 * socket by reference (core/display.c) and may still sit there after the
 * resource is gone. Unmapping leaves those pages to the socket; memory
 * that malloc handed out again would show the frontend other data.
 */
static uint8_t *
pixels_alloc(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void
res_unref(struct gpu *g, struct gpu_resource *r)
{
	if (!r || --r->refs)
		return;
	g->hostmem -= r->size;
	backing_free(r);
	if (r->data)
		munmap(r->data, r->data_len);
	free(r);
}

static void
res_unlink(struct gpu *g, struct gpu_resource *r)
{
	struct gpu_resource **p = &g->table[res_bucket(r->id)];

	while (*p != r)
		p = &(*p)->next;
	*p = r->next;
	r->linked = false;
	g->nresources--;
}

/* The guest is done with r: its id and its renderer object go now, its
 * memory once nothing sends from it any more. */
static void
res_destroy(struct gpu *g, struct gpu_resource *r)
{
	res_unlink(g, r);
	backing_free(r);
	if (r->virgl)
		virgl_resource_unref(r->id);
	res_unref(g, r);
}

/* ---------- responses ---------- */

/*
 * Write a response into the chain's writable part and return the chain.
 * resp starts with a ctrl_hdr whose type the caller set; the fence and
 * context fields are echoed from the request here.
 */
static int fence_defer(struct gpu *g, const struct vring_chain *c,
		       const struct virtio_gpu_ctrl_hdr *h);

/* An answer's header: the fence of req (may be NULL) echoed. */
static void
resp_header(struct virtio_gpu_ctrl_hdr *h, const struct virtio_gpu_ctrl_hdr *req)
{
	h->flags = 0;
	h->fence_id = 0;
	h->ctx_id = 0;
	h->ring_idx = 0;
	memset(h->padding, 0, sizeof(h->padding));
	if (req && (req->flags & VIRTIO_GPU_FLAG_FENCE)) {
		h->flags = VIRTIO_GPU_FLAG_FENCE |
			   (req->flags & VIRTIO_GPU_FLAG_INFO_RING_IDX);
		h->fence_id = req->fence_id;
		h->ctx_id = req->ctx_id;
		h->ring_idx = req->ring_idx;
	}
}

/* Keep where chain c's answer goes, to write h there later. False when
 * its first writable buffers have no room for a header. */
static bool
answer_keep(struct gpu_answer *a, const struct vring_chain *c,
	    const struct virtio_gpu_ctrl_hdr *h)
{
	uint64_t room = 0;
	unsigned n = 0;

	while (n < c->nin && n < 4 && room < CTRL_HDR_SIZE)
		room += c->iov[c->nout + n++].iov_len;
	if (room < CTRL_HDR_SIZE)
		return false;
	a->head = c->head;
	a->nin = n;
	memcpy(a->in, c->iov + c->nout, n * sizeof(a->in[0]));
	a->in_len = room;
	a->resp = *h;
	return true;
}

static void
answer_give(struct vring_queue *vq, const struct gpu_answer *a)
{
	iov_from_buf(a->in, a->nin, 0, &a->resp, CTRL_HDR_SIZE);
	vring_push(vq, a->head, CTRL_HDR_SIZE);
}

static void
respond(struct gpu *g, struct vring_queue *vq, const struct vring_chain *c,
	const struct virtio_gpu_ctrl_hdr *req, void *resp, size_t len)
{
	struct virtio_gpu_ctrl_hdr *h = resp;
	uint32_t written = 0;

	resp_header(h, req);
	/* With a renderer, a fenced command is answered when its fence
	 * signals; an error is answered at once (there is nothing to wait
	 * for), and so is an answer larger than a header. */
	if (g->virgl && (h->flags & VIRTIO_GPU_FLAG_FENCE) &&
	    h->type < VIRTIO_GPU_RESP_ERR_UNSPEC && len == CTRL_HDR_SIZE &&
	    fence_defer(g, c, h) == 0)
		return;
	if (c->in_len >= len) {
		written = (uint32_t)iov_from_buf(c->iov + c->nout, c->nin, 0,
						 resp, len);
	} else if (c->in_len >= CTRL_HDR_SIZE) {
		/* No room for the whole answer: say so in the header. */
		h->type = VIRTIO_GPU_RESP_ERR_UNSPEC;
		written = (uint32_t)iov_from_buf(c->iov + c->nout, c->nin, 0,
						 h, CTRL_HDR_SIZE);
	}
	vring_push(vq, c->head, written);
}

static void
respond_type(struct gpu *g, struct vring_queue *vq, const struct vring_chain *c,
	     const struct virtio_gpu_ctrl_hdr *req, uint32_t type)
{
	struct virtio_gpu_ctrl_hdr h = { .type = type };

	respond(g, vq, c, req, &h, sizeof(h));
}

/* ---------- display info and EDID ---------- */

/* What we answer when the frontend cannot: scanout 0 at QEMU's default
 * size, or the size the frontend last told us. */
static void
display_info_local(struct gpu *g, struct virtio_gpu_resp_display_info *info)
{
	if (g->display_info_valid) {
		*info = g->display_info;
	} else {
		memset(info, 0, sizeof(*info));
		info->pmodes[0].enabled = 1;
		info->pmodes[0].r.width = GPU_DEFAULT_WIDTH;
		info->pmodes[0].r.height = GPU_DEFAULT_HEIGHT;
	}
	info->hdr.type = VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
}

static void
edid_local(struct gpu *g, uint32_t scanout, struct virtio_gpu_resp_edid *e)
{
	struct virtio_gpu_resp_display_info info;
	uint32_t w, h;
	int n;

	display_info_local(g, &info);
	w = info.pmodes[scanout].r.width;
	h = info.pmodes[scanout].r.height;
	if (!info.pmodes[scanout].enabled || !w || !h || w > 4095 || h > 4095) {
		w = GPU_DEFAULT_WIDTH;
		h = GPU_DEFAULT_HEIGHT;
	}
	memset(e, 0, sizeof(*e));
	e->hdr.type = VIRTIO_GPU_RESP_OK_EDID;
	n = edid_generate(e->edid, sizeof(e->edid), w, h, 60, "vugpu",
			  scanout + 1);
	if (n < 0) {
		e->hdr.type = VIRTIO_GPU_RESP_ERR_UNSPEC;
		return;
	}
	e->size = (uint32_t)n;
}

/* The frontend can be asked for this scanout's EDID: EDID agreed and
 * the scanout is one it said it has (QEMU never answers for others). */
static bool
edid_from_display(struct gpu *g, uint32_t scanout)
{
	return g->sink != GPU_SINK_NONE &&
	       (g->display_features & (1ull << DISPLAY_PF_EDID)) &&
	       g->display_info_valid &&
	       g->display_info.pmodes[scanout].enabled;
}

/* ---------- control commands ---------- */

union gpu_req {
	struct virtio_gpu_ctrl_hdr hdr;
	struct virtio_gpu_resource_create_2d create_2d;
	struct virtio_gpu_resource_unref unref;
	struct virtio_gpu_set_scanout set_scanout;
	struct virtio_gpu_resource_flush flush;
	struct virtio_gpu_transfer_to_host_2d t2d;
	struct virtio_gpu_resource_attach_backing attach;
	struct virtio_gpu_resource_detach_backing detach;
	struct virtio_gpu_get_capset_info capset_info;
	struct virtio_gpu_get_capset capset;
	struct virtio_gpu_cmd_get_edid edid;
	struct virtio_gpu_resource_assign_uuid uuid;
	struct virtio_gpu_update_cursor cursor;
	struct virtio_gpu_ctx_create ctx_create;
	struct virtio_gpu_ctx_destroy ctx_destroy;
	struct virtio_gpu_ctx_resource ctx_res;
	struct virtio_gpu_resource_create_3d create_3d;
	struct virtio_gpu_transfer_host_3d t3d;
	struct virtio_gpu_cmd_submit submit;
};

/* Account for and link a new resource; its pixels are the caller's. */
static uint32_t
res_create(struct gpu *g, uint32_t id, uint32_t format, uint32_t width,
	   uint32_t height, uint64_t bytes, bool virgl, struct gpu_resource **out)
{
	struct gpu_resource *r;

	if (id == 0 || res_find(g, id))
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (width == 0 || height == 0)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	/* bytes is 0 when the size does not even fit 63 bits: as QEMU
	 * does, anything too big is out of memory. */
	if (!bytes || g->nresources >= GPU_MAX_RESOURCES ||
	    bytes > g->opt.max_hostmem - g->hostmem || bytes > SIZE_MAX)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	r = calloc(1, sizeof(*r));
	if (!r)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	if (!virgl) {
		r->data = pixels_alloc((size_t)bytes);
		r->data_len = (size_t)bytes;
		if (!r->data) {
			free(r);
			return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
		}
	}
	r->id = id;
	r->format = format;
	r->width = width;
	r->height = height;
	r->target = 2;		/* PIPE_TEXTURE_2D */
	r->depth = 1;
	r->array_size = 1;
	r->last_level = 0;
	r->bpp = gpu_format_bpp(format);
	r->stride = (uint64_t)width * (r->bpp ? r->bpp : 4);
	r->size = bytes;
	r->virgl = virgl;
	r->refs = 1;
	r->linked = true;
	r->next = g->table[res_bucket(r->id)];
	g->table[res_bucket(r->id)] = r;
	g->nresources++;
	g->hostmem += bytes;
	*out = r;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

/* Create r's renderer object from its shape; on failure r goes again. */
static uint32_t
res_create_in_renderer(struct gpu *g, struct gpu_resource *r, uint32_t bind,
		       uint32_t nr_samples, uint32_t flags)
{
	if (virgl_resource_create(r->id, r->target, r->format, bind, r->width,
				  r->height, r->depth, r->array_size,
				  r->last_level, nr_samples, flags) == 0)
		return VIRTIO_GPU_RESP_OK_NODATA;
	r->virgl = false;
	res_unlink(g, r);
	res_unref(g, r);
	return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
}

static uint32_t
cmd_resource_create_2d(struct gpu *g, const struct virtio_gpu_resource_create_2d *c)
{
	struct gpu_resource *r;
	unsigned bpp = gpu_format_bpp(c->format);
	uint32_t ret;

	if (c->resource_id == 0 || res_find(g, c->resource_id))
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!bpp || c->width == 0 || c->height == 0)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	ret = res_create(g, c->resource_id, c->format, c->width, c->height,
			 gpu_resource_bytes(c->width, c->height, bpp), g->virgl, &r);
	if (ret != VIRTIO_GPU_RESP_OK_NODATA || !g->virgl)
		return ret;
	/* With a renderer every resource lives there, so that 3D contexts
	 * can use it: a 2D texture the guest can render to. */
	return res_create_in_renderer(g, r, VIRGL_BIND_RENDER_TARGET, 0,
				      VIRTIO_GPU_RESOURCE_FLAG_Y_0_TOP);
}

static uint32_t
cmd_resource_create_3d(struct gpu *g, const struct virtio_gpu_resource_create_3d *c)
{
	struct gpu_resource *r;
	uint64_t bytes = gpu_resource_bytes(c->width, c->height, 4);
	uint32_t ret;

	if (!g->virgl)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	if (c->depth == 0 || c->array_size == 0)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	/* Texels times layers: an estimate of what the renderer will hold,
	 * checked so that it cannot wrap. */
	if (bytes <= (uint64_t)INT64_MAX / c->depth / c->array_size)
		bytes *= (uint64_t)c->depth * c->array_size;
	else
		bytes = 0;
	ret = res_create(g, c->resource_id, c->format, c->width, c->height,
			 bytes, true, &r);
	if (ret != VIRTIO_GPU_RESP_OK_NODATA)
		return ret;
	r->target = c->target;
	r->depth = c->depth;
	r->array_size = c->array_size;
	r->last_level = c->last_level;
	return res_create_in_renderer(g, r, c->bind, c->nr_samples, c->flags);
}

/* ---------- damage ---------- */

static bool
rect_contains(const struct virtio_gpu_rect *a, const struct virtio_gpu_rect *b)
{
	return b->x >= a->x && b->y >= a->y &&
	       (uint64_t)b->x + b->width <= (uint64_t)a->x + a->width &&
	       (uint64_t)b->y + b->height <= (uint64_t)a->y + a->height;
}

static void
damage_full(struct gpu_scanout *s)
{
	s->damage[0] = (struct virtio_gpu_rect){ 0, 0, s->r.width, s->r.height };
	s->ndamage = 1;
}

/* Owe an UPDATE of d: dropped if already covered, covering what it
 * contains; when the list is full, everything becomes one rectangle. */
static void
damage_add(struct gpu_scanout *s, const struct virtio_gpu_rect *d)
{
	unsigned n = 0;

	for (unsigned i = 0; i < s->ndamage; i++)
		if (rect_contains(&s->damage[i], d))
			return;
	for (unsigned i = 0; i < s->ndamage; i++)
		if (!rect_contains(d, &s->damage[i]))
			s->damage[n++] = s->damage[i];
	s->ndamage = n;
	if (n < GPU_MAX_DAMAGE) {
		s->damage[s->ndamage++] = *d;
		return;
	}
	for (unsigned i = 1; i < n; i++)
		gpu_rect_union(&s->damage[0], &s->damage[i]);
	gpu_rect_union(&s->damage[0], d);
	s->ndamage = 1;
}

static void
scanout_disable(struct gpu *g, unsigned i)
{
	struct gpu_scanout *s = &g->scanout[i];

	if (!s->res)
		return;
	res_unref(g, s->res);
	s->res = NULL;
	memset(&s->r, 0, sizeof(s->r));
	s->ndamage = 0;
	s->config_dirty = true;
}

static uint32_t
cmd_resource_unref(struct gpu *g, const struct virtio_gpu_resource_unref *c)
{
	struct gpu_resource *r = res_find(g, c->resource_id);

	if (!r)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	/* As QEMU does: a scanout showing it goes dark. */
	for (unsigned i = 0; i < VIRTIO_GPU_MAX_SCANOUTS; i++)
		if (g->scanout[i].res == r)
			scanout_disable(g, i);
	res_destroy(g, r);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t
cmd_set_scanout(struct gpu *g, const struct virtio_gpu_set_scanout *c)
{
	struct gpu_scanout *s;
	struct gpu_resource *r;

	if (c->scanout_id >= VIRTIO_GPU_MAX_SCANOUTS)
		return VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
	s = &g->scanout[c->scanout_id];
	if (c->resource_id == 0) {
		scanout_disable(g, c->scanout_id);
		return VIRTIO_GPU_RESP_OK_NODATA;
	}
	r = res_find(g, c->resource_id);
	if (!r)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (c->r.width == 0 || c->r.height == 0 ||
	    c->r.width > GPU_MAX_SCANOUT_SIZE ||
	    c->r.height > GPU_MAX_SCANOUT_SIZE ||
	    !gpu_rect_inside(&c->r, r->width, r->height))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (r->virgl && !r->data) {
		/* Frames are read back from the renderer into host memory
		 * and sent from there (no dmabuf path yet). */
		if (r->bpp != 4)
			return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		r->data_len = (size_t)(r->height * r->stride);
		r->data = pixels_alloc(r->data_len);
		if (!r->data)
			return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	}
	if (s->res != r) {
		res_unref(g, s->res);
		s->res = res_ref(r);
	}
	s->r = c->r;
	if (s->width != c->r.width || s->height != c->r.height)
		s->config_dirty = true;
	/* A renderer's frame is in the renderer: fetch it now, or the
	 * display would show a stale buffer until the next flush. */
	if (r->virgl && virgl_read_rect(r->id, r->height, &c->r, r->data,
					r->stride) < 0)
		log_limited(LOG_LVL_WARN, "resource %u: read-back failed", r->id);
	/* New content for the whole scanout. */
	damage_full(s);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t
cmd_resource_flush(struct gpu *g, const struct virtio_gpu_resource_flush *c)
{
	struct gpu_resource *r = res_find(g, c->resource_id);

	if (!r)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!gpu_rect_inside(&c->r, r->width, r->height))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	for (unsigned i = 0; i < VIRTIO_GPU_MAX_SCANOUTS; i++) {
		struct gpu_scanout *s = &g->scanout[i];
		struct virtio_gpu_rect d;

		if (s->res != r || !gpu_rect_intersect(&c->r, &s->r, &d))
			continue;
		if (r->virgl && virgl_read_rect(r->id, r->height, &d, r->data,
						r->stride) < 0)
			log_limited(LOG_LVL_WARN, "resource %u: read-back failed",
				    r->id);
		/* Into scanout coordinates: only the damage goes out. */
		d.x -= s->r.x;
		d.y -= s->r.y;
		damage_add(s, &d);
	}
	return VIRTIO_GPU_RESP_OK_NODATA;
}

/* ---------- transfers copied as their UPDATE goes out ---------- */

/* Copy the deferred transfer's rows up to `row`. */
static void
defer_copy(struct gpu *g, uint32_t row)
{
	struct gpu_defer *d = &g->defer;
	struct gpu_resource *r = d->res;
	size_t len;

	if (row > d->end)
		row = d->end;
	if (row <= d->next)
		return;
	len = (size_t)((row - d->next) * r->stride);
	gpu_backing_read(&r->backing, d->offset, r->data + d->next * r->stride, len);
	d->offset += len;
	d->next = row;
}

/* Every row is in: give the held answers, in order. */
static void
defer_release(struct gpu *g)
{
	struct gpu_defer *d = &g->defer;
	struct vring_queue *vq = g->host->queue_ring(g->host_data, GPU_QUEUE_CTRL);

	if (vq) {
		for (unsigned i = 0; i < d->nheld; i++)
			answer_give(vq, &d->held[i]);
		g->host->queue_flush(g->host_data, GPU_QUEUE_CTRL);
	}
	res_unref(g, d->res);
	memset(d, 0, sizeof(*d));
}

/* Carry the deferred transfer out now, whole, and answer. */
static void
defer_finish(struct gpu *g)
{
	if (!g->defer.res)
		return;
	defer_copy(g, UINT32_MAX);
	defer_release(g);
}

/* The rings are reset under it: forget it, unanswered. */
static void
defer_drop(struct gpu *g)
{
	res_unref(g, g->defer.res);
	memset(&g->defer, 0, sizeof(g->defer));
}

/* A cursor image is read from its resource at once: never deferred. */
static_assert(DISPLAY_CURSOR_SIZE * DISPLAY_CURSOR_SIZE * 4 < GPU_DEFER_MIN,
	      "a cursor image could be a deferred transfer");

/* Hold req's answer (type OK_NODATA) behind the deferred transfer.
 * False: it cannot be held. */
static bool
defer_hold(struct gpu *g, const struct vring_chain *c,
	   const struct virtio_gpu_ctrl_hdr *req)
{
	struct virtio_gpu_ctrl_hdr h = { .type = VIRTIO_GPU_RESP_OK_NODATA };
	struct gpu_defer *d = &g->defer;

	if (d->nheld == sizeof(d->held) / sizeof(d->held[0]))
		return false;
	resp_header(&h, req);
	if (!answer_keep(&d->held[d->nheld], c, &h))
		return false;
	d->nheld++;
	return true;
}

/* A command comes: unless it is the flush that sends the deferred rows
 * (the first one), the transfer is carried out first. */
static void
defer_before(struct gpu *g, const union gpu_req *req, size_t got)
{
	struct gpu_defer *d = &g->defer;

	if (!d->res)
		return;
	if (got >= sizeof(req->flush) &&
	    req->hdr.type == VIRTIO_GPU_CMD_RESOURCE_FLUSH &&
	    req->flush.resource_id == d->res->id && d->nheld == 1)
		return;
	defer_finish(g);
}

/*
 * Defer a whole-row transfer of `rows` rows from row y, backing offset
 * off, into r, holding its answer, when the flush behind it can carry
 * its copy: r is 2D XRGB on a scanout that shows whole rows of it, the
 * display is idle (the UPDATE goes out at once), and the transfer is
 * large. The walk must bring that flush: at its end (ctrl_process) a
 * transfer that no UPDATE is sending is carried out.
 */
static bool
defer_start(struct gpu *g, const struct vring_chain *c,
	    const struct virtio_gpu_ctrl_hdr *req, struct gpu_resource *r,
	    uint32_t y, uint32_t rows, uint64_t off)
{
	struct gpu_defer *d = &g->defer;
	bool shown = false;

	if (d->res || r->virgl || r->bpp != 4 || !gpu_format_is_xrgb(r->format) ||
	    rows * r->stride < GPU_DEFER_MIN || g->sink != GPU_SINK_IDLE ||
	    g->handshake != GPU_HS_DONE)
		return false;
	for (unsigned i = 0; i < VIRTIO_GPU_MAX_SCANOUTS; i++) {
		const struct gpu_scanout *s = &g->scanout[i];

		if (s->res == r && s->r.x == 0 && s->r.width == r->width &&
		    y < s->r.y + s->r.height && s->r.y < y + rows)
			shown = true;
	}
	/* The display must have read everything: otherwise the UPDATE's
	 * head could wait for the frontend, and the answers with it. */
	if (!shown || !g->host->display_drained(g->host_data) ||
	    !defer_hold(g, c, req))
		return false;
	d->res = res_ref(r);
	d->offset = off;
	d->next = y;
	d->end = y + rows;
	return true;
}

/* The walk is over: a deferred transfer waits only for an UPDATE of its
 * resource that is being spliced. */
static void
defer_walk_end(struct gpu *g)
{
	if (g->defer.res && !(g->sink == GPU_SINK_SENDING &&
			      g->tx_res == g->defer.res && g->tx_ref_end))
		defer_finish(g);
}

void
gpu_display_prepare(struct gpu *g, const void *p, size_t len)
{
	struct gpu_defer *d = &g->defer;
	struct gpu_resource *r = d->res;
	uintptr_t b = (uintptr_t)p, base, end;

	if (!r || !len)
		return;
	base = (uintptr_t)r->data;
	end = base + r->data_len;
	if (b < base || b >= end)
		return;
	if (len > end - b)
		len = end - b;
	/* every row this touches, the last one too */
	defer_copy(g, (uint32_t)((b - base + len + r->stride - 1) / r->stride));
	/* The send's last pixels: nothing after this reads the rest (the
	 * UPDATE showed fewer rows, or goes on by copy, which waits for the
	 * frontend), so it is copied now and the guest answered. */
	if (g->sink == GPU_SINK_SENDING && g->tx_res == r &&
	    b + len == (uintptr_t)g->tx_ref_end)
		defer_finish(g);
	else if (d->next >= d->end)
		defer_release(g);
}

void
gpu_display_stalled(struct gpu *g)
{
	/* The guest does not wait for the frontend. */
	defer_finish(g);
}

static uint32_t
cmd_transfer_to_host_2d(struct gpu *g, const struct vring_chain *ch,
			const struct virtio_gpu_ctrl_hdr *req,
			const struct virtio_gpu_transfer_to_host_2d *c)
{
	struct gpu_resource *r = res_find(g, c->resource_id);
	const struct virtio_gpu_rect *rect = &c->r;
	uint64_t row_bytes;

	if (!r)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!r->has_backing)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	if (gpu_transfer_check(rect, c->offset, r->width, r->height, r->bpp,
			       r->backing.len))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (rect->width == 0 || rect->height == 0)
		return VIRTIO_GPU_RESP_OK_NODATA;
	if (r->virgl)
		return virgl_transfer_2d(r->id, rect, c->offset) < 0 ?
		       VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER :
		       VIRTIO_GPU_RESP_OK_NODATA;
	row_bytes = (uint64_t)rect->width * r->bpp;
	if (rect->x == 0 && rect->width == r->width) {
		/* Whole rows: one run in the backing and in the image. */
		if (defer_start(g, ch, req, r, rect->y, rect->height, c->offset))
			return 0;	/* answered when copied */
		gpu_backing_read(&r->backing, c->offset,
				 r->data + rect->y * r->stride,
				 (size_t)(rect->height * r->stride));
		return VIRTIO_GPU_RESP_OK_NODATA;
	}
	for (uint32_t y = 0; y < rect->height; y++)
		gpu_backing_read(&r->backing, c->offset + y * r->stride,
				 r->data + (rect->y + y) * r->stride +
				 (uint64_t)rect->x * r->bpp,
				 (size_t)row_bytes);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t
cmd_attach_backing(struct gpu *g, const struct vring_chain *ch,
		   const struct virtio_gpu_resource_attach_backing *c)
{
	struct gpu_resource *r = res_find(g, c->resource_id);
	const struct memmap *mem = g->host->memory(g->host_data);
	struct gpu_backing b = { 0 };
	size_t bytes;
	unsigned cap;
	int ret;

	if (!r)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (r->has_backing)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	if (c->nr_entries == 0 || c->nr_entries > GPU_MAX_BACKING_ENTRIES)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	bytes = (size_t)c->nr_entries * sizeof(struct virtio_gpu_mem_entry);
	if (ch->out_len < sizeof(*c) + bytes)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	b.nents = c->nr_entries;
	b.ents = malloc(bytes);
	if (!b.ents)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	/* Copied out once; the guest may rewrite its copy as it likes. */
	iov_to_buf(ch->iov, ch->nout, sizeof(*c), b.ents, bytes);

	/* An entry spanning k regions takes k iovecs: try the common case,
	 * then the most we allow. */
	cap = c->nr_entries + 16;
	for (;;) {
		b.iov = calloc(cap, sizeof(*b.iov));
		b.ends = calloc(cap, sizeof(*b.ends));
		if (!b.iov || !b.ends) {
			ret = -ENOMEM;
			break;
		}
		ret = gpu_backing_translate(&b, mem, b.ents, b.nents, cap);
		if (ret != -E2BIG || cap == GPU_MAX_BACKING_IOV)
			break;
		free(b.iov);
		free(b.ends);
		cap = GPU_MAX_BACKING_IOV;
	}
	if (ret) {
		free(b.ents);
		free(b.iov);
		free(b.ends);
		if (ret == -ENOMEM)
			return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
		log_limited(LOG_LVL_WARN, "resource %u: backing not in guest memory",
			    c->resource_id);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	if (r->virgl && virgl_resource_attach(r->id, b.iov, b.niov) < 0) {
		free(b.ents);
		free(b.iov);
		free(b.ends);
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	r->backing = b;
	r->has_backing = true;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t
cmd_detach_backing(struct gpu *g,
		   const struct virtio_gpu_resource_detach_backing *c)
{
	struct gpu_resource *r = res_find(g, c->resource_id);

	if (!r)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!r->has_backing)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	backing_free(r);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static void
cmd_assign_uuid(struct gpu *g, struct vring_queue *vq,
		const struct vring_chain *ch,
		const struct virtio_gpu_resource_assign_uuid *c)
{
	struct gpu_resource *r = res_find(g, c->resource_id);
	struct virtio_gpu_resp_resource_uuid resp = { 0 };

	if (!r) {
		respond_type(g, vq, ch, &c->hdr,
			     VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
		return;
	}
	if (!r->has_uuid) {
		if (getrandom(r->uuid, sizeof(r->uuid), 0) != sizeof(r->uuid)) {
			respond_type(g, vq, ch, &c->hdr, VIRTIO_GPU_RESP_ERR_UNSPEC);
			return;
		}
		r->uuid[6] = (r->uuid[6] & 0x0f) | 0x40;	/* version 4 */
		r->uuid[8] = (r->uuid[8] & 0x3f) | 0x80;	/* RFC 4122 */
		r->has_uuid = true;
	}
	resp.hdr.type = VIRTIO_GPU_RESP_OK_RESOURCE_UUID;
	memcpy(resp.uuid, r->uuid, sizeof(resp.uuid));
	respond(g, vq, ch, &c->hdr, &resp, sizeof(resp));
}

static void
cmd_capset_info(struct gpu *g, struct vring_queue *vq,
		const struct vring_chain *ch,
		const struct virtio_gpu_get_capset_info *c)
{
	struct virtio_gpu_resp_capset_info resp = { 0 };
	uint32_t type = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;

	/* Without a renderer there are no capsets: every index is out of
	 * range. */
	if (g->virgl)
		type = virgl_capset_info(c->capset_index, &resp.capset_id,
					 &resp.capset_max_version,
					 &resp.capset_max_size);
	if (type != VIRTIO_GPU_RESP_OK_CAPSET_INFO) {
		respond_type(g, vq, ch, &c->hdr, type);
		return;
	}
	resp.hdr.type = type;
	respond(g, vq, ch, &c->hdr, &resp, sizeof(resp));
}

static void
cmd_capset(struct gpu *g, struct vring_queue *vq, const struct vring_chain *ch,
	   const struct virtio_gpu_get_capset *c)
{
	uint32_t id, max_ver = 0, max_size = 0, type;
	struct virtio_gpu_resp_capset *resp;
	size_t len;

	if (!g->virgl || c->capset_id < 1 ||
	    virgl_capset_info(c->capset_id - 1, &id, &max_ver, &max_size) !=
	    VIRTIO_GPU_RESP_OK_CAPSET_INFO) {
		respond_type(g, vq, ch, &c->hdr, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
		return;
	}
	/* The whole answer must fit where the guest wants it: nothing is
	 * written past its buffer, nothing of ours is left unwritten. */
	len = sizeof(*resp) + max_size;
	if (c->capset_version > max_ver || ch->in_len < len) {
		respond_type(g, vq, ch, &c->hdr, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
		return;
	}
	resp = calloc(1, len);
	if (!resp) {
		respond_type(g, vq, ch, &c->hdr, VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
		return;
	}
	type = virgl_capset(c->capset_id, c->capset_version, resp->capset_data,
			    max_size);
	if (type == VIRTIO_GPU_RESP_OK_CAPSET) {
		resp->hdr.type = type;
		respond(g, vq, ch, &c->hdr, resp, len);
	} else {
		respond_type(g, vq, ch, &c->hdr, type);
	}
	free(resp);
}

/* ---------- fences (with a renderer) ---------- */

/* Keep the answer to a fenced command until the renderer signals the
 * fence. -1: answer it now. */
static int
fence_defer(struct gpu *g, const struct vring_chain *c,
	    const struct virtio_gpu_ctrl_hdr *h)
{
	bool per_ctx = (h->flags & VIRTIO_GPU_FLAG_INFO_RING_IDX) &&
		       (g->features & (1ull << VIRTIO_GPU_F_CONTEXT_INIT));
	struct gpu_fence *f;

	if (per_ctx && h->ring_idx >= 64)
		return -1;
	/* Each waiting answer holds a chain: at most a queue's worth. */
	if (g->nfences == g->fences_cap) {
		unsigned cap = g->fences_cap ? g->fences_cap * 2 : 64;
		struct gpu_fence *p;

		if (cap > VRING_MAX_NUM)
			return -1;
		p = realloc(g->fences, cap * sizeof(*p));
		if (!p)
			return -1;
		g->fences = p;
		g->fences_cap = cap;
	}
	f = &g->fences[g->nfences];
	memset(f, 0, sizeof(*f));
	if (!answer_keep(&f->a, c, h))
		return -1;
	f->id = h->fence_id;
	f->ctx_id = h->ctx_id;
	f->ring_idx = h->ring_idx;
	f->per_context = per_ctx;
	g->nfences++;
	/* The renderer may signal at once: the entry is there first. */
	if (virgl_fence_create(h->fence_id, h->ctx_id, h->ring_idx, per_ctx) < 0) {
		g->nfences--;
		return -1;
	}
	return 0;
}

/* Answer waiting fenced commands: those matching (all when match is
 * false), and drop them. */
static void
fences_retire(struct gpu *g, bool match, uint64_t fence_id, uint32_t ctx_id,
	      uint32_t ring_idx, bool per_context)
{
	struct vring_queue *vq = g->host->queue_ring(g->host_data, GPU_QUEUE_CTRL);
	unsigned kept = 0;
	bool any = false;

	for (unsigned i = 0; i < g->nfences; i++) {
		struct gpu_fence *f = &g->fences[i];
		bool done = !match;

		if (match && f->per_context == per_context) {
			if (per_context)
				done = f->ctx_id == ctx_id && f->ring_idx == ring_idx &&
				       f->id <= fence_id;
			else	/* 32-bit ids on the global timeline */
				done = (int32_t)((uint32_t)f->id - (uint32_t)fence_id) <= 0;
		}
		if (!done) {
			g->fences[kept++] = *f;
			continue;
		}
		if (vq) {
			answer_give(vq, &f->a);
			any = true;
		}
	}
	g->nfences = kept;
	if (any)
		g->host->queue_flush(g->host_data, GPU_QUEUE_CTRL);
}

void
gpu_virgl_fence_done(struct gpu *g, uint64_t fence_id, uint32_t ctx_id,
		     uint32_t ring_idx, bool per_context)
{
	fences_retire(g, true, fence_id, ctx_id, ring_idx, per_context);
}

void
gpu_renderer_poll(struct gpu *g)
{
	virgl_poll(g);
}

/* Answer the command waiting on the display, from reply or locally. */
static void
ctrl_wait_finish(struct gpu *g, const struct display_reply *reply)
{
	struct vring_queue *vq = g->host->queue_ring(g->host_data, GPU_QUEUE_CTRL);
	enum gpu_wait w = g->ctrl_wait;

	g->ctrl_wait = GPU_WAIT_NONE;
	if (!vq)
		return;	/* the ring stopped; nothing to answer into */
	if (w == GPU_WAIT_DISPLAY_INFO) {
		struct virtio_gpu_resp_display_info info;

		display_info_local(g, &info);
		respond(g, vq, g->chain, &g->ctrl_wait_hdr, &info, sizeof(info));
	} else if (w == GPU_WAIT_EDID) {
		struct virtio_gpu_resp_edid e;

		if (reply && reply->request == DISPLAY_GET_EDID &&
		    reply->u.edid.size) {
			e = reply->u.edid;
			e.hdr.type = VIRTIO_GPU_RESP_OK_EDID;
		} else {
			edid_local(g, g->ctrl_wait_scanout, &e);
		}
		respond(g, vq, g->chain, &g->ctrl_wait_hdr, &e, sizeof(e));
	}
	g->host->queue_flush(g->host_data, GPU_QUEUE_CTRL);
}

/* Handle one control command. False when it waits on the display (the
 * chain stays in g->chain and the queue pauses). */
static bool
ctrl_handle(struct gpu *g, struct vring_queue *vq, struct vring_chain *ch)
{
	union gpu_req req;
	size_t got, need;
	uint32_t type;

	memset(&req, 0, sizeof(req));
	got = iov_to_buf(ch->iov, ch->nout, 0, &req, sizeof(req));
	defer_before(g, &req, got);
	if (got < CTRL_HDR_SIZE) {
		log_limited(LOG_LVL_WARN, "control command shorter than its header");
		respond_type(g, vq, ch, NULL, VIRTIO_GPU_RESP_ERR_UNSPEC);
		return true;
	}
	type = req.hdr.type;
	need = gpu_cmd_size(type);
	if (need == 0 || need > sizeof(req)) {
		/* Unknown, or a 3D/blob command (larger than any we take). */
		log_limited(LOG_LVL_WARN, "%s (0x%x): not supported",
			    gpu_cmd_name(type), type);
		respond_type(g, vq, ch, &req.hdr, VIRTIO_GPU_RESP_ERR_UNSPEC);
		return true;
	}
	if (got < need) {
		log_limited(LOG_LVL_WARN, "%s: truncated (%zu of %zu bytes)",
			    gpu_cmd_name(type), got, need);
		respond_type(g, vq, ch, &req.hdr, VIRTIO_GPU_RESP_ERR_UNSPEC);
		return true;
	}

	switch (type) {
	case VIRTIO_GPU_CMD_GET_DISPLAY_INFO:
		if (g->sink == GPU_SINK_NONE) {
			struct virtio_gpu_resp_display_info info;

			display_info_local(g, &info);
			respond(g, vq, ch, &req.hdr, &info, sizeof(info));
			return true;
		}
		g->ctrl_wait = GPU_WAIT_DISPLAY_INFO;
		g->ctrl_wait_hdr = req.hdr;
		sink_pump(g);
		return false;
	case VIRTIO_GPU_CMD_GET_EDID:
		if (!(g->features & (1ull << VIRTIO_GPU_F_EDID)) ||
		    req.edid.scanout >= VIRTIO_GPU_MAX_SCANOUTS) {
			respond_type(g, vq, ch, &req.hdr,
				     VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
			return true;
		}
		g->ctrl_wait_hdr = req.hdr;
		g->ctrl_wait_scanout = req.edid.scanout;
		if (!edid_from_display(g, req.edid.scanout)) {
			struct virtio_gpu_resp_edid e;

			edid_local(g, req.edid.scanout, &e);
			respond(g, vq, ch, &req.hdr, &e, sizeof(e));
			return true;
		}
		g->ctrl_wait = GPU_WAIT_EDID;
		sink_pump(g);
		return false;
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D:
		respond_type(g, vq, ch, &req.hdr,
			     cmd_resource_create_2d(g, &req.create_2d));
		return true;
	case VIRTIO_GPU_CMD_RESOURCE_UNREF:
		respond_type(g, vq, ch, &req.hdr, cmd_resource_unref(g, &req.unref));
		break;
	case VIRTIO_GPU_CMD_SET_SCANOUT:
		respond_type(g, vq, ch, &req.hdr,
			     cmd_set_scanout(g, &req.set_scanout));
		break;
	case VIRTIO_GPU_CMD_RESOURCE_FLUSH: {
		uint32_t t = cmd_resource_flush(g, &req.flush);

		/* Behind a deferred transfer, its answer waits too. */
		if (g->defer.res && (t != VIRTIO_GPU_RESP_OK_NODATA ||
				     !defer_hold(g, ch, &req.hdr)))
			defer_finish(g);
		if (!g->defer.res)
			respond_type(g, vq, ch, &req.hdr, t);
		break;
	}
	case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D: {
		uint32_t t = cmd_transfer_to_host_2d(g, ch, &req.hdr, &req.t2d);

		if (t)
			respond_type(g, vq, ch, &req.hdr, t);
		return true;
	}
	case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING:
		respond_type(g, vq, ch, &req.hdr,
			     cmd_attach_backing(g, ch, &req.attach));
		return true;
	case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING:
		respond_type(g, vq, ch, &req.hdr,
			     cmd_detach_backing(g, &req.detach));
		return true;
	case VIRTIO_GPU_CMD_GET_CAPSET_INFO:
		cmd_capset_info(g, vq, ch, &req.capset_info);
		return true;
	case VIRTIO_GPU_CMD_GET_CAPSET:
		cmd_capset(g, vq, ch, &req.capset);
		return true;
	case VIRTIO_GPU_CMD_CTX_CREATE:
		respond_type(g, vq, ch, &req.hdr, !g->virgl ?
			     VIRTIO_GPU_RESP_ERR_UNSPEC :
			     virgl_ctx_create(g, &req.ctx_create,
					      g->features & (1ull << VIRTIO_GPU_F_CONTEXT_INIT)));
		return true;
	case VIRTIO_GPU_CMD_CTX_DESTROY:
		respond_type(g, vq, ch, &req.hdr, !g->virgl ?
			     VIRTIO_GPU_RESP_ERR_UNSPEC :
			     virgl_ctx_destroy(g, req.hdr.ctx_id));
		return true;
	case VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE:
	case VIRTIO_GPU_CMD_CTX_DETACH_RESOURCE:
		respond_type(g, vq, ch, &req.hdr, !g->virgl ?
			     VIRTIO_GPU_RESP_ERR_UNSPEC :
			     virgl_ctx_resource(g, req.hdr.ctx_id,
						res_find(g, req.ctx_res.resource_id),
						type == VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE));
		return true;
	case VIRTIO_GPU_CMD_RESOURCE_CREATE_3D:
		respond_type(g, vq, ch, &req.hdr,
			     cmd_resource_create_3d(g, &req.create_3d));
		return true;
	case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D:
	case VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D:
		respond_type(g, vq, ch, &req.hdr, !g->virgl ?
			     VIRTIO_GPU_RESP_ERR_UNSPEC :
			     virgl_transfer_3d(g, res_find(g, req.t3d.resource_id),
					       &req.t3d,
					       type == VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D));
		return true;
	case VIRTIO_GPU_CMD_SUBMIT_3D:
		respond_type(g, vq, ch, &req.hdr, !g->virgl ?
			     VIRTIO_GPU_RESP_ERR_UNSPEC :
			     virgl_submit(g, ch, sizeof(req.submit), req.submit.size,
					  req.hdr.ctx_id));
		return true;
	case VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID:
		cmd_assign_uuid(g, vq, ch, &req.uuid);
		return true;
	default:
		/* 3D and blob commands without a renderer, cursor commands on
		 * the wrong queue. */
		log_limited(LOG_LVL_WARN, "%s (0x%x): not supported here",
			    gpu_cmd_name(type), type);
		respond_type(g, vq, ch, &req.hdr, VIRTIO_GPU_RESP_ERR_UNSPEC);
		return true;
	}
	/* Commands that change what is on screen: let the display know. */
	sink_pump(g);
	return true;
}

/* A chain the walker refused: answer it if it left room for an answer. */
static void
ctrl_malformed(struct gpu *g, struct vring_queue *vq, struct vring_chain *ch)
{
	log_limited(LOG_LVL_WARN, "control queue: malformed descriptor chain");
	defer_finish(g);
	if (ch->head >= vq->num) {
		vring_push(vq, ch->head, 0);
		return;
	}
	respond_type(g, vq, ch, NULL, VIRTIO_GPU_RESP_ERR_UNSPEC);
}

static void
ctrl_process(struct gpu *g)
{
	const struct memmap *mem = g->host->memory(g->host_data);
	struct vring_queue *vq;
	bool more;

	vq = g->host->queue_ring(g->host_data, GPU_QUEUE_CTRL);
	if (!vq || g->ctrl_wait != GPU_WAIT_NONE || g->processing)
		return;
	g->processing = true;
	do {
		vring_kicks_disable(vq);
		while (g->ctrl_wait == GPU_WAIT_NONE) {
			int ret = vring_pop(vq, mem, g->chain);

			if (ret == -EAGAIN)
				break;
			if (ret == -EIO) {
				g->processing = false;
				g->host->queue_fail(g->host_data, GPU_QUEUE_CTRL);
				return;
			}
			g->used = true;
			if (ret == -EBADMSG)
				ctrl_malformed(g, vq, g->chain);
			else
				ctrl_handle(g, vq, g->chain);
		}
		more = g->ctrl_wait == GPU_WAIT_NONE && vring_kicks_enable(vq);
	} while (more);
	g->processing = false;
	defer_walk_end(g);
	g->host->queue_flush(g->host_data, GPU_QUEUE_CTRL);
}

/* ---------- cursor queue ---------- */

static void
cursor_handle(struct gpu *g, const struct virtio_gpu_update_cursor *c)
{
	struct gpu_resource *r;

	if (c->pos.scanout_id >= VIRTIO_GPU_MAX_SCANOUTS) {
		log_limited(LOG_LVL_WARN, "cursor: scanout %u out of range",
			    c->pos.scanout_id);
		return;
	}
	if (c->hdr.type == VIRTIO_GPU_CMD_UPDATE_CURSOR && c->resource_id) {
		r = res_find(g, c->resource_id);
		if (!r || r->width != DISPLAY_CURSOR_SIZE ||
		    r->height != DISPLAY_CURSOR_SIZE) {
			log_limited(LOG_LVL_WARN,
				    "cursor: resource %u is not a 64x64 image",
				    c->resource_id);
			return;
		}
		if (r->virgl) {
			if (virgl_cursor_image(r->id, g->cursor.data) < 0) {
				log_limited(LOG_LVL_WARN,
					    "cursor: no image for resource %u",
					    r->id);
				return;
			}
		} else {
			gpu_format_to_xrgb(r->format, g->cursor.data, r->data,
					   DISPLAY_CURSOR_SIZE * DISPLAY_CURSOR_SIZE);
		}
		g->cursor.hot_x = c->hot_x;
		g->cursor.hot_y = c->hot_y;
		g->cursor_visible = true;
		g->cursor_image_dirty = true;
	} else if (c->hdr.type == VIRTIO_GPU_CMD_UPDATE_CURSOR) {
		/* Resource 0 hides it: an image still owed is moot. */
		g->cursor_visible = false;
		g->cursor_image_dirty = false;
	}
	g->cursor.pos.scanout_id = c->pos.scanout_id;
	g->cursor.pos.x = c->pos.x;
	g->cursor.pos.y = c->pos.y;
	/* A new image that will be sent carries the position with it. */
	g->cursor_pos_dirty = !(g->cursor_image_dirty && g->cursor_visible);
}

static void
cursor_process(struct gpu *g)
{
	const struct memmap *mem = g->host->memory(g->host_data);
	struct vring_queue *vq;
	struct vring_chain *ch = g->cursor_chain;

	vq = g->host->queue_ring(g->host_data, GPU_QUEUE_CURSOR);
	if (!vq || g->processing)
		return;
	g->processing = true;
	do {
		int ret;

		vring_kicks_disable(vq);
		while ((ret = vring_pop(vq, mem, ch)) != -EAGAIN) {
			struct virtio_gpu_update_cursor c;

			if (ret == -EIO) {
				g->processing = false;
				g->host->queue_fail(g->host_data, GPU_QUEUE_CURSOR);
				return;
			}
			/* The cursor queue carries no answers. */
			if (ret == 0 && iov_to_buf(ch->iov, ch->nout, 0, &c,
						   sizeof(c)) == sizeof(c) &&
			    (c.hdr.type == VIRTIO_GPU_CMD_UPDATE_CURSOR ||
			     c.hdr.type == VIRTIO_GPU_CMD_MOVE_CURSOR))
				cursor_handle(g, &c);
			else
				log_limited(LOG_LVL_WARN,
					    "cursor queue: malformed command");
			vring_push(vq, ch->head, 0);
		}
	} while (vring_kicks_enable(vq));
	g->processing = false;
	g->host->queue_flush(g->host_data, GPU_QUEUE_CURSOR);
	sink_pump(g);
}

/* ---------- the display socket ---------- */

static_assert(sizeof(struct gpu_update_head) == 32, "UPDATE head");

/* Room for n iovecs in g->tx_iov. */
static int
tx_iov_room(struct gpu *g, unsigned n)
{
	struct iovec *p;

	if (n <= g->tx_iov_cap)
		return 0;
	p = realloc(g->tx_iov, n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	g->tx_iov = p;
	g->tx_iov_cap = n;
	return 0;
}

/* Write the n iovecs in g->tx_iov, one message of `request` or several
 * UPDATEs; with pixels, those after the head may go by reference. */
static int
sink_write(struct gpu *g, uint32_t request, unsigned n, bool pixels)
{
	int ret;

	g->sink = GPU_SINK_SENDING;
	g->tx_ref_end = pixels ? (const uint8_t *)g->tx_iov[2].iov_base +
				 g->tx_iov[2].iov_len : NULL;
	ret = g->host->display_send(g->host_data, g->tx_iov, n, pixels ? 2 : n);
	if (ret < 0) {
		/* Nothing is in flight: carry on as if the display left, so
		 * that nothing waits on it. */
		log_limited(LOG_LVL_ERROR, "display: cannot send: %s",
			    strerror(-ret));
		res_unref(g, g->tx_res);
		g->tx_res = NULL;
		gpu_display_lost(g);
		return ret;
	}
	if (display_has_reply(request) && request != DISPLAY_DMABUF_UPDATE)
		g->awaiting = request;
	return 0;
}

/* Send request with its payload, then ndata iovecs of data; pixels
 * (data straight from a resource) may go by reference. */
static int
sink_send(struct gpu *g, uint32_t request, size_t payload_len,
	  const struct iovec *data, unsigned ndata, size_t data_len, bool pixels)
{
	unsigned need = 2 + ndata;

	if (tx_iov_room(g, need) < 0)
		return -ENOMEM;
	g->tx_hdr.request = request;
	g->tx_hdr.flags = 0;
	g->tx_hdr.size = (uint32_t)(payload_len + data_len);
	g->tx_iov[0] = (struct iovec){ &g->tx_hdr, sizeof(g->tx_hdr) };
	g->tx_iov[1] = (struct iovec){ &g->tx_payload, payload_len };
	if (ndata && data != g->tx_iov + 2)
		memcpy(g->tx_iov + 2, data, ndata * sizeof(*data));
	return sink_write(g, request, need, pixels);
}

/* Damage rectangle d of scanout i is rows apart in the resource (not
 * whole rows, which may be spliced), of x8r8g8b8 pixels (no staging). */
static bool
rows_apart(const struct gpu_scanout *s, const struct virtio_gpu_rect *d)
{
	return gpu_format_is_xrgb(s->res->format) &&
	       !(s->r.x + d->x == 0 && d->width == s->res->width);
}

/*
 * Send d, rows apart, one iovec per row gathered by sendmsg (no staging
 * copy), and with it the small damage owed after it that goes the same
 * way, each UPDATE with its own head: a desktop frame's text cells and
 * widgets in a few writes and wake-ups of the frontend, not one each.
 * Up to GPU_UPDATE_BATCH bytes: past that a write's own cost is small
 * next to its copy, and damage redrawn faster than the display takes it
 * (the ring kept full of flushes) keeps coalescing while it is owed
 * rather than going out again with every write.
 */
static int
sink_send_rows(struct gpu *g, unsigned i, struct virtio_gpu_rect d)
{
	struct gpu_scanout *s = &g->scanout[i];
	struct gpu_resource *r = s->res;
	unsigned n = 0, k = 0;
	uint64_t bytes = (uint64_t)d.width * d.height * 4;
	int ret;

	for (;;) {
		struct gpu_update_head *h = &g->tx_batch[k++];
		uint64_t x0 = (uint64_t)s->r.x + d.x, y0 = (uint64_t)s->r.y + d.y;

		if (tx_iov_room(g, n + 1 + d.height) < 0)
			return -ENOMEM;
		h->hdr = (struct display_hdr){
			DISPLAY_UPDATE, 0,
			(uint32_t)(sizeof(h->u) + (uint64_t)d.width * d.height * 4),
		};
		h->u = (struct display_update){ i, d.x, d.y, d.width, d.height };
		g->tx_iov[n++] = (struct iovec){ h, sizeof(*h) };
		for (uint32_t y = 0; y < d.height; y++)
			g->tx_iov[n++] = (struct iovec){
				r->data + (y0 + y) * r->stride + x0 * 4,
				(size_t)d.width * 4,
			};
		if (k == GPU_MAX_DAMAGE || !s->ndamage)
			break;
		d = s->damage[0];
		bytes += (uint64_t)d.width * d.height * 4;
		if (!rows_apart(s, &d) || n + 1 + d.height > IOV_MAX ||
		    bytes > GPU_UPDATE_BATCH)
			break;
		memmove(&s->damage[0], &s->damage[1],
			(s->ndamage - 1) * sizeof(s->damage[0]));
		s->ndamage--;
	}
	g->tx_res = res_ref(r);
	ret = sink_write(g, DISPLAY_UPDATE, n, false);
	if (ret < 0)
		return ret;	/* sink_write dropped the reference */
	g->updates_sent += k;
	return 0;
}

/* Send scanout i's damage: pixels straight from the resource. */
static int
sink_send_update(struct gpu *g, unsigned i)
{
	struct gpu_scanout *s = &g->scanout[i];
	struct gpu_resource *r = s->res;
	struct virtio_gpu_rect d = s->damage[0];
	uint64_t x0 = (uint64_t)s->r.x + d.x, y0 = (uint64_t)s->r.y + d.y;
	uint64_t row = (uint64_t)d.width * 4;	/* <= 64 KiB: scanouts are capped */
	uint32_t band = (uint32_t)(GPU_UPDATE_BAND / row);
	size_t data_len;
	void *data;
	bool by_ref = false;
	int ret;

	/* The frontend buffers a whole message: send tall damage in bands,
	 * top first; the rest stays owed. */
	if (d.height > band) {
		s->damage[0].y += band;
		s->damage[0].height -= band;
		d.height = band;
	} else {
		memmove(&s->damage[0], &s->damage[1],
			(s->ndamage - 1) * sizeof(s->damage[0]));
		s->ndamage--;
	}
	data_len = (size_t)(row * d.height);
	/* Only a whole-row UPDATE copies a deferred transfer as it goes. */
	if (r == g->defer.res &&
	    !(gpu_format_is_xrgb(r->format) && x0 == 0 && d.width == r->width))
		defer_finish(g);
	if (rows_apart(s, &d))
		return sink_send_rows(g, i, d);
	g->tx_payload.update = (struct display_update){
		.scanout_id = i, .x = d.x, .y = d.y,
		.width = d.width, .height = d.height,
	};
	if (!gpu_format_is_xrgb(r->format)) {
		/* Converted into a staging buffer: one iovec. */
		if (data_len > g->tx_staging_cap) {
			uint32_t *n = realloc(g->tx_staging, data_len);

			if (!n)
				return -ENOMEM;
			g->tx_staging = n;
			g->tx_staging_cap = data_len;
		}
		for (uint32_t y = 0; y < d.height; y++)
			gpu_format_to_xrgb(r->format, g->tx_staging + (size_t)y * d.width,
					   r->data + (y0 + y) * r->stride + x0 * 4,
					   d.width);
		data = g->tx_staging;
	} else {
		/* Whole rows: contiguous in the resource, and so worth
		 * splicing when large. Rows apart (above) would fill the pipe
		 * and the socket's buffers with page pieces: those are
		 * copied. */
		data = r->data + y0 * r->stride;
		by_ref = true;
	}
	if (tx_iov_room(g, 3) < 0)
		return -ENOMEM;
	g->tx_iov[2] = (struct iovec){ data, data_len };
	g->tx_res = res_ref(r);
	ret = sink_send(g, DISPLAY_UPDATE, sizeof(g->tx_payload.update),
			g->tx_iov + 2, 1, data_len, by_ref);
	if (ret < 0)
		return ret;	/* sink_send dropped the reference */
	g->updates_sent++;
	return 0;
}

/* A cursor image goes out in its own buffer: not the shared payload. */
static int
sink_send_cursor(struct gpu *g)
{
	struct iovec data = { &g->cursor, sizeof(g->cursor) };

	g->cursor_image_dirty = false;
	g->cursor_pos_dirty = false;
	return sink_send(g, DISPLAY_CURSOR_UPDATE, 0, &data, 1,
			 sizeof(g->cursor), false);
}

/* The display is idle: send the most important thing that is owed. */
static void
sink_pump(struct gpu *g)
{
	if (g->sink != GPU_SINK_IDLE)
		return;

	if (g->handshake == GPU_HS_GET) {
		g->handshake = GPU_HS_WAIT;
		sink_send(g, DISPLAY_GET_PROTOCOL_FEATURES, 0, NULL, 0, 0, false);
		return;
	}
	if (g->handshake == GPU_HS_SET) {
		g->handshake = GPU_HS_DONE;
		g->tx_payload.features = g->display_features;
		sink_send(g, DISPLAY_SET_PROTOCOL_FEATURES,
			  sizeof(g->tx_payload.features), NULL, 0, 0, false);
		return;
	}
	if (g->handshake != GPU_HS_DONE)
		return;
	if (g->ctrl_wait == GPU_WAIT_DISPLAY_INFO) {
		sink_send(g, DISPLAY_GET_DISPLAY_INFO, 0, NULL, 0, 0, false);
		return;
	}
	if (g->ctrl_wait == GPU_WAIT_EDID) {
		g->tx_payload.edid.scanout_id = g->ctrl_wait_scanout;
		sink_send(g, DISPLAY_GET_EDID, sizeof(g->tx_payload.edid),
			  NULL, 0, 0, false);
		return;
	}
	for (unsigned i = 0; i < VIRTIO_GPU_MAX_SCANOUTS; i++) {
		struct gpu_scanout *s = &g->scanout[i];

		if (!s->config_dirty)
			continue;
		s->config_dirty = false;
		s->width = s->res ? s->r.width : 0;
		s->height = s->res ? s->r.height : 0;
		g->tx_payload.scanout = (struct display_scanout){
			i, s->width, s->height,
		};
		sink_send(g, DISPLAY_SCANOUT, sizeof(g->tx_payload.scanout),
			  NULL, 0, 0, false);
		return;
	}
	if (g->cursor_image_dirty && g->cursor_visible) {
		sink_send_cursor(g);
		return;
	}
	if (g->cursor_pos_dirty) {
		g->cursor_pos_dirty = false;
		g->tx_payload.pos = g->cursor.pos;
		sink_send(g, g->cursor_visible ? DISPLAY_CURSOR_POS :
			     DISPLAY_CURSOR_POS_HIDE,
			  sizeof(g->tx_payload.pos), NULL, 0, 0, false);
		return;
	}
	for (unsigned n = 0; n < VIRTIO_GPU_MAX_SCANOUTS; n++) {
		unsigned i = (g->next_update + n) % VIRTIO_GPU_MAX_SCANOUTS;
		struct gpu_scanout *s = &g->scanout[i];

		if (!s->res || s->ndamage == 0)
			continue;
		g->next_update = (i + 1) % VIRTIO_GPU_MAX_SCANOUTS;
		if (sink_send_update(g, i) == -ENOMEM)
			log_limited(LOG_LVL_ERROR, "scanout %u: no memory for an update", i);
		return;
	}
}

static void display_switch(struct gpu *g);

void
gpu_display_sent(struct gpu *g)
{
	if (g->sink != GPU_SINK_SENDING)
		return;
	defer_finish(g);
	res_unref(g, g->tx_res);
	g->tx_res = NULL;
	if (g->display_switch) {
		display_switch(g);
		return;
	}
	if (g->awaiting) {
		g->sink = GPU_SINK_AWAITING;
		return;
	}
	g->sink = GPU_SINK_IDLE;
	sink_pump(g);
}

void
gpu_display_input(struct gpu *g, const struct display_hdr *hdr,
		  const void *payload)
{
	struct display_reply reply;
	uint32_t want = g->awaiting;

	if (!want || display_reply_check(hdr, want) < 0 ||
	    display_reply_parse(hdr, payload, &reply) < 0) {
		log_limited(LOG_LVL_WARN,
			    "display: unexpected message %u (size %u) ignored",
			    hdr->request, hdr->size);
		return;
	}
	g->awaiting = 0;
	switch (want) {
	case DISPLAY_GET_PROTOCOL_FEATURES:
		g->display_features = reply.u.features & DISPLAY_PF_OURS;
		g->handshake = GPU_HS_SET;
		break;
	case DISPLAY_GET_DISPLAY_INFO:
		g->display_info = reply.u.info;
		g->display_info_valid = true;
		break;
	}
	/* The reply can overtake the completion of the send that asked for
	 * it; then gpu_display_sent() makes the sink idle. */
	if (g->sink == GPU_SINK_AWAITING)
		g->sink = GPU_SINK_IDLE;
	/* Only the reply the waiting command asked for finishes it: a late
	 * reply to a command answered locally meanwhile must not. */
	if ((want == DISPLAY_GET_DISPLAY_INFO && g->ctrl_wait == GPU_WAIT_DISPLAY_INFO) ||
	    (want == DISPLAY_GET_EDID && g->ctrl_wait == GPU_WAIT_EDID)) {
		ctrl_wait_finish(g, &reply);
		ctrl_process(g);
	}
	sink_pump(g);
}

/* Forget the display: answer a waiting command locally. */
void
gpu_display_lost(struct gpu *g)
{
	if (g->sink != GPU_SINK_NONE)
		log_info("display socket closed");
	defer_finish(g);
	g->sink = GPU_SINK_NONE;
	g->awaiting = 0;
	g->handshake = GPU_HS_GET;
	res_unref(g, g->tx_res);
	g->tx_res = NULL;
	if (g->ctrl_wait != GPU_WAIT_NONE) {
		ctrl_wait_finish(g, NULL);
		ctrl_process(g);
	}
	if (g->display_switch)
		display_switch(g);
}

/* ---------- vhost-user device ops ---------- */

static uint64_t
gpu_features(void *impl)
{
	struct gpu *g = impl;
	uint64_t f = (1ull << VIRTIO_GPU_F_EDID) |
		     (1ull << VIRTIO_GPU_F_RESOURCE_UUID);

	if (g->virgl)
		f |= (1ull << VIRTIO_GPU_F_VIRGL) |
		     (1ull << VIRTIO_GPU_F_CONTEXT_INIT);
	return f;
}

static void
gpu_set_features(void *impl, uint64_t features)
{
	struct gpu *g = impl;

	g->features = features;
}

static int
gpu_get_config(void *impl, void *buf, uint32_t offset, uint32_t len)
{
	struct gpu *g = impl;

	if (offset > sizeof(g->config) || len > sizeof(g->config) - offset)
		return -EINVAL;
	memcpy(buf, (const uint8_t *)&g->config + offset, len);
	return (int)len;
}

static int
gpu_set_config(void *impl, const void *buf, uint32_t offset, uint32_t len)
{
	struct gpu *g = impl;
	const uint32_t at = offsetof(struct virtio_gpu_config, events_clear);
	uint32_t clear;

	if (offset > sizeof(g->config) || len > sizeof(g->config) - offset)
		return -EINVAL;
	/* Only events_clear is writable (QEMU writes the whole config);
	 * writes to the read-only fields are ignored, as a device does. */
	if (offset > at || offset + len < at + sizeof(clear))
		return 0;
	memcpy(&clear, (const uint8_t *)buf + (at - offset), sizeof(clear));
	g->config.events_read &= ~clear;
	return 0;
}

static void state_reset(struct gpu *g);

static void
gpu_queue_start(void *impl, unsigned q)
{
	struct gpu *g = impl;
	struct vring_queue *vq = g->host->queue_ring(g->host_data, q);

	/*
	 * When the guest resets the device (a reboot), QEMU 10 sends
	 * RESET_DEVICE, which we offer. A frontend that does not only stops
	 * the queues and starts them again, as for a pause. What differs is
	 * the ring: a driver that reset the device starts its control ring
	 * afresh (avail and used at 0), while a paused one goes on where it
	 * was. Then everything the guest had is forgotten, as a reset
	 * device would.
	 */
	if (q == GPU_QUEUE_CTRL && vq && g->used && vq->last_avail == 0 &&
	    vq->used_idx == 0) {
		log_info("control queue restarted from scratch: the guest reset "
			 "the device; dropping its resources and contexts");
		state_reset(g);
	}
	log_debug("queue %u started", q);
}

static void
gpu_queue_stop(void *impl, unsigned q)
{
	struct gpu *g = impl;

	/* A command waiting on the display is answered now, while the ring
	 * is still there (vu_queue_ring still returns it here). */
	if (q == GPU_QUEUE_CTRL && g->ctrl_wait != GPU_WAIT_NONE)
		ctrl_wait_finish(g, NULL);
	/* Fenced commands still waiting go back now: the ring is handed
	 * over (or reset) and their descriptors must not be lost. */
	if (q == GPU_QUEUE_CTRL) {
		fences_retire(g, false, 0, 0, 0, false);
		defer_finish(g);
	}
	log_debug("queue %u stopped", q);
}

static void
gpu_queue_kick(void *impl, unsigned q)
{
	struct gpu *g = impl;

	if (q == GPU_QUEUE_CTRL)
		ctrl_process(g);
	else if (q == GPU_QUEUE_CURSOR)
		cursor_process(g);
}

/* Guest memory moved: translate every backing again. */
static void
gpu_mem_changed(void *impl)
{
	struct gpu *g = impl;
	const struct memmap *mem = g->host->memory(g->host_data);
	bool resume = false;

	/* The waiting chain points into mappings about to go: answer it
	 * now, locally, and go on with the queue afterwards. */
	if (g->ctrl_wait != GPU_WAIT_NONE) {
		ctrl_wait_finish(g, NULL);
		resume = true;
	}
	/* A deferred transfer reads the old mappings, and its answers go
	 * there. */
	defer_finish(g);
	/* Answers waiting for fences point into the old mappings too. */
	if (g->nfences) {
		log_limited(LOG_LVL_WARN, "guest memory changed with %u fences "
			    "pending: answering them early", g->nfences);
		fences_retire(g, false, 0, 0, 0, false);
	}
	for (unsigned b = 0; b < 1024; b++) {
		for (struct gpu_resource *r = g->table[b]; r; r = r->next) {
			unsigned cap = r->backing.niov;

			if (!r->has_backing)
				continue;
			if (r->virgl)
				virgl_resource_detach(r->id);
			if (gpu_backing_translate(&r->backing, mem, r->backing.ents,
						  r->backing.nents, cap) == 0) {
				if (r->virgl)
					virgl_resource_attach(r->id, r->backing.iov,
							      r->backing.niov);
				continue;
			}
			/* Merged runs may split differently now: give it
			 * the most room before giving up. */
			cap = GPU_MAX_BACKING_IOV;
			{
				struct iovec *iov = realloc(r->backing.iov,
							    cap * sizeof(*iov));
				uint64_t *ends;

				if (iov)
					r->backing.iov = iov;
				ends = realloc(r->backing.ends, cap * sizeof(*ends));
				if (ends)
					r->backing.ends = ends;
				if (iov && ends &&
				    gpu_backing_translate(&r->backing, mem,
							  r->backing.ents,
							  r->backing.nents, cap) == 0) {
					if (r->virgl)
						virgl_resource_attach(r->id,
								      r->backing.iov,
								      r->backing.niov);
					continue;
				}
			}
			log_limited(LOG_LVL_WARN,
				    "resource %u: backing left guest memory; detached",
				    r->id);
			backing_free(r);
		}
	}
	if (resume)
		ctrl_process(g);
}

/* Move to the display socket in g->next_display_fd (no send in flight). */
static void
display_switch(struct gpu *g)
{
	int fd = g->next_display_fd;

	g->display_switch = false;
	g->next_display_fd = -1;
	if (g->sink != GPU_SINK_NONE) {
		/* Forget the old socket: a command waiting on it is
		 * answered locally. */
		g->sink = GPU_SINK_NONE;
		g->awaiting = 0;
		g->handshake = GPU_HS_GET;
		if (g->ctrl_wait != GPU_WAIT_NONE) {
			ctrl_wait_finish(g, NULL);
			ctrl_process(g);
		}
	}
	g->host->display_attach(g->host_data, fd);
	if (fd < 0)
		return;
	/* A new display (QEMU sends one after every guest reset): agree on
	 * features again and show it everything. */
	g->sink = GPU_SINK_IDLE;
	for (unsigned i = 0; i < VIRTIO_GPU_MAX_SCANOUTS; i++) {
		struct gpu_scanout *s = &g->scanout[i];

		if (!s->res)
			continue;
		s->config_dirty = true;
		damage_full(s);
	}
	if (g->cursor_visible)
		g->cursor_image_dirty = true;
	log_debug("display socket set");
	sink_pump(g);
}

static void
gpu_set_display(void *impl, int fd)
{
	struct gpu *g = impl;

	/* A newer socket replaces one still waiting for its turn. */
	if (g->display_switch && g->next_display_fd >= 0)
		close(g->next_display_fd);
	g->next_display_fd = fd;
	g->display_switch = true;
	if (g->sink == GPU_SINK_SENDING) {
		/* The send in flight still uses the old socket and our
		 * buffers: switch when it completes, which is soon. */
		g->host->display_abort(g->host_data);
		return;
	}
	display_switch(g);
}

static void
resources_free(struct gpu *g)
{
	for (unsigned i = 0; i < VIRTIO_GPU_MAX_SCANOUTS; i++)
		scanout_disable(g, i);
	for (unsigned b = 0; b < 1024; b++) {
		while (g->table[b]) {
			res_destroy(g, g->table[b]);
		}
	}
}

/* What the guest created goes: resources, contexts, scanouts, cursor. */
static void
state_reset(struct gpu *g)
{
	/* A command still waiting on the display is not answered: the
	 * rings are being reset under it. */
	g->ctrl_wait = GPU_WAIT_NONE;
	g->nfences = 0;
	defer_drop(g);
	virgl_reset(g);
	/* Scanouts go dark (the display is told so) and every resource
	 * goes; pixels still being sent are freed once they are out. */
	resources_free(g);
	g->cursor_image_dirty = g->cursor_pos_dirty = g->cursor_visible = false;
	g->used = false;
	sink_pump(g);
}

static void
gpu_reset(void *impl)
{
	struct gpu *g = impl;

	state_reset(g);
	g->features = 0;
	g->config.events_read = 0;
	g->config.events_clear = 0;
}

const struct vu_device_ops gpu_vu_ops = {
	.features = gpu_features,
	.set_features = gpu_set_features,
	.get_config = gpu_get_config,
	.set_config = gpu_set_config,
	.queue_start = gpu_queue_start,
	.queue_stop = gpu_queue_stop,
	.queue_kick = gpu_queue_kick,
	.mem_changed = gpu_mem_changed,
	.set_display = gpu_set_display,
	.reset = gpu_reset,
};

int
gpu_init(struct gpu *g, const struct gpu_options *opt,
	 const struct gpu_host_ops *host, void *host_data)
{
	memset(g, 0, sizeof(*g));
	g->opt = *opt;
	if (!g->opt.max_hostmem)
		g->opt.max_hostmem = GPU_DEFAULT_MAX_HOSTMEM;
	g->host = host;
	g->host_data = host_data;
	g->next_display_fd = -1;
	g->chain = malloc(sizeof(*g->chain));
	g->cursor_chain = malloc(sizeof(*g->cursor_chain));
	if (!g->chain || !g->cursor_chain) {
		free(g->chain);
		free(g->cursor_chain);
		return -ENOMEM;
	}
	/* QEMU fills num_scanouts itself; other frontends read ours. */
	g->config.num_scanouts = 1;
	g->config.num_capsets = 0;
	return 0;
}

int
gpu_start_virgl(struct gpu *g, const char **why)
{
	int fd, ret;

	ret = virgl_start(g, g->opt.render_node, g->opt.surfaceless, why);
	if (ret < 0)
		return ret;
	fd = virgl_poll_fd();
	if (fd >= 0) {
		ret = g->host->watch_fd(g->host_data, fd);
		if (ret < 0) {
			virgl_stop(g);
			*why = "cannot watch the renderer's fence fd";
			return ret;
		}
	}
	g->virgl = true;
	g->config.num_capsets = virgl_num_capsets();
	return 0;
}

void
gpu_finish(struct gpu *g)
{
	defer_drop(g);
	res_unref(g, g->tx_res);
	g->tx_res = NULL;
	resources_free(g);
	if (g->display_switch && g->next_display_fd >= 0)
		close(g->next_display_fd);
	if (g->virgl)
		virgl_stop(g);
	free(g->fences);
	free(g->chain);
	free(g->cursor_chain);
	free(g->tx_iov);
	free(g->tx_staging);
	g->chain = NULL;
	g->tx_iov = NULL;
	g->tx_staging = NULL;
}
