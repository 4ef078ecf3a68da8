/* glflip: a minimal GLES2 client on GBM/KMS, for the 3D end-to-end case.
 *
 * Built on the host against the host's libEGL/libGLESv2/libgbm/libdrm and run in the
 * guest chrooted into the host's userland (guest/hostroot), so that the GL driver is
 * the host's Mesa virgl driver (virtio_gpu_dri.so) talking to the guest's kernel.
 *
 * Each frame is four quadrants cleared with glClear under a scissor, in four distinct
 * colours whose channels all differ, plus a 32x32 white square 16 px from the top left
 * corner: a mirrored, flipped, channel-swapped or stale frame shows in a screendump.
 * Frame k rotates the quadrant colours by k.  Frame 0 is shown with SETCRTC, the rest
 * with page flips (waiting for each flip's event).
 *
 *   glflip [-D /dev/dri/card0] [-n FRAMES] [-s] [-H]
 *     -s  step: wait for a line on stdin after each frame
 *     -H  hold: wait for a line on stdin before exiting (the last frame stays up)
 *
 * Prints "RENDERER <GL_RENDERER>", "FRAME k tl=RRGGBB tr=... bl=... br=... via=V
 * size=WxH" per frame, "DONE frames=N", and "HOLD" before waiting with -H.
 */
#define _GNU_SOURCE
#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <GLES2/gl2.h>
#include <errno.h>
#include <fcntl.h>
#include <gbm.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

static const uint32_t palette[4] = { 0xd02040, 0x20d060, 0x4060d0, 0xe0c020 };

static void die(const char *what)
{
	fprintf(stderr, "glflip: %s (errno %d: %s, EGL 0x%x)\n", what, errno, strerror(errno),
		eglGetError());
	printf("GLFLIP-FAIL %s\n", what);
	fflush(stdout);
	exit(1);
}

static void wait_line(void)
{
	char buf[64];
	fflush(stdout);
	if (!fgets(buf, sizeof buf, stdin))
		exit(0);
}

static void clear_rect(int x, int y, int w, int h, uint32_t c)
{
	glScissor(x, y, w, h);
	glClearColor(((c >> 16) & 0xff) / 255.0f, ((c >> 8) & 0xff) / 255.0f,
		     (c & 0xff) / 255.0f, 1.0f);
	glClear(GL_COLOR_BUFFER_BIT);
}

static void flip_handler(int fd, unsigned seq, unsigned sec, unsigned usec, void *data)
{
	(void)fd; (void)seq; (void)sec; (void)usec;
	*(int *)data = 0;
}

static uint32_t fb_for(int fd, struct gbm_bo *bo)
{
	uint32_t id, handles[4] = { gbm_bo_get_handle(bo).u32 };
	uint32_t pitches[4] = { gbm_bo_get_stride(bo) }, offsets[4] = { 0 };
	if (drmModeAddFB2(fd, gbm_bo_get_width(bo), gbm_bo_get_height(bo),
			  gbm_bo_get_format(bo), handles, pitches, offsets, &id, 0) &&
	    drmModeAddFB(fd, gbm_bo_get_width(bo), gbm_bo_get_height(bo), 24, 32,
			 pitches[0], handles[0], &id))
		die("drmModeAddFB");
	return id;
}

