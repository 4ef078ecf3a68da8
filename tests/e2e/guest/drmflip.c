/* drmflip: show known frames on /dev/dri/card0 with dumb buffers and page flips. */
/*
 * A static guest program for the end-to-end tests; raw ioctls only (no libdrm).
 *
 *   drmflip [-l] [-m WxH] [-n FLIPS] [-a RRGGBB] [-b RRGGBB] [-f 0|1] [-s] [-H]
 *
 *   -l        list the connected connector's modes and exit
 *   -m WxH    use this mode from the connector's list (default: the preferred one)
 *   -n FLIPS  flip between the two buffers this many times (default 4)
 *   -a, -b    the two buffers' colours (default ff0000 and 0000ff)
 *   -f 0|1    the buffer left on screen at the end (default: where the flips end)
 *   -s        step: after each frame is on screen, print "FRAME k ..." and wait for
 *             a line on stdin before the next one (the harness screendumps meanwhile)
 *   -H        hold: print "HOLD" and wait for a line on stdin before exiting (the
 *             buffer stays on screen until then; on exit fbcon takes the screen back)
 *
 * Each buffer is its colour with two markers: a 64x64 white square at (32,32) and a
 * 64x64 green (00ff00) square whose far corner is 32 pixels from the bottom right.
 * Output lines are "key=value" words so the harness can parse them.
 */
#include <drm/drm.h>
#include <drm/drm_mode.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_MODES 256

struct buf {
	uint32_t handle, fb_id, pitch, color;
	uint64_t size;
	uint32_t *map;
};

static int fd = -1;

