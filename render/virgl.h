/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * 3D through virglrenderer: the renderer's start-up, capsets, contexts,
 * 3D commands, fences and the read-back of scanouts. render/gpu.c calls
 * in here for every command when --virgl is active; without virgl
 * (configure --disable-virgl) these are stubs that say so.
 */
#ifndef RENDER_VIRGL_H
#define RENDER_VIRGL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/virtio_gpu.h>

struct gpu;
struct gpu_resource;
struct vring_chain;
struct vring_queue;

#define VIRGL_MAX_CONTEXTS 1024
#define VIRGL_MAX_SUBMIT (16u << 20)	/* bytes in one SUBMIT_3D */
#define VIRGL_NUM_CAPSETS 2		/* VIRGL and VIRGL2 */
#define VIRGL_BIND_RENDER_TARGET (1u << 1)	/* virgl_hw.h */

/* True when this build has virglrenderer. */
bool virgl_available(void);

/*
 * Start virglrenderer once, before any frontend: on the render node (GBM +
 * EGL) when one is given or found and surfaceless is false, else on EGL
 * surfaceless (Mesa's software driver on a machine without a GPU).
 * Returns 0 or -errno with *why saying what failed.
 */
int virgl_start(struct gpu *g, const char *render_node, bool surfaceless,
		const char **why);
void virgl_stop(struct gpu *g);

/* The fd to watch for fence completions (POLLIN), or -1. */
int virgl_poll_fd(void);
/* Fences may have completed: deliver them (calls gpu_virgl_fence_done). */
void virgl_poll(struct gpu *g);

/* How many capsets the renderer offers (num_capsets in the config). */
unsigned virgl_num_capsets(void);

/* Capsets: 0 or a VIRTIO_GPU_RESP_ERR_*. */
uint32_t virgl_capset_info(uint32_t index, uint32_t *id, uint32_t *max_ver,
			   uint32_t *max_size);
/* Fill caps (max_size bytes) for id/version; 0 or an error code. */
uint32_t virgl_capset(uint32_t id, uint32_t version, void *caps,
		      uint32_t max_size);

/* Commands; each returns a VIRTIO_GPU_RESP_* type. */
uint32_t virgl_ctx_create(struct gpu *g, const struct virtio_gpu_ctx_create *c,
			  bool context_init);
uint32_t virgl_ctx_destroy(struct gpu *g, uint32_t ctx_id);
uint32_t virgl_ctx_resource(struct gpu *g, uint32_t ctx_id,
			    struct gpu_resource *r, bool attach);
uint32_t virgl_submit(struct gpu *g, const struct vring_chain *ch,
		      size_t offset, uint32_t size, uint32_t ctx_id);
uint32_t virgl_transfer_3d(struct gpu *g, struct gpu_resource *r,
			   const struct virtio_gpu_transfer_host_3d *t,
			   bool to_host);

/* Resources living in the renderer. */
int virgl_resource_create(uint32_t id, uint32_t target, uint32_t format,
			  uint32_t bind, uint32_t width, uint32_t height,
			  uint32_t depth, uint32_t array_size,
			  uint32_t last_level, uint32_t nr_samples,
			  uint32_t flags);
void virgl_resource_unref(uint32_t id);
int virgl_resource_attach(uint32_t id, struct iovec *iov, unsigned n);
void virgl_resource_detach(uint32_t id);
/* TRANSFER_TO_HOST_2D on a virgl resource. */
int virgl_transfer_2d(uint32_t id, const struct virtio_gpu_rect *r,
		      uint64_t offset);
/* Read rect r of resource id into data (stride bytes a row, rows top
 * first as a display wants them). */
int virgl_read_rect(uint32_t id, uint32_t res_height,
		    const struct virtio_gpu_rect *r, uint8_t *data,
		    uint64_t stride);
/* 64x64 cursor image of a virgl resource into dst (a8r8g8b8). */
int virgl_cursor_image(uint32_t id, uint32_t *dst);

/* Create a fence for a fenced command (global, or per context ring). */
int virgl_fence_create(uint64_t fence_id, uint32_t ctx_id, uint32_t ring_idx,
		       bool per_context);

/* Forget every context (device reset). */
void virgl_reset(struct gpu *g);

#endif /* RENDER_VIRGL_H */
