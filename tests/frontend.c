/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A vhost-user frontend that drives the real daemon: see frontend.h.
 *
 * Security model: this is test code. The daemon under test is not trusted
 * to behave: everything it sends is bounded (sizes checked, fds closed
 * unless asked for) and every wait has a deadline, so a broken daemon
 * fails a test instead of hanging or crashing it.
 */
#include "tests/frontend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <linux/virtio_config.h>
#include <linux/virtio_gpu.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* vhost-user feature bits the frontend needs by name. */
#define F_PROTOCOL_FEATURES (1ull << VU_F_PROTOCOL_FEATURES)
#define PF(bit) (1ull << (bit))

/* The display socket (docs/interop/vhost-user-gpu.rst). */
enum {
	GPU_GET_PROTOCOL_FEATURES = 1,
	GPU_SET_PROTOCOL_FEATURES = 2,
	GPU_GET_DISPLAY_INFO = 3,
	GPU_DMABUF_UPDATE = 10,
	GPU_GET_EDID = 11,
};
#define GPU_PF_EDID 0
#define GPU_PF_DMABUF2 1

/* ---- time ---- */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
remaining_ms(int64_t deadline)
{
	int64_t r = deadline - now_ms();

	if (r < 0)
		return 0;
	return r > INT32_MAX ? INT32_MAX : (int)r;
}

static int
timeout_or_default(struct vuf *f, int timeout_ms)
{
	return timeout_ms < 0 ? f->timeout_ms : timeout_ms;
}

/* ---- small helpers ---- */

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static bool
env_true(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0") != 0;
}

