/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio-gpu device model: resources, scanouts, the cursor, the
 * control and cursor queues, and what goes out on the display socket.
 *
 * core/vu.c drives it through gpu_vu_ops (struct vu_device_ops). It
 * reaches the rest of the daemon only through struct gpu_host_ops, so the
 * tests and the fuzzers can run it with a fake transport and display.
 */
#ifndef RENDER_GPU_H
#define RENDER_GPU_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/virtio_gpu.h>

#include "core/vu_device.h"
#include "proto/display.h"
#include "proto/gpu_cmd.h"
#include "proto/vring.h"

#define GPU_QUEUE_CTRL 0
#define GPU_QUEUE_CURSOR 1

#define GPU_DEFAULT_MAX_HOSTMEM (256ull << 20)	/* as QEMU's device */
#define GPU_MAX_RESOURCES 16384
#define GPU_MAX_BACKING_IOV 65536		/* after region splits */
#define GPU_MAX_SCANOUT_SIZE 16384		/* pixels, either side */
#define GPU_UPDATE_BAND (16u << 20)		/* bytes in one UPDATE at most */
#define GPU_MAX_DAMAGE 64			/* rectangles owed per scanout */
#define GPU_UPDATE_BATCH (32u << 10)		/* bytes of pixels in UPDATEs
						 * written together */
#define GPU_DEFER_MIN (256u << 10)		/* bytes: a transfer copied as
						 * its UPDATE goes out */
#define GPU_DEFAULT_WIDTH 1280			/* QEMU's default xres/yres */
#define GPU_DEFAULT_HEIGHT 800

struct gpu_options {
	bool virgl;			/* --virgl was given */
	const char *render_node;	/* --render-node, or NULL */
	uint64_t max_hostmem;		/* bytes of resource memory */
	bool surfaceless;		/* 3D on EGL surfaceless even with a GPU */
};

/* What the device needs from its surroundings. */
struct gpu_host_ops {
	/* The running ring of queue q, or NULL when it is not running. */
	struct vring_queue *(*queue_ring)(void *host, unsigned q);
	/* The guest memory table. */
	const struct memmap *(*memory)(void *host);
	/* Publish q's used entries before the loop next waits. */
	void (*queue_flush)(void *host, unsigned q);
	/* q's ring is corrupt: stop it. */
	void (*queue_fail)(void *host, unsigned q);
	/* Use fd (or no display, -1) from now on; the host owns it. Never
	 * called while a send is in flight. */
	void (*display_attach)(void *host, int fd);
	/* Send one message. Exactly one of gpu_display_sent() (it is out)
	 * or gpu_display_lost() (the socket failed) follows, never from
	 * inside this call. The iovecs and what they point at stay valid
	 * until then. iov[by_ref] and after hold pixels that may go by
	 * reference (core/display.h says what that asks of them). 0, or
	 * -ENOTCONN when there is no display. */
	int (*display_send)(void *host, const struct iovec *iov, unsigned niov,
			    unsigned by_ref);
	/* Make an in-flight send finish soon (the socket is being
	 * replaced): shut the socket down. */
	void (*display_abort)(void *host);
	/* True when no send is in flight and the frontend has read all that
	 * was sent, so that the next message's head goes out at once. */
	bool (*display_drained)(void *host);
	/* (The host also calls gpu_display_prepare() before it first reads
	 * by-reference bytes, and gpu_display_stalled() when the socket is
	 * full.) */
	/* Call gpu_renderer_poll() whenever fd is readable. 0 or -errno. */
	int (*watch_fd)(void *host, int fd);
};

struct gpu_resource {
	uint32_t id;
	uint32_t format, width, height;
	uint32_t target, depth, array_size, last_level;	/* 3D shape */
	unsigned bpp;
	uint64_t stride;		/* width * bpp */
	uint64_t size;			/* host bytes */
	uint8_t *data;			/* host copy of the pixels (mmap) */
	size_t data_len;
	struct gpu_backing backing;	/* niov 0: no backing */
	bool has_backing;
	bool virgl;			/* lives in virglrenderer; data is only
					 * a read-back buffer for scanouts */
	bool linked;			/* in the id table */
	unsigned refs;			/* table, scanouts, display sends */
	bool has_uuid;
	uint8_t uuid[16];
	struct gpu_resource *next;	/* hash chain */
};

struct gpu_scanout {
	struct gpu_resource *res;	/* holds a ref; NULL: disabled */
	struct virtio_gpu_rect r;	/* what of res is shown */
	uint32_t width, height;		/* size last told to the display */
	bool config_dirty;		/* a SCANOUT message is owed */
	/* Owed UPDATEs, in scanout coordinates: separate rectangles, so that
	 * scattered damage is not sent as its bounding box; past
	 * GPU_MAX_DAMAGE they collapse into one. */
	struct virtio_gpu_rect damage[GPU_MAX_DAMAGE];
	unsigned ndamage;
};

/* An answer kept back: where it goes and what it says. */
struct gpu_answer {
	uint16_t head;
	unsigned nin;
	struct iovec in[4];		/* the chain's first writable buffers */
	uint64_t in_len;
	struct virtio_gpu_ctrl_hdr resp;
};

/*
 * A large whole-row TRANSFER_TO_HOST_2D into a resource on a scanout,
 * copied band by band while the UPDATE of the flush behind it is spliced
 * into the display socket, so that the frontend reads one band while the
 * next is copied. A device may carry a command out at any time before it
 * answers it: the transfer's answer, and the flush's after it, are held
 * until the last row is in, and any other command, or anything else that
 * reads the resource or the backing, has the rest copied first.
 */
