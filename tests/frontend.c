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
#include <endian.h>
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

/* The display socket (docs/interop/vhost-user-gpu.rst), typed here from
 * the specification rather than taken from the daemon's proto/display.h,
 * so that a mistake there shows up as a test failure. */
enum {
	GPU_GET_PROTOCOL_FEATURES = 1,
	GPU_SET_PROTOCOL_FEATURES = 2,
	GPU_GET_DISPLAY_INFO = 3,
	GPU_CURSOR_POS = 4,
	GPU_CURSOR_POS_HIDE = 5,
	GPU_CURSOR_UPDATE = 6,
	GPU_SCANOUT = 7,
	GPU_UPDATE = 8,
	GPU_DMABUF_UPDATE = 10,
	GPU_GET_EDID = 11,
};
#define GPU_PF_EDID 0
#define GPU_PF_DMABUF2 1

struct dpy_cursor_pos {		/* VhostUserGpuCursorPos */
	uint32_t scanout_id, x, y;
};

struct dpy_cursor_head {	/* VhostUserGpuCursorUpdate, before data[] */
	struct dpy_cursor_pos pos;
	uint32_t hot_x, hot_y;
};

struct dpy_scanout {		/* VhostUserGpuScanout */
	uint32_t scanout_id, width, height;
};

struct dpy_update {		/* VhostUserGpuUpdate, before data[] */
	uint32_t scanout_id, x, y, width, height;
};

/* A surface bigger than this is refused (64 Mi pixels, 256 MiB). */
#define FB_MAX_PIXELS (64u << 20)

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
	/* What QEMU answers with its defaults: one output, 1280x800. */
	f->display.max_outputs = 1;
	vuf_display_set_mode(f, 0, 1280, 800, true);
	{
		static const uint8_t edid_head[8] = {
			0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00
		};

		memcpy(f->display.edid, edid_head, sizeof(edid_head));
		f->display.edid_size = 128;
	}
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
		free(f->vq[i].drv.next);
		free(f->vq[i].drv.ndesc);
		memset(&f->vq[i].drv, 0, sizeof(f->vq[i].drv));
	}
	for (unsigned i = 0; i < VUF_MAX_SCANOUTS; i++) {
		free(f->display.scanout[i].fb);
		memset(&f->display.scanout[i], 0, sizeof(f->display.scanout[i]));
	}
	f->bulk = NULL;
	memset(&f->arena, 0, sizeof(f->arena));
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
				{ .fd = serve && f->serve && !f->display.paused ?
					f->display_fd : -1, .events = POLLIN },
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

/* Read what the daemon says on the display socket, by the deadline. */
static int
display_read(struct vuf *f, void *buf, size_t len, int64_t deadline)
{
	return recv_exact(f, f->display_fd, buf, len, NULL, NULL, deadline,
			  false);
}

static int
display_skip(struct vuf *f, size_t len, int64_t deadline)
{
	return recv_discard(f, f->display_fd, len, deadline, false);
}

/* A payload that must be exactly want bytes: 1 when buf holds it, 0 when
 * it had another size (read, dropped and counted), or -errno. */
static int
display_fixed(struct vuf *f, const struct vu_hdr *h, void *buf, size_t want,
	      int64_t deadline)
{
	int ret;

	if (h->size != want) {
		f->display.malformed++;
		ret = display_skip(f, h->size, deadline);
		return ret < 0 ? ret : 0;
	}
	ret = display_read(f, buf, want, deadline);
	return ret < 0 ? ret : 1;
}

/* SCANOUT: QEMU replaces the console surface with a new one (0x0: none). */
static void
display_scanout(struct vuf *f, const struct dpy_scanout *m)
{
	struct vuf_scanout *s;
	uint64_t px = (uint64_t)m->width * m->height;

	if (m->scanout_id >= VUF_MAX_SCANOUTS) {
		f->display.malformed++;
		return;
	}
	s = &f->display.scanout[m->scanout_id];
	s->scanouts++;
	s->width = s->height = 0;
	if (px == 0)
		return;
	if (px > FB_MAX_PIXELS) {
		f->display.malformed++;
		return;
	}
	if (px > s->fb_cap) {
		uint32_t *fb = realloc(s->fb, px * sizeof(*fb));

		if (!fb) {
			f->display.malformed++;
			return;
		}
		s->fb = fb;
		s->fb_cap = px;
	}
	memset(s->fb, 0, px * sizeof(*s->fb));
	s->width = m->width;
	s->height = m->height;
}

/*
 * UPDATE: the pixels go into the surface at (x, y), clipped to it as
 * pixman_image_composite() in QEMU's vhost-user-gpu.c clips them. Rows
 * land straight in the surface; only what falls outside is read into a
 * scratch buffer and dropped.
 */
static int display_update_pixels(struct vuf *f, const struct dpy_update *u,
				 uint64_t row, int64_t deadline);