static const char *const req_names[] = {
	[VU_GET_FEATURES] = "GET_FEATURES",
	[VU_SET_FEATURES] = "SET_FEATURES",
	[VU_SET_OWNER] = "SET_OWNER",
	[VU_RESET_OWNER] = "RESET_OWNER",
	[VU_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[VU_SET_LOG_BASE] = "SET_LOG_BASE",
	[VU_SET_LOG_FD] = "SET_LOG_FD",
	[VU_SET_VRING_NUM] = "SET_VRING_NUM",
	[VU_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[VU_SET_VRING_BASE] = "SET_VRING_BASE",
	[VU_GET_VRING_BASE] = "GET_VRING_BASE",
	[VU_SET_VRING_KICK] = "SET_VRING_KICK",
	[VU_SET_VRING_CALL] = "SET_VRING_CALL",
	[VU_SET_VRING_ERR] = "SET_VRING_ERR",
	[VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[VU_SEND_RARP] = "SEND_RARP",
	[VU_NET_SET_MTU] = "NET_SET_MTU",
	[VU_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
	[VU_IOTLB_MSG] = "IOTLB_MSG",
	[VU_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN",
	[VU_GET_CONFIG] = "GET_CONFIG",
	[VU_SET_CONFIG] = "SET_CONFIG",
	[VU_CREATE_CRYPTO_SESSION] = "CREATE_CRYPTO_SESSION",
	[VU_CLOSE_CRYPTO_SESSION] = "CLOSE_CRYPTO_SESSION",
	[VU_POSTCOPY_ADVISE] = "POSTCOPY_ADVISE",
	[VU_POSTCOPY_LISTEN] = "POSTCOPY_LISTEN",
	[VU_POSTCOPY_END] = "POSTCOPY_END",
	[VU_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
	[VU_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
	[VU_GPU_SET_SOCKET] = "GPU_SET_SOCKET",
	[VU_RESET_DEVICE] = "RESET_DEVICE",
	[VU_VRING_KICK] = "VRING_KICK",
	[VU_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
	[VU_ADD_MEM_REG] = "ADD_MEM_REG",
	[VU_REM_MEM_REG] = "REM_MEM_REG",
	[VU_SET_STATUS] = "SET_STATUS",
	[VU_GET_STATUS] = "GET_STATUS",
	[VU_GET_SHARED_OBJECT] = "GET_SHARED_OBJECT",
	[VU_SET_DEVICE_STATE_FD] = "SET_DEVICE_STATE_FD",
	[VU_CHECK_DEVICE_STATE] = "CHECK_DEVICE_STATE",
};

const char *
vuf_req_name(uint32_t request)
{
	if (request < ARRAY_SIZE(req_names) && req_names[request])
		return req_names[request];
	return "UNKNOWN";
}

bool
vuf_req_has_reply(uint32_t request)
{
	switch (request) {
	case VU_GET_FEATURES:
	case VU_GET_PROTOCOL_FEATURES:
	case VU_GET_VRING_BASE:
	case VU_GET_QUEUE_NUM:
	case VU_GET_CONFIG:
	case VU_GET_INFLIGHT_FD:
	case VU_GET_MAX_MEM_SLOTS:
	case VU_GET_STATUS:
	case VU_GET_SHARED_OBJECT:
	case VU_POSTCOPY_ADVISE:
	case VU_SET_DEVICE_STATE_FD:
	case VU_CHECK_DEVICE_STATE:
		return true;
	default:
		return false;
	}
}

static const char *const display_names[] = {
	[1] = "GET_PROTOCOL_FEATURES",
	[2] = "SET_PROTOCOL_FEATURES",
	[3] = "GET_DISPLAY_INFO",
	[4] = "CURSOR_POS",
	[5] = "CURSOR_POS_HIDE",
	[6] = "CURSOR_UPDATE",
	[7] = "SCANOUT",
	[8] = "UPDATE",
	[9] = "DMABUF_SCANOUT",
	[10] = "DMABUF_UPDATE",
	[11] = "GET_EDID",
	[12] = "DMABUF_SCANOUT2",
};

static void
trace_msg(struct vuf *f, const char *dir, const char *chan,
	  const struct vu_hdr *h, unsigned nfds)
{
	const char *name = vuf_req_name(h->request);

	if (!f->trace)
		return;
	if (strcmp(chan, "display") == 0)
		name = h->request < ARRAY_SIZE(display_names) &&
			display_names[h->request] ? display_names[h->request] :
			"UNKNOWN";
	fprintf(stderr, "vuf: %s %s %s (%u) flags=0x%x size=%u fds=%u\n",
		chan, dir, name, h->request, h->flags, h->size, nfds);
}

/* ---- the daemon's stderr ---- */

static void
err_append(struct vuf *f, const char *buf, size_t n)
{
	if (f->echo_err)
		(void)!write(STDERR_FILENO, buf, n);
	if (n > VUF_ERR_CAP) {
		buf += n - VUF_ERR_CAP;
		n = VUF_ERR_CAP;
	}
	if (f->err_len + n > VUF_ERR_CAP) {
		size_t drop = f->err_len + n - VUF_ERR_CAP;

		memmove(f->err, f->err + drop, f->err_len - drop);
		f->err_len -= drop;
	}
	memcpy(f->err + f->err_len, buf, n);
	f->err_len += n;
	f->err[f->err_len] = '\0';
}

void
vuf_drain_stderr(struct vuf *f)
{
	char buf[4096];

	while (f->err_fd >= 0) {
		ssize_t n = read(f->err_fd, buf, sizeof(buf));

		if (n > 0) {
			err_append(f, buf, (size_t)n);
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
				close_fd(&f->err_fd);	/* EOF: the daemon is gone */
			break;
		}
	}
}

/* ---- lifetime ---- */

void
vuf_init(struct vuf *f)
{
	memset(f, 0, sizeof(*f));
	f->pid = -1;
	f->pidfd = -1;
	f->status = -1;
	f->err_fd = -1;
	f->sock = -1;
	f->display_fd = -1;
	f->backend_fd = -1;
	f->mem.fd = -1;
	for (unsigned i = 0; i < VUF_MAX_VQS; i++) {
		f->vq[i].kick_fd = -1;
		f->vq[i].call_fd = -1;
		f->vq[i].err_fd = -1;
		f->vq[i].masked_fd = -1;
	}
	f->timeout_ms = VUF_TIMEOUT_MS;
	f->serve = true;
	f->trace = env_true("VUF_TRACE");
	f->echo_err = env_true("VUF_ECHO");
}

void
vuf_hangup(struct vuf *f)
{
	close_fd(&f->sock);
	close_fd(&f->display_fd);
	close_fd(&f->backend_fd);
}

void
vuf_finish(struct vuf *f)
{
	if (f->pid > 0 && f->status < 0) {
		int st;

		kill(f->pid, SIGKILL);
		while (waitpid(f->pid, &st, 0) < 0 && errno == EINTR)
			;
		f->status = st;
	}
	vuf_drain_stderr(f);
	close_fd(&f->err_fd);
	close_fd(&f->pidfd);
	vuf_hangup(f);
	for (unsigned i = 0; i < VUF_MAX_VQS; i++) {
		close_fd(&f->vq[i].kick_fd);
		close_fd(&f->vq[i].call_fd);
		close_fd(&f->vq[i].err_fd);
		close_fd(&f->vq[i].masked_fd);
		f->vq[i].num = 0;
	}
	if (f->mem.base)
		munmap(f->mem.base, f->mem.size);
	f->mem.base = NULL;
	f->mem.n = 0;
	close_fd(&f->mem.fd);
	if (f->path[0])
		unlink(f->path);
	f->path[0] = '\0';
	if (f->dir[0])
		rmdir(f->dir);
	f->dir[0] = '\0';
}

const char *
vuf_daemon_path(void)
{
	const char *env = getenv("VUGPU_BIN");

	if (env && *env)
		return env;
#ifdef VUGPU_BIN
	return VUGPU_BIN;
#else
	return "vugpu";
#endif
}

/* ---- spawning ---- */

/*
 * In the child between fork and exec: only async-signal-safe calls. The
 * fds are first moved above 10 so that the dup2() calls cannot clobber
 * one another.
 */
static void __attribute__((noreturn))
child_exec(char *const argv[], int keep_fd, int out_fd, int err_fd)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	int devnull;

	/* A test that dies takes its daemon along. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* The daemon must see the signals a shell would give it. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	sigaction(SIGPIPE, &dfl, NULL);
	sigaction(SIGTERM, &dfl, NULL);
	sigaction(SIGINT, &dfl, NULL);

	if (keep_fd >= 0)
		keep_fd = fcntl(keep_fd, F_DUPFD, 10);
	if (out_fd >= 0)
		out_fd = fcntl(out_fd, F_DUPFD, 10);
	if (err_fd >= 0)
		err_fd = fcntl(err_fd, F_DUPFD, 10);
	devnull = open("/dev/null", O_RDWR);
	if (devnull < 0)
		_exit(126);
	dup2(devnull, 0);
	dup2(out_fd >= 0 ? out_fd : devnull, 1);
	dup2(err_fd >= 0 ? err_fd : devnull, 2);
	if (keep_fd >= 0)
		dup2(keep_fd, 3);
	if (syscall(SYS_close_range, keep_fd >= 0 ? 4u : 3u, ~0u, 0u) < 0) {
		for (int fd = keep_fd >= 0 ? 4 : 3; fd < 4096; fd++)
			close(fd);
	}
	execvp(argv[0], argv);
	_exit(127);
}

static int
build_argv(char *argv[], const char *const pre[], const char *const extra[])
{
	unsigned n = 0;

	argv[n++] = (char *)vuf_daemon_path();
	for (unsigned i = 0; pre && pre[i]; i++) {
		if (n >= VUF_MAX_ARGS)
			return -E2BIG;
		argv[n++] = (char *)pre[i];
	}
	for (unsigned i = 0; extra && extra[i]; i++) {
		if (n >= VUF_MAX_ARGS)
			return -E2BIG;
		argv[n++] = (char *)extra[i];
	}
	argv[n] = NULL;
	return 0;
}

static int
fork_daemon(pid_t *pid_out, int *pidfd_out, char *const argv[], int keep_fd,
	    int out_fd, int err_fd)
{
	pid_t pid;
	int pidfd;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		child_exec(argv, keep_fd, out_fd, err_fd);

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		int err = -errno;

		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return err;
	}
	fcntl(pidfd, F_SETFD, FD_CLOEXEC);
	*pid_out = pid;
	*pidfd_out = pidfd;
	return 0;
}

/* Start the daemon with pre[] then extra[], stderr into f->err_fd. */
static int
spawn(struct vuf *f, const char *const pre[], const char *const extra[],
      int keep_fd)
{
	char *argv[VUF_MAX_ARGS + 1];
	int errp[2];
	int ret;

	if (f->pid > 0)
		return -EBUSY;
	ret = build_argv(argv, pre, extra);
	if (ret < 0)
		return ret;
	if (pipe2(errp, O_CLOEXEC) < 0)
		return -errno;
	ret = fork_daemon(&f->pid, &f->pidfd, argv, keep_fd, -1, errp[1]);
	close(errp[1]);
	if (ret < 0) {
		close(errp[0]);
		return ret;
	}
	f->err_fd = errp[0];
	set_nonblock(f->err_fd);
	f->status = -1;
	return 0;
}

int
vuf_spawn_fd(struct vuf *f, const char *const extra_args[])
{
	static const char *const pre[] = { "--fd", "3", NULL };
	int sv[2];
	int ret;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	ret = spawn(f, pre, extra_args, sv[1]);
	close(sv[1]);
	if (ret < 0) {
		close(sv[0]);
		return ret;
	}
	f->sock = sv[0];
	return set_nonblock(f->sock);
}

/* Reap the daemon if it has exited; true when it has. */
static bool
reap(struct vuf *f)
{
	int st;
	pid_t r;

	if (f->status >= 0)
		return true;
	if (f->pid <= 0)
		return true;
	r = waitpid(f->pid, &st, WNOHANG);
	if (r == f->pid) {
		f->status = st;
		close_fd(&f->pidfd);
		return true;
	}
	return false;
}

/* Wait until f->path is a socket, the daemon dies, or the deadline. */
static int
wait_for_path(struct vuf *f, int ino, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd[3] = {
			{ .fd = ino, .events = POLLIN },
			{ .fd = f->pidfd, .events = POLLIN },
			{ .fd = f->err_fd, .events = POLLIN },
		};
		struct stat st;
		int n;

		if (stat(f->path, &st) == 0 && S_ISSOCK(st.st_mode))
			return 0;
		if (reap(f))
			return -ECHILD;
		n = poll(pfd, ARRAY_SIZE(pfd), remaining_ms(deadline));
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		if (pfd[0].revents & POLLIN) {
			char buf[4096]
				__attribute__((aligned(__alignof__(struct inotify_event))));

			while (read(ino, buf, sizeof(buf)) > 0)
				;	/* the events only say "look again" */
		}
		if (pfd[2].revents)
			vuf_drain_stderr(f);
	}
}

int
vuf_spawn_path_noconnect(struct vuf *f, const char *const extra_args[])
{
	const char *tmp = getenv("TMPDIR");
	const char *pre[] = { "--socket-path", f->path, NULL };
	int64_t deadline = now_ms() + f->timeout_ms;
	int ino, ret;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	if ((size_t)snprintf(f->dir, sizeof(f->dir), "%s/vuf.XXXXXX", tmp) >=
	    sizeof(f->dir))
		return -ENAMETOOLONG;
	if (!mkdtemp(f->dir)) {
		f->dir[0] = '\0';
		return -errno;
	}
	snprintf(f->path, sizeof(f->path), "%s/vugpu.sock", f->dir);

	/* Watch before the daemon starts, so that no event can be missed. */
	ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ino < 0)
		return -errno;
	if (inotify_add_watch(ino, f->dir, IN_CREATE | IN_MOVED_TO) < 0) {
		ret = -errno;
		goto out_close_ino;
	}
	ret = spawn(f, pre, extra_args, -1);
	if (ret < 0)
		goto out_close_ino;
	ret = wait_for_path(f, ino, deadline);
out_close_ino:
	close(ino);
	return ret;
}

int
vuf_connect_path(struct vuf *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t deadline = now_ms() + f->timeout_ms;
	int fd;

	if (strlen(f->path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, f->path);
	vuf_hangup(f);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A full backlog answers EAGAIN; there is nothing to poll for, so
	 * try again in small steps until the deadline. */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		if (err != EAGAIN && err != EINTR) {
			close(fd);
			return -err;
		}
		if (remaining_ms(deadline) == 0) {
			close(fd);
			return -ETIMEDOUT;
		}
		poll(NULL, 0, 10);
	}
	f->sock = fd;
	return 0;
}

int
vuf_spawn_path(struct vuf *f, const char *const extra_args[])
{
	int ret = vuf_spawn_path_noconnect(f, extra_args);

	if (ret < 0)
		return ret;
	return vuf_connect_path(f);
}

int
vuf_kill(struct vuf *f, int sig)
{
	if (f->pid <= 0 || f->status >= 0)
		return -ESRCH;
	if (f->pidfd >= 0 &&
	    syscall(SYS_pidfd_send_signal, f->pidfd, sig, NULL, 0) == 0)
		return 0;
	return kill(f->pid, sig) < 0 ? -errno : 0;
}

int
vuf_wait_exit(struct vuf *f, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_or_default(f, timeout_ms);

	if (f->pid <= 0)
		return -ECHILD;
	while (!reap(f)) {
		struct pollfd pfd[2] = {
			{ .fd = f->pidfd, .events = POLLIN },
			{ .fd = f->err_fd, .events = POLLIN },
		};
		int n = poll(pfd, ARRAY_SIZE(pfd), remaining_ms(deadline));

		if (n < 0 && errno != EINTR)
			return -errno;
		if (pfd[1].revents)
			vuf_drain_stderr(f);
		if (n == 0 && remaining_ms(deadline) == 0 && !reap(f))
			return -ETIMEDOUT;
	}
	vuf_drain_stderr(f);
	return f->status;
}

bool
vuf_alive(struct vuf *f)
{
	return f->pid > 0 && !reap(f);
}

int
vuf_count_fds(struct vuf *f)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	if (f->pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)f->pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
buf_append(char *buf, size_t cap, size_t *len, const char *src, size_t n)
{
	if (!buf || cap == 0)
		return;
	if (*len + n > cap - 1)
		n = cap - 1 - *len;
	memcpy(buf + *len, src, n);
	*len += n;
	buf[*len] = '\0';
}

int
vuf_run(const char *const args[], char *out, size_t out_cap, char *err,
	size_t err_cap, int timeout_ms)
{
	char *argv[VUF_MAX_ARGS + 1];
	int64_t deadline = now_ms() + timeout_ms;
	int outp[2], errp[2];
	size_t out_len = 0, err_len = 0;
	pid_t pid;
	int pidfd, st = 0, ret;
	bool exited = false;

	if (out && out_cap)
		out[0] = '\0';
	if (err && err_cap)
		err[0] = '\0';
	ret = build_argv(argv, args, NULL);
	if (ret < 0)
		return ret;
	if (pipe2(outp, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(errp, O_CLOEXEC) < 0) {
		ret = -errno;
		goto out_close_outp;
	}
	ret = fork_daemon(&pid, &pidfd, argv, -1, outp[1], errp[1]);
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;
	if (ret < 0)
		goto out_close_errp;

	/* Until the child exited and both pipes reached EOF. */
	while (!exited || outp[0] >= 0 || errp[0] >= 0) {
		struct pollfd pfd[3] = {
			{ .fd = outp[0], .events = POLLIN },
			{ .fd = errp[0], .events = POLLIN },
			{ .fd = exited ? -1 : pidfd, .events = POLLIN },
		};
		int n = poll(pfd, ARRAY_SIZE(pfd), remaining_ms(deadline));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			ret = n == 0 ? -ETIMEDOUT : -errno;
			goto out_close_pidfd;
		}
		for (unsigned i = 0; i < 2; i++) {
			int *fd = i == 0 ? &outp[0] : &errp[0];
			char buf[4096];
			ssize_t r;

			if (!pfd[i].revents)
				continue;
			r = read(*fd, buf, sizeof(buf));
			if (r > 0) {
				if (i == 0)
					buf_append(out, out_cap, &out_len, buf, r);
				else
					buf_append(err, err_cap, &err_len, buf, r);
			} else if (r == 0 || errno != EINTR) {
				close_fd(fd);
			}
		}
		if (pfd[2].revents) {
			if (waitpid(pid, &st, 0) == pid)
				exited = true;
		}
	}
	ret = st;
out_close_pidfd:
	close(pidfd);
out_close_errp:
	close_fd(&errp[0]);
out_close_outp:
	close_fd(&outp[0]);
	close_fd(&outp[1]);
	return ret;
}

/* ---- sending and receiving ---- */

static void
close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Write all of buf to a non-blocking socket, fds with the first byte. */
static int
send_all(int sock, const void *buf, size_t len, const int *fds,
	 unsigned nfds, int64_t deadline)
{
	const uint8_t *p = buf;
	bool fds_sent = nfds == 0;

	/* SCM_RIGHTS needs at least one byte of data to ride on */
	if (nfds > 253 || (nfds > 0 && len == 0))
		return -EINVAL;
	while (len > 0 || !fds_sent) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * 253)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (!fds_sent) {
			struct cmsghdr *c;

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			struct pollfd pfd = { .fd = sock, .events = POLLOUT };
			int r;

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			r = poll(&pfd, 1, remaining_ms(deadline));
			if (r == 0)
				return -ETIMEDOUT;
			if (r < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		fds_sent = true;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
vuf_send_raw(struct vuf *f, const void *buf, size_t len, const int *fds,
	     unsigned nfds)
{
	if (f->sock < 0)
		return -ENOTCONN;
	return send_all(f->sock, buf, len, fds, nfds, now_ms() + f->timeout_ms);
}

int
vuf_send(struct vuf *f, uint32_t request, uint32_t flags,
	 const void *payload, uint32_t size, const int *fds, unsigned nfds)
{
	struct vu_hdr h = {
		.request = request,
		.flags = VU_VERSION | flags,
		.size = size,
	};
	uint8_t *buf;
	int ret;

	if (f->sock < 0)
		return -ENOTCONN;
	buf = calloc(1, sizeof(h) + size);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, &h, sizeof(h));
	if (payload && size)
		memcpy(buf + sizeof(h), payload, size);
	trace_msg(f, "->", "vu", &h, nfds);
	ret = send_all(f->sock, buf, sizeof(h) + size, fds, nfds,
		       now_ms() + f->timeout_ms);
	free(buf);
	return ret;
}

/*
 * Read exactly len bytes from sock (non-blocking) by the deadline,
 * collecting fds (fds must hold VU_MAX_FDS; extra ones are closed). With
 * serve, the display socket, backend channel and stderr are handled while
 * waiting.
 */
static int
recv_exact(struct vuf *f, int sock, void *buf, size_t len, int *fds,
	   unsigned *nfds, int64_t deadline, bool serve)
{
	uint8_t *p = buf;

	while (len > 0) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { .iov_base = p, .iov_len = len };
		struct msghdr mh = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = ctl.buf,
			.msg_controllen = sizeof(ctl.buf),
		};
		ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

		if (n < 0) {
			struct pollfd pfd[4] = {
				{ .fd = sock, .events = POLLIN },
				{ .fd = serve ? f->err_fd : -1, .events = POLLIN },
				{ .fd = serve && f->serve ? f->display_fd : -1,
				  .events = POLLIN },
				{ .fd = serve && f->serve ? f->backend_fd : -1,
				  .events = POLLIN },
			};
			int r;

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return errno == ECONNRESET ? -ECONNRESET : -errno;
			r = poll(pfd, ARRAY_SIZE(pfd), remaining_ms(deadline));
			if (r < 0 && errno != EINTR)
				return -errno;
			if (r == 0)
				return -ETIMEDOUT;
			if (pfd[1].revents)
				vuf_drain_stderr(f);
			if ((pfd[2].revents || pfd[3].revents) && f->serve)
				vuf_serve(f);
			continue;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
		     c = CMSG_NXTHDR(&mh, c)) {
			int *cfd = (int *)CMSG_DATA(c);
			unsigned cn;

			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS)
				continue;
			cn = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (unsigned i = 0; i < cn; i++) {
				if (fds && nfds && *nfds < VU_MAX_FDS)
					fds[(*nfds)++] = cfd[i];
				else
					close(cfd[i]);
			}
		}
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read and drop len bytes. */
static int
recv_discard(struct vuf *f, int sock, size_t len, int64_t deadline,
	     bool serve)
{
	uint8_t buf[4096];

	while (len > 0) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);
		int ret = recv_exact(f, sock, buf, n, NULL, NULL, deadline, serve);

		if (ret < 0)
			return ret;
		len -= n;
	}
	return 0;
}

int
vuf_recv(struct vuf *f, struct vu_hdr *hdr, void *buf, size_t cap,
	 int *fds, unsigned *nfds, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_or_default(f, timeout_ms);
	int tmp[VU_MAX_FDS];
	unsigned ntmp = 0;
	int ret;

	if (f->sock < 0)
		return -ENOTCONN;
	if (nfds)
		*nfds = 0;
	ret = recv_exact(f, f->sock, hdr, sizeof(*hdr), tmp, &ntmp, deadline,
			 true);
	if (ret < 0)
		goto out_close;
	if (hdr->size > cap) {
		ret = recv_discard(f, f->sock, hdr->size, deadline, true);
		if (ret == 0)
			ret = -EMSGSIZE;
		goto out_close;
	}
	ret = recv_exact(f, f->sock, buf, hdr->size, tmp, &ntmp, deadline, true);
	if (ret < 0)
		goto out_close;
	trace_msg(f, "<-", "vu", hdr, ntmp);
	if (fds && nfds) {
		memcpy(fds, tmp, sizeof(int) * ntmp);
		*nfds = ntmp;
		ntmp = 0;
	}
	ret = (int)hdr->size;
out_close:
	close_fds(tmp, ntmp);
	return ret;
}

/* Receive the reply to request and check its header. */
static int
recv_reply(struct vuf *f, uint32_t request, void *buf, size_t cap)
{
	struct vu_hdr h;
	int ret = vuf_recv(f, &h, buf, cap, NULL, NULL, -1);

	if (ret < 0)
		return ret;
	if (h.request != request || h.flags != (VU_VERSION | VU_FLAG_REPLY))
		return -EPROTO;
	return ret;
}

int
vuf_call(struct vuf *f, uint32_t request, uint32_t flags,
	 const void *payload, uint32_t size, const int *fds, unsigned nfds,
	 void *reply, size_t reply_cap)
{
	uint64_t ack;
	int ret;

	ret = vuf_send(f, request, flags, payload, size, fds, nfds);
	if (ret < 0)
		return ret;
	if (vuf_req_has_reply(request))
		return recv_reply(f, request, reply, reply_cap);
	if (flags & VU_FLAG_NEED_REPLY) {
		if (reply && reply_cap)
			return recv_reply(f, request, reply, reply_cap);
		return recv_reply(f, request, &ack, sizeof(ack));
	}
	return 0;
}

int
vuf_request(struct vuf *f, uint32_t request, uint32_t flags,
	    const void *payload, uint32_t size, const int *fds, unsigned nfds)
{
	uint64_t ack;
	int ret;

	ret = vuf_send(f, request, flags, payload, size, fds, nfds);
	if (ret < 0 || !(flags & VU_FLAG_NEED_REPLY))
		return ret;
	ret = recv_reply(f, request, &ack, sizeof(ack));
	if (ret < 0)
		return ret;
	if (ret != sizeof(ack))
		return -EPROTO;
	return ack ? -EREMOTEIO : 0;
}

int
vuf_get_u64(struct vuf *f, uint32_t request, uint64_t *value)
{
	int ret = vuf_call(f, request, 0, NULL, 0, NULL, 0, value,
			   sizeof(*value));

	if (ret < 0)
		return ret;
	if (ret == 0)
		return -ENODATA;
	return ret == sizeof(*value) ? 0 : -EPROTO;
}

int
vuf_set_u64(struct vuf *f, uint32_t request, uint32_t flags, uint64_t value)
{
	return vuf_request(f, request, flags, &value, sizeof(value), NULL, 0);
}

int
vuf_set_vring_state(struct vuf *f, uint32_t request, uint32_t flags,
		    unsigned index, unsigned num)
{
	struct vhost_vring_state s = { .index = index, .num = num };

	return vuf_request(f, request, flags, &s, sizeof(s), NULL, 0);
}

int
vuf_get_vring_base(struct vuf *f, unsigned index, unsigned *num)
{
	struct vhost_vring_state s = { .index = index };
	int ret;

	ret = vuf_call(f, VU_GET_VRING_BASE, 0, &s, sizeof(s), NULL, 0, &s,
		       sizeof(s));
	if (ret < 0)
		return ret;
	if (ret == 0)
		return -ENODATA;
	if (ret != sizeof(s) || s.index != index)
		return -EPROTO;
	*num = s.num;
	return 0;
}

int
vuf_set_vring_fd(struct vuf *f, uint32_t request, uint32_t flags,
		 unsigned index, int fd)
{
	uint64_t u = index & VU_VRING_IDX_MASK;

	if (fd < 0)
		u |= VU_VRING_NOFD;
	return vuf_request(f, request, flags, &u, sizeof(u), fd >= 0 ? &fd : NULL,
			   fd >= 0 ? 1 : 0);
}

int
vuf_set_vring_addr(struct vuf *f, uint32_t flags, unsigned index,
		   uint64_t desc_uva, uint64_t avail_uva, uint64_t used_uva,
		   uint64_t log_gpa)
{
	struct vhost_vring_addr a = {
		.index = index,
		.flags = 0,
		.desc_user_addr = desc_uva,
		.used_user_addr = used_uva,
		.avail_user_addr = avail_uva,
		.log_guest_addr = log_gpa,
	};

	return vuf_request(f, VU_SET_VRING_ADDR, flags, &a, sizeof(a), NULL, 0);
}

int
vuf_get_config(struct vuf *f, uint32_t offset, uint32_t size, void *data)
{
	struct {
		struct vu_config_hdr h;
		uint8_t data[VU_MAX_CONFIG_SIZE];
	} msg = { .h = { .offset = offset, .size = size } }, reply;
	int ret;

	if (size > VU_MAX_CONFIG_SIZE)
		return -EINVAL;
	ret = vuf_call(f, VU_GET_CONFIG, 0, &msg, sizeof(msg.h) + size, NULL, 0,
		       &reply, sizeof(reply));
	if (ret < 0)
		return ret;
	if (ret == 0)
		return -ENODATA;
	if ((size_t)ret != sizeof(reply.h) + size || reply.h.offset != offset ||
	    reply.h.size != size)
		return -EPROTO;
	memcpy(data, reply.data, size);
	return (int)size;
}

int
vuf_set_backend_req_fd(struct vuf *f, uint32_t flags)
{
	int sv[2];
	int ret;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	ret = vuf_request(f, VU_SET_BACKEND_REQ_FD, flags, NULL, 0, &sv[1], 1);
	close(sv[1]);
	if (ret < 0 && ret != -EREMOTEIO) {
		close(sv[0]);
		return ret;
	}
	close_fd(&f->backend_fd);
	f->backend_fd = sv[0];
	set_nonblock(f->backend_fd);
	return ret;
}

int
vuf_gpu_set_socket(struct vuf *f, uint32_t flags)
{
	int sv[2];
	int ret;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	close_fd(&f->display_fd);
	ret = vuf_request(f, VU_GPU_SET_SOCKET, flags, NULL, 0, &sv[1], 1);
	close(sv[1]);
	if (ret < 0 && ret != -EREMOTEIO) {
		close(sv[0]);
		return ret;
	}
	f->display_fd = sv[0];
	set_nonblock(f->display_fd);
	return ret;
}

/* ---- serving the display socket and the backend channel ---- */

static int
display_reply(struct vuf *f, uint32_t request, const void *payload,
	      uint32_t size)
{
	struct {
		struct vu_hdr h;
		uint8_t p[sizeof(struct virtio_gpu_resp_edid)];
	} msg = { .h = { .request = request, .flags = VU_FLAG_REPLY, .size = size } };

	if (size > sizeof(msg.p))
		return -EINVAL;
	if (size)
		memcpy(msg.p, payload, size);
	trace_msg(f, "->", "display", &msg.h, 0);
	return send_all(f->display_fd, &msg, sizeof(msg.h) + size, NULL, 0,
			now_ms() + f->timeout_ms);
}

/* One display request, the way QEMU's vhost-user-gpu.c answers it. */
static int
serve_display_one(struct vuf *f)
{
	int64_t deadline = now_ms() + f->timeout_ms;
	struct vu_hdr h;
	uint8_t head[sizeof(uint32_t)] = { 0 };
	ssize_t n;
	int ret;

	n = recv(f->display_fd, &h, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0) {
		close_fd(&f->display_fd);	/* the daemon dropped it */
		return 0;
	}
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	ret = recv_exact(f, f->display_fd, &h, sizeof(h), NULL, NULL, deadline,
			 false);
	if (ret < 0)
		goto out_drop;
	trace_msg(f, "<-", "display", &h, 0);
	if (h.size >= sizeof(head)) {
		ret = recv_exact(f, f->display_fd, head, sizeof(head), NULL, NULL,
				 deadline, false);
		if (ret == 0)
			ret = recv_discard(f, f->display_fd, h.size - sizeof(head),
					   deadline, false);
	} else {
		ret = recv_discard(f, f->display_fd, h.size, deadline, false);
	}
	if (ret < 0)
		goto out_drop;
	f->display_msgs++;

	switch (h.request) {
	case GPU_GET_PROTOCOL_FEATURES:
		return display_reply(f, h.request, &f->display_protocol_features,
				     sizeof(uint64_t));
	case GPU_GET_DISPLAY_INFO: {
		struct virtio_gpu_resp_display_info info = {
			.hdr.type = VIRTIO_GPU_RESP_OK_DISPLAY_INFO,
		};

		info.pmodes[0].r.width = 1280;
		info.pmodes[0].r.height = 800;
		info.pmodes[0].enabled = 1;
		return display_reply(f, h.request, &info, sizeof(info));
	}
	case GPU_GET_EDID: {
		static const uint8_t edid_head[8] = {
			0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00
		};
		struct virtio_gpu_resp_edid e = {
			.hdr.type = VIRTIO_GPU_RESP_OK_EDID,
			.size = 128,
		};
		uint32_t scanout;

		memcpy(&scanout, head, sizeof(scanout));
		if (scanout != 0)
			return 0;	/* QEMU never answers these */
		memcpy(e.edid, edid_head, sizeof(edid_head));
		return display_reply(f, h.request, &e, sizeof(e));
	}
	case GPU_DMABUF_UPDATE:
		/* "presented": QEMU answers once the frame is on screen */
		return display_reply(f, h.request, NULL, 0);
	default:
		return 0;	/* SET_PROTOCOL_FEATURES, SCANOUT, UPDATE, ... */
	}

out_drop:
	/* A torn message: the stream cannot be resynchronised. */
	close_fd(&f->display_fd);
	return ret;
}

static int
serve_backend_one(struct vuf *f)
{
	int64_t deadline = now_ms() + f->timeout_ms;
	struct {
		struct vu_hdr h;
		uint64_t u64;
	} reply;
	struct vu_hdr h;
	int fds[VU_MAX_FDS];
	unsigned nfds = 0;
	ssize_t n;
	int ret;

	n = recv(f->backend_fd, &h, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0) {
		close_fd(&f->backend_fd);
		return 0;
	}
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	ret = recv_exact(f, f->backend_fd, &h, sizeof(h), fds, &nfds, deadline,
			 false);
	if (ret == 0)
		ret = recv_discard(f, f->backend_fd, h.size, deadline, false);
	close_fds(fds, nfds);
	if (ret < 0) {
		close_fd(&f->backend_fd);
		return ret;
	}
	trace_msg(f, "<-", "backend", &h, nfds);
	f->backend_msgs++;
	if (!(h.flags & VU_FLAG_NEED_REPLY))
		return 0;
	/* Like QEMU's backend_read(): config change is the only request a
	 * GPU frontend knows, and QEMU's GPU answers even that with an
	 * error; we accept it. */
	reply.h = (struct vu_hdr){
		.request = h.request,
		.flags = VU_VERSION | VU_FLAG_REPLY,
		.size = sizeof(uint64_t),
	};
	reply.u64 = h.request == 2 ? 0 : 1;
	return send_all(f->backend_fd, &reply, sizeof(reply), NULL, 0, deadline);
}

int
vuf_serve(struct vuf *f)
{
	int handled = 0;

	for (unsigned guard = 0; guard < 64; guard++) {
		struct pollfd pfd[2] = {
			{ .fd = f->display_fd, .events = POLLIN },
			{ .fd = f->backend_fd, .events = POLLIN },
		};
		int n = poll(pfd, ARRAY_SIZE(pfd), 0);
		int ret;

		if (n <= 0)
			break;
		if (pfd[0].revents) {
			ret = serve_display_one(f);
			if (ret < 0)
				return ret;
			handled++;
		}
		if (pfd[1].revents) {
			ret = serve_backend_one(f);
			if (ret < 0)
				return ret;
			handled++;
		}
	}
	return handled;
}

/* ---- guest memory ---- */

int
vuf_mem_create(struct vuf *f, size_t size)
{
	void *p;
	int fd, ret;

	if (f->mem.fd >= 0)
		return -EBUSY;
	fd = memfd_create("vuf-guest", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		goto out_err;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto out_err;
	f->mem.fd = fd;
	f->mem.size = size;
	f->mem.base = p;
	f->mem.n = 0;
	return 0;

out_err:
	ret = -errno;
	close(fd);
	return ret;
}

int
vuf_mem_add_region(struct vuf *f, uint64_t gpa, uint64_t offset,
		   uint64_t size)
{
	struct vuf_region *r;

	if (f->mem.n >= VUF_MEM_REGIONS)
		return -ENOSPC;
	r = &f->mem.r[f->mem.n];
	*r = (struct vuf_region){ .gpa = gpa, .size = size, .offset = offset };
	return (int)f->mem.n++;
}

static const struct vuf_region *
region_of_gpa(struct vuf *f, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < f->mem.n; i++) {
		const struct vuf_region *r = &f->mem.r[i];

		if (gpa >= r->gpa && gpa - r->gpa <= r->size &&
		    len <= r->size - (gpa - r->gpa) &&
		    r->offset + r->size <= f->mem.size &&
		    r->offset + r->size >= r->offset)
			return r;
	}
	return NULL;
}

void *
vuf_gpa(struct vuf *f, uint64_t gpa, uint64_t len)
{
	const struct vuf_region *r = region_of_gpa(f, gpa, len);

	if (!r)
		return NULL;
	return f->mem.base + r->offset + (gpa - r->gpa);
}

uint64_t
vuf_gpa_to_uva(struct vuf *f, uint64_t gpa)
{
	const struct vuf_region *r = region_of_gpa(f, gpa, 0);

	if (!r)
		return 0;
	return (uint64_t)(uintptr_t)f->mem.base + r->offset + (gpa - r->gpa);
}

struct vu_mem_region
vuf_mem_region_msg(struct vuf *f, unsigned i)
{
	const struct vuf_region *r = &f->mem.r[i];

	return (struct vu_mem_region){
		.guest_phys_addr = r->gpa,
		.memory_size = r->size,
		.userspace_addr = (uint64_t)(uintptr_t)f->mem.base + r->offset,
		.mmap_offset = r->offset,
	};
}

int
vuf_mem_set_table(struct vuf *f, uint32_t flags)
{
	struct vu_mem_table t = { .nregions = f->mem.n };
	int fds[VU_MEM_TABLE_MAX];
	int ret;

	if (f->mem.n == 0 || f->mem.n > VU_MEM_TABLE_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < f->mem.n; i++) {
		t.regions[i] = vuf_mem_region_msg(f, i);
		fds[i] = f->mem.fd;
	}
	ret = vuf_request(f, VU_SET_MEM_TABLE, flags, &t,
			  8 + sizeof(t.regions[0]) * f->mem.n, fds, f->mem.n);
	for (unsigned i = 0; i < f->mem.n; i++)
		f->mem.r[i].sent = ret == 0;
	return ret;
}

int
vuf_mem_add_reg(struct vuf *f, unsigned i, uint32_t flags)
{
	struct vu_mem_single m = { .region = vuf_mem_region_msg(f, i) };
	int ret;

	if (i >= f->mem.n)
		return -EINVAL;
	ret = vuf_request(f, VU_ADD_MEM_REG, flags, &m, sizeof(m), &f->mem.fd, 1);
	if (ret == 0)
		f->mem.r[i].sent = true;
	return ret;
}

int
vuf_mem_rem_reg(struct vuf *f, unsigned i, uint32_t flags, bool with_fd)
{
	struct vu_mem_single m = { .region = vuf_mem_region_msg(f, i) };
	int ret;

	if (i >= f->mem.n)
		return -EINVAL;
	/* QEMU's send_remove_regions() sends mmap_offset 0 */
	m.region.mmap_offset = 0;
	ret = vuf_request(f, VU_REM_MEM_REG, flags, &m, sizeof(m),
			  with_fd ? &f->mem.fd : NULL, with_fd ? 1 : 0);
	if (ret == 0)
		f->mem.r[i].sent = false;
	return ret;
}

/* ---- virtqueues ---- */

int
vuf_vq_layout(struct vuf *f, unsigned index, unsigned num, uint64_t gpa)
{
	struct vuf_vq *vq;
	uint64_t avail, used, end;

	if (index >= VUF_MAX_VQS || num == 0 || num > 32768 || (gpa & 15))
		return -EINVAL;
	vq = &f->vq[index];
	avail = gpa + 16ull * num;
	used = (avail + 6 + 2ull * num + 3) & ~3ull;
	end = used + 6 + 8ull * num;
	if (!vuf_gpa(f, gpa, end - gpa))
		return -EFAULT;
	memset(vuf_gpa(f, gpa, end - gpa), 0, end - gpa);
	vq->num = num;
	vq->desc_gpa = gpa;
	vq->avail_gpa = avail;
	vq->used_gpa = used;
	vq->desc = vuf_gpa(f, gpa, 16ull * num);
	vq->avail = vuf_gpa(f, avail, 6 + 2ull * num);
	vq->used = vuf_gpa(f, used, 6 + 8ull * num);
	vq->base = 0;
	return 0;
}

static int
new_eventfd(int *fd)
{
	close_fd(fd);
	*fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return *fd < 0 ? -errno : 0;
}

int
vuf_vq_set_call(struct vuf *f, unsigned index, uint32_t flags)
{
	struct vuf_vq *vq = &f->vq[index];
	int ret;

	if (index >= VUF_MAX_VQS)
		return -EINVAL;
	if (vq->call_fd < 0) {
		ret = new_eventfd(&vq->call_fd);
		if (ret < 0)
			return ret;
	}
	return vuf_set_vring_fd(f, VU_SET_VRING_CALL, flags, index, vq->call_fd);
}

/* What vhost_virtqueue_start() sends (hw/virtio/vhost.c). */
int
vuf_vq_start(struct vuf *f, unsigned index)
{
	struct vuf_vq *vq;
	int ret;

	if (index >= VUF_MAX_VQS || f->vq[index].num == 0)
		return -EINVAL;
	vq = &f->vq[index];
	ret = vuf_set_vring_state(f, VU_SET_VRING_NUM, 0, index, vq->num);
	if (ret < 0)
		return ret;
	ret = vuf_set_vring_state(f, VU_SET_VRING_BASE, 0, index, vq->base);
	if (ret < 0)
		return ret;
	ret = vuf_set_vring_addr(f, 0, index, vuf_gpa_to_uva(f, vq->desc_gpa),
				 vuf_gpa_to_uva(f, vq->avail_gpa),
				 vuf_gpa_to_uva(f, vq->used_gpa), vq->used_gpa);
	if (ret < 0)
		return ret;
	ret = new_eventfd(&vq->kick_fd);
	if (ret < 0)
		return ret;
	return vuf_set_vring_fd(f, VU_SET_VRING_KICK, 0, index, vq->kick_fd);
}

int
vuf_default_memory(struct vuf *f)
{
	int ret;

	ret = vuf_mem_create(f, VUF_DEFAULT_MEM);
	if (ret < 0)
		return ret;
	vuf_mem_add_region(f, VUF_REGION0_GPA, 0, VUF_DEFAULT_MEM / 2);
	vuf_mem_add_region(f, VUF_REGION1_GPA, VUF_DEFAULT_MEM / 2,
			   VUF_DEFAULT_MEM / 2);
	/* control queue: 256 with virgl; cursor queue: 16 (QEMU's sizes) */
	ret = vuf_vq_layout(f, 0, 256, VUF_VQ0_GPA);
	if (ret < 0)
		return ret;
	return vuf_vq_layout(f, 1, 16, VUF_VQ1_GPA);
}

/* ---- QEMU's sequences for vhost-user-gpu-pci ---- */

/* VHOST_USER_PROTOCOL_FEATURE_MASK: (1 << VHOST_USER_PROTOCOL_F_MAX) - 1,
 * with F_MAX = 17 in 7.2 (STATUS = 16 is the last) and 20 in 10.0
 * (XEN_MMAP, SHARED_OBJECT, DEVICE_STATE added). */
static uint64_t
protocol_mask(enum vuf_qemu v)
{
	return v == VUF_QEMU_7_2 ? PF(17) - 1 : PF(20) - 1;
}

/* NEED_REPLY when REPLY_ACK was negotiated, as QEMU sets it. */
static uint32_t
ack_flag(struct vuf *f)
{
	return f->reply_ack ? VU_FLAG_NEED_REPLY : 0;
}

/*
 * Mirrors hw/virtio/vhost-user.c vhost_user_backend_init() (7.2 and 10.0
 * alike for this device) followed by the rest of hw/virtio/vhost.c
 * vhost_dev_init(): vhost_user_set_owner(), vhost_user_get_features() and
 * vhost_virtqueue_init() per queue, which sends SET_VRING_CALL with the
 * "masked notifier" and, since 7.1, SET_VRING_ERR with an error eventfd.
 * Reached from hw/display/vhost-user-gpu.c vhost_user_gpu_device_realize()
 * -> backends/vhost-user.c vhost_user_backend_dev_init(nvqs = 2).
 */
int
vuf_qemu_init(struct vuf *f, enum vuf_qemu v)
{
	uint64_t pf = 0;
	int ret;

	f->display_protocol_features = v == VUF_QEMU_7_2 ? 0 :
		PF(GPU_PF_EDID) | PF(GPU_PF_DMABUF2);

	ret = vuf_get_u64(f, VU_GET_FEATURES, &f->features);
	if (ret < 0)
		return ret;
	if (f->features & F_PROTOCOL_FEATURES) {
		ret = vuf_get_u64(f, VU_GET_PROTOCOL_FEATURES, &pf);
		if (ret < 0)
			return ret;
		pf &= protocol_mask(v);
		/* vhost-user-gpu has config_ops, so CONFIG is required */
		if (!(pf & PF(VU_PF_CONFIG)))
			return -EPROTO;
		ret = vuf_set_u64(f, VU_SET_PROTOCOL_FEATURES, 0, pf);
		if (ret < 0)
			return ret;
		f->protocol_features = pf;
		f->reply_ack = pf & PF(VU_PF_REPLY_ACK);
		if (pf & PF(VU_PF_MQ)) {
			ret = vuf_get_u64(f, VU_GET_QUEUE_NUM, &f->queue_num);
			if (ret < 0)
				return ret;
		}
		if (pf & PF(VU_PF_CONFIGURE_MEM_SLOTS)) {
			ret = vuf_get_u64(f, VU_GET_MAX_MEM_SLOTS,
					  &f->max_mem_slots);
			if (ret < 0)
				return ret;
		}
	}
	/* vhost_setup_slave_channel() / vhost_setup_backend_channel() */
	if (pf & PF(VU_PF_BACKEND_REQ)) {
		ret = vuf_set_backend_req_fd(f, ack_flag(f));
		if (ret < 0)
			return ret;
	}

	/* vhost_dev_init() */
	ret = vuf_request(f, VU_SET_OWNER, 0, NULL, 0, NULL, 0);
	if (ret < 0)
		return ret;
	ret = vuf_get_u64(f, VU_GET_FEATURES, &f->features);
	if (ret < 0)
		return ret;
	for (unsigned i = 0; i < VUF_MAX_VQS; i++) {
		struct vuf_vq *vq = &f->vq[i];

		ret = new_eventfd(&vq->masked_fd);
		if (ret < 0)
			return ret;
		ret = vuf_set_vring_fd(f, VU_SET_VRING_CALL, 0, i, vq->masked_fd);
		if (ret < 0)
			return ret;
		ret = new_eventfd(&vq->err_fd);
		if (ret < 0)
			return ret;
		ret = vuf_set_vring_fd(f, VU_SET_VRING_ERR, 0, i, vq->err_fd);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * The guest driver's probe reads the config space: virtio-pci
 * virtio_config_modern_read*() -> vhost_user_gpu_get_config() ->
 * vhost_dev_get_config() -> vhost_user_get_config(): GET_CONFIG at offset
 * 0 for sizeof(struct virtio_gpu_config), and a reply of any other size
 * is an error.
 */
int
vuf_qemu_get_config(struct vuf *f, enum vuf_qemu v)
{
	struct virtio_gpu_config cfg;
	int ret;

	(void)v;
	ret = vuf_get_config(f, 0, sizeof(cfg), &cfg);
	return ret < 0 ? ret : 0;
}

/* The acked features: what the guest driver took (QEMU passes VIRGL, EDID
 * and RESOURCE_UUID through; ring features are transport ones) plus
 * vhost-user's own PROTOCOL_FEATURES bit (dev->backend_features). */
static uint64_t
guest_features(struct vuf *f)
{
	uint64_t guest = (1ull << VIRTIO_F_VERSION_1) |
		(1ull << VIRTIO_RING_F_INDIRECT_DESC) |
		(1ull << VIRTIO_RING_F_EVENT_IDX) |
		(1ull << VIRTIO_GPU_F_VIRGL) | (1ull << VIRTIO_GPU_F_EDID) |
		(1ull << VIRTIO_GPU_F_RESOURCE_UUID) | F_PROTOCOL_FEATURES;

	return f->features & guest;
}

/*
 * Mirrors hw/display/vhost-user-gpu.c vhost_user_gpu_set_status() with
 * DRIVER_OK: vhost_user_gpu_do_set_socket() (GPU_SET_SOCKET, size 0, one
 * fd, no NEED_REPLY), then backends/vhost-user.c vhost_user_backend_start():
 *  - k->set_guest_notifiers() -> virtio_pci_vector_unmask() ->
 *    vhost_user_gpu_guest_notifier_mask(false) -> vhost_virtqueue_mask():
 *    SET_VRING_CALL with the guest notifier, per queue;
 *  - hw/virtio/vhost.c vhost_dev_start(vrings = true):
 *    vhost_dev_set_features() -> vhost_user_set_features(): SET_FEATURES,
 *    then with F_STATUS vhost_user_add_status(FEATURES_OK): GET_STATUS and
 *    SET_STATUS (both versions: commit 923b8921d2, in 7.2.0);
 *    vhost_user_set_mem_table(): with CONFIGURE_MEM_SLOTS one ADD_MEM_REG
 *    per region (vhost_user_add_remove_regions), else SET_MEM_TABLE;
 *    NEED_REPLY with REPLY_ACK;
 *    vhost_virtqueue_start() per queue: SET_VRING_NUM, SET_VRING_BASE,
 *    SET_VRING_ADDR, SET_VRING_KICK (no SET_VRING_CALL: MSI-X vectors
 *    are assigned);
 *    vhost_dev_set_vring_enable(1) -> vhost_user_set_vring_enable():
 *    SET_VRING_ENABLE per queue; 10.0 sends it synchronously (NEED_REPLY
 *    with REPLY_ACK, else a GET_FEATURES round trip: Laszlo Ersek's
 *    "vhost-user: call VHOST_USER_SET_VRING_ENABLE synchronously", 8.2);
 *    7.2 does not wait;
 *    vhost_user_dev_start(true): nothing, because backends/vhost-user.c
 *    never sets vq_index_end, so "vq_index + nvqs != vq_index_end" holds
 *    and no DRIVER_OK SET_STATUS is sent by either version;
 *  - vhost_virtqueue_mask(false) per queue: SET_VRING_CALL again.
 */
int
vuf_qemu_start(struct vuf *f, enum vuf_qemu v)
{
	uint64_t status;
	int ret;

	if (f->mem.fd < 0) {
		ret = vuf_default_memory(f);
		if (ret < 0)
			return ret;
	}

	ret = vuf_gpu_set_socket(f, 0);
	if (ret < 0)
		return ret;

	for (unsigned i = 0; i < VUF_MAX_VQS; i++) {
		ret = vuf_vq_set_call(f, i, 0);
		if (ret < 0)
			return ret;
	}

	f->acked_features = guest_features(f);
	ret = vuf_set_u64(f, VU_SET_FEATURES, 0, f->acked_features);
	if (ret < 0)
		return ret;
	if (f->protocol_features & PF(VU_PF_STATUS)) {
		ret = vuf_get_u64(f, VU_GET_STATUS, &status);
		if (ret < 0)
			return ret;
		if ((status & VIRTIO_CONFIG_S_FEATURES_OK) == 0) {
			ret = vuf_set_u64(f, VU_SET_STATUS, 0,
					  (uint8_t)status | VIRTIO_CONFIG_S_FEATURES_OK);
			if (ret < 0)
				return ret;
		}
	}

	if (f->protocol_features & PF(VU_PF_CONFIGURE_MEM_SLOTS)) {
		for (unsigned i = 0; i < f->mem.n; i++) {
			if (f->mem.r[i].sent)
				continue;
			ret = vuf_mem_add_reg(f, i, ack_flag(f));
			if (ret < 0)
				return ret;
		}
	} else {
		ret = vuf_mem_set_table(f, ack_flag(f));
		if (ret < 0)
			return ret;
	}

	for (unsigned i = 0; i < VUF_MAX_VQS; i++) {
		if (f->vq[i].num == 0)
			continue;	/* "Queue might not be ready for start" */
		ret = vuf_vq_start(f, i);
		if (ret < 0)
			return ret;
	}

	if (f->features & F_PROTOCOL_FEATURES) {
		for (unsigned i = 0; i < VUF_MAX_VQS; i++) {
			uint64_t dummy;

			if (v == VUF_QEMU_7_2) {
				ret = vuf_set_vring_state(f, VU_SET_VRING_ENABLE, 0,
							  i, 1);
			} else {
				ret = vuf_set_vring_state(f, VU_SET_VRING_ENABLE,
							  ack_flag(f), i, 1);
				if (ret == 0 && !f->reply_ack)
					ret = vuf_get_u64(f, VU_GET_FEATURES, &dummy);
			}
			if (ret < 0)
				return ret;
		}
	}

	for (unsigned i = 0; i < VUF_MAX_VQS; i++) {
		ret = vuf_vq_set_call(f, i, 0);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * Mirrors vhost_user_gpu_set_status() without DRIVER_OK (also reached
 * from vhost_user_gpu_reset()): qemu_chr_fe_deinit() closes the display
 * socket, then backends/vhost-user.c vhost_user_backend_stop():
 *  - hw/virtio/vhost.c vhost_dev_stop(vrings = true):
 *    vhost_user_dev_start(false): nothing (vq_index_end, see above);
 *    vhost_dev_set_vring_enable(0): SET_VRING_ENABLE 0 per queue
 *    (synchronous in 10.0);
 *    vhost_virtqueue_stop() per queue: GET_VRING_BASE;
 *    10.0 only: vhost_user_reset_status(): nothing, same vq_index_end test;
 *  - k->set_guest_notifiers(false) -> virtio_pci_vector_mask() ->
 *    vhost_virtqueue_mask(true): SET_VRING_CALL with the masked notifier.
 */
int
vuf_qemu_stop(struct vuf *f, enum vuf_qemu v)
{
	int ret;

	close_fd(&f->display_fd);

	if (f->features & F_PROTOCOL_FEATURES) {
		for (unsigned i = 0; i < VUF_MAX_VQS; i++) {
			uint64_t dummy;

			if (v == VUF_QEMU_7_2) {
				ret = vuf_set_vring_state(f, VU_SET_VRING_ENABLE, 0,
							  i, 0);
			} else {
				ret = vuf_set_vring_state(f, VU_SET_VRING_ENABLE,
							  ack_flag(f), i, 0);
				if (ret == 0 && !f->reply_ack)
					ret = vuf_get_u64(f, VU_GET_FEATURES, &dummy);
			}
			if (ret < 0)
				return ret;
		}
	}
	for (unsigned i = 0; i < VUF_MAX_VQS; i++) {
		unsigned base;

		if (f->vq[i].num == 0)
			continue;
		ret = vuf_get_vring_base(f, i, &base);
		if (ret < 0)
			return ret;
		f->vq[i].base = (uint16_t)base;
	}
	for (unsigned i = 0; i < VUF_MAX_VQS; i++) {
		ret = vuf_set_vring_fd(f, VU_SET_VRING_CALL, 0, i,
				       f->vq[i].masked_fd);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int
vuf_qemu_handshake(struct vuf *f, enum vuf_qemu v)
{
	int ret;

	ret = vuf_qemu_init(f, v);
	if (ret < 0)
		return ret;
	ret = vuf_qemu_get_config(f, v);
	if (ret < 0)
		return ret;
	return vuf_qemu_start(f, v);
}
