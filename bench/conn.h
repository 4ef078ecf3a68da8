/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One backend under test, as the benchmark drives it: the process, the
 * QEMU 10 handshake (tests/frontend.c), guest memory with the resources
 * every workload uses, the display socket read by a reader of our own,
 * and a wait that serves everything at once.
 *
 * The display is read here rather than with vuf_serve(): the benchmark
 * must never be the bottleneck, so the reader takes whatever is readable
 * in large reads, parses any number of messages out of one read, and
 * receives the pixels of a full-width UPDATE straight into the surface.
 * It never blocks in the middle of a message: every wait (bc_wait) goes
 * back to poll() on the display, both call eventfds, the backend's stderr
 * and its pidfd, so the backend can always write.
 */
#ifndef BENCH_CONN_H
#define BENCH_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/frontend.h"

#define BC_RING_MAX 1024	/* largest control ring we lay out */

/* The scanned-out resource: a 1920x1080 B8G8R8X8 framebuffer whose
 * backing is 4 KiB pages in shuffled order. */
#define BC_FB_W 1920u
#define BC_FB_H 1080u
#define BC_FB_STRIDE (BC_FB_W * 4)
#define BC_FB_BYTES (BC_FB_STRIDE * BC_FB_H)
#define BC_PAGE 4096u
#define BC_FB_PAGES ((BC_FB_BYTES + BC_PAGE - 1) / BC_PAGE)

enum {
	BC_RES_FB = 1,		/* scanned out on scanout 0 */
	BC_RES_SMALL = 2,	/* 64x64, never scanned out */
	BC_RES_CURSOR = 3,	/* 64x64 cursor image */
	BC_RES_3D = 4,		/* 1920x1080 render target: the virgl
				 * workload makes it */
};

/* Display messages (QEMU's docs/interop/vhost-user-gpu.rst). */
enum {
	BC_DPY_GET_PROTOCOL_FEATURES = 1,
	BC_DPY_SET_PROTOCOL_FEATURES = 2,
	BC_DPY_GET_DISPLAY_INFO = 3,
	BC_DPY_CURSOR_POS = 4,
	BC_DPY_CURSOR_POS_HIDE = 5,
	BC_DPY_CURSOR_UPDATE = 6,
	BC_DPY_SCANOUT = 7,
	BC_DPY_UPDATE = 8,
	BC_DPY_DMABUF_UPDATE = 10,
	BC_DPY_GET_EDID = 11,
	BC_DPY_MAX = 16,
};

struct bc_rect {
	uint32_t x, y, w, h;
};

/* The display socket as the benchmark reads it: scanout 0's surface and
 * what arrived, with the time each kind of message last completed. */
struct bc_display {
	int fd;			/* f->display_fd, read only here */
	uint32_t width, height;	/* scanout 0, from the last SCANOUT */
	uint32_t *fb;		/* owned: width * height x8r8g8b8 */
	size_t fb_cap;

	/* parser state */
	unsigned state;
	struct vu_hdr hdr;
	uint8_t head[64];	/* header, then the fixed part of a payload */
	size_t head_len, head_want;
	uint64_t skip;		/* payload bytes to drop */
	struct bc_rect u;	/* the UPDATE being received */
	uint32_t u_scanout;
	uint64_t u_pos, u_left;	/* pixel bytes of it taken, still owed */
	uint8_t *buf;		/* owned: staging for everything but the
				 * pixels of full-width updates */
	size_t buf_len, buf_off;

	/* what was seen */
	uint64_t count[BC_DPY_MAX];
	uint64_t updates, update_bytes;	/* complete UPDATEs (any scanout) */
	struct bc_rect last_update;
	uint64_t t_update;	/* ns, when the last UPDATE was complete */
	uint64_t cursor_msgs, t_cursor;
	uint32_t cursor_x, cursor_y;
	uint64_t bytes;		/* everything read */
	uint64_t malformed;
	bool readable;		/* poll said so, or not drained since */
	bool closed;
};

struct bc_proc {
	uint64_t cpu_ns;	/* on-CPU time of every thread */
	uint64_t ctx;		/* voluntary + involuntary context switches */
	uint64_t self_ns;	/* the benchmark's own on-CPU time, for context */
};

struct bconn {
	const char *name;	/* for output: no spaces */
	const char *cmd;	/* "CMD ARGS", split on spaces */
	const char *const *extra;	/* more arguments, NULL-terminated */
	struct vuf f;
	struct bc_display d;
	unsigned ring;		/* control queue size */

	/* used entries, as bc_wait takes them */
	uint64_t completed[VUF_MAX_VQS];
	uint64_t t_used[VUF_MAX_VQS];	/* ns, the last one */
	uint32_t expect[BC_RING_MAX];	/* control response type to check,
					 * 0: none; by head */
	uint64_t bad_resp;
	uint32_t bad_type, bad_cmd;
	uint32_t cmd_type[BC_RING_MAX];	/* request type, by head */
	uint64_t fence_seq;	/* the last fence id placed: the guest's
				 * fence timeline */

