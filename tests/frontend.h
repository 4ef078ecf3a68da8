/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A vhost-user frontend for tests and benchmarks: it plays QEMU's part
 * against the real vugpu binary.
 *
 * It starts the daemon (on one end of a socketpair with --fd, or with
 * --socket-path and an inotify wait), speaks the vhost-user control plane
 * (proto/vu_msg.h) with SCM_RIGHTS, owns a memfd that stands for guest
 * memory, lays out split virtqueues in it, and replays the message
 * sequences QEMU 7.2 and QEMU 10.0 send for vhost-user-gpu-pci.
 *
 * Conventions: every function returns 0 (or a count) or -errno; nothing
 * here aborts or prints, except the message trace when f->trace is set
 * (or VUF_TRACE=1 in the environment). Every wait is bounded by
 * f->timeout_ms and fails with -ETIMEDOUT. SIGPIPE is never raised
 * (MSG_NOSIGNAL). A request the daemon refused with a non-zero REPLY_ACK
 * value comes back as -EREMOTEIO; a GET_* answered with an empty payload
 * comes back as -ENODATA.
 *
 * While waiting for a reply the frontend also drains the daemon's stderr
 * pipe into f->err (the last VUF_ERR_CAP bytes), and, unless f->serve is
 * cleared, serves the display socket handed over with GPU_SET_SOCKET
 * (answering as QEMU's hw/display/vhost-user-gpu.c does) and the backend
 * channel handed over with SET_BACKEND_REQ_FD, so neither can fill up and
 * block the daemon.
 *
 * Lifetime: vuf_init() then vuf_spawn_fd()/vuf_spawn_path(); vuf_finish()
 * kills a daemon still running, closes everything, unmaps guest memory and
 * removes the temporary directory. vuf_finish() on a finished or only
 * initialised struct is a no-op.
 *
 * Past the handshake it also plays the guest driver and QEMU's display:
 *  - the driver side of the split rings (vuf_vq_*): descriptors from a
 *    free list, avail entries, avail->idx published with release order,
 *    kicks that honour NO_NOTIFY or avail_event, used_event kept as Linux
 *    keeps it, waits on the call eventfd; raw access for broken chains;
 *  - virtio-gpu commands (vuf_gpu_*) in per-descriptor slots of guest
 *    memory carved from f->arena, so a command costs no allocation: a
 *    load generator can keep a queue full with vuf_gpu_submit(),
 *    vuf_vq_kick() and vuf_vq_wait_used();
 *  - the display (f->display): what GET_DISPLAY_INFO and GET_EDID answer
 *    is configurable, and SCANOUT, UPDATE and the cursor messages are
 *    recorded into per-scanout surfaces as QEMU's console would show
 *    them. vuf_display_pause() stops reading the socket (back-pressure).
 * Every wait (vuf_vq_wait_used, vuf_wait_fd, vuf_display_wait) serves the
 * display socket, the backend channel and the daemon's stderr, and fails
 * with -ECHILD as soon as the daemon dies.
 */
#ifndef TESTS_FRONTEND_H
#define TESTS_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/virtio_gpu.h>
#include <linux/virtio_ring.h>

#include "proto/vu_msg.h"

#define VUF_TIMEOUT_MS 5000	/* default bound for every wait */
#define VUF_MAX_VQS 2		/* control and cursor queue */
#define VUF_MEM_REGIONS 8	/* regions the frontend keeps track of */
#define VUF_ERR_CAP 65536	/* daemon stderr bytes kept */
#define VUF_MAX_ARGS 32

/* The two QEMU versions whose vhost-user-gpu-pci sequences we replay. */
enum vuf_qemu {
	VUF_QEMU_7_2,	/* Debian 12 */
	VUF_QEMU_10_0,	/* bookworm-backports */
};

/* One region of guest memory as described to the daemon. */
struct vuf_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t offset;	/* in the memfd, also the mmap_offset sent */
	bool sent;		/* SET_MEM_TABLE or ADD_MEM_REG accepted it */
};

