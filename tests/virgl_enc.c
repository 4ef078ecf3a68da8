/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The virgl command-stream encoder of the tests and the benchmark (see
 * virgl_enc.h). */
#include <errno.h>
#include <string.h>

#include "tests/virgl_enc.h"

void
venc_init(struct venc *e, uint32_t *buf, size_t cap)
{
	e->buf = buf;
	e->cap = cap;
	e->len = 0;
	e->failed = false;
}

size_t
venc_bytes(const struct venc *e)
{
	return e->len * 4;
}

bool
venc_failed(const struct venc *e)
{
	return e->failed;
}

int
venc_raw(struct venc *e, const uint32_t *dw, size_t n)
{
	if (n > e->cap - e->len) {
		e->failed = true;
		return -ENOSPC;
	}
	if (n == 0)
		return 0;	/* dw may be NULL */
	memcpy(e->buf + e->len, dw, n * 4);
	e->len += n;
	return 0;
}

int
venc_cmd(struct venc *e, uint32_t cmd, uint32_t obj, const uint32_t *payload,
	 uint32_t n)
{
	uint32_t h = VENC_CMD(cmd, obj, n);

	/* Header and payload together, or nothing. */
	if ((size_t)n + 1 > e->cap - e->len) {
		e->failed = true;
		return -ENOSPC;
	}
	venc_raw(e, &h, 1);
	return venc_raw(e, payload, n);
}

static uint32_t
float_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

int
venc_create_surface(struct venc *e, uint32_t handle, uint32_t res,
		    uint32_t format, uint32_t level, uint32_t first_layer,
		    uint32_t last_layer)
{
	const uint32_t p[VENC_SURFACE_SIZE] = {
		handle, res, format, level,
		(first_layer & 0xffff) | last_layer << 16,
	};

	return venc_cmd(e, VENC_CCMD_CREATE_OBJECT, VENC_OBJ_SURFACE, p,
			VENC_SURFACE_SIZE);
}

int
venc_destroy_surface(struct venc *e, uint32_t handle)
{
	return venc_cmd(e, VENC_CCMD_DESTROY_OBJECT, VENC_OBJ_SURFACE, &handle,
			VENC_DESTROY_SIZE);
}

int
venc_set_framebuffer(struct venc *e, uint32_t cbuf, uint32_t zsurf)
{
	const uint32_t p[VENC_FRAMEBUFFER_SIZE(1)] = { 1, zsurf, cbuf };

	return venc_cmd(e, VENC_CCMD_SET_FRAMEBUFFER_STATE, 0, p,
			VENC_FRAMEBUFFER_SIZE(1));
}

int
venc_clear(struct venc *e, uint32_t buffers, const float rgba[4], double depth,
	   uint32_t stencil)
{
	uint64_t d;
	uint32_t p[VENC_CLEAR_SIZE];

	memcpy(&d, &depth, sizeof(d));
	p[0] = buffers;
	for (unsigned i = 0; i < 4; i++)
		p[1 + i] = float_bits(rgba[i]);
	p[5] = (uint32_t)d;
	p[6] = (uint32_t)(d >> 32);
	p[7] = stencil;
	return venc_cmd(e, VENC_CCMD_CLEAR, 0, p, VENC_CLEAR_SIZE);
}

int
venc_clear_color(struct venc *e, const float rgba[4])
{
	return venc_clear(e, VENC_CLEAR_COLOR0, rgba, 1.0, 0);
}

int
venc_create_sub_ctx(struct venc *e, uint32_t id)
{
	return venc_cmd(e, VENC_CCMD_CREATE_SUB_CTX, 0, &id, VENC_SUB_CTX_SIZE);
}

int
venc_set_sub_ctx(struct venc *e, uint32_t id)
{
	return venc_cmd(e, VENC_CCMD_SET_SUB_CTX, 0, &id, VENC_SUB_CTX_SIZE);
}

int
venc_destroy_sub_ctx(struct venc *e, uint32_t id)
{
	return venc_cmd(e, VENC_CCMD_DESTROY_SUB_CTX, 0, &id, VENC_SUB_CTX_SIZE);
}