static int
display_update(struct vuf *f, const struct vu_hdr *h, int64_t deadline)
{
	struct dpy_update u;
	struct vuf_scanout *s;
	uint64_t row, data;
	int ret;

	if (h->size < sizeof(u)) {
		f->display.malformed++;
		return display_skip(f, h->size, deadline);
	}
	ret = display_read(f, &u, sizeof(u), deadline);
	if (ret < 0)
		return ret;
	row = (uint64_t)u.width * 4;
	data = row * u.height;
	if (data != h->size - sizeof(u) || u.scanout_id >= VUF_MAX_SCANOUTS) {
		f->display.malformed++;
		return display_skip(f, h->size - sizeof(u), deadline);
	}
	s = &f->display.scanout[u.scanout_id];
	s->updates++;
	s->last_update = (struct vuf_rect){ u.x, u.y, u.width, u.height };
	if ((uint64_t)u.x + u.width > s->width ||
	    (uint64_t)u.y + u.height > s->height)
		s->clipped++;
	ret = display_update_pixels(f, &u, row, deadline);
	if (ret == 0 && f->display.on_update)
		f->display.on_update(f, u.scanout_id, f->display.on_update_arg);
	return ret;
}

static int
display_update_pixels(struct vuf *f, const struct dpy_update *m, uint64_t row,
		      int64_t deadline)
{
	struct vuf_scanout *s = &f->display.scanout[m->scanout_id];
	struct dpy_update u = *m;
	uint64_t data = row * u.height, vis_w = 0;
	int ret;

	if (u.x < s->width)
		vis_w = s->width - u.x < u.width ? s->width - u.x : u.width;
	if (u.x == 0 && u.width == s->width &&
	    (uint64_t)u.y + u.height <= s->height)
		return display_read(f, s->fb + (size_t)u.y * s->width,
				    (size_t)data, deadline);
	for (uint32_t y = 0; y < u.height; y++) {
		uint64_t sy = (uint64_t)u.y + y;
		uint64_t keep = sy < s->height ? vis_w * 4 : 0;

		if (keep) {
			ret = display_read(f, s->fb + sy * s->width + u.x,
					   (size_t)keep, deadline);
			if (ret < 0)
				return ret;
		}
		ret = display_skip(f, (size_t)(row - keep), deadline);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int
display_cursor_update(struct vuf *f, const struct vu_hdr *h, int64_t deadline)
{
	struct vuf_cursor *c = &f->display.cursor;
	struct dpy_cursor_head m;
	int ret;

	if (h->size != sizeof(m) + sizeof(c->image)) {
		f->display.malformed++;
		return display_skip(f, h->size, deadline);
	}
	ret = display_read(f, &m, sizeof(m), deadline);
	if (ret == 0)
		ret = display_read(f, c->image, sizeof(c->image), deadline);
	if (ret < 0)
		return ret;
	c->updates++;
	c->visible = true;
	c->scanout = m.pos.scanout_id;
	c->x = m.pos.x;
	c->y = m.pos.y;
	c->hot_x = m.hot_x;
	c->hot_y = m.hot_y;
	return 0;
}

/* The payload of one display message, recorded or answered the way QEMU's
 * hw/display/vhost-user-gpu.c vhost_user_gpu_handle_display() does. */
static int
display_handle(struct vuf *f, const struct vu_hdr *h, int64_t deadline)
{
	struct vuf_display *d = &f->display;
	union {
		uint64_t u64;
		uint32_t u32;
		struct dpy_cursor_pos pos;
		struct dpy_scanout scanout;
	} p;
	int ret;

	switch (h->request) {
	case GPU_GET_PROTOCOL_FEATURES:
		ret = display_skip(f, h->size, deadline);
		if (ret < 0)
			return ret;
		return display_reply(f, h->request, &f->display_protocol_features,
				     sizeof(uint64_t));
	case GPU_SET_PROTOCOL_FEATURES:
		ret = display_fixed(f, h, &p.u64, sizeof(p.u64), deadline);
		if (ret > 0) {
			d->features_set = true;
			d->features = p.u64;
		}
		return ret < 0 ? ret : 0;
	case GPU_GET_DISPLAY_INFO:
		ret = display_skip(f, h->size, deadline);
		if (ret < 0)
			return ret;
		d->info.hdr.type = VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
		return display_reply(f, h->request, &d->info, sizeof(d->info));
	case GPU_GET_EDID: {
		struct virtio_gpu_resp_edid e = {
			.hdr.type = VIRTIO_GPU_RESP_OK_EDID,
		};

		ret = display_fixed(f, h, &p.u32, sizeof(p.u32), deadline);
		if (ret <= 0)
			return ret;
		if (p.u32 >= d->max_outputs)
			return 0;	/* QEMU: "invalid scanout", no reply */
		e.size = d->edid_size;
		memcpy(e.edid, d->edid, d->edid_size);
		return display_reply(f, h->request, &e, sizeof(e));
	}
	case GPU_CURSOR_POS:
	case GPU_CURSOR_POS_HIDE:
		ret = display_fixed(f, h, &p.pos, sizeof(p.pos), deadline);
		if (ret <= 0)
			return ret;
		if (h->request == GPU_CURSOR_POS)
			d->cursor.moves++;
		else
			d->cursor.hides++;
		d->cursor.visible = h->request == GPU_CURSOR_POS;
		d->cursor.scanout = p.pos.scanout_id;
		d->cursor.x = p.pos.x;
		d->cursor.y = p.pos.y;
		return 0;
	case GPU_CURSOR_UPDATE:
		return display_cursor_update(f, h, deadline);
	case GPU_SCANOUT:
		ret = display_fixed(f, h, &p.scanout, sizeof(p.scanout), deadline);
		if (ret > 0)
			display_scanout(f, &p.scanout);
		return ret < 0 ? ret : 0;
	case GPU_UPDATE:
		return display_update(f, h, deadline);
	case GPU_DMABUF_UPDATE:
		/* "presented": QEMU answers once the frame is on screen */
		ret = display_skip(f, h->size, deadline);
		if (ret < 0)
			return ret;
		return display_reply(f, h->request, NULL, 0);
	default:
		return display_skip(f, h->size, deadline);
	}
}

/* One display message: read whole, as QEMU's vhost_user_gpu_chr_read()
 * reads it, then handled. */
static int
serve_display_one(struct vuf *f)
{
	int64_t deadline = now_ms() + f->timeout_ms;
	struct vu_hdr h;
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
	f->display_msgs++;
	f->display.count[h.request < VUF_DISPLAY_MSG_MAX ? h.request : 0]++;
	ret = display_handle(f, &h, deadline);
	if (ret < 0)
		goto out_drop;
	return 0;

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
			{ .fd = f->display.paused ? -1 : f->display_fd,
			  .events = POLLIN },
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
	memset(&f->arena, 0, sizeof(f->arena));
	f->bulk = NULL;
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

/* A fresh driver side for vq: every descriptor free, nothing added. The
 * two arrays are allocated here, once per layout, never per command. */
static int
drv_init(struct vuf_vq *vq, unsigned num)
{
	struct vuf_drv *d = &vq->drv;
	uint16_t *next, *ndesc;

	next = realloc(d->next, num * sizeof(*next));
	if (!next)
		return -ENOMEM;
	d->next = next;
	ndesc = realloc(d->ndesc, num * sizeof(*ndesc));
	if (!ndesc)
		return -ENOMEM;
	*d = (struct vuf_drv){ .next = next, .ndesc = ndesc };
	for (unsigned i = 0; i < num; i++) {
		next[i] = (uint16_t)(i + 1);
		ndesc[i] = 0;
	}
	d->num_free = (uint16_t)num;	/* num <= 32768 */
	return 0;
}

int
vuf_vq_layout(struct vuf *f, unsigned index, unsigned num, uint64_t gpa)
{
	struct vuf_vq *vq;
	uint64_t avail, used, end;
	int ret;

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
	ret = drv_init(vq, num);
	if (ret < 0)
		vq->num = 0;
	return ret;
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
	/* command slots and the bulk area, above the control ring */
	vuf_arena_init(&f->arena, VUF_REGION0_GPA + (2u << 20), 2u << 20);
	/* control queue: 256 with virgl; cursor queue: 16 (QEMU's sizes) */
	ret = vuf_vq_layout(f, 0, 256, VUF_VQ0_GPA);
	if (ret < 0)
		return ret;
	return vuf_vq_layout(f, 1, 16, VUF_VQ1_GPA);
}

int
vuf_gpu_memory(struct vuf *f, size_t region_size, uint64_t region1_gpa,
	       unsigned ctrl_num)
{
	int ret;

	if (region_size < (2u << 20) || region_size % (1u << 20) ||
	    ctrl_num > 1024)
		return -EINVAL;
	ret = vuf_mem_create(f, 3 * region_size);
	if (ret < 0)
		return ret;
	vuf_mem_add_region(f, 0, 0, region_size);
	vuf_mem_add_region(f, region1_gpa, region_size, region_size);
	ret = vuf_vq_layout(f, 0, ctrl_num, 0x10000);
	if (ret < 0)
		return ret;
	ret = vuf_vq_layout(f, 1, 16, 0xc0000);
	if (ret < 0)
		return ret;
	vuf_arena_init(&f->arena, 1u << 20, region_size - (1u << 20));
	return 0;
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

	if (!f->no_display) {
		ret = vuf_gpu_set_socket(f, 0);
		if (ret < 0)
			return ret;
	}

	for (unsigned i = 0; i < VUF_MAX_VQS; i++) {
		ret = vuf_vq_set_call(f, i, 0);
		if (ret < 0)
			return ret;
	}

	f->acked_features = guest_features(f) & ~f->decline_features;
	/* Linux's virtio_ring uses indirect tables for multi-buffer chains
	 * once INDIRECT_DESC is negotiated. */
	for (unsigned i = 0; i < VUF_MAX_VQS; i++)
		f->vq[i].drv.indirect = f->acked_features &
					(1ull << VIRTIO_RING_F_INDIRECT_DESC);
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

/* ---- waiting: the call eventfd, the display socket, the daemon ---- */

static bool
display_serving(const struct vuf *f)
{
	return f->serve && !f->display.paused && f->display_fd >= 0;
}

/*
 * Wait once for fd to become readable (fd < 0: for anything), at most
 * until deadline and, when cap_ms >= 0, at most cap_ms. Meanwhile the
 * daemon's stderr is drained and the display socket (unless paused) and
 * the backend channel are served, so the daemon never blocks on us.
 * Returns 1 when fd is readable, 0 when something else happened or the
 * cap ran out (look again), -ETIMEDOUT at the deadline, -ECHILD when the
 * daemon is gone.
 */
static int
wait_event(struct vuf *f, int fd, int64_t deadline, int cap_ms)
{
	struct pollfd pfd[5] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = f->err_fd, .events = POLLIN },
		{ .fd = display_serving(f) ? f->display_fd : -1, .events = POLLIN },
		{ .fd = f->serve ? f->backend_fd : -1, .events = POLLIN },
		{ .fd = f->pidfd, .events = POLLIN },
	};
	int left = remaining_ms(deadline);
	int n;

	if (cap_ms >= 0 && cap_ms < left)
		left = cap_ms;
	n = poll(pfd, ARRAY_SIZE(pfd), left);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (n == 0)
		return remaining_ms(deadline) == 0 ? -ETIMEDOUT : 0;
	if (pfd[1].revents)
		vuf_drain_stderr(f);
	if (pfd[2].revents || pfd[3].revents)
		vuf_serve(f);
	if (pfd[0].revents)
		return 1;
	if (pfd[4].revents && reap(f)) {
		vuf_drain_stderr(f);
		return -ECHILD;
	}
	return 0;
}

int
vuf_wait_fd(struct vuf *f, int fd, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_or_default(f, timeout_ms);

	for (;;) {
		int ret = wait_event(f, fd, deadline, -1);

		if (ret != 0)
			return ret < 0 ? ret : 0;
	}
}

long
vuf_daemon_rss_kb(struct vuf *f)
{
	char path[64], line[256];
	long kb = -ENOENT;
	FILE *fp;

	if (f->pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)f->pid);
	fp = fopen(path, "re");
	if (!fp)
		return -errno;
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(fp);
	return kb;
}

/* ---- guest buffers ---- */

void
vuf_arena_init(struct vuf_arena *a, uint64_t gpa, uint64_t size)
{
	*a = (struct vuf_arena){ .gpa = gpa, .size = size };
}

void *
vuf_arena_alloc(struct vuf *f, struct vuf_arena *a, uint64_t len,
		uint64_t align, uint64_t *gpa)
{
	uint64_t at;
	void *p;

	if (!align || (align & (align - 1)))
		return NULL;
	at = (a->gpa + a->used + align - 1) & ~(align - 1);
	if (at < a->gpa || len > a->size || at - a->gpa > a->size - len)
		return NULL;
	p = vuf_gpa(f, at, len);
	if (!p)
		return NULL;
	a->used = at - a->gpa + len;
	*gpa = at;
	return p;
}

/* ---- the driver side of a split ring ---- */

static struct vuf_vq *
drv_vq(struct vuf *f, unsigned q)
{
	if (q >= VUF_MAX_VQS || f->vq[q].num == 0 || !f->vq[q].drv.next)
		return NULL;
	return &f->vq[q];
}

static bool
drv_event_idx(const struct vuf *f)
{
	return f->acked_features & (1ull << VIRTIO_RING_F_EVENT_IDX);
}

/* used_event follows the avail ring, avail_event the used ring. */
static __virtio16 *
drv_used_event(struct vuf_vq *vq)
{
	return &vq->avail->ring[vq->num];
}

static __virtio16 *
drv_avail_event(struct vuf_vq *vq)
{
	return (__virtio16 *)&vq->used->ring[vq->num];
}

static uint16_t
load16(const __virtio16 *p, int order)
{
	return le16toh(__atomic_load_n(p, order));
}

static void
store16(__virtio16 *p, uint16_t v, int order)
{
	__atomic_store_n(p, htole16(v), order);
}

/* Take a chain of n descriptors (linked through the shadow next[]). */
static int
desc_take(struct vuf_drv *d, unsigned n, uint16_t *head)
{
	uint16_t last;

	if (n == 0 || n > d->num_free)
		return -ENOSPC;
	*head = last = d->free_head;
	for (unsigned i = 1; i < n; i++)
		last = d->next[last];
	d->free_head = d->next[last];
	d->num_free -= (uint16_t)n;
	return 0;
}

/* Give a chain of n back (it is still linked through next[]). */
static void
desc_put(struct vuf_drv *d, uint16_t head, unsigned n)
{
	uint16_t last = head;

	for (unsigned i = 1; i < n; i++)
		last = d->next[last];
	d->next[last] = d->free_head;
	d->free_head = head;
	d->num_free += (uint16_t)n;
}

static void
desc_write(struct vring_desc *desc, uint64_t addr, uint32_t len,
	   uint16_t flags, uint16_t next)
{
	desc->addr = htole64(addr);
	desc->len = htole32(len);
	desc->flags = htole16(flags);
	desc->next = htole16(next);
}

static uint8_t *
drv_slots(struct vuf *f, struct vuf_vq *vq)
{
	struct vuf_drv *d = &vq->drv;

	if (!d->slots)
		d->slots = vuf_arena_alloc(f, &f->arena,
					   (uint64_t)vq->num * VUF_SLOT_SIZE,
					   4096, &d->slots_gpa);
	return d->slots;
}

void *
vuf_vq_slot(struct vuf *f, unsigned q, unsigned i, uint64_t *gpa)
{
	struct vuf_vq *vq = drv_vq(f, q);
	uint8_t *slots;

	if (!vq || i >= vq->num)
		return NULL;
	slots = drv_slots(f, vq);
	if (!slots)
		return NULL;
	if (gpa)
		*gpa = vq->drv.slots_gpa + (uint64_t)i * VUF_SLOT_SIZE;
	return slots + (size_t)i * VUF_SLOT_SIZE;
}

int
vuf_vq_add(struct vuf *f, unsigned q, const struct vuf_buf *out,
	   unsigned nout, const struct vuf_buf *in, unsigned nin)
{
	struct vuf_vq *vq = drv_vq(f, q);
	unsigned total = nout + nin;
	struct vuf_drv *d;
	uint16_t head, id;
	int ret;

	if (!vq || total == 0)
		return -EINVAL;
	d = &vq->drv;
	if (d->indirect && total > 1 && total <= VUF_SLOT_MAX_SG &&
	    drv_slots(f, vq)) {
		struct vring_desc *table;
		uint64_t gpa;

		ret = desc_take(d, 1, &head);
		if (ret < 0)
			return ret;
		table = vuf_vq_slot(f, q, head, &gpa);
		for (unsigned i = 0; i < total; i++) {
			const struct vuf_buf *b = i < nout ? &out[i] : &in[i - nout];
			uint16_t flags = (i < nout ? 0 : VRING_DESC_F_WRITE) |
					 (i + 1 < total ? VRING_DESC_F_NEXT : 0);

			desc_write(&table[i], b->gpa, b->len, flags,
				   i + 1 < total ? (uint16_t)(i + 1) : 0);
		}
		desc_write(&vq->desc[head], gpa + VUF_SLOT_IND,
			   total * sizeof(struct vring_desc),
			   VRING_DESC_F_INDIRECT, 0);
		d->ndesc[head] = 1;
	} else {
		ret = desc_take(d, total, &head);
		if (ret < 0)
			return ret;
		id = head;
		for (unsigned i = 0; i < total; i++) {
			const struct vuf_buf *b = i < nout ? &out[i] : &in[i - nout];
			bool more = i + 1 < total;
			uint16_t flags = (i < nout ? 0 : VRING_DESC_F_WRITE) |
					 (more ? VRING_DESC_F_NEXT : 0);

			desc_write(&vq->desc[id], b->gpa, b->len, flags,
				   more ? d->next[id] : 0);
			id = d->next[id];
		}
		d->ndesc[head] = (uint16_t)total;
	}
	/* The entry is published by the release store of idx in kick. */
	vq->avail->ring[d->avail_idx % vq->num] = htole16(head);
	d->avail_idx++;
	d->inflight++;
	return head;
}

int
vuf_vq_notify(struct vuf *f, unsigned q)
{
	struct vuf_vq *vq = drv_vq(f, q);
	uint64_t one = 1;

	if (!vq || vq->kick_fd < 0)
		return -EINVAL;
	if (write(vq->kick_fd, &one, sizeof(one)) != sizeof(one))
		return -errno;
	vq->drv.kicks++;
	return 0;
}

int
vuf_vq_kick(struct vuf *f, unsigned q)
{
	struct vuf_vq *vq = drv_vq(f, q);
	struct vuf_drv *d;
	uint16_t old, new;
	bool need;
	int ret;

	if (!vq)
		return -EINVAL;
	d = &vq->drv;
	old = d->kicked_idx;
	new = d->avail_idx;
	/* Release: descriptors and entries are seen before idx moves. */
	store16(&vq->avail->idx, new, __ATOMIC_RELEASE);
	d->kicked_idx = new;
	/* Our idx store before we read the device's wish (the device
	 * stores its wish, fences, then reads idx). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (drv_event_idx(f))
		need = vring_need_event(load16(drv_avail_event(vq),
					       __ATOMIC_RELAXED), new, old);
	else
		need = !(load16(&vq->used->flags, __ATOMIC_RELAXED) &
			 VRING_USED_F_NO_NOTIFY);
	if (!need) {
		d->kicks_suppressed++;
		return 0;
	}
	ret = vuf_vq_notify(f, q);
	return ret < 0 ? ret : 1;
}

uint16_t
vuf_vq_used_idx(struct vuf *f, unsigned q)
{
	struct vuf_vq *vq = drv_vq(f, q);

	return vq ? load16(&vq->used->idx, __ATOMIC_ACQUIRE) : 0;
}

/* Count what the call eventfd holds (the device's writes add up). */
static void
drv_read_calls(struct vuf_vq *vq)
{
	uint64_t v;

	if (vq->call_fd >= 0 && read(vq->call_fd, &v, sizeof(v)) == sizeof(v))
		vq->drv.calls += v;
}

uint64_t
vuf_vq_calls(struct vuf *f, unsigned q)
{
	struct vuf_vq *vq = drv_vq(f, q);

	if (!vq)
		return 0;
	drv_read_calls(vq);
	return vq->drv.calls;
}

/* Ask for a notification at the next used entry (virtqueue_enable_cb). */
static void
drv_want_call(struct vuf *f, struct vuf_vq *vq)
{
	if (drv_event_idx(f) && !vq->drv.manual_used_event)
		store16(drv_used_event(vq), vq->drv.last_used, __ATOMIC_RELAXED);
}

int
vuf_vq_get_used(struct vuf *f, unsigned q, unsigned *head, uint32_t *len)
{
	struct vuf_vq *vq = drv_vq(f, q);
	struct vring_used_elem *e;
	struct vuf_drv *d;
	uint32_t id;

	if (!vq)
		return -EINVAL;
	d = &vq->drv;
	/* Acquire: the entry is read after idx. */
	if (load16(&vq->used->idx, __ATOMIC_ACQUIRE) == d->last_used)
		return -EAGAIN;
	e = &vq->used->ring[d->last_used % vq->num];
	id = le32toh(e->id);
	*head = id;
	*len = le32toh(e->len);
	d->last_used++;
	if (id < vq->num && d->ndesc[id]) {
		desc_put(d, (uint16_t)id, d->ndesc[id]);
		d->ndesc[id] = 0;
		d->inflight--;
	}
	drv_want_call(f, vq);
	return 0;
}

int
vuf_vq_wait_used(struct vuf *f, unsigned q, unsigned *head, uint32_t *len,
		 int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_or_default(f, timeout_ms);
	struct vuf_vq *vq = drv_vq(f, q);

	if (!vq)
		return -EINVAL;
	for (;;) {
		int ret = vuf_vq_get_used(f, q, head, len);

		if (ret != -EAGAIN)
			return ret;
		/* Say when to call us, then look once more before sleeping:
		 * an entry published in between may not notify. */
		drv_want_call(f, vq);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (load16(&vq->used->idx, __ATOMIC_ACQUIRE) != vq->drv.last_used)
			continue;
		ret = wait_event(f, vq->call_fd, deadline,
				 vq->call_fd < 0 ? 1 : -1);
		if (ret < 0)
			return ret;
		if (ret > 0)
			drv_read_calls(vq);
	}
}

int
vuf_vq_wait_pending(struct vuf *f, unsigned q, unsigned n, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_or_default(f, timeout_ms);
	struct vuf_vq *vq = drv_vq(f, q);

	if (!vq)
		return -EINVAL;
	for (;;) {
		uint16_t ready = load16(&vq->used->idx, __ATOMIC_ACQUIRE) -
				 vq->drv.last_used;
		int ret;

		if (ready >= n)
			return 0;
		/* Notifications may be suppressed: look at the ring every
		 * millisecond as well. */
		ret = wait_event(f, vq->call_fd, deadline, 1);
		if (ret < 0)
			return ret;
		if (ret > 0)
			drv_read_calls(vq);
	}
}

void
vuf_vq_set_used_event(struct vuf *f, unsigned q, uint16_t idx)
{
	struct vuf_vq *vq = drv_vq(f, q);

	if (!vq)
		return;
	vq->drv.manual_used_event = true;
	store16(drv_used_event(vq), idx, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void
vuf_vq_auto_used_event(struct vuf *f, unsigned q)
{
	struct vuf_vq *vq = drv_vq(f, q);

	if (!vq)
		return;
	vq->drv.manual_used_event = false;
	drv_want_call(f, vq);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

int
vuf_vq_alloc_desc(struct vuf *f, unsigned q, unsigned n, uint16_t *ids)
{
	struct vuf_vq *vq = drv_vq(f, q);

	if (!vq)
		return -EINVAL;
	if (n > vq->drv.num_free)
		return -ENOSPC;
	for (unsigned i = 0; i < n; i++)
		desc_take(&vq->drv, 1, &ids[i]);
	return 0;
}

void
vuf_vq_free_desc(struct vuf *f, unsigned q, const uint16_t *ids, unsigned n)
{
	struct vuf_vq *vq = drv_vq(f, q);

	if (!vq)
		return;
	for (unsigned i = 0; i < n; i++)
		if (ids[i] < vq->num)
			desc_put(&vq->drv, ids[i], 1);
}

void
vuf_vq_set_desc(struct vuf *f, unsigned q, unsigned i, uint64_t addr,
		uint32_t len, uint16_t flags, uint16_t next)
{
	struct vuf_vq *vq = drv_vq(f, q);

	if (vq && i < vq->num)
		desc_write(&vq->desc[i], addr, len, flags, next);
}

void
vuf_vq_add_raw(struct vuf *f, unsigned q, uint16_t head)
{
	struct vuf_vq *vq = drv_vq(f, q);

	if (!vq)
		return;
	vq->avail->ring[vq->drv.avail_idx % vq->num] = htole16(head);
	vq->drv.avail_idx++;
}

void
vuf_vq_set_avail_idx(struct vuf *f, unsigned q, uint16_t idx)
{
	struct vuf_vq *vq = drv_vq(f, q);

	if (vq)
		store16(&vq->avail->idx, idx, __ATOMIC_RELEASE);
}

/* ---- virtio-gpu commands ---- */

struct fence {
	uint64_t id;
	uint32_t ctx_id;
};

/*
 * Put a command in the slot of the descriptor that will be its head (the
 * free list's first) and add its chain: request, extra (from the slot, or
 * the bulk area), response.
 */
static int
gpu_place(struct vuf *f, unsigned q, const void *req, size_t req_len,
	  const void *extra, size_t extra_len, bool bulk, size_t resp_len,
	  const struct fence *fence)
{
	struct vuf_vq *vq = drv_vq(f, q);
	struct vuf_buf out[2], in[1];
	unsigned nout = 0, nin = 0, need;
	uint64_t gpa;
	uint8_t *slot;
	int head;

	if (!vq || req_len + (bulk ? 0 : extra_len) > VUF_SLOT_REQ_CAP ||
	    resp_len > VUF_SLOT_RESP_CAP)
		return -E2BIG;
	need = (req_len > 0) + (extra_len > 0) + (resp_len > 0);
	if (need == 0)
		return -EINVAL;
	if (vq->drv.num_free < (vq->drv.indirect && need > 1 ? 1 : need))
		return -ENOSPC;
	slot = vuf_vq_slot(f, q, vq->drv.free_head, &gpa);
	if (!slot)
		return -ENOSPC;
	memcpy(slot + VUF_SLOT_REQ, req, req_len);
	if (fence && req_len >= sizeof(struct virtio_gpu_ctrl_hdr)) {
		struct virtio_gpu_ctrl_hdr h;

		memcpy(&h, slot + VUF_SLOT_REQ, sizeof(h));
		h.flags |= VIRTIO_GPU_FLAG_FENCE;
		h.fence_id = fence->id;
		h.ctx_id = fence->ctx_id;
		memcpy(slot + VUF_SLOT_REQ, &h, sizeof(h));
	}
	if (req_len)
		out[nout++] = (struct vuf_buf){ gpa + VUF_SLOT_REQ, (uint32_t)req_len };
	if (extra_len && bulk) {
		memcpy(f->bulk, extra, extra_len);
		out[nout++] = (struct vuf_buf){ f->bulk_gpa, (uint32_t)extra_len };
	} else if (extra_len) {
		memcpy(slot + VUF_SLOT_REQ + req_len, extra, extra_len);
		out[nout++] = (struct vuf_buf){
			gpa + VUF_SLOT_REQ + req_len, (uint32_t)extra_len,
		};
	}
	if (resp_len) {
		memset(slot + VUF_SLOT_RESP, 0, resp_len);
		in[nin++] = (struct vuf_buf){ gpa + VUF_SLOT_RESP, (uint32_t)resp_len };
	}
	head = vuf_vq_add(f, q, out, nout, in, nin);
	if (head >= 0 && (uint64_t)head * VUF_SLOT_SIZE + vq->drv.slots_gpa != gpa)
		return -EPROTO;	/* cannot happen: the head is the free head */
	return head;
}

int
vuf_gpu_submit(struct vuf *f, unsigned q, const void *req, size_t req_len,
	       const void *extra, size_t extra_len, size_t resp_len)
{
	return gpu_place(f, q, req, req_len, extra, extra_len, false, resp_len,
			 NULL);
}

void *
vuf_gpu_resp(struct vuf *f, unsigned q, unsigned head)
{
	uint8_t *slot = vuf_vq_slot(f, q, head, NULL);

	return slot ? slot + VUF_SLOT_RESP : NULL;
}

static int
gpu_exchange(struct vuf *f, unsigned q, const void *req, size_t req_len,
	     const void *extra, size_t extra_len, const struct fence *fence,
	     void *resp, size_t resp_len)
{
	struct vuf_vq *vq = drv_vq(f, q);
	bool bulk = req_len + extra_len > VUF_SLOT_REQ_CAP;
	unsigned got;
	uint32_t len;
	int head, ret;

	if (!vq)
		return -EINVAL;
	if (vq->drv.inflight)
		return -EBUSY;
	if (bulk) {
		if (extra_len > VUF_BULK_SIZE)
			return -E2BIG;
		if (!f->bulk)
			f->bulk = vuf_arena_alloc(f, &f->arena, VUF_BULK_SIZE,
						  4096, &f->bulk_gpa);
		if (!f->bulk)
			return -ENOSPC;
	}
	head = gpu_place(f, q, req, req_len, extra, extra_len, bulk, resp_len,
			 fence);
	if (head < 0)
		return head;
	ret = vuf_vq_kick(f, q);
	if (ret < 0)
		return ret;
	ret = vuf_vq_wait_used(f, q, &got, &len, -1);
	if (ret < 0)
		return ret;
	if (got != (unsigned)head)
		return -EPROTO;
	if (resp_len)
		memcpy(resp, vuf_gpu_resp(f, q, got), resp_len);
	return len > INT32_MAX ? INT32_MAX : (int)len;
}

int
vuf_gpu_cmd(struct vuf *f, const void *req, size_t req_len, const void *extra,
	    size_t extra_len, void *resp, size_t resp_len)
{
	return gpu_exchange(f, 0, req, req_len, extra, extra_len, NULL, resp,
			    resp_len);
}

int
vuf_gpu_cmd_fenced(struct vuf *f, const void *req, size_t req_len,
		   const void *extra, size_t extra_len, uint64_t fence_id,
		   uint32_t ctx_id, void *resp, size_t resp_len)
{
	struct fence fence = { .id = fence_id, .ctx_id = ctx_id };

	return gpu_exchange(f, 0, req, req_len, extra, extra_len, &fence, resp,
			    resp_len);
}

int
vuf_gpu_cmd_type(struct vuf *f, const void *req, size_t req_len,
		 const void *extra, size_t extra_len)
{
	struct virtio_gpu_ctrl_hdr h;
	int ret = vuf_gpu_cmd(f, req, req_len, extra, extra_len, &h, sizeof(h));

	if (ret < 0)
		return ret;
	if ((size_t)ret < sizeof(h))
		return -EPROTO;
	return (int)h.type;
}

int
vuf_gpu_cursor(struct vuf *f, const struct virtio_gpu_update_cursor *c)
{
	return gpu_exchange(f, 1, c, sizeof(*c), NULL, 0, NULL, NULL, 0);
}

int
vuf_gpu_create_2d(struct vuf *f, uint32_t id, uint32_t format, uint32_t width,
		  uint32_t height)
{
	struct virtio_gpu_resource_create_2d c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
		.resource_id = id,
		.format = format,
		.width = width,
		.height = height,
	};

	return vuf_gpu_cmd_type(f, &c, sizeof(c), NULL, 0);
}

int
vuf_gpu_unref(struct vuf *f, uint32_t id)
{
	struct virtio_gpu_resource_unref c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF,
		.resource_id = id,
	};

	return vuf_gpu_cmd_type(f, &c, sizeof(c), NULL, 0);
}

int
vuf_gpu_attach_backing(struct vuf *f, uint32_t id,
		       const struct virtio_gpu_mem_entry *ents, unsigned n)
{
	struct virtio_gpu_resource_attach_backing c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
		.resource_id = id,
		.nr_entries = n,
	};

	return vuf_gpu_cmd_type(f, &c, sizeof(c), ents, (size_t)n * sizeof(*ents));
}

int
vuf_gpu_detach_backing(struct vuf *f, uint32_t id)
{
	struct virtio_gpu_resource_detach_backing c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING,
		.resource_id = id,
	};

	return vuf_gpu_cmd_type(f, &c, sizeof(c), NULL, 0);
}

static struct virtio_gpu_rect
gpu_rect(struct vuf_rect r)
{
	return (struct virtio_gpu_rect){ r.x, r.y, r.width, r.height };
}

int
vuf_gpu_transfer_2d(struct vuf *f, uint32_t id, struct vuf_rect r,
		    uint64_t offset)
{
	struct virtio_gpu_transfer_to_host_2d c = {
		.hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
		.r = gpu_rect(r),
		.offset = offset,
		.resource_id = id,
	};

	return vuf_gpu_cmd_type(f, &c, sizeof(c), NULL, 0);
}

int
vuf_gpu_flush(struct vuf *f, uint32_t id, struct vuf_rect r)
{
	struct virtio_gpu_resource_flush c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH,
		.r = gpu_rect(r),
		.resource_id = id,
	};

	return vuf_gpu_cmd_type(f, &c, sizeof(c), NULL, 0);
}

