"""End-to-end harness: a Linux guest under QEMU whose display is a vhost-user-gpu backend.

Stdlib only.  One Guest owns three processes' worth of plumbing:
  - the backend under test, started with --socket-path PATH or --fd N;
  - QEMU (TCG), whose serial port and QMP monitor are socketpairs held by the harness
    (QEMU gets its ends as `-chardev socket,fd=N`), so nothing is lost before we connect
    and there is no socket file to wait for;
  - the guest's shell on ttyS0 (tests/e2e/guest/init), driven by writing lines.
Every wait has a timeout.  Logs (backend, QEMU, serial, failing screenshots) go to the
guest's log directory.  Processes run in their own process groups and are killed by
group on the way out.
"""

import json
import os
import re
import select
import shlex
import signal
import socket
import struct
import subprocess
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Timeouts (seconds) before scaling.  A boot takes about 9 s on a 2-core TCG host.
SCALE = float(os.environ.get("E2E_TIMEOUT_SCALE", "1"))
T_BOOT = 120 * SCALE       # QEMU start to the E2E-READY marker
T_CMD = 30 * SCALE         # one shell command
T_FRAME = 20 * SCALE       # a frame to appear in screendumps
T_SOCKET = 10 * SCALE      # the backend to listen on its socket
T_EXIT = 15 * SCALE        # a process to exit once asked
T_QMP = 20 * SCALE         # one QMP command


class E2EError(AssertionError):
    pass


def backend_path():
    """The backend under test: $E2E_BACKEND, default build/vugpu, made absolute."""
    p = os.environ.get("E2E_BACKEND", "build/vugpu")
    return os.path.abspath(os.path.join(ROOT, p))


def backend_args():
    return shlex.split(os.environ.get("E2E_BACKEND_ARGS", ""))


def qemu_binary():
    return os.environ.get("E2E_QEMU", "qemu-system-x86_64")


def default_dir():
    return os.path.abspath(os.environ.get("E2E_DIR", os.path.join(ROOT, "build", "e2e")))


# --- images -----------------------------------------------------------------------

class Image:
    """An RGB image (what QMP screendump writes as PPM P6)."""

    def __init__(self, width, height, rgb):
        self.width, self.height, self.rgb = width, height, rgb

    @classmethod
    def from_ppm(cls, data):
        # P6 <ws> width <ws> height <ws> maxval <one ws> raster; comments start with #.
        fields, pos = [], 0
        while len(fields) < 4:
            while data[pos:pos + 1].isspace():
                pos += 1
            if data[pos:pos + 1] == b"#":
                pos = data.index(b"\n", pos) + 1
                continue
            end = pos
            while end < len(data) and not data[end:end + 1].isspace():
                end += 1
            fields.append(data[pos:end])
            pos = end
        pos += 1
        if fields[0] != b"P6" or int(fields[3]) != 255:
            raise E2EError("not a P6/255 PPM: %r" % fields)
        w, h = int(fields[1]), int(fields[2])
        rgb = data[pos:pos + w * h * 3]
        if len(rgb) != w * h * 3:
            raise E2EError("short PPM: %d of %d bytes" % (len(rgb), w * h * 3))
        return cls(w, h, rgb)

    def px(self, x, y):
        o = (y * self.width + x) * 3
        return (self.rgb[o] << 16) | (self.rgb[o + 1] << 8) | self.rgb[o + 2]

    def colors(self, x, y, w, h, step=1):
        """Histogram {0xRRGGBB: count} of a rectangle (clipped)."""
        hist = {}
        for yy in range(max(y, 0), min(y + h, self.height), step):
            row = self.rgb[(yy * self.width) * 3:(yy * self.width + self.width) * 3]
            for xx in range(max(x, 0), min(x + w, self.width), step):
                o = xx * 3
                c = (row[o] << 16) | (row[o + 1] << 8) | row[o + 2]
                hist[c] = hist.get(c, 0) + 1
        return hist

    def differing(self, other, x, y, w, h, step=1):
        """Pixels of the rectangle that differ between this image and other (same size)."""
        n = 0
        for yy in range(max(y, 0), min(y + h, self.height, other.height), step):
            for xx in range(max(x, 0), min(x + w, self.width, other.width), step):
                o = (yy * self.width + xx) * 3
                p = (yy * other.width + xx) * 3
                if self.rgb[o:o + 3] != other.rgb[p:p + 3]:
                    n += 1
        return n

    def mismatches(self, x, y, w, h, color):
        """Pixels in the rectangle that are not exactly color."""
        hist = self.colors(x, y, w, h)
        return sum(n for c, n in hist.items() if c != color)

    def dominant(self, n=4, step=4):
        hist = self.colors(0, 0, self.width, self.height, step)
        total = sum(hist.values()) or 1
        top = sorted(hist.items(), key=lambda kv: -kv[1])[:n]
        return [(c, 100.0 * k / total) for c, k in top]

    def png(self):
        def chunk(kind, body):
            return (struct.pack(">I", len(body)) + kind + body +
                    struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff))
        stride = self.width * 3
        raw = b"".join(b"\0" + self.rgb[y * stride:(y + 1) * stride]
                       for y in range(self.height))
        return (b"\x89PNG\r\n\x1a\n" +
                chunk(b"IHDR", struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))

    def save_png(self, path):
        with open(path, "wb") as f:
            f.write(self.png())


