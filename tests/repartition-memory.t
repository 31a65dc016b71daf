#!/usr/bin/env bash
# Repartition, memory (issue 10): after a failover the new active hot-adds the
# profile's general area (phase "memory", after the page-cache migration and
# the process rescue), so it runs in the whole machine rather than in its
# 128 MiB backup area; with orthros_repartition=off it stays in its area.
. "$(dirname "$0")/lib.sh"

TMPD=$(mktemp -d)
ACK_PORT=10

teardown() {
	vm kill
	rm -rf "$TMPD"
}


# meminfo ROLE: "MemTotal MemAvailable" in kB
meminfo() {
	vm exec "$1" 'cat /proc/meminfo' | awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 } END { print t, a }'
}

# crash the active in a system call and wait for the failover to finish
crash_and_wait() { crash_and_fail_over 'orthros-crash syscall'; }

# touch MIB: a process allocates and writes MIB MiB at once (busybox dd's buffer)
touch_mib() {
	vm exec backup --timeout 120 "dd if=/dev/zero of=/dev/null bs=${1}M count=1 2>&1 && echo touched-ok"
}

t_new_active_gets_general_area() {
	local g1 g2 after st iomem out gen
	pair || return 1
	g1=$(meminfo active) && g2=$(meminfo backup) || return 1
	echo "figure: generation 1 (active, OS 1): MemTotal/MemAvailable kB: $g1"
	echo "figure: generation 2 (backup, OS 2) before: MemTotal/MemAvailable kB: $g2"
	hold_cache && run_writer || return 1
	crash_and_wait || return 1
	after=$(meminfo backup) || return 1
	echo "figure: generation 2 (active, OS 2) after: MemTotal/MemAvailable kB: $after"
	st=$(status_json backup) || return 1
	iomem=$(vm exec backup 'cat /proc/iomem') || return 1
	gen=$(prof_get area_general)
	python3 - "$st" "$g2" "$after" "$iomem" "$gen" <<'PY' || return 1
import json, re, sys
st = json.loads(sys.argv[1])
before, after = [list(map(int, a.split())) for a in sys.argv[2:4]]
iomem, gen = sys.argv[4], sys.argv[5]
gs, ge = (int(x, 16) for x in gen.split("-"))
f = st["failover"]
m = f["memory"]
bad = []
names = [p["name"] for p in f["phases"]]
if "memory" not in names or not names.index("extract" if "extract" in names else "migrate") < names.index("memory") < names.index("network"):
    bad.append(f"phase memory not between the rescue and network: {names}")
if m["state"] != "done" or m["failed"] or m["ranges"] != [{"start": gs, "end": ge}]:
    bad.append(f"failover.memory: {m}")
if not any(r["start"] <= gs and ge <= r["end"] for r in st["memory"]["ram"]):
    bad.append(f"orthros status memory.ram lacks {gen}: {st['memory']['ram']}")
if not re.search(r"^0*%x-0*%x : System RAM" % (gs, ge - 1), iomem, re.M):
    bad.append(f"/proc/iomem has no System RAM {gen}")
grow = (after[0] - before[0]) << 10
size = ge - gs
memmap = size // 4096 * 64
if not (size - 2 * memmap <= grow <= size):
    bad.append(f"MemTotal grew by {grow >> 20} MiB, want about {size >> 20} MiB")
pm = next(p for p in f["phases"] if p["name"] == "memory")
print(f"figure: memory phase at {pm['start_us'] / 1e3:.1f} ms, took {pm['duration_us'] / 1e3:.1f} ms "
      f"(add {m['add_us'] / 1e3:.1f} ms, online {m['online_us'] / 1e3:.1f} ms), {m['blocks']} blocks; "
      f"MemTotal +{grow >> 20} MiB, MemAvailable +{(after[1] - before[1]) >> 10} MiB")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
	python3 "$TOP/tests/lib/partition.py" "$(prof --json)" "$(vm exec backup 'grep ^apicid /proc/cpuinfo')" \
		"$iomem" "$(vm exec backup 'cat /proc/meminfo')" "$st" | sed 's/^/figure: /' || return 1
	# its record in the shared memory carries the area, for its own backup to read
	vm exec backup 'orthros shm show --json' | python3 -c 'import json, sys
gs, ge = (int(x, 16) for x in sys.argv[1].split("-"))
os2 = [o for o in json.load(sys.stdin)["os"] if o.get("ordinal") == 2][0]
print("figure: OS 2 record:", " ".join("%#x-%#x" % (r["start"], r["end"]) for r in os2["ranges"]))
sys.exit(0 if any(r["start"] <= gs and ge <= r["end"] for r in os2["ranges"]) else 1)' "$gen" ||
		fail "OS 2's record in the shared memory lacks the general area" || return 1
	verify || return 1
	out=$(touch_mib 512)
	echo "figure: 512 MiB process (busybox dd bs=512M): $(echo "$out" | tr "\n" " ")"
	grep -q touched-ok <<<"$out" || fail "a process could not touch 512 MiB on the new active: $out"
}

