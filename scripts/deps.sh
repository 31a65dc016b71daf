#!/usr/bin/env bash
# Install the Debian packages Orthros needs to build and run.  Idempotent: when
# everything is installed it only checks and returns.
set -euo pipefail
pkgs=(
	linux-source-6.12	# the kernel source tarball in /usr/src
	gcc make libc6-dev bc bison flex libelf-dev libssl-dev perl python3
	cpio xz-utils gzip	# kernel build, initramfs
	ccache			# compiler cache for kernel rebuilds
	qemu-system-x86		# the machine
	busybox-static		# the guests' user space
	e2fsprogs		# mkfs.ext3 -d, fsck.ext3
	curl			# host-side client of the guest's service
	criu python3-protobuf	# process rescue: criu is shipped into the guests; crit reads its images
	apache2-bin		# the protected service: installed on the user-data disk (build-disk.sh)
	wrk			# host-side HTTP load client (make bench, Apache tests)
	libaio-dev		# the asynchronous-I/O workload
)
missing=()
for p in "${pkgs[@]}"; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { echo "deps: all ${#pkgs[@]} packages installed"; exit 0; }
echo "deps: installing ${missing[*]}"
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
if [ -n "$sudo" ] && ! command -v sudo >/dev/null; then
	echo "deps: error: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: installed ${missing[*]}"
