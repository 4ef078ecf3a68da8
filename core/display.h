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
 * its pages), never reused for other data. 0 or -ENOTCONN. */
int display_send(struct display *d, const struct iovec *iov, unsigned niov,
		 unsigned by_ref);

/* Shut the socket down so that a send in flight ends now. */
void display_abort(struct display *d);

/* Drop everything (the loop is about to go). */
void display_finish(struct display *d);

#endif /* CORE_DISPLAY_H */