t_control_off_stays_in_backup_area() {
	local g2 after st out gs
	pair orthros_repartition=off || return 1
	g2=$(meminfo backup) || return 1
	crash_and_wait || return 1
	after=$(meminfo backup) || return 1
	echo "figure: repartition off: MemTotal/MemAvailable kB before $g2, after $after"
	st=$(status_json backup) || return 1
	python3 - "$st" "$g2" "$after" <<'PY' || return 1
import json, sys
m = json.loads(sys.argv[1])["failover"]["memory"]
before, after = [int(a.split()[0]) for a in sys.argv[2:4]]
assert m["state"] == "off" and m["blocks"] == 0, m
assert abs(after - before) < 1024, f"MemTotal moved from {before} to {after} kB"
PY
	gs=$(prof_get area_general | cut -d- -f1)
	vm exec backup "grep -q '^0*${gs#0x}-.*System RAM' /proc/iomem" &&
		fail "the general area is System RAM with the repartition off" && return 1
	out=$(touch_mib 512)
	echo "figure: 512 MiB process with the repartition off: $(echo "$out" | tr "\n" " ")"
	! grep -q touched-ok <<<"$out" || fail "512 MiB fit in the backup area: the test could not see the difference"
}

# After a hard hang (no panic path: the BSP keeps spinning in the dead kernel)
# the general area is added all the same, and most of it can be used at once.
t_after_hard_hang() {
	local pid rc st out
	pair || return 1
	vm exec active --timeout 20 'echo hang > /sys/kernel/orthros_inject' >/dev/null 2>&1 &
	pid=$!
	wait_for 120 "the failover to finish" failover_done
	rc=$?
	kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	[ $rc -eq 0 ] || return 1
	st=$(status_json backup) || return 1
	python3 -c 'import json, sys
m = json.loads(sys.argv[1])["failover"]["memory"]
print("figure: after a hang: %s, %d blocks, MemTotal %d -> %d kB" % (m["state"], m["blocks"], m["total_before_kb"], m["total_after_kb"]))
sys.exit(0 if m["state"] == "done" and m["blocks"] == 13 else 1)' "$st" || return 1
	out=$(touch_mib 1200)
	echo "figure: 1200 MiB process after a hang: $(echo "$out" | tr "\n" " ")"
	grep -q touched-ok <<<"$out" || fail "a process could not touch 1200 MiB after a hang"
}

# A general area that a living OS owns (here: the new active's own area, given
# by a wrong orthros_general=): nothing is added, the failover still finishes.
t_refuses_a_living_os_memory() {
	local st area
	area=$(prof_get area_backup_a | awk '{ print $NF }')
	pair "orthros_general=$area" || return 1
	crash_and_wait || return 1
	st=$(status_json backup) || return 1
	python3 - "$st" <<'PY' || return 1
import json, sys
m = json.loads(sys.argv[1])["failover"]["memory"]
assert m["state"] == "refused" and m["blocks"] == 0 and "OS 2's" in m["why"], m
assert m["total_after_kb"] == m["total_before_kb"], m
print("figure: refused:", m["why"])
PY
	vm exec backup 'orthros failover status' | grep -q "memory repartition: nothing added" ||
		fail "orthros failover status does not say why nothing was added"
}

run_tests
