/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Display socket I/O.
 *
 * Security model: the frontend writes the other end. It can send any
 * bytes at any time, stop reading, or hang up. Replies are read into a
 * fixed buffer: a header that announces more than the largest reply we
 * know is a protocol error and ends the display (the device goes on
 * without one). What a reply says is checked in proto/display.c.
 *
 * Large pixel payloads go by reference: vmsplice(2) puts the pages of the
 * caller's buffer into a pipe and splice(2) moves them into the
 * non-blocking socket, where they wait as page references until the
 * frontend reads them (AF_UNIX stream sockets take spliced pages without
 * copying). That saves the sender's copy, the largest part of a full
 * frame's CPU, at the price the caller accepts in display_send(): what it
 * changes in those pages before the frontend has read them is what the
 * frontend sees. Only on Linux 6.5 and later: before, splicing into an
 * AF_UNIX socket waits for the peer's socket lock, which the frontend
 * holds while it reads, even on a non-blocking socket; that would block
 * the loop. splice(2) has no MSG_NOSIGNAL: main() ignores SIGPIPE.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "core/display.h"
#include "core/log.h"

/* Below this many bytes by reference, copying is cheaper than pinning
 * the pages and the extra syscalls of a splice. */
#define DISPLAY_SPLICE_MIN (256u << 10)
#define DISPLAY_PIPE_SIZE (1u << 20)	/* the unprivileged maximum */
/* The kernel doubles it: about one 1920x1080 frame in the socket, not
 * several (a slow frontend gets merged damage, not a backlog). */
#define DISPLAY_SNDBUF (4 << 20)

struct display_io {
	struct display *owner;	/* NULL once detached */
	int fd;
	bool dead;		/* failed: report lost when idle */

	struct loop_op tx_op;
	bool sending;
	struct iovec *iov;	/* our copy: advanced on partial writes */
	unsigned niov, iov_cap, first;
	unsigned by_ref;	/* iovecs from here on are spliced */
	struct msghdr tx_mh;
	int pipe[2];		/* for splicing; -1 until the first */
	bool no_splice;		/* splicing failed: copy on this socket */
	bool is_socket;		/* (GPU_SET_SOCKET takes any fd) */
	bool polling;		/* tx_op waits for room to splice into */
	size_t in_pipe;		/* bytes in the pipe, not yet in the socket */
	size_t pipe_size;	/* what it holds */

	struct loop_op rx_op;
	struct iovec rx_iov;
	struct msghdr rx_mh;
	struct display_hdr hdr;
	uint8_t payload[DISPLAY_REPLY_MAX];
	uint32_t rx_got;
};

static void io_handle_send(struct loop_op *op, int res, unsigned flags);
static void io_handle_recv(struct loop_op *op, int res, unsigned flags);

static void
io_free(struct display_io *io)
{
	close(io->fd);
	if (io->pipe[0] >= 0) {
		close(io->pipe[0]);
		close(io->pipe[1]);
	}
	free(io->iov);
	free(io);
}

static void
io_free_if_idle(struct display_io *io)
{
	if (io->owner || io->tx_op.busy || io->rx_op.busy)
		return;
	io_free(io);
}

/* The socket failed: tell the device once nothing is in flight. */
static void
io_fail(struct display_io *io)
{
	struct display *d = io->owner;

	io->dead = true;
	if (!d)
		return;
	if (io->sending) {
		/* Make the send finish; we report when it has. */
		shutdown(io->fd, SHUT_RDWR);
		return;
	}
	d->io = NULL;
	io->owner = NULL;
	loop_cancel(d->loop, &io->rx_op);
	io_free_if_idle(io);
	d->cb->lost(d->data);
}

static void
rx_submit(struct display *d, struct display_io *io)
{
	uint32_t hdr = sizeof(io->hdr);
	void *buf;
	size_t len;

	if (io->rx_got < hdr) {
		buf = (uint8_t *)&io->hdr + io->rx_got;
		len = hdr - io->rx_got;
	} else {
		buf = io->payload + (io->rx_got - hdr);
		len = io->hdr.size - (io->rx_got - hdr);
	}
	/* recvmsg, not read: io_uring hands a read of a non-blocking file
	 * its EAGAIN instead of waiting, and the socket is non-blocking. */
	io->rx_iov = (struct iovec){ buf, len };
	memset(&io->rx_mh, 0, sizeof(io->rx_mh));
	io->rx_mh.msg_iov = &io->rx_iov;
	io->rx_mh.msg_iovlen = 1;
	loop_recvmsg(d->loop, &io->rx_op, io->fd, &io->rx_mh, 0);
}