/* Guest memory: one memfd, mapped shared here, cut into regions. */
struct vuf_mem {
	int fd;			/* memfd, -1 when none */
	size_t size;
	uint8_t *base;		/* our mapping; uva = base + offset */
	unsigned n;
	struct vuf_region r[VUF_MEM_REGIONS];
};

/*
 * Per-descriptor scratch ("slots") the driver side uses for commands: slot
 * i belongs to whoever holds descriptor i, so a chain whose head is i may
 * use slot i without any allocation. Layout of one slot:
 */
#define VUF_SLOT_SIZE 4096
#define VUF_SLOT_IND 0		/* an indirect table of VUF_SLOT_MAX_SG */
#define VUF_SLOT_MAX_SG 16
#define VUF_SLOT_REQ 256	/* request, then extra readable bytes */
#define VUF_SLOT_REQ_CAP 1536
#define VUF_SLOT_RESP (VUF_SLOT_REQ + VUF_SLOT_REQ_CAP)	/* response */
#define VUF_SLOT_RESP_CAP (VUF_SLOT_SIZE - VUF_SLOT_RESP)
/* Shared area for vuf_gpu_cmd()'s extra bytes that do not fit a slot
 * (ATTACH_BACKING with up to 16384 entries). */
#define VUF_BULK_SIZE ((16384u + 64) * 16)

/* A guest-physical buffer: one descriptor. */
struct vuf_buf {
	uint64_t gpa;
	uint32_t len;
};

/* A bump allocator over a guest-physical range (no free; reset by
 * re-initialising). */
struct vuf_arena {
	uint64_t gpa, size, used;
};

/*
 * The driver's side of a split ring: what a guest's virtio_ring.c keeps.
 * The free list and the chains live in a shadow of desc[].next, so that
 * tests may scribble over the real descriptor table without confusing it.
 */
struct vuf_drv {
	uint16_t *next;		/* owned: num entries, shadow of desc[].next */
	uint16_t *ndesc;	/* owned: descriptors chain `head` holds, 0: none */
	uint16_t free_head, num_free;
	uint16_t avail_idx;	/* entries added: what avail->idx will say */
	uint16_t kicked_idx;	/* avail->idx as last published */
	uint16_t last_used;	/* used entries taken */
	unsigned inflight;	/* chains added and not yet taken back */
	bool indirect;		/* chains of 2+ buffers go in an indirect
				 * table (as Linux does once INDIRECT_DESC
				 * is negotiated; vuf_qemu_start sets it) */
	bool manual_used_event;	/* the test owns used_event */
	uint8_t *slots;		/* num slots in guest memory, NULL until used */
	uint64_t slots_gpa;
	uint64_t kicks;		/* kick eventfd writes */
	uint64_t kicks_suppressed;	/* kicks the device did not want */
	uint64_t calls;		/* call eventfd signals seen */
};

/* A split virtqueue laid out in guest memory. */
struct vuf_vq {
	unsigned num;		/* 0: not laid out */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct vring_desc *desc;	/* our pointers into guest memory */
	struct vring_avail *avail;
	struct vring_used *used;
	int kick_fd, call_fd, err_fd;	/* eventfds we keep, -1 when none */
	int masked_fd;		/* QEMU's "masked notifier" for SET_VRING_CALL */
	uint16_t base;		/* last avail index sent with SET_VRING_BASE */
	struct vuf_drv drv;
};

/* ---- what the display socket carried (docs/interop/vhost-user-gpu.rst) ---- */

#define VUF_MAX_SCANOUTS 16
#define VUF_CURSOR_SIZE 64
#define VUF_DISPLAY_MSG_MAX 16	/* request ids counted (0: out of range) */

struct vuf_rect {
	uint32_t x, y, width, height;
};

/* One scanout as QEMU's console would show it. */
struct vuf_scanout {
	uint32_t width, height;	/* from the last SCANOUT; 0x0: disabled */
	uint32_t *fb;		/* owned: width * height x8r8g8b8 pixels, the
				 * "console surface"; zeroed on every SCANOUT */
	size_t fb_cap;		/* pixels allocated */
	unsigned scanouts;	/* SCANOUT messages for it */
	unsigned updates;	/* UPDATE messages for it */
	unsigned clipped;	/* UPDATEs not inside the surface */
	struct vuf_rect last_update;
};

