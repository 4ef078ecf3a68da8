#!/usr/bin/env python3
"""Demo: boot the guest on a vhost-user-gpu backend, draw, and save a PNG screenshot.

  tests/e2e/demo.py OUT.png [--drm OUT2.png] [--live [--port N]] [--vnc SPEC]
                    [--e2e-dir DIR] [--device vhost-user-vga] [--fd]

The backend is $E2E_BACKEND (default build/vugpu).  The guest's console shows a banner
and colour bars painted on /dev/fb0; --drm also saves a frame drawn by the DRM client
drmflip (dumb buffers, page flip).

Watching live: QEMU 10 refuses VNC, SDL and GTK-without-GL for a vhost-user-gpu console
("The console requires display DMABUF support"), and its DMABUF-capable displays need a
host render node.  So --live serves the display itself: a page on http://127.0.0.1:PORT/
that reloads QMP screendumps, while lines typed on stdin go to the guest's shell (try
`drmflip -n 200`); EOF or "quit" shuts down.  On a host with /dev/dri/renderD*, --vnc
SPEC uses QEMU's own `-display egl-headless -vnc SPEC` instead.
"""

import argparse
import http.server
import os
import sys
import threading
import time

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
from cases import rect_check  # noqa: E402

BARS = [0xffffff, 0xffff00, 0x00ffff, 0x00ff00, 0xff00ff, 0xff0000, 0x0000ff, 0x202020]
NAMES = {0xffffff: "white", 0xffff00: "yellow", 0x00ffff: "cyan", 0x00ff00: "green",
         0xff00ff: "magenta", 0xff0000: "red", 0x0000ff: "blue", 0x202020: "grey",
         0x000000: "black", 0xaaaaaa: "console grey", 0xff5555: "console red",
         0x55ff55: "console green", 0xffff55: "console yellow", 0x5555ff: "console blue"}


def describe(img):
    cols = ", ".join("%s %.0f%%" % (NAMES.get(c, "#%06x" % c), p) for c, p in img.dominant(6))
    return "%dx%d; colours: %s" % (img.width, img.height, cols)


PAGE = b"""<!doctype html><title>vugpu demo</title>
<body style="background:#333;color:#ccc;font-family:sans-serif">
<p>vugpu e2e guest, live (QMP screendumps)</p><img id=s src="screen.png">
<script>
const img = document.getElementById("s");
img.onload = img.onerror = () => setTimeout(() => { img.src = "screen.png?" + Date.now(); }, 300);
</script>"""


def serve(g, port):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/screen.png"):
                try:
                    body, kind = g.screendump().png(), "image/png"
                except Exception as err:
                    self.send_error(503, str(err))
                    return
            else:
                body, kind = PAGE, "text/html"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="PNG file to write")
    ap.add_argument("--drm", metavar="PNG", help="also save a DRM client's frame here")
    ap.add_argument("--e2e-dir", default=e2e.default_dir())
    ap.add_argument("--device", default="vhost-user-gpu-pci",
                    choices=["vhost-user-gpu-pci", "vhost-user-vga"])
    ap.add_argument("--fd", action="store_true", help="start the backend with --fd")
    ap.add_argument("--live", action="store_true",
                    help="keep running: a live view over HTTP, stdin to the guest's shell")
    ap.add_argument("--port", type=int, default=8090, help="the live view's port (8090)")
    ap.add_argument("--vnc", metavar="SPEC",
                    help="QEMU -display egl-headless -vnc SPEC (needs a host render node)")
    opt = ap.parse_args()
    e2e_dir = os.path.abspath(opt.e2e_dir)
    logdir = os.path.join(e2e_dir, "logs", "demo")

    t0 = time.monotonic()
    g = e2e.Guest(logdir, e2e_dir, device=opt.device, conn="fd" if opt.fd else "socket",
                  display="egl-headless" if opt.vnc else "none",
                  extra_args=["-vnc", opt.vnc] if opt.vnc else [])
    httpd = None
    try:
        g.start()
        g.wait_ready()
        w, h = g.fb
        print("demo: backend %s, QEMU %d.%d.%d, guest up in %.1f s, display %dx%d"
              % (g.backend, g.qemu_version["major"], g.qemu_version["minor"],
                 g.qemu_version["micro"], g.boot_time, w, h))
        banner = ("\\033[2J\\033[2;3H\\033[1;37mvugpu end-to-end demo\\033[0m"
                  "\\033[4;3Hkernel $(uname -r), display %dx%d, virtio-gpu over vhost-user"
                  "\\033[5;3H\\033[1;32mgreen\\033[0m \\033[1;33myellow\\033[0m "
                  "\\033[1;31mred\\033[0m \\033[1;34mblue\\033[0m text on fbcon" % (w, h))
        g.sh('printf "%s" > /dev/tty1' % banner)
        bw = w // len(BARS)
        bars = [(i * bw, h // 2, bw, h // 4, c) for i, c in enumerate(BARS)]
        for x, y, bw_, bh, c in bars:
            g.sh("fbfill %d %d %d %d %06x" % (x, y, bw_, bh, c))
        img = g.wait_screen(rect_check(bars), "the colour bars")
        img.save_png(opt.out)
        print("demo: saved %s: %s" % (opt.out, describe(img)))
        if opt.drm:
            cmd = g.start_cmd("drmflip -n 3 -a ff8000 -b 0080ff -f 1 -H")
            g.expect(r"HOLD", e2e.T_CMD, "drmflip")
            img = g.wait_screen(rect_check([(200, 200, 64, 64, 0x0080ff),
                                            (32, 32, 64, 64, 0xffffff)]), "drmflip's frame")
            img.save_png(opt.drm)
            print("demo: saved %s: %s (drmflip: 0080ff buffer, white and green markers)"
                  % (opt.drm, describe(img)))
            g.send("\n")
            g.wait_cmd(cmd)
        if opt.vnc:
            where = opt.vnc[5:] if opt.vnc.startswith("unix:") else opt.vnc
            print("demo: VNC: vncviewer %s" % where)
        if opt.live:
            httpd = serve(g, opt.port)
            print("demo: live view: http://127.0.0.1:%d/  (from elsewhere: "
                  "ssh -L %d:127.0.0.1:%d HOST, then the same URL)"
                  % (opt.port, opt.port, opt.port))
            print("demo: type guest shell commands (e.g. `drmflip -n 200`); "
                  "`quit` or EOF shuts down")
            for line in sys.stdin:
                if line.strip() == "quit":
                    break
                g.send(line)
        else:
            print("demo: to watch it live: tests/e2e/demo.py OUT.png --live "
                  "(then open http://127.0.0.1:8090/)")
    except e2e.E2EError as err:
        print("demo: failed: %s" % err)
        for line in g.tails():
            print("  | " + line)
        return 1
    finally:
        if httpd:
            httpd.shutdown()
        g.close()
    print("demo: shut down after %.1f s" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
