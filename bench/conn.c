/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One backend under test: process, handshake, guest memory, the display
 * socket and the wait that serves them all (see conn.h).
 *
 * Security model: the backend under test is not trusted to behave.
 * Display messages are bounded (a payload is parsed only up to its fixed
 * part, pixels land only inside the surface, the rest is dropped), used
 * entries are checked against what was placed, and every wait has a
 * deadline, so a broken backend fails the run with a reason instead of
 * hanging or crashing it.
 */
#include "bench/conn.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>

#include <linux/virtio_gpu.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define REGION_SIZE (32u << 20)	/* two such regions, QEMU's layout */
#define DPY_BUF (256u << 10)	/* display staging buffer */
#define FB_MAX_PIXELS (16384u * 16384u)
#define RESP_LEN ((uint32_t)sizeof(struct virtio_gpu_ctrl_hdr))

enum { DS_HDR, DS_HEAD, DS_UPDATE, DS_SKIP };

uint64_t
bc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Say what failed in c->why; returns -errno. */
static int __attribute__((format(printf, 3, 4)))
fail(struct bconn *c, int err, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(c->why, sizeof(c->why), "%s: %s", what, strerror(err < 0 ? -err : err));
	return err < 0 ? err : -err;
}

/* ---- the frame pattern ---- */

/* A fixed pseudo-random image, computed once: frames are it xor a key, so
 * that drawing and checking a frame cost a pass over memory each. */
static uint32_t *base_image;

static uint32_t
hash_xy(uint32_t x, uint32_t y)
{
	uint32_t h = x * 0x9e3779b1u ^ (y + 0x7f4a7c15u) * 0x85ebca77u;

	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	return h & 0xffffff;
}

static const uint32_t *
base(void)
{
	if (!base_image) {
		base_image = malloc(BC_FB_BYTES);
		if (!base_image)
			return NULL;
		for (uint32_t y = 0; y < BC_FB_H; y++)
			for (uint32_t x = 0; x < BC_FB_W; x++)
				base_image[y * BC_FB_W + x] = hash_xy(x, y);
	}
	return base_image;
}

uint32_t
bc_pattern(uint32_t x, uint32_t y, uint32_t key)
{
	return (hash_xy(x, y) ^ key) & 0xffffff;
}

void
bc_fb_draw_frame(struct bconn *c, uint32_t key)
{
	const uint32_t *b = base();
	uint32_t k = key | 0xff000000u;

	for (uint32_t i = 0; i < BC_FB_PAGES; i++) {
		uint32_t *dst = (uint32_t *)(c->fb_pages + (size_t)c->perm[i] * BC_PAGE);
		const uint32_t *src = b + (size_t)i * (BC_PAGE / 4);

		for (unsigned j = 0; j < BC_PAGE / 4; j++)
			dst[j] = src[j] ^ k;
	}
}

void
bc_fb_fill(struct bconn *c, struct bc_rect r, uint32_t color)
{
	for (uint32_t y = r.y; y < r.y + r.h; y++) {
		uint64_t off = (uint64_t)y * BC_FB_STRIDE + (uint64_t)r.x * 4;
		uint64_t len = (uint64_t)r.w * 4;

		while (len) {
			uint64_t in_page = BC_PAGE - off % BC_PAGE;
			uint64_t n = len < in_page ? len : in_page;
			uint32_t *p = (uint32_t *)bc_fb_byte(c, off);

			for (uint64_t i = 0; i < n / 4; i++)
				p[i] = color;
			off += n;
			len -= n;
		}
	}
}

uint32_t
bc_pixel(const struct bconn *c, uint32_t x, uint32_t y)
{
	if (x >= c->d.width || y >= c->d.height || !c->d.fb)
		return 0xffffffffu;
	return c->d.fb[(size_t)y * c->d.width + x] & 0xffffff;
}

/* ---- /proc ---- */

static int
read_small(const char *path, char *buf, size_t cap)
{
	FILE *fp = fopen(path, "re");
	size_t n;

	if (!fp)
		return -errno;
	n = fread(buf, 1, cap - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return (int)n;
}

int
bc_proc_sample(int pid, struct bc_proc *p)
{
	char path[320], buf[4096];
	struct dirent *de;
	DIR *dir;

	*p = (struct bc_proc){ 0 };
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		unsigned long long v;
		char *s;

		if (de->d_name[0] == '.')
			continue;
		/* schedstat's first field: on-CPU nanoseconds, exact where
		 * stat's utime+stime count 10 ms ticks. */
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", pid,
			 de->d_name);
		if (read_small(path, buf, sizeof(buf)) > 0 &&
		    sscanf(buf, "%llu", &v) == 1)
			p->cpu_ns += v;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/status", pid,
			 de->d_name);
		if (read_small(path, buf, sizeof(buf)) <= 0)
			continue;
		if ((s = strstr(buf, "\nvoluntary_ctxt_switches:")) &&
		    sscanf(s + 25, "%llu", &v) == 1)
			p->ctx += v;
		if ((s = strstr(buf, "\nnonvoluntary_ctxt_switches:")) &&
		    sscanf(s + 28, "%llu", &v) == 1)
			p->ctx += v;
	}
	closedir(dir);
	return 0;
}

