"""End-to-end cases: each boots its own guest and bounds its own time."""

import os
import re
import signal
import time

from e2e import E2EError, Guest, T_BOOT, T_CMD, T_EXIT, hexc

BLACK = 0x000000

# Rectangles painted through /dev/fb0: distinct colours whose channels all differ, so a
# swapped or dropped channel shows.
RECTS = [
    (100, 100, 200, 120, 0xff0000),
    (340, 100, 200, 120, 0x00ff00),
    (580, 100, 200, 120, 0x0000ff),
    (100, 260, 680, 60, 0x123456),
]


def rect_check(rects, background=None):
    def check(img):
        for x, y, w, h, c in rects:
            bad = img.mismatches(x, y, w, h, c)
            if bad:
                got = sorted(img.colors(x, y, w, h).items(), key=lambda kv: -kv[1])[:3]
                return "%d pixels of %dx%d+%d+%d are not %s (seen: %s)" % (
                    bad, w, h, x, y, hexc(c), ", ".join("%s x%d" % (hexc(k), n) for k, n in got))
            if background is not None:
                # A one-pixel frame around the rectangle must be the background: the
                # rectangle is where it should be and no bigger.
                for fx, fy, fw, fh in ((x - 1, y - 1, w + 2, 1), (x - 1, y + h, w + 2, 1),
                                       (x - 1, y, 1, h), (x + w, y, 1, h)):
                    bad = img.mismatches(fx, fy, fw, fh, background)
                    if bad:
                        return "%d pixels around %dx%d+%d+%d are not the background %s" % (
                            bad, w, h, x, y, hexc(background))
        return None
    return check


def exit_status(rc):
    if rc < 0:
        try:
            return "was killed by %s" % signal.Signals(-rc).name
        except ValueError:
            return "was killed by signal %d" % -rc
    return "exited with status %d" % rc


def boot(ctx, **kw):
    g = Guest(ctx.logdir, ctx.e2e_dir, **kw)
    ctx.guest = g
    g.start()
    g.wait_ready()
    ctx.note("boot %.1f s (guest uptime %.1f s)" % (g.boot_time, g.guest_uptime))
    return g


def fill_rects(g, rects):
    for x, y, w, h, c in rects:
        g.sh("fbfill %d %d %d %d %06x" % (x, y, w, h, c))


def display_case(device, conn):
    """The fbdev path: rectangles painted on /dev/fb0 appear, exactly, where painted."""
    def case(ctx):
        g = boot(ctx, device=device, conn=conn)
        if g.fb is None:
            raise E2EError("guest reported no /dev/fb0 geometry")
        g.wait_screen(lambda img: None if (img.width, img.height) == g.fb else
                      "size %dx%d, guest fb %dx%d" % (img.width, img.height, *g.fb),
                      "the guest's framebuffer size %dx%d" % g.fb)
        fill_rects(g, RECTS)
        g.wait_screen(rect_check(RECTS, BLACK), "the painted rectangles")
    case.__doc__ = "%s, backend --%s: rectangles on /dev/fb0 show exactly" % (
        device, "socket-path" if conn == "socket" else "fd")
    return case


