/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A small encoder for virgl command streams (what SUBMIT_3D carries), for
 * the tests and the benchmark: enough to create a surface on a resource,
 * bind it as the one colour buffer, and clear it, which is what a guest's
 * Mesa does to put a known colour into a render target.
 *
 * The numbers are virglrenderer's wire protocol (src/virgl_protocol.h and
 * src/virgl_hw.h there, stable since the first release): a stream is a
 * sequence of dwords; each command is one header dword
 *
 *	length << 16 | object type << 8 | command
 *
 * (length: the dwords that follow the header) and its payload. Floats go
 * as their IEEE-754 bit patterns, a double as two dwords, low first.
 *
 * virglrenderer creates sub-context 0 with every context and makes it
 * current (vrend_create_context), so a stream needs no CREATE_SUB_CTX or
 * SET_SUB_CTX before its first command.
 *
 * Usage: venc_init() on a caller's dword array, append commands, then
 * send venc_bytes() bytes of it. An append that does not fit writes
 * nothing, returns -ENOSPC and marks the encoder (venc_failed()), so a
 * test can append several commands and check once.
 */
#ifndef TESTS_VIRGL_ENC_H
#define TESTS_VIRGL_ENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Commands (enum virgl_context_cmd). */
#define VENC_CCMD_NOP 0
#define VENC_CCMD_CREATE_OBJECT 1
#define VENC_CCMD_BIND_OBJECT 2
#define VENC_CCMD_DESTROY_OBJECT 3
#define VENC_CCMD_SET_FRAMEBUFFER_STATE 5
#define VENC_CCMD_CLEAR 7
#define VENC_CCMD_RESOURCE_INLINE_WRITE 9
#define VENC_CCMD_SET_SUB_CTX 28
#define VENC_CCMD_CREATE_SUB_CTX 29
#define VENC_CCMD_DESTROY_SUB_CTX 30

/* Object types (enum virgl_object_type). */
#define VENC_OBJ_NULL 0
#define VENC_OBJ_SURFACE 8

/* Payload sizes in dwords, without the header. */
#define VENC_SURFACE_SIZE 5	/* handle, resource, format, level, layers */
#define VENC_FRAMEBUFFER_SIZE(ncbufs) ((ncbufs) + 2)	/* n, zsurf, cbufs */
#define VENC_CLEAR_SIZE 8	/* buffers, rgba, depth (double), stencil */
#define VENC_DESTROY_SIZE 1	/* handle */
#define VENC_SUB_CTX_SIZE 1	/* sub-context id */

/* Gallium values the commands and RESOURCE_CREATE_3D take (virgl_hw.h,
 * p_defines.h). Formats share their numbers with VIRTIO_GPU_FORMAT_*. */
#define VENC_TARGET_TEXTURE_2D 2	/* PIPE_TEXTURE_2D */
#define VENC_FORMAT_B8G8R8A8_UNORM 1
#define VENC_FORMAT_B8G8R8X8_UNORM 2
#define VENC_BIND_RENDER_TARGET (1u << 1)
#define VENC_BIND_SAMPLER_VIEW (1u << 3)
#define VENC_BIND_SCANOUT (1u << 18)
#define VENC_CLEAR_DEPTH (1u << 0)	/* PIPE_CLEAR_* */
#define VENC_CLEAR_STENCIL (1u << 1)
#define VENC_CLEAR_COLOR0 (1u << 2)

/* The header dword of a command. */
#define VENC_CMD(cmd, obj, len) \
	((uint32_t)(cmd) | (uint32_t)(obj) << 8 | (uint32_t)(len) << 16)

struct venc {
	uint32_t *buf;		/* the caller's: cap dwords */
	size_t cap;
	size_t len;		/* dwords written */
	bool failed;		/* an append did not fit */
};

void venc_init(struct venc *e, uint32_t *buf, size_t cap);
/* Bytes to send: 4 * len. */
size_t venc_bytes(const struct venc *e);
bool venc_failed(const struct venc *e);

/* A command as it is: header (cmd, obj, n) and n payload dwords. For
 * the commands below and for hostile streams (lying lengths, unknown
 * commands). 0 or -ENOSPC. */
int venc_cmd(struct venc *e, uint32_t cmd, uint32_t obj, const uint32_t *payload,
	     uint32_t n);
/* Dwords as they are, no header. */
int venc_raw(struct venc *e, const uint32_t *dw, size_t n);

/*
 * CREATE_OBJECT SURFACE: surface `handle` (a per-context object handle,
 * not 0) on mip level `level`, layers first..last, of resource `res`,
 * viewed as `format`. The resource must be attached to the context.
 */
int venc_create_surface(struct venc *e, uint32_t handle, uint32_t res,
			uint32_t format, uint32_t level, uint32_t first_layer,
			uint32_t last_layer);
/* DESTROY_OBJECT of a surface. */
int venc_destroy_surface(struct venc *e, uint32_t handle);
/* SET_FRAMEBUFFER_STATE with one colour buffer (surface cbuf, 0: none)
 * and depth/stencil surface zsurf (0: none). */
int venc_set_framebuffer(struct venc *e, uint32_t cbuf, uint32_t zsurf);
/* CLEAR of the colour buffer 0 to rgba (0..1 each; the render target's
 * format decides the bits). */
int venc_clear_color(struct venc *e, const float rgba[4]);
/* CLEAR of any buffers (VENC_CLEAR_* bits), with depth and stencil. */
int venc_clear(struct venc *e, uint32_t buffers, const float rgba[4],
	       double depth, uint32_t stencil);
/* CREATE_SUB_CTX / SET_SUB_CTX / DESTROY_SUB_CTX. Not needed for sub-
 * context 0, which every context starts with. */
int venc_create_sub_ctx(struct venc *e, uint32_t id);
int venc_set_sub_ctx(struct venc *e, uint32_t id);
int venc_destroy_sub_ctx(struct venc *e, uint32_t id);

#endif /* TESTS_VIRGL_ENC_H */