static void
io_handle_recv(struct loop_op *op, int res, unsigned flags)
{
	struct display_io *io = container_of(op, struct display_io, rx_op);
	struct display *d = io->owner;
	uint32_t hdr = sizeof(io->hdr);

	if (!d) {
		io_free_if_idle(io);
		return;
	}
	if (res == -EINTR || res == -EAGAIN) {
		rx_submit(d, io);
		return;
	}
	if (res <= 0) {
		if (res < 0 && res != -ECONNRESET && res != -ECANCELED)
			log_warn("display socket: %s", strerror(-res));
		io_fail(io);
		return;
	}
	io->rx_got += (uint32_t)res;
	if (io->rx_got == hdr && io->hdr.size > sizeof(io->payload)) {
		log_limited(LOG_LVL_ERROR,
			    "display socket: message %u of %u bytes; closing it",
			    io->hdr.request, io->hdr.size);
		io_fail(io);
		return;
	}
	if (io->rx_got < hdr || io->rx_got < hdr + io->hdr.size) {
		rx_submit(d, io);
		return;
	}
	io->rx_got = 0;
	rx_submit(d, io);
	d->cb->input(d->data, &io->hdr, io->payload);
}

/* Skip n bytes of the message; a partly written iovec is advanced. */
static void
tx_advance(struct display_io *io, size_t n)
{
	while (io->first < io->niov && n >= io->iov[io->first].iov_len) {
		n -= io->iov[io->first].iov_len;
		io->first++;
	}
	if (io->first < io->niov) {
		io->iov[io->first].iov_base = (uint8_t *)io->iov[io->first].iov_base + n;
		io->iov[io->first].iov_len -= n;
	}
}

static void tx_submit(struct display *d, struct display_io *io);

/* The by-reference iovecs [from, io->niov) are about to be copied
 * instead: let the caller complete them first. */
static void
tx_prepare_rest(struct display *d, struct display_io *io, unsigned from)
{
	if (!d->cb->prepare)
		return;
	for (unsigned i = from; i < io->niov; i++)
		d->cb->prepare(d->data, io->iov[i].iov_base, io->iov[i].iov_len);
}

/* The message is out. */
static void
tx_done(struct display *d, struct display_io *io)
{
	io->sending = false;
	d->cb->sent(d->data);
}

/* The socket failed with err while nothing of ours is in flight. */
static void
tx_failed(struct display_io *io, int err)
{
	io->sending = false;
	if (err != EPIPE && err != ECONNRESET && err != ECANCELED)
		log_warn("display socket: %s", strerror(err));
	io_fail(io);
}

/*
 * Move the by-reference part through the pipe: vmsplice the next pages
 * into it, a pipe's worth at a time, splice them into the (non-blocking)
 * socket, until all is in or the socket is full; then wait for room with
 * a poll. Only ever runs from a completion: the message's head always
 * goes first, by sendmsg. The caller prepares each piece just before it
 * goes, so it can fill the next while the frontend reads this one.
 */
