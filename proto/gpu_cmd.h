/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-gpu commands (virtio 1.2+, "GPU Device"): request sizes, pixel
 * formats, the checks on rectangles and transfers, and guest backing
 * translated into iovecs. Pure code: returns 0 or -errno.
 */
#ifndef PROTO_GPU_CMD_H
#define PROTO_GPU_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/virtio_gpu.h>

struct memmap;

/* Most backing entries one ATTACH_BACKING may carry. */
#define GPU_MAX_BACKING_ENTRIES 16384

/* Size of the request struct for a command type, 0 if unknown. */
size_t gpu_cmd_size(uint32_t type);

/* "RESOURCE_CREATE_2D"; "UNKNOWN" for anything else. */
const char *gpu_cmd_name(uint32_t type);

/* Bytes per pixel of a VIRTIO_GPU_FORMAT_*, or 0 if not a 2D format. */
unsigned gpu_format_bpp(uint32_t format);

/* True when the format's memory layout is what the display socket
 * carries (x8r8g8b8 little-endian: B, G, R, X/A in memory). */
bool gpu_format_is_xrgb(uint32_t format);

/* Convert npix pixels of format to x8r8g8b8 (alpha kept where there is
 * one, 0xff otherwise). */
void gpu_format_to_xrgb(uint32_t format, uint32_t *dst, const void *src,
			size_t npix);

/* Bytes a width x height resource needs, or 0 when zero-sized or over
 * 2^63 (computed in 64 bits: no wrap). */
uint64_t gpu_resource_bytes(uint32_t width, uint32_t height, unsigned bpp);

/* r lies inside a width x height image (64-bit arithmetic). Empty
 * rectangles are inside. */
bool gpu_rect_inside(const struct virtio_gpu_rect *r, uint32_t width,
		     uint32_t height);

/* Intersection of a and b; false when empty. */
bool gpu_rect_intersect(const struct virtio_gpu_rect *a,
			const struct virtio_gpu_rect *b,
			struct virtio_gpu_rect *out);

/* Smallest rectangle holding both (a may be empty: width or height 0). */
void gpu_rect_union(struct virtio_gpu_rect *a, const struct virtio_gpu_rect *b);

/*
 * TRANSFER_TO_HOST_2D: rows of the rectangle r are read from the backing
 * at offset + row * stride (stride = resource width * bpp), as QEMU and
 * Linux agree. Check r against the resource and the last byte read against
 * the backing length. 0 or -EINVAL.
 */
int gpu_transfer_check(const struct virtio_gpu_rect *r, uint64_t offset,
		       uint32_t res_width, uint32_t res_height, unsigned bpp,
		       uint64_t backing_len);

/* Guest backing of a resource, translated into host iovecs. */
struct gpu_backing {
	unsigned nents;
	struct virtio_gpu_mem_entry *ents;	/* as the guest sent them */
	unsigned niov;
	struct iovec *iov;			/* contiguous runs merged */
	uint64_t *ends;				/* ends[i]: offset after iov[i] */
	uint64_t len;				/* total bytes */
};

/*
 * Translate ents (n of them) through mem into b->iov/b->ends, which must
 * have room for `cap` iovecs (an entry spanning k regions takes k; runs
 * contiguous in our address space are merged). b->ents is not touched.
 * Returns 0, -EFAULT (an entry is not in guest memory or wraps), -EINVAL
 * (a zero-length entry) or -E2BIG (more than cap iovecs).
 */
int gpu_backing_translate(struct gpu_backing *b, const struct memmap *mem,
			  const struct virtio_gpu_mem_entry *ents, unsigned n,
			  unsigned cap);

/* Copy len bytes at offset off of the backing to dst. The range must be
 * inside b->len (the caller checked). */
void gpu_backing_read(const struct gpu_backing *b, uint64_t off, void *dst,
		      size_t len);

/* Gather helpers over an iovec array: bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf,
		  size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off,
		    const void *buf, size_t len);

#endif /* PROTO_GPU_CMD_H */