uint64_t
bc_self_cpu_ns(void)
{
	char buf[256];
	unsigned long long v;

	if (read_small("/proc/thread-self/schedstat", buf, sizeof(buf)) <= 0 ||
	    sscanf(buf, "%llu", &v) != 1)
		return 0;
	return v;
}

long
bc_proc_hwm_kb(int pid)
{
	char path[64], buf[4096];
	const char *s;
	long kb;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return -ENOENT;
	s = strstr(buf, "\nVmHWM:");
	if (!s || sscanf(s + 7, "%ld", &kb) != 1)
		return -ENOENT;
	return kb;
}

int
bc_proc_reset_hwm(int pid)
{
	char path[64];
	FILE *fp;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", pid);
	fp = fopen(path, "we");
	if (!fp)
		return -errno;
	if (fputs("5", fp) < 0)
		ret = -EIO;
	if (fclose(fp) != 0 && ret == 0)
		ret = -errno;
	return ret;
}

/* ---- the display socket ---- */

/* Bytes of a message's payload parsed into head[]; the rest is dropped. */
static size_t
fixed_part(uint32_t request, uint32_t size)
{
	size_t want = request == BC_DPY_UPDATE ? 20 :
		      request == BC_DPY_CURSOR_UPDATE ? 20 : 64;

	return size < want ? size : want;
}

static void
dpy_reply(struct bconn *c, uint32_t request, const void *payload,
	  uint32_t size)
{
	/* A reply is small and the backend waits for it: the socket has
	 * room; vuf_display_send() bounds the wait all the same. */
	if (vuf_display_send(&c->f, request, VU_FLAG_REPLY, payload, size) < 0)
		c->d.malformed++;
}

static void
dpy_scanout(struct bconn *c, uint32_t id, uint32_t w, uint32_t h)
{
	struct bc_display *d = &c->d;
	uint64_t px = (uint64_t)w * h;

	if (id != 0)
		return;
	d->width = d->height = 0;
	if (px == 0)
		return;
	if (px > FB_MAX_PIXELS) {
		d->malformed++;
		return;
	}
	if (px > d->fb_cap) {
		uint32_t *fb = realloc(d->fb, px * 4);

		if (!fb) {
			d->malformed++;
			return;
		}
		d->fb = fb;
		d->fb_cap = px;
	}
	memset(d->fb, 0, px * 4);
	d->width = w;
	d->height = h;
}

static uint32_t
head32(const struct bc_display *d, unsigned i)
{
	uint32_t v = 0;

	if ((i + 1) * 4 <= d->head_len)
		memcpy(&v, d->head + i * 4, 4);
	return v;
}

/* The whole message is in: act on it. */
static void
dpy_complete(struct bconn *c)
{
	struct bc_display *d = &c->d;
	uint32_t req = d->hdr.request;

	d->count[req < BC_DPY_MAX ? req : 0]++;
	switch (req) {
	case BC_DPY_GET_PROTOCOL_FEATURES:
		dpy_reply(c, req, &c->f.display_protocol_features, 8);
		break;
	case BC_DPY_GET_DISPLAY_INFO:
		c->f.display.info.hdr.type = VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
		dpy_reply(c, req, &c->f.display.info, sizeof(c->f.display.info));
		break;
	case BC_DPY_GET_EDID: {
		struct virtio_gpu_resp_edid e = {
			.hdr.type = VIRTIO_GPU_RESP_OK_EDID,
			.size = c->f.display.edid_size,
		};

		/* QEMU never answers for a scanout it does not have. */
		if (d->head_len < 4 || head32(d, 0) >= c->f.display.max_outputs)
			break;
		memcpy(e.edid, c->f.display.edid, sizeof(c->f.display.edid));
		dpy_reply(c, req, &e, sizeof(e));
		break;
	}
	case BC_DPY_DMABUF_UPDATE:
		dpy_reply(c, req, NULL, 0);
		break;
	case BC_DPY_SCANOUT:
		if (d->head_len >= 12)
			dpy_scanout(c, head32(d, 0), head32(d, 1), head32(d, 2));
		break;
	case BC_DPY_CURSOR_POS:
	case BC_DPY_CURSOR_POS_HIDE:
	case BC_DPY_CURSOR_UPDATE:
		if (d->head_len >= 12) {
			d->cursor_x = head32(d, 1);
			d->cursor_y = head32(d, 2);
		}
		d->cursor_msgs++;
		d->t_cursor = bc_now_ns();
		break;
	case BC_DPY_UPDATE:
		d->updates++;
		d->update_bytes += d->hdr.size - 20;
		d->last_update = d->u;
		d->t_update = bc_now_ns();
		break;
	default:
		break;
	}
	d->state = DS_HDR;
	d->head_len = 0;
}