static void
die(const char *what)
{
	printf("ERROR %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static int
xioctl(unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && (errno == EINTR || errno == EAGAIN));
	return r;
}

static void
fill(struct buf *b, uint32_t w, uint32_t h, uint32_t x0, uint32_t y0, uint32_t rw,
     uint32_t rh, uint32_t color)
{
	for (uint32_t y = y0; y < y0 + rh && y < h; y++) {
		uint32_t *row = (uint32_t *)((char *)b->map + (uint64_t)y * b->pitch);
		for (uint32_t x = x0; x < x0 + rw && x < w; x++)
			row[x] = color;
	}
}

static void
dirty(struct buf *b)
{
	struct drm_mode_fb_dirty_cmd d = { .fb_id = b->fb_id };

	/* No clips: the whole framebuffer. ENOSYS means the driver needs none. */
	if (xioctl(DRM_IOCTL_MODE_DIRTYFB, &d) < 0 && errno != ENOSYS)
		printf("WARN dirtyfb fb=%u: %s\n", b->fb_id, strerror(errno));
}

static void
make_buf(struct buf *b, uint32_t w, uint32_t h, uint32_t color)
{
	struct drm_mode_create_dumb c = { .height = h, .width = w, .bpp = 32 };
	struct drm_mode_fb_cmd f = { 0 };
	struct drm_mode_map_dumb m = { 0 };

	if (xioctl(DRM_IOCTL_MODE_CREATE_DUMB, &c) < 0)
		die("create_dumb");
	b->handle = c.handle;
	b->pitch = c.pitch;
	b->size = c.size;
	b->color = color;
	f.width = w;
	f.height = h;
	f.pitch = c.pitch;
	f.bpp = 32;
	f.depth = 24;
	f.handle = c.handle;
	if (xioctl(DRM_IOCTL_MODE_ADDFB, &f) < 0)
		die("addfb");
	b->fb_id = f.fb_id;
	m.handle = c.handle;
	if (xioctl(DRM_IOCTL_MODE_MAP_DUMB, &m) < 0)
		die("map_dumb");
	b->map = mmap(NULL, c.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, m.offset);
	if (b->map == MAP_FAILED)
		die("mmap");
	fill(b, w, h, 0, 0, w, h, color);
	fill(b, w, h, 32, 32, 64, 64, 0xffffff);
	if (w >= 96 && h >= 96)
		fill(b, w, h, w - 96, h - 96, 64, 64, 0x00ff00);
}

static void
free_buf(struct buf *b)
{
	struct drm_mode_destroy_dumb d = { .handle = b->handle };

	munmap(b->map, b->size);
	xioctl(DRM_IOCTL_MODE_RMFB, &b->fb_id);
	xioctl(DRM_IOCTL_MODE_DESTROY_DUMB, &d);
}

/* Wait for one flip-complete event, at most timeout_ms. */
static int
wait_flip(int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char ev[1024];
	ssize_t n;

	for (;;) {
		int r = poll(&p, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ETIMEDOUT;
		n = read(fd, ev, sizeof(ev));
		if (n < 0)
			return -errno;
		for (ssize_t off = 0; off + (ssize_t)sizeof(struct drm_event) <= n;) {
			struct drm_event *e = (struct drm_event *)(ev + off);
			if (e->type == DRM_EVENT_FLIP_COMPLETE)
				return 0;
			if (e->length == 0)
				break;
			off += e->length;
		}
	}
}

static void
wait_line(void)
{
	char line[256];

	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return;
}

static uint32_t
parse_color(const char *s)
{
	return (uint32_t)strtoul(s, NULL, 16) & 0xffffff;
}

int
main(int argc, char **argv)
{
	uint32_t want_w = 0, want_h = 0, colors[2] = { 0xff0000, 0x0000ff };
	int flips = 4, final = -1, step = 0, hold = 0, list = 0, opt;
	struct drm_mode_card_res res = { 0 };
	uint32_t conn_ids[32], crtc_ids[32], enc_ids[32];
	struct drm_mode_modeinfo modes[MAX_MODES], mode;
	struct drm_mode_get_connector conn = { 0 };
	uint32_t crtc_id = 0, conn_id = 0;
	struct buf bufs[2];
	int nmodes = 0, use_flip = 1, cur;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "lm:n:a:b:f:sH")) != -1) {
		switch (opt) {
		case 'l': list = 1; break;
		case 'm':
			if (sscanf(optarg, "%ux%u", &want_w, &want_h) != 2) {
				fprintf(stderr, "bad mode %s\n", optarg);
				return 2;
			}
			break;
		case 'n': flips = atoi(optarg); break;
		case 'a': colors[0] = parse_color(optarg); break;
		case 'b': colors[1] = parse_color(optarg); break;
		case 'f': final = atoi(optarg) & 1; break;
		case 's': step = 1; break;
		case 'H': hold = 1; break;
		default:
			fprintf(stderr, "usage: drmflip [-l] [-m WxH] [-n FLIPS] [-a RRGGBB] "
				"[-b RRGGBB] [-f 0|1] [-s] [-H]\n");
			return 2;
		}
	}

	fd = open("/dev/dri/card0", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open /dev/dri/card0");

	res.connector_id_ptr = (uintptr_t)conn_ids;
	res.crtc_id_ptr = (uintptr_t)crtc_ids;
	res.encoder_id_ptr = (uintptr_t)enc_ids;
	res.count_connectors = 32;
	res.count_crtcs = 32;
	res.count_encoders = 32;
	if (xioctl(DRM_IOCTL_MODE_GETRESOURCES, &res) < 0)
		die("getresources");
	if (res.count_connectors > 32 || res.count_crtcs > 32 || res.count_encoders > 32) {
		printf("ERROR too many objects\n");
		return 1;
	}

	for (uint32_t i = 0; i < res.count_connectors && !conn_id; i++) {
		uint32_t encs[32];
		struct drm_mode_get_encoder enc = { 0 };

		memset(&conn, 0, sizeof(conn));
		conn.connector_id = conn_ids[i];
		conn.modes_ptr = (uintptr_t)modes;
		conn.count_modes = MAX_MODES;
		conn.encoders_ptr = (uintptr_t)encs;
		conn.count_encoders = 32;
		if (xioctl(DRM_IOCTL_MODE_GETCONNECTOR, &conn) < 0)
			die("getconnector");
		if (conn.connection != 1 || conn.count_modes == 0)
			continue;
		nmodes = conn.count_modes < MAX_MODES ? conn.count_modes : MAX_MODES;
		enc.encoder_id = conn.encoder_id ? conn.encoder_id : encs[0];
		if (xioctl(DRM_IOCTL_MODE_GETENCODER, &enc) < 0)
			die("getencoder");
		crtc_id = enc.crtc_id;
		for (uint32_t c = 0; !crtc_id && c < res.count_crtcs; c++)
			if (enc.possible_crtcs & (1u << c))
				crtc_id = crtc_ids[c];
		conn_id = conn_ids[i];
	}
	if (!conn_id || !crtc_id) {
		printf("ERROR no connected connector with a CRTC\n");
		return 1;
	}

	if (list) {
		for (int i = 0; i < nmodes; i++)
			printf("MODE %ux%u@%u%s\n", modes[i].hdisplay, modes[i].vdisplay,
			       modes[i].vrefresh,
			       modes[i].type & DRM_MODE_TYPE_PREFERRED ? " preferred" : "");
		return 0;
	}

	mode = modes[0];
	for (int i = 0; i < nmodes; i++)
		if (modes[i].type & DRM_MODE_TYPE_PREFERRED) {
			mode = modes[i];
			break;
		}
	if (want_w) {
		int found = 0;
		for (int i = 0; i < nmodes && !found; i++)
			if (modes[i].hdisplay == want_w && modes[i].vdisplay == want_h) {
				mode = modes[i];
				found = 1;
			}
		if (!found) {
			printf("ERROR mode %ux%u not offered\n", want_w, want_h);
			return 1;
		}
	}
	printf("CONNECTOR id=%u crtc=%u modes=%d mode=%ux%u\n", conn_id, crtc_id, nmodes,
	       mode.hdisplay, mode.vdisplay);

	for (int i = 0; i < 2; i++) {
		make_buf(&bufs[i], mode.hdisplay, mode.vdisplay, colors[i]);
		printf("BUFFER %d fb=%u pitch=%u color=%06x\n", i, bufs[i].fb_id,
		       bufs[i].pitch, colors[i]);
	}

	struct drm_mode_crtc set = {
		.set_connectors_ptr = (uintptr_t)&conn_id,
		.count_connectors = 1,
		.crtc_id = crtc_id,
		.fb_id = bufs[0].fb_id,
		.mode_valid = 1,
		.mode = mode,
	};
	if (xioctl(DRM_IOCTL_MODE_SETCRTC, &set) < 0)
		die("setcrtc");
	dirty(&bufs[0]);
	cur = 0;
	printf("FRAME 0 buf=0 color=%06x via=setcrtc size=%ux%u\n", colors[0],
	       mode.hdisplay, mode.vdisplay);
	if (step)
		wait_line();

	if (final < 0)
		final = flips & 1;
	int total = flips + (((flips & 1) != final) ? 1 : 0);
	for (int k = 1; k <= total; k++) {
		int next = cur ^ 1;
		const char *via = "pageflip";

		if (use_flip) {
			struct drm_mode_crtc_page_flip pf = {
				.crtc_id = crtc_id,
				.fb_id = bufs[next].fb_id,
				.flags = DRM_MODE_PAGE_FLIP_EVENT,
				.user_data = k,
			};
			if (xioctl(DRM_IOCTL_MODE_PAGE_FLIP, &pf) < 0) {
				printf("WARN page_flip: %s; using setcrtc\n", strerror(errno));
				use_flip = 0;
			} else {
				int r = wait_flip(5000);
				if (r < 0) {
					errno = -r;
					die("flip event");
				}
			}
		}
		if (!use_flip) {
			via = "setcrtc";
			set.fb_id = bufs[next].fb_id;
			if (xioctl(DRM_IOCTL_MODE_SETCRTC, &set) < 0)
				die("setcrtc");
		}
		dirty(&bufs[next]);
		cur = next;
		printf("FRAME %d buf=%d color=%06x via=%s size=%ux%u\n", k, cur, colors[cur],
		       via, mode.hdisplay, mode.vdisplay);
		if (step)
			wait_line();
	}
	printf("DONE frames=%d final=%d color=%06x via=%s\n", total + 1, cur, colors[cur],
	       use_flip ? "pageflip" : "setcrtc");
	if (hold) {
		printf("HOLD\n");
		wait_line();
	}
	for (int i = 0; i < 2; i++)
		free_buf(&bufs[i]);
	close(fd);
	return 0;
}
