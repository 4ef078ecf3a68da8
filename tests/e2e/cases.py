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
]
