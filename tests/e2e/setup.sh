#!/bin/sh
# Install what the end-to-end tests need: QEMU 10 from bookworm-backports, the guest's
# userland (busybox-static, cpio, a static C toolchain; for the 3D case the host's Mesa,
# kmscube, mesa-utils and the GL development files), and a guest kernel unpacked into
# E2E_DIR (never into the host's /boot).
#
# Usage: tests/e2e/setup.sh [E2E_DIR]     (default: $E2E_DIR, else build/e2e)
# Idempotent: a second run changes nothing and downloads nothing.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=${1:-${E2E_DIR:-$root/build/e2e}}

if [ "$(id -u)" -eq 0 ]; then
	SUDO=
elif command -v sudo >/dev/null 2>&1; then
	SUDO=sudo
else
	echo "setup.sh: must run as root (no sudo found)" >&2
	exit 1
fi

log() { echo "e2e-setup: $*" >&2; }

# The mirror the system already uses for bookworm, so that backports comes from the same
# place (a local mirror, a snapshot, a proxy).  deb822 first, then the one-line format.
find_mirror() {
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk '
		function flush() {
			if (types ~ /(^| )deb( |$)/ && suites ~ /(^| )bookworm( |$)/ && uri != "" && !done) {
				print uri " " key; done = 1
			}
			types = suites = uri = key = ""
		}
		/^[ \t]*$/ { flush(); next }
		/^#/ { next }
		tolower($1) == "types:" { $1 = ""; types = $0 " " }
		tolower($1) == "suites:" { $1 = ""; suites = $0 " " }
		tolower($1) == "uris:" { uri = $2 }
		tolower($1) == "signed-by:" { key = $2 }
		END { flush() }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		# deb [options] URI bookworm component...
		awk '$1 == "deb" {
			i = 2
			if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) == "bookworm") print $i
		}' "$f"
	done
}

have_backports() {
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		grep -v '^[[:space:]]*#' "$f" |
			grep -qE '(^|[[:space:]])bookworm-backports([[:space:]]|$)' && return 0
	done
	return 1
}

bpo_candidate() {
	# Version of qemu-system-x86 offered by bookworm-backports, empty if none.
	apt-cache madison qemu-system-x86 2>/dev/null |
		awk -F'|' '$3 ~ /bookworm-backports/ { gsub(/ /, "", $2); print $2; exit }'
}

updated=0
if ! have_backports; then
	line=$(find_mirror | head -n 1)
	uri=${line%% *}
	key=${line#* }
	[ "$key" = "$line" ] && key=
	if [ -z "$uri" ]; then
		log "cannot find the bookworm mirror in /etc/apt/sources.list*"
		exit 1
	fi
	[ -n "$key" ] || key=/usr/share/keyrings/debian-archive-keyring.gpg
	log "adding bookworm-backports from $uri"
	printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
		"$uri" "$key" | $SUDO tee /etc/apt/sources.list.d/vugpu-e2e-backports.sources >/dev/null
	$SUDO apt-get update -q
	updated=1
fi
if [ -z "$(bpo_candidate)" ] && [ "$updated" -eq 0 ]; then
	$SUDO apt-get update -q
fi
if [ -z "$(bpo_candidate)" ]; then
	log "bookworm-backports offers no qemu-system-x86"
	exit 1
fi

mkdir -p "$dir"

# Upgrading qemu-system-gui along with qemu-system-x86 replaces QEMU 7.2's own
# vhost-user-gpu with 10.0's.  Keep bookworm's (7.2) one unpacked in E2E_DIR/qemu72 as a
# second reference backend: it uses the same libraries as 10.0's, which stay installed.
if [ ! -x "$dir/qemu72/usr/lib/qemu/vhost-user-gpu" ]; then
	old=$(apt-cache madison qemu-system-gui 2>/dev/null |
		awk -F'|' '$3 !~ /backports/ { gsub(/ /, "", $2); print $2; exit }')
	if [ -n "$old" ]; then
		log "unpacking qemu-system-gui $old's vhost-user-gpu into $dir/qemu72"
		rm -f "$dir"/qemu-system-gui_*.deb
		if ! (cd "$dir" && apt-get download "qemu-system-gui=$old" >/dev/null 2>&1 &&
			dpkg -x qemu-system-gui_*.deb qemu72); then
			log "could not unpack qemu-system-gui $old (not fatal)"
		fi
		rm -f "$dir"/qemu-system-gui_*.deb
	fi
fi

# The 3D case (virgl-gl) runs the host's Mesa in the guest: its virgl driver
# (libgl1-mesa-dri), kmscube and eglinfo (mesa-utils), and glflip, built against
# the host's libEGL/libGLESv2/libgbm/libdrm.
pkgs="busybox-static cpio gcc libc6-dev linux-libc-dev libdrm-dev python3 kmod
	libgl1-mesa-dri libegl-dev libgles-dev libgbm-dev pkg-config kmscube mesa-utils"
want=$(bpo_candidate)
have=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || true)
have_gui=$(dpkg-query -W -f='${Version}' qemu-system-gui 2>/dev/null || true)
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
# qemu-system-gui holds QEMU's own /usr/lib/qemu/vhost-user-gpu, the reference backend;
# it must move to 10.0 with the rest or apt removes it.
if [ "$have" != "$want" ] || [ "$have_gui" != "$want" ] || [ -n "$missing" ]; then
	log "installing qemu-system-x86 $want from bookworm-backports$missing"
	# shellcheck disable=SC2086 # $pkgs is a list
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "qemu-system-x86/bookworm-backports" \
		"qemu-system-gui/bookworm-backports" $pkgs
fi
case $(qemu-system-x86_64 --version | head -n 1) in
*"version 1"[0-9].*) ;;
*)	log "qemu-system-x86_64 is not QEMU >= 10: $(qemu-system-x86_64 --version | head -n 1)"
	exit 1 ;;
esac

# The guest kernel: the package linux-image-amd64 depends on, unpacked into E2E_DIR.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
if [ -z "$kpkg" ]; then
	log "cannot find the kernel package linux-image-amd64 depends on"
	exit 1
fi
kver=${kpkg#linux-image-}
if [ ! -f "$dir/kernel/boot/vmlinuz-$kver" ] || [ ! -f "$dir/kernel/lib/modules/$kver/modules.dep" ]; then
	log "fetching $kpkg"
	rm -rf "$dir/kernel" "$dir"/linux-image-*.deb
	# apt-get download drops privileges to _apt; let it write here.
	(cd "$dir" && apt-get download "$kpkg")
	dpkg -x "$dir"/"$kpkg"_*.deb "$dir/kernel"
	rm -f "$dir"/"$kpkg"_*.deb
fi
# The package ships no modules.dep (its postinst runs depmod); make one.
if [ ! -f "$dir/kernel/lib/modules/$kver/modules.dep" ]; then
	PATH=$PATH:/sbin:/usr/sbin depmod -b "$dir/kernel" "$kver"
fi
echo "$kver" >"$dir/kernel.version"
log "ready: QEMU $(qemu-system-x86_64 --version | awk 'NR == 1 { print $4 }'), guest kernel $kver in $dir/kernel"
