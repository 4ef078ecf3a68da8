#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets: small valid inputs, encoded
the way each target in tests/fuzz/ reads its input.

    tests/fuzz/mkcorpus.py [OUTDIR]    (default: tests/fuzz/corpus)

Each target gets a directory of its name. The files are deterministic, so
running this again rewrites the same bytes.
"""
import os
import struct
import sys


def u8(v):
    return struct.pack('<B', v & 0xff)


def u16(v):
    return struct.pack('<H', v & 0xffff)


def u32(v):
    return struct.pack('<I', v & 0xffffffff)


def u64(v):
    return struct.pack('<Q', v & 0xffffffffffffffff)


# ---------- fuzz_vu_msg: nfds, header (request, flags, size), payload ----------

def vu_msg(nfds, request, payload=b'', flags=0x1, size=None):
    if size is None:
        size = len(payload)
    return u8(nfds) + u32(request) + u32(flags) + u32(size) + payload


def vu_msg_seeds():
    region = u64(0x0) + u64(0x40000000) + u64(0x7f0000000000) + u64(0)
    return {
        'get_features': vu_msg(0, 1),
        'set_features': vu_msg(0, 2, u64(1 << 32)),
        'set_mem_table': vu_msg(1, 5, u32(1) + u32(0) + region),
        'set_mem_table_2': vu_msg(2, 5, u32(2) + u32(0) + region + region),
        'set_vring_num': vu_msg(0, 8, u32(0) + u32(256)),
        'set_vring_addr': vu_msg(0, 9, bytes(40)),
        'set_vring_kick': vu_msg(1, 12, u64(0)),
        'set_vring_call_nofd': vu_msg(0, 13, u64(1 << 8)),
        'get_config': vu_msg(0, 24, u32(0) + u32(16) + u32(0) + bytes(16)),
        'gpu_set_socket': vu_msg(1, 33),
        'add_mem_reg': vu_msg(1, 37, u64(0) + region),
        'need_reply': vu_msg(0, 39, u64(0xf), flags=0x9),
        'oversized': vu_msg(0, 5, b'', size=5000),
    }


# ---------- fuzz_vring (see fuzz_vring.c) ----------

F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4


def vring_desc(region, off, length, flags, nxt):
    # kind 0: 16-bit length, 8-bit flags, 8-bit next; address relative
    # to a region (selector < 0x40).
    return u8(0) + u8(region) + u16(off) + u16(length) + u8(flags) + u8(nxt)


def vring_seed(descs, avail_heads, ops, num_log=4, event_idx=False,
               tables=(), regions=((0, 16384),)):
    head = u8((len(regions) - 1) | 0x00)
    mem = b''
    for mode, size in regions:
        mem += u8(mode) + u16(size - 1)
    qflags = num_log | (0x10 if event_idx else 0)
    s = head + mem + u8(qflags)
    # desc at 0, avail at 0x1000, used at 0x2000 of region 0
    s += u8(0) + u16(0) + u8(0) + u16(0x1000) + u8(0) + u16(0x2000)
    s += u16(0)                                  # base
    s += u8(len(descs)) + b''.join(descs)
    s += u8(len(tables))
    for region, off, entries, link in tables:
        s += u8(region) + u16(off) + u8(len(entries) - 1) + u8(link)
        s += b''.join(entries)
    s += u8(len(avail_heads))                    # idx = base + this
    s += u16(0)                                  # avail flags
    s += u8(len(avail_heads))
    for h in avail_heads:
        s += u8(h)
    s += u16(0)                                  # used_event
    s += u16(0) + u16(0) + u16(0)                # used idx, flags, avail_event
    return s + bytes(ops)


def vring_seeds():
    pop, push, publish, enable, disable = 0, 3, 4, 5, 6
    chain = [vring_desc(0, 0x3000, 64, F_NEXT, 1),
             vring_desc(0, 0x3100, 128, F_WRITE, 0)]
    return {
        'two_chains': vring_seed(
            chain + [vring_desc(0, 0x3200, 24, F_NEXT, 3),
                     vring_desc(0, 0x3300, 24, F_WRITE, 0)],
            [0, 2], [disable, pop, pop, pop, publish, enable]),
        'event_idx': vring_seed(chain, [0], [pop, publish, enable],
                                event_idx=True),
        'indirect': vring_seed(
            [], [0], [pop, publish, enable],
            tables=[(0, 0x4000,
                     [vring_desc(0, 0x3000, 64, F_NEXT, 1),
                      vring_desc(0, 0x3100, 128, F_WRITE, 0)], 0x80)]),
        'two_regions': vring_seed(
            [vring_desc(0, 16384 - 32, 64, F_WRITE, 0)], [0],
            [pop, publish], regions=((0, 16384), (0, 4096))),
        'num_1024': vring_seed(chain, [0], [pop, pop, publish, enable],
                               num_log=10,
                               regions=((0, 24576),)),
        'loop': vring_seed([vring_desc(0, 0x3000, 16, F_NEXT, 0)], [0],
                           [pop, push, publish]),
    }


# ---------- fuzz_display: 0/1 reply, 2 EDID read, 3 EDID generate ----------

def display_reply(request, flags, size, payload, sel=0):
    return u8(0) + u32(request) + u32(flags) + u32(size) + u8(sel) + payload


def edid_block():
    """A base block whose first detailed timing is 1024x768; the target
    fills in the header and checksum."""
    e = bytearray(128)
    e[54] = 0x01                    # pixel clock: not a display descriptor
    e[56] = 0x00                    # width, low 8 bits
    e[58] = 0x40                    # width, high 4 bits: 0x400
    e[59] = 0x00                    # height, low 8 bits
    e[61] = 0x30                    # height, high 4 bits: 0x300
    return bytes(e)


def display_seeds():
    info = u32(0x1101) + u32(0) + u64(0) + u32(0) + u8(0) + bytes(3)
    info += u32(0) + u32(0) + u32(1280) + u32(800) + u32(1) + u32(0)
    info += bytes(24 * 15)
    edid = u32(0x1104) + u32(0) + u64(0) + u32(0) + bytes(4)
    edid += u32(128) + u32(0) + bytes(1024)
    return {
        'features': display_reply(1, 4, 8, u64(3)),
        'display_info': display_reply(3, 4, 408, info),
        'edid': display_reply(11, 4, 1056, edid),
        'dmabuf_update': display_reply(10, 4, 4, u32(0)),
        'not_a_reply': display_reply(3, 0, 408, info, sel=0x20),
        'edid_read': u8(2) + u8(64) + u8(1) + edid_block(),
        'edid_generate': u8(3) + u8(0) + u8(0) + u16(1024) + u16(768)
        + u16(60) + u32(7) + b'vugpu'.ljust(23, b'\0') + u8(5),
        'edid_generate_4k': u8(3) + u8(0) + u8(0) + u16(3840) + u16(2160)
        + u16(0) + u32(0) + bytes(23) + u8(0),
    }


# ---------- fuzz_gpu_cmd: 0 transfer, 1 rects, 2 backing, 3 iov ----------

def gpu_cmd_seeds():
    return {
        # x y w h W H (small), offset, len: a 16x16 rect of a 64x64 image
        'transfer': u8(0) + u8(0) + u8(0x80) + u8(8) + u8(8) + u8(16)
        + u8(16) + u8(64) + u8(64) + u16(8 * 256 + 32) + u16(16384),
        'transfer_rows': u8(0) + u8(0) + u8(0x81) + u8(0) + u8(4) + u8(32)
        + u8(8) + u8(32) + u8(32) + u16(512) + u16(0) + u16(3),
        'rects': u8(1) + u8(0) + bytes([4, 4, 32, 32, 16, 16, 32, 32, 64, 64])
        + u32(1280) + u32(800) + u8(4) + u8(1) + u8(2) + bytes(8) + u8(0x01),
        'backing': u8(2) + u8(1) + u8(0) + u16(4095) + u8(0) + u16(4095)
        + u8(7) + u8(3)
        + u8(0) + u8(0) + u16(16) + u16(100)
        + u8(0) + u8(0x40) + u8(10) + u16(200)
        + u8(0) + u8(1) + u16(500) + u16(50)
        + u8(8) + u32(20) + u16(300),
        'iov': u8(3) + u8(3) + bytes([10, 0, 20]) + bytes(range(30))
        + u16(5) + u16(20) + bytes(range(100, 120)),
    }


# ---------- fuzz_gpu_device (see fuzz_gpu_device.c) ----------

class Dev:
    """Builds an op sequence for fuzz_gpu_device."""
    KICK = 0x01
    FENCE = 0x02

    def __init__(self, header):
        self.b = u8(header)

    def op(self, code, body=b''):
        self.b += u8(code) + body
        return self

    def ctrl(self, sel, fields=b'', fl=KICK):
        return self.op(0, u8(sel) + u8(fl) + fields)

    def sent(self):
        return self.op(6)

    def reply(self, body):
        return self.op(8, body)

    def features_reply(self, features=3):
        return self.reply(u8(0) + u64(features))

    def display_info_reply(self, w, h):
        return self.reply(u8(0) + u8(1) + u8(1) + u16(w) + u16(h))

    def create(self, rid, w, h, fmt=0):
        return self.ctrl(1, u8(fmt) + u8(rid) + u8(w) + u8(h))

    def attach(self, rid, off, length):
        # one entry in the pixel area: u16 offset / 4, u16 length / 4
        return self.ctrl(6, u8(0) + u8(rid) + u8(0) + u16(off // 4)
                         + u16(length // 4))

    def transfer(self, rid, x, y, w, h, offset=0):
        return self.ctrl(5, u8(rid) + bytes([x, y, w, h]) + u16(offset // 4))

    def scanout(self, sid, rid, x, y, w, h):
        return self.ctrl(3, u8(sid) + u8(rid) + bytes([x, y, w, h]))

    def flush(self, rid, x, y, w, h):
        return self.ctrl(4, u8(rid) + bytes([x, y, w, h]))


def boot(header=0x0b):
    """Handshake with the display, then GET_DISPLAY_INFO answered by it."""
    d = Dev(header)
    d.sent().features_reply().sent()
    d.ctrl(0).sent().display_info_reply(1024, 768)
    return d


def gpu_device_seeds():
    seeds = {}
    d = boot()
    d.create(1, 200, 100).attach(1, 0, 200 * 100 * 4)
    d.transfer(1, 0, 0, 200, 100).scanout(0, 1, 0, 0, 200, 100)
    d.sent().sent().flush(1, 10, 10, 50, 50).sent()
    d.ctrl(2, u8(1))                                   # unref
    seeds['frame'] = d.b

    d = boot()
    d.ctrl(10, u8(0)).sent()                           # GET_EDID
    d.reply(u8(0) + u8(2) + bytes(16))                 # a 128-byte EDID
    d.ctrl(11, u8(1)).create(2, 64, 64, fmt=2).ctrl(11, u8(2))
    seeds['edid_uuid'] = d.b

    d = boot()
    d.create(3, 64, 64).attach(3, 0x1000, 64 * 64 * 4)
    d.transfer(3, 0, 0, 64, 64)
    # UPDATE_CURSOR with resource 3 at (100, 100), kicked
    d.op(4, u8(0x01) + u8(0) + u16(100) + u16(100) + u8(3) + u8(1) + u8(1))
    d.sent()
    d.op(4, u8(0x11) + u8(0) + u16(120) + u16(90) + u8(0) + u8(0) + u8(0))
    d.sent()
    seeds['cursor'] = d.b

    d = boot()
    d.create(1, 100, 100, fmt=4).attach(1, 0, 100 * 100 * 4)
    d.scanout(0, 1, 0, 0, 100, 100).sent()
    d.op(10)                                           # a new display socket
    d.sent().features_reply().sent().sent().sent()
    d.op(11, u8(0))                                    # memory moves
    d.op(11, u8(1) + u32(0x8000))                      # shrinks
    d.op(11, u8(4))                                    # back
    d.transfer(1, 0, 0, 100, 100)
    d.op(12, u64(3))                                   # reset, restart
    seeds['reset_memory'] = d.b

    d = boot()
    d.op(11, u8(0x45) + u8(4))                         # 6 pieces, apart
    d.create(1, 200, 200).attach(1, 0, 200 * 200 * 4)
    d.transfer(1, 0, 0, 200, 200).scanout(0, 1, 0, 0, 200, 200).sent()
    d.op(11, u8(0x45) + u8(29))                        # 31 pieces
    d.transfer(1, 0, 0, 200, 200).sent()
    d.op(11, u8(0xc5) + u8(7) + u32(0x10))             # a hole
    d.transfer(1, 0, 0, 200, 200).flush(1, 0, 0, 200, 200).sent()
    seeds['fragments'] = d.b

    d = boot()                                         # taller than a band
    d.ctrl(1, u8(0x80) + u32(1) + u32(16384) + u32(300), fl=0x05)
    d.ctrl(3, u32(0) + u32(1) + u32(0) + u32(0) + u32(16384) + u32(300),
           fl=0x05)
    d.sent().sent().sent()
    seeds['bands'] = d.b

    # A 256 KiB whole-row transfer and its flush in one kick: the copy
    # waits for the UPDATE, made a piece at a time, then the socket fills.
    d = boot()
    d.ctrl(1, u8(0x80) + u32(1) + u32(256) + u32(256), fl=0x05)
    d.ctrl(6, u8(0) + u8(1) + u8(0x10) + u16(0))       # 448 KiB of backing
    d.ctrl(3, u32(0) + u32(1) + u32(0) + u32(0) + u32(256) + u32(256),
           fl=0x05)
    d.sent().sent()                                    # SCANOUT, UPDATE
    d.op(7 | 0x20)                                     # the frontend read it
    d.ctrl(5, u32(1) + u32(0) + u32(0) + u32(256) + u32(256) + u64(0),
           fl=0x04)
    d.ctrl(4, u32(1) + u32(0) + u32(0) + u32(256) + u32(256), fl=0x05)
    d.op(7 | 0x80, u8(31)).op(7 | 0x80, u8(15)).op(7).sent().op(7 | 0x20)
    d.ctrl(5, u32(1) + u32(0) + u32(0) + u32(256) + u32(256) + u64(0),
           fl=0x04)
    d.ctrl(4, u32(1) + u32(0) + u32(0) + u32(256) + u32(256), fl=0x04)
    d.ctrl(0)
    d.op(7 | 0x80, u8(255)).sent()
    d.sent().display_info_reply(1024, 768).op(7 | 0x20)
    # the same with a display that copies: all prepared inside the send
    d.op(7 | 0x40)
    d.ctrl(5, u32(1) + u32(0) + u32(0) + u32(256) + u32(256) + u64(0),
           fl=0x04)
    d.ctrl(4, u32(1) + u32(0) + u32(0) + u32(256) + u32(128), fl=0x05)
    d.sent()
    seeds['deferred'] = d.b

    d = boot(0x1f)
    d.ctrl(0).op(9 | 0x80)                             # display lost
    d.ctrl(0).op(13 | 0x40)                            # ctrl queue stops
    d.op(13)                                           # and starts again
    d.op(14, u8(4) + u16(0x1234))                      # avail idx corrupt
    d.op(5).op(12, u64(1))
    seeds['lost_stop_corrupt'] = d.b

    d = Dev(0x00)                                      # no display at all
    d.ctrl(0).ctrl(10, u8(0)).create(1, 16, 16)
    d.ctrl(6, u8(0x80) + u8(1) + u32(100000))          # too many entries
    d.ctrl(6, u8(0x00) + u8(1) + u8(0x80) + u64(0) + u16(16))
    d.ctrl(5, u8(1) + bytes([0, 0, 16, 16]) + u16(0))  # no backing
    d.ctrl(8, u32(0)).ctrl(9, u32(1) + u32(0)).ctrl(12, u8(0) + bytes(32))
    d.op(15 | 0x80, u8(0) + u8(0) + u16(16))
    seeds['no_display'] = d.b
    return seeds


TARGETS = {
    'fuzz_vu_msg': vu_msg_seeds,
    'fuzz_vring': vring_seeds,
    'fuzz_display': display_seeds,
    'fuzz_gpu_cmd': gpu_cmd_seeds,
    'fuzz_gpu_device': gpu_device_seeds,
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'corpus')
    for target, make in TARGETS.items():
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in make().items():
            with open(os.path.join(d, name), 'wb') as fp:
                fp.write(data)


if __name__ == '__main__':
    main()
