/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-gpu command helpers.
 *
 * Security model: every number here comes from the guest: resource sizes,
 * rectangles, offsets, backing addresses and lengths. All size arithmetic
 * is done in 64 bits on values that are at most 32 bits wide, so nothing
 * wraps; a range is accepted only if its last byte is inside what it
 * refers to. Backing entries are translated through the memory table, so
 * an iovec can only point into mapped guest memory.
 */
#include <errno.h>
#include <string.h>

#include "proto/gpu_cmd.h"
#include "proto/memmap.h"

struct cmd_info {
	uint32_t type;
	const char *name;
	size_t size;
};

static const struct cmd_info cmds[] = {
	{ VIRTIO_GPU_CMD_GET_DISPLAY_INFO, "GET_DISPLAY_INFO",
	  sizeof(struct virtio_gpu_ctrl_hdr) },
	{ VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, "RESOURCE_CREATE_2D",
	  sizeof(struct virtio_gpu_resource_create_2d) },
	{ VIRTIO_GPU_CMD_RESOURCE_UNREF, "RESOURCE_UNREF",
	  sizeof(struct virtio_gpu_resource_unref) },
	{ VIRTIO_GPU_CMD_SET_SCANOUT, "SET_SCANOUT",
	  sizeof(struct virtio_gpu_set_scanout) },
	{ VIRTIO_GPU_CMD_RESOURCE_FLUSH, "RESOURCE_FLUSH",
	  sizeof(struct virtio_gpu_resource_flush) },
	{ VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D, "TRANSFER_TO_HOST_2D",
	  sizeof(struct virtio_gpu_transfer_to_host_2d) },
	{ VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, "RESOURCE_ATTACH_BACKING",
	  sizeof(struct virtio_gpu_resource_attach_backing) },
	{ VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, "RESOURCE_DETACH_BACKING",
	  sizeof(struct virtio_gpu_resource_detach_backing) },
	{ VIRTIO_GPU_CMD_GET_CAPSET_INFO, "GET_CAPSET_INFO",
	  sizeof(struct virtio_gpu_get_capset_info) },
	{ VIRTIO_GPU_CMD_GET_CAPSET, "GET_CAPSET",
	  sizeof(struct virtio_gpu_get_capset) },
	{ VIRTIO_GPU_CMD_GET_EDID, "GET_EDID",
	  sizeof(struct virtio_gpu_cmd_get_edid) },
	{ VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID, "RESOURCE_ASSIGN_UUID",
	  sizeof(struct virtio_gpu_resource_assign_uuid) },
	{ VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB, "RESOURCE_CREATE_BLOB",
	  sizeof(struct virtio_gpu_resource_create_blob) },
	{ VIRTIO_GPU_CMD_SET_SCANOUT_BLOB, "SET_SCANOUT_BLOB",
	  sizeof(struct virtio_gpu_set_scanout_blob) },
	{ VIRTIO_GPU_CMD_CTX_CREATE, "CTX_CREATE",
	  sizeof(struct virtio_gpu_ctx_create) },
	{ VIRTIO_GPU_CMD_CTX_DESTROY, "CTX_DESTROY",
	  sizeof(struct virtio_gpu_ctx_destroy) },
	{ VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE, "CTX_ATTACH_RESOURCE",
	  sizeof(struct virtio_gpu_ctx_resource) },
	{ VIRTIO_GPU_CMD_CTX_DETACH_RESOURCE, "CTX_DETACH_RESOURCE",
	  sizeof(struct virtio_gpu_ctx_resource) },
	{ VIRTIO_GPU_CMD_RESOURCE_CREATE_3D, "RESOURCE_CREATE_3D",
	  sizeof(struct virtio_gpu_resource_create_3d) },
	{ VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, "TRANSFER_TO_HOST_3D",
	  sizeof(struct virtio_gpu_transfer_host_3d) },
	{ VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D, "TRANSFER_FROM_HOST_3D",
	  sizeof(struct virtio_gpu_transfer_host_3d) },
	{ VIRTIO_GPU_CMD_SUBMIT_3D, "SUBMIT_3D",
	  sizeof(struct virtio_gpu_cmd_submit) },
	{ VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB, "RESOURCE_MAP_BLOB",
	  sizeof(struct virtio_gpu_resource_map_blob) },
	{ VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB, "RESOURCE_UNMAP_BLOB",
	  sizeof(struct virtio_gpu_resource_unmap_blob) },
	{ VIRTIO_GPU_CMD_UPDATE_CURSOR, "UPDATE_CURSOR",
	  sizeof(struct virtio_gpu_update_cursor) },
	{ VIRTIO_GPU_CMD_MOVE_CURSOR, "MOVE_CURSOR",
	  sizeof(struct virtio_gpu_update_cursor) },
};