int
vuf_gpu_set_scanout(struct vuf *f, uint32_t scanout, uint32_t id,
		    struct vuf_rect r)
{
	struct virtio_gpu_set_scanout c = {
		.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT,
		.r = gpu_rect(r),
		.scanout_id = scanout,
		.resource_id = id,
	};

	return vuf_gpu_cmd_type(f, &c, sizeof(c), NULL, 0);
}

/* ---- the display side ---- */

void
vuf_display_set_mode(struct vuf *f, unsigned scanout, uint32_t width,
		     uint32_t height, bool enabled)
{
	struct virtio_gpu_display_one *m;

	if (scanout >= VUF_MAX_SCANOUTS)
		return;
	m = &f->display.info.pmodes[scanout];
	m->r = (struct virtio_gpu_rect){ 0, 0, width, height };
	m->enabled = enabled;
	m->flags = 0;
}

int
vuf_display_set_edid(struct vuf *f, const void *edid, size_t size)
{
	if (size > sizeof(f->display.edid))
		return -EINVAL;
	memset(f->display.edid, 0, sizeof(f->display.edid));
	if (size)
		memcpy(f->display.edid, edid, size);
	f->display.edid_size = (uint32_t)size;
	return 0;
}

void
vuf_display_pause(struct vuf *f, bool paused)
{
	f->display.paused = paused;
}

