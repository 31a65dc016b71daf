#!/usr/bin/env bash
# Build the guests' initramfs: busybox-static, the Orthros tools, the machine
# profile, guest/ (init scripts), Debian's criu with the libraries it links
# (process rescue) and, in /boot, the kernel and the initramfs a backup boots
# with (the same tree without that nested initramfs).
# Usage: build-initramfs.sh OUT BZIMAGE TOOL...
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$1 kernel=$2
shift 2
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "initramfs: error: no static busybox at $busybox (make deps)" >&2; exit 1; }
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || ldd "$busybox" 2>&1 | grep -q 'not a dynamic' ||
	{ echo "initramfs: error: $busybox is not statically linked (install busybox-static)" >&2; exit 1; }

root=$(mktemp -d "$top/build/.rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/orthros,proc,sys,dev,tmp,run,root,var}
cp "$busybox" "$root/bin/busybox"
# one link per applet, where busybox says it belongs
"$busybox" --list-full | while read -r applet; do
	[ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
ln -sf /bin/busybox "$root/init"
cp -a "$top/guest/." "$root/"
cp "$top/machine.conf" "$root/etc/orthros/machine.conf"
for t in "$@"; do cp "$t" "$root/bin/"; done

# ship_libs BINARY...: for each dynamically linked one, the shared libraries
# ldd names and the dynamic loader, copied (symlinks resolved) to the same
# paths in the initramfs, where ld.so finds them without an ld.so.cache; a
# path shared by two binaries is copied once; static binaries need nothing.
ship_libs() {
	local bin deps lib
	for bin in "$@"; do
		deps=$(ldd "$bin" 2>&1) || continue	# "not a dynamic executable"
		if grep -q 'not found' <<<"$deps"; then
			echo "initramfs: error: $bin: missing libraries: $(grep 'not found' <<<"$deps" | tr -s '\t\n' '  ')" >&2
			exit 1
		fi
		for lib in $(grep -o '/[^ ]*' <<<"$deps" | sort -u); do
			[ -e "$root$lib" ] && continue
			mkdir -p "$root${lib%/*}"
			cp -L "$lib" "$root$lib"
		done
	done
}
# ship_dynamic BINARY...: installed Debian programs, at their own paths, with their libraries
ship_dynamic() {
	local bin
	for bin in "$@"; do
		[ -x "$bin" ] || { echo "initramfs: error: $bin is missing (make deps)" >&2; exit 1; }
		mkdir -p "$root${bin%/*}"
		cp -L "$bin" "$root$bin"
	done
	ship_libs "$@"
}
# the tools and workloads (some are dynamically linked Debian programs)
ship_libs "$@"
# criu: restores the rescued processes (and dumps them, the tests' oracle)
ship_dynamic /usr/sbin/criu
mkdir -p "$root/boot"
cp "$kernel" "$root/boot/bzImage"
pack() { (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9n; }
pack > "$out.backup.tmp"
mv "$out.backup.tmp" "$root/boot/initramfs.cpio.gz"
pack > "$out.tmp"
mv "$out.tmp" "$out"
echo "initramfs: $out, $(stat -c %s "$out") bytes (backup's: $(stat -c %s "$root/boot/initramfs.cpio.gz")), tools: $(for t in "$@"; do printf '%s ' "${t##*/}"; done)"