static const struct cmd_info *
cmd_info(uint32_t type)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (cmds[i].type == type)
			return &cmds[i];
	return NULL;
}

size_t
gpu_cmd_size(uint32_t type)
{
	const struct cmd_info *c = cmd_info(type);

	return c ? c->size : 0;
}

const char *
gpu_cmd_name(uint32_t type)
{
	const struct cmd_info *c = cmd_info(type);

	return c ? c->name : "UNKNOWN";
}

unsigned
gpu_format_bpp(uint32_t format)
{
	switch (format) {
	case VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM:
	case VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM:
	case VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM:
	case VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM:
	case VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM:
	case VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM:
	case VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM:
	case VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM:
		return 4;
	}
	return 0;
}

bool
gpu_format_is_xrgb(uint32_t format)
{
	return format == VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM ||
	       format == VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM;
}

void
gpu_format_to_xrgb(uint32_t format, uint32_t *dst, const void *src,
		   size_t npix)
{
	const uint8_t *s = src;

	/* The format names list bytes in memory order. */
	for (size_t i = 0; i < npix; i++, s += 4) {
		uint8_t r, g, b, a;

		switch (format) {
		case VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM:
			a = s[0]; r = s[1]; g = s[2]; b = s[3];
			break;
		case VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM:
			a = 0xff; r = s[1]; g = s[2]; b = s[3];
			break;
		case VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM:
			r = s[0]; g = s[1]; b = s[2]; a = s[3];
			break;
		case VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM:
			r = s[0]; g = s[1]; b = s[2]; a = 0xff;
			break;
		case VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM:
			a = s[0]; b = s[1]; g = s[2]; r = s[3];
			break;
		case VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM:
			a = 0xff; b = s[1]; g = s[2]; r = s[3];
			break;
		case VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM:
			b = s[0]; g = s[1]; r = s[2]; a = 0xff;
			break;
		default:	/* B8G8R8A8 */
			b = s[0]; g = s[1]; r = s[2]; a = s[3];
			break;
		}
		dst[i] = (uint32_t)a << 24 | (uint32_t)r << 16 |
			 (uint32_t)g << 8 | b;
	}
}

uint64_t
gpu_resource_bytes(uint32_t width, uint32_t height, unsigned bpp)
{
	/* width * height < 2^64 always; the product with bpp is checked. */
	uint64_t px = (uint64_t)width * height;

	if (px == 0 || bpp == 0 || px > (uint64_t)INT64_MAX / bpp)
		return 0;
	return px * bpp;
}

bool
gpu_rect_inside(const struct virtio_gpu_rect *r, uint32_t width,
		uint32_t height)
{
	return (uint64_t)r->x + r->width <= width &&
	       (uint64_t)r->y + r->height <= height;
}

bool
gpu_rect_intersect(const struct virtio_gpu_rect *a,
		   const struct virtio_gpu_rect *b, struct virtio_gpu_rect *out)
{
	uint64_t x0 = a->x > b->x ? a->x : b->x;
	uint64_t y0 = a->y > b->y ? a->y : b->y;
	uint64_t ax1 = (uint64_t)a->x + a->width, bx1 = (uint64_t)b->x + b->width;
	uint64_t ay1 = (uint64_t)a->y + a->height, by1 = (uint64_t)b->y + b->height;
	uint64_t x1 = ax1 < bx1 ? ax1 : bx1;
	uint64_t y1 = ay1 < by1 ? ay1 : by1;

	if (x1 <= x0 || y1 <= y0)
		return false;
	out->x = (uint32_t)x0;
	out->y = (uint32_t)y0;
	out->width = (uint32_t)(x1 - x0);
	out->height = (uint32_t)(y1 - y0);
	return true;
}