static void
tx_splice(struct display *d, struct display_io *io)
{
	for (;;) {
		ssize_t n;

		if (!io->in_pipe) {
			struct iovec v;

			if (io->first == io->niov) {
				tx_done(d, io);
				return;
			}
			v = io->iov[io->first];
			if (v.iov_len > io->pipe_size)
				v.iov_len = io->pipe_size;
			if (d->cb->prepare)
				d->cb->prepare(d->data, v.iov_base, v.iov_len);
			n = vmsplice(io->pipe[1], &v, 1, SPLICE_F_NONBLOCK);
			if (n <= 0) {
				/* Nothing of these pages went out: copy them. */
				log_limited(LOG_LVL_WARN, "display socket: vmsplice: "
					    "%s; copying until it is replaced",
					    n < 0 ? strerror(errno) : "no room");
				io->no_splice = true;
				io->by_ref = io->niov;
				tx_prepare_rest(d, io, io->first);
				tx_submit(d, io);
				return;
			}
			tx_advance(io, (size_t)n);
			io->in_pipe = (size_t)n;
		}
		n = splice(io->pipe[0], NULL, io->fd, NULL, io->in_pipe,
			   SPLICE_F_NONBLOCK);
		if (n > 0) {
			io->in_pipe -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			io->polling = true;
			loop_poll(d->loop, &io->tx_op, io->fd, POLLOUT);
			if (d->cb->stalled)
				d->cb->stalled(d->data);
			return;
		} else if (n == 0 || errno != EINTR) {
			tx_failed(io, n < 0 ? errno : EPIPE);
			return;
		}
	}
}

/* Write what is left of the message: the copied iovecs by sendmsg, the
 * rest through the pipe. */
static void
tx_submit(struct display *d, struct display_io *io)
{
	unsigned end = io->niov, n;

	if (io->first >= io->by_ref) {
		tx_splice(d, io);
		return;
	}
	if (io->by_ref < end)
		end = io->by_ref;
	n = end - io->first;
	if (n > IOV_MAX)
		n = IOV_MAX;
	memset(&io->tx_mh, 0, sizeof(io->tx_mh));
	io->tx_mh.msg_iov = io->iov + io->first;
	io->tx_mh.msg_iovlen = n;
	/* MSG_WAITALL: io_uring keeps sending until all of it is out (or
	 * the socket fails), instead of waking us for every socket-buffer
	 * worth of a large frame; short sends are still handled below. */
	loop_sendmsg(d->loop, &io->tx_op, io->fd, &io->tx_mh, MSG_WAITALL);
}

static void
io_handle_send(struct loop_op *op, int res, unsigned flags)
{
	struct display_io *io = container_of(op, struct display_io, tx_op);
	struct display *d = io->owner;

	if (!d) {
		io_free_if_idle(io);
		return;
	}
	if (io->dead) {
		tx_failed(io, ECANCELED);
		return;
	}
	if (io->polling) {
		/* Room in the socket, or an error that splice will report. */
		io->polling = false;
		if (res < 0 && res != -EINTR && res != -EAGAIN) {
			tx_failed(io, -res);
			return;
		}
		tx_splice(d, io);
		return;
	}
	if (res == -EINTR || res == -EAGAIN) {
		tx_submit(d, io);
		return;
	}
	if (res <= 0) {
		tx_failed(io, res < 0 ? -res : EPIPE);
		return;
	}
	tx_advance(io, (size_t)res);
	if (io->first < io->niov) {
		tx_submit(d, io);
		return;
	}
	tx_done(d, io);
}

void
display_init(struct display *d, struct loop *loop, const struct display_cb *cb,
	     void *data)
{
	memset(d, 0, sizeof(*d));
	d->loop = loop;
	d->cb = cb;
	d->data = data;
}

static void
detach(struct display *d)
{
	struct display_io *io = d->io;

	if (!io)
		return;
	d->io = NULL;
	io->owner = NULL;
	shutdown(io->fd, SHUT_RDWR);
	loop_cancel(d->loop, &io->rx_op);
	loop_cancel(d->loop, &io->tx_op);
	io_free_if_idle(io);
}

void
display_attach(struct display *d, int fd)
{
	struct display_io *io;

	detach(d);
	if (fd < 0)
		return;
	io = calloc(1, sizeof(*io));
	if (!io) {
		log_error("display socket: out of memory");
		close(fd);
		return;
	}
	io->owner = d;
	io->fd = fd;
	io->pipe[0] = io->pipe[1] = -1;
	{
		struct stat st;

		io->is_socket = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
	}
	/* For splice(2), which waits on a blocking socket; our sendmsg and
	 * recvmsg go through io_uring, which waits for them either way. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	/* Room for a whole frame, so that the frontend drains it in a few
	 * reads instead of waking us for every 200 KiB; the kernel caps it
	 * at net.core.wmem_max before doubling it. Spliced pixels count
	 * against it too, but are the resources' own pages, not copies. */
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int){ DISPLAY_SNDBUF },
		   sizeof(int));
	loop_op_init(&io->tx_op, io_handle_send);
	loop_op_init(&io->rx_op, io_handle_recv);
	d->io = io;
	rx_submit(d, io);
}

