#!/usr/bin/env bash
# The kernel build refuses what it cannot use, with a clear error and without
# touching the real build (it runs in a scratch build folder and cache).
. "$(dirname "$0")/lib.sh"

scratch=
setup() { scratch=$(mktemp -d); }
teardown() { rm -rf "$scratch"; }

# build_with TARBALL: run the kernel build against it in the scratch folder
build_with() {
	LINUX_TARBALL=$1 ORTHROS_BUILD=$scratch/build ORTHROS_CACHE=$scratch/cache \
		"$TOP/scripts/build-kernel.sh" 2>&1
}

t_refuses_missing_tarball() {
	local out rc
	out=$(build_with "$scratch/nothing.tar.xz")
	rc=$?
	[ $rc -ne 0 ] || fail "a missing tarball was accepted" || return 1
	grep -q "no kernel source tarball at $scratch/nothing.tar.xz" <<<"$out" || fail "unclear: $out"
}

t_refuses_other_version() {
	local out rc
	mkdir -p "$scratch/linux-source-6.11"
	printf 'VERSION = 6\nPATCHLEVEL = 11\nSUBLEVEL = 3\n' > "$scratch/linux-source-6.11/Makefile"
	tar -C "$scratch" -cJf "$scratch/linux-source-6.11.tar.xz" linux-source-6.11
	out=$(build_with "$scratch/linux-source-6.11.tar.xz")
	rc=$?
	[ $rc -ne 0 ] || fail "a 6.11 tarball was accepted" || return 1
	grep -q "holds linux 6.11.3, not 6.12.x" <<<"$out" || fail "unclear: $out" || return 1
	[ ! -e "$scratch/build/bzImage" ] || fail "a kernel was produced anyway"
}

t_series_names_existing_patches() {
	local p missing=0
	while read -r p; do
		[ -f "$TOP/kernel-patches/$p" ] || { echo "series names missing $p"; missing=1; }
	done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$TOP/kernel-patches/series")
	[ $missing -eq 0 ]
}

run_tests
