/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The machine's floor (see floor.h). Each measurement mirrors what the
 * benchmark's own path does: the round trip waits with poll() and read()
 * on the eventfd as bc_wait() waits on a call eventfd (the other side
 * blocks in read(), as a backend blocks in its loop), and the socket
 * transfer uses a socketpair with default buffers, as the display socket.
 */
#include "bench/floor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "bench/conn.h"

#define BIG (8u << 20)

static void
reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* What a lone flush of a 64x64 tile of the scanout sends the display:
 * header, UPDATE payload, pixels. */
#define UPDATE_MSG (12 + 20 + 64 * 64 * 4)

/* Read everything fd holds now into buf (sized UPDATE_MSG, reused);
 * bytes read, or -1 when it is closed or failed. */
static ssize_t
drain(int fd, uint8_t *buf)
{
	ssize_t got = 0;

	for (;;) {
		ssize_t n = recv(fd, buf, UPDATE_MSG, MSG_DONTWAIT);

		if (n > 0) {
			got += n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return got;
		return -1;
	}
}

/*
 * Round trips between this process and a child that blocks in read(2) on
 * one eventfd and answers on another; with `update`, the child also
 * writes a lone flush's UPDATE (UPDATE_MSG bytes) to a unix socket before
 * it answers, and a round trip ends when both are in. Round-trip times go
 * to a->rtt_us (without update only); the child's CPU per round trip to
 * *cpu_ns / *count.
 */
static int
eventfd_rtt(struct floor_acc *a, unsigned n, bool update, uint64_t *cpu_ns,
	    uint64_t *count)
{
	int ping = eventfd(0, EFD_CLOEXEC), pong = eventfd(0, EFD_CLOEXEC);
	int sv[2] = { -1, -1 };
	uint64_t v = 1, stop = 1ull << 40;
	uint8_t *msg = NULL;
	struct bc_proc p0, p1;
	bool sampled = false;
	int ret = 0;
	pid_t pid;

	if (ping < 0 || pong < 0) {
		ret = -errno;
		goto out;
	}
	if (update) {
		msg = calloc(1, UPDATE_MSG);
		if (!msg) {
			ret = -ENOMEM;
			goto out;
		}
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
			ret = -errno;
			goto out;
		}
	}
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto out;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;) {
			if (read(ping, &v, sizeof(v)) != sizeof(v) || v >= stop)
				_exit(0);
			if (update && write(sv[0], msg, UPDATE_MSG) != UPDATE_MSG)
				_exit(1);
			v = 1;
			if (write(pong, &v, sizeof(v)) != sizeof(v))
				_exit(1);
		}
	}
	/* The responder's on-CPU time per round trip: what sleeping in a
	 * read and answering with a write costs a process, which is what a
	 * backend pays at least for a lone command. Sampled after the first
	 * round trip, so that the fork's own work is not counted. */
	for (unsigned i = 0; i < n && ret == 0; i++) {
		struct pollfd p[2] = {
			{ .fd = pong, .events = POLLIN },
			{ .fd = sv[1], .events = POLLIN },
		};
		ssize_t want = update ? UPDATE_MSG : 0;
		bool ponged = false;
		uint64_t t0;

		if (i == 1)
			sampled = bc_proc_sample(pid, &p0) == 0;
		t0 = bc_now_ns();

		v = 1;
		if (write(ping, &v, sizeof(v)) != sizeof(v)) {
			ret = -EIO;
			break;
		}
		/* As the bench waits for a used entry and an UPDATE. */
		while (ret == 0 && (!ponged || want > 0)) {
			ssize_t got;

			if (poll(p, update ? 2 : 1, 5000) < 1) {
				ret = -EIO;
			} else if (p[0].revents && !ponged) {
				ponged = read(pong, &v, sizeof(v)) == sizeof(v);
				ret = ponged ? 0 : -EIO;
				p[0].fd = -1;
			} else if (update && p[1].revents) {
				got = drain(sv[1], msg);
				ret = got < 0 ? -EIO : 0;
				want -= got;
			}
		}
		if (ret == 0 && !update)
			ret = series_add(&a->rtt_us, (double)(bc_now_ns() - t0) / 1e3);
	}
	if (ret == 0 && sampled && bc_proc_sample(pid, &p1) == 0) {
		*cpu_ns += p1.cpu_ns - p0.cpu_ns;
		*count += n - 1;
	}
	if (write(ping, &stop, sizeof(stop)) != sizeof(stop))
		kill(pid, SIGKILL);
	reap(pid);
out:
	if (ping >= 0)
		close(ping);
	if (pong >= 0)
		close(pong);
	if (sv[0] >= 0) {
		close(sv[0]);
		close(sv[1]);
	}
	free(msg);
	return ret;
}

/* Buffers live for the whole run, faulted in once: a copy into fresh
 * memory would time the page faults. */
static uint8_t *copy_src, *copy_dst;

static int
copy_8m(struct floor_acc *a, unsigned reps)
{
	int ret = 0;

	if (!copy_src) {
		copy_src = malloc(BIG);
		copy_dst = malloc(BIG);
		if (!copy_src || !copy_dst)
			return -ENOMEM;
		memset(copy_src, 0x5a, BIG);
		memset(copy_dst, 0, BIG);
	}
	/* the first copy warms the caches and TLB, untimed */
	for (unsigned i = 0; i <= reps && ret == 0; i++) {
		uint64_t t0 = bc_now_ns();

		memcpy(copy_dst, copy_src, BIG);
		__asm__ volatile("" : : "r"(copy_dst) : "memory");
		if (i)
			ret = series_add(&a->memcpy_ms, (double)(bc_now_ns() - t0) / 1e6);
		copy_src[i]++;
	}
	return ret;
}