struct gpu_defer {
	struct gpu_resource *res;	/* holds a ref; NULL: none */
	uint64_t offset;		/* backing offset of row `next` */
	uint32_t next, end;		/* rows still to copy */
	unsigned nheld;
	struct gpu_answer held[2];	/* the transfer's, then the flush's */
};

/* A request to the display whose reply a guest command waits for. */
enum gpu_wait {
	GPU_WAIT_NONE,
	GPU_WAIT_DISPLAY_INFO,
	GPU_WAIT_EDID,
};

enum gpu_sink_state {
	GPU_SINK_NONE,		/* no display socket */
	GPU_SINK_IDLE,		/* ready to send */
	GPU_SINK_SENDING,	/* a message is being written */
	GPU_SINK_AWAITING,	/* waiting for a reply */
};

struct gpu {
	struct gpu_options opt;
	const struct gpu_host_ops *host;
	void *host_data;

	struct virtio_gpu_config config;
	uint64_t features;		/* device features the driver took */

	/* Resources. */
	struct gpu_resource *table[1024];
	unsigned nresources;
	uint64_t hostmem;		/* bytes held by resources */

	struct gpu_scanout scanout[VIRTIO_GPU_MAX_SCANOUTS];

	/* Cursor: the newest image and position win. */
	struct display_cursor_update cursor;
	bool cursor_image_dirty, cursor_pos_dirty, cursor_visible;

	/* The display socket. */
	enum gpu_sink_state sink;
	enum {
		GPU_HS_GET,		/* GET_PROTOCOL_FEATURES owed */
		GPU_HS_WAIT,		/* its reply is due */
		GPU_HS_SET,		/* SET_PROTOCOL_FEATURES owed */
		GPU_HS_DONE,
	} handshake;
	uint64_t display_features;	/* agreed protocol features */
	uint32_t awaiting;		/* request whose reply we wait for */
	bool display_info_valid;	/* the frontend told us its displays */
	struct virtio_gpu_resp_display_info display_info;
	unsigned next_update;		/* round-robin over scanouts */
	struct gpu_resource *tx_res;	/* ref held while its pixels go out */
	struct iovec *tx_iov;
	unsigned tx_iov_cap;
	/* The end of tx_res's rows that may go by reference; NULL: none. */
	const uint8_t *tx_ref_end;
	/* The heads of UPDATEs sent together in one write. */
	struct gpu_update_head {
		struct display_hdr hdr;
		struct display_update u;
	} tx_batch[GPU_MAX_DAMAGE];
	struct display_hdr tx_hdr;
	union {
		uint64_t features;
		struct display_scanout scanout;
		struct display_update update;
		struct display_cursor_pos pos;
		struct display_edid_req edid;
	} tx_payload;
	uint32_t *tx_staging;		/* converted pixels, when needed */
	size_t tx_staging_cap;

	/* The control queue: a command waiting on the display. */
	enum gpu_wait ctrl_wait;
	uint32_t ctrl_wait_scanout;
	struct virtio_gpu_ctrl_hdr ctrl_wait_hdr;
	struct vring_chain *chain;	/* control chain being handled */
	struct vring_chain *cursor_chain;
	bool processing;
	bool used;			/* the control queue has carried commands */

	struct gpu_defer defer;

	/* A new display socket that waits for the send in flight. */
	bool display_switch;
	int next_display_fd;

	/* 3D: fenced commands waiting for their fence (virgl). */
	bool virgl;
	struct gpu_fence *fences;
	unsigned nfences, fences_cap;

	/* Counters, for logs and tests. */
	uint64_t updates_sent;
};

/* A fenced command whose answer waits for the renderer. */
struct gpu_fence {
	uint64_t id;
	uint32_t ctx_id, ring_idx;
	bool per_context;
	struct gpu_answer a;
};

extern const struct vu_device_ops gpu_vu_ops;

int gpu_init(struct gpu *g, const struct gpu_options *opt,
	     const struct gpu_host_ops *host, void *host_data);
void gpu_finish(struct gpu *g);

/* The resource the guest knows by id, or NULL. */
struct gpu_resource *gpu_resource_find(struct gpu *g, uint32_t id);

/* Start 3D (virglrenderer) before serving anyone. 0 or -errno with
 * *why set. */
int gpu_start_virgl(struct gpu *g, const char **why);
/* The renderer's fd is readable: deliver completed fences. */
void gpu_renderer_poll(struct gpu *g);
/* virglrenderer says fence_id is done (on the global timeline, or on a
 * context's ring): answer every fenced command up to it. */
void gpu_virgl_fence_done(struct gpu *g, uint64_t fence_id, uint32_t ctx_id,
			  uint32_t ring_idx, bool per_context);

/* The display message passed to display_send is out. */
void gpu_display_sent(struct gpu *g);
/* A message arrived on the display socket (header and payload). */
void gpu_display_input(struct gpu *g, const struct display_hdr *hdr,
		       const void *payload);
/* The display socket failed or was closed by the frontend; no send is
 * in flight any more. */
void gpu_display_lost(struct gpu *g);
/* The send in flight is about to read by-reference bytes [p, p + len). */
void gpu_display_prepare(struct gpu *g, const void *p, size_t len);
/* The send in flight waits for the frontend to read. */
void gpu_display_stalled(struct gpu *g);

#endif /* RENDER_GPU_H */