void
gpu_rect_union(struct virtio_gpu_rect *a, const struct virtio_gpu_rect *b)
{
	uint64_t x0, y0, x1, y1;

	if (b->width == 0 || b->height == 0)
		return;
	if (a->width == 0 || a->height == 0) {
		*a = *b;
		return;
	}
	x0 = a->x < b->x ? a->x : b->x;
	y0 = a->y < b->y ? a->y : b->y;
	x1 = (uint64_t)a->x + a->width;
	if ((uint64_t)b->x + b->width > x1)
		x1 = (uint64_t)b->x + b->width;
	y1 = (uint64_t)a->y + a->height;
	if ((uint64_t)b->y + b->height > y1)
		y1 = (uint64_t)b->y + b->height;
	a->x = (uint32_t)x0;
	a->y = (uint32_t)y0;
	/* Both were inside a 2^32 plane only if the caller clipped them;
	 * saturate rather than wrap. */
	a->width = x1 - x0 > UINT32_MAX ? UINT32_MAX : (uint32_t)(x1 - x0);
	a->height = y1 - y0 > UINT32_MAX ? UINT32_MAX : (uint32_t)(y1 - y0);
}

int
gpu_transfer_check(const struct virtio_gpu_rect *r, uint64_t offset,
		   uint32_t res_width, uint32_t res_height, unsigned bpp,
		   uint64_t backing_len)
{
	uint64_t stride = (uint64_t)res_width * bpp;
	uint64_t rows, last;

	if (!gpu_rect_inside(r, res_width, res_height))
		return -EINVAL;
	if (r->width == 0 || r->height == 0)
		return 0;
	/* Last byte read: offset + (height - 1) * stride + width * bpp.
	 * stride can reach 2^34 and height 2^32: the product is checked. */
	if (__builtin_mul_overflow((uint64_t)(r->height - 1), stride, &rows) ||
	    __builtin_add_overflow(rows, (uint64_t)r->width * bpp, &last))
		return -EINVAL;
	if (offset > backing_len || last > backing_len - offset)
		return -EINVAL;
	return 0;
}

int
gpu_backing_translate(struct gpu_backing *b, const struct memmap *mem,
		      const struct virtio_gpu_mem_entry *ents, unsigned n,
		      unsigned cap)
{
	unsigned niov = 0;
	uint64_t total = 0;

	for (unsigned i = 0; i < n; i++) {
		uint64_t addr = ents[i].addr, len = ents[i].length;

		if (len == 0)
			return -EINVAL;
		if (addr + len < addr)
			return -EFAULT;
		while (len) {
			void *host;
			uint64_t got = memmap_gpa_span(mem, addr, len, &host);

			if (got == 0)
				return -EFAULT;
			if (niov && (uint8_t *)b->iov[niov - 1].iov_base +
					    b->iov[niov - 1].iov_len == host) {
				b->iov[niov - 1].iov_len += got;
			} else {
				if (niov == cap)
					return -E2BIG;
				b->iov[niov].iov_base = host;
				b->iov[niov].iov_len = got;
				niov++;
			}
			total += got;
			b->ends[niov - 1] = total;
			addr += got;
			len -= got;
		}
	}
	b->niov = niov;
	b->len = total;
	return 0;
}

void
gpu_backing_read(const struct gpu_backing *b, uint64_t off, void *dst,
		 size_t len)
{
	unsigned lo = 0, hi = b->niov;
	uint8_t *d = dst;

	/* First iovec whose end is past off. */
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (b->ends[mid] <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (unsigned i = lo; len && i < b->niov; i++) {
		uint64_t start = b->ends[i] - b->iov[i].iov_len;
		uint64_t skip = off > start ? off - start : 0;
		size_t n = b->iov[i].iov_len - skip;

		if (n > len)
			n = len;
		memcpy(d, (uint8_t *)b->iov[i].iov_base + skip, n);
		d += n;
		len -= n;
		off += n;
	}
}

size_t
iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf,
	   size_t len)
{
	uint8_t *d = buf;
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		l -= off;
		if (l > len - done)
			l = len - done;
		memcpy(d + done, (uint8_t *)iov[i].iov_base + off, l);
		done += l;
		off = 0;
	}
	return done;
}

size_t
iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf,
	     size_t len)
{
	const uint8_t *s = buf;
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		l -= off;
		if (l > len - done)
			l = len - done;
		memcpy((uint8_t *)iov[i].iov_base + off, s + done, l);
		done += l;
		off = 0;
	}
	return done;
}