struct vuf_cursor {
	unsigned updates, moves, hides;	/* CURSOR_UPDATE, _POS, _POS_HIDE */
	bool visible;
	uint32_t scanout, x, y, hot_x, hot_y;
	uint32_t image[VUF_CURSOR_SIZE * VUF_CURSOR_SIZE];	/* a8r8g8b8 */
};

struct vuf;

struct vuf_display {
	/* What we answer, as QEMU's hw/display/vhost-user-gpu.c does. */
	struct virtio_gpu_resp_display_info info;	/* GET_DISPLAY_INFO */
	unsigned max_outputs;	/* GET_EDID is answered below this (QEMU
				 * never answers the others) */
	uint32_t edid_size;	/* GET_EDID answer: edid_size bytes of edid */
	uint8_t edid[1024];
	bool paused;		/* stop reading the socket (back-pressure) */
	/* Called after each UPDATE's pixels landed in scanout s's surface,
	 * before any later message is read (NULL: none). */
	void (*on_update)(struct vuf *f, unsigned s, void *arg);
	void *on_update_arg;

	/* What we saw. */
	unsigned count[VUF_DISPLAY_MSG_MAX];	/* messages, by request id */
	unsigned malformed;	/* messages of a wrong size */
	bool features_set;	/* SET_PROTOCOL_FEATURES arrived */
	uint64_t features;	/* ... with this */
	struct vuf_scanout scanout[VUF_MAX_SCANOUTS];
	struct vuf_cursor cursor;
};

struct vuf {
	/* the daemon */
	pid_t pid;		/* -1 when none */
	int pidfd;		/* owned; -1 when none */
	int status;		/* wait status once reaped, -1 before */
	int err_fd;		/* owned: read end of the daemon's stderr */
	char err[VUF_ERR_CAP + 1];	/* last bytes of stderr, NUL-terminated */
	size_t err_len;
	bool echo_err;		/* copy daemon stderr to ours (VUF_ECHO=1) */

	/* the connection */
	int sock;		/* owned: our end of the vhost-user socket */
	int display_fd;		/* owned: our end of the GPU_SET_SOCKET pair */
	int backend_fd;		/* owned: our end of SET_BACKEND_REQ_FD */
	char dir[256];		/* owned temporary directory, "" when none */
	char path[300];		/* socket path in --socket-path mode */

	/* what was negotiated */
	uint64_t features;	/* GET_FEATURES answer */
	uint64_t acked_features;	/* what SET_FEATURES sent */
	uint64_t protocol_features;	/* what SET_PROTOCOL_FEATURES sent */
	bool reply_ack;		/* REPLY_ACK is in protocol_features */
	uint64_t queue_num, max_mem_slots;
	uint64_t display_protocol_features;	/* what we answer on the display socket */
	unsigned display_msgs;	/* display requests served */
	unsigned backend_msgs;	/* backend-channel requests served */

	struct vuf_mem mem;
	struct vuf_vq vq[VUF_MAX_VQS];
	struct vuf_arena arena;	/* where slots and the bulk area come from */
	uint8_t *bulk;		/* VUF_BULK_SIZE, NULL until used */
	uint64_t bulk_gpa;

	struct vuf_display display;
	uint64_t decline_features;	/* device bits vuf_qemu_start's guest
					 * does not take */
	bool no_display;	/* vuf_qemu_start sends no GPU_SET_SOCKET */

	int timeout_ms;		/* VUF_TIMEOUT_MS unless changed */
	bool serve;		/* answer the display socket and backend channel
				 * while waiting (true unless changed) */
	bool trace;		/* print every message on stderr (VUF_TRACE=1) */
};

/* Set every field to "nothing" (fds -1). Never fails. */
void vuf_init(struct vuf *f);

