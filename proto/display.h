/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The vhost-user-gpu display protocol (QEMU docs/interop/vhost-user-gpu.rst):
 * what we send to the frontend on the socket from GPU_SET_SOCKET, and the
 * replies it sends back. Pure code.
 */
#ifndef PROTO_DISPLAY_H
#define PROTO_DISPLAY_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_gpu.h>

enum display_request {
	DISPLAY_GET_PROTOCOL_FEATURES = 1,
	DISPLAY_SET_PROTOCOL_FEATURES = 2,
	DISPLAY_GET_DISPLAY_INFO = 3,
	DISPLAY_CURSOR_POS = 4,
	DISPLAY_CURSOR_POS_HIDE = 5,
	DISPLAY_CURSOR_UPDATE = 6,
	DISPLAY_SCANOUT = 7,
	DISPLAY_UPDATE = 8,
	DISPLAY_DMABUF_SCANOUT = 9,
	DISPLAY_DMABUF_UPDATE = 10,
	DISPLAY_GET_EDID = 11,
	DISPLAY_DMABUF_SCANOUT2 = 12,
	DISPLAY_REQUEST_MAX,
};

/* Protocol feature bits. */
#define DISPLAY_PF_EDID 0
#define DISPLAY_PF_DMABUF2 1
#define DISPLAY_PF_OURS ((1ull << DISPLAY_PF_EDID) | (1ull << DISPLAY_PF_DMABUF2))

#define DISPLAY_FLAG_REPLY (1u << 2)

#define DISPLAY_CURSOR_SIZE 64

struct display_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;		/* payload bytes that follow */
};
static_assert(sizeof(struct display_hdr) == 12, "display header");

struct display_cursor_pos {
	uint32_t scanout_id;
	uint32_t x, y;
};
static_assert(sizeof(struct display_cursor_pos) == 12, "cursor pos");

struct display_cursor_update {
	struct display_cursor_pos pos;
	uint32_t hot_x, hot_y;
	uint32_t data[DISPLAY_CURSOR_SIZE * DISPLAY_CURSOR_SIZE]; /* a8r8g8b8 */
};
static_assert(sizeof(struct display_cursor_update) == 20 + 16384, "cursor");

struct display_scanout {
	uint32_t scanout_id;
	uint32_t width, height;
};
static_assert(sizeof(struct display_scanout) == 12, "scanout");

/* UPDATE: this header, then width * height * 4 bytes of x8r8g8b8. */
struct display_update {
	uint32_t scanout_id;
	uint32_t x, y, width, height;
};
static_assert(sizeof(struct display_update) == 20, "update");

struct display_dmabuf_scanout {
	uint32_t scanout_id;
	uint32_t x, y, width, height;
	uint32_t fd_width, fd_height, fd_stride, fd_flags;
	int32_t fd_drm_fourcc;
};
static_assert(sizeof(struct display_dmabuf_scanout) == 40, "dmabuf scanout");

struct display_dmabuf_scanout2 {
	struct display_dmabuf_scanout base;
	uint64_t modifier;
} __attribute__((packed));
static_assert(sizeof(struct display_dmabuf_scanout2) == 48, "dmabuf scanout2");

struct display_edid_req {
	uint32_t scanout_id;
};

/* A parsed reply. */
struct display_reply {
	uint32_t request;
	union {
		uint64_t features;			/* GET_PROTOCOL_FEATURES */
		struct virtio_gpu_resp_display_info info; /* GET_DISPLAY_INFO */
		struct virtio_gpu_resp_edid edid;	/* GET_EDID */
	} u;
};

/* The largest reply payload we accept. */
#define DISPLAY_REPLY_MAX sizeof(struct virtio_gpu_resp_edid)

/* Which requests are answered, and with how many payload bytes. */
bool display_has_reply(uint32_t request);

/*
 * Check a reply header against the request we are waiting for (`want`).
 * Returns the payload size to read next, or -EPROTO (not a reply, or a
 * reply to something else) or -EMSGSIZE (wrong size for that request).
 */
int display_reply_check(const struct display_hdr *hdr, uint32_t want);

/*
 * Parse a reply payload (after display_reply_check accepted its header)
 * into *r, validating what the frontend says: display info entries,
 * an EDID's size. Returns 0, -EMSGSIZE or -EINVAL.
 */
int display_reply_parse(const struct display_hdr *hdr, const void *payload,
			struct display_reply *r);

#endif /* PROTO_DISPLAY_H */