	/* guest memory */
	uint8_t *fb_pages;	/* BC_FB_PAGES pages, shuffled into place */
	uint64_t fb_pages_gpa;
	uint32_t *perm;		/* owned: resource page i is fb_pages page perm[i] */
	uint8_t *small;		/* 64x64 backing of BC_RES_SMALL */
	uint8_t *cursor;	/* 64x64 backing of BC_RES_CURSOR */

	char why[512];		/* what went wrong, for the report */
};

/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t bc_now_ns(void);

/* Zero c, set the name, command and ring size. Never fails. */
void bc_init(struct bconn *c, const char *name, const char *cmd,
	     unsigned ring);

/*
 * Start the backend on --fd, lay out guest memory, replay QEMU 10's
 * handshake, take over the display socket, and create the resources:
 * BC_RES_FB scanned out with frame pattern `key`, BC_RES_SMALL, and a
 * visible cursor. Returns 0 or -errno with c->why set.
 */
int bc_start(struct bconn *c, uint32_t key);

/* Hang up, let the backend exit (or kill it), free everything. */
void bc_stop(struct bconn *c);

/* The backend's pid, or -1. */
int bc_pid(const struct bconn *c);

typedef bool bc_done_fn(struct bconn *c, void *arg);

/*
 * Serve the display socket and the backend's stderr and take used entries
 * from both queues until done(c, arg) holds (done may be NULL: until
 * nothing is pending). Returns 0, -ETIMEDOUT, -ECHILD (the backend died)
 * or -EPIPE (the display socket closed); c->why says which.
 */
int bc_wait(struct bconn *c, bc_done_fn *done, void *arg, int timeout_ms);

/* Wait until every submitted command came back and the display socket has
 * been silent for quiet_ms: nothing is owed to the display any more. */
int bc_settle(struct bconn *c, int quiet_ms);

/* Chains on queue q not yet returned. */
unsigned bc_inflight(const struct bconn *c, unsigned q);

/*
 * Place a control command (request only, a 24-byte response) without
 * kicking; `expect` is the response type to check (0: none). Returns the
 * head, -ENOSPC when the ring is full.
 */
int bc_submit(struct bconn *c, const void *req, size_t len, uint32_t expect);
/* The same with `extra` readable bytes after the request, in a descriptor
 * of their own (a SUBMIT_3D's command stream). */
int bc_submit_extra(struct bconn *c, const void *req, size_t len,
		    const void *extra, size_t extra_len, uint32_t expect);
/* A cursor-queue command, without kicking. */
int bc_submit_cursor(struct bconn *c, const void *req, size_t len);
/* Publish and notify queue q as a guest driver does. */
int bc_kick(struct bconn *c, unsigned q);
/* One control command: place, kick, wait. Returns 0 or -errno. */
int bc_cmd(struct bconn *c, const void *req, size_t len, uint32_t expect);

/* Command builders. */
int bc_transfer(struct bconn *c, uint32_t res, struct bc_rect r,
		uint64_t offset);
int bc_flush(struct bconn *c, uint32_t res, struct bc_rect r);
/* SET_SCANOUT of all 1920x1080 of res on scanout 0: place, kick, wait. */
int bc_set_scanout(struct bconn *c, uint32_t res);
int bc_cursor_cmd(struct bconn *c, uint32_t type, uint32_t x, uint32_t y);

/* Where byte `off` of BC_RES_FB's backing lives in guest memory. */
static inline uint8_t *
bc_fb_byte(struct bconn *c, uint64_t off)
{
	return c->fb_pages + (size_t)c->perm[off / BC_PAGE] * BC_PAGE +
	       off % BC_PAGE;
}

/* Write frame `key` into the whole backing of BC_RES_FB. */
void bc_fb_draw_frame(struct bconn *c, uint32_t key);
/* Fill a rectangle of BC_RES_FB's backing with one colour. */
void bc_fb_fill(struct bconn *c, struct bc_rect r, uint32_t color);

/* Frame pattern: a fixed pseudo-random image xor a per-frame key; only
 * the low 24 bits are compared (the X byte is undefined). */
uint32_t bc_pattern(uint32_t x, uint32_t y, uint32_t key);
/* Pixel (x, y) of scanout 0 as the display shows it (low 24 bits), or
 * 0xffffffff outside the surface. */
uint32_t bc_pixel(const struct bconn *c, uint32_t x, uint32_t y);

/* Per-process figures from /proc (every thread summed), and ours. */
int bc_proc_sample(int pid, struct bc_proc *p);
uint64_t bc_self_cpu_ns(void);
long bc_proc_hwm_kb(int pid);
/* Reset VmHWM (clear_refs 5), so a workload's peak is its own. */
int bc_proc_reset_hwm(int pid);

#endif /* BENCH_CONN_H */