/* Undo everything: SIGKILL and reap a live daemon, close fds, unmap guest
 * memory, remove the socket path and temporary directory. Idempotent. */
void vuf_finish(struct vuf *f);

/* The daemon binary: $VUGPU_BIN, else the VUGPU_BIN macro, else "vugpu". */
const char *vuf_daemon_path(void);

/*
 * Start the daemon with --fd N (N is one end of a socketpair; the child
 * keeps only it and stdio, stdin is /dev/null, stderr is a pipe read into
 * f->err). extra_args is NULL-terminated, may be NULL.
 */
int vuf_spawn_fd(struct vuf *f, const char *const extra_args[]);

/*
 * Start the daemon with --socket-path DIR/vugpu.sock in a fresh directory
 * under $TMPDIR (or /tmp), wait with inotify until the path appears and
 * connect. Fails early with -ECHILD if the daemon exits first.
 */
int vuf_spawn_path(struct vuf *f, const char *const extra_args[]);

/* Start the daemon with --socket-path but do not connect yet: returns once
 * the path exists. Then vuf_connect_path() connects (again, for
 * --keep-listening). */
int vuf_spawn_path_noconnect(struct vuf *f, const char *const extra_args[]);
int vuf_connect_path(struct vuf *f);

/* Close our end of the vhost-user socket (display/backend ends too). */
void vuf_hangup(struct vuf *f);

/* Send a signal to the daemon (through its pidfd). */
int vuf_kill(struct vuf *f, int sig);

/* Wait for the daemon to exit: returns its wait status (>= 0), or
 * -ETIMEDOUT. Drains stderr meanwhile. A reaped daemon returns the saved
 * status at once. */
int vuf_wait_exit(struct vuf *f, int timeout_ms);

/* True while the daemon has not exited (does not block). */
bool vuf_alive(struct vuf *f);

/* Entries in /proc/PID/fd of the daemon, or -errno. */
int vuf_count_fds(struct vuf *f);

/* Read whatever the daemon wrote to stderr so far into f->err. */
void vuf_drain_stderr(struct vuf *f);

/*
 * Run the daemon to completion with arguments args (NULL-terminated,
 * without argv[0]) and stdin on /dev/null; collect stdout and stderr
 * (NUL-terminated, truncated to the capacities). Returns the wait status,
 * -ETIMEDOUT (the child is then killed), or -errno.
 */
int vuf_run(const char *const args[], char *out, size_t out_cap,
	    char *err, size_t err_cap, int timeout_ms);

/* ---- messages ---- */

/* Name of a vhost-user request, for traces and test messages. */
const char *vuf_req_name(uint32_t request);

/* True for requests that carry a reply of their own (GET_* and friends). */
bool vuf_req_has_reply(uint32_t request);

/*
 * Send one message: header {request, VU_VERSION | flags, size}, then the
 * payload, fds attached with SCM_RIGHTS (the caller keeps its copies).
 */
int vuf_send(struct vuf *f, uint32_t request, uint32_t flags,
	     const void *payload, uint32_t size, const int *fds, unsigned nfds);

/* Send bytes as they are (for torn or lying headers). */
int vuf_send_raw(struct vuf *f, const void *buf, size_t len,
		 const int *fds, unsigned nfds);

/*
 * Receive one message within timeout_ms (< 0: f->timeout_ms). The payload
 * goes to buf (at most cap bytes; a longer one is read, dropped and
 * reported as -EMSGSIZE). Received fds are closed unless fds/nfds ask for
 * them (fds must hold VU_MAX_FDS). Returns the payload size, -ETIMEDOUT,
 * -ECONNRESET on hang-up.
 */
int vuf_recv(struct vuf *f, struct vu_hdr *hdr, void *buf, size_t cap,
	     int *fds, unsigned *nfds, int timeout_ms);

/*
 * Send a request and wait for its reply: the reply of its own for GET_*,
 * the REPLY_ACK u64 when NEED_REPLY is in flags, nothing otherwise.
 * Checks the reply (same request, flags VERSION|REPLY). Returns the reply
 * payload size, 0 when no reply was expected, -EPROTO for a wrong reply.
 */
