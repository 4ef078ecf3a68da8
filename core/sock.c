/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/sock.h"

static int
fill_addr(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	strcpy(sun->sun_path, path);
	return 0;
}

int
sock_listen(const char *path)
{
	struct sockaddr_un sun;
	char tmp[sizeof(sun.sun_path)];
	int fd, ret;

	if (fill_addr(&sun, path))
		return -ENAMETOOLONG;
	ret = snprintf(tmp, sizeof(tmp), "%s.%d~", path, (int)getpid());
	if (ret < 0 || (size_t)ret >= sizeof(tmp))
		return -ENAMETOOLONG;
	fill_addr(&sun, tmp);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(tmp);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		goto out_errno;
	if (listen(fd, 1) < 0)
		goto out_unlink;
	if (rename(tmp, path) < 0)
		goto out_unlink;
	return fd;

out_unlink:
	ret = -errno;
	unlink(tmp);
	close(fd);
	return ret;
out_errno:
	ret = -errno;
	close(fd);
	return ret;
}

bool
sock_is_stream(int fd)
{
	int type;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return false;
	return type == SOCK_STREAM;
}

bool
sock_take_fds(struct msghdr *msg, int *fds, unsigned *n, unsigned max)
{
	bool ok = !(msg->msg_flags & MSG_CTRUNC);
	struct cmsghdr *c;

	if (!msg->msg_control || msg->msg_controllen == 0)
		return ok;
	for (c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		size_t count;
		int *p;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		p = (int *)CMSG_DATA(c);
		for (size_t i = 0; i < count; i++) {
			int fd;

			memcpy(&fd, &p[i], sizeof(fd));
			if (*n < max) {
				fds[(*n)++] = fd;
			} else {
				close(fd);
				ok = false;
			}
		}
	}
	return ok;
}
