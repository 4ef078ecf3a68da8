/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Display socket I/O.
 *
 * Security model: the frontend writes the other end. It can send any
 * bytes at any time, stop reading, or hang up. Replies are read into a
 * fixed buffer: a header that announces more than the largest reply we
 * know is a protocol error and ends the display (the device goes on
 * without one). What a reply says is checked in proto/display.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/display.h"
#include "core/log.h"

struct display_io {
	struct display *owner;	/* NULL once detached */
	int fd;
	bool dead;		/* failed: report lost when idle */

	struct loop_op tx_op;
	bool sending;
	struct iovec *iov;	/* our copy: advanced on partial writes */
	unsigned niov, iov_cap, first;
	struct msghdr tx_mh;

	struct loop_op rx_op;
	struct display_hdr hdr;
	uint8_t payload[DISPLAY_REPLY_MAX];
	uint32_t rx_got;
};

static void io_handle_send(struct loop_op *op, int res, unsigned flags);
static void io_handle_recv(struct loop_op *op, int res, unsigned flags);

static void
io_free_if_idle(struct display_io *io)
{
	if (io->owner || io->tx_op.busy || io->rx_op.busy)
		return;
	close(io->fd);
	free(io->iov);
	free(io);
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
	loop_read(d->loop, &io->rx_op, io->fd, buf, (unsigned)len);
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

static void
tx_submit(struct display *d, struct display_io *io)
{
	unsigned n = io->niov - io->first;

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
	size_t left = res > 0 ? (size_t)res : 0;

	if (!d) {
		io_free_if_idle(io);
		return;
	}
	if (res == -EINTR || res == -EAGAIN) {
		tx_submit(d, io);
		return;
	}
	if (res < 0 || io->dead || (res == 0 && io->first < io->niov)) {
		io->sending = false;
		if (res < 0 && res != -EPIPE && res != -ECONNRESET &&
		    res != -ECANCELED)
			log_warn("display socket: %s", strerror(-res));
		io_fail(io);
		return;
	}
	/* Skip what went out; a partly written iovec is advanced. */
	while (io->first < io->niov && left >= io->iov[io->first].iov_len) {
		left -= io->iov[io->first].iov_len;
		io->first++;
	}
	if (io->first < io->niov) {
		io->iov[io->first].iov_base =
			(uint8_t *)io->iov[io->first].iov_base + left;
		io->iov[io->first].iov_len -= left;
		tx_submit(d, io);
		return;
	}
	io->sending = false;
	d->cb->sent(d->data);
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
	loop_op_init(&io->tx_op, io_handle_send);
	loop_op_init(&io->rx_op, io_handle_recv);
	d->io = io;
	rx_submit(d, io);
}

int
display_send(struct display *d, const struct iovec *iov, unsigned niov)
{
	struct display_io *io = d->io;
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
	for (unsigned i = 0; i < niov; i++)
		if (iov[i].iov_len)
			io->iov[n++] = iov[i];
	io->niov = n;
	io->first = 0;
	io->sending = true;
	tx_submit(d, io);
	return 0;
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
	close(io->fd);
	free(io->iov);
	free(io);
}