int vuf_call(struct vuf *f, uint32_t request, uint32_t flags,
	     const void *payload, uint32_t size, const int *fds, unsigned nfds,
	     void *reply, size_t reply_cap);

/*
 * Send a request without a reply of its own. With NEED_REPLY in flags,
 * wait for the ack: 0 when it is 0, -EREMOTEIO when it is not.
 */
int vuf_request(struct vuf *f, uint32_t request, uint32_t flags,
		const void *payload, uint32_t size, const int *fds,
		unsigned nfds);

/* GET_* with an empty request and a u64 answer. -ENODATA: empty answer. */
int vuf_get_u64(struct vuf *f, uint32_t request, uint64_t *value);
/* A u64 request (SET_FEATURES, SET_STATUS, ...), ack rules of vuf_request. */
int vuf_set_u64(struct vuf *f, uint32_t request, uint32_t flags,
		uint64_t value);
/* A vring state request (SET_VRING_NUM/BASE/ENABLE). */
int vuf_set_vring_state(struct vuf *f, uint32_t request, uint32_t flags,
			unsigned index, unsigned num);
/* GET_VRING_BASE for index into *num. */
int vuf_get_vring_base(struct vuf *f, unsigned index, unsigned *num);
/* SET_VRING_KICK/CALL/ERR: fd < 0 sends the NOFD flag and no fd. */
int vuf_set_vring_fd(struct vuf *f, uint32_t request, uint32_t flags,
		     unsigned index, int fd);
/* SET_VRING_ADDR with frontend virtual addresses. */
int vuf_set_vring_addr(struct vuf *f, uint32_t flags, unsigned index,
		       uint64_t desc_uva, uint64_t avail_uva, uint64_t used_uva,
		       uint64_t log_gpa);
/* GET_CONFIG at offset/size into data (size bytes). Returns the config
 * bytes received, -ENODATA for the empty refusal. */
int vuf_get_config(struct vuf *f, uint32_t offset, uint32_t size,
		   void *data);

/* SET_BACKEND_REQ_FD with a fresh socketpair; we keep f->backend_fd. */
int vuf_set_backend_req_fd(struct vuf *f, uint32_t flags);
/* GPU_SET_SOCKET with a fresh socketpair; we keep f->display_fd (an older
 * one is closed first, as QEMU does on every guest reset). */
int vuf_gpu_set_socket(struct vuf *f, uint32_t flags);

/* Handle whatever is readable on the display socket and the backend
 * channel, without blocking. Returns messages handled or -errno. */
int vuf_serve(struct vuf *f);

/* ---- guest memory ---- */

/* A memfd of size bytes, mapped shared. No regions yet. */
int vuf_mem_create(struct vuf *f, size_t size);
/* Describe [offset, offset + size) of the memfd at gpa; returns the region
 * index. Nothing is sent. */
int vuf_mem_add_region(struct vuf *f, uint64_t gpa, uint64_t offset,
		       uint64_t size);
/* Our pointer for [gpa, gpa + len), NULL when no region holds it. */
void *vuf_gpa(struct vuf *f, uint64_t gpa, uint64_t len);
/* The frontend virtual address of gpa (what SET_VRING_ADDR carries). */
uint64_t vuf_gpa_to_uva(struct vuf *f, uint64_t gpa);
/* The wire form of region i. */
struct vu_mem_region vuf_mem_region_msg(struct vuf *f, unsigned i);
/* SET_MEM_TABLE with every region, one memfd per region. */
int vuf_mem_set_table(struct vuf *f, uint32_t flags);
/* ADD_MEM_REG of region i (with the memfd). */
int vuf_mem_add_reg(struct vuf *f, unsigned i, uint32_t flags);
/* REM_MEM_REG of region i, without an fd (QEMU) or with one
 * (libvhost-user's reading of the spec). */
int vuf_mem_rem_reg(struct vuf *f, unsigned i, uint32_t flags, bool with_fd);

/* ---- virtqueues ---- */

