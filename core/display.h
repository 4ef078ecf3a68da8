/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The display socket (GPU_SET_SOCKET) on the loop: one message written at
 * a time with gathered iovecs, replies read as they come. Writes never
 * block; sendmsg never raises SIGPIPE, splice would, and main() ignores
 * it.
 */
#ifndef CORE_DISPLAY_H
#define CORE_DISPLAY_H

#include <stdbool.h>
#include <sys/uio.h>

#include "core/loop.h"
#include "proto/display.h"

struct display_io;

struct display_cb {
	void (*sent)(void *data);
	void (*input)(void *data, const struct display_hdr *hdr,
		      const void *payload);
	void (*lost)(void *data);
	/* Optional. The send is about to read the by-reference bytes
	 * [p, p + len) for the first time (to splice or to copy them): what
	 * the caller still owes there must be in place when this returns.
	 * Called in order through the buffers, one pipe's worth at a time,
	 * so the caller may fill them just in time. */
	void (*prepare)(void *data, const void *p, size_t len);
	/* Optional. The socket is full: the send now waits for the
	 * frontend to read, for as long as it takes. */
	void (*stalled)(void *data);
};

struct display {
	struct loop *loop;
	const struct display_cb *cb;
	void *data;
	struct display_io *io;	/* the current socket, or NULL */
};

void display_init(struct display *d, struct loop *loop,
		  const struct display_cb *cb, void *data);

/* Serve fd (-1: none) from now on; the old socket is closed once its
 * ops are done. Must not be called while a send is in flight. */
void display_attach(struct display *d, int fd);

/* Write one message. cb->sent or cb->lost follows; the buffers must stay
 * valid until then. Large buffers from iov[by_ref] on (by_ref >= niov:
 * none) may go by reference: the frontend reads them as they are when it
 * reads, possibly after cb->sent. The caller accepts that for pixels it
 * may overwrite; such memory must only ever be unmapped (the socket keeps
 * its pages), never reused for other data. Those buffers may also be
 * completed late: cb->prepare is called for every part of them before
 * it is first read, spliced or copied. 0 or -ENOTCONN. */
int display_send(struct display *d, const struct iovec *iov, unsigned niov,
		 unsigned by_ref);

/* Nothing is in flight and the frontend has read all that was sent: a
 * message sent now goes straight into the socket. */
bool display_drained(struct display *d);

/* Shut the socket down so that a send in flight ends now. */
void display_abort(struct display *d);

/* Drop everything (the loop is about to go). */
void display_finish(struct display *d);

#endif /* CORE_DISPLAY_H */
