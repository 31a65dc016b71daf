#!/usr/bin/env bash
# Build the Orthros kernel (build/bzImage) and nothing more than needed.
#
#   1. The Debian linux-source-6.12 tarball is extracted once into build/linux-src.
#   2. kernel-patches/series is applied.  Only the files the old or the new series
#      touch are rewritten, and only when their content changes, so kbuild
#      recompiles exactly what a changed patch affects.
#   3. tinyconfig + kernel-patches/orthros.config -> .config; every option of the
#      fragment is checked to have survived olddefconfig.
#   4. make bzImage with ccache.
#
# The result is cached outside the repository, keyed by the tarball, the patches,
# the config fragment, the compiler and this script: a fresh clone with a known
# key copies the kernel instead of building it.
#
# Environment: LINUX_TARBALL (default /usr/src/linux-source-6.12.tar.xz),
#              ORTHROS_BUILD (default build/: the tree, objects and bzImage),
#              ORTHROS_CACHE (default ~/.cache/orthros), JOBS (default nproc+1).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
tarball=${LINUX_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
B=${ORTHROS_BUILD:-$top/build}
SRC=$B/linux-src
PRISTINE=$B/linux-pristine   # pristine copies of the files the series touches
OBJ=$B/linux-obj
OUT=$B/bzImage
PATCHDIR=$top/kernel-patches
FRAGMENT=$PATCHDIR/orthros.config
cache=${ORTHROS_CACHE:-$HOME/.cache/orthros}/kernel
jobs=${JOBS:-$(( $(nproc) + 1 ))}

say() { printf 'kernel: %s\n' "$*"; }
trap 'echo "kernel: error: line $LINENO: $BASH_COMMAND failed" >&2' ERR
die() { printf 'kernel: error: %s\n' "$*" >&2; exit 1; }

[ -f "$tarball" ] || die "no kernel source tarball at $tarball (install the Debian package linux-source-6.12: make deps)"
[ -f "$PATCHDIR/series" ] || die "missing $PATCHDIR/series"

# The patches named by the series, in order; each must exist.
mapfile -t patches < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$PATCHDIR/series")
for p in "${patches[@]}"; do
	[ -f "$PATCHDIR/$p" ] || die "series names $p, which is not in kernel-patches/"
done

# The components with kernel code: each one's kernel/ folder is linked into the
# tree as orthros/<component>/ (kernel-patches/0002 descends into orthros/).
components=()
for c in shmem heartbeat bootloader failover migrate workloads; do
	[ -d "$top/$c/kernel" ] && components+=("$c")
done

# --- the cache key -----------------------------------------------------------
tar_id=$(stat -c '%s %Y' "$tarball")
tar_sum_file=$B/.tarball.sum
if [ -f "$tar_sum_file" ] && [ "$(sed -n 1p "$tar_sum_file")" = "$tar_id" ]; then
	tar_sum=$(sed -n 2p "$tar_sum_file")
else
	mkdir -p "$B"
	tar_sum=$(sha256sum "$tarball" | cut -d' ' -f1)
	printf '%s\n%s\n' "$tar_id" "$tar_sum" > "$tar_sum_file"
fi
key=$( {
	echo "tarball $tar_sum"
	echo "cc $(gcc --version | head -1)"
	sha256sum "$0" "$FRAGMENT" "$PATCHDIR/series" | cut -d' ' -f1
	for p in "${patches[@]}"; do sha256sum "$PATCHDIR/$p" | cut -d' ' -f1; done
	for c in "${components[@]}"; do
		(cd "$top/$c/kernel" && find . -type f | LC_ALL=C sort | xargs sha256sum)
	done
} | sha256sum | cut -c1-32)

if [ -f "$OUT" ] && [ "$(cat "$B/bzImage.key" 2>/dev/null)" = "$key" ]; then
	say "up to date ($key)"
	exit 0
fi
if [ -f "$cache/$key/bzImage" ]; then
	cp "$cache/$key/bzImage" "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
	cp "$cache/$key/config" "$B/kernel.config" 2>/dev/null || true
	echo "$key" > "$B/bzImage.key"
	say "taken from the build cache $cache/$key"
	exit 0
fi

# --- 1. the source tree -------------------------------------------------------
if [ "$(cat "$SRC/.orthros-tarball" 2>/dev/null)" != "$tar_sum" ]; then
	say "extracting $(basename "$tarball")"
	rm -rf "$SRC" "$PRISTINE" "$OBJ"
	mkdir -p "$SRC"
	tar -xf "$tarball" -C "$SRC" --strip-components=1
	ver=$(awk '/^VERSION =/{v=$3} /^PATCHLEVEL =/{p=$3} /^SUBLEVEL =/{s=$3} END{print v"."p"."s}' "$SRC/Makefile")
	case $ver in
	6.12.*) say "linux $ver" ;;
	*) rm -rf "$SRC"; die "$tarball holds linux $ver, not 6.12.x" ;;
	esac
	: > "$SRC/.orthros-touched"
	echo "$tar_sum" > "$SRC/.orthros-tarball"