/* Lay out a split ring of num entries at gpa (desc, avail, used with the
 * virtio 1.x alignments) and zero it. */
int vuf_vq_layout(struct vuf *f, unsigned index, unsigned num, uint64_t gpa);
/* What vhost_virtqueue_start() sends for a laid-out ring: SET_VRING_NUM,
 * SET_VRING_BASE, SET_VRING_ADDR, SET_VRING_KICK (a new eventfd). */
int vuf_vq_start(struct vuf *f, unsigned index);
/* SET_VRING_CALL with a new eventfd kept in vq->call_fd. */
int vuf_vq_set_call(struct vuf *f, unsigned index, uint32_t flags);

/* ---- QEMU's vhost-user-gpu-pci sequences (see frontend.c) ---- */

/* Realize: vhost_user_backend_init() and vhost_dev_init(). */
int vuf_qemu_init(struct vuf *f, enum vuf_qemu v);
/* The guest driver's probe reads the config space: GET_CONFIG. */
int vuf_qemu_get_config(struct vuf *f, enum vuf_qemu v);
/* DRIVER_OK: GPU_SET_SOCKET, then vhost_user_backend_start(). Creates the
 * default guest memory and rings when the caller has not. */
int vuf_qemu_start(struct vuf *f, enum vuf_qemu v);
/* Guest reset: close the display socket, vhost_user_backend_stop(). The
 * GET_VRING_BASE answers land in f->vq[i].base. */
int vuf_qemu_stop(struct vuf *f, enum vuf_qemu v);
/* init, get_config, start. */
int vuf_qemu_handshake(struct vuf *f, enum vuf_qemu v);

/* The default guest memory vuf_qemu_start() builds: an 8 MiB memfd in two
 * regions, like QEMU's RAM below and above 4 GiB. */
#define VUF_DEFAULT_MEM (8u << 20)
#define VUF_REGION0_GPA 0x0ull
#define VUF_REGION1_GPA 0x100000000ull
#define VUF_VQ0_GPA 0x100000ull
#define VUF_VQ1_GPA (VUF_REGION1_GPA + 0x100000ull)
int vuf_default_memory(struct vuf *f);

/*
 * Guest memory for driving the device: a memfd of 3 * region_size, region
 * 0 at gpa 0 and region 1 at region1_gpa (region_size bytes each, from
 * memfd offsets 0 and region_size; pass region_size for two adjacent
 * regions that a buffer may span, VUF_REGION1_GPA for QEMU's layout), the
 * last third of the memfd spare. The control ring (ctrl_num entries) and
 * the cursor ring (16) sit in the first MiB of region 0, f->arena covers
 * the rest of region 0. region_size: a multiple of 1 MiB, at least 2 MiB.
 */
int vuf_gpu_memory(struct vuf *f, size_t region_size, uint64_t region1_gpa,
		   unsigned ctrl_num);

/* ---- guest buffers ---- */

void vuf_arena_init(struct vuf_arena *a, uint64_t gpa, uint64_t size);
/* len bytes at an align-aligned gpa (align: a power of two) that lie in
 * one region: our pointer, the gpa in *gpa. NULL when the arena is full. */
void *vuf_arena_alloc(struct vuf *f, struct vuf_arena *a, uint64_t len,
		      uint64_t align, uint64_t *gpa);

/* ---- the driver side of a split ring ----
 *
 * Written as a guest driver does it: descriptors from a free list, the
 * avail entry, then avail->idx with release order at kick time; the kick
 * honours VRING_USED_F_NO_NOTIFY or avail_event (EVENT_IDX); used_event is
 * kept at the last used entry taken, so that each completion may notify.
 * Nothing here allocates. Queue indices are checked (-EINVAL).
 */

/* Add a chain: out[] readable then in[] writable buffers. Returns the head
 * (>= 0), -ENOSPC without enough free descriptors (or, indirect, no slot
 * memory), -EINVAL. Not visible to the device before vuf_vq_kick(). */