def case_console_text(ctx):
    """fbcon text: a row of '#' in the default grey, a row of '@' in bright red."""
    g = boot(ctx, device="vhost-user-gpu-pci", conn="fd")
    rows, cols = g.tty
    w, h = g.fb
    cw, ch = w // cols, h // rows
    n = min(cols - 4, 100)
    # Rows 5 and 7 (1-based), from column 3.  \033[1;31m is bright red: fbcon's palette
    # gives 0xff5555; the default colour 7 is 0xaaaaaa; the background is black.
    g.sh("printf '\\033[2J\\033[5;3H%s\\033[7;3H\\033[1;31m%s\\033[0m' > /dev/tty1"
         % ("#" * n, "@" * n))
    band = lambda row: (2 * cw, (row - 1) * ch, n * cw, ch)

    def check(img):
        for row, fg, glyph in ((5, 0xaaaaaa, "#"), (7, 0xff5555, "@")):
            x, y, bw, bh = band(row)
            hist = img.colors(x, y, bw, bh)
            total = bw * bh
            lit = hist.get(fg, 0)
            other = total - lit - hist.get(BLACK, 0)
            if other:
                return "row %d has %d pixels neither %s nor black" % (row, other, hexc(fg))
            if not 0.10 * total < lit < 0.70 * total:
                return "row %d has %d of %d pixels %s" % (row, lit, total, hexc(fg))
            # Every character cell has ink: the whole string was drawn.
            for i in range(n):
                if not img.colors(x + i * cw, y, cw, bh).get(fg):
                    return "row %d: cell %d ('%s') is empty" % (row, i + 3, glyph)
        # Everything else on the first 10 rows is the background.
        for row in (1, 2, 3, 4, 6, 8, 9, 10):
            bad = img.mismatches(0, (row - 1) * ch, w, ch, BLACK)
            if bad:
                return "row %d has %d non-background pixels" % (row, bad)
        return None
    g.wait_screen(check, "the console text")
    ctx.note("font %dx%d, %d x '#' and '@'" % (cw, ch, n))


def case_reboot(ctx):
    """`reboot -f`: the second boot's display works (the backend gets a new socket)."""
    g = boot(ctx, device="vhost-user-gpu-pci", conn="socket", reboot=True)
    first = [(120, 120, 160, 100, 0xff8000)]
    fill_rects(g, first)
    g.wait_screen(rect_check(first, BLACK), "the first boot's rectangle")
    g.send("reboot -f\n")
    t0 = time.monotonic()
    g.wait_ready(T_BOOT)
    ctx.note("reboot %.1f s" % (time.monotonic() - t0))
    if g.be.poll() is not None:
        raise E2EError("the backend exited across the reboot (%s)" % exit_status(g.be.returncode))
    second = [(400, 300, 200, 150, 0x00c0ff)]
    fill_rects(g, second)
    # The first boot's rectangle must be gone: the new frame is the second boot's.
    g.wait_screen(rect_check(second + [(120, 120, 160, 100, BLACK)], BLACK),
                  "the second boot's rectangle")


