/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unix sockets: the vhost-user listener and fd-passing helpers. */
#ifndef CORE_SOCK_H
#define CORE_SOCK_H

#include <stdbool.h>
#include <sys/socket.h>

/*
 * Listen on path. The socket is bound under a temporary name and renamed
 * to path once it listens, so a client that sees path can connect at
 * once. A stale socket at path is replaced. Returns the fd or -errno.
 */
int sock_listen(const char *path);

/* True when fd is an open stream socket. */
bool sock_is_stream(int fd);

/*
 * Append the SCM_RIGHTS fds found in msg to fds[*n] (at most max). Fds
 * beyond max are closed. Returns false if any were dropped, here or by
 * the kernel (MSG_CTRUNC).
 */
bool sock_take_fds(struct msghdr *msg, int *fds, unsigned *n, unsigned max);

#endif /* CORE_SOCK_H */