int vuf_vq_add(struct vuf *f, unsigned q, const struct vuf_buf *out,
	       unsigned nout, const struct vuf_buf *in, unsigned nin);
/* Publish the added chains (avail->idx, release) and notify the device if
 * it wants to be: 1 when the kick eventfd was written, 0 when suppressed. */
int vuf_vq_kick(struct vuf *f, unsigned q);
/* Write the kick eventfd whatever the device asked for. */
int vuf_vq_notify(struct vuf *f, unsigned q);
/* Take the next used entry without waiting: 0, or -EAGAIN when none. The
 * chain's descriptors go back on the free list; its slot stays readable
 * until the next vuf_vq_add(). */
int vuf_vq_get_used(struct vuf *f, unsigned q, unsigned *head,
		    uint32_t *len);
/*
 * Take the next used entry, waiting for the call eventfd (poll, bounded
 * by timeout_ms, < 0: f->timeout_ms) while serving the display socket
 * (unless paused), the backend channel and the daemon's stderr. Returns
 * 0, -ETIMEDOUT, or -ECHILD when the daemon died.
 */
int vuf_vq_wait_used(struct vuf *f, unsigned q, unsigned *head,
		     uint32_t *len, int timeout_ms);
/* Wait until at least n used entries are there to take (watching
 * used->idx, for when notifications are suppressed), without taking them. */
int vuf_vq_wait_pending(struct vuf *f, unsigned q, unsigned n, int timeout_ms);
/* used->idx as the device last published it (acquire). */
uint16_t vuf_vq_used_idx(struct vuf *f, unsigned q);
/* Call eventfd signals seen so far (reads a pending count first). */
uint64_t vuf_vq_calls(struct vuf *f, unsigned q);
/* EVENT_IDX: take used_event over (the driver stops moving it) and set
 * it; vuf_vq_auto_used_event() gives it back. */
void vuf_vq_set_used_event(struct vuf *f, unsigned q, uint16_t idx);
void vuf_vq_auto_used_event(struct vuf *f, unsigned q);
/* Our pointer to slot i of queue q (allocated from f->arena on first use)
 * and its gpa in *gpa; NULL without memory. */
void *vuf_vq_slot(struct vuf *f, unsigned q, unsigned i, uint64_t *gpa);

/* Raw access, for malformed chains and corrupt rings. */
/* Take n descriptors off the free list (ids[] gets them) / put them back. */
int vuf_vq_alloc_desc(struct vuf *f, unsigned q, unsigned n, uint16_t *ids);
void vuf_vq_free_desc(struct vuf *f, unsigned q, const uint16_t *ids,
		      unsigned n);
/* Write descriptor i as it is (i < num). */
void vuf_vq_set_desc(struct vuf *f, unsigned q, unsigned i, uint64_t addr,
		     uint32_t len, uint16_t flags, uint16_t next);
/* Put head (any value) in the next avail slot; the driver does not track
 * it (its used entry comes back from vuf_vq_*_used all the same). */
void vuf_vq_add_raw(struct vuf *f, unsigned q, uint16_t head);
/* Store avail->idx as it is (release). vuf_vq_kick() stores the real one. */
void vuf_vq_set_avail_idx(struct vuf *f, unsigned q, uint16_t idx);

/* ---- virtio-gpu commands ---- */

/*
 * Place one command on queue q without kicking: req and extra (readable,
 * two descriptors, or one when extra_len is 0) copied into the head's
 * slot, and a writable response buffer of resp_len bytes (none when 0).
 * Returns the head; its response is at vuf_gpu_resp(f, q, head) once the
 * used entry is back. -E2BIG when it does not fit a slot.
 */
int vuf_gpu_submit(struct vuf *f, unsigned q, const void *req,
		   size_t req_len, const void *extra, size_t extra_len,
		   size_t resp_len);
void *vuf_gpu_resp(struct vuf *f, unsigned q, unsigned head);

/*
 * One control command, synchronously: place it (extra may be up to
 * VUF_BULK_SIZE), kick, wait for its used entry, copy the response (at
 * most resp_len bytes) out. Returns the used length, -EBUSY when other
 * chains are in flight on the control queue, -EPROTO when another head
 * came back, or a wait's error.
 */