/* Whether splicing into an AF_UNIX socket never waits for its peer
 * (Linux 6.5 and later; see the top of the file). */
static bool
splice_safe(void)
{
	static int safe = -1;

	if (safe < 0) {
		struct utsname u;
		unsigned major = 0, minor = 0;

		safe = uname(&u) == 0 &&
		       sscanf(u.release, "%u.%u", &major, &minor) == 2 &&
		       (major > 6 || (major == 6 && minor >= 5));
		if (!safe)
			log_info("display socket: Linux %s splices into unix "
				 "sockets under the reader's lock: copying "
				 "pixels instead", u.release);
	}
	return safe;
}

/* A pipe for splicing, made on first use; false if none can be had (the
 * socket then copies until it is replaced). */
static bool
pipe_ready(struct display_io *io)
{
	if (io->pipe[0] >= 0)
		return true;
	if (!splice_safe()) {
		io->no_splice = true;
		return false;
	}
	if (pipe2(io->pipe, O_CLOEXEC) < 0) {
		log_limited(LOG_LVL_WARN, "display socket: pipe: %s; copying "
			    "instead of splicing", strerror(errno));
		io->pipe[0] = io->pipe[1] = -1;
		io->no_splice = true;
		return false;
	}
	/* Smaller pipes (a lower pipe-max-size) only mean more rounds. */
	fcntl(io->pipe[1], F_SETPIPE_SZ, DISPLAY_PIPE_SIZE);
	{
		int sz = fcntl(io->pipe[1], F_GETPIPE_SZ);

		io->pipe_size = sz > 0 ? (size_t)sz : 4096;
	}
	return true;
}

int
display_send(struct display *d, const struct iovec *iov, unsigned niov,
	     unsigned by_ref)
{
	struct display_io *io = d->io;
	size_t ref_bytes = 0;
	unsigned n = 0;

	if (!io || io->dead)
		return -ENOTCONN;
	if (io->sending)
		return -EBUSY;
	if (niov > io->iov_cap) {
		struct iovec *p = realloc(io->iov, niov * sizeof(*p));

		if (!p)
			return -ENOMEM;
		io->iov = p;
		io->iov_cap = niov;
	}
	/* Empty iovecs would make a zero-byte write look like EOF. */
	io->by_ref = UINT_MAX;
	for (unsigned i = 0; i < niov; i++) {
		if (i == by_ref)
			io->by_ref = n;
		if (i >= by_ref)
			ref_bytes += iov[i].iov_len;
		if (iov[i].iov_len)
			io->iov[n++] = iov[i];
	}
	io->niov = n;
	if (io->by_ref > n)
		io->by_ref = n;
	if (ref_bytes < DISPLAY_SPLICE_MIN || io->no_splice || !pipe_ready(io)) {
		tx_prepare_rest(d, io, io->by_ref);
		io->by_ref = n;
	}
	/* The head always goes by sendmsg: tx_splice only ever runs from a
	 * completion, never inside this call. */
	if (io->by_ref == 0) {
		if (n && d->cb->prepare)
			d->cb->prepare(d->data, io->iov[0].iov_base, io->iov[0].iov_len);
		io->by_ref = 1;
	}
	io->first = 0;
	io->sending = true;
	tx_submit(d, io);
	return 0;
}

bool
display_drained(struct display *d)
{
	struct display_io *io = d->io;
	int queued = -1;

	return io && !io->dead && !io->sending && io->is_socket &&
	       ioctl(io->fd, SIOCOUTQ, &queued) == 0 && queued == 0;
}

void
display_abort(struct display *d)
{
	if (d->io)
		shutdown(d->io->fd, SHUT_RDWR);
}

void
display_finish(struct display *d)
{
	struct display_io *io = d->io;

	/* The ring is gone by now: nothing is in flight any more. */
	if (!io)
		return;
	d->io = NULL;
	io_free(io);
}