def hexc(c):
    return "%06x" % c


# --- QMP --------------------------------------------------------------------------

class QMP:
    def __init__(self, sock, log):
        self.sock, self.log, self.buf, self.events = sock, log, b"", []

    def _line(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise E2EError("QMP: no reply in time")
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                try:
                    data = self.sock.recv(65536)
                except OSError as e:
                    raise E2EError("QMP: %s" % e)
                if not data:
                    raise E2EError("QMP: QEMU closed the monitor")
                self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        self.log.write(b"<- " + line + b"\n")
        self.log.flush()
        return json.loads(line)

    def greet(self, timeout=T_QMP):
        deadline = time.monotonic() + timeout
        msg = self._line(deadline)
        if "QMP" not in msg:
            raise E2EError("QMP: unexpected greeting %r" % msg)
        self.cmd("qmp_capabilities", timeout=timeout)
        return msg["QMP"]["version"]["qemu"]

    def cmd(self, name, args=None, timeout=T_QMP):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        data = json.dumps(req).encode()
        self.log.write(b"-> " + data + b"\n")
        self.sock.sendall(data + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            msg = self._line(deadline)
            if "event" in msg:
                self.events.append(msg)
                continue
            if "error" in msg:
                raise E2EError("QMP %s: %s" % (name, msg["error"].get("desc")))
            return msg.get("return")


# --- the guest --------------------------------------------------------------------

def _listening(path):
    """Whether a unix socket is listening at path (without connecting to it).

    vugpu binds a temporary name (path + ".PID~") and renames it to path once
    it listens, so /proc/net/unix keeps the temporary name; QEMU's backend
    binds path itself."""
    if not os.path.exists(path):
        return False
    try:
        with open("/proc/net/unix") as f:
            next(f)
            for line in f:
                parts = line.split()
                if len(parts) < 8 or not int(parts[3], 16) & 0x10000:
                    continue
                if parts[7] == path or parts[7].startswith(path + "."):
                    return True
    except OSError:
        pass
    return False


def _tail(path, n=40):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError as e:
        return ["(%s)" % e]
    return lines[-n:]


class Guest:
    """One QEMU + backend + guest.  Use as a context manager."""

    def __init__(self, logdir, e2e_dir, device="vhost-user-gpu-pci", conn="socket",
                 reboot=False, backend=None, extra_args=(), display="none",
                 backend_extra=()):
        assert device in ("vhost-user-gpu-pci", "vhost-user-vga")
        assert conn in ("socket", "fd")
        self.logdir, self.e2e_dir = logdir, e2e_dir
        self.device, self.conn, self.reboot_ok = device, conn, reboot
        self.backend = backend or backend_path()
        self.extra_args, self.display = list(extra_args), display
        # Backend arguments this guest needs (e.g. --virgl) on top of $E2E_BACKEND_ARGS.
        self.backend_args = backend_args() + [a for a in backend_extra
                                              if a not in backend_args()]
        self.be = self.qemu = None
        self.serial = self.qmp_sock = None
        self.out = b""          # all serial output so far
        self.cursor = 0         # expect() searches from here
        self.cond = threading.Condition()
        self.qmp_lock = threading.Lock()   # screendumps may come from another thread
        self.serial_closed = False
        self.boots = 0
        self.shot = 0
        self.cmdno = 0
        os.makedirs(logdir, exist_ok=True)

    def log(self, name):
        return os.path.join(self.logdir, name)

    # -- start and stop

    def start(self):
        for f in ("vmlinuz", "initrd.img"):
            if not os.path.exists(os.path.join(self.e2e_dir, f)):
                raise E2EError("no %s in %s: run tests/e2e/setup.sh and mkinitramfs.sh"
                               % (f, self.e2e_dir))
        if not os.access(self.backend, os.X_OK):
            raise E2EError("backend %s is not an executable (set E2E_BACKEND)" % self.backend)
        self.t_start = time.monotonic()
        pass_fds = []
        be_log = open(self.log("backend.log"), "wb")
        if self.conn == "socket":
            path = os.path.join(self.logdir, "gpu.sock")
            if os.path.exists(path):
                os.unlink(path)
            argv = [self.backend, "--socket-path", path] + self.backend_args
            self.be = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=be_log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + T_SOCKET
            while not _listening(path):
                if self.be.poll() is not None:
                    raise E2EError("backend exited with %d before listening" % self.be.returncode)
                if time.monotonic() > deadline:
                    raise E2EError("backend not listening on %s after %d s" % (path, T_SOCKET))
                time.sleep(0.02)
            gpu_chardev = "socket,id=vgpu,path=" + path
        else:
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            argv = [self.backend, "--fd", str(mine.fileno())] + self.backend_args
            self.be = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=be_log,
                                       stderr=subprocess.STDOUT, start_new_session=True,
                                       pass_fds=[mine.fileno()])
            mine.close()
            gpu_chardev = "socket,id=vgpu,fd=%d" % theirs.fileno()
            pass_fds.append(theirs)
        be_log.close()
        self.be_argv = argv

        self.serial, ser_q = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.qmp_sock, qmp_q = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pass_fds += [ser_q, qmp_q]
        append = "console=ttyS0 panic=-1 consoleblank=0"
        argv = [qemu_binary(), "-accel", "tcg", "-nodefaults",
                "-machine", "q35,memory-backend=mem0",
                "-object", "memory-backend-memfd,id=mem0,size=512M,share=on", "-m", "512M",
                "-kernel", os.path.join(self.e2e_dir, "vmlinuz"),
                "-initrd", os.path.join(self.e2e_dir, "initrd.img"),
                "-append", append,
                "-chardev", gpu_chardev,
                "-device", "%s,chardev=vgpu" % self.device,
                "-vga", "none", "-display", self.display,
                "-device", "virtio-rng-pci",
                "-chardev", "socket,id=ser0,fd=%d" % ser_q.fileno(),
                "-serial", "chardev:ser0",
                "-chardev", "socket,id=qmp,fd=%d" % qmp_q.fileno(),
                "-mon", "chardev=qmp,mode=control"]
        if not self.reboot_ok:
            argv.append("-no-reboot")
        argv += self.extra_args
        self.qemu_argv = argv
        with open(self.log("qemu.log"), "wb") as qlog:
            qlog.write(("# backend: %s\n# qemu: %s\n" % (
                shlex.join(self.be_argv), shlex.join(argv))).encode())
            qlog.flush()
            self.qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=qlog,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         pass_fds=[s.fileno() for s in pass_fds])
        for s in pass_fds:
            s.close()
        self.serial_log = open(self.log("serial.log"), "wb")
        self.reader = threading.Thread(target=self._read_serial, daemon=True)
        self.reader.start()
        self.qmp = QMP(self.qmp_sock, open(self.log("qmp.log"), "wb"))
        try:
            self.qemu_version = self.qmp.greet()
        except (OSError, E2EError) as e:
            try:
                rc = self.qemu.wait(2)
            except subprocess.TimeoutExpired:
                raise E2EError("QEMU's monitor did not answer (%s); QEMU still running" % e)
            raise E2EError("QEMU exited with %d at startup (see qemu.log)" % rc)
        return self

    def _read_serial(self):
        while True:
            try:
                data = self.serial.recv(65536)
            except OSError:
                data = b""
            with self.cond:
                if not data:
                    self.serial_closed = True
                    self.cond.notify_all()
                    return
                self.out += data
                self.serial_log.write(data)
                self.serial_log.flush()
                self.cond.notify_all()

    def close(self):
        """Stop everything still running: QEMU by QMP quit, then by signal."""
        if self.qemu and self.qemu.poll() is None:
            try:
                self.qmp.cmd("quit", timeout=5)
                grace = T_EXIT
            except Exception:
                grace = 0          # the monitor is dead or stuck: no point waiting
            self._wait_or_kill(self.qemu, grace)
        if self.be and self.be.poll() is None:
            self._wait_or_kill(self.be, 5 * SCALE)
        for p in (self.qemu, self.be):
            if p:
                try:
                    os.killpg(p.pid, signal.SIGKILL)   # stragglers in its group
                except OSError:
                    pass
        for s in (self.serial, self.qmp_sock):
            if s:
                s.close()
        if self.qemu:
            self.reader.join(5)
            self.serial_log.close()
            self.qmp.log.close()

    @staticmethod
    def _wait_or_kill(p, timeout):
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        # Killing by group is safe: each process was started in a new session (its
        # group id is its pid) and the group holds only what it started itself.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
            except OSError:
                pass
            try:
                return p.wait(5)
            except subprocess.TimeoutExpired:
                continue
        return None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False

    def tails(self, n=30):
        out = []
        for name in ("backend.log", "qemu.log", "serial.log"):
            out.append("--- %s (last %d lines)" % (self.log(name), n))
            out += _tail(self.log(name), n)
        return out

    # -- serial

    def expect(self, pattern, timeout, what=None):
        """Wait for a regex (bytes) in the serial output after the cursor.

        Only complete lines are searched, so a pattern never matches half a word that
        is still arriving."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                end = self.out.rfind(b"\n") + 1
                m = rx.search(self.out, self.cursor, end)
                if m:
                    self.cursor = m.end()
                    return m
                fail = re.compile(rb"E2E-FAIL[^\r\n]*").search(self.out, self.cursor, end)
                if fail:
                    raise E2EError("guest: %s" % fail.group(0).decode(errors="replace"))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise E2EError("no %s on the serial console after %.0f s"
                                   % (what or repr(pattern), timeout))
                if self.serial_closed or (self.qemu.poll() is not None):
                    raise E2EError("QEMU exited (%s) while waiting for %s"
                                   % (self.qemu.poll(), what or repr(pattern)))
                self.cond.wait(min(left, 0.5))

    def send(self, text):
        self.serial.sendall(text.encode())

    def wait_ready(self, timeout=T_BOOT):
        t0 = time.monotonic()
        m = self.expect(rb"E2E-READY uptime=([0-9.]+)", timeout, "E2E-READY (boot)")
        self.boots += 1
        self.boot_time = time.monotonic() - t0
        self.guest_uptime = float(m.group(1))
        info = self.out[:m.end()].decode(errors="replace")
        fb = re.findall(r"E2E-INFO FB xres=(\d+) yres=(\d+)", info)
        tty = re.findall(r"E2E-INFO tty1 rows=(\d+) cols=(\d+)", info)
        self.fb = tuple(map(int, fb[-1])) if fb else None
        self.tty = tuple(map(int, tty[-1])) if tty else None
        return self

    def start_cmd(self, cmd):
        """Start a shell command on the guest; wait_cmd() waits for its status."""
        self.cmdno += 1
        # The quotes keep the echoed command line from matching its own marker.
        self.send('%s; echo "@@"E2E-RC-%d-$?"@@"\n' % (cmd, self.cmdno))
        return (self.cmdno, len(self.out), cmd)

    def wait_cmd(self, token, timeout=T_CMD, check=True):
        """Return (status, output text) of a command from start_cmd()."""
        n, start, cmd = token
        m = self.expect(r"@@E2E-RC-%d-(\d+)@@" % n, timeout, "the end of `%s`" % cmd)
        rc = int(m.group(1))
        text = self.out[start:m.start()].decode(errors="replace")
        if check and rc != 0:
            raise E2EError("guest command `%s` failed with %d:\n%s" % (cmd, rc, text))
        return rc, text

    def sh(self, cmd, timeout=T_CMD, check=True):
        """Run a shell command on the guest; return (status, output text)."""
        return self.wait_cmd(self.start_cmd(cmd), timeout, check)

    # -- display

    def screendump(self):
        with self.qmp_lock:
            self.shot += 1
            path = self.log("screen-%03d.ppm" % self.shot)
            self.qmp.cmd("screendump", {"filename": path})
            with open(path, "rb") as f:
                img = Image.from_ppm(f.read())
            os.unlink(path)
        return img

    def wait_screen(self, check, what, timeout=T_FRAME):
        """Poll screendumps until check(img) returns None (success) or time runs out.

        check returns None when the image is right, else a string saying what is wrong.
        Polling is the only way: QEMU reports no event when a backend's frame arrives."""
        deadline = time.monotonic() + timeout
        while True:
            img = self.screendump()
            why = check(img)
            if why is None:
                return img
            if time.monotonic() > deadline:
                name = self.log("fail-%03d.png" % self.shot)
                img.save_png(name)
                raise E2EError("screen never showed %s after %.0f s: %s (last: %s)"
                               % (what, timeout, why, name))
            time.sleep(0.2)
