#!/bin/sh
# Build the end-to-end test guest: E2E_DIR/vmlinuz and E2E_DIR/initrd.img (busybox,
# the virtio-gpu modules, tests/e2e/guest/init and the static guest programs).
#
# Usage: tests/e2e/mkinitramfs.sh [E2E_DIR]   (default: $E2E_DIR, else build/e2e)
# Needs what tests/e2e/setup.sh installs and unpacks.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=${1:-${E2E_DIR:-$root/build/e2e}}
dir=$(cd "$dir" && pwd)
CC=${CC:-gcc}

die() { echo "mkinitramfs: $*" >&2; exit 1; }

[ -f "$dir/kernel.version" ] || die "no $dir/kernel.version: run tests/e2e/setup.sh $dir"
kver=$(cat "$dir/kernel.version")
kroot=$dir/kernel
mods=$kroot/lib/modules/$kver
[ -f "$kroot/boot/vmlinuz-$kver" ] || die "no kernel in $kroot"
[ -f "$mods/modules.dep" ] || die "no $mods/modules.dep: run tests/e2e/setup.sh $dir"
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || die "busybox not found (apt-get install busybox-static)"
file -L "$busybox" 2>/dev/null | grep -q 'dynamically linked' &&
	die "$busybox is not static (apt-get install busybox-static)"

# The guest programs: static, raw ioctls.  Debian's linux-libc-dev has no DRM uapi
# headers; libdrm-dev carries the kernel's copies in /usr/include/libdrm, which we
# expose as <drm/...> (headers only: nothing links libdrm).
inc=$dir/include
mkdir -p "$inc" "$dir/guest"
if [ -f /usr/include/drm/drm_mode.h ]; then
	rm -rf "$inc/drm"
elif [ -f /usr/include/libdrm/drm_mode.h ]; then
	ln -sfn /usr/include/libdrm "$inc/drm"
else
	die "no DRM uapi headers (apt-get install libdrm-dev)"
fi
for p in drmflip fbfill; do
	$CC -static -O2 -Wall -Wextra -std=gnu11 -I"$inc" -o "$dir/guest/$p" "$here/guest/$p.c"
done

stage=$dir/initramfs.d
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/etc" "$stage/proc" "$stage/sys" "$stage/dev" \
	"$stage/tmp" "$stage/run" "$stage/lib/modules"
cp "$busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
cp "$here/guest/init" "$stage/init"
chmod 755 "$stage/init"
cp "$dir/guest/drmflip" "$dir/guest/fbfill" "$stage/bin/"
cp "$here/guest/hostroot" "$stage/bin/hostroot"
chmod 755 "$stage/bin/hostroot"
# glflip is the exception: a GLES2 client linked against the host's Mesa, run in the
# guest chrooted into the host's userland (hostroot), for the 3D case.  Without the
# GL development packages (setup.sh installs them) only that case cannot run.
rm -f "$dir/guest/glflip"
if gl=$(pkg-config --cflags --libs egl glesv2 gbm libdrm 2>/dev/null); then
	# shellcheck disable=SC2086 # $gl is a list of flags
	$CC -O2 -Wall -Wextra -std=gnu11 -o "$dir/guest/glflip" "$here/guest/glflip.c" $gl
	cp "$dir/guest/glflip" "$stage/bin/"
else
	echo "mkinitramfs: no EGL/GLESv2/GBM/libdrm development files: no glflip" >&2
fi

# Wanted modules and their dependencies, in load order (a module's dependencies are
# listed in modules.dep so that the last one is loaded first).  A module built into
# this kernel is simply not found there and needs nothing.  modlist WANT SKIP prints
# them, leaving out those already listed in the file SKIP.
modlist() {
	awk -v want="$1" '
	function key(path,   b) {
		b = path; sub(/.*\//, "", b); sub(/\.ko.*$/, "", b); gsub(/-/, "_", b); return b
	}
	FILENAME == ARGV[1] { seen[$0] = 1; next }
	{ f = $1; sub(/:$/, "", f); dep[key(f)] = $0; file[key(f)] = f }
	END {
		n = split(want, w, " ")
		for (i = 1; i <= n; i++) {
			if (!(w[i] in dep)) continue
			m = split(dep[w[i]], d, " ")
			for (j = m; j >= 2; j--) add(d[j])
			add(file[w[i]])
		}
	}
	function add(f) { if (!(f in seen)) { seen[f] = 1; print f } }
	' "$2" "$mods/modules.dep"
}
# Unpack the modules listed in the file $1 into the initramfs; list them in $2.
install_mods() {
	: >"$2"
	while read -r f; do
		src=$mods/$f
		dst=${f%.xz}
		dst=${dst%.zst}
		dst=${dst%.gz}
		mkdir -p "$stage/lib/modules/$(dirname "$dst")"
		case $f in
		*.xz) xz -dc "$src" >"$stage/lib/modules/$dst" ;;
		*.zst) zstd -qdc "$src" >"$stage/lib/modules/$dst" ;;
		*.gz) gzip -dc "$src" >"$stage/lib/modules/$dst" ;;
		*) cp "$src" "$stage/lib/modules/$dst" ;;
		esac
		echo "$dst" >>"$2"
	done <"$1"
	rm "$1"
}
check_mods() {
	for m in $1; do
		grep -q "/$(echo "$m" | sed 's/_/[-_]/g')\.ko" "$mods/modules.builtin" ||
			grep -q "/$(echo "$m" | sed 's/_/[-_]/g')\.ko" "$2" ||
			die "module $m is neither built in nor in modules.dep"
	done
}
# Loaded by /init at every boot.
want="virtio_pci virtio_rng virtio_gpu"
modlist "$want" /dev/null >"$stage/etc/e2e-modules.src"
check_mods "$want" "$stage/etc/e2e-modules.src"
# 9p over virtio, for the host's userland shared by QEMU's virtfs: loaded only by
# hostroot (the GL cases), so the other cases boot as before.
want9p="9pnet_virtio 9p"
modlist "$want9p" "$stage/etc/e2e-modules.src" >"$stage/etc/e2e-modules-9p.src"
check_mods "$want9p" "$stage/etc/e2e-modules-9p.src"
install_mods "$stage/etc/e2e-modules.src" "$stage/etc/e2e-modules"
install_mods "$stage/etc/e2e-modules-9p.src" "$stage/etc/e2e-modules-9p"

(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$dir/initrd.img.tmp"
mv "$dir/initrd.img.tmp" "$dir/initrd.img"
cp "$kroot/boot/vmlinuz-$kver" "$dir/vmlinuz"
echo "mkinitramfs: $dir/vmlinuz ($kver), $dir/initrd.img ($(wc -c <"$dir/initrd.img") bytes; modules: $(tr '\n' ' ' <"$stage/etc/e2e-modules"); on demand: $(tr '\n' ' ' <"$stage/etc/e2e-modules-9p"))" >&2
