/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Display protocol replies.
 *
 * Security model: the frontend writes these replies. It controls the
 * header (request, flags, size) and every payload byte. We read a reply
 * only when we asked for one, its size must be exactly what that request
 * returns (DMABUF_UPDATE: empty, or QEMU's historic u32), and values we
 * pass on to the guest (display sizes, EDID length) are bounded here.
 */
#include <errno.h>
#include <string.h>

#include "proto/display.h"

static int
reply_size(uint32_t request, uint32_t size)
{
	switch (request) {
	case DISPLAY_GET_PROTOCOL_FEATURES:
		return size == sizeof(uint64_t) ? 0 : -EMSGSIZE;
	case DISPLAY_GET_DISPLAY_INFO:
		return size == sizeof(struct virtio_gpu_resp_display_info) ?
		       0 : -EMSGSIZE;
	case DISPLAY_GET_EDID:
		return size == sizeof(struct virtio_gpu_resp_edid) ? 0 : -EMSGSIZE;
	case DISPLAY_DMABUF_UPDATE:
		return size == 0 || size == sizeof(uint32_t) ? 0 : -EMSGSIZE;
	default:
		return -EPROTO;
	}
}

bool
display_has_reply(uint32_t request)
{
	return reply_size(request, 0) != -EPROTO;
}

int
display_reply_check(const struct display_hdr *hdr, uint32_t want)
{
	int ret;

	if (!(hdr->flags & DISPLAY_FLAG_REPLY) || hdr->request != want)
		return -EPROTO;
	ret = reply_size(hdr->request, hdr->size);
	if (ret)
		return ret;
	return (int)hdr->size;
}

int
display_reply_parse(const struct display_hdr *hdr, const void *payload,
		    struct display_reply *r)
{
	int ret = reply_size(hdr->request, hdr->size);

	if (ret)
		return ret;
	memset(r, 0, sizeof(*r));
	r->request = hdr->request;
	switch (hdr->request) {
	case DISPLAY_GET_PROTOCOL_FEATURES:
		memcpy(&r->u.features, payload, sizeof(r->u.features));
		return 0;
	case DISPLAY_GET_DISPLAY_INFO:
		memcpy(&r->u.info, payload, sizeof(r->u.info));
		/* Sizes go to the guest as they are; an enabled scanout
		 * without a size is no use to anyone. */
		for (unsigned i = 0; i < VIRTIO_GPU_MAX_SCANOUTS; i++) {
			struct virtio_gpu_display_one *d = &r->u.info.pmodes[i];

			if (d->enabled && (d->r.width == 0 || d->r.height == 0))
				d->enabled = 0;
			d->enabled = d->enabled ? 1 : 0;
		}
		return 0;
	case DISPLAY_GET_EDID:
		memcpy(&r->u.edid, payload, sizeof(r->u.edid));
		if (r->u.edid.size > sizeof(r->u.edid.edid))
			return -EINVAL;
		return 0;
	case DISPLAY_DMABUF_UPDATE:
		return 0;
	}
	return -EPROTO;
}