int
vuf_display_wait(struct vuf *f, bool (*done)(struct vuf *f, void *arg),
		 void *arg, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_or_default(f, timeout_ms);

	for (;;) {
		int ret;

		if (done(f, arg))
			return 0;
		ret = wait_event(f, -1, deadline, -1);
		if (ret < 0)
			return ret;
	}
}

struct count_arg {
	uint32_t request;
	unsigned n;
};

static bool
count_reached(struct vuf *f, void *arg)
{
	const struct count_arg *a = arg;

	return f->display.count[a->request] >= a->n;
}

int
vuf_display_wait_count(struct vuf *f, uint32_t request, unsigned n,
		       int timeout_ms)
{
	struct count_arg a = { .request = request, .n = n };

	if (request >= VUF_DISPLAY_MSG_MAX)
		return -EINVAL;
	return vuf_display_wait(f, count_reached, &a, timeout_ms);
}

uint32_t
vuf_display_pixel(struct vuf *f, unsigned s, uint32_t x, uint32_t y)
{
	const struct vuf_scanout *so;

	if (s >= VUF_MAX_SCANOUTS)
		return 0;
	so = &f->display.scanout[s];
	if (x >= so->width || y >= so->height)
		return 0;
	return so->fb[(size_t)y * so->width + x];
}

int
vuf_display_send(struct vuf *f, uint32_t request, uint32_t flags,
		 const void *payload, uint32_t size)
{
	struct vu_hdr h = { .request = request, .flags = flags, .size = size };
	int64_t deadline = now_ms() + f->timeout_ms;
	int ret;

	if (f->display_fd < 0)
		return -ENOTCONN;
	trace_msg(f, "->", "display", &h, 0);
	ret = send_all(f->display_fd, &h, sizeof(h), NULL, 0, deadline);
	if (ret == 0 && size)
		ret = send_all(f->display_fd, payload, size, NULL, 0, deadline);
	return ret;
}

int
vuf_gpu_replace_socket(struct vuf *f, uint32_t flags, int *old_fd)
{
	int sv[2];
	int ret;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	*old_fd = f->display_fd;
	f->display_fd = -1;
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