/* The fixed part of the payload is in head[]. */
static void
dpy_head_done(struct bconn *c)
{
	struct bc_display *d = &c->d;

	if (d->hdr.request == BC_DPY_UPDATE) {
		uint64_t data = (uint64_t)d->hdr.size - 20;

		d->u_scanout = head32(d, 0);
		d->u = (struct bc_rect){ head32(d, 1), head32(d, 2),
					 head32(d, 3), head32(d, 4) };
		if (d->head_len < 20 ||
		    (uint64_t)d->u.w * d->u.h * 4 != data) {
			d->malformed++;
			d->state = d->skip ? DS_SKIP : DS_HDR;
			if (!d->skip)
				dpy_complete(c);
			return;
		}
		d->u_pos = 0;
		d->u_left = data;
		d->skip = 0;
		d->state = DS_UPDATE;
		if (!data)
			dpy_complete(c);
		return;
	}
	if (d->skip) {
		d->state = DS_SKIP;
		return;
	}
	dpy_complete(c);
}

static void
dpy_header_done(struct bconn *c)
{
	struct bc_display *d = &c->d;

	memcpy(&d->hdr, d->head, sizeof(d->hdr));
	d->head_len = 0;
	d->head_want = fixed_part(d->hdr.request, d->hdr.size);
	d->skip = d->hdr.size - d->head_want;
	d->state = DS_HEAD;
	if (d->head_want == 0)
		dpy_head_done(c);
}

/* True when the UPDATE being received can go straight into the surface:
 * whole rows of scanout 0, inside it. */
static bool
upd_direct(const struct bc_display *d)
{
	return d->u_scanout == 0 && d->fb && d->u.x == 0 &&
	       d->u.w == d->width && (uint64_t)d->u.y + d->u.h <= d->height;
}

/* Pixels of the UPDATE being received, clipped to the surface. */
static void
upd_take(struct bc_display *d, const uint8_t *src, size_t n)
{
	uint64_t row_bytes = (uint64_t)d->u.w * 4;

	while (n) {
		uint64_t row = d->u_pos / row_bytes, col = d->u_pos % row_bytes;
		uint64_t take = row_bytes - col < n ? row_bytes - col : n;
		uint64_t sy = (uint64_t)d->u.y + row;
		uint64_t sx = (uint64_t)d->u.x * 4 + col;	/* bytes */

		if (d->u_scanout == 0 && d->fb && sy < d->height &&
		    sx < (uint64_t)d->width * 4) {
			uint64_t room = (uint64_t)d->width * 4 - sx;

			memcpy((uint8_t *)d->fb + sy * d->width * 4 + sx, src,
			       take < room ? take : room);
		}
		src += take;
		n -= take;
		d->u_pos += take;
		d->u_left -= take;
	}
}

/* Parse what the staging buffer holds. */
static void
dpy_consume(struct bconn *c)
{
	struct bc_display *d = &c->d;

	while (d->buf_off < d->buf_len) {
		const uint8_t *p = d->buf + d->buf_off;
		size_t avail = d->buf_len - d->buf_off, n;

		switch (d->state) {
		case DS_HDR:
			n = sizeof(d->hdr) - d->head_len;
			n = n < avail ? n : avail;
			memcpy(d->head + d->head_len, p, n);
			d->head_len += n;
			if (d->head_len == sizeof(d->hdr))
				dpy_header_done(c);
			break;
		case DS_HEAD:
			n = d->head_want - d->head_len;
			n = n < avail ? n : avail;
			memcpy(d->head + d->head_len, p, n);
			d->head_len += n;
			if (d->head_len == d->head_want)
				dpy_head_done(c);
			break;
		case DS_UPDATE:
			n = d->u_left < avail ? (size_t)d->u_left : avail;
			upd_take(d, p, n);
			if (!d->u_left)
				dpy_complete(c);
			break;
		default:	/* DS_SKIP */
			n = d->skip < avail ? (size_t)d->skip : avail;
			d->skip -= n;
			if (!d->skip)
				dpy_complete(c);
			break;
		}
		d->buf_off += n;
	}
	d->buf_off = d->buf_len = 0;
}

