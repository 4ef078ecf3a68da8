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
 */
#ifndef TESTS_FRONTEND_H
#define TESTS_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

#endif /* TESTS_FRONTEND_H */
