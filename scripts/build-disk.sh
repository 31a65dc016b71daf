#!/usr/bin/env bash
# Build the user-data disk: an ext3 image made without root (mkfs.ext3 -d),
# holding the service's document root.  Usage: build-disk.sh OUT
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$1
prof() { "$top/build/host/orthros-profile" --profile "$top/machine.conf" get "$1"; }
size=$(( $(prof data_size) / 1024 ))
fs=$(prof data_fs)
tree=$(mktemp -d "$top/build/.datafs.XXXXXX")
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/www"
# The page names this build, so a client can tell it reached this disk's copy.
id=$(date +%s%N | sha256sum | cut -c1-16)
printf '<html><body><h1>Orthros service</h1><p>disk %s</p></body></html>\n' "$id" > "$tree/www/index.html"
rm -f "$out.tmp"
mkfs."$fs" -q -F -L orthros-data -d "$tree" "$out.tmp" "${size}k" >/dev/null
mv "$out.tmp" "$out"
echo "$id" > "$out.id"
echo "disk: $out, $fs, $size KiB, id $id"
