/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vugpu: a vhost-user virtio-gpu backend.
 *
 * The command line follows QEMU's vhost-user backend conventions
 * (docs/interop/vhost-user.rst, "Backend program conventions"), so that
 * QEMU and libvirt can start us the way they start QEMU's own backend.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/display.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/sock.h"
#include "core/vu.h"
#include "render/gpu.h"
#include "render/virgl.h"

#ifndef VUGPU_VERSION
#define VUGPU_VERSION "0.1.0"
#endif

#define EXIT_USAGE 2

struct options {
	const char *socket_path;
	int fd;
	bool keep_listening;
	int log_level;
	struct gpu_options gpu;
};

struct daemon {
	struct options opt;
	struct loop loop;
	struct vu_dev vu;
	struct gpu gpu;
	struct display display;
	bool stopping;
	int listen_fd;
	struct loop_op accept_op;
	int signal_fd;
	struct loop_op signal_op;
	struct signalfd_siginfo siginfo;
	struct loop_op renderer_op;	/* the renderer's fence fd */
	int status;		/* exit status */
};

static const char usage_text[] =
	"Usage: vugpu (-s PATH | -f FD) [OPTION]...\n"
	"A vhost-user virtio-gpu device backend.\n"
	"\n"
	"  -s, --socket-path=PATH   listen for the frontend on PATH\n"
	"  -f, --fd=FD              serve the frontend on an inherited socket\n"
	"      --keep-listening     with -s: after a frontend leaves, wait for\n"
	"                           the next one (with fresh device state)\n"
	"  -v, --virgl              3D acceleration through virglrenderer\n"
	"  -r, --render-node=PATH   render 3D on this DRM render node (default:\n"
	"                           the first one; none: software EGL)\n"
	"      --surfaceless        render 3D on EGL surfaceless even where\n"
	"                           there is a render node\n"
	"      --max-hostmem=SIZE   memory for guest resources (default 256M;\n"
	"                           suffixes K, M, G)\n"
	"  -l, --log-level=LEVEL    error, warn, info (default) or debug\n"
	"  -c, --print-capabilities print the vhost-user capabilities (JSON)\n"
	"  -h, --help               print this help\n"
	"  -V, --version            print the version\n"
	"\n"
	"Logs go to stderr, or to syslog when stderr is /dev/null.\n";

static int
usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "vugpu: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (try --help)\n");
	return EXIT_USAGE;
}

/* "256M" and friends; 0 if malformed. */
static uint64_t
parse_size(const char *s)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end || v > (UINT64_MAX >> shift))
		return 0;
	return (uint64_t)v << shift;
}

/* render-node is listed only where there is one: libvirt refuses to
 * start a domain whose backend asks for a node the host lacks. */
static bool
host_has_render_node(void)
{
	DIR *d = opendir("/dev/dri");
	struct dirent *e;
	bool found = false;

	if (!d)
		return false;
	while (!found && (e = readdir(d)))
		found = strncmp(e->d_name, "renderD", 7) == 0;
	closedir(d);
	return found;
}

static void
print_capabilities(void)
{
	const char *sep = "";

	printf("{\"type\": \"gpu\", \"features\": [");
	if (host_has_render_node()) {
		printf("\"render-node\"");
		sep = ", ";
	}
	if (virgl_available())
		printf("%s\"virgl\"", sep);
	printf("]}\n");
}

