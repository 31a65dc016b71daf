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
	vm log active | grep -q "orthros: active OS, ordinal 1, up" ||
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
	prof --json | python3 - "$cpus" "$iomem" "$meminfo" "$status" <<'PY'
import json, re, sys
prof = json.load(sys.stdin)
cpus, iomem, meminfo, status = sys.argv[1:]
bad = []
online = sorted(int(x) for x in re.findall(r"apicid\s*:\s*(\d+)", cpus))
if online != sorted(prof["first_apics"]):
    bad.append(f"online APIC IDs {online}, profile says {prof['first_apics']}")
ram = []
for line in iomem.splitlines():
    m = re.match(r"([0-9a-f]+)-([0-9a-f]+) : System RAM", line)
    if m:
        ram.append((int(m.group(1), 16), int(m.group(2), 16) + 1))
mine = [(r["start"], r["end"]) for a in ("first", "general") for r in prof["areas"][a]]
for s, e in ram:
    if not any(ms <= s and e <= me for ms, me in mine):
        bad.append(f"System RAM {s:#x}-{e:#x} is outside the 1st-OS and general areas")
for a in ("shmem", "backup_a", "backup_b"):
    for r in prof["areas"][a]:
        for s, e in ram:
            if s < r["end"] and r["start"] < e:
                bad.append(f"area {a} {r['start']:#x}-{r['end']:#x} is System RAM of the 1st OS")
ram_total = sum(e - s for s, e in ram)
general = sum(r["end"] - r["start"] for r in prof["areas"]["general"])
if ram_total < general:
    bad.append(f"only {ram_total >> 20} MiB System RAM, the general area alone is {general >> 20} MiB")
total = int(re.search(r"MemTotal:\s+(\d+) kB", meminfo).group(1)) * 1024
own = sum(e - s for s, e in mine)
if not (0.8 * general <= total <= own):
    bad.append(f"MemTotal {total >> 20} MiB, want between {int(0.8 * general) >> 20} and {own >> 20} MiB")
st = json.loads(status)
if st["apic_ids"] != online or st["role"] != "active" or st["ordinal"] != 1:
    bad.append(f"orthros status disagrees with /proc: {st}")
for d in st["devices"]:
    want_here = d["owner"] in ("active", "first")
    if want_here and not d["driver"]:
        bad.append(f"device {d['name']} ({d['pci']}) belongs to the 1st OS but has no driver")
print(f"cores {online}, {len(ram)} RAM ranges, {ram_total >> 20} MiB System RAM, MemTotal {total >> 20} MiB")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
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
