#!/bin/sh
# Start vugpu listening on SOCKET and print the QEMU command line that
# attaches a guest to it.  `ninja -C build run` calls this.
set -eu

if [ $# -lt 2 ]; then
	echo "usage: $0 VUGPU SOCKET [VUGPU-OPTION]..." >&2
	exit 2
fi
bin=$1
sock=$2
shift 2

if [ ! -x "$bin" ]; then
	echo "$0: $bin is not an executable; build it first" >&2
	exit 1
fi
# A socket left behind by an earlier run would make the bind fail.
if [ -S "$sock" ]; then
	rm -f "$sock"
fi

cat <<END
Starting $bin on $sock.  Attach a guest with:

  qemu-system-x86_64 -machine q35,memory-backend=mem0 \\
    -object memory-backend-memfd,id=mem0,size=1G,share=on \\
    -chardev socket,id=vgpu,path=$sock \\
    -device vhost-user-gpu-pci,chardev=vgpu -vga none \\
    -display gtk,gl=on -accel kvm -drive file=DISK.qcow2,if=virtio

with DISK.qcow2 your guest's disk image (drop -accel kvm where /dev/kvm is
missing).  Ctrl-C stops vugpu.

END
exec "$bin" --socket-path "$sock" "$@"