/* 0 to go on, or an exit status (done, or bad usage). */
static int
parse_args(int argc, char **argv, struct options *o, bool *exit_now)
{
	enum { OPT_KEEP_LISTENING = 256, OPT_MAX_HOSTMEM, OPT_SURFACELESS };
	static const struct option longopts[] = {
		{ "socket-path", required_argument, NULL, 's' },
		{ "fd", required_argument, NULL, 'f' },
		{ "keep-listening", no_argument, NULL, OPT_KEEP_LISTENING },
		{ "max-hostmem", required_argument, NULL, OPT_MAX_HOSTMEM },
		{ "surfaceless", no_argument, NULL, OPT_SURFACELESS },
		{ "render-node", required_argument, NULL, 'r' },
		{ "virgl", no_argument, NULL, 'v' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "print-capabilities", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*exit_now = false;
	o->fd = -1;
	o->log_level = LOG_LVL_INFO;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:f:r:vl:chV", longopts, NULL)) != -1) {
		char *end;
		long v;

		switch (c) {
		case 's':
			o->socket_path = optarg;
			break;
		case 'f':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 0 || v > INT_MAX)
				return usage_error("--fd: not a file descriptor: '%s'",
						   optarg);
			o->fd = (int)v;
			break;
		case OPT_KEEP_LISTENING:
			o->keep_listening = true;
			break;
		case OPT_SURFACELESS:
			o->gpu.surfaceless = true;
			break;
		case OPT_MAX_HOSTMEM:
			o->gpu.max_hostmem = parse_size(optarg);
			if (!o->gpu.max_hostmem)
				return usage_error("--max-hostmem: not a size: '%s'",
						   optarg);
			break;
		case 'r':
			o->gpu.render_node = optarg;
			break;
		case 'v':
			if (!virgl_available())
				return usage_error("%s", "--virgl: this vugpu was built "
						   "without 3D (configure --disable-virgl)");
			o->gpu.virgl = true;
			break;
		case 'l':
			o->log_level = log_level_parse(optarg);
			if (o->log_level < 0)
				return usage_error("--log-level: unknown level '%s'",
						   optarg);
			break;
		case 'c':
			print_capabilities();
			*exit_now = true;
			return 0;
		case 'h':
			fputs(usage_text, stdout);
			*exit_now = true;
			return 0;
		case 'V':
			printf("vugpu %s\n", VUGPU_VERSION);
			*exit_now = true;
			return 0;
		case ':':
			return usage_error("option '%s' needs an argument",
					   argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->socket_path == (o->fd < 0))
		return usage_error("%s", "give exactly one of --socket-path and --fd");
	if (o->keep_listening && !o->socket_path)
		return usage_error("%s", "--keep-listening needs --socket-path");
	return 0;
}

/* ---------- what the device model needs from us ---------- */

static struct vring_queue *
host_queue_ring(void *h, unsigned q)
{
	struct daemon *d = h;

	return vu_queue_ring(&d->vu, q);
}

static const struct memmap *
host_memory(void *h)
{
	struct daemon *d = h;

	return &d->vu.mem;
}

static void
host_queue_flush(void *h, unsigned q)
{
	struct daemon *d = h;

	vu_queue_flush(&d->vu, q);
}

static void
host_queue_fail(void *h, unsigned q)
{
	struct daemon *d = h;

	vu_queue_fail(&d->vu, q);
}

static void
host_display_attach(void *h, int fd)
{
	struct daemon *d = h;

	display_attach(&d->display, fd);
}

static int
host_display_send(void *h, const struct iovec *iov, unsigned niov,
		  unsigned by_ref)
{
	struct daemon *d = h;

	return display_send(&d->display, iov, niov, by_ref);
}

static bool
host_display_drained(void *h)
{
	struct daemon *d = h;

	return display_drained(&d->display);
}

static void
host_display_abort(void *h)
{
	struct daemon *d = h;

	display_abort(&d->display);
}

static void
renderer_handle_ready(struct loop_op *op, int res, unsigned flags)
{
	struct daemon *d = container_of(op, struct daemon, renderer_op);

	if (res < 0) {
		if (res != -ECANCELED)
			log_error("renderer fence fd: %s", strerror(-res));
		return;
	}
	gpu_renderer_poll(&d->gpu);
	/* A multishot poll that ended (no F_MORE) is armed again. */
	if (!(flags & IORING_CQE_F_MORE) && !d->stopping)
		loop_poll_multi(&d->loop, &d->renderer_op,
				virgl_poll_fd(), POLLIN);
}

static int
host_watch_fd(void *h, int fd)
{
	struct daemon *d = h;

	loop_op_init(&d->renderer_op, renderer_handle_ready);
	loop_poll_multi(&d->loop, &d->renderer_op, fd, POLLIN);
	return 0;
}

static const struct gpu_host_ops gpu_host = {
	.queue_ring = host_queue_ring,
	.memory = host_memory,
	.queue_flush = host_queue_flush,
	.queue_fail = host_queue_fail,
	.display_attach = host_display_attach,
	.display_send = host_display_send,
	.display_abort = host_display_abort,
	.display_drained = host_display_drained,
	.watch_fd = host_watch_fd,
};

static void
display_handle_sent(void *data)
{
	struct daemon *d = data;

	gpu_display_sent(&d->gpu);
}

static void
display_handle_input(void *data, const struct display_hdr *hdr,
		     const void *payload)
{
	struct daemon *d = data;

	gpu_display_input(&d->gpu, hdr, payload);
}

static void
display_handle_lost(void *data)
{
	struct daemon *d = data;

	gpu_display_lost(&d->gpu);
}

static void
display_handle_prepare(void *data, const void *p, size_t len)
{
	struct daemon *d = data;

	gpu_display_prepare(&d->gpu, p, len);
}

static void
display_handle_stalled(void *data)
{
	struct daemon *d = data;

	gpu_display_stalled(&d->gpu);
}

static const struct display_cb display_cb = {
	.sent = display_handle_sent,
	.input = display_handle_input,
	.lost = display_handle_lost,
	.prepare = display_handle_prepare,
	.stalled = display_handle_stalled,
};

/* ---------- frontends and signals ---------- */

static void
accept_start(struct daemon *d)
{
	loop_accept(&d->loop, &d->accept_op, d->listen_fd);
}

static void
daemon_handle_accept(struct loop_op *op, int res, unsigned flags)
{
	struct daemon *d = container_of(op, struct daemon, accept_op);

	if (d->stopping || res == -ECANCELED) {
		if (res >= 0)
			close(res);
		return;
	}
	if (res == -EINTR || res == -EAGAIN || res == -ECONNABORTED) {
		accept_start(d);
		return;
	}
	if (res < 0) {
		log_error("accepting a frontend: %s", strerror(-res));
		d->status = EXIT_FAILURE;
		loop_stop(&d->loop);
		return;
	}
	log_info("frontend connected");
	vu_dev_attach(&d->vu, res);
}

static void
daemon_handle_closed(struct vu_dev *vu, void *data)
{
	struct daemon *d = data;

	if (d->opt.keep_listening && !d->stopping) {
		accept_start(d);
		return;
	}
	loop_stop(&d->loop);
}

static void
daemon_handle_signal(struct loop_op *op, int res, unsigned flags)
{
	struct daemon *d = container_of(op, struct daemon, signal_op);

	if (res == (int)sizeof(d->siginfo)) {
		log_info("signal %u: exiting", d->siginfo.ssi_signo);
		loop_stop(&d->loop);
		return;
	}
	if (res != -EINTR && res != -EAGAIN)
		return;
	loop_read(&d->loop, &d->signal_op, d->signal_fd, &d->siginfo,
		  sizeof(d->siginfo));
}

static int
signals_init(struct daemon *d)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	d->signal_fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (d->signal_fd < 0)
		return -errno;
	loop_op_init(&d->signal_op, daemon_handle_signal);
	loop_read(&d->loop, &d->signal_op, d->signal_fd, &d->siginfo,
		  sizeof(d->siginfo));
	return 0;
}

static int
frontend_init(struct daemon *d)
{
	if (d->opt.socket_path) {
		d->listen_fd = sock_listen(d->opt.socket_path);
		if (d->listen_fd < 0) {
			log_error("cannot listen on %s: %s", d->opt.socket_path,
				  strerror(-d->listen_fd));
			return d->listen_fd;
		}
		log_info("listening on %s", d->opt.socket_path);
		loop_op_init(&d->accept_op, daemon_handle_accept);
		accept_start(d);
		return 0;
	}
	if (!sock_is_stream(d->opt.fd)) {
		log_error("--fd %d is not a stream socket", d->opt.fd);
		return -ENOTSOCK;
	}
	fcntl(d->opt.fd, F_SETFD, FD_CLOEXEC);
	vu_dev_attach(&d->vu, d->opt.fd);
	return 0;
}

int
main(int argc, char **argv)
{
	static struct daemon d;	/* large (guest memory table): not on the stack */
	bool exit_now;
	int ret;

	ret = parse_args(argc, argv, &d.opt, &exit_now);
	if (ret || exit_now)
		return ret;
	log_init(d.opt.log_level, LOG_TARGET_AUTO);
	if (d.opt.fd >= 0 && !sock_is_stream(d.opt.fd)) {
		log_error("--fd %d is not a stream socket", d.opt.fd);
		return EXIT_FAILURE;
	}
	d.listen_fd = -1;
	d.signal_fd = -1;
	d.status = EXIT_SUCCESS;

	ret = loop_init(&d.loop, 256);
	if (ret < 0) {
		log_error("io_uring: %s", strerror(-ret));
		return EXIT_FAILURE;
	}
	display_init(&d.display, &d.loop, &display_cb, &d);
	if (gpu_init(&d.gpu, &d.opt.gpu, &gpu_host, &d) < 0) {
		log_error("out of memory");
		loop_finish(&d.loop);
		return EXIT_FAILURE;
	}
	vu_dev_init(&d.vu, &d.loop, &gpu_vu_ops, &d.gpu, daemon_handle_closed, &d);
	/* The renderer starts before anyone is served: if it cannot, say
	 * why and exit, as the backend conventions ask. */
	if (d.opt.gpu.virgl) {
		const char *why = "";

		ret = gpu_start_virgl(&d.gpu, &why);
		if (ret < 0) {
			log_error("--virgl: %s: %s", why, strerror(-ret));
			d.status = EXIT_FAILURE;
			goto out_loop;
		}
	}

	ret = signals_init(&d);
	if (ret < 0) {
		log_error("signals: %s", strerror(-ret));
		d.status = EXIT_FAILURE;
		goto out_loop;
	}
	ret = frontend_init(&d);
	if (ret < 0) {
		d.status = EXIT_FAILURE;
		goto out_signals;
	}

	ret = loop_run(&d.loop);
	if (ret < 0) {
		log_error("event loop: %s", strerror(-ret));
		d.status = EXIT_FAILURE;
	}

	d.stopping = true;
	vu_dev_detach(&d.vu);
	if (d.listen_fd >= 0)
		unlink(d.opt.socket_path);
out_signals:
	/* Everything still in flight is cancelled and completes, so its
	 * owner can free it; only then do the fds and buffers go. */
	loop_drain(&d.loop);
	if (d.listen_fd >= 0)
		close(d.listen_fd);
	if (d.signal_fd >= 0)
		close(d.signal_fd);
out_loop:
	loop_finish(&d.loop);
	display_finish(&d.display);
	gpu_finish(&d.gpu);
	log_finish();
	return d.status;
}