fi

# --- 2. the patches -----------------------------------------------------------
touched() { # files named in the given patches
	sed -n -e 's#^--- a/\([^[:space:]]*\).*#\1#p' -e 's#^+++ b/\([^[:space:]]*\).*#\1#p' "$@" | sort -u
}
new_touched=$( (cd "$PATCHDIR" && touched "${patches[@]/#/./}") )
old_touched=$(cat "$SRC/.orthros-touched")
all=$(printf '%s\n%s\n' "$new_touched" "$old_touched" | sed '/^$/d' | sort -u)

mkdir -p "$PRISTINE"
while read -r f; do
	[ -n "$f" ] || continue
	# A file no earlier series touched is still pristine in the tree: keep a copy.
	if ! grep -qxF "$f" <<<"$old_touched" && [ -f "$SRC/$f" ] && [ ! -f "$PRISTINE/$f" ]; then
		mkdir -p "$PRISTINE/$(dirname "$f")"
		cp -p "$SRC/$f" "$PRISTINE/$f"
	fi
done <<<"$all"

stage=$(mktemp -d "$B/.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
while read -r f; do
	[ -n "$f" ] && [ -f "$PRISTINE/$f" ] || continue
	mkdir -p "$stage/$(dirname "$f")"
	cp -p "$PRISTINE/$f" "$stage/$f"
done <<<"$all"
for p in "${patches[@]}"; do
	if ! out=$(patch -d "$stage" -p1 -F0 -N --no-backup-if-mismatch -r - < "$PATCHDIR/$p" 2>&1); then
		printf '%s\n' "$out" >&2
		die "$p does not apply (in series order, without fuzz)"
	fi
done
changed=0
while read -r f; do
	[ -n "$f" ] || continue
	if [ -f "$stage/$f" ]; then
		if ! cmp -s "$stage/$f" "$SRC/$f"; then
			mkdir -p "$SRC/$(dirname "$f")"
			cp "$stage/$f" "$SRC/$f"
			changed=$((changed + 1))
		fi
	elif [ -e "$SRC/$f" ]; then
		rm -f "$SRC/$f"
		changed=$((changed + 1))
	fi
done <<<"$all"
printf '%s\n' "$new_touched" > "$SRC/.orthros-touched"
say "${#patches[@]} patches applied, $changed files changed"

# --- the components' kernel code ---------------------------------------------
# Mirror <component>/kernel/ into orthros/<component>/, rewriting only files whose
# content changed and removing files the component no longer has.
sync_file() { # SRC DST
	if ! cmp -s "$1" "$2"; then
		mkdir -p "$(dirname "$2")"
		cp "$1" "$2"
	fi
}
mkdir -p "$SRC/orthros"
mk=$(mktemp)
echo "# Generated by scripts/build-kernel.sh: the Orthros components." > "$mk"
for c in "${components[@]}"; do
	echo "obj-y += $c/" >> "$mk"
	(cd "$top/$c/kernel" && find . -type f) | while read -r f; do
		sync_file "$top/$c/kernel/$f" "$SRC/orthros/$c/$f"
	done
done
sync_file "$mk" "$SRC/orthros/Makefile"
rm -f "$mk"
(cd "$SRC/orthros" && find . -mindepth 2 -type f) | while read -r f; do
	f=${f#./}
	c=${f%%/*}
	if [ ! -e "$top/$c/kernel/${f#"$c"/}" ]; then
		rm -f "$SRC/orthros/$f"
	fi
done
say "components: ${components[*]:-none}"

# --- 3. the configuration -----------------------------------------------------
kmake() {
	make -C "$SRC" O="$OBJ" ARCH=x86_64 \
		KBUILD_BUILD_USER=orthros KBUILD_BUILD_HOST=orthros \
		KBUILD_BUILD_TIMESTAMP='2026-01-01' "$@"
}
mkdir -p "$OBJ"
say "configuring: tinyconfig + $(basename "$FRAGMENT")"
kmake -s KCONFIG_CONFIG=.config.new tinyconfig >/dev/null
"$SRC/scripts/kconfig/merge_config.sh" -m -O "$OBJ" "$OBJ/.config.new" "$FRAGMENT" >/dev/null
mv "$OBJ/.config" "$OBJ/.config.new" 2>/dev/null || true
kmake -s KCONFIG_CONFIG=.config.new olddefconfig >/dev/null
missing=$(while read -r line; do
	case $line in
	CONFIG_*=*)
		if ! grep -qxF "$line" "$OBJ/.config.new"; then
			echo "  want $line, got: $(grep -E "^(# )?${line%%=*}[= ]" "$OBJ/.config.new" || echo unset)"
		fi ;;
	"# CONFIG_"*" is not set")
		sym=${line#\# }; sym=${sym%% *}
		if grep -qE "^$sym=" "$OBJ/.config.new"; then
			echo "  want $sym unset, got: $(grep -E "^$sym=" "$OBJ/.config.new")"
		fi ;;
	esac
done < "$FRAGMENT")
if [ -n "$missing" ]; then
	printf '%s\n' "$missing" >&2
	die "options of $(basename "$FRAGMENT") did not survive olddefconfig (a missing dependency?)"
fi
if cmp -s "$OBJ/.config.new" "$OBJ/.config"; then
	rm -f "$OBJ/.config.new"
else
	mv "$OBJ/.config.new" "$OBJ/.config"
fi

# --- 4. compile -------------------------------------------------------------
export CCACHE_BASEDIR=$B CCACHE_SLOPPINESS=time_macros,include_file_mtime,include_file_ctime
ccache -M 5G >/dev/null 2>&1 || true
say "compiling with $jobs jobs (full log: build/kernel-build.log)"
start=$(date +%s)
kmake -j"$jobs" CC="ccache gcc" bzImage > "$B/kernel-build.log" 2>&1 &
pid=$!
# progress: one line every 30 s while kbuild runs
while kill -0 "$pid" 2>/dev/null; do
	for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
	kill -0 "$pid" 2>/dev/null && say "  $(( $(date +%s) - start )) s, $(grep -cE '^  (CC|AS|LD|AR)' "$B/kernel-build.log") steps"
done
if ! wait "$pid"; then
	grep -E 'error|Error' "$B/kernel-build.log" | head -20 >&2
	tail -20 "$B/kernel-build.log" >&2
	die "kernel build failed (build/kernel-build.log)"
fi
cp "$OBJ/arch/x86/boot/bzImage" "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
cp "$OBJ/.config" "$B/kernel.config"
echo "$key" > "$B/bzImage.key"
say "built in $(( $(date +%s) - start )) s: $(stat -c %s "$OUT") bytes"

# --- the cache ---------------------------------------------------------------
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.new.XXXXXX")
cp "$OUT" "$tmp/bzImage" && cp "$OBJ/.config" "$tmp/config"
rm -rf "${cache:?}/$key" && mv "$tmp" "$cache/$key"
# keep the 6 newest kernels
ls -1dt "$cache"/*/ 2>/dev/null | tail -n +7 | xargs -r rm -rf