int main(int argc, char **argv)
{
	const char *dev = "/dev/dri/card0";
	int frames = 1, step = 0, hold = 0, opt;
	while ((opt = getopt(argc, argv, "D:n:sH")) != -1) {
		switch (opt) {
		case 'D': dev = optarg; break;
		case 'n': frames = atoi(optarg); break;
		case 's': step = 1; break;
		case 'H': hold = 1; break;
		default:
			fprintf(stderr, "usage: glflip [-D DEV] [-n FRAMES] [-s] [-H]\n");
			return 2;
		}
	}
	if (frames < 1)
		frames = 1;

	int fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open the DRM device");
	drmModeRes *res = drmModeGetResources(fd);
	if (!res)
		die("drmModeGetResources");
	drmModeConnector *conn = NULL;
	for (int i = 0; i < res->count_connectors && !conn; i++) {
		conn = drmModeGetConnector(fd, res->connectors[i]);
		if (conn && (conn->connection != DRM_MODE_CONNECTED || !conn->count_modes)) {
			drmModeFreeConnector(conn);
			conn = NULL;
		}
	}
	if (!conn)
		die("no connected connector");
	drmModeModeInfo mode = conn->modes[0];
	for (int i = 0; i < conn->count_modes; i++)
		if (conn->modes[i].type & DRM_MODE_TYPE_PREFERRED) {
			mode = conn->modes[i];
			break;
		}
	uint32_t crtc = 0;
	drmModeEncoder *enc = conn->encoder_id ? drmModeGetEncoder(fd, conn->encoder_id) : NULL;
	if (enc && enc->crtc_id)
		crtc = enc->crtc_id;
	for (int i = 0; i < conn->count_encoders && !crtc; i++) {
		drmModeEncoder *e = drmModeGetEncoder(fd, conn->encoders[i]);
		for (int j = 0; e && j < res->count_crtcs && !crtc; j++)
			if (e->possible_crtcs & (1u << j))
				crtc = res->crtcs[j];
		drmModeFreeEncoder(e);
	}
	if (!crtc)
		die("no CRTC for the connector");
	int w = mode.hdisplay, h = mode.vdisplay;

	struct gbm_device *gbm = gbm_create_device(fd);
	if (!gbm)
		die("gbm_create_device");
	struct gbm_surface *gs = gbm_surface_create(gbm, w, h, GBM_FORMAT_XRGB8888,
						    GBM_BO_USE_SCANOUT | GBM_BO_USE_RENDERING);
	if (!gs)
		die("gbm_surface_create");

	PFNEGLGETPLATFORMDISPLAYEXTPROC get_display =
		(PFNEGLGETPLATFORMDISPLAYEXTPROC)eglGetProcAddress("eglGetPlatformDisplayEXT");
	EGLDisplay dpy = get_display ? get_display(EGL_PLATFORM_GBM_KHR, gbm, NULL)
				     : eglGetDisplay((EGLNativeDisplayType)gbm);
	EGLint major, minor;
	if (dpy == EGL_NO_DISPLAY || !eglInitialize(dpy, &major, &minor))
		die("eglInitialize");
	if (!eglBindAPI(EGL_OPENGL_ES_API))
		die("eglBindAPI");
	static const EGLint cattr[] = {
		EGL_SURFACE_TYPE, EGL_WINDOW_BIT, EGL_RED_SIZE, 8, EGL_GREEN_SIZE, 8,
		EGL_BLUE_SIZE, 8, EGL_RENDERABLE_TYPE, EGL_OPENGL_ES2_BIT, EGL_NONE
	};
	EGLConfig cfgs[256], cfg = NULL;
	EGLint n = 0;
	if (!eglChooseConfig(dpy, cattr, cfgs, 256, &n))
		die("eglChooseConfig");
	for (int i = 0; i < n && !cfg; i++) {
		EGLint vid;
		if (eglGetConfigAttrib(dpy, cfgs[i], EGL_NATIVE_VISUAL_ID, &vid) &&
		    (uint32_t)vid == GBM_FORMAT_XRGB8888)
			cfg = cfgs[i];
	}
	if (!cfg)
		die("no EGL config for XRGB8888");
	static const EGLint ctxattr[] = { EGL_CONTEXT_CLIENT_VERSION, 2, EGL_NONE };
	EGLContext ctx = eglCreateContext(dpy, cfg, EGL_NO_CONTEXT, ctxattr);
	if (ctx == EGL_NO_CONTEXT)
		die("eglCreateContext");
	EGLSurface surf = eglCreateWindowSurface(dpy, cfg, (EGLNativeWindowType)gs, NULL);
	if (surf == EGL_NO_SURFACE)
		die("eglCreateWindowSurface");
	if (!eglMakeCurrent(dpy, surf, surf, ctx))
		die("eglMakeCurrent");
	printf("RENDERER %s\n", (const char *)glGetString(GL_RENDERER));
	printf("VERSION %s\n", (const char *)glGetString(GL_VERSION));
	fflush(stdout);

	drmEventContext ev = { .version = 2, .page_flip_handler = flip_handler };
	struct gbm_bo *shown = NULL;
	uint32_t shown_fb = 0;
	glViewport(0, 0, w, h);
	glEnable(GL_SCISSOR_TEST);
	for (int k = 0; k < frames; k++) {
		uint32_t tl = palette[k % 4], tr = palette[(k + 1) % 4];
		uint32_t bl = palette[(k + 2) % 4], br = palette[(k + 3) % 4];
		/* GL's window origin is the bottom left. */
		clear_rect(0, h / 2, w / 2, h - h / 2, tl);
		clear_rect(w / 2, h / 2, w - w / 2, h - h / 2, tr);
		clear_rect(0, 0, w / 2, h / 2, bl);
		clear_rect(w / 2, 0, w - w / 2, h / 2, br);
		clear_rect(16, h - 16 - 32, 32, 32, 0xffffff);
		if (!eglSwapBuffers(dpy, surf))
			die("eglSwapBuffers");
		struct gbm_bo *bo = gbm_surface_lock_front_buffer(gs);
		if (!bo)
			die("gbm_surface_lock_front_buffer");
		uint32_t fb = fb_for(fd, bo);
		const char *via;
		if (!shown) {
			if (drmModeSetCrtc(fd, crtc, fb, 0, 0, &conn->connector_id, 1, &mode))
				die("drmModeSetCrtc");
			via = "setcrtc";
		} else {
			int pending = 1;
			if (drmModePageFlip(fd, crtc, fb, DRM_MODE_PAGE_FLIP_EVENT, &pending))
				die("drmModePageFlip");
			while (pending) {
				struct pollfd p = { .fd = fd, .events = POLLIN };
				if (poll(&p, 1, 5000) <= 0)
					die("no page flip event in 5 s");
				drmHandleEvent(fd, &ev);
			}
			via = "flip";
		}
		if (shown) {
			drmModeRmFB(fd, shown_fb);
			gbm_surface_release_buffer(gs, shown);
		}
		shown = bo;
		shown_fb = fb;
		printf("FRAME %d tl=%06x tr=%06x bl=%06x br=%06x via=%s size=%dx%d\n", k, tl, tr,
		       bl, br, via, w, h);
		if (step)
			wait_line();
	}
	printf("DONE frames=%d\n", frames);
	if (hold) {
		printf("HOLD\n");
		wait_line();
	}
	fflush(stdout);
	return 0;
}
