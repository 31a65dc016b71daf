#!/usr/bin/env bash
# Build the user-data disk: an ext3 image made without root (mkfs.ext3 -d),
# holding the service's document root and Apache httpd.  Usage: build-disk.sh OUT
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
# Apache httpd, installed on the disk as the paper did (Debian's apache2-bin:
# the binary, the modules this configuration loads, the libraries ldd names),
# ServerRoot /data/apache, prefork MPM, DocumentRoot the disk's www.
apache=$tree/apache
mkdir -p "$apache"/{bin,lib,modules,conf,logs}
cp -L /usr/sbin/apache2 "$apache/bin/apache2"
mods="mpm_prefork authz_core dir mime"
for m in $mods; do cp -L "/usr/lib/apache2/modules/mod_$m.so" "$apache/modules/"; done
for bin in "$apache/bin/apache2" "$apache"/modules/*.so; do
	deps=$(ldd "$bin") || { echo "disk: error: ldd $bin failed" >&2; exit 1; }
	if grep -q 'not found' <<<"$deps"; then
		echo "disk: error: $bin: missing libraries (make deps)" >&2; exit 1
	fi
	# (not the C library: the guests' own, the initramfs ships it with its loader)
	for lib in $(grep -o '=> /[^ ]*' <<<"$deps" | cut -c4- | grep -v '/libc\.so'); do
		[ -e "$apache/lib/${lib##*/}" ] || cp -L "$lib" "$apache/lib/"
	done
done
mnt=$(prof data_mount)
{
	echo "# Apache httpd on the user-data disk (scripts/build-disk.sh): prefork, one listener"
	echo "ServerRoot $mnt/apache"
	echo "ServerName orthros"
	echo "Listen 0.0.0.0:$(prof service_port)"
	for m in $mods; do echo "LoadModule ${m}_module modules/mod_$m.so"; done
	cat <<CONF
# the guests have no user database: the children run as uid/gid 1
User #1
Group #1
PidFile logs/httpd.pid
ErrorLog logs/error.log
LogFormat "%h %t \"%r\" %>s %b" common
CustomLog logs/access.log common
DocumentRoot $mnt/www
<Directory $mnt/www>
	Require all granted
</Directory>
DirectoryIndex index.html
TypesConfig /dev/null
AddType text/html .html
AddType application/octet-stream .bin
StartServers 4
MinSpareServers 2
MaxSpareServers 6
ServerLimit 8
MaxRequestWorkers 8
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 60
CONF
} > "$apache/conf/httpd.conf"
chmod 777 "$apache/logs"
rm -f "$out.tmp"
mkfs."$fs" -q -F -L orthros-data -d "$tree" "$out.tmp" "${size}k" >/dev/null
mv "$out.tmp" "$out"
echo "$id" > "$out.id"
echo "disk: $out, $fs, $size KiB, id $id"