/* Write all of buf[0, BIG) to fd: copied by write(2), or spliced by
 * reference through pipe p (vmsplice, then splice) as vugpu sends whole
 * rows. */
static int
send_8m(int fd, uint8_t *buf, const int *p)
{
	size_t sent = 0;

	while (sent < BIG) {
		ssize_t n;

		if (!p) {
			n = write(fd, buf + sent, BIG - sent);
		} else {
			struct iovec v = { buf + sent, BIG - sent };
			ssize_t in = vmsplice(p[1], &v, 1, 0);

			for (n = 0; in > 0 && n < in; ) {
				ssize_t k = splice(p[0], NULL, fd, NULL,
						   (size_t)(in - n), 0);

				if (k <= 0)
					return -EIO;
				n += k;
			}
		}
		if (n <= 0)
			return -EIO;
		sent += (size_t)n;
	}
	return 0;
}

/* 8 MiB through a unix stream socket to a reader in another process:
 * with default buffers and write(2), or spliced (spliced: pipe and
 * buffer sizes as the daemon sets them). */
static int
unix_8m(struct series *out, unsigned reps, bool spliced)
{
	uint8_t *buf = malloc(BIG);
	int sv[2], p[2] = { -1, -1 }, ret = 0;
	pid_t pid;

	if (!buf)
		return -ENOMEM;
	memset(buf, 0x33, BIG);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		ret = -errno;
		goto out;
	}
	if (spliced) {
		if (pipe2(p, O_CLOEXEC) < 0) {
			ret = -errno;
			close(sv[0]);
			close(sv[1]);
			goto out;
		}
		fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &(int){ 4 << 20 },
			   sizeof(int));
	}
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		close(sv[0]);
		close(sv[1]);
		goto out;
	}
	if (pid == 0) {
		/* The reader: every 8 MiB into one buffer of its own (not the
		 * parent's, shared copy-on-write), then one byte back. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sv[0]);
		buf = malloc(BIG);
		if (!buf)
			_exit(1);
		memset(buf, 0, BIG);
		for (;;) {
			size_t got = 0;

			while (got < BIG) {
				ssize_t n = read(sv[1], buf + got, BIG - got);

				if (n <= 0)
					_exit(0);
				got += (size_t)n;
			}
			if (write(sv[1], "k", 1) != 1)
				_exit(1);
		}
	}
	close(sv[1]);
	/* the first transfer is untimed: both ends warm */
	for (unsigned i = 0; i <= reps && ret == 0; i++) {
		uint64_t t0 = bc_now_ns();
		char ack;

		ret = send_8m(sv[0], buf, spliced ? p : NULL);
		if (ret == 0 && read(sv[0], &ack, 1) != 1)
			ret = -EIO;
		if (ret == 0 && i)
			ret = series_add(out, (double)(bc_now_ns() - t0) / 1e6);
	}
	close(sv[0]);
	if (p[0] >= 0) {
		close(p[0]);
		close(p[1]);
	}
	reap(pid);
out:
	free(buf);
	return ret;
}

int
floor_round(struct floor_acc *a, unsigned rtts, unsigned reps)
{
	int ret = eventfd_rtt(a, rtts, false, &a->wake_ns, &a->wakes);

	if (ret == 0)
		ret = eventfd_rtt(a, rtts, true, &a->upd_ns, &a->upds);

	if (ret == 0)
		ret = copy_8m(a, reps);
	if (ret == 0)
		ret = unix_8m(&a->unix_ms, reps, false);
	if (ret == 0)
		ret = unix_8m(&a->splice_ms, reps, true);
	return ret;
}

void
floor_report(struct floor_acc *a, struct report *r)
{
	r->floor.rtt_us = series_pct(&a->rtt_us, 50);
	r->floor.memcpy_ms = series_pct(&a->memcpy_ms, 50);
	r->floor.unix_ms = series_pct(&a->unix_ms, 50);
	r->floor.splice_ms = series_pct(&a->splice_ms, 50);
	r->floor.wake_cpu_us = a->wakes ? (double)a->wake_ns / (double)a->wakes / 1e3 : 0;
	r->floor.update_cpu_us = a->upds ? (double)a->upd_ns / (double)a->upds / 1e3 : 0;
	/* A frame is one copy out of guest memory and one trip through the
	 * display socket, of 1920x1080x4 bytes rather than 8 MiB. */
	r->floor.frame_ms = (r->floor.memcpy_ms + r->floor.unix_ms) *
			    (double)BC_FB_BYTES / (double)BIG;
	r->floor.frame_splice_ms = (r->floor.memcpy_ms + r->floor.splice_ms) *
				   (double)BC_FB_BYTES / (double)BIG;
	r->have_floor = r->floor.rtt_us > 0;
}

void
floor_free(struct floor_acc *a)
{
	free(copy_src);
	free(copy_dst);
	copy_src = copy_dst = NULL;
	series_free(&a->rtt_us);
	series_free(&a->memcpy_ms);
	series_free(&a->unix_ms);
	series_free(&a->splice_ms);
}
