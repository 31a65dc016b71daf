#!/usr/bin/env bash
# The foundation: the 1st OS boots as the profile says, the orthros= parameter is
# seen, the user-data disk is ext3 at its mount point, the service answers a host
# client through the forwarded port, and the machine powers off cleanly.
. "$(dirname "$0")/lib.sh"

setup() { vm up --timeout 180; }
teardown() { vm down --timeout 30 >/dev/null 2>&1; }

t_boots() {
	local out
	out=$(vm exec active 'cat /proc/uptime; echo $((6 * 7))') || return 1
	expect_eq "arithmetic on the active's shell" "$(tail -1 <<<"$out")" 42 || return 1
	grep -q "orthros: active OS, ordinal 1, up" <<<"$(vm log active)" ||
		fail "the console never showed the init script finishing"
}

t_orthros_param() {
	expect_eq role "$(vm exec active 'cat /sys/kernel/orthros/role')" active &&
	expect_eq ordinal "$(vm exec active 'cat /sys/kernel/orthros/ordinal')" 1 &&
	vm exec active 'dmesg' | grep -q "orthros: role active, ordinal 1" ||
		fail "dmesg does not report the orthros= parameter"
}

t_partition() {
	# Cores, memory and devices as seen from inside, against the profile.
	local cpus iomem meminfo status
	cpus=$(vm exec active 'grep ^apicid /proc/cpuinfo') || return 1
	iomem=$(vm exec active 'cat /proc/iomem') || return 1
	meminfo=$(vm exec active 'cat /proc/meminfo') || return 1
	status=$(vm exec active 'orthros status --json') || return 1
	python3 "$TOP/tests/lib/partition.py" "$(prof --json)" "$cpus" "$iomem" "$meminfo" "$status"
}

t_data_disk_ext3() {
	local mnt out
	mnt=$(prof_get data_mount)
	vm exec active "grep ' $mnt ' /proc/mounts" | grep -q " $mnt $(prof_get data_fs) rw" ||
		fail "$mnt is not a read-write $(prof_get data_fs) mount" || return 1
	out=$(vm exec active "echo written-by-test > $mnt/probe && sync && cat $mnt/probe && rm $mnt/probe") &&
	expect_eq "read back from $mnt" "$out" written-by-test
}

t_service_from_host() {
	local port page
	port=$(vm port) || return 1
	page=$(curl -sS --max-time 20 "http://127.0.0.1:$port/") || fail "no answer on 127.0.0.1:$port" || return 1
	grep -q "disk $(cat "$TOP/build/data.ext3.id")" <<<"$page" ||
		fail "the page is not the one on this build's user-data disk: $page"
}

t_clean_poweroff() {
	local img=$TOP/build/vm/$VM/data.img
	vm down --timeout 60 || return 1
	grep -q "orthros: $(prof_get data_mount) unmounted" "$TOP/build/vm/$VM/console-first.log" ||
		fail "the shutdown did not unmount the user-data disk" || return 1
	fsck.ext3 -n "$img" || fail "fsck.ext3 -n found damage on the user-data disk"
}

run_tests