int vuf_gpu_cmd(struct vuf *f, const void *req, size_t req_len,
		const void *extra, size_t extra_len, void *resp,
		size_t resp_len);
/* The same with VIRTIO_GPU_FLAG_FENCE, fence_id and ctx_id set in (a copy
 * of) the request header. */
int vuf_gpu_cmd_fenced(struct vuf *f, const void *req, size_t req_len,
		       const void *extra, size_t extra_len, uint64_t fence_id,
		       uint32_t ctx_id, void *resp, size_t resp_len);
/* A command answered by a bare header: the response type (> 0), or
 * -EPROTO when fewer than 24 bytes came back, or -errno. */
int vuf_gpu_cmd_type(struct vuf *f, const void *req, size_t req_len,
		     const void *extra, size_t extra_len);
/* A cursor-queue command: the used length (0 when the device is right). */
int vuf_gpu_cursor(struct vuf *f, const struct virtio_gpu_update_cursor *c);

/* Typed 2D commands; each returns the response type or -errno. */
int vuf_gpu_create_2d(struct vuf *f, uint32_t id, uint32_t format,
		      uint32_t width, uint32_t height);
int vuf_gpu_unref(struct vuf *f, uint32_t id);
int vuf_gpu_attach_backing(struct vuf *f, uint32_t id,
			   const struct virtio_gpu_mem_entry *ents, unsigned n);
int vuf_gpu_detach_backing(struct vuf *f, uint32_t id);
int vuf_gpu_transfer_2d(struct vuf *f, uint32_t id, struct vuf_rect r,
			uint64_t offset);
int vuf_gpu_flush(struct vuf *f, uint32_t id, struct vuf_rect r);
int vuf_gpu_set_scanout(struct vuf *f, uint32_t scanout, uint32_t id,
			struct vuf_rect r);

/* ---- the display side ---- */

/* What GET_DISPLAY_INFO answers for scanout i (vuf_init: scanout 0,
 * 1280x800, enabled, as QEMU's default). */
void vuf_display_set_mode(struct vuf *f, unsigned scanout, uint32_t width,
			  uint32_t height, bool enabled);
/* What GET_EDID answers (at most 1024 bytes; 0: an empty EDID). */
int vuf_display_set_edid(struct vuf *f, const void *edid, size_t size);
/* Stop reading the display socket / read it again. */
void vuf_display_pause(struct vuf *f, bool paused);
/* Serve until done(f, arg) holds: 0, -ETIMEDOUT, -ECHILD. */
int vuf_display_wait(struct vuf *f, bool (*done)(struct vuf *f, void *arg),
		     void *arg, int timeout_ms);
/* Serve until n messages of this request id were seen in all. */
int vuf_display_wait_count(struct vuf *f, uint32_t request, unsigned n,
			   int timeout_ms);
/* Pixel (x, y) of scanout s's surface; 0 outside it. */
uint32_t vuf_display_pixel(struct vuf *f, unsigned s, uint32_t x, uint32_t y);
/* Write one message on the display socket as it is: header {request,
 * flags, size} then size bytes of payload (a reply with the wrong size,
 * an unsolicited one, a lying header). */
int vuf_display_send(struct vuf *f, uint32_t request, uint32_t flags,
		     const void *payload, uint32_t size);
/* GPU_SET_SOCKET with a fresh socketpair, but hand our end of the old one
 * to the caller (*old_fd, -1 if none) instead of closing it, so the
 * daemon can be caught writing to it. */
int vuf_gpu_replace_socket(struct vuf *f, uint32_t flags, int *old_fd);

/* Serve until fd is readable: 0, -ETIMEDOUT, -ECHILD. */
int vuf_wait_fd(struct vuf *f, int fd, int timeout_ms);

/* The daemon's VmRSS in KiB (from /proc/PID/status), or -errno. */
long vuf_daemon_rss_kb(struct vuf *f);

#endif /* TESTS_FRONTEND_H */