def case_drm_flip(ctx):
    """A DRM client flipping dumb buffers: each frame shows, in order."""
    g = boot(ctx, device="vhost-user-gpu-pci", conn="fd")
    a, b = 0xc02030, 0x3040d0
    cmd = g.start_cmd("drmflip -s -n 4 -a %06x -b %06x" % (a, b))
    seen = []
    for k in range(5):
        m = g.expect(r"FRAME (\d+) buf=(\d) color=([0-9a-f]{6}) via=(\w+) size=(\d+)x(\d+)\r?\n",
                     T_CMD, "drmflip's FRAME %d" % k)
        if int(m.group(1)) != k:
            raise E2EError("drmflip printed frame %s, expected %d" % (m.group(1), k))
        color, w, h = int(m.group(3), 16), int(m.group(5)), int(m.group(6))
        if color != (a if k % 2 == 0 else b):
            raise E2EError("frame %d has colour %06x" % (k, color))
        # The buffer: its colour, a white square at (32,32), green near the bottom right.
        frame = [(200, 200, 64, 64, color), (w // 2 - 32, h // 2 - 32, 64, 64, color),
                 (32, 32, 64, 64, 0xffffff), (w - 96, h - 96, 64, 64, 0x00ff00),
                 (0, 0, w, 16, color)]
        def check(img, frame=frame, w=w, h=h):
            if (img.width, img.height) != (w, h):
                return "size %dx%d, not %dx%d" % (img.width, img.height, w, h)
            return rect_check(frame)(img)
        g.wait_screen(check, "frame %d (%06x via %s)" % (k, color, m.group(4).decode()))
        seen.append("%06x" % color)
        g.send("\n")
    m = g.expect(r"DONE frames=(\d+) final=(\d) color=([0-9a-f]{6}) via=(\w+)", T_CMD,
                 "drmflip's DONE")
    g.wait_cmd(cmd)
    # Free-running: 60 flips as fast as the flip events come back, ending on buffer b.
    t0 = time.monotonic()
    cmd = g.start_cmd("drmflip -n 60 -a %06x -b %06x -f 1 -H" % (b, a))
    m = g.expect(r"DONE frames=(\d+) final=1 color=([0-9a-f]{6}) via=(\w+)", T_CMD,
                 "the end of 60 flips")
    dt = time.monotonic() - t0
    g.expect(r"HOLD", T_CMD, "drmflip holding")
    g.wait_screen(rect_check([(200, 200, 64, 64, a), (32, 32, 64, 64, 0xffffff)]),
                  "the last of 60 flips (%06x)" % a)
    g.send("\n")
    g.wait_cmd(cmd)
    ctx.note("stepped frames %s; 60 flips in %.1f s via %s"
             % (" ".join(seen), dt, m.group(3).decode()))


def case_mode_change(ctx):
    """A DRM client setting a non-preferred mode: the display takes the new size."""
    g = boot(ctx, device="vhost-user-gpu-pci", conn="socket")
    _, text = g.sh("drmflip -l")
    modes = re.findall(r"MODE (\d+)x(\d+)@\d+( preferred)?", text)
    if not modes:
        raise E2EError("drmflip -l listed no modes:\n" + text)
    pref = next(((int(w), int(h)) for w, h, p in modes if p), None) or g.fb
    others = [(int(w), int(h)) for w, h, p in modes if (int(w), int(h)) != pref]
    # A smaller mode keeps the frame cheap; 1024x768 when offered.
    small = [m for m in others if m[0] * m[1] < pref[0] * pref[1]]
    want = (1024, 768) if (1024, 768) in small else (max(small, key=lambda m: m[0] * m[1])
                                                      if small else None)
    if not want:
        raise E2EError("no mode other than %dx%d offered: %s" % (pref + (modes,)))
    w, h = want
    cmd = g.start_cmd("drmflip -m %dx%d -n 0 -a 20a040 -H" % want)
    g.expect(r"HOLD", T_CMD, "drmflip holding %dx%d" % want)

    def check(img):
        if (img.width, img.height) != want:
            return "size %dx%d" % (img.width, img.height)
        return rect_check([(100, 100, 64, 64, 0x20a040), (32, 32, 64, 64, 0xffffff),
                           (w - 96, h - 96, 64, 64, 0x00ff00)])(img)
    g.wait_screen(check, "a %dx%d frame" % want)
    g.send("\n")
    g.wait_cmd(cmd)
    # fbcon takes the screen back at the preferred mode.
    g.wait_screen(lambda img: None if (img.width, img.height) == pref else
                  "size %dx%d" % (img.width, img.height), "fbcon back at %dx%d" % pref)
    ctx.note("%dx%d -> %dx%d -> %dx%d" % (pref + want + pref))


def case_qemu_killed(ctx):
    """QEMU SIGKILLed mid-run: the backend exits by itself, with status 0."""
    g = boot(ctx, device="vhost-user-gpu-pci", conn="fd")
    r = [(50, 50, 100, 100, 0xffffff)]
    fill_rects(g, r)
    g.wait_screen(rect_check(r, BLACK), "a frame before the kill")
    os.kill(g.qemu.pid, signal.SIGKILL)
    g.qemu.wait(T_EXIT)
    t0 = time.monotonic()
    try:
        rc = g.be.wait(T_EXIT)
    except Exception:
        raise E2EError("the backend was still running %.0f s after QEMU died" % T_EXIT)
    ctx.note("backend %s %.2f s after QEMU died" % (exit_status(rc), time.monotonic() - t0))
    if rc != 0:
        raise E2EError("the backend %s, not with status 0" % exit_status(rc))


# The host's userland, shared read-only with the guest (guest/hostroot chroots into it):
# the guest runs the host's Mesa, whose virgl driver talks to the guest's kernel.
HOSTROOT_ARGS = ["-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on"]
GLFLIP_PALETTE = [0xd02040, 0x20d060, 0x4060d0, 0xe0c020]   # as in guest/glflip.c
KMSCUBE_BG = 0x808080    # kmscube's glClearColor(0.5, 0.5, 0.5, 1.0)


def glflip_check(w, h, tl, tr, bl, br):
    """glflip's frame, every pixel: four quadrants, a white 32x32 square at (16,16)."""
    def check(img):
        if (img.width, img.height) != (w, h):
            return "size %dx%d, not %dx%d" % (img.width, img.height, w, h)
        hw, hh = w // 2, h // 2
        for name, (x, y, qw, qh, c) in (("top left", (0, 0, hw, hh, tl)),
                                        ("top right", (hw, 0, w - hw, hh, tr)),
                                        ("bottom left", (0, hh, hw, h - hh, bl)),
                                        ("bottom right", (hw, hh, w - hw, h - hh, br))):
            hist = img.colors(x, y, qw, qh)
            want = {c: qw * qh}
            if name == "top left":
                want = {c: qw * qh - 32 * 32, 0xffffff: 32 * 32}
            if hist != want:
                got = sorted(hist.items(), key=lambda kv: -kv[1])[:4]
                return "%s quadrant is not %s (seen: %s)" % (
                    name, hexc(c), ", ".join("%s x%d" % (hexc(k), n) for k, n in got))
        return rect_check([(16, 16, 32, 32, 0xffffff)], background=tl)(img)
    return check


def kmscube_check(w, h, prev=None):
    """A kmscube frame: its grey background with a shaded cube in the middle (many
    distinct, some strongly coloured, pixels), the corners untouched; with prev, the
    cube has moved since that frame."""
    def check(img):
        if (img.width, img.height) != (w, h):
            return "size %dx%d, not %dx%d" % (img.width, img.height, w, h)
        for x, y in ((0, 0), (w - 64, 0), (0, h - 64), (w - 64, h - 64)):
            bad = img.mismatches(x, y, 64, 64, KMSCUBE_BG)
            if bad:
                return "%d pixels of the corner at (%d,%d) are not kmscube's %s" % (
                    bad, x, y, hexc(KMSCUBE_BG))
        hist = img.colors(0, 0, w, h, 2)
        total = sum(hist.values())
        bg = hist.get(KMSCUBE_BG, 0)
        if not 0.50 * total < bg < 0.97 * total:
            return "%.1f%% of the screen is the background %s (want 50-97%%)" % (
                100.0 * bg / total, hexc(KMSCUBE_BG))
        # The cube: a smooth-shaded solid (hundreds of colours; a console has 16).
        cube = img.colors(w // 2 - 300, h // 2 - 300, 600, 600)
        if len(cube) < 500:
            return "only %d distinct colours around the centre" % len(cube)
        vivid = sum(n for c, n in cube.items()
                    if max(c >> 16, (c >> 8) & 0xff, c & 0xff) -
                    min(c >> 16, (c >> 8) & 0xff, c & 0xff) >= 0x80)
        if vivid < 1000:
            return "only %d strongly coloured pixels around the centre" % vivid
        if prev is not None:
            moved = img.differing(prev, w // 2 - 300, h // 2 - 300, 600, 600, 2)
            if moved < 500:
                return "the cube did not move (%d of 90000 sampled pixels changed)" % moved
        return None
    return check


def console_check(img):
    """fbcon's framebuffer, cleared by init: black, but for a prompt at most."""
    hist = img.colors(0, 0, img.width, img.height, 4)
    if hist.get(BLACK, 0) < 0.95 * sum(hist.values()):
        return "not the console: %s" % ", ".join(
            "%s %.1f%%" % (hexc(c), p) for c, p in img.dominant(3))
    return None


def backend_errors(g):
    try:
        with open(g.log("backend.log"), "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return []
    return [ln for ln in lines if re.search(r"\berror\b|CRITICAL|assert", ln, re.I)]


def case_virgl_gl(ctx):
    """3D: the host's Mesa in the guest (virgl driver), glflip and kmscube on KMS."""
    if not os.path.exists("/usr/bin/kmscube"):
        raise E2EError("no /usr/bin/kmscube on the host (run tests/e2e/setup.sh)")
    g = boot(ctx, device="vhost-user-gpu-pci", conn="fd", backend_extra=["--virgl"],
             extra_args=HOSTROOT_ARGS)
    _, text = g.sh("dmesg | grep -F '[drm] features:'")
    if "+virgl" not in text:
        raise E2EError("the guest's virtio-gpu has no virgl feature:\n" + text)
    rc, _ = g.sh("test -x /bin/glflip", check=False)
    if rc:
        raise E2EError("no glflip in the initramfs: mkinitramfs.sh found no "
                       "EGL/GLESv2/GBM/libdrm development files (run tests/e2e/setup.sh)")

    # Mesa's loader picks the DRI driver from the kernel driver's name.
    t0 = time.monotonic()
    rc, text = g.sh("hostroot eglinfo 2>&1 | grep -A 6 '^GBM platform'", T_CMD * 2,
                    check=False)
    m = re.search(r"EGL driver name: (\S+)", text)
    if rc == 125 or not m:
        raise E2EError("eglinfo in the host's userland found no GBM EGL driver:\n" + text)
    if m.group(1) != "virtio_gpu":
        raise E2EError("EGL's driver on the guest's card0 is %s, not virtio_gpu" % m.group(1))
    ctx.note("eglinfo %.1f s" % (time.monotonic() - t0))

    # glflip: exact frames (colours, orientation), SETCRTC then page flips.
    cmd = g.start_cmd("cp /bin/glflip /tmp/ && hostroot /tmp/glflip -s -n 4 -H")
    m = g.expect(r"RENDERER ([^\r\n]*)\r?\n", T_CMD * 2, "glflip's GL_RENDERER")
    renderer = m.group(1).decode(errors="replace")
    if not renderer.startswith("virgl"):
        raise E2EError("glflip's GL_RENDERER is %r, not virgl" % renderer)
    ctx.note("GL_RENDERER %s" % renderer)
    for k in range(4):
        m = g.expect(r"FRAME (\d+) tl=(\w{6}) tr=(\w{6}) bl=(\w{6}) br=(\w{6}) via=(\w+) "
                     r"size=(\d+)x(\d+)\r?\n", T_CMD, "glflip's FRAME %d" % k)
        quads = [GLFLIP_PALETTE[(k + i) % 4] for i in range(4)]
        if int(m.group(1)) != k or [int(m.group(i), 16) for i in range(2, 6)] != quads:
            raise E2EError("glflip printed %r for frame %d" % (m.group(0), k))
        w, h = int(m.group(7)), int(m.group(8))
        g.wait_screen(glflip_check(w, h, *quads),
                      "glflip frame %d (%s)" % (k, m.group(6).decode()))
        if k == 1:
            g.screendump().save_png(g.log("glflip.png"))
        g.send("\n")
    g.expect(r"HOLD", T_CMD, "glflip holding")
    g.send("\n")
    g.wait_cmd(cmd)
    # The client left: fbcon's own framebuffer is on the screen again.
    g.wait_screen(console_check, "the console after glflip")

    # kmscube: a real GL client (shaders, depth, smooth shading) spinning until told to
    # stop.  It leaves ("user interrupted!") as soon as its stdin is readable, so its
    # stdin is a FIFO that this shell holds open (fd 3) and writes a line to at the end.
    g.sh("mkfifo /tmp/kmscube.in && "
         "{ hostroot stdbuf -oL kmscube -c 1000000 </tmp/kmscube.in >/tmp/kmscube.log 2>&1 & } && "
         "echo $! >/tmp/kmscube.pid && exec 3>/tmp/kmscube.in")
    deadline = time.monotonic() + T_CMD * 2
    while True:
        _, text = g.sh("grep 'renderer:' /tmp/kmscube.log; "
                       "kill -0 $(cat /tmp/kmscube.pid) && echo kmscube-'alive'; true")
        m = re.search(r'renderer: "([^"\r\n]*)"', text)
        if m:
            break
        if "kmscube-alive" not in text or time.monotonic() > deadline:
            raise E2EError("kmscube printed no renderer (%.0f s):\n%s" % (
                time.monotonic() - deadline + T_CMD * 2,
                g.sh("tail -c 2000 /tmp/kmscube.log")[1]))
        time.sleep(1)
    kms_renderer = m.group(1)
    if not kms_renderer.startswith("virgl"):
        raise E2EError("kmscube's renderer is %r, not virgl" % kms_renderer)
    first = g.wait_screen(kmscube_check(w, h), "kmscube's cube")
    first.save_png(g.log("kmscube-1.png"))
    second = g.wait_screen(kmscube_check(w, h, first), "kmscube's cube, moved")
    second.save_png(g.log("kmscube-2.png"))
    # It prints its frame rate every 2 s: it goes on rendering and flipping.
    deadline = time.monotonic() + T_CMD
    while True:
        _, text = g.sh("grep Rendered /tmp/kmscube.log; true")
        fps = re.findall(r"Rendered (\d+) frames in ([0-9.]+) sec \(([0-9.]+) fps\)", text)
        if fps and int(fps[-1][0]) >= 30:
            break
        if time.monotonic() > deadline:
            raise E2EError("kmscube rendered no 30 frames in %.0f s: %s" % (T_CMD, text))
        time.sleep(1)
    _, text = g.sh("echo stop >&3; wait $(cat /tmp/kmscube.pid); echo kmscube-status=$?; "
                   "exec 3>&-; grep -E 'Rendered|failed|interrupted' /tmp/kmscube.log; true")
    st = re.search(r"kmscube-status=(\d+)", text)
    if not st or st.group(1) != "0" or "user interrupted" not in text:
        raise E2EError("kmscube did not run until told to stop (status %s):\n%s"
                       % (st and st.group(1), g.sh("tail -c 2000 /tmp/kmscube.log")[1]))
    fps = re.findall(r"Rendered (\d+) frames in ([0-9.]+) sec \(([0-9.]+) fps\)", text) or fps
    ctx.note("kmscube %s frames in %s s" % fps[-1][:2])
    g.wait_screen(console_check, "the console after kmscube")
    if g.be.poll() is not None:
        raise E2EError("the backend %s" % exit_status(g.be.returncode))
    errs = backend_errors(g)
    if errs:
        raise E2EError("the backend logged errors:\n" + "\n".join(errs[:20]))


CASES = [
    ("pci-socket-path", display_case("vhost-user-gpu-pci", "socket")),
    ("pci-fd", display_case("vhost-user-gpu-pci", "fd")),
    ("vga-socket-path", display_case("vhost-user-vga", "socket")),
    ("vga-fd", display_case("vhost-user-vga", "fd")),
    ("console-text", case_console_text),
    ("reboot", case_reboot),
    ("drm-flip", case_drm_flip),
    ("mode-change", case_mode_change),
    ("qemu-killed", case_qemu_killed),
    ("virgl-gl", case_virgl_gl),
]