/* Read everything the display socket holds now. */
static int
dpy_pump(struct bconn *c)
{
	struct bc_display *d = &c->d;

	if (d->fd < 0 || d->closed)
		return 0;
	for (;;) {
		ssize_t n;

		if (d->state == DS_UPDATE && upd_direct(d)) {
			uint8_t *dst = (uint8_t *)d->fb +
				       (size_t)d->u.y * d->width * 4 + d->u_pos;

			n = recv(d->fd, dst, d->u_left, MSG_DONTWAIT);
			if (n > 0) {
				d->u_pos += (uint64_t)n;
				d->u_left -= (uint64_t)n;
				d->bytes += (uint64_t)n;
				if (!d->u_left)
					dpy_complete(c);
				continue;
			}
		} else {
			n = recv(d->fd, d->buf, DPY_BUF, MSG_DONTWAIT);
			if (n > 0) {
				d->buf_len = (size_t)n;
				d->buf_off = 0;
				d->bytes += (uint64_t)n;
				dpy_consume(c);
				continue;
			}
		}
		if (n == 0) {
			d->closed = true;
			return -EPIPE;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		return -errno;
	}
	d->readable = false;
	return 0;
}

/* ---- used entries and waiting ---- */

unsigned
bc_inflight(const struct bconn *c, unsigned q)
{
	return c->f.vq[q].drv.inflight;
}

static bool
used_pending(struct bconn *c, unsigned q)
{
	return c->f.vq[q].num &&
	       vuf_vq_used_idx(&c->f, q) != c->f.vq[q].drv.last_used;
}

static void
take_used(struct bconn *c, unsigned q)
{
	uint64_t now = 0;
	unsigned head;
	uint32_t len;

	while (vuf_vq_get_used(&c->f, q, &head, &len) == 0) {
		if (!now)
			now = bc_now_ns();
		c->completed[q]++;
		c->t_used[q] = now;
		if (q != 0 || head >= BC_RING_MAX || !c->expect[head])
			continue;
		{
			const struct virtio_gpu_ctrl_hdr *h = vuf_gpu_resp(&c->f, 0, head);
			uint32_t type = h && len >= RESP_LEN ? le32toh(h->type) : 0;

			if (type != c->expect[head]) {
				c->bad_resp++;
				c->bad_type = type;
				c->bad_cmd = c->cmd_type[head];
			}
		}
		c->expect[head] = 0;
	}
}

static bool
nothing_inflight(struct bconn *c, void *arg)
{
	(void)arg;
	return bc_inflight(c, 0) == 0 && bc_inflight(c, 1) == 0;
}

int
bc_wait(struct bconn *c, bc_done_fn *done, void *arg, int timeout_ms)
{
	uint64_t deadline = bc_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct vuf *f = &c->f;

	if (!done)
		done = nothing_inflight;
	for (;;) {
		struct pollfd pfd[5] = {
			{ .fd = f->vq[0].call_fd, .events = POLLIN },
			{ .fd = f->vq[1].call_fd, .events = POLLIN },
			{ .fd = c->d.closed ? -1 : c->d.fd, .events = POLLIN },
			{ .fd = f->err_fd, .events = POLLIN },
			{ .fd = f->pidfd, .events = POLLIN },
		};
		uint64_t now;
		int ret, ms;

		take_used(c, 0);
		take_used(c, 1);
		/* Only when poll said so: a read that finds nothing costs a
		 * system call on every wake-up. */
		ret = c->d.readable ? dpy_pump(c) : 0;
		if (ret < 0)
			return fail(c, ret, "%s: the display socket", c->name);
		if (done(c, arg))
			return 0;
		/* used_event already asks for the next entry (taking one
		 * moves it); an entry published before that store was seen
		 * would not notify, so look once more after a full fence. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (used_pending(c, 0) || used_pending(c, 1))
			continue;
		now = bc_now_ns();
		if (now >= deadline) {
			snprintf(c->why, sizeof(c->why),
				 "%s: timed out (%u + %u chains in flight, "
				 "%llu display messages)", c->name,
				 bc_inflight(c, 0), bc_inflight(c, 1),
				 (unsigned long long)(c->d.count[BC_DPY_UPDATE] +
						      c->d.cursor_msgs));
			return -ETIMEDOUT;
		}
		ms = (int)((deadline - now + 999999) / 1000000);
		ret = poll(pfd, ARRAY_SIZE(pfd), ms);
		if (ret < 0 && errno != EINTR)
			return fail(c, -errno, "%s: poll", c->name);
		if (ret <= 0)
			continue;
		if (pfd[2].revents)
			c->d.readable = true;
		if (pfd[0].revents)
			vuf_vq_calls(f, 0);
		if (pfd[1].revents)
			vuf_vq_calls(f, 1);
		if (pfd[3].revents)
			vuf_drain_stderr(f);
		if (pfd[4].revents && !vuf_alive(f)) {
			vuf_drain_stderr(f);
			snprintf(c->why, sizeof(c->why),
				 "%s: the backend exited (wait status %d); "
				 "stderr: %.300s", c->name, f->status, f->err);
			return -ECHILD;
		}
	}
}

int
bc_settle(struct bconn *c, int quiet_ms)
{
	uint64_t deadline = bc_now_ns() + 10000000000ull;

	for (;;) {
		struct pollfd p = { .fd = c->d.fd, .events = POLLIN };
		int ret = bc_wait(c, NULL, NULL, 10000);

		if (ret < 0)
			return ret;
		if (c->d.closed)
			return 0;
		ret = poll(&p, 1, quiet_ms);
		if (ret == 0)
			return 0;
		c->d.readable = true;
		if (bc_now_ns() > deadline) {
			snprintf(c->why, sizeof(c->why),
				 "%s: the display never went quiet", c->name);
			return -ETIMEDOUT;
		}
	}
}

/* ---- commands ---- */

static void
note_cmd(struct bconn *c, int head, const void *req, uint32_t expect)
{
	const struct virtio_gpu_ctrl_hdr *h = req;

	if (head < 0 || head >= BC_RING_MAX)
		return;
	c->expect[head] = expect;
	c->cmd_type[head] = le32toh(h->type);
}

int
bc_submit_extra(struct bconn *c, const void *req, size_t len,
		const void *extra, size_t extra_len, uint32_t expect)
{
	int head = vuf_gpu_submit(&c->f, 0, req, len, extra, extra_len, RESP_LEN);

	note_cmd(c, head, req, expect);
	return head;
}

int
bc_submit(struct bconn *c, const void *req, size_t len, uint32_t expect)
{
	return bc_submit_extra(c, req, len, NULL, 0, expect);
}

int
bc_submit_cursor(struct bconn *c, const void *req, size_t len)
{
	return vuf_gpu_submit(&c->f, 1, req, len, NULL, 0, 0);
}

int
bc_kick(struct bconn *c, unsigned q)
{
	int ret = vuf_vq_kick(&c->f, q);

	return ret < 0 ? ret : 0;
}

int
bc_cmd(struct bconn *c, const void *req, size_t len, uint32_t expect)
{
	int ret = bc_submit(c, req, len, expect);

	if (ret < 0)
		return fail(c, ret, "%s: placing a command", c->name);
	ret = bc_kick(c, 0);
	if (ret < 0)
		return fail(c, ret, "%s: kick", c->name);
	ret = bc_wait(c, NULL, NULL, 10000);
	if (ret < 0)
		return ret;
	if (c->bad_resp) {
		snprintf(c->why, sizeof(c->why),
			 "%s: command 0x%x answered 0x%x", c->name, c->bad_cmd,
			 c->bad_type);
		return -EPROTO;
	}
	return 0;
}

static struct virtio_gpu_rect
grect(struct bc_rect r)
{
	return (struct virtio_gpu_rect){
		htole32(r.x), htole32(r.y), htole32(r.w), htole32(r.h),
	};
}

int
bc_transfer(struct bconn *c, uint32_t res, struct bc_rect r, uint64_t offset)
{
	struct virtio_gpu_transfer_to_host_2d t = {
		.hdr.type = htole32(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D),
		.r = grect(r),
		.offset = htole64(offset),
		.resource_id = htole32(res),
	};

	return bc_submit(c, &t, sizeof(t), VIRTIO_GPU_RESP_OK_NODATA);
}

int
bc_flush(struct bconn *c, uint32_t res, struct bc_rect r)
{
	struct virtio_gpu_resource_flush fl = {
		.hdr.type = htole32(VIRTIO_GPU_CMD_RESOURCE_FLUSH),
		.r = grect(r),
		.resource_id = htole32(res),
	};

	return bc_submit(c, &fl, sizeof(fl), VIRTIO_GPU_RESP_OK_NODATA);
}

int
bc_set_scanout(struct bconn *c, uint32_t res)
{
	struct virtio_gpu_set_scanout so = {
		.hdr.type = htole32(VIRTIO_GPU_CMD_SET_SCANOUT),
		.r = grect((struct bc_rect){ 0, 0, BC_FB_W, BC_FB_H }),
		.scanout_id = 0,
		.resource_id = htole32(res),
	};

	return bc_cmd(c, &so, sizeof(so), VIRTIO_GPU_RESP_OK_NODATA);
}

int
bc_cursor_cmd(struct bconn *c, uint32_t type, uint32_t x, uint32_t y)
{
	/* Linux keeps resource_id in its MOVE_CURSOR too; QEMU's backend
	 * hides the cursor on a move without one. */
	struct virtio_gpu_update_cursor u = {
		.hdr.type = htole32(type),
		.pos = { .scanout_id = 0, .x = htole32(x), .y = htole32(y) },
		.resource_id = htole32(BC_RES_CURSOR),
		.hot_x = htole32(1),
		.hot_y = htole32(1),
	};

	return bc_submit_cursor(c, &u, sizeof(u));
}

/* ATTACH_BACKING with an entry list of any length: the entries live in
 * guest memory of their own, the request and response in the head's
 * slot, as vuf_gpu_submit() lays them out. */
static int
attach(struct bconn *c, uint32_t res, const struct virtio_gpu_mem_entry *ents,
       unsigned n)
{
	struct virtio_gpu_resource_attach_backing a = {
		.hdr.type = htole32(VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING),
		.resource_id = htole32(res),
		.nr_entries = htole32(n),
	};
	struct vuf *f = &c->f;
	struct vuf_buf out[2], in[1];
	uint64_t slot_gpa, ents_gpa;
	void *ents_mem;
	uint8_t *slot;
	int head, ret;

	ents_mem = vuf_arena_alloc(f, &f->arena, (uint64_t)n * sizeof(*ents), 16,
				   &ents_gpa);
	slot = vuf_vq_slot(f, 0, f->vq[0].drv.free_head, &slot_gpa);
	if (!ents_mem || !slot)
		return fail(c, -ENOMEM, "%s: guest memory for ATTACH_BACKING",
			    c->name);
	memcpy(ents_mem, ents, (size_t)n * sizeof(*ents));
	memcpy(slot + VUF_SLOT_REQ, &a, sizeof(a));
	memset(slot + VUF_SLOT_RESP, 0, RESP_LEN);
	out[0] = (struct vuf_buf){ slot_gpa + VUF_SLOT_REQ, sizeof(a) };
	out[1] = (struct vuf_buf){ ents_gpa, (uint32_t)(n * sizeof(*ents)) };
	in[0] = (struct vuf_buf){ slot_gpa + VUF_SLOT_RESP, RESP_LEN };
	head = vuf_vq_add(f, 0, out, 2, in, 1);
	if (head < 0)
		return fail(c, head, "%s: placing ATTACH_BACKING", c->name);
	note_cmd(c, head, &a, VIRTIO_GPU_RESP_OK_NODATA);
	ret = bc_kick(c, 0);
	if (ret == 0)
		ret = bc_wait(c, NULL, NULL, 10000);
	if (ret == 0 && c->bad_resp) {
		snprintf(c->why, sizeof(c->why), "%s: ATTACH_BACKING answered 0x%x",
			 c->name, c->bad_type);
		ret = -EPROTO;
	}
	return ret;
}

static int
create_2d(struct bconn *c, uint32_t id, uint32_t format, uint32_t w,
	  uint32_t h)
{
	struct virtio_gpu_resource_create_2d r = {
		.hdr.type = htole32(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D),
		.resource_id = htole32(id),
		.format = htole32(format),
		.width = htole32(w),
		.height = htole32(h),
	};

	return bc_cmd(c, &r, sizeof(r), VIRTIO_GPU_RESP_OK_NODATA);
}

/* ---- the backend process ---- */

void
bc_init(struct bconn *c, const char *name, const char *cmd, unsigned ring)
{
	memset(c, 0, sizeof(*c));
	vuf_init(&c->f);
	c->name = name;
	c->cmd = cmd;
	c->ring = ring;
	c->d.fd = -1;
}

int
bc_pid(const struct bconn *c)
{
	return c->f.pid > 0 && c->f.status < 0 ? (int)c->f.pid : -1;
}

/* The vugpu in the bench's own directory (build/), else the configured
 * path (the VUGPU_BIN macro). */
static const char *
vugpu_next_to_us(void)
{
	static char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 8);
	char *slash;

	if (n <= 0)
		return NULL;
	path[n] = '\0';
	slash = strrchr(path, '/');
	if (!slash)
		return NULL;
	strcpy(slash + 1, "vugpu");
	return access(path, X_OK) == 0 ? path : NULL;
}

static int
spawn(struct bconn *c)
{
	char buf[1024];
	const char *args[VUF_MAX_ARGS];
	unsigned n = 0;
	char *save = NULL, *tok;
	const char *bin;
	int ret;

	if (c->cmd) {
		if ((size_t)snprintf(buf, sizeof(buf), "%s", c->cmd) >= sizeof(buf))
			return fail(c, -E2BIG, "%s", "backend command");
		for (tok = strtok_r(buf, " \t", &save); tok && n < VUF_MAX_ARGS - 8;
		     tok = strtok_r(NULL, " \t", &save))
			args[n++] = tok;
		if (n == 0)
			return fail(c, -EINVAL, "%s", "empty backend command");
		bin = args[0];
	} else {
		bin = vugpu_next_to_us();
		args[n++] = NULL;	/* placeholder for argv[0] */
	}
	for (unsigned i = 0; c->extra && c->extra[i] && n < VUF_MAX_ARGS - 4; i++)
		args[n++] = c->extra[i];
	args[n] = NULL;
	/* vuf_spawn_fd() runs vuf_daemon_path(): $VUGPU_BIN or the macro. */
	if (bin)
		setenv("VUGPU_BIN", bin, 1);
	else
		unsetenv("VUGPU_BIN");
	ret = vuf_spawn_fd(&c->f, args + 1);
	if (ret < 0)
		return fail(c, ret, "%s: starting the backend", c->name);
	return 0;
}

/* Shuffle the framebuffer's pages (Fisher-Yates, fixed seed): adjacent
 * pages of the resource are almost never adjacent in guest memory. */
static int
fb_backing(struct bconn *c)
{
	struct virtio_gpu_mem_entry *ents;
	uint64_t s = 0x853c49e6748fea9bull;
	int ret;

	c->perm = malloc(BC_FB_PAGES * sizeof(*c->perm));
	ents = malloc(BC_FB_PAGES * sizeof(*ents));
	if (!c->perm || !ents) {
		free(ents);
		return fail(c, -ENOMEM, "%s", "page list");
	}
	for (uint32_t i = 0; i < BC_FB_PAGES; i++)
		c->perm[i] = i;
	for (uint32_t i = BC_FB_PAGES - 1; i > 0; i--) {
		uint32_t j, t;

		s = s * 6364136223846793005ull + 1442695040888963407ull;
		j = (uint32_t)((s >> 33) % (i + 1));
		t = c->perm[i];
		c->perm[i] = c->perm[j];
		c->perm[j] = t;
	}
	for (uint32_t i = 0; i < BC_FB_PAGES; i++)
		ents[i] = (struct virtio_gpu_mem_entry){
			.addr = htole64(c->fb_pages_gpa + (uint64_t)c->perm[i] * BC_PAGE),
			.length = htole32(BC_PAGE),
		};
	ret = attach(c, BC_RES_FB, ents, BC_FB_PAGES);
	free(ents);
	return ret;
}

static int
small_backing(struct bconn *c, uint32_t id, uint8_t **mem)
{
	struct virtio_gpu_mem_entry e;
	uint64_t gpa;

	*mem = vuf_arena_alloc(&c->f, &c->f.arena, 64 * 64 * 4, BC_PAGE, &gpa);
	if (!*mem)
		return fail(c, -ENOMEM, "%s", "guest memory");
	e = (struct virtio_gpu_mem_entry){
		.addr = htole64(gpa), .length = htole32(64 * 64 * 4),
	};
	return attach(c, id, &e, 1);
}

static bool
cursor_seen(struct bconn *c, void *arg)
{
	return c->d.cursor_msgs > 0 && nothing_inflight(c, arg);
}

int
bc_start(struct bconn *c, uint32_t key)
{
	struct vuf *f = &c->f;
	const struct bc_rect full = { 0, 0, BC_FB_W, BC_FB_H };
	const struct bc_rect c64 = { 0, 0, 64, 64 };
	int ret;

	if (!base())
		return fail(c, -ENOMEM, "%s", "frame pattern");
	ret = spawn(c);
	if (ret < 0)
		return ret;
	ret = vuf_gpu_memory(f, REGION_SIZE, VUF_REGION1_GPA, c->ring);
	if (ret < 0)
		return fail(c, ret, "%s: guest memory", c->name);
	vuf_display_set_mode(f, 0, BC_FB_W, BC_FB_H, true);
	ret = vuf_qemu_handshake(f, VUF_QEMU_10_0);
	if (ret < 0) {
		vuf_drain_stderr(f);
		snprintf(c->why, sizeof(c->why),
			 "%s: QEMU 10 handshake: %s; stderr: %.300s", c->name,
			 strerror(-ret), f->err);
		return ret;
	}
	/* From here on the display socket is ours (vuf_serve() left it at
	 * a message boundary). */
	f->serve = false;
	c->d.fd = f->display_fd;
	c->d.readable = true;
	c->d.buf = malloc(DPY_BUF);
	if (!c->d.buf)
		return fail(c, -ENOMEM, "%s", "display buffer");

	c->fb_pages = vuf_arena_alloc(f, &f->arena, (uint64_t)BC_FB_PAGES * BC_PAGE,
				      BC_PAGE, &c->fb_pages_gpa);
	if (!c->fb_pages)
		return fail(c, -ENOMEM, "%s", "guest memory for the framebuffer");
	if ((ret = create_2d(c, BC_RES_FB, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
			     BC_FB_W, BC_FB_H)) < 0 ||
	    (ret = fb_backing(c)) < 0 ||
	    (ret = create_2d(c, BC_RES_SMALL, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
			     64, 64)) < 0 ||
	    (ret = small_backing(c, BC_RES_SMALL, &c->small)) < 0 ||
	    (ret = create_2d(c, BC_RES_CURSOR, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM,
			     64, 64)) < 0 ||
	    (ret = small_backing(c, BC_RES_CURSOR, &c->cursor)) < 0)
		return ret;
	for (unsigned i = 0; i < 64 * 64; i++) {
		((uint32_t *)c->cursor)[i] = 0xff000000u | (i * 0x010203u);
		((uint32_t *)c->small)[i] = 0xff000000u | hash_xy(i, 7);
	}
	/* The frame goes in before the scanout is set, so that whatever a
	 * backend sends for SET_SCANOUT already shows it. */
	bc_fb_draw_frame(c, key);
	if ((ret = bc_transfer(c, BC_RES_FB, full, 0)) < 0 ||
	    (ret = bc_transfer(c, BC_RES_SMALL, c64, 0)) < 0 ||
	    (ret = bc_transfer(c, BC_RES_CURSOR, c64, 0)) < 0 ||
	    (ret = bc_kick(c, 0)) < 0)
		return fail(c, ret, "%s: placing the first transfers", c->name);
	if ((ret = bc_wait(c, NULL, NULL, 10000)) < 0)
		return ret;
	if ((ret = bc_set_scanout(c, BC_RES_FB)) < 0)
		return ret;
	if ((ret = bc_flush(c, BC_RES_FB, full)) < 0 || (ret = bc_kick(c, 0)) < 0)
		return fail(c, ret, "%s: flush", c->name);
	if ((ret = bc_cursor_cmd(c, VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 0)) < 0 ||
	    (ret = bc_kick(c, 1)) < 0)
		return fail(c, ret, "%s: cursor", c->name);
	ret = bc_wait(c, cursor_seen, NULL, 10000);
	if (ret == 0)
		ret = bc_settle(c, 50);
	if (ret < 0)
		return ret;
	if (c->bad_resp) {
		snprintf(c->why, sizeof(c->why), "%s: command 0x%x answered 0x%x",
			 c->name, c->bad_cmd, c->bad_type);
		return -EPROTO;
	}
	if (c->d.width != BC_FB_W || c->d.height != BC_FB_H) {
		snprintf(c->why, sizeof(c->why),
			 "%s: the display shows %ux%u after SET_SCANOUT, not %ux%u",
			 c->name, c->d.width, c->d.height, BC_FB_W, BC_FB_H);
		return -EPROTO;
	}
	for (uint32_t y = 0; y < BC_FB_H; y++)
		for (uint32_t x = 0; x < BC_FB_W; x++)
			if (bc_pixel(c, x, y) != bc_pattern(x, y, key)) {
				snprintf(c->why, sizeof(c->why),
					 "%s: first frame: pixel (%u,%u) is %06x, "
					 "not %06x", c->name, x, y, bc_pixel(c, x, y),
					 bc_pattern(x, y, key));
				return -EPROTO;
			}
	return 0;
}

void
bc_stop(struct bconn *c)
{
	if (c->f.pid > 0) {
		vuf_hangup(&c->f);
		vuf_wait_exit(&c->f, 1000);
	}
	vuf_finish(&c->f);
	c->d.fd = -1;
	free(c->d.fb);
	free(c->d.buf);
	free(c->perm);
	c->d.fb = NULL;
	c->d.buf = NULL;
	c->perm = NULL;
}
